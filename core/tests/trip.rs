//! The trip derivation on real coordinates: a truck driven from Chicago through Indianapolis to
//! Louisville along I-65 on a virtual clock, as position reports, against a plan whose legs
//! follow the interstate through a few shape points. Progress, arrivals and departures by
//! radius, the ETA from a recent moving speed, every alert raised and cleared, idling, and the
//! same outputs for the same inputs.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/i65.rs"]
mod i65;
use i65::{ll, road_to_indianapolis, road_to_louisville};

use convoy_core::geo::{destination, distance_m, initial_bearing_deg, intermediate, LatLon};
use convoy_core::trip::{
    PlanError, PositionReport, ReeferBand, ReportError, Trip, TripAlertKind, TripChange,
    TripConfig, TripInsights, TripPlan, TripStatus, DEFAULT_RADIUS_M,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

const MIN: u64 = 60_000;
/// Monday 3 June 2024, 06:00 in Chicago.
const T0: u64 = 1_717_412_400_000;

fn chicago() -> LatLon {
    ll(41.8781, -87.6298)
}
fn indianapolis() -> LatLon {
    ll(39.7684, -86.1581)
}
fn louisville() -> LatLon {
    ll(38.2527, -85.7585)
}

/// The I-65 plan from `T0`, with `dwell_ms` at Indianapolis.
fn plan(dwell_ms: u64) -> TripPlan {
    i65::plan_with_dwell(T0, dwell_ms)
}

/// A truck on a virtual clock: it feeds a [`Trip`] and keeps every change and every insight.
struct Truck {
    trip: Trip,
    now: u64,
    at: LatLon,
    changes: Vec<TripChange>,
    seen: Vec<TripInsights>,
    reefer_c: Option<f32>,
}

impl Truck {
    fn new(config: TripConfig, plan: Option<TripPlan>, at: LatLon) -> Truck {
        let mut trip = Trip::new(config);
        if let Some(plan) = plan {
            trip.set_plan(T0 - 30 * MIN, plan).unwrap();
        }
        let mut truck = Truck {
            trip,
            now: T0 - 30 * MIN,
            at,
            changes: Vec::new(),
            seen: Vec::new(),
            reefer_c: None,
        };
        truck.drain();
        truck
    }

    fn drain(&mut self) {
        while let Some(change) = self.trip.poll_change() {
            self.changes.push(change);
        }
    }

    fn insights(&self) -> &TripInsights {
        self.trip.insights()
    }

    /// Reports where the truck is at `self.now`.
    fn report(&mut self, speed_kph: f32) {
        let mut report = PositionReport::at(self.now, self.at);
        report.speed_kph = Some(speed_kph);
        report.heading_deg = Some(0.0);
        report.reefer_c = self.reefer_c;
        self.trip.report(&report).unwrap();
        self.drain();
        self.seen.push(self.insights().clone());
    }

    /// Drives `path` (which starts where the truck is) at `kph`, reporting every `every_ms`
    /// and once more on reaching its end.
    fn drive(&mut self, path: &[LatLon], kph: f64, every_ms: u64) {
        let legs: Vec<f64> = path.windows(2).map(|w| distance_m(w[0], w[1])).collect();
        let total: f64 = legs.iter().sum();
        let step = kph / 3.6 * every_ms as f64 / 1000.0;
        let mut done = 0.0;
        loop {
            done += step;
            if done >= total {
                let rest = ((total - (done - step)) / (kph / 3.6) * 1000.0).ceil() as u64;
                self.now += rest.max(1);
                self.at = *path.last().unwrap();
                self.report(kph as f32);
                return;
            }
            self.now += every_ms;
            let (mut i, mut into) = (0, done);
            while into > legs[i] {
                into -= legs[i];
                i += 1;
            }
            self.at = intermediate(path[i], path[i + 1], into / legs[i]);
            self.report(kph as f32);
        }
    }

    /// Stands for `for_ms`, reporting every `every_ms` a fix jittered by up to `jitter_m`.
    fn stand(&mut self, for_ms: u64, every_ms: u64, jitter_m: f64) {
        let spot = self.at;
        let end = self.now + for_ms;
        let mut k = 0u32;
        while self.now + every_ms <= end {
            self.now += every_ms;
            k += 1;
            self.at = destination(
                spot,
                f64::from(k * 137 % 360),
                jitter_m * f64::from(k % 3) / 2.0,
            );
            self.report(0.0);
        }
        self.at = spot;
    }

    fn raised(&self, kind: TripAlertKind) -> Vec<u64> {
        self.changes
            .iter()
            .filter_map(|c| match c {
                TripChange::AlertRaised { kind: k, at_ms, .. } if *k == kind => Some(*at_ms),
                _ => None,
            })
            .collect()
    }

    fn cleared(&self, kind: TripAlertKind) -> Vec<u64> {
        self.changes
            .iter()
            .filter_map(|c| match c {
                TripChange::AlertCleared { kind: k, at_ms } if *k == kind => Some(*at_ms),
                _ => None,
            })
            .collect()
    }

    fn has_alert(&self, kind: TripAlertKind) -> bool {
        self.insights().alerts.iter().any(|a| a.kind == kind)
    }
}

/// The path from `from` to the first point of `road` at or past `index`.
fn road_from(road: &[LatLon], index: usize) -> Vec<LatLon> {
    road[index..].to_vec()
}

#[test]
fn progress_rises_along_i65_and_reaches_one_at_louisville() {
    let mut truck = Truck::new(TripConfig::default(), Some(plan(30 * MIN)), chicago());
    assert_eq!(truck.insights().status, TripStatus::Idle, "no position yet");
    truck.stand(30 * MIN, MIN, 5.0);
    assert_eq!(truck.insights().status, TripStatus::AtStop);
    assert_eq!(truck.insights().progress, 0.0);
    assert_eq!(truck.insights().stops[0].arrived_ms, Some(T0 - 29 * MIN));

    let start = truck.seen.len();
    truck.drive(&road_to_indianapolis(), 90.0, MIN);
    let at_indy = truck.seen.len();
    truck.stand(30 * MIN, MIN, 5.0);
    truck.drive(&road_to_louisville(), 90.0, MIN);
    truck.stand(5 * MIN, MIN, 5.0);

    let progress: Vec<f64> = truck.seen.iter().map(|i| i.progress).collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress never goes back"
    );
    // Driving, it rises at every report but the ones where the road bends away from the plan's
    // leg: over any ten minutes it has risen.
    for w in progress[start..at_indy].windows(10) {
        assert!(w[9] > w[0], "{w:?}");
    }
    let next: Vec<usize> = truck.seen.iter().map(|i| i.next_stop).collect();
    assert!(next.windows(2).all(|w| w[0] <= w[1]));
    assert_eq!(next[start], 1, "left Chicago");

    // At Indianapolis, the first leg's share of the plan's path; at the end, exactly 1.
    let first_leg = 285_933.7;
    let whole = first_leg + 172_777.4;
    let indy = truck.seen[at_indy - 1].progress;
    assert!((indy - first_leg / whole).abs() < 1e-3, "{indy}");
    let last = truck.insights();
    assert_eq!(last.progress, 1.0);
    assert_eq!(last.next_stop, 2);
    assert_eq!(last.status, TripStatus::AtStop);
    assert!(last
        .stops
        .iter()
        .all(|v| v.arrived_ms.is_some() && !v.skipped));
    assert_eq!(last.eta_ms, last.stops[2].arrived_ms);
    // On the interstate, on time: no alert all the way.
    assert!(
        truck
            .changes
            .iter()
            .all(|c| !matches!(c, TripChange::AlertRaised { .. })),
        "{:?}",
        truck.changes
    );
    assert!(truck.seen.iter().all(|i| i.off_path_m.unwrap() < 3_000.0));
}

