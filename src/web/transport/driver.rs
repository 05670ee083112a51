//! Drives a `core::relay::TabHub` in the browser: turns channel messages, lock grants, stream
//! events, page lifecycle and timers into hub inputs, and carries out the hub's outputs. The
//! protocol lives in the core; this file only wires JS objects to it. Each JS object has one
//! owner here, and every listener lives in the guard that removes it.

use super::{Connection, FeedStatus, FeedUpdate, TransportMode};
use crate::web::diagnostics::{self, role_label, DiagnosticsHook, DiagnosticsReport};
use convoy_browser::channel::{TabChannel, CHANNEL_NAME};
use convoy_browser::locks::{lock_manager, LockRequest, LockSignal, LEADER_LOCK};
use convoy_browser::upstream::{stream_url, Upstream, UpstreamSignal, HEARTBEAT_MS};
use convoy_browser::worker_port::{ServiceWorkerPort, WorkerPort};
use convoy_core::delivery::DeliveryLog;
use convoy_core::election::ElectionMode;
use convoy_core::relay::{HubConfig, HubOutput, TabHub};
use convoy_core::wire::{Envelope, FleetSnapshot, Watch};
use gloo_events::EventListener;
use gloo_render::AnimationFrame;
use gloo_timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use wasm_bindgen::JsCast;
use web_sys::{LockManager, PageTransitionEvent};
use yew::Callback;

type Shared = Rc<RefCell<HubDriver>>;

