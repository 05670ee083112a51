//! End to end: real Chromium with real tabs against a real convoy-server over loopback HTTP/1.1,
//! and the same app in Firefox and WebKitGTK (engines.rs).
//! Run by `cargo xtask test` (feature `e2e`), which builds the app and sets the paths.
#![cfg(not(target_arch = "wasm32"))]

mod accessibility;
mod alerts;
mod connection;
mod dashboard;
mod engines;
mod harness;
mod hidden_tab;
mod hostile_frames;
mod hub_worker;
mod live_app;
mod map;
mod nginx;
mod notifications;
mod offline_shell;
mod other_engines;
mod phone;
mod security;
mod shared_stream;
mod soak;
mod split_origin;
mod transport_fallback;
mod views;
mod worker_bundles;
mod worker_modes;
