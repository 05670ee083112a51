#![cfg(not(target_arch = "wasm32"))]
//! The upstream as bytes, read the way the service worker's fetch stream reads it: the real
//! encoder writes the server's batches, the real `sse::Decoder` reads them in chunks, and
//! `upstream::read_output` turns each output into a hub input, in stream order. A batch line
//! past the decoder's 64 KiB (two alerts with 40 000-character messages) is dropped by the
//! decoder; the hub must repair that gap, so every event still reaches the app exactly once.

use convoy_core::election::ElectionMode;
use convoy_core::fleet::Fleet;
use convoy_core::relay::{HubConfig, HubOutput, TabHub};
use convoy_core::sse::{encode_event, Decoder};
use convoy_core::upstream::{read_output, UpstreamItem};
use convoy_core::wire::{
    Alert, AlertKind, Envelope, EventId, FleetEvent, FleetSnapshot, TruckState, TruckStatus, Watch,
    BATCH_EVENT, HEARTBEAT_EVENT,
};

mod support;
use support::fixtures::{seed_truck, EPOCH};

/// What the server does with a batch too long for the decoder's line limit.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Batching {
    /// Every stream sends it as one line: the decoder can never read it.
    Whole,
    /// The first stream sends it whole; a resumed stream splits it below the limit.
    SplitOnResume,
}

/// The server: its history (ids 1..=n, some of them long alerts) and its fleet after each event.
struct Server {
    history: Vec<Envelope>,
    batching: Batching,
    streams: u32,
}

impl Server {
    fn new(batching: Batching) -> Server {
        let mut history = Vec::new();
        for id in 1..=40u64 {
            let truck = format!("T-0{}", 1 + id % 3);
            let event = if matches!(id, 17 | 18) {
                FleetEvent::Alert {
                    truck,
                    at_ms: EPOCH + id,
                    alert: Alert {
                        id: 0,
                        kind: if id == 17 {
                            AlertKind::Delay
                        } else {
                            AlertKind::Temperature
                        },
                        message: "x".repeat(40_000),
                        raised_ms: EPOCH + id,
                        acked: None,
                    },
                }
            } else {
                FleetEvent::Status {
                    truck,
                    at_ms: EPOCH + id,
                    status: TruckStatus::ALL[id as usize % TruckStatus::ALL.len()],
                    next_stop: id as usize % 4,
                }
            };
            history.push(Envelope { id, event });
        }
        Server {
            history,
            batching,
            streams: 0,
        }
    }

    fn fleet_at(&self, at: EventId) -> Fleet {
        let mut fleet = Fleet::default();
        for i in 0..3 {
            let truck: TruckState = seed_truck(i);
            fleet.insert(TruckState {
                last_event_id: 0,
                ..truck
            });
        }
        for envelope in self.history.iter().filter(|e| e.id <= at) {
            fleet.apply(envelope);
        }
        fleet
    }

    fn snapshot(&self) -> FleetSnapshot {
        let last = self.history.last().map_or(0, |e| e.id);
        let mut snapshot = self.fleet_at(last).snapshot(&Watch::All);
        snapshot.last_event_id = last;
        snapshot
    }

    /// The body of a stream resuming after `after`: the events in batches of four (as the
    /// server sends what is ready together), each batch one `batch` event whose id is its last
    /// one's, a heartbeat after each.
    fn body(&mut self, after: EventId) -> Vec<u8> {
        self.streams += 1;
        let split = self.batching == Batching::SplitOnResume && self.streams > 1;
        let pending: Vec<&Envelope> = self.history.iter().filter(|e| e.id > after).collect();
        let mut body = String::new();
        for batch in pending.chunks(4) {
            let json = serde_json::to_string(&batch).unwrap();
            let parts: Vec<&[&Envelope]> = if split && json.len() > Decoder::DEFAULT_MAX_LINE_LEN {
                batch.chunks(1).collect()
            } else {
                vec![batch]
            };
            for part in parts {
                let last = part.last().unwrap().id;
                let json = serde_json::to_string(&part).unwrap();
                body.push_str(&encode_event(Some(last), Some(BATCH_EVENT), &json));
                body.push_str(&encode_event(None, Some(HEARTBEAT_EVENT), ""));
            }
        }
        body.into_bytes()
    }
}

/// What the app got, and how the hub repaired.
#[derive(Default)]
struct Run {
    delivered: Vec<EventId>,
    snapshots: Vec<EventId>,
    state: Option<Fleet>,
    /// `last_event_id` of every stream the hub opened.
    opens: Vec<Option<EventId>>,
    gaps: Vec<String>,
}

/// Carries out the hub's outputs; returns the stream to open next, if it asked for one.
fn pump(hub: &mut TabHub, server: &Server, run: &mut Run, now: u64) -> Option<Option<EventId>> {
    let mut open = None;
    while let Some(output) = hub.poll_output() {
        match output {
            HubOutput::FetchSnapshot => hub.handle_snapshot(now, server.snapshot()),
            HubOutput::OpenUpstream { last_event_id, .. } => {
                run.opens.push(last_event_id);
                open = Some(last_event_id);
            }
            HubOutput::CloseUpstream => open = None,
            HubOutput::Deliver(envelope) => {
                run.delivered.push(envelope.id);
                if let Some(state) = &mut run.state {
                    state.apply(&envelope);
                }
            }
            HubOutput::DeliverSnapshot(snapshot) => {
                run.snapshots.push(snapshot.last_event_id);
                run.state = Some(Fleet::from_snapshot(snapshot));
            }
            _ => {}
        }
    }
    open
}

