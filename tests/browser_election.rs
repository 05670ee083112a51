//! In-browser: hubs in one page elect one leader through the real BroadcastChannel and Web
//! Locks, and hand over when the leader is dropped. No server is needed: an empty watch opens
//! no stream.
#![cfg(target_arch = "wasm32")]

use convoy::web::transport::driver::{HubDriver, HubNames};
use convoy::web::transport::{FeedUpdate, TransportMode};
use convoy_core::wire::Watch;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen_test::*;
use yew::Callback;

wasm_bindgen_test_configure!(run_in_browser);

type Driver = Rc<RefCell<HubDriver>>;

fn start(names: &HubNames) -> Driver {
    HubDriver::start_with(
        TransportMode::Leader,
        "test".into(),
        Watch::Trucks(Default::default()),
        Callback::from(|_: FeedUpdate| {}),
        names.clone(),
    )
}

fn roles(drivers: &[Driver]) -> Vec<(&'static str, u64)> {
    drivers
        .iter()
        .map(|d| {
            let report = d.borrow().report();
            (report.role, report.term)
        })
        .collect()
}

/// Waits (up to 5 s, checking every 20 ms) until `settled` holds for the drivers' roles. The
/// hubs react to browser events; the test can only look from outside, so it polls.
async fn until(drivers: &[Driver], what: &str, settled: impl Fn(&[(&'static str, u64)]) -> bool) {
    for _ in 0..250 {
        if settled(&roles(drivers)) {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
    panic!("{what}: roles are {:?}", roles(drivers));
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
    };
    let mut drivers: Vec<Driver> = (0..3).map(|_| start(&names)).collect();
    until(&drivers, "one leader, two followers", one_leader).await;

    let leader_at = roles(&drivers)
        .iter()
        .position(|(r, _)| *r == "leader")
        .unwrap_or_default();
    let old_term = roles(&drivers)[leader_at].1;
    let leader = drivers.remove(leader_at);
    HubDriver::stop(&leader);
    drop(leader);
    until(&drivers, "a new leader in a later term", |roles| {
        one_leader(roles) && roles.iter().all(|(_, term)| *term > old_term)
    })
    .await;
    for driver in &drivers {
        HubDriver::stop(driver);
    }
}
