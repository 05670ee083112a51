//! Deterministic simulation of many tabs running `crate::relay::TabHub` on a virtual clock: a
//! simulated BroadcastChannel (drops, delays, reordering from a seeded PRNG), a Web Locks manager
//! (exclusive, FIFO, steal; released when a tab crashes or closes, not when it freezes), and a
//! server that emits fleet events, replays from a last event id and serves snapshots (the harness
//! is in `support/`, shared with `worker_hub.rs`). Tabs open
//! late, close cleanly, crash, freeze and resume, enter and leave the back/forward cache, and
//! have their timers throttled like hidden tabs.
//!
//! Invariants checked: at most one tab relays per term (in lossless runs; with drops, two
//! same-term leaders overlap only briefly); every event the server emitted reaches every live tab
//! exactly once and in order, counting snapshot coverage; every tab's state equals the server's
//! for its watch; failover within `HubConfig::failover_bound_ms`.
//!
//! Knobs for exploring beyond the default suite: `SIM_CHAOS_SEEDS=<n>` (chaos seeds, default 4),
//! `SIM_DROP=<p>` (chaos drop probability, default 0.03), `SIM_ONLY=Lease/24` (one chaos run),
//! `SIM_TRACE=1` (role changes and per-tab counters on stderr; use with `--nocapture`).
#![cfg(not(target_arch = "wasm32"))]

mod support;

use convoy_core::election::{ElectionMode, Role};
use convoy_core::relay::{
    Connection, Departure, Link, TabFrame, TabMsg, UpstreamState, APP_NAME, PROTOCOL_VERSION,
};
use convoy_core::wire::{EventId, FleetSnapshot, Watch};
use std::collections::BTreeSet;
use support::app::Item;
use support::fixtures::{event, seed_truck, truck_name, trucks, EPOCH};
use support::hostile::{garbage, mutations};
use support::rng::Rng;
use support::world::{Sim, SimConfig};

/// `SimConfig::new`'s pace: an event every this many ms.
fn cfg_event_interval() -> u64 {
    SimConfig::new(ElectionMode::Lease, 0).event_interval
}

fn both_modes() -> [ElectionMode; 2] {
    [ElectionMode::Locks, ElectionMode::Lease]
}

fn open_many(sim: &mut Sim, n: usize, spacing: u64) -> Vec<usize> {
    (0..n)
        .map(|k| {
            let watch = match k % 4 {
                0 => Watch::All,
                1 => trucks(&["T-01", "T-02"]),
                2 => trucks(&["T-03"]),
                _ => trucks(&["T-02", "T-05", "T-07"]),
            };
            let i = sim.open_tab(watch);
            sim.run_for(spacing);
            i
        })
        .collect()
}

// ----- scenarios -----

#[test]
fn fifty_tabs_share_one_stream_and_all_get_everything() {
    for mode in both_modes() {
        let mut cfg = SimConfig::new(mode, 1);
        cfg.event_interval = 100;
        let mut sim = Sim::new(cfg);
        open_many(&mut sim, 50, 20);
        sim.run_for(3_000);
        assert_eq!(sim.leaders().len(), 1, "{mode:?}");
        sim.settle_and_check();
        sim.check_one_relay_per_term();
        assert_eq!(
            sim.log.max_open_streams, 1,
            "{mode:?}: one upstream for 50 tabs"
        );
        assert_eq!(sim.server.opened, 1, "{mode:?}: opened once");
    }
}

