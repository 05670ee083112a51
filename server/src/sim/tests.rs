//! The simulator's own tests: the corridors, determinism, report times, and what the server's
//! derivation (`convoy_core::trip::Trip`) makes of a simulated hour.

use super::corridors::CORRIDORS;
use super::truck::Phase;
use super::*;
use convoy_core::geo::{self, LatLon};
use convoy_core::trip::{
    Path, PositionReport, Trip, TripAlertKind, TripChange, TripPlan, TripStatus,
};
use std::collections::{BTreeSet, HashMap};

const START: u64 = 1_700_000_000_000;

fn sim(seed: u64, trucks: usize, rate: f64) -> Simulator {
    Simulator::new(&SimConfig { trucks, rate, seed }, START)
}

#[test]
fn ids_are_zero_padded() {
    assert_eq!(truck_id(0, 40), "T-01");
    assert_eq!(truck_id(39, 40), "T-40");
    assert_eq!(truck_id(6, 120), "T-007");
    assert_eq!(truck_id(119, 120), "T-120");
    assert_eq!(
        sim(1, 3, 1.0).truck_ids(),
        vec!["T-01".to_owned(), "T-02".to_owned(), "T-03".to_owned()]
    );
}

#[test]
fn rng_is_repeatable_and_in_range() {
    let (mut a, mut b) = (Rng::new(9), Rng::new(9));
    for _ in 0..1000 {
        assert_eq!(a.next_u64(), b.next_u64());
        let u = a.unit();
        assert!((0.0..1.0).contains(&u));
        b.unit();
    }
    assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
}

/// Every leg follows its road: a little longer than the great circle between its stops (roads
/// wind), never absurdly (< 1.6x), with no shape point more than 150 km from the one before;
/// stops of the same name are one place; both directions are the same road.
#[test]
fn corridors_follow_roads_between_real_places() {
    let mut places: HashMap<&str, LatLon> = HashMap::new();
    for corridor in CORRIDORS {
        let n = corridor.stops.len();
        assert!((2..=4).contains(&n), "{}", corridor.road);
        assert!(corridor.stops[0].via.is_empty(), "{}", corridor.road);
        let forward = corridor.driven(false);
        let backward = corridor.driven(true);
        for (k, stop) in forward.iter().enumerate() {
            let same = places.entry(stop.name).or_insert(stop.position);
            assert_eq!(*same, stop.position, "{} is two places", stop.name);
            if k == 0 {
                continue;
            }
            let from = forward[k - 1].position;
            let great_circle = geo::distance_m(from, stop.position);
            let mut length = 0.0;
            let mut at = from;
            for p in stop.via.iter().chain(std::iter::once(&stop.position)) {
                let hop = geo::distance_m(at, *p);
                assert!(
                    hop < 150_000.0,
                    "{} to {}: a {:.0} km hop after {at:?}",
                    forward[k - 1].name,
                    stop.name,
                    hop / 1000.0
                );
                // Every shape point lies between the stops, not beyond either.
                let along = geo::along_track_m(*p, from, stop.position);
                assert!(
                    along > -10_000.0 && along < great_circle + 10_000.0,
                    "{} to {}: {p:?} lies beyond the leg",
                    forward[k - 1].name,
                    stop.name
                );
                length += hop;
                at = *p;
            }
            let ratio = length / great_circle;
            assert!(
                (1.0..1.6).contains(&ratio),
                "{} to {}: {:.0} km for {:.0} km of great circle",
                forward[k - 1].name,
                stop.name,
                length / 1000.0,
                great_circle / 1000.0
            );
        }
        // Backwards: the same stops and shape points in the reverse order.
        let chain = |stops: &[corridors::LegStop]| -> Vec<LatLon> {
            let mut points = Vec::new();
            for stop in stops {
                points.extend_from_slice(&stop.via);
                points.push(stop.position);
            }
            points
        };
        let mut reversed = chain(&backward);
        reversed.reverse();
        assert_eq!(chain(&forward), reversed, "{}", corridor.road);
        assert!(backward[0].via.is_empty());
    }
    assert!(places.len() >= 30, "{}", places.len());
}

