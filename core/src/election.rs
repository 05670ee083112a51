//! Leader election between the tabs of one browser (sans-IO).
//!
//! One tab leads (it owns the upstream stream and relays it, see `core::relay`); the others
//! follow. `Election` decides who leads from the frames the tabs exchange, the Web Lock (when the
//! browser has one) and the time passed in; `TabHub` feeds it and carries out its
//! [`ElectionAction`]s. It keeps no clock, no randomness and does no I/O.
//!
//! # Terms
//! Every frame between tabs carries the sender's term: the highest leadership term it knows. A
//! leader leads in one term; terms only grow. Leaders are ordered by `(term, lower tab id)`:
//! - a tab that sees a frame with a higher term adopts it, and a leader that does stops leading
//!   at once ([`ElectionAction::StopLeading`]);
//! - two leaders in the same term: the one with the lower tab id wins, the other stops at once;
//! - a leader frame with a lower term is stale; a leader answers it (and every claim) with
//!   [`ElectionAction::AssertLeadership`] so the stale tab learns the current term.
//!
//! # Modes
//! - [`ElectionMode::Locks`]: an exclusive Web Lock, held for the whole term, decides the leader.
//!   Every tab queues a request; the tab granted the lock leads with term = highest seen + 1.
//! - [`ElectionMode::Lease`] (no Web Locks, and the host simulation): the leader's frames renew a
//!   lease in every follower. A follower that hears nothing from its leader for `liveness_ms`
//!   sends `Claim { term: term + 1 }` and waits `claim_window_ms`; the lowest tab id among the
//!   claimants of that term wins and leads in it.
//! - [`ElectionMode::Solo`]: no other tabs (direct transport): this tab leads at once, alone.
//! - [`ElectionMode::Worker`]: a shared worker or service worker that holds the upstream for
//!   every tab connected to it: it leads at once, like Solo, but its frames go to every tab. It
//!   never contests leadership and ignores claims (its clients never send any).
//! - [`ElectionMode::Client`]: a tab connected to such a worker: it never claims or leads; it
//!   follows whoever sends it leader frames (there is one worker per port, and a restarted
//!   service worker comes back with a new id and term 1). When its worker has been silent for
//!   `liveness_ms` it asks the hub to announce its watch ([`ElectionAction::AnnounceTerm`]), a
//!   message that wakes a service worker the browser stopped.
//!
//! # Liveness beyond the lock
//! A frozen tab keeps its Web Lock, so in Locks mode followers also watch the leader's frames:
//! after `liveness_ms` of silence they run the same claim round, and its winner asks for the lock
//! with `steal: true`; the old holder gets `handle_lock_lost` and stops.
//!
//! Claims are *guarded*: a live leader answers a claim at once (a message event, which browsers
//! do not throttle in hidden tabs), and a claimant that hears its leader, or any leader of its
//! term or later, gives up the round. Followers whose own lease is still running ignore claims.
//!
//! # Hostile frames
//! Any script of the origin can post on the channel, so a frame's term is a claim, not a fact.
//! Two rules keep a forged one from taking a live group over:
//! - **Bounded steps.** A tab that has a term of its own (it followed or led since it joined)
//!   refuses a frame whose term is more than [`MAX_TERM_STEP`] above it, or a claim beyond that:
//!   no live leader could have made such a jump, since every leader's term is one more than the
//!   highest it had heard, and every tab hears the same channel. The frame is dropped whole
//!   ([`Election::plausible`]). A tab without one (just started, or back from the back/forward
//!   cache) takes any term below 2^53, as it must to catch up.
//! - **The lock is the proof** (Locks mode). Two leaders of one term cannot both hold the lock,
//!   so a lock holder does not step down for a same-term leader with a lower id (it asserts its
//!   own leadership), and a follower whose leader is alive does not switch to one.
//!
//! A frame with a higher term within the bound still counts as usual: a forged one costs at
//! most one election, after which recorded frames carry an old term and are stale.
//!
//! # Taking over on the server's clock
//! A leader relays every server heartbeat (the stream asks for one every 500 ms), so while its
//! upstream is live its followers hear from it at that pace however throttled its own timers
//! are: the server is the clock. The hub tells the election when that holds and this tab is the
//! successor (no live peer other than the leader has a lower id) with
//! [`Election::set_takeover`]; such a follower arms one deadline, `takeover_ms` after the
//! leader's last frame, and when it fires ([`Election::handle_takeover`], from a timer, never
//! from a message, which would be proof of life) it takes over without a claim round: in Locks
//! mode it steals the lock at once, in Lease mode it leads in the next term. A hidden tab's timer
//! fires up to a second late, so a hung or crashed leader is replaced within `takeover_ms` plus
//! a second plus the handover. In Lease mode a successor that hears its leader's goodbye leads
//! at once too. Without a server clock (a silent server, a leader in backoff) or when this tab
//! is not the successor, the claim rounds below decide, as before.
//!
//! Hidden tabs run timers at most once a second (once a minute after five minutes), so nothing
//! here depends on a hidden tab's timers alone: `TabHub` runs every due deadline on each input,
//! and a claimant that lost a round re-sends its claim after `claim_window_ms / 2` if the winner
//! has not announced itself, which wakes a throttled winner whose window has already closed.
#![warn(missing_docs)]

