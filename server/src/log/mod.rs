//! The event log's one interface, [`LogEngine`], and what every engine shares: the logged event,
//! the resume decision, retention and errors.
//!
//! An engine stores events and hands them back; it assigns ids (so an engine that shares its log
//! with other processes can assign them where the log lives) and keeps the fleet snapshot that
//! the log can be rebuilt from. The [`crate::hub::Hub`] sits on top: it calls an engine under
//! one lock, keeps the fleet current and fans events out to the open streams. Engines:
//! - [`memory::MemoryLog`]: a bounded ring, gone with the process (the default);
//! - [`file::FileLog`]: a redb database in a directory: durable, ids and fleet survive restarts;
//! - [`redis::RedisLog`]: a Redis stream shared by several nodes; each node keeps a
//!   [`memory::MemoryLog`] view of it that its tail loop fills in id order.

pub mod file;
pub mod memory;
pub mod redis;

use bytes::Bytes;
use convoy_core::sse;
use convoy_core::wire::{EventId, FleetEvent, FleetSnapshot, ResetNotice};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An event as logged: its id, its truck (for filtering) and its SSE frame, encoded once and
/// shared by every stream.
#[derive(Debug, Clone)]
pub struct Logged {
    pub id: EventId,
    pub truck: Arc<str>,
    pub frame: Bytes,
    /// Where the frame holds the event's JSON, when it is one line (always, for serde_json's
    /// output): a batch quotes it from there instead of serialising again.
    data: Option<std::ops::Range<usize>>,
    /// When the hub published it ([`crate::metrics::now_us`]); 0 for a copy that was not
    /// published live (the replay ring's).
    pub published_us: u64,
}

impl Logged {
    /// The frame for `id`, `name` and the JSON `data`.
    pub fn encode(id: EventId, truck: Arc<str>, name: &str, data: &str) -> Logged {
        let frame = sse::encode_event(Some(id), Some(name), data);
        // The frame ends with `data: <data>\n\n` when the data is one line.
        let one_line = !data.contains(['\r', '\n']);
        let end = frame.len() - 2;
        Logged {
            id,
            truck,
            data: one_line.then(|| end - data.len()..end),
            frame: Bytes::from(frame),
            published_us: 0,
        }
    }

    /// The event's JSON, as the frame's `data:` holds it; `None` if it spans lines.
    pub fn data(&self) -> Option<&[u8]> {
        self.data.clone().map(|range| &self.frame[range])
    }
}

/// An event ready to append: the event, its JSON (the stream's `data:`) and its truck.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub event: FleetEvent,
    pub data: String,
    pub truck: Arc<str>,
}

impl Prepared {
    /// Serialises `event` once.
    pub fn new(event: FleetEvent) -> Prepared {
        let data = serde_json::to_string(&event).unwrap_or_else(|e| {
            // Unreachable for these types (string keys, no custom serializers); keep ids
            // contiguous anyway by sending what went wrong.
            serde_json::json!({ "type": event.name(), "truck": event.truck(), "error": e.to_string() })
                .to_string()
        });
        let truck = Arc::from(event.truck());
        Prepared { event, data, truck }
    }
}

/// What became of one submitted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Appended with this id.
    Appended(EventId),
    /// Its key was seen within the window: not appended again; the id it got then.
    Duplicate(EventId),
}

impl Outcome {
    /// The event's id, new or earlier.
    pub fn id(self) -> EventId {
        match self {
            Outcome::Appended(id) | Outcome::Duplicate(id) => id,
        }
    }
}

/// What an engine found when it opened: the last stored fleet snapshot and the events after it.
#[derive(Debug, Clone, Default)]
pub struct Recovered {
    pub snapshot: Option<FleetSnapshot>,
    /// Events after the snapshot's `last_event_id`, oldest first.
    pub tail: Vec<(EventId, FleetEvent)>,
    /// Idempotency keys still stored: key, the id its event got, when it was appended (ms).
    pub keys: Vec<(String, EventId, u64)>,
}

