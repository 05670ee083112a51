//! The fleet simulator: trucks driving depot → stops → depot loops on a 0..1000 schematic plane,
//! with telemetry, status changes and alerts.
//!
//! It is pure in the sans-IO sense: no clock, no I/O, no randomness of its own. Time comes in as
//! Unix ms through [`Simulator::step`], randomness from [`Rng`] seeded by the caller, so the same
//! seed and the same step times give the same events. Every truck draws from its own stream, so
//! truck `T-01`'s story does not change when the fleet grows.
//!
//! This module holds the fleet and its types; `truck` how one truck drives its loop.

use convoy_core::wire::{
    Alert, AlertKind, Depot, FleetEvent, FleetMap, Point, Route, Stop, TempBand, TruckId,
    TruckState, TruckStatus,
};
use std::collections::HashMap;
use std::f64::consts::PI;

#[cfg(test)]
mod tests;
mod truck;

/// A small deterministic PRNG (splitmix64): fast, 64-bit state, good enough for a simulation.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in `[lo, hi)` milliseconds.
    pub fn range_ms(&mut self, lo: u64, hi: u64) -> u64 {
        lo + (self.unit() * hi.saturating_sub(lo) as f64) as u64
    }

    /// Uniform index below `n`; 0 when `n` is 0.
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Roughly standard normal (sum of three uniforms, scaled to unit variance).
    pub fn noise(&mut self) -> f64 {
        (self.unit() + self.unit() + self.unit() - 1.5) * 2.0
    }
}

/// What the simulator needs to know.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Number of trucks, named `T-01`.. (three digits when more than 99).
    pub trucks: usize,
    /// Telemetry events per truck per second.
    pub rate: f64,
    /// Same seed, same story.
    pub seed: u64,
}

/// Map units per second at 1 km/h: 60 km/h covers 1.2 units a second.
const UNITS_PER_S_PER_KPH: f64 = 1.0 / 50.0;
/// Dwell at an intermediate stop that the plan assumes.
const PLANNED_DWELL_MS: u64 = 60_000;
/// Late by more than this while driving: status `delayed`; back to `en_route` under the second.
const DELAYED_AFTER_MS: i64 = 5 * 60_000;
const ON_TIME_BELOW_MS: i64 = 3 * 60_000;
/// Delay alert above the first, cleared under the second.
const DELAY_ALERT_MS: i64 = 10 * 60_000;
const DELAY_CLEAR_MS: i64 = 8 * 60_000;
/// Driver hours alert below this many minutes left.
const DRIVER_ALERT_MIN: f64 = 60.0;
/// A full shift, in minutes.
const SHIFT_MIN: f64 = 540.0;
/// Off route alert beyond the first offset (map units), cleared under the second.
const OFF_ROUTE_ALERT: f64 = 25.0;
const OFF_ROUTE_CLEAR: f64 = 10.0;
/// Fuel used per map unit driven, in percent.
const FUEL_PER_UNIT: f64 = 0.011;
/// Mean time between incidents while driving, in seconds.
const JAM_EVERY_S: f64 = 25.0 * 60.0;
const DETOUR_EVERY_S: f64 = 40.0 * 60.0;
const REEFER_FAULT_EVERY_S: f64 = 45.0 * 60.0;

const DEPOTS: [(&str, f64, f64); 5] = [
    ("North Yard", 230.0, 190.0),
    ("Harbor Depot", 790.0, 230.0),
    ("East Hub", 820.0, 760.0),
    ("South Gate", 240.0, 790.0),
    ("Central Cross", 510.0, 480.0),
];

const PLACES: [&str; 24] = [
    "Alder", "Birch", "Cedar", "Dune", "Elm", "Fern", "Granite", "Heron", "Iris", "Juniper",
    "Kestrel", "Linden", "Maple", "Nettle", "Oak", "Pine", "Quarry", "Reed", "Sorrel", "Thistle",
    "Upton", "Vale", "Willow", "Yarrow",
];

const KINDS: [&str; 10] = [
    "Market", "Mill", "Wharf", "Plaza", "Farm", "Clinic", "Bakery", "Foods", "Works", "Hall",
];

const FIRST_NAMES: [&str; 24] = [
    "Ana", "Ben", "Chloe", "Dario", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira",
    "Luca", "Maya", "Nils", "Olga", "Pavel", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wim", "Yara",
];

const LAST_NAMES: [&str; 16] = [
    "Silva", "Novak", "Berg", "Costa", "Dahl", "Ekman", "Fischer", "Garcia", "Holm", "Ivanova",
    "Jensen", "Kowalski", "Lund", "Moreau", "Nagy", "Okafor",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Loading,
    Driving,
    AtStop,
    Unloading,
    Idle,
}

#[derive(Debug, Clone, Copy)]
struct Jam {
    until_ms: u64,
    /// Fraction of cruise speed while it lasts.
    factor: f64,
}

#[derive(Debug, Clone, Copy)]
struct Detour {
    start_ms: u64,
    end_ms: u64,
    /// Largest distance from the route, map units; the sign picks the side.
    peak: f64,
}

impl Detour {
    fn offset(&self, now_ms: u64) -> f64 {
        if now_ms <= self.start_ms || now_ms >= self.end_ms {
            return 0.0;
        }
        let t = (now_ms - self.start_ms) as f64 / (self.end_ms - self.start_ms) as f64;
        self.peak * (PI * t).sin()
    }
}

#[derive(Debug, Clone, Copy)]
struct Reefer {
    band: TempBand,
    temp_c: f64,
    fault_until_ms: Option<u64>,
}

