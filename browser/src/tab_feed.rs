//! One tab's feed: a hub on the [`hub_loop`](crate::hub_loop) whose peers are the other tabs (a
//! BroadcastChannel) or the worker that holds the stream, and whose deliveries reach the app as
//! [`FeedUpdate`]s: events at most once per animation frame (at once in hidden tabs, which get
//! no frames), snapshots at once, and the status when it changes.
//!
//! A transport is trusted only once it shows it works: a constructor that throws, a worker
//! whose script fails, a registration refused, a lock manager that throws or does not answer,
//! or a worker silent for [`ANSWER_WITHIN_MS`] is a [`Failure`], reported once to the feed's
//! owner (which moves the tab down `auto`'s ladder) and shown in the chip meanwhile.
//!
//! In leader and direct modes the hub runs in a dedicated worker ([`hub_worker_link`]) and the
//! tab only applies what it posts; when that worker cannot start, the hub runs here as before
//! ([`HubPlace`] says where, and why).
//!
//! [`hub_worker_link`]: crate::hub_worker_link

use crate::beep::{sound_on, Beeper};
use crate::capabilities::query_param;
use crate::channel::{TabChannel, CHANNEL_NAME};
use crate::clock::{new_tab_id, now_ms};
use crate::diagnostics::{self, role_label, DiagnosticsHook, DiagnosticsReport};
use crate::hub_loop::{HubHandle, HubHost, HubLoop, LeaderLock};
use crate::hub_worker_link::WorkerFeed;
use crate::lifecycle::PageLifecycle;
use crate::locks::{lock_manager, LEADER_LOCK};
use crate::notifications::Notifier;
use crate::upstream::{EventSourceUpstream, HEARTBEAT_MS};
use crate::visibility::page_hidden;
use crate::worker_port::{error_name, ServiceWorkerPort, WorkerPort, SHARED_WORKER_NAME};
use convoy_core::delivery::DeliveryLog;
use convoy_core::election::{ElectionMode, Role, TabId};
use convoy_core::notice::{decode_msg, AlertNotices, NoticeOutput, HOLD_MS};
use convoy_core::relay::{Connection, HubConfig, HubOutput, TabHub};
use convoy_core::transport::{Failure, Feature, TransportMode};
use convoy_core::wire::{Envelope, EventId, FleetSnapshot, Watch};
use gloo_render::AnimationFrame;
use gloo_timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::Rc;

/// How long a worker or the lock manager has to answer before its transport counts as failed.
/// The worker's wasm may still be loading: its JS entry queues what arrives meanwhile.
pub const ANSWER_WITHIN_MS: u32 = 2_000;

/// What the feed tells the app.
pub enum FeedUpdate {
    /// Replace the fleet state.
    Snapshot(Rc<FleetSnapshot>),
    /// Apply these events, in order.
    Events(Rc<Vec<Envelope>>),
    /// The connection or this tab's role changed.
    Status(Rc<FeedStatus>),
}

/// The feed's state for the status chip and /diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedStatus {
    /// The upstream as the hub reports it (a follower's is its leader's).
    pub connection: Connection,
    pub mode: TransportMode,
    pub mode_reason: String,
    /// The user chose this transport (so a failure offers `auto` rather than falling back).
    pub explicit: bool,
    /// What `auto` skipped because it failed here ("SharedWorker blocked: SecurityError").
    pub skipped: Option<String>,
    pub role: Role,
    pub tab_id: TabId,
    pub term: u64,
    pub leader_id: Option<TabId>,
    pub malformed: u64,
    /// The other tabs known to share this tab's stream (leader mode, where every tab hears the
    /// others; worker modes, where the worker counts its tabs); None in direct mode.
    pub sharing_tabs: Option<usize>,
    /// Where this tab's hub runs.
    pub hub: HubPlace,
}

/// Where a tab's hub runs.
#[derive(Debug, Clone, PartialEq)]
pub enum HubPlace {
    /// In the tab's dedicated worker (leader and direct modes).
    Worker,
    /// On the tab's main thread: a worker mode's client hub (`why` None), or the dedicated
    /// worker could not start (`why` says what happened) or was not wanted (`?hub=main`).
    MainThread { why: Option<String> },
}

