//! `window.convoyDiagnostics()`: this tab's role and delivery as a plain object, so any test can
//! check from outside what reached the app.

use crate::core::election::Role;
use crate::web::transport::driver::{DiagnosticsReport, HubDriver};
use js_sys::{Array, Object, Reflect};
use std::cell::RefCell;
use std::rc::Weak;
use wasm_bindgen::prelude::*;

const GLOBAL_NAME: &str = "convoyDiagnostics";

/// Keeps `window.convoyDiagnostics` defined; dropping it removes the function.
pub struct DiagnosticsHook {
    _function: Closure<dyn Fn() -> JsValue>,
}

/// Defines `window.convoyDiagnostics` over this driver.
pub fn install(driver: Weak<RefCell<HubDriver>>) -> Option<DiagnosticsHook> {
    let window = web_sys::window()?;
    let function = Closure::<dyn Fn() -> JsValue>::new(move || match driver.upgrade() {
        Some(driver) => match driver.try_borrow() {
            Ok(driver) => to_object(&driver.report()).into(),
            Err(_) => JsValue::NULL,
        },
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

/// The role as the diagnostics contract names it.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Leader => "leader",
        Role::Follower => "follower",
        Role::Electing => "electing",
    }
}

/// A tab's role as /diagnostics and `convoyDiagnostics()` name it: in worker modes the worker
/// holds the stream and every tab is its client.
pub fn report_role(report: &DiagnosticsReport) -> &'static str {
    if report.transport.is_worker() {
        "worker-client"
    } else {
        role_name(report.role)
    }
}

fn to_object(report: &DiagnosticsReport) -> Object {
    let object = Object::new();
    let set = |key: &str, value: JsValue| {
        let _ = Reflect::set(&object, &key.into(), &value);
    };
    let number = |n: u64| JsValue::from_f64(n as f64);
    let optional = |n: Option<u64>| n.map_or(JsValue::NULL, |n| JsValue::from_f64(n as f64));
    set("role", report_role(report).into());
    set("tabId", number(report.tab_id));
    set("term", number(report.term));
    set("leaderId", optional(report.leader_id));
    set("transport", report.transport.key().into());
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
