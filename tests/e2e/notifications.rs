//! Desktop notifications (issue 12, items 1 and 4) in real Chromium: six tabs of one browser,
//! in leader mode (the leader closed in the middle of the burst) and in each worker mode, with
//! the permission granted through the DevTools protocol and notifications turned on in
//! /settings. Alerts are pushed through ingest. Each raised alert is notified exactly once by
//! the browser, and an alert cleared within the hold never.
//!
//! Counted through the browser, not the app: every call of
//! `ServiceWorkerRegistration.prototype.showNotification` and `getNotifications` is recorded
//! with its caller by a wrapper installed before any of Convoy's code runs, in every tab (a
//! DevTools script, recording in localStorage, which outlives a tab closed mid-burst) and in
//! the service worker (the same script prepended to the served `sw.js`, recording in Cache
//! Storage); and `getNotifications()` lists what the browser holds. A repeat would be a second
//! show of a tag (the browser itself replaces the notification of a repeated tag, so what it
//! holds cannot show one). Since each show is preceded by a check that skips a tag the browser
//! holds, a follower deciding too would not show twice; so the test also asserts who did what:
//! only the service worker checks and shows, and only the leaders (the closed one and its
//! successor), or the one tab a SharedWorker picks, hand it notices.

use crate::harness::{eventually, free_port, ingest_token_file, Browser, Diagnostics, Server};
use fantoccini::wd::WindowHandle;
use fantoccini::Locator;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const TABS: usize = 6;

/// Records each `showNotification` call (its tag), each `getNotifications` call (every check
/// before a show or a close makes one) and each notice a tab posts to the service worker, with
/// the caller: a tab's id (kept in its sessionStorage, so a navigation keeps it) or
/// "service-worker". Kept where it survives the caller: localStorage in a window, Cache Storage
/// in the service worker (which has no localStorage).
const COUNT_SHOWS: &str = r#"(() => {
  const proto = self.ServiceWorkerRegistration && self.ServiceWorkerRegistration.prototype;
  if (!proto || proto.e2eCounted) return;
  proto.e2eCounted = true;
  let caller = "service-worker";
  if (self.sessionStorage) {
    caller = sessionStorage.getItem("e2e-tab") || Math.random().toString(36).slice(2);
    sessionStorage.setItem("e2e-tab", caller);
  }
  const record = (key) => {
    key += "/" + caller + "/" + Date.now() + "-" + Math.random();
    if (self.localStorage) self.localStorage.setItem(key, "1");
    else caches.open("e2e-shown").then((cache) => cache.put(key, new Response("1")));
  };
  const show = proto.showNotification;
  const list = proto.getNotifications;
  // For the test's own reading, which is not the app's.
  proto.e2eList = list;
  proto.showNotification = function (title, options) {
    const tag = (options && options.tag) || "untagged";
    record("e2e-shown/" + tag);
    const shown = show.call(this, title, options);
    shown.then(() => record("e2e-done/" + tag), (e) => record("e2e-failed/" + tag + ":" + e.name));
    return shown;
  };
  proto.getNotifications = function (filter) {
    record("e2e-asked");
    return list.call(this, filter);
  };
  // A tab hands its notices to the service worker: record who did.
  const worker = self.ServiceWorker && self.ServiceWorker.prototype;
  if (worker) {
    const post = worker.postMessage;
    worker.postMessage = function (message, ...rest) {
      if (typeof message === "string" && message.startsWith("convoy:notice:")) record("e2e-handed");
      return post.call(this, message, ...rest);
    };
  }
})();
"#;

