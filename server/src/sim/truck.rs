//! One simulated truck: its trip plan, phases, incidents, gauges and alerts, stepped in time.

use super::*;
use std::f64::consts::TAU;
impl Truck {
    pub(super) fn new(
        id: TruckId,
        index: usize,
        depots: &[Depot],
        mut rng: Rng,
        start_ms: u64,
        period_ms: Option<u64>,
    ) -> Truck {
        let driver = format!(
            "{} {}",
            FIRST_NAMES[rng.below(FIRST_NAMES.len())],
            LAST_NAMES[rng.below(LAST_NAMES.len())]
        );
        let home = &depots[index % depots.len()];
        let route = make_route(&id, home, &mut rng);
        let mut cum = vec![0.0];
        for pair in route.stops.windows(2) {
            let last = *cum.last().unwrap_or(&0.0);
            cum.push(last + distance(pair[0].position, pair[1].position));
        }
        let reefer = rng.chance(1.0 / 3.0).then(|| {
            let band = if rng.chance(0.5) {
                TempBand {
                    min_c: 2.0,
                    max_c: 8.0,
                }
            } else {
                TempBand {
                    min_c: -25.0,
                    max_c: -18.0,
                }
            };
            let center = (band.min_c + band.max_c) as f64 / 2.0;
            Reefer {
                band,
                temp_c: center + rng.noise() * 0.5,
                fault_until_ms: None,
            }
        });
        let driver_min_left = if rng.chance(0.1) {
            rng.range(62.0, 100.0)
        } else {
            rng.range(150.0, SHIFT_MIN)
        };
        let next_telemetry_ms = match period_ms {
            Some(p) => start_ms + (rng.unit() * p as f64) as u64,
            None => u64::MAX,
        };
        let mut truck = Truck {
            id,
            driver,
            cruise_kph: rng.range(55.0, 75.0),
            rng,
            route,
            cum,
            pace: 1.0,
            phase: Phase::Loading,
            phase_until_ms: start_ms,
            status: TruckStatus::Loading,
            next_stop: 0,
            reported: (TruckStatus::Loading, 0),
            dist: 0.0,
            speed_kph: 0.0,
            jam: None,
            detour: None,
            fuel_pct: 0.0,
            reefer,
            driver_min_left,
            alerts: Vec::new(),
            planned_arrival_ms: start_ms,
            arrived_ms: start_ms,
            next_telemetry_ms,
            last_ms: start_ms,
        };
        truck.fuel_pct = truck.rng.range(40.0, 100.0);
        truck.place(start_ms);
        truck.reported = (truck.status, truck.next_stop);
        truck
    }

    fn total(&self) -> f64 {
        *self.cum.last().unwrap_or(&0.0)
    }

    fn last_stop(&self) -> usize {
        self.route.stops.len().saturating_sub(1)
    }

    fn cruise_units_per_ms(&self) -> f64 {
        self.cruise_kph * UNITS_PER_S_PER_KPH / 1000.0
    }

    fn drive_ms(&self, units: f64) -> u64 {
        (units.max(0.0) / self.cruise_units_per_ms()) as u64
    }

    /// Sets this trip's planned times: leave the depot at `depart_ms`, drive at cruise speed,
    /// dwell [`PLANNED_DWELL_MS`] at each intermediate stop.
    fn plan_trip(&mut self, depart_ms: u64) {
        let last = self.last_stop();
        let mut t = depart_ms;
        for k in 0..=last {
            if k > 0 {
                t += self.drive_ms(self.cum[k] - self.cum[k - 1]);
            }
            self.route.stops[k].planned_ms = t;
            if k > 0 && k < last {
                t += PLANNED_DWELL_MS;
            }
        }
        self.planned_arrival_ms = t;
    }