#[test]
fn the_first_step_gives_every_plan_then_every_position() {
    let mut sim = sim(7, 40, 2.0);
    let facts = sim.step(START);
    assert_eq!(facts.len(), 80);
    let ids = sim.truck_ids();
    for (i, fact) in facts.iter().enumerate() {
        assert_eq!(fact.truck, ids[i % 40]);
        match (&fact.fact, i < 40) {
            (Fact::Plan(plan), true) => {
                plan.validate().unwrap();
                assert!((2..=4).contains(&plan.stops.len()), "{plan:?}");
                assert!(!plan.driver.is_empty() && plan.route_name.contains('→'));
            }
            (Fact::Position(report), false) => assert_eq!(report.at_ms, START),
            _ => panic!("out of order at {i}: {fact:?}"),
        }
    }
    // Lively at once: some at a stop, most on the road.
    let standing = sim
        .trucks
        .iter()
        .filter(|t| t.phase != Phase::Driving)
        .count();
    assert!((1..=15).contains(&standing), "{standing}");
}

#[test]
fn at_rate_zero_plans_still_come_but_no_positions() {
    let mut sim = sim(3, 10, 0.0);
    let first = sim.step(START);
    assert_eq!(first.len(), 10);
    assert!(first.iter().all(|f| matches!(f.fact, Fact::Plan(_))));
    let mut plans = 0;
    for i in 1..=(6 * 3600 / 10) {
        for fact in sim.step(START + i * 10_000) {
            assert!(matches!(fact.fact, Fact::Plan(_)), "{fact:?}");
            plans += 1;
        }
    }
    assert!(plans > 0, "no trip ended in six hours");
}

#[test]
fn same_seed_same_story_and_truck_stories_independent_of_fleet_size() {
    let run = |seed: u64, trucks: usize| {
        let mut sim = sim(seed, trucks, 2.0);
        let mut facts = Vec::new();
        for i in 0..=2400 {
            facts.extend(sim.step(START + i * 250));
        }
        facts
    };
    let (a, b, other, small) = (run(7, 10), run(7, 10), run(8, 10), run(7, 3));
    assert!(a.len() > 10 * 2 * 600 / 2, "{}", a.len());
    assert_eq!(a, b);
    assert_ne!(a, other);
    let firsts: Vec<_> = a.iter().filter(|f| f.truck == "T-01").collect();
    let small_firsts: Vec<_> = small.iter().filter(|f| f.truck == "T-01").collect();
    assert_eq!(firsts, small_firsts);
}

#[test]
fn reports_follow_the_rate_with_strictly_increasing_times() {
    // Ten trucks at 50 reports a second, stepped unevenly (and once backwards) for 20 s.
    let mut sim = sim(3, 10, 50.0);
    let mut last: HashMap<TruckId, u64> = HashMap::new();
    let mut count = 0;
    let mut rng = Rng::new(5);
    let mut now = START;
    while now < START + 20_000 {
        let at = if rng.chance(0.05) { now - 7 } else { now };
        for fact in sim.step(at) {
            if let Fact::Position(report) = fact.fact {
                let prev = last.insert(fact.truck.clone(), report.at_ms);
                assert!(
                    prev.is_none_or(|p| p < report.at_ms),
                    "{prev:?} then {report:?}"
                );
                count += 1;
            }
        }
        now += rng.range_ms(1, 9);
    }
    assert!((9_500..=10_100).contains(&count), "{count}");
}

#[test]
fn about_a_third_are_reefers_with_a_band_in_the_plan() {
    let mut sim = sim(7, 300, 1.0);
    let facts = sim.step(START);
    let mut reefers = 0;
    for fact in &facts {
        if let Fact::Position(report) = &fact.fact {
            let plan = facts
                .iter()
                .find_map(|f| match &f.fact {
                    Fact::Plan(p) if f.truck == fact.truck => Some(p),
                    _ => None,
                })
                .unwrap();
            assert_eq!(report.reefer_c.is_some(), plan.reefer_band.is_some());
            reefers += usize::from(report.reefer_c.is_some());
        }
    }
    assert!((70..=130).contains(&reefers), "{reefers}");
}

#[test]
fn a_long_pause_does_not_hang_or_go_backwards() {
    let mut sim = sim(5, 4, 2.0);
    sim.step(START);
    sim.step(START + 1000);
    let late = START + 48 * 3600 * 1000;
    assert!(!sim.step(late).is_empty());
    // A time before the last step is no time passing: nothing goes back.
    for fact in sim.step(START) {
        if let Fact::Position(report) = fact.fact {
            assert!(report.at_ms > late, "{report:?}");
        }
    }
    assert!(sim.poll_timeout() > late);
}

