//! What reached this tab's app: the ids delivered in order, gaps and repeats, events per second
//! and server-to-app latency. Tests read it from outside through `window.convoyDiagnostics()`.

use crate::view::order::sort_stably;
use crate::wire::EventId;
use std::collections::VecDeque;

/// How many recent deliveries a tab keeps by default: enough for latency percentiles and a look
/// at the last ids, small enough to cost nothing in a tab left open for days.
pub const RECENT_CAPACITY: usize = 2_000;
/// How many deliveries a tab keeps when a test asks for the whole log (`?diagnostics=full`).
pub const FULL_CAPACITY: usize = 1_000_000;
const LATENCY_SAMPLES: usize = 2_000;
const RATE_WINDOW_MS: u64 = 1_000;
const GAP_PLACES_KEPT: usize = 16;

/// A log of deliveries to one tab's app state.
#[derive(Debug, Clone)]
pub struct DeliveryLog {
    received: VecDeque<Delivery>,
    capacity: usize,
    /// Every event delivered since load, including those the window no longer holds.
    delivered: u64,
    last_id: Option<EventId>,
    /// Ids are contiguous only when the tab watches the whole fleet; otherwise a jump is not a gap.
    contiguous: bool,
    /// The tab's watch grew to the whole fleet: contiguous from the snapshot that covers it.
    contiguous_from_next_snapshot: bool,
    gaps: u64,
    /// The first few gaps as (last id before, id received), to say where delivery broke.
    gap_places: Vec<(EventId, EventId)>,
    duplicates: u64,
    recent_ms: VecDeque<u64>,
    snapshots: u64,
}

/// One event delivered to the app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub id: EventId,
    /// When it was delivered, Unix ms.
    pub at_ms: u64,
    /// From the server's timestamp to delivery, ms.
    pub latency_ms: u64,
}

impl Default for DeliveryLog {
    fn default() -> Self {
        Self::new()
    }
}

impl DeliveryLog {
    /// An empty log that keeps the last [`RECENT_CAPACITY`] deliveries.
    pub fn new() -> Self {
        Self::with_capacity(RECENT_CAPACITY)
    }

