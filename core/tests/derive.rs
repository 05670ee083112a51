//! Facts in, events out, on real coordinates: a truck pushed only as a plan and position reports
//! (Chicago → Indianapolis → Louisville on I-65, a virtual clock) is derived into events, and the
//! fleet those events build shows its progress, stop visits, ETA, status and every alert raised
//! and cleared. The same events, read back from JSON, build the same truck on a second fleet,
//! and a second node that only follows them derives the next event exactly as the first.
#![cfg(not(target_arch = "wasm32"))]

#[path = "support/i65.rs"]
mod i65;
use i65::{length, ll, road_to_indianapolis, road_to_louisville};

use convoy_core::derive::{derive, follow, tick, DeriveError, Fact};
use convoy_core::fleet::Fleet;
use convoy_core::geo::{destination, distance_m, intermediate, LatLon};
use convoy_core::trip::{PositionReport, ReportError, Trip, TripConfig, TripPlan};
use convoy_core::wire::{AlertKind, Envelope, FleetEvent, TruckState, TruckStatus};

const MIN: u64 = 60_000;
/// Monday 3 June 2024, 06:00 in Chicago.
const T0: u64 = 1_717_412_400_000;
const TRUCK: &str = "ACME-1";

/// The plan: the road's length at 90 km/h, 30 minutes at Indianapolis, a 2..8 °C reefer.
fn plan() -> TripPlan {
    i65::plan(T0)
}

/// A node: one trip derives, the events get ids and build a fleet, and the log keeps them.
struct Node {
    trip: Trip,
    fleet: Fleet,
    log: Vec<Envelope>,
    next_id: u64,
}

impl Node {
    fn new() -> Node {
        let mut fleet = Fleet::default();
        fleet.insert(TruckState::new(TRUCK));
        Node {
            trip: Trip::default(),
            fleet,
            log: Vec::new(),
            next_id: 1,
        }
    }

    fn append(&mut self, events: Vec<FleetEvent>) -> Vec<FleetEvent> {
        for event in &events {
            let envelope = Envelope {
                id: self.next_id,
                event: event.clone(),
            };
            self.next_id += 1;
            self.fleet.apply(&envelope);
            self.log.push(envelope);
        }
        events
    }

    fn push(&mut self, fact: Fact, now_ms: u64) -> Vec<FleetEvent> {
        let events = derive(&mut self.trip, TRUCK, fact, now_ms).unwrap();
        self.append(events)
    }

    fn tick(&mut self, now_ms: u64) -> Vec<FleetEvent> {
        let events = tick(&mut self.trip, TRUCK, now_ms);
        self.append(events)
    }

    fn truck(&self) -> &TruckState {
        self.fleet.get(TRUCK).unwrap()
    }

    fn has(&self, kind: AlertKind) -> bool {
        self.truck().alerts.iter().any(|a| a.kind == kind)
    }

    /// How often the log raised and cleared `kind`.
    fn raised_cleared(&self, kind: AlertKind) -> (usize, usize) {
        let raised = self
            .log
            .iter()
            .filter(|e| matches!(&e.event, FleetEvent::Alert { alert, .. } if alert.kind == kind));
        let cleared = self
            .log
            .iter()
            .filter(|e| matches!(&e.event, FleetEvent::AlertCleared { kind: k, .. } if *k == kind));
        (raised.count(), cleared.count())
    }
}

/// What the truck sends: where it is, its speed, and its readings.
struct Driver {
    now: u64,
    at: LatLon,
    reefer_c: f32,
    minutes_left: u32,
}

impl Driver {
    fn report(&self, node: &mut Node, kph: f64) -> Vec<FleetEvent> {
        let mut report = PositionReport::at(self.now, self.at);
        report.speed_kph = Some(kph as f32);
        report.heading_deg = Some(180.0);
        report.reefer_c = Some(self.reefer_c);
        report.driver_minutes_left = Some(self.minutes_left);
        node.push(Fact::Position(report), self.now)
    }

