//! Property tests of `GET /api/stream`'s parameter parser (`trucks`, `lastEventId`,
//! `heartbeat_ms` from the query, `Last-Event-ID` from the header): it never panics, accepts
//! exactly the shapes its docs list, and every error starts with the parameter's name.

use axum::http::{HeaderValue, StatusCode};
use convoy_core::wire::Watch;
use convoy_server::stream::{parse_params, MAX_HEARTBEAT_MS, MAX_WATCHED, MIN_HEARTBEAT_MS};
use proptest::prelude::*;
use std::time::Duration;

fn query(pairs: &[(&str, &str)]) -> String {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (key, value) in pairs {
        out.append_pair(key, value);
    }
    out.finish()
}

/// A valid truck id.
fn truck_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9-]{1,32}"
}

/// Text made mostly of the characters that matter to the parser.
fn noisy() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9 ,+%&=_.-]{0,40}",
        "[0-9 ]{0,24}",
        any::<String>(),
    ]
}

/// The spec of `trucks`, written apart from the parser.
fn trucks_spec(value: &str) -> Option<Watch> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("all") {
        return Some(Watch::All);
    }
    // No truck at all: a stream of heartbeats.
    if value.is_empty() {
        return Some(Watch::Trucks(Default::default()));
    }
    let ids: Vec<&str> = value.split(',').map(str::trim).collect();
    let valid = |id: &&str| {
        (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    (ids.len() <= MAX_WATCHED && ids.iter().all(valid))
        .then(|| Watch::Trucks(ids.iter().map(|id| id.to_string()).collect()))
}

/// The spec of the decimal parameters: `Ok(None)` when blank.
fn decimal_spec(value: &str) -> Result<Option<u64>, ()> {
    let digits = value.trim();
    if digits.is_empty() {
        return Ok(None);
    }
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    digits.parse().map(Some).map_err(|_| ())
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 128,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn never_panics_on_any_query_or_header(raw in any::<String>(), header in proptest::collection::vec(any::<u8>(), 0..40)) {
        let header = HeaderValue::from_bytes(&header).ok();
        let _ = parse_params(Some(&raw), header.as_ref());
        let _ = parse_params(Some(&raw), None);
    }

    #[test]
    fn trucks_accepts_exactly_its_shapes(value in noisy()) {
        let result = parse_params(Some(&query(&[("trucks", &value)])), None);
        match (trucks_spec(&value), result) {
            (Some(watch), Ok(params)) => prop_assert_eq!(params.watch, watch),
            (None, Err(e)) => {
                prop_assert_eq!(e.status, StatusCode::BAD_REQUEST);
                prop_assert!(e.message.starts_with("trucks:"), "{}", e.message);
            }
            (spec, result) => prop_assert!(false, "{value:?}: spec {spec:?}, parser {result:?}"),
        }
    }

    #[test]
    fn valid_truck_lists_round_trip(ids in proptest::collection::btree_set(truck_id(), 1..40), spaced in any::<bool>()) {
        let sep = if spaced { " , " } else { "," };
        let value = ids.iter().cloned().collect::<Vec<_>>().join(sep);
        let params = parse_params(Some(&query(&[("trucks", &value)])), None).unwrap();
        prop_assert_eq!(params.watch, Watch::Trucks(ids));
    }

    #[test]
    fn watch_lists_are_capped(n in (MAX_WATCHED - 2)..(MAX_WATCHED + 3)) {
        let value = (0..n).map(|i| format!("T-{i}")).collect::<Vec<_>>().join(",");
        let result = parse_params(Some(&query(&[("trucks", &value)])), None);
        prop_assert_eq!(result.is_ok(), n <= MAX_WATCHED);
    }

    #[test]
    fn last_event_id_accepts_exactly_decimal_ids(value in noisy(), id in any::<u64>()) {
        for value in [value, id.to_string(), format!(" {id} ")] {
            let from_query = parse_params(Some(&query(&[("lastEventId", &value)])), None);
            match (decimal_spec(&value), from_query) {
                (Ok(expected), Ok(params)) => prop_assert_eq!(params.resume, expected),
                (Err(()), Err(e)) => prop_assert!(e.message.starts_with("lastEventId:"), "{}", e.message),
                (spec, result) => prop_assert!(false, "{value:?}: spec {spec:?}, parser {result:?}"),
            }
            if let Ok(header) = HeaderValue::from_str(&value) {
                let from_header = parse_params(None, Some(&header));
                match (decimal_spec(&value), from_header) {
                    (Ok(expected), Ok(params)) => prop_assert_eq!(params.resume, expected),
                    (Err(()), Err(e)) => prop_assert!(e.message.starts_with("Last-Event-ID:"), "{}", e.message),
                    (spec, result) => prop_assert!(false, "{value:?}: spec {spec:?}, parser {result:?}"),
                }
            }
        }
    }

    #[test]
    fn the_header_wins_over_the_query(a in any::<u64>(), b in any::<u64>()) {
        let header = HeaderValue::from_str(&b.to_string()).unwrap();
        let params = parse_params(Some(&query(&[("lastEventId", &a.to_string())])), Some(&header)).unwrap();
        prop_assert_eq!(params.resume, Some(b));
        let blank = HeaderValue::from_static(" ");
        let params = parse_params(Some(&query(&[("lastEventId", &a.to_string())])), Some(&blank)).unwrap();
        prop_assert_eq!(params.resume, Some(a));
    }

    #[test]
    fn heartbeat_accepts_exactly_its_range(value in noisy(), ms in 0u64..(2 * MAX_HEARTBEAT_MS)) {
        for value in [value, ms.to_string()] {
            let result = parse_params(Some(&query(&[("heartbeat_ms", &value)])), None);
            let expected = match decimal_spec(&value) {
                Ok(None) => Some(None),
                Ok(Some(ms)) if (MIN_HEARTBEAT_MS..=MAX_HEARTBEAT_MS).contains(&ms) => {
                    Some(Some(Duration::from_millis(ms)))
                }
                _ => None,
            };
            match (expected, result) {
                (Some(expected), Ok(params)) => prop_assert_eq!(params.heartbeat, expected),
                (None, Err(e)) => prop_assert!(e.message.starts_with("heartbeat_ms:"), "{}", e.message),
                (spec, result) => prop_assert!(false, "{value:?}: spec {spec:?}, parser {result:?}"),
            }
        }
    }
}