#[test]
fn clean_close_of_the_leader_fails_over_within_bound() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 2));
        open_many(&mut sim, 6, 50);
        sim.run_for(1_000);
        for round in 0..4 {
            let old = sim.leader();
            let t0 = sim.now;
            sim.close(old);
            let took = sim
                .failover(t0, old, 1_500)
                .unwrap_or_else(|| panic!("{mode:?} round {round}: no takeover"));
            sim.run_for(1_000);
            let bound = sim.bound(Departure::CleanClose);
            assert!(
                took < bound,
                "{mode:?} round {round}: {took} ms >= {bound} ms"
            );
            sim.open_tab(Watch::All);
            sim.run_for(500);
        }
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn crash_of_the_leader_fails_over_within_bound() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 3));
        open_many(&mut sim, 6, 50);
        sim.run_for(1_000);
        for round in 0..3 {
            let old = sim.leader();
            let t0 = sim.now;
            sim.crash(old);
            let took = sim
                .failover(t0, old, 5_000)
                .unwrap_or_else(|| panic!("{mode:?} round {round}: no takeover"));
            sim.run_for(1_000);
            let bound = sim.bound(Departure::Crash);
            assert!(
                took < bound,
                "{mode:?} round {round}: {took} ms >= {bound} ms"
            );
        }
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn frozen_leader_is_replaced_and_stands_down_when_it_resumes() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 4));
        open_many(&mut sim, 5, 50);
        sim.run_for(1_000);
        let old = sim.leader();
        let old_term = sim.tabs[old].hub.diagnostics().term;
        let t0 = sim.now;
        sim.freeze(old);
        let took = sim.failover(t0, old, 6_000).expect("takeover");
        sim.run_for(1_000);
        // The leader relayed server heartbeats: its successor takes over on that clock.
        let bound = sim.takeover_bound(0);
        assert!(took < bound, "{mode:?}: {took} ms >= {bound} ms");
        assert!(bound < sim.bound(Departure::Freeze));
        let new = sim.leader();
        assert_ne!(new, old);
        assert!(sim.tabs[new].hub.diagnostics().term > old_term);
        if mode == ElectionMode::Locks {
            assert_eq!(sim.locks.holder, Some(new), "the new leader stole the lock");
        }
        sim.resume(old);
        sim.run_for(1_000);
        assert_eq!(
            sim.role(old),
            Role::Follower,
            "{mode:?}: old leader follows"
        );
        assert_eq!(sim.leader(), new);
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn lossy_reordering_channel_still_delivers_exactly_once() {
    for mode in both_modes() {
        for seed in [11, 12, 13] {
            let mut sim = Sim::new(SimConfig::new(mode, seed).lossy(0.08));
            open_many(&mut sim, 8, 100);
            sim.run_for(2_000);
            let old = sim.leader();
            sim.crash(old);
            sim.run_for(5_000);
            let old = sim.leader();
            sim.close(old);
            sim.run_for(2_000);
            sim.open_tab(trucks(&["T-04"]));
            sim.run_for(2_000);
            sim.settle_and_check();
            let overlap = sim.max_same_term_overlap();
            if std::env::var_os("SIM_TRACE").is_some() {
                let terms: BTreeSet<u64> = sim.log.relays.iter().map(|r| r.1).collect();
                eprintln!(
                    "{mode:?}/{seed}: overlap {overlap} ms, {} terms, {} claims, {} relays",
                    terms.len(),
                    sim.log.claims,
                    sim.log.relays.len(),
                );
            }
            assert!(
                overlap <= 1_000,
                "{mode:?}/{seed}: same-term overlap {overlap} ms"
            );
            let gaps: u64 = sim.live().map(|i| sim.tabs[i].hub.diagnostics().gaps).sum();
            assert!(
                gaps > 0,
                "{mode:?}/{seed}: the drops were noticed and repaired"
            );
        }
    }
}

#[test]
fn malformed_and_foreign_messages_are_counted_not_fatal() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 5));
        open_many(&mut sim, 3, 50);
        sim.run_for(500);
        let deep = "[".repeat(10_000);
        let malformed = [
            "",
            "not json",
            "null",
            "[1,2,3]",
            r#"{"v":1,"app":"convoy"}"#,
            r#"{"v":1,"app":"convoy","from":5,"term":1,"msg":{"type":"bogus"}}"#,
            r#"{"v":1,"app":"convoy","from":5,"term":1,"msg":{"type":"event","event":{"id":5,"event":{"type":"status","truck":"T-01","at_ms":1,"status":"idle","next_stop":0}},"prev":9,"union":{"kind":"all"}}}"#,
            r#"{"v":1,"app":"convoy","from":5,"term":18446744073709551615,"msg":{"type":"goodbye"}}"#,
            r#"{"v":1,"app":"convoy","from":-1,"term":1,"msg":{"type":"goodbye"}}"#,
            deep.as_str(),
            "\u{0}\u{ffff}\"",
        ];
        let foreign = [
            "{}",
            r#"{"v":2,"app":"convoy","from":5,"term":1,"msg":{"type":"goodbye"}}"#,
            r#"{"v":2,"app":"convoy","from":5,"term":1,"msg":{"type":"telepathy"}}"#,
            r#"{"v":1,"app":"other","from":5,"term":1,"msg":{"type":"goodbye"}}"#,
            r#"{"app":"rxdb","type":"leader"}"#,
        ];
        let mut rng = Rng(99);
        let noise: Vec<String> = (0..50)
            .map(|_| {
                (0..rng.below(40))
                    .map(|_| char::from_u32(rng.below(0x2FF) as u32).unwrap_or('?'))
                    .collect()
            })
            .collect();
        for i in sim.live().collect::<Vec<_>>() {
            for raw in malformed {
                sim.inject(i, raw);
            }
            for raw in foreign {
                sim.inject(i, raw);
            }
            for raw in &noise {
                let before = sim.tabs[i].hub.diagnostics().foreign;
                sim.inject(i, raw);
                assert_eq!(
                    sim.tabs[i].hub.diagnostics().foreign,
                    before,
                    "noise {raw:?}"
                );
            }
            let own = format!(
                r#"{{"v":1,"app":"convoy","from":{},"term":1,"msg":{{"type":"goodbye"}}}}"#,
                sim.tabs[i].id
            );
            sim.inject(i, &own);
            let d = sim.tabs[i].hub.diagnostics();
            assert_eq!(d.foreign, foreign.len() as u64 + 1, "{mode:?} tab {i}");
            assert!(d.malformed >= malformed.len() as u64, "{mode:?} tab {i}");
            assert_eq!(
                d.malformed + d.foreign,
                malformed.len() as u64 + foreign.len() as u64 + 1 + noise.len() as u64,
                "{mode:?} tab {i}"
            );
        }
        sim.run_for(1_000);
        sim.settle_and_check();
    }
}

