//! The pure core: protocols and state as plain Rust with no I/O, clock or randomness of its own.
//! Time enters as `now_ms: u64`; outputs are drained with `poll_*` methods.

pub mod board;
pub mod delivery;
pub mod election;
pub mod fleet;
pub mod format;
pub mod query;
pub mod relay;
pub mod sse;
pub mod wire;
