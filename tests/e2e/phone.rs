//! Every page at a phone's 390×844 fits its width: the document does not scroll sideways and no
//! element reaches past the right edge (unless an ancestor clips it out of sight; a scroll box
//! does not count, as what it hides is cut for the reader); the overview's cards, rendered only
//! near the screen, fill it wherever the list is scrolled. Screenshots of every page at 390 and
//! 1280 px wide go to `test-output/screenshots/` for a person to look at.

use crate::dashboard::screenshot_dir;
use crate::harness::{eventually, ingest_token_file, with_full_diagnostics, Browser, Server};
use fantoccini::wd::WindowHandle;
use serde_json::{json, Value};
use std::time::Duration;

/// A page, and a script returning true once it shows what it is for.
const PAGES: [(&str, &str, &str); 8] = [
    (
        "fleet",
        "/",
        "return document.querySelectorAll('tr.truck-row').length > 0 \
         && document.querySelectorAll('.alert-feed .alert-item button.ack').length >= 2;",
    ),
    (
        "board",
        "/board?trucks=T-001,T-002,T-003",
        "return document.querySelectorAll('li.board-slot .stops li').length > 0 \
         && document.querySelectorAll('#board-choices option').length > 0;",
    ),
    (
        "truck",
        "/trucks/T-001",
        "return !!document.querySelector('.truck-panel .stops li');",
    ),
    (
        "map",
        "/map",
        "return document.querySelectorAll('.fleet-map .leaflet-marker-icon [data-truck]').length > 0 \
         && document.querySelectorAll('.fleet-map path.basemap-country').length > 0;",
    ),
    (
        "diagnostics",
        "/diagnostics",
        "const d = document.querySelector('[data-field=\"Events received\"] dd'); \
         return !!d && Number(d.textContent) > 0;",
    ),
    (
        "settings",
        "/settings",
        "return !!document.querySelector('.settings dl') && !!document.querySelector('.chip-live');",
    ),
    (
        "signin",
        "/signin",
        "return !!document.querySelector('main h1') && !!document.querySelector('.chip-live');",
    ),
    (
        "not-found",
        "/no/such/page",
        "return !!document.querySelector('.not-found') && !!document.querySelector('.chip-live');",
    ),
];

/// What sticks out past the right edge: the document's scroll width against the viewport's,
/// and up to ten elements that end beyond it (not counting those an ancestor clips away).
const OVERFLOW: &str = "
    const vw = document.documentElement.clientWidth;
    const describe = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
        + (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\\s+/).join('.') : '')
        + ' \"' + (e.textContent || '').trim().slice(0, 30) + '\"';
    const clipped = e => {
        for (let a = e.parentElement; a; a = a.parentElement) {
            const s = getComputedStyle(a);
            if ((s.overflowX === 'hidden' || s.overflowX === 'clip')
                && a.getBoundingClientRect().right <= vw + 1) return true;
        }
        return false;
    };
    const beyond = [];
    for (const e of document.querySelectorAll('body *')) {
        const r = e.getBoundingClientRect();
        if (r.width === 0 || r.height === 0 || r.right <= vw + 1) continue;
        if (getComputedStyle(e).visibility === 'hidden' || clipped(e)) continue;
        beyond.push(describe(e) + ' ends at ' + Math.round(r.right));
    }
    return { viewport: vw, inner: window.innerWidth, scroll: document.scrollingElement.scrollWidth,
             beyond: beyond.slice(0, 10) };";

async fn emulate(browser: &Browser, tab: &WindowHandle, width: u64, height: u64, mobile: bool) {
    browser
        .cdp(
            tab,
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile }),
        )
        .await;
}

