//! The Redis engine: one Redis stream per fleet, shared by every node.
//!
//! Appends go through one Lua script that takes the next id from a counter and writes the event
//! with `XADD <id>-0` (trimmed with `MAXLEN ~`, so the stream is the replay buffer); the script
//! also keeps the epoch, the first id of the log's current life in Redis. Redis restarted empty
//! or flushed has no epoch: the next append starts a new one from Redis's clock in µs (ms ×
//! 1000, as the memory engine does) and above the caller's latest id, so ids keep increasing.
//! Idempotency keys live in Redis too, so a retry that lands on another node is still a no-op.
//!
//! Each node reads the stream through a [`Reader`], one `XREAD BLOCK` loop on a connection of
//! its own (a blocking read would stall a shared multiplexed connection); its tail
//! ([`crate::tail`], above both this engine and the hub) hands what it reads, in id order, to
//! the node's hub, which applies it to the node's fleet and fans it out; the node keeps the
//! newest events in a [`MemoryLog`] for resuming. Nodes store the fleet snapshot (with the id it
//! reflects and its epoch) in Redis, so a node that starts later rebuilds the fleet from it and
//! the events after it; a node that starts while Redis is unreachable reads it once it answers.
//! Each entry records when Redis appended it, so the stream can be trimmed by age
//! up to the stored snapshot ([`RedisLog::trim_by_age`]).

use super::memory::MemoryLog;
use super::{LogError, Logged, Outcome, Prepared, Recovered};
use convoy_core::wire::{EventId, FleetEvent, FleetSnapshot};
use redis::aio::MultiplexedConnection;
use redis::streams::{StreamId, StreamRangeReply, StreamReadOptions, StreamReadReply};
use redis::{AsyncConnectionConfig, Client, Script};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The append script. KEYS: stream, counter, epoch, key prefix. ARGV: maxlen, floor (the
/// caller's latest id), key window ms, event count, then per event key (or ""), truck, name,
/// data. Returns the epoch, then each event's id, negative for a duplicate key's earlier id.
/// Numbers go to Redis through `%.0f`: Lua would print large ones in exponent form.
const APPEND: &str = r#"
local t = redis.call('TIME')
local now_ms = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
local epoch = tonumber(redis.call('GET', KEYS[3]))
if not epoch then
  epoch = tonumber(t[1]) * 1000000 + math.floor(tonumber(t[2]) / 1000) * 1000 + 1
  local floor = tonumber(ARGV[2])
  if epoch <= floor then epoch = floor + 1 end
  redis.call('SET', KEYS[3], string.format('%.0f', epoch))
  redis.call('SET', KEYS[2], string.format('%.0f', epoch - 1))
end
local out = {epoch}
local n = tonumber(ARGV[4])
for i = 0, n - 1 do
  local at = 5 + i * 4
  local key = ARGV[at]
  local seen = false
  if key ~= '' then seen = redis.call('GET', KEYS[4] .. key) end
  if seen then
    out[#out + 1] = -tonumber(seen)
  else
    local id = string.format('%.0f', redis.call('INCR', KEYS[2]))
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], id .. '-0',
      't', ARGV[at + 1], 'n', ARGV[at + 2], 'd', ARGV[at + 3], 'a', now_ms)
    if key ~= '' then redis.call('SET', KEYS[4] .. key, id, 'PX', ARGV[3]) end
    out[#out + 1] = tonumber(id)
  end
end
return out
"#;

/// Trims the stream by age: drops the entries appended (field `a`, Redis's clock in ms) more
/// than ARGV[1] ms ago, but none after the stored snapshot of the current epoch (the fleet is
/// rebuilt from it and the entries after it; no snapshot, no trim). Entry ids are event ids, not
/// times, so the cutoff's id is found by a binary search over the ids (append times grow with
/// ids): about 20 `XRANGE … COUNT 1` for a million entries, in Redis, in one call. An entry
/// without `a` (written before it was recorded) counts as new. KEYS: stream, snapshot hash,
/// epoch. Returns how many entries went.
const TRIM_AGE: &str = r#"
local snap = redis.call('HGET', KEYS[2], 'id')
if not snap or redis.call('HGET', KEYS[2], 'epoch') ~= redis.call('GET', KEYS[3]) then
  return 0
end
local t = redis.call('TIME')
local cutoff = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[1])
local function old(e)
  local f = e[2]
  for i = 1, #f, 2 do
    if f[i] == 'a' then return tonumber(f[i + 1]) < cutoff end
  end
  return false