    /// Puts the truck somewhere in its cycle at `start_ms`, on plan.
    fn place(&mut self, start_ms: u64) {
        let pick = self.rng.unit();
        if pick < 0.12 {
            let until = start_ms + self.rng.range_ms(5_000, 90_000);
            self.plan_trip(until);
            self.phase = Phase::Loading;
            self.phase_until_ms = until;
            self.status = TruckStatus::Loading;
            return;
        }
        if pick < 0.2 {
            self.plan_trip(0);
            let trip = self.planned_arrival_ms;
            self.plan_trip(start_ms.saturating_sub(trip + 20_000));
            self.arrived_ms = self.planned_arrival_ms;
            self.phase = Phase::Idle;
            self.phase_until_ms = start_ms + self.rng.range_ms(5_000, 60_000);
            self.status = TruckStatus::Idle;
            self.next_stop = self.last_stop();
            self.dist = self.total();
            return;
        }
        self.plan_trip(0);
        let trip = self.planned_arrival_ms;
        let into = (self.rng.unit() * 0.9 * trip as f64) as u64;
        self.plan_trip(start_ms.saturating_sub(into));
        let last = self.last_stop();
        for k in 1..=last {
            let arrive = self.route.stops[k].planned_ms;
            let leave_prev =
                self.route.stops[k - 1].planned_ms + if k > 1 { PLANNED_DWELL_MS } else { 0 };
            if start_ms < leave_prev {
                self.phase = Phase::AtStop;
                self.phase_until_ms = leave_prev;
                self.status = TruckStatus::AtStop;
                self.next_stop = k - 1;
                self.dist = self.cum[k - 1];
                return;
            }
            if start_ms < arrive {
                let f = (start_ms - leave_prev) as f64 / (arrive - leave_prev).max(1) as f64;
                self.phase = Phase::Driving;
                self.status = TruckStatus::EnRoute;
                self.next_stop = k;
                self.dist = self.cum[k - 1] + f * (self.cum[k] - self.cum[k - 1]);
                self.speed_kph = self.cruise_kph;
                return;
            }
        }
        // Past the plan's end (rounding): about to arrive.
        self.phase = Phase::Driving;
        self.status = TruckStatus::EnRoute;
        self.next_stop = last;
        self.dist = self.total() - 1.0;
    }

    pub(super) fn step(&mut self, now_ms: u64, period_ms: Option<u64>, out: &mut Vec<FleetEvent>) {
        let now_ms = now_ms.max(self.last_ms);
        let dt_s = (now_ms - self.last_ms) as f64 / 1000.0;
        self.roll_incidents(now_ms, dt_s);
        self.pace = 0.8 * self.pace + 0.2 * (1.0 + 0.07 * self.rng.noise());
        self.advance(now_ms, out);
        self.update_gauges(now_ms, dt_s);
        if self.phase == Phase::Driving {
            let late = self.lateness_ms(now_ms);
            let status = if late > DELAYED_AFTER_MS {
                TruckStatus::Delayed
            } else if late < ON_TIME_BELOW_MS {
                TruckStatus::EnRoute
            } else {
                self.status
            };
            self.set_status(status, now_ms, out);
        }
        self.check_alerts(now_ms, out);
        if let Some(period) = period_ms {
            if now_ms >= self.next_telemetry_ms {
                out.push(self.telemetry(now_ms));
                self.next_telemetry_ms += period;
                if self.next_telemetry_ms <= now_ms {
                    self.next_telemetry_ms = now_ms + period;
                }
            }
        }
        self.last_ms = now_ms;
    }

    /// Jams, detours and reefer faults start at random, at rates per second of simulated time.
    fn roll_incidents(&mut self, now_ms: u64, dt_s: f64) {
        if self.jam.is_some_and(|j| now_ms >= j.until_ms) {
            self.jam = None;
        }
        if self.detour.is_some_and(|d| now_ms >= d.end_ms) {
            self.detour = None;
        }
        if self.phase == Phase::Driving {
            if self.jam.is_none() && self.rng.chance(dt_s / JAM_EVERY_S) {
                self.jam = Some(Jam {
                    until_ms: now_ms + self.rng.range_ms(2 * 60_000, 16 * 60_000),
                    factor: self.rng.range(0.05, 0.3),
                });
            }
            if self.detour.is_none() && self.rng.chance(dt_s / DETOUR_EVERY_S) {
                let side = if self.rng.chance(0.5) { 1.0 } else { -1.0 };
                self.detour = Some(Detour {
                    start_ms: now_ms,
                    end_ms: now_ms + self.rng.range_ms(60_000, 240_000),
                    peak: side * self.rng.range(40.0, 110.0),
                });
            }
        }
        if let Some(reefer) = &mut self.reefer {
            if reefer.fault_until_ms.is_some_and(|t| now_ms >= t) {
                reefer.fault_until_ms = None;
            }
            if reefer.fault_until_ms.is_none() && self.rng.chance(dt_s / REEFER_FAULT_EVERY_S) {
                reefer.fault_until_ms = Some(now_ms + self.rng.range_ms(3 * 60_000, 9 * 60_000));
            }
        }
    }

    fn driving_speed_kph(&self, now_ms: u64) -> f64 {
        let mut factor = self.pace;
        if let Some(jam) = self.jam.filter(|j| now_ms < j.until_ms) {
            factor *= jam.factor;
        }
        if self.detour.is_some() {
            factor *= 0.8;
        }
        (self.cruise_kph * factor).max(2.0)
    }

