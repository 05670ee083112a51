//! The geographic map: Leaflet and the offline outlines load only when a map is first shown,
//! from the app's own origin; `/map` draws the outlines and one marker per truck; a truck's
//! position moves its marker in place; clicking a marker opens the truck's panel, whose own
//! small map shows the truck; no Content-Security-Policy violation and no request to another
//! origin on the way. Screenshots at desktop and phone widths into `test-output/screenshots/`.
//! With a tile server named in the `convoy-map-tiles` meta, the map draws its tiles and the
//! policy allows exactly that origin.

use crate::dashboard::screenshot_dir;
use crate::harness::{eventually, ingest_token_file, Browser, Server};
use crate::security::RECORD_VIOLATIONS;
use fantoccini::Locator;
use serde_json::{json, Value};
use std::time::Duration;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A position report, as a truck's unit sends it (Convoy derives the rest).
fn position(truck: &str, lat: f64, lon: f64) -> Value {
    json!({"type": "position", "truck": truck, "at_ms": now_ms(), "lat": lat, "lon": lon,
           "speed_kph": 80.0, "heading_deg": 135.0, "fuel_pct": 70.0, "driver_minutes_left": 300})
}

/// A trip from Chicago to Louisville by Indianapolis, planned from now.
fn plan(truck: &str) -> Value {
    let now = now_ms();
    json!({"type": "plan", "truck": truck, "plan": {"driver": "Ana Silva", "route_name": "I-65",
    "stops": [
        {"name": "Chicago", "lat": 41.8781, "lon": -87.6298, "planned_ms": now},
        {"name": "Indianapolis", "lat": 39.7684, "lon": -86.1581, "planned_ms": now + 3 * 3_600_000},
        {"name": "Louisville", "lat": 38.2527, "lon": -85.7585, "planned_ms": now + 5 * 3_600_000}
    ]}})
}

const TRUCKS: [(&str, f64, f64); 3] = [
    ("X-01", 41.5, -87.4),
    ("X-02", 40.4, -86.9),
    ("X-03", 38.9, -86.0),
];

/// The ids on the map's markers, the number of country and state outline paths, and every
/// resource the page has loaded (Performance entries).
const READ_MAP: &str = "return { \
     markers: [...document.querySelectorAll('.fleet-map .leaflet-marker-icon [data-truck]')] \
       .map(e => e.dataset.truck).sort(), \
     countries: document.querySelectorAll('.fleet-map path.basemap-country').length, \
     states: document.querySelectorAll('.fleet-map path.basemap-state').length, \
     resources: performance.getEntriesByType('resource').map(e => e.name) };";