#[test]
fn indianapolis_is_arrived_and_departed_by_its_radius() {
    let road = road_to_indianapolis();
    let mut truck = Truck::new(TripConfig::default(), Some(plan(30 * MIN)), chicago());
    truck.stand(5 * MIN, MIN, 0.0);
    // To the I-465 interchange, then in along the last stretch (bearing from it to the city).
    let from = initial_bearing_deg(indianapolis(), road[11]);
    let mut path = road[..12].to_vec();
    path.push(destination(indianapolis(), from, 1_000.0));
    truck.drive(&path, 100.0, MIN);
    let near = |truck: &mut Truck, metres: f64| {
        truck.now += MIN;
        truck.at = destination(indianapolis(), from, metres);
        truck.report(20.0);
    };
    near(&mut truck, 310.0);
    assert_eq!(
        truck.insights().stops[1].arrived_ms,
        None,
        "310 m is outside 300 m"
    );
    assert_eq!(truck.insights().status, TripStatus::EnRoute);
    near(&mut truck, 250.0);
    let arrived = truck.now;
    assert_eq!(truck.insights().stops[1].arrived_ms, Some(arrived));
    assert_eq!(truck.insights().status, TripStatus::AtStop);
    assert_eq!(truck.insights().at_stop, Some(1));
    assert_eq!(truck.insights().next_stop, 1);
    truck.stand(20 * MIN, MIN, 15.0);
    assert_eq!(
        truck.insights().status,
        TripStatus::AtStop,
        "never idle at a stop"
    );

    // Leaving south: 320 m is past the radius but within its margin; 360 m is out.
    let south = initial_bearing_deg(indianapolis(), louisville());
    let out = |truck: &mut Truck, metres: f64| {
        truck.now += MIN;
        truck.at = destination(indianapolis(), south, metres);
        truck.report(30.0);
    };
    out(&mut truck, 320.0);
    assert_eq!(truck.insights().stops[1].departed_ms, None);
    out(&mut truck, 360.0);
    let departed = truck.now;
    assert_eq!(truck.insights().stops[1].departed_ms, Some(departed));
    assert_eq!(truck.insights().next_stop, 2);
    assert_eq!(truck.insights().status, TripStatus::EnRoute);

    let stops: Vec<&TripChange> = truck
        .changes
        .iter()
        .filter(|c| {
            matches!(
                c,
                TripChange::StopArrived { .. }
                    | TripChange::StopDeparted { .. }
                    | TripChange::StopSkipped { .. }
            )
        })
        .collect();
    assert_eq!(
        stops,
        [
            &TripChange::StopArrived {
                stop: 0,
                at_ms: T0 - 29 * MIN
            },
            &TripChange::StopDeparted {
                stop: 0,
                at_ms: T0 - 24 * MIN
            },
            &TripChange::StopArrived {
                stop: 1,
                at_ms: arrived
            },
            &TripChange::StopDeparted {
                stop: 1,
                at_ms: departed
            },
        ]
    );

    // The radius is the plan's: with 500 m, the report at 310 m would have arrived.
    let mut wide = plan(30 * MIN);
    wide.stops[1].radius_m = 500.0;
    let mut truck = Truck::new(TripConfig::default(), Some(wide), chicago());
    truck.drive(&road[..12], 100.0, MIN);
    truck.now += MIN;
    truck.at = destination(indianapolis(), from, 310.0);
    truck.report(20.0);
    assert_eq!(truck.insights().stops[1].arrived_ms, Some(truck.now));
}