impl HubPlace {
    /// `worker` or `main-thread`, for `data-hub` and `convoyDiagnostics().hub`.
    pub fn key(&self) -> &'static str {
        match self {
            HubPlace::Worker => "worker",
            HubPlace::MainThread { .. } => "main-thread",
        }
    }

    /// Why the hub is not in a worker, if it should have been.
    pub fn why(&self) -> Option<&str> {
        match self {
            HubPlace::MainThread { why } => why.as_deref(),
            HubPlace::Worker => None,
        }
    }

    /// How /diagnostics and the chip's title say it.
    pub fn describe(&self) -> String {
        match self {
            HubPlace::Worker => "in a dedicated worker".to_owned(),
            HubPlace::MainThread { why: None } => "on the main thread".to_owned(),
            HubPlace::MainThread { why: Some(why) } => format!("on the main thread ({why})"),
        }
    }
}

/// The channel, lock and worker a group of tabs shares: one operator session's, or a test's;
/// and the trucks that operator may see.
#[derive(Debug, Clone, PartialEq)]
pub struct HubNames {
    pub channel: String,
    pub lock: String,
    /// The SharedWorker's name, and the session a service worker's hub serves.
    pub worker: String,
    /// The operator's scope (`HubConfig::scope`): what another tab or a worker relays about a
    /// truck outside it is dropped. `All` with sign-in off or a session not known.
    pub scope: Watch,
}

impl Default for HubNames {
    fn default() -> Self {
        HubNames::for_session("")
    }
}

impl HubNames {
    /// The names of one session's tabs (`""`: sign-in off): another operator's tabs never share
    /// a channel, a lock, a worker or a relay cache with these.
    pub fn for_session(session: &str) -> HubNames {
        let suffix = if session.is_empty() {
            String::new()
        } else {
            format!(":{session}")
        };
        HubNames {
            channel: format!("{CHANNEL_NAME}{suffix}"),
            lock: format!("{LEADER_LOCK}{suffix}"),
            worker: format!("{SHARED_WORKER_NAME}{suffix}"),
            scope: Watch::All,
        }
    }

    /// These names for an operator who may see `scope`'s trucks.
    pub fn within(self, scope: Watch) -> HubNames {
        HubNames { scope, ..self }
    }
}

/// How this tab starts.
#[derive(Clone)]
pub struct FeedSetup {
    pub mode: TransportMode,
    /// Leader mode: elect with Web Locks (else by heartbeat lease).
    pub locks: bool,
    /// Why this mode, for the chip and /diagnostics.
    pub mode_reason: String,
    /// Chosen by the user: a failure is shown with the offer to let Convoy choose.
    pub explicit: bool,
    /// What `auto` skipped because it failed here, for the chip.
    pub skipped: Option<String>,
    /// The trucks the tab's views show at start.
    pub watch: Watch,
    pub names: HubNames,
    /// What reached the app so far (a new log, or the one of the feed this one replaces).
    pub log: DeliveryLog,
    /// The app already has the fleet up to this id (the feed this one replaces got it there):
    /// resume after it rather than from a snapshot.
    pub cursor: Option<EventId>,
}

/// Where this tab's frames go: the other tabs, or the worker that holds the stream.
enum PeerLink {
    None,
    Channel(TabChannel),
    SharedWorker(WorkerPort),
    ServiceWorker(ServiceWorkerPort),
}

impl PeerLink {
    fn post(&self, frame: &str) {
        match self {
            PeerLink::None => {}
            PeerLink::Channel(channel) => channel.post(frame),
            PeerLink::SharedWorker(port) => port.post(frame),
            PeerLink::ServiceWorker(port) => port.post(frame),
        }
    }
}

/// The tab's side of the hub: its peer link, the events waiting for a frame, the delivery log
/// and the app's callback.
pub struct TabHost {
    mode: TransportMode,
    mode_reason: String,
    explicit: bool,
    skipped: Option<String>,
    link: PeerLink,
    pending: Vec<Envelope>,
    frame: Option<AnimationFrame>,
    updates: Vec<FeedUpdate>,
    log: DeliveryLog,
    on_update: Rc<dyn Fn(FeedUpdate)>,
    last_status: Option<Rc<FeedStatus>>,
    on_failure: Rc<dyn Fn(Failure)>,
    failed: bool,
    /// Shows what this tab's notifier decides while it leads, or what its SharedWorker hands it.
    notifier: Notifier,
    hub: HubPlace,
}

impl HubHost for TabHost {
    type Upstream = EventSourceUpstream;

    fn notice(&mut self, output: NoticeOutput) {
        self.notifier.perform(output);
    }

