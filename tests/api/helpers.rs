//! Shared test equipment: the stack's coordinates, a spawned app per test, and fault tools.

pub mod app;
pub mod binary;
pub mod proxy;
pub mod stack;

pub use app::TestApp;
pub use stack::Stack;
