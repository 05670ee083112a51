//! A tab's side of the dedicated worker that runs its hub (see `hub_worker`): spawned with
//! gloo-worker's spawner from trunk's loader shim (same origin: `worker-src 'self'`, no
//! `blob:`), told the tab's watch, session and visibility, and only applied here: events at
//! most once per animation frame, nothing while hidden (the worker holds them), snapshots and
//! the chip's state as they come, notifications shown at once.
//!
//! A worker that cannot start (its constructor throws, or no `Ready` within
//! [`ANSWER_WITHIN_MS`]: a script that is missing, blocked or fails) is handed back to the
//! caller with why, which then runs the hub on the main thread.

use crate::api::script_url;
use crate::clock::now_ms;
use crate::diagnostics::{self, role_label, DiagnosticsHook, DiagnosticsReport};
use crate::hub_worker::{HubWorker, JsonCodec};
use crate::lifecycle::PageLifecycle;
use crate::notifications::Notifier;
use crate::tab_feed::{
    beep_when_asked, connection_label, FeedSetup, FeedStatus, FeedUpdate, HubPlace,
};
use crate::visibility::page_hidden;
use crate::worker_port::error_name;
use convoy_core::delivery::DeliveryLog;
use convoy_core::election::{ElectionMode, Role};
use convoy_core::hub_worker::{
    FromHubWorker, HubState, HubWorkerStart, ToHubWorker, HUB_WORKER_VERSION,
};
use convoy_core::notice::decode_msg;
use convoy_core::relay::Connection;
use convoy_core::transport::{Failure, TransportMode};
use convoy_core::wire::{Envelope, EventId, Watch};
use gloo_render::AnimationFrame;
use gloo_timers::callback::Timeout;
use gloo_worker::{Spawnable, WorkerBridge};
use std::cell::RefCell;
use std::rc::{Rc, Weak};

/// The worker's entry: trunk's loader shim for the `convoy-hub-worker` bin, relative to the
/// document's base (the app's public URL).
pub const HUB_WORKER_SCRIPT: &str = "convoy-hub-worker_loader.js";

/// How long the worker has to say it is ready before the hub runs on the main thread instead.
/// Its wasm loads and compiles meanwhile (what the tab sends is queued until then).
pub const ANSWER_WITHIN_MS: u32 = 4_000;

type OnUnavailable = Box<dyn FnOnce(FeedSetup, String)>;

struct Link {
    bridge: Option<WorkerBridge<HubWorker>>,
    /// Kept for the main-thread hub, should the worker not start (the watch follows).
    setup: FeedSetup,
    ready: bool,
    hub: HubState,
    pending: Vec<Envelope>,
    /// The id the app's state reflects once `pending` is applied.
    pending_cursor: Option<EventId>,
    applied_cursor: Option<EventId>,
    frame: Option<AnimationFrame>,
    last_status: Option<Rc<FeedStatus>>,
    on_update: Rc<dyn Fn(FeedUpdate)>,
    on_failure: Rc<dyn Fn(Failure)>,
    on_unavailable: Option<OnUnavailable>,
    notifier: Notifier,
    stopped: bool,
}

/// A tab feed whose hub runs in a dedicated worker. Dropping it stops the hub.
pub struct WorkerFeed {
    link: Rc<RefCell<Link>>,
    _probation: Timeout,
    _lifecycle: Option<PageLifecycle>,
    _diagnostics: Option<DiagnosticsHook>,
}

