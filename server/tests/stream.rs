//! `GET /api/stream` over real loopback HTTP: ids, names, filtering, resuming and resets,
//! heartbeats and keep-alives.

mod common;

use common::{config, TestServer};
use convoy_core::wire::{EventId, Heartbeat, ResetNotice};
use convoy_server::Config;
use std::collections::BTreeSet;
use std::time::Duration;

/// Ids of an `all` stream are contiguous: every event is on it.
fn assert_contiguous(ids: &[EventId]) {
    for pair in ids.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "gap or repeat in {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_ids_increase_and_names_match_data() {
    let server = TestServer::start(config()).await;
    let mut stream = server.stream("", None).await;
    let envelopes = stream.envelopes(300).await;
    assert_eq!(stream.decoder.retry_ms(), Some(2000));
    let ids: Vec<_> = envelopes.iter().map(|e| e.id).collect();
    assert_contiguous(&ids);
    // This run's ids start at its start time in ms times 1000, so they stay below 2^53.
    assert!(ids[0] < 1 << 53);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(ids[0] > (now_ms - 60_000) * 1000 && ids[0] <= now_ms * 1000 + 1000);
    let names: BTreeSet<_> = envelopes.iter().map(|e| e.event.name()).collect();
    assert!(names.contains("position"), "{names:?}");
    let trucks: BTreeSet<_> = envelopes
        .iter()
        .map(|e| e.event.truck().to_owned())
        .collect();
    assert_eq!(trucks.len(), 10, "{trucks:?}");
    assert!(trucks.contains("T-01") && trucks.contains("T-10"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filter_yields_only_watched_trucks() {
    let server = TestServer::start(config()).await;
    // A watch keeps the trucks the fleet knows: simulated ones join with their first plan.
    server.fleet_of(10).await;
    let mut stream = server.stream("?trucks=T-01,T-03", None).await;
    let envelopes = stream.envelopes(60).await;
    let trucks: BTreeSet<_> = envelopes.iter().map(|e| e.event.truck()).collect();
    assert_eq!(trucks, BTreeSet::from(["T-01", "T-03"]));
    for pair in envelopes.windows(2) {
        assert!(pair[1].id > pair[0].id);
    }
    // `all` and a missing parameter are the same.
    let mut all = server.stream("?trucks=all", None).await;
    let trucks: BTreeSet<_> = all
        .envelopes(200)
        .await
        .iter()
        .map(|e| e.event.truck().to_owned())
        .collect();
    assert_eq!(trucks.len(), 10);
}

/// Reads a run of events, drops the stream, resumes after one of them with `resume` and checks
/// that the resumed stream carries exactly the following ids, on into live events.
async fn check_resume(server: &TestServer, resume: impl Fn(EventId) -> (String, Option<String>)) {
    let mut first = server.stream("", None).await;
    let before: Vec<_> = first.envelopes(300).await.iter().map(|e| e.id).collect();
    assert_contiguous(&before);
    drop(first);
    let after = before[100];
    let (query, header) = resume(after);
    let mut resumed = server.stream(&query, header.as_deref()).await;
    // Everything after `after` that the first stream saw, then live events past it.
    let ids: Vec<_> = resumed.envelopes(400).await.iter().map(|e| e.id).collect();
    assert_eq!(ids[0], after + 1);
    assert_eq!(&ids[..199], &before[101..]);
    assert_contiguous(&ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_last_event_id_header_has_no_gap_or_repeat() {
    let server = TestServer::start(config()).await;
    check_resume(&server, |id| (String::new(), Some(id.to_string()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_with_last_event_id_query_has_no_gap_or_repeat() {
    let server = TestServer::start(config()).await;
    check_resume(&server, |id| (format!("?lastEventId={id}"), None)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_event_id_header_wins_over_query() {
    let server = TestServer::start(config()).await;
    // The query names an id long gone (a reset); the header's is honoured.
    check_resume(&server, |id| {
        ("?lastEventId=1".to_owned(), Some(id.to_string()))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_from_a_filtered_stream_replays_only_its_trucks() {
    let server = TestServer::start(config()).await;
    let mut all = server.stream("", None).await;
    let before = all.envelopes(300).await;
    drop(all);
    let after = before[50].id;
    let expected: Vec<_> = before[51..]
        .iter()
        .filter(|e| e.event.truck() == "T-02")
        .map(|e| e.id)
        .collect();
    assert!(!expected.is_empty());
    let mut resumed = server
        .stream("?trucks=T-02", Some(&after.to_string()))
        .await;
    let ids: Vec<_> = resumed
        .envelopes(expected.len())
        .await
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_resume_at_its_id_has_no_gap() {
    let server = TestServer::start(config()).await;
    server.wait_for_id(1).await;
    let snapshot = server.snapshot().await;
    assert_eq!(snapshot.trucks.len(), 10);
    for truck in &snapshot.trucks {
        assert!(truck.last_event_id <= snapshot.last_event_id);
    }
    let id = snapshot.last_event_id.to_string();
    let mut stream = server.stream(&format!("?lastEventId={id}"), None).await;
    let ids: Vec<_> = stream.envelopes(100).await.iter().map(|e| e.id).collect();
    assert_eq!(ids[0], snapshot.last_event_id + 1);
    assert_contiguous(&ids);
}

/// Reads the `reset` that must come first, and checks live events follow it with no gap.
async fn expect_reset(server: &TestServer, query: &str, header: Option<&str>) -> ResetNotice {
    let mut stream = server.stream(query, header).await;
    let event = stream.next().await.expect("stream ended");
    assert_eq!(event.event_type, "reset", "{event:?}");
    // No `id:` line: the decoder's last event id is still empty.
    assert_eq!(event.id, "");
    let notice: ResetNotice = serde_json::from_str(&event.data).unwrap();
    assert!(notice.oldest_id <= notice.latest_id, "{notice:?}");
    let live = stream.envelopes(20).await;
    assert_eq!(live[0].id, notice.latest_id + 1, "{notice:?}");
    notice
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_when_older_than_the_replay_buffer() {
    let server = TestServer::start(Config {
        replay: 500,
        rate: 200.0,
        ..config()
    })
    .await;
    let mut stream = server.stream("", None).await;
    let old = stream.next_envelope().await.id;
    drop(stream);
    server.wait_for_id(old + 1500).await;
    let notice = expect_reset(&server, "", Some(&old.to_string())).await;
    assert!(notice.reason.contains("older"), "{notice:?}");
    assert!(notice.oldest_id > old);
    // Within the buffer, the same server resumes.
    let latest = server.stats().await.latest_event_id;
    let mut stream = server.stream("", Some(&(latest - 10).to_string())).await;
    assert_eq!(stream.next_envelope().await.id, latest - 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_when_the_id_is_from_a_previous_run_or_ahead() {
    let first = TestServer::start(config()).await;
    let mut stream = first.stream("", None).await;
    let old = stream.envelopes(50).await[49].id;
    drop(stream);
    first.stop().await;
    // Let the clock move on by a millisecond so the next run's ids start higher.
    tokio::time::sleep(Duration::from_millis(2)).await;
    let second = TestServer::start(config()).await;
    let mut stream = second.stream("", None).await;
    let new = stream.next_envelope().await.id;
    drop(stream);
    assert!(
        new > old,
        "ids must increase across restarts: {old} then {new}"
    );
    let notice = expect_reset(&second, &format!("?lastEventId={old}"), None).await;
    assert!(notice.reason.contains("previous"), "{notice:?}");
    let notice = expect_reset(&second, "", Some(&(new + 1_000_000).to_string())).await;
    assert!(notice.reason.contains("ahead"), "{notice:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_carry_the_latest_id_and_no_event_id() {
    let server = TestServer::start(config()).await;
    let mut stream = server.stream("?trucks=T-01&heartbeat_ms=100", None).await;
    let mut beats = 0;
    let mut last_seen = 0;
    while beats < 3 {
        let event = stream.next().await.expect("stream ended");
        if event.event_type == "heartbeat" {
            let beat: Heartbeat = serde_json::from_str(&event.data).unwrap();
            // Every T-01 event up to the heartbeat's id came before it.
            assert!(beat.latest_id >= last_seen, "{beat:?} after {last_seen}");
            assert!(beat.at_ms > 0);
            // The id is the previous event's: a heartbeat sets none.
            let expected_id = if last_seen == 0 {
                String::new()
            } else {
                last_seen.to_string()
            };
            assert_eq!(event.id, expected_id);
            beats += 1;
        } else {
            last_seen = event.id.parse().unwrap();
        }
    }
}

/// `trucks=` (no truck): a page that shows none still learns that its connection lives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_for_no_truck_carries_heartbeats_only() {
    let server = TestServer::start(config()).await;
    let mut stream = server.stream("?trucks=&heartbeat_ms=100", None).await;
    for _ in 0..5 {
        let event = stream.next().await.expect("stream ended");
        assert_eq!(event.event_type, "heartbeat", "{event:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_comments_flow_when_nothing_else_does() {
    let server = TestServer::start(Config {
        keepalive: Duration::from_millis(100),
        ..config()
    })
    .await;
    // A truck that does not exist: no events, only the retry line and comments.
    let mut response = server.get("/api/stream?trucks=T-99").await;
    let mut body = Vec::new();
    while body.windows(12).filter(|w| w == b": keep-alive").count() < 2 {
        let chunk = common::within(response.chunk()).await.unwrap().unwrap();
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).unwrap();
    assert!(text.starts_with("retry: 2000\n"), "{text:?}");
    assert!(!text.contains("id:"), "{text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_wrote_since_the_last_tick_gets_no_keepalive_comment() {
    let server = TestServer::start(Config {
        keepalive: Duration::from_millis(400),
        ..config()
    })
    .await;
    // Heartbeats every 100 ms: the stream writes between any two keep-alive ticks (and after a
    // stall its heartbeat is due before the tick is read).
    let mut response = server.get("/api/stream?trucks=&heartbeat_ms=100").await;
    let mut body = Vec::new();
    let heartbeats = |body: &[u8]| {
        body.windows(16)
            .filter(|w| w == b"event: heartbeat")
            .count()
    };
    while heartbeats(&body) < 1 {
        let chunk = common::within(response.chunk()).await.unwrap().unwrap();
        body.extend_from_slice(&chunk);
    }
    // A tick may have come before the first heartbeat; none may after it, over five ticks.
    body.clear();
    while heartbeats(&body) < 20 {
        let chunk = common::within(response.chunk()).await.unwrap().unwrap();
        body.extend_from_slice(&chunk);
    }
    let text = String::from_utf8(body).unwrap();
    assert!(!text.contains(": keep-alive"), "{text:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_on_a_busy_stream_follow_every_event_up_to_their_id() {
    let server = TestServer::start(Config {
        rate: 200.0,
        ..config()
    })
    .await;
    let mut stream = server.stream("?heartbeat_ms=100", None).await;
    let mut beats = 0;
    let mut last_seen: EventId = 0;
    while beats < 5 {
        let event = stream.next().await.expect("stream ended");
        if event.event_type == "heartbeat" {
            let beat: Heartbeat = serde_json::from_str(&event.data).unwrap();
            if last_seen > 0 {
                assert!(last_seen >= beat.latest_id, "{beat:?} before {last_seen}");
            }
            beats += 1;
        } else {
            let id: EventId = event.id.parse().unwrap();
            assert!(last_seen == 0 || id == last_seen + 1);
            last_seen = id;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batching_stream_carries_every_event_in_fewer_messages_and_resumes_after_a_batch() {
    // 200 trucks at 50/s: the simulator appends dozens of events per tick.
    let server = TestServer::start(Config {
        trucks: 200,
        ..config()
    })
    .await;
    let mut stream = server.stream("?batch=1", None).await;
    let (messages, ids) = stream.read_batched(3000).await;
    assert_contiguous(&ids);
    assert!(
        messages * 4 < ids.len(),
        "{messages} messages for {} events: appends went out one event at a time",
        ids.len()
    );
    drop(stream);
    // Resuming after an event inside a batch replays exactly what follows it, batched too.
    let after = ids[1000];
    let mut resumed = server
        .stream(&format!("?batch=1&lastEventId={after}"), None)
        .await;
    let (_, again) = resumed.read_batched(3000).await;
    assert_eq!(again[0], after + 1);
    assert!(
        again[..1999] == ids[1001..3000],
        "the resumed stream differs"
    );
    assert_contiguous(&again);
}