/// The marker's centre on screen, tagging its element so a later read can tell it is the same one.
fn marker_at(truck: &str) -> String {
    format!(
        "const e = document.querySelector('.fleet-map .leaflet-marker-icon [data-truck=\"{truck}\"]'); \
         if (!e) return null; e.convoyTag = e.convoyTag || 'first'; \
         const r = e.getBoundingClientRect(); \
         return {{ x: r.x + r.width / 2, y: r.y + r.height / 2, tag: e.convoyTag }};"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_map_loads_on_demand_draws_every_truck_and_opens_a_panel() {
    let tokens = ingest_token_file("map");
    let tokens_arg = tokens.display().to_string();
    let server = Server::start(&["--trucks", "0", "--ingest-token-file", &tokens_arg]).await;
    // X-02 has reported for eight minutes before the page opens: its panel's speed chart and
    // trail come from the server's history, full at once.
    let start = now_ms();
    let mut events = vec![plan("X-02")];
    events.extend((0..4u64).map(|i| {
        let mut line = position("X-02", 40.9 - 0.1 * i as f64, -87.2 + 0.06 * i as f64);
        line["at_ms"] = json!(start - (8 - 2 * i) * 60_000);
        line
    }));
    for &(id, lat, lon) in &TRUCKS {
        if id != "X-02" {
            events.push(plan(id));
        }
        events.push(position(id, lat, lon));
    }
    server.ingest(events).await;

    let browser = Browser::start().await;
    let tab = browser
        .open_tab_with_script(&format!("{}/", server.base), RECORD_VIOLATIONS)
        .await;
    eventually(Duration::from_secs(30), "the fleet table", || async {
        let rows = browser
            .run(
                &tab,
                "return document.querySelectorAll('tr.truck-row').length;",
            )
            .await;
        (rows.as_u64() == Some(3)).then_some(())
    })
    .await;
    // The fleet page has loaded nothing of the map.
    let before = browser
        .run(
            &tab,
            "return { leaflet: typeof window.L, \
               map: performance.getEntriesByType('resource').map(e => e.name) \
                 .filter(n => n.includes('/map/') || n.includes('convoy-map')) };",
        )
        .await;
    assert_eq!(before["leaflet"], "undefined", "{before}");
    assert_eq!(before["map"], json!([]), "{before}");

    // Into the map through the app's own navigation: one document, so every request it made
    // stays in its Performance entries.
    browser
        .client
        .find(Locator::Css("nav a[href$='map']"))
        .await
        .expect("the nav bar links the map")
        .click()
        .await
        .expect("the map link clicks");
    let map = eventually(
        Duration::from_secs(30),
        "the map with its outlines and markers",
        || async {
            let map = browser.run(&tab, READ_MAP).await;
            (map["markers"].as_array().map(Vec::len) == Some(3)
                && map["countries"].as_u64() > Some(100))
            .then_some(map)
        },
    )
    .await;
    assert_eq!(
        map["markers"],
        json!(["X-01", "X-02", "X-03"]),
        "one marker per truck"
    );
    assert!(
        map["states"].as_u64() >= Some(1),
        "the US states' borders: {map}"
    );

    let shoot = |name: &'static str| {
        let browser = &browser;
        async move {
            let png = browser.client.screenshot().await.expect("a screenshot");
            assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
            std::fs::write(screenshot_dir().join(format!("{name}.png")), png)
                .expect("the screenshot is written");
        }
    };
    // Leaflet's fit and tiles settle after the markers appear.
    tokio::time::sleep(Duration::from_millis(500)).await;
    shoot("geo-map-desktop").await;

    // X-02 moves east and south: its marker moves, the same element, and the others stay.
    let (first, other) = (
        browser.run(&tab, &marker_at("X-02")).await,
        browser.run(&tab, &marker_at("X-01")).await,
    );
    server.ingest(vec![position("X-02", 39.9, -86.2)]).await;
    let moved = eventually(Duration::from_secs(20), "X-02's marker to move", || async {
        let now = browser.run(&tab, &marker_at("X-02")).await;
        let dx = now["x"].as_f64()? - first["x"].as_f64()?;
        let dy = now["y"].as_f64()? - first["y"].as_f64()?;
        (dx > 5.0 && dy > 5.0).then_some(now)
    })
    .await;
    assert_eq!(
        moved["tag"], "first",
        "the marker moved in place, not redrawn: {moved}"
    );
    assert_eq!(
        browser.run(&tab, &marker_at("X-01")).await,
        other,
        "another truck's marker stayed"
    );

    browser
        .client
        .set_window_size(390, 844)
        .await
        .expect("the window resizes");
    tokio::time::sleep(Duration::from_millis(500)).await;
    shoot("geo-map-phone").await;
    browser
        .client
        .set_window_size(1280, 800)
        .await
        .expect("the window resizes");

    // A real click on the marker opens its panel, with the truck on the panel's own map.
    eventually(
        Duration::from_secs(10),
        "X-02's marker to be clickable",
        || async {
            let marker = browser
                .client
                .find(Locator::Css(
                    ".fleet-map .leaflet-marker-icon [data-truck='X-02']",
                ))
                .await
                .ok()?;
            marker.click().await.ok()
        },
    )
    .await;
    eventually(
        Duration::from_secs(20),
        "X-02's panel with its map",
        || async {
            let shown = browser
                .run(
                    &tab,
                    "return location.pathname.endsWith('/trucks/X-02') \
                   && !!document.querySelector('.truck-panel[data-truck=\"X-02\"] \
                        .fleet-map.compact .leaflet-marker-icon [data-truck=\"X-02\"]');",
                )
                .await;
            (shown == Value::Bool(true)).then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    shoot("geo-map-panel-desktop").await;
    let caption = browser
        .run(
            &tab,
            "return document.querySelector('.truck-panel[data-truck=\"X-02\"] .speed-trend')\
               .textContent;",
        )
        .await;
    assert!(
        caption
            .as_str()
            .is_some_and(|c| c.contains("last 8 min") || c.contains("last 9 min")),
        "the speed chart shows the server's minutes at once: {caption}"
    );

    let end = browser
        .run(
            &tab,
            "return { violations: window.convoyCspViolations, origin: location.origin, \
               resources: performance.getEntriesByType('resource').map(e => e.name) };",
        )
        .await;
    assert_eq!(end["violations"], json!([]), "no CSP violation: {end}");
    let origin = end["origin"].as_str().expect("an origin");
    let resources: Vec<&str> = end["resources"]
        .as_array()
        .expect("resource entries")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for wanted in [
        "map/leaflet.js",
        "map/leaflet.css",
        "convoy-map.css",
        "map/countries.json",
        "map/states.json",
    ] {
        assert!(
            resources.iter().any(|r| r == &format!("{origin}/{wanted}")),
            "{wanted} came from the app's origin: {resources:?}"
        );
    }
    let elsewhere: Vec<&&str> = resources
        .iter()
        .filter(|r| !r.starts_with(&format!("{origin}/")))
        .collect();
    assert!(
        elsewhere.is_empty(),
        "requests left the origin: {elsewhere:?}"
    );
    browser.quit().await;
    let _ = std::fs::remove_file(tokens);
}

/// A 1×1 transparent PNG: every tile the test's tile server answers.
const TILE_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// A tile server on a loopback address of its own: answers every GET with [`TILE_PNG`] and
/// records the paths asked for.
async fn tile_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.2:0")
        .await
        .expect("a port on 127.0.0.2");
    let origin = format!("http://{}", listener.local_addr().expect("an address"));
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let png = base64::engine::general_purpose::STANDARD
        .decode(TILE_PNG)
        .expect("a PNG");
    let record = asked.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (record, png) = (record.clone(), png.clone());
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let n = stream.read(&mut head).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&head[..n]);
                let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
                record.lock().unwrap().push(path);
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\
                     Connection: close\r\n\r\n",
                    png.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.write_all(&png).await;
            });
        }
    });
    (origin, asked)
}

