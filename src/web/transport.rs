//! The app's feed: the union of what its views watch, and this tab's hub, started when the first
//! view says what it watches (so the hub begins with the right watch instead of growing into
//! it). Which transport runs and how is `convoy_core::transport`'s and `convoy_browser`'s.

use convoy_browser::capabilities::{chosen_mode, full_diagnostics_requested};
use convoy_browser::diagnostics::DiagnosticsReport;
use convoy_browser::tab_feed::{FeedSetup, HubNames, TabFeed};
use convoy_core::wire::Watch;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use yew::Callback;

pub use convoy_browser::tab_feed::{FeedStatus, FeedUpdate};
pub use convoy_core::relay::Connection;

/// The app's handle on its feed: says which trucks the views need.
pub struct Feed {
    running: RefCell<Option<TabFeed>>,
    on_update: Callback<FeedUpdate>,
    watches: RefCell<Vec<(u64, Watch)>>,
    next_watch: Cell<u64>,
}

impl Feed {
    /// Prepares the feed; updates go to `on_update` once a view watches something.
    pub fn connect(on_update: Callback<FeedUpdate>) -> Rc<Feed> {
        Rc::new(Feed {
            running: RefCell::default(),
            on_update,
            watches: RefCell::default(),
            next_watch: Cell::new(1),
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
        if let Some(feed) = &*self.running.borrow() {
            feed.set_watch(union);
            return;
        }
        let (mode, mode_reason) = chosen_mode();
        let on_update = self.on_update.clone();
        let setup = FeedSetup {
            mode,
            mode_reason,
            watch: union,
            names: HubNames::default(),
            full_log: full_diagnostics_requested(),
        };
        let started = TabFeed::start(setup, move |update| on_update.emit(update));
        *self.running.borrow_mut() = Some(started);
    }

    /// This tab's delivery and role (None until a view watches something).
    pub fn report(&self) -> Option<DiagnosticsReport> {
        self.running.borrow().as_ref()?.report()
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        if let Some(feed) = self.running.borrow_mut().take() {
            feed.stop();
        }
    }
}

/// Keeps a view's trucks in the watch; dropping it removes them.
pub struct WatchGuard {
    feed: Weak<Feed>,
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
