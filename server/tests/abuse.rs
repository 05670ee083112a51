//! The server holds under abuse, over real loopback sockets: idle sockets, slow handshakes, idle
//! HTTP/2 connections, one address taking every connection, too many streams, oversized heads and
//! watch lists, a slow HTTP/2 stream among fast ones, bad flags, and paths that try to leave the
//! built app.

mod common;

use axum::body::{Body, BodyDataStream};
use common::{config, within, TempDir, TestServer, WAIT};
use convoy_core::sse::Decoder;
use convoy_core::wire::{decode_event, EventId};
use convoy_server::Config;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper::client::conn::http2::SendRequest;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// A built app: `index.html` and one script.
fn dist() -> TempDir {
    let dir = TempDir::new("abuse-dist");
    dir.write("index.html", b"<!doctype html><title>Convoy app</title>");
    dir.write("app-9f86d081884c7d65.js", b"export default 1;");
    dir
}

/// Reads until the server closes the socket (EOF or reset); fails the test after [`WAIT`].
async fn closed_by_server(socket: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    within(async {
        loop {
            match socket.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
}

/// The app loads and a stream carries events: what a new client needs.
async fn app_loads_and_streams(server: &TestServer) {
    let client = reqwest::Client::new();
    let page = within(client.get(server.url("/trucks/T-03")).send())
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Convoy app"));
    let script = within(client.get(server.url("/app-9f86d081884c7d65.js")).send())
        .await
        .unwrap();
    assert_eq!(script.status(), 200);
    let mut stream = server.stream("", None).await;
    stream.envelopes(20).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_idle_sockets_do_not_keep_a_new_client_out() {
    let dist = dist();
    let server = TestServer::start(Config {
        dist: dist.path().to_path_buf(),
        max_connections: 200,
        // Long: here only the cap's eviction frees room, not the timeout.
        handshake_timeout: Duration::from_secs(120),
        ..config()
    })
    .await;
    let mut idle = Vec::with_capacity(2000);
    for _ in 0..2000 {
        idle.push(within(TcpStream::connect(server.addr)).await.unwrap());
    }
    app_loads_and_streams(&server).await;
    // The server holds at most its cap: the oldest idle sockets were closed to make room.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let closed = idle.iter().filter(|s| is_closed(s)).count();
        if closed >= 2000 - 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {closed} of 2000 idle sockets were closed at a cap of 200"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Whether the server closed `socket` (EOF or reset), without waiting.
fn is_closed(socket: &TcpStream) -> bool {
    let mut sink = [0u8; 16];
    match socket.try_read(&mut sink) {
        Ok(n) => n == 0,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_sends_no_request_is_closed_at_the_handshake_timeout() {
    let server = TestServer::start(Config {
        handshake_timeout: Duration::from_millis(300),
        keepalive: Duration::from_millis(100),
        ..config()
    })
    .await;
    // Silent, a partial HTTP/1.1 head (slowloris), and half an HTTP/2 preface.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    let mut partial = TcpStream::connect(server.addr).await.unwrap();
    partial
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut preface = TcpStream::connect(server.addr).await.unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
    // A stream opened at the same time outlives the deadline: it made its request.
    let mut stream = server.stream("?trucks=T-99", None).await;
    closed_by_server(&mut silent).await;
    closed_by_server(&mut partial).await;
    closed_by_server(&mut preface).await;
    // Ten keep-alives at 100 ms: well past the 300 ms deadline, still open.
    let mut body = Vec::new();
    while body.windows(12).filter(|w| w == b": keep-alive").count() < 10 {
        let chunk = within(stream.response.chunk()).await.unwrap();
        body.extend_from_slice(&chunk.expect("the stream ended"));
    }
}

/// Connects to the server from `local` (any 127/8 address reaches it over loopback).
async fn connect_from(server: &TestServer, local: Ipv4Addr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(local), 0)).unwrap();
    within(socket.connect(server.addr)).await.unwrap()
}

/// An HTTP/2 (h2c) connection from `local`; the handle ends when the connection closes. It
/// stays open as long as the sender is kept.
async fn h2_connect(server: &TestServer, local: Ipv4Addr) -> (SendRequest<Body>, JoinHandle<()>) {
    let tcp = connect_from(server, local).await;
    let (send, connection) = within(hyper::client::conn::http2::handshake(
        TokioExecutor::new(),
        TokioIo::new(tcp),
    ))
    .await
    .unwrap();
    let closed = tokio::spawn(async move {
        let _ = connection.await;
    });
    (send, closed)
}

/// An HTTP/2 connection from `local` that made one request, read its answer, and now idles
/// (answering the server's pings).
async fn idle_h2(server: &TestServer, local: Ipv4Addr) -> (SendRequest<Body>, JoinHandle<()>) {
    let (mut send, closed) = h2_connect(server, local).await;
    let response = h2_get(&mut send, "/api/health").await;
    assert_eq!(response.status(), StatusCode::OK);
    within(response.into_body().collect()).await.unwrap();
    (send, closed)
}

/// A client whose connections come from `local`.
fn client_from(local: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(IpAddr::V4(local))
        .build()
        .unwrap()
}

const HOST: Ipv4Addr = Ipv4Addr::LOCALHOST;
const OTHER_HOST: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Waits until at least `n` of `connections` were closed (bounded).
async fn wait_closed(connections: &[(SendRequest<Body>, JoinHandle<()>)], n: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let closed = connections.iter().filter(|(_, c)| c.is_finished()).count();
        if closed >= n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {closed} of {} idle HTTP/2 connections were closed, expected {n}",
            connections.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_http2_connections_do_not_keep_a_new_client_out() {
    let dist = dist();
    let server = TestServer::start(Config {
        dist: dist.path().to_path_buf(),
        max_connections: 4,
        // Long: here only the cap's eviction frees room, not the idle timeout.
        handshake_timeout: Duration::from_secs(120),
        ..config()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(idle_h2(&server, HOST).await);
    }
    // The cap is full of connections that made a request and idle: a new client is served.
    app_loads_and_streams(&server).await;
    // Its two connections (the page's and the stream's) took the places of two idle ones.
    wait_closed(&idle, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_with_no_open_stream_is_closed_like_an_idle_http1_one() {
    let server = TestServer::start(Config {
        handshake_timeout: Duration::from_millis(300),
        keepalive: Duration::from_millis(100),
        ..config()
    })
    .await;
    // HTTP/1.1 keep-alive: answered, then closed once idle.
    let mut http1 = TcpStream::connect(server.addr).await.unwrap();
    http1
        .write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    closed_by_server(&mut http1).await;
    // HTTP/2 after one request: the same.
    let (_send, closed) = idle_h2(&server, HOST).await;
    within(closed).await.unwrap();
    // With a stream open it outlives the timeout: ten keep-alives at 100 ms.
    let (mut send, closed) = h2_connect(&server, HOST).await;
    let stream = h2_get(&mut send, "/api/stream?trucks=T-99").await;
    assert_eq!(stream.status(), StatusCode::OK);
    let mut stream = stream.into_body().into_data_stream();
    let mut body = Vec::new();
    while body.windows(12).filter(|w| w == b": keep-alive").count() < 10 {
        let chunk = within(stream.next()).await.expect("the stream ended");
        body.extend_from_slice(&chunk.unwrap());
    }
    assert!(!closed.is_finished());
    // Once its last stream ends (reset by the client), it is idle and closed.
    drop(stream);
    within(closed).await.unwrap();
    drop(send);
}

/// Sends a request on `socket` and reads until the server closes it; what came back.
async fn answer_until_closed(socket: &mut TcpStream) -> Vec<u8> {
    // The server may close before the request is written.
    let _ = socket
        .write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    within(async {
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_client_address_cannot_take_every_connection() {
    let server = TestServer::start(Config {
        max_connections: 100,
        max_connections_per_ip: 3,
        handshake_timeout: Duration::from_secs(120),
        ..config()
    })
    .await;
    // 127.0.0.1 holds its three: one idle HTTP/2 connection and two streams.
    let idle = [idle_h2(&server, HOST).await];
    let mut first = server.stream("", None).await;
    let mut second = server.stream("?trucks=T-01", None).await;
    first.envelopes(2).await;
    second.envelopes(1).await;
    // A new connection from it takes the place of its own idle one.
    let response = within(client_from(HOST).get(server.url("/api/health")).send())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    wait_closed(&idle, 1).await;
    // Three streams: every connection of 127.0.0.1 has a request in flight (the client above
    // is gone, or idle and evicted in turn).
    let mut third = server.stream("?trucks=T-02", None).await;
    third.envelopes(1).await;
    // A fourth connection from 127.0.0.1 is closed unanswered, with 97 places left.
    let mut fourth = connect_from(&server, HOST).await;
    let answer = answer_until_closed(&mut fourth).await;
    assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    // Another address gets in: a request and a stream.
    let other = client_from(OTHER_HOST);
    let response = within(other.get(server.url("/api/health")).send())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let stream = within(other.get(server.url("/api/stream")).send())
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    // The streams of 127.0.0.1 went on all along.
    first.envelopes(5).await;
    second.envelopes(1).await;
    third.envelopes(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_beyond_max_streams_get_503_with_retry_after() {
    let server = TestServer::start(Config {
        max_streams: 2,
        ..config()
    })
    .await;
    let mut first = server.stream("", None).await;
    let mut second = server.stream("?trucks=T-01", None).await;
    first.envelopes(5).await;
    second.envelopes(2).await;
    let refused = server.get("/api/stream").await;
    assert_eq!(refused.status(), 503);
    let retry: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert!(refused.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let error: serde_json::Value = refused.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("streams"),
        "{error}"
    );
    // The rest of the API answers all the same.
    assert_eq!(server.get("/api/health").await.status(), 200);
    // A closed stream frees its slot.
    drop(first);
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = server.get("/api/stream").await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(tokio::time::Instant::now() < deadline, "no slot was freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http1_heads_are_bounded_in_bytes_and_headers() {
    let server = TestServer::start(Config {
        max_header_bytes: 16 * 1024,
        max_headers: 50,
        ..config()
    })
    .await;
    let big = "x".repeat(32 * 1024);
    let response = within(
        server
            .client
            .get(server.url("/api/health"))
            .header("x-big", &big)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 431);
    let mut request = server.client.get(server.url("/api/health"));
    for i in 0..80 {
        request = request.header(format!("x-h{i}"), "1");
    }
    assert_eq!(within(request.send()).await.unwrap().status(), 431);
    // A long query is part of the head too.
    let long = format!("/api/stream?trucks={}", "T-01,".repeat(8 * 1024));
    assert_eq!(server.get(&long).await.status(), 431);
    // Heads within the bounds pass.
    assert_eq!(server.get("/api/health").await.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_lists_are_capped_and_kept_to_the_fleet() {
    let server = TestServer::start(config()).await;
    let ids = |n: usize| {
        (1..=n)
            .map(|i| format!("T-{i:02}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let response = server
        .get(&format!("/api/stream?trucks={}", ids(501)))
        .await;
    assert_eq!(response.status(), 400);
    let error: serde_json::Value = response.json().await.unwrap();
    assert!(
        error["error"].as_str().unwrap().starts_with("trucks:"),
        "{error}"
    );
    // 500 ids, of which the fleet (10 trucks) has T-01 to T-10: the stream watches those.
    let mut stream = server.stream(&format!("?trucks={}", ids(500)), None).await;
    stream.next_envelope().await;
    let stats = server.stats().await;
    assert_eq!(stats.streams.len(), 1);
    assert_eq!(stats.streams[0].trucks, ids(10));
}

/// Reads SSE events from an HTTP/2 body until `n` fleet events came; returns their ids.
async fn read_ids(body: &mut BodyDataStream, decoder: &mut Decoder, n: usize) -> Vec<EventId> {
    let mut ids = Vec::with_capacity(n);
    within(async {
        while ids.len() < n {
            if let Some(event) = decoder.poll_event() {
                if event.event_type != "heartbeat" {
                    let envelope = decode_event(&event.event_type, &event.data, &event.id).unwrap();
                    ids.push(envelope.id);
                }
                continue;
            }
            let chunk = body
                .next()
                .await
                .expect("stream ended")
                .expect("stream failed");
            decoder.feed(&chunk);
        }
    })
    .await;
    ids
}

async fn h2_get(send: &mut SendRequest<Body>, path: &str) -> hyper::Response<Body> {
    let request = Request::get(format!("http://localhost{path}"))
        .body(Body::empty())
        .unwrap();
    within(send.send_request(request))
        .await
        .unwrap()
        .map(Body::new)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_http2_stream_is_ended_alone_and_its_connection_keeps_the_others() {
    let server = TestServer::start(Config {
        trucks: 40,
        rate: 200.0,
        queue_capacity: 256,
        ..config()
    })
    .await;
    // One HTTP/2 connection (prior knowledge, h2c) with small stream windows: a stream whose
    // body is not read stops the server sending on it after 16 KiB.
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut send, connection) = hyper::client::conn::http2::Builder::new(TokioExecutor::new())
        .initial_stream_window_size(16 * 1024)
        .initial_connection_window_size(8 << 20)
        .handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection);
    let fast = h2_get(&mut send, "/api/stream").await;
    assert_eq!(fast.status(), StatusCode::OK);
    let mut fast = fast.into_body().into_data_stream();
    let mut fast_decoder = Decoder::new();
    let slow = h2_get(&mut send, "/api/stream").await;
    assert_eq!(slow.status(), StatusCode::OK);
    let mut slow = slow.into_body().into_data_stream();
    let stats = server
        .wait_for_stats("both streams", |s| s.open_streams == 2)
        .await;
    let slow_id = stats.streams.iter().map(|s| s.id).max().unwrap();

    // Read the fast stream until the slow one is gone; every event arrives, in order.
    let mut last = read_ids(&mut fast, &mut fast_decoder, 1).await[0];
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    loop {
        for id in read_ids(&mut fast, &mut fast_decoder, 200).await {
            assert_eq!(id, last + 1, "the fast stream lost events");
            last = id;
        }
        let stats = server.stats().await;
        if !stats.streams.iter().any(|s| s.id == slow_id) {
            assert_eq!(stats.open_streams, 1, "{stats:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow stream was never ended: {stats:?}"
        );
    }
    // The fast stream, on the same connection, goes on.
    for id in read_ids(&mut fast, &mut fast_decoder, 500).await {
        assert_eq!(id, last + 1);
        last = id;
    }
    // The slow stream ends (reset) once its buffered data is read.
    within(async { while let Some(Ok(_)) = slow.next().await {} }).await;
    // And the connection still takes new requests.
    let health = h2_get(&mut send, "/api/health").await;
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_header_lists_are_bounded() {
    let server = TestServer::start(Config {
        max_header_bytes: 16 * 1024,
        ..config()
    })
    .await;
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let (mut send, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = Request::get("http://localhost/api/health")
        .header("x-big", "x".repeat(32 * 1024))
        .body(Body::empty())
        .unwrap();
    // Refused before any response is also not served.
    if let Ok(response) = within(send.send_request(request)).await {
        assert_eq!(response.status(), 431);
    }
    let health = h2_get(&mut send, "/api/health").await;
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotfiles_symlink_escapes_and_missing_assets_are_404() {
    let dist = dist();
    dist.write(".env", b"SECRET=1");
    dist.write(".git/config", b"[core]");
    let outside = TempDir::new("abuse-outside");
    outside.write("secret.txt", b"outside");
    #[cfg(unix)]
    {
        use std::os::unix::fs::symlink;
        symlink(
            outside.path().join("secret.txt"),
            dist.path().join("leak.txt"),
        )
        .unwrap();
        symlink(outside.path(), dist.path().join("sub")).unwrap();
        symlink(
            dist.path().join("app-9f86d081884c7d65.js"),
            dist.path().join("alias.js"),
        )
        .unwrap();
    }
    let server = TestServer::start(Config {
        dist: dist.path().to_path_buf(),
        ..config()
    })
    .await;
    for path in [
        "/.env",
        "/%2Eenv",
        "/.git/config",
        "/a/.hidden/x",
        "/%2e%2e%2fetc%2fpasswd",
        "/missing.js",
        "/convoy-0123456789abcdef_bg.wasm",
        "/styles-old.css",
        "/data.json",
        #[cfg(unix)]
        "/leak.txt",
        #[cfg(unix)]
        "/sub/secret.txt",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 404, "{path}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("SECRET") && !body.contains("outside"),
            "{path}"
        );
        assert!(
            !body.contains("Convoy app"),
            "{path}: the app instead of 404"
        );
    }
    // Client routes still get the app, and a symlink that stays inside is served.
    for path in ["/trucks/T-07", "/board", "/", "/alias.js"] {
        #[cfg(not(unix))]
        if path == "/alias.js" {
            continue;
        }
        assert_eq!(server.get(path).await.status(), 200, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_not_built_page_names_no_path() {
    let empty = TempDir::new("abuse-empty-dist");
    let server = TestServer::start(Config {
        dist: empty.path().to_path_buf(),
        ..config()
    })
    .await;
    let body = server.get("/").await.text().await.unwrap();
    assert!(body.contains("not built"), "{body}");
    let dir = empty.path().display().to_string();
    let name = empty
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(!body.contains(&dir) && !body.contains(&name), "{body}");
    assert!(!body.contains("/tmp"), "{body}");
}

/// Runs the binary with `args`; its exit code and stderr.
fn run_binary(args: &[&str]) -> (Option<i32>, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_convoy-server"))
        .args(["--addr", "127.0.0.1:0", "--quiet"])
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("convoy-server runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn every_numeric_flag_is_bounded_at_start_with_a_message_naming_it() {
    for (flag, value) in [
        ("--trucks", "10000"),
        ("--rate", "0"),
        ("--rate", "NaN"),
        ("--rate", "5000"),
        ("--keepalive", "4000"),
        ("--replay", "2000000"),
        ("--queue", "0"),
        ("--max-streams", "0"),
        ("--max-connections", "0"),
        ("--max-connections", "2000000"),
        ("--handshake-timeout", "0"),
        ("--handshake-timeout", "100000"),
        ("--max-header-bytes", "100"),
        ("--max-headers", "0"),
        ("--ingest-max-bytes", "0"),
        ("--ingest-max-events", "0"),
        ("--ingest-concurrency", "0"),
        ("--max-connections-per-ip", "0"),
        ("--ingest-body-timeout", "0"),
        ("--queue=-1", ""),
        ("--queue", "999999"),
        ("--max-trucks", "0"),
        ("--max-trucks", "10"),
        ("--max-streams-per-operator", "0"),
        ("--seed", "x"),
    ] {
        let args: Vec<&str> = [flag, value]
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        let flag = flag.split('=').next().unwrap_or(flag);
        let (code, stderr) = run_binary(&args);
        assert_eq!(code, Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
        assert!(!stderr.contains("panicked"), "{flag} {value}: {stderr}");
    }
}

#[test]
fn the_server_release_profile_unwinds() {
    // A panicking handler answers 500 and the server goes on only if panics unwind; Cargo cannot
    // set `panic` per package, so neither release section may say abort.
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml")).unwrap();
    let mut section = String::new();
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            section = line.to_owned();
            continue;
        }
        if section == "[profile.release]" || section == "[profile.release.package.convoy-server]" {
            let setting = line.split('#').next().unwrap_or_default().replace(' ', "");
            assert_ne!(setting, "panic=\"abort\"", "{section}: {line}");
        }
    }
}