    /// Drives `path` at `kph`, a report every 30 s and one on reaching its end; `each` sees the
    /// node after every report.
    fn drive(&mut self, node: &mut Node, path: &[LatLon], kph: f64, mut each: impl FnMut(&Node)) {
        let legs: Vec<f64> = path.windows(2).map(|w| distance_m(w[0], w[1])).collect();
        let total: f64 = legs.iter().sum();
        let every_ms = 30_000;
        let step = kph / 3.6 * every_ms as f64 / 1000.0;
        let mut done = 0.0;
        loop {
            done += step;
            if done >= total {
                self.now += ((total - (done - step)) / (kph / 3.6) * 1000.0).ceil() as u64;
                self.at = *path.last().unwrap();
                self.report(node, kph);
                each(node);
                return;
            }
            self.now += every_ms;
            let (mut i, mut into) = (0, done);
            while into > legs[i] {
                into -= legs[i];
                i += 1;
            }
            self.at = intermediate(path[i], path[i + 1], into / legs[i]);
            self.report(node, kph);
            each(node);
        }
    }

    fn stand(&mut self, node: &mut Node, for_ms: u64) {
        let end = self.now + for_ms;
        while self.now + MIN <= end {
            self.now += MIN;
            self.report(node, 0.0);
        }
    }
}

