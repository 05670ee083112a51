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
//! Only Locks and Lease run a contest (`contest.rs`: terms, claim rounds, the lock, takeover).
//! Solo and Worker are a constant leader (`constant.rs`) and Client a watchdog on its worker's
//! silence (`watchdog.rs`); all three sit behind the same [`Election`] inputs and outputs.
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

mod constant;
mod contest;
#[cfg(test)]
mod tests;
mod watchdog;

use constant::Constant;
use contest::Contest;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use watchdog::Watchdog;

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

/// What every mode keeps: who this tab is, whether it takes part, its role, term and leader,
/// the hub's takeover verdict, and the actions not drained yet.
#[derive(Debug, Clone)]
struct Seat {
    me: TabId,
    mode: ElectionMode,
    timing: ElectionTiming,
    active: bool,
    role: Role,
    term: Term,
    leader: Option<TabId>,
    /// This tab has a term of its own: it followed or led since it started. Only then are far
    /// jumps refused (see "Hostile frames").
    anchored: bool,
    /// Set by the hub while this follower is its leader's successor and the leader's frames run
    /// on the server's heartbeat clock: silence for this long means the leader is gone or hung,
    /// and this tab takes over without a claim round (see "Taking over on the server's clock").
    takeover_ms: Option<u64>,
    actions: VecDeque<ElectionAction>,
}

impl Seat {
    fn new(me: TabId, mode: ElectionMode, timing: ElectionTiming) -> Seat {
        Seat {
            me,
            mode,
            timing,
            active: false,
            role: Role::Electing,
            term: 0,
            leader: None,
            anchored: false,
            takeover_ms: None,
            actions: VecDeque::new(),
        }
    }

    fn push(&mut self, action: ElectionAction) {
        self.actions.push_back(action);
    }

    /// Takes part again, with no role or leader yet; the highest term seen is kept.
    fn join(&mut self) {
        self.active = true;
        self.anchored = false;
        self.role = Role::Electing;
        self.leader = None;
    }

    /// Stops taking part; a leader stops leading.
    fn leave(&mut self) {
        if self.role == Role::Leader {
            self.push(ElectionAction::StopLeading);
        }
        self.active = false;
        self.role = Role::Electing;
        self.leader = None;
    }

    fn lead(&mut self, term: Term) {
        self.anchored = true;
        self.term = self.term.max(term);
        self.role = Role::Leader;
        self.leader = Some(self.me);
        self.push(ElectionAction::BecomeLeader { term: self.term });
    }

    fn follow(&mut self, leader: TabId) {
        self.anchored = true;
        self.leader = Some(leader);
        self.role = Role::Follower;
        self.push(ElectionAction::Follow {
            leader,
            term: self.term,
        });
    }

    /// The leader is gone or superseded: none is known until one is heard.
    fn lose_leader(&mut self) {
        self.leader = None;
        self.role = Role::Electing;
        self.push(ElectionAction::LeaderGone);
    }
}

/// One mode's election: what [`Election`] hands each input to. What a mode does not override
/// is what a mode without a contest does: nothing.
trait Mode {
    fn seat(&self) -> &Seat;
    fn seat_mut(&mut self) -> &mut Seat;
    fn start(&mut self, now_ms: u64);

    /// Called only while active.
    fn resign(&mut self) {
        self.seat_mut().leave();
    }

    fn plausible(&self, _term: Term, _seen: Seen) -> bool {
        true
    }

    fn handle_frame(&mut self, _now_ms: u64, _from: TabId, _term: Term, _seen: Seen) {}

    /// A lock this mode never asks for is released at once.
    fn handle_lock_granted(&mut self) {
        self.seat_mut().push(ElectionAction::ReleaseLock);
    }

    fn handle_lock_lost(&mut self, _now_ms: u64) {}

    fn handle_timeout(&mut self, _now_ms: u64) {}

    fn handle_takeover(&mut self, _now_ms: u64) -> bool {
        false
    }

    fn poll_timeout(&self) -> Option<u64> {
        None
    }

    fn lock_state(&self) -> LockState {
        LockState::Idle
    }
}

/// The election state machine of one tab: a contest in Locks and Lease modes, a constant leader
/// in Solo and Worker modes, a watchdog on the worker in Client mode.
///
/// Feed it with `start`, `handle_frame`, `handle_lock_granted`, `handle_lock_lost`,
/// `handle_timeout` and `resign`; drain `poll_action` after each call; wake it at
/// `poll_timeout`.
#[derive(Debug, Clone)]
pub struct Election(Kind);

#[derive(Debug, Clone)]
enum Kind {
    Contest(Contest),
    Constant(Constant),
    Watchdog(Watchdog),
}

impl Election {
    /// A dormant election for tab `me`; call [`Election::start`] to take part.
    pub fn new(me: TabId, mode: ElectionMode, timing: ElectionTiming) -> Self {
        let seat = Seat::new(me, mode, timing);
        Election(match mode {
            ElectionMode::Locks | ElectionMode::Lease => Kind::Contest(Contest::new(seat)),
            ElectionMode::Solo | ElectionMode::Worker => Kind::Constant(Constant::new(seat)),
            ElectionMode::Client => Kind::Watchdog(Watchdog::new(seat)),
        })
    }

