//! Each tab's hub in its dedicated worker: a leader tab whose main thread hangs keeps relaying
//! (its worker holds the lock and the stream, so no failover is needed), and a tab whose worker
//! cannot start runs its hub on the main thread and says why.

use crate::harness::{eventually, Browser, Diagnostics, Server};
use crate::shared_stream::{all_past, one_stream, open_tabs, SERVER_ARGS};
use fantoccini::wd::WindowHandle;
use serde_json::Value;
use std::time::Duration;

const TABS: usize = 4;
const HANG_MS: u64 = 12_000;

/// What a hang leaves: for each other tab the ids it received while the leader hung, the
/// leader's (tab id, term) before and after, and every tab's diagnostics at the end.
type Hang = (Vec<Vec<u64>>, (u64, u64), (u64, u64), Vec<Diagnostics>);

/// Where `tab`'s hub runs, and why not in a worker: `convoyDiagnostics().hub` and the chip's.
async fn hub_place(browser: &Browser, tab: &WindowHandle) -> (String, String, String) {
    let value = browser
        .run(
            tab,
            "const d = window.convoyDiagnostics && window.convoyDiagnostics(); \
             const c = document.querySelector('.chip'); \
             return [d ? d.hub : '', c ? c.dataset.hub || '' : '', \
                     c ? c.dataset.hubReason || '' : ''];",
        )
        .await;
    let field = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
    (field(0), field(1), field(2))
}

/// The browser's clock (`Date.now()`) as `tab` reads it.
async fn browser_now(browser: &Browser, tab: &WindowHandle) -> u64 {
    browser
        .run(tab, "return Date.now();")
        .await
        .as_f64()
        .expect("Date.now() is a number") as u64
}

/// `tab`'s deliveries as (id, received at, browser ms).
async fn deliveries(browser: &Browser, tab: &WindowHandle) -> Vec<(u64, u64)> {
    let value = browser
        .run(
            tab,
            "const d = window.convoyDiagnostics(); return [d.received, d.receivedAtMs];",
        )
        .await;
    let numbers = |v: &Value| -> Vec<u64> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_f64)
                    .map(|n| n as u64)
                    .collect()
            })
            .unwrap_or_default()
    };
    numbers(&value[0])
        .into_iter()
        .zip(numbers(&value[1]))
        .collect()
}

async fn leader(browser: &Browser, tabs: &[WindowHandle]) -> (usize, Diagnostics) {
    eventually(Duration::from_secs(30), "one leader", || async {
        let mut leaders = Vec::new();
        for (i, tab) in tabs.iter().enumerate() {
            let d = browser.diagnostics(tab).await?;
            if d.role == "leader" {
                leaders.push((i, d));
            }
        }
        (leaders.len() == 1).then(|| leaders.remove(0))
    })
    .await
}

/// Hangs the leader tab's main thread for [`HANG_MS`] among tabs of `/{query}`; returns, for each other
/// tab, the ids it received while the leader was hung (from 1 s after the hang began to 1 s
/// before it ended), the leader (tab id, term) before and after, and every tab's final
/// diagnostics (the hung one's too).
async fn hang_the_leader(query: &str) -> Hang {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let tabs = open_tabs(&browser, &format!("{}/{query}", server.base), TABS).await;
    all_past(&browser, &tabs, 0).await;
    one_stream(&server).await;
    let (victim, before) = leader(&browser, &tabs).await;
    // chromedriver waits for a busy page before it answers, so the loop starts at a set time.
    let start = browser
        .run(
            &tabs[victim],
            &format!(
                "const start = Date.now() + 300; \
                 setTimeout(() => {{ const end = start + {HANG_MS}; while (Date.now() < end) {{}} }}, \
                            300); \
                 return start;"
            ),
        )
        .await
        .as_u64()
        .expect("the hang's start");
    // The newest event at the server once the hang has surely begun: a follower must get
    // events past it while the leader is still hung.
    // The clock is read in a tab that is not hung (chromedriver waits for a busy page).
    let clock = &tabs[(victim + 1) % tabs.len()];
    let wait = (start + 1_000).saturating_sub(browser_now(&browser, clock).await);
    tokio::time::sleep(Duration::from_millis(wait)).await;
    let newest = server.stats().await.latest_event_id;
    let mut during = Vec::new();
    for (i, tab) in tabs.iter().enumerate() {
        if i == victim {
            continue;
        }
        // Reading a tab shows it; a hidden page's worker hands it what it held once shown, so
        // read again until the new events are in (or the hang nears its end).
        let mut ids = Vec::new();
        while ids.is_empty() && browser_now(&browser, tab).await < start + HANG_MS - 2_000 {
            ids = deliveries(&browser, tab)
                .await
                .into_iter()
                .filter(|(id, at)| {
                    *id > newest && (start + 1_000..start + HANG_MS - 1_000).contains(at)
                })
                .map(|(id, _)| id)
                .collect();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        during.push(ids);
    }
    tokio::time::sleep(Duration::from_millis(
        (start + HANG_MS).saturating_sub(browser_now(&browser, clock).await),
    ))
    .await;
    // After the hang every tab, the hung one too, goes on with nothing lost or repeated.
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    let latest = server.stats().await.latest_event_id;
    let after = all_past(&browser, &tabs, latest + 10).await;
    let (_, now) = leader(&browser, &tabs).await;
    one_stream(&server).await;
    browser.quit().await;
    (
        during,
        (before.tab_id, before.term),
        (now.tab_id, now.term),
        after,
    )
}

/// The leader tab's main thread hangs for 12 s: the hub in its worker keeps the lock and the
/// stream and keeps relaying, so the other tabs go on receiving with no failover (same leader,
/// same term), and no tab loses or repeats an event.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_leader_tab_keeps_relaying_from_its_worker() {
    let (during, before, after, all) = hang_the_leader("?transport=leader").await;
    for (i, ids) in during.iter().enumerate() {
        assert!(
            !ids.is_empty(),
            "follower {i} received nothing while the leader's main thread hung"
        );
        for pair in ids.windows(2) {
            assert_eq!(pair[1], pair[0] + 1, "follower {i} during the hang");
        }
    }
    assert_eq!(
        before, after,
        "the leader (tab id, term) changed: the hung tab's hub stopped relaying"
    );
    for (i, d) in all.iter().enumerate() {
        d.assert_contiguous(&format!("tab {i} after the hang"));
    }
}

