//! `cargo xtask bench hub`: where each tab's hub runs, measured beside the previous build in one
//! run. Each figure is taken for the baseline (`CONVOY_BASELINE_DIST` and
//! `CONVOY_BASELINE_SERVER_BIN`, named by `CONVOY_BASELINE_NAME`) and for this build
//! (`CONVOY_DIST`, `CONVOY_SERVER_BIN`, named by `CONVOY_BUILD_NAME`), run by run in turn, so
//! both see the same minutes of a shared machine; every row carries the load average.
//!
//! - the leader tab's main thread hung 12 s, 1 visible + 11 background tabs, Web Locks: the
//!   other tabs' stall (target ≤ 300 ms);
//! - the same in Lease mode (no Web Locks), the leader crashed (≤ 600 ms);
//! - 12 visible windows, each rendering the overview: the leader closed, crashed, hung (≤ 250 ms);
//! - whether a dedicated worker's timers are throttled in a hidden tab: chained 10 ms timeouts
//!   inside a worker spawned by a background tab, beside the page's own (browser behaviour, once);
//! - a hidden follower's main thread at 80 events/s (≤ 0.3 %), a hidden direct-mode tab's at
//!   2 000 events/s (≤ 0.5 %);
//! - the overview at 2 000 events/s: main-thread busy (≤ 15 %), event-to-frame p99 (≤ 30 ms);
//! - a new tab beside a leader: navigation to its first render with trucks (≤ 300 ms);
//! - the initial transfer of `/` (gzip), and the files a page loads later (workers).
//!
//! All at 80 events/s (40 trucks at 2 events/s) but the 2 000 events/s rows (500 trucks at 4),
//! with ids lost and repeated counted in every run. `CONVOY_BENCH_ONLY=hang,lease,windows,timers,
//! hidden,overview,new-tab,transfer` runs only those; `CONVOY_BENCH_RUNS` sets the runs of each
//! failover (default 3). Writes `bench/hub.md` and `bench/hub.json` after every section.

#[path = "../tests/e2e/harness.rs"]
#[allow(dead_code)]
mod harness;
#[allow(dead_code)]
mod support;

use harness::{Browser, Server};
use serde::Serialize;
use serde_json::Value;
use std::time::Duration;
use support::failover::{
    failover_run, FailoverRun, Fault, Layout, FAILOVER_SERVER_ARGS, GRACE_S, SHORT_GRACE,
    VISIBILITY_LOG,
};
use support::hidden::{hidden_busy, HiddenBusy};
use support::page_load::{self, PageLoad, OVERVIEW_SHOWN};
use support::transfer::{initial_total, transfer_sizes, Size};
use support::{
    cell, load_avg, open_and_time, percentile, range, tab_lost_repeated, unix_ms, wanted,
};

/// 500 trucks at 4 events/s: 2 000 events/s.
const HEAVY_SERVER_ARGS: [&str; 4] = ["--trucks", "500", "--rate", "4"];
/// New tabs opened, one after the other, beside a leader.
const NEW_TABS: usize = 5;
/// How long the timer probe's tab stays in the background.
const TIMER_WATCH: Duration = Duration::from_secs(24);

struct Build {
    name: String,
    dist: String,
    server_bin: String,
}

impl Build {
    /// The harness starts the server and serves the app from these.
    fn select(&self) {
        std::env::set_var("CONVOY_DIST", &self.dist);
        std::env::set_var("CONVOY_SERVER_BIN", &self.server_bin);
    }
}

/// The baseline (when both its variables are set), then this build.
fn builds() -> Vec<Build> {
    let var = |name: &str| std::env::var(name).ok();
    let mut builds = Vec::new();
    if let (Some(dist), Some(server_bin)) = (
        var("CONVOY_BASELINE_DIST"),
        var("CONVOY_BASELINE_SERVER_BIN"),
    ) {
        builds.push(Build {
            name: var("CONVOY_BASELINE_NAME").unwrap_or_else(|| "baseline".into()),
            dist,
            server_bin,
        });
    }
    builds.push(Build {
        name: var("CONVOY_BUILD_NAME").unwrap_or_else(|| "this build".into()),
        dist: harness::env_path("CONVOY_DIST"),
        server_bin: harness::env_path("CONVOY_SERVER_BIN"),
    });
    builds
}

