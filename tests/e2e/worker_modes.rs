//! The worker transports: one SharedWorker (or the service worker) per origin holds the stream
//! for every tab. Twelve tabs make one stream at the server; closing all but one and opening more
//! again loses and repeats nothing in any tab. The service worker, stopped by the browser,
//! resumes from the tabs' cursor.

use crate::harness::{eventually, Browser, Server};
use crate::shared_stream::{all_past, one_stream, open_tabs, SERVER_ARGS, TABS};
use serde_json::json;
use std::time::Duration;

/// 12 tabs on one stream; all but one closed; 6 more opened: one stream throughout, and every
/// tab's received ids run without a gap or a repeat.
async fn worker_tabs_come_and_go(transport: &str) {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let url = format!("{}/?transport={transport}", server.base);
    let mut tabs = open_tabs(&browser, &url, TABS).await;
    let before = all_past(&browser, &tabs, 0).await;
    one_stream(&server).await;
    for (i, diagnostics) in before.iter().enumerate() {
        assert_eq!(diagnostics.transport, transport, "tab {i}");
        assert_eq!(diagnostics.role, "worker-client", "tab {i}");
        diagnostics.assert_contiguous(&format!("tab {i} of {TABS}"));
    }

    let kept = tabs.remove(0);
    for tab in tabs.drain(..) {
        browser.close_tab(&tab).await;
    }
    let latest = server.stats().await.latest_event_id;
    let alone = all_past(&browser, std::slice::from_ref(&kept), latest + 20).await;
    alone[0].assert_contiguous("the tab left alone");
    one_stream(&server).await;

    let mut again = vec![kept];
    browser.diagnostics(&again[0]).await;
    again.extend(open_tabs(&browser, &url, 6).await);
    let latest = server.stats().await.latest_event_id;
    let after = all_past(&browser, &again, latest + 20).await;
    one_stream(&server).await;
    for (i, diagnostics) in after.iter().enumerate() {
        diagnostics.assert_contiguous(&format!("tab {i} after reopening"));
    }
    eprintln!(
        "{transport}: streams opened in total {}",
        server.stats().await.opened_total
    );
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_worker_holds_one_stream_as_tabs_come_and_go() {
    worker_tabs_come_and_go("shared-worker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_worker_holds_one_stream_as_tabs_come_and_go() {
    worker_tabs_come_and_go("service-worker").await;
}

/// The browser stops the service worker (as it does after ~30 s idle); the tabs' next message
/// restarts it, and it resumes from their cursor: no tab misses or repeats an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_worker_stopped_by_the_browser_loses_nothing() {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let url = format!("{}/?transport=service-worker", server.base);
    let tabs = open_tabs(&browser, &url, 4).await;
    all_past(&browser, &tabs, 0).await;
    one_stream(&server).await;
    let before = server.stats().await;
    browser
        .cdp(&tabs[0], "ServiceWorker.enable", json!({}))
        .await;
    browser
        .cdp(&tabs[0], "ServiceWorker.stopAllWorkers", json!({}))
        .await;
    // The stopped worker's stream goes with it; the restarted one opens another.
    eventually(
        Duration::from_secs(30),
        "the restarted worker's stream",
        || async {
            let stats = server.stats().await;
            (stats.opened_total > before.opened_total && stats.open_streams == 1).then_some(())
        },
    )
    .await;
    let latest = server.stats().await.latest_event_id;
    let after = all_past(&browser, &tabs, latest + 20).await;
    for (i, diagnostics) in after.iter().enumerate() {
        diagnostics.assert_contiguous(&format!("tab {i} after the worker was stopped"));
    }
    one_stream(&server).await;
    browser.quit().await;
}

/// Over HTTP/2 (`--tls`) per-tab streams multiplex on one connection: `auto` picks `direct`, and
/// more than six tabs each hold a stream without stalling (the opposite of the HTTP/1.1 control).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_picks_direct_over_http2_and_eight_streams_do_not_stall() {
    let server = Server::start_tls(&SERVER_ARGS).await;
    let browser = Browser::start_with(true).await;
    let tabs = open_tabs(&browser, &format!("{}/", server.base), 8).await;
    let all = all_past(&browser, &tabs, 0).await;
    for (i, diagnostics) in all.iter().enumerate() {
        assert_eq!(diagnostics.transport, "direct", "tab {i}");
        diagnostics.assert_contiguous(&format!("tab {i} over HTTP/2"));
    }
    let reason = browser
        .run(
            &tabs[0],
            "return window.convoyDiagnostics().transportReason;",
        )
        .await;
    assert!(
        reason.as_str().is_some_and(|r| r.contains("h2")),
        "auto says why: {reason}"
    );
    eventually(Duration::from_secs(20), "eight open streams", || async {
        let open = browser
            .run(
                &tabs[0],
                "return fetch('api/stats').then(r => r.json()).then(s => s.open_streams);",
            )
            .await;
        (open.as_u64() == Some(8)).then_some(())
    })
    .await;
    browser.quit().await;
}
