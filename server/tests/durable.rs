//! The file engine with the real binary: `kill -9` in the middle of ingest, restart on the same
//! directory, and nothing accepted is lost or repeated; ids continue; the fleet is rebuilt; the
//! background pruning keeps what `--retention` says.

mod common;

use common::{config, within, ServerProcess, TempDir, TestServer};
use convoy_core::wire::{EventId, FleetEvent, FleetSnapshot};
use convoy_server::api::Health;
use convoy_server::ingest::IngestReply;
use convoy_server::log::{LogSpec, Retention};
use convoy_server::Config;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TOKEN: &str = "durable-token";
const KINDS: [&str; 4] = ["delay", "temperature", "off_route", "driver_hours"];

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Batch `n`'s events: 25 alerts over 8 trucks, each numbered in its message and keyed by batch
/// and line.
fn batch(n: usize) -> String {
    (0..25)
        .map(|i| {
            serde_json::json!({
                "type": "alert",
                "truck": format!("D-{}", (n * 25 + i) % 8),
                "at_ms": now_ms(),
                "alert": {
                    "kind": KINDS[(n + i) % 4],
                    "message": (n * 25 + i).to_string(),
                    "raised_ms": now_ms(),
                },
                "key": format!("{n}:{i}"),
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The number an event of [`batch`] carries.
fn next_stop(event: &FleetEvent) -> usize {
    match event {
        FleetEvent::Alert { alert, .. } => alert.message.parse().unwrap(),
        other => panic!("unexpected {other:?}"),
    }
}

async fn post(client: &reqwest::Client, url: &str, body: String) -> Option<IngestReply> {
    let response = client
        .post(url)
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    response.json().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_ingest_then_restart_loses_and_repeats_nothing_accepted() {
    let dir = TempDir::new("durable");
    dir.write("tokens", TOKEN.as_bytes());
    let log = format!("file:{}", dir.path().join("data").display());
    let tokens = dir.path().join("tokens").display().to_string();
    let args = [
        "--log",
        log.as_str(),
        "--trucks",
        "0",
        "--ingest-token-file",
        tokens.as_str(),
    ];
    let server = ServerProcess::start(&args);
    let health: Health = server.get_json("/api/health").await;
    assert_eq!(health.log, "file", "{health:?}");
    let first_id = health.first_id;

    // Two writers post keyed batches as fast as they are answered; every reply is recorded.
    // The server is killed while they are at it, so some requests die in flight.
    let accepted: Arc<Mutex<BTreeMap<EventId, usize>>> = Arc::default();
    let url = server.url("/api/ingest");
    let mut writers = Vec::new();
    for writer in 0..2 {
        let (accepted, url) = (accepted.clone(), url.clone());
        writers.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            for n in (writer..).step_by(2) {
                let Some(reply) = post(&client, &url, batch(n)).await else {
                    return;
                };
                let mut accepted = accepted.lock().unwrap();
                for (i, id) in reply.ids.iter().enumerate() {
                    accepted.insert(*id, n * 25 + i);
                }
            }
        }));
    }
    // Past two stored snapshots, so the restart rebuilds from a snapshot plus a tail.
    let deadline = tokio::time::Instant::now() + common::WAIT * 3;
    while accepted.lock().unwrap().len() < 2600 {
        assert!(tokio::time::Instant::now() < deadline, "ingest too slow");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.kill();
    for writer in writers {
        within(writer).await.unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();

    let server = ServerProcess::start(&args);
    let health: Health = server.get_json("/api/health").await;
    assert_eq!(health.first_id, first_id, "the same log, not a new one");
    let max_accepted = *accepted.keys().last().unwrap();
    assert!(health.latest_event_id >= max_accepted, "{health:?}");
    // Everything since the first id, once each, in order: every accepted event with its content.
    let mut stream = server.stream(Some(first_id - 1)).await;
    let replayed = stream
        .envelopes((health.latest_event_id - first_id + 1) as usize)
        .await;
    let mut last_of_truck: BTreeMap<String, (EventId, usize)> = BTreeMap::new();
    for (offset, envelope) in replayed.iter().enumerate() {
        assert_eq!(envelope.id, first_id + offset as u64, "gap or repeat");
        let stop = next_stop(&envelope.event);
        if let Some(sent) = accepted.get(&envelope.id) {
            assert_eq!(stop, *sent, "event {} changed", envelope.id);
        }
        last_of_truck.insert(envelope.event.truck().to_owned(), (envelope.id, stop));
    }
    // Requests answered with the same key before the kill are duplicates now, not new events.
    let stops: Vec<usize> = replayed.iter().map(|e| next_stop(&e.event)).collect();
    let mut unique = stops.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), stops.len(), "an event was stored twice");

    // The fleet is rebuilt: each truck as of its last event.
    let snapshot: FleetSnapshot = server.get_json("/api/fleet").await;
    assert_eq!(snapshot.last_event_id, health.latest_event_id);
    assert_eq!(snapshot.trucks.len(), 8);
    for truck in &snapshot.trucks {
        let (id, stop) = last_of_truck[&truck.id];
        assert_eq!(truck.last_event_id, id, "{truck:?}");
        assert!(
            truck.alerts.iter().any(|a| a.message == stop.to_string()),
            "{truck:?}"
        );
    }

    // A batch answered before the kill, retried after it, is a no-op answering the same ids:
    // the keys were stored with the events.
    let client = reqwest::Client::new();
    let first_batch: Vec<EventId> = accepted
        .iter()
        .filter(|(_, stop)| **stop < 25)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(first_batch.len(), 25);
    let retry = post(&client, &server.url("/api/ingest"), batch(0))
        .await
        .unwrap();
    assert_eq!((retry.accepted, retry.duplicates), (0, 25));
    assert_eq!(retry.ids, first_batch);

    // Ids continue from the last one issued.
    let reply = post(&client, &server.url("/api/ingest"), batch(100_000))
        .await
        .unwrap();
    assert_eq!(reply.ids[0], health.latest_event_id + 1);
    let live = stream.next_envelope().await;
    assert_eq!(live.id, health.latest_event_id + 1);

    // A clean stop and start: the same again, from the snapshot alone.
    server.terminate();
    let server = ServerProcess::start(&args);
    let after: FleetSnapshot = server.get_json("/api/fleet").await;
    assert_eq!(after.last_event_id, reply.ids[24]);
    let moved = after
        .trucks
        .iter()
        .find(|t| t.last_event_id == reply.ids[24]);
    let last = (100_000 * 25 + 24).to_string();
    assert!(moved.is_some_and(|t| t.alerts.iter().any(|a| a.message == last)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_in_the_background_and_old_ids_reset() {
    let dir = TempDir::new("retention");
    dir.write("tokens", TOKEN.as_bytes());
    let server = TestServer::start(Config {
        trucks: 0,
        log: LogSpec::File(dir.path().join("data")),
        retention: Retention::Events(300),
        trim_every: Duration::from_millis(20),
        ingest_token_file: Some(dir.path().join("tokens")),
        ..config()
    })
    .await;
    let health: Health = server.get_json("/api/health").await;
    let client = reqwest::Client::new();
    let url = server.url("/api/ingest");
    for n in 0..50 {
        post(&client, &url, batch(n)).await.unwrap();
    }
    let latest = health.first_id + 50 * 25 - 1;
    // Pruned (never past the last stored snapshot, taken every 1000 events) down to 300.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let pruned = loop {
        let now: Health = server.get_json("/api/health").await;
        assert!(now.oldest_id <= latest - 300, "pruned too much: {now:?}");
        if now.oldest_id == latest - 300 {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never pruned: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(pruned.latest_event_id, latest);
    let mut stream = server.stream("", Some(&health.first_id.to_string())).await;
    let reset = stream.next().await.unwrap();
    assert_eq!(reset.event_type, "reset");
    assert!(reset.data.contains("older"), "{}", reset.data);
    let mut stream = server.stream("", Some(&pruned.oldest_id.to_string())).await;
    assert_eq!(stream.next_envelope().await.id, pruned.oldest_id + 1);
}