/// A row of one build.
#[derive(Serialize)]
struct Of<T> {
    build: String,
    #[serde(flatten)]
    row: T,
}

/// Chained 10 ms timeouts in a background tab's page and in a dedicated worker it spawned.
#[derive(Serialize, Default)]
struct TimerRow {
    /// `page` or `dedicated worker`.
    timer: String,
    /// `hidden < grace` (the first `GRACE_S` s hidden) or `hidden > grace`.
    phase: String,
    wakeups_per_s: f64,
    interval_p50_ms: Option<u64>,
    interval_max_ms: Option<u64>,
}

#[derive(Serialize)]
struct NewTab {
    /// The tab's navigation start to the app's first render with trucks.
    nav_to_data_ms: Option<u64>,
    /// From the WebDriver command that opens it to the bench seeing every truck counted.
    command_to_data_ms: Option<u64>,
    lost: u64,
    repeated: u64,
    load_avg: f64,
}

#[derive(Serialize, Default)]
struct Report {
    failover: Vec<Of<FailoverRun>>,
    worker_timers: Vec<TimerRow>,
    hidden: Vec<HiddenBusy>,
    overview: Vec<Of<PageLoad>>,
    new_tab: Vec<Of<NewTab>>,
    transfer: Vec<Transfer>,
}

#[derive(Serialize)]
struct Transfer {
    build: String,
    files: Vec<Size>,
}

/// The builds named by `rows`, in the order they first appear.
fn names<'a>(rows: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut names: Vec<&str> = Vec::new();
    for name in rows {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// Logs chained 10 ms timeouts of the page and of a dedicated worker it spawns (from a blob:
/// the probe's page is an API response, which carries no Content-Security-Policy), each wake-up
/// as [Date.now(), ms since the previous one]; `convoyWorkerTimers()` answers the worker's log.
const TIMER_PROBE: &str = "window.convoyPageTimers = []; (() => { \
     const chain = (log) => { let last = Date.now(); const tick = () => { const now = Date.now(); \
       log.push([now, now - last]); last = now; setTimeout(tick, 10); }; setTimeout(tick, 10); }; \
     chain(window.convoyPageTimers); \
     const source = `const log = []; (${chain.toString()})(log); onmessage = () => postMessage(log);`; \
     const worker = new Worker(URL.createObjectURL(new Blob([source], { type: 'text/javascript' }))); \
     window.convoyWorkerTimers = () => new Promise(done => { \
       worker.onmessage = e => done(e.data); worker.postMessage('log'); }); })();";

/// The wake-ups of `log` ([at_ms, interval_ms]) between `from` and `to`.
fn timer_row(timer: &str, phase: &str, log: &Value, from: u64, to: u64) -> TimerRow {
    let intervals: Vec<u64> = log
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e[0].as_u64()?, e[1].as_u64()?)))
        .filter(|(at, _)| (from..to).contains(at))
        .map(|(_, interval)| interval)
        .collect();
    TimerRow {
        timer: timer.into(),
        phase: phase.into(),
        wakeups_per_s: (intervals.len() as f64 * 10_000.0 / to.saturating_sub(from).max(1) as f64)
            .round()
            / 10.0,
        interval_p50_ms: percentile(intervals.clone(), 50),
        interval_max_ms: intervals.iter().max().copied(),
    }
}

