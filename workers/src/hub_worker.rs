//! The dedicated worker that runs one tab's hub off its main thread (leader and direct modes).
//! Thin: `convoy_browser::hub_worker::HubWorker` is the gloo-worker `Worker`; trunk's loader
//! shim (`convoy-hub-worker_loader.js`) starts this, and the tab spawns that shim.

#[cfg(target_arch = "wasm32")]
fn main() {
    use convoy_browser::hub_worker::{HubWorker, JsonCodec};
    use gloo_worker::Registrable;
    HubWorker::registrar().encoding::<JsonCodec>().register();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("convoy-hub-worker runs in the browser; trunk builds it");
    std::process::exit(2);
}