    fn handle(&mut self, output: HubOutput) {
        match output {
            HubOutput::Send { frame, .. } => self.link.post(&frame),
            HubOutput::Deliver(envelope) => self.pending.push(envelope),
            HubOutput::DeliverSnapshot(snapshot) => {
                // Events before the snapshot go first, so the app never applies them on top.
                if !self.pending.is_empty() {
                    let events = self.flush();
                    self.updates.push(events);
                }
                self.log.record_snapshot(snapshot.last_event_id);
                self.updates.push(FeedUpdate::Snapshot(Rc::new(snapshot)));
            }
            // Role and connection are read from the hub in `settle`, with the rest of the chip;
            // a tab's only peer link is broadcast, so a peer gone needs nothing here.
            _ => {}
        }
    }

    fn lock_failed(&mut self, hub: &mut TabHub, now_ms: u64, reason: String) {
        let feature = if self.mode == TransportMode::Leader {
            Feature::WebLocks
        } else {
            return hub.handle_transport_failed(now_ms, reason);
        };
        self.fail(hub, now_ms, Failure { feature, reason });
    }

    fn settle(&mut self, hub: &TabHub, handle: &HubHandle<Self>) -> Option<Box<dyn FnOnce()>> {
        if !self.pending.is_empty() {
            if page_hidden() {
                let events = self.flush();
                self.updates.push(events);
            } else if self.frame.is_none() {
                let handle = handle.clone();
                self.frame = Some(gloo_render::request_animation_frame(move |_| {
                    handle.with_host(|host| {
                        host.frame = None;
                        let events = host.flush();
                        host.updates.push(events);
                    });
                }));
            }
        }
        let status = Rc::new(self.status(hub));
        if self.last_status.as_deref() != Some(&status) {
            self.last_status = Some(status.clone());
            self.updates.push(FeedUpdate::Status(status));
        }
        if self.updates.is_empty() {
            return None;
        }
        let updates = std::mem::take(&mut self.updates);
        let on_update = self.on_update.clone();
        Some(Box::new(move || {
            for update in updates {
                on_update(update);
            }
        }))
    }
}

impl TabHost {
    /// This tab's transport did not work: shown at once, told to the owner once (after this
    /// input, so the owner may replace this feed).
    fn fail(&mut self, hub: &mut TabHub, now_ms: u64, failure: Failure) {
        if self.failed {
            return;
        }
        self.failed = true;
        hub.handle_transport_failed(now_ms, failure.to_string());
        let on_failure = self.on_failure.clone();
        wasm_bindgen_futures::spawn_local(async move { on_failure(failure) });
    }

    /// Hands the app the events gathered since the last frame, and logs them as delivered.
    fn flush(&mut self) -> FeedUpdate {
        let events = std::mem::take(&mut self.pending);
        let now = now_ms();
        for envelope in &events {
            self.log
                .record_event(now, envelope.id, envelope.event.at_ms());
        }
        FeedUpdate::Events(Rc::new(events))
    }

    fn status(&self, hub: &TabHub) -> FeedStatus {
        let d = hub.diagnostics();
        FeedStatus {
            connection: hub.connection().clone(),
            mode: self.mode,
            mode_reason: self.mode_reason.clone(),
            explicit: self.explicit,
            skipped: self.skipped.clone(),
            role: d.role,
            tab_id: d.tab_id,
            term: d.term,
            leader_id: d.leader_id,
            malformed: d.malformed,
            // A worker's clients hear only the worker, which counts its tabs for them.
            sharing_tabs: match self.mode {
                TransportMode::Leader => Some(d.peers),
                mode if mode.is_worker() => d.stream_tabs.map(|n| n.saturating_sub(1)),
                _ => None,
            },
            hub: self.hub.clone(),
        }
    }

    fn report(&self, hub: &TabHub) -> DiagnosticsReport {
        let d = hub.diagnostics();
        DiagnosticsReport {
            role: role_label(d.role, self.mode.is_worker()),
            tab_id: d.tab_id,
            term: d.term,
            leader_id: d.leader_id,
            transport: self.mode.key(),
            transport_reason: self.mode_reason.clone(),
            upstream: connection_label(hub.connection(), d.role == Role::Leader),
            last_event_id: self.log.last_id().unwrap_or(0),
            events_per_second: self.log.events_per_second(now_ms()),
            latency_p50_ms: self.log.latency_percentile(50),
            latency_p99_ms: self.log.latency_percentile(99),
            delivered: self.log.delivered(),
            gaps: self.log.gaps(),
            duplicates: self.log.duplicates(),
            snapshots: self.log.snapshots(),
            malformed: d.malformed,
            out_of_scope: d.out_of_scope,
            upstream_gaps: d.upstream_gaps,
            hub: self.hub.key(),
            hub_detail: self.hub.describe(),
        }
    }
}

