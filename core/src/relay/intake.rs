//! The follower side, which every tab runs on what its leader relays (a leader runs the
//! accepting half on its own stream): the cursor, links that arrive out of order, the ring of
//! recent links that answers resends, gap repair, and installing snapshots. Kept apart from
//! leadership because it must work the same whoever leads, and a new leader repairs from the ring
//! it kept here.

use crate::election::{Role, TabId};
use crate::wire::{EventId, FleetSnapshot, Watch};
use std::collections::VecDeque;

use super::protocol::chained;
use super::{Connection, HubOutput, Link, Tab, TabMsg, MAX_LINK_SPAN};

/// The last accepted links; together they cover `(floor, last id]` without holes.
#[derive(Debug, Clone)]
pub(super) struct Ring {
    links: VecDeque<Link>,
    floor: EventId,
    capacity: usize,
}

impl Ring {
    pub(super) fn new(capacity: usize) -> Self {
        Ring {
            links: VecDeque::new(),
            floor: 0,
            capacity: capacity.max(1),
        }
    }

    /// Empties the ring at `cursor`.
    pub(super) fn reset(&mut self, cursor: EventId) {
        self.links.clear();
        self.floor = cursor;
    }

    /// Adds a link whose `prev` is the cursor it was accepted at.
    fn push(&mut self, link: Link) {
        self.links.push_back(link);
        while self.links.len() > self.capacity {
            if let Some(old) = self.links.pop_front() {
                self.floor = old.event.id;
            }
        }
    }

    /// The links after `after`, or `None` when the ring no longer reaches back that far.
    pub(super) fn after(&self, after: EventId) -> Option<impl Iterator<Item = &Link>> {
        (after >= self.floor).then(|| self.links.iter().filter(move |l| l.event.id > after))
    }
}

/// `snapshot` without the trucks outside `watch`.
fn filtered(snapshot: &FleetSnapshot, watch: &Watch) -> FleetSnapshot {
    FleetSnapshot {
        last_event_id: snapshot.last_event_id,
        trucks: snapshot
            .trucks
            .iter()
            .filter(|t| watch.includes(&t.id))
            .cloned()
            .collect(),
    }
}

impl Tab {
    /// The deadlines of a tab that does not lead: the snapshot request's retry and the resend
    /// of a gap.
    pub(super) fn intake_deadlines(&self, at: &mut impl FnMut(u64)) {
        if self.need_snapshot {
            at(self
                .last_snapshot_request_ms
                .map_or(0, |t| t + self.config.snapshot_retry_ms));
        }
        if let (Some(since), false) = (self.behind_since_ms, self.rebase) {
            at(since + self.config.liveness_ms);
        }
        if let (Some(since), Role::Follower) = (self.gap_since_ms, self.election.role()) {
            let retry = self
                .last_resend_ms
                .map_or(0, |t| t + self.config.resend_retry_ms);
            at((since + self.config.gap_grace_ms).max(retry));
        }
    }

    /// Runs those deadlines.
    pub(super) fn intake_due(&mut self, now_ms: u64) {
        if self.need_snapshot
            && self
                .last_snapshot_request_ms
                .is_none_or(|t| now_ms >= t + self.config.snapshot_retry_ms)
        {
            self.request_snapshot(now_ms);
        }
        self.check_behind(now_ms);
        self.check_gap(now_ms);
    }

    pub(super) fn request_snapshot(&mut self, now_ms: u64) {
        self.last_snapshot_request_ms = Some(now_ms);
        self.stats.snapshot_requests += 1;
        self.broadcast(TabMsg::SnapshotRequest {
            watch: self.watch.clone(),
        });
    }

    pub(super) fn on_new_leader(&mut self, now_ms: u64) {
        self.leader_cursor = None;
        self.behind_since_ms = None;
        self.leader_connection = None;
        self.leader_sharing = None;
        self.last_resend_ms = None;
        self.announce_watch(now_ms);
        // A request sent just before was heard by the new leader (answered, or inherited).
        if self.need_snapshot
            && self
                .last_snapshot_request_ms
                .is_none_or(|t| now_ms >= t + self.config.claim_window_ms)
        {
            self.request_snapshot(now_ms);
        }
    }

    pub(super) fn on_leader_gone(&mut self) {
        self.leader_cursor = None;
        self.behind_since_ms = None;
        self.leader_connection = None;
        self.leader_sharing = None;
    }

