//! A hostile script on the origin: four leader-mode tabs share one stream while a fifth page of
//! the same origin (not the app) listens on the `convoy` BroadcastChannel, records real frames
//! for a few seconds, then for 10 s posts mutated copies back: every number in a frame pushed to
//! 2^53-1, 2^53, 1e300, -1 and 0, one field at a time, mixed with garbage (random text, huge
//! strings, non-JSON, arrays, nested junk, non-string messages). Every tab must keep delivering
//! live events through the attack, and every tab's ids must be exactly once and in order.
//! `core/tests/relay_sim.rs` runs the same attack on the simulation.

use crate::harness::{eventually, Browser, Server};
use crate::shared_stream::{all_past, one_stream, open_tabs, SERVER_ARGS};
use fantoccini::wd::WindowHandle;
use std::time::{Duration, Instant};

const TABS: usize = 4;
const RECORD_MS: u64 = 4_000;
const ATTACK_MS: u64 = 10_000;

/// The attacker, run in a dedicated worker (its timers are not throttled like a background
/// tab's) or, if the page cannot start one, in the page. It reports to `window.convoyAttack`.
const ATTACKER: &str = r#"
const RECORD_MS = __RECORD_MS__, ATTACK_MS = __ATTACK_MS__;
const EDGES = [9007199254740991, 9007199254740992, 1e300, -1, 0];
const report = (state) => (typeof self.postMessage === "function" && typeof window === "undefined")
  ? self.postMessage(state) : (self.convoyAttack = state);
const channel = new BroadcastChannel("convoy");
const recorded = [];
let recording = true;
channel.onmessage = (e) => { if (recording && typeof e.data === "string") recorded.push(e.data); };
function numberPaths(value, path, out) {
  if (typeof value === "number") out.push(path);
  else if (Array.isArray(value)) value.forEach((v, i) => numberPaths(v, path.concat([i]), out));
  else if (value && typeof value === "object")
    for (const k of Object.keys(value)) numberPaths(value[k], path.concat([k]), out);
  return out;
}
function mutations(raw) {
  let frame;
  try { frame = JSON.parse(raw); } catch (_) { return []; }
  const out = [];
  for (const path of numberPaths(frame, [], [])) {
    for (const edge of EDGES) {
      const copy = JSON.parse(raw);
      let slot = copy;
      for (const step of path.slice(0, -1)) slot = slot[step];
      slot[path[path.length - 1]] = edge;
      out.push(JSON.stringify(copy));
    }
  }
  return out;
}
function noise(n) {
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(Math.floor(Math.random() * 0x3000));
  return s;
}
const huge = "x".repeat(3 << 20);
const garbage = [
  () => noise(Math.floor(Math.random() * 200)),
  () => "not json {",
  () => "[1,2,3]",
  () => "[".repeat(5000),
  () => '{"a":'.repeat(300) + "}".repeat(300),
  () => '{"v":1,"app":"convoy","from":"x","term":[],"msg":{"type":"event"}}',
  () => '{"v":1,"app":"convoy","from":5,"term":1,"msg":{"type":"hello","watch":{"kind":"trucks","trucks":["../../x&lastEventId=1"]},"cursor":null}}',
  () => ({ v: 1, app: "convoy" }),
  () => [1, 2, 3],
  () => null,
];
report({ phase: "recording", recorded: 0, posted: 0 });
setTimeout(() => {
  recording = false;
  const copies = recorded.flatMap(mutations);
  for (let i = copies.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [copies[i], copies[j]] = [copies[j], copies[i]];
  }
  const started = Date.now();
  let posted = 0, next = 0, lastHuge = 0;
  report({ phase: "attacking", recorded: recorded.length, copies: copies.length, posted, started });
  const tick = () => {
    for (let k = 0; k < 5; k++) {
      let message;
      if (posted % 20 === 19) message = garbage[Math.floor(Math.random() * garbage.length)]();
      else if (copies.length) message = copies[next++ % copies.length];
      else message = noise(50);
      channel.postMessage(message);
      posted++;
    }
    if (Date.now() - lastHuge >= 1000) {
      channel.postMessage(huge);
      posted++;
      lastHuge = Date.now();
    }
    if (Date.now() - started < ATTACK_MS) {
      setTimeout(tick, 5);
    } else {
      report({ phase: "done", recorded: recorded.length, copies: copies.length, posted, started });
    }
  };
  tick();
}, RECORD_MS);
"#;

