//! Each worker bundle carries only the upstream it uses: wasm-bindgen keeps a JS import only
//! when the wasm calls it, so the glue script names `EventSource` only where it is used.

use crate::harness::env_path;
use std::path::Path;

fn glue(name: &str) -> String {
    let path = Path::new(&env_path("CONVOY_DIST")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_shared_worker_streams_with_event_source_only() {
    let script = glue("convoy-shared-worker.js");
    assert!(
        script.contains("EventSource"),
        "the SharedWorker reads an EventSource"
    );
    assert!(
        !script.contains("getReader"),
        "no fetch-stream reader in the SharedWorker"
    );
}

#[test]
fn the_service_worker_streams_with_fetch_only() {
    let script = glue("convoy-service-worker.js");
    assert!(
        script.contains("getReader"),
        "the service worker reads a fetch body"
    );
    assert!(
        !script.contains("EventSource"),
        "no EventSource in the service worker"
    );
}

#[test]
fn the_hub_worker_streams_with_event_source_only() {
    let script = glue("convoy-hub-worker.js");
    assert!(
        script.contains("EventSource"),
        "the hub worker reads an EventSource"
    );
    assert!(
        !script.contains("getReader"),
        "no fetch-stream reader in the hub worker"
    );
}

#[test]
fn no_worker_carries_the_app() {
    for name in [
        "convoy-shared-worker.js",
        "convoy-service-worker.js",
        "convoy-hub-worker.js",
    ] {
        let script = glue(name);
        // Yew's DOM rendering needs these; a worker that has them pulled in view code.
        for marker in ["createElement", "insertBefore"] {
            assert!(!script.contains(marker), "{name} names {marker}");
        }
    }
}
