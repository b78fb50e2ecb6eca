//! Shared test equipment: the stack's coordinates, a spawned app per test, and fault tools.

pub mod access;
pub mod app;
pub mod binary;
pub mod browser;
pub mod directory;
pub mod fake_idp;
pub mod kube_sim;
pub mod login;
pub mod mail;
pub mod provision;
pub mod proxy;
pub mod report;
pub mod requests;
pub mod stack;
pub mod workers;

pub use app::TestApp;
pub use stack::Stack;
