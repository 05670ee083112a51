//! The election of each mode, driven through [`Election`]'s inputs on a virtual clock.

use super::*;

const TIMING: ElectionTiming = ElectionTiming {
    liveness_ms: 3_000,
    claim_window_ms: 150,
};

fn drain(e: &mut Election) -> Vec<ElectionAction> {
    std::iter::from_fn(|| e.poll_action()).collect()
}

#[test]
fn worker_leads_at_once_and_ignores_claims() {
    let mut e = Election::new(9, ElectionMode::Worker, TIMING);
    e.start(0);
    assert_eq!(
        drain(&mut e),
        vec![ElectionAction::BecomeLeader { term: 1 }]
    );
    e.handle_frame(10, 2, 5, Seen::Claim { term: 5 });
    e.handle_frame(20, 3, 7, Seen::Leader);
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.role(), Role::Leader);
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn client_follows_any_worker_and_pings_when_it_is_silent() {
    let mut e = Election::new(4, ElectionMode::Client, TIMING);
    e.start(0);
    assert!(drain(&mut e).is_empty());
    e.handle_frame(10, 100, 3, Seen::Leader);
    assert_eq!(
        drain(&mut e),
        vec![ElectionAction::Follow {
            leader: 100,
            term: 3
        }]
    );
    // Silence: a ping (never a claim), again every liveness_ms.
    e.handle_timeout(10 + TIMING.liveness_ms);
    assert_eq!(drain(&mut e), vec![ElectionAction::AnnounceTerm]);
    assert_eq!(e.poll_timeout(), Some(10 + 2 * TIMING.liveness_ms));
    // A restarted worker: new id, term 1 again.
    e.handle_frame(7_000, 200, 1, Seen::Leader);
    assert_eq!(
        drain(&mut e),
        vec![ElectionAction::Follow {
            leader: 200,
            term: 1
        }]
    );
    assert_eq!(e.role(), Role::Follower);
}

#[test]
fn a_client_on_the_server_clock_pings_after_the_takeover_silence() {
    let mut e = Election::new(4, ElectionMode::Client, TIMING);
    e.start(0);
    e.handle_frame(10, 100, 3, Seen::Leader);
    drain(&mut e);
    e.set_takeover(Some(800));
    assert_eq!(e.poll_timeout(), Some(810));
    e.handle_timeout(809);
    assert!(drain(&mut e).is_empty());
    e.handle_timeout(810);
    assert_eq!(drain(&mut e), vec![ElectionAction::AnnounceTerm]);
    // Still silent: again after the takeover silence, never a claim.
    assert_eq!(e.poll_timeout(), Some(1_610));
    e.handle_timeout(1_610);
    assert_eq!(drain(&mut e), vec![ElectionAction::AnnounceTerm]);
    // Off the server's clock (the worker reconnecting): back to the liveness.
    e.set_takeover(None);
    assert_eq!(e.poll_timeout(), Some(1_610 + TIMING.liveness_ms));
}

fn started(me: TabId, mode: ElectionMode) -> Election {
    let mut e = Election::new(me, mode, TIMING);
    e.start(0);
    drain(&mut e);
    e
}

#[test]
fn locks_grant_leads_with_next_term() {
    let mut e = Election::new(7, ElectionMode::Locks, TIMING);
    e.start(0);
    assert_eq!(
        drain(&mut e),
        [ElectionAction::RequestLock { steal: false }]
    );
    e.handle_frame(5, 3, 4, Seen::Peer);
    e.handle_lock_granted(10);
    assert_eq!(drain(&mut e), [ElectionAction::BecomeLeader { term: 5 }]);
    assert_eq!(
        (e.role(), e.leader(), e.lock_state()),
        (Role::Leader, Some(7), LockState::Held)
    );
}

#[test]
fn lease_lowest_claimant_wins_its_term() {
    let mut a = started(5, ElectionMode::Lease);
    let mut b = started(9, ElectionMode::Lease);
    a.handle_timeout(150);
    b.handle_timeout(150);
    assert_eq!(drain(&mut a), [ElectionAction::SendClaim { term: 1 }]);
    assert_eq!(drain(&mut b), [ElectionAction::SendClaim { term: 1 }]);
    a.handle_frame(151, 9, 0, Seen::Claim { term: 1 });
    b.handle_frame(151, 5, 0, Seen::Claim { term: 1 });
    a.handle_timeout(300);
    b.handle_timeout(300);
    assert_eq!(drain(&mut a), [ElectionAction::BecomeLeader { term: 1 }]);
    assert!(drain(&mut b).is_empty());
    b.handle_frame(301, 5, 1, Seen::Leader);
    assert_eq!(
        drain(&mut b),
        [ElectionAction::Follow { leader: 5, term: 1 }]
    );
    assert_eq!(b.role(), Role::Follower);
}

