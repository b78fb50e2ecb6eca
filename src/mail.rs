//! Notifications: rendering messages into the outbox, and the worker that delivers them.

pub mod messages;
pub mod sender;
