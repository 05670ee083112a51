//! The server fan-out benchmark (`cargo xtask bench server`): convoy-server against a plain axum
//! SSE broadcast server written here (one tokio broadcast channel, one write per event per
//! stream), each in its own process, measured one after the other by a load generator in this
//! process (hyper, HTTP/1.1, loopback, bounded in time): per-event latency (the server's
//! timestamp in the event to receipt), events delivered, gaps, and the server's RSS and CPU.
//!
//! `fanout [--quick] [--out DIR] [--name NAME]` runs every scenario and writes
//! DIR/NAME.{md,json} (NAME: `server`); with `CONVOY_BASELINE_SERVER_BIN` set, every convoy-server
//! row is followed by the same row for that build (`CONVOY_BASELINE_NAME` says which it is);
//! `fanout plain PORT EVENTS_PER_S` runs the plain server alone (the benchmark starts it so).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper_util::rt::TokioIo;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Latency buckets, 1 ms each; the last catches everything slower.
const BUCKETS: usize = 10_001;

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// ---------------------------------------------------------------------------------------------
// The plain server: what a straightforward axum SSE broadcast looks like.

async fn plain_server(port: u16, per_s: f64) {
    use axum::response::sse::{Event, KeepAlive, Sse};
    use axum::routing::get;
    use futures_util::StreamExt;
    let (tx, _) = tokio::sync::broadcast::channel::<Arc<str>>(1024);
    let producer = tx.clone();
    tokio::spawn(async move {
        let period = Duration::from_secs_f64(1.0 / per_s);
        let mut ticks = tokio::time::interval(period);
        let mut id = 0u64;
        loop {
            ticks.tick().await;
            id += 1;
            let data = format!(
                r#"{{"type":"telemetry","truck":"T-{:02}","at_ms":{},"id":{id}}}"#,
                id % 8,
                unix_ms()
            );
            let _ = producer.send(Arc::from(data.as_str()));
        }
    });
    let app = axum::Router::new().route(
        "/api/stream",
        get(move || {
            let rx = tx.subscribe();
            async move {
                let events = tokio_stream_from(rx).map(|data: Arc<str>| {
                    let id = data
                        .rsplit_once(r#""id":"#)
                        .map(|(_, n)| n.trim_end_matches('}').to_owned())
                        .unwrap_or_default();
                    Ok::<_, std::convert::Infallible>(
                        Event::default().id(id).event("telemetry").data(&*data),
                    )
                });
                Sse::new(events).keep_alive(KeepAlive::default())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    println!(
        "plain listening on http://{}",
        listener.local_addr().unwrap()
    );
    axum::serve(listener, app).await.unwrap();
}

/// A broadcast receiver as a stream; a receiver that lags ends (as convoy-server cuts it off).
fn tokio_stream_from(
    rx: tokio::sync::broadcast::Receiver<Arc<str>>,
) -> impl futures_util::Stream<Item = Arc<str>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        match rx.recv().await {
            Ok(data) => Some((data, rx)),
            Err(_) => None,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Processes under test.

struct Proc {
    child: Child,
    addr: String,
}

impl Proc {
    fn start(mut command: Command) -> Proc {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("server starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("://")
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(!addr.is_empty(), "no address in {line:?}");
        Proc { child, addr }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user + system) and RSS bytes of a process.
fn usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // After the command name: state is field 0, utime 11, stime 12 (man 5 proc, minus 3).
    let cpu = (ticks(11) + ticks(12)) / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0);
    (cpu, rss_kb * 1024)
}

// ---------------------------------------------------------------------------------------------
// The load generator.

#[derive(Default)]
struct Counters {
    measuring: AtomicBool,
    delivered: AtomicU64,
    gaps: AtomicU64,
    ended: AtomicU64,
    connected: AtomicU64,
    latency: Vec<AtomicU64>,
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn number_after(text: &[u8], key: &[u8]) -> Option<u64> {
    let at = find(text, key)? + key.len();
    let digits = &text[at..];
    let end = digits
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    std::str::from_utf8(&digits[..end]).ok()?.parse().ok()
}

/// One stream: connects, reads events, counts them, their latency and gaps.
async fn stream(addr: String, counters: Arc<Counters>, stop: Arc<AtomicBool>) {
    let Ok(tcp) = tokio::net::TcpStream::connect(&addr).await else {
        counters.ended.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = tcp.set_nodelay(true);
    // Closed with a reset, so no socket is left in TIME_WAIT: 10 000 of them from one server's
    // run would slow the next server's every packet lookup.
    let _ = tcp.set_zero_linger();
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await
    else {
        counters.ended.fetch_add(1, Ordering::Relaxed);
        return;
    };
    // The connection is driven in this task, so aborting the task closes its socket.
    tokio::select! {
        _ = conn => {}
        _ = read_events(&mut sender, &addr, &counters, &stop) => {}
    }
}

/// Sends the stream's request on `sender` and reads its events until `stop`.
async fn read_events(
    sender: &mut hyper::client::conn::http1::SendRequest<Empty<Bytes>>,
    addr: &str,
    counters: &Counters,
    stop: &AtomicBool,
) {
    let request = Request::get("/api/stream")
        .header("host", addr)
        .header("accept", "text/event-stream")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let Ok(response) = sender.send_request(request).await else {
        counters.ended.fetch_add(1, Ordering::Relaxed);
        return;
    };
    counters.connected.fetch_add(1, Ordering::Relaxed);
    let mut body = response.into_body();
    let mut pending: Vec<u8> = Vec::new();
    let mut last_id: Option<u64> = None;
    while !stop.load(Ordering::Relaxed) {
        let Some(Ok(frame)) = body.frame().await else {
            counters.ended.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let now = unix_ms();
        pending.extend_from_slice(&data);
        let measuring = counters.measuring.load(Ordering::Relaxed);
        let mut start = 0;
        while let Some(end) = find(&pending[start..], b"\n\n") {
            let event = &pending[start..start + end];
            start += end + 2;
            let Some(id) = number_after(event, b"id: ") else {
                continue;
            };
            if let Some(last) = last_id {
                if id > last + 1 && measuring {
                    counters.gaps.fetch_add(id - last - 1, Ordering::Relaxed);
                }
            }
            last_id = Some(id);
            if !measuring {
                continue;
            }
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            // Positions (and the plain server's telemetry) carry the time they were produced;
            // derived events may carry an earlier time of the change itself.
            if find(event, b"event: position").is_some()
                || find(event, b"event: telemetry").is_some()
            {
                if let Some(at) = number_after(event, br#""at_ms":"#) {
                    let ms = now.saturating_sub(at) as usize;
                    counters.latency[ms.min(BUCKETS - 1)].fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        pending.drain(..start);
    }
}

#[derive(Debug, Clone, serde::Serialize)]
struct Outcome {
    server: String,
    streams: usize,
    target_events_per_s: f64,
    connected: u64,
    events_per_s_per_stream: f64,
    delivered: u64,
    gaps: u64,
    streams_ended: u64,
    p50_ms: u64,
    p99_ms: u64,
    max_ms: u64,
    rss_mb: f64,
    cpu_pct: f64,
    /// The machine's 1-minute load average at the end of the window (2 cores: above 2, other
    /// work competed with the servers and the load generator).
    load_avg: f64,
}

fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn percentile(latency: &[u64], p: f64) -> u64 {
    let total: u64 = latency.iter().sum();
    if total == 0 {
        return 0;
    }
    let want = (total as f64 * p).ceil() as u64;
    let mut seen = 0;
    for (ms, n) in latency.iter().enumerate() {
        seen += n;
        if seen >= want {
            return ms as u64;
        }
    }
    (latency.len() - 1) as u64
}

/// Opens `streams` streams spread over `addrs`, measures for `secs` after a warm-up.
async fn measure(
    name: &str,
    addrs: &[String],
    pids: &[u32],
    streams: usize,
    per_s: f64,
    secs: u64,
) -> Outcome {
    let counters = Arc::new(Counters {
        latency: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        ..Counters::default()
    });
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::with_capacity(streams);
    for i in 0..streams {
        let addr = addrs[i % addrs.len()].clone();
        tasks.push(tokio::spawn(stream(addr, counters.clone(), stop.clone())));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while counters.connected.load(Ordering::Relaxed) + counters.ended.load(Ordering::Relaxed)
        < streams as u64
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before: Vec<(f64, u64)> = pids.iter().map(|&p| usage(p)).collect();
    let started = Instant::now();
    counters.measuring.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(secs)).await;
    counters.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let after: Vec<(f64, u64)> = pids.iter().map(|&p| usage(p)).collect();
    stop.store(true, Ordering::Relaxed);
    for task in &tasks {
        task.abort();
    }
    // Every client socket is closed before the server goes.
    for task in tasks {
        let _ = task.await;
    }
    let cpu: f64 = before
        .iter()
        .zip(&after)
        .map(|(b, a)| a.0 - b.0)
        .sum::<f64>();
    let rss: u64 = after.iter().map(|a| a.1).sum();
    let latency: Vec<u64> = counters
        .latency
        .iter()
        .map(|a| a.load(Ordering::Relaxed))
        .collect();
    let delivered = counters.delivered.load(Ordering::Relaxed);
    let connected = counters.connected.load(Ordering::Relaxed);
    Outcome {
        server: name.to_owned(),
        streams,
        target_events_per_s: per_s,
        connected,
        events_per_s_per_stream: delivered as f64 / elapsed / connected.max(1) as f64,
        delivered,
        gaps: counters.gaps.load(Ordering::Relaxed),
        streams_ended: counters.ended.load(Ordering::Relaxed),
        p50_ms: percentile(&latency, 0.50),
        p99_ms: percentile(&latency, 0.99),
        max_ms: latency.iter().rposition(|&n| n > 0).unwrap_or(0) as u64,
        rss_mb: rss as f64 / (1024.0 * 1024.0),
        cpu_pct: cpu / elapsed * 100.0,
        load_avg: load_avg(),
    }
}

fn convoy_bin() -> PathBuf {
    std::env::var_os("CONVOY_SERVER_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let exe = std::env::current_exe().unwrap();
            exe.parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("convoy-server")
        })
}

/// The builds to measure: this one (`CONVOY_SERVER_BIN`), and after it the one in
/// `CONVOY_BASELINE_SERVER_BIN` when that is set, each with the label its rows carry.
fn builds() -> Vec<(&'static str, PathBuf)> {
    let mut builds = vec![("", convoy_bin())];
    if let Some(baseline) = std::env::var_os("CONVOY_BASELINE_SERVER_BIN") {
        builds.push((", baseline", PathBuf::from(baseline)));
    }
    builds
}

/// convoy-server `bin` with the simulator producing about `per_s` events a second (8 trucks).
fn convoy(bin: &Path, per_s: f64, log: &str, trucks: usize) -> Proc {
    let mut command = Command::new(bin);
    command.args([
        "--addr",
        "127.0.0.1:0",
        "--dist",
        "/nonexistent",
        "--trucks",
        &trucks.to_string(),
        "--rate",
        &format!("{}", per_s / 8.0),
        "--log",
        log,
        "--queue",
        "1024",
        // Every stream of the load comes from this one address.
        "--max-connections-per-ip",
        "10000",
    ]);
    Proc::start(command)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Redis(Child, PathBuf);

impl Redis {
    fn start(port: u16) -> Redis {
        let dir = std::env::temp_dir().join(format!("convoy-bench-redis-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Command::new("redis-server")
            .args([
                "--bind",
                "127.0.0.1",
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (cargo xtask tools installs it)");
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Redis(child, dir)
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

async fn scenario(streams: usize, per_s: f64, secs: u64, engines: &[&str]) -> Vec<Outcome> {
    let mut out = Vec::new();
    let me = std::env::current_exe().unwrap();
    {
        let mut command = Command::new(&me);
        command.args(["plain", &free_port().to_string(), &per_s.to_string()]);
        let plain = Proc::start(command);
        let result = measure(
            "plain axum broadcast",
            std::slice::from_ref(&plain.addr),
            &[plain.pid()],
            streams,
            per_s,
            secs,
        )
        .await;
        eprintln!("{result:?}");
        out.push(result);
    }
    for engine in engines {
        for (label, bin) in builds() {
            let result = match *engine {
                "memory" => {
                    let server = convoy(&bin, per_s, "memory", 8);
                    measure(
                        &format!("convoy-server (memory{label})"),
                        std::slice::from_ref(&server.addr),
                        &[server.pid()],
                        streams,
                        per_s,
                        secs,
                    )
                    .await
                }
                "file" => {
                    let dir = std::env::temp_dir()
                        .join(format!("convoy-bench-file-{}", std::process::id()));
                    let _ = std::fs::remove_dir_all(&dir);
                    let server = convoy(&bin, per_s, &format!("file:{}", dir.display()), 8);
                    let result = measure(
                        &format!("convoy-server (file{label})"),
                        std::slice::from_ref(&server.addr),
                        &[server.pid()],
                        streams,
                        per_s,
                        secs,
                    )
                    .await;
                    drop(server);
                    let _ = std::fs::remove_dir_all(&dir);
                    result
                }
                _ => {
                    let port = free_port();
                    let _redis = Redis::start(port);
                    let url = format!("redis://127.0.0.1:{port}");
                    let nodes = [
                        convoy(&bin, per_s, &url, 8),
                        convoy(&bin, per_s, &url, 0),
                        convoy(&bin, per_s, &url, 0),
                    ];
                    let addrs: Vec<String> = nodes.iter().map(|n| n.addr.clone()).collect();
                    let pids: Vec<u32> = nodes.iter().map(|n| n.pid()).collect();
                    measure(
                        &format!("convoy-server (redis, 3 nodes{label})"),
                        &addrs,
                        &pids,
                        streams,
                        per_s,
                        secs,
                    )
                    .await
                }
            };
            eprintln!("{result:?}");
            out.push(result);
        }
    }
    out
}

fn write(out_dir: &Path, name: &str, results: &[Outcome], secs: u64) {
    std::fs::create_dir_all(out_dir).unwrap();
    let json = serde_json::to_string_pretty(results).unwrap();
    std::fs::write(out_dir.join(format!("{name}.json")), json + "\n").unwrap();
    let mut md = String::from("# Server fan-out\n\n");
    md.push_str(&format!(
        "Every stream follows every event over HTTP/1.1 on loopback, {secs} s windows after all streams are open and a 2 s warm-up, one server at a time on this 2-core machine (shared with other work, so figures vary between runs). The plain server is axum with one tokio broadcast channel and one write per event per stream; convoy-server runs its simulator (8 trucks) at about the same rate. Latency is the server's timestamp in the event to receipt by the load generator (telemetry events), in ms. RSS and CPU are the server processes' (the three nodes together for Redis; redis-server itself not counted). Gaps are missing ids within a stream; ended are streams the server closed. The load average is the machine's at the end of each window: above 2, other work competed for the two cores and latency figures say more about that than about the servers; CPU and RSS hold up better.\n\n"
    ));
    if std::env::var_os("CONVOY_BASELINE_SERVER_BIN").is_some() {
        let which =
            std::env::var("CONVOY_BASELINE_NAME").unwrap_or_else(|_| "another build".into());
        md.push_str(&format!(
            "Rows marked *baseline* are {which}, run right after this build's row of the same engine and scenario, in the same conditions.\n\n"
        ));
    }
    md.push_str("| server | streams | events/s | delivered/s per stream | p50 ms | p99 ms | max ms | gaps | ended | RSS MB | CPU % | load avg |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in results {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {:.0} | {:.0} | {:.1} |\n",
            r.server,
            r.streams,
            r.target_events_per_s,
            r.events_per_s_per_stream,
            r.p50_ms,
            r.p99_ms,
            r.max_ms,
            r.gaps,
            r.streams_ended,
            r.rss_mb,
            r.cpu_pct,
            r.load_avg
        ));
    }
    std::fs::write(out_dir.join(format!("{name}.md")), md).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    if args.first().map(String::as_str) == Some("plain") {
        let port: u16 = args[1].parse().unwrap();
        let per_s: f64 = args[2].parse().unwrap();
        runtime.block_on(plain_server(port, per_s));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let out_dir = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("bench"));
    let engines: Vec<&str> = match args.iter().position(|a| a == "--engines") {
        Some(i) => args[i + 1].split(',').collect(),
        None => vec!["memory", "file", "redis"],
    };
    let secs = if quick { 5 } else { 15 };
    let mut results = Vec::new();
    let only: Option<usize> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1)?.parse().ok());
    let custom: Option<(usize, f64)> = args.iter().position(|a| a == "--scenario").and_then(|i| {
        let (n, r) = args.get(i + 1)?.split_once('x')?;
        Some((n.parse().ok()?, r.parse().ok()?))
    });
    let scenarios = match custom {
        Some(one) => vec![one],
        None => vec![(1000, 80.0), (10_000, 8.0)],
    };
    runtime.block_on(async {
        for (streams, per_s) in scenarios {
            if only.is_none_or(|n| n == streams) {
                results.extend(scenario(streams, per_s, secs, &engines).await);
            }
        }
    });
    let name = args
        .iter()
        .position(|a| a == "--name")
        .and_then(|i| args.get(i + 1))
        .map_or("server", String::as_str);
    write(&out_dir, name, &results, secs);
    println!("wrote {}", out_dir.join(format!("{name}.md")).display());
}
