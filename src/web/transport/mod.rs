//! How fleet events reach the app. Every mode hands the app the same `FeedUpdate`s; which one
//! runs comes from `?transport=`, then the setting kept in localStorage, then the default.

pub mod driver;

use convoy_core::election::Role;
use convoy_core::wire::{Envelope, EventId, FleetSnapshot, Watch};
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use yew::Callback;

/// localStorage key of the transport the user picked in /settings.
pub const TRANSPORT_SETTING: &str = "convoy.transport";

/// The ways this tab can get its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportMode {
    /// Its own stream per tab: what Convoy replaces; kept as the baseline and for HTTP/2.
    Direct,
    /// One tab leads and relays to the others over BroadcastChannel.
    Leader,
    /// The origin's SharedWorker holds the stream; tabs talk to it over MessagePorts.
    SharedWorker,
    /// The service worker holds the stream (a fetch stream) and posts to the app's windows.
    ServiceWorker,
}

impl TransportMode {
    /// Every mode, for the settings page.
    pub const ALL: [TransportMode; 4] = [
        TransportMode::SharedWorker,
        TransportMode::ServiceWorker,
        TransportMode::Leader,
        TransportMode::Direct,
    ];

    /// The name used in `?transport=` and localStorage.
    pub fn key(self) -> &'static str {
        match self {
            TransportMode::Direct => "direct",
            TransportMode::Leader => "leader",
            TransportMode::SharedWorker => "shared-worker",
            TransportMode::ServiceWorker => "service-worker",
        }
    }

    /// Reads a mode name (`auto` is not a mode: see [`auto_mode`]).
    pub fn parse(value: &str) -> Option<TransportMode> {
        TransportMode::ALL.into_iter().find(|m| m.key() == value)
    }

    /// Whether this tab talks to a worker rather than leading or following other tabs.
    pub fn is_worker(self) -> bool {
        matches!(
            self,
            TransportMode::SharedWorker | TransportMode::ServiceWorker
        )
    }
}

/// localStorage key of the HTTP version the network last served this page with.
const HTTP_VERSION_SEEN: &str = "convoy.httpVersion";

/// The `?transport=` / setting value that lets Convoy choose.
pub const AUTO: &str = "auto";

/// What this browser offers, for `auto` and the settings page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub shared_worker: bool,
    pub web_locks: bool,
    pub broadcast_channel: bool,
    pub service_worker: bool,
    /// The page's `nextHopProtocol` (`http/1.1`, `h2`, `h3`), when the browser says.
    pub http_version: Option<String>,
}

impl Capabilities {
    /// Probes the window.
    pub fn detect() -> Capabilities {
        let Some(window) = web_sys::window() else {
            return Capabilities {
                shared_worker: false,
                web_locks: false,
                broadcast_channel: false,
                service_worker: false,
                http_version: None,
            };
        };
        let has = |name: &str| js_sys::Reflect::has(&window, &name.into()).unwrap_or(false);
        let navigator = window.navigator();
        let in_navigator =
            |name: &str| js_sys::Reflect::has(&navigator, &name.into()).unwrap_or(false);
        let http_version = window
            .performance()
            .map(|p| p.get_entries_by_type("navigation"))
            .and_then(|entries| {
                use wasm_bindgen::JsCast;
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
        let storage = window.local_storage().ok().flatten();
        let http_version = match http_version.filter(|_| !controlled) {
            Some(version) => {
                if let Some(storage) = &storage {
                    let _ = storage.set_item(HTTP_VERSION_SEEN, &version);
                }
                Some(version)
            }
            None => storage.and_then(|s| s.get_item(HTTP_VERSION_SEEN).ok().flatten()),
        };
        Capabilities {
            shared_worker: has("SharedWorker"),
            web_locks: convoy_browser::locks::lock_manager().is_some(),
            broadcast_channel: has("BroadcastChannel"),
            service_worker: in_navigator("serviceWorker"),
            http_version,
        }
    }

    /// Whether the page came over HTTP/2 or HTTP/3, where per-tab streams multiplex.
    pub fn multiplexed(&self) -> bool {
        matches!(self.http_version.as_deref(), Some("h2" | "h3"))
    }
}

/// The best transport this browser has, and why.
pub fn auto_mode(caps: &Capabilities) -> (TransportMode, String) {
    if caps.multiplexed() {
        let version = caps.http_version.as_deref().unwrap_or_default();
        return (
            TransportMode::Direct,
            format!("auto: the page came over {version}, where per-tab streams multiplex"),
        );
    }
    if caps.shared_worker {
        return (
            TransportMode::SharedWorker,
            "auto: this browser has SharedWorker".into(),
        );
    }
    if caps.broadcast_channel && caps.web_locks {
        return (
            TransportMode::Leader,
            "auto: no SharedWorker; leader election with Web Locks".into(),
        );
    }
    if caps.broadcast_channel {
        return (
            TransportMode::Leader,
            "auto: no SharedWorker or Web Locks; leader election by heartbeat lease".into(),
        );
    }
    (
        TransportMode::Direct,
        "auto: no SharedWorker or BroadcastChannel; a stream per tab".into(),
    )
}

impl fmt::Display for TransportMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// The mode to run, and why.
pub fn chosen_mode() -> (TransportMode, String) {
    let query = web_sys::window()
        .and_then(|w| w.location().search().ok())
        .and_then(|search| web_sys::UrlSearchParams::new_with_str(&search).ok())
        .and_then(|params| params.get("transport"));
    if let Some(value) = query {
        return match TransportMode::parse(&value) {
            Some(mode) => (mode, "chosen by ?transport=".into()),
            None if value == AUTO => auto_mode(&Capabilities::detect()),
            None => {
                let (mode, reason) = auto_mode(&Capabilities::detect());
                (mode, format!("unknown ?transport={value}; {reason}"))
            }
        };
    }
    match stored_setting().as_deref().and_then(TransportMode::parse) {
        Some(mode) => (mode, "chosen in settings".into()),
        None => auto_mode(&Capabilities::detect()),
    }
}

/// The transport kept in localStorage (`auto` or a mode name), if any.
pub fn stored_setting() -> Option<String> {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(TRANSPORT_SETTING).ok().flatten())
}

/// Keeps the transport for the next page load (`auto` or a mode name).
pub fn store_setting(value: &str) {
    if let Some(storage) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = storage.set_item(TRANSPORT_SETTING, value);
    }
}