#[derive(Debug, Clone)]
struct Truck {
    id: TruckId,
    driver: String,
    rng: Rng,
    route: Route,
    /// Distance along the route at each stop; `cum[0] == 0`.
    cum: Vec<f64>,
    cruise_kph: f64,
    /// Smoothed speed noise around 1.
    pace: f64,
    phase: Phase,
    /// When the current waiting phase (loading, at stop, unloading, idle) ends.
    phase_until_ms: u64,
    status: TruckStatus,
    next_stop: usize,
    /// Status and stop of the last status event (or of the initial state).
    reported: (TruckStatus, usize),
    /// Distance driven along the route this trip.
    dist: f64,
    speed_kph: f64,
    jam: Option<Jam>,
    detour: Option<Detour>,
    fuel_pct: f64,
    reefer: Option<Reefer>,
    driver_min_left: f64,
    alerts: Vec<Alert>,
    planned_arrival_ms: u64,
    /// Actual arrival at the final depot of the last trip.
    arrived_ms: u64,
    next_telemetry_ms: u64,
    last_ms: u64,
}

/// The simulated fleet. Call [`Simulator::step`] with non-decreasing times; [`Simulator::poll_timeout`]
/// says when the next telemetry is due.
#[derive(Debug, Clone)]
pub struct Simulator {
    depots: Vec<Depot>,
    trucks: Vec<Truck>,
    index: HashMap<TruckId, usize>,
    /// Telemetry period per truck, ms; `None` when the rate is zero.
    period_ms: Option<u64>,
}

/// `T-07` for index 6 of 40 trucks; three digits when there are more than 99.
pub fn truck_id(index: usize, trucks: usize) -> TruckId {
    let width = if trucks > 99 { 3 } else { 2 };
    format!("T-{:0width$}", index + 1)
}

fn clamp_plane(v: f64) -> f64 {
    v.clamp(20.0, 980.0)
}

fn point(x: f64, y: f64) -> Point {
    Point {
        x: x as f32,
        y: y as f32,
    }
}

fn distance(a: Point, b: Point) -> f64 {
    let (dx, dy) = ((b.x - a.x) as f64, (b.y - a.y) as f64);
    (dx * dx + dy * dy).sqrt()
}

impl Simulator {
    /// A fleet as it stands at `start_ms`: trucks spread over their cycle (some loading, most on
    /// the road), each on its own loop from its home depot.
    pub fn new(config: &SimConfig, start_ms: u64) -> Simulator {
        let mut world = Rng::new(config.seed ^ 0xC0_4F0F_u64);
        let depots: Vec<Depot> = DEPOTS
            .iter()
            .map(|&(name, x, y)| Depot {
                name: name.to_owned(),
                position: point(
                    clamp_plane(x + world.range(-40.0, 40.0)),
                    clamp_plane(y + world.range(-40.0, 40.0)),
                ),
            })
            .collect();
        let period_ms = (config.rate.is_finite() && config.rate > 0.0)
            .then(|| ((1000.0 / config.rate).round() as u64).max(1));
        let trucks: Vec<Truck> = (0..config.trucks)
            .map(|i| {
                let stream = config
                    .seed
                    .wrapping_add((i as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03));
                let id = truck_id(i, config.trucks);
                Truck::new(id, i, &depots, Rng::new(stream), start_ms, period_ms)
            })
            .collect();
        let index = trucks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id.clone(), i))
            .collect();
        Simulator {
            depots,
            trucks,
            index,
            period_ms,
        }
    }

    /// Advances every truck to `now_ms` and returns what happened, truck by truck in id order.
    /// A time before the previous step's is treated as no time passing. A truck reports telemetry
    /// at most once a step (a missed period is skipped, not repeated), so step at least twice per
    /// period (`1000 / rate` ms) to keep the rate.
    pub fn step(&mut self, now_ms: u64) -> Vec<FleetEvent> {
        let mut out = Vec::new();
        for truck in &mut self.trucks {
            truck.step(now_ms, self.period_ms, &mut out);
        }
        out
    }

    /// The earliest time a truck has something to report (telemetry due or a phase ending);
    /// `u64::MAX` with no trucks.
    pub fn poll_timeout(&self) -> u64 {
        self.trucks
            .iter()
            .map(|t| {
                let due = if self.period_ms.is_some() {
                    t.next_telemetry_ms
                } else {
                    u64::MAX
                };
                match t.phase {
                    Phase::Driving => due,
                    _ => due.min(t.phase_until_ms),
                }
            })
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Every truck's current state, in id order; `last_event_id` is 0 and `updated_ms` the last
    /// step's time. The server seeds its fleet with this.
    pub fn states(&self) -> Vec<TruckState> {
        self.trucks.iter().map(Truck::state).collect()
    }

    /// The truck's current route with this trip's planned times.
    pub fn route(&self, truck: &str) -> Option<&Route> {
        self.index.get(truck).map(|&i| &self.trucks[i].route)
    }

    /// Planned arrival at the final depot of the truck's current trip.
    pub fn planned_arrival_ms(&self, truck: &str) -> Option<u64> {
        self.index
            .get(truck)
            .map(|&i| self.trucks[i].planned_arrival_ms)
    }

    /// Depots and every truck's route.
    pub fn map(&self) -> FleetMap {
        FleetMap {
            depots: self.depots.clone(),
            routes: self.trucks.iter().map(|t| t.route.clone()).collect(),
        }
    }

    /// Number of trucks.
    pub fn len(&self) -> usize {
        self.trucks.len()
    }

    /// Whether the fleet has no trucks.
    pub fn is_empty(&self) -> bool {
        self.trucks.is_empty()
    }
}