    /// An empty log that keeps the last `capacity` deliveries (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        DeliveryLog {
            received: VecDeque::new(),
            capacity: capacity.max(1),
            delivered: 0,
            last_id: None,
            contiguous: false,
            contiguous_from_next_snapshot: false,
            gaps: 0,
            gap_places: Vec::new(),
            duplicates: 0,
            recent_ms: VecDeque::new(),
            snapshots: 0,
        }
    }

    /// Whether consecutive ids are expected (the tab watches every truck).
    /// Turning it on takes effect at the next snapshot, which is when the new trucks' events
    /// start to arrive; turning it off takes effect at once.
    pub fn set_contiguous(&mut self, contiguous: bool) {
        self.contiguous_from_next_snapshot = contiguous;
        if !contiguous {
            self.contiguous = false;
        }
    }

    /// A snapshot replaced the app state: the next event should follow `last_event_id`.
    pub fn record_snapshot(&mut self, last_event_id: EventId) {
        self.snapshots += 1;
        self.contiguous = self.contiguous_from_next_snapshot;
        self.last_id = Some(
            self.last_id
                .map_or(last_event_id, |id| id.max(last_event_id)),
        );
    }

    /// One event delivered at `now_ms`, produced by the server at `at_ms`.
    pub fn record_event(&mut self, now_ms: u64, id: EventId, at_ms: u64) {
        match self.last_id {
            Some(last) if id <= last => self.duplicates += 1,
            Some(last) if self.contiguous && id != last + 1 => {
                self.gaps += 1;
                if self.gap_places.len() < GAP_PLACES_KEPT {
                    self.gap_places.push((last, id));
                }
            }
            _ => {}
        }
        self.last_id = Some(self.last_id.map_or(id, |last| last.max(id)));
        self.delivered += 1;
        if self.received.len() == self.capacity {
            self.received.pop_front();
        }
        self.received.push_back(Delivery {
            id,
            at_ms: now_ms,
            latency_ms: now_ms.saturating_sub(at_ms),
        });
        self.recent_ms.push_back(now_ms);
        while self
            .recent_ms
            .front()
            .is_some_and(|t| now_ms.saturating_sub(*t) > RATE_WINDOW_MS)
        {
            self.recent_ms.pop_front();
        }
    }

    /// Events delivered since load.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }

    /// Delivered ids, oldest first (the last `capacity`).
    pub fn received(&self) -> impl Iterator<Item = EventId> + '_ {
        self.received.iter().map(|d| d.id)
    }

    /// Every delivery kept, oldest first.
    pub fn deliveries(&self) -> impl Iterator<Item = &Delivery> + '_ {
        self.received.iter()
    }

    /// The highest id delivered or covered by a snapshot.
    pub fn last_id(&self) -> Option<EventId> {
        self.last_id
    }

    /// Events that skipped ids while contiguous ids were expected.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Where the first gaps were: (last id before, id received).
    pub fn gap_places(&self) -> &[(EventId, EventId)] {
        &self.gap_places
    }

    /// Events at or below an id already delivered.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }

    /// Snapshots applied since load.
    pub fn snapshots(&self) -> u64 {
        self.snapshots
    }

    /// Events delivered in the last second before `now_ms`.
    pub fn events_per_second(&self, now_ms: u64) -> usize {
        self.recent_ms
            .iter()
            .filter(|t| now_ms.saturating_sub(**t) <= RATE_WINDOW_MS)
            .count()
    }

    /// The `p`th percentile (0..=100) of server-to-app latency over the last deliveries, in ms.
    pub fn latency_percentile(&self, p: u8) -> Option<u64> {
        if self.received.is_empty() {
            return None;
        }
        let recent = self.received.len().saturating_sub(LATENCY_SAMPLES);
        let mut sorted: Vec<u64> = self
            .received
            .range(recent..)
            .map(|d| d.latency_ms)
            .collect();
        // The views' sort: `sort_unstable` on u64 would be kilobytes of wasm of its own.
        sort_stably(&mut sorted, u64::cmp);
        let rank = (sorted.len() - 1) * usize::from(p.min(100)) / 100;
        Some(sorted[rank])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_gaps_and_repeats_when_contiguous() {
        let mut log = DeliveryLog::new();
        log.record_event(0, 3, 0);
        log.set_contiguous(true);
        log.record_event(0, 7, 0);
        assert_eq!(
            log.gaps(),
            0,
            "the whole fleet's ids count from its snapshot on"
        );
        log.record_snapshot(10);
        for id in [11, 12, 12, 14, 13, 15] {
            log.record_event(0, id, 0);
        }
        assert_eq!(log.gaps(), 1, "14 skips 13; 15 follows 14");
        assert_eq!(log.gap_places(), [(12, 14)]);
        assert_eq!(log.duplicates(), 2, "12 twice and 13 after 14");
        assert_eq!(
            log.received().collect::<Vec<_>>(),
            [3, 7, 11, 12, 12, 14, 13, 15]
        );
        log.set_contiguous(false);
        log.record_event(0, 30, 0);
        assert_eq!(log.gaps(), 1, "a filtered tab's jumps are not gaps");
    }

    #[test]
    fn a_filtered_tab_sees_jumps_but_no_gaps() {
        let mut log = DeliveryLog::new();
        log.record_event(0, 5, 0);
        log.record_event(0, 9, 0);
        assert_eq!((log.gaps(), log.duplicates()), (0, 0));
    }

    #[test]
    fn rate_and_latency() {
        let mut log = DeliveryLog::new();
        for i in 0..100u64 {
            log.record_event(1_000 + i * 20, i + 1, 1_000 + i * 20 - i);
        }
        assert_eq!(log.events_per_second(2_980), 51);
        assert_eq!(log.latency_percentile(50), Some(49));
        assert_eq!(log.latency_percentile(100), Some(99));
    }

    #[test]
    fn keeps_a_bounded_window_of_ids() {
        let mut log = DeliveryLog::new();
        for id in 1..=(RECENT_CAPACITY as u64 + 5) {
            log.record_event(0, id, 0);
        }
        assert_eq!(log.received().next(), Some(6));
        assert_eq!(log.received().count(), RECENT_CAPACITY);
        assert_eq!(log.delivered(), RECENT_CAPACITY as u64 + 5);
        let mut full = DeliveryLog::with_capacity(FULL_CAPACITY);
        for id in 1..=(RECENT_CAPACITY as u64 + 5) {
            full.record_event(0, id, 0);
        }
        assert_eq!(
            full.received().next(),
            Some(1),
            "the full log keeps every id"
        );
    }
}