use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A tab's identifier: random, chosen by the adapter (below 2^53 so JavaScript holds it exactly).
pub type TabId = u64;

/// A leadership term. Terms only grow; 0 means "none seen yet".
pub type Term = u64;

/// How far above its own term a tab that has one accepts a frame's term (see "Hostile frames").
/// Each election adds one; a tab that missed this many in a row rejoins like a new tab.
pub const MAX_TERM_STEP: Term = 64;

/// How the leader is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElectionMode {
    /// An exclusive Web Lock decides; frames guard against a frozen holder (guarded `steal`).
    Locks,
    /// No Web Locks: leases renewed by the leader's frames, and claim rounds.
    Lease,
    /// No other tabs take part (the direct transport): this tab leads from the start.
    Solo,
    /// A shared or service worker: leads from the start and relays to every connected tab.
    Worker,
    /// A tab connected to a worker: follows it, never leads.
    Client,
}

/// A tab's part in the election.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// No leader known: waiting for one, claiming, or waiting for the lock.
    Electing,
    /// Following a live leader.
    Follower,
    /// Leading: owns the upstream and relays it.
    Leader,
}

/// Where this tab's Web Lock request stands (always `Idle` outside Locks mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockState {
    /// No request.
    Idle,
    /// A request waits in the lock manager's queue.
    Queued,
    /// A `steal: true` request was made after winning a claim round.
    Stealing,
    /// This tab holds the lock.
    Held,
}

/// What kind of frame arrived, as far as the election cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A frame only a leader sends (leading, event, heartbeat, snapshot, replay).
    Leader,
    /// A claim round for a term.
    Claim {
        /// The term claimed.
        term: Term,
    },
    /// The sender is leaving (page hide or close).
    Goodbye,
    /// Any other frame from a tab (hello, watch, resend...): only its term counts.
    Peer,
}

/// What the election asks its owner to do. Drained with [`Election::poll_action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionAction {
    /// Locks mode: ask for the leader lock. Before a steal, abort any queued request.
    RequestLock {
        /// Take the lock from its holder at once.
        steal: bool,
    },
    /// Locks mode: release the lock if held, and abort any queued request.
    ReleaseLock,
    /// Broadcast a claim.
    SendClaim {
        /// The term claimed.
        term: Term,
    },
    /// This tab leads: broadcast that it does, now (answers claims and stale leaders).
    AssertLeadership,
    /// A claimant is behind (it claims a term this tab already knows): send any frame, which
    /// carries our term, so it catches up instead of winning an old term nobody contests.
    AnnounceTerm,
    /// This tab now leads.
    BecomeLeader {
        /// The term it leads in.
        term: Term,
    },
    /// This tab led and must stop relaying at once.
    StopLeading,
    /// This tab now follows a leader (a new one, or the old one heard again).
    Follow {
        /// The leader.
        leader: TabId,
        /// Its term.
        term: Term,
    },
    /// The leader this tab followed is gone or superseded; none is known yet.
    LeaderGone,
}

