//! The composition root: the services the process is made of, built once at start-up and
//! handed to the web layer and the background workers alike.

pub mod metrics;
mod services;

pub use services::Services;