/// Why the log could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The store failed (disk full, corrupt file, …); nothing of the failed call was kept.
    #[error("event store failed: {0}")]
    Store(String),
    /// The log's configuration cannot be used.
    #[error("invalid event log: {0}")]
    Config(String),
    /// The log is out of reach (Redis down); nothing of the failed call was kept.
    #[error("event log unavailable: {0}")]
    Unavailable(String),
    /// A limit of the server refused the append (`--max-trucks`); nothing of it was kept.
    #[error("{0}")]
    Refused(String),
    /// Input `index` of the batch cannot be derived (a plan that does not validate, a position
    /// not newer than the truck's last): a bad request, not a log failure.
    #[error("input {index}: {reason}")]
    Invalid { index: usize, reason: String },
}

/// Stores fleet snapshots from a thread of its own, off the hub's lock.
pub trait SnapshotWriter: Send + Sync {
    /// Stores `snapshot`, unless a snapshot at least as new is stored already (a slow write
    /// must not replace the one taken at shutdown).
    fn write(&self, snapshot: &FleetSnapshot) -> Result<(), LogError>;
}

/// An engine's [`SnapshotWriter`], used by one write at a time.
#[derive(Clone)]
pub struct SnapshotSlot {
    writer: Arc<dyn SnapshotWriter>,
    busy: Arc<AtomicBool>,
}

impl SnapshotSlot {
    pub fn new(writer: Arc<dyn SnapshotWriter>) -> SnapshotSlot {
        SnapshotSlot {
            writer,
            busy: Arc::default(),
        }
    }

    /// The writer, unless a write is under way; free again when the claim is dropped.
    pub fn claim(&self) -> Option<SnapshotClaim> {
        (!self.busy.swap(true, Ordering::AcqRel)).then(|| SnapshotClaim(self.clone()))
    }
}

/// The one write under way of a [`SnapshotSlot`].
pub struct SnapshotClaim(SnapshotSlot);

impl SnapshotClaim {
    pub fn write(&self, snapshot: &FleetSnapshot) -> Result<(), LogError> {
        self.0.writer.write(snapshot)
    }
}

impl Drop for SnapshotClaim {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

/// How much history an engine keeps for resuming and rebuilding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    /// The newest this many events.
    Events(u64),
    /// Events appended within this long.
    Age(Duration),
}

impl FromStr for Retention {
    type Err = String;

    /// `100000` (events), or a duration: `90s`, `30m`, `24h`, `7d`.
    fn from_str(text: &str) -> Result<Retention, String> {
        let text = text.trim();
        let bad = || {
            format!("invalid retention {text:?}: use a count of events (100000) or a duration (90s, 30m, 24h, 7d)")
        };
        if let Ok(events) = text.parse::<u64>() {
            return if events == 0 {
                Err(bad())
            } else {
                Ok(Retention::Events(events))
            };
        }
        let split = text.len().checked_sub(1).ok_or_else(bad)?;
        let (number, unit) = text.split_at(split);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return Err(bad()),
        };
        if number == 0 {
            return Err(bad());
        }
        Ok(Retention::Age(Duration::from_secs(
            number.checked_mul(seconds).ok_or_else(bad)?,
        )))
    }
}

impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retention::Events(n) => write!(f, "{n} events"),
            Retention::Age(d) => write!(f, "{}s", d.as_secs()),
        }
    }
}

/// Which engine, as given to `--log`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LogSpec {
    /// `memory`: the replay ring only.
    #[default]
    Memory,
    /// `file:DIR`: a redb database in DIR.
    File(PathBuf),
    /// `redis://HOST:PORT[/DB]`: a Redis stream shared by every node.
    Redis(String),
}

impl FromStr for LogSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<LogSpec, String> {
        if text == "memory" {
            return Ok(LogSpec::Memory);
        }
        if let Some(dir) = text.strip_prefix("file:") {
            if dir.is_empty() {
                return Err("file: needs a directory, as in file:./data".into());
            }
            return Ok(LogSpec::File(PathBuf::from(dir)));
        }
        if text.starts_with("redis://") {
            return Ok(LogSpec::Redis(text.to_owned()));
        }
        Err(format!(
            "unknown event log {text:?}: use memory, file:DIR or redis://HOST:PORT[/DB]"
        ))
    }
}

