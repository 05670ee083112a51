//! `POST /api/ingest` over real loopback HTTP: accepted events reach the stream and the fleet,
//! bad requests append nothing, limits, tokens and idempotency keys.

mod common;

use common::{config, within, TempDir, TestServer};
use convoy_core::wire::{EventId, TruckDetail, TruckStatus};
use convoy_server::ingest::IngestReply;
use convoy_server::Config;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "s3cret-token";

/// An ingest-only server (no simulator) that takes `TOKEN`; the temp dir holds the token file.
async fn ingest_server(tweak: impl FnOnce(&mut Config)) -> (TestServer, TempDir) {
    let dir = TempDir::new("ingest");
    dir.write(
        "tokens",
        format!("# operators\n\nother-token\n{TOKEN}\n").as_bytes(),
    );
    let mut config = Config {
        trucks: 0,
        ingest_token_file: Some(dir.path().join("tokens")),
        ..config()
    };
    tweak(&mut config);
    (TestServer::start(config).await, dir)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A line that appends exactly one event as it is (an external system clearing an alert of
/// kind `kind`), whatever came before.
fn status_line(truck: &str, kind: &str, key: Option<&str>) -> String {
    let kind = match kind {
        "idle" | "loading" => "delay",
        "en_route" => "temperature",
        "at_stop" => "off_route",
        _ => "driver_hours",
    };
    let mut value = json!({
        "type": "alert_cleared", "truck": truck, "at_ms": now_ms(), "kind": kind,
    });
    if let Some(key) = key {
        value["key"] = key.into();
    }
    value.to_string()
}

/// A position of `truck` at `speed` (a truck without a plan: one event).
fn telemetry_line(truck: &str, speed: f64) -> String {
    let mut line = common::position_line(truck);
    line["speed_kph"] = speed.into();
    line["fuel_pct"] = 80.0.into();
    line.to_string()
}

async fn post(server: &TestServer, token: Option<&str>, body: String) -> reqwest::Response {
    let mut request = server.client.post(server.url("/api/ingest")).body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    within(request.send()).await.unwrap()
}

async fn error_of(response: reqwest::Response, status: u16) -> serde_json::Value {
    assert_eq!(response.status(), status);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_events_stream_with_contiguous_ids_and_new_trucks_join_the_fleet() {
    let (server, _dir) = ingest_server(|_| {}).await;
    let before = server.snapshot().await;
    assert!(before.trucks.is_empty());
    let mut stream = server.stream("", None).await;
    let body = [
        status_line("ACME-7", "en_route", None),
        telemetry_line("ACME-7", 61.5),
        status_line("ACME-9", "delayed", None),
    ]
    .join("\n");
    let response = post(&server, Some(TOKEN), body).await;
    assert_eq!(response.status(), 200);
    let reply: IngestReply = response.json().await.unwrap();
    assert_eq!((reply.accepted, reply.duplicates), (3, 0));
    let first = before.last_event_id + 1;
    assert_eq!(reply.ids, [first, first + 1, first + 2]);
    // The stream carries them, in order, with those ids, in the stream's own shape.
    let streamed = stream.envelopes(3).await;
    let ids: Vec<EventId> = streamed.iter().map(|e| e.id).collect();
    assert_eq!(ids, reply.ids);
    assert_eq!(streamed[1].event.name(), "position");
    assert_eq!(streamed[2].event.truck(), "ACME-9");
    // The fleet knows both new trucks, as of the last event.
    let snapshot = server.snapshot().await;
    assert_eq!(snapshot.last_event_id, first + 2);
    let ids: Vec<&str> = snapshot.trucks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["ACME-7", "ACME-9"]);
    let detail: TruckDetail = server.get_json("/api/trucks/ACME-7").await;
    assert_eq!(detail.truck.status, TruckStatus::Idle, "no plan: idle");
    assert_eq!(detail.truck.speed_kph, Some(61.5));
    assert_eq!(detail.truck.position.map(|p| p.lat()), Some(41.8781));
    assert_eq!(detail.truck.last_event_id, first + 1);
    // A JSON array works the same.
    let array = format!(
        "[{}, {}]",
        status_line("ACME-7", "at_stop", None),
        telemetry_line("ACME-7", 0.0)
    );
    let reply: IngestReply = post(&server, Some(TOKEN), array)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(reply.ids, [first + 3, first + 4]);
    assert_eq!(stream.envelopes(2).await[1].id, first + 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_line_is_400_naming_it_and_nothing_of_the_request_is_appended() {
    let (server, _dir) = ingest_server(|_| {}).await;
    let latest = server.stats().await.latest_event_id;
    let good = status_line("ACME-1", "idle", None);
    let far_future = json!({
        "type": "position", "truck": "ACME-1", "at_ms": now_ms() + 86_400_000,
        "lat": 41.0, "lon": -87.0,
    })
    .to_string();
    let cases = [
        (
            format!("{good}\n{{\"type\": \"status\", \"truck\": "),
            2,
            "invalid JSON",
        ),
        (
            format!(
                "{good}\n\n{}",
                r#"{"type":"teleport","truck":"ACME-1","at_ms":1}"#
            ),
            3,
            "unknown line type",
        ),
        (
            format!("{good}\n{far_future}\n{good}"),
            2,
            "ahead of the server's clock",
        ),
        (
            format!(
                "{good}\n{}",
                r#"{"type":"alert_cleared","truck":"../etc","at_ms":1,"kind":"delay"}"#
            ),
            2,
            "invalid truck id",
        ),
        (
            format!(
                "{good}\n{}",
                r#"{"type":"position","truck":"ACME-1","at_ms":1,"lat":1,"lon":2,"speed_kph":1e40}"#
            ),
            2,
            "speed_kph is not a finite number",
        ),
    ];
    for (body, line, reason) in cases {
        let error = error_of(post(&server, Some(TOKEN), body.clone()).await, 400).await;
        assert_eq!(error["line"], line, "{body}: {error}");
        let message = error["error"].as_str().unwrap();
        assert!(message.contains(reason), "{body}: {error}");
        assert!(message.starts_with(&format!("line {line}: ")), "{error}");
    }
    let array = format!("[{good}, 7]");
    let error = error_of(post(&server, Some(TOKEN), array).await, 400).await;
    assert!(
        error["error"].as_str().unwrap().starts_with("item 2: "),
        "{error}"
    );
    // Not even the good first lines were kept.
    assert_eq!(server.stats().await.latest_event_id, latest);
    assert!(server.snapshot().await.trucks.is_empty());
    error_of(post(&server, Some(TOKEN), "\n\n".into()).await, 400).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413_with_or_without_a_length() {
    let (server, _dir) = ingest_server(|c| {
        c.ingest_max_bytes = 2048;
        c.ingest_max_events = 5;
    })
    .await;
    let line = status_line("ACME-1", "idle", None);
    let big = [line.as_str(); 30].join("\n");
    assert!(big.len() > 2048);
    error_of(post(&server, Some(TOKEN), big.clone()).await, 413).await;
    // Chunked, so the server only finds out while reading.
    let chunks: Vec<Result<String, std::io::Error>> =
        big.lines().map(|l| Ok(format!("{l}\n"))).collect();
    let response = within(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth(TOKEN)
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            )))
            .send(),
    )
    .await
    .unwrap();
    error_of(response, 413).await;
    // Under the byte limit but over the event limit.
    let six = [line.as_str(); 6].join("\n");
    assert!(six.len() < 2048);
    let error = error_of(post(&server, Some(TOKEN), six).await, 413).await;
    assert!(
        error["error"].as_str().unwrap().contains("6 events"),
        "{error}"
    );
    assert!(server.snapshot().await.trucks.is_empty());
    let five = [line.as_str(); 5].join("\n");
    assert_eq!(post(&server, Some(TOKEN), five).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_or_wrong_token_is_401_and_no_token_file_means_no_ingest() {
    let (server, _dir) = ingest_server(|_| {}).await;
    let body = status_line("ACME-1", "idle", None);
    let response = post(&server, None, body.clone()).await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    error_of(response, 401).await;
    error_of(post(&server, Some("s3cret"), body.clone()).await, 401).await;
    error_of(post(&server, Some("# operators"), body.clone()).await, 401).await;
    assert_eq!(
        post(&server, Some("other-token"), body.clone())
            .await
            .status(),
        200
    );
    let plain = TestServer::start(config()).await;
    let error = error_of(post(&plain, Some(TOKEN), body).await, 404).await;
    assert!(error["error"]
        .as_str()
        .unwrap()
        .contains("--ingest-token-file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_key_appends_nothing_and_answers_the_first_ids() {
    let (server, _dir) = ingest_server(|_| {}).await;
    let mut stream = server.stream("", None).await;
    let body = [
        status_line("ACME-1", "loading", Some("acme-1:100")),
        status_line("ACME-1", "en_route", Some("acme-1:101")),
    ]
    .join("\n");
    let first: IngestReply = post(&server, Some(TOKEN), body.clone())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!((first.accepted, first.duplicates), (2, 0));
    let retry: IngestReply = post(&server, Some(TOKEN), body).await.json().await.unwrap();
    assert_eq!((retry.accepted, retry.duplicates), (0, 2));
    assert_eq!(retry.ids, first.ids);
    // One old key, one new: only the new one is appended.
    let mixed = [
        status_line("ACME-1", "en_route", Some("acme-1:101")),
        status_line("ACME-1", "at_stop", Some("acme-1:102")),
    ]
    .join("\n");
    let mixed: IngestReply = post(&server, Some(TOKEN), mixed)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mixed.ids, [first.ids[1], first.ids[1] + 1]);
    assert_eq!(mixed.accepted, 1);
    let ids: Vec<EventId> = stream.envelopes(3).await.iter().map(|e| e.id).collect();
    assert_eq!(ids, [first.ids[0], first.ids[1], first.ids[1] + 1]);
    assert_eq!(server.stats().await.latest_event_id, first.ids[1] + 1);
}

/// An ingest request over raw TCP that declares `length` bytes of body and waits for
/// `100 Continue`: from then on the server's handler is reading its body.
async fn open_slow(server: &TestServer, length: usize) -> TcpStream {
    let mut slow = within(TcpStream::connect(server.addr)).await.unwrap();
    let head = format!(
        "POST /api/ingest HTTP/1.1\r\nhost: {}\r\nauthorization: Bearer {TOKEN}\r\n\
         content-length: {length}\r\nexpect: 100-continue\r\n\r\n",
        server.addr
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 256];
    while !answer.ends_with(b"\r\n\r\n") {
        let n = within(slow.read(&mut buf)).await.unwrap();
        assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(
        answer.starts_with(b"HTTP/1.1 100"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    slow
}

/// Reads an HTTP/1.1 answer on `socket` until its JSON body is complete; the whole text.
async fn read_answer(socket: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    within(async {
        while !answer.ends_with(b"}") {
            let n = socket.read(&mut buf).await.unwrap_or(0);
            assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    String::from_utf8(answer).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_do_not_take_the_ingest_slots() {
    let (server, _dir) = ingest_server(|c| c.ingest_concurrency = 4).await;
    // Eight senders of a megabyte at a byte at a time, each one's body being read.
    let mut slow = Vec::new();
    for _ in 0..8 {
        let mut sender = open_slow(&server, 1_000_000).await;
        sender.write_all(b"[").await.unwrap();
        slow.push(sender);
    }
    // A well-formed request goes through, every time.
    for i in 0..5 {
        let line = status_line("ACME-1", "idle", Some(&format!("k{i}")));
        let response = post(&server, Some(TOKEN), line).await;
        assert_eq!(response.status(), 200);
    }
    drop(slow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_trickles_past_the_body_timeout_gets_408() {
    let (server, _dir) =
        ingest_server(|c| c.ingest_body_timeout = std::time::Duration::from_millis(500)).await;
    let latest = server.stats().await.latest_event_id;
    let line = format!("{}\n", status_line("ACME-1", "idle", None));
    let mut slow = open_slow(&server, line.len()).await;
    // A byte every 50 ms: never silent, never done in time.
    let answer = {
        let (mut reader, mut writer) = slow.split();
        let trickle = async {
            for byte in line.as_bytes() {
                if writer.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            std::future::pending::<()>().await;
        };
        let answer = async {
            let mut answer = Vec::new();
            let mut buf = [0u8; 1024];
            while !answer.ends_with(b"}") {
                let n = reader.read(&mut buf).await.unwrap_or(0);
                assert!(n > 0, "closed: {}", String::from_utf8_lossy(&answer));
                answer.extend_from_slice(&buf[..n]);
            }
            String::from_utf8(answer).unwrap()
        };
        within(async {
            tokio::select! {
                answer = answer => answer,
                _ = trickle => unreachable!(),
            }
        })
        .await
    };
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body: serde_json::Value =
        serde_json::from_str(&answer[answer.find("\r\n\r\n").unwrap() + 4..]).unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("--ingest-body-timeout"),
        "{body}"
    );
    // Nothing of it was appended, and the server closes the connection.
    assert_eq!(server.stats().await.latest_event_id, latest);
    let mut rest = [0u8; 64];
    loop {
        match within(slow.read(&mut rest)).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_beyond_their_memory_budget_get_429_with_retry_after() {
    let (server, _dir) = ingest_server(|c| {
        c.ingest_concurrency = 1;
        c.ingest_max_bytes = 1024;
    })
    .await;
    let line = format!("{}\n", status_line("ACME-1", "idle", None));
    // Senders that stop just short of the end of their bodies hold what they sent; open them
    // until a well-formed request finds no room.
    let mut slow = Vec::new();
    let busy = loop {
        let mut sender = open_slow(&server, 1024).await;
        sender.write_all(&[b' '; 1020]).await.unwrap();
        slow.push(sender);
        let response = post(&server, Some(TOKEN), line.clone()).await;
        if response.status() == 429 {
            break response;
        }
        assert_eq!(response.status(), 200);
        assert!(slow.len() < 64, "never got 429");
    };
    assert_eq!(busy.headers()["retry-after"], "1");
    error_of(busy, 429).await;
    let latest = server.stats().await.latest_event_id;
    // The first sender finishes (a body of blanks: 400), which frees its share.
    slow[0].write_all(&[b' '; 4]).await.unwrap();
    let answer = read_answer(&mut slow[0]).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(post(&server, Some(TOKEN), line).await.status(), 200);
    assert_eq!(server.stats().await.latest_event_id, latest + 1);
}

fn alert_line(truck: &str, message: &str) -> String {
    serde_json::json!({
        "type": "alert", "truck": truck, "at_ms": now_ms(),
        "alert": {"kind": "delay", "message": message, "raised_ms": now_ms()},
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bulk_import_does_not_cut_the_streams_that_keep_up() {
    // The defaults: --queue 1024, --ingest-max-events 10000.
    let (server, _dir) = ingest_server(|_| {}).await;
    let trucks = ["BULK-1", "BULK-2", "BULK-3", "BULK-4", "BULK-5"];
    // The fleet knows the trucks first: a stream's watch keeps known trucks only.
    let known = trucks
        .map(|truck| status_line(truck, "idle", None))
        .join("\n");
    assert_eq!(post(&server, Some(TOKEN), known).await.status(), 200);
    let mut batched = server.stream("?batch=1", None).await;
    let mut plain = server.stream("", None).await;
    let mut filtered = server.stream("?trucks=BULK-1&batch=1", None).await;
    let body: Vec<String> = (0..5000)
        .map(|i| status_line(trucks[i % trucks.len()], "en_route", None))
        .collect();
    let response = post(&server, Some(TOKEN), body.join("\n")).await;
    assert_eq!(response.status(), 200);
    let reply: IngestReply = response.json().await.unwrap();
    assert_eq!(reply.accepted, 5000);
    let (_, ids) = batched.read_batched(5000).await;
    assert_eq!(ids, reply.ids);
    let (_, ids) = plain.read_batched(5000).await;
    assert_eq!(ids, reply.ids);
    let (_, ids) = filtered.read_batched(1000).await;
    let mine: Vec<EventId> = reply.ids.iter().copied().step_by(5).collect();
    assert_eq!(ids, mine);
    // Every stream is still open: the next event reaches each.
    let next: IngestReply = post(&server, Some(TOKEN), status_line("BULK-1", "idle", None))
        .await
        .json()
        .await
        .unwrap();
    for stream in [&mut batched, &mut plain, &mut filtered] {
        assert_eq!(stream.read_batched(1).await.1, next.ids);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_never_outgrows_the_decoders_line_and_long_texts_are_refused() {
    let (server, _dir) = ingest_server(|_| {}).await;
    let mut stream = server.stream("?batch=1", None).await;
    // 200 alerts of 1 000 characters: about 260 KB of JSON in one append.
    let message = "m".repeat(convoy_server::ingest::MAX_TEXT_CHARS);
    let body: Vec<String> = (0..200).map(|_| alert_line("ACME-1", &message)).collect();
    let reply: IngestReply = post(&server, Some(TOKEN), body.join("\n"))
        .await
        .json()
        .await
        .unwrap();
    // The stream's decoder keeps lines up to 64 KiB and drops longer ones whole: every event
    // arrives, so no batch line was longer.
    let (messages, ids) = stream.read_batched(200).await;
    assert_eq!(ids, reply.ids);
    assert!(messages > 1, "{messages}");
    assert_eq!(stream.decoder.malformed_lines(), 0);

    // A longer text is refused, naming the field and the line, and nothing is appended.
    let before = server.snapshot().await.last_event_id;
    let too_long = "m".repeat(convoy_server::ingest::MAX_TEXT_CHARS + 1);
    let body = [
        alert_line("ACME-1", "fine"),
        alert_line("ACME-1", &too_long),
    ]
    .join("\n");
    let error = error_of(post(&server, Some(TOKEN), body).await, 400).await;
    let text = error["error"].as_str().unwrap();
    assert!(
        text.contains("line 2") && text.contains("alert.message"),
        "{text}"
    );
    assert_eq!(server.snapshot().await.last_event_id, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_trucks_past_max_trucks_are_refused_naming_the_flag_and_known_ones_go_on() {
    let (server, _dir) = ingest_server(|config| config.max_trucks = 3).await;
    let body = ["A-1", "A-2", "A-3"].map(|truck| status_line(truck, "en_route", None));
    assert_eq!(
        post(&server, Some(TOKEN), body.join("\n")).await.status(),
        200
    );
    let before = server.snapshot().await;

    // One known truck and two new ones: refused whole.
    let body = ["A-1", "B-1", "B-2"].map(|truck| status_line(truck, "idle", None));
    let error = error_of(post(&server, Some(TOKEN), body.join("\n")).await, 422).await;
    let text = error["error"].as_str().unwrap();
    assert!(
        text.contains("--max-trucks") && text.contains("B-1") && text.contains("nothing"),
        "{text}"
    );
    let after = server.snapshot().await;
    assert_eq!(after.last_event_id, before.last_event_id);
    assert_eq!(after.trucks.len(), 3);

    // Trucks the fleet holds are never refused.
    let body = ["A-1", "A-3"].map(|truck| status_line(truck, "idle", None));
    assert_eq!(
        post(&server, Some(TOKEN), body.join("\n")).await.status(),
        200
    );
}

#[test]
fn max_trucks_below_the_simulated_fleet_is_refused_at_start() {
    let config = Config {
        trucks: 40,
        max_trucks: 10,
        ..Config::default()
    };
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("--max-trucks"), "{error}");
}
