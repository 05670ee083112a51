//! The event-log contract, run against every engine through the hub (the server's one append
//! and subscribe path): append and read-since, trimming by count and by age, the reasons a
//! resume is refused, snapshot consistency, and concurrent appends that keep ids gap-free.

mod common;

use common::TempDir;
use convoy_core::wire::{EventId, FleetEvent, TruckStatus, Watch};
use convoy_server::hub::{new_truck, Hub, Outcome, Submission};
use convoy_server::log::{self, LogSpec, Retention};
use std::sync::Arc;
use std::time::Duration;

/// A hub over one engine, and whatever must live as long as it.
struct Subject {
    hub: Arc<Hub>,
    _keep: Vec<Box<dyn std::any::Any + Send>>,
}

const FIRST: EventId = 1_000_000_001;

fn memory(replay: usize) -> Subject {
    subject(&LogSpec::Memory, replay, Vec::new())
}

fn file(replay: usize) -> Subject {
    let dir = TempDir::new("engine");
    subject(
        &LogSpec::File(dir.path().join("data")),
        replay,
        vec![Box::new(dir)],
    )
}

fn subject(spec: &LogSpec, replay: usize, keep: Vec<Box<dyn std::any::Any + Send>>) -> Subject {
    let engine = log::open(spec, FIRST, replay).unwrap();
    let seed = vec![new_truck("T-01"), new_truck("T-02")];
    let hub = Hub::open(engine, seed, 100_000, Duration::from_secs(60)).unwrap();
    Subject {
        hub: Arc::new(hub),
        _keep: keep,
    }
}

fn status(truck: &str, next_stop: usize) -> FleetEvent {
    FleetEvent::Status {
        truck: truck.into(),
        at_ms: 1,
        status: TruckStatus::EnRoute,
        next_stop,
    }
}