/// The control: with the hub on the main thread (`?hub=main`), the hung leader stops relaying
/// and the others must replace it (a new term), which the test above rules out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_a_hung_leader_with_its_hub_on_the_main_thread_is_replaced() {
    let (_, before, after, all) = hang_the_leader("?transport=leader&hub=main").await;
    assert!(
        after.1 > before.1,
        "a hung main-thread hub was not replaced: before {before:?}, after {after:?}"
    );
    for (i, d) in all.iter().enumerate() {
        d.assert_contiguous(&format!("tab {i} after the hang"));
    }
}

/// Opens [`TABS`] tabs of `dist` under `script`, checks they go live on one stream with
/// nothing lost or repeated, their hub on the main thread, and the chip says why.
async fn live_on_the_main_thread(dist: Option<&str>, script: &str, why: &str) {
    let server = match dist {
        Some(dist) => Server::start_with_dist(dist, &SERVER_ARGS).await,
        None => Server::start(&SERVER_ARGS).await,
    };
    let browser = Browser::start().await;
    let url = format!("{}/?transport=leader", server.base);
    let mut tabs = Vec::new();
    for _ in 0..TABS {
        tabs.push(browser.open_tab_with_script(&url, script).await);
    }
    all_past(&browser, &tabs, 0).await;
    one_stream(&server).await;
    let latest = server.stats().await.latest_event_id;
    let after = all_past(&browser, &tabs, latest + 10).await;
    for (i, d) in after.iter().enumerate() {
        d.assert_contiguous(&format!("tab {i}"));
        let (hub, chip_hub, chip_why) = hub_place(&browser, &tabs[i]).await;
        assert_eq!(
            (hub.as_str(), chip_hub.as_str()),
            ("main-thread", "main-thread"),
            "tab {i}"
        );
        assert!(
            chip_why.contains(why),
            "tab {i}'s chip says {chip_why:?}, not {why:?}"
        );
    }
    browser.quit().await;
}

/// A deploy that lost the worker's loader: the worker never answers, and the tabs run their
/// hub on the main thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_hub_worker_script_leaves_the_hub_on_the_main_thread() {
    let dist =
        std::env::temp_dir().join(format!("convoy-e2e-no-hub-worker-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dist);
    std::fs::create_dir_all(&dist).expect("a temp dir");
    for entry in std::fs::read_dir(Server::dist()).expect("the dist dir") {
        let entry = entry.expect("a dist entry");
        let name = entry.file_name();
        if entry.path().is_file()
            && !name
                .to_string_lossy()
                .starts_with("convoy-hub-worker_loader")
        {
            std::fs::copy(entry.path(), dist.join(&name)).expect("copy");
        }
    }
    live_on_the_main_thread(dist.to_str(), "", "dedicated worker: no answer").await;
    let _ = std::fs::remove_dir_all(&dist);
}

/// The Worker constructor throws (a policy, a `worker-src` CSP some engines check at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_constructor_that_throws_leaves_the_hub_on_the_main_thread() {
    live_on_the_main_thread(
        None,
        "window.Worker = function () { \
           throw new DOMException('blocked by policy', 'SecurityError'); };",
        "dedicated worker blocked: SecurityError",
    )
    .await;
}

/// With the worker, every tab says its hub runs there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_and_direct_tabs_run_their_hub_in_a_worker() {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    for transport in ["leader", "direct"] {
        let url = format!("{}/?transport={transport}", server.base);
        let tabs = open_tabs(&browser, &url, 2).await;
        all_past(&browser, &tabs, 0).await;
        for tab in &tabs {
            let (hub, chip_hub, why) = hub_place(&browser, tab).await;
            assert_eq!(
                (hub.as_str(), chip_hub.as_str(), why.as_str()),
                ("worker", "worker", "")
            );
        }
    }
    browser.quit().await;
}