/// The recorded calls (`shown`: [tag, caller], `asked` and `handed`: callers), and the tags and
/// trucks of the notifications the browser holds.
const READ_COUNTS: &str = r#"return (async () => {
  const shown = [];
  const asked = [];
  const handed = [];
  const failed = [];
  const done = [];
  const take = (parts) => {
    const at = parts.findIndex((p) => p.startsWith("e2e-"));
    if (parts[at] === "e2e-shown") shown.push([parts[at + 1], parts[at + 2]]);
    else if (parts[at] === "e2e-asked") asked.push(parts[at + 1]);
    else if (parts[at] === "e2e-handed") handed.push(parts[at + 1]);
    else if (parts[at] === "e2e-failed") failed.push(parts[at + 1]);
    else if (parts[at] === "e2e-done") done.push(parts[at + 1]);
  };
  for (let i = 0; i < localStorage.length; i++) {
    const key = localStorage.key(i);
    if (key.startsWith("e2e-")) take(key.split("/"));
  }
  const cache = await caches.open("e2e-shown");
  for (const request of await cache.keys()) take(new URL(request.url).pathname.split("/"));
  // What the browser holds, read only once every show settled: Chromium reconciles its
  // notification store with what is on screen when listing, and a listing that overlaps a show
  // was seen to drop that notification.
  const settled = shown.every(([tag]) => done.includes(tag) || failed.some((f) => f.startsWith(tag + ":")));
  const registration = await navigator.serviceWorker.getRegistration();
  const held = registration && settled && done.includes(arguments[0])
    ? (await registration.e2eList()).map((n) => [n.tag, (n.data && n.data.truck) || ""])
    : [];
  return { shown, asked, handed, failed, held };
})();"#;

