//! Failover with background tabs or visible windows: the leader closed, crashed or hung, and
//! how long until every remaining tab delivers an event newer than the server's newest at the
//! fault (the stall), with the ids lost and repeated.

use super::{load_avg, lost_repeated, received_at, unix_ms};
use crate::harness::{self, eventually, Browser, Server};
use fantoccini::wd::WindowHandle;
use serde::Serialize;
use serde_json::json;
use std::time::Duration;

/// The failover table's load (issue 11): 40 trucks at 2 events/s each, 80 events/s.
pub const FAILOVER_SERVER_ARGS: [&str; 4] = ["--trucks", "40", "--rate", "2"];
/// Tabs in the failover table: the first visible, the rest in the background.
pub const FAILOVER_TABS: usize = 12;
/// How long a hung leader holds its main thread.
pub const HANG_MS: u64 = 12_000;
/// How long after a fault the tabs' deliveries are read.
pub const AFTER_FAULT: Duration = Duration::from_secs(9);
/// Runs of each fault and mode (`CONVOY_BENCH_RUNS` to change).
pub const FAILOVER_RUNS: usize = 3;
/// Chromium throttles chained timers of a tab hidden this long to one wake-up a minute; the
/// long-hidden rows shorten the grace period from 5 minutes to this, which Chromium reads from
/// this switch, so "after 5 minutes hidden" takes seconds.
pub const GRACE_S: u64 = 10;
pub const SHORT_GRACE: &str = "--enable-features=IntensiveWakeUpThrottling:grace_period_seconds/10";
/// No Web Locks: the tabs elect by lease.
pub const NO_WEB_LOCKS: &str = "delete window.SharedWorker; \
     Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined });";

#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Fault {
    Close,
    Crash,
    Hang,
    /// `ServiceWorker.stopAllWorkers` (service-worker mode): the browser stops the worker that
    /// holds the stream, as it does after ~30 s idle.
    StopWorker,
}

#[derive(Serialize, Default, Clone)]
pub struct FailoverRun {
    pub mode: String,
    /// `tabs`: the first tab visible, the others in the background; `windows`: a visible
    /// window each.
    pub layout: String,
    pub fault: String,
    /// Remaining tabs whose `visibilityState` was hidden when the fault hit.
    pub hidden_tabs: usize,
    /// Whether the leader at the fault was the visible tab.
    pub leader_visible: bool,
    /// The stall as issue 11 defines it (None: some tab never delivered a newer event).
    pub stall_ms: Option<u64>,
    /// Per remaining tab: fault to its first delivery above the server's newest id.
    pub tab_stalls_ms: Vec<Option<u64>>,
    /// Fault to the first event above the server's newest id relayed on the tabs'
    /// `BroadcastChannel`, as a page of the origin listening there sees it: when the tabs' hubs
    /// have it, whether or not a hidden page is handed it yet (None: none within the reading,
    /// or no relay in this mode).
    pub relay_stall_ms: Option<u64>,
    /// The bench's older figure: the longest pause in deliveries after the fault.
    pub longest_pause_ms: Option<u64>,
    pub lost: u64,
    pub repeated: u64,
    pub remaining_tabs: usize,
    /// Fault to the fault's command returning (a close: the tab is gone).
    pub command_ms: Option<u64>,
    /// Fault to the server seeing the next leader's stream open.
    pub new_stream_ms: Option<u64>,
    /// The machine's 1-minute load average before the tabs opened and after the reading.
    pub load_avg_start: f64,
    pub load_avg_end: f64,
}

/// Where the tabs of a failover run are.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Layout {
    /// One window: the first tab visible, the others opened in the background (hidden).
    BackgroundTabs,
    /// A visible window each (`Target.createTarget` with `newWindow: true`).
    VisibleWindows,
}

/// Records `document.visibilityState` and its changes (`window.convoyVisibility`: [ms, state]),
/// so the bench knows which tabs were hidden at the fault without activating any of them.
pub const VISIBILITY_LOG: &str =
    "window.convoyVisibility = [[Date.now(), document.visibilityState]]; \
     document.addEventListener('visibilitychange', () => \
       window.convoyVisibility.push([Date.now(), document.visibilityState]));";

/// Logs every event the tabs relay on their `BroadcastChannel` (`convoy`, sign-in off) as
/// [arrival ms, the frame's newest event id] (`window.convoyRelayed`).
pub const RELAY_LOG: &str = "window.convoyRelayed = []; \
     new BroadcastChannel('convoy').onmessage = m => { const now = Date.now(); let msg; \
       try { msg = JSON.parse(m.data).msg || {}; } catch (e) { return; } \
       const events = msg.type === 'event' ? [msg.event] : msg.type === 'events' ? msg.events : []; \
       if (events.length) window.convoyRelayed.push([now, events[events.length - 1].id]); };";

