//! A page's feed: the union of what its views watch, and the [`TabFeed`] that runs it, started
//! when the first view says what it watches (so the hub begins with the right watch instead of
//! growing into it). When `auto`'s transport fails in this tab, the feed notes the failure for
//! the browser (new tabs skip it at once) and moves down the ladder, keeping what reached the
//! app; an explicitly chosen transport that fails stays, and the chip says why.

use crate::capabilities::{
    detect, full_diagnostics_requested, query_param, remember_failure, remembered_failures,
    stored_setting,
};
use crate::clock::now_ms;
use crate::diagnostics::DiagnosticsReport;
use crate::tab_feed::{FeedSetup, FeedUpdate, HubNames, TabFeed};
use convoy_core::delivery::{DeliveryLog, FULL_CAPACITY};
use convoy_core::transport::{choose, Choice, Failure};
use convoy_core::wire::{EventId, Watch};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

/// The page's handle on its feed: says which trucks the views need.
pub struct Feed {
    running: RefCell<Option<(Choice, TabFeed)>>,
    on_update: Rc<dyn Fn(FeedUpdate)>,
    watches: RefCell<Vec<(u64, Watch)>>,
    next_watch: Cell<u64>,
    names: HubNames,
    /// Failures seen in this page, even where localStorage cannot keep them.
    failures: RefCell<Vec<Failure>>,
    stopped: Cell<bool>,
}

impl Feed {
    /// Prepares the feed; updates go to `on_update` once a view watches something.
    pub fn connect(on_update: impl Fn(FeedUpdate) + 'static) -> Rc<Feed> {
        Self::connect_with(on_update, HubNames::default())
    }

    /// Like `connect`, on a channel and lock of the caller's choosing.
    pub fn connect_with(on_update: impl Fn(FeedUpdate) + 'static, names: HubNames) -> Rc<Feed> {
        Rc::new(Feed {
            running: RefCell::default(),
            on_update: Rc::new(on_update),
            watches: RefCell::default(),
            next_watch: Cell::new(1),
            names,
            failures: RefCell::default(),
            stopped: Cell::new(false),
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

    /// This tab's delivery and role (None until a view watches something).
    pub fn report(&self) -> Option<DiagnosticsReport> {
        self.running.borrow().as_ref()?.1.report()
    }

    /// A clean close: the hub says goodbye, so the next leader starts at once.
    pub fn stop(&self) {
        self.stopped.set(true);
        if let Some((_, feed)) = self.running.borrow_mut().take() {
            feed.stop();
        }
    }

    fn union(&self) -> Watch {
        self.watches
            .borrow()
            .iter()
            .fold(Watch::Trucks(Default::default()), |acc, (_, w)| {
                acc.union(w)
            })
    }

    fn publish_watch(self: &Rc<Self>) {
        if self.stopped.get() {
            return;
        }
        let union = self.union();
        if let Some((_, feed)) = &*self.running.borrow() {
            feed.set_watch(union);
            return;
        }
        let log = if full_diagnostics_requested() {
            DeliveryLog::with_capacity(FULL_CAPACITY)
        } else {
            DeliveryLog::new()
        };
        self.start(self.choice(), log, None);
    }

    /// What `auto` (or the user) picks now, given every failure known.
    fn choice(&self) -> Choice {
        let mut failures = remembered_failures(now_ms());
        for failure in self.failures.borrow().iter() {
            if !failures.iter().any(|f| f.feature == failure.feature) {
                failures.push(failure.clone());
            }
        }
        choose(
            query_param("transport").as_deref(),
            stored_setting(),
            &detect(),
            &failures,
        )
    }

    fn start(self: &Rc<Self>, choice: Choice, log: DeliveryLog, cursor: Option<EventId>) {
        let setup = FeedSetup {
            mode: choice.mode,
            locks: choice.locks,
            mode_reason: choice.reason.clone(),
            explicit: choice.explicit,
            skipped: choice.skipped.clone(),
            watch: self.union(),
            names: self.names.clone(),
            log,
            cursor,
        };
        let on_update = self.on_update.clone();
        let feed = Rc::downgrade(self);
        let started = TabFeed::start(
            setup,
            move |update| on_update(update),
            move |failure| {
                if let Some(feed) = feed.upgrade() {
                    feed.fall_back(failure);
                }
            },
        );
        *self.running.borrow_mut() = Some((choice, started));
    }

    /// The running transport failed: remember it, and unless the user chose it, move to the
    /// next rung with what reached the app so far.
    fn fall_back(self: &Rc<Self>, failure: Failure) {
        remember_failure(&failure, now_ms());
        self.failures.borrow_mut().push(failure);
        if self.stopped.get() {
            return;
        }
        let next = self.choice();
        let same = {
            let running = self.running.borrow();
            let Some((current, _)) = &*running else {
                return;
            };
            current.explicit || (current.mode == next.mode && current.locks == next.locks)
        };
        if same {
            // Chosen by the user, or nothing left to try: the chip shows the failure.
            return;
        }
        let Some((_, failed)) = self.running.borrow_mut().take() else {
            return;
        };
        let (log, cursor) = failed.retire();
        self.start(next, log, cursor);
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop();
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
