//! `cargo xtask bench` (second part): the app under load. 500 trucks at 4 events per second
//! each (2 000 events/s) into one tab showing the overview (which renders the rows in view) and
//! one showing a 6-panel board.
//! Measures main-thread busy % (Chrome's own task time, over the DevTools protocol), long
//! tasks (over 50 ms) per minute, server-to-frame latency p50/p99 (events reach the app state
//! in the animation frame that paints them), and the app's transfer size. Writes
//! `bench/load.md` and `bench/load.json`.
//!
//! A third measurement scrolls the overview in small steps (1–30 px, one per frame): within
//! one row, above the table's rows (the filters and header), then on across rows, against a
//! still baseline of as many frames. The first two move no row into or out of the rendered
//! window, so they should cost next to nothing; the feed is kept quiet there (5 events/s) so the renders it causes do not hide
//! the ones scrolling causes.

#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;
#[allow(dead_code)]
mod support;

use harness::{eventually, Browser, Server};
use serde::Serialize;
use serde_json::json;
use std::time::Duration;
use support::transfer::{initial_total, transfer_sizes};
use support::{metric, percentile, tab_latencies, unix_ms};

const WINDOW: Duration = Duration::from_secs(20);
/// Scroll steps per phase, one per animation frame (about 7 s at 60 frames per second).
const SCROLL_STEPS: u32 = 400;
/// The fleet table's row height (`ROW_HEIGHT_PX`, and the stylesheet's).
const ROW_HEIGHT_PX: u32 = 36;

