//! The hub: the one path every event takes, whoever produced it (the simulator, `POST
//! /api/ingest`). It appends to the event log's engine, keeps the fleet snapshot current with
//! `Fleet::apply`, and fans events out to the open streams. With a shared log (Redis) appends go
//! to the log and come back, in id order and from every node, through [`Hub::deliver`].
//!
//! Everything that must be consistent happens under one lock: appending (ids, snapshot,
//! fan-out), subscribing (resume decision, replay read, joining the fan-out) and taking a
//! snapshot. So a stream's replay and its live events meet with no gap and no repeat, and a
//! snapshot's `last_event_id` is exactly the last event it reflects.

use crate::fanout::{Fanout, Live};
use crate::log::redis::RedisLog;
use crate::log::{plan_resume, LogEngine, LogError, Logged, Prepared, ResumePlan, Retention};
use crate::metrics::{Metrics, Source};
use convoy_core::derive::{self, Fact};
use convoy_core::fleet::Fleet;
use convoy_core::trip::{Trip, TripConfig, TripPlan};
use convoy_core::wire::{
    AlertAck, Envelope, EventId, FleetEvent, FleetSnapshot, ResetNotice, TruckId, TruckState, Watch,
};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Events between two stored fleet snapshots (engines that outlive the process rebuild the
/// fleet from the last one plus the events after it).
pub const SNAPSHOT_EVERY: u64 = 1000;

/// What a producer submits: an event as it is, or a fact the appending node derives events
/// from (see [`convoy_core::derive`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Event(FleetEvent),
    Fact { truck: TruckId, fact: Fact },
}

impl Input {
    /// The truck it is about.
    pub fn truck(&self) -> &str {
        match self {
            Input::Event(event) => event.truck(),
            Input::Fact { truck, .. } => truck,
        }
    }
}

/// One input to append, with the producer's optional idempotency key (it makes the whole input
/// a no-op when seen again within the window; the input's first event records it).
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub key: Option<String>,
    pub input: Input,
}

impl Submission {
    /// A fact about `truck`, without a key.
    pub fn fact(truck: impl Into<TruckId>, fact: Fact) -> Submission {
        Submission {
            key: None,
            input: Input::Fact {
                truck: truck.into(),
                fact,
            },
        }
    }
}

impl From<FleetEvent> for Submission {
    fn from(event: FleetEvent) -> Submission {
        Submission {
            key: None,
            input: Input::Event(event),
        }
    }
}

/// The most positions `GET /api/trucks/{id}/track` answers (the newest).
pub const TRACK_POINTS: usize = 2_000;

pub use convoy_core::wire::TrackPoint;

/// Every truck's [`Trip`], kept in step with the log by following each applied event, and its
/// recent track.
struct Trips {
    config: TripConfig,
    trips: HashMap<TruckId, Trip>,
    tracks: HashMap<TruckId, VecDeque<TrackPoint>>,
}

impl Trips {
    fn new(config: TripConfig) -> Trips {
        Trips {
            config,
            trips: HashMap::new(),
            tracks: HashMap::new(),
        }
    }

    /// A copy of `truck`'s trip to derive on (a new one for a truck without).
    fn scratch(&self, truck: &str) -> Trip {
        self.trips
            .get(truck)
            .cloned()
            .unwrap_or_else(|| Trip::new(self.config))
    }

    /// Follows one appended event (see [`derive::follow`]).
    fn follow(&mut self, event: &FleetEvent) {
        if !matches!(
            event,
            FleetEvent::Plan { .. } | FleetEvent::Position { .. } | FleetEvent::Alert { .. }
        ) {
            return;
        }
        let truck = event.truck();
        if !self.trips.contains_key(truck) {
            self.trips.insert(truck.to_owned(), Trip::new(self.config));
        }
        if let Some(trip) = self.trips.get_mut(truck) {
            derive::follow(trip, event);
        }
        if let FleetEvent::Position {
            at_ms,
            lat,
            lon,
            speed_kph,
            reefer_c,
            ..
        } = event
        {
            let track = self.tracks.entry(truck.to_owned()).or_default();
            if track.len() == TRACK_POINTS {
                track.pop_front();
            }
            track.push_back(TrackPoint {
                at_ms: *at_ms,
                lat: *lat,
                lon: *lon,
                speed_kph: *speed_kph,
                reefer_c: *reefer_c,
            });
        }
    }
}

/// [`LogError::Invalid`]: input `index` of a batch cannot be derived; nothing of the batch is
/// appended.
fn underivable(index: usize, reason: String) -> LogError {
    LogError::Invalid { index, reason }
}

pub use crate::log::Outcome;

/// What a new stream gets: where it starts and its live queue.
#[derive(Debug)]
pub struct Subscription {
    /// The retained events after the resume id that the watch covers, oldest first.
    pub replay: Vec<Logged>,
    /// Set when the resume id could not be honoured.
    pub reset: Option<ResetNotice>,
    /// Live events after the replay; they end when the stream lagged past its capacity.
    pub live: Live,
    /// Set before `live` closes because this stream fell too far behind.
    pub lagged: Arc<AtomicBool>,
}

/// Idempotency keys seen within the window, and the ids their events got.
#[derive(Debug, Default)]
struct Keys {
    window_ms: u64,
    ids: HashMap<Arc<str>, EventId>,
    /// When each key was first seen, oldest first.
    order: VecDeque<(u64, Arc<str>)>,
    /// The keys' bytes, each counted once (the map and the queue share it).
    bytes: usize,
}

/// At most this many keys are remembered, whatever the window.
const MAX_KEYS: usize = 1 << 20;
/// At most this many bytes of keys are remembered (with their bookkeeping, about 100 bytes a
/// key on top), whatever the window: the oldest keys go first.
const MAX_KEY_BYTES: usize = 32 << 20;

impl Keys {
    fn expire(&mut self, now_ms: u64) {
        let cutoff = now_ms.saturating_sub(self.window_ms);
        while let Some((at, _)) = self.order.front() {
            if *at >= cutoff && self.order.len() <= MAX_KEYS && self.bytes <= MAX_KEY_BYTES {
                break;
            }
            if let Some((_, key)) = self.order.pop_front() {
                self.ids.remove(&key);
                self.bytes -= key.len();
            }
        }
    }

