//! The file engine: events, the id counter and the fleet snapshot in one redb database
//! (`DIR/convoy.redb`).
//!
//! Every append is one write transaction committed with immediate durability (redb syncs before
//! `commit` returns), and the next id is written in the same transaction as the events, so a
//! crash, even `kill -9`, loses no accepted event and never reuses an id. At start the fleet is
//! the stored snapshot plus the events after it. The newest events are also kept in memory, so
//! resuming a stream that is only a little behind reads no disk.

use super::{
    LogEngine, LogError, Logged, Prepared, Recovered, Retention, SnapshotSlot, SnapshotWriter,
};
use convoy_core::wire::{EventId, FleetEvent, FleetSnapshot};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Event id → [`encode_value`].
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// `first_id`, `next_id`, `snapshot_id`.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `fleet` → the snapshot as JSON.
const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");
/// Idempotency key → the id its event got and when (8 + 8 bytes LE).
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");

fn key_value(id: EventId, at_ms: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..8].copy_from_slice(&id.to_le_bytes());
    out[8..].copy_from_slice(&at_ms.to_le_bytes());
    out
}

fn read_key_value(bytes: &[u8]) -> Option<(EventId, u64)> {
    let id = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let at = u64::from_le_bytes(bytes.get(8..16)?.try_into().ok()?);
    Some((id, at))
}

/// The database file inside the data directory.
pub const FILE_NAME: &str = "convoy.redb";

fn store(e: impl std::fmt::Display) -> LogError {
    LogError::Store(e.to_string())
}

/// `appended_ms` (8 bytes LE), truck length (1), truck, name length (1), name, JSON data.
fn encode_value(appended_ms: u64, truck: &str, name: &str, data: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(10 + truck.len() + name.len() + data.len());
    out.extend_from_slice(&appended_ms.to_le_bytes());
    // Truck ids are at most 32 bytes and names are the four event names.
    out.push(truck.len() as u8);
    out.extend_from_slice(truck.as_bytes());
    out.push(name.len() as u8);
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(data.as_bytes());
    out
}

struct Stored<'a> {
    appended_ms: u64,
    truck: &'a str,
    name: &'a str,
    data: &'a str,
}

fn decode_value(bytes: &[u8]) -> Option<Stored<'_>> {
    let appended_ms = u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?);
    let truck_len = *bytes.get(8)? as usize;
    let truck = std::str::from_utf8(bytes.get(9..9 + truck_len)?).ok()?;
    let at = 9 + truck_len;
    let name_len = *bytes.get(at)? as usize;
    let name = std::str::from_utf8(bytes.get(at + 1..at + 1 + name_len)?).ok()?;
    let data = std::str::from_utf8(bytes.get(at + 1 + name_len..)?).ok()?;
    Some(Stored {
        appended_ms,
        truck,
        name,
        data,
    })
}

fn to_logged(id: EventId, bytes: &[u8]) -> Result<Logged, LogError> {
    let stored = decode_value(bytes).ok_or_else(|| store(format!("event {id} is corrupt")))?;
    Ok(Logged::encode(
        id,
        Arc::from(stored.truck),
        stored.name,
        stored.data,
    ))
}

/// Stores the fleet snapshot in its own write transaction, encoded before it begins, so appends
/// wait only for the write itself.
struct FileSnapshots {
    db: Arc<Database>,
    stored: Arc<AtomicU64>,
}

impl SnapshotWriter for FileSnapshots {
    fn write(&self, snapshot: &FleetSnapshot) -> Result<(), LogError> {
        let json = serde_json::to_vec(snapshot).map_err(store)?;
        let txn = self.db.begin_write().map_err(store)?;
        {
            let mut meta = txn.open_table(META).map_err(store)?;
            let stored = meta.get("snapshot_id").map_err(store)?.map(|v| v.value());
            if stored.is_some_and(|id| id >= snapshot.last_event_id) {
                return Ok(());
            }
            meta.insert("snapshot_id", snapshot.last_event_id)
                .map_err(store)?;
            let mut table = txn.open_table(SNAPSHOT).map_err(store)?;
            table.insert("fleet", json.as_slice()).map_err(store)?;
        }
        txn.commit().map_err(store)?;
        self.stored
            .fetch_max(snapshot.last_event_id, Ordering::AcqRel);
        Ok(())
    }
}

