//! In-browser: tab feeds in one page elect one leader through the real BroadcastChannel and Web
//! Locks, and hand over when the leader is stopped. No server is needed: an empty watch opens
//! no stream.
#![cfg(target_arch = "wasm32")]

use convoy_browser::tab_feed::{FeedSetup, HubNames, TabFeed};
use convoy_core::delivery::DeliveryLog;
use convoy_core::transport::TransportMode;
use convoy_core::wire::Watch;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn start(names: &HubNames) -> TabFeed {
    let setup = FeedSetup {
        mode: TransportMode::Leader,
        locks: true,
        mode_reason: "test".into(),
        explicit: true,
        skipped: None,
        watch: Watch::Trucks(Default::default()),
        names: names.clone(),
        log: DeliveryLog::new(),
        cursor: None,
    };
    TabFeed::start(setup, |_| {}, |failure| panic!("{failure}"))
}

fn roles(feeds: &[TabFeed]) -> Vec<(&'static str, u64)> {
    feeds
        .iter()
        .map(|feed| feed.report().map_or(("busy", 0), |r| (r.role, r.term)))
        .collect()
}

/// Waits (up to 5 s, checking every 20 ms) until `settled` holds for the feeds' roles. The
/// hubs react to browser events; the test can only look from outside, so it polls.
async fn until(feeds: &[TabFeed], what: &str, settled: impl Fn(&[(&'static str, u64)]) -> bool) {
    for _ in 0..250 {
        if settled(&roles(feeds)) {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    panic!("{what}: roles are {:?}", roles(feeds));
}

fn one_leader(roles: &[(&'static str, u64)]) -> bool {
    roles.iter().filter(|(r, _)| *r == "leader").count() == 1
        && roles
            .iter()
            .all(|(r, _)| *r == "leader" || *r == "follower")
}

#[wasm_bindgen_test]
async fn three_hubs_elect_one_leader_and_hand_over_when_it_goes() {
    let names = HubNames {
        channel: "convoy-test-election".into(),
        lock: "convoy-test-election".into(),
        worker: "convoy-test-election".into(),
        scope: Watch::All,
    };
    let mut feeds: Vec<TabFeed> = (0..3).map(|_| start(&names)).collect();
    until(&feeds, "one leader, two followers", one_leader).await;

    let leader_at = roles(&feeds)
        .iter()
        .position(|(r, _)| *r == "leader")
        .unwrap_or_default();
    let old_term = roles(&feeds)[leader_at].1;
    let leader = feeds.remove(leader_at);
    leader.stop();
    drop(leader);
    until(&feeds, "a new leader in a later term", |roles| {
        one_leader(roles) && roles.iter().all(|(_, term)| *term > old_term)
    })
    .await;
    for feed in &feeds {
        feed.stop();
    }
}
