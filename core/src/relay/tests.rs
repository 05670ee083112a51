//! Unit tests of the hub: one tab at a time, fed hand-written frames (the simulations in
//! `tests/` drive many).

use super::*;
use crate::election::Term;
use crate::wire::{FleetEvent, TruckStatus};

const LEADER: TabId = 10;
const ME: TabId = 50;

fn frame(from: TabId, term: Term, msg: TabMsg) -> String {
    serde_json::to_string(&TabFrame {
        v: PROTOCOL_VERSION,
        app: APP_NAME.into(),
        from,
        term,
        msg,
    })
    .unwrap()
}

fn drain(hub: &mut TabHub) -> Vec<HubOutput> {
    std::iter::from_fn(|| hub.poll_output()).collect()
}

fn sent(outputs: &[HubOutput]) -> Vec<TabMsg> {
    outputs
        .iter()
        .filter_map(|o| match o {
            HubOutput::Send { frame, .. } => Some(parse_frame(frame, 0).unwrap().msg),
            _ => None,
        })
        .collect()
}

fn delivered(outputs: &[HubOutput]) -> Vec<EventId> {
    outputs
        .iter()
        .filter_map(|o| match o {
            HubOutput::Deliver(e) => Some(e.id),
            _ => None,
        })
        .collect()
}

fn env(id: EventId, truck: &str) -> Envelope {
    Envelope {
        id,
        event: FleetEvent::Status {
            truck: truck.into(),
            at_ms: id,
            status: TruckStatus::EnRoute,
            next_stop: 1,
        },
    }
}

fn link(id: EventId, prev: EventId) -> Link {
    Link {
        event: env(id, "T-01"),
        prev,
        union: Watch::All,
    }
}

fn snap(id: EventId) -> FleetSnapshot {
    FleetSnapshot {
        last_event_id: id,
        trucks: vec![],
    }
}

fn set(ids: &[&str]) -> Watch {
    Watch::Trucks(ids.iter().map(|s| s.to_string()).collect())
}

/// A Lease-mode follower of `LEADER` (term 3) whose state is at event 100.
fn follower() -> TabHub {
    let mut hub = TabHub::new(HubConfig::new(ME, ElectionMode::Lease), 0);
    let leading = TabMsg::Leading {
        union: Watch::All,
        cursor: Some(100),
        upstream: Connection::Live,
    };
    hub.handle_channel_message(1, &frame(LEADER, 3, leading));
    let snapshot = TabMsg::Snapshot {
        to: Some(ME),
        watch: Watch::All,
        reset: false,
        snapshot: snap(100),
    };
    hub.handle_channel_message(2, &frame(LEADER, 3, snapshot));
    let outputs = drain(&mut hub);
    assert!(outputs.contains(&HubOutput::DeliverSnapshot(snap(100))));
    assert_eq!(hub.diagnostics().role, Role::Follower);
    hub
}

/// A Lease-mode leader (alone) streaming from event 100, its outputs drained.
fn leader(config: impl FnOnce(&mut HubConfig)) -> TabHub {
    let mut c = HubConfig::new(1, ElectionMode::Lease);
    config(&mut c);
    let mut hub = TabHub::new(c, 0);
    hub.handle_timeout(150);
    hub.handle_timeout(300);
    assert_eq!(hub.diagnostics().role, Role::Leader);
    assert!(drain(&mut hub).contains(&HubOutput::FetchSnapshot));
    hub.handle_snapshot(320, snap(100));
    let outputs = drain(&mut hub);
    assert!(outputs.iter().any(|o| matches!(
        o,
        HubOutput::OpenUpstream {
            last_event_id: Some(100),
            ..
        }
    )));
    hub.handle_upstream_open(340);
    let outputs = drain(&mut hub);
    assert_eq!(outputs[0], HubOutput::ConnectionChanged(Connection::Live));
    assert!(sent(&outputs).iter().any(|m| matches!(
        m,
        TabMsg::Heartbeat {
            upstream: Connection::Live,
            ..
        }
    )));
    hub
}