end
local function id_of(e) return tonumber(string.match(e[1], '^(%d+)')) end
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
if not first or not old(first) then return 0 end
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
-- Every entry at or below lo is old; none at or above hi is.
local lo, hi = id_of(first), id_of(last) + 1
while hi - lo > 1 do
  local mid = math.floor((lo + hi) / 2)
  local e = redis.call('XRANGE', KEYS[1], string.format('%.0f', mid), '+', 'COUNT', 1)[1]
  if not e or id_of(e) >= hi then
    hi = mid
  elseif old(e) then
    lo = id_of(e)
  else
    hi = id_of(e)
  end
end
local minid = math.min(hi, tonumber(snap) + 1)
return redis.call('XTRIM', KEYS[1], 'MINID', string.format('%.0f', minid))
"#;

/// Stores a snapshot unless it is from another epoch or older than the stored one. KEYS:
/// snapshot hash, epoch. ARGV: id, JSON, epoch.
const SAVE_SNAPSHOT: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[3] then return 0 end
local stored = redis.call('HGET', KEYS[1], 'id')
if stored and tonumber(stored) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'epoch', ARGV[3], 'fleet', ARGV[2])
return 1
"#;

/// How long a command may take before Redis counts as unreachable.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);
/// How long one `XREAD BLOCK` waits for new entries.
const BLOCK_MS: usize = 1000;

fn unavailable(e: impl std::fmt::Display) -> LogError {
    LogError::Unavailable(format!("redis: {e}"))
}

/// Reads `123-0` as 123.
fn entry_id(id: &str) -> Option<EventId> {
    id.split_once('-').map_or(id, |(ms, _)| ms).parse().ok()
}

/// An entry as the script wrote it.
fn entry(stream_id: &StreamId) -> Option<(EventId, Prepared)> {
    let id = entry_id(&stream_id.id)?;
    let data: String = stream_id.get("d")?;
    let event: FleetEvent = serde_json::from_str(&data).ok()?;
    let truck: String = stream_id.get("t")?;
    Some((
        id,
        Prepared {
            event,
            data,
            truck: Arc::from(truck.as_str()),
        },
    ))
}

/// The keys of one fleet's log; one hash tag, so they stay together.
#[derive(Debug, Clone)]
struct Keys {
    stream: String,
    counter: String,
    epoch: String,
    key_prefix: String,
    snapshot: String,
}

impl Keys {
    fn new(fleet: &str) -> Keys {
        let at = |what: &str| format!("convoy:{{{fleet}}}:{what}");
        Keys {
            stream: at("events"),
            counter: at("next"),
            epoch: at("epoch"),
            key_prefix: at("key:"),
            snapshot: at("snapshot"),
        }
    }
}

/// What a node reads from Redis when it starts.
pub struct Loaded {
    /// The node's view: the newest events, ids and epoch as Redis has them.
    pub view: MemoryLog,
    /// The stored snapshot and the events after it, for the fleet.
    pub recovered: Recovered,
    /// The id the tail continues after.
    pub last_id: EventId,
}

/// `url` with any user and password taken out (`redis://:secret@host:6379/0` becomes
/// `redis://host:6379/0`): what is logged, shown in `/api/health` and put in error messages.
pub fn without_credentials(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{host}{path}")
}

/// A connection to one fleet's log in Redis.
pub struct RedisLog {
    client: Client,
    url: String,
    keys: Keys,
    maxlen: u64,
    key_window_ms: u64,
    append: Script,
    save_snapshot: Script,
    trim_age: Script,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    reachable: AtomicBool,
    epoch: AtomicU64,
}

