//! The harness the relay's host tests share: a seeded PRNG, fixtures, each tab's app with its
//! invariants checked as things arrive, and the deterministic many-tab simulation (virtual clock,
//! simulated BroadcastChannel and Web Locks, server, checks) that `relay_sim.rs` drives. The
//! worker tests (`worker_hub.rs`) use the fixtures and the app over their in-memory ports.
//!
//! Each test binary compiles this module whole and uses part of it.
#![allow(dead_code)]

pub mod app;
pub mod checks;
pub mod fixtures;
pub mod hostile;
pub mod rng;
pub mod server;
pub mod tab;
pub mod world;
