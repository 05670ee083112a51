//! The event log: assigns ids to the simulator's events, keeps the last few in a replay ring,
//! fans them out to the open streams and keeps the fleet snapshot current with `Fleet::apply`.
//!
//! Everything that must be consistent happens under one lock: publishing an event (id, snapshot,
//! ring, fan-out), subscribing (resume decision, replay read, joining the fan-out) and taking a
//! snapshot. So a stream's replay and its live events meet with no gap and no repeat, and a
//! snapshot's `last_event_id` is exactly the last event it reflects.

use crate::sim::Simulator;
use bytes::Bytes;
use convoy_core::fleet::Fleet;
use convoy_core::sse;
use convoy_core::wire::{
    Envelope, EventId, FleetEvent, FleetMap, FleetSnapshot, ResetNotice, TruckDetail, Watch,
};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// An event as logged: its id, its truck (for filtering) and its SSE frame, encoded once and
/// shared by every stream.
#[derive(Debug, Clone)]
pub struct Logged {
    pub id: EventId,
    pub truck: Arc<str>,
    pub frame: Bytes,
}

/// Where a stream starts, given the id it asks to resume after.
#[derive(Debug, Clone, PartialEq)]
pub enum ResumePlan {
    /// No id, or nothing after it: live events only.
    Live,
    /// Replay the buffered events after this id, then live.
    ReplayAfter(EventId),
    /// The id cannot be resumed: tell the client to refetch, then live.
    Reset(ResetNotice),
}

/// Decides how a stream that asks to resume after `requested` starts.
///
/// `first_id` is this run's first id (earlier ids belong to a previous run), `floor` the oldest
/// id the ring can resume after (one before its first event; `latest` when it is empty) and
/// `latest` the last id published.
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
        "the id is from a previous server run"
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

/// What a new stream gets: where it starts and its live queue.
#[derive(Debug)]
pub struct Subscription {
    /// The buffered events after the resume id that the watch covers, oldest first.
    pub replay: Vec<Logged>,
    /// Set when the resume id could not be honoured.
    pub reset: Option<ResetNotice>,
    /// Live events after the replay; closed when the stream lagged past its capacity.
    pub live: mpsc::Receiver<Logged>,
    /// Set before `live` closes because this stream fell too far behind.
    pub lagged: Arc<AtomicBool>,
}

struct Subscriber {
    id: u64,
    watch: Watch,
    tx: mpsc::Sender<Logged>,
    lagged: Arc<AtomicBool>,
    on_lag: Option<CancellationToken>,
}

struct Inner {
    sim: Simulator,
    fleet: Fleet,
    ring: VecDeque<Logged>,
    next_id: EventId,
    subscribers: Vec<Subscriber>,
}

/// The event log shared by the simulation driver and every request.
pub struct Hub {
    inner: Mutex<Inner>,
    latest: AtomicU64,
    first_id: EventId,
    replay: usize,
    queue_capacity: usize,
}

/// A run's first event id: Unix ms at start times 1000, plus one. Ids of a later run start above
/// any earlier run's (fewer than 1000 events a millisecond) and stay below 2^53 for centuries.
pub fn first_id_for(start_unix_ms: u64) -> EventId {
    start_unix_ms.saturating_mul(1000) + 1
}

