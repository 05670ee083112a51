//! Accessibility: Lighthouse's accessibility audit (axe-core, with Lighthouse's rules and
//! weights) scores every page 100 in light and dark at 1280 and 390 px, in the installed
//! Chromium against the real server; the map's markers and the board's panels work from the
//! keyboard; a reefer's panel draws its temperature over the trip from the server's track.

use crate::dashboard::screenshot_dir;
use crate::harness::{
    eventually, ingest_token_file, with_full_diagnostics, Browser, Server, INGEST_TOKEN,
};
use fantoccini::key::Key;
use fantoccini::wd::WindowHandle;
use fantoccini::Locator;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Every page, and a script returning true once it shows what it is for.
const PAGES: [(&str, &str, &str); 8] = [
    (
        "fleet",
        "/",
        "return document.querySelectorAll('tr.truck-row').length > 0 \
         && !!document.querySelector('.chip-live');",
    ),
    (
        "truck",
        "/trucks/T-07",
        "return !!document.querySelector('.truck-panel .stops li') \
         && !!document.querySelector('.truck-panel .leaflet-marker-icon');",
    ),
    (
        "board",
        "/board?trucks=T-01,T-02,T-03",
        "return document.querySelectorAll('li.board-slot .stops li').length > 0 \
         && document.querySelectorAll('#board-choices option').length > 0;",
    ),
    (
        "map",
        "/map",
        "return document.querySelectorAll('.fleet-map .leaflet-marker-icon [data-truck]').length > 0 \
         && document.querySelectorAll('.fleet-map path.basemap-country').length > 0;",
    ),
    (
        "settings",
        "/settings",
        "return !!document.querySelector('.settings dl') && !!document.querySelector('.chip-live');",
    ),
    (
        "diagnostics",
        "/diagnostics",
        "const d = document.querySelector('[data-field=\"Events received\"] dd'); \
         return !!d && Number(d.textContent) > 0;",
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

/// Where `cargo xtask tools` installs Lighthouse (`CONVOY_LIGHTHOUSE`, else the checkout's
/// `.tools/lighthouse`).
fn lighthouse_dir() -> PathBuf {
    std::env::var("CONVOY_LIGHTHOUSE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/lighthouse"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lighthouse_scores_every_page_100_in_light_and_dark_on_desktop_and_phone() {
    let dir = lighthouse_dir();
    assert!(
        dir.join("node_modules/lighthouse").is_dir(),
        "Lighthouse is missing from {}: run `cargo xtask tools`",
        dir.display()
    );
    let server = Server::start(&["--trucks", "40", "--rate", "1"]).await;
    let pages: Vec<Value> = PAGES
        .iter()
        .map(|(name, path, ready)| json!({ "name": name, "path": path, "ready": ready }))
        .collect();
    let job = json!({
        "base": server.base,
        "widths": [1280, 390],
        "themes": ["light", "dark"],
        "pages": pages,
        "screenshots": screenshot_dir(),
    });
    let job_file = std::env::temp_dir().join(format!(
        "convoy-e2e-lighthouse-{}-{}.json",
        std::process::id(),
        server.port
    ));
    std::fs::write(&job_file, job.to_string()).expect("the job is written");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/lighthouse_a11y.mjs");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .arg(dir)
            .arg("/usr/bin/chromium")
            .arg(&job_file)
            .output()
    })
    .await
    .expect("the audit's thread")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the audit failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON result a line"))
        .collect();
    assert_eq!(results.len(), PAGES.len() * 2 * 2, "{stdout}");
    let mut findings = Vec::new();
    for r in &results {
        let failures = r["failures"].as_array().cloned().unwrap_or_default();
        eprintln!(
            "{} at {} px, {}: {}",
            r["page"], r["width"], r["theme"], r["score"]
        );
        if r["score"] != json!(100) || !failures.is_empty() {
            let mut finding = format!(
                "{} at {} px, {}: score {}",
                r["page"], r["width"], r["theme"], r["score"]
            );
            for f in failures {
                finding.push_str(&format!("\n  {}: {}", f["rule"], f["title"]));
                for node in f["nodes"].as_array().into_iter().flatten() {
                    finding.push_str(&format!("\n    {}", node.as_str().unwrap_or_default()));
                }
            }
            findings.push(finding);
        }
    }
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

/// The element with focus: its tag, class and the truck it stands for.
async fn focused(browser: &Browser, tab: &WindowHandle) -> Value {
    browser
        .run(
            tab,
            "const e = document.activeElement; \
             const t = e && (e.closest('[data-truck]') || e.querySelector('[data-truck]')); \
             return { cls: String(e && e.className || ''), truck: t ? t.dataset.truck : null };",
        )
        .await
}

async fn press(browser: &Browser, key: &str) {
    browser
        .client
        .active_element()
        .await
        .expect("a focused element")
        .send_keys(key)
        .await
        .expect("the key is sent");
}

async fn path_and_query(browser: &Browser) -> String {
    let url = browser.client.current_url().await.expect("a URL");
    match url.query() {
        Some(q) => format!("{}?{}", url.path(), q),
        None => url.path().to_owned(),
    }
}

/// Tabs from the page's start to the first map marker, as a keyboard user does; its truck.
async fn tab_to_a_marker(browser: &Browser, tab: &WindowHandle) -> String {
    browser
        .run(
            tab,
            "document.activeElement && document.activeElement.blur(); return true;",
        )
        .await;
    for _ in 0..60 {
        press(browser, &Key::Tab.to_string()).await;
        let now = focused(browser, tab).await;
        if now["cls"]
            .as_str()
            .unwrap_or_default()
            .contains("leaflet-marker-icon")
        {
            return now["truck"]
                .as_str()
                .expect("a marker names its truck")
                .to_owned();
        }
    }
    panic!("60 presses of Tab never reached a map marker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_markers_and_board_panels_work_from_the_keyboard() {
    let server = Server::start(&["--trucks", "12", "--rate", "1"]).await;
    let browser = Browser::start().await;
    let map = format!("{}/map", server.base);
    let tab = browser.open_tab(&map).await;
    let markers = "return document.querySelectorAll('.fleet-map .leaflet-marker-icon[role=\"button\"][tabindex=\"0\"] [data-truck]').length > 0;";
    for key in [Key::Enter.to_string(), " ".to_owned()] {
        let named = if key == " " { "Space" } else { "Enter" };
        eventually(Duration::from_secs(30), "the map's markers", || async {
            (browser.run(&tab, markers).await == json!(true)).then_some(())
        })
        .await;
        let truck = tab_to_a_marker(&browser, &tab).await;
        press(&browser, &key).await;
        let want = format!("/trucks/{truck}");
        eventually(
            Duration::from_secs(10),
            &format!("{named} on {truck}'s marker to open its panel"),
            || async { (path_and_query(&browser).await == want).then_some(()) },
        )
        .await;
        browser
            .client
            .goto(&with_full_diagnostics(&map))
            .await
            .expect("back to the map");
    }

    // The board: focus a panel's handle and move it with the arrow keys and End.
    browser
        .client
        .goto(&with_full_diagnostics(&format!(
            "{}/board?trucks=T-01,T-02,T-03",
            server.base
        )))
        .await
        .expect("the board loads");
    let handle = eventually(Duration::from_secs(30), "T-01's handle", || async {
        browser
            .client
            .find(Locator::Css("li[data-truck='T-01'] button.drag-handle"))
            .await
            .ok()
    })
    .await;
    browser
        .client
        .execute("arguments[0].focus(); return true;", vec![json!(handle)])
        .await
        .expect("focus the handle");
    let announced = "return document.querySelector('.board [role=status]').textContent;";
    for (key, named, want, said) in [
        (
            Key::Right.to_string(),
            "ArrowRight",
            "/board?trucks=T-02,T-01,T-03",
            "Moved T-01 to position 2 of 3.",
        ),
        (
            Key::End.to_string(),
            "End",
            "/board?trucks=T-02,T-03,T-01",
            "Moved T-01 to position 3 of 3.",
        ),
        (
            Key::Up.to_string(),
            "ArrowUp",
            "/board?trucks=T-02,T-01,T-03",
            "Moved T-01 to position 2 of 3.",
        ),
    ] {
        press(&browser, &key).await;
        eventually(
            Duration::from_secs(10),
            &format!("{named} on T-01's handle to move it ({want})"),
            || async { (path_and_query(&browser).await == want).then_some(()) },
        )
        .await;
        let order = browser
            .run(
                &tab,
                "return [...document.querySelectorAll('li.board-slot')].map(l => l.dataset.truck).join(',');",
            )
            .await;
        assert_eq!(
            order.as_str(),
            want.strip_prefix("/board?trucks="),
            "{named}"
        );
        assert_eq!(
            browser.run(&tab, announced).await.as_str(),
            Some(said),
            "{named}"
        );
        let now = focused(&browser, &tab).await;
        assert!(
            now["cls"]
                .as_str()
                .unwrap_or_default()
                .contains("drag-handle")
                && now["truck"] == json!("T-01"),
            "{named}: focus stays on T-01's handle, not {now}"
        );
    }
    browser.quit().await;
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The text of the first element matching `selector` in `tab`, or None.
async fn text_of(browser: &Browser, tab: &WindowHandle, selector: &str) -> Option<String> {
    let script = format!(
        "const e = document.querySelector({}); return e ? e.textContent : null;",
        json!(selector)
    );
    browser.run(tab, &script).await.as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reefers_panel_charts_its_temperature_from_the_track_and_a_dry_truck_says_not_reported() {
    let tokens = ingest_token_file("reefer");
    let tokens_arg = tokens.display().to_string();
    let server = Server::start(&["--trucks", "0", "--ingest-token-file", &tokens_arg]).await;
    let start = now_ms() - 20 * 60_000;
    let plan = json!({
        "driver": "Dana Reyes",
        "route_name": "Chicago - Indianapolis",
        "stops": [
            {"name": "Chicago", "lat": 41.8781, "lon": -87.6298, "planned_ms": start},
            {"name": "Indianapolis", "lat": 39.7684, "lon": -86.1581,
             "planned_ms": start + 240 * 60_000, "radius_m": 500}
        ],
        "reefer_band": {"min_c": 2.0, "max_c": 8.0}
    });
    let http = reqwest::Client::new();
    let put = http
        .put(format!("{}/api/trucks/R-1/plan", server.base))
        .bearer_auth(INGEST_TOKEN)
        .body(plan.to_string())
        .send()
        .await
        .expect("the plan is sent");
    assert!(put.status().is_success(), "{:?}", put.text().await);
    // Six readings a minute apart, the last two out of the band; then nothing more, so only
    // the server's track can give the chart more than one point.
    const READINGS: [f32; 6] = [4.0, 4.5, 5.0, 6.5, 8.5, 9.5];
    let mut events: Vec<Value> = (0..6u64)
        .map(|i| {
            json!({"type": "position", "truck": "R-1", "at_ms": start + (10 + i) * 60_000,
                   "lat": 41.8 - i as f64 * 0.02, "lon": -87.6 + i as f64 * 0.01,
                   "speed_kph": 70.0, "reefer_c": READINGS[i as usize]})
        })
        .collect();
    events.push(
        json!({"type": "position", "truck": "D-1", "at_ms": start + 15 * 60_000,
                       "lat": 40.0, "lon": -86.0, "speed_kph": 60.0}),
    );
    assert_eq!(server.ingest(events).await.len(), 7);

    let browser = Browser::start().await;
    let tab = browser
        .open_tab(&format!("{}/trucks/R-1", server.base))
        .await;
    let chart = ".truck-panel .reefer-trend svg.sparkline";
    let drawn = eventually(Duration::from_secs(30), "R-1's reefer chart", || async {
        let got = browser
            .run(
                &tab,
                &format!(
                    "const s = document.querySelector('{chart}'); \
                     return s && Number(s.dataset.points) === 6 \
                       ? {{ label: s.getAttribute('aria-label'), outside: s.dataset.outside, \
                            band: !!s.querySelector('rect.sparkline-band'), \
                            line: !!s.querySelector('polyline.sparkline-line') }} : null;"
                ),
            )
            .await;
        (!got.is_null()).then_some(got)
    })
    .await;
    assert_eq!(drawn["band"], json!(true), "{drawn}");
    assert_eq!(drawn["line"], json!(true), "{drawn}");
    assert_eq!(drawn["outside"], json!("2"), "{drawn}");
    let label = drawn["label"].as_str().unwrap_or_default();
    assert!(
        label.contains("between 4.0 and 9.5 °C")
            && label.contains("band 2.0 to 8.0 °C, 2 of 6 readings outside it"),
        "{label}"
    );
    let fact = text_of(&browser, &tab, ".truck-panel .facts div:nth-child(5) dd").await;
    assert_eq!(fact.as_deref(), Some("9.5 °C band 2…8 °C"));

    browser
        .client
        .goto(&with_full_diagnostics(&format!(
            "{}/trucks/D-1",
            server.base
        )))
        .await
        .expect("D-1's page");
    let said = eventually(Duration::from_secs(30), "D-1's reefer line", || async {
        text_of(
            &browser,
            &tab,
            ".truck-panel .reefer-trend .sparkline-empty",
        )
        .await
    })
    .await;
    assert_eq!(said, "Reefer temperature: not reported");
    assert!(
        text_of(&browser, &tab, ".truck-panel .reefer-trend svg")
            .await
            .is_none(),
        "no chart without readings"
    );
    let fact = text_of(&browser, &tab, ".truck-panel .facts div:nth-child(5) dd").await;
    assert_eq!(fact.as_deref(), Some("not reported"));
    browser.quit().await;
}
