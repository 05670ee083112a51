//! Property tests of what reads untrusted input: the SSE decoder (the server's bytes) and the
//! channel frame parser (anything a script of the origin posts). Random and structure-aware
//! inputs, a bounded number of cases so `cargo xtask test` stays fast; `PROPTEST_CASES=<n>`
//! explores further. The same targets run unbounded under cargo-fuzz (`core/fuzz/`, nightly).
//!
//! The stream-parameter parser (`server/src/stream.rs`) is not covered here yet: it lives in
//! the server crate and is being reworked.
#![cfg(not(target_arch = "wasm32"))]

use convoy_core::relay::{
    parse_frame, Link, TabFrame, TabMsg, APP_NAME, MAX_LINK_SPAN, MAX_SAFE_INTEGER,
    PROTOCOL_VERSION,
};
use convoy_core::sse::{encode_event, Decoder, SseError, SseEvent, SseId};
use convoy_core::wire::{is_valid_truck_id, Envelope, FleetEvent, TruckStatus, Watch};
use proptest::prelude::*;
use proptest::test_runner::Config;
use serde_json::Value;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(96);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ----- the SSE decoder -----

/// Bytes that look like an event stream: field names, separators, every line ending, the BOM,
/// multi-byte UTF-8 (to be split mid-character), NUL, and random bytes.
fn stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just(b"data".to_vec()),
        Just(b"data:".to_vec()),
        Just(b"data: ".to_vec()),
        Just(b"id:".to_vec()),
        Just(b"id: ".to_vec()),
        Just(b"event:".to_vec()),
        Just(b"retry:".to_vec()),
        Just(b":".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\n\n".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        Just("é€𝄞".as_bytes().to_vec()),
        Just(b"\0".to_vec()),
        Just(b"12345".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..12),
        proptest::collection::vec(b'a'..=b'z', 0..40),
    ];
    prop_oneof![
        proptest::collection::vec(token, 0..60).prop_map(|t| t.concat()),
        proptest::collection::vec(any::<u8>(), 0..300),
    ]
}

/// Everything a decoder reports, drained. Errors are compared by their counters: at most 32
/// undrained errors are queued, so how many are kept depends on how often they are drained.
#[derive(Debug, PartialEq)]
struct Decoded {
    events: Vec<SseEvent>,
    last_event_id: String,
    retry_ms: Option<u64>,
    counters: (u64, u64, u64),
}

fn decode(make: &dyn Fn() -> Decoder, chunks: &[&[u8]]) -> Decoded {
    let mut decoder = make();
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk);
        events.extend(std::iter::from_fn(|| decoder.poll_event()));
        let errors: Vec<SseError> = std::iter::from_fn(|| decoder.poll_error()).collect();
        assert!(errors.len() <= 32, "{errors:?}");
    }
    Decoded {
        events,
        last_event_id: decoder.last_event_id().to_owned(),
        retry_ms: decoder.retry_ms(),
        counters: (
            decoder.malformed_lines(),
            decoder.oversized_events(),
            decoder.ignored_ids(),
        ),
    }
}

/// `bytes` cut at `cuts` (positions taken modulo its length).
fn split<'a>(bytes: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|c| if bytes.is_empty() { 0 } else { c % bytes.len() })
        .collect();
    at.sort_unstable();
    at.dedup();
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in at {
        chunks.push(&bytes[start..cut]);
        start = cut;
    }
    chunks.push(&bytes[start..]);
    chunks
}

/// Any text (no regex strategies: proptest runs without its regex feature here).
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<char>(), 0..200).prop_map(|c| c.into_iter().collect())
}

/// An event name: lowercase letters and `_`.
fn name() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof![b'a'..=b'z', Just(b'_')], 1..12)
        .prop_map(|b| String::from_utf8(b).expect("ascii"))
}

fn small_limits() -> Decoder {
    Decoder::new()
        .with_max_line_len(24)
        .with_max_event_len(40)
        .with_max_id_len(6)
}