#[test]
fn merged_subscription_follows_tabs_opening_closing_and_changing_watch() {
    for mode in both_modes() {
        let mut cfg = SimConfig::new(mode, 6);
        cfg.hub = |c| {
            c.peer_expiry_ms = 4_000;
            c.watch_refresh_ms = 1_000;
        };
        let mut sim = Sim::new(cfg);
        let a = sim.open_tab(trucks(&["T-01"]));
        sim.run_for(500);
        let b = sim.open_tab(trucks(&["T-02"]));
        let c = sim.open_tab(trucks(&["T-03"]));
        sim.run_for(1_000);
        let subscribed = |sim: &Sim| {
            let leader = sim.leader();
            let conn = sim.tabs[leader].conn.expect("the leader's stream");
            sim.server.conns[&conn].watch.clone()
        };
        assert_eq!(
            subscribed(&sim),
            trucks(&["T-01", "T-02", "T-03"]),
            "{mode:?}"
        );
        // A follower changes its watch: the stream follows, and it gets the new truck's state.
        let follower = [a, b, c].into_iter().find(|&i| i != sim.leader()).unwrap();
        let before = sim.tabs[follower].app.items.len();
        sim.set_watch(follower, trucks(&["T-06"]));
        sim.run_for(1_000);
        let mut expected: BTreeSet<&str> = ["T-01", "T-02", "T-03"].into();
        let old = match &sim.tabs[follower].app.watches[0].1 {
            Watch::Trucks(set) => set.iter().next().unwrap().clone(),
            Watch::All => unreachable!(),
        };
        expected.remove(old.as_str());
        expected.insert("T-06");
        assert_eq!(
            subscribed(&sim),
            trucks(&expected.iter().copied().collect::<Vec<_>>()),
            "{mode:?}"
        );
        assert!(
            sim.tabs[follower].app.items[before..]
                .iter()
                .any(|i| matches!(i, Item::Snap(_))),
            "{mode:?}: the grown watch came with a snapshot"
        );
        // A closing tab leaves the union at once; a crashed one after peer_expiry_ms.
        let others: Vec<usize> = [a, b, c]
            .into_iter()
            .filter(|&i| i != sim.leader() && i != follower)
            .collect();
        let closing = others[0];
        let closing_truck = sim.tabs[closing].app.watches[0].1.clone();
        sim.close(closing);
        sim.run_for(1_000);
        assert!(
            !subscribed(&sim).covers(&closing_truck),
            "{mode:?}: closed tab's truck left the stream"
        );
        let d = sim.open_tab(Watch::All);
        sim.run_for(1_000);
        assert_eq!(subscribed(&sim), Watch::All, "{mode:?}");
        sim.crash(d);
        sim.run_for(6_000);
        assert_ne!(subscribed(&sim), Watch::All, "{mode:?}: expired");
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn late_joiner_gets_snapshot_then_live_events_without_gap() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 7));
        open_many(&mut sim, 3, 50);
        sim.run_for(3_000);
        for watch in [Watch::All, trucks(&["T-02"]), trucks(&["T-08", "T-01"])] {
            let i = sim.open_tab(watch.clone());
            sim.run_for(1_000);
            let items = &sim.tabs[i].app.items;
            let Some(Item::Snap(s)) = items.first() else {
                panic!("{mode:?}: first item is not a snapshot: {items:?}");
            };
            let next: Vec<EventId> = items[1..]
                .iter()
                .map(|item| match item {
                    Item::Event(id) => *id,
                    Item::Snap(_) => panic!("{mode:?}: a second snapshot"),
                })
                .collect();
            let expected: Vec<EventId> = sim
                .server
                .history
                .iter()
                .filter(|(_, e)| e.id > *s && watch.includes(e.event.truck()))
                .map(|(_, e)| e.id)
                .take(next.len())
                .collect();
            assert!(!next.is_empty(), "{mode:?}: live events followed");
            assert_eq!(
                next, expected,
                "{mode:?}: live right after the snapshot, no gap"
            );
        }
        sim.settle_and_check();
    }
}

