//! Security checks: stored and reflected markup in every page and mail, SQL and LDAP injection
//! payloads in every field that reaches a query, token and session reuse, open redirects through
//! `return_to`, and the hardening headers of every page.
//!
//! What already has its own tests is not repeated here: forged, missing and foreign CSRF tokens
//! (`csrf.rs`), the session id rotating at sign-in and a signed-out cookie being worthless
//! (`sessions.rs`), replayed callbacks and codes and LDAP metacharacter usernames at sign-in
//! (`callback.rs`, `directory.rs`), a rotated-out refresh token revoking its family
//! (`access.rs`). Each sweep appends what it tried to the resilience report.

mod headers;
mod inert;
mod ldap;
mod payloads;
mod redirects;
mod sql;
mod tokens;
mod xss;
