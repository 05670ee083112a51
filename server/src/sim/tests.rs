//! The simulator's own tests: determinism, rates, phases and alerts.

use super::*;

const START: u64 = 1_700_000_000_000;

fn sim(seed: u64, trucks: usize) -> Simulator {
    Simulator::new(
        &SimConfig {
            trucks,
            rate: 2.0,
            seed,
        },
        START,
    )
}

#[test]
fn ids_are_zero_padded() {
    assert_eq!(truck_id(0, 40), "T-01");
    assert_eq!(truck_id(39, 40), "T-40");
    assert_eq!(truck_id(6, 120), "T-007");
    assert_eq!(truck_id(119, 120), "T-120");
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

#[test]
fn routes_loop_from_a_depot_through_two_to_four_stops() {
    let sim = sim(7, 40);
    let map = sim.map();
    assert_eq!(map.routes.len(), 40);
    for route in &map.routes {
        let n = route.stops.len();
        assert!((4..=6).contains(&n), "{route:?}");
        assert_eq!(route.stops[0].name, route.stops[n - 1].name);
        assert_eq!(route.stops[0].position, route.stops[n - 1].position);
        assert!(map.depots.iter().any(|d| d.name == route.stops[0].name));
        for pair in route.stops.windows(2) {
            assert!(pair[0].planned_ms <= pair[1].planned_ms, "{route:?}");
        }
        for stop in &route.stops {
            assert!((0.0..=1000.0).contains(&stop.position.x));
            assert!((0.0..=1000.0).contains(&stop.position.y));
        }
    }
}

#[test]
fn same_seed_same_story_and_truck_stories_independent_of_fleet_size() {
    let (mut a, mut b, mut other) = (sim(7, 10), sim(7, 10), sim(8, 10));
    let mut small = sim(7, 3);
    let (mut ea, mut eb, mut eo, mut es) = (vec![], vec![], vec![], vec![]);
    for i in 1..=600 {
        let now = START + i * 250;
        ea.extend(a.step(now));
        eb.extend(b.step(now));
        eo.extend(other.step(now));
        es.extend(small.step(now));
    }
    assert!(!ea.is_empty());
    assert_eq!(ea, eb);
    assert_ne!(ea, eo);
    let firsts: Vec<_> = ea.iter().filter(|e| e.truck() == "T-01").collect();
    let small_firsts: Vec<_> = es.iter().filter(|e| e.truck() == "T-01").collect();
    assert_eq!(firsts, small_firsts);
}

#[test]
fn telemetry_follows_the_rate() {
    let mut sim = sim(3, 5);
    let mut count = 0;
    for i in 1..=200 {
        count += sim
            .step(START + i * 50)
            .iter()
            .filter(|e| e.name() == "telemetry")
            .count();
    }
    // 10 s at 2 events per truck per second, 5 trucks.
    assert!((95..=105).contains(&count), "{count}");
}

#[test]
fn two_hours_of_driving_cycle_statuses_and_raise_and_clear_alerts() {
    let mut sim = sim(11, 40);
    let mut statuses = std::collections::BTreeSet::new();
    let mut raised = std::collections::BTreeSet::new();
    let mut cleared = std::collections::BTreeSet::new();
    let mut active: HashMap<(String, AlertKind), bool> = HashMap::new();
    let mut last_at: HashMap<String, u64> = HashMap::new();
    for i in 1..=(2 * 3600) {
        let now = START + i * 1000;
        for event in sim.step(now) {
            let prev = last_at.insert(event.truck().to_owned(), event.at_ms());
            assert!(prev.unwrap_or(0) <= event.at_ms(), "{event:?}");
            match &event {
                FleetEvent::Telemetry {
                    position,
                    progress,
                    fuel_pct,
                    speed_kph,
                    ..
                } => {
                    assert!((0.0..=1.0).contains(progress), "{event:?}");
                    assert!((0.0..=1000.0).contains(&position.x), "{event:?}");
                    assert!((0.0..=1000.0).contains(&position.y), "{event:?}");
                    assert!((0.0..=100.0).contains(fuel_pct), "{event:?}");
                    assert!(speed_kph.is_finite() && *speed_kph >= 0.0, "{event:?}");
                }
                FleetEvent::Status { status, .. } => {
                    statuses.insert(*status);
                }
                FleetEvent::Alert { truck, alert, .. } => {
                    let was = active.insert((truck.clone(), alert.kind), true);
                    assert_ne!(was, Some(true), "raised twice: {event:?}");
                    raised.insert(alert.kind);
                }
                FleetEvent::AlertCleared { truck, kind, .. } => {
                    let was = active.insert((truck.clone(), *kind), false);
                    assert_eq!(was, Some(true), "cleared but not raised: {event:?}");
                    cleared.insert(*kind);
                }
                FleetEvent::AlertAcked { .. } => panic!("the simulator never acknowledges"),
            }
        }
    }
    for status in TruckStatus::ALL {
        assert!(statuses.contains(&status), "never {status:?}: {statuses:?}");
    }
    for kind in [
        AlertKind::Delay,
        AlertKind::Temperature,
        AlertKind::OffRoute,
        AlertKind::DriverHours,
    ] {
        assert!(raised.contains(&kind), "never raised {kind:?}");
        assert!(cleared.contains(&kind), "never cleared {kind:?}");
    }
}

#[test]
fn about_a_third_are_reefers() {
    let sim = sim(7, 300);
    let reefers = sim
        .states()
        .iter()
        .filter(|t| t.reefer_band.is_some())
        .count();
    assert!((70..=130).contains(&reefers), "{reefers}");
}

#[test]
fn a_long_pause_does_not_hang_or_go_backwards() {
    let mut sim = sim(5, 4);
    sim.step(START + 1000);
    let late = START + 48 * 3600 * 1000;
    assert!(!sim.step(late).is_empty());
    // A time before the last step is no time passing: nothing is due, nothing goes back.
    for event in sim.step(START) {
        assert!(event.at_ms() >= late, "{event:?}");
    }
    assert!(sim.poll_timeout() >= late);
}
