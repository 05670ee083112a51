//! Shutdown: open streams end promptly and cleanly with a short `retry:` (so a browser comes back
//! at once, to another node behind a proxy), on HTTP/1.1 and HTTP/2; new connections are refused;
//! an ingest request in flight is answered and kept (on a Redis node too, within a short
//! timeout); a node whose client never reads still exits by `--shutdown-timeout`.

mod common;

use common::{config, within, ServerProcess, TempDir, TestServer, WAIT};
use convoy_core::sse::Decoder;
use convoy_server::ingest::IngestReply;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "shutdown-token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_an_open_stream_promptly() {
    let server = TestServer::start(config()).await;
    let mut stream = server.stream("", None).await;
    stream.envelopes(20).await;
    let mut idle = server.stream("?trucks=T-99", None).await;
    let took = server.stop().await;
    // The timeout is 10 s; streams end on the signal, well before it.
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    // Both bodies end (after whatever was in flight), the last word a short retry.
    while stream.next().await.is_some() {}
    while idle.next().await.is_some() {}
    assert!(stream.ended && idle.ended);
    assert_eq!(stream.decoder.retry_ms(), Some(250));
    assert_eq!(idle.decoder.retry_ms(), Some(250));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_on_one_connection_each_end_cleanly_with_a_short_retry() {
    use http_body_util::BodyExt;
    let server = TestServer::start(config()).await;
    // HTTP/2 with prior knowledge (h2c), two streams on the one connection.
    let tcp = within(tokio::net::TcpStream::connect(server.addr))
        .await
        .unwrap();
    let (mut send, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tcp),
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    let mut bodies = Vec::new();
    for query in ["", "?trucks=T-01"] {
        let request = hyper::Request::get(format!("http://{}/api/stream{query}", server.addr))
            .body(axum::body::Body::empty())
            .unwrap();
        let response = within(send.send_request(request)).await.unwrap();
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        bodies.push(response.into_body());
    }
    server.stop().await;
    for body in bodies {
        // An error here would be a reset stream, not an ended one.
        let bytes = within(body.collect()).await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.starts_with("retry: 2000\n"), "{text}");
        assert!(text.ends_with("\nretry: 250\n"), "{text}");
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `n` keyed `alert_cleared` events of truck `truck`, one a line.
fn events(truck: &str, n: usize) -> String {
    (0..n)
        .map(|i| {
            serde_json::json!({
                "type": "alert_cleared", "truck": truck, "at_ms": now_ms(), "kind": "delay",
                "key": format!("{truck}:{i}"),
            })
            .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A response body read to its end: its bytes, and whether it ended cleanly (the chunked body's
/// last chunk, not a dropped connection).
async fn read_to_end(mut response: reqwest::Response) -> (Vec<u8>, bool) {
    let mut bytes = Vec::new();
    loop {
        match within(response.chunk()).await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => return (bytes, true),
            Err(_) => return (bytes, false),
        }
    }
}

/// Polls until connecting to `addr` is refused (bounded).
async fn wait_refused(addr: std::net::SocketAddr) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::net::TcpStream::connect(addr).await {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            other => assert!(
                tokio::time::Instant::now() < deadline,
                "still accepting after SIGTERM: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An ingest request sent over a raw connection, half of its body held back.
struct IngestInFlight {
    socket: tokio::net::TcpStream,
    rest: String,
}

impl IngestInFlight {
    /// Sends the head and half the body once the handler reads the body (hyper answers
    /// `Expect: 100-continue` when it does): the request is then in flight.
    async fn start(addr: std::net::SocketAddr, body: String) -> IngestInFlight {
        let mut socket = within(tokio::net::TcpStream::connect(addr)).await.unwrap();
        let request = format!(
            "POST /api/ingest HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {TOKEN}\r\n\
             content-length: {}\r\nexpect: 100-continue\r\n\r\n",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        let mut continued = vec![0u8; 64];
        let n = within(socket.read(&mut continued)).await.unwrap();
        let continued = String::from_utf8_lossy(&continued[..n]).into_owned();
        assert!(
            continued.starts_with("HTTP/1.1 100 Continue"),
            "{continued}"
        );
        let (head, rest) = body.split_at(body.len() / 2);
        socket.write_all(head.as_bytes()).await.unwrap();
        IngestInFlight {
            socket,
            rest: rest.to_owned(),
        }
    }

    /// Sends the rest of the body; the reply, which must be a 200.
    async fn finish(mut self) -> IngestReply {
        self.socket.write_all(self.rest.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        within(self.socket.read_to_end(&mut response))
            .await
            .unwrap();
        let response = String::from_utf8_lossy(&response).into_owned();
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
        let json = &response[response.find("\r\n\r\n").unwrap() + 4..];
        serde_json::from_str(json).unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_streams_with_a_short_retry_refuses_connections_and_keeps_ingest_in_flight() {
    let dir = TempDir::new("shutdown");
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
        "--shutdown-timeout",
        "5s",
    ];
    let mut server = ServerProcess::start(&args);
    let first: IngestReply = within(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth(TOKEN)
            .body(events("S-1", 5))
            .send(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let after = first.ids[0] - 1;

    // Three streams, open (their heads are in) and replaying the first events.
    let mut streams = Vec::new();
    for _ in 0..3 {
        let response = within(
            server
                .client
                .get(server.url("/api/stream"))
                .header("Last-Event-ID", after.to_string())
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(response.status(), 200);
        streams.push(response);
    }

    // An ingest request in flight when the signal comes; the rest of its body comes after.
    let ingest = IngestInFlight::start(server.addr, events("S-2", 3)).await;

    server.send_sigterm();
    let signalled = tokio::time::Instant::now();
    wait_refused(server.addr).await;

    // Each stream got its events, then `retry: 250` as its last line, and ended cleanly.
    for stream in streams {
        let (bytes, clean) = read_to_end(stream).await;
        let text = String::from_utf8_lossy(&bytes);
        assert!(clean, "the stream was cut, not ended: {text}");
        assert!(text.starts_with("retry: 2000\n"), "{text}");
        assert!(text.ends_with("\nretry: 250\n"), "{text}");
        let mut decoder = Decoder::new();
        decoder.feed(&bytes);
        decoder.finish();
        let ids: Vec<u64> = std::iter::from_fn(|| decoder.poll_event())
            .map(|e| e.id.as_str().parse().unwrap())
            .collect();
        assert_eq!(ids, first.ids, "the replay, whole and in order");
        assert_eq!(decoder.retry_ms(), Some(250));
    }

    // The request in flight is answered 200 and its events get ids.
    let second = ingest.finish().await;
    assert_eq!(second.accepted, 3);

    // Within its --shutdown-timeout of 5 s (and a second for the process to go).
    let left = Duration::from_secs(6).saturating_sub(signalled.elapsed());
    let status = server
        .wait_exit(left)
        .await
        .expect("exits within --shutdown-timeout");
    assert!(status.success(), "{status}");

    // After a restart on the same directory every event is there, the in-flight ones too.
    let server = ServerProcess::start(&args);
    let mut stream = server.stream(Some(after)).await;
    let replayed = stream.envelopes(8).await;
    let ids: Vec<u64> = replayed.iter().map(|e| e.id).collect();
    let expected: Vec<u64> = first.ids.iter().chain(&second.ids).copied().collect();
    assert_eq!(ids, expected);
    assert!(replayed[5..].iter().all(|e| e.event.truck() == "S-2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_cannot_hold_the_node_past_shutdown_timeout() {
    let dir = TempDir::new("shutdown-stall");
    let log_path = dir.path().join("stderr.log");
    let stderr = std::fs::File::create(&log_path).unwrap();
    // 5 000 events a second, and a queue that would take 40 s to overflow: the stalled stream is
    // not cut for falling behind while the test runs.
    let mut server = ServerProcess::start_logging(
        &[
            "--trucks",
            "100",
            "--rate",
            "50",
            "--queue",
            "200000",
            "--shutdown-timeout",
            "1s",
        ],
        stderr,
    );
    let mut normal = server.stream(None).await;

    // A raw HTTP/1.1 client with a tiny receive window that never reads after its request.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = within(socket.connect(server.addr)).await.unwrap();
    let request = format!(
        "GET /api/stream HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\n\r\n",
        server.addr
    );
    stalled.write_all(request.as_bytes()).await.unwrap();
    // Three seconds of events, megabytes: more than the stalled socket's buffers hold.
    let mut last = normal.next_envelope().await.id;
    for _ in 0..15_000 {
        let id = normal.next_envelope().await.id;
        assert!(id > last);
        last = id;
    }
    let stats: convoy_server::stats::StatsReport = server.get_json("/api/stats").await;
    assert_eq!(stats.open_streams, 2, "the stalled stream is still open");
    drop(normal);

    server.send_sigterm();
    // The default timeout is 10 s: exiting well before it is --shutdown-timeout 1s at work.
    let status = server
        .wait_exit(Duration::from_secs(5))
        .await
        .expect("exits by --shutdown-timeout although a client never reads");
    assert!(status.success(), "{status}");
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("shutting down"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("convoy-server stopped") && l.contains("connections_cut=1")),
        "the stalled connection was cut at the timeout: {log}"
    );
}

#[test]
fn a_bad_shutdown_timeout_is_refused_naming_the_flag() {
    for (value, says) in [
        ("soon", "is not a duration"),
        ("10x", "is not a duration"),
        ("0s", "--shutdown-timeout must be 0.1 to 3600 seconds"),
        ("2h", "--shutdown-timeout must be 0.1 to 3600 seconds"),
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_convoy-server"))
            .args(["--addr", "127.0.0.1:0", "--shutdown-timeout", value])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{value}: {stderr}");
        assert!(stderr.contains("--shutdown-timeout"), "{value}: {stderr}");
        assert!(stderr.contains(says), "{value}: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingest_in_flight_on_a_redis_node_is_answered_within_a_short_shutdown_timeout() {
    // On a shared log an append waits for its events to come back through the node's tail: the
    // tail must keep reading until the requests in flight are answered.
    let redis = common::RedisServer::start().await;
    let dir = TempDir::new("shutdown-redis");
    dir.write("tokens", TOKEN.as_bytes());
    let tokens = dir.path().join("tokens").display().to_string();
    let mut server = ServerProcess::start(&[
        "--log",
        &redis.url(),
        "--trucks",
        "0",
        "--ingest-token-file",
        tokens.as_str(),
        "--shutdown-timeout",
        "1s",
    ]);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let health: convoy_server::api::Health = server.get_json("/api/health").await;
        if health.ok {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{health:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ingest = IngestInFlight::start(server.addr, events("S-3", 4)).await;
    server.send_sigterm();
    wait_refused(server.addr).await;
    let reply = ingest.finish().await;
    assert_eq!(reply.accepted, 4);
    let status = server.wait_exit(WAIT).await.expect("exits after SIGTERM");
    assert!(status.success(), "{status}");
    // And the events are in the shared log, for every other node.
    let length = redis.command("XLEN convoy:{default}:events").await;
    assert_eq!(length.as_deref(), Some(":4"), "{length:?}");
}
