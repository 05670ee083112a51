//! The SharedWorker that holds Convoy's one upstream stream for every tab of an origin, as an
//! `EventSource`. Thin: `convoy_browser::worker_host` runs the core relay hub in Worker mode.
//! Loaded by `workers/shared-worker.js`, which queues connections until this has started.

#[cfg(target_arch = "wasm32")]
fn main() {
    use convoy_browser::upstream::EventSourceUpstream;
    convoy_browser::worker_host::run_shared_worker::<EventSourceUpstream>();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("convoy-shared-worker runs in the browser; trunk builds it");
    std::process::exit(2);
}