/// What the feed tells the app.
pub enum FeedUpdate {
    /// Replace the fleet state.
    Snapshot(Rc<FleetSnapshot>),
    /// Apply these events, in order (at most one batch per animation frame).
    Events(Rc<Vec<Envelope>>),
    /// The connection or this tab's role changed.
    Status(Rc<FeedStatus>),
}

/// The state of the upstream stream as the user sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Connection {
    Connecting,
    Live,
    /// Reconnecting at this Unix ms.
    Reconnecting {
        at_ms: u64,
    },
    Error(String),
}

/// The feed's state for the status chip and /diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct FeedStatus {
    pub connection: Connection,
    pub mode: TransportMode,
    pub mode_reason: String,
    pub role: Role,
    pub tab_id: u64,
    pub term: u64,
    pub leader_id: Option<u64>,
    pub last_event_id: EventId,
    pub malformed: u64,
}

/// The app's handle on its feed: says which trucks the views need.
pub struct Feed {
    /// Started when the first view says what it watches, so the hub begins with the right
    /// watch instead of growing into it.
    driver: RefCell<Option<Rc<RefCell<driver::HubDriver>>>>,
    on_update: Callback<FeedUpdate>,
    watches: RefCell<Vec<(u64, Watch)>>,
    next_watch: std::cell::Cell<u64>,
}

impl Feed {
    /// Prepares the feed; updates go to `on_update` once a view watches something.
    pub fn connect(on_update: Callback<FeedUpdate>) -> Rc<Feed> {
        Rc::new(Feed {
            driver: RefCell::default(),
            on_update,
            watches: RefCell::default(),
            next_watch: std::cell::Cell::new(1),
        })
    }

    /// Adds a view's trucks to what this tab watches, until the guard drops.
    pub fn watch(self: &Rc<Self>, watch: Watch) -> WatchGuard {
        let key = self.next_watch.get();
        self.next_watch.set(key + 1);
        self.watches.borrow_mut().push((key, watch));
        self.publish_watch();
        WatchGuard {
            feed: Rc::downgrade(self),
            key,
        }
    }

    fn publish_watch(&self) {
        let union = self
            .watches
            .borrow()
            .iter()
            .fold(Watch::Trucks(Default::default()), |acc, (_, w)| {
                acc.union(w)
            });
        let running = self.driver.borrow().clone();
        match running {
            Some(driver) => driver::HubDriver::set_watch(&driver, union),
            None => {
                let (mode, reason) = chosen_mode();
                let started = driver::HubDriver::start(mode, reason, union, self.on_update.clone());
                *self.driver.borrow_mut() = Some(started);
            }
        }
    }

    /// This tab's delivery and role (None until a view watches something).
    pub fn report(&self) -> Option<crate::web::diagnostics::DiagnosticsReport> {
        let driver = self.driver.borrow().clone()?;
        let report = driver.try_borrow().ok()?.report();
        Some(report)
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(driver) = self.driver.borrow_mut().take() {
            driver::HubDriver::stop(&driver);
        }
    }
}

/// Keeps a view's trucks in the watch; dropping it removes them.
pub struct WatchGuard {
    feed: std::rc::Weak<Feed>,
    key: u64,
}

impl Drop for WatchGuard {
    fn drop(&mut self) {
        if let Some(feed) = self.feed.upgrade() {
            feed.watches.borrow_mut().retain(|(k, _)| *k != self.key);
            feed.publish_watch();
        }
    }
}