/// A Solo hub (a direct tab, or a worker's: the same upstream code) seeded with the fleet before
/// any event, reading every stream it opens in chunks of `chunk` bytes until one ends without
/// being replaced.
fn read_streams(batching: Batching, chunk: usize) -> (Run, Server) {
    let mut server = Server::new(batching);
    let mut run = Run::default();
    let mut now = EPOCH;
    let mut hub = TabHub::new(HubConfig::new(1, ElectionMode::Solo), now);
    let seed = {
        let mut s = server.fleet_at(0).snapshot(&Watch::All);
        s.last_event_id = 0;
        s
    };
    // The first fetch answers with the fleet before any event, so the stream carries them all.
    let mut next = None;
    while let Some(output) = hub.poll_output() {
        if output == HubOutput::FetchSnapshot {
            hub.handle_snapshot(now, seed.clone());
            next = pump(&mut hub, &server, &mut run, now);
        }
    }
    let mut streams = 0;
    while let Some(after) = next.take() {
        streams += 1;
        assert!(streams <= 8, "the hub keeps reopening: {:?}", run.opens);
        now += 100;
        hub.handle_upstream_open(now);
        pump(&mut hub, &server, &mut run, now);
        let body = server.body(after.expect("a stream resumes from a cursor"));
        let mut decoder = Decoder::new();
        'stream: for bytes in body.chunks(chunk) {
            decoder.feed(bytes);
            while let Some(output) = decoder.poll_output() {
                now += 1;
                let replaced = match read_output(&output) {
                    Some(UpstreamItem::Events(envelopes)) => {
                        hub.handle_upstream_events(now, envelopes);
                        pump(&mut hub, &server, &mut run, now)
                    }
                    Some(UpstreamItem::Heartbeat) => {
                        hub.handle_upstream_heartbeat(now);
                        pump(&mut hub, &server, &mut run, now)
                    }
                    Some(UpstreamItem::Reset) => unreachable!("the server keeps its history"),
                    Some(UpstreamItem::Gap(why)) => {
                        run.gaps.push(why);
                        hub.handle_upstream_gap(now);
                        let replaced = pump(&mut hub, &server, &mut run, now);
                        // Nothing more from a stream after a gap, whatever the hub did.
                        next = replaced;
                        break 'stream;
                    }
                    None => None,
                };
                if replaced.is_some() {
                    next = replaced;
                    break 'stream;
                }
            }
        }
    }
    (run, server)
}

#[test]
fn a_batch_line_past_the_decoders_limit_is_resumed_and_every_event_arrives_once() {
    for chunk in [65_536, 4_096, 1_000] {
        let (run, server) = read_streams(Batching::SplitOnResume, chunk);
        let all: Vec<EventId> = server.history.iter().map(|e| e.id).collect();
        assert_eq!(
            run.delivered, all,
            "chunks of {chunk}: every event once, in order"
        );
        assert_eq!(run.gaps.len(), 1, "chunks of {chunk}: {:?}", run.gaps);
        assert!(run.gaps[0].contains("longer than 65536"), "{:?}", run.gaps);
        // The batch 17..=20 was lost: the stream resumed after 16, the last event taken.
        assert_eq!(run.opens, vec![Some(0), Some(16)], "chunks of {chunk}");
        assert_eq!(
            run.snapshots,
            vec![0],
            "chunks of {chunk}: no snapshot was needed"
        );
        assert_eq!(
            run.state.unwrap().snapshot(&Watch::All).trucks,
            server.fleet_at(40).snapshot(&Watch::All).trucks
        );
    }
}

#[test]
fn a_batch_line_no_stream_can_carry_costs_one_snapshot_not_a_loop() {
    for chunk in [65_536, 1_000] {
        let (run, server) = read_streams(Batching::Whole, chunk);
        // Resuming brings the same line back: the second gap at the same cursor is covered by a
        // snapshot, and the stream reopens after it.
        assert_eq!(run.gaps.len(), 2, "chunks of {chunk}: {:?}", run.gaps);
        assert_eq!(
            run.opens,
            vec![Some(0), Some(16), Some(40)],
            "chunks of {chunk}"
        );
        assert_eq!(run.snapshots, vec![0, 40], "chunks of {chunk}");
        // Nothing twice, nothing out of order; what the lost line carried is in the snapshot.
        let want: Vec<EventId> = (1..=16).collect();
        assert_eq!(run.delivered, want, "chunks of {chunk}");
        assert_eq!(
            run.state.unwrap().snapshot(&Watch::All).trucks,
            server.fleet_at(40).snapshot(&Watch::All).trucks
        );
    }
}

#[test]
fn a_drop_is_read_in_its_place_so_later_events_are_not_taken_over_the_hole() {
    // Without `poll_output` a reader could take the events after a dropped line in the same
    // chunk before it learns of the drop, and resume past the hole. Everything in one chunk.
    let (run, server) = read_streams(Batching::SplitOnResume, 1 << 20);
    let all: Vec<EventId> = server.history.iter().map(|e| e.id).collect();
    assert_eq!(run.delivered, all);
    assert_eq!(run.opens, vec![Some(0), Some(16)]);
}
