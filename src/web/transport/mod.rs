//! How fleet events reach the app. Every mode hands the app the same `FeedUpdate`s; which one
//! runs comes from `?transport=`, then the setting kept in localStorage, then the default.

pub mod channel;
pub mod driver;
pub mod locks;
pub mod upstream;

use crate::core::election::Role;
use crate::core::wire::{Envelope, EventId, FleetSnapshot, Watch};
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
}

impl TransportMode {
    /// Every mode, for the settings page.
    pub const ALL: [TransportMode; 2] = [TransportMode::Leader, TransportMode::Direct];

    /// The name used in `?transport=` and localStorage.
    pub fn key(self) -> &'static str {
        match self {
            TransportMode::Direct => "direct",
            TransportMode::Leader => "leader",
        }
    }

    /// Reads a mode name.
    pub fn parse(value: &str) -> Option<TransportMode> {
        TransportMode::ALL.into_iter().find(|m| m.key() == value)
    }
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
            None => (
                TransportMode::Leader,
                format!("unknown ?transport={value}; using leader"),
            ),
        };
    }
    let stored = web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(TRANSPORT_SETTING).ok().flatten());
    match stored.as_deref().and_then(TransportMode::parse) {
        Some(mode) => (mode, "chosen in settings".into()),
        None => (TransportMode::Leader, "default".into()),
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
    pub fn report(&self) -> Option<driver::DiagnosticsReport> {
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