#[test]
fn a_truck_pushed_as_plan_and_positions_gets_every_insight_and_a_second_fleet_agrees() {
    let mut node = Node::new();
    let plan = plan();
    let planned_arrival = plan.planned_arrival_ms();
    let events = node.push(Fact::Plan(plan.clone()), T0 - 31 * MIN);
    assert_eq!(
        events.len(),
        1,
        "a plan without a position derives nothing more"
    );
    let truck = node.truck();
    assert_eq!(
        (truck.driver.as_str(), truck.route_name.as_str()),
        ("Dana Reyes", "Chicago - Louisville (I-65)")
    );
    assert_eq!(truck.stops.len(), 3);
    assert_eq!(truck.stops[1].name, "Indianapolis");
    assert_eq!(truck.planned_arrival_ms, Some(planned_arrival));
    assert_eq!(
        (truck.position, truck.eta_ms, truck.status),
        (None, None, TruckStatus::Idle)
    );

    // At the Chicago yard for half an hour: arrived by radius, at_stop, ETA from the plan.
    let mut driver = Driver {
        now: T0 - 30 * MIN,
        at: destination(ll(41.8781, -87.6298), 45.0, 80.0),
        reefer_c: 4.0,
        minutes_left: 500,
    };
    let first = driver.report(&mut node, 0.0);
    let names: Vec<&str> = first.iter().map(FleetEvent::name).collect();
    assert_eq!(names, ["position", "stop", "status"], "{first:?}");
    driver.stand(&mut node, 29 * MIN);
    let truck = node.truck();
    assert_eq!(truck.status, TruckStatus::AtStop);
    assert_eq!(truck.stops[0].arrived_ms, Some(T0 - 30 * MIN));
    assert_eq!(truck.progress, 0.0);
    assert_eq!(truck.last_fix_ms, Some(driver.now));
    assert_eq!(truck.reefer_c, Some(4.0));
    let eta = truck.eta_ms.unwrap();
    assert!(
        eta.abs_diff(planned_arrival) < 1_000,
        "{eta} vs {planned_arrival}"
    );
    assert_eq!(
        truck.delay_s(),
        Some((eta as i64 - planned_arrival as i64) / 1000)
    );

    // To Indianapolis at 90 km/h: progress rises, the reefer warms and recovers, the driver's
    // hours run low; departed Chicago, en route, the ETA on plan.
    let road = road_to_indianapolis();
    let mut last_progress = 0.0;
    let mut reports = 0;
    driver.at = road[0];
    let mut seen_en_route = false;
    let (mut temperature_seen, mut hours_seen) = (false, false);
    for leg in road.windows(2) {
        reports += 1;
        // Warm in the middle stretch, low on hours near Lafayette.
        driver.reefer_c = if (4..6).contains(&reports) { 11.5 } else { 4.0 };
        driver.minutes_left = if (9..11).contains(&reports) { 25 } else { 400 };
        driver.drive(&mut node, leg, 90.0, |node| {
            let truck = node.truck();
            assert!(truck.progress >= last_progress, "progress never decreases");
            last_progress = truck.progress;
            seen_en_route |= truck.status == TruckStatus::EnRoute;
            temperature_seen |= node.has(AlertKind::Temperature);
            hours_seen |= node.has(AlertKind::DriverHours);
        });
        let truck = node.truck();
        assert_eq!(
            node.has(AlertKind::Temperature),
            truck.reefer_c.is_some_and(|c| c > 8.0),
            "temperature holds exactly while the reefer is outside 2..8"
        );
        assert_eq!(
            node.has(AlertKind::DriverHours),
            truck.driver_minutes_left.is_some_and(|m| m < 30)
        );
    }
    assert!(seen_en_route && temperature_seen && hours_seen);
    let truck = node.truck().clone();
    assert!(truck.stops[0].departed_ms.is_some());
    // Arrived by the radius: the first report within 300 m, before the stop itself.
    let arrived = truck.stops[1].arrived_ms.unwrap();
    assert!(
        (driver.now - MIN..=driver.now).contains(&arrived),
        "{arrived}"
    );
    assert_eq!(truck.status, TruckStatus::AtStop);
    assert_eq!(truck.next_stop, 1);
    let leg1 = length(&road_to_indianapolis());
    let whole = leg1 + length(&road_to_louisville());
    assert!(
        (f64::from(truck.progress) - leg1 / whole).abs() < 0.02,
        "{} vs {}",
        truck.progress,
        leg1 / whole
    );
    assert_eq!(node.raised_cleared(AlertKind::Temperature), (1, 1));
    assert_eq!(node.raised_cleared(AlertKind::DriverHours), (1, 1));
    assert!(!node.has(AlertKind::Delay), "on plan so far");

    // 50 minutes at Indianapolis where 30 were planned: late by more than 15 minutes.
    driver.stand(&mut node, 50 * MIN);
    assert!(node.has(AlertKind::Delay));
    assert_eq!(
        node.truck().status,
        TruckStatus::AtStop,
        "at a stop beats delayed"
    );
    let late = node.truck().delay_s().unwrap();
    assert!(late > 15 * 60, "{late}");

    // On to Louisville at 90 km/h: delayed, and a detour 9 km east of I-65 near Columbus is off
    // route until the truck is back on the interstate.
    let road = road_to_louisville();
    driver.drive(&mut node, &road[..4], 90.0, |_| {});
    assert_eq!(node.truck().status, TruckStatus::Delayed);
    assert!(node.truck().stops[1].departed_ms.is_some());
    let detour = destination(road[3], 90.0, 9_000.0);
    driver.drive(&mut node, &[road[3], detour], 90.0, |_| {});
    assert!(node.has(AlertKind::OffRoute));
    driver.drive(&mut node, &[detour, road[3]], 90.0, |_| {});
    assert!(!node.has(AlertKind::OffRoute));
    assert_eq!(node.raised_cleared(AlertKind::OffRoute), (1, 1));
    // Faster than planned for the rest: caught up to within 15 minutes, delay cleared.
    driver.drive(&mut node, &road[3..], 150.0, |_| {});
    assert_eq!(node.raised_cleared(AlertKind::Delay), (1, 1));
    let truck = node.truck().clone();
    assert_eq!(truck.progress, 1.0);
    assert_eq!(truck.next_stop, 2);
    let arrived = truck.stops[2].arrived_ms.unwrap();
    assert!(
        (driver.now - MIN..=driver.now).contains(&arrived),
        "{arrived}"
    );
    assert_eq!(
        truck.eta_ms,
        Some(arrived),
        "arrived: the ETA is the arrival"
    );
    assert_eq!(truck.status, TruckStatus::AtStop);
    assert!(truck.alerts.is_empty(), "{:?}", truck.alerts);

    // No signal, on the virtual clock: nothing until --stale-after (10 min), then raised once;
    // the next position clears it.
    let last_fix = driver.now;
    assert!(node.tick(last_fix + 10 * MIN - 1).is_empty());
    let raised = node.tick(last_fix + 10 * MIN);
    assert!(
        matches!(&raised[..], [FleetEvent::Alert { alert, at_ms, .. }]
            if alert.kind == AlertKind::NoSignal && *at_ms == last_fix + 10 * MIN),
        "{raised:?}"
    );
    assert!(node.tick(last_fix + 20 * MIN).is_empty(), "raised once");
    assert!(node.has(AlertKind::NoSignal));

    // A second node that only follows the log (every event through JSON, as the stream
    // carries it) has the same truck, and derives the next event exactly as this one does.
    let mut second = Node::new();
    for envelope in &node.log {
        let json = serde_json::to_string(envelope).unwrap();
        let read: Envelope = serde_json::from_str(&json).unwrap();
        follow(&mut second.trip, &read.event);
        second.fleet.apply(&read);
    }
    assert_eq!(second.fleet.get(TRUCK), node.fleet.get(TRUCK));
    assert_eq!(second.trip.insights(), node.trip.insights());
    driver.now = last_fix + 21 * MIN;
    let mut report = PositionReport::at(driver.now, driver.at);
    report.speed_kph = Some(0.0);
    let here = derive(&mut node.trip, TRUCK, Fact::Position(report.clone()), 0).unwrap();
    let there = derive(&mut second.trip, TRUCK, Fact::Position(report), 0).unwrap();
    assert_eq!(here, there);
    assert!(
        here.iter().any(
            |e| matches!(e, FleetEvent::AlertCleared { kind, .. } if *kind == AlertKind::NoSignal)
        ),
        "{here:?}"
    );
}

