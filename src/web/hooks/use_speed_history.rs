//! A truck's recent speed, collected while a view shows it, for the panel's sparkline.

use convoy_core::wire::TruckState;
use std::rc::Rc;
use yew::prelude::*;

/// How far back the speed history reaches (the span of the panel's sparkline).
pub const SPEED_WINDOW_MS: u64 = 10 * 60 * 1000;

/// `(updated_ms, speed_kph)` points, oldest first, for the last `SPEED_WINDOW_MS` of the
/// truck's own clock (its `updated_ms`), so the history needs no timer and ages with the feed.
///
/// A point is appended whenever `truck` is a different `Rc` than at the previous render (the
/// store replaces a truck's `Rc` exactly when an event changed it), so re-renders for other
/// reasons add nothing. Another truck id starts a new history. The returned `Rc` is the same
/// until a point is added, so props holding it compare cheaply.
#[hook]
pub fn use_speed_history(truck: Option<Rc<TruckState>>) -> Rc<Vec<(u64, f32)>> {
    let history = use_mut_ref(SpeedHistory::default);
    let mut history = history.borrow_mut();
    if let Some(truck) = truck {
        history.observe(truck);
    }
    history.points.clone()
}

#[derive(Default)]
struct SpeedHistory {
    last: Option<Rc<TruckState>>,
    points: Rc<Vec<(u64, f32)>>,
}

impl SpeedHistory {
    fn observe(&mut self, truck: Rc<TruckState>) {
        if self
            .last
            .as_ref()
            .is_some_and(|last| Rc::ptr_eq(last, &truck))
        {
            return;
        }
        let same_truck = self.last.as_ref().is_some_and(|last| last.id == truck.id);
        let mut points: Vec<(u64, f32)> = if same_truck {
            self.points.iter().copied().collect()
        } else {
            Vec::new()
        };
        let at_ms = truck.updated_ms;
        // A snapshot after a reset can carry an older time: keep the line going forwards.
        points.retain(|(t, _)| *t < at_ms);
        // A truck that has not reported its speed draws no point.
        if let Some(speed) = truck.speed_kph {
            points.push((at_ms, speed));
        }
        let oldest = at_ms.saturating_sub(SPEED_WINDOW_MS);
        points.retain(|(t, _)| *t >= oldest);
        self.points = Rc::new(points);
        self.last = Some(truck);
    }
}