/// Whether a dedicated worker's timers are throttled in a hidden tab: a background tab of a
/// throttled Chromium (grace period before intensive throttling shortened to `GRACE_S`) runs
/// the probe for `TIMER_WATCH`, then its logs are read.
async fn worker_timers() -> Vec<TimerRow> {
    let server = Server::start(&FAILOVER_SERVER_ARGS).await;
    let browser = Browser::start_throttled_with(&[SHORT_GRACE]).await;
    let first = browser.client.window().await.expect("a window");
    let probe = browser
        .open_background_tab(
            &first,
            &format!("{}/api/health", server.base),
            &format!("{VISIBILITY_LOG} {TIMER_PROBE}"),
        )
        .await;
    // Opening it through the driver showed it for a moment: hide it again.
    browser
        .client
        .switch_to_window(first.clone())
        .await
        .expect("switch tab");
    tokio::time::sleep(TIMER_WATCH).await;
    let read_at = unix_ms();
    let visibility = browser.run(&probe, "return window.convoyVisibility;").await;
    let hidden_from = visibility
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e[1].as_str() == Some("hidden"))
        .filter_map(|e| e[0].as_u64())
        .filter(|at| *at < read_at)
        .max()
        .unwrap_or(read_at);
    let page = browser.run(&probe, "return window.convoyPageTimers;").await;
    let worker = browser
        .run(&probe, "return window.convoyWorkerTimers();")
        .await;
    browser.quit().await;
    // A second in, so a wake-up due before the tab was hidden is not counted.
    let early = (hidden_from + 1_000, hidden_from + GRACE_S * 1_000);
    let late = (hidden_from + GRACE_S * 1_000 + 1_000, read_at);
    let mut rows = Vec::new();
    for (timer, log) in [("page", &page), ("dedicated worker", &worker)] {
        rows.push(timer_row(timer, "hidden < grace", log, early.0, early.1));
        rows.push(timer_row(timer, "hidden > grace", log, late.0, late.1));
    }
    rows
}

/// `NEW_TABS` tabs opened one after the other beside a leader, at 80 events/s.
async fn new_tabs() -> Vec<NewTab> {
    let server = Server::start(&FAILOVER_SERVER_ARGS).await;
    let browser = Browser::start().await;
    let url = format!("{}/?transport=leader", server.base);
    let mut tabs = vec![browser.open_tab(&url).await];
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut rows = Vec::new();
    for _ in 0..NEW_TABS {
        let load_avg = load_avg();
        let (tab, outside, marked) = open_and_time(&browser, &url, 40, false).await;
        rows.push((tab.clone(), outside, marked, load_avg));
        tabs.push(tab);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let mut out = Vec::new();
    for (tab, command_to_data_ms, nav_to_data_ms, load_avg) in rows {
        let (lost, repeated) = tab_lost_repeated(&browser, &tab).await;
        out.push(NewTab {
            nav_to_data_ms,
            command_to_data_ms,
            lost,
            repeated,
            load_avg,
        });
    }
    browser.quit().await;
    out
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "not met"
    }
}

fn loads<'a>(rows: impl Iterator<Item = (f64, f64)> + 'a) -> String {
    let all: Vec<String> = rows.map(|(a, b)| format!("{a:.1}/{b:.1}")).collect();
    all.join(", ")
}

/// The failover rows of one case, a line per build.
fn failover_md(report: &Report, layout: &str, mode: &str, fault: &str, target_ms: u64) -> String {
    let mut md = String::new();
    for name in names(report.failover.iter().map(|r| r.build.as_str())) {
        let runs: Vec<&FailoverRun> = report
            .failover
            .iter()
            .filter(|r| {
                r.build == name
                    && r.row.layout == layout
                    && r.row.mode == mode
                    && r.row.fault == fault
            })
            .map(|r| &r.row)
            .collect();
        if runs.is_empty() {
            continue;
        }
        let stalls: Vec<Option<u64>> = runs.iter().map(|r| r.stall_ms).collect();
        let relay: Vec<Option<u64>> = runs.iter().map(|r| r.relay_stall_ms).collect();
        // Hidden pages of a build that hands them nothing until shown deliver when the bench
        // reads them: there the tabs' hubs (the relay) are what the target is about.
        let judged = if layout == "tabs" { &relay } else { &stalls };
        let lost: u64 = runs.iter().map(|r| r.lost).sum();
        let repeated: u64 = runs.iter().map(|r| r.repeated).sum();
        let hidden: Vec<Option<u64>> = runs.iter().map(|r| Some(r.hidden_tabs as u64)).collect();
        let ok = judged.iter().all(|s| s.is_some_and(|s| s <= target_ms)) && lost + repeated == 0;
        md.push_str(&format!(
            "| {layout} | {mode} | {fault} | {name} | {} | {} | {} | {} | {} | {lost}/{repeated} | {} | ≤ {target_ms} | {} |\n",
            runs.len(),
            range(&hidden),
            runs.iter().filter(|r| r.leader_visible).count(),
            range(&stalls),
            range(&relay),
            loads(runs.iter().map(|r| (r.load_avg_start, r.load_avg_end))),
            met(ok),
        ));
    }
    md
}

