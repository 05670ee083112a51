//! The soak: the whole system as it runs in production, under faults, for minutes. A real
//! redis-server (append-only file, so a restart keeps the log), three convoy-server nodes on it
//! behind nginx (one origin for the browser), an ingest producer and an OsmAnd producer at a
//! steady rate, and 12 tabs of `/?transport=leader` in two Chromium profiles (one visible tab,
//! eleven opened in the background, throttled as people have them). Every 20 to 40 s one fault
//! picked by a seeded generator: a node SIGKILLed or rolled with SIGTERM and started again,
//! Redis restarted, a profile's leader tab closed, crashed or hung, or every stream cut by an
//! nginx reload. After each fault the soak waits until every remaining tab has delivered an
//! event newer than the newest the nodes had at the fault (the stall); at the end every tab's
//! ids must run without a gap or a repeat, and every tab must have caught up.
//!
//! `cargo xtask soak --minutes N` runs it through `examples/soak.rs` and writes `bench/soak.md`
//! and `bench/soak.json`; the end-to-end tests run two minutes of it.

use crate::harness::{env_path, Browser, NginxProcess};
use fantoccini::wd::WindowHandle;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Where Redis listens: a loopback address of its own, so the port it keeps across restarts is
/// never handed to something binding 127.0.0.1:0 meanwhile.
const REDIS_HOST: &str = "127.0.0.3";
/// Where the nodes and their metrics listen, for the same reason (a node restarts on its port).
const NODE_HOST: &str = "127.0.0.4";
const NODES: usize = 3;
const PROFILES: usize = 2;
const TABS_PER_PROFILE: usize = 6;
const INGEST_TOKEN: &str = "soak-ingest-token";
/// Trucks the ingest producer moves, one position each in turn every [`INGEST_EVERY`].
const INGEST_TRUCKS: u64 = 8;
const INGEST_EVERY: Duration = Duration::from_millis(250);
/// OsmAnd devices, each reporting every [`OSMAND_EVERY`].
const OSMAND_DEVICES: u64 = 2;
const OSMAND_EVERY: Duration = Duration::from_secs(1);
/// Seconds between faults, drawn from this range.
const FAULT_GAP_S: (u64, u64) = (20, 40);
/// A tab that has not delivered an event newer than the fault's after this has stopped.
const RECOVERY_LIMIT: Duration = Duration::from_secs(60);
/// How long a node or Redis may take to answer again after a restart.
const RESTART_LIMIT: Duration = Duration::from_secs(30);
/// How long a hung leader holds its main thread.
const HANG_MS: u64 = 10_000;
const SCRAPE_EVERY: Duration = Duration::from_secs(10);
/// Lets the soak read the app's wasm memory: trunk's bootstrap announces the instance.
const WASM_PROBE: &str = "addEventListener('TrunkApplicationStarted', \
     e => { window.convoySoakWasm = e.detail && e.detail.wasm; });";

/// Wall-clock ms, the clock the tabs' delivery times use.
fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// splitmix64: the fault schedule from a seed, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// One kind of fault.
#[derive(Serialize, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// A node SIGKILLed, then started again on its address.
    NodeKill,
    /// A node rolled: SIGTERM, its clean exit, then started again.
    NodeRoll,
    /// redis-server stopped (SIGTERM) and started again on its append-only file.
    RedisRestart,
    /// A profile's leader tab closed, then a tab opened in its place.
    LeaderClose,
    /// A profile's leader tab's renderer crashed (`Page.crash`), closed, and a tab opened.
    LeaderCrash,
    /// A profile's leader tab hung by a busy loop of [`HANG_MS`].
    LeaderHang,
    /// Every stream cut by the proxy: `nginx -s reload` with a 1 s worker shutdown timeout.
    ProxyCut,
}

const KINDS: [FaultKind; 7] = [
    FaultKind::NodeKill,
    FaultKind::NodeRoll,
    FaultKind::RedisRestart,
    FaultKind::LeaderClose,
    FaultKind::LeaderCrash,
    FaultKind::LeaderHang,
    FaultKind::ProxyCut,
];

/// One fault and what it cost.
#[derive(Serialize, Clone, Debug)]
pub struct FaultRun {
    /// Seconds into the fault phase.
    pub at_s: u64,
    pub kind: FaultKind,
    pub detail: String,
    /// The newest id any node had when the fault hit.
    pub newest_id: u64,
    /// Fault to every remaining tab's first delivery above `newest_id`; None when a tab never
    /// delivered one within the recovery limit.
    pub stall_ms: Option<u64>,
    /// The tabs that delivered nothing newer within the limit.
    pub stopped_tabs: Vec<String>,
}

/// What `convoyDiagnostics()` says of a tab's deliveries, computed in the page.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct TabCounts {
    pub role: String,
    pub tab_id: u64,
    pub leader_id: Option<u64>,
    pub last: u64,
    /// Events delivered since the tab loaded.
    pub count: u64,
    pub first: Option<u64>,
    /// Ids skipped between consecutive deliveries.
    pub lost: u64,
    /// Deliveries not above the one before.
    pub repeated: u64,
    pub gaps: u64,
    pub duplicates: u64,
    /// When the tab delivered its first event above the id asked about (wall-clock ms).
    pub first_newer_at: Option<u64>,
}

/// A tab's memory: `Performance.getMetrics` and the page's own count.
#[derive(Serialize, Clone, Debug, Default)]
pub struct TabMemory {
    pub js_heap_bytes: u64,
    /// Elements in the document.
    pub dom_nodes: u64,
    /// The DevTools count of DOM nodes alive, detached ones included.
    pub cdp_nodes: u64,
    pub wasm_bytes: Option<u64>,
}

/// One tab over its life.
#[derive(Serialize, Clone, Debug)]
pub struct TabRun {
    pub name: String,
    pub profile: usize,
    pub opened_at_s: u64,
    pub closed_at_s: Option<u64>,
    /// The last counts read (just before a close or crash, or at the end).
    pub counts: Option<TabCounts>,
    pub memory_start: Option<TabMemory>,
    pub memory_end: Option<TabMemory>,
}

/// One node's process: RSS and open files at its start and at the end.
#[derive(Serialize, Clone, Debug, Default)]
pub struct NodeRun {
    pub node: usize,
    pub restarts: u32,
    /// From /proc once the first process served, and of the process running at the end.
    pub rss_kb_start: Option<u64>,
    pub fds_start: Option<u64>,
    pub rss_kb_end: Option<u64>,
    pub fds_end: Option<u64>,
}

