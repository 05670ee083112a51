//! What only a tab that does not lead keeps and does with what its leader relays: links that
//! arrive out of order, gap repair by resend, the leader's reported cursor and status, the
//! server's clock as the leader relays it (for the takeover), and the repair of a cursor a live
//! leader stays behind. A [`Follow`] sits beside the [`Tab`] as the `Lead` does, and its methods
//! take the rest of the tab beside it; taking links in order (`Tab::accept`) and installing
//! snapshots are every tab's (`intake.rs`), since the leader takes its own stream's links too.

use crate::election::{ElectionMode, Role, TabId};
use crate::wire::{EventId, FleetSnapshot, Watch};
use std::collections::BTreeMap;

use super::protocol::chained;
use super::timers::{due, Timer};
use super::{Connection, Link, Phase, Tab, TabMsg, MAX_LINK_SPAN};

/// The follower's state. While the tab leads it stays cleared (see [`Follow::before_leading`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Follow {
    /// Links that arrived before the one they follow, by id.
    buffer: BTreeMap<EventId, Link>,
    gap_since_ms: Option<u64>,
    last_resend_ms: Option<u64>,
    /// The cursor the current leader announced last.
    leader_cursor: Option<EventId>,
    /// The leader that last relayed a server heartbeat, and when.
    leader_clock: Option<(TabId, u64)>,
    /// Since when the leader, live and streaming, has reported a cursor below ours (nothing
    /// it relays is new to us): after `liveness_ms` we take its snapshot instead.
    behind_since_ms: Option<u64>,
    /// We asked for the leader's snapshot because it stayed behind us: take it even though it
    /// moves the cursor back.
    rebase: bool,
    /// The status the current leader reported last (`None` before its first frame).
    leader_connection: Option<Connection>,
    /// The tabs the current leader said its stream serves (`None` before it said).
    leader_sharing: Option<usize>,
}

impl Follow {
    /// Links waiting for a missing one.
    pub(super) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// What the leader reported of its upstream (`Connecting` until it has).
    pub(super) fn leader_connection(&self) -> Connection {
        self.leader_connection
            .clone()
            .unwrap_or(Connection::Connecting)
    }

    /// The tabs the leader said its stream serves (`None` before it said).
    pub(super) fn leader_sharing(&self) -> Option<usize> {
        self.leader_sharing
    }

    /// The tab (re)joins: nothing held, no gap, no leader position known.
    pub(super) fn rejoin(&mut self) {
        self.buffer.clear();
        self.gap_since_ms = None;
        self.last_resend_ms = None;
        self.leader_cursor = None;
        self.behind_since_ms = None;
    }

    /// The tab stops taking part: what it held is dropped.
    pub(super) fn pause(&mut self) {
        self.buffer.clear();
        self.gap_since_ms = None;
    }

    /// The tab is about to lead: it relays from its own stream, so nothing held, no gap, and
    /// no leader to repair against.
    pub(super) fn before_leading(&mut self) {
        self.buffer.clear();
        self.gap_since_ms = None;
        self.leader_cursor = None;
        self.behind_since_ms = None;
        self.rebase = false;
    }

    /// `Some(takeover_ms)` while this tab follows a leader whose upstream is live and that
    /// relayed a server heartbeat within `liveness_ms`, and no other live tab (heard within two
    /// watch refreshes) has a lower id: the successor on the server's clock (see
    /// `core::election`).
    pub(super) fn takeover_ms(&self, tab: &Tab, now_ms: u64) -> Option<u64> {
        if tab.phase != Phase::Active || tab.election.role() != Role::Follower {
            return None;
        }
        let leader = tab.election.leader()?;
        let (clocked, at) = self.leader_clock?;
        // A leader in backoff speaks on its own (throttled) timer only: the claim rounds decide.
        if clocked != leader
            || now_ms >= at.saturating_add(tab.config.liveness_ms)
            || self.leader_connection != Some(Connection::Live)
        {
            return None;
        }
        let since = now_ms.saturating_sub(2 * tab.config.watch_refresh_ms);
        if tab.peers.any_lower_since(tab.config.tab_id, leader, since) {
            return None;
        }
        Some(match tab.config.election {
            ElectionMode::Client => tab.config.worker_ping_ms,
            _ => tab.config.takeover_ms,
        })
    }