#[derive(Serialize)]
struct LoadRow {
    view: String,
    events_per_second_delivered: f64,
    busy_pct: f64,
    long_tasks_per_minute: f64,
    latency_p50_ms: Option<u64>,
    latency_p99_ms: Option<u64>,
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

/// One phase of the scroll measurement: main-thread work per frame, and how often the rows
/// the table renders changed.
#[derive(Serialize)]
struct ScrollRow {
    phase: String,
    steps: u32,
    /// Chrome's main-thread task time per step (frame), in ms.
    busy_ms_per_step: f64,
    /// Of that, JavaScript and wasm.
    script_ms_per_step: f64,
    /// Main-thread task time per step beyond the still baseline's, in ms.
    extra_busy_ms_per_step: f64,
    /// Steps after which the first rendered row was another one.
    window_moves: u32,
}

/// The page script of one phase: `mode` is `still`, `within` (scroll around inside one row,
/// 1–30 px at a time), `above` (the same between the page's top and the table body's, where
/// the rows in view are the first ones throughout) or `across` (scroll on down from row 100,
/// 1–30 px at a time). One step per animation frame, so each scroll event (dispatched before
/// the frame's callbacks) and any render it schedules run before the next step. Resolves with the number of window moves.
fn scroll_script(mode: &str) -> String {
    format!(
        "return (async () => {{ const mode = '{mode}', steps = {SCROLL_STEPS}, row = {ROW_HEIGHT_PX}; \
         let seed = 7; const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648); \
         const frame = () => new Promise(r => requestAnimationFrame(() => r())); \
         const body = document.querySelector('.fleet-table tbody'); \
         const bodyTop = Math.ceil(body.getBoundingClientRect().top + window.scrollY); \
         const first = () => {{ const r = body.querySelector('tr.truck-row'); \
           return r && r.getAttribute('aria-rowindex'); }}; \
         /* Bouncing between base and base + room: inside row 100 (one px in, so sub-pixel \
            layout never puts a position in row 99), or above the table's body. */ \
         const bounce = mode === 'within' || mode === 'above'; \
         const base = mode === 'within' ? bodyTop + 100 * row + 1 : 0; \
         const room = mode === 'within' ? row - 2 : Math.max(bodyTop - 2, 1); \
         const start = bounce ? base : bodyTop + 100 * row + 1; \
         if (mode !== 'still') {{ window.scrollTo(0, start); await frame(); await frame(); }} \
         let at = 0, moves = 0, shown = first(); \
         for (let i = 0; i < steps; i++) {{ \
           const step = 1 + next() % 30; \
           if (bounce) {{ \
             const d = Math.min(step, Math.max(room - at, at)); \
             at = at + d <= room ? at + d : at - d; \
             window.scrollTo(0, base + at); \
           }} else if (mode === 'across') {{ window.scrollBy(0, step); }} \
           await frame(); \
           const now = first(); if (now !== shown) {{ moves++; shown = now; }} \
         }} \
         return moves; }})();"
    )
}

async fn measure_scroll(server: &Server, ready: &str) -> Vec<ScrollRow> {
    let browser = Browser::start().await;
    let tab = browser.open_tab(&format!("{}/", server.base)).await;
    eventually(
        Duration::from_secs(60),
        "the overview to render",
        || async { browser.run(&tab, ready).await.as_bool().filter(|b| *b) },
    )
    .await;
    // Start from the top, settled.
    browser
        .run(
            &tab,
            "window.scrollTo(0, 0); return new Promise(r => setTimeout(() => r(true), 1000));",
        )
        .await;
    browser.cdp(&tab, "Performance.enable", json!({})).await;
    let mut rows: Vec<ScrollRow> = Vec::new();
    for (phase, mode) in [
        ("still (baseline)", "still"),
        ("within one row", "within"),
        ("above the table's rows", "above"),
        ("across rows", "across"),
    ] {
        let before = browser.cdp(&tab, "Performance.getMetrics", json!({})).await;
        let moves = browser.run(&tab, &scroll_script(mode)).await;
        let after = browser.cdp(&tab, "Performance.getMetrics", json!({})).await;
        let per_step = |name: &str| {
            1_000.0 * (metric(&after, name) - metric(&before, name)) / f64::from(SCROLL_STEPS)
        };
        let busy = per_step("TaskDuration");
        let still = rows.first().map_or(busy, |r| r.busy_ms_per_step);
        rows.push(ScrollRow {
            phase: phase.into(),
            steps: SCROLL_STEPS,
            busy_ms_per_step: busy,
            script_ms_per_step: per_step("ScriptDuration"),
            extra_busy_ms_per_step: busy - still,
            window_moves: moves.as_u64().unwrap_or_default() as u32,
        });
    }
    browser.quit().await;
    rows
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
    drop(server);
    // 500 trucks at one event per 100 s each: 5 events/s, so the renders left are scrolling's.
    let quiet = Server::start(&["--trucks", "500", "--rate", "0.01"]).await;
    let scroll = measure_scroll(&quiet, rows_ready).await;
    drop(quiet);
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
    md.push_str(&format!(
        "\n## Scrolling the overview\n\n500 trucks at 5 events/s in all, so the renders \
         measured are scrolling's. {SCROLL_STEPS} steps of 1–30 px, one per animation frame: \
         within one row, then between the page's top and the table body's (in neither does a \
         row enter or leave the rendered window), then on down across rows, against as many \
         still frames. Busy is Chrome's main-thread task time per step; \
         extra is that beyond the still frames'; window moves counts the steps after which the \
         first rendered row changed.\n\n| phase | steps | busy ms/step | script ms/step | \
         extra busy ms/step | window moves |\n|---|---|---|---|---|---|\n"
    ));
    for r in &scroll {
        md.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {} |\n",
            r.phase,
            r.steps,
            r.busy_ms_per_step,
            r.script_ms_per_step,
            r.extra_busy_ms_per_step,
            r.window_moves,
        ));
    }
    md.push_str(
        "\n## Transfer (release build)\n\nThe page loads the app's wasm, js and css; the worker \
         files load when a worker starts (the service worker installs in the background).\n\n\
         convoy-server sends the build's brotli sibling to browsers that accept it (all current \
         ones over HTTPS), else the gzip one.\n\n\
         | file | raw bytes | gzip -9 bytes | brotli bytes |\n|---|---|---|---|\n",
    );
    let show = |n: Option<usize>| n.map_or("–".to_owned(), |n| n.to_string());
    for s in &sizes {
        md.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            s.file,
            s.raw,
            s.gzip,
            show(s.brotli)
        ));
    }
    let (raw, gzip, brotli) = initial_total(&sizes);
    md.push_str(&format!(
        "| **the app's initial load** | {raw} | {gzip} | {} |\n",
        show(brotli)
    ));
    std::fs::create_dir_all("bench").expect("bench/ is writable");
    std::fs::write("bench/load.md", &md).expect("write bench/load.md");
    let json = serde_json::to_string_pretty(
        &json!({ "views": rows, "scroll": scroll, "transfer": sizes }),
    )
    .expect("rows serialize");
    std::fs::write("bench/load.json", json).expect("write bench/load.json");
    println!("{md}");
}