/// The id the counting script gave `tab`.
async fn caller_id(browser: &Browser, tab: &WindowHandle) -> String {
    let id = browser
        .run(tab, "return sessionStorage.getItem('e2e-tab');")
        .await;
    id.as_str().expect("the counting script ran").to_owned()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A copy of the build under test whose `sw.js` counts `showNotification` calls first.
fn counting_build() -> std::path::PathBuf {
    let from = Server::dist();
    let to = std::env::temp_dir().join(format!(
        "convoy-e2e-notifications-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&to).expect("a temp dir");
    for entry in std::fs::read_dir(&from).expect("the dist dir") {
        let entry = entry.expect("a dist entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    let sw = std::fs::read_to_string(to.join("sw.js")).expect("sw.js");
    std::fs::write(to.join("sw.js"), format!("{COUNT_SHOWS}\n{sw}")).expect("write sw.js");
    // The precompressed siblings hold the unchanged sw.js.
    for sibling in ["sw.js.br", "sw.js.gz"] {
        let _ = std::fs::remove_file(to.join(sibling));
    }
    to
}

fn raise(truck: &str) -> Value {
    json!({"type": "alert", "truck": truck, "at_ms": now_ms(),
           "alert": {"kind": "temperature", "message": format!("{truck}: reefer at 9 °C"),
                     "raised_ms": now_ms()}})
}

fn clear(truck: &str) -> Value {
    json!({"type": "alert_cleared", "truck": truck, "at_ms": now_ms(), "kind": "temperature"})
}

fn truck(n: usize) -> String {
    format!("N-{n:02}")
}

/// Turns notifications on with the button in /settings, and leaves `tab` on `url`.
async fn turn_notifications_on(browser: &Browser, tab: &WindowHandle, url: &str) {
    let permission = eventually(
        Duration::from_secs(30),
        "/settings to show the permission",
        || async {
            let value = browser
                .run(
                    tab,
                    "const s = document.querySelector('section.notification-settings'); \
                     return s ? [s.dataset.permission, s.dataset.enabled] : null;",
                )
                .await;
            (value[1].as_str()? != "…").then(|| value[0].as_str().map(str::to_owned))?
        },
    )
    .await;
    assert_eq!(permission, "granted");
    let sound = browser
        .run(
            tab,
            "return document.querySelector('.notification-sound input').checked;",
        )
        .await;
    assert_eq!(sound, json!(false), "the beep is off by default");
    browser
        .client
        .find(Locator::Css("button.notifications-enable"))
        .await
        .expect("the button")
        .click()
        .await
        .expect("a click");
    eventually(Duration::from_secs(20), "notifications on", || async {
        let state = browser
            .run(
                tab,
                "return document.querySelector('section.notification-settings').dataset.enabled;",
            )
            .await;
        (state == json!("on")).then_some(())
    })
    .await;
    browser
        .run(
            tab,
            &format!("location.href = {}; return true;", Value::from(url)),
        )
        .await;
}

/// Every tab's diagnostics once each has received a status event live (not in its snapshot): a
/// tab that was still joining gets the next one.
async fn every_tab_live(
    browser: &Browser,
    tabs: &[WindowHandle],
    server: &Server,
) -> Vec<Diagnostics> {
    eventually(Duration::from_secs(60), "every tab to receive events live", || async {
        // An event that changes no alert: a truck joins, or nothing happens.
        let status = json!({"type": "alert_cleared", "truck": truck(1), "at_ms": now_ms(), "kind": "no_signal"});
        let id = server.ingest(vec![status]).await[0];
        let mut all = Vec::new();
        for tab in tabs {
            let received = eventually(Duration::from_secs(30), "a tab's diagnostics", || async {
                browser.diagnostics(tab).await.filter(|d| d.last_event_id >= id)
            })
            .await;
            all.push(received);
        }
        all.iter().all(|d| d.received.contains(&id)).then_some(all)
    })
    .await
}

/// Six tabs of `transport`; in leader mode the leader is closed right after the first part of
/// the burst, before its hold ends.
async fn each_alert_notified_once(transport: &str) {
    let tokens = ingest_token_file("notifications");
    let build = counting_build();
    let tokens_arg = tokens.display().to_string();
    // No simulator: nothing but this test raises or clears alerts.
    let server = Server::start_with_dist(
        &build.display().to_string(),
        &["--trucks", "0", "--ingest-token-file", &tokens_arg],
    )
    .await;
    let statuses = (1..=12)
        .map(|n| json!({"type": "alert_cleared", "truck": truck(n), "at_ms": now_ms(), "kind": "no_signal"}))
        .collect();
    server.ingest(statuses).await;

    let browser = Browser::start().await;
    // As if the user had allowed notifications for the site before.
    let blank = browser.client.window().await.expect("the first tab");
    browser
        .cdp(
            &blank,
            "Browser.grantPermissions",
            json!({"origin": server.base, "permissions": ["notifications"]}),
        )
        .await;
    let url = format!("{}/?transport={transport}", server.base);
    let first = browser
        .open_tab_with_script(
            &format!("{}/settings?transport={transport}", server.base),
            COUNT_SHOWS,
        )
        .await;
    turn_notifications_on(&browser, &first, &url).await;
    let mut tabs = vec![first];
    for _ in 1..TABS {
        tabs.push(browser.open_tab_with_script(&url, COUNT_SHOWS).await);
    }
    // The app's service worker is active (showing needs it) and every tab takes live events.
    eventually(
        Duration::from_secs(30),
        "an active service worker",
        || async {
            let active = browser
            .run(
                &tabs[0],
                "return navigator.serviceWorker.getRegistration().then(r => !!(r && r.active));",
            )
            .await;
            (active == json!(true)).then_some(())
        },
    )
    .await;
    let settled = every_tab_live(&browser, &tabs, &server).await;
    let mut callers = Vec::new();
    for tab in &tabs {
        callers.push(caller_id(&browser, tab).await);
    }

    let mut raised: Vec<(u64, String)> = Vec::new();
    let first_part: Vec<String> = (1..=4).map(truck).collect();
    let ids = server
        .ingest(first_part.iter().map(|t| raise(t)).collect())
        .await;
    raised.extend(ids.into_iter().zip(first_part));
    // The callers allowed to show: in leader mode the leaders, else decided below.
    let mut leaders = BTreeSet::new();
    if transport == "leader" {
        let leader = settled
            .iter()
            .position(|d| d.role == "leader")
            .expect("a leader");
        leaders.insert(callers.remove(leader));
        let gone = tabs.remove(leader);
        browser.close_tab(&gone).await;
    }
    let second_part: Vec<String> = (5..=8).map(truck).collect();
    let ids = server
        .ingest(second_part.iter().map(|t| raise(t)).collect())
        .await;
    raised.extend(ids.into_iter().zip(second_part));
    // Raised and cleared together, as in a replay: never notified.
    let flapped = server
        .ingest(vec![raise(&truck(9)), clear(&truck(9))])
        .await[0];
    // Shown last (each notifier shows in id order): once it is counted, all before it are.
    let sentinel = server.ingest(vec![raise(&truck(12))]).await[0];
    raised.push((sentinel, truck(12)));

    let expected: BTreeMap<String, String> = raised
        .iter()
        .map(|(id, truck)| (format!("convoy-alert-{id}"), truck.clone()))
        .collect();
    let sentinel_tag = format!("convoy-alert-{sentinel}");
    // Read until the sentinel was shown and the browser lists every expected tag, or a generous
    // deadline passes; then the assertions below say what is wrong with the last reading.
    let read = || async {
        let script = READ_COUNTS.replace("arguments[0]", &format!("{sentinel_tag:?}"));
        let counts = browser.run(&tabs[0], &script).await;
        let list = |key: &str| serde_json::from_value::<Vec<String>>(counts[key].clone());
        let pairs =
            |key: &str| serde_json::from_value::<Vec<(String, String)>>(counts[key].clone());
        Some((
            pairs("shown").ok()?,
            list("asked").ok()?,
            list("handed").ok()?,
            list("failed").ok()?,
            pairs("held").ok()?,
        ))
    };
    let started = std::time::Instant::now();
    let (shown, asked, handed, failed, held) = loop {
        let reading = read().await;
        let complete = reading.as_ref().is_some_and(|(shown, _, _, _, held)| {
            shown.iter().any(|(tag, _)| *tag == sentinel_tag)
                && expected
                    .keys()
                    .all(|tag| held.iter().any(|(t, _)| t == tag))
        });
        if complete || started.elapsed() > Duration::from_secs(45) {
            break reading.expect("the counts read");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    let mut per_tag: BTreeMap<String, usize> = BTreeMap::new();
    for (tag, _) in &shown {
        *per_tag.entry(tag.clone()).or_default() += 1;
    }
    let wanted: BTreeMap<String, usize> = expected.keys().map(|tag| (tag.clone(), 1)).collect();
    assert_eq!(
        per_tag, wanted,
        "{transport}: showNotification calls per tag (flapped alert {flapped})"
    );
    let held_tags: BTreeSet<String> = held.iter().map(|(tag, _)| tag.clone()).collect();
    assert_eq!(
        held_tags,
        expected.keys().cloned().collect::<BTreeSet<_>>(),
        "{transport}: the notifications the browser holds (shown by {shown:?}, failed {failed:?}, \
         leaders {leaders:?}, tabs {callers:?})"
    );
    for (tag, truck) in &held {
        assert_eq!(Some(truck), expected.get(tag), "{transport}: {tag}'s truck");
    }

    // Only the service worker calls the notification API; tabs hand it theirs, and only where
    // the stream is held (followers never do).
    let service_worker = BTreeSet::from(["service-worker".to_owned()]);
    let askers: BTreeSet<String> = asked.iter().cloned().collect();
    let showers: BTreeSet<String> = shown.iter().map(|(_, caller)| caller.clone()).collect();
    let handers: BTreeSet<String> = handed.iter().cloned().collect();
    assert_eq!(showers, service_worker, "{transport}: shown by");
    assert_eq!(askers, service_worker, "{transport}: checked by");
    match transport {
        "leader" => {
            let now_leading = eventually(Duration::from_secs(20), "the new leader", || async {
                for (tab, caller) in tabs.iter().zip(&callers) {
                    if browser.diagnostics(tab).await?.role == "leader" {
                        return Some(caller.clone());
                    }
                }
                None
            })
            .await;
            leaders.insert(now_leading);
            assert!(
                !handers.is_empty() && handers.is_subset(&leaders),
                "leader: handed over by {handers:?}, leaders {leaders:?}"
            );
        }
        "shared-worker" => assert_eq!(
            handers.len(),
            1,
            "shared-worker: one tab hands them over: {handers:?}"
        ),
        _ => assert!(
            handers.is_empty(),
            "service-worker: handed over by {handers:?}"
        ),
    }
    eprintln!(
        "{transport}: {} alerts, {} notifications shown, none for {flapped}",
        expected.len(),
        shown.len()
    );
    browser.quit().await;
    drop(server);
    let _ = std::fs::remove_dir_all(&build);
    let _ = std::fs::remove_file(&tokens);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_tabs_notify_each_alert_once_across_the_leaders_close() {
    each_alert_notified_once("leader").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_worker_has_each_alert_notified_once() {
    each_alert_notified_once("shared-worker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_worker_notifies_each_alert_once() {
    each_alert_notified_once("service-worker").await;
}
