//! A rolling restart loses nothing: three real convoy-server processes on one real redis-server,
//! 12 SSE clients spread over them that, when their stream ends, come back to the next node with
//! `Last-Event-ID` after the `retry:` the server asked for (a tiny round-robin stands in for the
//! proxy), and an ingest producer appending at a steady rate to whichever node is up. Every node
//! is restarted with SIGTERM, one after the other: every client gets every event exactly once,
//! in order, and no reset. The longest wait each client saw after a restart is printed.

mod common;

use common::{within, RedisServer, ServerProcess, TempDir, WAIT};
use convoy_core::sse::Decoder;
use convoy_core::wire::{decode_event, EventId, FleetSnapshot};
use convoy_server::api::Health;
use convoy_server::ingest::IngestReply;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

const TOKEN: &str = "rolling-token";
const NODES: usize = 3;
const CLIENTS: usize = 12;
/// The producer's pace: 50 events a second.
const EVERY: Duration = Duration::from_millis(20);

/// Where each node listens; `None` while it is down. What the proxy would know.
type Table = Arc<Mutex<Vec<Option<SocketAddr>>>>;

fn addr_of(table: &Table, node: usize) -> Option<SocketAddr> {
    table.lock().unwrap()[node % NODES]
}

fn start_node(redis_url: &str, tokens: &str) -> ServerProcess {
    ServerProcess::start(&[
        "--log",
        redis_url,
        "--trucks",
        "0",
        "--ingest-token-file",
        tokens,
        "--keepalive",
        "1",
        "--shutdown-timeout",
        "5s",
    ])
}

