//! Clients for the systems Tenantry talks to. Each module builds its client from config and
//! offers a `probe` that `tenantry check` uses.

pub mod directory;
pub mod idp;
pub mod kube;
pub mod mail;
pub mod mysql;
pub mod tls;
pub mod vault;
