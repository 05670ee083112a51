//! `cargo xtask bench`: real Chromium against the real server, for 1, 6 and 12 tabs and each
//! transport. Measures upstream streams, server-to-app latency at the leader and the followers,
//! failover gaps after a clean close and a crash (with events lost and repeated), and how long
//! a new tab takes to show current data. Also per-tab `direct` streams over HTTP/2 (`--tls`),
//! the worker transports, and the worker bundles' sizes (raw and gzip). Writes
//! `bench/results.md` and `bench/results.json`. `CONVOY_BENCH_ONLY=shared-worker,h2` runs only
//! the rows whose transport label is listed.

#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;
mod support;

use fantoccini::wd::WindowHandle;
use harness::{eventually, Browser, Diagnostics, Server};
use serde::Serialize;
use std::time::{Duration, Instant};
use support::{percentile, tab_latencies, unix_ms};

const SERVER_ARGS: [&str; 4] = ["--trucks", "40", "--rate", "1"];
/// How long latency samples are gathered once every tab is live.
const SAMPLE: Duration = Duration::from_secs(6);

#[derive(Serialize, Default)]
struct Row {
    transport: String,
    tabs: usize,
    streams: u64,
    leader_p50_ms: Option<u64>,
    leader_p99_ms: Option<u64>,
    followers_p50_ms: Option<u64>,
    followers_p99_ms: Option<u64>,
    new_tab_ms: Option<u64>,
    stalled_tabs: usize,
    close_gap_ms: Option<u64>,
    close_lost: Option<u64>,
    close_repeated: Option<u64>,
    crash_gap_ms: Option<u64>,
    crash_lost: Option<u64>,
    crash_repeated: Option<u64>,
}

/// Opens a tab and returns how long until its table showed every truck.
async fn open_and_time(browser: &Browser, url: &str, trucks: u64) -> (WindowHandle, Option<u64>) {
    let started = Instant::now();
    let tab = browser.open_tab(url).await;
    let shown = tokio::time::timeout(
        Duration::from_secs(20),
        eventually(Duration::from_secs(20), "the table", || async {
            let rows = browser
                .run(
                    &tab,
                    "return document.querySelectorAll('tr.truck-row').length;",
                )
                .await;
            (rows.as_u64() == Some(trucks)).then_some(())
        }),
    )
    .await
    .is_ok();
    (tab, shown.then(|| started.elapsed().as_millis() as u64))
}

async fn role_of(browser: &Browser, tab: &WindowHandle) -> Option<Diagnostics> {
    browser.diagnostics(tab).await
}

/// Longest pause in deliveries around `at_ms` at every remaining tab, and ids lost or repeated.
async fn failover_figures(
    browser: &Browser,
    tabs: &[WindowHandle],
    at_ms: u64,
) -> (Option<u64>, u64, u64) {
    let mut gap = None::<u64>;
    let (mut lost, mut repeated) = (0, 0);
    for tab in tabs {
        let Some(d) = browser.diagnostics(tab).await else {
            continue;
        };
        let times: Vec<u64> = browser
            .run(tab, "return window.convoyDiagnostics().receivedAtMs;")
            .await
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
            .unwrap_or_default();
        let pause = times
            .windows(2)
            .filter(|w| w[1] >= at_ms && w[0] <= at_ms + 30_000)
            .map(|w| w[1] - w[0].max(at_ms))
            .max();
        gap = gap.max(pause);
        for pair in d.received.windows(2) {
            if pair[1] <= pair[0] {
                repeated += 1;
            } else {
                lost += pair[1] - pair[0] - 1;
            }
        }
    }
    (gap, lost, repeated)
}

/// Streams open at the server, asked through a tab (works over TLS, which the test client lacks).
async fn open_streams(browser: &Browser, tab: &WindowHandle) -> u64 {
    browser
        .run(
            tab,
            "return fetch('api/stats').then(r => r.json()).then(s => s.open_streams);",
        )
        .await
        .as_u64()
        .unwrap_or_default()
}

async fn measure(transport: &str, tabs: usize, failover: bool) -> Row {
    measure_over(transport, tabs, failover, false).await
}