#[test]
fn a_tab_that_starts_with_state_needs_no_snapshot_and_leads_from_its_cursor() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 8));
        let others = open_many(&mut sim, 3, 50);
        sim.run_for(1_000);
        // Its app comes from another transport, five events behind the server.
        let at = sim.server.next_id - 6;
        let i = sim.open_tab_with_state(Watch::All, at);
        sim.run_for(2_000);
        let d = sim.tabs[i].hub.diagnostics();
        assert_eq!(d.role, Role::Follower, "{mode:?}");
        assert_eq!(d.snapshot_requests, 0, "{mode:?}");
        assert!(d.resend_requests >= 1, "{mode:?}: the gap is replayed");
        // Then every other tab goes: it leads, from its own cursor.
        for j in others {
            sim.close(j);
            sim.run_for(300);
        }
        sim.run_for(1_000);
        assert_eq!(sim.leader(), i, "{mode:?}");
        sim.settle_and_check();
        assert_eq!(
            sim.tabs[i].app.snapshots(),
            [at],
            "{mode:?}: only the state it had"
        );
    }
}

/// The attack of `tests/e2e/hostile_frames.rs` on the simulation: a script records the
/// channel for 3 s, then for 10 s posts to every tab, every 2 ms, a recorded frame with one
/// number pushed to an edge (2^53-1, 2^53, 1e300, -1, 0), or garbage. Every tab must keep
/// delivering live events every second of it, and exactly once and in order throughout.
#[test]
fn a_hostile_script_on_the_channel_stops_no_tab_and_breaks_nothing() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 31));
        for _ in 0..4 {
            sim.open_tab(Watch::All);
            sim.run_for(50);
        }
        sim.run_for(1_000);
        sim.log.recorded = Some(Vec::new());
        sim.run_for(3_000);
        let recorded = sim.log.recorded.take().expect("recording");
        let copies: Vec<String> = recorded.iter().flat_map(|raw| mutations(raw)).collect();
        let mut rng = Rng(7);
        let junk = garbage(&mut rng);
        assert!(copies.len() > 1_000, "{} copies", copies.len());
        let tabs: Vec<usize> = sim.live().collect();
        let count = |sim: &Sim| -> Vec<usize> {
            tabs.iter()
                .map(|&i| sim.tabs[i].app.delivered().len())
                .collect()
        };
        let mut seconds = vec![count(&sim)];
        for step in 0..5_000u64 {
            let raw = if step % 25 == 24 {
                &junk[rng.below(junk.len() as u64) as usize]
            } else {
                &copies[rng.below(copies.len() as u64) as usize]
            };
            for &i in &tabs {
                sim.inject(i, raw);
            }
            sim.run_for(2);
            if step % 500 == 499 {
                seconds.push(count(&sim));
            }
        }
        let live_throughout = tabs
            .iter()
            .enumerate()
            .filter(|(k, _)| seconds.windows(2).all(|w| w[1][*k] >= w[0][*k] + 10))
            .count();
        eprintln!(
            "{mode:?}: {live_throughout} of {} tabs delivered every second of the attack;              deliveries per tab at each second: {seconds:?}",
            tabs.len()
        );
        assert_eq!(live_throughout, tabs.len(), "{mode:?}");
        assert_eq!(sim.leaders().len(), 1, "{mode:?}");
        sim.run_for(2_000);
        sim.settle_and_check();
        for &i in &tabs {
            let d = sim.tabs[i].hub.diagnostics();
            assert!(d.malformed > 1_000, "{mode:?} tab {i}: {d:?}");
            assert_eq!(sim.tabs[i].app.snapshots().len(), 1, "{mode:?} tab {i}");
        }
    }
}