/// A copy of the build, `map/` included, whose `convoy-map-tiles` meta names `tiles`.
fn deployed_with_tiles(tiles: &str) -> std::path::PathBuf {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).expect("a temp dir");
        for entry in std::fs::read_dir(from).expect("a dist dir") {
            let entry = entry.expect("a dist entry");
            if entry.path().is_dir() {
                copy(&entry.path(), &to.join(entry.file_name()));
            } else {
                std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
            }
        }
    }
    let to = std::env::temp_dir().join(format!(
        "convoy-e2e-tiles-{}-{}",
        std::process::id(),
        crate::harness::free_port()
    ));
    let _ = std::fs::remove_dir_all(&to);
    copy(&Server::dist(), &to);
    let index = std::fs::read_to_string(to.join("index.html")).expect("index.html");
    let edited = index.replace(
        "<meta name=\"convoy-map-tiles\" content=\"\" />",
        &format!("<meta name=\"convoy-map-tiles\" content=\"{tiles}\" />"),
    );
    assert_ne!(edited, index, "the build has the convoy-map-tiles meta");
    std::fs::write(to.join("index.html"), edited).expect("write index.html");
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tile_server_named_in_the_meta_draws_the_map_and_joins_the_policy() {
    let (tiles, asked) = tile_server().await;
    let dist = deployed_with_tiles(&format!("{tiles}/t/{{z}}/{{x}}/{{y}}.png|Test tiles"));
    let server = Server::start_with_dist(dist.to_str().expect("a path"), &["--trucks", "3"]).await;
    let policy = reqwest::get(format!("{}/map", server.base))
        .await
        .expect("the page answers")
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("a policy");
    assert!(
        policy.contains(&format!("img-src 'self' data: {tiles};")),
        "{policy}"
    );

    let browser = Browser::start().await;
    let tab = browser
        .open_tab_with_script(&format!("{}/map", server.base), RECORD_VIOLATIONS)
        .await;
    let shown = eventually(Duration::from_secs(30), "markers on loaded tiles", || async {
        let shown = browser
            .run(
                &tab,
                "return { markers: document.querySelectorAll('.fleet-map .leaflet-marker-icon').length, \
                   tiles: document.querySelectorAll('.fleet-map img.leaflet-tile-loaded').length, \
                   outlines: document.querySelectorAll('.fleet-map path.basemap-country').length, \
                   attribution: document.querySelector('.leaflet-control-attribution')?.textContent, \
                   violations: window.convoyCspViolations, \
                   resources: performance.getEntriesByType('resource').map(e => e.name) };",
            )
            .await;
        (shown["markers"] == 3 && shown["tiles"].as_u64() > Some(0)).then_some(shown)
    })
    .await;
    assert_eq!(shown["violations"], json!([]), "no CSP violation: {shown}");
    assert_eq!(
        shown["outlines"], 0,
        "tiles instead of the outlines: {shown}"
    );
    assert!(
        shown["attribution"]
            .as_str()
            .is_some_and(|a| a.contains("Test tiles")),
        "{shown}"
    );
    let resources = shown["resources"].to_string();
    assert!(!resources.contains("countries.json"), "{resources}");
    let asked = asked.lock().unwrap().clone();
    assert!(
        !asked.is_empty()
            && asked
                .iter()
                .all(|p| p.starts_with("/t/") && p.ends_with(".png")),
        "{asked:?}"
    );
    browser.quit().await;
    let _ = std::fs::remove_dir_all(dist);
}