fn append(hub: &Hub, events: Vec<FleetEvent>, now_ms: u64) -> Vec<EventId> {
    let batch = events.into_iter().map(Submission::from).collect();
    hub.append(batch, now_ms)
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

fn append_then_read_since(subject: Subject) {
    let hub = &subject.hub;
    assert_eq!(hub.latest_id(), FIRST - 1);
    let ids = append(hub, (0..10).map(|i| status("T-01", i)).collect(), 1_000);
    assert_eq!(ids, (FIRST..FIRST + 10).collect::<Vec<_>>());
    let more = append(hub, vec![status("T-02", 10), status("T-01", 11)], 1_000);
    assert_eq!(more, [FIRST + 10, FIRST + 11]);
    // Everything after an id, with the content it was appended with.
    let sub = hub.subscribe(1, Watch::All, Some(FIRST + 3), None);
    assert!(sub.reset.is_none());
    let expected: Vec<(EventId, usize)> = (4..12).map(|i| (FIRST + i, i as usize)).collect();
    assert_eq!(stops(&sub.replay), expected);
    // Filtered by truck, and nothing after the latest.
    let t2 = hub.subscribe(2, Watch::parse_query("T-02").unwrap(), Some(FIRST), None);
    assert_eq!(stops(&t2.replay), [(FIRST + 10, 10)]);
    let at_latest = hub.subscribe(3, Watch::All, Some(FIRST + 11), None);
    assert!(at_latest.replay.is_empty() && at_latest.reset.is_none());
    // Right after the snapshot's id, from before the first event.
    let all = hub.subscribe(4, Watch::All, Some(FIRST - 1), None);
    assert_eq!(all.replay.len(), 12);
}

fn trim_by_count_and_age_moves_the_floor(subject: Subject) {
    let hub = &subject.hub;
    append(hub, (0..50).map(|i| status("T-01", i)).collect(), 1_000);
    append(hub, (50..100).map(|i| status("T-01", i)).collect(), 9_000);
    // Engines that rebuild the fleet from a stored snapshot keep what it does not cover yet.
    hub.checkpoint().unwrap();
    assert_eq!(hub.trim(Retention::Events(80), 9_000).unwrap(), 20);
    assert_eq!(hub.floor(), FIRST + 19);
    let sub = hub.subscribe(1, Watch::All, Some(FIRST + 19), None);
    assert_eq!(sub.replay.first().map(|e| e.id), Some(FIRST + 20));
    assert_eq!(sub.replay.len(), 80);
    // Everything appended more than 5 s before 10 s: the first batch.
    let gone = hub
        .trim(Retention::Age(Duration::from_secs(5)), 10_000)
        .unwrap();
    assert_eq!(gone, 30);
    assert_eq!(hub.floor(), FIRST + 49);
    // Nothing more to do.
    assert_eq!(hub.trim(Retention::Events(80), 10_000).unwrap(), 0);
    let reset = hub.subscribe(2, Watch::All, Some(FIRST + 48), None).reset;
    assert!(reset.unwrap().reason.contains("older"));
}

fn resets_name_their_reason(subject: Subject) {
    let hub = &subject.hub;
    append(hub, (0..20).map(|i| status("T-01", i)).collect(), 1_000);
    let reason = |after: EventId| {
        let sub = hub.subscribe(1, Watch::All, Some(after), None);
        hub.unsubscribe(1);
        sub.reset.map(|r| {
            assert_eq!(r.latest_id, FIRST + 19);
            r.reason
        })
    };
    assert!(reason(FIRST - 2).unwrap().contains("previous"));
    assert!(reason(5).unwrap().contains("previous"));
    assert!(reason(FIRST + 20).unwrap().contains("ahead"));
    assert_eq!(reason(FIRST - 1), None);
    assert_eq!(reason(FIRST + 19), None);
    hub.checkpoint().unwrap();
    hub.trim(Retention::Events(5), 1_000).unwrap();
    assert!(reason(FIRST + 10).unwrap().contains("older"));
    assert_eq!(reason(FIRST + 14), None);
}

fn snapshots_match_the_stream_under_concurrent_appends(subject: Subject) {
    let hub = subject.hub.clone();
    let mut sub = hub.subscribe(1, Watch::All, None, None);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let hub = hub.clone();
            std::thread::spawn(move || {
                for n in 0..100 {
                    let truck = if w % 2 == 0 { "T-01" } else { "T-03" };
                    append(&hub, vec![status(truck, w * 1000 + n)], 1_000);
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
        while let Ok(event) = sub.live.try_recv() {
            let (id, stop) = stops(std::slice::from_ref(&event))[0];
            seen.push((id, event.truck.to_string(), stop));
        }
        let upto = snapshot.last_event_id;
        assert_eq!(
            seen.iter().filter(|(id, _, _)| *id <= upto).count() as u64,
            upto - (FIRST - 1),
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
                None => assert!(truck.last_event_id < FIRST, "{truck:?}"),
            }
        }
        checked += 1;
    }
    for writer in writers {
        writer.join().unwrap();
    }
    while let Ok(event) = sub.live.try_recv() {
        let (id, stop) = stops(std::slice::from_ref(&event))[0];
        seen.push((id, event.truck.to_string(), stop));
    }
    let snapshot = hub.snapshot();
    assert_eq!(snapshot.last_event_id, FIRST + 399);
    for truck in &snapshot.trucks {
        let last = seen.iter().rfind(|(_, t, _)| t == &truck.id);
        match last {
            Some((id, _, stop)) => assert_eq!((truck.last_event_id, truck.next_stop), (*id, *stop)),
            None => assert_eq!(truck.id, "T-02"),
        }
    }
    // T-03 was never seeded: it joined on its first event.
    assert!(snapshot.trucks.iter().any(|t| t.id == "T-03"));
}

fn concurrent_appends_keep_ids_gap_free(subject: Subject) {
    let hub = subject.hub.clone();
    let mut sub = hub.subscribe(1, Watch::All, None, None);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let hub = hub.clone();
            std::thread::spawn(move || {
                let mut ids = Vec::new();
                for n in 0..50 {
                    let batch = (0..5)
                        .map(|i| status("T-01", w * 1000 + n * 5 + i))
                        .collect();
                    let got = append(&hub, batch, 1_000);
                    // A batch gets contiguous ids.
                    assert_eq!(got, (got[0]..got[0] + 5).collect::<Vec<_>>());
                    ids.extend(got);
                }
                ids
            })
        })
        .collect();
    let mut ids: Vec<EventId> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, (FIRST..FIRST + 1000).collect::<Vec<_>>());
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

            #[test]
            fn append_then_read_since() {
                super::append_then_read_since($make);
            }

            #[test]
            fn trim_by_count_and_age_moves_the_floor() {
                super::trim_by_count_and_age_moves_the_floor($make);
            }

            #[test]
            fn resets_name_their_reason() {
                super::resets_name_their_reason($make);
            }

            #[test]
            fn snapshots_match_the_stream_under_concurrent_appends() {
                super::snapshots_match_the_stream_under_concurrent_appends($make);
            }

            #[test]
            fn concurrent_appends_keep_ids_gap_free() {
                super::concurrent_appends_keep_ids_gap_free($make);
            }
        }
    };
}

contract!(memory_engine, memory(10_000));
contract!(file_engine, file(10_000));

/// The file engine never prunes past its stored snapshot: the events after it are what the
/// fleet is rebuilt from.
#[test]
fn file_engine_keeps_what_the_snapshot_does_not_cover() {
    let subject = file(10_000);
    let hub = &subject.hub;
    append(hub, (0..100).map(|i| status("T-01", i)).collect(), 1);
    hub.checkpoint().unwrap();
    append(hub, (100..110).map(|i| status("T-01", i)).collect(), 1);
    assert_eq!(hub.trim(Retention::Events(1), 1).unwrap(), 100);
    assert_eq!(hub.floor(), FIRST + 99);
}

/// The file engine serves history older than its in-memory cache from disk.
#[test]
fn file_engine_reads_past_its_cache_from_disk() {
    let subject = file(10);
    append(
        &subject.hub,
        (0..100).map(|i| status("T-01", i)).collect(),
        1,
    );
    let sub = subject.hub.subscribe(1, Watch::All, Some(FIRST + 4), None);
    let expected: Vec<(EventId, usize)> = (5..100).map(|i| (FIRST + i, i as usize)).collect();
    assert_eq!(stops(&sub.replay), expected);
}