#[test]
fn frames_round_trip_and_bad_ones_are_classified() {
    let msgs = [
        TabMsg::Hello {
            watch: set(&["T-01"]),
            cursor: None,
        },
        TabMsg::Claim { term: 4 },
        TabMsg::Goodbye,
        TabMsg::Event(link(5, 4)),
        TabMsg::Replay {
            to: 3,
            links: vec![link(5, 4), link(7, 5)],
        },
    ];
    for msg in msgs {
        let raw = frame(2, 1, msg.clone());
        assert_eq!(parse_frame(&raw, 9).unwrap().msg, msg, "{raw}");
        assert!(matches!(parse_frame(&raw, 2), Err(FrameError::Foreign(_))));
    }
    let bad_link = frame(2, 1, TabMsg::Event(link(5, 5)));
    assert!(matches!(
        parse_frame(&bad_link, 9),
        Err(FrameError::Malformed(_))
    ));
    let other_version = frame(2, 1, TabMsg::Goodbye).replace("\"v\":1", "\"v\":2");
    assert!(matches!(
        parse_frame(&other_version, 9),
        Err(FrameError::Foreign(_))
    ));
    let huge_term = frame(2, 1 << 53, TabMsg::Goodbye);
    assert!(matches!(
        parse_frame(&huge_term, 9),
        Err(FrameError::Malformed(_))
    ));
    for raw in ["", "{", "[]", r#"{"v":1,"app":"convoy","msg":{}}"#] {
        assert!(
            matches!(parse_frame(raw, 9), Err(FrameError::Malformed(_))),
            "{raw}"
        );
    }
}

#[test]
fn follower_repairs_a_gap_in_order_and_drops_repeats() {
    let mut hub = follower();
    hub.handle_channel_message(10, &frame(LEADER, 3, TabMsg::Event(link(102, 101))));
    assert!(delivered(&drain(&mut hub)).is_empty(), "102 waits for 101");
    assert_eq!(hub.diagnostics().buffered, 1);
    // After the grace period the follower asks for what it misses.
    assert_eq!(hub.poll_timeout(), Some(60));
    hub.handle_timeout(60);
    let asked = sent(&drain(&mut hub));
    assert!(asked.contains(&TabMsg::Resend {
        after: 100,
        watch: Watch::All
    }));
    let replay = TabMsg::Replay {
        to: ME,
        links: vec![link(101, 100)],
    };
    hub.handle_channel_message(70, &frame(LEADER, 3, replay));
    assert_eq!(delivered(&drain(&mut hub)), [101, 102]);
    hub.handle_channel_message(80, &frame(LEADER, 3, TabMsg::Event(link(102, 101))));
    assert!(delivered(&drain(&mut hub)).is_empty());
    let d = hub.diagnostics();
    assert_eq!((d.cursor, d.duplicates, d.gaps, d.buffered), (102, 1, 1, 0));
}

#[test]
fn follower_notices_a_lost_last_event_from_the_leader_cursor() {
    let mut hub = follower();
    let heartbeat = TabMsg::Heartbeat {
        union: Watch::All,
        cursor: Some(104),
        server: true,
        upstream: Connection::Live,
    };
    hub.handle_channel_message(10, &frame(LEADER, 3, heartbeat));
    hub.handle_timeout(60);
    assert!(sent(&drain(&mut hub))
        .iter()
        .any(|m| matches!(m, TabMsg::Resend { after: 100, .. })));
}

#[test]
fn stream_without_our_trucks_makes_a_follower_ask_for_a_snapshot() {
    let mut hub = follower();
    let narrow = Link {
        union: set(&["T-01"]),
        ..link(101, 100)
    };
    hub.handle_channel_message(10, &frame(LEADER, 3, TabMsg::Event(narrow)));
    let outputs = drain(&mut hub);
    assert_eq!(delivered(&outputs), [101]);
    assert!(sent(&outputs).contains(&TabMsg::SnapshotRequest { watch: Watch::All }));
    assert!(hub.diagnostics().needs_snapshot);
}

