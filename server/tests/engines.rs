//! The event-log contract, run against every engine through the hub (the server's one append
//! and subscribe path): append and read-since, trimming by count and by age, the reasons a
//! resume is refused, snapshot consistency, and concurrent appends that keep ids gap-free.

mod common;

use common::{RedisServer, TempDir};
use convoy_core::wire::{EventId, FleetEvent, TruckStatus, Watch};
use convoy_server::hub::{new_truck, Clock, Hub, Outcome, Submission};
use convoy_server::log::redis::RedisLog;
use convoy_server::log::{self, LogSpec, Retention};
use convoy_server::tail::tail;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A hub over one engine, its first id, and whatever must live as long as it.
struct Subject {
    hub: Arc<Hub>,
    first: EventId,
    _keep: Vec<Box<dyn std::any::Any + Send>>,
}

const FIRST: EventId = 1_000_000_001;
const WINDOW: Duration = Duration::from_secs(60);

fn seed() -> Vec<convoy_core::wire::TruckState> {
    vec![new_truck("T-01"), new_truck("T-02")]
}

async fn memory(replay: usize) -> Subject {
    local(&LogSpec::Memory, replay, Vec::new())
}

async fn file(replay: usize) -> Subject {
    let dir = TempDir::new("engine");
    local(
        &LogSpec::File(dir.path().join("data")),
        replay,
        vec![Box::new(dir)],
    )
}

fn local(spec: &LogSpec, replay: usize, keep: Vec<Box<dyn std::any::Any + Send>>) -> Subject {
    let engine = log::open(spec, FIRST, replay, WINDOW).unwrap();
    let hub = Hub::open(engine, seed(), 100_000, WINDOW).unwrap();
    Subject {
        hub: Arc::new(hub),
        first: FIRST,
        _keep: keep,
    }
}