/// The election's timing knobs (see `relay::HubConfig` for their defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionTiming {
    /// Silence from the leader after which a follower claims.
    pub liveness_ms: u64,
    /// How long a claim round collects claims before the lowest claimant wins.
    pub claim_window_ms: u64,
}

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

/// The election state machine of one tab.
///
/// Feed it with `start`, `handle_frame`, `handle_lock_granted`, `handle_lock_lost`,
/// `handle_timeout` and `resign`; drain `poll_action` after each call; wake it at
/// `poll_timeout`.
#[derive(Debug, Clone)]
pub struct Election {
    me: TabId,
    mode: ElectionMode,
    timing: ElectionTiming,
    active: bool,
    role: Role,
    term: Term,
    leader: Option<TabId>,
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
    /// This tab has a term of its own: it followed or led since it started. Only then are far
    /// jumps refused (see "Hostile frames").
    anchored: bool,
    /// Set by the hub while this follower is its leader's successor and the leader's frames run
    /// on the server's heartbeat clock: silence for this long means the leader is gone or hung,
    /// and this tab takes over without a claim round (see "Taking over on the server's clock").
    takeover_ms: Option<u64>,
    actions: VecDeque<ElectionAction>,
}

impl Election {
    /// A dormant election for tab `me`; call [`Election::start`] to take part.
    pub fn new(me: TabId, mode: ElectionMode, timing: ElectionTiming) -> Self {
        Election {
            me,
            mode,
            timing,
            active: false,
            role: Role::Electing,
            term: 0,
            leader: None,
            lease_until_ms: 0,
            round: None,
            nudge: None,
            heard: None,
            last_claimed: 0,
            lock: LockState::Idle,
            anchored: false,
            takeover_ms: None,
            actions: VecDeque::new(),
        }
    }

    /// Joins (or rejoins after `resign`): Locks mode queues a lock request; Lease mode waits
    /// `claim_window_ms` for a leader to answer before claiming; Solo mode leads at once. Keeps
    /// the highest term seen before.
    pub fn start(&mut self, now_ms: u64) {
        self.active = true;
        self.anchored = false;
        self.role = Role::Electing;
        self.leader = None;
        self.round = None;
        self.nudge = None;
        self.lease_until_ms = now_ms + self.wait_for_leader_ms();
        match self.mode {
            ElectionMode::Locks => {
                if self.lock == LockState::Idle {
                    self.lock = LockState::Queued;
                    self.push(ElectionAction::RequestLock { steal: false });
                }
            }
            ElectionMode::Lease | ElectionMode::Client => {}
            ElectionMode::Solo | ElectionMode::Worker => {
                self.become_leader(self.term.saturating_add(1))
            }
        }
    }

    /// Leaves the election (page hide or close): stops leading, releases the lock and any
    /// request, and stays dormant until `start`. Frames and timeouts are ignored meanwhile; a lock
    /// granted meanwhile is released at once.
    pub fn resign(&mut self, _now_ms: u64) {
        if !self.active {
            return;
        }
        if self.lock != LockState::Idle {
            self.lock = LockState::Idle;
            self.push(ElectionAction::ReleaseLock);
        }
        if self.role == Role::Leader {
            self.push(ElectionAction::StopLeading);
        }
        self.active = false;
        self.role = Role::Electing;
        self.leader = None;
        self.round = None;
        self.nudge = None;
    }

