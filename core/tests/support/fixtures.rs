//! Trucks, watches and events as the tests write them.

use convoy_core::wire::{Envelope, EventId, FleetEvent, TruckState, TruckStatus, Watch};

/// The simulated clock's start (Unix ms).
pub const EPOCH: u64 = 1_700_000_000_000;

/// The name of the `i`th simulated truck: `T-01`, `T-02`...
pub fn truck_name(i: usize) -> String {
    format!("T-{:02}", i + 1)
}

/// A watch of these trucks.
pub fn trucks(names: &[&str]) -> Watch {
    Watch::Trucks(names.iter().map(|s| s.to_string()).collect())
}

/// Truck `i` as the server knows it before any event.
pub fn seed_truck(i: usize) -> TruckState {
    TruckState {
        driver: format!("Driver {i}"),
        route_name: format!("Route {i}"),
        planned_arrival_ms: Some(EPOCH + 3_600_000),
        eta_ms: Some(EPOCH + 3_600_000),
        fuel_pct: Some(100.0),
        driver_minutes_left: Some(540),
        updated_ms: EPOCH,
        last_event_id: 1_000,
        ..TruckState::new(&truck_name(i))
    }
}

/// A status event about `truck` with id `id`.
pub fn event(id: EventId, truck: &str) -> Envelope {
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