/// A durable log in a directory.
pub struct FileLog {
    db: Arc<Database>,
    first_id: EventId,
    next_id: EventId,
    /// The oldest retained event, if any.
    oldest: Option<EventId>,
    /// The last event the stored snapshot reflects: nothing after it may be trimmed. Shared
    /// with the snapshot writer, which moves it on from its own thread.
    snapshot_id: Arc<AtomicU64>,
    snapshots: SnapshotSlot,
    /// The newest events, oldest first.
    cache: VecDeque<Logged>,
    cache_capacity: usize,
    key_window_ms: u64,
}

impl FileLog {
    /// Opens (or creates) the log in `dir`. A new log's first id is `fresh_first_id`; an
    /// existing one continues after the last id it issued. Keeps `cache` recent events in memory
    /// and idempotency keys for `key_window` (pruned with the history).
    pub fn open(
        dir: &Path,
        fresh_first_id: EventId,
        cache: usize,
        key_window: std::time::Duration,
    ) -> Result<FileLog, LogError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| LogError::Config(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(FILE_NAME);
        let db = Database::create(&path)
            .map_err(|e| LogError::Config(format!("cannot open {}: {e}", path.display())))?;
        let txn = db.begin_write().map_err(store)?;
        let (first_id, next_id, snapshot_id) = {
            let mut meta = txn.open_table(META).map_err(store)?;
            txn.open_table(EVENTS).map_err(store)?;
            txn.open_table(SNAPSHOT).map_err(store)?;
            txn.open_table(KEYS).map_err(store)?;
            let read =
                |meta: &redb::Table<&str, u64>, key: &str| -> Result<Option<u64>, LogError> {
                    Ok(meta.get(key).map_err(store)?.map(|v| v.value()))
                };
            let first_id = match read(&meta, "first_id")? {
                Some(id) => id,
                None => {
                    meta.insert("first_id", fresh_first_id).map_err(store)?;
                    meta.insert("next_id", fresh_first_id).map_err(store)?;
                    fresh_first_id
                }
            };
            let next_id = read(&meta, "next_id")?.unwrap_or(first_id);
            let snapshot_id = read(&meta, "snapshot_id")?.unwrap_or(first_id - 1);
            (first_id, next_id, snapshot_id)
        };
        txn.commit().map_err(store)?;
        let db = Arc::new(db);
        let snapshot_id = Arc::new(AtomicU64::new(snapshot_id));
        let mut log = FileLog {
            snapshots: SnapshotSlot::new(Arc::new(FileSnapshots {
                db: db.clone(),
                stored: snapshot_id.clone(),
            })),
            db,
            first_id,
            next_id,
            oldest: None,
            snapshot_id,
            cache: VecDeque::new(),
            cache_capacity: cache,
            key_window_ms: key_window.as_millis() as u64,
        };
        let read = log.db.begin_read().map_err(store)?;
        let events = read.open_table(EVENTS).map_err(store)?;
        log.oldest = events.first().map_err(store)?.map(|(k, _)| k.value());
        let newest: Vec<Logged> = events
            .range::<u64>(..)
            .map_err(store)?
            .rev()
            .take(cache)
            .map(|row| {
                let (k, v) = row.map_err(store)?;
                to_logged(k.value(), v.value())
            })
            .collect::<Result<_, _>>()?;
        log.cache = newest.into_iter().rev().collect();
        Ok(log)
    }

    fn read_stored_after(&self, after: EventId) -> Result<Vec<Logged>, LogError> {
        let read = self.db.begin_read().map_err(store)?;
        let events = read.open_table(EVENTS).map_err(store)?;
        let start = after.saturating_add(1);
        let rows = events.range(start..).map_err(store)?;
        rows.map(|row| {
            let (k, v) = row.map_err(store)?;
            to_logged(k.value(), v.value())
        })
        .collect()
    }