fn markdown(report: &Report, builds: &[Build]) -> String {
    let built: Vec<String> = builds.iter().map(|b| format!("`{}`", b.name)).collect();
    let mut md = format!(
        "# Where the tabs' hub runs\n\n\
         Real Chromium (`--headless=new`) against convoy-server (release) on loopback, on a \
         2-core machine shared with other work; builds {} measured in turn, run by run, in one \
         run of `cargo xtask bench hub`. Load avg: the machine's 1-minute load average at a \
         row's start/end (above 2, other work competed with the browser and the server). \
         lost/repeated: id gaps and repeats over every tab that remained; a row meets its target \
         only with every run within it and none lost or repeated.\n",
        built.join(", ")
    );
    if !report.failover.is_empty() {
        md.push_str(
            "\n## Failover: stall\n\n\
             40 trucks at 2 events/s (80 events/s), 12 tabs of `/?transport=leader`: *tabs*, \
             the first visible and 11 opened in the background (`Target.createTarget \
             {background: true}`, throttled), or *windows*, a visible window each \
             (`newWindow: true, background: false`; each renders the overview). The leader is \
             closed, crashed (`Page.crash`) or hung (a 12 s busy loop on its main thread). \
             *lease*: Web Locks and SharedWorker removed before the page's scripts, so tabs \
             elect by lease. **Stall**: from the fault until every remaining tab has delivered \
             an event newer than the server's newest at the fault (as in `bench/failover.md`; \
             range over the runs). Hidden: remaining tabs whose `visibilityState` was hidden \
             at the fault (0 for windows: each window checked visible). **Relay stall**: from \
             the fault until a page of the origin listening on the tabs' `BroadcastChannel` (a \
             window of its own) sees an event newer than that relayed: when the tabs' hubs have \
             it. A build that hands a hidden page nothing until it is shown has its hidden \
             pages deliver when the bench reads them (9 s after the fault, one after the \
             other), so the *tabs* rows are judged on the relay stall, the *windows* rows (every \
             page visible) on the pages' stall.\n\n\
             | tabs | mode | fault | build | runs | hidden at fault | runs with the leader visible | stall ms (pages) | relay stall ms | lost/repeated | load avg | target ms | |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        md.push_str(&failover_md(report, "tabs", "locks", "hang", 300));
        md.push_str(&failover_md(report, "tabs", "lease", "crash", 600));
        for fault in ["close", "crash", "hang"] {
            md.push_str(&failover_md(report, "windows", "locks", fault, 250));
        }
    }
    if !report.worker_timers.is_empty() {
        md.push_str(&format!(
            "\n## Timers of a dedicated worker in a hidden tab\n\n\
             A background tab (hidden) of a throttled Chromium started with `{SHORT_GRACE}` \
             (intensive throttling after {GRACE_S} s hidden instead of 5 minutes) chains 10 ms \
             `setTimeout`s on its page and in a dedicated worker it spawned, for {} s. Wake-ups \
             counted from 1 s after the tab was hidden until {GRACE_S} s, and from {GRACE_S} + 1 s \
             until the reading. Browser behaviour, not a build's: measured once.\n\n\
             | timer | while | wake-ups/s | interval p50 ms | longest interval ms |\n|---|---|---|---|---|\n",
            TIMER_WATCH.as_secs()
        ));
        for r in &report.worker_timers {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} |\n",
                r.timer,
                r.phase,
                r.wakeups_per_s,
                cell(r.interval_p50_ms),
                cell(r.interval_max_ms)
            ));
        }
    }
    if !report.hidden.is_empty() {
        md.push_str(
            "\n## A hidden tab's main thread\n\n\
             A tab opened in the background (hidden, throttled) on `/?transport=leader` beside a \
             visible leader at 80 events/s, or on `/?transport=direct` (its own stream; the \
             visible tab blank) at 2 000 events/s. Busy: its main-thread task time \
             (`Performance.getMetrics` `TaskDuration`) over 20 s; reading a tab shows it for a \
             moment, so the figure errs high.\n\n\
             | build | transport | events/s | role | hidden tab busy % | its events | visible tab busy % | lost/repeated | load avg | target | |\n\
             |---|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in &report.hidden {
            let target = if r.transport == "direct" { 0.5 } else { 0.3 };
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {}/{} | {:.1}/{:.1} | ≤ {target} % | {} |\n",
                r.build,
                r.transport,
                r.events_per_s,
                r.role.as_deref().unwrap_or("–"),
                r.hidden_follower_busy_pct,
                r.hidden_follower_events,
                r.visible_leader_busy_pct,
                r.lost,
                r.repeated,
                r.load_avg_start,
                r.load_avg_end,
                met(r.hidden_follower_busy_pct <= target && r.lost + r.repeated == 0),
            ));
        }
    }
    if !report.overview.is_empty() {
        md.push_str(&format!(
            "\n## The overview at 2 000 events/s\n\n\
             500 trucks at 4 events/s, one visible tab, watched {} s once it counts every truck. \
             Busy: main-thread task time over wall time; event-to-frame: the event's server \
             timestamp to the animation frame that hands it to the app; frame p99: intervals \
             between animation frames (the page's part alone); bare stream: the same seconds \
             seen by a plain `EventSource` of the app's stream URL in a second window of the same \
             browser (server timestamp to its `message` event), so the part before the tab. \
             Targets: busy ≤ 15 %, p99 ≤ 30 ms.\n\n\
             | build | page | events/s delivered | busy % | p50 ms | p99 ms | frame p99 ms | bare stream p50/p99 ms | long tasks | lost/repeated | load avg | busy | p99 |\n\
             |---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
            page_load::WINDOW.as_secs()
        ));
        for r in &report.overview {
            let o = &r.row;
            md.push_str(&format!(
                "| {} | `{}` | {:.0} | {:.1} | {} | {} | {} | {}/{} | {} | {}/{} | {:.1}/{:.1} | {} | {} |\n",
                r.build,
                o.path,
                o.events_per_second_delivered,
                o.busy_pct,
                cell(o.latency_p50_ms),
                cell(o.latency_p99_ms),
                cell(o.frame_interval_p99_ms),
                cell(o.bare_stream_p50_ms),
                cell(o.bare_stream_p99_ms),
                o.long_tasks,
                o.lost,
                o.repeated,
                o.load_avg_start,
                o.load_avg_end,
                met(o.busy_pct <= 15.0),
                met(o.latency_p99_ms.is_some_and(|p| p <= 30) && o.lost + o.repeated == 0),
            ));
        }
    }
    if !report.new_tab.is_empty() {
        md.push_str(&format!(
            "\n## A new tab\n\n\
             40 trucks at 2 events/s; a visible leader on `/?transport=leader`, then {NEW_TABS} \
             tabs of the same, one after the other. From the tab's navigation start to the \
             overview's first render with trucks (`convoy:data-shown`), and from the command \
             that opens it to the bench counting every truck. Target ≤ 300 ms.\n\n\
             | build | navigation → data ms | command → data ms | lost/repeated | load avg | |\n\
             |---|---|---|---|---|---|\n"
        ));
        for name in names(report.new_tab.iter().map(|r| r.build.as_str())) {
            let rows: Vec<&NewTab> = report
                .new_tab
                .iter()
                .filter(|r| r.build == name)
                .map(|r| &r.row)
                .collect();
            let nav: Vec<Option<u64>> = rows.iter().map(|r| r.nav_to_data_ms).collect();
            let command: Vec<Option<u64>> = rows.iter().map(|r| r.command_to_data_ms).collect();
            let lost: u64 = rows.iter().map(|r| r.lost).sum();
            let repeated: u64 = rows.iter().map(|r| r.repeated).sum();
            let ok = nav.iter().all(|n| n.is_some_and(|n| n <= 300)) && lost + repeated == 0;
            let load: Vec<String> = rows.iter().map(|r| format!("{:.1}", r.load_avg)).collect();
            md.push_str(&format!(
                "| {name} | {} | {} | {lost}/{repeated} | {} | {} |\n",
                range(&nav),
                range(&command),
                load.join(", "),
                met(ok)
            ));
        }
    }
    if !report.transfer.is_empty() {
        md.push_str(
            "\n## Transfer\n\n\
             The initial load of `/` is what the built `index.html` names (the app's js, wasm \
             and css, gzip -9); the other files load when a worker starts. *Precached*: named \
             by `index.html` or `sw.js`, whose files the service worker caches on install.\n\n\
             | build | file | raw | gzip -9 | brotli | initial | precached |\n|---|---|---|---|---|---|---|\n",
        );
        for r in &report.transfer {
            for s in &r.files {
                md.push_str(&format!(
                    "| {} | {} | {} | {} | {} | {} | {} |\n",
                    r.build,
                    s.file,
                    s.raw,
                    s.gzip,
                    s.brotli.map_or("–".into(), |b| b.to_string()),
                    s.initial,
                    s.precached
                ));
            }
            let (raw, gzip, brotli) = initial_total(&r.files);
            md.push_str(&format!(
                "| {} | **initial load of `/`** | {raw} | {gzip} | {} | | |\n",
                r.build,
                brotli.map_or("–".into(), |b| b.to_string())
            ));
        }
    }
    md
}

