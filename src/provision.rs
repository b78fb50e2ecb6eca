//! The provisioning engine: durable jobs in Postgres that build a tenant step by step against
//! the host cluster, MySQL and Vault — and take it apart again.
//!
//! Workers claim jobs with `FOR UPDATE SKIP LOCKED` and a lease they renew; a crashed worker's
//! job is taken over when its lease runs out. Each step is idempotent, so running it again
//! after a crash or a retry is always safe.

pub mod actions;
pub mod backoff;
pub mod context;
pub mod error;
pub mod kube_ops;
pub mod metrics;
pub mod plan;
pub mod reconcile;
pub mod runner;
pub mod step;
pub mod steps;
pub mod vault_api;
pub mod vcluster_values;
pub mod virtual_cluster;
pub mod worker;
pub mod x509;

pub use context::{Backends, StepCx};
pub use error::StepError;
pub use plan::StepName;
pub use step::Step;