impl fmt::Display for LogSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogSpec::Memory => f.write_str("memory"),
            LogSpec::File(dir) => write!(f, "file:{}", dir.display()),
            LogSpec::Redis(url) => f.write_str(&redis::without_credentials(url)),
        }
    }
}

/// One event log. The hub calls every method under its lock, so an engine sees one call at a
/// time and needs no locking of its own.
pub trait LogEngine: Send {
    /// `memory`, `file`: what `/api/health` shows anyone, so never a path or a credential.
    fn describe(&self) -> String;

    /// The first id this log ever issued: an id below it belongs to another log (an earlier
    /// memory run, a deleted data directory), and resuming after it is a reset.
    fn first_id(&self) -> EventId;

    /// The last id issued (one before [`LogEngine::first_id`] until something is appended).
    fn latest_id(&self) -> EventId;

    /// The oldest id a stream can resume after: one before the oldest retained event, or
    /// [`LogEngine::latest_id`] when nothing is retained.
    fn floor(&self) -> EventId;

    /// Stores `batch` atomically with the next ids, in order, with each event's idempotency key
    /// (`keys[i]` for `batch[i]`; engines that outlive the process keep them, so a retry after
    /// a restart is still a no-op); returns the events as logged. On an error nothing of the
    /// batch is stored and no id is used.
    fn append(
        &mut self,
        batch: &[Prepared],
        keys: &[Option<String>],
        now_ms: u64,
    ) -> Result<Vec<Logged>, LogError>;

    /// Every retained event after `after`, oldest first. Call with `after >= floor()`.
    fn read_after(&self, after: EventId) -> Result<Vec<Logged>, LogError>;

    /// Drops what `retention` no longer covers, never an event newer than the last stored
    /// snapshot (the fleet is rebuilt from it); returns how many events went.
    fn trim(&mut self, retention: Retention, now_ms: u64) -> Result<u64, LogError>;

    /// Stores `snapshot` (its `last_event_id` is the last event it reflects). Engines that do
    /// not outlive the process ignore it.
    fn save_snapshot(&mut self, snapshot: &FleetSnapshot) -> Result<(), LogError>;

    /// Where snapshots can be stored off the hub's lock, for engines whose store is slow (a
    /// disk); `None`: the hub calls [`LogEngine::save_snapshot`].
    fn snapshot_writer(&self) -> Option<SnapshotSlot> {
        None
    }

    /// The stored snapshot and the events after it (empty for a new log).
    fn recover(&self) -> Result<Recovered, LogError>;

    /// Records events whose ids were assigned elsewhere (a shared log's view, filled by its
    /// tail), in id order. Engines that assign their own ids refuse.
    fn adopt(&mut self, _events: &[Logged], _now_ms: u64) -> Result<(), LogError> {
        Err(LogError::Config(format!(
            "{} assigns its own ids",
            self.describe()
        )))
    }

    /// Whether calls wait for a disk (the hub then makes them on a blocking thread).
    fn blocks(&self) -> bool {
        false
    }

    /// A shared log started a new epoch at `first_id` (Redis restarted empty or flushed).
    fn set_first_id(&mut self, _first_id: EventId) {}
}

/// Opens the engine `spec` names. `fresh_first_id` is the first id of a log that has none yet,
/// `replay` how many recent events are kept in memory for resuming, `key_window` how long
/// idempotency keys are kept.
pub fn open(
    spec: &LogSpec,
    fresh_first_id: EventId,
    replay: usize,
    key_window: Duration,
) -> Result<Box<dyn LogEngine>, LogError> {
    Ok(match spec {
        LogSpec::Memory => Box::new(memory::MemoryLog::new(fresh_first_id, replay)),
        LogSpec::File(dir) => Box::new(file::FileLog::open(
            dir,
            fresh_first_id,
            replay,
            key_window,
        )?),
        LogSpec::Redis(url) => {
            return Err(LogError::Config(format!(
                "{url} is opened with redis::RedisLog::load (it is async)"
            )))
        }
    })
}