/// One series over the run's scrapes of a node: gauges by min and max, counters by increase
/// (across restarts: a drop is a new process counting from zero).
#[derive(Serialize, Clone, Debug)]
pub struct Series {
    pub min: f64,
    pub max: f64,
    pub last: f64,
    pub increase: f64,
}

/// What the producers did.
#[derive(Serialize, Default, Debug)]
pub struct ProducerCounts {
    pub ingest_accepted: u64,
    /// Requests sent again after a 5xx or a connection error (same key: deduplicated).
    pub ingest_retries: u64,
    pub ingest_refused: u64,
    pub osmand_accepted: u64,
    pub osmand_retries: u64,
    pub osmand_refused: u64,
}

#[derive(Default)]
struct Producing {
    ingest_accepted: AtomicU64,
    ingest_retries: AtomicU64,
    ingest_refused: AtomicU64,
    osmand_accepted: AtomicU64,
    osmand_retries: AtomicU64,
    osmand_refused: AtomicU64,
}

impl Producing {
    fn counts(&self) -> ProducerCounts {
        let get = |a: &AtomicU64| a.load(Ordering::Acquire);
        ProducerCounts {
            ingest_accepted: get(&self.ingest_accepted),
            ingest_retries: get(&self.ingest_retries),
            ingest_refused: get(&self.ingest_refused),
            osmand_accepted: get(&self.osmand_accepted),
            osmand_retries: get(&self.osmand_retries),
            osmand_refused: get(&self.osmand_refused),
        }
    }
}

/// The whole run.
#[derive(Serialize, Debug)]
pub struct SoakReport {
    pub minutes: f64,
    pub seed: u64,
    pub started_unix_ms: u64,
    /// `/proc/loadavg` (1, 5, 15 min) at the start and the end, and the highest 1-min seen.
    pub load_start: String,
    pub load_end: String,
    pub load1_max: f64,
    pub faults: Vec<FaultRun>,
    pub tabs: Vec<TabRun>,
    pub nodes: Vec<NodeRun>,
    /// Per node: each `convoy_*` series (histogram buckets left out) over the scrapes.
    pub metrics: Vec<BTreeMap<String, Series>>,
    pub scrapes_ok: Vec<u64>,
    pub scrapes_failed: Vec<u64>,
    pub producers: ProducerCounts,
    /// The newest id at the end, which every tab reached.
    pub final_id: u64,
    /// Why the run failed: events lost or repeated, a tab that stopped delivering, a node or
    /// Redis that did not come back. Empty when it held.
    pub failures: Vec<String>,
}

/// How long and from which seed.
pub struct Soak {
    pub duration: Duration,
    pub seed: u64,
}

/// redis-server with an append-only file synced on every write: a restart keeps the log.
struct Redis {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Redis {
    async fn start(dir: &Path) -> Redis {
        let mut redis = Redis {
            port: free_port_on(REDIS_HOST),
            dir: dir.join("redis"),
            child: None,
        };
        std::fs::create_dir_all(&redis.dir).expect("a Redis directory");
        assert!(redis.launch().await, "redis-server did not start");
        redis
    }

    fn url(&self) -> String {
        format!("redis://{REDIS_HOST}:{}", self.port)
    }