impl RedisLog {
    /// A log at `url` (`redis://HOST:PORT[/DB]`) for fleet `fleet`, its stream trimmed to
    /// about `maxlen` events, idempotency keys kept for `key_window`. Connects lazily.
    pub fn new(
        url: &str,
        fleet: &str,
        maxlen: u64,
        key_window: Duration,
    ) -> Result<RedisLog, LogError> {
        let shown = without_credentials(url);
        let client = Client::open(url).map_err(|e| LogError::Config(format!("{shown}: {e}")))?;
        Ok(RedisLog {
            client,
            url: shown,
            keys: Keys::new(fleet),
            maxlen: maxlen.max(1),
            key_window_ms: key_window.as_millis().max(1) as u64,
            append: Script::new(APPEND),
            save_snapshot: Script::new(SAVE_SNAPSHOT),
            trim_age: Script::new(TRIM_AGE),
            conn: tokio::sync::Mutex::new(None),
            reachable: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
        })
    }

    /// `redis://…` as given, without its user and password: safe to log and to show.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the last command got an answer.
    pub fn reachable(&self) -> bool {
        self.reachable.load(Ordering::Acquire)
    }

    /// The epoch last seen: the first id of the log's current life in Redis.
    pub fn epoch(&self) -> EventId {
        self.epoch.load(Ordering::Acquire)
    }