/// Where a stream starts, given the id it asks to resume after.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumePlan {
    /// No id, or nothing after it: live events only.
    Live,
    /// Replay the retained events after this id, then live.
    ReplayAfter(EventId),
    /// The id cannot be resumed: tell the client to refetch, then live.
    Reset(ResetNotice),
}

/// Decides how a stream that asks to resume after `requested` starts.
///
/// `first_id` is the log's first id (earlier ids belong to another log or run), `floor` the
/// oldest id the log can resume after and `latest` the last id issued.
pub fn plan_resume(
    first_id: EventId,
    floor: EventId,
    latest: EventId,
    requested: Option<EventId>,
) -> ResumePlan {
    let Some(after) = requested else {
        return ResumePlan::Live;
    };
    let reason = if after < first_id.saturating_sub(1) {
        "the id is from a previous server run or log epoch"
    } else if after > latest {
        "the id is ahead of this server's latest event"
    } else if after < floor {
        "the id is older than the replay buffer"
    } else if after == latest {
        return ResumePlan::Live;
    } else {
        return ResumePlan::ReplayAfter(after);
    };
    ResumePlan::Reset(ResetNotice {
        reason: reason.to_owned(),
        oldest_id: floor,
        latest_id: latest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_plans() {
        let reset = |p: ResumePlan| matches!(p, ResumePlan::Reset(_));
        assert_eq!(plan_resume(100, 120, 130, None), ResumePlan::Live);
        assert_eq!(plan_resume(100, 120, 130, Some(130)), ResumePlan::Live);
        assert_eq!(
            plan_resume(100, 120, 130, Some(120)),
            ResumePlan::ReplayAfter(120)
        );
        assert!(reset(plan_resume(100, 120, 130, Some(119))));
        assert!(reset(plan_resume(100, 120, 130, Some(131))));
        assert!(reset(plan_resume(100, 99, 130, Some(98))));
        assert_eq!(
            plan_resume(100, 99, 130, Some(99)),
            ResumePlan::ReplayAfter(99)
        );
        // Nothing published yet: resuming at the snapshot's id is live.
        assert_eq!(plan_resume(100, 99, 99, Some(99)), ResumePlan::Live);
        let ResumePlan::Reset(notice) = plan_resume(100, 120, 130, Some(5)) else {
            panic!("expected a reset");
        };
        assert_eq!((notice.oldest_id, notice.latest_id), (120, 130));
        assert!(notice.reason.contains("previous"), "{}", notice.reason);
    }

    #[test]
    fn retention_parses_counts_and_durations() {
        assert_eq!("5000".parse(), Ok(Retention::Events(5000)));
        assert_eq!("90s".parse(), Ok(Retention::Age(Duration::from_secs(90))));
        assert_eq!("2h".parse(), Ok(Retention::Age(Duration::from_secs(7200))));
        assert_eq!(
            "7d".parse(),
            Ok(Retention::Age(Duration::from_secs(7 * 86_400)))
        );
        for bad in ["", "0", "0s", "5w", "h", "-3", "1.5h"] {
            assert!(bad.parse::<Retention>().is_err(), "{bad}");
        }
    }

    #[test]
    fn log_specs() {
        assert_eq!("memory".parse(), Ok(LogSpec::Memory));
        assert_eq!(
            "file:./data".parse(),
            Ok(LogSpec::File(PathBuf::from("./data")))
        );
        assert!("file:".parse::<LogSpec>().is_err());
        assert_eq!(
            "redis://127.0.0.1:6379/2".parse(),
            Ok(LogSpec::Redis("redis://127.0.0.1:6379/2".into()))
        );
        assert!("postgres://x".parse::<LogSpec>().is_err());
    }
}