    /// The last id to drop under `retention`, if any.
    fn trim_through(&self, retention: Retention, now_ms: u64) -> Result<Option<EventId>, LogError> {
        let Some(oldest) = self.oldest else {
            return Ok(None);
        };
        let through = match retention {
            Retention::Events(keep) => self.latest_id().checked_sub(keep),
            Retention::Age(age) => {
                let cutoff = now_ms.saturating_sub(age.as_millis() as u64);
                let read = self.db.begin_read().map_err(store)?;
                let events = read.open_table(EVENTS).map_err(store)?;
                let mut through = None;
                for row in events.range(oldest..).map_err(store)? {
                    let (k, v) = row.map_err(store)?;
                    let appended = decode_value(v.value()).map_or(0, |s| s.appended_ms);
                    if appended >= cutoff {
                        break;
                    }
                    through = Some(k.value());
                }
                through
            }
        };
        Ok(through
            .map(|id| id.min(self.snapshot_id.load(Ordering::Acquire)))
            .filter(|&id| id >= oldest))
    }
}

impl FileLog {
    /// Drops the idempotency keys older than the window.
    fn prune_keys(&mut self, now_ms: u64) -> Result<(), LogError> {
        let cutoff = now_ms.saturating_sub(self.key_window_ms);
        let expired = |bytes: &[u8]| read_key_value(bytes).is_none_or(|(_, at)| at < cutoff);
        let any = {
            let read = self.db.begin_read().map_err(store)?;
            let table = read.open_table(KEYS).map_err(store)?;
            let mut rows = table.range::<&str>(..).map_err(store)?;
            rows.any(|row| row.is_ok_and(|(_, v)| expired(v.value())))
        };
        if !any {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(store)?;
        {
            let mut table = txn.open_table(KEYS).map_err(store)?;
            table.retain(|_, v| !expired(v)).map_err(store)?;
        }
        txn.commit().map_err(store)
    }
}

impl LogEngine for FileLog {
    fn describe(&self) -> String {
        "file".to_owned()
    }

    fn first_id(&self) -> EventId {
        self.first_id
    }

    fn blocks(&self) -> bool {
        true
    }

    fn latest_id(&self) -> EventId {
        self.next_id - 1
    }

    fn floor(&self) -> EventId {
        self.oldest.map_or(self.latest_id(), |id| id - 1)
    }

    fn append(
        &mut self,
        batch: &[Prepared],
        keys: &[Option<String>],
        now_ms: u64,
    ) -> Result<Vec<Logged>, LogError> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let txn = self.db.begin_write().map_err(store)?;
        let first = self.next_id;
        {
            let mut events = txn.open_table(EVENTS).map_err(store)?;
            for (offset, prepared) in batch.iter().enumerate() {
                let value = encode_value(
                    now_ms,
                    &prepared.truck,
                    prepared.event.name(),
                    &prepared.data,
                );
                events
                    .insert(first + offset as u64, value.as_slice())
                    .map_err(store)?;
            }
            let mut meta = txn.open_table(META).map_err(store)?;
            meta.insert("next_id", first + batch.len() as u64)
                .map_err(store)?;
            let mut key_table = txn.open_table(KEYS).map_err(store)?;
            for (offset, key) in keys.iter().enumerate() {
                if let Some(key) = key {
                    let value = key_value(first + offset as u64, now_ms);
                    key_table
                        .insert(key.as_str(), value.as_slice())
                        .map_err(store)?;
                }
            }
        }
        // Dropping an uncommitted transaction aborts it: on any error above nothing is stored.
        txn.commit().map_err(store)?;
        self.next_id = first + batch.len() as u64;
        self.oldest.get_or_insert(first);
        let logged: Vec<Logged> = batch
            .iter()
            .enumerate()
            .map(|(offset, p)| {
                Logged::encode(
                    first + offset as u64,
                    p.truck.clone(),
                    p.event.name(),
                    &p.data,
                )
            })
            .collect();
        if self.cache_capacity > 0 {
            for event in &logged {
                if self.cache.len() >= self.cache_capacity {
                    self.cache.pop_front();
                }
                self.cache.push_back(event.clone());
            }
        }
        Ok(logged)
    }

    fn read_after(&self, after: EventId) -> Result<Vec<Logged>, LogError> {
        match self.cache.front() {
            Some(front) if after >= front.id - 1 => {
                let start = self.cache.partition_point(|e| e.id <= after);
                Ok(self.cache.range(start..).cloned().collect())
            }
            _ => self.read_stored_after(after),
        }
    }