    async fn connect(&self, response_timeout: Duration) -> Result<MultiplexedConnection, LogError> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(COMMAND_TIMEOUT))
            .set_response_timeout(Some(response_timeout));
        self.client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|e| self.failed(e))
    }

    fn failed(&self, e: impl std::fmt::Display) -> LogError {
        self.reachable.store(false, Ordering::Release);
        unavailable(e)
    }

    /// The shared connection (made on first use, and again after a failure).
    async fn shared(&self) -> Result<MultiplexedConnection, LogError> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let conn = self.connect(COMMAND_TIMEOUT).await?;
        *slot = Some(conn.clone());
        Ok(conn)
    }

    /// Runs `f` on the shared connection; a failure drops the connection, so the next call
    /// connects again.
    async fn run<T, F, Fut>(&self, f: F) -> Result<T, LogError>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let conn = self.shared().await?;
        match f(conn).await {
            Ok(value) => {
                self.reachable.store(true, Ordering::Release);
                Ok(value)
            }
            Err(e) => {
                if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() {
                    *self.conn.lock().await = None;
                }
                Err(self.failed(e))
            }
        }
    }

    /// The id each idempotency key's event got, for the keys seen within the window (None for
    /// the others): what the append script would answer a duplicate with.
    pub async fn key_ids(&self, keys: &[&str]) -> Result<Vec<Option<EventId>>, LogError> {
        let names: Vec<String> = keys
            .iter()
            .map(|key| format!("{}{key}", self.keys.key_prefix))
            .collect();
        self.run(|mut conn| async move {
            redis::cmd("MGET")
                .arg(&names)
                .query_async::<Vec<Option<EventId>>>(&mut conn)
                .await
        })
        .await
    }

    /// Appends `batch` in one script call: each event gets the next id, or the id its key got
    /// within the window. `floor` is the caller's latest id (a new epoch starts above it).
    pub async fn append(
        &self,
        batch: &[(Option<String>, Prepared)],
        floor: EventId,
    ) -> Result<Vec<Outcome>, LogError> {
        let mut invocation = self.append.prepare_invoke();
        invocation
            .key(&self.keys.stream)
            .key(&self.keys.counter)
            .key(&self.keys.epoch)
            .key(&self.keys.key_prefix)
            .arg(self.maxlen)
            .arg(floor)
            .arg(self.key_window_ms)
            .arg(batch.len());
        for (key, prepared) in batch {
            invocation
                .arg(key.as_deref().unwrap_or(""))
                .arg(&*prepared.truck)
                .arg(prepared.event.name())
                .arg(&prepared.data);
        }
        let reply: Vec<i64> = self
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        let (epoch, ids) = reply
            .split_first()
            .ok_or_else(|| unavailable("the append script answered nothing"))?;
        self.epoch.store(*epoch as u64, Ordering::Release);
        if ids.len() != batch.len() {
            return Err(unavailable("the append script answered the wrong count"));
        }
        Ok(ids
            .iter()
            .map(|&id| {
                if id < 0 {
                    Outcome::Duplicate(id.unsigned_abs())
                } else {
                    Outcome::Appended(id as u64)
                }
            })
            .collect())
    }

    /// Reads the epoch (starting one when Redis has none), the newest `replay` events, the
    /// stored snapshot and the events after it.
    pub async fn load(&self, replay: usize) -> Result<Loaded, LogError> {
        self.append(&[], 0).await?;
        let keys = self.keys.clone();
        let count = replay.max(1);
        let (epoch, counter, newest, snapshot): (u64, u64, StreamRangeReply, Option<String>) = self
            .run(|mut conn| async move {
                redis::pipe()
                    .atomic()
                    .get(&keys.epoch)
                    .get(&keys.counter)
                    .cmd("XREVRANGE")
                    .arg(&keys.stream)
                    .arg("+")
                    .arg("-")
                    .arg("COUNT")
                    .arg(count)
                    .hget(&keys.snapshot, "fleet")
                    .query_async(&mut conn)
                    .await
            })
            .await?;
        self.epoch.store(epoch, Ordering::Release);
        let mut snapshot: Option<FleetSnapshot> = match snapshot {
            Some(json) => Some(
                serde_json::from_str(&json)
                    .map_err(|e| LogError::Store(format!("the fleet snapshot in Redis: {e}")))?,
            ),
            None => None,
        };
        if snapshot
            .as_ref()
            .is_some_and(|s| s.last_event_id > counter || s.last_event_id + 1 < epoch)
        {
            // Left from another epoch: its trucks would claim ids this log never issued.
            snapshot = None;
        }
        let mut ring: Vec<Logged> = newest
            .ids
            .iter()
            .filter_map(entry)
            .map(|(id, p)| Logged::encode(id, p.truck, p.event.name(), &p.data))
            .collect();
        ring.reverse();
        if replay == 0 {
            ring.clear();
        }
        let last_id = ring.last().map_or(counter, |e| e.id.max(counter));
        let after = snapshot
            .as_ref()
            .map_or(epoch.saturating_sub(1), |s| s.last_event_id);
        let tail = self.range(after, last_id).await?;
        let mut view = MemoryLog::new(epoch, replay);
        view.adopt_all(ring, last_id);
        Ok(Loaded {
            view,
            // The keys live in Redis, where the append script reads them.
            recovered: Recovered {
                snapshot,
                tail,
                keys: Vec::new(),
            },
            last_id,
        })
    }

    /// The events after `after` up to `upto`, in pages.
    async fn range(
        &self,
        after: EventId,
        upto: EventId,
    ) -> Result<Vec<(EventId, FleetEvent)>, LogError> {
        let mut out = Vec::new();
        let mut from = after;
        while from < upto {
            let stream = self.keys.stream.clone();
            let page: StreamRangeReply = self
                .run(|mut conn| async move {
                    redis::cmd("XRANGE")
                        .arg(&stream)
                        .arg(format!("({from}-0"))
                        .arg(format!("{upto}-0"))
                        .arg("COUNT")
                        .arg(1000)
                        .query_async(&mut conn)
                        .await
                })
                .await?;
            let Some(last) = page.ids.last().and_then(|e| entry_id(&e.id)) else {
                break;
            };
            out.extend(
                page.ids
                    .iter()
                    .filter_map(entry)
                    .map(|(id, p)| (id, p.event)),
            );
            from = last;
        }
        Ok(out)
    }

    /// Stores the fleet snapshot unless Redis has a newer one or another epoch.
    pub async fn save_snapshot(&self, snapshot: &FleetSnapshot) -> Result<bool, LogError> {
        let json = serde_json::to_string(snapshot).map_err(|e| LogError::Store(e.to_string()))?;
        let mut invocation = self.save_snapshot.prepare_invoke();
        invocation
            .key(&self.keys.snapshot)
            .key(&self.keys.epoch)
            .arg(snapshot.last_event_id)
            .arg(json)
            .arg(self.epoch());
        let stored: i64 = self
            .run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await?;
        Ok(stored == 1)
    }

    /// Drops the entries appended more than `age` ago (by Redis's clock), never one after the
    /// stored fleet snapshot; returns how many went.
    pub async fn trim_by_age(&self, age: Duration) -> Result<u64, LogError> {
        let mut invocation = self.trim_age.prepare_invoke();
        invocation
            .key(&self.keys.stream)
            .key(&self.keys.snapshot)
            .key(&self.keys.epoch)
            .arg(age.as_millis() as u64);
        self.run(|mut conn| async move { invocation.invoke_async(&mut conn).await })
            .await
    }

    /// The epoch Redis has now (`None` when it has none: restarted empty, nothing appended).
    /// The last id Redis has assigned (`None` before the first append).
    pub async fn head_id(&self) -> Result<Option<EventId>, LogError> {
        let key = self.keys.counter.clone();
        self.run(|mut conn| async move { redis::cmd("GET").arg(&key).query_async(&mut conn).await })
            .await
    }

    async fn current_epoch(&self) -> Result<Option<EventId>, LogError> {
        let key = self.keys.epoch.clone();
        self.run(|mut conn| async move { redis::cmd("GET").arg(&key).query_async(&mut conn).await })
            .await
    }
}