    /// A frame, while this tab does not lead: requests for a snapshot are remembered (this tab
    /// may lead next), leader frames are taken from the leader it follows.
    pub(super) fn on_frame(&mut self, now_ms: u64, from: TabId, from_my_leader: bool, msg: TabMsg) {
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
            | TabMsg::SnapshotRequest { watch } => self.peers.overhear(from, watch, now_ms),
            TabMsg::Hello { .. }
            | TabMsg::Watch { .. }
            | TabMsg::Resend { .. }
            | TabMsg::Claim { .. }
            | TabMsg::Goodbye => {}
            leader_frame => self.on_leader_frame(now_ms, from_my_leader, leader_frame),
        }
        if from_my_leader && now_ms >= self.last_announce_ms + self.config.watch_refresh_ms {
            // Network-driven refresh: hidden tabs' timers may run once a minute.
            self.announce_watch(now_ms);
        }
        self.check_behind(now_ms);
        self.check_gap(now_ms);
    }

    /// A frame only a leader sends: taken from the leader this tab follows, counted as stale
    /// from anyone else.
    fn on_leader_frame(&mut self, now_ms: u64, from_my_leader: bool, msg: TabMsg) {
        if !from_my_leader {
            self.stats.stale_frames += 1;
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
                self.on_leader_position(now_ms, &union, cursor, live);
            }
            TabMsg::Event(link) => self.on_link(now_ms, link),
            TabMsg::Events {
                prev,
                union,
                events,
            } => {
                for link in chained(prev, union, events) {
                    self.on_link(now_ms, link);
                }
            }
            TabMsg::Replay { to, links } => {
                if to == self.config.tab_id {
                    for link in links {
                        self.on_link(now_ms, link);
                    }
                }
            }
            TabMsg::Snapshot {
                to,
                watch,
                reset,
                snapshot,
            } => match to {
                Some(to) if to != self.config.tab_id => self.peers.answered(to),
                _ => self.on_snapshot_frame(now_ms, &watch, reset, snapshot),
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
        now_ms: u64,
        union: &Watch,
        cursor: Option<EventId>,
        live: bool,
    ) {
        if let (Some(c), Some(mine)) = (cursor, self.cursor) {
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
        if !union.covers(&self.watch)
            && now_ms >= self.last_announce_ms + self.config.resubscribe_debounce_ms
        {
            // The leader's stream misses our trucks: tell it again what we watch.
            self.announce_watch(now_ms);
        }
    }

    fn on_link(&mut self, now_ms: u64, link: Link) {
        if !self.config.scope.includes(link.event.event.truck()) {
            // No tab of this session streams it: forged. Neither shown nor taken as a position.
            self.stats.out_of_scope += 1;
            return;
        }
        let Some(cursor) = self.cursor else {
            // No state yet: keep it for after the snapshot.
            if self.buffer.len() < self.config.ring_capacity {
                self.buffer.insert(link.event.id, link);
            }
            return;
        };
        if link.event.id <= cursor {
            self.stats.duplicates += 1;
            return;
        }
        if link.prev <= cursor {
            // The leader relays what we lack: it is not behind us.
            self.behind_since_ms = None;
            self.accept(now_ms, link);
            self.drain_buffer(now_ms);
        } else if self.buffer.insert(link.event.id, link).is_some() {
            self.stats.duplicates += 1;
        } else if self.buffer.len() > self.config.ring_capacity {
            // Too far behind to hold everything: the resend brings it back (or a snapshot).
            self.buffer.clear();
        }
    }

    fn drain_buffer(&mut self, now_ms: u64) {
        while let Some(cursor) = self.cursor {
            let Some(entry) = self.buffer.first_entry() else {
                break;
            };
            if *entry.key() <= cursor {
                entry.remove();
                self.stats.duplicates += 1;
            } else if entry.get().prev <= cursor {
                let link = entry.remove();
                self.accept(now_ms, link);
            } else {
                break;
            }
        }
    }

    /// Takes a link in order: `prev <= cursor < id`. The leader takes its own stream's links
    /// here too.
    pub(super) fn accept(&mut self, now_ms: u64, link: Link) {
        let Some(from) = self.cursor else {
            return;
        };
        if !link.union.covers(&self.watch) {
            // The stream skipped some of our trucks: only a snapshot can tell what we missed.
            self.mark_incomplete(now_ms);
        }
        if self.watch.includes(link.event.event.truck()) {
            self.stats.delivered += 1;
            self.outputs
                .push_back(HubOutput::Deliver(link.event.clone()));
        }
        self.cursor = Some(link.event.id);
        self.ring.push(Link { prev: from, ..link });
    }

    /// This tab's state may lack trucks of its watch: a follower asks for a snapshot (a leader
    /// answers its own need from its cache).
    fn mark_incomplete(&mut self, now_ms: u64) {
        if self.need_snapshot {
            return;
        }
        self.need_snapshot = true;
        if !self.leads()
            && self
                .last_snapshot_request_ms
                .is_none_or(|t| now_ms >= t + self.config.gap_grace_ms)
        {
            self.request_snapshot(now_ms);
        }
    }

    /// A live leader that stays behind us for `liveness_ms` will never relay anything we take
    /// (our cursor is past every event it has: one no live leader gave us, or one from a
    /// state it cannot reach): ask for its snapshot and take it even though it moves the
    /// cursor back, instead of dropping every event it relays as a repeat.
    fn check_behind(&mut self, now_ms: u64) {
        let Some(since) = self.behind_since_ms else {
            return;
        };
        if self.rebase
            || now_ms < since + self.config.liveness_ms
            || self.election.role() != Role::Follower
        {
            return;
        }
        self.rebase = true;
        self.need_snapshot = true;
        self.request_snapshot(now_ms);
    }

    /// Notices a gap (buffered links, or a leader ahead of us) and, after `gap_grace_ms`, asks
    /// for a resend (again every `resend_retry_ms`).
    fn check_gap(&mut self, now_ms: u64) {
        let Some(cursor) = self.cursor else {
            self.gap_since_ms = None;
            return;
        };
        let open = !self.buffer.is_empty() || self.leader_cursor.is_some_and(|l| l > cursor);
        if !open {
            self.gap_since_ms = None;
            self.last_resend_ms = None;
            return;
        }
        let since = *self.gap_since_ms.get_or_insert_with(|| {
            self.stats.gaps += 1;
            now_ms
        });
        let due = now_ms >= since + self.config.gap_grace_ms
            && self
                .last_resend_ms
                .is_none_or(|t| now_ms >= t + self.config.resend_retry_ms);
        if due && self.election.role() == Role::Follower {
            self.last_resend_ms = Some(now_ms);
            self.stats.resend_requests += 1;
            self.broadcast(TabMsg::Resend {
                after: cursor,
                watch: self.watch.clone(),
            });
        }
    }

    fn on_snapshot_frame(
        &mut self,
        now_ms: u64,
        watch: &Watch,
        reset: bool,
        snapshot: FleetSnapshot,
    ) {
        if snapshot
            .trucks
            .iter()
            .any(|truck| !self.config.scope.includes(&truck.id))
        {
            // Every tab of this session gets its snapshots from the server's scoped fleet.
            self.stats.out_of_scope += 1;
            return;
        }
        let id = snapshot.last_event_id;
        if reset {
            // A new server history starts above every id of the old one.
            if self.cursor.is_some_and(|cursor| id < cursor) {
                return;
            }
        } else {
            if !watch.covers(&self.watch) {
                return; // for an older watch of ours: the retry asks again
            }
            if !self.need_snapshot && self.gap_since_ms.is_none() {
                return; // we asked for nothing: a stray answer, or a forged one
            }
            if let Some(cursor) = self.cursor {
                if !self.rebase && (id < cursor || (id == cursor && !self.need_snapshot)) {
                    return; // behind us, or nothing new
                }
            }
        }
        self.rebase = false;
        self.behind_since_ms = None;
        let complete = watch.covers(&self.watch);
        self.install_snapshot(now_ms, &snapshot, complete);
    }

    /// Replaces this tab's state with `snapshot` (filtered to its watch) and moves the cursor
    /// to its id.
    pub(super) fn install_snapshot(
        &mut self,
        now_ms: u64,
        snapshot: &FleetSnapshot,
        complete: bool,
    ) {
        let id = snapshot.last_event_id;
        self.stats.snapshots_delivered += 1;
        self.outputs
            .push_back(HubOutput::DeliverSnapshot(filtered(snapshot, &self.watch)));
        if self.cursor != Some(id) {
            self.ring.reset(id);
        }
        self.cursor = Some(id);
        self.need_snapshot = !complete;
        if complete {
            self.last_snapshot_request_ms = None;
        }
        self.drain_buffer(now_ms);
    }

    /// Worker mode: takes a client's cursor as this worker's own (see `Lead::adopt_cursor`).
    pub(super) fn adopt(&mut self, reported: EventId) {
        self.adopted = Some(reported);
        self.cursor = Some(reported);
        self.ring.reset(reported);
        self.need_snapshot = false;
        self.last_snapshot_request_ms = None;
    }
}
