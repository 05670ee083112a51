//! Convoy: a live fleet dashboard that keeps one Server-Sent Events connection per browser.
//!
//! This crate is the app: routes, pages, components and hooks, built by trunk for wasm32. The
//! protocols and state are `convoy-core`'s; the browser adapters and the hub loop are
//! `convoy-browser`'s.

#[cfg(target_arch = "wasm32")]
pub mod web;