#[test]
fn a_truck_coming_to_the_first_stop_has_not_left_it() {
    // Down Lake Shore Drive from Evanston to the depot: behind the first leg's start, so not
    // departed until it has been there and left.
    let mut truck = Truck::new(TripConfig::default(), Some(plan(0)), ll(42.0451, -87.6877));
    truck.report(0.0);
    truck.drive(
        &[ll(42.0451, -87.6877), ll(41.9000, -87.6240), chicago()],
        60.0,
        MIN,
    );
    let i = truck.insights();
    assert_eq!(i.stops[0].departed_ms, None);
    assert_eq!(i.stops[0].arrived_ms, Some(truck.now));
    assert_eq!(i.progress, 0.0);
    truck.drive(&road_to_indianapolis()[..3], 90.0, MIN);
    assert!(truck.insights().stops[0].departed_ms.is_some());
    assert_eq!(truck.insights().next_stop, 1);
}

#[test]
fn a_stop_driven_past_outside_its_radius_is_skipped() {
    // The truck passes Indianapolis on I-465, 3 km east of the stop, and goes on south.
    let mut truck = Truck::new(TripConfig::default(), Some(plan(0)), chicago());
    let road = road_to_indianapolis();
    let bypass = ll(39.7684, -86.1230);
    let mut path = road[..12].to_vec();
    path.extend([bypass, ll(39.6131, -86.0828)]);
    truck.drive(&path, 100.0, MIN);
    let i = truck.insights();
    assert_eq!(i.next_stop, 2);
    assert!(i.stops[1].skipped && i.stops[1].arrived_ms.is_none());
    assert!(truck
        .changes
        .iter()
        .any(|c| matches!(c, TripChange::StopSkipped { stop: 1, .. })));
    assert!(i.progress > 286_000.0 / 458_700.0, "{}", i.progress);
}

#[test]
fn an_out_and_back_plan_does_not_skip_its_far_end() {
    // Chicago to Indianapolis and back the same way: on the way out the truck is as near the
    // return leg as the outbound one, and must not be taken for having passed Indianapolis.
    let mut there_and_back = plan(0);
    let mut back = there_and_back.stops[0].clone();
    back.name = "Chicago (return)".into();
    back.planned_ms = there_and_back.stops[1].planned_ms + 4 * 60 * MIN;
    back.via = there_and_back.stops[1].via.iter().rev().copied().collect();
    there_and_back.stops[2] = back;
    let mut truck = Truck::new(TripConfig::default(), Some(there_and_back), chicago());
    let road = road_to_indianapolis();
    truck.drive(&road, 100.0, MIN);
    assert!(truck.seen.iter().all(|i| i.next_stop <= 1));
    let i = truck.insights();
    assert!(i.stops[1].arrived_ms.is_some());
    assert!((i.progress - 0.5).abs() < 1e-9, "{}", i.progress);
    let back: Vec<LatLon> = road.iter().rev().copied().collect();
    truck.drive(&back, 100.0, MIN);
    assert_eq!(truck.insights().progress, 1.0);
    assert!(!truck
        .changes
        .iter()
        .any(|c| matches!(c, TripChange::StopSkipped { .. })));
}

