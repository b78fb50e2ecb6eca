//! Tenantry: a self-service portal that turns an approved request into a Kubernetes tenant.

pub mod app;
pub mod auth;
pub mod check;
pub mod config;
pub mod domain;
pub mod error;
pub mod integrations;
pub mod issuer;
pub mod kubeconfig;
pub mod mail;
pub mod provision;
pub mod requests;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod workers;