    fn insert(&mut self, key: String, id: EventId, now_ms: u64) {
        let key: Arc<str> = key.into();
        self.bytes += key.len();
        self.order.push_back((now_ms, key.clone()));
        self.ids.insert(key, id);
    }
}

struct Inner {
    engine: Box<dyn LogEngine>,
    fleet: Fleet,
    trips: Trips,
    fanout: Fanout,
    keys: Keys,
    since_snapshot: u64,
}

/// The event log shared by the producers and every request.
pub struct Hub {
    inner: Mutex<Inner>,
    latest: AtomicU64,
    /// The last id of the append being fanned out (`latest` once it is): a stream that batches
    /// waits until `latest` reaches it, so an append goes out as one message.
    fanning_to: AtomicU64,
    first_id: AtomicU64,
    describe: String,
    /// Whether appends wait for a disk (then they run on a blocking thread).
    blocking: bool,
    /// Set when the log is shared: appends go there, events come back through `deliver`.
    remote: Option<Arc<RedisLog>>,
    /// The last id published here, for appenders waiting to read their own writes.
    published: tokio::sync::watch::Sender<EventId>,
    /// Most trucks the fleet may hold: an append that would add more is refused whole.
    max_trucks: usize,
    /// False until a shared log has been read once ([`Hub::pending`] to [`Hub::load`]).
    loaded: AtomicBool,
    /// The server's metrics: append latency and errors, the publish stamp's clock.
    metrics: Arc<Metrics>,
}

/// How long an append to a shared log waits for its events to come back to this node (so the
/// node's fleet and streams reflect them when the producer is answered).
pub const READ_YOUR_WRITES: Duration = Duration::from_secs(2);

/// A run's first event id: Unix ms at start times 1000, plus one. Ids of a later run start above
/// any earlier run's (fewer than 1000 events a millisecond) and stay below 2^53 for centuries.
pub fn first_id_for(start_unix_ms: u64) -> EventId {
    start_unix_ms.saturating_mul(1000) + 1
}

/// A truck first heard of through an event: known only by its id until events fill it in.
pub fn new_truck(id: &str) -> TruckState {
    TruckState::new(id)
}

/// Applies an event, adding its truck first when the fleet does not know it yet.
fn apply(fleet: &mut Fleet, envelope: &Envelope) {
    if fleet.get(envelope.event.truck()).is_none() {
        fleet.insert(new_truck(envelope.event.truck()));
    }
    fleet.apply(envelope);
}

/// Every truck's trip and track rebuilt from the log's retained events: each plan, position and
/// `no_signal` alert followed in order.
fn rebuild_trips(engine: &dyn LogEngine, config: TripConfig) -> Trips {
    let mut trips = Trips::new(config);
    let events = match engine.read_after(engine.floor()) {
        Ok(events) => events,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the event log to rebuild the trips");
            return trips;
        }
    };
    for logged in events {
        let Some(data) = logged.data() else { continue };
        match serde_json::from_slice::<FleetEvent>(data) {
            Ok(event) => trips.follow(&event),
            Err(e) => tracing::warn!(id = logged.id, error = %e, "skipping an unreadable event"),
        }
    }
    trips
}

/// Events to append with their keys, and the index of each input's first event.
type Expanded = (Vec<(Option<String>, Prepared)>, Vec<usize>);

/// Derives the events of `inputs` against copies of `trips` (nothing is changed: the real trips
/// follow the events once appended). Returns the events with their keys (an input's key on its
/// first event), and the index of each input's first event; errs on the first input that
/// cannot be derived.
fn expand(
    trips: &Trips,
    inputs: Vec<(Option<String>, Input)>,
    now_ms: u64,
) -> Result<Expanded, (usize, String)> {
    let mut scratch: HashMap<TruckId, Trip> = HashMap::new();
    let mut out = Vec::with_capacity(inputs.len());
    let mut starts = Vec::with_capacity(inputs.len());
    for (index, (key, input)) in inputs.into_iter().enumerate() {
        starts.push(out.len());
        match input {
            Input::Event(event) => out.push((key, Prepared::new(event))),
            Input::Fact { truck, fact } => {
                let trip = scratch
                    .entry(truck.clone())
                    .or_insert_with(|| trips.scratch(&truck));
                let events = derive::derive(trip, &truck, fact, now_ms)
                    .map_err(|e| (index, e.to_string()))?;
                let mut key = key;
                for event in events {
                    out.push((key.take(), Prepared::new(event)));
                }
            }
        }
    }
    Ok((out, starts))
}

impl Hub {
    /// A hub over `engine`: the fleet is the engine's stored snapshot plus the events after it,
    /// and then every truck of `seed` it does not know yet (the simulator's fleet). Each stream
    /// gets a queue of `queue_capacity` events; idempotency keys are remembered for
    /// `key_window`.
    pub fn open(
        engine: Box<dyn LogEngine>,
        seed: Vec<TruckState>,
        queue_capacity: usize,
        key_window: Duration,
    ) -> Result<Hub, LogError> {
        let recovered = engine.recover()?;
        Hub::open_recovered(engine, recovered, seed, queue_capacity, key_window)
    }

    /// [`Hub::open`] with what was recovered read elsewhere (a shared log's snapshot and tail).
    pub fn open_recovered(
        engine: Box<dyn LogEngine>,
        recovered: crate::log::Recovered,
        seed: Vec<TruckState>,
        queue_capacity: usize,
        key_window: Duration,
    ) -> Result<Hub, LogError> {
        let latest = engine.latest_id();
        let (fleet, known) = rebuild(recovered, seed, latest, key_window);
        let trips = rebuild_trips(engine.as_ref(), TripConfig::default());
        Ok(Hub {
            latest: AtomicU64::new(latest),
            fanning_to: AtomicU64::new(latest),
            first_id: AtomicU64::new(engine.first_id()),
            describe: engine.describe(),
            blocking: engine.blocks(),
            remote: None,
            published: tokio::sync::watch::channel(latest).0,
            max_trucks: usize::MAX,
            loaded: AtomicBool::new(true),
            metrics: Arc::new(Metrics::new("memory")),
            inner: Mutex::new(Inner {
                engine,
                fleet,
                trips,
                fanout: Fanout::new(queue_capacity),
                keys: known,
                since_snapshot: 0,
            }),
        })
    }

