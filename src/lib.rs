//! Tenantry: a self-service portal that turns an approved request into a Kubernetes tenant.

pub mod check;
pub mod config;
pub mod domain;
pub mod error;
pub mod integrations;
pub mod mail;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod web;
pub mod workers;
