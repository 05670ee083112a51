//! Three convoy-server nodes on one real redis-server: a stream resumes exactly on another
//! node, ingest on one node reaches the others (a line sent again with its key is a duplicate on
//! any node, a position too), and a Redis restart is a reset followed by
//! larger ids, with open streams kept open meanwhile. A node started while Redis is down waits
//! for it, refusing what it cannot serve yet; `--retention` by age trims Redis up to the stored
//! snapshot.

mod common;

use common::{config, within, RedisServer, SseClient, TempDir, TestServer, WAIT};
use convoy_core::wire::{EventId, FleetSnapshot, ResetNotice};
use convoy_server::api::Health;
use convoy_server::ingest::IngestReply;
use convoy_server::log::{LogSpec, Retention};
use convoy_server::Config;
use std::time::Duration;

const TOKEN: &str = "cluster-token";

/// A node's configuration on `redis`; `simulate` runs the simulator (exactly one node of a
/// cluster does).
fn node_config(redis: &RedisServer, dir: &TempDir, simulate: bool) -> Config {
    Config {
        log: LogSpec::Redis(redis.url()),
        trucks: if simulate { 10 } else { 0 },
        keepalive: Duration::from_millis(100),
        ingest_token_file: Some(dir.path().join("tokens")),
        ..config()
    }
}

/// A node on `redis` that has read the log (it reads it in the background).
async fn node(redis: &RedisServer, dir: &TempDir, simulate: bool) -> TestServer {
    let server = TestServer::start(node_config(redis, dir, simulate)).await;
    wait_health(&server, "the node never read its log", |h| h.ok).await;
    server
}

fn token_dir() -> TempDir {
    let dir = TempDir::new("cluster");
    dir.write("tokens", TOKEN.as_bytes());
    dir
}

fn ids(stream_ids: &[EventId]) {
    for pair in stream_ids.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "gap or repeat in {stream_ids:?}");
    }
}

async fn read_ids(stream: &mut SseClient, n: usize) -> Vec<EventId> {
    stream.envelopes(n).await.iter().map(|e| e.id).collect()
}

async fn ingest(server: &TestServer, body: String) -> reqwest::Response {
    within(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth(TOKEN)
            .body(body)
            .send(),
    )
    .await
    .unwrap()
}

fn status(truck: &str, key: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    serde_json::json!({
        "type": "alert_cleared", "truck": truck, "at_ms": now, "kind": "delay", "key": key,
    })
    .to_string()
}

async fn health(server: &TestServer) -> Health {
    server.get_json("/api/health").await
}