    /// A hub with nothing loaded yet, for a shared log that has not answered: empty, it takes
    /// no appends and [`Hub::loaded`] is false until [`Hub::load`] gives it the log's state.
    pub fn pending(queue_capacity: usize, key_window: Duration) -> Hub {
        let hub = Hub::open_recovered(
            Box::new(crate::log::memory::MemoryLog::new(1, 0)),
            crate::log::Recovered::default(),
            Vec::new(),
            queue_capacity,
            key_window,
        )
        .expect("an empty memory log opens");
        hub.loaded.store(false, Ordering::Release);
        hub
    }

    /// Gives a [`Hub::pending`] hub the shared log's state as [`Hub::open_recovered`] would
    /// build it, then counts as loaded.
    pub fn load(
        &self,
        engine: Box<dyn LogEngine>,
        recovered: crate::log::Recovered,
        seed: Vec<TruckState>,
    ) {
        let mut inner = self.lock();
        let latest = engine.latest_id();
        let window = Duration::from_millis(inner.keys.window_ms);
        let (fleet, keys) = rebuild(recovered, seed, latest, window);
        self.first_id.store(engine.first_id(), Ordering::Release);
        inner.trips = rebuild_trips(engine.as_ref(), inner.trips.config);
        inner.engine = engine;
        inner.fleet = fleet;
        inner.keys = keys;
        inner.since_snapshot = 0;
        self.latest.store(latest, Ordering::Release);
        self.fanning_to.store(latest, Ordering::Release);
        drop(inner);
        // Before announcing: `wait_loaded` checks `loaded` when `published` changes.
        self.loaded.store(true, Ordering::Release);
        self.published.send_replace(latest);
    }

    /// Returns once the hub is loaded (at once for a local log).
    pub async fn wait_loaded(&self) {
        let mut published = self.published.subscribe();
        let _ = published.wait_for(|_| self.loaded()).await;
    }

    /// Whether the log's state is here: always for a local log, once read for a shared one.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// Makes this hub a node of the shared log `remote`: appends go to it, and its tail must
    /// call [`Hub::deliver`].
    pub fn shared_by(mut self, remote: Arc<RedisLog>) -> Hub {
        self.describe = remote.url().to_owned();
        self.remote = Some(remote);
        self
    }

    /// Derives with `config` (`--stale-after`): the trips are rebuilt from the log with it.
    pub fn with_trip_config(self, config: TripConfig) -> Hub {
        {
            let mut inner = self.lock();
            if inner.trips.config != config {
                inner.trips = rebuild_trips(inner.engine.as_ref(), config);
            }
        }
        self
    }

    /// The plan `truck` follows now, if any.
    pub fn plan(&self, truck: &str) -> Option<TripPlan> {
        self.lock().trips.trips.get(truck)?.plan().cloned()
    }

    /// `truck`'s newest positions at or after `since_ms`, oldest first, at most
    /// [`TRACK_POINTS`].
    pub fn track(&self, truck: &str, since_ms: u64) -> Vec<TrackPoint> {
        let inner = self.lock();
        let Some(track) = inner.trips.tracks.get(truck) else {
            return Vec::new();
        };
        let from = track.partition_point(|p| p.at_ms < since_ms);
        track.range(from..).copied().collect()
    }

    /// Appends the `no_signal` alerts due at `now_ms` (trips whose newest position is
    /// `--stale-after` old); returns how many events were appended. With a local engine they are
    /// judged and appended under one lock, so a position arriving meanwhile is never overtaken;
    /// with a shared log, against this node's trips as they are (a node that appends one makes
    /// the others' trips follow it, so they do not append it again).
    pub async fn tick(self: &Arc<Self>, now_ms: u64) -> Result<usize, LogError> {
        fn due(trips: &Trips, now_ms: u64) -> Vec<(Option<String>, Input)> {
            let mut events = Vec::new();
            for (truck, trip) in &trips.trips {
                if trip.poll_timeout().is_some_and(|due| due <= now_ms) {
                    let mut trip = trip.clone();
                    events.extend(derive::tick(&mut trip, truck, now_ms));
                }
            }
            events
                .into_iter()
                .map(|e| (None, Input::Event(e)))
                .collect()
        }
        if self.remote.is_none() {
            let hub = self.clone();
            return tokio::task::spawn_blocking(move || {
                let mut inner = hub.lock();
                let events = due(&inner.trips, now_ms);
                if events.is_empty() {
                    return Ok(0);
                }
                Ok(hub.append_locked(&mut inner, events, now_ms)?.len())
            })
            .await
            .map_err(|e| LogError::Store(e.to_string()))?;
        }
        let events = due(&self.lock().trips, now_ms);
        if events.is_empty() {
            return Ok(0);
        }
        let batch: Vec<Submission> = events
            .into_iter()
            .map(|(key, input)| Submission { key, input })
            .collect();
        Ok(self.append_async(batch, now_ms).await?.len())
    }

