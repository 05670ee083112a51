//! The app's fleet state: one reducer, a thin wrapper over `core::fleet::apply_to_truck`.
//! Each truck sits behind its own `Rc`, so an event re-renders only the views of its truck.

use convoy_core::fleet::{apply_to_truck, Applied};
use convoy_core::wire::{Envelope, EventId, FleetSnapshot, TruckId, TruckState};
use std::collections::BTreeMap;
use std::rc::Rc;
use yew::Reducible;

/// Every truck the app knows, and how far the feed has come.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetStore {
    pub trucks: BTreeMap<TruckId, Rc<TruckState>>,
    pub last_event_id: EventId,
    /// False until the first snapshot arrives (views show skeletons until then).
    pub loaded: bool,
}

/// What changes the store.
pub enum FleetAction {
    /// Replace the state (first load, a late join, or after a `reset`).
    Snapshot(Rc<FleetSnapshot>),
    /// A batch of live events, applied in order.
    Events(Rc<Vec<Envelope>>),
}

impl Reducible for FleetStore {
    type Action = FleetAction;

    fn reduce(self: Rc<Self>, action: FleetAction) -> Rc<Self> {
        match action {
            FleetAction::Snapshot(snapshot) => {
                // Inserted, not collected: `collect` into a map sorts a Vec first, and each
                // sort is code of its own in the wasm.
                let mut trucks = BTreeMap::new();
                for t in &snapshot.trucks {
                    trucks.insert(t.id.clone(), Rc::new(t.clone()));
                }
                Rc::new(FleetStore {
                    trucks,
                    last_event_id: snapshot.last_event_id,
                    loaded: true,
                })
            }
            FleetAction::Events(events) => {
                let fresh = |e: &&Envelope| {
                    self.trucks
                        .get(e.event.truck())
                        .is_some_and(|t| e.id > t.last_event_id)
                };
                // Same Rc when nothing applies, so nothing re-renders.
                if !events.iter().any(|e| fresh(&e)) {
                    return self;
                }
                let mut store = (*self).clone();
                for envelope in events.iter() {
                    let Some(truck) = store.trucks.get_mut(envelope.event.truck()) else {
                        continue;
                    };
                    if envelope.id > truck.last_event_id
                        && apply_to_truck(Rc::make_mut(truck), envelope) == Applied::Changed
                    {
                        store.last_event_id = store.last_event_id.max(envelope.id);
                    }
                }
                Rc::new(store)
            }
        }
    }
}