    fn mode_ref(&self) -> &dyn Mode {
        match &self.0 {
            Kind::Contest(m) => m,
            Kind::Constant(m) => m,
            Kind::Watchdog(m) => m,
        }
    }

    fn mode_mut(&mut self) -> &mut dyn Mode {
        match &mut self.0 {
            Kind::Contest(m) => m,
            Kind::Constant(m) => m,
            Kind::Watchdog(m) => m,
        }
    }

    fn seat(&self) -> &Seat {
        self.mode_ref().seat()
    }

    /// Joins (or rejoins after `resign`): Locks mode queues a lock request; Lease mode waits
    /// `claim_window_ms` for a leader to answer before claiming; Solo and Worker modes lead at
    /// once; Client mode waits for its worker. Keeps the highest term seen before.
    pub fn start(&mut self, now_ms: u64) {
        self.mode_mut().start(now_ms);
    }

    /// Leaves the election (page hide or close): stops leading, releases the lock and any
    /// request, and stays dormant until `start`. Frames and timeouts are ignored meanwhile; a lock
    /// granted meanwhile is released at once.
    pub fn resign(&mut self, _now_ms: u64) {
        if self.seat().active {
            self.mode_mut().resign();
        }
    }

    /// Whether a frame carrying `term` (and, for a claim, its claimed term) is one a live tab
    /// could have sent: false when this tab has a term of its own and the frame jumps more
    /// than [`MAX_TERM_STEP`] above it (see "Hostile frames"). Always true in Solo, Worker and
    /// Client modes (a client follows whatever its one worker says).
    pub fn plausible(&self, term: Term, seen: Seen) -> bool {
        self.mode_ref().plausible(term, seen)
    }

    /// A frame from tab `from` carrying `term`. Frames from this tab itself, and frames that are
    /// not [`plausible`](Election::plausible), are ignored; Solo and Worker modes ignore all.
    pub fn handle_frame(&mut self, now_ms: u64, from: TabId, term: Term, seen: Seen) {
        self.mode_mut().handle_frame(now_ms, from, term, seen);
    }

    /// Locks mode: this tab now holds the leader lock, so it leads with term = highest seen + 1.
    /// When resigned (or not in Locks mode) the lock is released at once.
    pub fn handle_lock_granted(&mut self, _now_ms: u64) {
        self.mode_mut().handle_lock_granted();
    }

    /// Locks mode: the lock was stolen or the request ended. A leader stops at once; the tab
    /// queues a new request and follows whoever announces itself.
    pub fn handle_lock_lost(&mut self, now_ms: u64) {
        self.mode_mut().handle_lock_lost(now_ms);
    }

    /// Runs every deadline due at `now_ms`: closes claim rounds, nudges a silent winner, and
    /// starts a claim when the leader has been silent for `liveness_ms` (a client pings its
    /// silent worker instead).
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.mode_mut().handle_timeout(now_ms);
    }

    /// The hub's verdict, after each input: `Some(ms)` while this tab is its leader's successor
    /// and the leader's frames run on the server's heartbeat clock (silence for `ms` then means
    /// the leader is gone or hung); `None` otherwise.
    pub fn set_takeover(&mut self, takeover_ms: Option<u64>) {
        self.mode_mut().seat_mut().takeover_ms = takeover_ms;
    }

    /// Call from a timer (never on a message: a frame that is waiting would prove the leader
    /// alive). A successor whose leader has been silent past its takeover deadline takes over
    /// at once: Locks mode steals the lock, Lease mode leads in the next term. Returns whether
    /// it did.
    pub fn handle_takeover(&mut self, now_ms: u64) -> bool {
        self.mode_mut().handle_takeover(now_ms)
    }

    /// The next time `handle_timeout` (or `handle_takeover`) has work, or `None` while dormant
    /// or leading.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.mode_ref().poll_timeout()
    }

    /// The next action to carry out, in order.
    pub fn poll_action(&mut self) -> Option<ElectionAction> {
        self.mode_mut().seat_mut().actions.pop_front()
    }

    /// This tab's role.
    pub fn role(&self) -> Role {
        self.seat().role
    }

    /// The highest term seen (the current leader's term when one is known).
    pub fn term(&self) -> Term {
        self.seat().term
    }

    /// The leader this tab follows, or itself when leading.
    pub fn leader(&self) -> Option<TabId> {
        self.seat().leader
    }

    /// Where the lock request stands.
    pub fn lock_state(&self) -> LockState {
        self.mode_ref().lock_state()
    }

    /// The election mode.
    pub fn mode(&self) -> ElectionMode {
        self.seat().mode
    }

    /// Whether the tab takes part (started and not resigned).
    pub fn is_active(&self) -> bool {
        self.seat().active
    }
}
