//! `auto` never leaves a dashboard dead: each row emulates, before the app loads, what some
//! browsers, policies and deployments do to the preferred transport. In every case six tabs end
//! live on one stream, with nothing lost or repeated, and the chip says what was skipped and why.
//! Each case prints the time from page load to the first live event in the first tab.

use crate::harness::{Browser, Server};
use crate::shared_stream::{all_past, one_stream, SERVER_ARGS};
use fantoccini::wd::WindowHandle;
use serde_json::Value;
use std::time::Duration;

const TABS: usize = 6;

/// The SharedWorker constructor throws, as under a policy, a `worker-src` CSP or a sandbox.
const SHARED_WORKER_THROWS: &str = "window.SharedWorker = function () { \
     throw new DOMException('blocked by policy', 'SecurityError'); };";

/// Neither SharedWorker nor Web Locks.
const NO_SHARED_WORKER_NO_LOCKS: &str = "delete window.SharedWorker; \
     Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined });";

/// No SharedWorker, and the service worker's registration is refused.
const NO_SHARED_WORKER_REGISTRATION_REFUSED: &str = "delete window.SharedWorker; \
     navigator.serviceWorker.register = () => \
       Promise.reject(new DOMException('refused', 'SecurityError'));";

/// The chip's transport and reason in `tab`.
async fn chip(browser: &Browser, tab: &WindowHandle) -> (String, String) {
    let value = browser
        .run(
            tab,
            "const c = document.querySelector('.chip'); \
             return c ? [c.dataset.transport || '', c.dataset.reason || ''] : ['', ''];",
        )
        .await;
    let field = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
    (field(0), field(1))
}

/// From navigation start to the first event the app received, in `tab` (ms).
async fn first_live_event_ms(browser: &Browser, tab: &WindowHandle) -> Option<f64> {
    let value: Value = browser
        .run(
            tab,
            "const d = window.convoyDiagnostics && window.convoyDiagnostics(); \
             return d && d.receivedAtMs.length ? d.receivedAtMs[0] - performance.timeOrigin : null;",
        )
        .await;
    value.as_f64()
}

/// Opens the tabs under `script`, then checks every tab is live on one stream with nothing lost
/// or repeated, runs `transport`, and shows a chip reason containing `reason`.
async fn six_tabs_live(server: &Server, script: &str, case: &str, transport: &str, reason: &str) {
    let browser = Browser::start().await;
    let url = format!("{}/", server.base);
    let mut tabs = Vec::new();
    for _ in 0..TABS {
        tabs.push(browser.open_tab_with_script(&url, script).await);
    }
    let diagnostics = all_past(&browser, &tabs, 0).await;
    one_stream(server).await;
    let latest = server.stats().await.latest_event_id;
    let after = all_past(&browser, &tabs, latest + 10).await;
    for (i, d) in after.iter().enumerate() {
        assert_eq!(d.transport, transport, "{case}: tab {i}");
        d.assert_contiguous(&format!("{case}: tab {i}"));
        let (chip_transport, chip_reason) = chip(&browser, &tabs[i]).await;
        assert_eq!(chip_transport, transport, "{case}: tab {i}'s chip");
        assert!(
            chip_reason.contains(reason),
            "{case}: tab {i}'s chip says {chip_reason:?}, not {reason:?}"
        );
    }
    assert_eq!(diagnostics.len(), TABS);
    let first = first_live_event_ms(&browser, &tabs[0]).await;
    eprintln!(
        "transport fallback, {case}: {transport}, first live event {:.0} ms after page load",
        first.unwrap_or(f64::NAN)
    );
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_worker_constructor_that_throws_falls_back_to_leader_election() {
    let server = Server::start(&SERVER_ARGS).await;
    six_tabs_live(
        &server,
        SHARED_WORKER_THROWS,
        "SharedWorker constructor throws",
        "leader",
        "SharedWorker blocked: SecurityError",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_worker_script_that_fails_falls_back_to_leader_election() {
    // A deploy that lost the worker's entry script.
    let dist = std::env::temp_dir().join(format!("convoy-e2e-no-worker-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&dist).expect("a temp dir");
    for entry in std::fs::read_dir(Server::dist()).expect("the dist dir") {
        let entry = entry.expect("a dist entry");
        if entry.path().is_file() && entry.file_name() != "shared-worker.js" {
            std::fs::copy(entry.path(), dist.join(entry.file_name())).expect("copy");
        }
    }
    let server = Server::start_with_dist(dist.to_str().expect("a path"), &SERVER_ARGS).await;
    six_tabs_live(
        &server,
        "",
        "SharedWorker script fails",
        "leader",
        "SharedWorker blocked",
    )
    .await;
    let _ = std::fs::remove_dir_all(&dist);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_shared_worker_or_web_locks_tabs_elect_by_lease() {
    let server = Server::start(&SERVER_ARGS).await;
    six_tabs_live(
        &server,
        NO_SHARED_WORKER_NO_LOCKS,
        "no SharedWorker, no Web Locks",
        "leader",
        "lease",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_shared_worker_a_refused_registration_leaves_leader_election() {
    let server = Server::start(&SERVER_ARGS).await;
    six_tabs_live(
        &server,
        NO_SHARED_WORKER_REGISTRATION_REFUSED,
        "no SharedWorker, registration refused",
        "leader",
        "Web Locks",
    )
    .await;
}

/// A transport the user chose that fails is not silently replaced: the chip shows the error
/// with "Use automatic", which reloads with `auto`, and the tab goes live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chosen_transport_that_fails_offers_automatic() {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let url = format!("{}/?transport=shared-worker", server.base);
    let tab = browser
        .open_tab_with_script(&url, SHARED_WORKER_THROWS)
        .await;
    let offered = crate::harness::eventually(
        Duration::from_secs(20),
        "the chip to show the error and offer automatic",
        || async {
            let text = browser
                .run(
                    &tab,
                    "const b = document.querySelector('.chip .chip-action'); \
                     const c = document.querySelector('.chip'); \
                     return b && c ? c.textContent : null;",
                )
                .await;
            text.as_str().map(str::to_owned)
        },
    )
    .await;
    assert!(
        offered.contains("SharedWorker blocked: SecurityError"),
        "the chip says {offered:?}"
    );
    browser
        .run(
            &tab,
            "document.querySelector('.chip .chip-action').click(); return true;",
        )
        .await;
    let live = all_past(&browser, std::slice::from_ref(&tab), 0).await;
    assert_eq!(live[0].transport, "leader");
    let (_, reason) = chip(&browser, &tab).await;
    assert!(reason.contains("SharedWorker blocked"), "{reason}");
    let search = browser.run(&tab, "return location.search;").await;
    assert_eq!(
        search.as_str(),
        Some(""),
        "?transport= is gone after the reload"
    );
    browser.quit().await;
}
