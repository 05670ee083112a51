//! What both benchmarks need: the wall clock, percentiles, and a tab's latencies.

use crate::harness::Browser;
use fantoccini::wd::WindowHandle;
use std::time::{SystemTime, UNIX_EPOCH};

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
