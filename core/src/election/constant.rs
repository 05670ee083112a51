//! Solo and Worker modes: no contest. The tab (or worker) leads from `start` to `resign` and
//! ignores every frame: a Solo tab has no peers, and a worker's clients never claim.

use super::{Mode, Seat};

/// A constant leader.
#[derive(Debug, Clone)]
pub(super) struct Constant {
    seat: Seat,
}

impl Constant {
    pub(super) fn new(seat: Seat) -> Constant {
        Constant { seat }
    }
}

impl Mode for Constant {
    fn seat(&self) -> &Seat {
        &self.seat
    }

    fn seat_mut(&mut self) -> &mut Seat {
        &mut self.seat
    }

    fn start(&mut self, _now_ms: u64) {
        self.seat.join();
        self.seat.lead(self.seat.term.saturating_add(1));
    }
}
