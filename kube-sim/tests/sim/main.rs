//! All kube-sim tests, in one binary. Each test starts its own simulator on a free port with a
//! throw-away CA (see `harness`), so they run in parallel and need no stack — except the
//! OpenBao and MariaDB tests, which use the local stack's services and say so when missing.

mod harness;

mod bad_bodies;
mod bad_input;
mod controllers;
mod faults;
mod kube_rs;
mod kubectl;
mod mariadb;
mod oidc;
mod openbao;
mod persistence;
mod rbac;
mod serviceaccounts;
mod vcluster;
