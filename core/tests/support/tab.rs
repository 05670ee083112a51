//! The simulated tab: its hub, whether it runs (live, frozen, in the bfcache, gone), how its
//! timers are throttled, its upstream connection and its app; and what a test can do to it.

use convoy_core::election::Role;
use convoy_core::relay::{TabHub, TabId};
use convoy_core::wire::{EventId, Watch};

use super::app::App;
use super::fixtures::EPOCH;
use super::world::{Ev, Sim};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TabState {
    Live,
    /// Not running: inputs wait in the inbox, timers do not fire, the lock stays held.
    Frozen,
    /// In the back/forward cache (after `handle_page_hide`).
    Hidden,
    /// Crashed or closed.
    Gone,
}

pub struct Tab {
    pub id: TabId,
    pub hub: TabHub,
    pub state: TabState,
    /// Timer granularity: 0 for a visible tab, 1 000 for hidden, 60 000 after 5 min hidden.
    pub throttle: u64,
    pub inbox: Vec<Ev>,
    pub wake: Option<u64>,
    pub conn: Option<u64>,
    pub opened_at: u64,
    /// What its app got.
    pub app: App,
}

impl Sim {
    pub fn open_tab(&mut self, watch: Watch) -> usize {
        let id = loop {
            let id = 1 + self.rng.below(1 << 40);
            if self.used_ids.insert(id) {
                break id;
            }
        };
        self.open_tab_with_id(id, watch)
    }

    pub fn open_tab_with_id(&mut self, id: TabId, watch: Watch) -> usize {
        let app = App::new(self.now, watch.clone());
        self.open_tab_as(id, watch, app, None)
    }

    /// Opens a tab whose app already has the server's state as of event `at` (it moves from
    /// another transport): its hub starts with that cursor.
    pub fn open_tab_with_state(&mut self, watch: Watch, at: EventId) -> usize {
        let id = loop {
            let id = 1 + self.rng.below(1 << 40);
            if !self.used_ids.contains(&id) {
                break id;
            }
        };
        let snapshot = self.server_state_at(at).snapshot(&watch);
        let app = App::with_state(self.now, watch.clone(), snapshot);
        self.open_tab_as(id, watch, app, Some(at))
    }

    fn open_tab_as(&mut self, id: TabId, watch: Watch, app: App, cursor: Option<EventId>) -> usize {
        self.used_ids.insert(id);
        let mut config = self.cfg.hub_config(id, watch);
        config.cursor = cursor;
        let hub = TabHub::new(config, self.now);
        self.tabs.push(Tab {
            id,
            hub,
            state: TabState::Live,
            throttle: 0,
            inbox: Vec::new(),
            wake: None,
            conn: None,
            opened_at: self.now,
            app,
        });
        let i = self.tabs.len() - 1;
        self.pump(i);
        i
    }

    pub fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.tabs.len()).filter(|&i| self.tabs[i].state == TabState::Live)
    }

    pub fn close(&mut self, i: usize) {
        let now = self.now;
        self.tabs[i].hub.shutdown(now);
        self.pump(i);
        self.gone(i);
    }

    pub fn crash(&mut self, i: usize) {
        self.gone(i);
    }

    pub fn gone(&mut self, i: usize) {
        self.tabs[i].state = TabState::Gone;
        self.tabs[i].inbox.clear();
        self.close_conn(i);
        self.release_lock(i);
    }

    pub fn freeze(&mut self, i: usize) {
        self.tabs[i].state = TabState::Frozen;
    }

    pub fn resume(&mut self, i: usize) {
        self.tabs[i].state = TabState::Live;
        let inbox = std::mem::take(&mut self.tabs[i].inbox);
        for ev in inbox {
            self.deliver(ev);
        }
        self.pump(i);
    }

    pub fn hide(&mut self, i: usize) {
        let now = self.now;
        self.tabs[i].hub.handle_page_hide(now);
        self.pump(i);
        self.tabs[i].state = TabState::Hidden;
    }

    pub fn show(&mut self, i: usize) {
        self.tabs[i].state = TabState::Live;
        let now = self.now;
        self.tabs[i].hub.handle_page_show(now);
        self.pump(i);
    }

    pub fn set_watch(&mut self, i: usize, watch: Watch) {
        let now = self.now;
        self.tabs[i].app.set_watch(now, watch.clone());
        self.tabs[i].hub.set_watch(now, watch);
        self.pump(i);
    }

    pub fn inject(&mut self, i: usize, raw: &str) {
        let now = self.now;
        self.tabs[i].hub.handle_channel_message(now, raw);
        self.pump(i);
    }

    pub fn role(&self, i: usize) -> Role {
        self.tabs[i].hub.diagnostics().role
    }

    pub fn leaders(&self) -> Vec<usize> {
        self.live()
            .filter(|&i| self.role(i) == Role::Leader)
            .collect()
    }

    pub fn leader(&self) -> usize {
        let leaders = self.leaders();
        assert_eq!(
            leaders.len(),
            1,
            "expected one leader at {}",
            self.now - EPOCH
        );
        leaders[0]
    }
}