proptest! {
    #![proptest_config(config())]

    /// Any chunking of any bytes decodes as the whole input does (and nothing panics).
    #[test]
    fn decoder_any_chunking_equals_the_whole(
        bytes in stream_bytes(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        for make in [&Decoder::new as &dyn Fn() -> Decoder, &small_limits] {
            let whole = decode(make, &[&bytes]);
            let chunked = decode(make, &split(&bytes, &cuts));
            prop_assert_eq!(&chunked, &whole);
            let singles: Vec<&[u8]> = bytes.chunks(1).collect();
            prop_assert_eq!(&decode(make, &singles), &whole);
        }
    }

    /// Whatever arrives, what comes out stays within the limits.
    #[test]
    fn decoder_limits_hold(bytes in stream_bytes()) {
        let decoded = decode(&small_limits, &[&bytes]);
        // Limits count raw bytes; each raw byte decodes to at most one character.
        let chars = |s: &str| s.chars().count();
        for event in &decoded.events {
            prop_assert!(event.data.len() < 40, "{event:?}");
            prop_assert!(chars(&event.id) <= 6, "{event:?}");
            prop_assert!(chars(&event.event_type) <= 24, "{event:?}");
            for line in event.data.split('\n') {
                prop_assert!(chars(line) <= 24, "{event:?}");
            }
        }
        prop_assert!(chars(&decoded.last_event_id) <= 6);
    }

    /// What the encoder writes, the decoder reads back, however it is chunked.
    #[test]
    fn encoded_events_decode_back(
        events in proptest::collection::vec(
            (proptest::option::of(0u64..MAX_SAFE_INTEGER), name(), text()),
            1..8,
        ),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let body: String = events
            .iter()
            .map(|(id, name, data)| encode_event(*id, Some(name), data))
            .collect();
        let decoded = decode(&Decoder::new, &split(body.as_bytes(), &cuts));
        prop_assert_eq!(decoded.events.len(), events.len());
        let mut last_id = String::new();
        for (got, (id, name, data)) in decoded.events.iter().zip(&events) {
            if let Some(id) = id {
                last_id = id.to_string();
            }
            let normalized = data.replace("\r\n", "\n").replace('\r', "\n");
            prop_assert_eq!(&got.data, &normalized);
            prop_assert_eq!(&got.event_type, name);
            prop_assert_eq!(&got.id, &last_id);
        }
    }
}

// ----- the channel frame parser -----

const ME: u64 = 424_242;

fn safe() -> impl Strategy<Value = u64> {
    prop_oneof![0..16u64, 0..MAX_SAFE_INTEGER, Just(MAX_SAFE_INTEGER - 1)]
}

fn truck_id() -> impl Strategy<Value = String> {
    prop_oneof![
        (1..40usize).prop_map(|n| format!("T-{n:02}")),
        proptest::collection::vec(
            prop_oneof![b'a'..=b'z', b'A'..=b'Z', b'0'..=b'9', Just(b'-')],
            1..=32
        )
        .prop_map(|b| String::from_utf8(b).expect("ascii")),
    ]
}

fn watch() -> impl Strategy<Value = Watch> {
    prop_oneof![
        Just(Watch::All),
        proptest::collection::btree_set(truck_id(), 0..6).prop_map(Watch::Trucks),
    ]
}

fn link() -> impl Strategy<Value = Link> {
    (
        0..MAX_SAFE_INTEGER - MAX_LINK_SPAN - 1,
        1..=MAX_LINK_SPAN,
        truck_id(),
        watch(),
    )
        .prop_map(|(prev, span, truck, union)| Link {
            event: Envelope {
                id: prev + span,
                event: FleetEvent::Status {
                    truck,
                    at_ms: prev,
                    status: TruckStatus::EnRoute,
                    next_stop: 2,
                },
            },
            prev,
            union,
        })
}

/// Consecutive links, as a ring replays them.
fn chain() -> impl Strategy<Value = Vec<Link>> {
    (
        0..1u64 << 50,
        proptest::collection::vec((1..1_000u64, truck_id()), 0..6),
    )
        .prop_map(|(start, steps)| {
            let mut prev = start;
            steps
                .into_iter()
                .map(|(span, truck)| {
                    let id = prev + span;
                    let link = Link {
                        event: Envelope {
                            id,
                            event: FleetEvent::AlertCleared {
                                truck,
                                at_ms: id,
                                kind: convoy_core::wire::AlertKind::Delay,
                            },
                        },
                        prev,
                        union: Watch::All,
                    };
                    prev = id;
                    link
                })
                .collect()
        })
}

fn msg() -> impl Strategy<Value = TabMsg> {
    prop_oneof![
        (watch(), proptest::option::of(safe()))
            .prop_map(|(watch, cursor)| TabMsg::Hello { watch, cursor }),
        (watch(), proptest::option::of(safe()))
            .prop_map(|(watch, cursor)| TabMsg::Watch { watch, cursor }),
        watch().prop_map(|watch| TabMsg::SnapshotRequest { watch }),
        (safe(), watch()).prop_map(|(after, watch)| TabMsg::Resend { after, watch }),
        safe().prop_map(|term| TabMsg::Claim { term }),
        Just(TabMsg::Goodbye),
        (watch(), proptest::option::of(safe())).prop_map(|(union, cursor)| TabMsg::Leading {
            union,
            cursor,
            upstream: convoy_core::relay::Connection::Live,
            sharing: None,
        }),
        (watch(), proptest::option::of(safe()), any::<bool>()).prop_map(
            |(union, cursor, server)| TabMsg::Heartbeat {
                union,
                cursor,
                server,
                upstream: convoy_core::relay::Connection::Reconnecting { at_ms: 7 },
                sharing: Some(3),
            }
        ),
        link().prop_map(TabMsg::Event),
        (safe(), chain()).prop_map(|(to, links)| TabMsg::Replay { to, links }),
        (
            watch(),
            chain().prop_filter("one event or more", |l| !l.is_empty())
        )
            .prop_map(|(union, links)| TabMsg::Events {
                prev: links.first().map_or(0, |l| l.prev),
                union,
                events: links.into_iter().map(|l| l.event).collect(),
            }),
    ]
}

fn frame() -> impl Strategy<Value = TabFrame> {
    (
        safe().prop_filter("not me", |f| *f != ME),
        safe(),
        any::<bool>(),
        msg(),
    )
        .prop_map(|(from, term, hidden, msg)| TabFrame {
            v: PROTOCOL_VERSION,
            app: APP_NAME.into(),
            from,
            term,
            hidden,
            msg,
        })
}

/// What every frame `parse_frame` accepts must satisfy.
fn assert_sane(frame: &TabFrame) -> Result<(), TestCaseError> {
    let safe = |n: u64| n < MAX_SAFE_INTEGER;
    prop_assert!(safe(frame.from) && safe(frame.term) && frame.from != ME);
    let watch_ok = |w: &Watch| match w {
        Watch::All => true,
        Watch::Trucks(t) => t.iter().all(|id| is_valid_truck_id(id)),
    };
    let link_ok = |l: &Link| {
        safe(l.event.id)
            && l.prev < l.event.id
            && l.event.id - l.prev <= MAX_LINK_SPAN
            && is_valid_truck_id(l.event.event.truck())
            && watch_ok(&l.union)
    };
    let ok = match &frame.msg {
        TabMsg::Hello { watch, cursor } | TabMsg::Watch { watch, cursor } => {
            watch_ok(watch) && cursor.is_none_or(safe)
        }
        TabMsg::SnapshotRequest { watch } => watch_ok(watch),
        TabMsg::Resend { after, watch } => safe(*after) && watch_ok(watch),
        TabMsg::Claim { term } => safe(*term),
        TabMsg::Goodbye => true,
        TabMsg::Leading { union, cursor, .. } | TabMsg::Heartbeat { union, cursor, .. } => {
            watch_ok(union) && cursor.is_none_or(safe)
        }
        TabMsg::Event(link) => link_ok(link),
        TabMsg::Snapshot {
            to,
            watch,
            snapshot,
            ..
        } => {
            to.is_none_or(safe)
                && watch_ok(watch)
                && safe(snapshot.last_event_id)
                && snapshot
                    .trucks
                    .iter()
                    .all(|t| is_valid_truck_id(&t.id) && t.last_event_id <= snapshot.last_event_id)
        }
        TabMsg::Replay { to, links } => {
            safe(*to)
                && links.iter().all(link_ok)
                && links.windows(2).all(|w| w[1].prev == w[0].event.id)
        }
        TabMsg::Events {
            prev,
            union,
            events,
        } => {
            let mut before = *prev;
            !events.is_empty()
                && events.iter().all(|event| {
                    let ok = link_ok(&Link {
                        event: event.clone(),
                        prev: before,
                        union: union.clone(),
                    });
                    before = event.id;
                    ok
                })
        }
    };
    prop_assert!(ok, "accepted an inconsistent frame: {frame:?}");
    Ok(())
}

fn edge() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::from(MAX_SAFE_INTEGER - 1)),
        Just(Value::from(MAX_SAFE_INTEGER)),
        Just(Value::from(1e300)),
        Just(Value::from(-1)),
        Just(Value::from(0)),
        Just(Value::from(u64::MAX)),
        Just(Value::Null),
        Just(Value::from("T-01&x=1")),
        Just(Value::from("")),
        Just(serde_json::json!([1, [2, {}]])),
        Just(serde_json::json!({"type": "goodbye"})),
    ]
}

