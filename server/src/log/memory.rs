//! The memory engine: the last `capacity` events in a ring. Ids start from a base taken from the
//! clock at start, so a later run's ids are above an earlier run's; nothing outlives the process.
//! A Redis node's view of the shared log is one too, filled by its tail through `adopt`.

use super::{LogEngine, LogError, Logged, Prepared, Recovered, Retention};
use convoy_core::wire::{EventId, FleetSnapshot};
use std::collections::VecDeque;

/// A bounded ring of the newest events.
#[derive(Debug)]
pub struct MemoryLog {
    first_id: EventId,
    next_id: EventId,
    capacity: usize,
    /// Oldest first, each with the time it was appended.
    ring: VecDeque<(u64, Logged)>,
}

impl MemoryLog {
    /// An empty log whose first event gets `first_id`, keeping at most `capacity` events.
    pub fn new(first_id: EventId, capacity: usize) -> MemoryLog {
        MemoryLog {
            first_id,
            next_id: first_id,
            capacity,
            ring: VecDeque::with_capacity(capacity.min(1 << 16)),
        }
    }

    /// Takes `events` (oldest first, ids assigned elsewhere) as the ring and `latest` as the
    /// last id issued.
    pub fn adopt_all(&mut self, events: Vec<Logged>, latest: EventId) {
        self.ring.clear();
        let skip = events.len().saturating_sub(self.capacity);
        self.ring
            .extend(events.into_iter().skip(skip).map(|e| (0, e)));
        self.next_id = self.next_id.max(latest + 1);
    }
}

impl LogEngine for MemoryLog {
    fn describe(&self) -> String {
        "memory".into()
    }

    fn first_id(&self) -> EventId {
        self.first_id
    }

    fn latest_id(&self) -> EventId {
        self.next_id - 1
    }

    fn floor(&self) -> EventId {
        self.ring
            .front()
            .map_or(self.latest_id(), |(_, e)| e.id - 1)
    }

    fn append(
        &mut self,
        batch: &[Prepared],
        _keys: &[Option<String>],
        now_ms: u64,
    ) -> Result<Vec<Logged>, LogError> {
        let mut out = Vec::with_capacity(batch.len());
        for prepared in batch {
            let logged = Logged::encode(
                self.next_id,
                prepared.truck.clone(),
                prepared.event.name(),
                &prepared.data,
            );
            self.next_id += 1;
            if self.capacity > 0 {
                if self.ring.len() >= self.capacity {
                    self.ring.pop_front();
                }
                self.ring.push_back((now_ms, logged.clone()));
            }
            out.push(logged);
        }
        Ok(out)
    }

    fn read_after(&self, after: EventId) -> Result<Vec<Logged>, LogError> {
        let start = self.ring.partition_point(|(_, e)| e.id <= after);
        Ok(self.ring.range(start..).map(|(_, e)| e.clone()).collect())
    }

    fn trim(&mut self, retention: Retention, now_ms: u64) -> Result<u64, LogError> {
        let before = self.ring.len();
        match retention {
            Retention::Events(keep) => {
                let keep = usize::try_from(keep).unwrap_or(usize::MAX);
                while self.ring.len() > keep {
                    self.ring.pop_front();
                }
            }
            Retention::Age(age) => {
                let cutoff = now_ms.saturating_sub(age.as_millis() as u64);
                while self.ring.front().is_some_and(|(at, _)| *at < cutoff) {
                    self.ring.pop_front();
                }
            }
        }
        Ok((before - self.ring.len()) as u64)
    }

    fn save_snapshot(&mut self, _snapshot: &FleetSnapshot) -> Result<(), LogError> {
        Ok(())
    }

    fn recover(&self) -> Result<Recovered, LogError> {
        Ok(Recovered::default())
    }

    fn adopt(&mut self, events: &[Logged], now_ms: u64) -> Result<(), LogError> {
        for event in events {
            if self.capacity > 0 {
                if self.ring.len() >= self.capacity {
                    self.ring.pop_front();
                }
                self.ring.push_back((now_ms, event.clone()));
            }
            self.next_id = self.next_id.max(event.id + 1);
        }
        Ok(())
    }

    fn set_first_id(&mut self, first_id: EventId) {
        self.first_id = first_id;
        self.next_id = self.next_id.max(first_id);
    }
}
