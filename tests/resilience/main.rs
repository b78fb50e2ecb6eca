//! The resilience suite: crash loops, backend outages and load, against the local stack.
//!
//! A test binary of its own because these tests stop shared services (Postgres, MariaDB, Samba,
//! the IdP) and load the machine: tests/api runs eight tests at a time, and none of them may see
//! that. Every test here takes [`support::serial`] first, so they run one at a time whatever
//! `RUST_TEST_THREADS` says. `TENANTRY_SOAK=1` makes every test longer and bigger.

// The api binary's helpers, shared as they are; this binary uses only some of them.
#[allow(dead_code, unused_imports)]
#[path = "../api/helpers"]
mod helpers {
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
}

mod support;

mod crash_loop;
mod flood;
mod load;
mod outages;