#[test]
fn eta_goes_by_the_recent_moving_speed_and_a_red_light_does_not_explode_it() {
    let mut truck = Truck::new(TripConfig::default(), Some(plan(0)), chicago());
    // Before it moves: the plan's own pace from the planned departure, i.e. the plan.
    truck.stand(10 * MIN, MIN, 5.0);
    let planned = truck.insights().planned_arrival_ms.unwrap();
    let eta = truck.insights().eta_ms.unwrap();
    assert!(eta.abs_diff(planned) < 1_000, "{eta} vs {planned}");

    // 40 minutes at 100 km/h, a fix every 30 s.
    let road = road_to_indianapolis();
    truck.drive(&road[..5], 100.0, 30_000);
    let whole = 285_933.7 + 172_777.4;
    let expected = |i: &TripInsights, kph: f64| {
        i.last_fix_ms.unwrap() as f64 + whole * (1.0 - i.progress) / (kph / 3.6) * 1000.0
    };
    let before = truck.insights().clone();
    let moving = before.moving_kph.unwrap();
    assert!((moving - 100.0).abs() < 2.0, "{moving}");
    let eta = before.eta_ms.unwrap() as f64;
    assert!((eta - expected(&before, 100.0)).abs() < 3.0 * 60_000.0);

    // A red light: two minutes standing, reporting speed 0.
    truck.stand(2 * MIN, 30_000, 3.0);
    let stopped = truck.insights().clone();
    let moving = stopped.moving_kph.unwrap();
    // (The interval in which it braked counts, a little slower.)
    assert!(
        (moving - 100.0).abs() < 3.0,
        "still the moving speed: {moving}"
    );
    let slip = stopped.eta_ms.unwrap() - before.eta_ms.unwrap();
    // By the two minutes stood, and by the braking interval's slower speed over the four
    // hours still to go: minutes, not hours (an instant reading of 0 km/h would give no ETA).
    assert!(
        (2 * MIN..=8 * MIN).contains(&slip),
        "the ETA slips by minutes: {slip} ms"
    );
    assert_eq!(stopped.status, TripStatus::EnRoute);

    // A jam: 20 minutes at 40 km/h. The ETA now goes by 40 (the last 15 minutes), not by the
    // average since Chicago.
    truck.drive(&road[4..6], 40.0, 30_000);
    let jam = truck.insights();
    let moving = jam.moving_kph.unwrap();
    assert!((moving - 40.0).abs() < 1.0, "{moving}");
    let eta = jam.eta_ms.unwrap() as f64;
    assert!((eta - expected(jam, 40.0)).abs() < 60_000.0);
}

#[test]
fn delay_is_raised_when_late_and_cleared_when_caught_up() {
    let mut truck = Truck::new(TripConfig::default(), Some(plan(0)), chicago());
    // It leaves half an hour after the plan.
    truck.stand(60 * MIN, MIN, 5.0);
    let raised = truck.raised(TripAlertKind::Delay);
    assert_eq!(raised.len(), 1);
    // The ETA is "now plus the plan's pace" from the planned departure on: late by more than
    // 15 minutes once it is 15 minutes past it.
    assert!(
        raised[0] >= T0 + 15 * MIN && raised[0] <= T0 + 16 * MIN,
        "{}",
        raised[0] - T0
    );
    assert_eq!(
        truck.insights().status,
        TripStatus::AtStop,
        "at a stop beats late"
    );

    // At the plan's speed, it stays late.
    let road = road_to_indianapolis();
    truck.drive(&road[..4], 90.0, MIN);
    assert!(truck.has_alert(TripAlertKind::Delay));
    assert_eq!(truck.insights().status, TripStatus::Delayed);
    let alert = &truck.insights().alerts[0];
    assert!(alert.message.starts_with("ETA ") && alert.message.ends_with(" min behind plan"));

    // Faster, it catches up.
    truck.drive(&road_from(&road, 3), 130.0, MIN);
    let cleared = truck.cleared(TripAlertKind::Delay);
    assert_eq!(cleared.len(), 1);
    assert!(!truck.has_alert(TripAlertKind::Delay));
    let i = truck.insights();
    assert!(i.eta_ms.unwrap() <= i.planned_arrival_ms.unwrap() + 15 * MIN);
    assert_eq!(i.status, TripStatus::AtStop, "at Indianapolis");
    let statuses: Vec<TripStatus> = truck
        .changes
        .iter()
        .filter_map(|c| match c {
            TripChange::StatusChanged { to, .. } => Some(*to),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            TripStatus::AtStop,
            TripStatus::Delayed,
            TripStatus::EnRoute,
            TripStatus::AtStop
        ]
    );
}