    /// Moves the truck from the last step to `now_ms`, through as many phase changes as fit.
    fn advance(&mut self, now_ms: u64, out: &mut Vec<FleetEvent>) {
        let mut t = self.last_ms;
        // Each pass ends a phase or reaches `now_ms`; a cycle has a handful of phases, so the bound
        // only matters after a very long pause, when catching up a few trips is plenty.
        for _ in 0..64 {
            if t >= now_ms {
                break;
            }
            match self.phase {
                Phase::Driving => {
                    let speed = self.driving_speed_kph(t);
                    self.speed_kph = speed;
                    let per_ms = speed * UNITS_PER_S_PER_KPH / 1000.0;
                    let to_next = (self.cum[self.next_stop] - self.dist).max(0.0);
                    let can = (now_ms - t) as f64 * per_ms;
                    if can >= to_next {
                        t = (t + (to_next / per_ms).ceil() as u64).min(now_ms);
                        self.dist = self.cum[self.next_stop];
                        self.fuel_pct -= to_next * FUEL_PER_UNIT;
                        self.arrive(t, out);
                    } else {
                        self.dist += can;
                        self.fuel_pct -= can * FUEL_PER_UNIT;
                        t = now_ms;
                    }
                }
                _ if self.phase_until_ms <= now_ms => {
                    t = self.phase_until_ms.max(t);
                    self.end_wait(t, out);
                }
                _ => t = now_ms,
            }
        }
        if t < now_ms && self.phase != Phase::Driving {
            // Out of passes after a long pause: this wait ends at the next step.
            self.phase_until_ms = self.phase_until_ms.max(now_ms);
        }
        self.fuel_pct = self.fuel_pct.clamp(0.0, 100.0);
    }

    fn arrive(&mut self, at_ms: u64, out: &mut Vec<FleetEvent>) {
        self.jam = None;
        self.detour = None;
        self.speed_kph = 0.0;
        if self.next_stop >= self.last_stop() {
            self.arrived_ms = at_ms;
            self.phase = Phase::Unloading;
            self.phase_until_ms = at_ms + self.rng.range_ms(60_000, 100_000);
            self.set_status(TruckStatus::Unloading, at_ms, out);
        } else {
            self.phase = Phase::AtStop;
            self.phase_until_ms = at_ms + self.rng.range_ms(40_000, 90_000);
            self.set_status(TruckStatus::AtStop, at_ms, out);
        }
    }

    fn end_wait(&mut self, at_ms: u64, out: &mut Vec<FleetEvent>) {
        match self.phase {
            Phase::Loading => {
                self.phase = Phase::Driving;
                self.next_stop = 1.min(self.last_stop());
                self.set_status(TruckStatus::EnRoute, at_ms, out);
            }
            Phase::AtStop => {
                self.phase = Phase::Driving;
                self.next_stop = (self.next_stop + 1).min(self.last_stop());
                let status = if self.lateness_ms(at_ms) > DELAYED_AFTER_MS {
                    TruckStatus::Delayed
                } else {
                    TruckStatus::EnRoute
                };
                self.set_status(status, at_ms, out);
            }
            Phase::Unloading => {
                self.phase = Phase::Idle;
                self.phase_until_ms = at_ms + self.rng.range_ms(30_000, 90_000);
                if self.driver_min_left < DRIVER_ALERT_MIN {
                    // Out of hours: a relief driver takes over at the depot.
                    self.driver_min_left = SHIFT_MIN - self.rng.range(0.0, 30.0);
                }
                self.set_status(TruckStatus::Idle, at_ms, out);
            }
            Phase::Idle => {
                self.phase = Phase::Loading;
                self.phase_until_ms = at_ms + self.rng.range_ms(60_000, 120_000);
                self.plan_trip(self.phase_until_ms);
                self.dist = 0.0;
                self.next_stop = 0;
                if self.fuel_pct < 45.0 {
                    self.fuel_pct = 100.0;
                }
                self.set_status(TruckStatus::Loading, at_ms, out);
            }
            Phase::Driving => {}
        }
    }

    /// Sets the status and reports it when it or the stop differs from the last report.
    fn set_status(&mut self, status: TruckStatus, at_ms: u64, out: &mut Vec<FleetEvent>) {
        self.status = status;
        if self.reported == (status, self.next_stop) {
            return;
        }
        self.reported = (status, self.next_stop);
        out.push(FleetEvent::Status {
            truck: self.id.clone(),
            at_ms,
            status,
            next_stop: self.next_stop,
        });
    }