#[test]
fn tab_that_cannot_win_stays_quiet() {
    let mut e = started(9, ElectionMode::Lease);
    e.handle_frame(10, 5, 0, Seen::Claim { term: 1 });
    assert!(drain(&mut e).is_empty(), "9 > 5: no claim of its own");
    e.handle_timeout(160);
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.role(), Role::Electing);
    // The winner stays silent: nudge it once, then claim the next term after the lease.
    e.handle_timeout(160 + 75);
    assert_eq!(drain(&mut e), [ElectionAction::SendClaim { term: 1 }]);
    e.handle_timeout(160 + 3_000);
    assert_eq!(drain(&mut e), [ElectionAction::SendClaim { term: 2 }]);
}

#[test]
fn leader_steps_down_on_higher_term_or_lower_id_in_same_term() {
    let mut e = started(5, ElectionMode::Lease);
    e.handle_timeout(150);
    e.handle_timeout(300);
    assert!(drain(&mut e).contains(&ElectionAction::BecomeLeader { term: 1 }));
    // Same term, higher id: keep leading and say so.
    e.handle_frame(310, 8, 1, Seen::Leader);
    assert_eq!(drain(&mut e), [ElectionAction::AssertLeadership]);
    // Same term, lower id: stop at once and follow it.
    e.handle_frame(320, 2, 1, Seen::Leader);
    assert_eq!(
        drain(&mut e),
        [
            ElectionAction::StopLeading,
            ElectionAction::Follow { leader: 2, term: 1 }
        ]
    );
    // A higher term from a peer frame: forget the leader and wait for the new one.
    e.handle_frame(330, 11, 4, Seen::Peer);
    assert_eq!(drain(&mut e), [ElectionAction::LeaderGone]);
    assert_eq!((e.role(), e.term()), (Role::Electing, 4));
}

#[test]
fn locks_leader_stepping_down_releases_and_requeues() {
    let mut e = started(5, ElectionMode::Locks);
    e.handle_lock_granted(1);
    drain(&mut e);
    e.handle_frame(2, 9, 3, Seen::Leader);
    assert_eq!(
        drain(&mut e),
        [
            ElectionAction::StopLeading,
            ElectionAction::ReleaseLock,
            ElectionAction::RequestLock { steal: false },
            ElectionAction::Follow { leader: 9, term: 3 }
        ]
    );
}

#[test]
fn claims_are_guarded_by_a_live_leader() {
    // A leader answers every claim.
    let mut leader = started(1, ElectionMode::Locks);
    leader.handle_lock_granted(0);
    drain(&mut leader);
    leader.handle_frame(10, 4, 1, Seen::Claim { term: 2 });
    assert_eq!(drain(&mut leader), [ElectionAction::AssertLeadership]);
    // A follower with a running lease ignores claims.
    let mut f = started(2, ElectionMode::Locks);
    f.handle_frame(10, 1, 1, Seen::Leader);
    drain(&mut f);
    f.handle_frame(20, 4, 1, Seen::Claim { term: 2 });
    assert!(drain(&mut f).is_empty());
    // A claimant hearing its old leader gives the round up.
    f.handle_timeout(10 + 3_000);
    assert_eq!(
        drain(&mut f),
        [
            ElectionAction::SendClaim { term: 2 },
            ElectionAction::LeaderGone
        ]
    );
    f.handle_frame(3_050, 1, 1, Seen::Leader);
    assert_eq!(
        drain(&mut f),
        [ElectionAction::Follow { leader: 1, term: 1 }]
    );
    f.handle_timeout(3_200);
    assert!(
        drain(&mut f).is_empty(),
        "no steal after the leader answered"
    );
}

