//! The ingest benchmark (`cargo xtask bench ingest`): a large fleet pushed through `POST
//! /api/ingest` into the file engine, measured from outside on real loopback HTTP, for the
//! current build and, beside it in the same run, a baseline build when
//! `CONVOY_BASELINE_SERVER_BIN` names one.
//!
//! Per build: the time to push `--trucks` new trucks (10 000 a request); then 20 requests of 998
//! events on trucks the fleet knows (each crosses a stored fleet snapshot) while another client
//! asks `/api/health` every 10 ms, with each request's time; one `/api/fleet`, its time and size;
//! and the server's resident memory (now and at its peak). Writes DIR/ingest.{md,json}.
//!
//! `ingest_load [--trucks N] [--out DIR]`; `CONVOY_SERVER_BIN` is the current build.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "bench-ingest-token";

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A server process on a free port, killed on drop.
struct Server {
    child: Child,
    base: String,
    dir: PathBuf,
}

impl Server {
    fn start(bin: &Path, name: &str, trucks: usize) -> Server {
        let dir = std::env::temp_dir().join(format!("convoy-bench-ingest-{name}-{}", unix_ms()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("tokens"), TOKEN).unwrap();
        let help = Command::new(bin).arg("--help").output().unwrap();
        let mut args: Vec<String> = [
            "--addr",
            "127.0.0.1:0",
            "--trucks",
            "0",
            "--ingest-max-events",
            "10000",
        ]
        .map(str::to_owned)
        .to_vec();
        args.push("--log".into());
        args.push(format!("file:{}", dir.join("data").display()));
        args.push("--ingest-token-file".into());
        args.push(dir.join("tokens").display().to_string());
        if String::from_utf8_lossy(&help.stdout).contains("--max-trucks") {
            args.push("--max-trucks".into());
            args.push(trucks.to_string());
        }
        let mut child = Command::new(bin)
            .args(&args)
            // The first line says where it listens (log lines go to stderr).
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line.trim().rsplit("://").next().unwrap().to_owned();
        Server {
            child,
            base: format!("http://{addr}"),
            dir,
        }
    }

    /// VmRSS and VmHWM (the peak), MB.
    fn memory_mb(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(0.0, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A position report of `truck` (what real trucks send; the server derives the rest). A truck's
/// reports must be newer than its last: every request here takes a fresh `at_ms`.
fn status_line(truck: &str, at_ms: u64) -> String {
    format!(
        r#"{{"type":"position","truck":"{truck}","at_ms":{at_ms},"lat":41.8781,"lon":-87.6298,"speed_kph":72.5}}"#
    )
}

async fn post(client: &reqwest::Client, base: &str, body: String) -> (u16, Duration) {
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/ingest"))
        .bearer_auth(TOKEN)
        .body(body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status().as_u16();
    let _ = response.bytes().await;
    (status, started.elapsed())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[derive(Debug, serde::Serialize)]
struct Figures {
    build: String,
    trucks: usize,
    fill_s: f64,
    post_998_median_ms: f64,
    post_998_max_ms: f64,
    health_p99_ms: f64,
    health_max_ms: f64,
    fleet_ms: f64,
    fleet_mb: f64,
    rss_mb: f64,
    peak_rss_mb: f64,
    /// The answer to 10 new trucks past the fleet's size.
    beyond_status: u16,
}

async fn measure(bin: &Path, build: &str, trucks: usize) -> Figures {
    let server = Server::start(bin, build, trucks);
    let client = reqwest::Client::new();
    let base = server.base.clone();
    let started = Instant::now();
    for chunk in (0..trucks).collect::<Vec<_>>().chunks(10_000) {
        let now = unix_ms();
        let body: Vec<String> = chunk
            .iter()
            .map(|i| status_line(&format!("B-{i}"), now))
            .collect();
        let (status, _) = post(&client, &base, body.join("\n")).await;
        assert_eq!(status, 200, "{build}: filling the fleet");
    }
    let fill_s = started.elapsed().as_secs_f64();

    let polling = Arc::new(AtomicBool::new(true));
    let poller = tokio::spawn({
        let (client, base, polling) = (client.clone(), base.clone(), polling.clone());
        async move {
            let mut times = Vec::new();
            while polling.load(Ordering::Acquire) {
                let started = Instant::now();
                let response = client.get(format!("{base}/api/health")).send().await;
                if let Ok(response) = response {
                    let _ = response.bytes().await;
                }
                times.push(ms(started.elapsed()));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            times
        }
    });
    let mut posts = Vec::new();
    for round in 0..20 {
        let now = unix_ms();
        let body: Vec<String> = (0..998)
            .map(|i| status_line(&format!("B-{}", (round * 998 + i) % trucks), now))
            .collect();
        let (status, took) = post(&client, &base, body.join("\n")).await;
        assert_eq!(status, 200, "{build}: a request on known trucks");
        posts.push(ms(took));
    }
    polling.store(false, Ordering::Release);
    let mut health = poller.await.unwrap();
    posts.sort_by(f64::total_cmp);
    health.sort_by(f64::total_cmp);

    let started = Instant::now();
    let fleet = client
        .get(format!("{base}/api/fleet"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let fleet_ms = ms(started.elapsed());
    let (rss_mb, peak_rss_mb) = server.memory_mb();
    let now = unix_ms();
    let beyond: Vec<String> = (0..10)
        .map(|i| status_line(&format!("NEW-{i}"), now))
        .collect();
    let (beyond_status, _) = post(&client, &base, beyond.join("\n")).await;
    Figures {
        build: build.to_owned(),
        trucks,
        fill_s,
        post_998_median_ms: percentile(&posts, 0.5),
        post_998_max_ms: percentile(&posts, 1.0),
        health_p99_ms: percentile(&health, 0.99),
        health_max_ms: percentile(&health, 1.0),
        fleet_ms,
        fleet_mb: fleet.len() as f64 / 1e6,
        rss_mb,
        peak_rss_mb,
        beyond_status,
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let trucks: usize = flag("--trucks").map_or(100_000, |n| n.parse().unwrap());
    let out = PathBuf::from(flag("--out").unwrap_or_else(|| "bench".into()));
    let current = PathBuf::from(std::env::var("CONVOY_SERVER_BIN").expect("CONVOY_SERVER_BIN"));
    let mut builds = Vec::new();
    if let Ok(baseline) = std::env::var("CONVOY_BASELINE_SERVER_BIN") {
        builds.push((PathBuf::from(baseline), "baseline"));
    }
    builds.push((current, "current"));
    let mut rows = Vec::new();
    for (bin, name) in &builds {
        eprintln!("ingest bench: {name} ({})", bin.display());
        let figures = measure(bin, name, trucks).await;
        eprintln!("{figures:?}");
        rows.push(figures);
    }
    let mut md = format!(
        "# Ingest into a large fleet (file engine)\n\n\
         `cargo xtask bench ingest`: {trucks} new trucks pushed through `POST /api/ingest`, \
         10 000 a request; then 20 requests of 998 events on known trucks (each crosses a stored \
         fleet snapshot, one every 1 000 events) while another client asks `/api/health` every \
         10 ms; then one `/api/fleet`, and 10 new trucks past the fleet's size. Loopback, one \
         build after the other in the same run.\n\n\
         | build | fill (s) | 998-event POST median / max (ms) | /api/health p99 / max (ms) \
         | /api/fleet (ms, MB) | RSS now / peak (MB) | 10 new trucks past the size |\n\
         |---|---|---|---|---|---|---|\n"
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {:.1} | {:.0} / {:.0} | {:.1} / {:.0} | {:.0}, {:.1} | {:.0} / {:.0} | {} |\n",
            r.build,
            r.fill_s,
            r.post_998_median_ms,
            r.post_998_max_ms,
            r.health_p99_ms,
            r.health_max_ms,
            r.fleet_ms,
            r.fleet_mb,
            r.rss_mb,
            r.peak_rss_mb,
            r.beyond_status
        ));
    }
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("ingest.md"), md).unwrap();
    std::fs::write(
        out.join("ingest.json"),
        serde_json::to_string_pretty(&rows).unwrap(),
    )
    .unwrap();
    eprintln!("wrote {}", out.join("ingest.md").display());
}