/// What a simulated hour did, as the server's derivation saw it.
#[derive(Default)]
struct Hour {
    reports: usize,
    /// Positions more than 300 m from their plan's path while the truck was not on a detour.
    strays: Vec<String>,
    /// Positions more than 5 km from the path (on a detour).
    far_off: usize,
    arrivals: usize,
    /// Stops driven past without entering their radius.
    skips: usize,
    departures: usize,
    plans: usize,
    statuses: BTreeSet<TripStatus>,
    /// Statuses and delay alerts after the first step: a fresh fleet is lively at once.
    first_statuses: BTreeSet<TripStatus>,
    first_delays: usize,
    raised: BTreeSet<TripAlertKind>,
    cleared: BTreeSet<TripAlertKind>,
    /// Progress that went down within a plan.
    regressions: Vec<String>,
    /// Trucks whose progress grew by at least a tenth of their trip.
    progressed: usize,
    /// Distance and time between consecutive highway reports (more than 20 km from every stop).
    highway_m: f64,
    highway_ms: u64,
    /// Headings within 30° of the direction moved between consecutive reports, and all.
    headings_right: usize,
    headings: usize,
    /// Fuel or driver minutes that rose while the truck was moving.
    refilled_moving: Vec<String>,
}

/// Runs `trucks` trucks for an hour on a virtual clock (a step a second, `rate` reports a
/// second), feeding their facts into one `Trip` per truck as the server does.
fn simulate_hour(seed: u64, trucks: usize, rate: f64) -> Hour {
    let mut sim = sim(seed, trucks, rate);
    let mut hour = Hour::default();
    let mut trips: HashMap<TruckId, Trip> = HashMap::new();
    let mut paths: HashMap<TruckId, (TripPlan, Path)> = HashMap::new();
    let mut last: HashMap<TruckId, PositionReport> = HashMap::new();
    let mut first_progress: HashMap<TruckId, f64> = HashMap::new();
    let mut progressed: BTreeSet<TruckId> = BTreeSet::new();
    for second in 0..=3600u64 {
        let now = START + second * 1000;
        for SimFact { truck, fact } in sim.step(now) {
            let trip = trips.entry(truck.clone()).or_default();
            let index = sim.truck_ids().iter().position(|id| *id == truck).unwrap();
            match fact {
                Fact::Plan(plan) => {
                    trip.set_plan(now, plan.clone()).unwrap();
                    let path = Path::new(&plan.stops);
                    paths.insert(truck.clone(), (plan, path));
                    first_progress.remove(&truck);
                    hour.plans += 1;
                }
                Fact::Position(report) => {
                    let before = trip.insights().progress;
                    let (plan, path) = &paths[&truck];
                    let off = path.distance_m(report.position);
                    let detour = sim.trucks[index].detour.is_some();
                    if off > 300.0 && !detour {
                        hour.strays
                            .push(format!("{truck} {off:.0} m off at {}", report.at_ms));
                    }
                    hour.far_off += usize::from(off > 5_000.0);
                    trip.report(&report).unwrap();
                    let after = trip.insights().progress;
                    if after < before {
                        hour.regressions
                            .push(format!("{truck}: {before} -> {after}"));
                    }
                    let start = *first_progress.entry(truck.clone()).or_insert(after);
                    if after - start >= 0.1 {
                        progressed.insert(truck.clone());
                    }
                    let away_from_stops = |p: LatLon| {
                        plan.stops
                            .iter()
                            .all(|s| geo::distance_m(p, s.position) > 20_000.0)
                    };
                    if let Some(prev) = last.get(&truck) {
                        let moved = geo::distance_m(prev.position, report.position);
                        let (v0, v1) = (prev.speed_kph.unwrap(), report.speed_kph.unwrap());
                        if v0 > 0.0
                            && v1 > 0.0
                            && away_from_stops(prev.position)
                            && away_from_stops(report.position)
                        {
                            hour.highway_m += moved;
                            hour.highway_ms += report.at_ms - prev.at_ms;
                        }
                        if moved > 40.0 {
                            let bearing = geo::initial_bearing_deg(prev.position, report.position);
                            let heading = f64::from(report.heading_deg.unwrap());
                            let diff = (bearing - heading).rem_euclid(360.0);
                            hour.headings_right += usize::from(diff.min(360.0 - diff) < 30.0);
                            hour.headings += 1;
                        }
                        if v1 > 0.0
                            && (report.fuel_pct > prev.fuel_pct
                                || report.driver_minutes_left > prev.driver_minutes_left)
                        {
                            hour.refilled_moving
                                .push(format!("{prev:?} then {report:?}"));
                        }
                    }
                    last.insert(truck.clone(), report);
                    hour.reports += 1;
                }
            }
            while let Some(change) = trip.poll_change() {
                match change {
                    TripChange::StopArrived { .. } => hour.arrivals += 1,
                    TripChange::StopDeparted { .. } => hour.departures += 1,
                    TripChange::AlertRaised { kind, .. } => {
                        hour.raised.insert(kind);
                    }
                    TripChange::AlertCleared { kind, .. } => {
                        hour.cleared.insert(kind);
                    }
                    TripChange::StatusChanged { to, .. } => {
                        hour.statuses.insert(to);
                    }
                    TripChange::StopSkipped { .. } => hour.skips += 1,
                }
            }
            hour.statuses.insert(trip.insights().status);
        }
        if second == 0 {
            for trip in trips.values() {
                let insights = trip.insights();
                hour.first_statuses.insert(insights.status);
                hour.first_delays += usize::from(
                    insights
                        .alerts
                        .iter()
                        .any(|a| a.kind == TripAlertKind::Delay),
                );
            }
        }
        for trip in trips.values_mut() {
            trip.tick(now);
            while let Some(change) = trip.poll_change() {
                if let TripChange::AlertRaised { kind, .. } = change {
                    hour.raised.insert(kind);
                }
            }
        }
    }
    hour.progressed = progressed.len();
    hour
}

