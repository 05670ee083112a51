//! `cargo xtask bench map`: the geographic map under the busiest load the benches drive. 500
//! simulated trucks, each sending 4 position reports a second (`--trucks 500 --rate 4`: 2 000
//! position events/s, plus the stop, alert and status events the server derives from them),
//! into one visible headless Chromium tab on `/map`, watched for a window once all 500 markers
//! are drawn; then the same for the overview `/` against the same server, as a reference row.
//! Per row: main-thread busy % (`Performance.getMetrics` `TaskDuration` over the window),
//! event-to-frame latency p50/p99 (the event's server timestamp to the animation frame that hands
//! it to the app, whose render and marker updates run in that frame's task), long tasks
//! (`PerformanceObserver` `longtask`: over 50 ms, over 200 ms, the longest), and the machine's
//! load average at the window's start and end. A row whose window ended with the load above 3
//! is run again (up to `CONVOY_BENCH_RERUNS`, default 2, more times) and every run is kept.
//! Targets (measured, never asserted): busy ≤ 30 %, p99 ≤ 50 ms, no long task over 200 ms.
//! Writes `bench/map.md` and `bench/map.json`.

#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;
mod support;

use harness::{eventually, Browser, Server};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Duration;
use support::{percentile, tab_latencies, unix_ms};

const TRUCKS: u32 = 500;
/// Position reports per second per truck (`convoy-server --rate`).
const RATE: u32 = 4;
/// How long each page is watched once it shows every truck.
const WINDOW: Duration = Duration::from_secs(25);
/// Time to settle after the page first shows every truck (the first fit, the initial render).
const SETTLE: Duration = Duration::from_secs(3);
/// A window that ends with the 1-minute load average above this is run again.
const BUSY_LOAD: f64 = 3.0;

const TARGET_BUSY_PCT: f64 = 30.0;
const TARGET_P99_MS: u64 = 50;
const TARGET_LONG_TASK_MS: f64 = 200.0;

#[derive(Serialize)]
struct MapRow {
    page: String,
    path: String,
    run: usize,
    events_per_second_delivered: f64,
    busy_pct: f64,
    latency_p50_ms: Option<u64>,
    latency_p99_ms: Option<u64>,
    /// Animation frame to animation frame, p99 over the window: an event that reaches the tab
    /// waits at most one such interval for the frame that hands it to the app, so this bounds
    /// arrival-to-frame, without the server's part.
    frame_interval_p99_ms: Option<u64>,
    /// Long tasks (over 50 ms, the browser's threshold) in the window.
    long_tasks: usize,
    /// Of those, the ones over 200 ms.
    long_tasks_over_200ms: usize,
    longest_task_ms: Option<f64>,
    /// What the page showed at the window's end: markers on `/map`, rows counted on `/`.
    shown: u64,
    load_avg_start: f64,
    load_avg_end: f64,
    busy_met: bool,
    p99_met: bool,
    long_tasks_met: bool,
}

fn metric(metrics: &Value, name: &str) -> f64 {
    metrics["metrics"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["name"] == name))
        .and_then(|m| m["value"].as_f64())
        .unwrap_or_default()
}

/// The 1-minute load average.
fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Every truck's marker drawn on `/map` (Leaflet's marker icons carry the truck's id).
const MAP_SHOWN: &str =
    "return document.querySelectorAll('.fleet-map .leaflet-marker-icon [data-truck]').length;";
/// The overview's table counts every truck (rows out of view are spacers).
const OVERVIEW_SHOWN: &str = "const t = document.querySelector('.fleet-table table'); \
     return t ? Number(t.getAttribute('aria-rowcount') || 1) - 1 : 0;";

async fn measure(server: &Server, page: &str, path: &str, shown: &str, run: usize) -> MapRow {
    let browser = Browser::start().await;
    let tab = browser.open_tab(&format!("{}{path}", server.base)).await;
    eventually(
        Duration::from_secs(120),
        &format!("{page} to show every truck"),
        || async {
            let n = browser.run(&tab, shown).await.as_u64().unwrap_or_default();
            (n == u64::from(TRUCKS)).then_some(())
        },
    )
    .await;
    tokio::time::sleep(SETTLE).await;
    browser
        .run(
            &tab,
            "window.convoyLongTasks = []; new PerformanceObserver(l => { \
             for (const e of l.getEntries()) window.convoyLongTasks.push(e.duration); \
             }).observe({ entryTypes: ['longtask'] }); \
             window.convoyFrames = []; let last = null; const tick = t => { \
               if (last !== null) window.convoyFrames.push(t - last); last = t; \
               if (!window.convoyFramesDone) requestAnimationFrame(tick); }; \
             requestAnimationFrame(tick); return true;",
        )
        .await;
    browser.cdp(&tab, "Performance.enable", json!({})).await;
    let load_avg_start = load_avg();
    let before = browser.cdp(&tab, "Performance.getMetrics", json!({})).await;
    let from = unix_ms();
    tokio::time::sleep(WINDOW).await;
    let after = browser.cdp(&tab, "Performance.getMetrics", json!({})).await;
    let load_avg_end = load_avg();
    let wall_s = (metric(&after, "Timestamp") - metric(&before, "Timestamp")).max(0.001);
    let busy_s = metric(&after, "TaskDuration") - metric(&before, "TaskDuration");
    let long: Vec<f64> = browser
        .run(&tab, "return window.convoyLongTasks;")
        .await
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default();
    let frames: Vec<u64> = browser
        .run(
            &tab,
            "window.convoyFramesDone = true; return window.convoyFrames.map(Math.round);",
        )
        .await
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    let shown_at_end = browser.run(&tab, shown).await.as_u64().unwrap_or_default();
    let latencies = tab_latencies(&browser, &tab, from).await;
    browser.quit().await;
    let busy_pct = (1000.0 * busy_s / wall_s).round() / 10.0;
    let longest = long
        .iter()
        .copied()
        .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))));
    let over = long.iter().filter(|&&d| d > TARGET_LONG_TASK_MS).count();
    let p99 = percentile(latencies.clone(), 99);
    MapRow {
        page: page.into(),
        path: path.into(),
        run,
        events_per_second_delivered: (latencies.len() as f64 / WINDOW.as_secs_f64()).round(),
        busy_pct,
        latency_p50_ms: percentile(latencies, 50),
        latency_p99_ms: p99,
        frame_interval_p99_ms: percentile(frames, 99),
        long_tasks: long.len(),
        long_tasks_over_200ms: over,
        longest_task_ms: longest,
        shown: shown_at_end,
        load_avg_start,
        load_avg_end,
        busy_met: busy_pct <= TARGET_BUSY_PCT,
        p99_met: p99.is_some_and(|p| p <= TARGET_P99_MS),
        long_tasks_met: over == 0,
    }
}

