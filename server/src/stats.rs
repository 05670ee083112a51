//! Counts of open streams for `GET /api/stats`. A stream is counted while its [`StreamGuard`]
//! lives; the response body owns the guard, so closing the connection drops it. The cap on open
//! streams (`--max-streams`) is [`StreamSlots`], counted the same way, and each operator's share
//! of them (`--max-streams-per-operator`) is [`OperatorStreams`].

use convoy_core::wire::EventId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One open stream, as `/api/stats` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub id: u64,
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub http_version: String,
    /// `all` or the truck ids joined by commas.
    pub trucks: String,
    /// When it opened, Unix ms.
    pub opened_ms: u64,
}

/// The body of `GET /api/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReport {
    pub open_streams: usize,
    pub opened_total: u64,
    pub streams: Vec<StreamInfo>,
    pub latest_event_id: EventId,
}

/// The registry of open streams.
#[derive(Debug, Default)]
pub struct Stats {
    open: Mutex<BTreeMap<u64, StreamInfo>>,
    opened_total: AtomicU64,
}

impl Stats {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, StreamInfo>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a stream; it stays listed until the returned guard is dropped.
    pub fn open(
        self: &Arc<Self>,
        http_version: String,
        trucks: String,
        opened_ms: u64,
    ) -> StreamGuard {
        let id = self.opened_total.fetch_add(1, Ordering::AcqRel) + 1;
        self.lock().insert(
            id,
            StreamInfo {
                id,
                http_version,
                trucks,
                opened_ms,
            },
        );
        StreamGuard {
            stats: self.clone(),
            id,
        }
    }

    /// How many streams are open per HTTP version (`HTTP/1.1`, `HTTP/2.0`), for `/metrics`.
    pub fn open_by_version(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for info in self.lock().values() {
            *counts.entry(info.http_version.clone()).or_insert(0) += 1;
        }
        counts
    }

    /// The current counts, with `latest_event_id` filled in by the caller.
    pub fn report(&self, latest_event_id: EventId) -> StatsReport {
        let streams: Vec<StreamInfo> = self.lock().values().cloned().collect();
        StatsReport {
            open_streams: streams.len(),
            opened_total: self.opened_total.load(Ordering::Acquire),
            streams,
            latest_event_id,
        }
    }
}

/// Keeps one stream listed; dropping it unlists the stream.
#[derive(Debug)]
pub struct StreamGuard {
    stats: Arc<Stats>,
    id: u64,
}

impl StreamGuard {
    /// The stream's id, unique within the run.
    pub fn id(&self) -> u64 {
        self.id
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        self.stats.lock().remove(&self.id);
    }
}

/// At most `max` streams at once, server-wide.
#[derive(Debug)]
pub struct StreamSlots {
    taken: AtomicUsize,
    max: usize,
}

impl StreamSlots {
    pub fn new(max: usize) -> Arc<StreamSlots> {
        Arc::new(StreamSlots {
            taken: AtomicUsize::new(0),
            max,
        })
    }

    /// A slot for one more stream, held until the returned guard is dropped; `None` at the cap.
    pub fn try_take(self: &Arc<Self>) -> Option<StreamSlot> {
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.max).then_some(n + 1)
            })
            .ok()?;
        Some(StreamSlot(self.clone()))
    }

    /// The cap.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// One taken stream slot; dropping it frees the slot.
#[derive(Debug)]
pub struct StreamSlot(Arc<StreamSlots>);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_and_uncount() {
        let stats = Arc::new(Stats::default());
        let a = stats.open("HTTP/1.1".into(), "all".into(), 1);
        let b = stats.open("HTTP/2.0".into(), "T-01".into(), 2);
        assert_ne!(a.id(), b.id());
        let report = stats.report(9);
        assert_eq!((report.open_streams, report.opened_total), (2, 2));
        drop(a);
        let report = stats.report(9);
        assert_eq!((report.open_streams, report.opened_total), (1, 2));
        assert_eq!(report.streams[0].trucks, "T-01");
        assert_eq!(report.latest_event_id, 9);
    }

    #[test]
    fn slots_cap_and_free() {
        let slots = StreamSlots::new(2);
        let a = slots.try_take().unwrap();
        let _b = slots.try_take().unwrap();
        assert!(slots.try_take().is_none());
        drop(a);
        assert!(slots.try_take().is_some());
    }
}

/// How many streams each signed-in operator holds, against `--max-streams-per-operator`: one
/// operator's tabs or scripts cannot take every stream of the server.
#[derive(Debug)]
pub struct OperatorStreams {
    max: usize,
    open: Mutex<HashMap<String, usize>>,
}

impl OperatorStreams {
    pub fn new(max: usize) -> Arc<OperatorStreams> {
        Arc::new(OperatorStreams {
            max,
            open: Mutex::default(),
        })
    }

    /// The most streams an operator may hold.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A place for one more stream of `operator`, or `None` at the cap; freed on drop.
    pub fn try_take(self: &Arc<Self>, operator: &str) -> Option<OperatorStream> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(operator.to_owned()).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(OperatorStream {
            streams: self.clone(),
            operator: operator.to_owned(),
        })
    }
}

/// One stream's place in its operator's share.
#[derive(Debug)]
pub struct OperatorStream {
    streams: Arc<OperatorStreams>,
    operator: String,
}

impl Drop for OperatorStream {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.operator) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.operator);
            }
        }
    }
}