impl Hub {
    /// A hub over `sim`, whose first event gets `first_id`; it keeps the last `replay` events
    /// and gives each stream a queue of `queue_capacity` events.
    pub fn new(sim: Simulator, first_id: EventId, replay: usize, queue_capacity: usize) -> Hub {
        let mut fleet = Fleet::default();
        let before_first = first_id.saturating_sub(1);
        for mut truck in sim.states() {
            truck.last_event_id = before_first;
            fleet.insert(truck);
        }
        Hub {
            inner: Mutex::new(Inner {
                sim,
                fleet,
                ring: VecDeque::with_capacity(replay.min(1 << 16)),
                next_id: first_id,
                subscribers: Vec::new(),
            }),
            latest: AtomicU64::new(before_first),
            first_id,
            replay,
            queue_capacity: queue_capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing under this lock leaves the state half-updated in a way a panic could expose,
        // so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// This run's first event id.
    pub fn first_id(&self) -> EventId {
        self.first_id
    }

    /// The last id published (one before the first id until something is published).
    pub fn latest_id(&self) -> EventId {
        self.latest.load(Ordering::Acquire)
    }

    /// Steps the simulator to `now_ms` and publishes what it produced; returns how many events.
    pub fn tick(&self, now_ms: u64) -> usize {
        let mut inner = self.lock();
        let events = inner.sim.step(now_ms);
        let count = events.len();
        for event in events {
            self.publish_locked(&mut inner, event);
        }
        count
    }

    /// When the simulator next has something to say, Unix ms.
    pub fn poll_timeout(&self) -> u64 {
        self.lock().sim.poll_timeout()
    }

    /// Publishes one event (the simulator's events go through `tick`; tests may inject).
    pub fn publish(&self, event: FleetEvent) -> EventId {
        let mut inner = self.lock();
        self.publish_locked(&mut inner, event)
    }

    fn publish_locked(&self, inner: &mut Inner, event: FleetEvent) -> EventId {
        let id = inner.next_id;
        inner.next_id += 1;
        let data = serde_json::to_string(&event).unwrap_or_else(|e| {
            // Unreachable for these types (string keys, no custom serializers); keep ids
            // contiguous anyway by sending what went wrong.
            serde_json::json!({ "type": event.name(), "truck": event.truck(), "error": e.to_string() })
                .to_string()
        });
        let frame = Bytes::from(sse::encode_event(Some(id), Some(event.name()), &data));
        let truck: Arc<str> = Arc::from(event.truck());
        let envelope = Envelope { id, event };
        inner.fleet.apply(&envelope);
        let logged = Logged { id, truck, frame };
        if self.replay > 0 {
            if inner.ring.len() >= self.replay {
                inner.ring.pop_front();
            }
            inner.ring.push_back(logged.clone());
        }
        inner.subscribers.retain(|sub| {
            if !sub.watch.includes(&logged.truck) {
                return true;
            }
            match sub.tx.try_send(logged.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    sub.lagged.store(true, Ordering::Release);
                    if let Some(token) = &sub.on_lag {
                        token.cancel();
                    }
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        // After the fan-out: whoever reads `latest` finds every event up to it in its queue.
        self.latest.store(id, Ordering::Release);
        id
    }

    /// Opens stream `stream_id` for `watch`, resuming after `resume` when the ring allows.
    /// `on_lag` is cancelled if the stream falls more than the queue capacity behind (the server
    /// closes the connection with it, as a stalled client may never read again).
    pub fn subscribe(
        &self,
        stream_id: u64,
        watch: Watch,
        resume: Option<EventId>,
        on_lag: Option<CancellationToken>,
    ) -> Subscription {
        let (tx, live) = mpsc::channel(self.queue_capacity);
        let lagged = Arc::new(AtomicBool::new(false));
        let mut inner = self.lock();
        let latest = inner.next_id - 1;
        let floor = inner.ring.front().map_or(latest, |e| e.id - 1);
        let (replay, reset) = match plan_resume(self.first_id, floor, latest, resume) {
            ResumePlan::Live => (Vec::new(), None),
            ResumePlan::ReplayAfter(after) => {
                let start = inner.ring.partition_point(|e| e.id <= after);
                let replay = inner
                    .ring
                    .range(start..)
                    .filter(|e| watch.includes(&e.truck))
                    .cloned()
                    .collect();
                (replay, None)
            }
            ResumePlan::Reset(notice) => (Vec::new(), Some(notice)),
        };
        inner.subscribers.push(Subscriber {
            id: stream_id,
            watch,
            tx,
            lagged: lagged.clone(),
            on_lag,
        });
        Subscription {
            replay,
            reset,
            live,
            lagged,
        }
    }

    /// Drops stream `stream_id` from the fan-out (its guard calls this when it closes).
    pub fn unsubscribe(&self, stream_id: u64) {
        self.lock().subscribers.retain(|s| s.id != stream_id);
    }

    /// How many streams are in the fan-out.
    pub fn subscriber_count(&self) -> usize {
        self.lock().subscribers.len()
    }

    /// Every truck, and the id of the last event applied.
    pub fn snapshot(&self) -> FleetSnapshot {
        let inner = self.lock();
        let mut snapshot = inner.fleet.snapshot(&Watch::All);
        for truck in &mut snapshot.trucks {
            // No event carries the plan; a new trip's plan is read from the simulator.
            if let Some(planned) = inner.sim.planned_arrival_ms(&truck.id) {
                truck.planned_arrival_ms = planned;
            }
        }
        snapshot.last_event_id = inner.next_id - 1;
        snapshot
    }

    /// One truck with its current route; `None` for an unknown id.
    pub fn truck(&self, id: &str) -> Option<TruckDetail> {
        let inner = self.lock();
        let mut truck = inner.fleet.get(id)?.clone();
        let route = inner.sim.route(id)?.clone();
        if let Some(planned) = inner.sim.planned_arrival_ms(id) {
            truck.planned_arrival_ms = planned;
        }
        Some(TruckDetail { truck, route })
    }

    /// Depots and routes.
    pub fn map(&self) -> FleetMap {
        self.lock().sim.map()
    }
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

/// Steps the hub's simulator as time passes until `shutdown`. Wakes when the simulator has
/// something due, but at most every `min_tick` (events are batched per tick) and at least once a
/// second.
pub async fn drive(hub: Arc<Hub>, clock: Clock, min_tick: Duration, shutdown: CancellationToken) {
    let min_tick_ms = min_tick.as_millis().max(1) as u64;
    loop {
        let now = clock.now_ms();
        hub.tick(now);
        let next = hub
            .poll_timeout()
            .clamp(now + min_tick_ms, now + 1000.max(min_tick_ms));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(clock.instant_at(next)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimConfig;
    use convoy_core::wire::TruckStatus;

    const FIRST: EventId = 1_000_001;

    fn hub(replay: usize, capacity: usize) -> Hub {
        let sim = Simulator::new(
            &SimConfig {
                trucks: 3,
                rate: 1.0,
                seed: 1,
            },
            1000,
        );
        Hub::new(sim, FIRST, replay, capacity)
    }

    fn status(truck: &str) -> FleetEvent {
        FleetEvent::Status {
            truck: truck.into(),
            at_ms: 5,
            status: TruckStatus::Delayed,
            next_stop: 1,
        }
    }

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
    fn replay_then_live_without_gap_or_repeat_and_filtered() {
        let hub = hub(100, 100);
        for _ in 0..10 {
            hub.publish(status("T-01"));
            hub.publish(status("T-02"));
        }
        let after = FIRST + 4;
        let watch = Watch::parse_query("T-01").unwrap();
        let mut sub = hub.subscribe(1, watch, Some(after), None);
        hub.publish(status("T-01"));
        hub.publish(status("T-02"));
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
            hub.publish(status("T-01"));
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
    fn a_full_queue_drops_the_subscriber_and_signals_it() {
        let hub = hub(0, 4);
        let token = CancellationToken::new();
        let mut slow = hub.subscribe(1, Watch::All, None, Some(token.clone()));
        let mut fast = hub.subscribe(2, Watch::All, None, None);
        for _ in 0..4 {
            hub.publish(status("T-01"));
            fast.live.try_recv().unwrap();
        }
        assert!(!token.is_cancelled());
        hub.publish(status("T-01"));
        assert!(token.is_cancelled());
        assert!(slow.lagged.load(Ordering::Acquire));
        assert_eq!(hub.subscriber_count(), 1);
        for _ in 0..4 {
            slow.live.try_recv().unwrap();
        }
        assert!(matches!(
            slow.live.try_recv(),
            Err(mpsc::error::TryRecvError::Disconnected)
        ));
        assert!(fast.live.try_recv().is_ok());
    }

    #[test]
    fn snapshot_tracks_the_last_event() {
        let hub = hub(10, 10);
        assert_eq!(hub.snapshot().last_event_id, FIRST - 1);
        assert_eq!(hub.snapshot().trucks.len(), 3);
        let id = hub.publish(status("T-02"));
        let snapshot = hub.snapshot();
        assert_eq!(snapshot.last_event_id, id);
        let t2 = snapshot.trucks.iter().find(|t| t.id == "T-02").unwrap();
        assert_eq!((t2.status, t2.last_event_id), (TruckStatus::Delayed, id));
        assert!(hub.truck("T-02").is_some());
        assert!(hub.truck("T-09").is_none());
    }
}
