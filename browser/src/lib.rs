//! convoy-browser: the thin layer between the browser and `convoy-core`. Each module owns one
//! kind of JS object and turns its events into hub inputs; [`hub_loop`] is the one loop that
//! runs a hub, for tabs ([`tab_feed`]) and workers ([`worker_host`]) alike. No Yew, no views:
//! the app and the worker bins build on it. Compiled for wasm32 only (empty elsewhere).
#![cfg(target_arch = "wasm32")]

pub mod alerts;
pub mod api;
pub mod beep;
pub mod capabilities;
pub mod channel;
pub mod clock;
pub mod diagnostics;
pub mod feed;
pub mod fetch_upstream;
pub mod hub_loop;
pub mod hub_worker;
pub mod hub_worker_link;
pub mod leaflet;
pub mod lifecycle;
pub mod locks;
pub mod notifications;
pub mod session;
pub mod snapshot;
pub mod tab_feed;
pub mod upstream;
pub mod visibility;
pub mod worker_host;
pub mod worker_port;
