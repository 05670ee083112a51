//! Shared by the integration tests: the server run in-process on 127.0.0.1:0, an SSE client
//! over real loopback HTTP that decodes with `convoy_core::sse::Decoder`, and bounded polling.

#![allow(dead_code)]

use convoy_core::sse::{Decoder, SseEvent};
use convoy_core::wire::{decode_event, Envelope, EventId, FleetSnapshot};
use convoy_server::stats::StatsReport;
use convoy_server::{serve, Config, ServeError};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A fast, quiet configuration: 10 trucks at 50 events per truck per second.
pub fn config() -> Config {
    Config {
        dist: PathBuf::from("/nonexistent/convoy-dist"),
        trucks: 10,
        rate: 50.0,
        quiet: true,
        ..Config::default()
    }
}

/// A position line for `truck` (Chicago's Loop, 60 km/h) at the latest of the clock and one ms
/// after every earlier line this process made, so a truck's positions are always newer.
pub fn position_line(truck: &str) -> serde_json::Value {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let at_ms = LAST.fetch_max(now, Ordering::AcqRel).max(now);
    let at_ms = LAST
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |last| {
            Some(last.max(at_ms) + 1)
        })
        .map_or(at_ms, |last| last.max(at_ms) + 1);
    serde_json::json!({
        "type": "position", "truck": truck, "at_ms": at_ms, "lat": 41.8781, "lon": -87.6298,
        "speed_kph": 60.0,
    })
}

/// A server running in this process until stopped or dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServeError>>>,
}

impl TestServer {
    pub async fn start(config: Config) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, config, async move {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub async fn get(&self, path_and_query: &str) -> reqwest::Response {
        within(self.client.get(self.url(path_and_query)).send())
            .await
            .unwrap()
    }

    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path_and_query: &str) -> T {
        let response = self.get(path_and_query).await;
        assert_eq!(response.status(), 200, "{path_and_query}");
        response.json().await.unwrap()
    }

    pub async fn stats(&self) -> StatsReport {
        self.get_json("/api/stats").await
    }

    pub async fn snapshot(&self) -> FleetSnapshot {
        self.get_json("/api/fleet").await
    }