async fn wait_health(server: &TestServer, what: &str, check: impl Fn(&Health) -> bool) -> Health {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = health(server).await;
        if check(&now) {
            return now;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {now:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_read_on_a_resumes_on_b_then_c_with_every_id_once_in_order() {
    let redis = RedisServer::start().await;
    let dir = token_dir();
    let a = node(&redis, &dir, true).await;
    let b = node(&redis, &dir, false).await;
    let c = node(&redis, &dir, false).await;
    let mut seen = Vec::new();
    let mut stream = a.stream("", None).await;
    seen.extend(read_ids(&mut stream, 200).await);
    drop(stream);
    for next in [&b, &c] {
        let last = *seen.last().unwrap();
        let mut stream = next.stream("", Some(&last.to_string())).await;
        let more = read_ids(&mut stream, 200).await;
        assert_eq!(more[0], last + 1, "resumed at the wrong id");
        seen.extend(more);
    }
    ids(&seen);
    // Every node serves the same fleet: the simulator's ten trucks.
    for server in [&a, &b, &c] {
        let snapshot: FleetSnapshot = server.snapshot().await;
        assert_eq!(snapshot.trucks.len(), 10);
    }
    // An id the log has not issued yet is ahead on any node.
    let ahead = seen.last().unwrap() + 1_000_000;
    let mut stream = c.stream("", Some(&ahead.to_string())).await;
    let event = stream.next().await.unwrap();
    assert_eq!(event.event_type, "reset");
    assert!(event.data.contains("ahead"), "{}", event.data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_on_b_reaches_the_streams_and_fleets_of_a_and_c() {
    let redis = RedisServer::start().await;
    let dir = token_dir();
    let a = node(&redis, &dir, false).await;
    let b = node(&redis, &dir, false).await;
    let c = node(&redis, &dir, false).await;
    let mut on_a = a.stream("", None).await;
    let mut on_c = c.stream("", None).await;
    let body = [status("EXT-1", "k1"), status("EXT-2", "k2")].join("\n");
    let response = ingest(&b, body.clone()).await;
    assert_eq!(response.status(), 200);
    let reply: IngestReply = response.json().await.unwrap();
    assert_eq!(reply.accepted, 2);
    assert_eq!(read_ids(&mut on_a, 2).await, reply.ids);
    assert_eq!(read_ids(&mut on_c, 2).await, reply.ids);
    for server in [&a, &b, &c] {
        let snapshot = server.snapshot().await;
        assert_eq!(snapshot.last_event_id, reply.ids[1]);
        let trucks: Vec<(&str, EventId)> = snapshot
            .trucks
            .iter()
            .map(|t| (t.id.as_str(), t.last_event_id))
            .collect();
        assert_eq!(trucks, [("EXT-1", reply.ids[0]), ("EXT-2", reply.ids[1])]);
    }
    // The same keys retried through another node are duplicates: the log keeps them.
    let retry: IngestReply = ingest(&c, body).await.json().await.unwrap();
    assert_eq!((retry.accepted, retry.duplicates), (0, 2));
    assert_eq!(retry.ids, reply.ids);
    // A node that starts later rebuilds the same fleet from Redis.
    let d = node(&redis, &dir, false).await;
    assert_eq!(d.snapshot().await, b.snapshot().await);
}

/// Posts `body` and reads the reply, failing with the server's words on anything but 200.
async fn ingested(server: &TestServer, body: String) -> IngestReply {
    let response = ingest(server, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_position_sent_again_with_its_key_is_a_duplicate_on_every_node() {
    let redis = RedisServer::start().await;
    let dir = token_dir();
    let a = node(&redis, &dir, false).await;
    let b = node(&redis, &dir, false).await;
    // A producer whose request timed out cannot tell whether it was kept: it sends it again.
    let mut line = common::position_line("EXT-9");
    line["key"] = "p1".into();
    let first = ingested(&a, line.to_string()).await;
    assert_eq!((first.accepted, first.duplicates), (1, 0));
    let latest = health(&a).await.latest_event_id;
    wait_health(&b, "b never read the position", |h| {
        h.latest_event_id >= latest
    })
    .await;
    // Both trips have moved to it, so the position itself is no longer after the last one:
    // the key answers first.
    for server in [&a, &b] {
        let again = ingested(server, line.to_string()).await;
        assert_eq!((again.accepted, again.duplicates), (0, 1));
        assert_eq!(again.ids, first.ids);
    }
    let mut next = common::position_line("EXT-9");
    next["key"] = "p2".into();
    let both = ingested(&b, [line.to_string(), next.to_string()].join("\n")).await;
    assert_eq!((both.accepted, both.duplicates), (1, 1));
    assert_eq!(both.ids[0], first.ids[0]);
    assert!(both.ids[1] > latest, "{both:?}");
    // Without a key, the same position is refused as not after the last.
    line.as_object_mut().unwrap().remove("key");
    let response = ingest(&a, line.to_string()).await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(text.contains("is not after the last position"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_then_restarted_empty_keeps_streams_open_then_resets_with_larger_ids() {
    let mut redis = RedisServer::start().await;
    let dir = token_dir();
    let a = node(&redis, &dir, true).await;
    let b = node(&redis, &dir, false).await;
    let mut open = b.stream("", None).await;
    let before = read_ids(&mut open, 50).await;
    ids(&before);
    let old_first = health(&b).await.first_id;

    redis.kill();
    wait_health(&b, "health never said Redis is down", |h| !h.ok).await;
    let refused = ingest(&b, status("EXT-1", "down")).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    // The open stream stays open: keep-alives keep coming.
    let mut body = String::new();
    while !body.contains(": keep-alive") {
        let chunk = within(open.response.chunk())
            .await
            .unwrap()
            .expect("stream closed");
        open.decoder.feed(&chunk);
        body.push_str(&String::from_utf8_lossy(&chunk));
    }
    let mut previous = *before.last().unwrap();
    while let Some(event) = open.decoder.poll_event() {
        if event.event_type != "heartbeat" {
            let id: EventId = event.id.parse().unwrap();
            assert_eq!(id, previous + 1, "gap or repeat before the outage");
            previous = id;
        }
    }
    let last = health(&b).await.latest_event_id;

    redis.start_again().await;
    let now = wait_health(&b, "never saw the new epoch", |h| h.ok && h.first_id > last).await;
    assert!(now.first_id > old_first);
    // The open stream goes on: what it had not sent before the outage (keep-alives may come
    // first), then ids larger than any before.
    loop {
        let id = open.next_envelope().await.id;
        if id > last {
            break;
        }
        assert_eq!(id, previous + 1, "gap or repeat before the outage");
        previous = id;
    }
    assert_eq!(previous, last, "events from before the outage were lost");
    // Resuming from before the restart, on any node, is a reset, then new ids.
    for server in [&a, &b] {
        let mut resumed = server.stream("", Some(&last.to_string())).await;
        let event = resumed.next().await.unwrap();
        assert_eq!(event.event_type, "reset", "{event:?}");
        let notice: ResetNotice = serde_json::from_str(&event.data).unwrap();
        assert!(notice.reason.contains("previous"), "{notice:?}");
        assert!(resumed.next_envelope().await.id > last);
    }
    // Ingest works again, above everything earlier.
    let response = ingest(&b, status("EXT-1", "up")).await;
    assert_eq!(response.status(), 200);
    let reply: IngestReply = response.json().await.unwrap();
    assert!(reply.ids[0] > last);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flushall_starts_a_new_epoch_with_larger_ids_and_old_ids_reset() {
    let redis = RedisServer::start().await;
    let dir = token_dir();
    let a = node(&redis, &dir, true).await;
    let b = node(&redis, &dir, false).await;
    let mut open = b.stream("", None).await;
    let before = read_ids(&mut open, 30).await;
    assert_eq!(redis.command("FLUSHALL").await.as_deref(), Some("+OK"));
    let seen_before = *before.last().unwrap();
    let now = wait_health(&b, "never saw the new epoch", |h| h.first_id > seen_before).await;
    // The open stream carries on: the rest of the old epoch, then the new one, increasing.
    let mut previous = seen_before;
    while previous < now.first_id {
        let id = open.next_envelope().await.id;
        assert!(id > previous, "{id} after {previous}");
        previous = id;
    }
    for server in [&a, &b] {
        let mut resumed = server.stream("", Some(&seen_before.to_string())).await;
        let event = resumed.next().await.unwrap();
        assert_eq!(event.event_type, "reset", "{event:?}");
        assert!(resumed.next_envelope().await.id >= now.first_id);
    }
    // A node that starts now serves the whole fleet from the new epoch.
    let late = node(&redis, &dir, false).await;
    assert_eq!(late.snapshot().await.trucks.len(), 10);
}

/// 503 with `Retry-After: 1` and a JSON error saying the log is not reachable yet.
async fn not_yet(response: reqwest::Response, what: &str) {
    assert_eq!(response.status(), 503, "{what}");
    assert_eq!(response.headers()["retry-after"], "1", "{what}");
    let body: serde_json::Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("not reachable yet"), "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_started_while_redis_is_down_refuses_until_it_answers_then_serves() {
    let mut redis = RedisServer::start().await;
    redis.kill();
    let dir = token_dir();
    let a = TestServer::start(node_config(&redis, &dir, true)).await;
    // It listens, and says it cannot serve yet.
    let now = health(&a).await;
    assert!(!now.ok, "{now:?}");
    not_yet(ingest(&a, status("EXT-1", "early")).await, "ingest").await;
    // No fleet, stream or acknowledgement from a fleet that is not the log's.
    not_yet(a.get("/api/fleet").await, "fleet").await;
    not_yet(a.get("/api/stream").await, "stream").await;
    let ack = a
        .client
        .post(a.url("/api/alerts/1/ack"))
        .json(&serde_json::json!({}));
    let ack = within(ack.send()).await.unwrap();
    not_yet(ack, "ack").await;

    redis.start_again().await;
    wait_health(&a, "never read the log once Redis answered", |h| h.ok).await;
    let mut stream = a.stream("", None).await;
    let seen = read_ids(&mut stream, 50).await;
    ids(&seen);
    let response = ingest(&a, status("EXT-1", "later")).await;
    assert_eq!(response.status(), 200);
    let reply: IngestReply = response.json().await.unwrap();
    assert_eq!(reply.accepted, 1);
    assert!(reply.ids[0] > seen[0]);
    // The simulator's ten trucks and the ingested one, as Redis has them.
    let snapshot = a.snapshot().await;
    assert_eq!(snapshot.trucks.len(), 11);
    let later = node(&redis, &dir, false).await;
    later.wait_for_id(reply.ids[0]).await;
    let theirs = later.snapshot().await;
    assert!(theirs.trucks.iter().any(|t| t.id == "EXT-1"));
}

/// `XLEN` of the default fleet's stream.
async fn stream_length(redis: &RedisServer) -> u64 {
    let reply = redis.command("XLEN convoy:{default}:events").await.unwrap();
    reply.trim_start_matches(':').parse().unwrap()
}

async fn wait_length(redis: &RedisServer, what: &str, length: u64) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let now = stream_length(redis).await;
        if now == length {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: XLEN {now}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn statuses(prefix: &str, n: usize) -> String {
    (0..n)
        .map(|i| status(&format!("{prefix}-{i}"), &format!("{prefix}-key-{i}")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_age_trims_redis_up_to_the_stored_snapshot_and_never_past_it() {
    let redis = RedisServer::start().await;
    let dir = token_dir();
    let aged = || Config {
        retention: Retention::Age(Duration::from_secs(1)),
        trim_every: Duration::from_millis(50),
        ..node_config(&redis, &dir, false)
    };
    let start = |config: Config| async {
        let server = TestServer::start(config).await;
        wait_health(&server, "the node never read its log", |h| h.ok).await;
        server
    };
    // Five events, then a stop that stores the fleet snapshot after them.
    let a = start(aged()).await;
    let first: IngestReply = ingest(&a, statuses("OLD", 5)).await.json().await.unwrap();
    assert_eq!(first.accepted, 5);
    a.stop().await;
    assert_eq!(stream_length(&redis).await, 5);

    // Five more after the snapshot: the first five age out, these stay however old they get.
    let b = start(aged()).await;
    let second: IngestReply = ingest(&b, statuses("NEW", 5)).await.json().await.unwrap();
    assert_eq!(second.accepted, 5);
    wait_length(&redis, "the aged events before the snapshot stayed", 5).await;
    // Past the age, and many trims later, what the snapshot does not hold is still there.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(stream_length(&redis).await, 5);
    b.stop().await;

    // A snapshot after them lets them go; the fleet is rebuilt from it.
    let c = start(aged()).await;
    wait_length(&redis, "the aged events before the new snapshot stayed", 0).await;
    let fleet = c.snapshot().await;
    assert_eq!(fleet.trucks.len(), 10);
    assert_eq!(fleet.last_event_id, second.ids[4]);
    let next: IngestReply = ingest(&c, statuses("NEXT", 1)).await.json().await.unwrap();
    assert!(next.ids[0] > second.ids[4]);
}