    /// Whether a frame carrying `term` (and, for a claim, its claimed term) is one a live tab
    /// could have sent: false when this tab has a term of its own and the frame jumps more
    /// than [`MAX_TERM_STEP`] above it (see "Hostile frames"). Always true in Solo, Worker and
    /// Client modes (a client follows whatever its one worker says).
    pub fn plausible(&self, term: Term, seen: Seen) -> bool {
        if !self.anchored || !matches!(self.mode, ElectionMode::Locks | ElectionMode::Lease) {
            return true;
        }
        let bound = self.term.saturating_add(MAX_TERM_STEP);
        let claimed = match seen {
            Seen::Claim { term } => term,
            Seen::Leader | Seen::Goodbye | Seen::Peer => 0,
        };
        term <= bound && claimed <= bound.saturating_add(1)
    }

    /// A frame from tab `from` carrying `term`. Frames from this tab itself, and frames that are
    /// not [`plausible`](Election::plausible), are ignored.
    pub fn handle_frame(&mut self, now_ms: u64, from: TabId, term: Term, seen: Seen) {
        if !self.active
            || from == self.me
            || matches!(self.mode, ElectionMode::Solo | ElectionMode::Worker)
            || !self.plausible(term, seen)
        {
            return;
        }
        if self.mode == ElectionMode::Client {
            self.on_worker_frame(now_ms, from, term, seen);
            return;
        }
        if term > self.term {
            let was_leader = self.role == Role::Leader;
            self.term = term;
            if was_leader {
                self.step_down();
            }
            if self.round.as_ref().is_some_and(|r| r.term <= self.term) {
                self.round = None;
            }
            if seen == Seen::Leader {
                // Whoever we followed belongs to an older term: follow this one (below).
                self.leader = None;
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

    /// Locks mode: this tab now holds the leader lock, so it leads with term = highest seen + 1.
    /// When resigned (or not in Locks mode) the lock is released at once.
    pub fn handle_lock_granted(&mut self, _now_ms: u64) {
        if !self.active || self.mode != ElectionMode::Locks {
            self.lock = LockState::Idle;
            self.push(ElectionAction::ReleaseLock);
            return;
        }
        self.lock = LockState::Held;
        if self.role != Role::Leader {
            self.become_leader(self.term.saturating_add(1));
        }
    }

    /// Locks mode: the lock was stolen or the request ended. A leader stops at once; the tab
    /// queues a new request and follows whoever announces itself.
    pub fn handle_lock_lost(&mut self, now_ms: u64) {
        if self.mode != ElectionMode::Locks {
            return;
        }
        self.lock = LockState::Idle;
        if !self.active {
            return;
        }
        if self.role == Role::Leader {
            self.role = Role::Electing;
            self.leader = None;
            self.push(ElectionAction::StopLeading);
        }
        self.lock = LockState::Queued;
        self.push(ElectionAction::RequestLock { steal: false });
        self.lease_until_ms = now_ms + self.timing.liveness_ms;
    }

    /// Runs every deadline due at `now_ms`: closes claim rounds, nudges a silent winner, and
    /// starts a claim when the leader has been silent for `liveness_ms`.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if !self.active || matches!(self.mode, ElectionMode::Solo | ElectionMode::Worker) {
            return;
        }
        if self.mode == ElectionMode::Client {
            if now_ms >= self.client_ping_at() {
                // Silence from the worker: a message to it wakes a stopped service worker.
                self.lease_until_ms = now_ms + self.timing.liveness_ms;
                self.push(ElectionAction::AnnounceTerm);
            }
            return;
        }
        if self.round.as_ref().is_some_and(|r| now_ms >= r.deadline_ms) {
            self.close_round(now_ms);
        }
        if let Some((term, at)) = self.nudge {
            if now_ms >= at {
                self.nudge = None;
                if self.role == Role::Electing && term > self.term {
                    self.push(ElectionAction::SendClaim { term });
                }
            }
        }
        if self.role != Role::Leader && self.round.is_none() && now_ms >= self.lease_until_ms {
            let term = self.next_claim_term();
            self.start_round(now_ms, term, None);
        }
    }

    /// The hub's verdict, after each input: `Some(ms)` while this tab is its leader's successor
    /// and the leader's frames run on the server's heartbeat clock (silence for `ms` then means
    /// the leader is gone or hung); `None` otherwise.
    pub fn set_takeover(&mut self, takeover_ms: Option<u64>) {
        self.takeover_ms = takeover_ms;
    }

    /// Client mode: when silence from the worker calls for a ping. A worker that relays the
    /// server's heartbeats (the hub's verdict, its `worker_ping_ms`) is silent only when it
    /// stopped, so the ping goes after that silence, not the full liveness.
    fn client_ping_at(&self) -> u64 {
        let heard = self.lease_until_ms.saturating_sub(self.timing.liveness_ms);
        match self.takeover_ms {
            Some(ms) if self.role == Role::Follower => {
                heard.saturating_add(ms).min(self.lease_until_ms)
            }
            _ => self.lease_until_ms,
        }
    }

    /// When a successor follower takes over if its leader stays silent (see
    /// [`Election::set_takeover`]), or `None`.
    fn takeover_at(&self) -> Option<u64> {
        if !self.active
            || self.role != Role::Follower
            || !matches!(self.mode, ElectionMode::Locks | ElectionMode::Lease)
        {
            return None;
        }
        let heard = self.lease_until_ms.saturating_sub(self.timing.liveness_ms);
        self.takeover_ms.map(|ms| heard.saturating_add(ms))
    }

    /// Call from a timer (never on a message: a frame that is waiting would prove the leader
    /// alive). A successor whose leader has been silent past its takeover deadline takes over
    /// at once: Locks mode steals the lock, Lease mode leads in the next term. Returns whether
    /// it did.
    pub fn handle_takeover(&mut self, now_ms: u64) -> bool {
        if self.takeover_at().is_none_or(|at| now_ms < at) {
            return false;
        }
        self.take_over(now_ms);
        true
    }

    fn take_over(&mut self, now_ms: u64) {
        self.leader = None;
        self.role = Role::Electing;
        self.round = None;
        self.nudge = None;
        self.heard = None;
        self.push(ElectionAction::LeaderGone);
        match self.mode {
            ElectionMode::Locks if self.lock == LockState::Held => {
                self.become_leader(self.term.saturating_add(1))
            }
            ElectionMode::Locks => {
                self.lock = LockState::Stealing;
                self.push(ElectionAction::RequestLock { steal: true });
                self.lease_until_ms = now_ms + self.timing.liveness_ms;
            }
            _ => {
                let term = self.next_claim_term();
                self.last_claimed = self.last_claimed.max(term);
                self.become_leader(term);
            }
        }
    }

    /// The next time `handle_timeout` (or `handle_takeover`) has work, or `None` while dormant
    /// or leading.
    pub fn poll_timeout(&self) -> Option<u64> {
        if !self.active || matches!(self.mode, ElectionMode::Solo | ElectionMode::Worker) {
            return None;
        }
        if self.mode == ElectionMode::Client {
            return Some(self.client_ping_at());
        }
        let round = self.round.as_ref().map(|r| r.deadline_ms);
        let nudge = self.nudge.map(|(_, at)| at);
        let lease =
            (self.role != Role::Leader && self.round.is_none()).then_some(self.lease_until_ms);
        [round, nudge, lease, self.takeover_at()]
            .into_iter()
            .flatten()
            .min()
    }

    /// The next action to carry out, in order.
    pub fn poll_action(&mut self) -> Option<ElectionAction> {
        self.actions.pop_front()
    }

    /// This tab's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The highest term seen (the current leader's term when one is known).
    pub fn term(&self) -> Term {
        self.term
    }

    /// The leader this tab follows, or itself when leading.
    pub fn leader(&self) -> Option<TabId> {
        self.leader
    }

    /// Where the lock request stands.
    pub fn lock_state(&self) -> LockState {
        self.lock
    }

    /// The election mode.
    pub fn mode(&self) -> ElectionMode {
        self.mode
    }

    /// Whether the tab takes part (started and not resigned).
    pub fn is_active(&self) -> bool {
        self.active
    }

    fn push(&mut self, action: ElectionAction) {
        self.actions.push_back(action);
    }

    fn wait_for_leader_ms(&self) -> u64 {
        match self.mode {
            // The leader answers a hello at once; a lone tab should not wait long.
            ElectionMode::Lease => self.timing.claim_window_ms,
            // The lock decides; frames only guard against a frozen holder. A worker answers a
            // client's hello at once; silence for this long means it needs waking.
            ElectionMode::Locks
            | ElectionMode::Solo
            | ElectionMode::Worker
            | ElectionMode::Client => self.timing.liveness_ms,
        }
    }

    fn next_claim_term(&self) -> Term {
        self.term.max(self.last_claimed).saturating_add(1)
    }

    fn become_leader(&mut self, term: Term) {
        self.anchored = true;
        self.term = self.term.max(term);
        self.role = Role::Leader;
        self.leader = Some(self.me);
        self.round = None;
        self.nudge = None;
        self.push(ElectionAction::BecomeLeader { term: self.term });
    }

    fn step_down(&mut self) {
        self.role = Role::Electing;
        self.leader = None;
        self.push(ElectionAction::StopLeading);
        if self.mode == ElectionMode::Locks && self.lock != LockState::Idle {
            self.push(ElectionAction::ReleaseLock);
            self.push(ElectionAction::RequestLock { steal: false });
            self.lock = LockState::Queued;
        }
    }

    fn forget_leader(&mut self, now_ms: u64) {
        if self.role == Role::Follower || self.leader.is_some() {
            self.leader = None;
            self.role = Role::Electing;
            self.push(ElectionAction::LeaderGone);
        }
        self.lease_until_ms = self.lease_until_ms.max(now_ms + self.wait_for_leader_ms());
    }

    fn follow(&mut self, now_ms: u64, leader: TabId) {
        self.anchored = true;
        self.heard = None;
        self.leader = Some(leader);
        self.role = Role::Follower;
        self.round = None;
        self.nudge = None;
        self.lease_until_ms = now_ms + self.timing.liveness_ms;
        self.push(ElectionAction::Follow {
            leader,
            term: self.term,
        });
    }

    fn on_leader_frame(&mut self, now_ms: u64, from: TabId, term: Term) {
        if term < self.term {
            if self.role == Role::Leader {
                self.push(ElectionAction::AssertLeadership);
            }
            return;
        }
        // `term == self.term` here (a higher term was adopted above).
        match self.role {
            // Locks mode: we hold the lock, so a same-term rival cannot (a forged frame, or a
            // stale one from a holder that has lost it). Say who leads instead.
            Role::Leader if from < self.me && self.lock != LockState::Held => {
                self.step_down();
                self.follow(now_ms, from);
            }
            Role::Leader => self.push(ElectionAction::AssertLeadership),
            Role::Follower if self.leader == Some(from) => {
                self.lease_until_ms = now_ms + self.timing.liveness_ms;
            }
            // Another leader in our leader's term with a higher id loses to ours: ignore it.
            Role::Follower if self.leader.is_some_and(|l| l < from) => {}
            // Locks mode: our leader holds the lock and is alive; a same-term rival does not.
            Role::Follower
                if self.mode == ElectionMode::Locks
                    && self.leader.is_some()
                    && now_ms < self.lease_until_ms => {}
            Role::Follower | Role::Electing => self.follow(now_ms, from),
        }
    }

    /// Client mode: the worker on the other end of the port is the leader, whatever its term
    /// (a restarted service worker starts again at term 1).
    fn on_worker_frame(&mut self, now_ms: u64, from: TabId, term: Term, seen: Seen) {
        match seen {
            Seen::Leader => {
                self.term = term;
                if self.role == Role::Follower && self.leader == Some(from) {
                    self.lease_until_ms = now_ms + self.timing.liveness_ms;
                } else {
                    self.follow(now_ms, from);
                }
            }
            Seen::Goodbye if self.leader == Some(from) => {
                self.leader = None;
                self.role = Role::Electing;
                self.push(ElectionAction::LeaderGone);
                self.lease_until_ms = now_ms + self.timing.liveness_ms;
            }
            Seen::Goodbye | Seen::Claim { .. } | Seen::Peer => {}
        }
    }

    fn on_claim(&mut self, now_ms: u64, from: TabId, claimed: Term) {
        if self.role == Role::Leader {
            // The guard: a live leader answers every claim at once.
            self.push(ElectionAction::AssertLeadership);
            return;
        }
        if claimed <= self.term {
            self.push(ElectionAction::AnnounceTerm);
            return;
        }
        if self.leader.is_some() && now_ms < self.lease_until_ms {
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
            if round.claimants.lowest() == Some(self.me) && !round.sent {
                round.sent = true;
                let term = round.term;
                self.push(ElectionAction::SendClaim { term });
            }
        }
        if self.leader == Some(from) && self.role != Role::Leader {
            self.leader = None;
            self.role = Role::Electing;
            self.push(ElectionAction::LeaderGone);
            match self.mode {
                // The successor on the server's clock leads at once: the goodbye is the signal.
                ElectionMode::Lease if self.takeover_ms.is_some() => {
                    let term = self.next_claim_term();
                    self.last_claimed = self.last_claimed.max(term);
                    self.become_leader(term);
                }
                // Handover: claim at once instead of waiting out the lease.
                ElectionMode::Lease => {
                    let term = self.next_claim_term();
                    self.start_round(now_ms, term, None);
                }
                // The next queued lock request is granted; keep the liveness guard.
                ElectionMode::Locks
                | ElectionMode::Solo
                | ElectionMode::Worker
                | ElectionMode::Client => {
                    self.lease_until_ms = now_ms + self.timing.liveness_ms;
                }
            }
        }
    }

    fn start_round(&mut self, now_ms: u64, term: Term, with: Option<TabId>) {
        let mut claimants = Claimants::of(self.me);
        if let Some(tab) = with {
            claimants.insert(tab);
        }
        if let Some((heard_term, heard, at)) = self.heard.take() {
            if heard_term == term && now_ms < at + self.timing.claim_window_ms {
                for tab in heard.0 {
                    claimants.insert(tab);
                }
            }
        }
        // Only a tab that could still win needs to say so.
        let sent = claimants.lowest() == Some(self.me);
        if sent {
            self.push(ElectionAction::SendClaim { term });
        }
        self.last_claimed = self.last_claimed.max(term);
        if self.leader.is_some() || self.role == Role::Follower {
            self.leader = None;
            self.role = Role::Electing;
            self.push(ElectionAction::LeaderGone);
        }
        self.nudge = None;
        self.round = Some(ClaimRound {
            term,
            deadline_ms: now_ms + self.timing.claim_window_ms,
            claimants,
            sent,
        });
    }

    fn close_round(&mut self, now_ms: u64) {
        let Some(round) = self.round.take() else {
            return;
        };
        if round.claimants.lowest() == Some(self.me) {
            match self.mode {
                ElectionMode::Lease | ElectionMode::Solo | ElectionMode::Worker => {
                    self.become_leader(round.term)
                }
                // Clients never run rounds; a round cannot exist here.
                ElectionMode::Client => {}
                ElectionMode::Locks if self.lock == LockState::Held => {
                    self.become_leader(self.term.saturating_add(1))
                }
                ElectionMode::Locks => {
                    // The frozen holder keeps its lock: take it. The owner aborts our queued
                    // request first.
                    self.lock = LockState::Stealing;
                    self.push(ElectionAction::RequestLock { steal: true });
                    self.lease_until_ms = now_ms + self.timing.liveness_ms;
                }
            }
        } else {
            self.nudge = Some((round.term, now_ms + self.timing.claim_window_ms / 2));
            self.lease_until_ms = now_ms + self.timing.liveness_ms;
        }
    }
}

#[cfg(test)]
mod tests {
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
}