/// Starts the attacker in the current page; it records for `RECORD_MS`, then attacks.
const START: &str = r#"
const source = arguments[0];
window.convoyAttack = { phase: "starting" };
try {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const worker = new Worker(url);
  worker.onmessage = (e) => { window.convoyAttack = e.data; };
  worker.onerror = (e) => { window.convoyAttack = { phase: "worker error: " + e.message }; };
  window.convoyAttacker = worker;
  return "worker";
} catch (e) {
  (0, eval)(source);
  return "page (" + e + ")";
}
"#;

async fn received_counts(browser: &Browser, tabs: &[WindowHandle]) -> Vec<usize> {
    let mut counts = Vec::new();
    for tab in tabs {
        let d = browser.diagnostics(tab).await.expect("the app runs");
        counts.push(d.received.len());
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_on_the_channel_stop_no_tab_and_lose_or_repeat_nothing() {
    let server = Server::start(&SERVER_ARGS).await;
    let browser = Browser::start().await;
    let url = format!("{}/?transport=leader", server.base);
    let tabs = open_tabs(&browser, &url, TABS).await;
    all_past(&browser, &tabs, 0).await;
    one_stream(&server).await;

    // The attacker: a page of the origin that does not run the app.
    let attacker = browser
        .open_tab(&format!("{}/api/stats", server.base))
        .await;
    let source = ATTACKER
        .replace("__RECORD_MS__", &RECORD_MS.to_string())
        .replace("__ATTACK_MS__", &ATTACK_MS.to_string());
    browser
        .client
        .switch_to_window(attacker.clone())
        .await
        .expect("switch tab");
    let runs_in = browser
        .client
        .execute(START, vec![serde_json::json!(source)])
        .await
        .expect("the attacker starts");
    eprintln!("attacker runs in a {runs_in}");
    eventually(
        Duration::from_secs(RECORD_MS / 1_000 + 20),
        "the attack to start",
        || async {
            let state = browser.run(&attacker, "return window.convoyAttack;").await;
            let phase = state["phase"].as_str().unwrap_or_default().to_owned();
            assert!(!phase.starts_with("worker error"), "{state}");
            (phase == "attacking").then_some(())
        },
    )
    .await;
    let state = browser.run(&attacker, "return window.convoyAttack;").await;
    eprintln!("attack started: {state}");
    assert!(
        state["copies"].as_u64().unwrap_or(0) > 100,
        "too few frames recorded: {state}"
    );

    // During the attack: every tab's deliveries grow in every interval.
    let attack_started = Instant::now();
    let mut samples = vec![received_counts(&browser, &tabs).await];
    while attack_started.elapsed() < Duration::from_millis(ATTACK_MS - 500) {
        tokio::time::sleep(Duration::from_millis(2_000)).await;
        samples.push(received_counts(&browser, &tabs).await);
    }
    let finished = eventually(Duration::from_secs(30), "the attack to end", || async {
        let state = browser.run(&attacker, "return window.convoyAttack;").await;
        (state["phase"] == "done").then_some(state)
    })
    .await;
    let live = (0..TABS)
        .filter(|&k| samples.windows(2).all(|w| w[1][k] > w[0][k]))
        .count();
    eprintln!(
        "{live} of {TABS} tabs kept delivering during the attack ({} messages posted); \
         deliveries per tab at each sample: {samples:?}",
        finished["posted"]
    );
    browser.close_tab(&attacker).await;

    // After it: everyone catches up, one stream, ids exactly once and in order.
    let latest = server.stats().await.latest_event_id;
    let after = all_past(&browser, &tabs, latest + 20).await;
    one_stream(&server).await;
    for (i, d) in after.iter().enumerate() {
        eprintln!(
            "tab {i}: {} {} term {}, {} received, {} snapshots",
            d.role,
            d.transport,
            d.term,
            d.received.len(),
            d.snapshots
        );
    }
    for (i, d) in after.iter().enumerate() {
        d.assert_contiguous(&format!("tab {i} after the attack"));
    }
    assert_eq!(live, TABS, "tabs that stopped delivering during the attack");
    browser.quit().await;
}