    fn trim(&mut self, retention: Retention, now_ms: u64) -> Result<u64, LogError> {
        self.prune_keys(now_ms)?;
        let (Some(oldest), Some(through)) = (self.oldest, self.trim_through(retention, now_ms)?)
        else {
            return Ok(0);
        };
        let txn = self.db.begin_write().map_err(store)?;
        let next_oldest = {
            let mut events = txn.open_table(EVENTS).map_err(store)?;
            events
                .retain_in::<u64, _>(oldest..=through, |_, _| false)
                .map_err(store)?;
            let next = events.first().map_err(store)?.map(|(k, _)| k.value());
            next
        };
        txn.commit().map_err(store)?;
        self.oldest = next_oldest;
        while self.cache.front().is_some_and(|e| e.id <= through) {
            self.cache.pop_front();
        }
        Ok(through - oldest + 1)
    }

    fn save_snapshot(&mut self, snapshot: &FleetSnapshot) -> Result<(), LogError> {
        FileSnapshots {
            db: self.db.clone(),
            stored: self.snapshot_id.clone(),
        }
        .write(snapshot)
    }

    fn snapshot_writer(&self) -> Option<SnapshotSlot> {
        Some(self.snapshots.clone())
    }

    fn recover(&self) -> Result<Recovered, LogError> {
        let read = self.db.begin_read().map_err(store)?;
        let table = read.open_table(SNAPSHOT).map_err(store)?;
        let snapshot: Option<FleetSnapshot> = match table.get("fleet").map_err(store)? {
            Some(json) => Some(serde_json::from_slice(json.value()).map_err(store)?),
            None => None,
        };
        let after = snapshot
            .as_ref()
            .map_or(self.first_id - 1, |s| s.last_event_id);
        let events = read.open_table(EVENTS).map_err(store)?;
        let mut tail = Vec::new();
        for row in events.range(after.saturating_add(1)..).map_err(store)? {
            let (k, v) = row.map_err(store)?;
            let id = k.value();
            let stored =
                decode_value(v.value()).ok_or_else(|| store(format!("event {id} is corrupt")))?;
            let event: FleetEvent = serde_json::from_str(stored.data).map_err(store)?;
            tail.push((id, event));
        }
        let key_table = read.open_table(KEYS).map_err(store)?;
        let mut keys = Vec::new();
        for row in key_table.range::<&str>(..).map_err(store)? {
            let (k, v) = row.map_err(store)?;
            if let Some((id, at)) = read_key_value(v.value()) {
                keys.push((k.value().to_owned(), id, at));
            }
        }
        Ok(Recovered {
            snapshot,
            tail,
            keys,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_core::wire::TruckStatus;

    #[test]
    fn keys_are_stored_with_their_events_and_pruned_after_the_window() {
        let dir = std::env::temp_dir().join(format!(
            "convoy-file-keys-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let window = std::time::Duration::from_secs(1);
        let event = |n| {
            Prepared::new(FleetEvent::Status {
                truck: "T-01".into(),
                at_ms: 1,
                status: TruckStatus::Idle,
                next_stop: n,
            })
        };
        {
            let mut log = FileLog::open(&dir, 100, 10, window).unwrap();
            log.append(&[event(0), event(1)], &[Some("a".into()), None], 1_000)
                .unwrap();
            log.append(&[event(2)], &[Some("b".into())], 1_800).unwrap();
        }
        let mut log = FileLog::open(&dir, 100, 10, window).unwrap();
        let mut keys = log.recover().unwrap().keys;
        keys.sort();
        assert_eq!(
            keys,
            [("a".to_owned(), 100, 1_000), ("b".to_owned(), 102, 1_800)]
        );
        log.trim(Retention::Events(1_000), 2_500).unwrap();
        assert_eq!(log.recover().unwrap().keys, [("b".to_owned(), 102, 1_800)]);
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn values_round_trip_and_truncation_is_caught() {
        let value = encode_value(42, "T-07", "status", r#"{"type":"status"}"#);
        let stored = decode_value(&value).unwrap();
        assert_eq!(
            (stored.appended_ms, stored.truck, stored.name, stored.data),
            (42, "T-07", "status", r#"{"type":"status"}"#)
        );
        assert!(decode_value(&value[..10]).is_none());
        assert!(decode_value(&[]).is_none());
    }
}
