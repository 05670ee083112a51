//! Locks and Lease modes: the contest. Terms, the Web Lock (Locks), leases renewed by the
//! leader's frames, guarded claim rounds, bounded term steps against forged frames, and the
//! successor's takeover on the server's clock (see the module docs of `core::election`).

use super::MAX_TERM_STEP;
use super::{ElectionAction, ElectionMode, LockState, Mode, Role, Seat, Seen, TabId, Term};

#[derive(Debug, Clone)]
struct ClaimRound {
    term: Term,
    deadline_ms: u64,
    claimants: Claimants,
    sent: bool,
}

/// The tabs that claimed one term; the lowest wins. A handful at most: a Vec, because a
/// `BTreeSet`'s tree code would add about 5 KB to every wasm bundle for so small a set.
#[derive(Debug, Clone)]
struct Claimants(Vec<TabId>);

impl Claimants {
    fn of(tab: TabId) -> Claimants {
        Claimants(vec![tab])
    }

    fn insert(&mut self, tab: TabId) {
        if !self.0.contains(&tab) {
            self.0.push(tab);
        }
    }

    fn remove(&mut self, tab: TabId) {
        self.0.retain(|t| *t != tab);
    }

    fn lowest(&self) -> Option<TabId> {
        self.0.iter().min().copied()
    }
}

/// The contest of one tab.
#[derive(Debug, Clone)]
pub(super) struct Contest {
    seat: Seat,
    /// When a tab without a live leader starts a claim round (not used while leading or in a
    /// round).
    lease_until_ms: u64,
    round: Option<ClaimRound>,
    /// After losing a round: re-send the claim at this time if the winner stays silent.
    nudge: Option<(Term, u64)>,
    /// Claims heard while our own lease still ran: (term, claimants, first heard). Our lease
    /// may expire a moment later; the round we then start must count them.
    heard: Option<(Term, Claimants, u64)>,
    last_claimed: Term,
    lock: LockState,
}

impl Contest {
    pub(super) fn new(seat: Seat) -> Contest {
        Contest {
            seat,
            lease_until_ms: 0,
            round: None,
            nudge: None,
            heard: None,
            last_claimed: 0,
            lock: LockState::Idle,
        }
    }

    fn locks(&self) -> bool {
        self.seat.mode == ElectionMode::Locks
    }

    /// When a successor follower takes over if its leader stays silent (see
    /// [`super::Election::set_takeover`]), or `None`.
    fn takeover_at(&self) -> Option<u64> {
        if !self.seat.active || self.seat.role != Role::Follower {
            return None;
        }
        let heard = self
            .lease_until_ms
            .saturating_sub(self.seat.timing.liveness_ms);
        self.seat.takeover_ms.map(|ms| heard.saturating_add(ms))
    }

    fn take_over(&mut self, now_ms: u64) {
        self.seat.leader = None;
        self.seat.role = Role::Electing;
        self.round = None;
        self.nudge = None;
        self.heard = None;
        self.seat.push(ElectionAction::LeaderGone);
        if !self.locks() {
            let term = self.next_claim_term();
            self.last_claimed = self.last_claimed.max(term);
            self.become_leader(term);
        } else if self.lock == LockState::Held {
            self.become_leader(self.seat.term.saturating_add(1));
        } else {
            self.lock = LockState::Stealing;
            self.seat.push(ElectionAction::RequestLock { steal: true });
            self.lease_until_ms = now_ms + self.seat.timing.liveness_ms;
        }
    }

    fn wait_for_leader_ms(&self) -> u64 {
        if self.locks() {
            // The lock decides; frames only guard against a frozen holder.
            self.seat.timing.liveness_ms
        } else {
            // The leader answers a hello at once; a lone tab should not wait long.
            self.seat.timing.claim_window_ms
        }
    }

    fn next_claim_term(&self) -> Term {
        self.seat.term.max(self.last_claimed).saturating_add(1)
    }

    fn become_leader(&mut self, term: Term) {
        self.seat.lead(term);
        self.round = None;
        self.nudge = None;
    }

    fn step_down(&mut self) {
        self.seat.role = Role::Electing;
        self.seat.leader = None;
        self.seat.push(ElectionAction::StopLeading);
        if self.locks() && self.lock != LockState::Idle {
            self.seat.push(ElectionAction::ReleaseLock);
            self.seat.push(ElectionAction::RequestLock { steal: false });
            self.lock = LockState::Queued;
        }
    }

    fn forget_leader(&mut self, now_ms: u64) {
        if self.seat.role == Role::Follower || self.seat.leader.is_some() {
            self.seat.lose_leader();
        }
        self.lease_until_ms = self.lease_until_ms.max(now_ms + self.wait_for_leader_ms());
    }

    fn follow(&mut self, now_ms: u64, leader: TabId) {
        self.heard = None;
        self.round = None;
        self.nudge = None;
        self.lease_until_ms = now_ms + self.seat.timing.liveness_ms;
        self.seat.follow(leader);
    }