    /// Counts into `metrics` (a hub made without it counts into a registry of its own).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Hub {
        self.metrics = metrics;
        self
    }

    /// The server's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Refuses appends that would make the fleet hold more than `max_trucks` trucks
    /// ([`LogError::Refused`]; trucks it holds already are never refused).
    pub fn with_max_trucks(mut self, max_trucks: usize) -> Hub {
        self.max_trucks = max_trucks;
        self
    }

    /// [`LogError::Refused`] when `events` would bring the fleet past `max_trucks`.
    fn admit<'a>(
        &self,
        fleet: &Fleet,
        trucks: impl Iterator<Item = &'a str>,
    ) -> Result<(), LogError> {
        let mut new: Vec<&str> = trucks.filter(|truck| fleet.get(truck).is_none()).collect();
        new.sort_unstable();
        new.dedup();
        if new.is_empty() || fleet.len() + new.len() <= self.max_trucks {
            return Ok(());
        }
        let shown: Vec<&str> = new.iter().take(5).copied().collect();
        Err(LogError::Refused(format!(
            "the fleet holds {} trucks and --max-trucks is {}: {} new truck ids refused ({}{})",
            fleet.len(),
            self.max_trucks,
            new.len(),
            shown.join(", "),
            if new.len() > shown.len() { ", …" } else { "" }
        )))
    }

    /// The shared log, when there is one.
    pub fn remote(&self) -> Option<&Arc<RedisLog>> {
        self.remote.as_ref()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing under this lock leaves the state half-updated in a way a panic could expose,
        // so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The log's first event id (earlier ids belong to another log or run).
    pub fn first_id(&self) -> EventId {
        self.first_id.load(Ordering::Acquire)
    }

    /// The engine, as `--log` names it.
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// The last id issued (one before the first id until something is appended).
    pub fn latest_id(&self) -> EventId {
        self.latest.load(Ordering::Acquire)
    }

    /// Whether an append is being fanned out to the streams right now (for microseconds).
    fn fanning_out(&self) -> bool {
        self.latest.load(Ordering::Acquire) < self.fanning_to.load(Ordering::Acquire)
    }

    /// Returns once no append is being fanned out (at once when none is): every append
    /// announces its end on `published`, so a stream that batches sends an append whole.
    pub async fn fanned_out(&self) {
        if !self.fanning_out() {
            return;
        }
        let mut published = self.published.subscribe();
        // The condition is checked first, so an end announced before `subscribe` is not missed.
        let _ = published.wait_for(|_| !self.fanning_out()).await;
    }

    /// Appends `batch` atomically and in order, from async code: inline for the memory engine,
    /// on a blocking thread for one that waits for a disk; to the shared log, then waiting (up
    /// to [`READ_YOUR_WRITES`]) until the events are published here, for a shared one.
    pub async fn append_async(
        self: &Arc<Self>,
        batch: Vec<Submission>,
        now_ms: u64,
    ) -> Result<Vec<Outcome>, LogError> {
        if !self.loaded() {
            return Err(LogError::Unavailable(NOT_LOADED.to_owned()));
        }
        let Some(remote) = &self.remote else {
            if !self.blocking {
                return self.append(batch, now_ms);
            }
            let hub = self.clone();
            return tokio::task::spawn_blocking(move || hub.append(batch, now_ms))
                .await
                .map_err(|e| LogError::Store(e.to_string()))?;
        };
        // Against this node's fleet: other nodes may add trucks at the same moment, so a shared
        // log's fleet can pass the limit by what they add in that moment.
        // Derived against this node's trips, as they are now: like `admit`, two nodes deriving
        // for one truck at the same moment may both append from the same trip state.
        let inputs: Vec<(Option<String>, Input)> =
            batch.into_iter().map(|s| (s.key, s.input)).collect();
        let derived = {
            let inner = self.lock();
            self.admit(&inner.fleet, inputs.iter().map(|(_, input)| input.truck()))?;
            expand(&inner.trips, inputs.clone(), now_ms)
        };
        // An input that cannot be derived may be one appended already, whose retry the trip it
        // moved now refuses (a position not after its own): its key says so, as the local
        // engines check before deriving. Asked only then, so a batch that derives costs no
        // round trip more; the append script still dedupes the rest.
        let mut earlier: Vec<Option<EventId>> = vec![None; inputs.len()];
        let (prepared, starts) = match derived {
            Ok(derived) => derived,
            Err((index, reason)) => {
                let keyed: Vec<usize> = (0..inputs.len())
                    .filter(|&i| inputs[i].0.is_some())
                    .collect();
                if inputs[index].0.is_some() {
                    let keys: Vec<&str> = keyed
                        .iter()
                        .filter_map(|&i| inputs[i].0.as_deref())
                        .collect();
                    for (&i, id) in keyed.iter().zip(remote.key_ids(&keys).await?) {
                        earlier[i] = id;
                    }
                }
                if earlier[index].is_none() {
                    return Err(underivable(index, reason));
                }
                let fresh_index: Vec<usize> = (0..inputs.len())
                    .filter(|&i| earlier[i].is_none())
                    .collect();
                let fresh = fresh_index.iter().map(|&i| inputs[i].clone()).collect();
                let inner = self.lock();
                expand(&inner.trips, fresh, now_ms)
                    .map_err(|(index, reason)| underivable(fresh_index[index], reason))?
            }
        };
        let outcomes = if prepared.is_empty() {
            Vec::new()
        } else {
            let started = std::time::Instant::now();
            let outcomes = remote.append(&prepared, self.latest_id()).await;
            self.metrics
                .append_done(started.elapsed(), outcomes.is_ok());
            outcomes?
        };
        if let Some(last) = outcomes.iter().map(|o| o.id()).max() {
            let mut published = self.published.subscribe();
            let _ =
                tokio::time::timeout(READ_YOUR_WRITES, published.wait_for(|&id| id >= last)).await;
        }
        // One outcome per input: its first event's, or the id its key got before.
        let mut fresh = starts.iter().map(|&i| outcomes[i]);
        earlier
            .iter()
            .map(|id| id.map(Outcome::Duplicate).or_else(|| fresh.next()))
            .collect::<Option<Vec<Outcome>>>()
            .ok_or_else(|| LogError::Store("an input lost its outcome".into()))
    }

    /// Publishes events of a shared log in id order (its tail calls this): ids at or below the
    /// latest are skipped, so reading an entry twice is harmless.
    pub fn deliver(&self, events: Vec<(EventId, Prepared)>, now_ms: u64) {
        let mut inner = self.lock();
        let mut latest = inner.engine.latest_id();
        if let Some(last) = events.iter().map(|(id, _)| *id).max() {
            self.fanning_to.fetch_max(last, Ordering::AcqRel);
        }
        for (id, prepared) in events {
            if id <= latest {
                continue;
            }
            let mut logged =
                Logged::encode(id, prepared.truck, prepared.event.name(), &prepared.data);
            if let Err(e) = inner.engine.adopt(std::slice::from_ref(&logged), now_ms) {
                tracing::error!(id, error = %e, "cannot keep an event read from the shared log");
                // Nothing more of this batch comes: no stream waits for it.
                self.fanning_to.store(latest, Ordering::Release);
                self.published.send_replace(latest);
                return;
            }
            latest = id;
            let envelope = Envelope {
                id,
                event: prepared.event,
            };
            inner.trips.follow(&envelope.event);
            apply(&mut inner.fleet, &envelope);
            logged.published_us = crate::metrics::now_us();
            inner.fanout.publish(&logged);
            self.latest.store(id, Ordering::Release);
        }
        drop(inner);
        self.published.send_replace(latest);
    }

    /// The shared log started a new epoch at `first_id`: resuming from before it is a reset.
    pub fn set_first_id(&self, first_id: EventId) {
        let mut inner = self.lock();
        inner.engine.set_first_id(first_id);
        self.first_id.store(first_id, Ordering::Release);
    }

    /// Waits (up to `wait`) until this node has published `id`; whether it has. A client that
    /// read up to `id` on a node that is ahead resumes here once this node caught up.
    pub async fn caught_up(&self, id: EventId, wait: Duration) -> bool {
        let mut published = self.published.subscribe();
        tokio::time::timeout(wait, published.wait_for(|&latest| latest >= id))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Appends `batch` atomically, in order, and publishes it: each fact is derived into its
    /// events against the trucks' trips under the same lock, then every event gets the next id;
    /// on an error (a fact that cannot be derived: [`LogError::Invalid`] with its index) none
    /// does and nothing is published. An input whose key was seen within the window (in an
    /// earlier call or earlier in this batch) is not appended again. One outcome per input: the
    /// id of its first event. This blocks on the engine: from async code, use
    /// [`Hub::append_async`]. A shared log's hub refuses.
    pub fn append(&self, batch: Vec<Submission>, now_ms: u64) -> Result<Vec<Outcome>, LogError> {
        if self.remote.is_some() {
            return Err(LogError::Config(
                "a shared log is appended to with append_async".into(),
            ));
        }
        let inputs: Vec<(Option<String>, Input)> =
            batch.into_iter().map(|s| (s.key, s.input)).collect();
        let mut inner = self.lock();
        self.append_locked(&mut inner, inputs, now_ms)
    }

    /// Acknowledges alert `alert_id` for operator `by`, when `in_scope` says the alert's truck
    /// is theirs: appends an `alert_acked` event like any other (the log records who and when,
    /// the fleet and every stream whose watch includes the truck get it). With a local engine
    /// the check and the append happen under the hub's lock, so of two concurrent
    /// acknowledgements exactly one is appended and the other is [`AckError::AlreadyAcked`].
    /// With a shared log two nodes may both append one; `Fleet::apply` keeps the first, on every
    /// node and client alike.
    pub async fn ack(
        self: &Arc<Self>,
        alert_id: EventId,
        in_scope: impl Fn(&str) -> bool + Send + 'static,
        by: String,
        now_ms: u64,
    ) -> Result<Acked, AckError> {
        if self.remote.is_none() {
            let hub = self.clone();
            let acked = tokio::task::spawn_blocking(move || {
                let mut inner = hub.lock();
                let event = ack_event(&inner.fleet, alert_id, &in_scope, by, now_ms)?;
                let outcome = hub.append_locked(
                    &mut inner,
                    vec![(None, Input::Event(event.clone()))],
                    now_ms,
                )?;
                Ok(Acked {
                    event_id: outcome[0].id(),
                    event,
                })
            })
            .await
            .map_err(|e| AckError::Log(LogError::Store(e.to_string())))?;
            if acked.is_ok() {
                self.metrics.appended(Source::Ack, 1);
            }
            return acked;
        }
        let event = ack_event(&self.lock().fleet, alert_id, &in_scope, by, now_ms)?;
        let outcome = self
            .append_async(vec![event.clone().into()], now_ms)
            .await?;
        self.metrics.appended(Source::Ack, 1);
        Ok(Acked {
            event_id: outcome[0].id(),
            event,
        })
    }

    fn append_locked(
        &self,
        inner: &mut MutexGuard<'_, Inner>,
        inputs: Vec<(Option<String>, Input)>,
        now_ms: u64,
    ) -> Result<Vec<Outcome>, LogError> {
        inner.keys.expire(now_ms);
        // For each submission: its earlier id, or the batch index of its first copy.
        let mut earlier: Vec<Option<Result<EventId, usize>>> = vec![None; inputs.len()];
        let mut first_in_batch: HashMap<&str, usize> = HashMap::new();
        for (i, (key, _)) in inputs.iter().enumerate() {
            let Some(key) = key.as_deref() else { continue };
            if let Some(&id) = inner.keys.ids.get(key) {
                earlier[i] = Some(Ok(id));
            } else if let Some(&first) = first_in_batch.get(key) {
                earlier[i] = Some(Err(first));
            } else {
                first_in_batch.insert(key, i);
            }
        }
        drop(first_in_batch);
        let fresh_index: Vec<usize> = (0..inputs.len())
            .filter(|&i| earlier[i].is_none())
            .collect();
        let count = inputs.len();
        let fresh: Vec<(Option<String>, Input)> = inputs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| earlier[*i].is_none())
            .map(|(_, input)| input)
            .collect();
        self.admit(&inner.fleet, fresh.iter().map(|(_, input)| input.truck()))?;
        // Derived under the lock the append holds, so no other append moves a trip meanwhile.
        let (expanded, starts) = expand(&inner.trips, fresh, now_ms)
            .map_err(|(index, reason)| underivable(fresh_index[index], reason))?;
        let (keys, events): (Vec<Option<String>>, Vec<Prepared>) = expanded.into_iter().unzip();
        let started = std::time::Instant::now();
        let logged = inner.engine.append(&events, &keys, now_ms);
        self.metrics.append_done(started.elapsed(), logged.is_ok());
        let logged = logged?;
        if let Some(last) = logged.last() {
            self.fanning_to.store(last.id, Ordering::Release);
        }
        let first_ids: Vec<EventId> = starts.iter().map(|&i| logged[i].id).collect();
        let mut ids = vec![0; count];
        for (index, id) in fresh_index.iter().zip(&first_ids) {
            ids[*index] = *id;
        }
        let appended = events.len();
        for ((event, key), mut logged) in events.into_iter().zip(keys).zip(logged) {
            if let Some(key) = key {
                inner.keys.insert(key, logged.id, now_ms);
            }
            let envelope = Envelope {
                id: logged.id,
                event: event.event,
            };
            inner.trips.follow(&envelope.event);
            apply(&mut inner.fleet, &envelope);
            logged.published_us = crate::metrics::now_us();
            inner.fanout.publish(&logged);
            // After the fan-out: whoever reads `latest` finds every event up to it in its queue.
            self.latest.store(logged.id, Ordering::Release);
        }
        self.published.send_replace(inner.engine.latest_id());
        inner.since_snapshot += appended as u64;
        if inner.since_snapshot >= SNAPSHOT_EVERY {
            store_snapshot_later(inner);
        }
        Ok(earlier
            .iter()
            .enumerate()
            .map(|(i, earlier)| match earlier {
                None => Outcome::Appended(ids[i]),
                Some(Ok(id)) => Outcome::Duplicate(*id),
                Some(Err(first)) => Outcome::Duplicate(ids[*first]),
            })
            .collect())
    }

    /// Opens stream `stream_id` for `watch`, resuming after `resume` when the log allows.
    /// `on_lag` is cancelled if the stream falls more than the queue capacity behind (the server
    /// closes the connection with it, as a stalled client may never read again).
    pub fn subscribe(
        &self,
        stream_id: u64,
        watch: Watch,
        resume: Option<EventId>,
        on_lag: Option<CancellationToken>,
    ) -> Subscription {
        let mut inner = self.lock();
        let latest = inner.engine.latest_id();
        let floor = inner.engine.floor();
        let first_id = self.first_id();
        let (replay, reset) = match plan_resume(first_id, floor, latest, resume) {
            ResumePlan::Live => (Vec::new(), None),
            ResumePlan::ReplayAfter(after) => match inner.engine.read_after(after) {
                Ok(events) => {
                    let replay = events
                        .into_iter()
                        .filter(|e| watch.includes(&e.truck))
                        .collect();
                    (replay, None)
                }
                Err(e) => (
                    Vec::new(),
                    Some(ResetNotice {
                        reason: format!("the event log could not be read: {e}"),
                        oldest_id: floor,
                        latest_id: latest,
                    }),
                ),
            },
            ResumePlan::Reset(notice) => (Vec::new(), Some(notice)),
        };
        let (live, lagged) = inner.fanout.subscribe(stream_id, watch, on_lag);
        Subscription {
            replay,
            reset,
            live,
            lagged,
        }
    }

    /// Sends every open stream a keep-alive.
    pub fn keep_streams_alive(&self) {
        self.lock().fanout.keep_alive();
    }

    /// Ends every open stream once it has read what was sent to it, and every stream that
    /// subscribes from now on at once: the server is shutting down.
    pub fn close_streams(&self) {
        self.lock().fanout.close();
    }

    /// Drops stream `stream_id` from the fan-out (its guard calls this when it closes).
    pub fn unsubscribe(&self, stream_id: u64) {
        self.lock().fanout.remove(stream_id);
    }

    /// How many streams are in the fan-out.
    pub fn subscriber_count(&self) -> usize {
        self.lock().fanout.len()
    }

    /// Every truck, and the id of the last event issued.
    pub fn snapshot(&self) -> FleetSnapshot {
        snapshot_of(&self.lock())
    }

    /// One truck's state; `None` for an unknown id.
    pub fn truck(&self, id: &str) -> Option<TruckState> {
        self.lock().fleet.get(id).cloned()
    }

    /// Stores the fleet snapshot now (at shutdown, so the next start replays nothing).
    pub fn checkpoint(&self) -> Result<(), LogError> {
        save_snapshot(&mut self.lock())
    }

    /// Drops history that `retention` no longer covers; returns how many events went. Blocks on
    /// the engine.
    pub fn trim(&self, retention: Retention, now_ms: u64) -> Result<u64, LogError> {
        self.lock().engine.trim(retention, now_ms)
    }

    /// The oldest id a stream can resume after.
    pub fn floor(&self) -> EventId {
        self.lock().engine.floor()
    }
}

