//! `cargo xtask bench` (second part): the app under load. 500 trucks at 4 events per second
//! each (2 000 events/s) into one tab showing the overview (which renders the rows in view) and
//! one showing a 6-panel board.
//! Measures main-thread busy % (Chrome's own task time, over the DevTools protocol), long
//! tasks (over 50 ms) per minute, server-to-frame latency p50/p99 (events reach the app state
//! in the animation frame that paints them), and the app's transfer size. Writes
//! `bench/load.md` and `bench/load.json`.

#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;
mod support;

use harness::{eventually, Browser, Server};
use serde::Serialize;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;
use support::{percentile, tab_latencies, unix_ms};

const WINDOW: Duration = Duration::from_secs(20);

#[derive(Serialize)]
struct LoadRow {
    view: String,
    events_per_second_delivered: f64,
    busy_pct: f64,
    long_tasks_per_minute: f64,
    latency_p50_ms: Option<u64>,
    latency_p99_ms: Option<u64>,
}

#[derive(Serialize)]
struct Size {
    file: String,
    raw: usize,
    gzip: usize,
}

fn metric(metrics: &Value, name: &str) -> f64 {
    metrics["metrics"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["name"] == name))
        .and_then(|m| m["value"].as_f64())
        .unwrap_or_default()
}

async fn measure(server: &Server, view: &str, path: &str, ready: &str) -> LoadRow {
    let browser = Browser::start().await;
    let tab = browser.open_tab(&format!("{}{path}", server.base)).await;
    eventually(
        Duration::from_secs(60),
        &format!("{view} to render"),
        || async { browser.run(&tab, ready).await.as_bool().filter(|b| *b) },
    )
    .await;
    browser
        .run(
            &tab,
            "window.convoyLongTasks = 0; new PerformanceObserver(l => { \
             window.convoyLongTasks += l.getEntries().length; }).observe({ entryTypes: ['longtask'] }); \
             return true;",
        )
        .await;
    browser.cdp(&tab, "Performance.enable", json!({})).await;
    let before = browser.cdp(&tab, "Performance.getMetrics", json!({})).await;
    let from = unix_ms();
    tokio::time::sleep(WINDOW).await;
    let after = browser.cdp(&tab, "Performance.getMetrics", json!({})).await;
    let wall_s = (metric(&after, "Timestamp") - metric(&before, "Timestamp")).max(0.001);
    let busy_s = metric(&after, "TaskDuration") - metric(&before, "TaskDuration");
    let long_tasks = browser
        .run(&tab, "return window.convoyLongTasks;")
        .await
        .as_f64()
        .unwrap_or_default();
    let latencies = tab_latencies(&browser, &tab, from).await;
    browser.quit().await;
    LoadRow {
        view: view.into(),
        events_per_second_delivered: latencies.len() as f64 / WINDOW.as_secs_f64(),
        busy_pct: 100.0 * busy_s / wall_s,
        long_tasks_per_minute: long_tasks * 60.0 / wall_s,
        latency_p50_ms: percentile(latencies.clone(), 50),
        latency_p99_ms: percentile(latencies, 99),
    }
}

fn transfer_sizes(dist: &str) -> Vec<Size> {
    let mut sizes = Vec::new();
    let Ok(entries) = std::fs::read_dir(dist) else {
        return sizes;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.ends_with(".wasm") || name.ends_with(".js") || name.ends_with(".css")) {
            continue;
        }
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        let gzip = encoder
            .write_all(&bytes)
            .and_then(|()| encoder.finish())
            .map(|v| v.len())
            .unwrap_or_default();
        sizes.push(Size {
            file: name,
            raw: bytes.len(),
            gzip,
        });
    }
    sizes.sort_by(|a, b| a.file.cmp(&b.file));
    sizes
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server = Server::start(&["--trucks", "500", "--rate", "4"]).await;
    // The table renders the rows in view (and spacers): ready when it counts all 500.
    let rows_ready = "const t = document.querySelector('.fleet-table table'); \
                      return !!t && t.getAttribute('aria-rowcount') === '501' \
                      && document.querySelectorAll('tr.truck-row').length > 0;";
    let board_ready = "return document.querySelectorAll('.truck-panel').length === 6;";
    let rows = vec![
        measure(&server, "overview (500 rows)", "/", rows_ready).await,
        measure(
            &server,
            "board (6 panels)",
            "/board?trucks=T-001,T-002,T-003,T-004,T-005,T-006",
            board_ready,
        )
        .await,
    ];
    let dist = std::env::var("CONVOY_DIST").unwrap_or_else(|_| "dist".into());
    let sizes = transfer_sizes(&dist);
    let mut md = String::from(
        "# Convoy under load\n\n500 trucks at 4 events/s each (2 000 events/s) from convoy-server \
         on loopback, one headless Chromium tab per view, 20 s windows. Busy is Chrome's main-thread \
         task time over wall time; latency is server timestamp to the animation frame that applies \
         the event.\n\n| view | events/s delivered | main-thread busy % | long tasks/min | \
         latency p50 ms | latency p99 ms |\n|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {:.0} | {:.1} | {:.1} | {} | {} |\n",
            r.view,
            r.events_per_second_delivered,
            r.busy_pct,
            r.long_tasks_per_minute,
            r.latency_p50_ms.map_or("–".into(), |v| v.to_string()),
            r.latency_p99_ms.map_or("–".into(), |v| v.to_string()),
        ));
    }
    md.push_str(
        "\n## Transfer (release build)\n\nThe page loads the app's wasm, js and css; the worker \
         files load when a worker starts (the service worker installs in the background).\n\n\
         | file | raw bytes | gzip bytes |\n|---|---|---|\n",
    );
    let (mut raw, mut gzip) = (0, 0);
    for s in &sizes {
        md.push_str(&format!("| {} | {} | {} |\n", s.file, s.raw, s.gzip));
        if s.file.starts_with("convoy-") && !s.file.contains("worker") {
            raw += s.raw;
            gzip += s.gzip;
        }
    }
    md.push_str(&format!(
        "| **the app's initial load** | {raw} | {gzip} |\n"
    ));
    std::fs::create_dir_all("bench").expect("bench/ is writable");
    std::fs::write("bench/load.md", &md).expect("write bench/load.md");
    let json = serde_json::to_string_pretty(&json!({ "views": rows, "transfer": sizes }))
        .expect("rows serialize");
    std::fs::write("bench/load.json", json).expect("write bench/load.json");
    println!("{md}");
}