#[test]
fn forged_frames_about_trucks_outside_the_scope_show_nothing_and_lose_nothing() {
    for mode in both_modes() {
        let mut cfg = SimConfig::new(mode, 32);
        // The operator may see every truck the simulated server has; T-99 is another's.
        cfg.hub = |c| c.scope = Watch::Trucks((0..8).map(truck_name).collect());
        let mut sim = Sim::new(cfg);
        // Two tabs watch every truck: one leads, the other would show T-99.
        open_many(&mut sim, 5, 50);
        sim.run_for(1_000);
        let mut other = seed_truck(98);
        other.id = "T-99".into();
        for _ in 0..40 {
            // A script that reads the channel posts, as the leader, the next event before the
            // server sends it, and a reset snapshot at the leader's position.
            let leader = sim.leader();
            let d = sim.tabs[leader].hub.diagnostics();
            let forge = |msg: TabMsg| {
                serde_json::to_string(&TabFrame {
                    v: PROTOCOL_VERSION,
                    app: APP_NAME.into(),
                    from: sim.tabs[leader].id,
                    term: d.term,
                    hidden: false,
                    msg,
                })
                .unwrap()
            };
            let next = Link {
                event: event(d.cursor + 1, "T-99"),
                prev: d.cursor,
                union: Watch::All,
            };
            let reset = TabMsg::Snapshot {
                to: None,
                watch: Watch::All,
                reset: true,
                snapshot: FleetSnapshot {
                    last_event_id: d.cursor,
                    trucks: vec![other.clone()],
                },
            };
            let frames = [forge(TabMsg::Event(next)), forge(reset)];
            for i in sim.live().filter(|&i| i != leader).collect::<Vec<_>>() {
                for raw in &frames {
                    sim.inject(i, raw);
                }
            }
            sim.run_for(50);
        }
        let leader = sim.leader();
        for i in sim.live().collect::<Vec<_>>() {
            let (app, d) = (&sim.tabs[i].app, sim.tabs[i].hub.diagnostics());
            assert!(!app.trucks_seen.contains("T-99"), "{mode:?} tab {i}: {d:?}");
        }
        // Every real event reached every tab once: none was taken for a forged one's repeat.
        sim.settle_and_check();
        for i in sim.live().filter(|&i| i != leader).collect::<Vec<_>>() {
            let d = sim.tabs[i].hub.diagnostics();
            assert_eq!(d.out_of_scope, 80, "{mode:?} tab {i}: {d:?}");
        }
    }
}

#[test]
fn upstream_errors_reconnect_with_backoff_from_the_cursor() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 8));
        open_many(&mut sim, 4, 50);
        sim.run_for(1_000);
        let leader = sim.leader();
        let mut delays = Vec::new();
        sim.kill_stream(leader);
        sim.run_for(2);
        for _ in 0..3 {
            let d = sim.tabs[leader].hub.diagnostics();
            assert_eq!(d.upstream, UpstreamState::Backoff, "{mode:?}");
            let at = d
                .reconnect_at_ms
                .expect("reconnect time for the status chip");
            delays.push(at - sim.now);
            sim.run_for(at - sim.now);
            assert!(sim.tabs[leader].conn.is_some(), "{mode:?}: reopened");
            // Fail again before the stream proves itself, so the backoff grows.
            sim.kill_stream(leader);
            sim.run_for(2);
        }
        assert!(delays[2] > delays[0], "{mode:?}: backoff grows: {delays:?}");
        assert!(delays.iter().all(|&d| d <= 30_000));
        sim.run_for(1_000);
        assert_eq!(
            sim.leader(),
            leader,
            "{mode:?}: no failover for a stream error"
        );
        sim.settle_and_check();
    }
}

#[test]
fn server_reset_gives_every_tab_the_new_snapshot() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 9));
        open_many(&mut sim, 5, 50);
        sim.run_for(1_000);
        let counts: Vec<usize> = sim.live().map(|i| sim.tabs[i].app.items.len()).collect();
        sim.forget_history();
        sim.run_for(1_000);
        for (k, i) in sim.live().collect::<Vec<_>>().into_iter().enumerate() {
            assert!(
                sim.tabs[i].app.items[counts[k]..]
                    .iter()
                    .any(|item| matches!(item, Item::Snap(_))),
                "{mode:?}: tab {i} got the reset snapshot"
            );
        }
        sim.settle_and_check();
    }
}

#[test]
fn a_line_the_leaders_decoder_drops_is_resumed_and_every_tab_gets_every_event_once() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 10));
        open_many(&mut sim, 5, 50);
        sim.run_for(1_000);
        let leader = sim.leader();
        let opened = sim.server.opened;
        let snapshots: Vec<usize> = sim
            .live()
            .map(|i| sim.tabs[i].app.snapshots().len())
            .collect();
        // The union watches everything, so the next event goes to the leader's stream, in a
        // line its decoder drops.
        let lost = sim.server.next_id;
        sim.drop_next_line(leader);
        // At once: well within the first reconnect delay (500 ms at least) of a failed stream.
        sim.run_for(cfg_event_interval() + 200);
        let d = sim.tabs[leader].hub.diagnostics();
        assert_eq!(d.upstream_gaps, 1, "{mode:?}: {d:?}");
        assert_eq!(d.reconnect_attempt, 0, "{mode:?}: not a failure");
        assert_eq!(sim.server.opened, opened + 1, "{mode:?}: resumed once");
        let truck = sim.server.history.iter().find(|(_, e)| e.id == lost);
        let truck = truck.expect("emitted").1.event.truck().to_owned();
        for (k, i) in sim.live().collect::<Vec<_>>().into_iter().enumerate() {
            let app = &sim.tabs[i].app;
            let n = snapshots[k];
            assert_eq!(
                app.snapshots().len(),
                n,
                "{mode:?} tab {i}: no snapshot needed"
            );
            if app.watch().includes(&truck) {
                let got = app.delivered().contains(&lost);
                assert!(got, "{mode:?} tab {i}: event {lost} arrived");
            }
        }
        sim.run_for(1_000);
        assert_eq!(sim.leader(), leader, "{mode:?}: a gap is no failover");
        sim.settle_and_check();
    }
}