    /// When `timer` is due, if it is one of a tab that does not lead (none in Solo mode): the
    /// snapshot request's retry, the repair of a leader that stays behind, and the resend of a
    /// gap.
    pub(super) fn deadline(&self, timer: Timer, tab: &Tab) -> Option<u64> {
        if tab.config.election == ElectionMode::Solo {
            return None;
        }
        let config = &tab.config;
        match timer {
            Timer::SnapshotRequest => tab.need_snapshot.then(|| {
                tab.last_snapshot_request_ms
                    .map_or(0, |t| t + config.snapshot_retry_ms)
            }),
            Timer::Behind => match (self.behind_since_ms, self.rebase) {
                (Some(since), false) => Some(since + config.liveness_ms),
                _ => None,
            },
            Timer::Resend => match (self.gap_since_ms, tab.election.role()) {
                (Some(since), Role::Follower) => {
                    let retry = self
                        .last_resend_ms
                        .map_or(0, |t| t + config.resend_retry_ms);
                    Some((since + config.gap_grace_ms).max(retry))
                }
                _ => None,
            },
            _ => None,
        }
    }

    /// Runs those deadlines.
    pub(super) fn due(&mut self, tab: &mut Tab, now_ms: u64) {
        if due(self.deadline(Timer::SnapshotRequest, tab), now_ms) {
            tab.request_snapshot(now_ms);
        }
        self.check_behind(tab, now_ms);
        self.check_gap(tab, now_ms);
    }

    /// A new leader is followed: its position and status are not known yet.
    pub(super) fn on_new_leader(&mut self, tab: &mut Tab, now_ms: u64) {
        self.leader_cursor = None;
        self.behind_since_ms = None;
        self.leader_connection = None;
        self.leader_sharing = None;
        self.last_resend_ms = None;
        tab.announce_watch(now_ms);
        // A request sent just before was heard by the new leader (answered, or inherited).
        if tab.need_snapshot
            && tab
                .last_snapshot_request_ms
                .is_none_or(|t| now_ms >= t + tab.config.claim_window_ms)
        {
            tab.request_snapshot(now_ms);
        }
    }

    /// The leader followed is gone: nothing it reported holds.
    pub(super) fn on_leader_gone(&mut self) {
        self.leader_cursor = None;
        self.behind_since_ms = None;
        self.leader_connection = None;
        self.leader_sharing = None;
    }

    /// A frame, while this tab does not lead: requests for a snapshot are remembered (this tab
    /// may lead next), leader frames are taken from the leader it follows.
    pub(super) fn on_frame(
        &mut self,
        tab: &mut Tab,
        now_ms: u64,
        from: TabId,
        from_my_leader: bool,
        msg: TabMsg,
    ) {
        if from_my_leader && matches!(msg, TabMsg::Heartbeat { server: true, .. }) {
            // The leader's frames run on the server's clock (see `core::election`).
            self.leader_clock = Some((from, now_ms));
        }
        match msg {
            // A tab with no cursor has no state: its hello may have been lost (a service worker
            // still starting), so its next announcement gets the snapshot instead.
            TabMsg::Hello {
                watch,
                cursor: None,
            }
            | TabMsg::Watch {
                watch,
                cursor: None,
            }
            | TabMsg::SnapshotRequest { watch } => tab.peers.overhear(from, watch, now_ms),
            TabMsg::Hello { .. }
            | TabMsg::Watch { .. }
            | TabMsg::Resend { .. }
            | TabMsg::Claim { .. }
            | TabMsg::Goodbye => {}
            leader_frame => self.on_leader_frame(tab, now_ms, from_my_leader, leader_frame),
        }
        if from_my_leader && due(tab.deadline(Timer::WatchRefresh), now_ms) {
            // Network-driven refresh: hidden tabs' timers may run once a minute.
            tab.announce_watch(now_ms);
        }
        self.check_behind(tab, now_ms);
        self.check_gap(tab, now_ms);
    }

