//! What every tab does with the links it takes, leading or not (a leader takes its own stream's,
//! a follower what its leader relays, see `follow.rs`): the cursor, the ring of recent links
//! that answers resends, asking for and installing snapshots. Kept apart from leadership because
//! it must work the same whoever leads, and a new leader repairs from the ring it kept here.

use crate::wire::{EventId, FleetSnapshot, Watch};
use std::collections::VecDeque;

use super::{HubOutput, Link, Tab, TabMsg};

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
    pub(super) fn request_snapshot(&mut self, now_ms: u64) {
        self.last_snapshot_request_ms = Some(now_ms);
        self.stats.snapshot_requests += 1;
        self.broadcast(TabMsg::SnapshotRequest {
            watch: self.watch.clone(),
        });
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

    /// Replaces this tab's state with `snapshot` (filtered to its watch) and moves the cursor
    /// to its id.
    pub(super) fn install_snapshot(&mut self, snapshot: &FleetSnapshot, complete: bool) {
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
