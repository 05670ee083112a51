//! Unit tests of the hub: one tab at a time, fed hand-written frames (the simulations in
//! `tests/` drive many).

use super::*;
use crate::election::Term;
use crate::wire::{FleetEvent, TruckStatus};

const LEADER: TabId = 10;
const ME: TabId = 50;

fn frame(from: TabId, term: Term, msg: TabMsg) -> String {
    frame_of(from, term, false, msg)
}

/// A frame from a tab whose page is hidden.
fn hidden_frame(from: TabId, term: Term, msg: TabMsg) -> String {
    frame_of(from, term, true, msg)
}

fn frame_of(from: TabId, term: Term, hidden: bool, msg: TabMsg) -> String {
    serde_json::to_string(&TabFrame {
        v: PROTOCOL_VERSION,
        app: APP_NAME.into(),
        from,
        term,
        hidden,
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
    follower_with(|_| {})
}

/// [`follower`], configured by `config` first.
fn follower_with(config: impl FnOnce(&mut HubConfig)) -> TabHub {
    let mut c = HubConfig::new(ME, ElectionMode::Lease);
    config(&mut c);
    let mut hub = TabHub::new(c, 0);
    let leading = TabMsg::Leading {
        union: Watch::All,
        cursor: Some(100),
        upstream: Connection::Live,
        sharing: None,
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
fn a_frame_that_fails_to_parse_is_foreign_only_when_its_head_is_not_ours() {
    for raw in [
        r#"{"v":"1","app":"convoy","msg":{}}"#,
        r#"{"v":1,"app":["convoy"],"msg":{}}"#,
        r#"{"v":-1,"app":"convoy"}"#,
        r#"{"v":1.5,"app":"convoy","extra":{"a":[1,{"b":null}]}}"#,
        r#"{"v":1,"app":"other","from":true}"#,
        r#"{"app":"convoy"}"#,
        r#"{}"#,
    ] {
        assert!(
            matches!(parse_frame(raw, 9), Err(FrameError::Foreign(_))),
            "{raw}"
        );
    }
    for raw in [
        r#"{"v":1,"app":"convoy","from":{},"extra":[true,null,2.5,"x"]}"#,
        r#"{"v":1,"app":"convoy","v":2}"#,
        r#"[1,"convoy"]"#,
        r#"{"v":1,"app":"convoy""#,
    ] {
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
        sharing: None,
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
    // (One answer per tab per half resend_retry_ms.)
    hub.handle_channel_message(850, &frame(7, 1, resend(101)));
    let answer = sent(&drain(&mut hub));
    assert!(
        answer.iter().any(|m| matches!(
            m,
            TabMsg::Snapshot { to: Some(7), snapshot, .. } if snapshot.last_event_id == 110
        )),
        "{answer:?}"
    );
    // Repeats from the server are dropped.
    hub.handle_upstream_event(860, env(110, "T-01"));
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
fn an_empty_union_opens_a_stream_of_heartbeats_and_goes_live_only_with_it() {
    let mut hub = TabHub::new(
        HubConfig {
            watch: set(&[]),
            ..HubConfig::new(1, ElectionMode::Solo)
        },
        0,
    );
    assert!(drain(&mut hub).contains(&HubOutput::FetchSnapshot));
    hub.handle_snapshot(10, snap(100));
    // No truck to stream, but the stream is how the tab knows the server is there.
    assert!(drain(&mut hub).contains(&HubOutput::OpenUpstream {
        watch: set(&[]),
        last_event_id: Some(100),
    }));
    assert_eq!(hub.connection(), &Connection::Connecting);
    hub.handle_upstream_open(15);
    assert_eq!(hub.connection(), &Connection::Live);
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
        sharing: None,
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
        sharing: None,
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
        sharing: None,
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
        sharing: None,
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

// ----- hostile frames: each defence, with the attack it stops -----

fn heartbeat(cursor: EventId) -> TabMsg {
    TabMsg::Heartbeat {
        union: Watch::All,
        cursor: Some(cursor),
        server: true,
        upstream: Connection::Live,
        sharing: None,
    }
}

#[test]
fn numbers_and_ids_no_live_tab_sends_are_malformed() {
    let malformed = |msg: TabMsg| {
        let raw = frame(2, 1, msg);
        matches!(parse_frame(&raw, 9), Err(FrameError::Malformed(_)))
    };
    let huge = MAX_SAFE_INTEGER;
    assert!(malformed(TabMsg::Event(link(huge, 100))));
    assert!(malformed(TabMsg::Event(link(100 + MAX_LINK_SPAN + 1, 100))));
    assert!(!malformed(TabMsg::Event(link(100 + MAX_LINK_SPAN, 100))));
    assert!(malformed(TabMsg::Replay {
        to: 3,
        links: vec![link(5, 4), link(7, 6)]
    }));
    assert!(malformed(TabMsg::Replay {
        to: huge,
        links: vec![]
    }));
    assert!(malformed(heartbeat(huge)));
    assert!(malformed(TabMsg::Hello {
        watch: Watch::All,
        cursor: Some(huge)
    }));
    assert!(malformed(TabMsg::Resend {
        after: huge,
        watch: Watch::All
    }));
    assert!(malformed(TabMsg::Claim { term: huge }));
    assert!(malformed(TabMsg::SnapshotRequest {
        watch: set(&["T-01&lastEventId=0"])
    }));
    let mut bad_truck = link(101, 100);
    bad_truck.event = env(101, "../x");
    assert!(malformed(TabMsg::Event(bad_truck)));
    let mut ahead = snap(100);
    ahead.trucks.push(crate::wire::TruckState {
        last_event_id: 101,
        ..truck("T-01")
    });
    assert!(malformed(TabMsg::Snapshot {
        to: Some(3),
        watch: Watch::All,
        reset: false,
        snapshot: ahead
    }));
    // Size is checked before parsing.
    let padded = format!(
        "{}{}",
        frame(2, 1, TabMsg::Goodbye),
        " ".repeat(MAX_FRAME_BYTES)
    );
    assert!(matches!(
        parse_frame(&padded, 9),
        Err(FrameError::Malformed(why)) if why.contains("bytes")
    ));
}

fn truck(id: &str) -> crate::wire::TruckState {
    crate::wire::TruckState {
        driver: "D".into(),
        route_name: "R".into(),
        fuel_pct: Some(100.0),
        ..crate::wire::TruckState::new(id)
    }
}

#[test]
fn a_huge_term_does_not_hijack_a_follower() {
    let mut hub = follower();
    let forged = TabMsg::Leading {
        union: Watch::All,
        cursor: Some(100),
        upstream: Connection::Live,
        sharing: None,
    };
    hub.handle_channel_message(10, &frame(LEADER, MAX_SAFE_INTEGER - 1, forged));
    let d = hub.diagnostics();
    assert_eq!((d.term, d.leader_id, d.implausible), (3, Some(LEADER), 1));
    // Its real leader's events still count.
    hub.handle_channel_message(20, &frame(LEADER, 3, TabMsg::Event(link(101, 100))));
    assert_eq!(delivered(&drain(&mut hub)), [101]);
}

#[test]
fn a_forged_event_id_cannot_push_a_follower_past_the_stream() {
    let mut hub = follower();
    for forged in [
        MAX_SAFE_INTEGER - 1,
        MAX_SAFE_INTEGER,
        100 + MAX_LINK_SPAN + 1,
    ] {
        let raw = frame(LEADER, 3, TabMsg::Event(link(101, 100)))
            .replace("\"id\":101", &format!("\"id\":{forged}"));
        hub.handle_channel_message(10, &raw);
    }
    assert_eq!(hub.diagnostics().cursor, 100);
    hub.handle_channel_message(20, &frame(LEADER, 3, TabMsg::Event(link(101, 100))));
    assert_eq!(delivered(&drain(&mut hub)), [101]);
}

#[test]
fn a_follower_whose_leader_stays_behind_it_repairs_by_snapshot() {
    let mut hub = follower();
    // A forged link within bounds still moves the cursor far past the stream...
    hub.handle_channel_message(10, &frame(LEADER, 3, TabMsg::Event(link(900_000, 100))));
    drain(&mut hub);
    // ...so everything the live leader relays looks like a repeat.
    let mut t = 20;
    for id in 101..=108 {
        hub.handle_channel_message(t, &frame(LEADER, 3, TabMsg::Event(link(id, id - 1))));
        hub.handle_channel_message(t + 1, &frame(LEADER, 3, heartbeat(id)));
        t += 500;
    }
    let outputs = drain(&mut hub);
    assert!(delivered(&outputs).is_empty());
    assert!(
        sent(&outputs).contains(&TabMsg::SnapshotRequest { watch: Watch::All }),
        "{outputs:?}"
    );
    let snapshot = TabMsg::Snapshot {
        to: Some(ME),
        watch: Watch::All,
        reset: false,
        snapshot: snap(108),
    };
    hub.handle_channel_message(t, &frame(LEADER, 3, snapshot));
    hub.handle_channel_message(t + 1, &frame(LEADER, 3, TabMsg::Event(link(109, 108))));
    let outputs = drain(&mut hub);
    assert!(outputs.contains(&HubOutput::DeliverSnapshot(snap(108))));
    assert_eq!(delivered(&outputs), [109]);
}

#[test]
fn a_leader_that_is_only_reconnecting_behind_us_is_waited_for() {
    let mut hub = follower();
    hub.handle_channel_message(10, &frame(LEADER, 3, TabMsg::Event(link(105, 100))));
    let reconnecting = TabMsg::Heartbeat {
        union: Watch::All,
        cursor: Some(101),
        server: false,
        upstream: Connection::Reconnecting { at_ms: 9_000 },
        sharing: None,
    };
    for t in (20..5_000).step_by(500) {
        hub.handle_channel_message(t, &frame(LEADER, 3, reconnecting.clone()));
    }
    assert!(!sent(&drain(&mut hub)).contains(&TabMsg::SnapshotRequest { watch: Watch::All }));
}

#[test]
fn a_snapshot_nobody_asked_for_is_ignored() {
    let mut hub = follower();
    let stray = TabMsg::Snapshot {
        to: Some(ME),
        watch: Watch::All,
        reset: false,
        snapshot: snap(150),
    };
    hub.handle_channel_message(10, &frame(LEADER, 3, stray));
    let outputs = drain(&mut hub);
    assert!(!outputs
        .iter()
        .any(|o| matches!(o, HubOutput::DeliverSnapshot(_))));
    assert_eq!(hub.diagnostics().cursor, 100);
    // A reset older than what we have is a copy of an old one.
    let old_reset = TabMsg::Snapshot {
        to: None,
        watch: Watch::All,
        reset: true,
        snapshot: snap(90),
    };
    hub.handle_channel_message(20, &frame(LEADER, 3, old_reset));
    assert_eq!(hub.diagnostics().cursor, 100);
}

#[test]
fn a_leader_cursor_no_stream_could_reach_opens_no_gap() {
    let mut hub = follower();
    hub.handle_channel_message(10, &frame(LEADER, 3, heartbeat(100 + MAX_LINK_SPAN + 1)));
    hub.handle_timeout(600);
    assert!(!sent(&drain(&mut hub))
        .iter()
        .any(|m| matches!(m, TabMsg::Resend { .. })));
    // A forged report within reach lasts until the leader's next one.
    hub.handle_channel_message(700, &frame(LEADER, 3, heartbeat(5_000)));
    hub.handle_channel_message(710, &frame(LEADER, 3, heartbeat(100)));
    hub.handle_timeout(2_000);
    let d = hub.diagnostics();
    assert_eq!(d.resend_requests, 0, "{d:?}");
}

fn count_sent(outputs: &[HubOutput], kind: &str, to: TabId) -> usize {
    outputs
        .iter()
        .filter(|o| {
            matches!(o, HubOutput::Send { to: Some(t), frame }
                if *t == to && frame.contains(&format!("\"type\":\"{kind}\"")))
        })
        .count()
}

#[test]
fn a_flood_of_resends_gets_one_answer_per_interval() {
    let mut hub = leader(|c| c.ring_capacity = 4);
    for id in 101..=110 {
        hub.handle_upstream_event(400 + id, env(id, "T-01"));
    }
    drain(&mut hub);
    let resend = |after| TabMsg::Resend {
        after,
        watch: Watch::All,
    };
    // `after: 0` is older than any ring: only a snapshot answers it.
    let mut outputs = Vec::new();
    for k in 0..100 {
        hub.handle_channel_message(600 + k * 9, &frame(7, 1, resend(0)));
        outputs.extend(drain(&mut hub));
    }
    assert_eq!(count_sent(&outputs, "snapshot", 7), 1, "one per second");
    hub.handle_timeout(1_700);
    hub.handle_channel_message(1_700, &frame(7, 1, resend(0)));
    assert_eq!(count_sent(&drain(&mut hub), "snapshot", 7), 1);
    // Replays: one per 250 ms, the held-back requests coalesced into one answer after it.
    let mut outputs = Vec::new();
    for k in 0..20 {
        hub.handle_channel_message(2_000 + k * 10, &frame(7, 1, resend(107 + k % 2)));
        outputs.extend(drain(&mut hub));
    }
    assert_eq!(count_sent(&outputs, "replay", 7), 1);
    assert_eq!(hub.poll_timeout(), Some(2_250));
    hub.handle_timeout(2_250);
    let outputs = drain(&mut hub);
    assert_eq!(count_sent(&outputs, "replay", 7), 1);
    let replayed: Vec<EventId> = sent(&outputs)
        .into_iter()
        .flat_map(|m| match m {
            TabMsg::Replay { links, .. } => links.into_iter().map(|l| l.event.id).collect(),
            _ => vec![],
        })
        .collect();
    assert_eq!(replayed, [109, 110], "the highest `after` held back");
}

#[test]
fn the_peer_table_is_capped_and_unknown_tabs_are_not_answered() {
    let mut hub = leader(|_| {});
    for id in 0..(MAX_PEERS as u64 + 50) {
        let hello = TabMsg::Hello {
            watch: set(&[&format!("T-{id}")]),
            cursor: Some(100),
        };
        hub.handle_channel_message(400, &frame(1_000 + id, 1, hello));
    }
    assert_eq!(hub.diagnostics().peers, MAX_PEERS);
    drain(&mut hub);
    let request = TabMsg::SnapshotRequest { watch: Watch::All };
    hub.handle_channel_message(410, &frame(99_999, 1, request));
    assert_eq!(count_sent(&drain(&mut hub), "snapshot", 99_999), 0);
}

#[test]
fn stream_urls_cannot_be_steered_by_truck_ids() {
    let hello = r#"{"v":1,"app":"convoy","from":5,"term":1,"msg":{"type":"hello","watch":{"kind":"trucks","trucks":["T-01&lastEventId=0"]},"cursor":null}}"#;
    assert!(matches!(
        parse_frame(hello, 9),
        Err(FrameError::Malformed(_))
    ));
}

#[test]
fn a_same_term_rival_behind_us_does_not_take_a_lease_leader_over() {
    let mut hub = leader(|_| {});
    for id in 101..=105 {
        hub.handle_upstream_event(400 + id, env(id, "T-01"));
    }
    drain(&mut hub);
    let term = hub.diagnostics().term;
    // A copy of an old frame under a lower id: stale, not a rival.
    let copy = frame(0, term, TabMsg::Event(link(102, 101)));
    hub.handle_channel_message(600, &copy);
    let d = hub.diagnostics();
    assert_eq!((d.role, d.stale_frames), (Role::Leader, 1));
    // A rival that is where we are wins the term (Lease mode).
    hub.handle_channel_message(610, &frame(0, term, heartbeat(105)));
    assert_eq!(hub.diagnostics().role, Role::Follower);
}

#[test]
fn a_server_batch_is_relayed_as_one_message_that_followers_take_whole() {
    let mut lead = leader(|_| {});
    lead.handle_upstream_events(
        400,
        vec![env(101, "T-01"), env(103, "T-02"), env(104, "T-01")],
    );
    let outputs = drain(&mut lead);
    assert_eq!(delivered(&outputs), [101, 103, 104]);
    let frames: Vec<&String> = outputs
        .iter()
        .filter_map(|o| match o {
            HubOutput::Send { frame, .. } => Some(frame),
            _ => None,
        })
        .collect();
    assert_eq!(frames.len(), 1, "one message for the batch: {frames:?}");
    let TabMsg::Events {
        prev, ref events, ..
    } = parse_frame(frames[0], 0).unwrap().msg
    else {
        panic!("not an events message: {}", frames[0]);
    };
    assert_eq!((prev, events.len()), (100, 3));
    // A repeat inside a later batch is dropped; the rest is relayed.
    lead.handle_upstream_events(450, vec![env(104, "T-01"), env(105, "T-01")]);
    let outputs = drain(&mut lead);
    assert_eq!(delivered(&outputs), [105]);
    assert!(matches!(&sent(&outputs)[..], [TabMsg::Event(link)] if link.prev == 104));

    // A follower at 100 takes the whole batch, in order, and its cursor ends at its last id.
    let mut hub = follower();
    drain(&mut hub);
    hub.handle_channel_message(
        10,
        &frame(LEADER, 3, parse_frame(frames[0], 0).unwrap().msg),
    );
    assert_eq!(delivered(&drain(&mut hub)), [101, 103, 104]);
    assert_eq!(hub.cursor(), Some(104));
    // A batch that does not follow the cursor waits, like a link, and is asked for again.
    let later = TabMsg::Events {
        prev: 106,
        union: Watch::All,
        events: vec![env(107, "T-01"), env(108, "T-01")],
    };
    hub.handle_channel_message(20, &frame(LEADER, 3, later));
    assert!(delivered(&drain(&mut hub)).is_empty());
    assert_eq!(hub.diagnostics().buffered, 2);
}

#[test]
fn events_messages_that_no_leader_sends_are_malformed() {
    let malformed = |prev: EventId, events: Vec<Envelope>| {
        let raw = frame(
            2,
            1,
            TabMsg::Events {
                prev,
                union: Watch::All,
                events,
            },
        );
        matches!(parse_frame(&raw, 9), Err(FrameError::Malformed(_)))
    };
    assert!(!malformed(4, vec![env(5, "T-01"), env(7, "T-02")]));
    assert!(malformed(4, vec![]), "empty");
    assert!(
        malformed(4, vec![env(7, "T-01"), env(5, "T-01")]),
        "out of order"
    );
    assert!(malformed(5, vec![env(5, "T-01")]), "not after prev");
    assert!(malformed(
        4,
        vec![env(5, "T-01"), env(MAX_SAFE_INTEGER, "T-01")]
    ));
    assert!(malformed(
        4,
        vec![env(5, "T-01"), env(6 + MAX_LINK_SPAN, "T-01")]
    ));
    assert!(malformed(4, vec![env(5, "no such truck!")]));
    let too_many = (5..6 + MAX_REPLAY_LINKS as u64)
        .map(|id| env(id, "T-01"))
        .collect();
    assert!(malformed(4, too_many));
}

/// What a leader sent, as (kind, event ids): `("event", [id])`, `("events", ids)`, or the
/// message's type alone.
fn relayed(outputs: &[HubOutput]) -> Vec<(&'static str, Vec<EventId>)> {
    sent(outputs)
        .into_iter()
        .map(|m| match m {
            TabMsg::Event(link) => ("event", vec![link.event.id]),
            TabMsg::Events { events, .. } => ("events", events.iter().map(|e| e.id).collect()),
            TabMsg::Heartbeat { .. } => ("heartbeat", vec![]),
            TabMsg::Goodbye => ("goodbye", vec![]),
            TabMsg::Watch { .. } => ("watch", vec![]),
            _ => ("other", vec![]),
        })
        .collect()
}

#[test]
fn while_every_other_tab_is_hidden_the_leader_holds_relays_and_sends_them_as_one() {
    let mut hub = leader(|c| c.relay_hold_ms = 250);
    let hello = TabMsg::Hello {
        watch: Watch::All,
        cursor: Some(100),
    };
    hub.handle_channel_message(330, &hidden_frame(7, 1, hello));
    drain(&mut hub);
    // In its first second a new leader relays at once: a failover is not slowed.
    hub.handle_upstream_event(400, env(101, "T-01"));
    assert_eq!(relayed(&drain(&mut hub)), [("event", vec![101])]);
    // Later, with only hidden tabs, relays wait (the leader's own app gets them at once).
    hub.handle_upstream_event(1_400, env(102, "T-01"));
    hub.handle_upstream_events(1_500, vec![env(103, "T-02"), env(104, "T-01")]);
    let outputs = drain(&mut hub);
    assert_eq!(delivered(&outputs), [102, 103, 104]);
    // (The leader's fallback heartbeat, a second after it last spoke, held nothing back.)
    assert_eq!(relayed(&outputs), [("heartbeat", vec![])]);
    assert_eq!(hub.poll_timeout(), Some(1_650));
    hub.handle_timeout(1_650);
    assert_eq!(relayed(&drain(&mut hub)), [("events", vec![102, 103, 104])]);

    // A leader frame goes after what is held: a heartbeat's cursor never runs ahead.
    hub.handle_upstream_event(1_700, env(105, "T-01"));
    hub.handle_upstream_heartbeat(1_710);
    assert_eq!(
        relayed(&drain(&mut hub)),
        [("event", vec![105]), ("heartbeat", vec![])]
    );

    // The hidden tab shows its page: what is held goes at once, and so does what follows.
    hub.handle_upstream_event(1_800, env(106, "T-01"));
    assert!(relayed(&drain(&mut hub)).is_empty());
    let shown = TabMsg::Watch {
        watch: Watch::All,
        cursor: Some(105),
    };
    hub.handle_channel_message(1_810, &frame(7, 1, shown));
    assert_eq!(relayed(&drain(&mut hub)), [("event", vec![106])]);
    hub.handle_upstream_event(1_900, env(107, "T-01"));
    assert_eq!(relayed(&drain(&mut hub)), [("event", vec![107])]);

    // Hidden again; a leader that leaves sends what it holds before its goodbye.
    let hidden = TabMsg::Watch {
        watch: Watch::All,
        cursor: Some(107),
    };
    hub.handle_channel_message(1_910, &hidden_frame(7, 1, hidden));
    hub.handle_upstream_event(2_000, env(108, "T-01"));
    assert!(relayed(&drain(&mut hub)).is_empty());
    hub.shutdown(2_010);
    let last = relayed(&drain(&mut hub));
    assert_eq!(last.first(), Some(&("event", vec![108])), "{last:?}");
    assert!(last.contains(&("goodbye", vec![])));
}

#[test]
fn a_tab_says_whether_its_page_is_hidden_in_every_frame() {
    let mut hub = follower();
    drain(&mut hub);
    hub.set_hidden(20, true);
    let outputs = drain(&mut hub);
    let frames: Vec<TabFrame> = outputs
        .iter()
        .filter_map(|o| match o {
            HubOutput::Send { frame, .. } => Some(parse_frame(frame, 0).unwrap()),
            _ => None,
        })
        .collect();
    assert!(
        matches!(&frames[..], [f] if f.hidden && matches!(f.msg, TabMsg::Watch { .. })),
        "one watch announcement says it: {frames:?}"
    );
    hub.set_hidden(30, true);
    assert!(
        sent(&drain(&mut hub)).is_empty(),
        "no change, nothing to say"
    );
    // Shown again: the field is left out, which reads as shown (as from older tabs).
    hub.set_hidden(40, false);
    let outputs = drain(&mut hub);
    let HubOutput::Send { frame, .. } = &outputs[0] else {
        panic!("{outputs:?}");
    };
    assert!(!frame.contains("hidden"), "{frame}");
    assert!(!parse_frame(frame, 0).unwrap().hidden);
}

#[test]
fn a_follower_drops_relayed_events_and_snapshots_outside_its_operators_scope() {
    let scope = set(&["T-01", "T-02"]);
    let mut hub = follower_with(|c| c.scope = scope.clone());
    let about = |id: EventId, prev: EventId, truck: &str| Link {
        event: env(id, truck),
        prev,
        union: Watch::All,
    };
    // An event of another operator's truck: not shown, and not taken as a position either.
    hub.handle_channel_message(
        10,
        &frame(LEADER, 3, TabMsg::Event(about(101, 100, "T-09"))),
    );
    assert_eq!(delivered(&drain(&mut hub)), Vec::<EventId>::new());
    assert_eq!(hub.diagnostics().cursor, 100);
    assert_eq!(hub.diagnostics().out_of_scope, 1);
    hub.handle_channel_message(
        20,
        &frame(LEADER, 3, TabMsg::Event(about(101, 100, "T-01"))),
    );
    assert_eq!(delivered(&drain(&mut hub)), [101]);
    // Inside a batch and a replay too.
    let events = TabMsg::Events {
        prev: 101,
        union: Watch::All,
        events: vec![env(102, "T-02"), env(103, "T-09")],
    };
    hub.handle_channel_message(30, &frame(LEADER, 3, events));
    assert_eq!(delivered(&drain(&mut hub)), [102]);
    let replay = TabMsg::Replay {
        to: ME,
        links: vec![about(105, 102, "T-07")],
    };
    hub.handle_channel_message(40, &frame(LEADER, 3, replay));
    assert_eq!(delivered(&drain(&mut hub)), Vec::<EventId>::new());
    // A snapshot naming a truck outside the scope, even as a reset for everyone.
    for (to, reset) in [(Some(ME), false), (None, true)] {
        let forged = TabMsg::Snapshot {
            to,
            watch: Watch::All,
            reset,
            snapshot: FleetSnapshot {
                last_event_id: 500,
                trucks: vec![truck("T-01"), truck("T-09")],
            },
        };
        hub.handle_channel_message(50, &frame(LEADER, 3, forged));
        let outputs = drain(&mut hub);
        assert!(
            !outputs
                .iter()
                .any(|o| matches!(o, HubOutput::DeliverSnapshot(_))),
            "{outputs:?}"
        );
    }
    let d = hub.diagnostics();
    assert_eq!(
        (d.cursor, d.out_of_scope, d.delivered),
        (102, 5, 2),
        "{d:?}"
    );
    // What the session's leader relays goes on as before.
    hub.handle_channel_message(
        60,
        &frame(LEADER, 3, TabMsg::Event(about(104, 102, "T-02"))),
    );
    assert_eq!(delivered(&drain(&mut hub)), [104]);
}

#[test]
fn no_watch_makes_the_leaders_stream_name_a_truck_outside_its_scope() {
    // The server refuses a stream that names a truck outside the operator's scope (403), which
    // would stop it for every tab: neither this tab's views nor a (forged) frame can add one.
    let mut hub = leader(|c| {
        c.scope = set(&["T-01", "T-02", "T-03"]);
        c.watch = set(&["T-01", "T-09"]);
    });
    assert_eq!(hub.diagnostics().watch, set(&["T-01"]));
    assert_eq!(hub.diagnostics().subscribed, Some(set(&["T-01"])));
    let hello = TabMsg::Hello {
        watch: set(&["T-02", "T-09", "T-10"]),
        cursor: Some(100),
    };
    hub.handle_channel_message(400, &frame(7, 1, hello));
    hub.set_watch(410, set(&["T-03", "T-11"]));
    hub.handle_timeout(700);
    let opens: Vec<HubOutput> = drain(&mut hub)
        .into_iter()
        .filter(|o| matches!(o, HubOutput::OpenUpstream { .. }))
        .collect();
    assert_eq!(
        opens,
        [HubOutput::OpenUpstream {
            watch: set(&["T-02", "T-03"]),
            last_event_id: Some(100),
        }]
    );
    // `all` is the operator's trucks as the server reads it: it stays `all`.
    let all = TabMsg::Watch {
        watch: Watch::All,
        cursor: Some(100),
    };
    hub.handle_channel_message(800, &frame(7, 1, all));
    hub.handle_timeout(1_100);
    assert!(drain(&mut hub).contains(&HubOutput::OpenUpstream {
        watch: Watch::All,
        last_event_id: Some(100),
    }));
}

#[test]
fn an_upstream_gap_resumes_at_once_then_falls_back_to_a_snapshot() {
    let mut hub = leader(|_| {});
    hub.handle_upstream_events(400, vec![env(101, "T-01"), env(102, "T-02")]);
    drain(&mut hub);
    hub.handle_upstream_gap(410);
    let outputs = drain(&mut hub);
    assert!(outputs.contains(&HubOutput::OpenUpstream {
        watch: Watch::All,
        last_event_id: Some(102),
    }));
    assert!(!outputs.contains(&HubOutput::FetchSnapshot), "{outputs:?}");
    assert_eq!(hub.diagnostics().reconnect_attempt, 0);
    // The resumed stream delivers: a later gap resumes again, from the new cursor.
    hub.handle_upstream_open(420);
    hub.handle_upstream_event(430, env(103, "T-01"));
    hub.handle_upstream_gap(440);
    assert!(drain(&mut hub).contains(&HubOutput::OpenUpstream {
        watch: Watch::All,
        last_event_id: Some(103),
    }));
    // A gap again before anything was taken: resuming brought the same hole back.
    hub.handle_upstream_open(450);
    hub.handle_upstream_gap(460);
    let outputs = drain(&mut hub);
    assert!(outputs.contains(&HubOutput::CloseUpstream), "{outputs:?}");
    assert!(outputs.contains(&HubOutput::FetchSnapshot), "{outputs:?}");
    hub.handle_snapshot(500, snap(110));
    let outputs = drain(&mut hub);
    assert!(outputs.contains(&HubOutput::DeliverSnapshot(snap(110))));
    assert!(sent(&outputs).iter().any(|m| matches!(
        m,
        TabMsg::Snapshot {
            to: None,
            reset: true,
            ..
        }
    )));
    assert!(outputs.contains(&HubOutput::OpenUpstream {
        watch: Watch::All,
        last_event_id: Some(110),
    }));
    assert_eq!(hub.diagnostics().upstream_gaps, 3);
    // A gap from a stream already closed is old news.
    let mut closed = leader(|_| {});
    closed.handle_upstream_error(400);
    drain(&mut closed);
    closed.handle_upstream_gap(410);
    assert_eq!(drain(&mut closed), vec![]);
    assert_eq!(closed.diagnostics().upstream_gaps, 0);
}
