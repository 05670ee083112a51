//! Connection states an operator can trust: every page, opened directly, goes live (the
//! header's chip is a view of the feed on every page); during an outage what the page shows is
//! marked stale with its age, and the marks go once the server is back.

use crate::dashboard::screenshot_dir;
use crate::harness::{eventually, with_full_diagnostics, Browser, Server};
use fantoccini::wd::WindowHandle;
use serde_json::json;
use std::time::Duration;

const SERVER_ARGS: [&str; 4] = ["--trucks", "6", "--rate", "2"];

/// The chip's class list and text in `tab`.
async fn chip(browser: &Browser, tab: &WindowHandle) -> (String, String) {
    let value = browser
        .run(
            tab,
            "const c = document.querySelector('.chip'); \
             return c ? [c.className, c.textContent] : ['', ''];",
        )
        .await;
    let field = |i: usize| value[i].as_str().unwrap_or_default().to_owned();
    (field(0), field(1))
}

async fn wait_live(browser: &Browser, tab: &WindowHandle, page: &str) -> String {
    eventually(
        Duration::from_secs(30),
        &format!("{page}'s chip to say Live"),
        || async {
            let (class, text) = chip(browser, tab).await;
            class.contains("chip-live").then_some(text)
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_opened_directly_goes_live() {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let tab = browser.open_tab(&format!("{}/settings", server.base)).await;
    for page in [
        "/settings",
        "/signin",
        "/no/such/page",
        "/diagnostics",
        "/",
        "/board?trucks=T-01",
        "/map",
        "/trucks/T-02",
    ] {
        browser
            .client
            .goto(&with_full_diagnostics(&format!("{}{page}", server.base)))
            .await
            .expect("the page loads");
        let text = wait_live(&browser, &tab, page).await;
        assert!(text.starts_with("Live"), "{page}: the chip says {text:?}");
        assert!(
            !text.contains("worker") && !text.contains("leader"),
            "{page}: the chip's words are the operator's, not the transport's: {text:?}"
        );
    }
    // Diagnostics opened directly counts the stream's events, like the others.
    browser
        .client
        .goto(&with_full_diagnostics(&format!(
            "{}/diagnostics",
            server.base
        )))
        .await
        .expect("the page loads");
    eventually(
        Duration::from_secs(30),
        "/diagnostics to count received events",
        || async {
            let received = browser
                .run(
                    &tab,
                    "const d = document.querySelector('[data-field=\"Events received\"] dd'); \
                     return d ? Number(d.textContent) : 0;",
                )
                .await;
            received.as_u64().filter(|n| *n > 0)
        },
    )
    .await;

    // A page that shows no truck still streams (heartbeats only), so its chip knows when the
    // server goes away.
    browser
        .client
        .goto(&with_full_diagnostics(&format!("{}/settings", server.base)))
        .await
        .expect("the page loads");
    wait_live(&browser, &tab, "/settings").await;
    eventually(
        Duration::from_secs(10),
        "the settings tab's stream",
        || async { (server.stats().await.open_streams == 1).then_some(()) },
    )
    .await;
    drop(server);
    eventually(
        Duration::from_secs(30),
        "/settings's chip to say the server is gone",
        || async {
            let (_, text) = chip(&browser, &tab).await;
            [
                "Reconnecting in",
                "Offline: showing",
                "The server cannot be reached",
            ]
            .iter()
            .any(|words| text.starts_with(words))
            .then_some(())
        },
    )
    .await;
    browser.quit().await;
}

/// Rows (`tr.truck-row`) marked stale in `tab`, and how many of them say their age.
async fn stale_rows(browser: &Browser, tab: &WindowHandle) -> (u64, u64) {
    let value = browser
        .run(
            tab,
            "const rows = [...document.querySelectorAll('tr.truck-row.stale')]; \
             return [rows.length, rows.filter(r => /Stale: last update \\d+ (s|min) ago/ \
                 .test(r.querySelector('.updated').textContent)).length];",
        )
        .await;
    (
        value[0].as_u64().unwrap_or(0),
        value[1].as_u64().unwrap_or(0),
    )
}

/// Panels marked stale because the feed is down in `tab`, and how many say their age.
async fn stale_panels(browser: &Browser, tab: &WindowHandle) -> (u64, u64) {
    let value = browser
        .run(
            tab,
            "const marks = [...document.querySelectorAll('.truck-panel.stale .freshness.offline')]; \
             return [marks.length, marks.filter(m => /last update \\d+ (s|min) ago/ \
                 .test(m.textContent)).length];",
        )
        .await;
    (
        value[0].as_u64().unwrap_or(0),
        value[1].as_u64().unwrap_or(0),
    )
}

async fn screenshot(browser: &Browser, tab: &WindowHandle, name: &str) {
    browser
        .client
        .switch_to_window(tab.clone())
        .await
        .expect("switch tab");
    let png = browser.client.screenshot().await.expect("a screenshot");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), png)
        .expect("the screenshot is written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_marks_rows_and_panels_stale_until_the_server_is_back() {
    let server = Server::start(&SERVER_ARGS).await;
    let (port, base) = (server.port, server.base.clone());
    let browser = Browser::start().await;
    let fleet = browser.open_tab(&format!("{base}/")).await;
    eventually(Duration::from_secs(30), "six rows", || async {
        let rows = browser
            .run(
                &fleet,
                "return document.querySelectorAll('tr.truck-row').length;",
            )
            .await;
        (rows.as_u64() == Some(6)).then_some(())
    })
    .await;
    wait_live(&browser, &fleet, "/").await;
    let board = browser
        .open_tab(&format!("{base}/board?trucks=T-01,T-02"))
        .await;
    eventually(Duration::from_secs(30), "two live panels", || async {
        let panels = browser
            .run(
                &board,
                "return document.querySelectorAll('.truck-panel:not(.loading)').length;",
            )
            .await;
        (panels.as_u64() == Some(2)).then_some(())
    })
    .await;
    assert_eq!(stale_panels(&browser, &board).await, (0, 0));
    assert_eq!(stale_rows(&browser, &fleet).await, (0, 0));

    drop(server);
    eventually(
        Duration::from_secs(30),
        "the board's panels marked stale, with their age",
        || async { (stale_panels(&browser, &board).await == (2, 2)).then_some(()) },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "every row marked stale, with its age, and the chip offline",
        || async {
            let rows = stale_rows(&browser, &fleet).await;
            let (_, text) = chip(&browser, &fleet).await;
            (rows == (6, 6) && text.starts_with("Offline: showing ")).then_some(())
        },
    )
    .await;
    // For a person to look at: the outage on the board, and on the overview at 1280 and 390 px.
    screenshot(&browser, &board, "outage-board-1280").await;
    screenshot(&browser, &fleet, "outage-fleet-1280").await;
    browser
        .cdp(
            &fleet,
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": true }),
        )
        .await;
    eventually(Duration::from_secs(10), "the phone's cards", || async {
        let narrow = browser
            .run(
                &fleet,
                "return getComputedStyle(document.querySelector('tr.truck-row')).display;",
            )
            .await;
        (narrow == "grid").then_some(())
    })
    .await;
    screenshot(&browser, &fleet, "outage-fleet-390").await;
    browser
        .cdp(&fleet, "Emulation.clearDeviceMetricsOverride", json!({}))
        .await;

    let server = Server::start_at(port, &Server::dist().display().to_string(), &SERVER_ARGS).await;
    eventually(
        Duration::from_secs(60),
        "the rows' marks to go once the server is back",
        || async {
            let rows = stale_rows(&browser, &fleet).await;
            let (class, _) = chip(&browser, &fleet).await;
            (rows == (0, 0) && class.contains("chip-live")).then_some(())
        },
    )
    .await;
    eventually(
        Duration::from_secs(30),
        "the panels' marks to go",
        || async { (stale_panels(&browser, &board).await == (0, 0)).then_some(()) },
    )
    .await;
    drop(server);
    browser.quit().await;
}

/// Two tabs share one stream, and each chip says so: in leader mode every tab hears the others;
/// in the worker modes the tabs hear only the worker, which tells them how many it serves.
async fn the_chip_says_how_many_tabs_share_the_stream(transport: &str) {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let first = browser
        .open_tab(&format!("{}/?transport={transport}", server.base))
        .await;
    wait_live(&browser, &first, "the first tab").await;
    let second = browser
        .open_tab(&format!("{}/settings?transport={transport}", server.base))
        .await;
    for (tab, which) in [(&second, "the second tab"), (&first, "the first tab")] {
        eventually(
            Duration::from_secs(30),
            &format!("{transport}: {which}'s chip to say it shares the stream"),
            || async {
                let (_, text) = chip(&browser, tab).await;
                (text == "Live, shared with 1 tab").then_some(())
            },
        )
        .await;
    }
    browser.close_tab(&second).await;
    eventually(
        Duration::from_secs(30),
        &format!("{transport}: the first tab's chip once the other is closed"),
        || async {
            let (_, text) = chip(&browser, &first).await;
            (text == "Live").then_some(())
        },
    )
    .await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chip_says_how_many_tabs_share_the_stream_in_leader_mode() {
    the_chip_says_how_many_tabs_share_the_stream("leader").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chip_says_how_many_tabs_share_the_shared_workers_stream() {
    the_chip_says_how_many_tabs_share_the_stream("shared-worker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chip_says_how_many_tabs_share_the_service_workers_stream() {
    the_chip_says_how_many_tabs_share_the_stream("service-worker").await;
}
