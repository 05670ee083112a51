//! A hidden tab's page takes and renders nothing (its hub, in the tab's worker, holds what
//! arrives); shown, it gets it in one catch-up and renders it.

use crate::harness::{eventually, Browser, Server};
use serde_json::Value;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Logs the page's visibility and every change to its DOM outside `<head>` (the title's alert
/// count may follow while hidden): `[ms, visibilityState, records]`.
const DOM_RECORDER: &str = "window.convoyDomChanges = []; \
    new MutationObserver((records) => { \
      const outside = records.filter((r) => { \
        const el = r.target.nodeType === 1 ? r.target : r.target.parentElement; \
        return !(el && el.closest('head')); \
      }).length; \
      if (outside) window.convoyDomChanges.push([Date.now(), document.visibilityState, outside]); \
    }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });";

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hidden_tab_takes_nothing_and_catches_up_once_shown() {
    let server = Server::start(&["--trucks", "6", "--rate", "4"]).await;
    let browser = Browser::start_throttled().await;
    let first = browser
        .open_tab(&format!("{}/?transport=leader", server.base))
        .await;
    let truck = browser
        .open_background_tab(
            &first,
            &format!("{}/trucks/T-03?transport=leader", server.base),
            DOM_RECORDER,
        )
        .await;
    let panel_event_id = "const p = document.querySelector('.truck-panel[data-event-id]'); \
                          return p ? Number(p.dataset.eventId) : null;";
    eventually(Duration::from_secs(30), "T-03's panel", || async {
        browser.run(&truck, panel_event_id).await.as_u64()
    })
    .await;
    // Back to the first tab: the truck's tab is now a hidden background tab.
    browser
        .client
        .switch_to_window(first.clone())
        .await
        .expect("switch tab");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let hidden_from = unix_ms();
    let first_hidden_id = server.stats().await.latest_event_id;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let hidden_until = unix_ms();
    let last_hidden_id = server.stats().await.latest_event_id;

    // Reading the tab shows it.
    let changes = browser.run(&truck, "return window.convoyDomChanges;").await;
    let diagnostics = browser
        .run(
            &truck,
            "const d = window.convoyDiagnostics(); return [d.received, d.receivedAtMs];",
        )
        .await;
    let ids = numbers(&diagnostics[0]);
    let at = numbers(&diagnostics[1]);
    let while_hidden: Vec<u64> = ids
        .iter()
        .zip(&at)
        .filter(|(_, t)| (hidden_from..hidden_until).contains(*t))
        .map(|(id, _)| *id)
        .collect();
    assert!(
        while_hidden.is_empty(),
        "the hidden page took events while hidden: {while_hidden:?}"
    );
    let hidden_changes: Vec<&Value> = changes
        .as_array()
        .expect("the recorder's log")
        .iter()
        .filter(|c| {
            c[1] == "hidden"
                && c[0]
                    .as_u64()
                    .is_some_and(|t| (hidden_from..hidden_until).contains(&t))
        })
        .collect();
    assert!(
        hidden_changes.is_empty(),
        "the hidden tab changed its DOM: {hidden_changes:?}"
    );
    // Shown, it gets what its hub held (T-03's events appended while it was hidden) and
    // renders at least that.
    let newest_hidden = eventually(Duration::from_secs(10), "the catch-up", || async {
        let received = browser
            .run(&truck, "return window.convoyDiagnostics().received;")
            .await;
        numbers(&received)
            .into_iter()
            .filter(|id| (first_hidden_id + 1..=last_hidden_id).contains(id))
            .max()
    })
    .await;
    let shown = eventually(Duration::from_secs(10), "the panel to catch up", || async {
        browser
            .run(&truck, panel_event_id)
            .await
            .as_u64()
            .filter(|id| *id >= newest_hidden)
    })
    .await;
    assert!(shown >= newest_hidden);
    browser.quit().await;
}

fn numbers(value: &Value) -> Vec<u64> {
    value
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default()
}