#[test]
fn a_line_no_stream_can_carry_costs_one_snapshot_for_every_tab_not_a_loop() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 11));
        open_many(&mut sim, 5, 50);
        sim.run_for(1_000);
        let leader = sim.leader();
        let opened = sim.server.opened;
        let snapshots: Vec<usize> = sim
            .live()
            .map(|i| sim.tabs[i].app.snapshots().len())
            .collect();
        let lost = sim.server.next_id;
        sim.server.unreadable.insert(lost);
        sim.run_for(3_000);
        let d = sim.tabs[leader].hub.diagnostics();
        // The first gap resumes; the resumed stream brings the same line back before anything
        // else, so the second is covered by a snapshot, and the stream reopens after it.
        assert_eq!(d.upstream_gaps, 2, "{mode:?}: {d:?}");
        assert_eq!(sim.server.opened, opened + 2, "{mode:?}");
        for (k, i) in sim.live().collect::<Vec<_>>().into_iter().enumerate() {
            let app = &sim.tabs[i].app;
            assert_eq!(app.snapshots().len(), snapshots[k] + 1, "{mode:?} tab {i}");
            assert!(!app.delivered().contains(&lost), "{mode:?} tab {i}");
        }
        sim.settle_and_check();
    }
}

#[test]
fn bfcache_hide_hands_over_and_show_rejoins() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 10));
        open_many(&mut sim, 4, 50);
        sim.run_for(1_000);
        let old = sim.leader();
        let t0 = sim.now;
        sim.hide(old);
        assert!(
            sim.tabs[old].conn.is_none(),
            "{mode:?}: stream closed on pagehide"
        );
        if mode == ElectionMode::Locks {
            assert_ne!(sim.locks.holder, Some(old), "lock released on pagehide");
        }
        let took = sim.failover(t0, old, 2_000).expect("takeover");
        sim.run_for(1_000);
        assert!(
            took < sim.bound(Departure::CleanClose),
            "{mode:?}: {took} ms"
        );
        sim.show(old);
        sim.run_for(1_500);
        assert_eq!(sim.role(old), Role::Follower, "{mode:?}");
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn throttled_hidden_followers_still_fail_over_on_time() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 14));
        let tabs = open_many(&mut sim, 6, 50);
        sim.run_for(1_000);
        let leader = sim.leader();
        // Every follower but the one with the highest id is deep hidden (timers once a minute);
        // the lowest ids, which win claim rounds, are among them.
        let visible = tabs
            .iter()
            .copied()
            .filter(|&i| i != leader)
            .max_by_key(|&i| sim.tabs[i].id)
            .unwrap();
        for &i in &tabs {
            if i != visible {
                sim.tabs[i].throttle = 60_000;
            }
        }
        // The hidden leader's own timers are throttled too: server heartbeats keep it alive.
        sim.run_for(20_000);
        assert_eq!(
            sim.leader(),
            leader,
            "{mode:?}: no failover from a live hidden leader"
        );
        let t0 = sim.now;
        sim.crash(leader);
        let took = sim.failover(t0, leader, 5_000).expect("takeover");
        sim.run_for(1_000);
        let bound = sim.bound(Departure::Crash);
        assert!(took < bound, "{mode:?}: {took} ms >= {bound} ms");
        for &i in &tabs {
            sim.tabs[i].throttle = 0;
        }
        sim.settle_and_check();
    }
}