#[test]
fn a_reefer_outside_its_band_raises_temperature_until_back_inside() {
    let mut truck = Truck::new(TripConfig::default(), Some(plan(0)), chicago());
    let road = road_to_indianapolis();
    truck.reefer_c = Some(4.0);
    truck.drive(&road[..3], 90.0, MIN);
    assert!(truck.raised(TripAlertKind::Temperature).is_empty());

    truck.reefer_c = Some(9.5);
    truck.drive(&road[2..4], 90.0, MIN);
    let raised = truck.raised(TripAlertKind::Temperature);
    assert_eq!(raised.len(), 1);
    let alert = truck
        .insights()
        .alerts
        .iter()
        .find(|a| a.kind == TripAlertKind::Temperature);
    assert_eq!(alert.unwrap().message, "Reefer 9.5 °C outside 2.0..8.0 °C");

    // A report without a reading keeps the last one.
    truck.reefer_c = None;
    truck.drive(&road[3..5], 90.0, MIN);
    assert!(truck.has_alert(TripAlertKind::Temperature));

    truck.reefer_c = Some(6.0);
    truck.drive(&road[4..6], 90.0, MIN);
    assert_eq!(truck.cleared(TripAlertKind::Temperature).len(), 1);
    assert!(!truck.has_alert(TripAlertKind::Temperature));

    // Below the band counts too.
    truck.reefer_c = Some(1.5);
    truck.drive(&road[5..7], 90.0, MIN);
    assert_eq!(truck.raised(TripAlertKind::Temperature).len(), 2);
}

#[test]
fn a_detour_more_than_5_km_off_the_legs_raises_off_route_until_back() {
    let mut truck = Truck::new(TripConfig::default(), Some(plan(0)), chicago());
    let road = road_to_indianapolis();
    truck.drive(&road[..11], 100.0, MIN);
    assert!(truck.raised(TripAlertKind::OffRoute).is_empty());

    // At Lebanon, west on SR-32 to Crawfordsville (30 km off the interstate) and back.
    let lebanon = road[10];
    let crawfordsville = ll(40.0411, -86.8745);
    let before = truck.seen.len();
    truck.drive(&[lebanon, crawfordsville], 80.0, MIN);
    let raised = truck.raised(TripAlertKind::OffRoute);
    assert_eq!(raised.len(), 1);
    let at = truck.seen[before..]
        .iter()
        .find(|i| i.last_fix_ms == Some(raised[0]))
        .unwrap();
    assert!(at.off_path_m.unwrap() > 5_000.0);
    assert!(
        truck.seen[before..]
            .iter()
            .filter(|i| i.last_fix_ms < Some(raised[0]))
            .all(|i| i.off_path_m.unwrap() <= 5_000.0),
        "raised at the first report beyond 5 km"
    );
    assert!(truck.insights().alerts[0]
        .message
        .ends_with(" km from the route"));
    let progress = truck.insights().progress;

    truck.drive(&[crawfordsville, lebanon], 80.0, MIN);
    // Crawfordsville lies behind Lebanon along the leg: progress holds, it does not go back.
    assert!(truck.seen[before..]
        .windows(2)
        .all(|w| w[0].progress <= w[1].progress));
    assert!(truck.seen[before..].iter().all(|i| i.progress == progress));
    let cleared = truck.cleared(TripAlertKind::OffRoute);
    assert_eq!(cleared.len(), 1);
    let at = truck
        .seen
        .iter()
        .find(|i| i.last_fix_ms == Some(cleared[0]))
        .unwrap();
    assert!(at.off_path_m.unwrap() <= 5_000.0);
    assert!(truck.insights().progress >= progress);
    truck.drive(&road[10..], 100.0, MIN);
    assert!(truck.insights().stops[1].arrived_ms.is_some());
    assert_eq!(truck.raised(TripAlertKind::OffRoute).len(), 1);
}