async fn measure_over(transport: &str, tabs: usize, failover: bool, tls: bool) -> Row {
    let server = if tls {
        Server::start_tls(&SERVER_ARGS).await
    } else {
        Server::start(&SERVER_ARGS).await
    };
    let browser = Browser::start_with(tls).await;
    let url = format!("{}/?transport={transport}", server.base);
    let label = if tls {
        format!("{transport} (HTTP/2, --tls)")
    } else {
        transport.to_owned()
    };
    let mut row = Row {
        transport: label,
        tabs,
        ..Row::default()
    };
    let mut open = Vec::new();
    for i in 0..tabs {
        if transport == "direct" && !tls && i >= 6 {
            // The control: these tabs wait for one of six connections that never frees.
            browser
                .client
                .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
                    Some(Duration::from_secs(5)),
                    Some(Duration::from_secs(2)),
                    None,
                ))
                .await
                .ok();
            browser.open_tab_no_wait(&url).await;
            row.stalled_tabs += 1;
            continue;
        }
        let (tab, shown_ms) = open_and_time(&browser, &url, 40).await;
        row.new_tab_ms = shown_ms;
        open.push(tab);
    }
    let sample_from = unix_ms();
    tokio::time::sleep(SAMPLE).await;
    // Over plain HTTP/1.1 ask from outside: with six direct tabs the browser has no free
    // connection for the question. Over TLS only the browser speaks it, multiplexed.
    row.streams = match (tls, open.first()) {
        (false, _) => server.stats().await.open_streams,
        (true, Some(tab)) => open_streams(&browser, tab).await,
        (true, None) => 0,
    };
    let (mut leader, mut followers) = (Vec::new(), Vec::new());
    for tab in &open {
        let Some(d) = role_of(&browser, tab).await else {
            continue;
        };
        let samples = tab_latencies(&browser, tab, sample_from).await;
        if d.role == "follower" || d.role == "worker-client" {
            followers.extend(samples);
        } else {
            leader.extend(samples);
        }
    }
    row.leader_p50_ms = percentile(leader.clone(), 50);
    row.leader_p99_ms = percentile(leader, 99);
    row.followers_p50_ms = percentile(followers.clone(), 50);
    row.followers_p99_ms = percentile(followers, 99);

    if failover && transport == "leader" {
        for crash in [false, true] {
            let mut leader_at = None;
            for (i, tab) in open.iter().enumerate() {
                if role_of(&browser, tab)
                    .await
                    .is_some_and(|d| d.role == "leader")
                {
                    leader_at = Some(i);
                }
            }
            let Some(i) = leader_at else { break };
            let at = unix_ms();
            if crash {
                browser.crash_tab(&open[i]).await;
            }
            browser.close_tab(&open[i]).await;
            open.remove(i);
            tokio::time::sleep(Duration::from_secs(8)).await;
            let (gap, lost, repeated) = failover_figures(&browser, &open, at).await;
            if crash {
                (row.crash_gap_ms, row.crash_lost, row.crash_repeated) =
                    (gap, Some(lost), Some(repeated));
            } else {
                (row.close_gap_ms, row.close_lost, row.close_repeated) =
                    (gap, Some(lost), Some(repeated));
            }
        }
    }
    browser.quit().await;
    row
}

fn cell(v: Option<u64>) -> String {
    v.map_or("–".into(), |v| v.to_string())
}

/// Raw and gzip sizes of the worker bundles in the build under test.
fn bundle_sizes() -> Vec<(String, u64, u64)> {
    let dist = std::path::PathBuf::from(std::env::var("CONVOY_DIST").unwrap_or("dist".into()));
    let names = [
        "shared-worker.js",
        "convoy-shared-worker.js",
        "convoy-shared-worker_bg.wasm",
        "sw.js",
        "convoy-service-worker.js",
        "convoy-service-worker_bg.wasm",
    ];
    names
        .iter()
        .filter_map(|name| {
            let path = dist.join(name);
            let raw = std::fs::metadata(&path).ok()?.len();
            let gzip = std::process::Command::new("gzip")
                .args(["-9", "-c"])
                .arg(&path)
                .output()
                .ok()
                .map(|o| o.stdout.len() as u64)?;
            Some((name.to_string(), raw, gzip))
        })
        .collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::var("CONVOY_BENCH_ONLY").ok();
    let wanted = |label: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|w| w.trim() == label))
    };
    let mut rows = Vec::new();
    for transport in ["direct", "leader", "shared-worker", "service-worker"] {
        if !wanted(transport) {
            continue;
        }
        for tabs in [1, 6, 12] {
            eprintln!("bench: {transport} with {tabs} tab(s)");
            rows.push(measure(transport, tabs, tabs == 12).await);
        }
    }
    if wanted("h2") {
        eprintln!("bench: direct over HTTP/2 with 12 tabs");
        rows.push(measure_over("direct", 12, false, true).await);
    }
    let mut md = String::from(
        "# Convoy benchmark\n\nReal Chromium (headless) against convoy-server on loopback HTTP/1.1 \
         (the HTTP/2 row: `--tls`), \
         40 trucks at 1 event/s each. Latency is server timestamp to delivery into the tab's app \
         state. Failover gap is the longest pause in deliveries at any remaining tab after the \
         leader closed (or crashed and was closed); lost and repeated count id gaps and repeats \
         over every remaining tab.\n\n\
         | transport | tabs | streams | leader p50/p99 ms | followers p50/p99 ms | new tab shows data ms | stalled tabs | close gap ms | close lost/repeated | crash gap ms | crash lost/repeated |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {}/{} | {}/{} | {} | {} | {} | {}/{} | {} | {}/{} |\n",
            r.transport,
            r.tabs,
            r.streams,
            cell(r.leader_p50_ms),
            cell(r.leader_p99_ms),
            cell(r.followers_p50_ms),
            cell(r.followers_p99_ms),
            cell(r.new_tab_ms),
            r.stalled_tabs,
            cell(r.close_gap_ms),
            cell(r.close_lost),
            cell(r.close_repeated),
            cell(r.crash_gap_ms),
            cell(r.crash_lost),
            cell(r.crash_repeated),
        ));
    }
    md.push_str(
        "\nIn the worker modes every tab is a worker client: its latency is in the followers \
         column.\n\n## Worker bundles\n\n| file | raw bytes | gzip -9 bytes |\n|---|---|---|\n",
    );
    for (name, raw, gzip) in bundle_sizes() {
        md.push_str(&format!("| {name} | {raw} | {gzip} |\n"));
    }
    std::fs::create_dir_all("bench").expect("bench/ is writable");
    std::fs::write("bench/results.md", &md).expect("write bench/results.md");
    let json = serde_json::to_string_pretty(&rows).expect("rows serialize");
    std::fs::write("bench/results.json", json).expect("write bench/results.json");
    println!("{md}");
}