#[test]
fn successor_on_the_servers_clock_takes_over_without_a_round() {
    // Locks: the successor steals once its one deadline passes, and only from a timer.
    let mut f = started(2, ElectionMode::Locks);
    f.handle_frame(10, 1, 1, Seen::Leader);
    drain(&mut f);
    f.set_takeover(Some(800));
    assert_eq!(f.poll_timeout(), Some(810));
    assert!(!f.handle_takeover(809));
    // A frame moves the deadline: the leader is alive.
    f.handle_frame(500, 1, 1, Seen::Leader);
    assert_eq!(f.poll_timeout(), Some(1_300));
    assert!(f.handle_takeover(1_300));
    assert_eq!(
        drain(&mut f),
        [
            ElectionAction::LeaderGone,
            ElectionAction::RequestLock { steal: true }
        ]
    );
    f.handle_lock_granted(1_320);
    assert_eq!(f.role(), Role::Leader);
    assert_eq!(f.term(), 2);
    // Not the successor: no deadline of its own, the claim round decides.
    let mut g = started(3, ElectionMode::Locks);
    g.handle_frame(10, 1, 1, Seen::Leader);
    drain(&mut g);
    g.set_takeover(None);
    assert_eq!(g.poll_timeout(), Some(10 + TIMING.liveness_ms));
    assert!(!g.handle_takeover(2_000));
    // Lease: the successor leads in the next term, on the deadline or on a goodbye.
    let mut l = started(2, ElectionMode::Lease);
    l.handle_frame(10, 1, 1, Seen::Leader);
    drain(&mut l);
    l.set_takeover(Some(800));
    assert!(l.handle_takeover(900));
    assert_eq!(l.role(), Role::Leader);
    assert_eq!(l.term(), 2);
    let mut m = started(2, ElectionMode::Lease);
    m.handle_frame(10, 1, 1, Seen::Leader);
    drain(&mut m);
    m.set_takeover(Some(800));
    m.handle_frame(20, 1, 1, Seen::Goodbye);
    assert_eq!(m.role(), Role::Leader);
    assert_eq!(m.term(), 2);
}

#[test]
fn locks_frozen_holder_is_stolen_from_after_liveness() {
    let mut f = started(2, ElectionMode::Locks);
    f.handle_frame(0, 1, 3, Seen::Leader);
    drain(&mut f);
    f.handle_timeout(3_000);
    assert_eq!(
        drain(&mut f),
        [
            ElectionAction::SendClaim { term: 4 },
            ElectionAction::LeaderGone
        ]
    );
    f.handle_timeout(3_150);
    assert_eq!(drain(&mut f), [ElectionAction::RequestLock { steal: true }]);
    assert_eq!(f.lock_state(), LockState::Stealing);
    f.handle_lock_granted(3_160);
    assert_eq!(drain(&mut f), [ElectionAction::BecomeLeader { term: 4 }]);
}

#[test]
fn lock_lost_stops_leading_and_requeues() {
    let mut e = started(3, ElectionMode::Locks);
    e.handle_lock_granted(0);
    drain(&mut e);
    e.handle_lock_lost(5);
    assert_eq!(
        drain(&mut e),
        [
            ElectionAction::StopLeading,
            ElectionAction::RequestLock { steal: false }
        ]
    );
    assert_eq!(
        (e.role(), e.lock_state()),
        (Role::Electing, LockState::Queued)
    );
}

#[test]
fn lease_goodbye_from_leader_claims_at_once() {
    let mut e = started(4, ElectionMode::Lease);
    e.handle_frame(0, 9, 2, Seen::Leader);
    drain(&mut e);
    e.handle_frame(100, 9, 2, Seen::Goodbye);
    assert_eq!(
        drain(&mut e),
        [
            ElectionAction::LeaderGone,
            ElectionAction::SendClaim { term: 3 }
        ]
    );
    assert_eq!(e.poll_timeout(), Some(250));
}

#[test]
fn higher_term_leader_is_followed_whatever_its_id() {
    let mut e = started(5, ElectionMode::Locks);
    e.handle_frame(0, 1, 1, Seen::Leader);
    drain(&mut e);
    e.handle_frame(10, 9, 2, Seen::Leader);
    assert_eq!(
        drain(&mut e),
        [ElectionAction::Follow { leader: 9, term: 2 }]
    );
    assert_eq!(e.leader(), Some(9));
}

#[test]
fn claims_heard_just_before_our_lease_ran_out_count() {
    let mut e = started(8, ElectionMode::Lease);
    e.handle_frame(0, 1, 1, Seen::Leader);
    drain(&mut e);
    // 4 claims while our lease still runs (its last frame reached us a little later).
    e.handle_frame(2_999, 4, 1, Seen::Claim { term: 2 });
    assert!(drain(&mut e).is_empty());
    e.handle_timeout(3_000);
    assert_eq!(
        drain(&mut e),
        [ElectionAction::LeaderGone],
        "8 > 4: no claim"
    );
    e.handle_timeout(3_150);
    assert!(drain(&mut e).is_empty(), "4 wins, not us");
    assert_eq!(e.role(), Role::Electing);
}