fn yes(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "not met"
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let reruns: usize = std::env::var("CONVOY_BENCH_RERUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2);
    let server =
        Server::start(&["--trucks", &TRUCKS.to_string(), "--rate", &RATE.to_string()]).await;
    let mut rows = Vec::new();
    for (page, path, shown) in [
        ("map", "/map", MAP_SHOWN),
        ("overview (reference)", "/", OVERVIEW_SHOWN),
    ] {
        for run in 1..=1 + reruns {
            eprintln!("bench: {page}, run {run}");
            let row = measure(&server, page, path, shown, run).await;
            eprintln!(
                "bench:   {}",
                serde_json::to_string(&row).unwrap_or_default()
            );
            let busy = row.load_avg_end > BUSY_LOAD;
            rows.push(row);
            if !busy {
                break;
            }
        }
    }
    drop(server);
    let mut md = format!(
        "# The map under load\n\n\
         {TRUCKS} simulated trucks, each sending {RATE} position reports a second \
         (`convoy-server --trucks {TRUCKS} --rate {RATE}`: the rate is position reports per \
         truck per second, {} position events/s in all, plus the stop, alert and status events \
         the server derives from them), from convoy-server (release) on loopback into one \
         visible headless Chromium tab, watched for {} s once the page shows all {TRUCKS} trucks \
         (every marker drawn on `/map`; the table counting every truck on `/`) and {} s more. \
         Both pages in the same run, against the same server, one after the other.\n\n\
         - **busy**: the tab's main-thread task time (`Performance.getMetrics` `TaskDuration`) \
         over the window's wall time.\n\
         - **event-to-frame**: an event's server timestamp (`at_ms`: the simulator stamps a \
         report with the time it makes it, just before the server derives and appends it) to the animation frame that hands it to the app (`convoyDiagnostics()` \
         `latencyMs`, as the overview's load bench measures it); the app renders and updates the \
         map's markers in that frame's task, so the figure stops at the frame's start and its \
         render shows in busy and long tasks. It includes the server's part: the time from \
         the event's creation to its arrival in the tab. **frame p99** is the page's part alone: \
         the p99 of the intervals between animation frames over the window, which bounds the \
         wait from an event's arrival in the tab to the frame that hands it to the app.\n\
         - **long tasks**: `PerformanceObserver` `longtask` entries (tasks over 50 ms) in the \
         window; over 200 ms; the longest.\n\
         - **load avg**: the machine's 1-minute load average at the window's start and end (2 \
         cores, shared with other builds: above 2, other work competed with the browser and the \
         server; a window ending above {BUSY_LOAD} was run again, and every run is listed).\n\n\
         Targets: busy ≤ {TARGET_BUSY_PCT} %, event-to-frame p99 ≤ {TARGET_P99_MS} ms, no long \
         task over {TARGET_LONG_TASK_MS} ms. Measured, not asserted.\n\n\
         | page | run | events/s delivered | busy % | p50 ms | p99 ms | frame p99 ms | long tasks (>50 ms) | over 200 ms | longest ms | load avg start / end | busy ≤ 30 % | p99 ≤ 50 ms | none over 200 ms |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        TRUCKS * RATE,
        WINDOW.as_secs(),
        SETTLE.as_secs(),
    );
    let cell = |v: Option<u64>| v.map_or("–".to_owned(), |v| v.to_string());
    for r in &rows {
        md.push_str(&format!(
            "| {} (`{}`) | {} | {:.0} | {:.1} | {} | {} | {} | {} | {} | {} | {:.2} / {:.2} | {} | {} | {} |\n",
            r.page,
            r.path,
            r.run,
            r.events_per_second_delivered,
            r.busy_pct,
            cell(r.latency_p50_ms),
            cell(r.latency_p99_ms),
            cell(r.frame_interval_p99_ms),
            r.long_tasks,
            r.long_tasks_over_200ms,
            r.longest_task_ms
                .map_or("–".to_owned(), |d| format!("{d:.0}")),
            r.load_avg_start,
            r.load_avg_end,
            yes(r.busy_met),
            yes(r.p99_met),
            yes(r.long_tasks_met),
        ));
    }
    std::fs::create_dir_all("bench").expect("bench/ is writable");
    std::fs::write("bench/map.md", &md).expect("write bench/map.md");
    let json = serde_json::to_string_pretty(&rows).expect("rows serialize");
    std::fs::write("bench/map.json", json + "\n").expect("write bench/map.json");
    println!("{md}");
}
