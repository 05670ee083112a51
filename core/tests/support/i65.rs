//! Chicago → Indianapolis → Louisville on I-65, as driven: the road the derivation's tests and
//! its bench run trucks along.

#![allow(dead_code)]

use convoy_core::geo::{distance_m, LatLon};
use convoy_core::trip::{PlannedStop, ReeferBand, TripPlan, DEFAULT_RADIUS_M};

const MIN: u64 = 60_000;

pub fn ll(lat: f64, lon: f64) -> LatLon {
    LatLon::new(lat, lon).expect("a valid position")
}

pub fn path(points: &[(f64, f64)]) -> Vec<LatLon> {
    points.iter().map(|&(a, b)| ll(a, b)).collect()
}

/// Chicago to Indianapolis as driven: the Dan Ryan, the Bishop Ford, the Borman east to Gary,
/// then I-65 south (interchanges at Merrillville, Lowell, Roselawn, Rensselaer, Remington,
/// Lafayette, Lebanon, I-465).
pub fn road_to_indianapolis() -> Vec<LatLon> {
    path(&[
        (41.8781, -87.6298),
        (41.7217, -87.6247),
        (41.5870, -87.5600),
        (41.5800, -87.3350),
        (41.4717, -87.3331),
        (41.2990, -87.3180),
        (41.1406, -87.3230),
        (40.9578, -87.1586),
        (40.7636, -87.1469),
        (40.4167, -86.8392),
        (40.0483, -86.5044),
        (39.8911, -86.2706),
        (39.7684, -86.1581),
    ])
}

/// Indianapolis to Louisville on I-65 (Greenwood, Franklin, Columbus, Seymour, Scottsburg,
/// Clarksville).
pub fn road_to_louisville() -> Vec<LatLon> {
    path(&[
        (39.7684, -86.1581),
        (39.6131, -86.0828),
        (39.4806, -86.0536),
        (39.2011, -85.9572),
        (38.9592, -85.8558),
        (38.6856, -85.7869),
        (38.3920, -85.7553),
        (38.2527, -85.7585),
    ])
}

/// A chain's length, metres.
pub fn length(path: &[LatLon]) -> f64 {
    path.windows(2).map(|w| distance_m(w[0], w[1])).sum()
}

/// The plan, starting at `t0`, with 30 minutes at Indianapolis (see [`plan_with_dwell`]).
pub fn plan(t0: u64) -> TripPlan {
    plan_with_dwell(t0, 30 * MIN)
}

/// The plan, starting at `t0`: the road's length at 90 km/h, `dwell_ms` at Indianapolis, a
/// 2..8 °C reefer, legs shaped by fewer points than the road has (as a dispatcher would draw
/// them).
pub fn plan_with_dwell(t0: u64, dwell_ms: u64) -> TripPlan {
    let at_90 = |metres: f64| (metres / 25.0 * 1000.0) as u64;
    let indy_ms = t0 + at_90(length(&road_to_indianapolis()));
    let louisville_ms = indy_ms + dwell_ms + at_90(length(&road_to_louisville()));
    let stop = |name: &str, at: (f64, f64), planned_ms, via: &[(f64, f64)]| PlannedStop {
        name: name.into(),
        position: ll(at.0, at.1),
        planned_ms,
        radius_m: DEFAULT_RADIUS_M,
        via: path(via),
    };
    TripPlan {
        driver: "Dana Reyes".into(),
        route_name: "Chicago - Louisville (I-65)".into(),
        stops: vec![
            stop("Chicago", (41.8781, -87.6298), t0, &[]),
            stop(
                "Indianapolis",
                (39.7684, -86.1581),
                indy_ms,
                &[
                    (41.5870, -87.5600),
                    (41.5800, -87.3350),
                    (41.1406, -87.3230),
                    (40.9578, -87.1586),
                    (40.7636, -87.1469),
                    (40.4167, -86.8392),
                    (40.0483, -86.5044),
                ],
            ),
            stop(
                "Louisville",
                (38.2527, -85.7585),
                louisville_ms,
                &[(39.2011, -85.9572), (38.6856, -85.7869)],
            ),
        ],
        reefer_band: Some(ReeferBand {
            min_c: 2.0,
            max_c: 8.0,
        }),
    }
}