    fn on_leader_frame(&mut self, now_ms: u64, from: TabId, term: Term) {
        if term < self.seat.term {
            if self.seat.role == Role::Leader {
                self.seat.push(ElectionAction::AssertLeadership);
            }
            return;
        }
        // `term == self.seat.term` here (a higher term was adopted above).
        match self.seat.role {
            // Locks mode: we hold the lock, so a same-term rival cannot (a forged frame, or a
            // stale one from a holder that has lost it). Say who leads instead.
            Role::Leader if from < self.seat.me && self.lock != LockState::Held => {
                self.step_down();
                self.follow(now_ms, from);
            }
            Role::Leader => self.seat.push(ElectionAction::AssertLeadership),
            Role::Follower if self.seat.leader == Some(from) => {
                self.lease_until_ms = now_ms + self.seat.timing.liveness_ms;
            }
            // Another leader in our leader's term with a higher id loses to ours: ignore it.
            Role::Follower if self.seat.leader.is_some_and(|l| l < from) => {}
            // Locks mode: our leader holds the lock and is alive; a same-term rival does not.
            Role::Follower
                if self.locks() && self.seat.leader.is_some() && now_ms < self.lease_until_ms => {}
            Role::Follower | Role::Electing => self.follow(now_ms, from),
        }
    }

    fn on_claim(&mut self, now_ms: u64, from: TabId, claimed: Term) {
        if self.seat.role == Role::Leader {
            // The guard: a live leader answers every claim at once.
            self.seat.push(ElectionAction::AssertLeadership);
            return;
        }
        if claimed <= self.seat.term {
            self.seat.push(ElectionAction::AnnounceTerm);
            return;
        }
        if self.seat.leader.is_some() && now_ms < self.lease_until_ms {
            // Our leader is alive as far as we know; it answers the claimant itself. Remember
            // the claim in case our lease runs out before the round ends.
            match &mut self.heard {
                Some((term, claimants, _)) if *term == claimed => {
                    claimants.insert(from);
                }
                _ => self.heard = Some((claimed, Claimants::of(from), now_ms)),
            }
            return;
        }
        match &mut self.round {
            Some(round) if round.term == claimed => {
                round.claimants.insert(from);
            }
            Some(round) if round.term > claimed => {}
            _ => self.start_round(now_ms, claimed, Some(from)),
        }
    }

    fn on_goodbye(&mut self, now_ms: u64, from: TabId) {
        if let Some(round) = &mut self.round {
            round.claimants.remove(from);
            if round.claimants.lowest() == Some(self.seat.me) && !round.sent {
                round.sent = true;
                let term = round.term;
                self.seat.push(ElectionAction::SendClaim { term });
            }
        }
        if self.seat.leader == Some(from) && self.seat.role != Role::Leader {
            self.seat.lose_leader();
            if self.locks() {
                // The next queued lock request is granted; keep the liveness guard.
                self.lease_until_ms = now_ms + self.seat.timing.liveness_ms;
            } else if self.seat.takeover_ms.is_some() {
                // The successor on the server's clock leads at once: the goodbye is the signal.
                let term = self.next_claim_term();
                self.last_claimed = self.last_claimed.max(term);
                self.become_leader(term);
            } else {
                // Handover: claim at once instead of waiting out the lease.
                let term = self.next_claim_term();
                self.start_round(now_ms, term, None);
            }
        }
    }

    fn start_round(&mut self, now_ms: u64, term: Term, with: Option<TabId>) {
        let mut claimants = Claimants::of(self.seat.me);
        if let Some(tab) = with {
            claimants.insert(tab);
        }
        if let Some((heard_term, heard, at)) = self.heard.take() {
            if heard_term == term && now_ms < at + self.seat.timing.claim_window_ms {
                for tab in heard.0 {
                    claimants.insert(tab);
                }
            }
        }
        // Only a tab that could still win needs to say so.
        let sent = claimants.lowest() == Some(self.seat.me);
        if sent {
            self.seat.push(ElectionAction::SendClaim { term });
        }
        self.last_claimed = self.last_claimed.max(term);
        if self.seat.leader.is_some() || self.seat.role == Role::Follower {
            self.seat.lose_leader();
        }
        self.nudge = None;
        self.round = Some(ClaimRound {
            term,
            deadline_ms: now_ms + self.seat.timing.claim_window_ms,
            claimants,
            sent,
        });
    }

    fn close_round(&mut self, now_ms: u64) {
        let Some(round) = self.round.take() else {
            return;
        };
        if round.claimants.lowest() == Some(self.seat.me) {
            if !self.locks() {
                self.become_leader(round.term)
            } else if self.lock == LockState::Held {
                self.become_leader(self.seat.term.saturating_add(1))
            } else {
                // The frozen holder keeps its lock: take it. The owner aborts our queued
                // request first.
                self.lock = LockState::Stealing;
                self.seat.push(ElectionAction::RequestLock { steal: true });
                self.lease_until_ms = now_ms + self.seat.timing.liveness_ms;
            }
        } else {
            self.nudge = Some((round.term, now_ms + self.seat.timing.claim_window_ms / 2));
            self.lease_until_ms = now_ms + self.seat.timing.liveness_ms;
        }
    }
}