/// Issue 11's browser: the leader is the visible tab, every follower is hidden (timers once a
/// second). A leader that hangs (keeping its lock) or, in Lease mode, crashes is replaced within
/// `takeover_bound_ms(1 000)`: the successor's one deadline on the server's clock, never a claim
/// round on throttled timers. A clean close and a Locks crash need no timer at all.
#[test]
fn hidden_followers_replace_a_hung_or_crashed_leader_on_the_servers_clock() {
    for mode in both_modes() {
        for (seed, hang) in [(21, true), (22, false), (23, true), (24, false)] {
            let mut sim = Sim::new(SimConfig::new(mode, seed));
            let tabs = open_many(&mut sim, 12, 50);
            sim.run_for(1_000);
            let leader = sim.leader();
            for &i in &tabs {
                if i != leader {
                    sim.tabs[i].throttle = 1_000;
                }
            }
            // Not at a whole second, so throttled timers do fire late.
            sim.run_for(10_337);
            assert_eq!(
                sim.leader(),
                leader,
                "{mode:?}: no takeover from a live leader"
            );
            let t0 = sim.now;
            if hang {
                sim.freeze(leader);
            } else {
                sim.crash(leader);
            }
            let took = sim
                .failover(t0, leader, 6_000)
                .unwrap_or_else(|| panic!("{mode:?} seed {seed}: no takeover"));
            let bound = match (hang, mode) {
                (false, ElectionMode::Locks) => sim.bound(Departure::Crash),
                _ => sim.takeover_bound(1_000),
            };
            assert!(
                took < bound,
                "{mode:?} seed {seed} hang {hang}: {took} ms >= {bound} ms"
            );
            sim.run_for(1_000);
            if hang {
                sim.resume(leader);
                sim.run_for(1_000);
                assert_eq!(
                    sim.role(leader),
                    Role::Follower,
                    "{mode:?}: old leader follows"
                );
            }
            for &i in &tabs {
                sim.tabs[i].throttle = 0;
            }
            sim.run_for(1_000);
            sim.settle_and_check();
            sim.check_one_relay_per_term();
        }
    }
}

#[test]
fn silent_server_and_throttled_leader_keep_their_leader() {
    for mode in both_modes() {
        let mut cfg = SimConfig::new(mode, 15);
        cfg.server_heartbeat = 3_600_000;
        let mut sim = Sim::new(cfg);
        let tabs = open_many(&mut sim, 4, 50);
        sim.run_for(1_000);
        let leader = sim.leader();
        let term = sim.tabs[leader].hub.diagnostics().term;
        sim.server.emitting = false;
        sim.tabs[leader].throttle = 60_000;
        sim.run_for(30_000);
        // Followers claimed (the leader's timers were too slow), the leader answered each claim.
        assert!(sim.log.claims > 0, "{mode:?}: followers did claim");
        assert_eq!(sim.leader(), leader, "{mode:?}");
        assert_eq!(sim.tabs[leader].hub.diagnostics().term, term, "{mode:?}");
        for &i in &tabs {
            sim.tabs[i].throttle = 0;
        }
        sim.server.emitting = true;
        sim.run_for(1_000);
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn chaos_keeps_every_invariant() {
    for mode in both_modes() {
        // `SIM_CHAOS_SEEDS=200 cargo test --test relay_sim chaos` explores further.
        let seeds = std::env::var("SIM_CHAOS_SEEDS")
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(4);
        for seed in 21..21 + seeds {
            if std::env::var("SIM_ONLY").is_ok_and(|o| o != format!("{mode:?}/{seed}")) {
                continue;
            }
            let drop = std::env::var("SIM_DROP")
                .ok()
                .and_then(|p| p.parse::<f64>().ok())
                .unwrap_or(0.03);
            let mut sim = Sim::new(SimConfig::new(mode, seed).lossy(drop));
            open_many(&mut sim, 6, 100);
            let mut frozen: Vec<usize> = Vec::new();
            let mut hidden: Vec<usize> = Vec::new();
            for _ in 0..25 {
                let live: Vec<usize> = sim.live().collect();
                // The leader is the interesting victim: pick it half the time.
                let leader = sim.leaders().first().copied();
                let pick = match leader {
                    Some(l) if sim.rng.below(2) == 0 => l,
                    _ => live[sim.rng.below(live.len() as u64) as usize],
                };
                let op = sim.rng.below(9);
                if std::env::var_os("SIM_TRACE").is_some() {
                    eprintln!(
                        "{} op {op} on tab {pick} (leader {leader:?})",
                        sim.now - EPOCH
                    );
                }
                match op {
                    0 if live.len() > 2 => sim.crash(pick),
                    1 if live.len() > 2 => sim.close(pick),
                    2 if live.len() > 2 && frozen.is_empty() => {
                        sim.freeze(pick);
                        frozen.push(pick);
                    }
                    3 if live.len() > 2 && hidden.is_empty() => {
                        sim.hide(pick);
                        hidden.push(pick);
                    }
                    4 => {
                        let k = sim.rng.below(8) as usize;
                        sim.set_watch(pick, trucks(&[&truck_name(k)]));
                    }
                    5 => {
                        if let Some(i) = frozen.pop() {
                            sim.resume(i);
                        }
                        if let Some(i) = hidden.pop() {
                            sim.show(i);
                        }
                    }
                    6 => {
                        let leader = sim.leaders().first().copied();
                        if let Some(l) = leader {
                            sim.kill_stream(l);
                        }
                    }
                    _ => {
                        let watch = if sim.rng.below(2) == 0 {
                            Watch::All
                        } else {
                            trucks(&["T-01", "T-04"])
                        };
                        sim.open_tab(watch);
                    }
                }
                let pause = 200 + sim.rng.below(1_500);
                sim.run_for(pause);
            }
            for i in frozen {
                sim.resume(i);
            }
            for i in hidden {
                sim.show(i);
            }
            sim.run_for(4_000);
            sim.settle_and_check();
            let overlap = sim.max_same_term_overlap();
            if std::env::var_os("SIM_TRACE").is_some() {
                let terms: BTreeSet<u64> = sim.log.relays.iter().map(|r| r.1).collect();
                eprintln!(
                    "{mode:?}/{seed}: overlap {overlap} ms, {} terms, {} claims, {} relays",
                    terms.len(),
                    sim.log.claims,
                    sim.log.relays.len(),
                );
            }
            assert!(
                overlap <= 1_000,
                "{mode:?}/{seed}: same-term overlap {overlap} ms"
            );
        }
    }
}

#[test]
fn followers_show_the_leaders_backoff_and_live_again_after() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 16));
        open_many(&mut sim, 4, 50);
        sim.run_for(1_000);
        for i in sim.live().collect::<Vec<_>>() {
            assert_eq!(sim.tabs[i].hub.connection(), &Connection::Live, "{mode:?}");
        }
        let leader = sim.leader();
        sim.kill_stream(leader);
        sim.run_for(20);
        let at = sim.tabs[leader]
            .hub
            .diagnostics()
            .reconnect_at_ms
            .expect("in backoff");
        let reconnecting = Connection::Reconnecting { at_ms: at };
        for i in sim.live().collect::<Vec<_>>() {
            assert_eq!(
                sim.tabs[i].hub.connection(),
                &reconnecting,
                "{mode:?} tab {i}"
            );
            assert_eq!(
                sim.tabs[i].app.connections.last().map(|c| &c.1),
                Some(&reconnecting),
                "{mode:?} tab {i}: emitted"
            );
        }
        sim.run_for(at - sim.now + sim.cfg.connect_delay + 50);
        for i in sim.live().collect::<Vec<_>>() {
            assert_eq!(
                sim.tabs[i].hub.connection(),
                &Connection::Live,
                "{mode:?} tab {i}"
            );
        }
        sim.settle_and_check();
    }
}

