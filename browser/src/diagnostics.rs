//! `window.convoyDiagnostics()`: this tab's role and delivery as a plain object, so any test can
//! check from outside what reached the app. /diagnostics shows the same summary; only the
//! function builds the per-delivery lists, when it is called.

use convoy_core::delivery::DeliveryLog;
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
    /// Events delivered since load.
    pub delivered: u64,
    pub gaps: u64,
    pub duplicates: u64,
    pub snapshots: u64,
    pub malformed: u64,
    /// Relayed events and snapshots dropped for naming a truck outside the operator's scope.
    pub out_of_scope: u64,
    /// Gaps in this tab's own stream (a line too long, an event that did not decode), repaired.
    pub upstream_gaps: u64,
    /// Where the hub runs: `worker` or `main-thread`.
    pub hub: &'static str,
    /// The same in words, with why it is not in a worker when it should be.
    pub hub_detail: String,
}

/// The deliveries a tab's log keeps, as `convoyDiagnostics()` lists them.
pub struct Deliveries {
    received: Array,
    received_at_ms: Array,
    latency_ms: Array,
    gap_places: Array,
}

/// Copies the log's kept deliveries into JS arrays.
pub fn deliveries(log: &DeliveryLog) -> Deliveries {
    let number = |n: u64| JsValue::from_f64(n as f64);
    Deliveries {
        received: log.deliveries().map(|d| number(d.id)).collect(),
        received_at_ms: log.deliveries().map(|d| number(d.at_ms)).collect(),
        latency_ms: log.deliveries().map(|d| number(d.latency_ms)).collect(),
        gap_places: log
            .gap_places()
            .iter()
            .map(|(before, got)| Array::of2(&number(*before), &number(*got)))
            .collect(),
    }
}

/// Defines `window.convoyDiagnostics` over `report` and `deliveries` (each None while it
/// cannot answer).
pub fn install(
    report: impl Fn() -> Option<DiagnosticsReport> + 'static,
    deliveries: impl Fn() -> Option<Deliveries> + 'static,
) -> Option<DiagnosticsHook> {
    let window = web_sys::window()?;
    let function = Closure::<dyn Fn() -> JsValue>::new(move || match (report(), deliveries()) {
        (Some(report), Some(deliveries)) => to_object(&report, deliveries).into(),
        _ => JsValue::NULL,
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

fn to_object(report: &DiagnosticsReport, deliveries: Deliveries) -> Object {
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
    set("delivered", number(report.delivered));
    set("received", deliveries.received.into());
    set("receivedAtMs", deliveries.received_at_ms.into());
    set("latencyMs", deliveries.latency_ms.into());
    set("gaps", number(report.gaps));
    set("gapPlaces", deliveries.gap_places.into());
    set("duplicates", number(report.duplicates));
    set("snapshots", number(report.snapshots));
    set("malformed", number(report.malformed));
    set("outOfScope", number(report.out_of_scope));
    set("upstreamGaps", number(report.upstream_gaps));
    set("hub", report.hub.into());
    set("hubDetail", report.hub_detail.as_str().into());
    object
}
