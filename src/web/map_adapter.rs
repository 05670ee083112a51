//! What the maps draw for a truck: its marker, its route's line and its stops, from its state
//! and, when fetched, its plan.

use crate::web::components::truck_panel::STALE_AFTER_MS;
use convoy_browser::leaflet::{MapMarker, MapStop, StopState};
use convoy_core::geo::LatLon;
use convoy_core::trip::TripPlan;
use convoy_core::wire::TruckState;

/// A truck's marker, or `None` before its first position; stale when it has had no update for
/// `STALE_AFTER_MS` at `now_ms`.
pub fn truck_marker(truck: &TruckState, now_ms: u64) -> Option<MapMarker> {
    let position = truck.position?;
    Some(MapMarker {
        id: truck.id.clone(),
        lat: position.lat(),
        lon: position.lon(),
        status_key: truck.status.key(),
        heading_deg: truck.heading_deg,
        label: truck.id.clone(),
        stale: now_ms.saturating_sub(truck.updated_ms) > STALE_AFTER_MS,
    })
}

/// The route's line and its stops. The line follows the plan's shape points when the plan is
/// known, else runs straight between the stops. A stop is arrived at once the truck reached it
/// (or passed it), next when it is the one the truck heads to, else ahead.
pub fn route_stops(truck: &TruckState, plan: Option<&TripPlan>) -> (Vec<(f64, f64)>, Vec<MapStop>) {
    let pair = |p: LatLon| (p.lat(), p.lon());
    let line = match plan {
        Some(plan) => plan
            .stops
            .iter()
            .enumerate()
            .flat_map(|(i, stop)| {
                let via = if i == 0 { &[][..] } else { &stop.via[..] };
                via.iter().copied().chain([stop.position]).map(pair)
            })
            .collect(),
        None => truck.stops.iter().map(|s| pair(s.position)).collect(),
    };
    let stops = truck
        .stops
        .iter()
        .enumerate()
        .map(|(i, stop)| MapStop {
            name: stop.name.clone(),
            lat: stop.position.lat(),
            lon: stop.position.lon(),
            state: match i.cmp(&truck.next_stop) {
                _ if stop.arrived_ms.is_some() && i != truck.next_stop => StopState::Arrived,
                std::cmp::Ordering::Less => StopState::Arrived,
                std::cmp::Ordering::Equal => StopState::Next,
                std::cmp::Ordering::Greater => StopState::Ahead,
            },
        })
        .collect();
    (line, stops)
}
