//! convoy-browser: the thin layer between the browser and `convoy-core`. Each module owns one
//! kind of JS object and turns its events into hub inputs; no Yew, no views. The app and the
//! worker bins build on it. Compiled for wasm32 only (empty elsewhere).

#[cfg(target_arch = "wasm32")]
pub mod channel;
#[cfg(target_arch = "wasm32")]
pub mod fetch_upstream;
#[cfg(target_arch = "wasm32")]
pub mod locks;
#[cfg(target_arch = "wasm32")]
pub mod upstream;
#[cfg(target_arch = "wasm32")]
pub mod worker_host;
#[cfg(target_arch = "wasm32")]
pub mod worker_port;