#[test]
fn a_claimant_behind_on_terms_is_told_and_claims_a_newer_one() {
    let mut f = started(8, ElectionMode::Lease);
    f.handle_frame(0, 1, 4, Seen::Leader);
    drain(&mut f);
    f.handle_frame(10, 9, 0, Seen::Claim { term: 1 });
    assert_eq!(drain(&mut f), [ElectionAction::AnnounceTerm]);
    // The fresh tab's side: its round for term 1 is dropped on hearing term 4.
    let mut fresh = started(9, ElectionMode::Lease);
    fresh.handle_timeout(150);
    assert_eq!(drain(&mut fresh), [ElectionAction::SendClaim { term: 1 }]);
    fresh.handle_frame(160, 8, 4, Seen::Peer);
    fresh.handle_timeout(300);
    assert!(drain(&mut fresh).is_empty(), "no leader of an old term");
    fresh.handle_timeout(310);
    assert_eq!(drain(&mut fresh), [ElectionAction::SendClaim { term: 5 }]);
}

#[test]
fn resigned_tab_releases_a_late_grant_and_ignores_frames() {
    let mut e = started(3, ElectionMode::Locks);
    e.resign(1);
    assert_eq!(drain(&mut e), [ElectionAction::ReleaseLock]);
    e.handle_lock_granted(2);
    assert_eq!(drain(&mut e), [ElectionAction::ReleaseLock]);
    e.handle_frame(3, 1, 1, Seen::Leader);
    assert!(drain(&mut e).is_empty());
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn a_tab_with_a_term_refuses_far_jumps_and_a_new_tab_takes_them() {
    let mut f = started(5, ElectionMode::Lease);
    assert!(f.plausible(1 << 40, Seen::Leader), "a new tab catches up");
    f.handle_frame(0, 1, 3, Seen::Leader);
    drain(&mut f);
    let far = 3 + MAX_TERM_STEP + 1;
    assert!(!f.plausible(far, Seen::Leader));
    assert!(!f.plausible(3, Seen::Claim { term: far + 1 }));
    assert!(f.plausible(3 + MAX_TERM_STEP, Seen::Peer));
    f.handle_frame(10, 9, (1 << 53) - 1, Seen::Leader);
    assert!(drain(&mut f).is_empty());
    assert_eq!((f.term(), f.leader()), (3, Some(1)));
    // Rejoining (after the back/forward cache) catches up again.
    f.resign(20);
    f.start(30);
    assert!(f.plausible(far, Seen::Leader));
}

#[test]
fn a_lock_holder_is_not_unseated_by_a_same_term_rival() {
    let mut leader = started(5, ElectionMode::Locks);
    leader.handle_lock_granted(0);
    drain(&mut leader);
    leader.handle_frame(10, 0, 1, Seen::Leader);
    assert_eq!(drain(&mut leader), [ElectionAction::AssertLeadership]);
    assert_eq!(leader.role(), Role::Leader);
    // Its followers keep it while it is alive.
    let mut f = started(7, ElectionMode::Locks);
    f.handle_frame(0, 5, 1, Seen::Leader);
    drain(&mut f);
    f.handle_frame(10, 0, 1, Seen::Leader);
    assert!(drain(&mut f).is_empty());
    assert_eq!(f.leader(), Some(5));
    // Lease mode has no lock: the lower id wins the term, as before.
    let mut lease = started(5, ElectionMode::Lease);
    lease.handle_timeout(150);
    lease.handle_timeout(300);
    drain(&mut lease);
    lease.handle_frame(310, 0, 1, Seen::Leader);
    assert_eq!(
        drain(&mut lease),
        [
            ElectionAction::StopLeading,
            ElectionAction::Follow { leader: 0, term: 1 }
        ]
    );
}

#[test]
fn solo_leads_at_once() {
    let mut e = Election::new(3, ElectionMode::Solo, TIMING);
    e.start(0);
    assert_eq!(drain(&mut e), [ElectionAction::BecomeLeader { term: 1 }]);
    assert_eq!(e.poll_timeout(), None);
}

#[test]
fn poll_timeout_moves_past_now_after_handle_timeout() {
    for mode in [ElectionMode::Locks, ElectionMode::Lease] {
        let mut e = started(5, mode);
        let mut now = 0;
        for _ in 0..20 {
            let Some(at) = e.poll_timeout() else { break };
            now = now.max(at);
            e.handle_timeout(now);
            drain(&mut e);
            if let Some(next) = e.poll_timeout() {
                assert!(next > now, "{mode:?}: wake-up {next} not after {now}");
            }
            if e.role() == Role::Leader {
                break;
            }
        }
    }
}
