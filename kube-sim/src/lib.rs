//! kube-sim: a Kubernetes API-server simulator for Tenantry's tests and local stack.
//! Dev/test equipment only; never linked into the portal.

pub mod admission;
pub mod api;
pub mod apply;
pub mod auth;
pub mod cli;
pub mod cluster;
pub mod controllers;
pub mod crds;
pub mod defaults;
pub mod discovery;
pub mod faults;
pub mod handlers;
pub mod jsonpath;
pub mod merge;
pub mod openapi;
pub mod pki;
pub mod protobuf;
pub mod rbac;
pub mod request;
pub mod resources;
pub mod respond;
pub mod schema;
pub mod selectors;
pub mod server;
pub mod status;
pub mod store;
pub mod table;
pub mod validation;
