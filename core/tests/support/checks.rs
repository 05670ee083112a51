//! The invariants every scenario ends with: exactly once, in order and complete for every live
//! tab (counting snapshots), the same state as the server, one leader known to all with the only
//! stream, one relaying tab per term, and failover within its bound.

use convoy_core::relay::{Departure, UpstreamState};
use convoy_core::wire::{EventId, Watch};
use std::collections::{BTreeMap, BTreeSet};

use super::fixtures::EPOCH;
use super::world::Sim;

impl Sim {
    /// Stops the server, lets everything settle, and checks every invariant.
    pub fn settle_and_check(&mut self) {
        self.server.emitting = false;
        self.run_for(4_000);
        if std::env::var_os("SIM_TRACE").is_some() {
            for i in self.live() {
                eprintln!("tab {i}: {:?}", self.tabs[i].hub.diagnostics());
            }
        }
        self.check_delivery();
        self.check_agreement();
    }

    /// Exactly once, in order, complete (counting snapshots), and the same state as the server.
    pub fn check_delivery(&self) {
        let end = self.now;
        for i in self.live() {
            let tab = &self.tabs[i];
            assert!(
                tab.app.violations.is_empty(),
                "tab {i} ({}): {:?}",
                tab.id,
                tab.app.violations
            );
            let delivered: BTreeSet<EventId> = tab.app.delivered().into_iter().collect();
            let snapshot_max = tab
                .app
                .snapshots()
                .into_iter()
                .max()
                .unwrap_or_else(|| panic!("tab {i} never got a snapshot"));
            let mut missing = Vec::new();
            for (at, envelope) in &self.server.history {
                let truck = envelope.event.truck();
                // Watched from the event's emission to the end.
                let since = tab
                    .app
                    .watches
                    .iter()
                    .rposition(|(t, _)| *t <= *at)
                    .unwrap_or(0);
                let watched = tab.app.watches[since..]
                    .iter()
                    .all(|(_, w)| w.includes(truck));
                if watched && envelope.id > snapshot_max && !delivered.contains(&envelope.id) {
                    missing.push(envelope.id);
                }
            }
            assert!(
                missing.is_empty(),
                "tab {i} ({}) opened at {} missed {} events, first {:?}; items tail {:?}; {:?}",
                tab.id,
                tab.opened_at - EPOCH,
                missing.len(),
                &missing[..missing.len().min(5)],
                &tab.app.items[tab.app.items.len().saturating_sub(5)..],
                tab.hub.diagnostics()
            );
            let watch = tab.app.watch();
            let app = tab.app.state.as_ref().expect("app state");
            assert_eq!(
                app.snapshot(watch).trucks,
                self.server.fleet.snapshot(watch).trucks,
                "tab {i}: state differs from the server's at {}",
                end - EPOCH
            );
        }
    }

    /// One leader, known to every live tab; its stream is the only one.
    pub fn check_agreement(&self) {
        let leader = self.leader();
        let diag = self.tabs[leader].hub.diagnostics();
        for i in self.live() {
            let d = self.tabs[i].hub.diagnostics();
            assert_eq!(
                (d.leader_id, d.term),
                (Some(self.tabs[leader].id), diag.term),
                "tab {i} disagrees about the leader"
            );
            assert_eq!(d.cursor, diag.cursor, "tab {i} is behind the leader");
        }
        let streams: Vec<usize> = self.server.conns.values().map(|c| c.tab).collect();
        if diag
            .subscribed
            .as_ref()
            .is_some_and(|w| *w != Watch::Trucks(BTreeSet::new()))
        {
            assert_eq!(streams, vec![leader], "one stream, the leader's");
            assert_eq!(diag.upstream, UpstreamState::Open);
        }
    }

    /// At most one tab relays per term (lossless runs).
    pub fn check_one_relay_per_term(&self) {
        let mut by_term: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
        for (_, term, tab) in &self.log.relays {
            by_term.entry(*term).or_default().insert(*tab);
        }
        for (term, tabs) in by_term {
            assert!(tabs.len() <= 1, "term {term} relayed by tabs {tabs:?}");
        }
    }

    /// With drops, two tabs may briefly lead in one term; they must converge quickly.
    pub fn max_same_term_overlap(&self) -> u64 {
        let mut spans: BTreeMap<(u64, usize), (u64, u64)> = BTreeMap::new();
        for (at, term, tab) in &self.log.relays {
            let span = spans.entry((*term, *tab)).or_insert((*at, *at));
            span.1 = *at;
        }
        let mut worst = 0;
        for (&(term, a), &(a0, a1)) in &spans {
            for (&(term_b, b), &(b0, b1)) in &spans {
                if term == term_b && a < b {
                    let overlap = a1.min(b1).saturating_sub(a0.max(b0));
                    if a1 >= b0 && b1 >= a0 {
                        worst = worst.max(overlap);
                    }
                }
            }
        }
        worst
    }

    /// Runs until a tab other than `old` leads with its upstream (re)opening and every live tab
    /// follows it; returns how long that took from `since`, or `None` within `max_ms`.
    pub fn failover(&mut self, since: u64, old: usize, max_ms: u64) -> Option<u64> {
        loop {
            let leaders = self.leaders();
            if let [leader] = leaders[..] {
                let d = self.tabs[leader].hub.diagnostics();
                let streaming = d.upstream != UpstreamState::Closed || d.cursor == 0;
                let id = self.tabs[leader].id;
                if leader != old
                    && streaming
                    && self
                        .live()
                        .all(|i| self.tabs[i].hub.diagnostics().leader_id == Some(id))
                {
                    if std::env::var_os("SIM_TRACE").is_some() {
                        eprintln!("failover {:?} in {} ms", self.cfg.mode, self.now - since);
                    }
                    return Some(self.now - since);
                }
            }
            if self.now >= since + max_ms {
                return None;
            }
            self.run_for(5);
        }
    }

    pub fn bound(&self, departure: Departure) -> u64 {
        self.cfg
            .hub_config(0, Watch::All)
            .failover_bound_ms(departure)
    }

    /// The bound when the successor takes over on the server's clock, its timers up to
    /// `timer_slack_ms` late (`HubConfig::takeover_bound_ms`).
    pub fn takeover_bound(&self, timer_slack_ms: u64) -> u64 {
        self.cfg
            .hub_config(0, Watch::All)
            .takeover_bound_ms(timer_slack_ms)
    }
}
