//! What the maps draw for a truck: its marker and its route's stops, from its state.

use crate::web::components::truck_panel::STALE_AFTER_MS;
use convoy_browser::leaflet::{MapMarker, MapStop, StopState};
use convoy_core::wire::{Point, Route, TruckState};

/// A truck's marker; stale when it has had no update for `STALE_AFTER_MS` at `now_ms`.
pub fn truck_marker(truck: &TruckState, now_ms: u64) -> MapMarker {
    let (lat, lon) = lat_lon(truck.position);
    MapMarker {
        id: truck.id.clone(),
        lat,
        lon,
        status_key: truck.status.key(),
        heading_deg: None,
        label: truck.id.clone(),
        stale: now_ms.saturating_sub(truck.updated_ms) > STALE_AFTER_MS,
    }
}

/// The route's line and its stops: arrived before the truck's next stop, then next, then ahead.
pub fn route_stops(truck: &TruckState, route: &Route) -> (Vec<(f64, f64)>, Vec<MapStop>) {
    let line = route.stops.iter().map(|s| lat_lon(s.position)).collect();
    let stops = route
        .stops
        .iter()
        .enumerate()
        .map(|(i, stop)| {
            let (lat, lon) = lat_lon(stop.position);
            MapStop {
                name: stop.name.clone(),
                lat,
                lon,
                state: match i.cmp(&truck.next_stop) {
                    std::cmp::Ordering::Less => StopState::Arrived,
                    std::cmp::Ordering::Equal => StopState::Next,
                    std::cmp::Ordering::Greater => StopState::Ahead,
                },
            }
        })
        .collect();
    (line, stops)
}

// Replaced when positions are geographic
/// The schematic plane (0..1000, y down) stretched linearly over the contiguous United States.
pub fn lat_lon(point: Point) -> (f64, f64) {
    let (x, y) = (f64::from(point.x) / 1000.0, f64::from(point.y) / 1000.0);
    (48.0 - y * 18.0, -122.0 + x * 50.0)
}