/// Wall-clock ms: tabs of one browser share it, so relay delays compare across tabs.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A random tab id (the core takes ids from outside; it has no randomness of its own).
fn new_tab_id() -> u64 {
    // 53 bits: exact as a JS number in diagnostics.
    (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64
}

/// The channel and lock a group of hubs shares: the app's own, or a test's.
#[derive(Debug, Clone, PartialEq)]
pub struct HubNames {
    pub channel: String,
    pub lock: String,
}

impl Default for HubNames {
    fn default() -> Self {
        HubNames {
            channel: CHANNEL_NAME.into(),
            lock: LEADER_LOCK.into(),
        }
    }
}

/// Where this hub's frames go: the other tabs, or the worker that holds the stream.
enum Peers {
    Channel(TabChannel),
    Worker(WorkerPort),
    ServiceWorker(ServiceWorkerPort),
}

impl Peers {
    fn post(&self, frame: &str) {
        match self {
            Peers::Channel(channel) => channel.post(frame),
            Peers::Worker(port) => port.post(frame),
            Peers::ServiceWorker(port) => port.post(frame),
        }
    }
}

/// The browser side of one tab's hub.
pub struct HubDriver {
    hub: TabHub,
    names: HubNames,
    mode: TransportMode,
    mode_reason: String,
    locks: Option<LockManager>,
    channel: Option<Peers>,
    lock: Option<LockRequest>,
    upstream: Option<Upstream>,
    connection: Connection,
    timer: Option<(u64, Timeout)>,
    frame: Option<AnimationFrame>,
    pending: Vec<Envelope>,
    log: DeliveryLog,
    on_update: Callback<FeedUpdate>,
    last_status: Option<Rc<FeedStatus>>,
    _page_listeners: Vec<EventListener>,
    diagnostics_hook: Option<DiagnosticsHook>,
    stopped: bool,
}

impl HubDriver {
    /// Starts a hub for `mode` and the browser objects it needs.
    pub fn start(
        mode: TransportMode,
        mode_reason: String,
        watch: Watch,
        on_update: Callback<FeedUpdate>,
    ) -> Shared {
        Self::start_with(mode, mode_reason, watch, on_update, HubNames::default())
    }

    /// Like `start`, on a channel and lock of the caller's choosing.
    pub fn start_with(
        mode: TransportMode,
        mode_reason: String,
        watch: Watch,
        on_update: Callback<FeedUpdate>,
        names: HubNames,
    ) -> Shared {
        let now = now_ms();
        let locks = match mode {
            TransportMode::Leader => lock_manager(),
            TransportMode::Direct | TransportMode::SharedWorker | TransportMode::ServiceWorker => {
                None
            }
        };
        let election = match (mode, &locks) {
            (TransportMode::Direct, _) => ElectionMode::Solo,
            (TransportMode::Leader, Some(_)) => ElectionMode::Locks,
            (TransportMode::Leader, None) => ElectionMode::Lease,
            (TransportMode::SharedWorker | TransportMode::ServiceWorker, _) => ElectionMode::Client,
        };
        let mut config = HubConfig::new(new_tab_id(), election);
        config.watch = watch.clone();
        // Streams Convoy opens carry a server heartbeat every HEARTBEAT_MS: silence this long
        // means the stream is dead even if the socket is not.
        config.upstream_stall_ms = 8 * HEARTBEAT_MS;
        let hub = TabHub::new(config, now);
        let mut log = DeliveryLog::new();
        log.set_contiguous(watch == Watch::All);
        let shared = Rc::new(RefCell::new(HubDriver {
            hub,
            names,
            mode,
            mode_reason,
            locks,
            channel: None,
            lock: None,
            upstream: None,
            connection: Connection::Connecting,
            timer: None,
            frame: None,
            pending: Vec::new(),
            log,
            on_update,
            last_status: None,
            _page_listeners: Vec::new(),
            diagnostics_hook: None,
            stopped: false,
        }));
        let weak = Rc::downgrade(&shared);
        if mode == TransportMode::Leader {
            let on_message = weak.clone();
            let channel_name = shared.borrow().names.channel.clone();
            match TabChannel::open(&channel_name, move |text| {
                input(&on_message, |hub, now| {
                    hub.handle_channel_message(now, &text)
                })
            }) {
                Ok(channel) => shared.borrow_mut().channel = Some(Peers::Channel(channel)),
                Err(_) => {
                    shared.borrow_mut().connection =
                        Connection::Error("BroadcastChannel is unavailable".into())
                }
            }
        }
        if mode.is_worker() {
            let on_message = weak.clone();
            let deliver = move |text: String| {
                input(&on_message, |hub, now| {
                    hub.handle_channel_message(now, &text)
                })
            };
            let connected = if mode == TransportMode::ServiceWorker {
                ServiceWorkerPort::connect(deliver).map(Peers::ServiceWorker)
            } else {
                WorkerPort::connect(deliver).map(Peers::Worker)
            };
            match connected {
                Ok(peers) => shared.borrow_mut().channel = Some(peers),
                Err(_) => {
                    shared.borrow_mut().connection =
                        Connection::Error(format!("the {mode} did not start"))
                }
            }
        }
        shared.borrow_mut()._page_listeners = page_listeners(&weak);
        let reporter = weak.clone();
        shared.borrow_mut().diagnostics_hook = diagnostics::install(move || {
            let driver = reporter.upgrade()?;
            let report = driver.try_borrow().ok()?.report();
            Some(report)
        });
        pump(&shared);
        shared
    }

    /// Tells the hub which trucks this tab's views show.
    pub fn set_watch(shared: &Shared, watch: Watch) {
        shared.borrow_mut().log.set_contiguous(watch == Watch::All);
        input(&Rc::downgrade(shared), |hub, now| hub.set_watch(now, watch));
    }

    /// A clean close: the hub says goodbye so the next leader starts at once.
    pub fn stop(shared: &Shared) {
        input(&Rc::downgrade(shared), |hub, now| hub.shutdown(now));
        let mut driver = shared.borrow_mut();
        driver.stopped = true;
        driver.upstream = None;
        driver.lock = None;
        driver.timer = None;
        driver.frame = None;
        driver.diagnostics_hook = None;
    }

    /// What /diagnostics and `window.convoyDiagnostics()` show.
    pub fn report(&self) -> DiagnosticsReport {
        let now = now_ms();
        let hub = self.hub.diagnostics();
        DiagnosticsReport {
            role: role_label(hub.role, self.mode.is_worker()),
            tab_id: hub.tab_id,
            term: hub.term,
            leader_id: hub.leader_id,
            transport: self.mode.key(),
            transport_reason: self.mode_reason.clone(),
            upstream: connection_label(&self.connection, self.upstream.is_some()),
            last_event_id: self.log.last_id().unwrap_or(0),
            events_per_second: self.log.events_per_second(now),
            latency_p50_ms: self.log.latency_percentile(50),
            latency_p99_ms: self.log.latency_percentile(99),
            received: self.log.received().collect(),
            received_at_ms: self.log.deliveries().map(|d| d.at_ms).collect(),
            latency_ms: self.log.deliveries().map(|d| d.latency_ms).collect(),
            gaps: self.log.gaps(),
            gap_places: self.log.gap_places().to_vec(),
            duplicates: self.log.duplicates(),
            snapshots: self.log.snapshots(),
            malformed: hub.malformed,
        }
    }

    fn status(&self) -> FeedStatus {
        let hub = self.hub.diagnostics();
        FeedStatus {
            connection: self.connection.clone(),
            mode: self.mode,
            mode_reason: self.mode_reason.clone(),
            role: hub.role,
            tab_id: hub.tab_id,
            term: hub.term,
            leader_id: hub.leader_id,
            last_event_id: hub.cursor,
            malformed: hub.malformed,
        }
    }
}

fn connection_label(connection: &Connection, open: bool) -> String {
    match connection {
        Connection::Connecting => "connecting".into(),
        Connection::Live if open => "open".into(),
        Connection::Live => "relayed".into(),
        Connection::Reconnecting { .. } => "reconnecting".into(),
        Connection::Error(e) => format!("error: {e}"),
    }
}

/// Feeds one input to the hub, then carries out what it asks for.
fn input(weak: &Weak<RefCell<HubDriver>>, feed: impl FnOnce(&mut TabHub, u64)) {
    let Some(shared) = weak.upgrade() else { return };
    {
        let Ok(mut driver) = shared.try_borrow_mut() else {
            return;
        };
        if driver.stopped {
            return;
        }
        feed(&mut driver.hub, now_ms());
    }
    pump(&shared);
}

/// Drains the hub's outputs, re-arms its timer and hands the app what changed. No borrow is
/// held while the app's callback runs.
fn pump(shared: &Shared) {
    let mut updates = Vec::new();
    loop {
        let output = shared.borrow_mut().hub.poll_output();
        let Some(output) = output else { break };
        execute(shared, output, &mut updates);
    }
    let mut driver = shared.borrow_mut();
    arm_timer(&mut driver, shared);
    if !driver.pending.is_empty() {
        if page_hidden() {
            // Hidden tabs get no animation frames: deliver now so nothing piles up.
            updates.push(flush(&mut driver));
        } else if driver.frame.is_none() {
            let weak = Rc::downgrade(shared);
            driver.frame = Some(gloo_render::request_animation_frame(move |_| {
                if let Some(shared) = weak.upgrade() {
                    let update = {
                        let mut driver = shared.borrow_mut();
                        driver.frame = None;
                        flush(&mut driver)
                    };
                    let on_update = shared.borrow().on_update.clone();
                    on_update.emit(update);
                }
            }));
        }
    }
    let status = Rc::new(driver.status());
    if driver.last_status.as_deref() != Some(&status) {
        driver.last_status = Some(status.clone());
        updates.push(FeedUpdate::Status(status));
    }
    let on_update = driver.on_update.clone();
    drop(driver);
    for update in updates {
        on_update.emit(update);
    }
}

/// Hands the app the events gathered since the last frame, and logs them as delivered.
fn flush(driver: &mut HubDriver) -> FeedUpdate {
    let events = std::mem::take(&mut driver.pending);
    let now = now_ms();
    for envelope in &events {
        driver
            .log
            .record_event(now, envelope.id, envelope.event.at_ms());
    }
    FeedUpdate::Events(Rc::new(events))
}

fn execute(shared: &Shared, output: HubOutput, updates: &mut Vec<FeedUpdate>) {
    let weak = Rc::downgrade(shared);
    let mut driver = shared.borrow_mut();
    match output {
        HubOutput::Broadcast(frame) => {
            if let Some(channel) = &driver.channel {
                channel.post(&frame);
            }
        }
        HubOutput::RequestLock { steal } => {
            // A queued request must go before a steal, or it would be granted again later.
            driver.lock = None;
            let Some(manager) = driver.locks.clone() else {
                return;
            };
            let on_signal = Rc::new(move |signal| match signal {
                LockSignal::Granted => input(&weak, |hub, now| hub.handle_lock_granted(now)),
                LockSignal::Lost => input(&weak, |hub, now| hub.handle_lock_lost(now)),
            });
            match LockRequest::request(&manager, &driver.names.lock, steal, on_signal) {
                Ok(request) => driver.lock = Some(request),
                Err(_) => driver.connection = Connection::Error("Web Locks request failed".into()),
            }
        }
        HubOutput::ReleaseLock => driver.lock = None,
        HubOutput::FetchSnapshot => {
            drop(driver);
            fetch_snapshot(weak);
        }
        HubOutput::OpenUpstream {
            watch,
            last_event_id,
        } => {
            driver.upstream = None;
            driver.connection = Connection::Connecting;
            let on_signal: Rc<dyn Fn(UpstreamSignal)> =
                Rc::new(move |signal| on_upstream(&weak, signal));
            match Upstream::open(&stream_url(&watch, last_event_id), on_signal) {
                Ok(upstream) => driver.upstream = Some(upstream),
                Err(_) => driver.connection = Connection::Error("cannot open the stream".into()),
            }
        }
        HubOutput::CloseUpstream => driver.upstream = None,
        HubOutput::Deliver(envelope) => {
            if driver.upstream.is_none() && driver.connection == Connection::Connecting {
                driver.connection = Connection::Live;
            }
            driver.pending.push(envelope);
        }
        HubOutput::DeliverSnapshot(snapshot) => {
            // Events before the snapshot go first, so the app never applies them on top of it.
            if !driver.pending.is_empty() {
                updates.push(flush(&mut driver));
            }
            driver.log.record_snapshot(snapshot.last_event_id);
            if driver.upstream.is_none() && driver.connection == Connection::Connecting {
                driver.connection = Connection::Live;
            }
            updates.push(FeedUpdate::Snapshot(Rc::new(snapshot)));
        }
        HubOutput::RoleChanged(_) => {}
    }
}

fn on_upstream(weak: &Weak<RefCell<HubDriver>>, signal: UpstreamSignal) {
    match signal {
        UpstreamSignal::Open => {
            set_connection(weak, Connection::Live);
            input(weak, |hub, now| hub.handle_upstream_open(now));
        }
        UpstreamSignal::Event(envelope) => {
            input(weak, |hub, now| hub.handle_upstream_event(now, envelope))
        }
        UpstreamSignal::Heartbeat => input(weak, |hub, now| hub.handle_upstream_heartbeat(now)),
        UpstreamSignal::Reset => input(weak, |hub, now| hub.handle_upstream_reset(now)),
        UpstreamSignal::Error => {
            input(weak, |hub, now| hub.handle_upstream_error(now));
            let at_ms = weak
                .upgrade()
                .and_then(|s| s.borrow().hub.diagnostics().reconnect_at_ms)
                .unwrap_or_else(now_ms);
            set_connection(weak, Connection::Reconnecting { at_ms });
        }
        UpstreamSignal::Malformed(reason) => {
            web_sys::console::warn_1(&format!("convoy: dropped a malformed event: {reason}").into())
        }
    }
}

fn set_connection(weak: &Weak<RefCell<HubDriver>>, connection: Connection) {
    if let Some(shared) = weak.upgrade() {
        shared.borrow_mut().connection = connection;
        pump(&shared);
    }
}

fn fetch_snapshot(weak: Weak<RefCell<HubDriver>>) {
    wasm_bindgen_futures::spawn_local(async move {
        match load_snapshot().await {
            Ok(snapshot) => input(&weak, |hub, now| hub.handle_snapshot(now, snapshot)),
            // The hub asks again after `snapshot_retry_ms`; meanwhile the chip says why.
            Err(message) => set_connection(&weak, Connection::Error(message)),
        }
    });
}

async fn load_snapshot() -> Result<FleetSnapshot, String> {
    let response = gloo_net::http::Request::get("api/fleet")
        .send()
        .await
        .map_err(|e| format!("the server is unreachable ({e})"))?;
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    response
        .json::<FleetSnapshot>()
        .await
        .map_err(|e| format!("the fleet snapshot did not decode ({e})"))
}

fn arm_timer(driver: &mut HubDriver, shared: &Shared) {
    let Some(deadline) = driver.hub.poll_timeout() else {
        driver.timer = None;
        return;
    };
    if driver.timer.as_ref().is_some_and(|(at, _)| *at == deadline) {
        return;
    }
    let weak = Rc::downgrade(shared);
    let delay = deadline.saturating_sub(now_ms()).min(u32::MAX as u64) as u32;
    let timeout = Timeout::new(delay, move || {
        if let Some(shared) = weak.upgrade() {
            shared.borrow_mut().timer = None;
        }
        input(&weak, |hub, now| hub.handle_timeout(now));
    });
    driver.timer = Some((deadline, timeout));
}

fn page_hidden() -> bool {
    web_sys::window()
        .map(|w| w.document().is_some_and(|d| d.hidden()))
        .unwrap_or(false)
}

/// bfcache-friendly lifecycle: no `unload` listener; a leader hands over on `pagehide` and the
/// tab rejoins on `pageshow`.
fn page_listeners(weak: &Weak<RefCell<HubDriver>>) -> Vec<EventListener> {
    let Some(window) = web_sys::window() else {
        return Vec::new();
    };
    let on_hide = weak.clone();
    let on_show = weak.clone();
    vec![
        EventListener::new(&window, "pagehide", move |event| {
            let persisted = event
                .dyn_ref::<PageTransitionEvent>()
                .is_some_and(|e| e.persisted());
            if persisted {
                input(&on_hide, |hub, now| hub.handle_page_hide(now));
            } else {
                input(&on_hide, |hub, now| hub.shutdown(now));
            }
        }),
        EventListener::new(&window, "pageshow", move |event| {
            let persisted = event
                .dyn_ref::<PageTransitionEvent>()
                .is_some_and(|e| e.persisted());
            if persisted {
                input(&on_show, |hub, now| hub.handle_page_show(now));
            }
        }),
    ]
}
