//! The Yew app and its browser adapters (wasm32 only). Pages call hooks, components receive
//! props, and everything that touches web-sys lives in `transport` and `hooks`.

pub mod app;
pub mod components;
pub mod hooks;
pub mod map_adapter;
pub mod pages;
pub mod route;
pub mod shell;
pub mod store;
pub mod transport;

/// Mounts the app on `<body>`.
pub fn start() {
    yew::Renderer::<app::App>::new().render();
    shell::start();
}