    /// Opens `/api/stream` with the query, and `Last-Event-ID` when given.
    /// The snapshot once it holds at least `n` trucks, each with a plan and a position (a
    /// simulated fleet's first step has been appended).
    pub async fn fleet_of(&self, n: usize) -> FleetSnapshot {
        within(async {
            loop {
                let snapshot = self.snapshot().await;
                let ready = snapshot
                    .trucks
                    .iter()
                    .filter(|t| !t.stops.is_empty() && t.position.is_some())
                    .count();
                if ready >= n {
                    return snapshot;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
    }

    pub async fn stream(&self, query: &str, last_event_id: Option<&str>) -> SseClient {
        let mut request = self.client.get(self.url(&format!("/api/stream{query}")));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = within(request.send()).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(response.headers()["cache-control"], "no-cache");
        SseClient {
            response,
            decoder: Decoder::new(),
            ended: false,
        }
    }

    /// Polls stats until `check` holds (bounded).
    pub async fn wait_for_stats(
        &self,
        what: &str,
        check: impl Fn(&StatsReport) -> bool,
    ) -> StatsReport {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let stats = self.stats().await;
            if check(&stats) {
                return stats;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls the snapshot until the server's latest id reaches `id` (bounded).
    pub async fn wait_for_id(&self, id: u64) {
        self.wait_for_stats("events", |s| s.latest_event_id >= id)
            .await;
    }

    /// Signals shutdown and waits for `serve` to return; returns how long that took.
    pub async fn stop(mut self) -> Duration {
        let started = tokio::time::Instant::now();
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            within(task).await.unwrap().unwrap();
        }
        started.elapsed()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// An SSE response being read.
pub struct SseClient {
    pub response: reqwest::Response,
    pub decoder: Decoder,
    pub ended: bool,
}

impl SseClient {
    /// The next event, or `None` when the stream ended; fails the test after [`WAIT`].
    pub async fn next(&mut self) -> Option<SseEvent> {
        within(self.next_unbounded()).await
    }

    async fn next_unbounded(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.decoder.poll_event() {
                return Some(event);
            }
            if self.ended {
                return None;
            }
            match self.response.chunk().await {
                Ok(Some(bytes)) => self.decoder.feed(&bytes),
                Ok(None) | Err(_) => {
                    self.decoder.finish();
                    self.ended = true;
                }
            }
        }
    }

    /// The next fleet event (skipping heartbeats), checked: id parses, name matches data type.
    pub async fn next_envelope(&mut self) -> Envelope {
        loop {
            let event = self.next().await.expect("stream ended");
            if event.event_type == "heartbeat" {
                continue;
            }
            return decode_event(&event.event_type, &event.data, &event.id)
                .unwrap_or_else(|e| panic!("bad event {event:?}: {e}"));
        }
    }

    /// The events of this stream until it holds `n`, as (SSE messages read, events): batches
    /// unpacked. Fails the test on a message that does not decode.
    pub async fn read_batched(&mut self, n: usize) -> (usize, Vec<EventId>) {
        let (mut messages, mut ids) = (0, Vec::new());
        while ids.len() < n {
            let event = self.next().await.expect("stream ended");
            let envelopes = match event.event_type.as_str() {
                "heartbeat" => continue,
                "batch" => convoy_core::wire::decode_batch(&event.data, &event.id),
                name => decode_event(name, &event.data, &event.id).map(|e| vec![e]),
            }
            .unwrap_or_else(|e| panic!("bad message {event:?}: {e}"));
            messages += 1;
            ids.extend(envelopes.iter().map(|e| e.id));
        }
        (messages, ids)
    }

    /// The next `n` fleet events.
    pub async fn envelopes(&mut self, n: usize) -> Vec<Envelope> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next_envelope().await);
        }
        out
    }
}

/// Sends `request`; its response, within [`WAIT`].
pub async fn send(request: reqwest::RequestBuilder) -> reqwest::Response {
    within(request.send()).await.expect("the server answers")
}

/// Signs in at `session_url` (`…/api/session`) with `token`, as the app does; the session
/// cookie's `name=value`.
pub async fn session_cookie(client: &reqwest::Client, session_url: String, token: &str) -> String {
    let response = send(
        client
            .post(session_url)
            .bearer_auth(token)
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// Fails the test if `future` takes longer than [`WAIT`].
pub async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(WAIT, future).await.expect("timed out")
}

/// A directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let unique = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path =
            std::env::temp_dir().join(format!("convoy-{name}-{}-{unique}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn write(&self, name: &str, contents: &[u8]) {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, contents).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The real `convoy-server` binary running as a child process; killed with SIGKILL on drop.
pub struct ServerProcess {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    child: std::process::Child,
}

impl ServerProcess {
    /// Starts the binary on a free loopback port with `args` and waits for its
    /// `listening on` line.
    pub fn start(args: &[&str]) -> ServerProcess {
        ServerProcess::start_logging(args, std::process::Stdio::null())
    }

    /// [`ServerProcess::start`] with its log lines (stderr) going to `stderr`.
    pub fn start_logging(args: &[&str], stderr: impl Into<std::process::Stdio>) -> ServerProcess {
        ServerProcess::start_filtered(args, stderr, None)
    }

    /// [`ServerProcess::start_logging`] with `RUST_LOG` set to `rust_log`, or unset for `None`.
    pub fn start_filtered(
        args: &[&str],
        stderr: impl Into<std::process::Stdio>,
        rust_log: Option<&str>,
    ) -> ServerProcess {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_convoy-server"));
        match rust_log {
            Some(filter) => command.env("RUST_LOG", filter),
            None => command.env_remove("RUST_LOG"),
        };
        command.args([
            "--addr",
            "127.0.0.1:0",
            "--dist",
            "/nonexistent/convoy-dist",
        ]);
        command.args(args).stderr(stderr);
        ServerProcess::spawn(command)
    }

    /// Starts the binary with exactly `args` (which must give `--addr`), its log discarded.
    pub fn start_as_given(args: &[&str]) -> ServerProcess {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_convoy-server"));
        command
            .args(args)
            .env_remove("RUST_LOG")
            .stderr(std::process::Stdio::null());
        ServerProcess::spawn(command)
    }

    /// Runs `command` and waits for its `listening on` line.
    fn spawn(mut command: std::process::Command) -> ServerProcess {
        use std::io::BufRead;
        let mut child = command
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("convoy-server starts");
        // Other lines (where the metrics listen) may come first.
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("listening on") {
            line.clear();
            if stdout.read_line(&mut line).unwrap() == 0 {
                panic!("convoy-server exited without listening");
            }
        }
        let addr = line
            .trim()
            .rsplit("://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        ServerProcess {
            addr,
            client: reqwest::Client::new(),
            child,
        }
    }

    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{}", self.addr, path_and_query)
    }

    pub async fn get_json<T: serde::de::DeserializeOwned>(&self, path_and_query: &str) -> T {
        let response = within(self.client.get(self.url(path_and_query)).send())
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path_and_query}");
        response.json().await.unwrap()
    }

    /// Opens `/api/stream` with `Last-Event-ID` when given.
    pub async fn stream(&self, last_event_id: Option<u64>) -> SseClient {
        let mut request = self.client.get(self.url("/api/stream"));
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = within(request.send()).await.unwrap();
        assert_eq!(response.status(), 200);
        SseClient {
            response,
            decoder: Decoder::new(),
            ended: false,
        }
    }

    /// `kill -9`: no shutdown code runs.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Sends SIGTERM and returns at once.
    pub fn send_sigterm(&self) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
    }

    /// Waits up to `limit` for the process to exit: its status, or `None` while it runs.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "{status}");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Where test Redis servers listen: a loopback address of their own, so a port released for
/// Redis (and kept while it restarts) is never handed to a test server binding 127.0.0.1:0.
pub const REDIS_HOST: &str = "127.0.0.3";

/// A real `redis-server` (Debian's package; `cargo xtask tools` installs it) on a free loopback
/// port, with no persistence: a restart comes back empty. Stopped on drop.
pub struct RedisServer {
    pub port: u16,
    dir: TempDir,
    child: Option<std::process::Child>,
}

impl RedisServer {
    pub async fn start() -> RedisServer {
        let port = std::net::TcpListener::bind((REDIS_HOST, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut redis = RedisServer {
            port,
            dir: TempDir::new("redis"),
            child: None,
        };
        redis.launch().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://{REDIS_HOST}:{}", self.port)
    }

    async fn launch(&mut self) {
        let port = self.port.to_string();
        let child = std::process::Command::new("redis-server")
            .args(["--bind", REDIS_HOST, "--port", &port, "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("redis-server runs (install it with `cargo xtask tools` or apt-get install redis-server)");
        self.child = Some(child);
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.command("PING").await.as_deref() != Some("+PONG") {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Sends one inline command; its first reply line, or `None` when Redis does not answer.
    pub async fn command(&self, command: &str) -> Option<String> {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect((REDIS_HOST, self.port))
            .await
            .ok()?;
        stream
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .ok()?;
        let mut line = String::new();
        tokio::io::BufReader::new(stream)
            .read_line(&mut line)
            .await
            .ok()?;
        Some(line.trim_end().to_owned())
    }

    /// Kills it (SIGKILL): every node loses Redis until `start_again`.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub async fn start_again(&mut self) {
        self.kill();
        self.launch().await;
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
