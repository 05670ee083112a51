//! Convoy: a live fleet dashboard that keeps one Server-Sent Events connection per browser.
//!
//! `core` is pure Rust (sans-IO) and compiles everywhere; `web` is the Yew app and its browser
//! adapters, built for wasm32 only.

pub mod core;

#[cfg(target_arch = "wasm32")]
pub mod web;
