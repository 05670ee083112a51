//! One stream per browser: many real tabs, one upstream at the server, and failover that loses
//! and repeats nothing. The `direct` control shows what Convoy prevents: tab 7 stalls.

use crate::harness::{eventually, Browser, Diagnostics, Server};
use fantoccini::wd::WindowHandle;
use std::time::{Duration, Instant};

pub(crate) const TABS: usize = 12;
pub(crate) const SERVER_ARGS: [&str; 4] = ["--trucks", "20", "--rate", "2"];

pub(crate) async fn open_tabs(browser: &Browser, url: &str, count: usize) -> Vec<WindowHandle> {
    let mut tabs = Vec::new();
    for _ in 0..count {
        tabs.push(browser.open_tab(url).await);
    }
    tabs
}

/// Every tab's diagnostics, once every tab has received events past `after`.
pub(crate) async fn all_past(
    browser: &Browser,
    tabs: &[WindowHandle],
    after: u64,
) -> Vec<Diagnostics> {
    let limit = Duration::from_secs(45);
    let started = Instant::now();
    loop {
        let mut all = Vec::new();
        let mut lagging = Vec::new();
        for (i, tab) in tabs.iter().enumerate() {
            match browser.diagnostics(tab).await {
                Some(d) if d.last_event_id > after && !d.received.is_empty() => all.push(d),
                Some(d) => lagging.push(format!(
                    "tab {i}: {} ({}), leader {:?} term {}, upstream {}, last id {}, {} received, \
                     {} snapshots",
                    d.role,
                    d.transport,
                    d.leader_id,
                    d.term,
                    d.upstream,
                    d.last_event_id,
                    d.received.len(),
                    d.snapshots
                )),
                None => lagging.push(format!("tab {i}: app not started")),
            }
        }
        if lagging.is_empty() {
            return all;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for every tab to receive events after id {after}: {}",
            lagging.join("; ")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn leader_of(browser: &Browser, tabs: &[WindowHandle]) -> Option<(usize, Diagnostics)> {
    let mut found = None;
    for (i, tab) in tabs.iter().enumerate() {
        let diagnostics = browser.diagnostics(tab).await?;
        if diagnostics.role == "leader" {
            if found.is_some() {
                return None; // two leaders: not settled (or a bug the next check reports)
            }
            found = Some((i, diagnostics));
        }
    }
    found
}

pub(crate) async fn one_stream(server: &Server) {
    eventually(
        Duration::from_secs(20),
        "exactly one open stream",
        || async { (server.stats().await.open_streams == 1).then_some(()) },
    )
    .await;
}

/// Opens the tabs with `?transport={transport}` (a leader-election mode), checks one stream
/// serves them all, removes the leader with `remove`, and checks that another tab leads and that
/// no tab lost or repeated an event.
async fn failover(transport: &str, remove: impl AsyncFnOnce(&Browser, &WindowHandle)) {
    failover_in(Browser::start().await, transport, "", remove).await;
}

/// `failover` in `browser` (e.g. one whose hidden tabs are throttled), `query` added to the URL.
async fn failover_in(
    browser: Browser,
    transport: &str,
    query: &str,
    remove: impl AsyncFnOnce(&Browser, &WindowHandle),
) {
    let server = Server::start(&SERVER_ARGS).await;
    let url = format!("{}/?transport={transport}{query}", server.base);
    let mut tabs = open_tabs(&browser, &url, TABS).await;
    let before = all_past(&browser, &tabs, 0).await;
    one_stream(&server).await;
    for (i, diagnostics) in before.iter().enumerate() {
        assert_eq!(diagnostics.transport, transport);
        diagnostics.assert_contiguous(&format!("tab {i} before failover"));
    }
    let (leader_at, leader) = eventually(Duration::from_secs(10), "one leader", || async {
        leader_of(&browser, &tabs).await
    })
    .await;

    let latest = server.stats().await.latest_event_id;
    let removed_at = Instant::now();
    remove(&browser, &tabs[leader_at]).await;
    tabs.remove(leader_at);
    let (_, next) = eventually(Duration::from_secs(15), "a new leader", || async {
        leader_of(&browser, &tabs)
            .await
            .filter(|(_, d)| d.tab_id != leader.tab_id && d.term > leader.term)
    })
    .await;
    eprintln!(
        "new leader (term {}) seen {} ms after the old one went",
        next.term,
        removed_at.elapsed().as_millis()
    );
    let after = all_past(&browser, &tabs, latest + 100).await;
    one_stream(&server).await;
    for (i, diagnostics) in after.iter().enumerate() {
        diagnostics.assert_contiguous(&format!("tab {i} after failover"));
    }
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_tabs_share_one_stream_and_survive_the_leader_closing() {
    failover("leader", async |browser: &Browser, tab: &WindowHandle| {
        browser.close_tab(tab).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_tabs_survive_the_leader_renderer_crashing() {
    failover("leader", async |browser: &Browser, tab: &WindowHandle| {
        browser.crash_tab(tab).await;
        // A crashed tab stays open showing its error page; closing it is the user's next step.
        browser.close_tab(tab).await;
    })
    .await;
}

/// A leader whose hub runs on its main thread (the fallback where the hub's worker cannot
/// start; `?hub=main`) and whose main thread hangs keeps its Web Lock: the successor notices the
/// silence on the server's heartbeat clock, steals the lock and streams on; the hung tab, once it
/// runs again, has lost the lock and follows. Hidden tabs' timers are throttled here, as in real
/// browsers. (A hub in its worker keeps relaying instead: see `hub_worker`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twelve_tabs_survive_the_leader_hanging_with_its_lock() {
    let browser = Browser::start_throttled().await;
    failover_in(
        browser,
        "leader",
        "&hub=main",
        async |browser: &Browser, tab: &WindowHandle| {
            browser
                .cdp(
                    tab,
                    "Runtime.evaluate",
                    serde_json::json!({
                        "expression": "setTimeout(() => { const end = Date.now() + 8000; \
                                       while (Date.now() < end) {} }, 0); true"
                    }),
                )
                .await;
        },
    )
    .await;
}

/// The negative control: per-tab streams over HTTP/1.1 take the browser's six connections, and
/// the seventh tab cannot even load its page. This proves the tests above can tell.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_streams_stall_the_seventh_tab() {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let url = format!("{}/?transport=direct", server.base);
    let six = open_tabs(&browser, &url, 6).await;
    all_past(&browser, &six, 0).await;
    eventually(Duration::from_secs(20), "six open streams", || async {
        (server.stats().await.open_streams == 6).then_some(())
    })
    .await;
    // Chromedriver waits for a pending navigation before each command; don't let it wait long.
    browser
        .client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(10)),
            Some(Duration::from_secs(2)),
            None,
        ))
        .await
        .expect("timeouts");
    let seventh = browser.open_tab_no_wait(&url).await;
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(5) {
        assert!(
            browser.diagnostics(&seventh).await.is_none(),
            "tab 7 started its app although six streams hold every connection"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(server.stats().await.open_streams, 6);
    browser.quit().await;
}