/// The upstream as /diagnostics names it.
pub(crate) fn connection_label(connection: &Connection, leading: bool) -> String {
    match connection {
        Connection::Connecting => "connecting".into(),
        Connection::Live if leading => "open".into(),
        Connection::Live => "relayed".into(),
        Connection::Reconnecting { .. } => "reconnecting".into(),
        Connection::Error { reason } => format!("error: {reason}"),
    }
}

/// Where a tab feed's hub runs now.
enum Place {
    Main(MainFeed),
    Worker(WorkerFeed),
    /// Between a worker that could not start and the hub that replaces it, or retired.
    Gone,
}

/// A running tab feed. Dropping it (or `stop`) says goodbye, so the next leader starts at once.
pub struct TabFeed {
    place: Rc<RefCell<Place>>,
}

impl TabFeed {
    /// Starts this tab's hub for `setup` (in a dedicated worker in leader and direct modes,
    /// unless `?hub=main`); updates go to `on_update`, a transport that does not work to
    /// `on_failure` (once).
    pub fn start(
        setup: FeedSetup,
        on_update: impl Fn(FeedUpdate) + 'static,
        on_failure: impl Fn(Failure) + 'static,
    ) -> TabFeed {
        let on_update: Rc<dyn Fn(FeedUpdate)> = Rc::new(on_update);
        let on_failure: Rc<dyn Fn(Failure)> = Rc::new(on_failure);
        let place = Rc::new(RefCell::new(Place::Gone));
        let started = match setup.mode {
            TransportMode::Leader | TransportMode::Direct
                if query_param("hub").as_deref() != Some("main") =>
            {
                let weak = Rc::downgrade(&place);
                let (updates, failures) = (on_update.clone(), on_failure.clone());
                let on_unavailable = move |setup: FeedSetup, why: String| {
                    // Not from inside the worker feed's callbacks: it is dropped here.
                    wasm_bindgen_futures::spawn_local(async move {
                        let Some(place) = weak.upgrade() else { return };
                        web_sys::console::warn_1(
                            &format!("convoy: the hub runs on the main thread: {why}").into(),
                        );
                        // The worker feed goes first: its listeners and `convoyDiagnostics` with it.
                        let worker = std::mem::replace(&mut *place.borrow_mut(), Place::Gone);
                        drop(worker);
                        let why = Some(why);
                        let main =
                            MainFeed::start(setup, updates, failures, HubPlace::MainThread { why });
                        *place.borrow_mut() = Place::Main(main);
                    });
                };
                match WorkerFeed::start(
                    setup,
                    on_update.clone(),
                    on_failure.clone(),
                    on_unavailable,
                ) {
                    Ok(feed) => Place::Worker(feed),
                    Err(refused) => {
                        let (setup, why) = *refused;
                        let why = Some(why);
                        Place::Main(MainFeed::start(
                            setup,
                            on_update,
                            on_failure,
                            HubPlace::MainThread { why },
                        ))
                    }
                }
            }
            mode => {
                let why = matches!(mode, TransportMode::Leader | TransportMode::Direct)
                    .then(|| "chosen with ?hub=main".to_owned());
                Place::Main(MainFeed::start(
                    setup,
                    on_update,
                    on_failure,
                    HubPlace::MainThread { why },
                ))
            }
        };
        *place.borrow_mut() = started;
        TabFeed { place }
    }

    /// Tells the hub which trucks this tab's views show.
    pub fn set_watch(&self, watch: Watch) {
        match &*self.place.borrow() {
            Place::Main(feed) => feed.set_watch(watch),
            Place::Worker(feed) => feed.set_watch(watch),
            Place::Gone => {}
        }
    }

    /// A clean close: goodbye, then nothing more.
    pub fn stop(&self) {
        match &*self.place.borrow() {
            Place::Main(feed) => feed.stop(),
            Place::Worker(feed) => feed.stop(),
            Place::Gone => {}
        }
    }