    /// Driver minutes, reefer temperature.
    fn update_gauges(&mut self, now_ms: u64, dt_s: f64) {
        if self.phase != Phase::Idle {
            self.driver_min_left = (self.driver_min_left - dt_s / 60.0).max(0.0);
        }
        let door_open = matches!(
            self.phase,
            Phase::AtStop | Phase::Loading | Phase::Unloading
        );
        let noise = self.rng.noise();
        if let Some(reefer) = &mut self.reefer {
            let center = (reefer.band.min_c + reefer.band.max_c) as f64 / 2.0;
            if reefer.fault_until_ms.is_some_and(|t| now_ms < t) {
                reefer.temp_c += 0.02 * dt_s;
            } else {
                reefer.temp_c += (center - reefer.temp_c) * (1.0 - (-dt_s / 150.0).exp());
            }
            if door_open {
                reefer.temp_c += 0.005 * dt_s;
            }
            reefer.temp_c += noise * 0.03 * dt_s.sqrt();
            reefer.temp_c = reefer.temp_c.clamp(-40.0, 40.0);
        }
    }

    /// Estimated arrival at the final depot minus the plan: positive when late.
    fn lateness_ms(&self, now_ms: u64) -> i64 {
        self.eta_ms(now_ms) as i64 - self.planned_arrival_ms as i64
    }

    fn eta_ms(&self, now_ms: u64) -> u64 {
        let last = self.last_stop();
        let dwells_after = |stop: usize| (stop..last).count() as u64 * PLANNED_DWELL_MS;
        let remaining = self.drive_ms(self.total() - self.dist);
        match self.phase {
            Phase::Loading => self.phase_until_ms.max(now_ms) + remaining + dwells_after(1),
            Phase::Driving => {
                let jam_extra = self.jam.filter(|j| now_ms < j.until_ms).map_or(0, |j| {
                    ((j.until_ms - now_ms) as f64 * (1.0 - j.factor)) as u64
                });
                now_ms + remaining + jam_extra + dwells_after(self.next_stop.max(1))
            }
            Phase::AtStop => {
                self.phase_until_ms.max(now_ms) + remaining + dwells_after(self.next_stop + 1)
            }
            Phase::Unloading | Phase::Idle => self.arrived_ms,
        }
    }

    fn route_point(&self, now_ms: u64) -> (Point, f64) {
        let stops = &self.route.stops;
        let k = self.next_stop.min(self.last_stop());
        if self.phase != Phase::Driving || k == 0 {
            let at = if self.phase == Phase::Loading { 0 } else { k };
            return (stops[at].position, 0.0);
        }
        let (a, b) = (stops[k - 1].position, stops[k].position);
        let len = (self.cum[k] - self.cum[k - 1]).max(1e-9);
        let f = ((self.dist - self.cum[k - 1]) / len).clamp(0.0, 1.0);
        let (dx, dy) = ((b.x - a.x) as f64, (b.y - a.y) as f64);
        let offset = self.detour.map_or(0.0, |d| d.offset(now_ms));
        let (nx, ny) = (-dy / len, dx / len);
        let x = a.x as f64 + f * dx + nx * offset;
        let y = a.y as f64 + f * dy + ny * offset;
        (
            point(x.clamp(0.0, 1000.0), y.clamp(0.0, 1000.0)),
            offset.abs(),
        )
    }

    fn check_alerts(&mut self, now_ms: u64, out: &mut Vec<FleetEvent>) {
        let late = self.lateness_ms(now_ms);
        let trip_open = matches!(self.phase, Phase::Loading | Phase::Driving | Phase::AtStop);
        let late_min = late / 60_000;
        self.toggle_alert(
            AlertKind::Delay,
            trip_open && late > DELAY_ALERT_MS,
            !trip_open || late < DELAY_CLEAR_MS,
            || format!("Running {late_min} min behind plan"),
            now_ms,
            out,
        );

        if let Some(reefer) = self.reefer {
            let (t, band) = (reefer.temp_c, reefer.band);
            let (lo, hi) = (band.min_c as f64, band.max_c as f64);
            self.toggle_alert(
                AlertKind::Temperature,
                t < lo - 0.1 || t > hi + 0.1,
                t >= lo + 0.3 && t <= hi - 0.3,
                || format!("Reefer at {t:.1} °C, outside {lo:.0}..{hi:.0} °C"),
                now_ms,
                out,
            );
        }

        let (_, off) = self.route_point(now_ms);
        let heading_to = self.route.stops[self.next_stop.min(self.last_stop())]
            .name
            .clone();
        self.toggle_alert(
            AlertKind::OffRoute,
            off > OFF_ROUTE_ALERT,
            off < OFF_ROUTE_CLEAR,
            || format!("Left the planned route on the way to {heading_to}"),
            now_ms,
            out,
        );

        let left = self.driver_min_left;
        self.toggle_alert(
            AlertKind::DriverHours,
            left < DRIVER_ALERT_MIN,
            left >= DRIVER_ALERT_MIN,
            || format!("Driver has {left:.0} min of driving time left"),
            now_ms,
            out,
        );
    }