    /// Starts it and waits for PONG; false when it never answers.
    async fn launch(&mut self) -> bool {
        let port = self.port.to_string();
        let child = Command::new("redis-server")
            .args(["--bind", REDIS_HOST, "--port", &port, "--save", ""])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (`cargo xtask tools` installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + RESTART_LIMIT;
        while Instant::now() < deadline {
            if self.ping().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    async fn ping(&self) -> bool {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let Ok(mut stream) = tokio::net::TcpStream::connect((REDIS_HOST, self.port)).await else {
            return false;
        };
        if stream.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut line = String::new();
        let mut reader = tokio::io::BufReader::new(stream);
        let read = reader.read_line(&mut line);
        matches!(
            tokio::time::timeout(Duration::from_secs(2), read).await,
            Ok(Ok(_))
        ) && line.trim_end() == "+PONG"
    }

    /// SIGTERM (Redis syncs its file and exits), then a new process on the same file.
    async fn restart(&mut self) -> bool {
        if let Some(mut child) = self.child.take() {
            signal(&child, "TERM");
            wait_exit(&mut child, RESTART_LIMIT).await;
        }
        self.launch().await
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port_on(host: &str) -> u16 {
    TcpListener::bind((host, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn signal(child: &Child, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status();
}

/// Waits up to `limit` for `child` to exit; its status, or None (then it is killed).
async fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// One convoy-server node on its fixed address, started again in place after a fault.
struct Node {
    addr: SocketAddr,
    metrics: SocketAddr,
    args: Vec<String>,
    log: PathBuf,
    child: Child,
    restarts: u32,
}

impl Node {
    fn new(redis_url: &str, dir: &Path, i: usize) -> Node {
        let addr: SocketAddr = format!("{NODE_HOST}:{}", free_port_on(NODE_HOST))
            .parse()
            .expect("an address");
        let metrics: SocketAddr = format!("{NODE_HOST}:{}", free_port_on(NODE_HOST))
            .parse()
            .expect("an address");
        let args: Vec<String> = [
            "--addr",
            &addr.to_string(),
            "--metrics-addr",
            &metrics.to_string(),
            "--dist",
            &env_path("CONVOY_DIST"),
            "--log",
            redis_url,
            "--trucks",
            "0",
            "--ingest-token-file",
            &dir.join("tokens").display().to_string(),
            "--devices",
            &dir.join("devices").display().to_string(),
            // Behind nginx every connection comes from one address.
            "--max-connections-per-ip",
            "10000",
            "--shutdown-timeout",
            "5s",
        ]
        .map(String::from)
        .to_vec();
        let log = dir.join(format!("node-{i}.log"));
        let child = Node::spawn(&args, &log);
        Node {
            addr,
            metrics,
            args,
            log,
            child,
            restarts: 0,
        }
    }

    fn spawn(args: &[String], log: &Path) -> Child {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("a node log file");
        Command::new(env_path("CONVOY_SERVER_BIN"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("convoy-server starts")
    }

    /// Waits until `/api/health` says ok (the log read, Redis reachable).
    async fn wait_ok(&self, http: &reqwest::Client) -> bool {
        let deadline = Instant::now() + RESTART_LIMIT;
        while Instant::now() < deadline {
            if health(http, self.addr).await.is_some_and(|h| h.ok) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// SIGKILL or SIGTERM, the exit, a new process on the same address; what happened, and
    /// whether it serves again (a roll must also exit cleanly in time).
    async fn restart(&mut self, http: &reqwest::Client, kill: bool) -> (String, bool) {
        let mut detail = String::new();
        let mut fine = true;
        if kill {
            let _ = self.child.kill();
            let _ = self.child.wait();
        } else {
            let from = Instant::now();
            signal(&self.child, "TERM");
            match wait_exit(&mut self.child, Duration::from_secs(15)).await {
                Some(status) if status.success() => {
                    detail = format!("exited cleanly in {} ms", from.elapsed().as_millis())
                }
                Some(status) => {
                    detail = format!("exited with {status}");
                    fine = false;
                }
                None => {
                    detail = "did not exit within 15 s of SIGTERM".into();
                    fine = false;
                }
            }
        }
        self.child = Node::spawn(&self.args, &self.log);
        self.restarts += 1;
        let from = Instant::now();
        if self.wait_ok(http).await {
            detail.push_str(&format!(
                "{}serving again {} ms after its start",
                if detail.is_empty() { "" } else { ", " },
                from.elapsed().as_millis()
            ));
        } else {
            detail.push_str(" and did not serve again");
            fine = false;
        }
        (detail, fine)
    }

    fn proc_figures(&self) -> (Option<u64>, Option<u64>) {
        let pid = self.child.id();
        let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            });
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
            .ok()
            .map(|d| d.count() as u64);
        (rss, fds)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Deserialize)]
struct Health {
    ok: bool,
    latest_event_id: u64,
}

async fn health(http: &reqwest::Client, addr: SocketAddr) -> Option<Health> {
    let response = http
        .get(format!("http://{addr}/api/health"))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

/// nginx in front of the nodes: the cluster recipe of the README, plain HTTP on loopback.
struct Proxy {
    process: NginxProcess,
    base: String,
}

impl Proxy {
    async fn start(nodes: &[SocketAddr]) -> Proxy {
        // nginx binds before the browser and never lets go: 127.0.0.1 is safe here.
        let port = crate::harness::free_port();
        let servers: String = nodes.iter().map(|a| format!("    server {a};\n")).collect();
        let site = format!(
            "upstream convoy {{\n    least_conn;\n{servers}    keepalive 64;\n}}\n\
             server {{\n    listen 127.0.0.1:{port};\n\
             location /api/stream {{\n        proxy_pass http://convoy;\n\
             proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n\
             proxy_buffering off;\n        proxy_cache off;\n        proxy_read_timeout 1h;\n\
             gzip off;\n    }}\n    location / {{\n        proxy_pass http://convoy;\n\
             proxy_http_version 1.1;\n        proxy_set_header Connection \"\";\n\
             client_max_body_size 1m;\n    }}\n}}\n"
        );
        // A reload's old worker cuts its open streams after 1 s instead of keeping them.
        let process = NginxProcess::start("worker_shutdown_timeout 1s;", &site, port).await;
        Proxy {
            process,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    /// The master's child processes: its worker, and after a reload the old one until it exits.
    fn workers(&self) -> usize {
        let master = self.process.pid().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return 0;
        };
        entries
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
            .filter(|stat| {
                // `pid (comm) state ppid …`; comm may hold spaces.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .is_some_and(|ppid| ppid == master)
            })
            .count()
    }
}

/// What one producer's requests came to: taken, sent again, refused.
struct Outcomes<'a> {
    accepted: &'a AtomicU64,
    retries: &'a AtomicU64,
    refused: &'a AtomicU64,
}

/// Sends the request `build` makes until a node answers it: a 2xx is taken, a 4xx (but 429)
/// refused, and after a 5xx, a 429 or a cut connection it is sent again 250 ms later.
async fn send_until_answered(
    build: impl Fn() -> reqwest::RequestBuilder,
    stop: &AtomicBool,
    outcomes: Outcomes<'_>,
) {
    while !stop.load(Ordering::Acquire) {
        let sent = build().timeout(Duration::from_secs(5)).send().await;
        let counter = match sent.map(|r| r.status()) {
            Ok(status) if status.is_success() => outcomes.accepted,
            Ok(status) if status.is_client_error() && status != 429 => outcomes.refused,
            _ => {
                outcomes.retries.fetch_add(1, Ordering::AcqRel);
                tokio::time::sleep(Duration::from_millis(250)).await;
                continue;
            }
        };
        counter.fetch_add(1, Ordering::AcqRel);
        return;
    }
}

/// Positions of [`INGEST_TRUCKS`] trucks through `POST /api/ingest`, each request sent again
/// with the same key until a node takes it.
async fn ingest_producer(base: String, stop: Arc<AtomicBool>, counts: Arc<Producing>) {
    let http = reqwest::Client::new();
    let mut ticks = tokio::time::interval(INGEST_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        ticks.tick().await;
        let step = (n / INGEST_TRUCKS) as f64 * 0.0002;
        let body = json!({
            "type": "position", "truck": format!("SOAK-{}", n % INGEST_TRUCKS + 1),
            "at_ms": unix_ms(), "lat": 41.0 + (n % INGEST_TRUCKS) as f64 * 0.1 + step % 1.0,
            "lon": -87.6 + step % 1.0, "speed_kph": 60.0, "key": format!("soak-{n}"),
        })
        .to_string();
        let build = || {
            http.post(format!("{base}/api/ingest"))
                .bearer_auth(INGEST_TOKEN)
                .body(body.clone())
        };
        let outcomes = Outcomes {
            accepted: &counts.ingest_accepted,
            retries: &counts.ingest_retries,
            refused: &counts.ingest_refused,
        };
        send_until_answered(build, &stop, outcomes).await;
        n += 1;
    }
}

/// One OsmAnd device reporting through `/api/osmand` every [`OSMAND_EVERY`]. A report sent
/// again after the first was kept is refused as not newer.
async fn osmand_producer(base: String, device: u64, stop: Arc<AtomicBool>, counts: Arc<Producing>) {
    let http = reqwest::Client::new();
    let mut ticks = tokio::time::interval(OSMAND_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut n = 0u64;
    while !stop.load(Ordering::Acquire) {
        ticks.tick().await;
        let step = n as f64 * 0.0002 % 1.0;
        let url = format!(
            "{base}/api/osmand?id=soak-device-{device}&lat={}&lon={}&timestamp={}&speed=30",
            39.0 + device as f64 * 0.1 + step,
            -86.0 + step,
            unix_ms()
        );
        let outcomes = Outcomes {
            accepted: &counts.osmand_accepted,
            retries: &counts.osmand_retries,
            refused: &counts.osmand_refused,
        };
        send_until_answered(|| http.get(&url), &stop, outcomes).await;
        n += 1;
    }
}

/// Each node's `convoy_*` series over the scrapes, with the scrape counts.
#[derive(Default)]
struct Scraped {
    series: Vec<BTreeMap<String, Series>>,
    ok: Vec<u64>,
    failed: Vec<u64>,
    load1_max: f64,
}

impl Scraped {
    fn add(&mut self, node: usize, text: &str) {
        self.ok[node] += 1;
        for line in text.lines() {
            if line.starts_with('#') || line.contains("_bucket{") {
                continue;
            }
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else {
                continue;
            };
            if !name.starts_with("convoy_") {
                continue;
            }
            let counter =
                name.contains("_total") || name.contains("_sum") || name.contains("_count");
            self.series[node]
                .entry(name.to_owned())
                .and_modify(|s| {
                    if counter {
                        s.increase += if value >= s.last {
                            value - s.last
                        } else {
                            value
                        };
                    }
                    s.min = s.min.min(value);
                    s.max = s.max.max(value);
                    s.last = value;
                })
                .or_insert(Series {
                    min: value,
                    max: value,
                    last: value,
                    increase: 0.0,
                });
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Scrapes every node's `--metrics-addr` every [`SCRAPE_EVERY`] until `stop`.
async fn scraper(nodes: Vec<SocketAddr>, stop: Arc<AtomicBool>, scraped: Arc<Mutex<Scraped>>) {
    let http = reqwest::Client::new();
    let mut ticks = tokio::time::interval(SCRAPE_EVERY);
    while !stop.load(Ordering::Acquire) {
        ticks.tick().await;
        for (i, addr) in nodes.iter().enumerate() {
            let got = http
                .get(format!("http://{addr}/metrics"))
                .timeout(Duration::from_secs(3))
                .send()
                .await;
            let text = match got {
                Ok(r) if r.status().is_success() => r.text().await.ok(),
                _ => None,
            };
            let mut scraped = scraped.lock().unwrap();
            match text {
                Some(text) => scraped.add(i, &text),
                None => scraped.failed[i] += 1,
            }
        }
        let load1 = load_average()
            .split_whitespace()
            .next()
            .and_then(|l| l.parse().ok())
            .unwrap_or(0.0);
        let mut scraped = scraped.lock().unwrap();
        scraped.load1_max = scraped.load1_max.max(load1);
    }
}

/// A tab the soak opened.
struct Tab {
    handle: WindowHandle,
    run: TabRun,
    open: bool,
}

/// One Chromium instance with its own user-data dir, and the tab it keeps in front.
struct Profile {
    browser: Browser,
    front: WindowHandle,
}

/// The deliveries of `tab`, and its first above `newest`; None while the app is not up.
async fn counts(browser: &Browser, tab: &WindowHandle, newest: u64) -> Option<TabCounts> {
    let script = format!(
        "const d = window.convoyDiagnostics ? window.convoyDiagnostics() : null; \
         if (!d) return null; \
         const r = d.received, t = d.receivedAtMs; let lost = 0, repeated = 0; \
         for (let i = 1; i < r.length; i++) {{ \
           if (r[i] <= r[i - 1]) repeated++; else lost += r[i] - r[i - 1] - 1; }} \
         const k = r.findIndex(x => x > {newest}); \
         return {{ role: d.role, tabId: d.tabId, leaderId: d.leaderId ?? null, \
           last: d.lastEventId, count: r.length, first: r.length ? r[0] : null, lost, repeated, \
           gaps: d.gaps, duplicates: d.duplicates, firstNewerAt: k < 0 ? null : t[k] }};"
    );
    serde_json::from_value(browser.run(tab, &script).await).ok()
}

async fn memory(browser: &Browser, tab: &WindowHandle) -> Option<TabMemory> {
    browser.cdp(tab, "Performance.enable", json!({})).await;
    let metrics = browser.cdp(tab, "Performance.getMetrics", json!({})).await;
    let metric = |name: &str| {
        metrics["metrics"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == name))
            .and_then(|m| m["value"].as_f64())
            .map(|v| v as u64)
    };
    let page = browser
        .run(
            tab,
            "return { dom: document.getElementsByTagName('*').length, \
             wasm: window.convoySoakWasm && window.convoySoakWasm.memory \
               ? window.convoySoakWasm.memory.buffer.byteLength : null };",
        )
        .await;
    Some(TabMemory {
        js_heap_bytes: metric("JSHeapUsedSize")?,
        cdp_nodes: metric("Nodes").unwrap_or_default(),
        dom_nodes: page["dom"].as_u64().unwrap_or_default(),
        wasm_bytes: page["wasm"].as_u64(),
    })
}

/// Everything the soak runs, and what it has seen so far.
struct Rig {
    started: Instant,
    http: reqwest::Client,
    redis: Redis,
    nodes: Vec<Node>,
    proxy: Proxy,
    profiles: Vec<Profile>,
    tabs: Vec<Tab>,
    url: String,
    failures: Vec<String>,
}

impl Rig {
    fn now_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// The newest id any node has.
    async fn newest_id(&self) -> u64 {
        let mut newest = 0;
        for node in &self.nodes {
            if let Some(h) = health(&self.http, node.addr).await {
                newest = newest.max(h.latest_event_id);
            }
        }
        newest
    }

    /// Opens a tab of `profile` in the background, named `name`.
    async fn open_tab(&mut self, profile: usize, name: String) -> usize {
        let p = &self.profiles[profile];
        let handle = p
            .browser
            .open_background_tab(&p.front, &self.url, WASM_PROBE)
            .await;
        self.tabs.push(Tab {
            handle,
            run: TabRun {
                name,
                profile,
                opened_at_s: self.now_s(),
                closed_at_s: None,
                counts: None,
                memory_start: None,
                memory_end: None,
            },
            open: true,
        });
        self.tabs.len() - 1
    }

    /// Shows each profile's front tab again (reading a tab brings it to the front).
    async fn to_front(&self) {
        for p in &self.profiles {
            let _ = p.browser.client.switch_to_window(p.front.clone()).await;
        }
    }

    /// Waits until every open tab but `skip` has delivered an event above `newest`: the stall
    /// from `at_ms`, and the tabs that did not within [`RECOVERY_LIMIT`].
    async fn await_delivery(
        &mut self,
        newest: u64,
        at_ms: u64,
        skip: Option<usize>,
    ) -> (Option<u64>, Vec<String>) {
        let deadline = Instant::now() + RECOVERY_LIMIT;
        let watched: Vec<usize> = (0..self.tabs.len())
            .filter(|i| self.tabs[*i].open && Some(*i) != skip)
            .collect();
        let mut firsts: BTreeMap<usize, u64> = BTreeMap::new();
        loop {
            for &i in &watched {
                if firsts.contains_key(&i) {
                    continue;
                }
                let tab = &self.tabs[i];
                let browser = &self.profiles[tab.run.profile].browser;
                if let Some(c) = counts(browser, &tab.handle, newest).await {
                    if let Some(t) = c.first_newer_at {
                        firsts.insert(i, t);
                    }
                    self.tabs[i].run.counts = Some(c);
                }
            }
            if firsts.len() == watched.len() || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.to_front().await;
        let stopped: Vec<String> = watched
            .iter()
            .filter(|i| !firsts.contains_key(i))
            .map(|i| self.tabs[*i].run.name.clone())
            .collect();
        let stall = stopped
            .is_empty()
            .then(|| firsts.values().map(|t| t.saturating_sub(at_ms)).max())
            .flatten();
        (stall, stopped)
    }

    /// The tab leading `profile`'s tabs, as its tabs report it.
    async fn leader_of(&mut self, profile: usize) -> Option<usize> {
        let newest = self.newest_id().await;
        let mine: Vec<usize> = (0..self.tabs.len())
            .filter(|i| self.tabs[*i].open && self.tabs[*i].run.profile == profile)
            .collect();
        let mut leader_id = None;
        for &i in &mine {
            let browser = &self.profiles[profile].browser;
            if let Some(c) = counts(browser, &self.tabs[i].handle, newest).await {
                leader_id = leader_id.or(c.leader_id);
                self.tabs[i].run.counts = Some(c);
            }
        }
        let leader_id = leader_id?;
        mine.into_iter().find(|i| {
            self.tabs[*i]
                .run
                .counts
                .as_ref()
                .is_some_and(|c| c.tab_id == leader_id)
        })
    }

    /// Closes tab `i` (crashing its renderer first when `crash`) from the front tab, and opens
    /// one in its place; a closed front tab gives the front to another of its profile's tabs.
    async fn replace_tab(&mut self, i: usize, crash: bool) {
        let profile = self.tabs[i].run.profile;
        let handle = self.tabs[i].handle.clone();
        let p = &self.profiles[profile];
        if crash {
            p.browser.crash_tab(&handle).await;
        }
        let front = if p.front == handle {
            // The front tab itself: close it the way a user does.
            let _ = p.browser.client.switch_to_window(handle.clone()).await;
            let _ = p.browser.client.close_window().await;
            None
        } else {
            p.browser
                .cdp(
                    &p.front,
                    "Target.closeTarget",
                    json!({ "targetId": String::from(handle.clone()) }),
                )
                .await;
            Some(p.front.clone())
        };
        self.tabs[i].open = false;
        self.tabs[i].run.closed_at_s = Some(self.now_s());
        if front.is_none() {
            let next = (0..self.tabs.len())
                .find(|j| self.tabs[*j].open && self.tabs[*j].run.profile == profile)
                .map(|j| self.tabs[j].handle.clone());
            if let Some(next) = next {
                self.profiles[profile].front = next;
            }
            self.to_front().await;
        }
        let n = self
            .tabs
            .iter()
            .filter(|t| t.run.profile == profile)
            .count();
        let name = format!("{}{}", profile_letter(profile), n + 1);
        self.open_tab(profile, name).await;
    }

    /// One fault of `kind`; its detail, the fault's time, and the tab it hung if any.
    async fn inflict(
        &mut self,
        kind: FaultKind,
        rng: &mut Rng,
        newest: &mut u64,
    ) -> (String, u64, Option<usize>) {
        let mut at = unix_ms();
        match kind {
            FaultKind::NodeKill | FaultKind::NodeRoll => {
                let k = rng.below(NODES as u64) as usize;
                let http = self.http.clone();
                let (detail, fine) = self.nodes[k]
                    .restart(&http, kind == FaultKind::NodeKill)
                    .await;
                if !fine {
                    self.failures.push(format!("node {k}: {detail}"));
                }
                (format!("node {k}: {detail}"), at, None)
            }
            FaultKind::RedisRestart => {
                let from = Instant::now();
                let back = self.redis.restart().await;
                if !back {
                    self.failures.push("redis-server did not come back".into());
                }
                let mut detail = format!("answering again after {} ms", from.elapsed().as_millis());
                let http = self.http.clone();
                for (k, node) in self.nodes.iter().enumerate() {
                    if !node.wait_ok(&http).await {
                        self.failures.push(format!(
                            "node {k} did not read Redis again after its restart"
                        ));
                    }
                }
                detail.push_str(&format!(
                    ", every node ok after {} ms",
                    from.elapsed().as_millis()
                ));
                (detail, at, None)
            }
            FaultKind::ProxyCut => {
                if !self.proxy.process.signal("reload") {
                    self.failures.push("nginx -s reload failed".into());
                }
                // The streams go when the old worker does (1 s later): the fault counts from
                // then, with the newest id then.
                let from = Instant::now();
                tokio::time::sleep(Duration::from_millis(500)).await;
                while self.proxy.workers() > 1 && from.elapsed() < RESTART_LIMIT {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                *newest = self.newest_id().await;
                at = unix_ms();
                let detail = format!(
                    "nginx -s reload; the old worker and its streams gone after {} ms",
                    from.elapsed().as_millis()
                );
                (detail, at, None)
            }
            FaultKind::LeaderClose | FaultKind::LeaderCrash | FaultKind::LeaderHang => {
                let profile = rng.below(PROFILES as u64) as usize;
                let Some(i) = self.leader_of(profile).await else {
                    self.to_front().await;
                    return (
                        format!("profile {}: no leader found", profile_letter(profile)),
                        at,
                        None,
                    );
                };
                self.to_front().await;
                // The fault counts from after the reads above, and the newest id with it.
                *newest = self.newest_id().await;
                at = unix_ms();
                let name = self.tabs[i].run.name.clone();
                match kind {
                    FaultKind::LeaderHang => {
                        // chromedriver waits for a busy page before it answers, so the loop
                        // starts at a set time after the command returns.
                        let start = at + 400;
                        let busy = format!(
                            "setTimeout(() => {{ const end = Date.now() + {HANG_MS}; \
                             while (Date.now() < end) {{}} }}, {start} - Date.now()); true"
                        );
                        let browser = &self.profiles[profile].browser;
                        let _ = tokio::time::timeout(
                            Duration::from_millis(300),
                            browser.cdp(
                                &self.tabs[i].handle,
                                "Runtime.evaluate",
                                json!({ "expression": busy }),
                            ),
                        )
                        .await;
                        tokio::time::sleep(Duration::from_millis(
                            start.saturating_sub(unix_ms()) + 20,
                        ))
                        .await;
                        *newest = self.newest_id().await;
                        self.to_front().await;
                        (format!("{name} hung for {HANG_MS} ms"), start, Some(i))
                    }
                    _ => {
                        let crash = kind == FaultKind::LeaderCrash;
                        self.replace_tab(i, crash).await;
                        let verb = if crash { "crashed" } else { "closed" };
                        (
                            format!("{name} {verb}, a tab opened in its place"),
                            at,
                            None,
                        )
                    }
                }
            }
        }
    }
}

fn profile_letter(profile: usize) -> char {
    (b'A' + profile as u8) as char
}

impl Soak {
    /// Runs the soak; the report says what failed, if anything.
    pub async fn run(&self) -> SoakReport {
        let started_unix_ms = unix_ms();
        let load_start = load_average();
        let dir = std::env::temp_dir().join(format!("convoy-soak-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a soak directory");
        std::fs::write(dir.join("tokens"), INGEST_TOKEN).expect("a token file");
        let devices: String = (1..=OSMAND_DEVICES)
            .map(|d| format!("soak-device-{d} OSM-{d}\n"))
            .collect();
        std::fs::write(dir.join("devices"), devices).expect("a devices file");

        let redis = Redis::start(&dir).await;
        let nodes: Vec<Node> = (0..NODES)
            .map(|i| Node::new(&redis.url(), &dir, i))
            .collect();
        let http = reqwest::Client::new();
        for (k, node) in nodes.iter().enumerate() {
            assert!(node.wait_ok(&http).await, "node {k} never served");
        }
        let proxy = Proxy::start(&nodes.iter().map(|n| n.addr).collect::<Vec<_>>()).await;
        let url = format!("{}/?transport=leader", proxy.base);

        let stop = Arc::new(AtomicBool::new(false));
        let producing = Arc::new(Producing::default());
        let mut producers = vec![tokio::spawn(ingest_producer(
            proxy.base.clone(),
            stop.clone(),
            producing.clone(),
        ))];
        for device in 1..=OSMAND_DEVICES {
            producers.push(tokio::spawn(osmand_producer(
                proxy.base.clone(),
                device,
                stop.clone(),
                producing.clone(),
            )));
        }

        // Profile A: its first tab in front, five in the background. Profile B: a blank tab in
        // front and six in the background. One visible tab of twelve.
        let mut profiles = Vec::new();
        for profile in 0..PROFILES {
            let browser = Browser::start_throttled().await;
            let front = browser.client.window().await.expect("a window");
            if profile == 0 {
                browser
                    .cdp(
                        &front,
                        "Page.addScriptToEvaluateOnNewDocument",
                        json!({ "source": WASM_PROBE }),
                    )
                    .await;
                browser
                    .client
                    .goto(&crate::harness::with_full_diagnostics(&url))
                    .await
                    .expect("the page loads");
            }
            profiles.push(Profile { browser, front });
        }
        let mut rig = Rig {
            started: Instant::now(),
            http,
            redis,
            nodes,
            proxy,
            profiles,
            tabs: Vec::new(),
            url,
            failures: Vec::new(),
        };
        let front = rig.profiles[0].front.clone();
        rig.tabs.push(Tab {
            handle: front,
            run: TabRun {
                name: "A1".into(),
                profile: 0,
                opened_at_s: 0,
                closed_at_s: None,
                counts: None,
                memory_start: None,
                memory_end: None,
            },
            open: true,
        });
        for profile in 0..PROFILES {
            let first = if profile == 0 { 2 } else { 1 };
            for n in first..=TABS_PER_PROFILE {
                rig.open_tab(profile, format!("{}{n}", profile_letter(profile)))
                    .await;
            }
        }
        // Every tab live before the first fault.
        let newest = rig.newest_id().await;
        let (_, stopped) = rig.await_delivery(newest, unix_ms(), None).await;
        assert!(stopped.is_empty(), "tabs never went live: {stopped:?}");

        let scraped = Arc::new(Mutex::new(Scraped {
            series: vec![BTreeMap::new(); NODES],
            ok: vec![0; NODES],
            failed: vec![0; NODES],
            load1_max: 0.0,
        }));
        let scraping = tokio::spawn(scraper(
            rig.nodes.iter().map(|n| n.metrics).collect(),
            stop.clone(),
            scraped.clone(),
        ));
        let mut node_runs: Vec<NodeRun> = rig
            .nodes
            .iter()
            .enumerate()
            .map(|(node, n)| {
                let (rss, fds) = n.proc_figures();
                NodeRun {
                    node,
                    rss_kb_start: rss,
                    fds_start: fds,
                    ..NodeRun::default()
                }
            })
            .collect();
        for i in 0..rig.tabs.len() {
            let tab = &rig.tabs[i];
            let browser = &rig.profiles[tab.run.profile].browser;
            let m = memory(browser, &tab.handle).await;
            rig.tabs[i].run.memory_start = m;
        }
        rig.to_front().await;

        // The faults.
        let mut rng = Rng(self.seed);
        let mut faults = Vec::new();
        let phase = Instant::now();
        eprintln!(
            "soak: {} s of faults, seed {}, through {}",
            self.duration.as_secs(),
            self.seed,
            rig.proxy.base
        );
        loop {
            let gap = FAULT_GAP_S.0 + rng.below(FAULT_GAP_S.1 - FAULT_GAP_S.0 + 1);
            if phase.elapsed() + Duration::from_secs(gap) > self.duration {
                break;
            }
            tokio::time::sleep(Duration::from_secs(gap)).await;
            let kind = KINDS[rng.below(KINDS.len() as u64) as usize];
            let mut newest = rig.newest_id().await;
            let at_s = phase.elapsed().as_secs();
            let (detail, at_ms, hung) = rig.inflict(kind, &mut rng, &mut newest).await;
            let (stall_ms, stopped_tabs) = rig.await_delivery(newest, at_ms, hung).await;
            if !stopped_tabs.is_empty() {
                rig.failures.push(format!(
                    "after {kind:?} at {at_s} s ({detail}), {stopped_tabs:?} delivered nothing \
                     newer than {newest} within {} s",
                    RECOVERY_LIMIT.as_secs()
                ));
            }
            if hung.is_some() {
                // Let the busy loop end before the next read of that tab.
                let ends = at_ms + HANG_MS + 1000;
                tokio::time::sleep(Duration::from_millis(ends.saturating_sub(unix_ms()))).await;
            }
            let fault = FaultRun {
                at_s,
                kind,
                detail,
                newest_id: newest,
                stall_ms,
                stopped_tabs,
            };
            eprintln!(
                "soak: {}",
                serde_json::to_string(&fault).unwrap_or_default()
            );
            faults.push(fault);
            // A tab opened in a leader's place: its memory once it is live.
            for i in 0..rig.tabs.len() {
                let tab = &rig.tabs[i];
                if tab.open && tab.run.memory_start.is_none() {
                    let browser = &rig.profiles[tab.run.profile].browser;
                    let m = memory(browser, &tab.handle).await;
                    rig.tabs[i].run.memory_start = m;
                }
            }
            rig.to_front().await;
        }

        // The end: the producers stop, every tab must reach the newest id.
        tokio::time::sleep(Duration::from_secs(3)).await;
        stop.store(true, Ordering::Release);
        for producer in producers {
            let _ = producer.await;
        }
        let _ = scraping.await;
        let final_id = rig.newest_id().await;
        let (_, behind) = rig
            .await_delivery(final_id.saturating_sub(1), unix_ms(), None)
            .await;
        if !behind.is_empty() {
            rig.failures.push(format!(
                "{behind:?} never delivered the last event, {final_id}"
            ));
        }
        for i in 0..rig.tabs.len() {
            if !rig.tabs[i].open {
                continue;
            }
            let tab = &rig.tabs[i];
            let browser = &rig.profiles[tab.run.profile].browser;
            let c = counts(browser, &tab.handle, final_id).await;
            let m = memory(browser, &tab.handle).await;
            rig.tabs[i].run.counts = c.or(rig.tabs[i].run.counts.take());
            rig.tabs[i].run.memory_end = m;
        }
        for tab in &rig.tabs {
            match &tab.run.counts {
                Some(c) if c.lost + c.repeated + c.gaps + c.duplicates > 0 => {
                    rig.failures.push(format!(
                        "tab {}: {} lost, {} repeated (the app counted {} gaps, {} duplicates)",
                        tab.run.name, c.lost, c.repeated, c.gaps, c.duplicates
                    ))
                }
                Some(_) => {}
                None => rig.failures.push(format!(
                    "tab {}: its deliveries were never read",
                    tab.run.name
                )),
            }
        }
        // Every ingest line has a key: one sent again after a 5xx or a cut connection is a
        // duplicate at worst, never refused.
        let refused = producing.ingest_refused.load(Ordering::Acquire);
        if refused > 0 {
            rig.failures.push(format!(
                "{refused} ingest request(s) refused: a request sent again with its key must be \
                 taken or answered as a duplicate"
            ));
        }
        for (run, node) in node_runs.iter_mut().zip(&rig.nodes) {
            (run.rss_kb_end, run.fds_end) = node.proc_figures();
            run.restarts = node.restarts;
        }
        let scraped = std::mem::take(&mut *scraped.lock().unwrap());
        let failures = std::mem::take(&mut rig.failures);
        let tabs = rig.tabs.iter().map(|t| t.run.clone()).collect();
        for p in rig.profiles.drain(..) {
            p.browser.quit().await;
        }
        drop(rig);
        // The nodes' logs stay for a look at what happened when something failed.
        if failures.is_empty() {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            let _ = std::fs::remove_dir_all(dir.join("redis"));
            eprintln!("soak: the nodes' logs are in {}", dir.display());
        }
        SoakReport {
            minutes: self.duration.as_secs_f64() / 60.0,
            seed: self.seed,
            started_unix_ms,
            load_start,
            load_end: load_average(),
            load1_max: scraped.load1_max,
            faults,
            tabs,
            nodes: node_runs,
            metrics: scraped.series,
            scrapes_ok: scraped.ok,
            scrapes_failed: scraped.failed,
            producers: producing.counts(),
            final_id,
            failures,
        }
    }
}

fn cell(v: Option<u64>) -> String {
    v.map_or("–".into(), |v| v.to_string())
}

fn mb(bytes: Option<u64>) -> String {
    bytes.map_or("–".into(), |b| format!("{:.1}", b as f64 / 1_048_576.0))
}

impl SoakReport {
    /// The report as Markdown: faults by kind, every tab, every node, the metrics.
    pub fn markdown(&self) -> String {
        let mut md = format!(
            "# Soak\n\n`cargo xtask soak --minutes {}` (seed {}): redis-server with an \
             append-only file, three convoy-server nodes (debug build) on it behind nginx, an \
             ingest producer ({} trucks, {} positions/s) and {} OsmAnd devices (1 report/s \
             each), 12 tabs of `/?transport=leader` in two Chromium profiles (one tab visible, \
             eleven in the background), one fault every {}–{} s. **Stall**: from the fault until \
             every remaining tab has delivered an event newer than the newest any node had at \
             the fault (a hung tab is not waited for). Reading a tab brings it to the front for \
             a moment, so the background tabs are not hidden throughout. Load average (1, 5, \
             15 min): {} at the start, {} at the end, highest 1-min {:.2}.\n\n",
            self.minutes,
            self.seed,
            INGEST_TRUCKS,
            1000 / INGEST_EVERY.as_millis(),
            OSMAND_DEVICES,
            FAULT_GAP_S.0,
            FAULT_GAP_S.1,
            self.load_start,
            self.load_end,
            self.load1_max,
        );
        if self.failures.is_empty() {
            md.push_str("**Result: held.** No event lost or repeated in any tab, every tab delivered after every fault, every node and Redis came back.\n\n");
        } else {
            md.push_str("**Result: failed.**\n\n");
            for f in &self.failures {
                md.push_str(&format!("- {f}\n"));
            }
            md.push('\n');
        }
        md.push_str("## Faults by kind\n\n| fault | survived | longest stall ms | stalls ms |\n|---|---|---|---|\n");
        for kind in KINDS {
            let these: Vec<&FaultRun> = self.faults.iter().filter(|f| f.kind == kind).collect();
            if these.is_empty() {
                md.push_str(&format!("| {kind:?} | 0 of 0 | – | – |\n"));
                continue;
            }
            let survived = these.iter().filter(|f| f.stall_ms.is_some()).count();
            let longest = these.iter().filter_map(|f| f.stall_ms).max();
            let all: Vec<String> = these.iter().map(|f| cell(f.stall_ms)).collect();
            md.push_str(&format!(
                "| {kind:?} | {survived} of {} | {} | {} |\n",
                these.len(),
                cell(longest),
                all.join(", ")
            ));
        }
        md.push_str("\n## Every fault\n\n| s | fault | what happened | newest id | stall ms |\n|---|---|---|---|---|\n");
        for f in &self.faults {
            md.push_str(&format!(
                "| {} | {:?} | {} | {} | {} |\n",
                f.at_s,
                f.kind,
                f.detail,
                f.newest_id,
                cell(f.stall_ms)
            ));
        }
        md.push_str(&format!(
            "\n## Tabs\n\nEvery tab's deliveries (`convoyDiagnostics().received`, every one since \
             load): lost is ids skipped, repeated is ids not above the one before. A tab closed \
             or crashed was read just before. Every open tab reached the last event, {}. Memory \
             when the tab was live and at the end: JS heap used, elements in the document \
             (DevTools' count of DOM nodes, detached ones included, in brackets), wasm memory.\n\n\
             | tab | open s | closed s | role | events | lost | repeated | JS heap MB | DOM nodes | wasm MB |\n\
             |---|---|---|---|---|---|---|---|---|---|\n",
            self.final_id
        ));
        for t in &self.tabs {
            let c = t.counts.clone().unwrap_or_default();
            let (s, e) = (t.memory_start.as_ref(), t.memory_end.as_ref());
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} → {} | {} ({}) → {} ({}) | {} → {} |\n",
                t.name,
                t.opened_at_s,
                cell(t.closed_at_s),
                c.role,
                c.count,
                c.lost,
                c.repeated,
                mb(s.map(|m| m.js_heap_bytes)),
                mb(e.map(|m| m.js_heap_bytes)),
                cell(s.map(|m| m.dom_nodes)),
                cell(s.map(|m| m.cdp_nodes)),
                cell(e.map(|m| m.dom_nodes)),
                cell(e.map(|m| m.cdp_nodes)),
                mb(s.and_then(|m| m.wasm_bytes)),
                mb(e.and_then(|m| m.wasm_bytes)),
            ));
        }
        md.push_str("\n## Nodes\n\nRSS and open file descriptors from `/proc`: at the start, and of the process running at the end (a restarted node's is a new process).\n\n| node | restarts | RSS MB start → end | open fds start → end | metrics RSS MB min–max | metrics fds min–max |\n|---|---|---|---|---|---|\n");
        for n in &self.nodes {
            let series = self.metrics.get(n.node);
            let get = |name: &str| series.and_then(|s| s.get(name));
            let rss = get("convoy_process_resident_memory_bytes");
            let fds = get("convoy_process_open_fds");
            md.push_str(&format!(
                "| {} | {} | {} → {} | {} → {} | {} | {} |\n",
                n.node,
                n.restarts,
                mb(n.rss_kb_start.map(|k| k * 1024)),
                mb(n.rss_kb_end.map(|k| k * 1024)),
                cell(n.fds_start),
                cell(n.fds_end),
                rss.map_or("–".into(), |s| format!(
                    "{:.1}–{:.1}",
                    s.min / 1_048_576.0,
                    s.max / 1_048_576.0
                )),
                fds.map_or("–".into(), |s| format!("{}–{}", s.min, s.max)),
            ));
        }
        md.push_str(&format!(
            "\n## Metrics\n\n`/metrics` of each node's `--metrics-addr`, scraped every {} s \
             (scrapes answered / not answered: {}). Counters as their increase over the run \
             (summed across a node's restarts), gauges as min–max.\n\n| series | {} |\n|---|{}\n",
            SCRAPE_EVERY.as_secs(),
            self.scrapes_ok
                .iter()
                .zip(&self.scrapes_failed)
                .map(|(o, f)| format!("{o}/{f}"))
                .collect::<Vec<_>>()
                .join(", "),
            (0..self.metrics.len())
                .map(|n| format!("node {n}"))
                .collect::<Vec<_>>()
                .join(" | "),
            "---|".repeat(self.metrics.len()),
        ));
        let names: std::collections::BTreeSet<&String> =
            self.metrics.iter().flat_map(|m| m.keys()).collect();
        for name in names {
            let counter =
                name.contains("_total") || name.contains("_sum") || name.contains("_count");
            let cells: Vec<String> = self
                .metrics
                .iter()
                .map(|m| match m.get(name) {
                    None => "–".into(),
                    Some(s) if counter => format!("{}", s.increase.round()),
                    Some(s) => format!("{}–{}", s.min, s.max),
                })
                .collect();
            md.push_str(&format!("| `{name}` | {} |\n", cells.join(" | ")));
        }
        let p = &self.producers;
        md.push_str(&format!(
            "\n## Producers\n\nIngest: {} requests accepted, {} sent again after a 5xx or a \
             cut connection (same key), {} refused. OsmAnd: {} reports accepted, {} sent again, \
             {} refused (a report sent again after the first was kept is refused as not newer: \
             OsmAnd has no key).\n",
            p.ingest_accepted,
            p.ingest_retries,
            p.ingest_refused,
            p.osmand_accepted,
            p.osmand_retries,
            p.osmand_refused
        ));
        md
    }

    /// Writes `NAME.md` and `NAME.json` into `dir`.
    #[allow(dead_code)] // the end-to-end test prints its report instead
    pub fn write(&self, dir: &Path, name: &str) {
        std::fs::create_dir_all(dir).expect("the output directory");
        std::fs::write(dir.join(format!("{name}.md")), self.markdown()).expect("write the report");
        let json = serde_json::to_string_pretty(self).expect("the report serializes");
        std::fs::write(dir.join(format!("{name}.json")), json).expect("write the report's JSON");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_two_minutes_of_faults_loses_and_repeats_nothing() {
    let seed = std::env::var("CONVOY_SOAK_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(17);
    let report = Soak {
        duration: Duration::from_secs(120),
        seed,
    }
    .run()
    .await;
    println!("{}", report.markdown());
    assert!(
        report.faults.len() >= 2,
        "two minutes brought {} faults",
        report.faults.len()
    );
    assert!(
        report.failures.is_empty(),
        "the soak failed (seed {seed}): {:#?}",
        report.failures
    );
}
