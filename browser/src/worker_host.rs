//! Runs a `core::relay::TabHub` in `ElectionMode::Worker` inside a SharedWorker or a service
//! worker: the hub leads at once, its `Broadcast` frames go to every connected tab (a
//! `MessagePort`, or a window `Client`), and each tab's text goes to the hub like a channel
//! message. Cursor, gap repair, merged watches, late-joiner snapshots, peer expiry and resuming
//! from the clients' cursor after a restart are the core's; this file only wires JS objects.
//!
//! The JS entries (`workers/shared-worker.js`, `workers/sw.js`) queue what arrives before the
//! wasm runs in `self.convoyEarly`; the `run_*` functions take it over, so nothing a tab sends
//! before the worker is ready is lost.

use crate::fetch_upstream::FetchUpstream;
use crate::upstream::{stream_url, Upstream, UpstreamSignal, HEARTBEAT_MS};
use convoy_core::election::ElectionMode;
use convoy_core::relay::{parse_frame, HubConfig, HubOutput, TabHub, TabMsg};
use convoy_core::wire::{FleetSnapshot, Watch};
use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use js_sys::{Array, Reflect};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::{Rc, Weak};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{MessageEvent, MessagePort, WorkerGlobalScope};

type Shared = Rc<RefCell<WorkerHost>>;

/// Where a tab's frames go.
enum Sink {
    Port(MessagePort),
    Client(web_sys::Client),
}

/// One connected tab: its port or window client, and (ports) the listener that feeds the hub.
struct Port {
    key: String,
    sink: Sink,
    _listener: Option<EventListener>,
}

/// The stream: an `EventSource` (SharedWorker) or a fetch body (service worker). Held only for
/// its `Drop`, which closes it.
#[allow(dead_code)]
enum Stream {
    EventSource(Upstream),
    Fetch(FetchUpstream),
}

/// The worker's hub and the JS objects it drives.
pub struct WorkerHost {
    hub: TabHub,
    ports: Vec<Port>,
    next_key: u64,
    fetch_stream: bool,
    upstream: Option<Stream>,
    timer: Option<(u64, Timeout)>,
    _connect: Option<EventListener>,
}