impl WorkerFeed {
    /// Spawns the worker and starts the hub there for `setup`. `Err` hands `setup` back with
    /// why when the worker cannot be made; a worker that does not answer goes to
    /// `on_unavailable` (once, from a timer) the same way.
    pub fn start(
        setup: FeedSetup,
        on_update: Rc<dyn Fn(FeedUpdate)>,
        on_failure: Rc<dyn Fn(Failure)>,
        on_unavailable: impl FnOnce(FeedSetup, String) + 'static,
    ) -> Result<WorkerFeed, Box<(FeedSetup, String)>> {
        let url = match script_url(HUB_WORKER_SCRIPT) {
            Ok(url) => url,
            Err(e) => {
                return Err(Box::new((
                    setup,
                    format!("no worker URL: {}", error_name(&e)),
                )))
            }
        };
        // gloo's spawner panics when the constructor throws (a policy, a `worker-src` CSP that
        // some engines check at once): try the constructor first, and stop that one at once.
        match web_sys::Worker::new(&url) {
            Ok(probe) => probe.terminate(),
            Err(e) => {
                let why = format!("dedicated worker blocked: {}", error_name(&e));
                return Err(Box::new((setup, why)));
            }
        }
        let election = match (setup.mode, setup.locks) {
            (TransportMode::Direct, _) => ElectionMode::Solo,
            (_, true) => ElectionMode::Locks,
            (_, false) => ElectionMode::Lease,
        };
        let tab_id = crate::clock::new_tab_id();
        let start = HubWorkerStart {
            version: HUB_WORKER_VERSION,
            tab_id,
            election,
            channel: setup.names.channel.clone(),
            lock: setup.names.lock.clone(),
            watch: setup.watch.clone(),
            scope: setup.names.scope.clone(),
            cursor: setup.cursor,
            hidden: page_hidden(),
            api: crate::api::api_base(),
        };
        let mut log = setup.log.clone();
        log.set_contiguous(setup.watch == Watch::All);
        let link = Rc::new(RefCell::new(Link {
            bridge: None,
            setup: FeedSetup { log, ..setup },
            ready: false,
            hub: HubState {
                connection: Connection::Connecting,
                role: Role::Electing,
                tab_id,
                term: 0,
                leader_id: None,
                malformed: 0,
                out_of_scope: 0,
                upstream_gaps: 0,
                peers: 0,
            },
            pending: Vec::new(),
            pending_cursor: None,
            applied_cursor: start.cursor,
            frame: None,
            last_status: None,
            on_update,
            on_failure,
            on_unavailable: Some(Box::new(on_unavailable)),
            notifier: Notifier::for_page(Some(beep_when_asked())),
            stopped: false,
        }));
        let weak = Rc::downgrade(&link);
        let bridge = HubWorker::spawner()
            .encoding::<JsonCodec>()
            .callback(move |message| receive(&weak, message))
            .with_loader(true)
            // trunk builds worker bins for `importScripts` (wasm-bindgen's no-modules target).
            .as_module(false)
            .spawn(&url);
        bridge.send(ToHubWorker::Start(start));
        link.borrow_mut().bridge = Some(bridge);
        let probation = {
            let weak = Rc::downgrade(&link);
            Timeout::new(ANSWER_WITHIN_MS, move || {
                let why = format!(
                    "dedicated worker: no answer in {} s",
                    ANSWER_WITHIN_MS / 1000
                );
                unavailable(&weak, why, false);
            })
        };
        let send = |link: &Rc<RefCell<Link>>| {
            let weak = Rc::downgrade(link);
            move |message: ToHubWorker| {
                if let Some(link) = weak.upgrade() {
                    if let Some(bridge) = &link.borrow().bridge {
                        bridge.send(message);
                    }
                }
            }
        };
        let (on_hidden, on_hide, on_show) = (send(&link), send(&link), send(&link));
        let shown = Rc::downgrade(&link);
        let lifecycle = PageLifecycle::with(
            move |hidden| {
                on_hidden(ToHubWorker::Hidden { hidden });
                if !hidden {
                    // What arrived while hidden (the worker's hold, when full) shows now.
                    settle(&shown);
                }
            },
            move |persisted| {
                on_hide(if persisted {
                    ToHubWorker::PageHide
                } else {
                    ToHubWorker::Stop
                })
            },
            move || on_show(ToHubWorker::PageShow),
        );
        let (reporter, full) = (Rc::downgrade(&link), Rc::downgrade(&link));
        let diagnostics = diagnostics::install(
            move || Some(reporter.upgrade()?.try_borrow().ok()?.report()),
            move || {
                let link = full.upgrade()?;
                let link = link.try_borrow().ok()?;
                Some(diagnostics::deliveries(&link.setup.log))
            },
        );
        settle(&Rc::downgrade(&link));
        Ok(WorkerFeed {
            link,
            _probation: probation,
            _lifecycle: lifecycle,
            _diagnostics: diagnostics,
        })
    }