/// Waits until `node` has read the shared log.
async fn wait_loaded(node: &ServerProcess) {
    let deadline = Instant::now() + WAIT;
    loop {
        let health: Health = node.get_json("/api/health").await;
        if health.ok {
            return;
        }
        assert!(Instant::now() < deadline, "the node never read its log");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn cleared(n: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    serde_json::json!({
        "type": "alert_cleared", "truck": format!("R-{}", n % 7), "at_ms": now, "kind": "delay",
        "key": format!("p{n}"),
    })
    .to_string()
}

/// Posts event `n` to the first node that answers 200, trying each in turn; its id.
async fn append(http: &reqwest::Client, table: &Table, node: &mut usize, n: u64) -> EventId {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(addr) = addr_of(table, *node) {
            let sent = http
                .post(format!("http://{addr}/api/ingest"))
                .bearer_auth(TOKEN)
                .body(cleared(n))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if let Ok(response) = sent {
                if response.status() == 200 {
                    if let Ok(reply) = response.json::<IngestReply>().await {
                        return reply.ids[0];
                    }
                }
            }
        }
        assert!(Instant::now() < deadline, "no node took event {n}");
        *node += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// What one client saw.
#[derive(Debug, Default)]
struct Seen {
    /// Every event id, with when it arrived.
    events: Vec<(EventId, Instant)>,
    resets: usize,
    /// Streams that ended under it.
    ended: usize,
    /// The last `retry:` each ended stream asked for.
    retries: Vec<Option<u64>>,
}

/// Follows the stream from `after` until it has `target` (once known), moving to the next node
/// when a stream ends or a node does not answer, after the `retry:` its last stream asked for.
async fn client(first: usize, table: Table, after: EventId, target: Arc<AtomicU64>) -> Seen {
    let http = reqwest::Client::new();
    let mut seen = Seen::default();
    let mut node = first;
    let mut last = after;
    let done = |last: EventId| {
        let target = target.load(Ordering::Acquire);
        target != 0 && last >= target
    };
    while !done(last) {
        let Some(addr) = addr_of(&table, node) else {
            node += 1;
            continue;
        };
        let opened = http
            .get(format!("http://{addr}/api/stream"))
            .header("Last-Event-ID", last.to_string())
            .send()
            .await;
        let mut response = match opened {
            Ok(response) if response.status() == 200 => response,
            _ => {
                node += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let mut decoder = Decoder::new();
        while !done(last) {
            match response.chunk().await {
                Ok(Some(bytes)) => decoder.feed(&bytes),
                Ok(None) | Err(_) => break,
            }
            while let Some(event) = decoder.poll_event() {
                match event.event_type.as_str() {
                    "heartbeat" => {}
                    "reset" => seen.resets += 1,
                    name => {
                        let envelope = decode_event(name, &event.data, &event.id)
                            .unwrap_or_else(|e| panic!("bad event {event:?}: {e}"));
                        seen.events.push((envelope.id, Instant::now()));
                        last = envelope.id;
                    }
                }
            }
        }
        if done(last) {
            break;
        }
        seen.ended += 1;
        seen.retries.push(decoder.retry_ms());
        node += 1;
        // As a browser does: the delay the stream asked for, then the next node (the proxy's pick).
        let wait = decoder.retry_ms().unwrap_or(3000);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_of_three_nodes_loses_and_repeats_nothing_in_any_client() {
    let redis = RedisServer::start().await;
    let dir = TempDir::new("rolling");
    dir.write("tokens", TOKEN.as_bytes());
    let tokens = dir.path().join("tokens").display().to_string();
    let mut nodes: Vec<ServerProcess> = (0..NODES)
        .map(|_| start_node(&redis.url(), &tokens))
        .collect();
    for node in &nodes {
        wait_loaded(node).await;
    }
    let table: Table = Arc::new(Mutex::new(nodes.iter().map(|n| Some(n.addr)).collect()));

    // Every client starts after the same event, so each must see the same ids.
    let http = reqwest::Client::new();
    let mut first_node = 0;
    let after = append(&http, &table, &mut first_node, 0).await;
    let target = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| tokio::spawn(client(i, table.clone(), after, target.clone())))
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let newest = Arc::new(AtomicU64::new(after));
    let producer = tokio::spawn({
        let (table, stop, newest) = (table.clone(), stop.clone(), newest.clone());
        async move {
            let http = reqwest::Client::new();
            let mut ticks = tokio::time::interval(EVERY);
            let mut node = 0;
            let mut n = 1;
            while !stop.load(Ordering::Acquire) {
                ticks.tick().await;
                let id = append(&http, &table, &mut node, n).await;
                newest.fetch_max(id, Ordering::AcqRel);
                n += 1;
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Each node in turn: SIGTERM, a clean exit, a new process in its place.
    let mut faults = Vec::new();
    for (k, slot) in nodes.iter_mut().enumerate() {
        faults.push((Instant::now(), newest.load(Ordering::Acquire)));
        slot.send_sigterm();
        let status = slot
            .wait_exit(WAIT)
            .await
            .unwrap_or_else(|| panic!("node {k} did not exit after SIGTERM"));
        assert!(status.success(), "node {k}: {status}");
        table.lock().unwrap()[k] = None;
        // Starting reads its stdout, blocking: not on the thread the clients' timings share.
        let fresh = tokio::task::spawn_blocking({
            let (url, tokens) = (redis.url(), tokens.clone());
            move || start_node(&url, &tokens)
        })
        .await
        .unwrap();
        wait_loaded(&fresh).await;
        table.lock().unwrap()[k] = Some(fresh.addr);
        *slot = fresh;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop.store(true, Ordering::Release);
    within(producer).await.unwrap();
    let last = newest.load(Ordering::Acquire);
    // Every node has the whole log, up to the last event appended.
    for node in &nodes {
        let deadline = Instant::now() + WAIT;
        loop {
            let fleet: FleetSnapshot = node.get_json("/api/fleet").await;
            if fleet.last_event_id == last {
                break;
            }
            assert!(fleet.last_event_id < last && Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    target.store(last, Ordering::Release);

    let expected: Vec<EventId> = (after + 1..=last).collect();
    assert!(
        faults.iter().all(|(_, newest)| *newest < last),
        "events were appended after every restart"
    );
    let mut ended = 0;
    for (i, client) in clients.into_iter().enumerate() {
        let seen = tokio::time::timeout(WAIT, client)
            .await
            .expect("the client caught up")
            .unwrap();
        let ids: Vec<EventId> = seen.events.iter().map(|(id, _)| *id).collect();
        if ids != expected {
            let repeats = ids.windows(2).filter(|w| w[1] <= w[0]).count();
            let missing = expected.iter().filter(|id| !ids.contains(id)).count();
            panic!("client {i}: {missing} events missing, {repeats} out of order or repeated");
        }
        assert_eq!(seen.resets, 0, "client {i} was reset");
        assert!(
            seen.retries.iter().all(|r| *r == Some(250)),
            "client {i}: every stream that ended asked for a short retry: {:?}",
            seen.retries
        );
        ended += seen.ended;
        // The longest wait, over the restarts, from the signal to the first event newer than
        // the newest one appended at the signal.
        let stall = faults
            .iter()
            .filter_map(|(at, newest)| {
                let (_, got) = seen.events.iter().find(|(id, _)| id > newest)?;
                Some(got.saturating_duration_since(*at))
            })
            .max()
            .unwrap_or_default();
        // And the longest silence between two events (the producer sends one every 20 ms).
        let silence = seen
            .events
            .windows(2)
            .map(|w| w[1].1 - w[0].1)
            .max()
            .unwrap_or_default();
        println!(
            "client {i:2}: {} events, {} streams ended by a restart, longest stall after a \
             restart {} ms, longest silence between two events {} ms",
            ids.len(),
            seen.ended,
            stall.as_millis(),
            silence.as_millis()
        );
    }
    // Each node held about a third of the clients when it went.
    assert!(ended >= CLIENTS, "restarts ended {ended} streams");
}