impl Mode for Contest {
    fn seat(&self) -> &Seat {
        &self.seat
    }

    fn seat_mut(&mut self) -> &mut Seat {
        &mut self.seat
    }

    fn start(&mut self, now_ms: u64) {
        self.seat.join();
        self.round = None;
        self.nudge = None;
        self.lease_until_ms = now_ms + self.wait_for_leader_ms();
        if self.locks() && self.lock == LockState::Idle {
            self.lock = LockState::Queued;
            self.seat.push(ElectionAction::RequestLock { steal: false });
        }
    }

    fn resign(&mut self) {
        if self.lock != LockState::Idle {
            self.lock = LockState::Idle;
            self.seat.push(ElectionAction::ReleaseLock);
        }
        self.seat.leave();
        self.round = None;
        self.nudge = None;
    }

    fn plausible(&self, term: Term, seen: Seen) -> bool {
        if !self.seat.anchored {
            return true;
        }
        let bound = self.seat.term.saturating_add(MAX_TERM_STEP);
        let claimed = match seen {
            Seen::Claim { term } => term,
            Seen::Leader | Seen::Goodbye | Seen::Peer => 0,
        };
        term <= bound && claimed <= bound.saturating_add(1)
    }

    fn handle_frame(&mut self, now_ms: u64, from: TabId, term: Term, seen: Seen) {
        if !self.seat.active || from == self.seat.me || !self.plausible(term, seen) {
            return;
        }
        if term > self.seat.term {
            let was_leader = self.seat.role == Role::Leader;
            self.seat.term = term;
            if was_leader {
                self.step_down();
            }
            if self
                .round
                .as_ref()
                .is_some_and(|r| r.term <= self.seat.term)
            {
                self.round = None;
            }
            if seen == Seen::Leader {
                // Whoever we followed belongs to an older term: follow this one (below).
                self.seat.leader = None;
            } else {
                // A newer term exists but its leader has not been heard: wait for it.
                self.forget_leader(now_ms);
            }
        }
        match seen {
            Seen::Leader => self.on_leader_frame(now_ms, from, term),
            Seen::Claim { term: claimed } => self.on_claim(now_ms, from, claimed),
            Seen::Goodbye => self.on_goodbye(now_ms, from),
            Seen::Peer => {}
        }
    }

    fn handle_lock_granted(&mut self) {
        if !self.seat.active || !self.locks() {
            self.lock = LockState::Idle;
            self.seat.push(ElectionAction::ReleaseLock);
            return;
        }
        self.lock = LockState::Held;
        if self.seat.role != Role::Leader {
            self.become_leader(self.seat.term.saturating_add(1));
        }
    }

    fn handle_lock_lost(&mut self, now_ms: u64) {
        if !self.locks() {
            return;
        }
        self.lock = LockState::Idle;
        if !self.seat.active {
            return;
        }
        if self.seat.role == Role::Leader {
            self.seat.role = Role::Electing;
            self.seat.leader = None;
            self.seat.push(ElectionAction::StopLeading);
        }
        self.lock = LockState::Queued;
        self.seat.push(ElectionAction::RequestLock { steal: false });
        self.lease_until_ms = now_ms + self.seat.timing.liveness_ms;
    }

    fn handle_timeout(&mut self, now_ms: u64) {
        if !self.seat.active {
            return;
        }
        if self.round.as_ref().is_some_and(|r| now_ms >= r.deadline_ms) {
            self.close_round(now_ms);
        }
        if let Some((term, at)) = self.nudge {
            if now_ms >= at {
                self.nudge = None;
                if self.seat.role == Role::Electing && term > self.seat.term {
                    self.seat.push(ElectionAction::SendClaim { term });
                }
            }
        }
        if self.seat.role != Role::Leader && self.round.is_none() && now_ms >= self.lease_until_ms {
            let term = self.next_claim_term();
            self.start_round(now_ms, term, None);
        }
    }

    fn handle_takeover(&mut self, now_ms: u64) -> bool {
        if self.takeover_at().is_none_or(|at| now_ms < at) {
            return false;
        }
        self.take_over(now_ms);
        true
    }

    fn poll_timeout(&self) -> Option<u64> {
        if !self.seat.active {
            return None;
        }
        let round = self.round.as_ref().map(|r| r.deadline_ms);
        let nudge = self.nudge.map(|(_, at)| at);
        let lease =
            (self.seat.role != Role::Leader && self.round.is_none()).then_some(self.lease_until_ms);
        [round, nudge, lease, self.takeover_at()]
            .into_iter()
            .flatten()
            .min()
    }

    fn lock_state(&self) -> LockState {
        self.lock
    }
}