    /// Tells the hub which trucks this tab's views show.
    pub fn set_watch(&self, watch: Watch) {
        let mut link = self.link.borrow_mut();
        link.setup.log.set_contiguous(watch == Watch::All);
        link.setup.watch = watch.clone();
        if let Some(bridge) = &link.bridge {
            bridge.send(ToHubWorker::Watch { watch });
        }
    }

    /// A clean close: the hub says goodbye, then the worker goes.
    pub fn stop(&self) {
        let mut link = self.link.borrow_mut();
        link.stopped = true;
        link.frame = None;
        if let Some(bridge) = link.bridge.take() {
            bridge.send(ToHubWorker::Stop);
        }
    }

    /// Stops, and hands over what reached the app and the id its state reflects; events still
    /// waiting for a frame are handed to the app first.
    pub fn retire(self) -> (DeliveryLog, Option<EventId>) {
        let updates = {
            let mut link = self.link.borrow_mut();
            let mut updates = Vec::new();
            if !link.pending.is_empty() {
                updates.push(link.flush());
            }
            updates
        };
        run(&self.link, updates);
        self.stop();
        let link = self.link.borrow();
        (link.setup.log.clone(), link.applied_cursor)
    }

    /// What /diagnostics shows.
    pub fn report(&self) -> Option<DiagnosticsReport> {
        Some(self.link.try_borrow().ok()?.report())
    }
}

impl Drop for WorkerFeed {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Link {
    /// Hands the app the events gathered since the last frame, and logs them as delivered.
    fn flush(&mut self) -> FeedUpdate {
        let events = std::mem::take(&mut self.pending);
        let now = now_ms();
        for envelope in &events {
            self.setup
                .log
                .record_event(now, envelope.id, envelope.event.at_ms());
        }
        if let Some(cursor) = self.pending_cursor.take() {
            self.applied_cursor = Some(cursor);
        }
        FeedUpdate::Events(Rc::new(events))
    }

    fn status(&self) -> FeedStatus {
        let setup = &self.setup;
        FeedStatus {
            connection: self.hub.connection.clone(),
            mode: setup.mode,
            mode_reason: setup.mode_reason.clone(),
            explicit: setup.explicit,
            skipped: setup.skipped.clone(),
            role: self.hub.role,
            tab_id: self.hub.tab_id,
            term: self.hub.term,
            leader_id: self.hub.leader_id,
            malformed: self.hub.malformed,
            sharing_tabs: (setup.mode == TransportMode::Leader).then_some(self.hub.peers),
            hub: HubPlace::Worker,
        }
    }