/// A node of a Redis log on a fresh redis-server, with its tail running.
async fn redis(replay: usize) -> Subject {
    let server = RedisServer::start().await;
    let remote = Arc::new(RedisLog::new(&server.url(), "contract", 1_000_000, WINDOW).unwrap());
    let loaded = remote.load(replay).await.unwrap();
    let hub = Hub::open_recovered(
        Box::new(loaded.view),
        loaded.recovered,
        seed(),
        100_000,
        WINDOW,
    )
    .unwrap()
    .shared_by(remote.clone());
    let hub = Arc::new(hub);
    let stop = CancellationToken::new();
    tokio::spawn(tail(
        remote,
        hub.clone(),
        loaded.last_id,
        Clock::new(now()),
        false,
        stop.clone(),
    ));
    Subject {
        first: hub.first_id(),
        hub,
        // The tail stops before Redis does.
        _keep: vec![Box::new(stop.drop_guard()), Box::new(server)],
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn status(truck: &str, next_stop: usize) -> FleetEvent {
    FleetEvent::Status {
        truck: truck.into(),
        at_ms: 1,
        status: TruckStatus::EnRoute,
        next_stop,
    }
}

async fn append(hub: &Arc<Hub>, events: Vec<FleetEvent>, now_ms: u64) -> Vec<EventId> {
    let batch = events.into_iter().map(Submission::from).collect();
    hub.append_async(batch, now_ms)
        .await
        .unwrap()
        .into_iter()
        .map(|o| match o {
            Outcome::Appended(id) => id,
            Outcome::Duplicate(id) => panic!("{id} taken for a duplicate"),
        })
        .collect()
}

/// The `next_stop` of each replayed event, read back from its SSE frame.
fn stops(frames: &[convoy_server::log::Logged]) -> Vec<(EventId, usize)> {
    frames
        .iter()
        .map(|e| {
            let text = std::str::from_utf8(&e.frame).unwrap();
            let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
            let event: FleetEvent = serde_json::from_str(data).unwrap();
            match event {
                FleetEvent::Status { next_stop, .. } => (e.id, next_stop),
                other => panic!("{other:?}"),
            }
        })
        .collect()
}

async fn append_then_read_since(subject: Subject) {
    let (hub, first) = (&subject.hub, subject.first);
    assert_eq!(hub.latest_id(), first - 1);
    let ids = append(hub, (0..10).map(|i| status("T-01", i)).collect(), now()).await;
    assert_eq!(ids, (first..first + 10).collect::<Vec<_>>());
    let more = append(hub, vec![status("T-02", 10), status("T-01", 11)], now()).await;
    assert_eq!(more, [first + 10, first + 11]);
    // Everything after an id, with the content it was appended with.
    let sub = hub.subscribe(1, Watch::All, Some(first + 3), None);
    assert!(sub.reset.is_none());
    let expected: Vec<(EventId, usize)> = (4..12).map(|i| (first + i, i as usize)).collect();
    assert_eq!(stops(&sub.replay), expected);
    // Filtered by truck, and nothing after the latest.
    let t2 = hub.subscribe(2, Watch::parse_query("T-02").unwrap(), Some(first), None);
    assert_eq!(stops(&t2.replay), [(first + 10, 10)]);
    let at_latest = hub.subscribe(3, Watch::All, Some(first + 11), None);
    assert!(at_latest.replay.is_empty() && at_latest.reset.is_none());
    // From before the first event.
    let all = hub.subscribe(4, Watch::All, Some(first - 1), None);
    assert_eq!(all.replay.len(), 12);
}

async fn trim_by_count_and_age_moves_the_floor(subject: Subject) {
    let (hub, first) = (&subject.hub, subject.first);
    append(hub, (0..50).map(|i| status("T-01", i)).collect(), now()).await;
    // The age cut falls between the batches: each engine stamps an event when it keeps it,
    // no later than `cut - 300 ms` for the first batch and no earlier than `cut` for the second.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cut = now();
    append(hub, (50..100).map(|i| status("T-01", i)).collect(), cut).await;
    // Engines that rebuild the fleet from a stored snapshot keep what it does not cover yet.
    hub.checkpoint().unwrap();
    assert_eq!(hub.trim(Retention::Events(80), cut).unwrap(), 20);
    assert_eq!(hub.floor(), first + 19);
    let sub = hub.subscribe(1, Watch::All, Some(first + 19), None);
    assert_eq!(sub.replay.first().map(|e| e.id), Some(first + 20));
    assert_eq!(sub.replay.len(), 80);
    let gone = hub
        .trim(Retention::Age(Duration::from_millis(150)), cut)
        .unwrap();
    assert_eq!(gone, 30);
    assert_eq!(hub.floor(), first + 49);
    // Nothing more to do.
    assert_eq!(hub.trim(Retention::Events(80), cut).unwrap(), 0);
    let reset = hub.subscribe(2, Watch::All, Some(first + 48), None).reset;
    assert!(reset.unwrap().reason.contains("older"));
}

async fn resets_name_their_reason(subject: Subject) {
    let (hub, first) = (&subject.hub, subject.first);
    append(hub, (0..20).map(|i| status("T-01", i)).collect(), now()).await;
    let reason = |after: EventId| {
        let sub = hub.subscribe(1, Watch::All, Some(after), None);
        hub.unsubscribe(1);
        sub.reset.map(|r| {
            assert_eq!(r.latest_id, first + 19);
            r.reason
        })
    };
    assert!(reason(first - 2).unwrap().contains("previous"));
    assert!(reason(5).unwrap().contains("previous"));
    assert!(reason(first + 20).unwrap().contains("ahead"));
    assert_eq!(reason(first - 1), None);
    assert_eq!(reason(first + 19), None);
    hub.checkpoint().unwrap();
    hub.trim(Retention::Events(5), now()).unwrap();
    assert!(reason(first + 10).unwrap().contains("older"));
    assert_eq!(reason(first + 14), None);
}

fn drain(sub: &mut convoy_server::hub::Subscription, seen: &mut Vec<(EventId, String, usize)>) {
    while let Ok(event) = sub.live.try_recv() {
        let (id, stop) = stops(std::slice::from_ref(&event))[0];
        seen.push((id, event.truck.to_string(), stop));
    }
}

async fn snapshots_match_the_stream_under_concurrent_appends(subject: Subject) {
    let (hub, first) = (subject.hub.clone(), subject.first);
    let mut sub = hub.subscribe(1, Watch::All, None, None);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let hub = hub.clone();
            tokio::spawn(async move {
                for n in 0..100 {
                    let truck = if w % 2 == 0 { "T-01" } else { "T-03" };
                    append(&hub, vec![status(truck, w * 1000 + n)], now()).await;
                }
            })
        })
        .collect();
    // A snapshot reflects exactly the events up to its id: every one of them is already in the
    // stream's queue when it is taken, and each truck is as its last event up to the id left it.
    let mut checked = 0;
    let mut seen: Vec<(EventId, String, usize)> = Vec::new();
    while checked < 50 || writers.iter().any(|w| !w.is_finished()) {
        let snapshot = hub.snapshot();
        drain(&mut sub, &mut seen);
        let upto = snapshot.last_event_id;
        assert_eq!(
            seen.iter().filter(|(id, _, _)| *id <= upto).count() as u64,
            upto - (first - 1),
            "the snapshot is ahead of the stream"
        );
        for truck in &snapshot.trucks {
            let last = seen
                .iter()
                .rfind(|(id, t, _)| t == &truck.id && *id <= upto);
            match last {
                Some((id, _, stop)) => {
                    assert_eq!((truck.last_event_id, truck.next_stop), (*id, *stop))
                }
                None => assert!(truck.last_event_id < first, "{truck:?}"),
            }
        }
        checked += 1;
        tokio::task::yield_now().await;
    }
    for writer in writers {
        writer.await.unwrap();
    }
    drain(&mut sub, &mut seen);
    let snapshot = hub.snapshot();
    assert_eq!(snapshot.last_event_id, first + 399);
    for truck in &snapshot.trucks {
        match seen.iter().rfind(|(_, t, _)| t == &truck.id) {
            Some((id, _, stop)) => {
                assert_eq!((truck.last_event_id, truck.next_stop), (*id, *stop))
            }
            None => assert_eq!(truck.id, "T-02"),
        }
    }
    // T-03 was never seeded: it joined on its first event.
    assert!(snapshot.trucks.iter().any(|t| t.id == "T-03"));
}