#[test]
fn leader_replays_from_its_ring_or_sends_a_snapshot_when_it_is_too_short() {
    let mut hub = leader(|c| c.ring_capacity = 4);
    for id in 101..=110 {
        hub.handle_upstream_event(400 + id, env(id, "T-01"));
    }
    let outputs = drain(&mut hub);
    assert_eq!(delivered(&outputs), (101..=110).collect::<Vec<_>>());
    let relayed: Vec<(EventId, EventId)> = sent(&outputs)
        .into_iter()
        .filter_map(|m| match m {
            TabMsg::Event(l) => Some((l.prev, l.event.id)),
            _ => None,
        })
        .collect();
    assert_eq!(relayed[0], (100, 101));
    assert_eq!(relayed[9], (109, 110));
    let resend = |after| TabMsg::Resend {
        after,
        watch: Watch::All,
    };
    hub.handle_channel_message(600, &frame(7, 1, resend(108)));
    let replayed: Vec<EventId> = sent(&drain(&mut hub))
        .into_iter()
        .flat_map(|m| match m {
            TabMsg::Replay { to: 7, links } => links.into_iter().map(|l| l.event.id).collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(replayed, [109, 110]);
    hub.handle_channel_message(610, &frame(7, 1, resend(101)));
    let answer = sent(&drain(&mut hub));
    assert!(
        answer.iter().any(|m| matches!(
            m,
            TabMsg::Snapshot { to: Some(7), snapshot, .. } if snapshot.last_event_id == 110
        )),
        "{answer:?}"
    );
    // Repeats from the server are dropped.
    hub.handle_upstream_event(620, env(110, "T-01"));
    assert!(delivered(&drain(&mut hub)).is_empty());
    assert_eq!(hub.diagnostics().duplicates, 1);
}

#[test]
fn late_joiner_gets_the_cache_at_the_leader_position() {
    let mut hub = leader(|c| c.watch = set(&["T-01", "T-02"]));
    hub.handle_upstream_event(400, env(105, "T-02"));
    drain(&mut hub);
    let hello = TabMsg::Hello {
        watch: set(&["T-02"]),
        cursor: None,
    };
    hub.handle_channel_message(410, &frame(7, 0, hello));
    let answer = sent(&drain(&mut hub));
    assert!(matches!(answer[0], TabMsg::Leading { .. }), "{answer:?}");
    assert!(answer.iter().any(|m| matches!(
        m,
        TabMsg::Snapshot { to: Some(7), watch, snapshot, reset: false }
            if *watch == set(&["T-02"]) && snapshot.last_event_id == 105
    )));
}

#[test]
fn watch_changes_are_coalesced_and_reopen_from_the_cursor() {
    let mut hub = leader(|c| c.watch = set(&["T-01"]));
    hub.handle_upstream_event(400, env(101, "T-01"));
    drain(&mut hub);
    let watch = |w| TabMsg::Watch {
        watch: w,
        cursor: Some(101),
    };
    hub.handle_channel_message(500, &frame(7, 1, watch(set(&["T-02"]))));
    hub.handle_channel_message(600, &frame(8, 1, watch(set(&["T-03"]))));
    assert_eq!(hub.poll_timeout(), Some(750));
    hub.handle_timeout(750);
    let opens: Vec<HubOutput> = drain(&mut hub)
        .into_iter()
        .filter(|o| matches!(o, HubOutput::OpenUpstream { .. }))
        .collect();
    assert_eq!(
        opens,
        [HubOutput::OpenUpstream {
            watch: set(&["T-01", "T-02", "T-03"]),
            last_event_id: Some(101),
        }]
    );
    // Leaving shrinks it again.
    hub.handle_channel_message(800, &frame(8, 1, TabMsg::Goodbye));
    hub.handle_timeout(1_050);
    assert!(drain(&mut hub).contains(&HubOutput::OpenUpstream {
        watch: set(&["T-01", "T-02"]),
        last_event_id: Some(101),
    }));
}

#[test]
fn an_empty_union_opens_no_stream() {
    let mut hub = TabHub::new(
        HubConfig {
            watch: set(&[]),
            ..HubConfig::new(1, ElectionMode::Solo)
        },
        0,
    );
    assert!(drain(&mut hub).contains(&HubOutput::FetchSnapshot));
    hub.handle_snapshot(10, snap(100));
    let outputs = drain(&mut hub);
    assert!(!outputs
        .iter()
        .any(|o| matches!(o, HubOutput::OpenUpstream { .. })));
    hub.set_watch(20, set(&["T-04"]));
    hub.handle_timeout(270);
    assert!(drain(&mut hub).contains(&HubOutput::OpenUpstream {
        watch: set(&["T-04"]),
        last_event_id: Some(100),
    }));
}

#[test]
fn solo_mode_fetches_delivers_and_streams_without_broadcasting() {
    let mut hub = TabHub::new(HubConfig::new(1, ElectionMode::Solo), 0);
    let outputs = drain(&mut hub);
    assert_eq!(
        outputs,
        [
            HubOutput::FetchSnapshot,
            HubOutput::RoleChanged(Role::Leader)
        ]
    );
    hub.handle_snapshot(10, snap(100));
    assert_eq!(
        drain(&mut hub),
        [
            HubOutput::DeliverSnapshot(snap(100)),
            HubOutput::OpenUpstream {
                watch: Watch::All,
                last_event_id: Some(100)
            }
        ]
    );
    hub.handle_upstream_open(20);
    hub.handle_upstream_event(30, env(101, "T-01"));
    assert_eq!(
        drain(&mut hub),
        [
            HubOutput::ConnectionChanged(Connection::Live),
            HubOutput::Deliver(env(101, "T-01"))
        ]
    );
}

#[test]
fn upstream_errors_back_off_and_reopen_from_the_cursor() {
    let mut hub = leader(|_| {});
    hub.handle_upstream_event(400, env(101, "T-01"));
    drain(&mut hub);
    hub.handle_upstream_error(500);
    let outputs = drain(&mut hub);
    let d = hub.diagnostics();
    assert_eq!(d.upstream, UpstreamState::Backoff);
    let at = d.reconnect_at_ms.unwrap();
    assert!((500..=1_000).contains(&(at - 500)), "{at}");
    let reconnecting = Connection::Reconnecting { at_ms: at };
    assert_eq!(
        outputs[..2],
        [
            HubOutput::CloseUpstream,
            HubOutput::ConnectionChanged(reconnecting.clone())
        ]
    );
    assert!(sent(&outputs).iter().all(|m| matches!(
        m,
        TabMsg::Heartbeat { upstream, .. } if *upstream == reconnecting
    )));
    hub.handle_timeout(at);
    assert!(drain(&mut hub).contains(&HubOutput::OpenUpstream {
        watch: Watch::All,
        last_event_id: Some(101)
    }));
}

#[test]
fn reconnect_delay_grows_with_jitter_from_the_tab_id() {
    let a = HubConfig::new(1, ElectionMode::Lease);
    let b = HubConfig::new(2, ElectionMode::Lease);
    let mut jittered = false;
    for attempt in 1..=12 {
        let full = (1_000u64 << (attempt - 1)).min(30_000);
        let d = reconnect_delay_ms(&a, attempt);
        assert!((full / 2..=full).contains(&d), "attempt {attempt}: {d}");
        assert_eq!(d, reconnect_delay_ms(&a, attempt), "deterministic");
        jittered |= d != reconnect_delay_ms(&b, attempt);
    }
    assert!(jittered, "tabs do not reconnect in step");
    assert!(reconnect_delay_ms(&a, u32::MAX) <= 30_000);
}

#[test]
fn reset_gives_everyone_the_new_snapshot() {
    let mut hub = leader(|_| {});
    hub.handle_upstream_reset(400);
    let outputs = drain(&mut hub);
    assert_eq!(
        outputs[..3],
        [
            HubOutput::CloseUpstream,
            HubOutput::FetchSnapshot,
            HubOutput::ConnectionChanged(Connection::Connecting)
        ]
    );
    hub.handle_snapshot(450, snap(900));
    let outputs = drain(&mut hub);
    assert_eq!(outputs[0], HubOutput::DeliverSnapshot(snap(900)));
    assert!(sent(&outputs).contains(&TabMsg::Snapshot {
        to: None,
        watch: Watch::All,
        reset: true,
        snapshot: snap(900)
    }));
    assert!(outputs.contains(&HubOutput::OpenUpstream {
        watch: Watch::All,
        last_event_id: Some(900)
    }));
    // A follower takes it whatever its cursor.
    let mut f = follower();
    let reset = TabMsg::Snapshot {
        to: None,
        watch: Watch::All,
        reset: true,
        snapshot: snap(900),
    };
    f.handle_channel_message(10, &frame(LEADER, 3, reset));
    assert!(drain(&mut f).contains(&HubOutput::DeliverSnapshot(snap(900))));
    assert_eq!(f.diagnostics().cursor, 900);
}

#[test]
fn page_hide_hands_over_and_page_show_rejoins() {
    let mut hub = TabHub::new(HubConfig::new(1, ElectionMode::Locks), 0);
    assert_eq!(sent(&drain(&mut hub)).len(), 1, "hello");
    hub.handle_lock_granted(5);
    hub.handle_snapshot(10, snap(100));
    drain(&mut hub);
    hub.handle_page_hide(20);
    let outputs = drain(&mut hub);
    assert_eq!(
        outputs[..2],
        [HubOutput::ReleaseLock, HubOutput::CloseUpstream]
    );
    assert_eq!(sent(&outputs), [TabMsg::Goodbye]);
    assert_eq!(
        outputs.last(),
        Some(&HubOutput::RoleChanged(Role::Electing))
    );
    assert_eq!(hub.poll_timeout(), None);
    hub.handle_lock_granted(30);
    assert_eq!(drain(&mut hub), [HubOutput::ReleaseLock]);
    hub.handle_page_show(40);
    let outputs = drain(&mut hub);
    assert_eq!(
        sent(&outputs),
        [TabMsg::Hello {
            watch: Watch::All,
            cursor: Some(100)
        }]
    );
    assert!(outputs.contains(&HubOutput::RequestLock { steal: false }));
}

#[test]
fn stale_leader_frames_are_ignored_and_answered() {
    let mut hub = leader(|_| {});
    drain(&mut hub);
    hub.handle_channel_message(400, &frame(99, 0, TabMsg::Event(link(150, 149))));
    let outputs = drain(&mut hub);
    assert!(delivered(&outputs).is_empty());
    assert!(matches!(sent(&outputs)[..], [TabMsg::Leading { .. }]));
    assert_eq!(hub.diagnostics().role, Role::Leader);
    assert_eq!(hub.diagnostics().stale_frames, 1);
}

fn connection_changes(outputs: &[HubOutput]) -> Vec<Connection> {
    outputs
        .iter()
        .filter_map(|o| match o {
            HubOutput::ConnectionChanged(c) => Some(c.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn answers_to_one_tab_are_addressed_and_the_rest_go_to_all() {
    let mut hub = leader(|c| c.ring_capacity = 4);
    for id in 101..=110 {
        hub.handle_upstream_event(400 + id, env(id, "T-01"));
    }
    let outputs = drain(&mut hub);
    assert!(outputs
        .iter()
        .filter(|o| matches!(o, HubOutput::Send { .. }))
        .all(|o| matches!(o, HubOutput::Send { to: None, .. })));
    let resend = |after| TabMsg::Resend {
        after,
        watch: Watch::All,
    };
    hub.handle_channel_message(600, &frame(7, 1, resend(108)));
    let replay: Vec<Option<TabId>> = drain(&mut hub)
        .iter()
        .filter_map(|o| match o {
            HubOutput::Send { to, frame } if frame.contains("\"replay\"") => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(replay, [Some(7)]);
    hub.handle_channel_message(610, &frame(8, 1, resend(101)));
    let snapshot: Vec<Option<TabId>> = drain(&mut hub)
        .iter()
        .filter_map(|o| match o {
            HubOutput::Send { to, frame } if frame.contains("\"snapshot\"") => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(snapshot, [Some(8)]);
    // A reset snapshot is for everyone.
    hub.handle_upstream_reset(700);
    drain(&mut hub);
    hub.handle_snapshot(750, snap(900));
    assert!(drain(&mut hub).iter().any(|o| matches!(
        o,
        HubOutput::Send { to: None, frame } if frame.contains("\"reset\":true")
    )));
}

#[test]
fn channel_messages_return_their_sender_when_they_parse() {
    let mut hub = follower();
    let watch = TabMsg::Watch {
        watch: Watch::All,
        cursor: Some(100),
    };
    assert_eq!(
        hub.handle_channel_message(10, &frame(7, 3, watch.clone())),
        Some(7)
    );
    assert_eq!(hub.handle_channel_message(11, "{"), None);
    let other_app = frame(7, 3, watch.clone()).replace("convoy", "other");
    assert_eq!(hub.handle_channel_message(12, &other_app), None);
    assert_eq!(hub.handle_channel_message(13, &frame(ME, 3, watch)), None);
    hub.handle_page_hide(20);
    assert_eq!(
        hub.handle_channel_message(30, &frame(7, 3, TabMsg::Goodbye)),
        None,
        "a hidden hub does not take part"
    );
}

#[test]
fn peers_are_gone_on_goodbye_and_on_expiry() {
    let mut hub = leader(|c| c.peer_expiry_ms = 5_000);
    let hello = |w| TabMsg::Hello {
        watch: w,
        cursor: Some(100),
    };
    hub.handle_channel_message(400, &frame(7, 1, hello(set(&["T-01"]))));
    hub.handle_channel_message(400, &frame(8, 1, hello(set(&["T-02"]))));
    drain(&mut hub);
    hub.handle_channel_message(500, &frame(7, 1, TabMsg::Goodbye));
    assert!(drain(&mut hub).contains(&HubOutput::PeerGone(7)));
    assert_eq!(hub.diagnostics().peers, 1);
    hub.handle_timeout(5_399);
    assert!(!drain(&mut hub).contains(&HubOutput::PeerGone(8)));
    hub.handle_timeout(5_400);
    let outputs = drain(&mut hub);
    assert_eq!(
        outputs
            .iter()
            .filter(|o| matches!(o, HubOutput::PeerGone(_)))
            .collect::<Vec<_>>(),
        [&HubOutput::PeerGone(8)]
    );
    assert_eq!(hub.diagnostics().peers, 0);
}

#[test]
fn follower_shows_what_its_leader_reports() {
    let mut hub = follower();
    assert_eq!(hub.connection(), &Connection::Live);
    let heartbeat = |upstream| TabMsg::Heartbeat {
        union: Watch::All,
        cursor: Some(100),
        server: false,
        upstream,
    };
    let reconnecting = Connection::Reconnecting { at_ms: 4_000 };
    hub.handle_channel_message(10, &frame(LEADER, 3, heartbeat(reconnecting.clone())));
    assert_eq!(
        connection_changes(&drain(&mut hub)),
        std::slice::from_ref(&reconnecting)
    );
    assert_eq!(hub.diagnostics().connection, reconnecting);
    // Another tab's frames do not move it.
    hub.handle_channel_message(20, &frame(99, 1, heartbeat(Connection::Live)));
    assert_eq!(hub.connection(), &reconnecting);
    hub.handle_channel_message(30, &frame(LEADER, 3, heartbeat(Connection::Live)));
    assert_eq!(connection_changes(&drain(&mut hub)), [Connection::Live]);
    // A v1 leader frame without the field reads as live, as followers always showed.
    let old = r#"{"v":1,"app":"convoy","from":10,"term":3,"msg":{"type":"heartbeat","union":{"kind":"all"},"cursor":100,"server":true}}"#;
    assert_eq!(hub.handle_channel_message(40, old), Some(LEADER));
    assert_eq!(hub.diagnostics().malformed, 0);
    assert_eq!(hub.connection(), &Connection::Live);
}

#[test]
fn a_leader_in_backoff_that_stops_leading_stops_showing_reconnecting() {
    // Lease: a leader of a higher term takes over.
    let mut hub = leader(|_| {});
    hub.handle_upstream_error(500);
    assert!(matches!(hub.connection(), Connection::Reconnecting { .. }));
    drain(&mut hub);
    let leading = TabMsg::Leading {
        union: Watch::All,
        cursor: Some(100),
        upstream: Connection::Live,
    };
    hub.handle_channel_message(600, &frame(2, 9, leading));
    assert_eq!(hub.diagnostics().role, Role::Follower);
    assert_eq!(connection_changes(&drain(&mut hub)), [Connection::Live]);

    // Locks: the lock is stolen, no new leader heard yet.
    let mut hub = TabHub::new(HubConfig::new(1, ElectionMode::Locks), 0);
    hub.handle_lock_granted(5);
    hub.handle_snapshot(10, snap(100));
    hub.handle_upstream_open(20);
    hub.handle_upstream_error(30);
    assert!(matches!(hub.connection(), Connection::Reconnecting { .. }));
    drain(&mut hub);
    hub.handle_lock_lost(40);
    let outputs = drain(&mut hub);
    assert_ne!(hub.diagnostics().role, Role::Leader);
    assert_eq!(connection_changes(&outputs), [Connection::Connecting]);
    assert!(
        sent(&outputs).is_empty(),
        "no status heartbeat from a tab that no longer leads"
    );
}

#[test]
fn failed_snapshot_fetches_show_an_error_until_one_arrives() {
    let mut hub = TabHub::new(HubConfig::new(1, ElectionMode::Solo), 0);
    drain(&mut hub);
    hub.handle_snapshot_failed(10, "HTTP 503".into());
    let error = Connection::Error {
        reason: "HTTP 503".into(),
    };
    assert_eq!(
        connection_changes(&drain(&mut hub)),
        std::slice::from_ref(&error)
    );
    // Retried as before.
    hub.handle_timeout(1_999);
    assert!(!drain(&mut hub).contains(&HubOutput::FetchSnapshot));
    hub.handle_timeout(2_000);
    assert!(drain(&mut hub).contains(&HubOutput::FetchSnapshot));
    assert_eq!(hub.connection(), &error);
    hub.handle_snapshot(2_050, snap(100));
    assert_eq!(
        connection_changes(&drain(&mut hub)),
        [Connection::Connecting]
    );
    hub.handle_upstream_open(2_100);
    assert_eq!(connection_changes(&drain(&mut hub)), [Connection::Live]);
    // A follower ignores it: it fetches nothing.
    let mut f = follower();
    f.handle_snapshot_failed(10, "HTTP 503".into());
    assert_eq!(f.connection(), &Connection::Live);
}

#[test]
fn a_leader_sends_its_status_change_at_once() {
    let mut hub = leader(|_| {});
    hub.handle_upstream_error(500);
    let at = hub.diagnostics().reconnect_at_ms.unwrap();
    let heartbeats: Vec<Connection> = sent(&drain(&mut hub))
        .into_iter()
        .filter_map(|m| match m {
            TabMsg::Heartbeat { upstream, .. } => Some(upstream),
            _ => None,
        })
        .collect();
    assert_eq!(heartbeats, [Connection::Reconnecting { at_ms: at }]);
    // Unchanged status: no extra frames.
    hub.handle_timeout(510);
    assert!(sent(&drain(&mut hub)).is_empty());
}

#[test]
fn transport_failure_shows_an_error_until_frames_arrive() {
    let mut hub = TabHub::new(HubConfig::new(ME, ElectionMode::Client), 0);
    drain(&mut hub);
    hub.handle_transport_failed(10, "the worker did not start".into());
    let error = Connection::Error {
        reason: "the worker did not start".into(),
    };
    assert_eq!(
        connection_changes(&drain(&mut hub)),
        std::slice::from_ref(&error)
    );
    hub.handle_channel_message(20, "{");
    assert_eq!(hub.connection(), &error, "garbage proves nothing");
    let leading = TabMsg::Leading {
        union: Watch::All,
        cursor: Some(100),
        upstream: Connection::Reconnecting { at_ms: 900 },
    };
    hub.handle_channel_message(30, &frame(LEADER, 1, leading));
    assert_eq!(hub.connection(), &Connection::Reconnecting { at_ms: 900 });
}

#[test]
fn failover_bounds_follow_the_knobs() {
    let c = HubConfig::new(1, ElectionMode::Lease);
    assert_eq!(c.failover_bound_ms(Departure::CleanClose), 250);
    assert_eq!(c.failover_bound_ms(Departure::Crash), 3_325);
    let l = HubConfig::new(1, ElectionMode::Locks);
    assert_eq!(l.failover_bound_ms(Departure::Crash), 250);
    assert_eq!(l.failover_bound_ms(Departure::Freeze), 3_325);
}

#[test]
fn a_hub_started_with_a_cursor_joins_like_a_tab_with_state() {
    let mut config = HubConfig::new(ME, ElectionMode::Lease);
    config.cursor = Some(100);
    let mut hub = TabHub::new(config, 0);
    let joined = sent(&drain(&mut hub));
    assert_eq!(
        joined,
        [TabMsg::Hello {
            watch: Watch::All,
            cursor: Some(100)
        }]
    );
    // Its leader is a little ahead: the gap is repaired by a replay, not a snapshot.
    let leading = TabMsg::Leading {
        union: Watch::All,
        cursor: Some(102),
        upstream: Connection::Live,
    };
    hub.handle_channel_message(1, &frame(LEADER, 3, leading));
    hub.handle_timeout(60);
    let asked = sent(&drain(&mut hub));
    assert!(asked.contains(&TabMsg::Resend {
        after: 100,
        watch: Watch::All
    }));
    let replay = TabMsg::Replay {
        to: ME,
        links: vec![link(101, 100), link(102, 101)],
    };
    hub.handle_channel_message(70, &frame(LEADER, 3, replay));
    hub.handle_channel_message(80, &frame(LEADER, 3, TabMsg::Event(link(103, 102))));
    hub.handle_timeout(2_500);
    let outputs = drain(&mut hub);
    assert_eq!(delivered(&outputs), [101, 102, 103]);
    assert!(!outputs
        .iter()
        .any(|o| matches!(o, HubOutput::DeliverSnapshot(_))));
    let d = hub.diagnostics();
    assert_eq!(
        (d.cursor, d.needs_snapshot, d.snapshot_requests),
        (103, false, 0)
    );
}

#[test]
fn a_hub_started_with_a_cursor_leads_from_it_at_once() {
    let mut config = HubConfig::new(1, ElectionMode::Lease);
    config.cursor = Some(100);
    let mut hub = TabHub::new(config, 0);
    hub.handle_timeout(150);
    hub.handle_timeout(300);
    assert_eq!(hub.diagnostics().role, Role::Leader);
    let outputs = drain(&mut hub);
    assert!(
        outputs.contains(&HubOutput::OpenUpstream {
            watch: Watch::All,
            last_event_id: Some(100)
        }),
        "{outputs:?}"
    );
    assert!(outputs.contains(&HubOutput::FetchSnapshot), "for the cache");
    // The snapshot only seeds the cache: the app keeps its state and gets the stream.
    hub.handle_snapshot(320, snap(100));
    hub.handle_upstream_open(330);
    hub.handle_upstream_event(340, env(101, "T-01"));
    let outputs = drain(&mut hub);
    assert_eq!(delivered(&outputs), [101]);
    assert!(!outputs
        .iter()
        .any(|o| matches!(o, HubOutput::DeliverSnapshot(_))));
    // And it answers a late joiner from that cache.
    let hello = TabMsg::Hello {
        watch: Watch::All,
        cursor: None,
    };
    hub.handle_channel_message(350, &frame(7, 0, hello));
    assert!(sent(&drain(&mut hub)).iter().any(|m| matches!(
        m,
        TabMsg::Snapshot { to: Some(7), snapshot, .. } if snapshot.last_event_id == 101
    )));
}
