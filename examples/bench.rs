//! `cargo xtask bench`: real Chromium against the real server, for 1, 6 and 12 tabs and each
//! transport. Measures upstream streams, server-to-app latency at the leader and the followers,
//! failover gaps after a clean close and a crash (with events lost and repeated), and how long
//! a new tab takes to show current data. Also per-tab `direct` streams over HTTP/2 (`--tls`),
//! the worker transports, and the worker bundles' sizes (raw and gzip). Writes
//! `bench/results.md` and `bench/results.json`. `CONVOY_BENCH_ONLY=shared-worker,h2` runs only
//! the rows whose transport label is listed (`failover` for the failover table alone, `hidden`
//! for the hidden follower's main thread); `CONVOY_BENCH_RUNS` sets the runs of each failover.
//!
//! The failover table (`failover`) follows issue 11: 40 trucks at 2 events/s, 12 tabs of `/` in
//! one window, the first visible and eleven opened in the background (`Target.createTarget`
//! with `background: true`, so the browser throttles their timers; the harness passes none of
//! the switches that turn throttling off), in Locks and in Lease mode, and three faults of the
//! leader: closed, renderer crashed (`Page.crash`) and hung (a busy loop holding its main
//! thread, and with it the lock). The stall is the time from the fault until every remaining
//! tab has delivered to its app an event newer than the newest the server had sent when the
//! fault hit (`/api/stats` `latest_event_id`, read just before the fault; each tab's first
//! delivery above it from `convoyDiagnostics()` `received`/`receivedAtMs`).

#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;
#[allow(dead_code)]
mod support;

use fantoccini::wd::WindowHandle;
use harness::{Browser, Diagnostics, Server};
use serde::Serialize;
use std::time::Duration;
use support::failover::{
    failover_run, FailoverRun, Fault, Layout, FAILOVER_RUNS, FAILOVER_TABS, GRACE_S, HANG_MS,
    SHORT_GRACE,
};
use support::hidden::hidden_table;
use support::{
    cell, lost_repeated, open_and_time, percentile, range, received_at, tab_latencies, unix_ms,
    wanted,
};

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
    /// From the WebDriver command that opens the tab to the bench seeing every row.
    new_tab_ms: Option<u64>,
    /// From the tab's navigation start to the table's first render with trucks (the app's
    /// `convoy:data-shown` performance mark): what a person opening a tab waits.
    new_tab_nav_ms: Option<u64>,
    stalled_tabs: usize,
    close_gap_ms: Option<u64>,
    close_lost: Option<u64>,
    close_repeated: Option<u64>,
    crash_gap_ms: Option<u64>,
    crash_lost: Option<u64>,
    crash_repeated: Option<u64>,
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
        let times = received_at(browser, tab).await;
        let pause = times
            .windows(2)
            .filter(|w| w[1] >= at_ms && w[0] <= at_ms + 30_000)
            .map(|w| w[1] - w[0].max(at_ms))
            .max();
        gap = gap.max(pause);
        let (l, r) = lost_repeated(&d.received);
        lost += l;
        repeated += r;
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
    measure_over(transport, tabs, failover, false, false).await
}