/// What is said while a shared log has not been read yet.
pub const NOT_LOADED: &str = "the event log is not reachable yet: this node is still waiting to \
                              read it";

/// The fleet a log's stored snapshot and the events after it make, with every truck of `seed`
/// it does not know yet (at `latest`), and the stored idempotency keys.
fn rebuild(
    recovered: crate::log::Recovered,
    seed: Vec<TruckState>,
    latest: EventId,
    key_window: Duration,
) -> (Fleet, Keys) {
    let mut fleet = recovered
        .snapshot
        .map(Fleet::from_snapshot)
        .unwrap_or_default();
    for (id, event) in recovered.tail {
        apply(&mut fleet, &Envelope { id, event });
    }
    let mut known = Keys {
        window_ms: key_window.as_millis() as u64,
        ..Keys::default()
    };
    let mut stored_keys = recovered.keys;
    stored_keys.sort_by_key(|(_, _, at)| *at);
    for (key, id, at) in stored_keys {
        known.insert(key, id, at);
    }
    for mut truck in seed {
        if fleet.get(&truck.id).is_none() {
            truck.last_event_id = latest;
            fleet.insert(truck);
        }
    }
    (fleet, known)
}

/// An acknowledgement that was appended.
#[derive(Debug, Clone, PartialEq)]
pub struct Acked {
    /// The `alert_acked` event's id.
    pub event_id: EventId,
    /// The `alert_acked` event.
    pub event: FleetEvent,
}

