//! The dashboard end to end: a board opened from its URL shows live panels, Back brings back the
//! board before, `/board` alone restores the last one, and every route renders (screenshots
//! into `test-output/screenshots/` for a person to look at).

use crate::harness::{eventually, Browser, Server};
use fantoccini::wd::WindowHandle;
use fantoccini::Locator;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// `[[truck, event id], …]` of the board's live panels, in display order.
const BOARD_PANELS: &str =
    "return Array.from(document.querySelectorAll('li.board-slot')).map(slot => {\
     const panel = slot.querySelector('.truck-panel[data-event-id]');\
     return [slot.dataset.truck, panel ? Number(panel.dataset.eventId) : null]; });";

#[derive(Debug, Clone, PartialEq)]
struct Panel {
    truck: String,
    /// None while the panel is still loading.
    event_id: Option<u64>,
}

async fn board_panels(browser: &Browser, tab: &WindowHandle) -> Vec<Panel> {
    let value = browser.run(tab, BOARD_PANELS).await;
    value
        .as_array()
        .map(|slots| {
            slots
                .iter()
                .map(|slot| Panel {
                    truck: slot[0].as_str().unwrap_or_default().to_owned(),
                    event_id: slot[1].as_u64(),
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn search(browser: &Browser, tab: &WindowHandle) -> String {
    let value = browser.run(tab, "return location.search;").await;
    value.as_str().unwrap_or_default().to_owned()
}

/// Waits until the board shows `trucks` in this order, each live, with `query` in the URL.
async fn board_shows(
    browser: &Browser,
    tab: &WindowHandle,
    trucks: &[&str],
    query: &str,
) -> Vec<Panel> {
    eventually(
        Duration::from_secs(30),
        &format!("the board to show {trucks:?} at {query}"),
        || async {
            let panels = board_panels(browser, tab).await;
            let order: Vec<&str> = panels.iter().map(|p| p.truck.as_str()).collect();
            let live = panels.iter().all(|p| p.event_id.is_some());
            (order == trucks && live && search(browser, tab).await == query).then_some(panels)
        },
    )
    .await
}

async fn click(browser: &Browser, tab: &WindowHandle, selector: &str) {
    browser
        .client
        .switch_to_window(tab.clone())
        .await
        .expect("switch tab");
    browser
        .client
        .find(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("no {selector}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_board_from_its_url_is_live_and_back_restores_the_board_before() {
    let server = Server::start(&["--trucks", "12", "--rate", "2"]).await;
    let browser = Browser::start().await;
    let tab = browser
        .open_tab(&format!("{}/board?trucks=T-01,T-02,T-03", server.base))
        .await;
    let first = board_shows(
        &browser,
        &tab,
        &["T-01", "T-02", "T-03"],
        "?trucks=T-01,T-02,T-03",
    )
    .await;
    eventually(
        Duration::from_secs(20),
        "every panel's data-event-id to grow",
        || async {
            let now = board_panels(&browser, &tab).await;
            let grew = now.len() == first.len()
                && now
                    .iter()
                    .zip(&first)
                    .all(|(n, f)| n.truck == f.truck && n.event_id > f.event_id);
            grew.then_some(())
        },
    )
    .await;
    eventually(Duration::from_secs(20), "a speed sparkline in every panel", || async {
        let lines = browser
            .run(&tab, "return document.querySelectorAll('li.board-slot .speed-trend polyline.sparkline-line').length;")
            .await;
        (lines.as_u64() == Some(3)).then_some(())
    })
    .await;

    // Two more boards, made in the app: remove T-02, then move T-03 left with the keyboard's
    // button. Each is a new history entry.
    click(
        &browser,
        &tab,
        "li.board-slot[data-truck='T-02'] button.close",
    )
    .await;
    board_shows(&browser, &tab, &["T-01", "T-03"], "?trucks=T-01,T-03").await;
    click(&browser, &tab, "button[aria-label='Move T-03 left']").await;
    board_shows(&browser, &tab, &["T-03", "T-01"], "?trucks=T-03,T-01").await;

    browser.run(&tab, "history.back(); return true;").await;
    board_shows(&browser, &tab, &["T-01", "T-03"], "?trucks=T-01,T-03").await;
    browser.run(&tab, "history.back(); return true;").await;
    let restored = board_shows(
        &browser,
        &tab,
        &["T-01", "T-02", "T-03"],
        "?trucks=T-01,T-02,T-03",
    )
    .await;
    eventually(
        Duration::from_secs(20),
        "T-02's restored panel to stay live",
        || async {
            let now = board_panels(&browser, &tab).await;
            let before = restored
                .iter()
                .find(|p| p.truck == "T-02")
                .and_then(|p| p.event_id);
            let after = now
                .iter()
                .find(|p| p.truck == "T-02")
                .and_then(|p| p.event_id);
            (after > before).then_some(())
        },
    )
    .await;

    // `/board` alone opens the last board shown, and puts it in the URL.
    browser
        .client
        .goto(&format!("{}/board", server.base))
        .await
        .expect("the page loads");
    board_shows(
        &browser,
        &tab,
        &["T-01", "T-02", "T-03"],
        "?trucks=T-01,T-02,T-03",
    )
    .await;
    browser.quit().await;
}

/// Where a page is ready to be looked at.
struct Page {
    name: &'static str,
    path: &'static str,
    /// A script returning true once the page shows what it is for.
    ready: &'static str,
}

const PAGES: [Page; 6] = [
    Page {
        name: "fleet",
        path: "/",
        ready: "return document.querySelectorAll('tr.truck-row').length > 0;",
    },
    Page {
        name: "board",
        path: "/board?trucks=T-01,T-02,T-03",
        ready: "return document.querySelectorAll('li.board-slot .stops li').length > 0 \
                && Array.from(document.querySelectorAll('li.board-slot .speed-trend svg.sparkline')) \
                   .filter(s => Number(s.dataset.points) >= 6).length === 3;",
    },
    Page {
        name: "truck",
        path: "/trucks/T-01",
        ready: "return !!document.querySelector('.truck-panel .stops li') \
                && Number(document.querySelector('.truck-panel .speed-trend svg.sparkline')?.dataset.points) >= 6;",
    },
    Page {
        name: "map",
        path: "/map",
        ready: "return document.querySelectorAll('.fleet-map .leaflet-marker-icon [data-truck]').length > 0 \
                && document.querySelectorAll('.fleet-map path.basemap-country').length > 0;",
    },
    Page {
        name: "diagnostics",
        path: "/diagnostics",
        ready: "return !!document.querySelector('.diagnostics dl');",
    },
    Page {
        name: "not-found",
        path: "/no/such/page",
        ready: "const h = document.querySelector('h1'); return !!h && h.textContent === 'Page not found';",
    },
];

pub(crate) fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("test-output/screenshots");
    std::fs::create_dir_all(&dir).expect("test-output/screenshots can be created");
    dir
}

async fn shoot(browser: &Browser, tab: &WindowHandle, base: &str, page: &Page, variant: &str) {
    browser
        .client
        .switch_to_window(tab.clone())
        .await
        .expect("switch tab");
    browser
        .client
        .goto(&format!("{base}{}", page.path))
        .await
        .expect("the page loads");
    eventually(
        Duration::from_secs(30),
        &format!("{} ({variant}) to render", page.path),
        || async { (browser.run(tab, page.ready).await == Value::Bool(true)).then_some(()) },
    )
    .await;
    let png = browser.client.screenshot().await.expect("a screenshot");
    assert!(
        png.len() > 1_000 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} ({variant}): not a PNG with content ({} bytes)",
        page.path,
        png.len()
    );
    let file = screenshot_dir().join(format!("{}-{variant}.png", page.name));
    std::fs::write(&file, &png).expect("the screenshot is written");
    let written = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    assert_eq!(written, png.len() as u64, "{} is complete", file.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_renders_at_desktop_and_phone_widths_in_light_and_dark() {
    let server = Server::start(&["--trucks", "24", "--rate", "2"]).await;
    let browser = Browser::start().await;
    let tab = browser.open_tab(&format!("{}/", server.base)).await;
    for (width, height, variant) in [(1280, 800, "desktop"), (390, 844, "phone")] {
        browser
            .client
            .set_window_size(width, height)
            .await
            .expect("the window resizes");
        for page in &PAGES {
            shoot(&browser, &tab, &server.base, page, variant).await;
        }
    }
    browser
        .client
        .set_window_size(1280, 800)
        .await
        .expect("the window resizes");
    browser
        .cdp(
            &tab,
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": "dark" }] }),
        )
        .await;
    for page in &PAGES {
        shoot(&browser, &tab, &server.base, page, "dark").await;
    }
    browser.quit().await;
}