async fn open(browser: &Browser, tab: &WindowHandle, url: &str, ready: &str) {
    browser
        .client
        .goto(&with_full_diagnostics(url))
        .await
        .expect("the page loads");
    eventually(
        Duration::from_secs(30),
        &format!("{url} to render"),
        || async { (browser.run(tab, ready).await == Value::Bool(true)).then_some(()) },
    )
    .await;
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The overflow found now in `tab`, or None when the page fits a phone.
async fn overflow(browser: &Browser, tab: &WindowHandle) -> Option<Value> {
    let found = browser.run(tab, OVERFLOW).await;
    // A mobile viewport widens to content that does not fit: that is overflow too.
    let inner = found["inner"].as_u64().unwrap_or(u64::MAX);
    let scroll = found["scroll"].as_u64().unwrap_or(u64::MAX);
    let beyond = found["beyond"].as_array().is_none_or(|b| !b.is_empty());
    (inner > 390 || scroll > 390 || beyond).then_some(found)
}

async fn screenshot(browser: &Browser, name: &str) {
    let png = browser.client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{name}: not a PNG");
    std::fs::write(screenshot_dir().join(format!("{name}.png")), &png)
        .expect("the screenshot is written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_fits_a_phone_without_sideways_overflow() {
    let tokens = ingest_token_file("phone");
    let tokens_arg = tokens.display().to_string();
    let server = Server::start(&[
        "--trucks",
        "400",
        "--rate",
        "1",
        "--ingest-token-file",
        &tokens_arg,
    ])
    .await;
    // A truck of the test's own with two alerts, for the feed and the cards.
    let now = now_ms();
    server
        .ingest(vec![
            json!({"type": "position", "truck": "X-01", "at_ms": now, "lat": 41.2, "lon": -87.3, "speed_kph": 84.0}),
            json!({"type": "alert", "truck": "X-01", "at_ms": now,
               "alert": {"kind": "temperature", "message": "Reefer at 9.5 °C, above its band", "raised_ms": now}}),
            json!({"type": "alert", "truck": "X-01", "at_ms": now,
               "alert": {"kind": "driver_hours", "message": "Driver has 20 min of driving left", "raised_ms": now}}),
        ])
        .await;
    let browser = Browser::start().await;
    let tab = browser.open_tab(&format!("{}/", server.base)).await;
    let mut failures = Vec::new();
    for (name, path, ready) in PAGES {
        let url = format!("{}{path}", server.base);
        emulate(&browser, &tab, 390, 844, true).await;
        open(&browser, &tab, &url, ready).await;
        screenshot(&browser, &format!("{name}-390")).await;
        if let Some(found) = overflow(&browser, &tab).await {
            failures.push(format!("{name}: {found}"));
        }
        if name == "fleet" {
            // Cards out of view are spacers of a card's height: wherever the list is scrolled,
            // the middle of the screen shows a card, not a blank spacer.
            for at in [0.25, 0.5, 0.75, 1.0] {
                let script = format!(
                    "const s = document.scrollingElement; \
                     s.scrollTop = (s.scrollHeight - innerHeight) * {at}; return true;"
                );
                browser.run(&tab, &script).await;
                eventually(Duration::from_secs(5), &format!("a card mid-screen at {at}"), || async {
                    let hit = browser
                        .run(&tab, "const e = document.elementFromPoint(innerWidth / 2, innerHeight / 2); \
                                    return !!(e && e.closest('tr.truck-row'));")
                        .await;
                    (hit == Value::Bool(true)).then_some(())
                })
                .await;
            }
            browser
                .run(
                    &tab,
                    "document.scrollingElement.scrollTop = 0; return true;",
                )
                .await;
            // The header's menu, opened.
            browser
                .run(
                    &tab,
                    "document.querySelector('.menu-toggle').click(); return true;",
                )
                .await;
            eventually(Duration::from_secs(5), "the menu to open", || async {
                let open = browser
                    .run(&tab, "return document.querySelector('#nav-menu nav').getBoundingClientRect().height > 0;")
                    .await;
                (open == Value::Bool(true)).then_some(())
            })
            .await;
            screenshot(&browser, "menu-390").await;
            if let Some(found) = overflow(&browser, &tab).await {
                failures.push(format!("the open menu: {found}"));
            }
        }
        emulate(&browser, &tab, 1280, 800, false).await;
        open(&browser, &tab, &url, ready).await;
        screenshot(&browser, &format!("{name}-1280")).await;
    }
    assert!(
        failures.is_empty(),
        "pages wider than a phone:\n{}",
        failures.join("\n")
    );
    browser.quit().await;
}