    /// Stops, and hands over what reached the app and the id its state reflects (for the feed
    /// that replaces this one; events still waiting for a frame are handed to the app first).
    pub fn retire(self) -> (DeliveryLog, Option<EventId>) {
        let place = std::mem::replace(&mut *self.place.borrow_mut(), Place::Gone);
        match place {
            Place::Main(feed) => feed.retire(),
            Place::Worker(feed) => feed.retire(),
            Place::Gone => Default::default(),
        }
    }

    /// What /diagnostics shows (None while the hub is busy).
    pub fn report(&self) -> Option<DiagnosticsReport> {
        match &*self.place.borrow() {
            Place::Main(feed) => feed.report(),
            Place::Worker(feed) => feed.report(),
            Place::Gone => None,
        }
    }
}

/// A tab feed whose hub runs on this tab's main thread.
struct MainFeed {
    hub: HubLoop<TabHost>,
    _probation: Option<Timeout>,
    _lifecycle: Option<PageLifecycle>,
    _diagnostics: Option<DiagnosticsHook>,
}

impl MainFeed {
    fn start(
        setup: FeedSetup,
        on_update: Rc<dyn Fn(FeedUpdate)>,
        on_failure: Rc<dyn Fn(Failure)>,
        place: HubPlace,
    ) -> MainFeed {
        let FeedSetup {
            mode,
            locks,
            mode_reason,
            explicit,
            skipped,
            watch,
            names,
            mut log,
            cursor,
        } = setup;
        let lock = match mode {
            TransportMode::Leader if locks => lock_manager().map(|manager| LeaderLock {
                manager,
                name: names.lock.clone(),
            }),
            _ => None,
        };
        let election = match (mode, &lock) {
            (TransportMode::Direct, _) => ElectionMode::Solo,
            (TransportMode::Leader, Some(_)) => ElectionMode::Locks,
            (TransportMode::Leader, None) => ElectionMode::Lease,
            (TransportMode::SharedWorker | TransportMode::ServiceWorker, _) => ElectionMode::Client,
        };
        let mut config = HubConfig::new(new_tab_id(), election);
        config.watch = watch.clone();
        config.scope = names.scope.clone();
        config.cursor = cursor;
        // Said in every frame; `PageLifecycle` follows changes.
        config.hidden = page_hidden();
        // Convoy's streams carry a server heartbeat every HEARTBEAT_MS: silence this long means
        // the stream is dead even if the socket is not.
        config.upstream_stall_ms = 8 * HEARTBEAT_MS;
        log.set_contiguous(watch == Watch::All);
        // Where this tab may hold the stream. A worker's tabs notify only what it hands them.
        let notices = match mode {
            TransportMode::Leader | TransportMode::Direct => Some(AlertNotices::new(HOLD_MS)),
            TransportMode::SharedWorker | TransportMode::ServiceWorker => None,
        };
        let mut refused = None;
        let hub = HubLoop::start(config, lock, notices, |handle| {
            let (link, failure) = connect(mode, &names, &handle);
            refused = failure;
            TabHost {
                mode,
                mode_reason,
                explicit,
                skipped,
                link,
                pending: Vec::new(),
                frame: None,
                updates: Vec::new(),
                log,
                on_update,
                last_status: None,
                on_failure,
                failed: false,
                notifier: Notifier::for_page(Some(beep_when_asked())),
                hub: place,
            }
        });
        let handle = hub.handle();
        if let Some(failure) = refused {
            handle.input(|hub, host, now| host.fail(hub, now, failure));
        }
        let probation = probation(mode, election, &handle);
        let lifecycle = PageLifecycle::listen(handle.clone());
        let reporter = handle.clone();
        let full = handle;
        let diagnostics = diagnostics::install(
            move || reporter.read(|hub, host| host.report(hub)),
            move || full.read(|_, host| diagnostics::deliveries(&host.log)),
        );
        MainFeed {
            hub,
            _probation: probation,
            _lifecycle: lifecycle,
            _diagnostics: diagnostics,
        }
    }

    fn set_watch(&self, watch: Watch) {
        self.hub.handle().input(move |hub, host, now| {
            host.log.set_contiguous(watch == Watch::All);
            hub.set_watch(now, watch);
        });
    }

    fn stop(&self) {
        self.hub.stop();
    }