    fn toggle_alert(
        &mut self,
        kind: AlertKind,
        raise: bool,
        clear: bool,
        message: impl FnOnce() -> String,
        now_ms: u64,
        out: &mut Vec<FleetEvent>,
    ) {
        let active = self.alerts.iter().any(|a| a.kind == kind);
        if !active && raise {
            // Its id is the raising event's, assigned by the log.
            let alert = Alert {
                id: 0,
                kind,
                message: message(),
                raised_ms: now_ms,
                acked: None,
            };
            self.alerts.push(alert.clone());
            out.push(FleetEvent::Alert {
                truck: self.id.clone(),
                at_ms: now_ms,
                alert,
            });
        } else if active && clear {
            self.alerts.retain(|a| a.kind != kind);
            out.push(FleetEvent::AlertCleared {
                truck: self.id.clone(),
                at_ms: now_ms,
                kind,
            });
        }
    }

    fn progress(&self) -> f32 {
        match self.phase {
            Phase::Loading => 0.0,
            Phase::Unloading | Phase::Idle => 1.0,
            _ => (self.dist / self.total().max(1e-9)).clamp(0.0, 1.0) as f32,
        }
    }

    fn reported_speed(&self) -> f32 {
        if self.phase == Phase::Driving {
            self.speed_kph as f32
        } else {
            0.0
        }
    }

    fn telemetry(&self, now_ms: u64) -> FleetEvent {
        FleetEvent::Telemetry {
            truck: self.id.clone(),
            at_ms: now_ms,
            position: self.route_point(now_ms).0,
            progress: self.progress(),
            speed_kph: self.reported_speed(),
            eta_ms: self.eta_ms(now_ms),
            planned_arrival_ms: self.planned_arrival_ms,
            fuel_pct: self.fuel_pct as f32,
            reefer_c: self.reefer.map(|r| r.temp_c as f32),
            driver_minutes_left: self.driver_min_left.ceil() as u32,
        }
    }

    pub(super) fn state(&self) -> TruckState {
        let now_ms = self.last_ms;
        TruckState {
            id: self.id.clone(),
            driver: self.driver.clone(),
            route_id: self.route.id.clone(),
            route_name: self.route.name.clone(),
            status: self.status,
            next_stop: self.next_stop,
            progress: self.progress(),
            position: self.route_point(now_ms).0,
            speed_kph: self.reported_speed(),
            planned_arrival_ms: self.planned_arrival_ms,
            eta_ms: self.eta_ms(now_ms),
            fuel_pct: self.fuel_pct as f32,
            reefer_c: self.reefer.map(|r| r.temp_c as f32),
            reefer_band: self.reefer.map(|r| r.band),
            driver_minutes_left: self.driver_min_left.ceil() as u32,
            alerts: self.alerts.clone(),
            updated_ms: now_ms,
            last_event_id: 0,
        }
    }
}

/// A loop from `home` through 2 to 4 stops fanned out around it, and back.
pub(super) fn make_route(truck: &str, home: &Depot, rng: &mut Rng) -> Route {
    let count = 2 + rng.below(3);
    let start = rng.range(0.0, TAU);
    let spread = rng.range(1.2, 2.4);
    let depot_stop = || Stop {
        name: home.name.clone(),
        position: home.position,
        planned_ms: 0,
    };
    let mut stops = vec![depot_stop()];
    let mut names: Vec<String> = Vec::new();
    for k in 0..count {
        let angle = start + spread * k as f64 / (count - 1) as f64;
        let radius = rng.range(120.0, 320.0);
        let x = clamp_plane(home.position.x as f64 + radius * angle.cos());
        let y = clamp_plane(home.position.y as f64 + radius * angle.sin());
        let mut name = String::new();
        for _ in 0..8 {
            name = format!(
                "{} {}",
                PLACES[rng.below(PLACES.len())],
                KINDS[rng.below(KINDS.len())]
            );
            if !names.contains(&name) {
                break;
            }
        }
        names.push(name.clone());
        stops.push(Stop {
            name,
            position: point(x, y),
            planned_ms: 0,
        });
    }
    stops.push(depot_stop());
    let number = truck.trim_start_matches("T-");
    Route {
        id: format!("R-{number}"),
        name: format!("{} loop via {}", home.name, names[0]),
        stops,
    }
}
