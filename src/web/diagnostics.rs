//! `window.convoyDiagnostics()`: this tab's role and delivery as a plain object, so any test can
//! check from outside what reached the app.

use convoy_core::election::Role;
use js_sys::{Array, Object, Reflect};
use wasm_bindgen::prelude::*;

const GLOBAL_NAME: &str = "convoyDiagnostics";

/// Keeps `window.convoyDiagnostics` defined; dropping it removes the function.
pub struct DiagnosticsHook {
    _function: Closure<dyn Fn() -> JsValue>,
}

/// Everything a tab knows about its delivery, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct DiagnosticsReport {
    /// `leader`, `follower`, `electing`, or `worker-client` (see `role_label`).
    pub role: &'static str,
    pub tab_id: u64,
    pub term: u64,
    pub leader_id: Option<u64>,
    /// The transport's key, as in `?transport=`.
    pub transport: &'static str,
    pub transport_reason: String,
    pub upstream: String,
    pub last_event_id: u64,
    pub events_per_second: usize,
    pub latency_p50_ms: Option<u64>,
    pub latency_p99_ms: Option<u64>,
    pub received: Vec<u64>,
    pub received_at_ms: Vec<u64>,
    pub latency_ms: Vec<u64>,
    pub gaps: u64,
    pub gap_places: Vec<(u64, u64)>,
    pub duplicates: u64,
    pub snapshots: u64,
    pub malformed: u64,
}

/// Defines `window.convoyDiagnostics` over `report` (which answers None while it cannot).
pub fn install(
    report: impl Fn() -> Option<DiagnosticsReport> + 'static,
) -> Option<DiagnosticsHook> {
    let window = web_sys::window()?;
    let function = Closure::<dyn Fn() -> JsValue>::new(move || match report() {
        Some(report) => to_object(&report).into(),
        None => JsValue::NULL,
    });
    Reflect::set(&window, &GLOBAL_NAME.into(), function.as_ref()).ok()?;
    Some(DiagnosticsHook {
        _function: function,
    })
}

impl Drop for DiagnosticsHook {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            let _ = Reflect::delete_property(&window, &GLOBAL_NAME.into());
        }
    }
}

/// A tab's role as /diagnostics and `convoyDiagnostics()` name it: in worker modes the worker
/// leads and every tab is its client.
pub fn role_label(role: Role, worker_client: bool) -> &'static str {
    match role {
        _ if worker_client => "worker-client",
        Role::Leader => "leader",
        Role::Follower => "follower",
        Role::Electing => "electing",
    }
}

fn to_object(report: &DiagnosticsReport) -> Object {
    let object = Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&object, &key.into(), &value);
    };
    let number = |n: u64| JsValue::from_f64(n as f64);
    let optional = |n: Option<u64>| n.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64));
    set("role", report.role.into());
    set("tabId", number(report.tab_id));
    set("term", number(report.term));
    set("leaderId", optional(report.leader_id));
    set("transport", report.transport.into());
    set("transportReason", report.transport_reason.as_str().into());
    set("upstream", report.upstream.as_str().into());
    set("lastEventId", number(report.last_event_id));
    set("eventsPerSecond", number(report.events_per_second as u64));
    set("latencyP50Ms", optional(report.latency_p50_ms));
    set("latencyP99Ms", optional(report.latency_p99_ms));
    let received: Array = report.received.iter().map(|id| number(*id)).collect();
    set("received", received.into());
    let received_at: Array = report.received_at_ms.iter().map(|ms| number(*ms)).collect();
    set("receivedAtMs", received_at.into());
    let latency: Array = report.latency_ms.iter().map(|ms| number(*ms)).collect();
    set("latencyMs", latency.into());
    set("gaps", number(report.gaps));
    let places: Array = report
        .gap_places
        .iter()
        .map(|(before, got)| Array::of2(&number(*before), &number(*got)))
        .collect();
    set("gapPlaces", places.into());
    set("duplicates", number(report.duplicates));
    set("snapshots", number(report.snapshots));
    set("malformed", number(report.malformed));
    object
}