    fn report(&self) -> DiagnosticsReport {
        let log = &self.setup.log;
        let hub = &self.hub;
        DiagnosticsReport {
            role: role_label(hub.role, false),
            tab_id: hub.tab_id,
            term: hub.term,
            leader_id: hub.leader_id,
            transport: self.setup.mode.key(),
            transport_reason: self.setup.mode_reason.clone(),
            upstream: connection_label(&hub.connection, hub.role == Role::Leader),
            last_event_id: log.last_id().unwrap_or(0),
            events_per_second: log.events_per_second(now_ms()),
            latency_p50_ms: log.latency_percentile(50),
            latency_p99_ms: log.latency_percentile(99),
            delivered: log.delivered(),
            gaps: log.gaps(),
            duplicates: log.duplicates(),
            snapshots: log.snapshots(),
            malformed: hub.malformed,
            out_of_scope: hub.out_of_scope,
            upstream_gaps: hub.upstream_gaps,
            hub: HubPlace::Worker.key(),
            hub_detail: HubPlace::Worker.describe(),
        }
    }
}

/// One message from the worker.
fn receive(weak: &Weak<RefCell<Link>>, message: FromHubWorker) {
    let Some(link) = weak.upgrade() else { return };
    let mut updates = Vec::new();
    let mut failure = None;
    {
        let Ok(mut link) = link.try_borrow_mut() else {
            return;
        };
        if link.stopped {
            return;
        }
        match message {
            FromHubWorker::Ready { version } if version == HUB_WORKER_VERSION => {
                link.ready = true;
            }
            FromHubWorker::Ready { version } => {
                drop(link);
                let why = format!("dedicated worker speaks version {version}: reload the page");
                return unavailable(weak, why, true);
            }
            FromHubWorker::Events { events, cursor } => {
                link.pending.extend(events);
                link.pending_cursor = cursor.or(link.pending_cursor);
            }
            FromHubWorker::Snapshot { snapshot } => {
                // Events before the snapshot go first, so the app never applies them on top.
                if !link.pending.is_empty() {
                    updates.push(link.flush());
                }
                link.setup.log.record_snapshot(snapshot.last_event_id);
                link.applied_cursor = Some(snapshot.last_event_id);
                updates.push(FeedUpdate::Snapshot(Rc::new(snapshot)));
            }
            FromHubWorker::State(state) => link.hub = state,
            FromHubWorker::Notice { text } => match decode_msg(&text) {
                Some(Ok(output)) => link.notifier.perform(output),
                _ => web_sys::console::warn_1(&"convoy: dropped a malformed notice".into()),
            },
            FromHubWorker::TransportFailed { failure: f } => failure = Some(f),
        }
    }
    run(&link, updates);
    settle(weak);
    if let Some(failure) = failure {
        let on_failure = link.borrow().on_failure.clone();
        wasm_bindgen_futures::spawn_local(async move { on_failure(failure) });
    }
}

/// Schedules the frame that applies pending events (at once while hidden: no frames come),
/// and hands the app a changed status.
fn settle(weak: &Weak<RefCell<Link>>) {
    let Some(link) = weak.upgrade() else { return };
    let mut updates = Vec::new();
    {
        let Ok(mut link) = link.try_borrow_mut() else {
            return;
        };
        if link.stopped {
            return;
        }
        if !link.pending.is_empty() {
            if page_hidden() {
                updates.push(link.flush());
            } else if link.frame.is_none() {
                let weak = weak.clone();
                link.frame = Some(gloo_render::request_animation_frame(move |_| {
                    let Some(link) = weak.upgrade() else { return };
                    let update = {
                        let mut link = link.borrow_mut();
                        link.frame = None;
                        link.flush()
                    };
                    run(&link, vec![update]);
                }));
            }
        }
        let status = Rc::new(link.status());
        if link.last_status.as_deref() != Some(&status) {
            link.last_status = Some(status.clone());
            updates.push(FeedUpdate::Status(status));
        }
    }
    run(&link, updates);
}

/// Hands `updates` to the app, with no borrow held (it may call back in).
fn run(link: &Rc<RefCell<Link>>, updates: Vec<FeedUpdate>) {
    if updates.is_empty() {
        return;
    }
    let on_update = link.borrow().on_update.clone();
    for update in updates {
        on_update(update);
    }
}

/// The worker did not start (or, `even_if_ready`, is another build's): stop it and hand the
/// setup back, once.
fn unavailable(weak: &Weak<RefCell<Link>>, why: String, even_if_ready: bool) {
    let Some(link) = weak.upgrade() else { return };
    let (on_unavailable, setup) = {
        let mut link = link.borrow_mut();
        if link.ready && !even_if_ready {
            return;
        }
        let Some(on_unavailable) = link.on_unavailable.take() else {
            return;
        };
        link.stopped = true;
        // Dropping the bridge tells a worker that loads after all to stop its hub.
        link.bridge = None;
        (on_unavailable, link.setup.clone())
    };
    on_unavailable(setup, why);
}