/// Why an acknowledgement was refused.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    /// No active alert has this id among the operator's trucks (cleared, replaced, never
    /// raised, or on a truck outside the scope: existence does not leak).
    #[error("no alert {0} among this operator's trucks")]
    Unknown(EventId),
    /// The alert was acknowledged already.
    #[error("alert {alert_id} was acknowledged by {} already", ack.by)]
    AlreadyAcked { alert_id: EventId, ack: AlertAck },
    #[error(transparent)]
    Log(#[from] LogError),
}

/// The `alert_acked` event for `alert_id`, when it is an active, unacknowledged alert of a truck
/// `in_scope` accepts.
fn ack_event(
    fleet: &Fleet,
    alert_id: EventId,
    in_scope: &dyn Fn(&str) -> bool,
    by: String,
    now_ms: u64,
) -> Result<FleetEvent, AckError> {
    // 0 is no event's id: alerts kept from before alerts had ids carry it.
    if alert_id == 0 {
        return Err(AckError::Unknown(alert_id));
    }
    let (truck, alert) = fleet
        .trucks()
        .filter(|truck| in_scope(&truck.id))
        .find_map(|truck| {
            let alert = truck.alerts.iter().find(|a| a.id == alert_id)?;
            Some((truck, alert))
        })
        .ok_or(AckError::Unknown(alert_id))?;
    if let Some(ack) = &alert.acked {
        return Err(AckError::AlreadyAcked {
            alert_id,
            ack: ack.clone(),
        });
    }
    Ok(FleetEvent::AlertAcked {
        truck: truck.id.clone(),
        at_ms: now_ms,
        alert_id,
        by,
    })
}

