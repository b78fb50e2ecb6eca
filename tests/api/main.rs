//! Black-box tests of the portal over HTTP, against the local stack's real services.

mod helpers;

mod access;
mod admin;
mod approvals;
mod audit;
mod authz;
mod bad_input;
mod browser;
mod callback;
mod chart;
mod chart_rbac;
mod check;
mod config;
mod csrf;
mod directory;
mod directory_outage;
mod health;
mod host_access;
mod kubeconfig_issue;
mod login;
mod login_state;
mod logs;
mod mail_links;
mod metrics;
mod provision_deprovision;
mod provision_faults;
mod provision_happy;
mod provision_idempotence;
mod rate_limits;
mod requests;
mod security;
mod sessions;