    /// A frame only a leader sends: taken from the leader this tab follows, counted as stale
    /// from anyone else.
    fn on_leader_frame(&mut self, tab: &mut Tab, now_ms: u64, from_my_leader: bool, msg: TabMsg) {
        if !from_my_leader {
            tab.stats.stale_frames += 1;
            return;
        }
        match msg {
            TabMsg::Leading {
                union,
                cursor,
                upstream,
                sharing,
            }
            | TabMsg::Heartbeat {
                union,
                cursor,
                upstream,
                sharing,
                ..
            } => {
                let live = upstream == Connection::Live;
                self.leader_connection = Some(upstream);
                self.leader_sharing = sharing;
                self.on_leader_position(tab, now_ms, &union, cursor, live);
            }
            TabMsg::Event(link) => self.on_link(tab, now_ms, link),
            TabMsg::Events {
                prev,
                union,
                events,
            } => {
                for link in chained(prev, union, events) {
                    self.on_link(tab, now_ms, link);
                }
            }
            TabMsg::Replay { to, links } => {
                if to == tab.config.tab_id {
                    for link in links {
                        self.on_link(tab, now_ms, link);
                    }
                }
            }
            TabMsg::Snapshot {
                to,
                watch,
                reset,
                snapshot,
            } => match to {
                Some(to) if to != tab.config.tab_id => tab.peers.answered(to),
                _ => self.on_snapshot_frame(tab, now_ms, &watch, reset, snapshot),
            },
            TabMsg::Hello { .. }
            | TabMsg::Watch { .. }
            | TabMsg::SnapshotRequest { .. }
            | TabMsg::Resend { .. }
            | TabMsg::Claim { .. }
            | TabMsg::Goodbye => {}
        }
    }

    /// The leader reported its `cursor` (and whether its stream is `live`).
    fn on_leader_position(
        &mut self,
        tab: &mut Tab,
        now_ms: u64,
        union: &Watch,
        cursor: Option<EventId>,
        live: bool,
    ) {
        if let (Some(c), Some(mine)) = (cursor, tab.cursor) {
            // The latest report counts, so a forged one lasts until the leader's next; one no
            // stream could reach from here would only keep a gap open, and is ignored.
            if c <= mine.saturating_add(MAX_LINK_SPAN) {
                self.leader_cursor = Some(c);
            }
            if c < mine && live {
                self.behind_since_ms.get_or_insert(now_ms);
            } else {
                self.behind_since_ms = None;
            }
        }
        if !union.covers(&tab.watch)
            && now_ms >= tab.last_announce_ms + tab.config.resubscribe_debounce_ms
        {
            // The leader's stream misses our trucks: tell it again what we watch.
            tab.announce_watch(now_ms);
        }
    }

    fn on_link(&mut self, tab: &mut Tab, now_ms: u64, link: Link) {
        if !tab.config.scope.includes(link.event.event.truck()) {
            // No tab of this session streams it: forged. Neither shown nor taken as a position.
            tab.stats.out_of_scope += 1;
            return;
        }
        let Some(cursor) = tab.cursor else {
            // No state yet: keep it for after the snapshot.
            if self.buffer.len() < tab.config.ring_capacity {
                self.buffer.insert(link.event.id, link);
            }
            return;
        };
        if link.event.id <= cursor {
            tab.stats.duplicates += 1;
            return;
        }
        if link.prev <= cursor {
            // The leader relays what we lack: it is not behind us.
            self.behind_since_ms = None;
            tab.accept(now_ms, link);
            self.drain_buffer(tab, now_ms);
        } else if self.buffer.insert(link.event.id, link).is_some() {
            tab.stats.duplicates += 1;
        } else if self.buffer.len() > tab.config.ring_capacity {
            // Too far behind to hold everything: the resend brings it back (or a snapshot).
            self.buffer.clear();
        }
    }

