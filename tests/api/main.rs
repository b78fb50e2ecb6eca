//! Black-box tests of the portal over HTTP, against the local stack's real services.

mod helpers;

mod check;
mod config;
mod directory;
mod health;
mod logs;
mod metrics;
