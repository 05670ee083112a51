//! Facts in, events out: what a producer knows about a truck (a plan, a position report) turned
//! into the fleet events the log carries, by the truck's [`Trip`]. Sans-IO like the trip: time
//! enters as `now_ms`.
//!
//! The node that appends derives once and carries the results in the events (`progress`,
//! `next_stop`, `eta_ms`, visits, alerts, status), so every node, tab and restart reads the same
//! numbers from the same log. Every node also keeps a trip per truck in step with the log by
//! [`follow`]ing each appended event, so any node can derive the next one.

use crate::trip::{PlanError, ReportError, Trip, TripChange};
use crate::wire::{Alert, AlertKind, FleetEvent};

pub use crate::trip::Fact;

/// `DriverHours` is raised when a report's `driver_minutes_left` is below this, and cleared when
/// a later one is at or above it.
pub const DRIVER_HOURS_LOW_MIN: u32 = 30;

/// Why a fact was refused; nothing was derived and the trip is unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeriveError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Report(#[from] ReportError),
}

/// Applies one fact to the truck's trip and returns the events to append, in order: the plan or
/// position event first, then stop, alert and status events from [`Trip::poll_change`] (a
/// `driver_hours` alert among the alerts). A plan takes effect at `now_ms`; a position at its own
/// `at_ms`, and one not newer than the trip's last is refused.
pub fn derive(
    trip: &mut Trip,
    truck: &str,
    fact: Fact,
    now_ms: u64,
) -> Result<Vec<FleetEvent>, DeriveError> {
    // Changes left by whoever fed the trip before belong to earlier events.
    while trip.poll_change().is_some() {}
    let mut out = Vec::new();
    match fact {
        Fact::Plan(plan) => {
            trip.set_plan(now_ms, plan.clone())?;
            out.push(FleetEvent::Plan {
                truck: truck.to_owned(),
                at_ms: now_ms,
                plan,
            });
            drain(trip, truck, None, &mut out);
        }
        Fact::Position(report) => {
            let before = trip.driver_minutes_left();
            trip.report(&report)?;
            let insights = trip.insights();
            out.push(FleetEvent::Position {
                truck: truck.to_owned(),
                at_ms: report.at_ms,
                lat: report.position.lat(),
                lon: report.position.lon(),
                speed_kph: report.speed_kph,
                heading_deg: report.heading_deg,
                fuel_pct: report.fuel_pct,
                reefer_c: report.reefer_c,
                driver_minutes_left: report.driver_minutes_left,
                odometer_km: report.odometer_km,
                progress: insights.progress as f32,
                next_stop: insights.next_stop,
                eta_ms: insights.eta_ms,
                planned_arrival_ms: insights.planned_arrival_ms,
            });
            let hours = driver_hours(truck, report.at_ms, before, trip.driver_minutes_left());
            drain(trip, truck, hours, &mut out);
        }
    }
    Ok(out)
}

/// The time-driven changes at `now_ms` (`no_signal`): [`Trip::tick`] turned into events.
pub fn tick(trip: &mut Trip, truck: &str, now_ms: u64) -> Vec<FleetEvent> {
    while trip.poll_change().is_some() {}
    trip.tick(now_ms);
    let mut out = Vec::new();
    drain(trip, truck, None, &mut out);
    out
}

/// Keeps `trip` in step with an appended event, whichever node derived it: a plan is put in
/// force at its `at_ms`, a position's report is applied, and a `no_signal` alert ticks the trip
/// to its time (so the trip knows the alert is raised, and the next position clears it). Other
/// events, and a position the trip has already seen, change nothing. The trip's changes are
/// dropped: the log carries them already.
pub fn follow(trip: &mut Trip, event: &FleetEvent) {
    match event {
        FleetEvent::Plan { at_ms, plan, .. } => {
            let _ = trip.set_plan(*at_ms, plan.clone());
        }
        FleetEvent::Position { .. } => {
            if let Some(report) = event.position_report() {
                let _ = trip.report(&report);
            }
        }
        FleetEvent::Alert { at_ms, alert, .. } if alert.kind == AlertKind::NoSignal => {
            trip.tick(*at_ms);
        }
        _ => {}
    }
    while trip.poll_change().is_some() {}
}

/// The `driver_hours` alert or its clearing when the reading crossed [`DRIVER_HOURS_LOW_MIN`].
fn driver_hours(
    truck: &str,
    at_ms: u64,
    before: Option<u32>,
    now: Option<u32>,
) -> Option<FleetEvent> {
    let low = |minutes: Option<u32>| minutes.is_some_and(|m| m < DRIVER_HOURS_LOW_MIN);
    match (low(before), low(now)) {
        (false, true) => Some(FleetEvent::Alert {
            truck: truck.to_owned(),
            at_ms,
            alert: Alert {
                id: 0,
                kind: AlertKind::DriverHours,
                message: format!("{} min of driving time left", now.unwrap_or_default()),
                raised_ms: at_ms,
                acked: None,
            },
        }),
        (true, false) if now.is_some() => Some(FleetEvent::AlertCleared {
            truck: truck.to_owned(),
            at_ms,
            kind: AlertKind::DriverHours,
        }),
        _ => None,
    }
}

/// The trip's pending changes as events (stops, alerts, then status), with `extra_alert` after
/// the trip's alerts and before the status.
fn drain(trip: &mut Trip, truck: &str, extra_alert: Option<FleetEvent>, out: &mut Vec<FleetEvent>) {
    let mut status = None;
    while let Some(change) = trip.poll_change() {
        let truck = truck.to_owned();
        let event = match change {
            TripChange::StopArrived { stop, at_ms }
            | TripChange::StopDeparted { stop, at_ms }
            | TripChange::StopSkipped { stop, at_ms } => {
                let visit = trip.insights().stops.get(stop).copied().unwrap_or_default();
                FleetEvent::Stop {
                    truck,
                    at_ms,
                    stop,
                    arrived_ms: visit.arrived_ms,
                    departed_ms: visit.departed_ms,
                    skipped: visit.skipped,
                }
            }
            TripChange::AlertRaised {
                kind,
                at_ms,
                message,
            } => FleetEvent::Alert {
                truck,
                at_ms,
                alert: Alert {
                    id: 0,
                    kind: kind.into(),
                    message,
                    raised_ms: at_ms,
                    acked: None,
                },
            },
            TripChange::AlertCleared { kind, at_ms } => FleetEvent::AlertCleared {
                truck,
                at_ms,
                kind: kind.into(),
            },
            TripChange::StatusChanged { to, at_ms, .. } => {
                status = Some(FleetEvent::Status {
                    truck,
                    at_ms,
                    status: to.into(),
                    next_stop: trip.insights().next_stop,
                });
                continue;
            }
        };
        out.push(event);
    }
    out.extend(extra_alert);
    out.extend(status);
}
