//! What this browser offers and what the user chose, read from the page; the choice itself is
//! `convoy_core::transport`'s.

use convoy_core::transport::{
    choose_mode, Capabilities, Failure, FailureMemory, TransportMode, TransportSetting,
};
use wasm_bindgen::JsCast;

/// localStorage key of the transport the user picked in /settings.
pub const TRANSPORT_SETTING: &str = "convoy.transport";

/// localStorage key of the HTTP version the network last served this page with.
const HTTP_VERSION_SEEN: &str = "convoy.httpVersion";

/// localStorage key that keeps every delivery for `convoyDiagnostics()` (set by
/// `#diagnostics=full`, which tests use).
const FULL_DIAGNOSTICS: &str = "convoy.diagnostics";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// localStorage key of the transports that failed lately ([`FailureMemory`]).
const TRANSPORT_FAILURES: &str = "convoy.transportFailures";

/// A parameter of the page's query string.
pub fn query_param(name: &str) -> Option<String> {
    let search = web_sys::window()?.location().search().ok()?;
    web_sys::UrlSearchParams::new_with_str(&search)
        .ok()?
        .get(name)
}

/// Probes the window (nothing at all outside one).
pub fn detect() -> Capabilities {
    let Some(window) = web_sys::window() else {
        return Capabilities::default();
    };
    let has = |name: &str| js_sys::Reflect::has(&window, &name.into()).unwrap_or(false);
    let navigator = window.navigator();
    let in_navigator = |name: &str| js_sys::Reflect::has(&navigator, &name.into()).unwrap_or(false);
    let reported = window
        .performance()
        .map(|p| p.get_entries_by_type("navigation"))
        .and_then(|entries| {
            entries
                .get(0)
                .dyn_into::<web_sys::PerformanceNavigationTiming>()
                .ok()
        })
        .map(|entry| entry.next_hop_protocol())
        .filter(|p| !p.is_empty());
    // A page the service worker answered reports no useful protocol: remember the one the
    // network reported last time (the origin's server does not change its HTTP version).
    let controlled =
        in_navigator("serviceWorker") && navigator.service_worker().controller().is_some();
    let http_version = match reported.filter(|_| !controlled) {
        Some(version) => {
            if let Some(storage) = storage() {
                let _ = storage.set_item(HTTP_VERSION_SEEN, &version);
            }
            Some(version)
        }
        None => storage().and_then(|s| s.get_item(HTTP_VERSION_SEEN).ok().flatten()),
    };
    Capabilities {
        shared_worker: has("SharedWorker"),
        web_locks: crate::locks::lock_manager().is_some(),
        broadcast_channel: has("BroadcastChannel"),
        service_worker: in_navigator("serviceWorker"),
        http_version,
    }
}

/// The transport kept in localStorage, if any (and readable).
pub fn stored_setting() -> Option<TransportSetting> {
    storage()
        .and_then(|s| s.get_item(TRANSPORT_SETTING).ok().flatten())
        .and_then(|value| TransportSetting::parse(&value))
}

/// Keeps the transport for the next page load.
pub fn store_setting(setting: TransportSetting) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(TRANSPORT_SETTING, setting.key());
    }
}

/// The mode this page runs, and why: `?transport=`, then the setting, then `auto`.
pub fn chosen_mode() -> (TransportMode, String) {
    choose_mode(
        query_param("transport").as_deref(),
        stored_setting(),
        &detect(),
    )
}

/// Whether `convoyDiagnostics()` should list every delivery since load (tests ask with
/// `#diagnostics=full` or `?diagnostics=full`, remembered for the origin) rather than the
/// recent ones.
pub fn full_diagnostics_requested() -> bool {
    let hash = web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    let asked = hash.contains("diagnostics=full")
        || query_param("diagnostics").is_some_and(|v| v == "full");
    if asked {
        if let Some(storage) = storage() {
            let _ = storage.set_item(FULL_DIAGNOSTICS, "full");
        }
    }
    asked
        || storage()
            .and_then(|s| s.get_item(FULL_DIAGNOSTICS).ok().flatten())
            .is_some_and(|v| v == "full")
}

/// The transport failures this browser saw lately.
pub fn remembered_failures(now_ms: u64) -> Vec<Failure> {
    storage()
        .and_then(|s| s.get_item(TRANSPORT_FAILURES).ok().flatten())
        .map(|text| FailureMemory::from_json(&text).active(now_ms))
        .unwrap_or_default()
}

/// Notes a failure for this browser's other tabs and next page loads.
pub fn remember_failure(failure: &Failure, now_ms: u64) {
    let Some(storage) = storage() else {
        return;
    };
    let mut memory = storage
        .get_item(TRANSPORT_FAILURES)
        .ok()
        .flatten()
        .map(|text| FailureMemory::from_json(&text))
        .unwrap_or_default();
    memory.record(failure, now_ms);
    let _ = storage.set_item(TRANSPORT_FAILURES, &memory.to_json());
}

/// Forgets the transport failures and the stored choice: the next page load lets `auto` try
/// everything again (the chip's "use automatic").
pub fn reset_transport() {
    if let Some(storage) = storage() {
        let _ = storage.remove_item(TRANSPORT_FAILURES);
        let _ = storage.set_item(TRANSPORT_SETTING, TransportSetting::Auto.key());
    }
}

/// Lets `auto` choose from now on: forgets the failures and the stored choice, and reloads the
/// page without `?transport=`.
pub fn use_automatic_transport() {
    reset_transport();
    let Some(window) = web_sys::window() else {
        return;
    };
    let location = window.location();
    let Ok(url) = location.href().and_then(|href| web_sys::Url::new(&href)) else {
        return;
    };
    url.search_params().delete("transport");
    let _ = location.replace(&url.href());
}
