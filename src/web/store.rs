//! The app's fleet state: a thin wrapper over `core::fleet::apply_to_truck`. Each truck sits
//! behind its own `Rc`, so an event re-renders only the views of its truck.

use convoy_core::fleet::{apply_to_truck, Applied};
use convoy_core::view::query::ClearedAlert;
use convoy_core::wire::{Envelope, EventId, FleetEvent, FleetSnapshot, TruckId, TruckState};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;
use yew::Reducible;

/// Every truck the app knows, and how far the feed has come.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetStore {
    pub trucks: BTreeMap<TruckId, Rc<TruckState>>,
    pub last_event_id: EventId,
    /// False until the first snapshot arrives (views show skeletons until then).
    pub loaded: bool,
    /// Alerts cleared since the last snapshot, newest first, at most [`CLEARED_KEPT`].
    pub cleared: Rc<VecDeque<ClearedAlert>>,
}

/// How many cleared alerts the store remembers for the feed.
pub const CLEARED_KEPT: usize = 10;

/// What changes the store.
pub enum FleetAction {
    /// Replace the state (first load, a late join, or after a `reset`).
    Snapshot(Rc<FleetSnapshot>),
    /// A batch of live events, applied in order.
    Events(Rc<Vec<Envelope>>),
}

impl FleetAction {
    /// Whether this can change which alerts are active or acknowledged.
    pub fn touches_alerts(&self) -> bool {
        match self {
            FleetAction::Snapshot(_) => true,
            FleetAction::Events(events) => events
                .iter()
                .any(|e| !matches!(e.event, FleetEvent::Position { .. })),
        }
    }
}

impl FleetStore {
    /// Applies `action` in place; false when nothing changed. A truck shared with a rendered
    /// store is copied once (its new `Rc` is what re-renders its views); unchanged trucks keep
    /// their `Rc`.
    fn apply(&mut self, action: FleetAction) -> bool {
        match action {
            FleetAction::Snapshot(snapshot) => {
                // Inserted, not collected: `collect` into a map sorts a Vec first, and each
                // sort is code of its own in the wasm.
                let mut trucks = BTreeMap::new();
                for t in &snapshot.trucks {
                    trucks.insert(t.id.clone(), Rc::new(t.clone()));
                }
                *self = FleetStore {
                    trucks,
                    last_event_id: snapshot.last_event_id,
                    loaded: true,
                    cleared: Rc::default(),
                };
                true
            }
            FleetAction::Events(events) => {
                let mut changed = false;
                for envelope in events.iter() {
                    let Some(truck) = self.trucks.get_mut(envelope.event.truck()) else {
                        continue;
                    };
                    if envelope.id <= truck.last_event_id {
                        continue;
                    }
                    let cleared = match &envelope.event {
                        FleetEvent::AlertCleared { kind, at_ms, .. } => {
                            truck.alerts.iter().find(|a| a.kind == *kind).map(|alert| {
                                ClearedAlert {
                                    truck: truck.id.clone(),
                                    alert: alert.clone(),
                                    cleared_ms: *at_ms,
                                }
                            })
                        }
                        _ => None,
                    };
                    if apply_to_truck(Rc::make_mut(truck), envelope) == Applied::Changed {
                        self.last_event_id = self.last_event_id.max(envelope.id);
                        changed = true;
                        if let Some(cleared) = cleared {
                            let list = Rc::make_mut(&mut self.cleared);
                            list.push_front(cleared);
                            list.truncate(CLEARED_KEPT);
                        }
                    }
                }
                changed
            }
        }
    }
}

/// Yew's copy of the store is replaced whole by the [`FleetMirror`]'s.
impl Reducible for FleetStore {
    type Action = Rc<FleetStore>;

    fn reduce(self: Rc<Self>, next: Rc<FleetStore>) -> Rc<Self> {
        next
    }
}

/// The fleet as the feed has it, kept outside Yew: updates fold into it in place, and Yew gets
/// a copy only when the page is visible. A hidden page so stays current without rendering
/// anything, and renders once when it is shown.
#[derive(Default)]
pub struct FleetMirror {
    store: FleetStore,
    /// Changed since Yew last got a copy.
    unshown: bool,
}

impl FleetMirror {
    /// Folds `action` in; true when the store changed.
    pub fn update(&mut self, action: FleetAction) -> bool {
        let changed = self.store.apply(action);
        self.unshown |= changed;
        changed
    }

    /// The store as it is now.
    pub fn store(&self) -> &FleetStore {
        &self.store
    }

    /// A copy for Yew when it has not seen the latest changes (None otherwise).
    pub fn show(&mut self) -> Option<Rc<FleetStore>> {
        std::mem::take(&mut self.unshown).then(|| Rc::new(self.store.clone()))
    }
}