fn write(report: &Report, builds: &[Build]) {
    std::fs::create_dir_all("bench").expect("bench/ is writable");
    let label = std::env::var("CONVOY_BENCH_LABEL").unwrap_or_else(|_| "hub".into());
    std::fs::write(format!("bench/{label}.md"), markdown(report, builds))
        .expect("write the hub table");
    let json = serde_json::to_string_pretty(report).expect("rows serialize");
    std::fs::write(format!("bench/{label}.json"), json + "\n").expect("write the hub rows");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: usize = std::env::var("CONVOY_BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let builds = builds();
    let mut report = Report::default();
    if wanted("transfer") {
        for b in &builds {
            report.transfer.push(Transfer {
                build: b.name.clone(),
                files: transfer_sizes(&b.dist),
            });
        }
        write(&report, &builds);
    }
    if wanted("timers") {
        eprintln!("bench: timers of a dedicated worker in a hidden tab");
        report.worker_timers = worker_timers().await;
        write(&report, &builds);
    }
    if wanted("hidden") {
        for (transport, args) in [
            ("leader", FAILOVER_SERVER_ARGS),
            ("direct", HEAVY_SERVER_ARGS),
        ] {
            for b in &builds {
                b.select();
                eprintln!("bench: {}, hidden {transport} tab", b.name);
                let row = hidden_busy(&b.name, &b.dist, transport, &args).await;
                report.hidden.push(row);
            }
        }
        write(&report, &builds);
    }
    if wanted("overview") {
        for path in ["/", "/?transport=leader"] {
            for b in &builds {
                b.select();
                eprintln!("bench: {}, overview {path} at 2 000 events/s", b.name);
                let server = Server::start(&HEAVY_SERVER_ARGS).await;
                let row =
                    page_load::measure(&server, "overview", path, OVERVIEW_SHOWN, 500, 1).await;
                report.overview.push(Of {
                    build: b.name.clone(),
                    row,
                });
            }
        }
        write(&report, &builds);
    }
    if wanted("new-tab") {
        for b in &builds {
            b.select();
            eprintln!("bench: {}, new tabs", b.name);
            for row in new_tabs().await {
                report.new_tab.push(Of {
                    build: b.name.clone(),
                    row,
                });
            }
        }
        write(&report, &builds);
    }
    // The failovers last: the visible windows' rows take the longest.
    let cases = [
        ("hang", "locks", Fault::Hang, Layout::BackgroundTabs),
        ("lease", "lease", Fault::Crash, Layout::BackgroundTabs),
        ("windows", "locks", Fault::Close, Layout::VisibleWindows),
        ("windows", "locks", Fault::Crash, Layout::VisibleWindows),
        ("windows", "locks", Fault::Hang, Layout::VisibleWindows),
    ];
    for (section, mode, fault, layout) in cases {
        if !wanted(section) {
            continue;
        }
        for n in 0..runs {
            for b in &builds {
                b.select();
                eprintln!("bench: {}, {mode}, {fault:?}, {layout:?}, run {n}", b.name);
                let row = failover_run(mode, fault, layout).await;
                eprintln!(
                    "bench:   {}",
                    serde_json::to_string(&row).unwrap_or_default()
                );
                report.failover.push(Of {
                    build: b.name.clone(),
                    row,
                });
            }
        }
        write(&report, &builds);
    }
    println!("{}", markdown(&report, &builds));
}