thread_local! {
    /// The worker's one host: it lives as long as the worker does (a worker has no "drop").
    static HOST: RefCell<Option<Shared>> = const { RefCell::new(None) };
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

fn new_host(fetch_stream: bool) -> Shared {
    let mut config = HubConfig::new(
        (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64,
        ElectionMode::Worker,
    );
    // The worker has no views: it streams what its tabs watch.
    config.watch = Watch::Trucks(BTreeSet::new());
    config.upstream_stall_ms = 8 * HEARTBEAT_MS;
    Rc::new(RefCell::new(WorkerHost {
        hub: TabHub::new(config, now_ms()),
        ports: Vec::new(),
        next_key: 1,
        fetch_stream,
        upstream: None,
        timer: None,
        _connect: None,
    }))
}

/// Starts the SharedWorker's hub and takes over the connections `shared-worker.js` queued.
pub fn run_shared_worker() {
    let shared = new_host(false);
    let global = js_sys::global();
    let early = Reflect::get(&global, &"convoyEarly".into()).unwrap_or(JsValue::UNDEFINED);
    if let Ok(early) = early.dyn_into::<Array>() {
        for held in early.iter() {
            let port = Reflect::get(&held, &"port".into()).ok();
            let Some(port) = port.and_then(|p| p.dyn_into::<MessagePort>().ok()) else {
                continue;
            };
            port.set_onmessage(None);
            let key = add_port(&shared, port);
            if let Ok(messages) = Reflect::get(&held, &"messages".into()) {
                if let Ok(messages) = messages.dyn_into::<Array>() {
                    for data in messages.iter() {
                        on_port_message(&Rc::downgrade(&shared), key.clone(), data);
                    }
                }
            }
        }
        early.set_length(0);
    }
    let _ = Reflect::set(&global, &"onconnect".into(), &JsValue::NULL);
    let weak = Rc::downgrade(&shared);
    let connect = EventListener::new(&global.unchecked_into(), "connect", move |event| {
        let Some(shared) = weak.upgrade() else { return };
        let port = event
            .dyn_ref::<MessageEvent>()
            .and_then(|e| e.ports().get(0).dyn_into::<MessagePort>().ok());
        if let Some(port) = port {
            add_port(&shared, port);
        }
    });
    shared.borrow_mut()._connect = Some(connect);
    pump(&shared);
    HOST.with(|host| *host.borrow_mut() = Some(shared));
}

/// Starts the service worker's message handling: `sw.js` calls `self.convoyOnMessage(source,
/// data)` for every message from a window, after handing over those it queued. The hub starts
/// with the first message (not on install or fetch wake-ups), so a restarted worker resumes from
/// the cursor its windows report.
pub fn run_service_worker() {
    let host: Rc<RefCell<Option<Shared>>> = Rc::default();
    let on_message = OnMessage::new(move |source: JsValue, data| {
        let Ok(client) = source.dyn_into::<web_sys::Client>() else {
            return;
        };
        let shared = host
            .borrow_mut()
            .get_or_insert_with(|| new_host(true))
            .clone();
        let key = client.id();
        let known = shared.borrow().ports.iter().any(|p| p.key == key);
        if !known {
            shared.borrow_mut().ports.push(Port {
                key: key.clone(),
                sink: Sink::Client(client),
                _listener: None,
            });
        }
        on_port_message(&Rc::downgrade(&shared), key, data);
    });
    let global = js_sys::global();
    let _ = Reflect::set(&global, &"convoyOnMessage".into(), on_message.as_ref());
    let early = Reflect::get(&global, &"convoyEarly".into()).unwrap_or(JsValue::UNDEFINED);
    if let Ok(early) = early.dyn_into::<Array>() {
        let function: &js_sys::Function = on_message.as_ref().unchecked_ref();
        for held in early.iter() {
            let source = Reflect::get(&held, &"source".into()).unwrap_or_default();
            let data = Reflect::get(&held, &"data".into()).unwrap_or_default();
            let _ = function.call2(&JsValue::NULL, &source, &data);
        }
        early.set_length(0);
    }
    SERVICE_WORKER.with(|slot| *slot.borrow_mut() = Some(on_message));
}

/// `self.convoyOnMessage(source, data)`.
type OnMessage = Closure<dyn Fn(JsValue, JsValue)>;

thread_local! {
    /// `self.convoyOnMessage`: lives as long as the service worker does.
    static SERVICE_WORKER: RefCell<Option<OnMessage>> = const { RefCell::new(None) };
}

fn add_port(shared: &Shared, port: MessagePort) -> String {
    let weak = Rc::downgrade(shared);
    let key = {
        let mut host = shared.borrow_mut();
        let key = host.next_key;
        host.next_key += 1;
        format!("port-{key}")
    };
    let listener_key = key.clone();
    let listener = EventListener::new(&port, "message", move |event| {
        if let Some(message) = event.dyn_ref::<MessageEvent>() {
            on_port_message(&weak, listener_key.clone(), message.data());
        }
    });
    port.start();
    shared.borrow_mut().ports.push(Port {
        key: key.clone(),
        sink: Sink::Port(port),
        _listener: Some(listener),
    });
    key
}

fn on_port_message(weak: &Weak<RefCell<WorkerHost>>, key: String, data: JsValue) {
    let Some(shared) = weak.upgrade() else { return };
    let text = data.as_string().unwrap_or_default();
    {
        let mut host = shared.borrow_mut();
        if parse_frame(&text, 0).is_ok_and(|frame| frame.msg == TabMsg::Goodbye) {
            // The tab is gone (closed or in the bfcache): stop posting to it. The hub takes
            // the goodbye below and shrinks the union.
            host.ports.retain(|p| p.key != key);
        }
        host.hub.handle_channel_message(now_ms(), &text);
    }
    pump(&shared);
}

fn input(weak: &Weak<RefCell<WorkerHost>>, feed: impl FnOnce(&mut TabHub, u64)) {
    let Some(shared) = weak.upgrade() else { return };
    if let Ok(mut host) = shared.try_borrow_mut() {
        feed(&mut host.hub, now_ms());
    } else {
        return;
    }
    pump(&shared);
}

fn pump(shared: &Shared) {
    loop {
        let output = shared.borrow_mut().hub.poll_output();
        let Some(output) = output else { break };
        execute(shared, output);
    }
    let mut host = shared.borrow_mut();
    let Some(deadline) = host.hub.poll_timeout() else {
        host.timer = None;
        return;
    };
    if host.timer.as_ref().is_some_and(|(at, _)| *at == deadline) {
        return;
    }
    let weak = Rc::downgrade(shared);
    let delay = deadline.saturating_sub(now_ms()).min(u32::MAX as u64) as u32;
    host.timer = Some((
        deadline,
        Timeout::new(delay, move || {
            if let Some(shared) = weak.upgrade() {
                shared.borrow_mut().timer = None;
            }
            input(&weak, |hub, now| hub.handle_timeout(now));
        }),
    ));
}

fn execute(shared: &Shared, output: HubOutput) {
    let weak = Rc::downgrade(shared);
    let mut host = shared.borrow_mut();
    match output {
        HubOutput::Broadcast(frame) => {
            let text = JsValue::from_str(&frame);
            for port in &host.ports {
                // Posting to a tab that is gone is a no-op; the hub expires that tab.
                let _ = match &port.sink {
                    Sink::Port(p) => p.post_message(&text),
                    Sink::Client(c) => c.post_message(&text),
                };
            }
        }
        HubOutput::FetchSnapshot => {
            drop(host);
            wasm_bindgen_futures::spawn_local(async move {
                // On failure the hub asks again after `snapshot_retry_ms`.
                if let Ok(snapshot) = load_snapshot().await {
                    input(&weak, |hub, now| hub.handle_snapshot(now, snapshot));
                }
            });
        }
        HubOutput::OpenUpstream {
            watch,
            last_event_id,
        } => {
            host.upstream = None;
            let on_signal: Rc<dyn Fn(UpstreamSignal)> =
                Rc::new(move |signal| on_upstream(&weak, signal));
            let url = stream_url(&watch, last_event_id);
            host.upstream = if host.fetch_stream {
                FetchUpstream::open(&url, on_signal).ok().map(Stream::Fetch)
            } else {
                Upstream::open(&url, on_signal)
                    .ok()
                    .map(Stream::EventSource)
            };
            if host.upstream.is_none() {
                drop(host);
                input(&Rc::downgrade(shared), |hub, now| {
                    hub.handle_upstream_error(now)
                });
            }
        }
        HubOutput::CloseUpstream => host.upstream = None,
        // The worker has no app of its own; locks are never asked for in Worker mode.
        HubOutput::Deliver(_)
        | HubOutput::DeliverSnapshot(_)
        | HubOutput::RoleChanged(_)
        | HubOutput::RequestLock { .. }
        | HubOutput::ReleaseLock => {}
    }
}

fn on_upstream(weak: &Weak<RefCell<WorkerHost>>, signal: UpstreamSignal) {
    match signal {
        UpstreamSignal::Open => input(weak, |hub, now| hub.handle_upstream_open(now)),
        UpstreamSignal::Event(envelope) => {
            input(weak, |hub, now| hub.handle_upstream_event(now, envelope))
        }
        UpstreamSignal::Heartbeat => input(weak, |hub, now| hub.handle_upstream_heartbeat(now)),
        UpstreamSignal::Reset => input(weak, |hub, now| hub.handle_upstream_reset(now)),
        UpstreamSignal::Error => input(weak, |hub, now| hub.handle_upstream_error(now)),
        UpstreamSignal::Malformed(_) => {}
    }
}

/// GET `api/fleet` relative to the worker script (the app's public URL).
pub async fn load_snapshot() -> Result<FleetSnapshot, JsValue> {
    let scope: WorkerGlobalScope = js_sys::global().dyn_into()?;
    let response: web_sys::Response = JsFuture::from(scope.fetch_with_str("api/fleet"))
        .await?
        .dyn_into()?;
    if !response.ok() {
        return Err(JsValue::from_str("snapshot request failed"));
    }
    let text = JsFuture::from(response.text()?).await?;
    let text = text.as_string().unwrap_or_default();
    serde_json::from_str(&text).map_err(|e| JsValue::from_str(&e.to_string()))
}