/// Whether `tab` was hidden at `at_ms`, from its visibility log.
pub async fn hidden_at(browser: &Browser, tab: &WindowHandle, at_ms: u64) -> bool {
    let log = browser
        .run(tab, "return window.convoyVisibility || [];")
        .await;
    log.as_array()
        .into_iter()
        .flatten()
        .rfind(|entry| entry[0].as_u64().is_some_and(|t| t <= at_ms))
        .is_some_and(|entry| entry[1].as_str() == Some("hidden"))
}

/// One fault in one mode: 12 tabs of `/` (1 visible + 11 background tabs, or 12 visible
/// windows), the leader faulted, the stall read. The server and the app are the build in
/// `CONVOY_SERVER_BIN` and `CONVOY_DIST`.
pub async fn failover_run(mode: &str, fault: Fault, layout: Layout) -> FailoverRun {
    let load_avg_start = load_avg();
    let server = Server::start(&FAILOVER_SERVER_ARGS).await;
    // "locks, hidden > grace": the same, faulted once the hidden tabs are past the grace period.
    let long_hidden = mode.ends_with("> grace");
    let browser = if long_hidden {
        Browser::start_throttled_with(&[SHORT_GRACE]).await
    } else {
        Browser::start_throttled().await
    };
    let lease = mode.starts_with("lease");
    let transport = if mode == "service-worker" {
        "service-worker"
    } else {
        "leader"
    };
    let url = format!("{}/?transport={transport}", server.base);
    let script = if lease {
        format!("{VISIBILITY_LOG} {NO_WEB_LOCKS}")
    } else {
        VISIBILITY_LOG.to_owned()
    };
    // The session's blank tab is the visible one.
    let first = browser.client.window().await.expect("a window");
    browser
        .cdp(
            &first,
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": script }),
        )
        .await;
    browser
        .client
        .goto(&harness::with_full_diagnostics(&url))
        .await
        .expect("the page loads");
    let mut tabs = vec![first.clone()];
    for _ in 1..FAILOVER_TABS {
        tabs.push(match layout {
            Layout::BackgroundTabs => browser.open_background_tab(&first, &url, &script).await,
            Layout::VisibleWindows => browser.open_visible_window(&first, &url, &script).await,
        });
    }
    // A window of its own (so no tab of the first is hidden or shown by it), on an API document
    // of the origin: no app, no Content-Security-Policy.
    let listener = browser
        .open_visible_window(&first, &format!("{}/api/health", server.base), RELAY_LOG)
        .await;
    let mut run = FailoverRun {
        mode: mode.into(),
        layout: match layout {
            Layout::BackgroundTabs => "tabs".into(),
            Layout::VisibleWindows => "windows".into(),
        },
        load_avg_start,
        fault: format!("{fault:?}").to_lowercase(),
        ..FailoverRun::default()
    };
    // Every tab live and delivering before the fault, with its tab id.
    let live_from = server.stats().await.latest_event_id;
    let ids = tokio::time::timeout(
        Duration::from_secs(60),
        eventually(Duration::from_secs(60), "every tab to deliver", || async {
            let mut ids = Vec::new();
            for tab in &tabs {
                let d = browser.diagnostics(tab).await?;
                if d.last_event_id <= live_from {
                    return None;
                }
                ids.push(d.tab_id);
            }
            Some(ids)
        }),
    )
    .await
    .unwrap_or_default();
    // Back to the first tab: it is the visible one, every other tab is in the background.
    browser
        .client
        .switch_to_window(first.clone())
        .await
        .expect("switch tab");
    tokio::time::sleep(Duration::from_secs(3)).await;
    if long_hidden {
        // Every background tab was hidden from its start, more than 3 s ago.
        tokio::time::sleep(Duration::from_secs(GRACE_S + 2)).await;
    }
    let leader_id = browser.diagnostics(&first).await.and_then(|d| d.leader_id);
    // A stopped service worker takes no tab with it: every tab remains (the first is the one
    // that sends the command, and stays visible).
    let leader_tab = if fault == Fault::StopWorker {
        Some(usize::MAX)
    } else {
        leader_id.and_then(|id| ids.iter().position(|t| *t == id))
    };
    let Some(i) = leader_tab else {
        eprintln!("bench: {mode} {fault:?}: no leader");
        browser.quit().await;
        return run;
    };
    run.leader_visible = i == 0;
    if fault == Fault::StopWorker {
        browser.cdp(&first, "ServiceWorker.enable", json!({})).await;
    }
    let victim = tabs.get(i).cloned().unwrap_or_else(|| first.clone());
    // The fault counts from when its command is sent. The server's newest id is read once the
    // fault has surely hit: a close's command has returned, a crashed leader's stream is gone
    // (or a new one opened), a hang's busy loop (started at a set time) runs for 20 ms. Each
    // choice can only lengthen the stall.
    let mut newest = server.stats().await.latest_event_id;
    let mut at = unix_ms();
    let opened_before = server.stats().await.opened_total;
    // Where the time goes: when the server sees the next leader's stream, polled beside the
    // fault (not for a hang, whose loop starts later).
    let new_stream = async {
        if fault == Fault::Hang {
            return None;
        }
        let watch_from = unix_ms();
        while unix_ms() < watch_from + 5_000 {
            if server.stats().await.opened_total > opened_before {
                return Some(unix_ms().saturating_sub(watch_from));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        None
    };
    let fault_done = async {
        match fault {
            Fault::Close if i != 0 => {
                // Closed from the visible tab, so no other tab is activated first.
                browser
                    .cdp(
                        &first,
                        "Target.closeTarget",
                        json!({ "targetId": String::from(victim.clone()) }),
                    )
                    .await;
            }
            Fault::Close => browser.close_tab(&victim).await,
            Fault::Crash => {
                // The newest id when the crashed leader's stream is gone at the server.
                let stream = server.stats().await;
                let (_, gone) = tokio::join!(browser.crash_tab(&victim), async {
                    loop {
                        let now = server.stats().await;
                        if now.opened_total > stream.opened_total || now.open_streams == 0 {
                            break now.latest_event_id;
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                });
                newest = gone;
            }
            Fault::StopWorker => {
                browser
                    .cdp(&first, "ServiceWorker.stopAllWorkers", json!({}))
                    .await;
            }
            Fault::Hang => {
                // chromedriver waits for a busy page before it answers, so the loop starts at a set
                // time after the command returns, and the newest id is read just after that.
                let start = at + 400;
                let busy = format!(
                    "setTimeout(() => {{ const end = Date.now() + {HANG_MS}; \
                 while (Date.now() < end) {{}} }}, {start} - Date.now()); true"
                );
                let _ = tokio::time::timeout(
                    Duration::from_millis(300),
                    browser.cdp(&victim, "Runtime.evaluate", json!({ "expression": busy })),
                )
                .await;
                tokio::time::sleep(Duration::from_millis(start.saturating_sub(unix_ms()) + 20))
                    .await;
                newest = server.stats().await.latest_event_id;
                at = start;
            }
        }
        unix_ms()
    };
    let (done_at, new_stream_ms) = tokio::join!(fault_done, new_stream);
    run.command_ms = Some(done_at.saturating_sub(at));
    run.new_stream_ms = new_stream_ms;
    if matches!(fault, Fault::Close | Fault::StopWorker) {
        newest = server.stats().await.latest_event_id;
    }
    tokio::time::sleep(AFTER_FAULT).await;
    let alive: Vec<WindowHandle> = tabs
        .iter()
        .filter(|t| fault == Fault::StopWorker || **t != victim)
        .cloned()
        .collect();
    run.remaining_tabs = alive.len();
    let mut stall = Some(0u64);
    for tab in &alive {
        if hidden_at(&browser, tab, at).await {
            run.hidden_tabs += 1;
        }
        let Some(d) = browser.diagnostics(tab).await else {
            run.tab_stalls_ms.push(None);
            stall = None;
            continue;
        };
        let times = received_at(&browser, tab).await;
        let first_newer = d
            .received
            .iter()
            .zip(&times)
            .find(|(id, _)| **id > newest)
            .map(|(_, t)| t.saturating_sub(at));
        run.tab_stalls_ms.push(first_newer);
        stall = match (stall, first_newer) {
            (Some(s), Some(t)) => Some(s.max(t)),
            _ => None,
        };
        let pause = times
            .windows(2)
            .filter(|w| w[1] >= at)
            .map(|w| w[1] - w[0].max(at))
            .max();
        run.longest_pause_ms = run.longest_pause_ms.max(pause);
        let (lost, repeated) = lost_repeated(&d.received);
        run.lost += lost;
        run.repeated += repeated;
    }
    run.stall_ms = stall;
    run.relay_stall_ms = browser
        .run(&listener, "return window.convoyRelayed;")
        .await
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e[0].as_u64()?, e[1].as_u64()?)))
        .find(|(t, id)| *t >= at && *id > newest)
        .map(|(t, _)| t - at);
    run.load_avg_end = load_avg();
    if fault == Fault::Hang {
        // Let the busy loop end so the session can close the tab.
        let rest = HANG_MS.saturating_sub(AFTER_FAULT.as_millis() as u64) + 500;
        tokio::time::sleep(Duration::from_millis(rest)).await;
    }
    browser.quit().await;
    run
}