/// One row: `tabs` tabs of one window (the browser hides all but the newest), or with
/// `windows` one visible window each.
async fn measure_over(
    transport: &str,
    tabs: usize,
    failover: bool,
    tls: bool,
    windows: bool,
) -> Row {
    let server = if tls {
        Server::start_tls(&SERVER_ARGS).await
    } else {
        Server::start(&SERVER_ARGS).await
    };
    let browser = Browser::start_with(tls).await;
    let url = format!("{}/?transport={transport}", server.base);
    let label = match (tls, windows) {
        (true, _) => format!("{transport} (HTTP/2, --tls)"),
        (false, true) => format!("{transport} (a visible window each)"),
        (false, false) => transport.to_owned(),
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
        let (tab, shown_ms, marked_ms) = open_and_time(&browser, &url, 40, windows).await;
        row.new_tab_ms = shown_ms;
        row.new_tab_nav_ms = marked_ms;
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

/// The failover table (issue 11): every fault in both modes, `FAILOVER_RUNS` times each.
async fn failover_table() -> (String, Vec<FailoverRun>) {
    let mut runs = Vec::new();
    let runs_each = std::env::var("CONVOY_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(FAILOVER_RUNS);
    let mut md = format!(
        "## Failover with background tabs (issue 11)\n\n         Real Chromium (`--headless=new`, no switch that turns background throttling off) against \
         convoy-server on loopback, 40 trucks at 2 events/s (80 events/s), {FAILOVER_TABS} tabs of \
         `/?transport=leader` in one window: the first visible, the others opened with \
         `Target.createTarget {{ background: true }}` (hidden, timers throttled). The leader is \
         closed, crashed (`Page.crash`) or hung (a busy loop of {HANG_MS} ms on its main thread; \
         the lock stays held); in service-worker mode the browser stops the worker \
         (`ServiceWorker.stopAllWorkers`) and every tab remains. **Stall**: from the fault until every remaining tab has delivered \
         an event newer than the server's newest at the fault (ranges over {runs_each} runs; \
         a fault counts from its command, or for a hang from the set time its busy loop starts; \
         the newest id is read once the fault has surely hit: the close returned, the crashed \
         leader's stream gone at the server, the loop 20 ms in; so the figure can only err long). \
         *Longest pause* is the older figure (longest pause in deliveries after the fault), for \
         comparison. Lost/repeated: id gaps and repeats summed over every remaining tab. \
         *hidden > grace* rows: Chromium started with `{SHORT_GRACE}`, the fault more than {GRACE_S} s \
         after every background tab was hidden, when chained timers wake once a minute (the same as \
         after 5 minutes hidden with the default grace period).\n\n\
         | mode | fault | remaining tabs hidden at the fault | leader visible | stall ms | longest pause ms | lost/repeated |\n\
         |---|---|---|---|---|---|---|\n"
    );
    let faults = std::env::var("CONVOY_BENCH_FAULTS").unwrap_or_default();
    let wanted = |fault: Fault| {
        faults.is_empty()
            || faults
                .split(',')
                .any(|f| f.trim() == format!("{fault:?}").to_lowercase())
    };
    let cases = [
        (
            "locks",
            [Fault::Close, Fault::Crash, Fault::Hang].as_slice(),
        ),
        ("lease", &[Fault::Close, Fault::Crash, Fault::Hang]),
        ("service-worker", &[Fault::StopWorker]),
        (
            "locks, hidden > grace",
            &[Fault::Close, Fault::Crash, Fault::Hang],
        ),
        (
            "lease, hidden > grace",
            &[Fault::Close, Fault::Crash, Fault::Hang],
        ),
    ];
    for (mode, faults) in cases {
        for &fault in faults {
            if !wanted(fault) {
                continue;
            }
            let mut these = Vec::new();
            for n in 0..runs_each {
                eprintln!("bench: failover, {mode}, {fault:?}, run {n}");
                let run = failover_run(mode, fault, Layout::BackgroundTabs).await;
                eprintln!(
                    "bench:   {}",
                    serde_json::to_string(&run).unwrap_or_default()
                );
                these.push(run);
            }
            let stalls: Vec<Option<u64>> = these.iter().map(|r| r.stall_ms).collect();
            let pauses: Vec<Option<u64>> = these.iter().map(|r| r.longest_pause_ms).collect();
            let hidden: Vec<Option<u64>> =
                these.iter().map(|r| Some(r.hidden_tabs as u64)).collect();
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {}/{} |\n",
                these[0].mode,
                these[0].fault,
                range(&hidden),
                these.iter().filter(|r| r.leader_visible).count() == these.len(),
                range(&stalls),
                range(&pauses),
                these.iter().map(|r| r.lost).sum::<u64>(),
                these.iter().map(|r| r.repeated).sum::<u64>(),
            ));
            runs.extend(these);
        }
    }
    (md, runs)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let only = std::env::var("CONVOY_BENCH_ONLY").ok();
    if only.as_deref() == Some("hidden") {
        let (md, rows) = hidden_table().await;
        std::fs::create_dir_all("bench").expect("bench/ is writable");
        std::fs::write("bench/hidden.md", &md).expect("write the hidden table");
        let json = serde_json::to_string_pretty(&rows).expect("rows serialize");
        std::fs::write("bench/hidden.json", json).expect("write the hidden rows");
        println!("{md}");
        return;
    }
    if only.as_deref() == Some("failover") {
        let (md, runs) = failover_table().await;
        std::fs::create_dir_all("bench").expect("bench/ is writable");
        let label = std::env::var("CONVOY_BENCH_LABEL").unwrap_or_else(|_| "failover".into());
        std::fs::write(format!("bench/{label}.md"), &md).expect("write the failover table");
        let json = serde_json::to_string_pretty(&runs).expect("runs serialize");
        std::fs::write(format!("bench/{label}.json"), json).expect("write the failover runs");
        println!("{md}");
        return;
    }
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
        rows.push(measure_over("direct", 12, false, true, false).await);
    }
    if wanted("windows") {
        eprintln!("bench: leader with 6 visible windows");
        rows.push(measure_over("leader", 6, false, false, true).await);
    }
    let mut md = String::from(
        "# Convoy benchmark\n\nReal Chromium (headless) against convoy-server on loopback HTTP/1.1 \
         (the HTTP/2 row: `--tls`), \
         40 trucks at 1 event/s each. Latency is server timestamp to delivery into the tab's app \
         state. Failover gap is the longest pause in deliveries at any remaining tab after the \
         leader closed (or crashed and was closed); lost and repeated count id gaps and repeats \
         over every remaining tab.\n\n\
         | transport | tabs | streams | leader p50/p99 ms | followers p50/p99 ms | new tab shows data ms (from its navigation / from the command) | stalled tabs | close gap ms | close lost/repeated | crash gap ms | crash lost/repeated |\n\
         |---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {}/{} | {}/{} | {} / {} | {} | {} | {}/{} | {} | {}/{} |\n",
            r.transport,
            r.tabs,
            r.streams,
            cell(r.leader_p50_ms),
            cell(r.leader_p99_ms),
            cell(r.followers_p50_ms),
            cell(r.followers_p99_ms),
            cell(r.new_tab_nav_ms),
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
         column. The tabs of one window are hidden but for the one the bench last read (the \
         browser shows one tab per window), so most followers here are hidden tabs: while no \
         other tab shows its page, a leader holds what it relays to them for up to 500 ms (they \
         render nothing), which their latency and the close and crash gaps include. The row with \
         a visible window each has no hidden follower.\n\n## Worker bundles\n\n| file | raw bytes | gzip -9 bytes |\n|---|---|---|\n",
    );
    for (name, raw, gzip) in bundle_sizes() {
        md.push_str(&format!("| {name} | {raw} | {gzip} |\n"));
    }
    std::fs::create_dir_all("bench").expect("bench/ is writable");
    if wanted("failover") {
        let (failover_md, runs) = failover_table().await;
        md.push('\n');
        md.push_str(&failover_md);
        let json = serde_json::to_string_pretty(&runs).expect("runs serialize");
        std::fs::write("bench/failover.json", json).expect("write bench/failover.json");
    }
    if wanted("hidden") {
        let (hidden_md, rows) = hidden_table().await;
        md.push('\n');
        md.push_str(&hidden_md);
        std::fs::write("bench/hidden.md", &hidden_md).expect("write the hidden table");
        let json = serde_json::to_string_pretty(&rows).expect("rows serialize");
        std::fs::write("bench/hidden.json", json).expect("write the hidden rows");
    }
    std::fs::write("bench/results.md", &md).expect("write bench/results.md");
    let json = serde_json::to_string_pretty(&rows).expect("rows serialize");
    std::fs::write("bench/results.json", json).expect("write bench/results.json");
    println!("{md}");
}
