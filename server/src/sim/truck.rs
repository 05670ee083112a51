//! One simulated truck: its trip along a corridor, its incidents and gauges, stepped in time,
//! and the plan and position reports it produces.

use super::corridors::{LegStop, Region, CORRIDORS};
use super::Rng;
use convoy_core::geo::{self, LatLon};
use convoy_core::trip::{
    Path, PlannedStop, PositionReport, ReeferBand, TripPlan, DEFAULT_RADIUS_M,
};
use convoy_core::wire::TruckId;

/// Movement is integrated in steps of at most this much simulated time.
const SUBSTEP_MS: u64 = 5_000;
/// After a longer pause (a suspended machine), only this much is caught up.
const MAX_CATCH_UP_MS: u64 = 2 * 3_600_000;
/// The average pace plans are made with, stops' city streets included, km/h.
const PLAN_KPH_US: f64 = 86.0;
const PLAN_KPH_EU: f64 = 79.0;
/// Dwell at an intermediate stop that a plan allows for.
const PLANNED_DWELL_MS: u64 = 20 * 60_000;
/// Speed at a stop, and how much faster per km away from the nearest one, until cruising.
const CITY_KPH: f64 = 40.0;
const CITY_KPH_PER_KM: f64 = 15.0;
/// Mean times between incidents.
const JAM_EVERY_MS: f64 = 4.0 * 3_600_000.0;
const DETOUR_EVERY_MS: f64 = 8.0 * 3_600_000.0;
const OUTAGE_EVERY_MS: f64 = 24.0 * 3_600_000.0;
const REEFER_FAULT_EVERY_MS: f64 = 2.5 * 3_600_000.0;
/// A driver with fewer minutes left than this pulls over for a break away from a stop.
const BREAK_BELOW_MIN: f64 = 20.0;
/// Standing this long (a break or a stop) resets the driver's minutes.
const REST_MS: u64 = 30 * 60_000;
/// Fuel burnt per km, percent of the tank.
const BURN_PCT_PER_KM_US: f64 = 0.035;
const BURN_PCT_PER_KM_EU: f64 = 0.045;
/// A truck refuels at a stop below this.
const REFUEL_BELOW_PCT: f64 = 30.0;
/// The most a reported position strays from the truck's true one, metres (GPS noise).
const GPS_NOISE_M: f64 = 6.0;

const US_FIRST: [&str; 16] = [
    "James", "Maria", "Robert", "Linda", "Carlos", "Aisha", "Tyrone", "Jennifer", "Mike", "Dana",
    "Luis", "Kayla", "Darnell", "Megan", "Hector", "Brenda",
];
const US_LAST: [&str; 16] = [
    "Johnson", "Garcia", "Smith", "Williams", "Brown", "Martinez", "Davis", "Miller", "Wilson",
    "Lopez", "Anderson", "Thomas", "Jackson", "Nguyen", "Walker", "Young",
];
const EU_FIRST: [&str; 16] = [
    "Ana", "Ben", "Chloe", "Dario", "Eva", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira",
    "Luca", "Maya", "Nils", "Pavel", "Rosa",
];
const EU_LAST: [&str; 16] = [
    "Silva", "Novak", "Berg", "Costa", "Dahl", "Ekman", "Fischer", "Garcia", "Holm", "Janssens",
    "Jensen", "Kowalski", "Moreau", "Rossi", "Nagy", "Okafor",
];