    fn retire(self) -> (DeliveryLog, Option<EventId>) {
        self.hub.handle().with_host(|host| {
            if !host.pending.is_empty() {
                let events = host.flush();
                host.updates.push(events);
            }
        });
        self.hub.stop();
        self.hub
            .handle()
            .read(|hub, host| {
                let cursor = hub.diagnostics().cursor;
                (host.log.clone(), (cursor > 0).then_some(cursor))
            })
            .unwrap_or_default()
    }

    fn report(&self) -> Option<DiagnosticsReport> {
        self.hub.handle().read(|hub, host| host.report(hub))
    }
}

/// What runs after this tab showed a notification: a beep, when the operator asked for sound.
pub(crate) fn beep_when_asked() -> Rc<dyn Fn()> {
    let beeper = std::cell::RefCell::new(Beeper::default());
    Rc::new(move || {
        if sound_on() {
            beeper.borrow_mut().beep();
        }
    })
}

/// Opens the link to this tab's peers; says why when it could not.
fn connect(
    mode: TransportMode,
    names: &HubNames,
    handle: &HubHandle<TabHost>,
) -> (PeerLink, Option<Failure>) {
    // Only a SharedWorker hands its tabs notices; on other links the text is a frame as any.
    let takes_notices = mode == TransportMode::SharedWorker;
    let on_message = {
        let handle = handle.clone();
        move |text: String| match decode_msg(&text).filter(|_| takes_notices) {
            // A notification the SharedWorker hands this tab to show or close.
            Some(Ok(output)) => handle.with_host(|host| host.notifier.perform(output)),
            Some(Err(reason)) => web_sys::console::warn_1(
                &format!("convoy: dropped a malformed notice: {reason}").into(),
            ),
            None => {
                handle.input(|hub, _, now| hub.handle_channel_message(now, &text));
            }
        }
    };
    let on_failure = |feature: Feature| {
        let handle = handle.clone();
        move |reason: String| {
            handle.input(|hub, host, now| host.fail(hub, now, Failure { feature, reason }));
        }
    };
    let refused = |feature, reason| Some(Failure { feature, reason });
    match mode {
        TransportMode::Direct => (PeerLink::None, None),
        TransportMode::Leader => match TabChannel::open(&names.channel, on_message) {
            Ok(channel) => (PeerLink::Channel(channel), None),
            Err(e) => (
                PeerLink::None,
                refused(Feature::BroadcastChannel, error_name(&e)),
            ),
        },
        TransportMode::SharedWorker => {
            match WorkerPort::connect(&names.worker, on_message, on_failure(Feature::SharedWorker))
            {
                Ok(port) => (PeerLink::SharedWorker(port), None),
                Err(reason) => (PeerLink::None, refused(Feature::SharedWorker, reason)),
            }
        }
        TransportMode::ServiceWorker => {
            match ServiceWorkerPort::connect(
                &names.worker,
                on_message,
                on_failure(Feature::ServiceWorker),
            ) {
                Ok(port) => (PeerLink::ServiceWorker(port), None),
                Err(reason) => (PeerLink::None, refused(Feature::ServiceWorker, reason)),
            }
        }
    }
}

/// After [`ANSWER_WITHIN_MS`], a worker that never answered, or a lock manager that never
/// answered a query, fails its transport.
fn probation(
    mode: TransportMode,
    election: ElectionMode,
    handle: &HubHandle<TabHost>,
) -> Option<Timeout> {
    let feature = match (mode, election) {
        (TransportMode::SharedWorker, _) => Feature::SharedWorker,
        (TransportMode::ServiceWorker, _) => Feature::ServiceWorker,
        (TransportMode::Leader, ElectionMode::Locks) => Feature::WebLocks,
        _ => return None,
    };
    let answered = Rc::new(std::cell::Cell::new(false));
    if feature == Feature::WebLocks {
        let manager = lock_manager()?;
        let answered = answered.clone();
        let query = manager.query();
        wasm_bindgen_futures::spawn_local(async move {
            if wasm_bindgen_futures::JsFuture::from(query).await.is_ok() {
                answered.set(true);
            }
        });
    }
    let handle = handle.clone();
    Some(Timeout::new(ANSWER_WITHIN_MS, move || {
        handle.input(|hub, host, now| {
            let silent = match feature {
                Feature::WebLocks => !answered.get(),
                // A worker that answered is this tab's leader.
                _ => hub.diagnostics().leader_id.is_none(),
            };
            if silent {
                let reason = format!("no answer in {} s", ANSWER_WITHIN_MS / 1000);
                host.fail(hub, now, Failure { feature, reason });
            }
        });
    }))
}