/// A reader of the stream on a connection of its own (a blocking read would stall the shared
/// multiplexed connection), for a node's tail.
pub struct Reader {
    log: Arc<RedisLog>,
    conn: Option<MultiplexedConnection>,
    /// The epoch this reader last saw.
    epoch: EventId,
}

impl RedisLog {
    /// A reader of this log's stream; its epoch starts as the one last seen here.
    pub fn reader(self: &Arc<Self>) -> Reader {
        Reader {
            epoch: self.epoch(),
            log: self.clone(),
            conn: None,
        }
    }
}

impl Reader {
    /// Waits up to a second for the entries after `after` and returns at most `count` of them,
    /// in id order (none when nothing came). Connects on first use and again after a failure;
    /// every answer or failure updates [`RedisLog::reachable`].
    pub async fn read(
        &mut self,
        after: EventId,
        count: usize,
    ) -> Result<Vec<(EventId, Prepared)>, LogError> {
        let mut conn = match self.conn.clone() {
            Some(conn) => conn,
            None => {
                let conn = self
                    .log
                    .connect(Duration::from_millis(BLOCK_MS as u64) + Duration::from_secs(2))
                    .await?;
                self.conn = Some(conn.clone());
                conn
            }
        };
        let options = StreamReadOptions::default().block(BLOCK_MS).count(count);
        let from = format!("{after}-0");
        let mut xread = redis::cmd("XREAD");
        xread
            .arg(&options)
            .arg("STREAMS")
            .arg(&self.log.keys.stream)
            .arg(&from);
        let reply = match xread
            .query_async::<Option<StreamReadReply>>(&mut conn)
            .await
        {
            Ok(reply) => reply,
            Err(e) => {
                self.conn = None;
                return Err(self.log.failed(e));
            }
        };
        self.log.reachable.store(true, Ordering::Release);
        Ok(reply
            .into_iter()
            .flat_map(|r| r.keys)
            .flat_map(|k| k.ids)
            .filter_map(|e| entry(&e))
            .collect())
    }

    /// The epoch Redis has now when it is not the one this reader saw last (Redis restarted
    /// empty or was flushed, and an append started a new life); the log remembers it too.
    /// `None` when it is the same, or Redis has none or does not answer.
    pub async fn new_epoch(&mut self) -> Option<EventId> {
        let epoch = self.log.current_epoch().await.ok()??;
        if epoch == self.epoch {
            return None;
        }
        self.epoch = epoch;
        self.log.epoch.store(epoch, Ordering::Release);
        Some(epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_ids_and_keys() {
        assert_eq!(entry_id("1796013612684250-0"), Some(1_796_013_612_684_250));
        assert_eq!(entry_id("17"), Some(17));
        assert_eq!(entry_id("x-0"), None);
        let keys = Keys::new("north");
        assert_eq!(keys.stream, "convoy:{north}:events");
        assert_eq!(keys.key_prefix, "convoy:{north}:key:");
    }
}