#[test]
fn a_position_not_newer_than_the_last_is_refused_and_a_bad_plan_names_its_field() {
    let mut trip = Trip::new(TripConfig::default());
    let at = ll(41.8781, -87.6298);
    derive(
        &mut trip,
        TRUCK,
        Fact::Position(PositionReport::at(T0, at)),
        T0,
    )
    .unwrap();
    let again = derive(
        &mut trip,
        TRUCK,
        Fact::Position(PositionReport::at(T0, at)),
        T0,
    );
    assert_eq!(
        again,
        Err(DeriveError::Report(ReportError::NotNewer {
            at_ms: T0,
            last_ms: T0
        }))
    );
    let mut bad = plan();
    bad.stops.truncate(1);
    let error = derive(&mut trip, TRUCK, Fact::Plan(bad), T0).unwrap_err();
    assert!(error.to_string().starts_with("stops:"), "{error}");
    assert!(trip.plan().is_none(), "a refused plan changes nothing");
}

#[test]
fn a_position_event_reads_back_and_refuses_out_of_range_coordinates() {
    let line = r#"{"type":"position","truck":"T-1","at_ms":5,"lat":41.5,"lon":-87.5,"progress":0.25,"next_stop":1}"#;
    let event: FleetEvent = serde_json::from_str(line).unwrap();
    let report = event.position_report().unwrap();
    assert_eq!((report.position.lat(), report.speed_kph), (41.5, None));
    assert_eq!(serde_json::to_string(&event).unwrap(), line);
    let bad = line.replace("41.5", "91.5");
    let error = serde_json::from_str::<FleetEvent>(&bad).unwrap_err();
    assert!(error.to_string().contains("lat"), "{error}");
}