/// Chilled and frozen loads.
const BANDS: [ReeferBand; 2] = [
    ReeferBand {
        min_c: 2.0,
        max_c: 8.0,
    },
    ReeferBand {
        min_c: -25.0,
        max_c: -18.0,
    },
];

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Phase {
    Driving,
    /// Standing at stop `next_stop` (loading, delivering or unloading) until then.
    AtStop {
        until_ms: u64,
    },
    /// A driver's break at a rest area, away from any stop.
    Break {
        until_ms: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Jam {
    until_ms: u64,
    /// Fraction of the usual speed while it lasts.
    factor: f64,
}

/// A stretch driven on other roads, away from the planned one and back.
#[derive(Debug, Clone, Copy)]
pub(super) struct Detour {
    start_m: f64,
    length_m: f64,
    /// The largest distance from the path, metres; the sign picks the side.
    peak_m: f64,
}

impl Detour {
    fn offset_m(&self, along_m: f64) -> f64 {
        let t = (along_m - self.start_m) / self.length_m;
        if (0.0..=1.0).contains(&t) {
            self.peak_m * (std::f64::consts::PI * t).sin()
        } else {
            0.0
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Reefer {
    band: ReeferBand,
    temp_c: f64,
    /// A failing unit warms at `fault_c_per_min` until then.
    fault_until_ms: Option<u64>,
    fault_c_per_min: f64,
}

#[derive(Debug, Clone)]
pub(super) struct Truck {
    id: TruckId,
    /// The story's randomness (movement, incidents).
    rng: Rng,
    /// GPS noise only, so that the story does not depend on the report rate.
    gps: Rng,
    region: Region,
    driver: String,
    plan: TripPlan,
    pub(super) path: Path,
    plan_pending: bool,
    /// Where the truck is along the path, metres.
    along_m: f64,
    /// The stop the truck is heading to or standing at.
    next_stop: usize,
    pub(super) phase: Phase,
    cruise_kph: f64,
    /// Smoothed speed noise around 1.
    pace: f64,
    speed_kph: f64,
    jam: Option<Jam>,
    pub(super) detour: Option<Detour>,
    /// No reports until then.
    outage_until_ms: Option<u64>,
    fuel_pct: f64,
    reefer: Option<Reefer>,
    driver_min_left: f64,
    /// A driver's minutes after a rest.
    shift_min: f64,
    /// Standing time since the truck last drove.
    standing_ms: u64,
    odometer_km: f64,
    heading_deg: f64,
    /// The true position (on the path, or off it on a detour).
    position: LatLon,
    next_report_ms: u64,
    last_ms: u64,
}

/// The length of the leg reaching `stop` from `prev`, through its shape points.
fn leg_m(prev: LatLon, stop: &LegStop) -> f64 {
    let mut total = 0.0;
    let mut at = prev;
    for p in stop.via.iter().chain(std::iter::once(&stop.position)) {
        total += geo::distance_m(at, *p);
        at = *p;
    }
    total
}

impl Truck {
    pub(super) fn new(
        id: TruckId,
        index: usize,
        mut rng: Rng,
        start_ms: u64,
        period_ms: Option<u64>,
    ) -> Truck {
        let gps = Rng::new(rng.next_u64());
        let corridor = &CORRIDORS[index % CORRIDORS.len()];
        let region = corridor.region;
        let reverse = rng.chance(0.5);
        let (first, last) = match region {
            Region::Us => (&US_FIRST, &US_LAST),
            Region::Eu => (&EU_FIRST, &EU_LAST),
        };
        let driver = format!(
            "{} {}",
            first[rng.below(first.len())],
            last[rng.below(last.len())]
        );
        let (cruise_kph, shift_min) = match region {
            Region::Us => (rng.range(86.0, 100.0), 480.0),
            Region::Eu => (rng.range(80.0, 89.0), 270.0),
        };
        let driven = corridor.driven(reverse);
        // A third of the fleet, spread over the corridors.
        let reefer = (index + index / CORRIDORS.len())
            .is_multiple_of(3)
            .then(|| {
                let band = BANDS[rng.below(BANDS.len())];
                let center = f64::from(band.min_c + band.max_c) / 2.0;
                Reefer {
                    band,
                    temp_c: center + rng.noise() * 0.4,
                    fault_until_ms: None,
                    fault_c_per_min: 0.0,
                }
            });
        let mut truck = Truck {
            id,
            rng,
            gps,
            region,
            driver,
            plan: TripPlan {
                driver: String::new(),
                route_name: String::new(),
                stops: Vec::new(),
                reefer_band: None,
            },
            path: Path::new(&[]),
            plan_pending: true,
            along_m: 0.0,
            next_stop: 0,
            phase: Phase::Driving,
            cruise_kph,
            pace: 1.0,
            speed_kph: 0.0,
            jam: None,
            detour: None,
            outage_until_ms: None,
            fuel_pct: 0.0,
            reefer,
            driver_min_left: 0.0,
            shift_min,
            standing_ms: 0,
            odometer_km: 0.0,
            heading_deg: 0.0,
            position: driven[0].position,
            next_report_ms: start_ms.saturating_add(period_ms.unwrap_or(0)),
            last_ms: start_ms,
        };
        truck.fuel_pct = truck.rng.range(25.0, 100.0);
        truck.odometer_km = (truck.rng.range(40_000.0, 900_000.0) * 10.0).round() / 10.0;
        truck.driver_min_left = if truck.rng.chance(0.1) {
            truck.rng.range(32.0, 50.0)
        } else {
            truck.rng.range(60.0, shift_min)
        };
        truck.place(corridor.road, &driven, start_ms);
        truck
    }

    fn plan_mps(&self) -> f64 {
        let kph = match self.region {
            Region::Us => PLAN_KPH_US,
            Region::Eu => PLAN_KPH_EU,
        };
        kph / 3.6
    }

    /// Makes `stops` this truck's plan, leaving the first at `depart_ms`, and puts the truck
    /// at its start.
    fn set_plan(&mut self, road: &str, stops: &[LegStop], depart_ms: u64) {
        let mut planned = Vec::with_capacity(stops.len());
        let mut t = depart_ms as f64;
        for (k, stop) in stops.iter().enumerate() {
            if k > 0 {
                t += leg_m(stops[k - 1].position, stop) / self.plan_mps() * 1000.0;
                if k > 1 {
                    t += PLANNED_DWELL_MS as f64;
                }
            }
            planned.push(PlannedStop {
                name: stop.name.to_owned(),
                position: stop.position,
                planned_ms: t.round() as u64,
                radius_m: DEFAULT_RADIUS_M,
                via: if k == 0 { Vec::new() } else { stop.via.clone() },
            });
        }
        let route_name = format!("{road} {} → {}", stops[0].name, stops[stops.len() - 1].name);
        self.plan = TripPlan {
            driver: self.driver.clone(),
            route_name,
            stops: planned,
            reefer_band: self.reefer.map(|r| r.band),
        };
        self.path = Path::new(&self.plan.stops);
        self.plan_pending = true;
        self.along_m = 0.0;
        self.next_stop = 0;
    }

    /// Puts the truck somewhere along a trip at `start_ms`: loading at the first stop,
    /// unloading at the last, or (mostly) on the road, some behind plan.
    fn place(&mut self, road: &str, driven: &[LegStop], start_ms: u64) {
        let pick = self.rng.unit();
        if pick < 0.12 {
            let depart = start_ms + self.rng.range_ms(2 * 60_000, 25 * 60_000);
            self.set_plan(road, driven, depart);
            self.phase = Phase::AtStop { until_ms: depart };
            self.standing_ms = self.rng.range_ms(0, 20 * 60_000);
        } else if pick < 0.17 {
            let n = driven.len();
            let leg_ms = leg_m(driven[n - 2].position, &driven[n - 1]) / self.plan_mps() * 1000.0;
            let arrived = start_ms.saturating_sub(self.rng.range_ms(60_000, 15 * 60_000));
            let planned = arrived as f64 + self.rng.range(-10.0, 10.0) * 60_000.0;
            self.set_plan(road, &driven[n - 2..], (planned - leg_ms).max(0.0) as u64);
            self.next_stop = 1;
            self.along_m = self.path.total_m();
            self.phase = Phase::AtStop {
                until_ms: start_ms + self.rng.range_ms(2 * 60_000, 15 * 60_000),
            };
            self.standing_ms = start_ms - arrived;
        } else {
            // On the road, on the first leg of the rest of the corridor.
            let legs: Vec<f64> = (1..driven.len())
                .map(|k| leg_m(driven[k - 1].position, &driven[k]))
                .collect();
            let mut pick_m = self.rng.unit() * legs.iter().sum::<f64>();
            let mut k = 0;
            while k + 1 < legs.len() && pick_m >= legs[k] {
                pick_m -= legs[k];
                k += 1;
            }
            let along = legs[k] * self.rng.range(0.05, 0.95);
            let late_ms = if self.rng.chance(0.2) {
                self.rng.range(25.0, 60.0) * 60_000.0
            } else {
                self.rng.range(-10.0, 8.0) * 60_000.0
            };
            let depart = start_ms as f64 - along / self.plan_mps() * 1000.0 - late_ms;
            self.set_plan(road, &driven[k..], depart.max(0.0) as u64);
            self.along_m = along;
            self.next_stop = 1;
            self.phase = Phase::Driving;
            self.speed_kph = self.target_kph(start_ms);
            if self.rng.chance(0.06) {
                self.jam = Some(Jam {
                    until_ms: start_ms + self.rng.range_ms(2 * 60_000, 12 * 60_000),
                    factor: self.rng.range(0.15, 0.45),
                });
            }
            if self.rng.chance(0.05) {
                let length = self.rng.range(25_000.0, 40_000.0);
                let start = along - length * self.rng.range(0.2, 0.6);
                self.try_detour(start, length);
            }
        }
        if let Some(reefer) = &mut self.reefer {
            if self.rng.chance(0.12) {
                reefer.temp_c = f64::from(reefer.band.max_c) + self.rng.range(-1.0, 2.0);
                reefer.fault_until_ms = Some(start_ms + self.rng.range_ms(3 * 60_000, 12 * 60_000));
                reefer.fault_c_per_min = self.rng.range(0.2, 0.5);
            }
        }
        let (p, bearing) = self.path.at(self.along_m);
        self.heading_deg = bearing;
        self.position = self.detoured(p, bearing);
    }

    /// Starts a detour from `start_m` over `length_m` along the path, unless it would come
    /// within 10 km of a stop.
    fn try_detour(&mut self, start_m: f64, length_m: f64) -> bool {
        let from = self.path.stop_m(self.next_stop - 1);
        let to = self.path.stop_m(self.next_stop);
        if start_m < from + 10_000.0 || start_m + length_m > to - 10_000.0 {
            return false;
        }
        let side = if self.rng.chance(0.5) { 1.0 } else { -1.0 };
        self.detour = Some(Detour {
            start_m,
            length_m,
            peak_m: side * self.rng.range(7_000.0, 11_000.0),
        });
        true
    }

    fn detoured(&self, p: LatLon, bearing: f64) -> LatLon {
        match self.detour.map(|d| d.offset_m(self.along_m)) {
            Some(off) if off != 0.0 => {
                geo::destination(p, bearing + 90.0f64.copysign(off), off.abs())
            }
            _ => p,
        }
    }

    pub(super) fn id(&self) -> &TruckId {
        &self.id
    }

    pub(super) fn last_ms(&self) -> u64 {
        self.last_ms
    }

    pub(super) fn plan_pending(&self) -> bool {
        self.plan_pending
    }

    /// The current plan, as a fact to send; no longer pending.
    pub(super) fn take_plan(&mut self) -> TripPlan {
        self.plan_pending = false;
        self.plan.clone()
    }

    /// When this truck next has something to produce.
    pub(super) fn next_due_ms(&self, period_ms: Option<u64>) -> u64 {
        let report = if period_ms.is_some() {
            self.next_report_ms
        } else {
            u64::MAX
        };
        let trip_ends = match self.phase {
            Phase::AtStop { until_ms } if self.next_stop + 1 == self.plan.stops.len() => until_ms,
            _ => u64::MAX,
        };
        report.min(trip_ends)
    }

    /// Moves the truck on to `now_ms` (no earlier than its last step) and answers the time
    /// it is now at.
    pub(super) fn advance(&mut self, now_ms: u64) -> u64 {
        let now = now_ms.max(self.last_ms);
        let mut t = self.last_ms.max(now.saturating_sub(MAX_CATCH_UP_MS));
        while t < now {
            let h = (now - t).min(SUBSTEP_MS);
            self.tick(t + h, h);
            t += h;
        }
        self.last_ms = now;
        now
    }

    /// One substep of `h_ms` ending at `end_ms`.
    fn tick(&mut self, end_ms: u64, h_ms: u64) {
        let dt_s = h_ms as f64 / 1000.0;
        self.roll_incidents(end_ms, h_ms as f64);
        match self.phase {
            Phase::Driving => self.drive(end_ms, dt_s),
            Phase::AtStop { until_ms } if end_ms >= until_ms => self.leave_stop(end_ms),
            Phase::Break { until_ms } if end_ms >= until_ms => {
                self.phase = Phase::Driving;
                self.standing_ms = 0;
            }
            _ => {}
        }
        if self.phase != Phase::Driving {
            self.speed_kph = 0.0;
            self.standing_ms += h_ms;
            if self.standing_ms >= REST_MS {
                self.driver_min_left = self.shift_min;
            }
        }
        self.update_reefer(end_ms, dt_s);
    }

    /// Jams, detours, signal outages and reefer faults start at random, at rates per ms of
    /// simulated time.
    fn roll_incidents(&mut self, now_ms: u64, h_ms: f64) {
        if self.jam.is_some_and(|j| now_ms >= j.until_ms) {
            self.jam = None;
        }
        if self.outage_until_ms.is_some_and(|t| now_ms >= t) {
            self.outage_until_ms = None;
        }
        if self.outage_until_ms.is_none() && self.rng.chance(h_ms / OUTAGE_EVERY_MS) {
            self.outage_until_ms = Some(now_ms + self.rng.range_ms(12 * 60_000, 25 * 60_000));
        }
        if self.phase == Phase::Driving {
            if self.jam.is_none() && self.rng.chance(h_ms / JAM_EVERY_MS) {
                self.jam = Some(Jam {
                    until_ms: now_ms + self.rng.range_ms(4 * 60_000, 15 * 60_000),
                    factor: self.rng.range(0.15, 0.45),
                });
            }
            if self.detour.is_none() && self.rng.chance(h_ms / DETOUR_EVERY_MS) {
                let length = self.rng.range(25_000.0, 40_000.0);
                self.try_detour(self.along_m, length);
            }
        }
        if let Some(reefer) = &mut self.reefer {
            if reefer.fault_until_ms.is_some_and(|t| now_ms >= t) {
                reefer.fault_until_ms = None;
            }
            if reefer.fault_until_ms.is_none() && self.rng.chance(h_ms / REEFER_FAULT_EVERY_MS) {
                reefer.fault_until_ms = Some(now_ms + self.rng.range_ms(10 * 60_000, 25 * 60_000));
                reefer.fault_c_per_min = self.rng.range(0.3, 0.6);
            }
        }
    }

    /// The speed the truck drives at now: cruising on the highway, slower near a stop, in a
    /// jam or on a detour.
    fn target_kph(&mut self, now_ms: u64) -> f64 {
        let from_m = self.along_m - self.path.stop_m(self.next_stop - 1);
        let to_m = self.path.stop_m(self.next_stop) - self.along_m;
        let near_km = from_m.min(to_m).max(0.0) / 1000.0;
        self.pace = 0.9 * self.pace + 0.1 * (1.0 + 0.04 * self.rng.noise());
        let mut kph = (CITY_KPH + CITY_KPH_PER_KM * near_km).min(self.cruise_kph * self.pace);
        if let Some(jam) = self.jam.filter(|j| now_ms < j.until_ms) {
            kph *= jam.factor;
        }
        if self.detour.is_some() {
            kph = kph.min(70.0);
        }
        kph.max(8.0)
    }

    fn drive(&mut self, end_ms: u64, dt_s: f64) {
        let kph = self.target_kph(end_ms);
        self.speed_kph = kph;
        let stop_m = self.path.stop_m(self.next_stop);
        let mut ds = kph / 3.6 * dt_s;
        let arrived = self.along_m + ds >= stop_m;
        if arrived {
            ds = (stop_m - self.along_m).max(0.0);
            self.along_m = stop_m;
        } else {
            self.along_m += ds;
        }
        let km = ds / 1000.0;
        let detour_factor = if self.detour.is_some() { 1.15 } else { 1.0 };
        self.odometer_km += km * detour_factor;
        self.fuel_pct = (self.fuel_pct
            - km * detour_factor
                * match self.region {
                    Region::Us => BURN_PCT_PER_KM_US,
                    Region::Eu => BURN_PCT_PER_KM_EU,
                })
        .max(3.0);
        self.driver_min_left = (self.driver_min_left - dt_s / 60.0).max(0.0);
        if self
            .detour
            .is_some_and(|d| self.along_m >= d.start_m + d.length_m)
        {
            self.detour = None;
        }
        let (p, bearing) = self.path.at(self.along_m);
        let moved = self.detoured(p, bearing);
        if geo::distance_m(self.position, moved) > 1.0 {
            self.heading_deg = geo::initial_bearing_deg(self.position, moved);
        }
        self.position = moved;
        if arrived {
            self.arrive(end_ms);
        } else if self.driver_min_left < BREAK_BELOW_MIN
            && self.detour.is_none()
            && stop_m - self.along_m > 20_000.0
        {
            self.phase = Phase::Break {
                until_ms: end_ms + self.rng.range_ms(30 * 60_000, 45 * 60_000),
            };
            self.jam = None;
        }
    }

    fn arrive(&mut self, at_ms: u64) {
        self.jam = None;
        self.detour = None;
        let last = self.next_stop + 1 == self.plan.stops.len();
        let mut dwell = if last {
            self.rng.range_ms(10 * 60_000, 25 * 60_000)
        } else {
            self.rng.range_ms(8 * 60_000, 25 * 60_000)
        };
        if self.driver_min_left < 90.0 {
            dwell = dwell.max(REST_MS + 5 * 60_000);
        }
        if self.fuel_pct < REFUEL_BELOW_PCT {
            self.fuel_pct = self.rng.range(95.0, 100.0);
        }
        self.phase = Phase::AtStop {
            until_ms: at_ms + dwell,
        };
    }

    /// The dwell at the stop is over: on to the next stop, or, at the last, a new trip from
    /// here (after loading).
    fn leave_stop(&mut self, at_ms: u64) {
        if self.next_stop + 1 < self.plan.stops.len() {
            self.next_stop += 1;
            self.phase = Phase::Driving;
            self.standing_ms = 0;
            return;
        }
        let here = self.plan.stops[self.next_stop].name.as_str();
        let starts: Vec<(usize, bool)> = CORRIDORS
            .iter()
            .enumerate()
            .flat_map(|(c, corridor)| {
                [false, true]
                    .into_iter()
                    .filter(move |&reverse| corridor.first(reverse) == here)
                    .map(move |reverse| (c, reverse))
            })
            .collect();
        let Some(&(c, reverse)) = starts.get(self.rng.below(starts.len())) else {
            // Every corridor's ends start another (tested); stay put otherwise.
            self.phase = Phase::AtStop {
                until_ms: at_ms + REST_MS,
            };
            return;
        };
        let corridor = &CORRIDORS[c];
        let depart = at_ms + self.rng.range_ms(10 * 60_000, 20 * 60_000);
        self.set_plan(corridor.road, &corridor.driven(reverse), depart);
        self.phase = Phase::AtStop { until_ms: depart };
    }

    fn update_reefer(&mut self, now_ms: u64, dt_s: f64) {
        let door_open = matches!(self.phase, Phase::AtStop { .. });
        let noise = self.rng.noise();
        if let Some(reefer) = &mut self.reefer {
            let center = f64::from(reefer.band.min_c + reefer.band.max_c) / 2.0;
            if reefer.fault_until_ms.is_some_and(|t| now_ms < t) {
                // Warming towards the air outside, which it does not pass.
                let ceiling = center + 15.0;
                if reefer.temp_c < ceiling {
                    reefer.temp_c += reefer.fault_c_per_min * dt_s / 60.0;
                }
            } else {
                reefer.temp_c += (center - reefer.temp_c) * (1.0 - (-dt_s / 360.0).exp());
            }
            if door_open {
                reefer.temp_c += 0.04 * dt_s / 60.0;
            }
            reefer.temp_c = (reefer.temp_c + noise * 0.02 * dt_s.sqrt()).clamp(-40.0, 40.0);
        }
    }

    /// The first report, at the first step: always, unless the rate is zero.
    pub(super) fn first_report(
        &mut self,
        now_ms: u64,
        period_ms: Option<u64>,
    ) -> Option<PositionReport> {
        let period = period_ms?;
        // Spread the fleet's reports over the period.
        self.next_report_ms = now_ms + ((self.gps.unit() * period as f64) as u64).max(1);
        Some(self.position_report(now_ms))
    }

    /// A report when one is due at `now_ms` and the truck has a signal.
    pub(super) fn report(&mut self, now_ms: u64, period_ms: Option<u64>) -> Option<PositionReport> {
        let period = period_ms?;
        if now_ms < self.next_report_ms {
            return None;
        }
        self.next_report_ms += period;
        if self.next_report_ms <= now_ms {
            self.next_report_ms = now_ms + period;
        }
        if self.outage_until_ms.is_some_and(|t| now_ms < t) {
            return None;
        }
        Some(self.position_report(now_ms))
    }

    fn position_report(&mut self, now_ms: u64) -> PositionReport {
        let position = geo::destination(
            self.position,
            self.gps.range(0.0, 360.0),
            self.gps.range(0.0, GPS_NOISE_M),
        );
        let speed = if self.phase == Phase::Driving {
            (self.speed_kph + self.gps.noise() * 0.5).max(0.0)
        } else {
            0.0
        };
        let tenth = |v: f64| ((v * 10.0).round() / 10.0) as f32;
        PositionReport {
            at_ms: now_ms,
            position,
            speed_kph: Some(tenth(speed)),
            heading_deg: Some(tenth(self.heading_deg) % 360.0),
            fuel_pct: Some(tenth(self.fuel_pct)),
            reefer_c: self.reefer.map(|r| tenth(r.temp_c)),
            driver_minutes_left: Some(self.driver_min_left.ceil() as u32),
            odometer_km: Some((self.odometer_km * 10.0).round() / 10.0),
        }
    }
}