#[test]
fn straight_legs_put_the_real_interstate_off_route() {
    // Why plans carry shape points: without them the leg is the great circle from Chicago to
    // Indianapolis, and I-65 through Remington and Lafayette runs 20 km and more west of it.
    let mut bare = plan(0);
    for stop in &mut bare.stops {
        stop.via.clear();
    }
    let mut truck = Truck::new(TripConfig::default(), Some(bare), chicago());
    truck.drive(&road_to_indianapolis(), 100.0, MIN);
    assert!(!truck.raised(TripAlertKind::OffRoute).is_empty());
    let worst = truck
        .seen
        .iter()
        .map(|i| i.off_path_m.unwrap())
        .fold(0.0, f64::max);
    assert!(worst > 20_000.0, "{worst}");
}

#[test]
fn no_signal_is_judged_on_the_virtual_clock_at_tick() {
    let mut truck = Truck::new(TripConfig::default(), Some(plan(0)), chicago());
    truck.drive(&road_to_indianapolis()[..3], 90.0, MIN);
    let last = truck.now;
    assert_eq!(truck.trip.poll_timeout(), Some(last + 10 * MIN));

    truck.trip.tick(last + 10 * MIN - 1);
    truck.drain();
    assert!(truck.raised(TripAlertKind::NoSignal).is_empty());
    truck.trip.tick(last + 10 * MIN);
    truck.drain();
    assert_eq!(truck.raised(TripAlertKind::NoSignal), [last + 10 * MIN]);
    assert_eq!(truck.trip.poll_timeout(), None);
    truck.trip.tick(last + 30 * MIN);
    truck.drain();
    assert_eq!(
        truck.raised(TripAlertKind::NoSignal).len(),
        1,
        "raised once"
    );

    // A buffered fix from 25 minutes ago is news, but not a signal now.
    truck.now = last + 5 * MIN;
    truck.report(90.0);
    assert!(truck.has_alert(TripAlertKind::NoSignal));
    truck.now = last + 31 * MIN;
    truck.report(90.0);
    assert_eq!(truck.cleared(TripAlertKind::NoSignal), [last + 31 * MIN]);
    assert_eq!(truck.trip.poll_timeout(), Some(last + 41 * MIN));

    // The threshold is the caller's (`--stale-after`).
    let config = TripConfig {
        stale_after_ms: 3 * MIN,
        ..TripConfig::default()
    };
    let mut truck = Truck::new(config, None, chicago());
    truck.now = T0;
    truck.report(0.0);
    truck.trip.tick(T0 + 3 * MIN);
    truck.drain();
    assert_eq!(truck.raised(TripAlertKind::NoSignal), [T0 + 3 * MIN]);
}

#[test]
fn standing_ten_minutes_away_from_any_stop_is_idle() {
    let mut truck = Truck::new(TripConfig::default(), Some(plan(0)), chicago());
    let road = road_to_indianapolis();
    truck.drive(&road[..9], 100.0, MIN);
    assert_eq!(truck.insights().status, TripStatus::EnRoute);
    let stopped = truck.now;
    // On the shoulder near Remington, GPS wandering by up to 15 m.
    truck.stand(9 * MIN, MIN, 15.0);
    assert_eq!(truck.insights().status, TripStatus::EnRoute);
    truck.stand(MIN, MIN, 15.0);
    assert_eq!(truck.insights().status, TripStatus::Idle);
    assert_eq!(
        truck.changes.last(),
        Some(&TripChange::StatusChanged {
            from: TripStatus::EnRoute,
            to: TripStatus::Idle,
            at_ms: stopped + 10 * MIN
        })
    );
    truck.drive(&road[8..10], 100.0, MIN);
    assert_eq!(truck.insights().status, TripStatus::EnRoute);

    // Without a plan a truck is idle, moving or not.
    let mut free = Truck::new(TripConfig::default(), None, chicago());
    free.drive(&road[..3], 100.0, MIN);
    assert_eq!(free.insights().status, TripStatus::Idle);
    assert!(free.changes.is_empty());
    assert_eq!(free.insights().eta_ms, None);
    // A plan put in force on the road judges the last position at once.
    let now = free.now;
    free.trip.set_plan(now, plan(0)).unwrap();
    free.drain();
    assert_eq!(free.insights().status, TripStatus::EnRoute);
    assert_eq!(free.insights().next_stop, 1);
    assert_eq!(
        free.changes,
        [
            TripChange::StopDeparted {
                stop: 0,
                at_ms: now
            },
            TripChange::StatusChanged {
                from: TripStatus::Idle,
                to: TripStatus::EnRoute,
                at_ms: now
            }
        ]
    );
}

