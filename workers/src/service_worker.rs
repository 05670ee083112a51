//! The service worker's relay: holds Convoy's one upstream as a fetch stream (service workers
//! have no `EventSource`) and fans it out to the app's windows. Thin:
//! `convoy_browser::worker_host` runs the core relay hub in Worker mode. Loaded by
//! `workers/sw.js`, which also keeps the offline app shell.

#[cfg(target_arch = "wasm32")]
fn main() {
    use convoy_browser::fetch_upstream::FetchUpstream;
    convoy_browser::worker_host::run_service_worker::<FetchUpstream>();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("convoy-service-worker runs in the browser; trunk builds it");
    std::process::exit(2);
}