fn snapshot_of(inner: &Inner) -> FleetSnapshot {
    let mut snapshot = inner.fleet.snapshot(&Watch::All);
    snapshot.last_event_id = inner.engine.latest_id();
    snapshot
}

/// Stores the fleet snapshot off the append path: only the copy is taken under the hub's lock,
/// and a thread of its own encodes and writes it while appends go on. While one write is under
/// way the next waits for the following [`SNAPSHOT_EVERY`] events. The events are stored
/// already, so a failed snapshot only means a longer rebuild at start.
fn store_snapshot_later(inner: &mut Inner) {
    let Some(writer) = inner.engine.snapshot_writer() else {
        if let Err(e) = save_snapshot(inner) {
            tracing::error!(error = %e, "cannot store the fleet snapshot");
        }
        return;
    };
    let Some(claim) = writer.claim() else {
        return;
    };
    let snapshot = snapshot_of(inner);
    inner.since_snapshot = 0;
    let spawned = std::thread::Builder::new()
        .name("convoy-snapshot".into())
        .spawn(move || {
            if let Err(e) = claim.write(&snapshot) {
                tracing::error!(error = %e, "cannot store the fleet snapshot");
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start storing the fleet snapshot");
    }
}

fn save_snapshot(inner: &mut Inner) -> Result<(), LogError> {
    let snapshot = snapshot_of(inner);
    inner.engine.save_snapshot(&snapshot)?;
    inner.since_snapshot = 0;
    Ok(())
}

/// Maps the monotonic clock onto Unix ms, so simulated time advances with wall time and never
/// goes back when the wall clock is adjusted.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    start: tokio::time::Instant,
    start_unix_ms: u64,
}

impl Clock {
    /// A clock reading `start_unix_ms` now.
    pub fn new(start_unix_ms: u64) -> Clock {
        Clock {
            start: tokio::time::Instant::now(),
            start_unix_ms,
        }
    }

    /// Now, Unix ms.
    pub fn now_ms(&self) -> u64 {
        self.start_unix_ms + self.start.elapsed().as_millis() as u64
    }

    /// The instant at which `now_ms()` reads `unix_ms`.
    pub fn instant_at(&self, unix_ms: u64) -> tokio::time::Instant {
        self.start + Duration::from_millis(unix_ms.saturating_sub(self.start_unix_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fanout::{Delivery, TryRecvError};
    use crate::log::memory::MemoryLog;
    use convoy_core::wire::TruckStatus;

    const FIRST: EventId = 1_000_001;

    fn hub(replay: usize, capacity: usize) -> Hub {
        let seed = ["T-01", "T-02", "T-03"].map(new_truck).to_vec();
        Hub::open(
            Box::new(MemoryLog::new(FIRST, replay)),
            seed,
            capacity,
            Duration::from_secs(60),
        )
        .unwrap()
    }

    fn status(truck: &str) -> FleetEvent {
        FleetEvent::Status {
            truck: truck.into(),
            at_ms: 5,
            status: TruckStatus::Delayed,
            next_stop: 1,
        }
    }

    fn publish(hub: &Hub, event: FleetEvent) -> EventId {
        hub.append(vec![event.into()], 0).unwrap()[0].id()
    }

    fn keyed(key: &str, truck: &str) -> Submission {
        Submission {
            key: Some(key.into()),
            input: Input::Event(status(truck)),
        }
    }

    #[test]
    fn idempotency_keys_are_bounded_in_bytes_whatever_the_window() {
        let mut keys = Keys {
            window_ms: u64::MAX,
            ..Keys::default()
        };
        let long = "k".repeat(120);
        let count = MAX_KEY_BYTES / 128 + 1000;
        for i in 0..count {
            keys.expire(0);
            keys.insert(format!("{long}{i:08}"), i as u64, 0);
        }
        keys.expire(0);
        assert!(keys.bytes <= MAX_KEY_BYTES, "{}", keys.bytes);
        assert_eq!(keys.ids.len(), keys.order.len());
        // The oldest went first; the newest is remembered.
        assert!(!keys.ids.contains_key(format!("{long}{:08}", 0).as_str()));
        let newest = format!("{long}{:08}", count - 1);
        assert_eq!(keys.ids.get(newest.as_str()), Some(&(count as u64 - 1)));
    }

    #[tokio::test]
    async fn keep_alives_reach_every_stream_and_readers_of_events_pass_over_them() {
        let hub = hub(100, 100);
        let mut all = hub.subscribe(1, Watch::All, None, None);
        let mut few = hub.subscribe(2, Watch::parse_query("T-01").unwrap(), None, None);
        hub.keep_streams_alive();
        for sub in [&mut all, &mut few] {
            assert!(matches!(sub.live.recv().await, Some(Delivery::KeepAlive)));
        }
        hub.keep_streams_alive();
        publish(&hub, status("T-01"));
        for sub in [&mut all, &mut few] {
            assert_eq!(sub.live.try_recv().unwrap().id, FIRST);
            assert_eq!(sub.live.try_recv().unwrap_err(), TryRecvError::Empty);
        }
    }

    #[tokio::test]
    async fn closing_the_streams_ends_each_after_what_it_was_sent_and_not_as_lagged() {
        let hub = hub(100, 100);
        let mut all = hub.subscribe(1, Watch::All, None, None);
        let mut few = hub.subscribe(2, Watch::parse_query("T-01").unwrap(), None, None);
        publish(&hub, status("T-01"));
        hub.close_streams();
        publish(&hub, status("T-01"));
        for sub in [&mut all, &mut few] {
            let Some(Delivery::Event(event)) = sub.live.recv().await else {
                panic!("the event sent before closing is read first");
            };
            assert_eq!(event.id, FIRST);
            assert!(sub.live.recv().await.is_none());
            assert!(!sub.lagged.load(Ordering::Acquire));
        }
        let mut late = hub.subscribe(3, Watch::All, None, None);
        assert!(
            late.live.recv().await.is_none(),
            "a stream opened after it ends at once"
        );
        assert!(!late.lagged.load(Ordering::Acquire));
    }

    #[test]
    fn replay_then_live_without_gap_or_repeat_and_filtered() {
        let hub = hub(100, 100);
        for _ in 0..10 {
            publish(&hub, status("T-01"));
            publish(&hub, status("T-02"));
        }
        let after = FIRST + 4;
        let watch = Watch::parse_query("T-01").unwrap();
        let mut sub = hub.subscribe(1, watch, Some(after), None);
        publish(&hub, status("T-01"));
        publish(&hub, status("T-02"));
        let replayed: Vec<_> = sub.replay.iter().map(|e| e.id).collect();
        let expected: Vec<_> = (after + 2..FIRST + 20).step_by(2).collect();
        assert_eq!(replayed, expected);
        let live = sub.live.try_recv().unwrap();
        assert_eq!(live.id, FIRST + 20);
        assert!(sub.live.try_recv().is_err());
        assert!(std::str::from_utf8(&live.frame)
            .unwrap()
            .starts_with(&format!("id: {}\nevent: status\n", FIRST + 20)));
    }

    #[test]
    fn ring_is_bounded_and_old_ids_reset() {
        let hub = hub(5, 100);
        for _ in 0..20 {
            publish(&hub, status("T-01"));
        }
        assert!(hub
            .subscribe(1, Watch::All, Some(FIRST), None)
            .reset
            .is_some());
        let sub = hub.subscribe(2, Watch::All, Some(FIRST + 14), None);
        assert!(sub.reset.is_none());
        assert_eq!(sub.replay.len(), 5);
    }

    #[test]
    fn a_stream_more_than_its_capacity_behind_is_dropped_and_signalled() {
        let hub = hub(0, 4);
        let token = CancellationToken::new();
        let mut slow = hub.subscribe(1, Watch::All, None, Some(token.clone()));
        let mut fast = hub.subscribe(2, Watch::All, None, None);
        let filtered_token = CancellationToken::new();
        let t2 = Watch::parse_query("T-02").unwrap();
        let mut filtered = hub.subscribe(3, t2, None, Some(filtered_token.clone()));
        for _ in 0..4 {
            publish(&hub, status("T-01"));
            fast.live.try_recv().unwrap();
        }
        assert!(!token.is_cancelled());
        // Exactly at its limit, the slow stream still finds everything it has not read.
        assert_eq!(slow.live.try_recv().unwrap().id, FIRST);
        publish(&hub, status("T-01"));
        publish(&hub, status("T-01"));
        assert!(token.is_cancelled());
        assert!(slow.lagged.load(Ordering::Acquire));
        assert_eq!(slow.live.try_recv().unwrap_err(), TryRecvError::Closed);
        assert_eq!(hub.subscriber_count(), 2);
        for _ in 0..2 {
            fast.live.try_recv().unwrap();
        }
        assert_eq!(fast.live.try_recv().unwrap_err(), TryRecvError::Empty);
        // A filtered stream counts only its own trucks' events against its queue.
        assert_eq!(filtered.live.try_recv().unwrap_err(), TryRecvError::Empty);
        for _ in 0..5 {
            publish(&hub, status("T-02"));
            fast.live.try_recv().unwrap();
        }
        assert!(filtered_token.is_cancelled());
        assert_eq!(hub.subscriber_count(), 1);
        hub.unsubscribe(2);
        assert_eq!(hub.subscriber_count(), 0);
    }

    #[test]
    fn an_id_jump_at_a_new_epoch_is_not_lag() {
        let hub = hub(100, 4);
        let token = CancellationToken::new();
        let mut sub = hub.subscribe(1, Watch::All, None, Some(token.clone()));
        let far = FIRST + 1_000_000;
        hub.set_first_id(far);
        hub.deliver(vec![(far, Prepared::new(status("T-01")))], 0);
        assert!(!token.is_cancelled());
        assert_eq!(sub.live.try_recv().unwrap().id, far);
        assert_eq!(hub.snapshot().last_event_id, far);
        let before = hub.subscribe(2, Watch::All, Some(FIRST), None);
        assert!(before.reset.unwrap().reason.contains("previous"));
    }

    #[test]
    fn snapshot_tracks_the_last_event_and_new_trucks_join() {
        let hub = hub(10, 10);
        assert_eq!(hub.snapshot().last_event_id, FIRST - 1);
        assert_eq!(hub.snapshot().trucks.len(), 3);
        let id = publish(&hub, status("T-02"));
        let snapshot = hub.snapshot();
        assert_eq!(snapshot.last_event_id, id);
        let t2 = snapshot.trucks.iter().find(|t| t.id == "T-02").unwrap();
        assert_eq!((t2.status, t2.last_event_id), (TruckStatus::Delayed, id));
        assert!(hub.truck("T-09").is_none());
        let id = publish(&hub, status("T-09"));
        let t9 = hub.truck("T-09").unwrap();
        assert_eq!((t9.status, t9.last_event_id), (TruckStatus::Delayed, id));
        assert_eq!(hub.snapshot().trucks.len(), 4);
    }

    #[test]
    fn keys_make_a_retry_a_no_op_within_the_window() {
        let hub = hub(100, 100);
        let first = hub
            .append(vec![keyed("a", "T-01"), keyed("b", "T-02")], 1_000)
            .unwrap();
        assert_eq!(
            first,
            [Outcome::Appended(FIRST), Outcome::Appended(FIRST + 1)]
        );
        // A retry with one new event, and a key repeated inside the batch.
        let retry = hub
            .append(
                vec![keyed("a", "T-01"), keyed("c", "T-03"), keyed("c", "T-03")],
                2_000,
            )
            .unwrap();
        assert_eq!(
            retry,
            [
                Outcome::Duplicate(FIRST),
                Outcome::Appended(FIRST + 2),
                Outcome::Duplicate(FIRST + 2)
            ]
        );
        assert_eq!(hub.latest_id(), FIRST + 2);
        // After the window the key is new again.
        let later = hub.append(vec![keyed("a", "T-01")], 62_001).unwrap();
        assert_eq!(later, [Outcome::Appended(FIRST + 3)]);
    }
}