#[test]
fn reports_out_of_order_are_refused_and_change_nothing() {
    let mut truck = Truck::new(TripConfig::default(), Some(plan(0)), chicago());
    truck.drive(&road_to_indianapolis()[..3], 90.0, MIN);
    let before = truck.insights().clone();
    for at_ms in [truck.now, truck.now - MIN] {
        let err = truck
            .trip
            .report(&PositionReport::at(at_ms, louisville()))
            .unwrap_err();
        assert_eq!(
            err,
            ReportError::NotNewer {
                at_ms,
                last_ms: truck.now
            }
        );
    }
    assert_eq!(truck.trip.poll_change(), None);
    assert_eq!(truck.insights(), &before);
}

#[test]
fn plans_read_from_json_and_bad_ones_are_refused_naming_the_field() {
    let body = r#"{"driver":"Dana Reyes","route_name":"Chicago - Louisville",
        "stops":[{"name":"Chicago","lat":41.8781,"lon":-87.6298,"planned_ms":1717412400000},
                 {"name":"Indianapolis","lat":39.7684,"lon":-86.1581,"planned_ms":1717424000000,
                  "radius_m":500,"via":[{"lat":40.4167,"lon":-86.8392}]}],
        "reefer_band":{"min_c":2,"max_c":8}}"#;
    let parsed: TripPlan = serde_json::from_str(body).unwrap();
    assert_eq!(parsed.stops[0].position, chicago());
    assert_eq!(parsed.stops[0].radius_m, DEFAULT_RADIUS_M);
    assert_eq!(parsed.stops[1].radius_m, 500.0);
    assert_eq!(parsed.stops[1].via, [ll(40.4167, -86.8392)]);
    assert_eq!(parsed.reefer_band.unwrap().max_c, 8.0);
    parsed.validate().unwrap();
    let again: TripPlan = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
    assert_eq!(again, parsed);

    let err = serde_json::from_str::<TripPlan>(&body.replace("39.7684", "97.5")).unwrap_err();
    assert!(err.to_string().contains("lat must be"), "{err}");

    let refused = |edit: &dyn Fn(&mut TripPlan)| {
        let mut p = plan(0);
        edit(&mut p);
        let mut trip = Trip::default();
        let err = trip.set_plan(T0, p).unwrap_err();
        assert!(trip.plan().is_none(), "nothing changes");
        assert_eq!(trip.poll_change(), None);
        (err.clone(), err.to_string())
    };
    let (err, text) = refused(&|p| p.stops.truncate(1));
    assert_eq!(err, PlanError::TooFewStops(1));
    assert!(text.starts_with("stops: "), "{text}");
    let (_, text) = refused(&|p| p.stops[2].radius_m = -1.0);
    assert!(text.starts_with("stops[2].radius_m "), "{text}");
    let (_, text) = refused(&|p| p.stops[1].radius_m = f64::NAN);
    assert!(text.starts_with("stops[1].radius_m "), "{text}");
    let (_, text) = refused(&|p| p.stops[2].planned_ms = T0 - 1);
    assert!(text.starts_with("stops[2].planned_ms "), "{text}");
    let (_, text) = refused(&|p| {
        p.reefer_band = Some(ReeferBand {
            min_c: 8.0,
            max_c: 2.0,
        })
    });
    assert!(text.starts_with("reefer_band: "), "{text}");
    let (err, _) = refused(&|p| p.stops[1].via = vec![chicago(); 2_000]);
    assert!(matches!(err, PlanError::TooManyPoints(_)));

    // A report as devices send it; -1 for an unknown speed is no speed.
    let report: PositionReport = serde_json::from_str(
        r#"{"at_ms":1717412400000,"lat":41.8781,"lon":-87.6298,"speed_kph":-1,"reefer_c":4.5}"#,
    )
    .unwrap();
    assert_eq!(report.position, chicago());
    let mut trip = Trip::default();
    trip.set_plan(T0, plan(0)).unwrap();
    trip.report(&report).unwrap();
    assert_eq!(
        trip.insights().eta_ms,
        Some(trip.insights().planned_arrival_ms.unwrap())
    );
    let err =
        serde_json::from_str::<PositionReport>(r#"{"at_ms":1,"lat":0,"lon":-190}"#).unwrap_err();
    assert!(err.to_string().contains("lon must be"), "{err}");
}

// ----- the same inputs give the same outputs -----

/// One input to a trip.
#[derive(Debug, Clone)]
enum Input {
    Report(PositionReport),
    Tick(u64),
    Plan(u64, TripPlan),
}

