//! One module per step, each with the same shape (see [`super::step::Step`]).

pub mod access;
pub mod certificate;
pub mod database;
pub mod namespace;
pub mod notify;
pub mod vault;
pub mod vcluster;
