//! One visible page under a heavy stream: main-thread busy, event-to-frame latency, frame
//! intervals, long tasks and the load average over a window once the page shows every truck.

use super::{load_avg, lost_repeated, metric, percentile, tab_latencies, unix_ms};
use crate::harness::{eventually, Browser, Server};
use serde::Serialize;
use serde_json::{json, Value};
use std::time::Duration;

/// How long each page is watched once it shows every truck.
pub const WINDOW: Duration = Duration::from_secs(25);
/// Time to settle after the page first shows every truck (the first fit, the initial render).
pub const SETTLE: Duration = Duration::from_secs(3);

/// Every truck's marker drawn on `/map` (Leaflet's marker icons carry the truck's id).
pub const MAP_SHOWN: &str =
    "return document.querySelectorAll('.fleet-map .leaflet-marker-icon [data-truck]').length;";
/// The overview's table counts every truck (rows out of view are spacers).
pub const OVERVIEW_SHOWN: &str = "const t = document.querySelector('.fleet-table table'); \
     return t ? Number(t.getAttribute('aria-rowcount') || 1) - 1 : 0;";

#[derive(Serialize)]
pub struct PageLoad {
    pub page: String,
    pub path: String,
    pub run: usize,
    pub events_per_second_delivered: f64,
    pub busy_pct: f64,
    pub latency_p50_ms: Option<u64>,
    pub latency_p99_ms: Option<u64>,
    /// Animation frame to animation frame, p99 over the window: an event that reaches the tab
    /// waits at most one such interval for the frame that hands it to the app, so this bounds
    /// arrival-to-frame, without the server's part.
    pub frame_interval_p99_ms: Option<u64>,
    /// Long tasks (over 50 ms, the browser's threshold) in the window.
    pub long_tasks: usize,
    /// Of those, the ones over 200 ms.
    pub long_tasks_over_200ms: usize,
    pub longest_task_ms: Option<f64>,
    /// What the page showed at the window's end: markers on `/map`, rows counted on `/`.
    pub shown: u64,
    /// The same seconds seen by a bare `EventSource` (the app's stream URL, `batch=1`) in a
    /// second visible window of the same browser: server timestamp to its `message` event, p50
    /// and p99. Beside the page's figures it says whether a delay lies before the tab (the
    /// server, the browser's network) or in it (its worker, its hub, its frames).
    pub bare_stream_p50_ms: Option<u64>,
    pub bare_stream_p99_ms: Option<u64>,
    /// Ids lost and repeated over everything the tab delivered.
    pub lost: u64,
    pub repeated: u64,
    pub load_avg_start: f64,
    pub load_avg_end: f64,
}

/// Logs, in a document of the server's origin, server timestamp to arrival of every event of
/// the stream the app opens for the whole fleet (`window.convoyBare`: [arrival ms, latency ms]).
const BARE_STREAM: &str = "window.convoyBare = []; \
     const source = new EventSource('/api/stream?trucks=all&heartbeat_ms=1000&batch=1&v=2'); \
     const log = (events) => { const now = Date.now(); \
       for (const e of events) window.convoyBare.push([now, now - e.at_ms]); }; \
     source.addEventListener('batch', m => log(JSON.parse(m.data).map(x => x.event))); \
     for (const name of ['plan', 'position', 'status', 'stop', 'alert', 'alert_cleared', 'alert_acked']) \
       source.addEventListener(name, m => log([JSON.parse(m.data)])); \
     return true;";

/// Opens `path` in one visible tab of a fresh browser, waits until `shown` counts `trucks`,
/// and watches it for [`WINDOW`], a bare stream in a second window beside it.
pub async fn measure(
    server: &Server,
    page: &str,
    path: &str,
    shown: &str,
    trucks: u64,
    run: usize,
) -> PageLoad {
    let browser = Browser::start().await;
    let tab = browser.open_tab(&format!("{}{path}", server.base)).await;
    eventually(
        Duration::from_secs(120),
        &format!("{page} to show every truck"),
        || async {
            let n = browser.run(&tab, shown).await.as_u64().unwrap_or_default();
            (n == trucks).then_some(())
        },
    )
    .await;
    // An API document: no Content-Security-Policy, the server's origin.
    let bare = browser
        .open_window(&format!("{}/api/health", server.base))
        .await;
    browser.run(&bare, BARE_STREAM).await;
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
    let bare_latencies: Vec<u64> = browser
        .run(&bare, "return window.convoyBare;")
        .await
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e[0].as_u64()?, e[1].as_i64()?)))
        .filter(|(at, _)| *at >= from)
        .map(|(_, latency)| latency.max(0) as u64)
        .collect();
    let (lost, repeated) = browser
        .diagnostics(&tab)
        .await
        .map_or((0, 0), |d| lost_repeated(&d.received));
    browser.quit().await;
    let longest = long
        .iter()
        .copied()
        .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.max(d))));
    PageLoad {
        page: page.into(),
        path: path.into(),
        run,
        events_per_second_delivered: (latencies.len() as f64 / WINDOW.as_secs_f64()).round(),
        busy_pct: (1000.0 * busy_s / wall_s).round() / 10.0,
        latency_p50_ms: percentile(latencies.clone(), 50),
        latency_p99_ms: percentile(latencies, 99),
        frame_interval_p99_ms: percentile(frames, 99),
        long_tasks: long.len(),
        long_tasks_over_200ms: long.iter().filter(|&&d| d > 200.0).count(),
        longest_task_ms: longest,
        shown: shown_at_end,
        bare_stream_p50_ms: percentile(bare_latencies.clone(), 50),
        bare_stream_p99_ms: percentile(bare_latencies, 99),
        lost,
        repeated,
        load_avg_start,
        load_avg_end,
    }
}