async fn concurrent_appends_keep_ids_gap_free(subject: Subject) {
    let (hub, first) = (subject.hub.clone(), subject.first);
    let mut sub = hub.subscribe(1, Watch::All, None, None);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let hub = hub.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for n in 0..50 {
                    let batch = (0..5)
                        .map(|i| status("T-01", w * 1000 + n * 5 + i))
                        .collect();
                    let got = append(&hub, batch, now()).await;
                    // A batch gets contiguous ids.
                    assert_eq!(got, (got[0]..got[0] + 5).collect::<Vec<_>>());
                    ids.extend(got);
                }
                ids
            })
        })
        .collect();
    let mut ids: Vec<EventId> = Vec::new();
    for writer in writers {
        ids.extend(writer.await.unwrap());
    }
    ids.sort_unstable();
    assert_eq!(ids, (first..first + 1000).collect::<Vec<_>>());
    // The stream saw them all, in id order.
    let mut streamed = Vec::new();
    while let Ok(event) = sub.live.try_recv() {
        streamed.push(event.id);
    }
    assert_eq!(streamed, ids);
}

macro_rules! contract {
    ($engine:ident, $make:expr) => {
        mod $engine {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn append_then_read_since() {
                super::append_then_read_since($make.await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn trim_by_count_and_age_moves_the_floor() {
                super::trim_by_count_and_age_moves_the_floor($make.await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn resets_name_their_reason() {
                super::resets_name_their_reason($make.await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn snapshots_match_the_stream_under_concurrent_appends() {
                super::snapshots_match_the_stream_under_concurrent_appends($make.await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_appends_keep_ids_gap_free() {
                super::concurrent_appends_keep_ids_gap_free($make.await).await;
            }
        }
    };
}

contract!(memory_engine, memory(10_000));
contract!(file_engine, file(10_000));
contract!(redis_engine, redis(10_000));

/// The file engine never prunes past its stored snapshot: the events after it are what the
/// fleet is rebuilt from.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_engine_keeps_what_the_snapshot_does_not_cover() {
    let subject = file(10_000).await;
    let hub = &subject.hub;
    append(hub, (0..100).map(|i| status("T-01", i)).collect(), 1).await;
    hub.checkpoint().unwrap();
    append(hub, (100..110).map(|i| status("T-01", i)).collect(), 1).await;
    assert_eq!(hub.trim(Retention::Events(1), 1).unwrap(), 100);
    assert_eq!(hub.floor(), FIRST + 99);
}

/// The file engine serves history older than its in-memory cache from disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_engine_reads_past_its_cache_from_disk() {
    let subject = file(10).await;
    append(
        &subject.hub,
        (0..100).map(|i| status("T-01", i)).collect(),
        1,
    )
    .await;
    let sub = subject.hub.subscribe(1, Watch::All, Some(FIRST + 4), None);
    let expected: Vec<(EventId, usize)> = (5..100).map(|i| (FIRST + i, i as usize)).collect();
    assert_eq!(stops(&sub.replay), expected);
}