    fn drain_buffer(&mut self, tab: &mut Tab, now_ms: u64) {
        while let Some(cursor) = tab.cursor {
            let Some(entry) = self.buffer.first_entry() else {
                break;
            };
            if *entry.key() <= cursor {
                entry.remove();
                tab.stats.duplicates += 1;
            } else if entry.get().prev <= cursor {
                let link = entry.remove();
                tab.accept(now_ms, link);
            } else {
                break;
            }
        }
    }

    /// A live leader that stays behind us for `liveness_ms` will never relay anything we take
    /// (our cursor is past every event it has: one no live leader gave us, or one from a
    /// state it cannot reach): ask for its snapshot and take it even though it moves the
    /// cursor back, instead of dropping every event it relays as a repeat.
    fn check_behind(&mut self, tab: &mut Tab, now_ms: u64) {
        if !due(self.deadline(Timer::Behind, tab), now_ms) || tab.election.role() != Role::Follower
        {
            return;
        }
        self.rebase = true;
        tab.need_snapshot = true;
        tab.request_snapshot(now_ms);
    }

    /// Notices a gap (buffered links, or a leader ahead of us) and, after `gap_grace_ms`, asks
    /// for a resend (again every `resend_retry_ms`).
    fn check_gap(&mut self, tab: &mut Tab, now_ms: u64) {
        let Some(cursor) = tab.cursor else {
            self.gap_since_ms = None;
            return;
        };
        let open = !self.buffer.is_empty() || self.leader_cursor.is_some_and(|l| l > cursor);
        if !open {
            self.gap_since_ms = None;
            self.last_resend_ms = None;
            return;
        }
        if self.gap_since_ms.is_none() {
            tab.stats.gaps += 1;
            self.gap_since_ms = Some(now_ms);
        }
        if due(self.deadline(Timer::Resend, tab), now_ms) {
            self.last_resend_ms = Some(now_ms);
            tab.stats.resend_requests += 1;
            tab.broadcast(TabMsg::Resend {
                after: cursor,
                watch: tab.watch.clone(),
            });
        }
    }

    fn on_snapshot_frame(
        &mut self,
        tab: &mut Tab,
        now_ms: u64,
        watch: &Watch,
        reset: bool,
        snapshot: FleetSnapshot,
    ) {
        if snapshot
            .trucks
            .iter()
            .any(|truck| !tab.config.scope.includes(&truck.id))
        {
            // Every tab of this session gets its snapshots from the server's scoped fleet.
            tab.stats.out_of_scope += 1;
            return;
        }
        let id = snapshot.last_event_id;
        if reset {
            // A new server history starts above every id of the old one.
            if tab.cursor.is_some_and(|cursor| id < cursor) {
                return;
            }
        } else {
            if !watch.covers(&tab.watch) {
                return; // for an older watch of ours: the retry asks again
            }
            if !tab.need_snapshot && self.gap_since_ms.is_none() {
                return; // we asked for nothing: a stray answer, or a forged one
            }
            if let Some(cursor) = tab.cursor {
                if !self.rebase && (id < cursor || (id == cursor && !tab.need_snapshot)) {
                    return; // behind us, or nothing new
                }
            }
        }
        self.rebase = false;
        self.behind_since_ms = None;
        let complete = watch.covers(&tab.watch);
        tab.install_snapshot(&snapshot, complete);
        self.drain_buffer(tab, now_ms);
    }
}
