//! What the benchmarks share: the wall clock, percentiles, a tab's latencies and deliveries, the
//! failover runs, a page under load, a hidden tab's main thread, and the build's transfer size.

pub mod failover;
pub mod hidden;
pub mod page_load;
pub mod transfer;

use crate::harness::{eventually, Browser};
use fantoccini::wd::WindowHandle;
use serde_json::Value;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Wall-clock ms, the clock the pages' delivery times use.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// The `p`th percentile (0..=100) of `values`, None when empty.
pub fn percentile(mut values: Vec<u64>, p: usize) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    Some(values[(values.len() - 1) * p / 100])
}

/// Server-to-app latencies (ms) of the events `tab` received since `since_ms`, from its
/// `convoyDiagnostics()`.
pub async fn tab_latencies(browser: &Browser, tab: &WindowHandle, since_ms: u64) -> Vec<u64> {
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

/// Ids lost (gaps) and repeated (not above the one before) in a tab's deliveries, in order.
pub fn lost_repeated(received: &[u64]) -> (u64, u64) {
    let (mut lost, mut repeated) = (0, 0);
    for pair in received.windows(2) {
        if pair[1] <= pair[0] {
            repeated += 1;
        } else {
            lost += pair[1] - pair[0] - 1;
        }
    }
    (lost, repeated)
}

/// Ids lost and repeated over everything `tab` delivered (the pages keep every delivery since
/// load: the harness opens them with `#diagnostics=full`); (0, 0) when it cannot be read.
pub async fn tab_lost_repeated(browser: &Browser, tab: &WindowHandle) -> (u64, u64) {
    browser
        .diagnostics(tab)
        .await
        .map_or((0, 0), |d| lost_repeated(&d.received))
}

/// When `tab` delivered each event of its `received` (`convoyDiagnostics().receivedAtMs`).
pub async fn received_at(browser: &Browser, tab: &WindowHandle) -> Vec<u64> {
    browser
        .run(tab, "return window.convoyDiagnostics().receivedAtMs;")
        .await
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_u64()).collect())
        .unwrap_or_default()
}

/// Whether `CONVOY_BENCH_ONLY` (a comma-separated list) names `label`; true when unset.
pub fn wanted(label: &str) -> bool {
    std::env::var("CONVOY_BENCH_ONLY")
        .map_or(true, |only| only.split(',').any(|w| w.trim() == label))
}

/// A value of `Performance.getMetrics`' answer.
pub fn metric(metrics: &Value, name: &str) -> f64 {
    metrics["metrics"]
        .as_array()
        .and_then(|all| all.iter().find(|m| m["name"] == name))
        .and_then(|m| m["value"].as_f64())
        .unwrap_or_default()
}

/// The machine's 1-minute load average.
pub fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN)
}

/// A table cell: the value, or a dash.
pub fn cell(v: Option<u64>) -> String {
    v.map_or("–".into(), |v| v.to_string())
}

/// "lo–hi" of values, or every value listed when one is unknown.
pub fn range(values: &[Option<u64>]) -> String {
    let known: Vec<u64> = values.iter().flatten().copied().collect();
    let (Some(lo), Some(hi), true) = (
        known.iter().min(),
        known.iter().max(),
        known.len() == values.len(),
    ) else {
        let shown: Vec<String> = values.iter().map(|v| cell(*v)).collect();
        return shown.join(", ");
    };
    if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}–{hi}")
    }
}

/// Opens a tab (or a visible window) and returns how long until its table counted every truck,
/// and from its navigation start to the app's mark of its first render with trucks
/// (`convoy:data-shown`).
pub async fn open_and_time(
    browser: &Browser,
    url: &str,
    trucks: u64,
    window: bool,
) -> (WindowHandle, Option<u64>, Option<u64>) {
    let started = Instant::now();
    let tab = if window {
        browser.open_window(url).await
    } else {
        browser.open_tab(url).await
    };
    let shown = tokio::time::timeout(
        Duration::from_secs(20),
        eventually(Duration::from_secs(20), "the table", || async {
            // Every truck counted in the table's "All" filter (rows out of view are spacers).
            let all = browser
                .run(
                    &tab,
                    "const b = document.querySelector('.status-filter[data-status=all]'); \
                     return b ? b.textContent : '';",
                )
                .await;
            (all.as_str() == Some(format!("All {trucks}").as_str())).then_some(())
        }),
    )
    .await
    .is_ok();
    let outside = shown.then(|| started.elapsed().as_millis() as u64);
    let marked = browser
        .run(
            &tab,
            "const m = performance.getEntriesByName('convoy:data-shown')[0]; \
             return m ? Math.round(m.startTime) : null;",
        )
        .await
        .as_u64();
    (tab, outside, marked)
}
