//! The app loads from convoy-server, deep links work, and rows change from live events.

use crate::harness::{eventually, Browser, Server};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truck_row_changes_from_live_events() {
    let server = Server::start(&["--trucks", "12", "--rate", "2"]).await;
    let browser = Browser::start().await;
    let tab = browser.open_tab(&format!("{}/", server.base)).await;
    let row_event_id = "const row = document.querySelector('tr.truck-row[data-truck=\"T-01\"]'); \
                        return row ? Number(row.dataset.eventId) : null;";
    let first = eventually(Duration::from_secs(30), "the T-01 row", || async {
        browser.run(&tab, row_event_id).await.as_u64()
    })
    .await;
    let later = eventually(Duration::from_secs(15), "T-01's row to change", || async {
        browser
            .run(&tab, row_event_id)
            .await
            .as_u64()
            .filter(|id| *id > first)
    })
    .await;
    assert!(later > first);
    let rows = browser
        .run(
            &tab,
            "return document.querySelectorAll('tr.truck-row').length;",
        )
        .await;
    assert_eq!(rows.as_u64(), Some(12));
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_link_opens_the_truck_panel_and_unknown_paths_say_so() {
    let server = Server::start(&["--trucks", "8", "--rate", "2"]).await;
    let browser = Browser::start().await;
    let tab = browser
        .open_tab(&format!("{}/trucks/T-07", server.base))
        .await;
    let panel = eventually(Duration::from_secs(30), "T-07's panel", || async {
        browser
            .run(&tab, "const p = document.querySelector('.truck-panel'); return p ? p.dataset.truck : null;")
            .await
            .as_str()
            .map(str::to_owned)
    })
    .await;
    assert_eq!(panel, "T-07");
    let stops = eventually(Duration::from_secs(10), "the route's stops", || async {
        browser
            .run(
                &tab,
                "return document.querySelectorAll('.stops li').length;",
            )
            .await
            .as_u64()
            .filter(|n| *n > 0)
    })
    .await;
    assert!(stops >= 2);

    let missing = browser
        .open_tab(&format!("{}/no/such/page", server.base))
        .await;
    let heading = eventually(Duration::from_secs(30), "the not-found page", || async {
        browser
            .run(
                &missing,
                "const h = document.querySelector('h1'); return h ? h.textContent : null;",
            )
            .await
            .as_str()
            .map(str::to_owned)
    })
    .await;
    assert_eq!(heading, "Page not found");
    browser.quit().await;
}