#[test]
fn a_leader_that_closes_in_backoff_leaves_no_reconnecting_behind() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 17));
        open_many(&mut sim, 4, 50);
        sim.run_for(1_000);
        let old = sim.leader();
        sim.kill_stream(old);
        sim.run_for(20);
        let t0 = sim.now;
        sim.close(old);
        sim.failover(t0, old, 1_500).expect("takeover");
        sim.run_for(500);
        for i in sim.live().collect::<Vec<_>>() {
            assert_eq!(
                sim.tabs[i].hub.connection(),
                &Connection::Live,
                "{mode:?} tab {i}"
            );
        }
        sim.settle_and_check();
    }
}

#[test]
fn goodbyes_and_expiry_name_the_gone_peer() {
    let mut cfg = SimConfig::new(ElectionMode::Lease, 18);
    cfg.hub = |c| {
        c.peer_expiry_ms = 4_000;
        c.watch_refresh_ms = 1_000;
    };
    let mut sim = Sim::new(cfg);
    let tabs = open_many(&mut sim, 4, 50);
    sim.run_for(1_000);
    let leader = sim.leader();
    let others: Vec<usize> = tabs.iter().copied().filter(|&i| i != leader).collect();
    let (closing, crashing) = (others[0], others[1]);
    let (closing_id, crashing_id) = (sim.tabs[closing].id, sim.tabs[crashing].id);
    sim.close(closing);
    sim.run_for(100);
    for i in sim.live().collect::<Vec<_>>() {
        assert_eq!(sim.tabs[i].app.gone_peers, [closing_id], "tab {i}");
    }
    sim.crash(crashing);
    sim.run_for(5_000);
    for i in sim.live().collect::<Vec<_>>() {
        assert_eq!(
            sim.tabs[i].app.gone_peers,
            [closing_id, crashing_id],
            "tab {i}"
        );
    }
}
