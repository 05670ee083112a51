//! Client mode: a tab connected to a worker. No contest: it follows whoever sends it leader
//! frames (one worker per port; a restarted service worker comes back with a new id and term
//! 1), never claims or leads, and watches the worker's silence: after `liveness_ms` (or, while
//! the worker relays the server's heartbeats, the hub's shorter verdict) it asks the hub to
//! announce its watch, a message that wakes a stopped service worker.

use super::{ElectionAction, Mode, Role, Seat, Seen, TabId, Term};

/// A follower of its worker, with a watchdog on the worker's silence.
#[derive(Debug, Clone)]
pub(super) struct Watchdog {
    seat: Seat,
    /// Silence until then is normal; the ping is due then at the latest.
    lease_until_ms: u64,
}

impl Watchdog {
    pub(super) fn new(seat: Seat) -> Watchdog {
        Watchdog {
            seat,
            lease_until_ms: 0,
        }
    }

    /// When silence from the worker calls for a ping. A worker that relays the server's
    /// heartbeats (the hub's verdict, its `worker_ping_ms`) is silent only when it stopped, so
    /// the ping goes after that silence, not the full liveness.
    fn ping_at(&self) -> u64 {
        let heard = self
            .lease_until_ms
            .saturating_sub(self.seat.timing.liveness_ms);
        match self.seat.takeover_ms {
            Some(ms) if self.seat.role == Role::Follower => {
                heard.saturating_add(ms).min(self.lease_until_ms)
            }
            _ => self.lease_until_ms,
        }
    }

    fn heard(&mut self, now_ms: u64) {
        self.lease_until_ms = now_ms + self.seat.timing.liveness_ms;
    }
}

impl Mode for Watchdog {
    fn seat(&self) -> &Seat {
        &self.seat
    }

    fn seat_mut(&mut self) -> &mut Seat {
        &mut self.seat
    }

    fn start(&mut self, now_ms: u64) {
        self.seat.join();
        // A worker answers a client's hello at once; silence for this long means it needs
        // waking.
        self.heard(now_ms);
    }

    /// The worker on the other end of the port is the leader, whatever its term (a restarted
    /// service worker starts again at term 1).
    fn handle_frame(&mut self, now_ms: u64, from: TabId, term: Term, seen: Seen) {
        if !self.seat.active || from == self.seat.me {
            return;
        }
        match seen {
            Seen::Leader => {
                self.seat.term = term;
                if !(self.seat.role == Role::Follower && self.seat.leader == Some(from)) {
                    self.seat.follow(from);
                }
                self.heard(now_ms);
            }
            Seen::Goodbye if self.seat.leader == Some(from) => {
                self.seat.lose_leader();
                self.heard(now_ms);
            }
            Seen::Goodbye | Seen::Claim { .. } | Seen::Peer => {}
        }
    }

    fn handle_timeout(&mut self, now_ms: u64) {
        if self.seat.active && now_ms >= self.ping_at() {
            // Silence from the worker: a message to it wakes a stopped service worker.
            self.heard(now_ms);
            self.seat.push(ElectionAction::AnnounceTerm);
        }
    }

    fn poll_timeout(&self) -> Option<u64> {
        self.seat.active.then(|| self.ping_at())
    }
}
