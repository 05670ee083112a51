//! `cargo xtask bench`: real Chromium against the real server, for 1, 6 and 12 tabs and each
//! transport. Measures upstream streams, server-to-app latency at the leader and the followers,
//! failover gaps after a clean close and a crash (with events lost and repeated), and how long
//! a new tab takes to show current data. Writes `bench/results.md` and `bench/results.json`.

#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;

use fantoccini::wd::WindowHandle;
use harness::{eventually, Browser, Diagnostics, Server};
use serde::Serialize;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

fn percentile(mut values: Vec<u64>, p: usize) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[(values.len() - 1) * p / 100])
}

/// Server-to-app latencies (ms) of the events a tab received, from the ids' delivery times and
/// the events' server timestamps as the page saw them.
async fn latencies(browser: &Browser, tab: &WindowHandle, since_ms: u64) -> Vec<u64> {
    let script = format!(
        "const d = window.convoyDiagnostics(); \
         return d.latencyMs.filter((_, i) => d.receivedAtMs[i] >= {since_ms});"
    );
    browser
        .run(tab, &script)
        .await
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
        .unwrap_or_default()
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

async fn measure(transport: &str, tabs: usize, failover: bool) -> Row {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let url = format!("{}/?transport={transport}", server.base);
    let mut row = Row {
        transport: transport.into(),
        tabs,
        ..Row::default()
    };
    let mut open = Vec::new();
    for i in 0..tabs {
        if transport == "direct" && i >= 6 {
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
    row.streams = server.stats().await.open_streams;
    let (mut leader, mut followers) = (Vec::new(), Vec::new());
    for tab in &open {
        let Some(d) = role_of(&browser, tab).await else {
            continue;
        };
        let samples = latencies(&browser, tab, sample_from).await;
        if d.role == "follower" {
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

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let mut rows = Vec::new();
    for transport in ["direct", "leader"] {
        for tabs in [1, 6, 12] {
            eprintln!("bench: {transport} with {tabs} tab(s)");
            rows.push(measure(transport, tabs, tabs == 12).await);
        }
    }
    let mut md = String::from(
        "# Convoy benchmark\n\nReal Chromium (headless) against convoy-server on loopback HTTP/1.1, \
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
    std::fs::create_dir_all("bench").expect("bench/ is writable");
    std::fs::write("bench/results.md", &md).expect("write bench/results.md");
    let json = serde_json::to_string_pretty(&rows).expect("rows serialize");
    std::fs::write("bench/results.json", json).expect("write bench/results.json");
    println!("{md}");
}