/// Every node of `value`, depth first (the root first).
fn node_count(value: &Value) -> usize {
    1 + match value {
        Value::Array(items) => items.iter().map(node_count).sum(),
        Value::Object(fields) => fields.values().map(node_count).sum(),
        _ => 0,
    }
}

/// Replaces the `n`th node (depth first) of `value` with `with`.
fn replace_node(value: &mut Value, n: &mut usize, with: &Value) -> bool {
    if *n == 0 {
        *value = with.clone();
        return true;
    }
    *n -= 1;
    match value {
        Value::Array(items) => items.iter_mut().any(|v| replace_node(v, n, with)),
        Value::Object(fields) => fields.values_mut().any(|v| replace_node(v, n, with)),
        _ => false,
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any text at all: an error or a sane frame, never a panic.
    #[test]
    fn frame_parser_takes_any_text(raw in text()) {
        if let Ok(frame) = parse_frame(&raw, ME) {
            assert_sane(&frame)?;
        }
    }

    /// Valid frames round-trip.
    #[test]
    fn valid_frames_round_trip(frame in frame()) {
        let raw = serde_json::to_string(&frame).expect("serializes");
        prop_assert_eq!(parse_frame(&raw, ME).expect("a valid frame parses"), frame);
    }

    /// A valid frame with one node replaced (an edge number, junk, a wrong type) is refused,
    /// or parses to a frame that is sane and round-trips itself.
    #[test]
    fn mutated_frames_are_refused_or_consistent(
        frame in frame(),
        at in any::<usize>(),
        with in edge(),
    ) {
        let mut value = serde_json::to_value(&frame).expect("serializes");
        let mut n = at % node_count(&value);
        replace_node(&mut value, &mut n, &with);
        let raw = value.to_string();
        if let Ok(parsed) = parse_frame(&raw, ME) {
            assert_sane(&parsed)?;
            let again = serde_json::to_string(&parsed).expect("serializes");
            prop_assert_eq!(parse_frame(&again, ME).expect("still parses"), parsed);
        }
    }
}

/// Found by `cargo fuzz run sse_decoder`: more than 32 dropped ids in one chunk. The queue keeps
/// 32, the counter counts them all, whatever the chunking.
#[test]
fn errors_past_the_queue_are_counted_whatever_the_chunking() {
    let body = "id: 12345678901234567\n".repeat(40);
    let whole = decode(&small_limits, &[body.as_bytes()]);
    let lines: Vec<&[u8]> = body.as_bytes().chunks(22).collect();
    assert_eq!(decode(&small_limits, &lines), whole);
    assert_eq!(whole.counters, (0, 0, 40));
}

#[test]
fn the_decoders_defaults_fit_convoys_events() {
    let line = |n: usize| format!("data: {}\n\n", "x".repeat(n - 6));
    let mut decoder = Decoder::new();
    decoder.feed(line(64 << 10).as_bytes());
    assert!(decoder.poll_event().is_some(), "a 64 KiB line is kept");
    decoder.feed(line((64 << 10) + 1).as_bytes());
    assert_eq!(decoder.poll_event(), None, "a longer one is dropped");
    // An id over 1 KiB is ignored; the one before stays.
    let long = "9".repeat(1025);
    decoder.feed(format!("id: 7\ndata: a\n\nid: {long}\ndata: b\n\n").as_bytes());
    let ids: Vec<String> = std::iter::from_fn(|| decoder.poll_event())
        .map(|e| e.id.to_string())
        .collect();
    assert_eq!(ids, ["7", "7"]);
    assert_eq!(decoder.ignored_ids(), 1);
}

#[test]
fn one_long_id_is_shared_not_copied_into_every_event() {
    let id = "1".repeat(1024);
    let mut body = format!("id: {id}\n");
    for _ in 0..1_000 {
        body.push_str("data: x\n\n");
    }
    let mut decoder = Decoder::new();
    decoder.feed(body.as_bytes());
    let events: Vec<SseEvent> = std::iter::from_fn(|| decoder.poll_event()).collect();
    assert_eq!(events.len(), 1_000);
    assert_eq!(&*events[0].id, id.as_str());
    assert!(events.windows(2).all(|w| SseId::ptr_eq(&w[0].id, &w[1].id)));
}