/// Every output a trip gives for `inputs`, in order, in a form where every bit of every number
/// shows (`{:?}` prints f64s exactly).
fn replay(inputs: &[Input]) -> Vec<String> {
    let mut trip = Trip::default();
    let mut out = Vec::new();
    for input in inputs {
        match input {
            Input::Report(r) => out.push(format!("{:?}", trip.report(r))),
            Input::Tick(now) => trip.tick(*now),
            Input::Plan(now, p) => out.push(format!("{:?}", trip.set_plan(*now, p.clone()))),
        }
        while let Some(change) = trip.poll_change() {
            out.push(format!("{change:?}"));
        }
        out.push(format!("{:?} {:?}", trip.insights(), trip.poll_timeout()));
    }
    out
}

/// A drive along the whole route with random pace, pauses, GPS error, detours, gaps, reefer
/// readings and ticks.
fn inputs() -> impl Strategy<Value = Vec<Input>> {
    let step = (
        0u64..8 * MIN,        // time to the next fix
        0.0f64..6_000.0,      // distance along the road
        -8_000.0f64..8_000.0, // sideways, sometimes beyond the off-route threshold
        prop::option::of(-5.0f32..15.0),
        prop::option::of(0.0f32..130.0),
        prop::option::of(0u64..40 * MIN), // a tick this long after the fix
    );
    (prop::collection::vec(step, 1..120), any::<bool>()).prop_map(|(steps, replan)| {
        let mut road = road_to_indianapolis();
        road.extend(road_to_louisville().into_iter().skip(1));
        let legs: Vec<f64> = road.windows(2).map(|w| distance_m(w[0], w[1])).collect();
        let mut inputs = vec![Input::Plan(T0 - MIN, plan(20 * MIN))];
        let (mut now, mut along) = (T0, 0.0);
        for (k, (dt, forward, side, reefer, speed, tick)) in steps.into_iter().enumerate() {
            now += dt;
            along += forward;
            let (mut i, mut into) = (0, along);
            while i < legs.len() - 1 && into > legs[i] {
                into -= legs[i];
                i += 1;
            }
            let on = intermediate(road[i], road[i + 1], (into / legs[i]).min(1.0));
            let bearing = initial_bearing_deg(road[i], road[i + 1]) + 90.0;
            let at = destination(on, bearing, side * f64::from(u8::from(k % 4 == 0)));
            let mut report = PositionReport::at(now, at);
            report.reefer_c = reefer;
            report.speed_kph = speed;
            inputs.push(Input::Report(report));
            if let Some(after) = tick {
                inputs.push(Input::Tick(now + after));
            }
            if replan && k == 40 {
                inputs.push(Input::Plan(now, plan(0)));
            }
        }
        inputs
    })
}

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(48);
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Replaying the same inputs gives the same outputs, bit for bit; and whatever the inputs,
    /// the outputs stay sane: progress within 0..=1 and never back within a plan, the next stop
    /// never back, each alert alternating raised and cleared, no NaN anywhere.
    #[test]
    fn the_same_reports_give_the_same_outputs(inputs in inputs()) {
        let first = replay(&inputs);
        let second = replay(&inputs);
        prop_assert_eq!(&first, &second);
        prop_assert!(first.iter().all(|line| !line.contains("NaN")));

        let mut trip = Trip::default();
        let mut raised = [false; 4];
        let (mut progress, mut next) = (0.0, 0);
        for input in &inputs {
            match input {
                Input::Report(r) => { let _ = trip.report(r); }
                Input::Tick(now) => trip.tick(*now),
                Input::Plan(now, p) => {
                    trip.set_plan(*now, p.clone()).unwrap();
                    (progress, next) = (0.0, 0);
                }
            }
            while let Some(change) = trip.poll_change() {
                match change {
                    TripChange::AlertRaised { kind, .. } => {
                        prop_assert!(!raised[kind as usize]);
                        raised[kind as usize] = true;
                    }
                    TripChange::AlertCleared { kind, .. } => {
                        prop_assert!(raised[kind as usize]);
                        raised[kind as usize] = false;
                    }
                    _ => {}
                }
            }
            let i = trip.insights();
            prop_assert!((0.0..=1.0).contains(&i.progress));
            prop_assert!(i.progress >= progress && i.next_stop >= next);
            (progress, next) = (i.progress, i.next_stop);
            for v in &i.stops {
                if let (Some(a), Some(d)) = (v.arrived_ms, v.departed_ms) {
                    prop_assert!(a < d);
                }
            }
            let kinds: Vec<TripAlertKind> = i.alerts.iter().map(|a| a.kind).collect();
            let expected: Vec<TripAlertKind> = TripAlertKind::ALL
                .into_iter()
                .filter(|k| raised[*k as usize])
                .collect();
            prop_assert_eq!(kinds, expected);
        }
    }
}
