//! Convoy in the other two engines: Firefox (Gecko) and WebKitGTK (WebKit, Safari's engine). In
//! each, five tabs in `auto`, `leader` and `service-worker` mode share one stream at the server
//! and stay live, none losing or repeating an event; in `leader` mode the leader tab closes and
//! the others keep delivering from one stream. Both engines have SharedWorker, Web Locks,
//! BroadcastChannel and service workers on loopback HTTP, so `auto` runs `shared-worker` in each,
//! and a test fails if an engine stops offering one.

use crate::harness::{eventually, Diagnostics, Server};
use crate::other_engines::{Engine, Firefox, WebKit};
use crate::shared_stream::{one_stream, SERVER_ARGS};
use std::time::{Duration, Instant};

const TABS: usize = 5;

/// `tab`'s diagnostics once it has been shown for a moment: a hidden page's hub hands it
/// nothing until it is shown, then everything it held at once, in order.
async fn shown_diagnostics(engine: &impl Engine, tab: &str) -> Option<Diagnostics> {
    engine.show(tab).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    engine.diagnostics(tab).await
}

/// Every tab's diagnostics, once each has received events past `after`; panics after 45 s
/// naming the tabs that did not.
async fn all_live(engine: &impl Engine, tabs: &[String], after: u64) -> Vec<Diagnostics> {
    let limit = Duration::from_secs(45);
    let started = Instant::now();
    loop {
        let mut all = Vec::new();
        let mut lagging = Vec::new();
        for (i, tab) in tabs.iter().enumerate() {
            match shown_diagnostics(engine, tab).await {
                Some(d) if d.last_event_id > after && !d.received.is_empty() => all.push(d),
                Some(d) => lagging.push(format!(
                    "tab {i}: {} ({}), term {}, upstream {}, last id {}, {} received",
                    d.role,
                    d.transport,
                    d.term,
                    d.upstream,
                    d.last_event_id,
                    d.received.len()
                )),
                None => lagging.push(format!("tab {i}: app not started")),
            }
        }
        if lagging.is_empty() {
            return all;
        }
        assert!(
            started.elapsed() < limit,
            "{}: timed out after {limit:?} waiting for every tab to receive events after id \
             {after}: {}",
            engine.version(),
            lagging.join("; ")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Opens [`TABS`] tabs at `query` (`""` for `auto`), checks they run `transport`, share one
/// stream, and go on delivering without a gap or a repeat; returns the server and the tabs.
async fn tabs_share_one_stream(
    engine: &mut impl Engine,
    query: &str,
    transport: &str,
) -> (Server, Vec<String>) {
    let server = Server::start(&SERVER_ARGS).await;
    let url = format!("{}/{query}", server.base);
    let mut tabs = Vec::new();
    for _ in 0..TABS {
        tabs.push(engine.open_tab(&url).await);
    }
    let first = all_live(engine, &tabs, 0).await;
    let version = engine.version().to_owned();
    for (i, d) in first.iter().enumerate() {
        assert_eq!(d.transport, transport, "{version}: tab {i} at {url}");
    }
    one_stream(&server).await;
    // Live means still delivering: every tab gets events the server made after all had started.
    let latest = server.stats().await.latest_event_id;
    let later = all_live(engine, &tabs, latest + 20).await;
    for (i, d) in later.iter().enumerate() {
        d.assert_contiguous(&format!("{version} ({transport}): tab {i}"));
    }
    one_stream(&server).await;
    let mut hidden = 0;
    for tab in &tabs {
        hidden += usize::from(engine.visibility(tab).await.as_deref() == Some("hidden"));
    }
    eprintln!(
        "{version}: {TABS} tabs ({hidden} hidden) live in {transport}, {} stream(s) opened in all",
        server.stats().await.opened_total
    );
    (server, tabs)
}

/// A worker mode (`auto` included): every tab is the worker's client.
async fn worker_mode(mut engine: impl Engine, query: &str, transport: &str) {
    let (_server, tabs) = tabs_share_one_stream(&mut engine, query, transport).await;
    for tab in &tabs {
        let d = engine.diagnostics(tab).await.expect("diagnostics");
        assert_eq!(d.role, "worker-client", "{}", engine.version());
    }
}

/// `leader` mode, then the leader tab closes: another tab leads in a later term, one stream
/// serves the rest, and every remaining tab goes on delivering without a gap or a repeat.
async fn leader_mode_fails_over(mut engine: impl Engine) {
    let (server, mut tabs) =
        tabs_share_one_stream(&mut engine, "?transport=leader", "leader").await;
    let version = engine.version().to_owned();
    // Exactly one tab leads once the election settles (a term can change hands first).
    let (at, old) = eventually(Duration::from_secs(10), "exactly one leader", || async {
        let mut leaders = Vec::new();
        for (i, tab) in tabs.iter().enumerate() {
            let d = shown_diagnostics(&engine, tab).await?;
            if d.role == "leader" {
                leaders.push((i, d));
            }
        }
        (leaders.len() == 1).then(|| leaders.remove(0))
    })
    .await;
    eprintln!("{version}: tab {at} of {TABS} leads in term {}", old.term);

    let latest = server.stats().await.latest_event_id;
    engine.close_tab(&tabs.remove(at)).await;
    let next = eventually(Duration::from_secs(20), "a new leader", || async {
        for tab in &tabs {
            let d = shown_diagnostics(&engine, tab).await?;
            if d.role == "leader" && d.tab_id != old.tab_id && d.term > old.term {
                return Some(d);
            }
        }
        None
    })
    .await;
    let after = all_live(&engine, &tabs, latest + 40).await;
    for (i, d) in after.iter().enumerate() {
        d.assert_contiguous(&format!("{version}: tab {i} after the leader closed"));
    }
    one_stream(&server).await;
    eprintln!(
        "{version}: leader closed, tab {} leads in term {}; {} tabs live on one stream",
        next.tab_id,
        next.term,
        tabs.len()
    );
}

/// The negative control: in `direct` mode each tab holds its own stream, and the server counts
/// them all, so the one-stream checks above can tell.
async fn direct_tabs_each_open_a_stream(mut engine: impl Engine) {
    let server = Server::start(&SERVER_ARGS).await;
    let url = format!("{}/?transport=direct", server.base);
    let mut tabs = Vec::new();
    for _ in 0..TABS {
        tabs.push(engine.open_tab(&url).await);
    }
    all_live(&engine, &tabs, 0).await;
    let what = format!("{} open streams in {}", TABS, engine.version());
    eventually(Duration::from_secs(20), &what, || async {
        (server.stats().await.open_streams == TABS as u64).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_auto_runs_the_shared_worker_on_one_stream() {
    worker_mode(Firefox::start().await, "", "shared-worker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_leader_tabs_share_one_stream_and_survive_the_leader_closing() {
    leader_mode_fails_over(Firefox::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_service_worker_holds_one_stream() {
    worker_mode(
        Firefox::start().await,
        "?transport=service-worker",
        "service-worker",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webkit_auto_runs_the_shared_worker_on_one_stream() {
    worker_mode(WebKit::start().await, "", "shared-worker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webkit_leader_tabs_share_one_stream_and_survive_the_leader_closing() {
    leader_mode_fails_over(WebKit::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webkit_service_worker_holds_one_stream() {
    worker_mode(
        WebKit::start().await,
        "?transport=service-worker",
        "service-worker",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firefox_direct_tabs_each_open_a_stream() {
    direct_tabs_each_open_a_stream(Firefox::start().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webkit_direct_tabs_each_open_a_stream() {
    direct_tabs_each_open_a_stream(WebKit::start().await).await;
}