#[test]
fn a_simulated_hour_reads_right_to_the_servers_derivation() {
    let hour = simulate_hour(11, 40, 0.5);
    assert!(hour.reports > 40 * 1700, "{}", hour.reports);
    assert!(
        hour.strays.is_empty(),
        "{:?}",
        &hour.strays[..hour.strays.len().min(10)]
    );
    assert!(
        hour.far_off > 0,
        "no detour took a truck more than 5 km off its route"
    );
    assert!(hour.regressions.is_empty(), "{:?}", hour.regressions);
    assert!(
        hour.progressed >= 30,
        "{} trucks progressed",
        hour.progressed
    );
    assert!(hour.arrivals >= 10, "{} arrivals", hour.arrivals);
    assert_eq!(hour.skips, 0, "trucks drive to their stops");
    assert!(hour.departures >= 10, "{} departures", hour.departures);
    assert!(hour.plans > 40, "no trip started after the first plans");
    // Idle: a driver's roadside break.
    for status in [
        TripStatus::EnRoute,
        TripStatus::AtStop,
        TripStatus::Delayed,
        TripStatus::Idle,
    ] {
        assert!(
            hour.statuses.contains(&status),
            "never {status:?}: {:?}",
            hour.statuses
        );
    }
    for status in [TripStatus::EnRoute, TripStatus::AtStop, TripStatus::Delayed] {
        assert!(
            hour.first_statuses.contains(&status),
            "not {status:?} at once: {:?}",
            hour.first_statuses
        );
    }
    assert!(
        (2..=15).contains(&hour.first_delays),
        "{} late at once",
        hour.first_delays
    );
    for kind in TripAlertKind::ALL {
        assert!(hour.raised.contains(&kind), "never raised {kind:?}");
        assert!(hour.cleared.contains(&kind), "never cleared {kind:?}");
    }
    let highway_kph = hour.highway_m / 1000.0 / (hour.highway_ms as f64 / 3_600_000.0);
    assert!(
        (70.0..=100.0).contains(&highway_kph),
        "{highway_kph:.1} km/h"
    );
    assert!(
        hour.headings_right * 100 >= hour.headings * 95,
        "{} of {} headings point the way the truck moved",
        hour.headings_right,
        hour.headings
    );
    assert!(
        hour.refilled_moving.is_empty(),
        "{:?}",
        hour.refilled_moving
    );
}
