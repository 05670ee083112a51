//! What a truck's positions mean against its trip plan: progress, the next stop, arrivals and
//! departures, an ETA, a status and alerts, derived from nothing but raw position reports and
//! the plan. One [`Trip`] per truck, a sans-IO state machine: [`Trip::set_plan`],
//! [`Trip::report`] and [`Trip::tick`] are its inputs (time enters as `now_ms` or a report's
//! `at_ms`), [`Trip::insights`] is its current answer and [`Trip::poll_change`] drains what
//! changed, in order, for the caller to turn into events. The same inputs in the same order give
//! the same outputs, bit for bit on a given build: there is no clock, randomness or hash order
//! inside, and every sum is taken in input order. (Another platform's `sin` may differ in the
//! last bit, which is why the server derives once and carries the results in its events.)
//!
//! # The plan's path
//! A plan's stops are joined by legs. A leg is the great circle between two stops, or, when the
//! later stop lists `via` points, the chain of great-circle segments through them: real roads
//! stray far from a straight leg (I-65 runs up to 23 km west of the great circle from Chicago to
//! Indianapolis), and a leg judged off-route at 5 km must follow the road roughly.
//!
//! # How each output is derived
//! - **Progress**: the truck's position is projected on the leg it is on (the one ending at the
//!   stop it heads to); progress is the distance along the path to that projection over the
//!   path's length. It never decreases: a standing truck's GPS jitter, or a projection sliding
//!   back on a bend, would otherwise make it flicker. Arriving at a stop counts its legs done;
//!   arriving at the last one makes it exactly 1. (The ETA's remaining distance follows the
//!   truck's actual projection, so a truck that really turns back gets a later ETA.)
//! - **Stops**: a stop is arrived at by the first report within its radius, and departed by
//!   the first report beyond its radius plus [`TripConfig::exit_margin_m`] (so GPS noise at the
//!   edge of a yard does not make it leave). The first stop is where the trip starts: if the
//!   truck was never seen inside it, it counts as departed once the truck is more than its
//!   radius along the first leg. A stop the truck drives past without entering its radius is
//!   skipped once the truck is more than that radius along the next leg and nearer to the next
//!   leg than to the current one by more than the radius. Departing the last stop ends the trip.
//! - **ETA** at the last stop: the remaining distance along the path over a recent moving
//!   speed. Speed is measured over intervals between fixes at least
//!   [`TripConfig::speed_sample_ms`] apart (so a 1 Hz tracker's jitter is not speed); an
//!   interval below [`TripConfig::moving_kph`] is a stop and does not count (so a red light or
//!   a stop's dwell does not stretch the ETA to infinity). The recent moving speed is the
//!   distance-weighted average speed of the latest [`TripConfig::speed_window_ms`] of moving
//!   intervals, however long ago the truck stopped; weighting by distance lets the highway
//!   count more than the crawl into a stop. Before the truck has moved it falls back to the
//!   report's own speed, then to the plan's average pace (its length over its planned time).
//!   Before the truck leaves the first stop it does not leave before that stop's planned time.
//!   The plan holds arrival times only, so a dwell still ahead is not in the ETA (a dwell is
//!   counted as it happens). Once the last stop is reached the ETA is that arrival.
//! - **Status**: `AtStop` within a stop's radius; `Idle` with no plan or no position, or after
//!   standing still ([`TripConfig::still_radius_m`]) for [`TripConfig::idle_after_ms`] away from
//!   every stop; `Delayed` when the ETA is more than [`TripConfig::late_after_ms`] past the plan;
//!   `EnRoute` otherwise.
//! - **Alerts**, each raised when its condition starts to hold and cleared when it stops:
//!   `Delay` (the ETA more than [`TripConfig::late_after_ms`] past the plan, until the trip
//!   ends), `Temperature` (the last reefer reading outside the plan's band), `OffRoute` (more than
//!   [`TripConfig::off_route_m`] from every leg, until the trip ends), `NoSignal` (the newest
//!   position [`TripConfig::stale_after_ms`] or more older than the latest time known, judged on
//!   every input: [`Trip::poll_timeout`] says when to [`Trip::tick`]).
//!
//! Reports must come in order of `at_ms`: one not after the last applied is refused (a retry, or
//! a device replaying a buffer out of order), so no output ever depends on arrival order.

use crate::geo::{self, LatLon};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// A stop's radius when the plan gives none, in metres.
pub const DEFAULT_RADIUS_M: f64 = 300.0;

/// The most stops and `via` points a plan may have together: every report is projected on the
/// path, so its length bounds the cost of a report.
pub const MAX_PLAN_POINTS: usize = 2_000;

/// The most moving intervals the ETA's speed is taken over (a 15-minute window of 30-second
/// samples holds about 30).
const MAX_SPEED_INTERVALS: usize = 256;

fn default_radius_m() -> f64 {
    DEFAULT_RADIUS_M
}

/// A stop of a trip plan. JSON: `{"name", "lat", "lon", "planned_ms", "radius_m"?, "via"?}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStop {
    pub name: String,
    #[serde(flatten)]
    pub position: LatLon,
    /// Planned arrival, Unix ms. Not before the previous stop's.
    pub planned_ms: u64,
    /// The truck is at the stop within this many metres of it; [`DEFAULT_RADIUS_M`] when absent.
    #[serde(default = "default_radius_m")]
    pub radius_m: f64,
    /// Shape points, in order, of the leg from the previous stop to this one, so the leg follows
    /// the road (`[{"lat","lon"}, …]`); a straight great-circle leg when empty. Ignored on the
    /// first stop.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub via: Vec<LatLon>,
}

/// A reefer trailer's allowed temperature band, in °C (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReeferBand {
    pub min_c: f32,
    pub max_c: f32,
}

/// A truck's trip: who drives, and the stops in order (at least two). Checked by
/// [`TripPlan::validate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TripPlan {
    pub driver: String,
    pub route_name: String,
    pub stops: Vec<PlannedStop>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reefer_band: Option<ReeferBand>,
}

/// Why a plan was refused; the message names the field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("stops: a plan needs at least two stops, got {0}")]
    TooFewStops(usize),
    #[error("stops: a plan has at most {MAX_PLAN_POINTS} stops and via points together, got {0}")]
    TooManyPoints(usize),
    #[error("stops[{index}].radius_m must be a positive number of metres, got {value}")]
    Radius { index: usize, value: f64 },
    #[error("stops[{index}].planned_ms is before the previous stop's planned_ms")]
    PlannedBeforePrevious { index: usize },
    #[error(
        "reefer_band: min_c and max_c must be numbers with min_c <= max_c, got {min_c}..{max_c}"
    )]
    ReeferBand { min_c: f32, max_c: f32 },
}

impl TripPlan {
    /// Checks what serde cannot: at least two stops, at most [`MAX_PLAN_POINTS`] points, each
    /// radius positive and finite, planned times in order, a band with `min_c <= max_c`.
    /// Positions are valid by construction ([`LatLon`]).
    pub fn validate(&self) -> Result<(), PlanError> {
        if self.stops.len() < 2 {
            return Err(PlanError::TooFewStops(self.stops.len()));
        }
        let points: usize = self.stops.iter().map(|s| 1 + s.via.len()).sum();
        if points > MAX_PLAN_POINTS {
            return Err(PlanError::TooManyPoints(points));
        }
        for (index, stop) in self.stops.iter().enumerate() {
            if !stop.radius_m.is_finite() || stop.radius_m <= 0.0 {
                return Err(PlanError::Radius {
                    index,
                    value: stop.radius_m,
                });
            }
            if index > 0 && stop.planned_ms < self.stops[index - 1].planned_ms {
                return Err(PlanError::PlannedBeforePrevious { index });
            }
        }
        if let Some(ReeferBand { min_c, max_c }) = self.reefer_band {
            // Written so that NaN fails too.
            if !(min_c.is_finite() && max_c.is_finite() && min_c <= max_c) {
                return Err(PlanError::ReeferBand { min_c, max_c });
            }
        }
        Ok(())
    }

    /// The last stop's planned arrival, Unix ms (0 for a plan without stops).
    pub fn planned_arrival_ms(&self) -> u64 {
        self.stops.last().map_or(0, |s| s.planned_ms)
    }
}

/// One position report, as a telematics unit or a phone sends it. JSON: `{"at_ms", "lat",
/// "lon"}` and the optional readings. A negative or non-finite reading counts as absent
/// (trackers send `-1` for an unknown speed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PositionReport {
    /// When the position was fixed, Unix ms (the device's clock).
    pub at_ms: u64,
    #[serde(flatten)]
    pub position: LatLon,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed_kph: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading_deg: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_pct: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reefer_c: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_minutes_left: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub odometer_km: Option<f64>,
}

impl PositionReport {
    /// A report of a position alone, no readings.
    pub fn at(at_ms: u64, position: LatLon) -> Self {
        PositionReport {
            at_ms,
            position,
            speed_kph: None,
            heading_deg: None,
            fuel_pct: None,
            reefer_c: None,
            driver_minutes_left: None,
            odometer_km: None,
        }
    }
}

/// What a producer knows about a truck, as opposed to what Convoy derives from it: a trip plan
/// or a position report. Simulated and real trucks alike send only facts.
#[derive(Debug, Clone, PartialEq)]
pub enum Fact {
    Plan(TripPlan),
    Position(PositionReport),
}

/// Why a report was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("at_ms {at_ms} is not after the last position's ({last_ms})")]
    NotNewer { at_ms: u64, last_ms: u64 },
}

/// What a truck is doing, as derived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TripStatus {
    EnRoute,
    AtStop,
    Delayed,
    Idle,
}

/// A derived alert's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TripAlertKind {
    Delay,
    Temperature,
    OffRoute,
    NoSignal,
}

impl TripAlertKind {
    /// Every kind, in the order changes and [`TripInsights::alerts`] list them.
    pub const ALL: [TripAlertKind; 4] = [
        TripAlertKind::Delay,
        TripAlertKind::Temperature,
        TripAlertKind::OffRoute,
        TripAlertKind::NoSignal,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// An alert that holds now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActiveAlert {
    pub kind: TripAlertKind,
    /// When it was raised: the `at_ms` of the report, or the `now_ms` of the tick or plan.
    pub raised_ms: u64,
    /// For operators, fixed when raised, e.g. "ETA 23 min behind plan".
    pub message: String,
}

/// One stop's visit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopVisit {
    /// The first report within the stop's radius.
    pub arrived_ms: Option<u64>,
    /// The first report beyond its radius after arriving (for the first stop, also without
    /// arriving: see the module docs).
    pub departed_ms: Option<u64>,
    /// Driven past without entering its radius.
    pub skipped: bool,
}

/// What a truck's reports mean now. [`Trip::insights`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TripInsights {
    pub status: TripStatus,
    /// Fraction of the plan's path done, 0..=1, never decreasing within a plan.
    pub progress: f64,
    /// Index of the stop the truck is heading to or standing at (the last one once reached).
    pub next_stop: usize,
    /// The stop whose radius the truck is in, if any.
    pub at_stop: Option<usize>,
    /// One entry per planned stop (empty without a plan).
    pub stops: Vec<StopVisit>,
    /// Estimated arrival at the last stop, Unix ms; `None` without a plan or a position, or
    /// with no speed to go by.
    pub eta_ms: Option<u64>,
    /// The last stop's planned arrival, Unix ms.
    pub planned_arrival_ms: Option<u64>,
    /// The alerts that hold, in [`TripAlertKind::ALL`] order.
    pub alerts: Vec<ActiveAlert>,
    /// The recent moving speed the ETA goes by, km/h.
    pub moving_kph: Option<f64>,
    /// Distance from the plan's path, metres (`None` without a plan or a position).
    pub off_path_m: Option<f64>,
    /// The newest applied position and its time.
    pub position: Option<LatLon>,
    pub last_fix_ms: Option<u64>,
    /// The last stop has been departed: delay and off-route are no longer judged.
    pub finished: bool,
}

/// One change of [`TripInsights`] worth an event, drained with [`Trip::poll_change`]. Within one
/// input, changes come as: stops (in the order they happened), alerts (in
/// [`TripAlertKind::ALL`] order), status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TripChange {
    StopArrived {
        stop: usize,
        at_ms: u64,
    },
    StopDeparted {
        stop: usize,
        at_ms: u64,
    },
    StopSkipped {
        stop: usize,
        at_ms: u64,
    },
    AlertRaised {
        kind: TripAlertKind,
        at_ms: u64,
        message: String,
    },
    AlertCleared {
        kind: TripAlertKind,
        at_ms: u64,
    },
    StatusChanged {
        from: TripStatus,
        to: TripStatus,
        at_ms: u64,
    },
}

/// The thresholds of the derivation. [`Default`] gives the ones Convoy documents.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TripConfig {
    /// `NoSignal` once the newest position is this old (default 10 min).
    pub stale_after_ms: u64,
    /// `Delay` and `Delayed` once the ETA is more than this past the plan (default 15 min).
    pub late_after_ms: u64,
    /// `Idle` after standing still this long away from every stop (default 10 min).
    pub idle_after_ms: u64,
    /// `OffRoute` beyond this distance from every leg (default 5 km).
    pub off_route_m: f64,
    /// The ETA's speed is taken over this much of the latest moving time (default 15 min).
    pub speed_window_ms: u64,
    /// Speed is measured between fixes at least this far apart (default 30 s).
    pub speed_sample_ms: u64,
    /// An interval at this speed or more is moving (default 5 km/h).
    pub moving_kph: f64,
    /// A truck staying within this distance of where it stopped, and not reporting a moving
    /// speed, stands still (default 100 m).
    pub still_radius_m: f64,
    /// A stop is departed beyond its radius plus this (default 50 m).
    pub exit_margin_m: f64,
}

impl Default for TripConfig {
    fn default() -> Self {
        TripConfig {
            stale_after_ms: 10 * 60_000,
            late_after_ms: 15 * 60_000,
            idle_after_ms: 10 * 60_000,
            off_route_m: 5_000.0,
            speed_window_ms: 15 * 60_000,
            speed_sample_ms: 30_000,
            moving_kph: 5.0,
            still_radius_m: 100.0,
            exit_margin_m: 50.0,
        }
    }
}

/// A plan's path as one chain of points, stops among them: the legs the derivation measures
/// against, and the road a simulated truck drives.
#[derive(Debug, Clone)]
pub struct Path {
    points: Vec<LatLon>,
    /// Distance along the path to each point, metres.
    cum_m: Vec<f64>,
    /// The index in `points` of each stop.
    stop_at: Vec<usize>,
}

impl Path {
    /// The path through `stops` and each one's `via` points, in order.
    pub fn new(stops: &[PlannedStop]) -> Path {
        let mut points = Vec::new();
        let mut stop_at = Vec::with_capacity(stops.len());
        for (i, stop) in stops.iter().enumerate() {
            if i > 0 {
                points.extend_from_slice(&stop.via);
            }
            stop_at.push(points.len());
            points.push(stop.position);
        }
        let mut cum_m = Vec::with_capacity(points.len());
        let mut total = 0.0;
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                total += geo::distance_m(points[i - 1], *p);
            }
            cum_m.push(total);
        }
        Path {
            points,
            cum_m,
            stop_at,
        }
    }

    /// The path's length, metres.
    pub fn total_m(&self) -> f64 {
        self.cum_m.last().copied().unwrap_or(0.0)
    }

    /// Distance along the path to stop `i`.
    pub fn stop_m(&self, i: usize) -> f64 {
        self.cum_m[self.stop_at[i]]
    }

    /// The point `along_m` along the path (clamped to its ends), and the path's bearing there,
    /// degrees. The path must have a point: a valid plan's has at least two.
    pub fn at(&self, along_m: f64) -> (LatLon, f64) {
        let last = self.points.len() - 1;
        if last == 0 {
            return (self.points[0], 0.0);
        }
        let j = self
            .cum_m
            .partition_point(|&c| c <= along_m)
            .saturating_sub(1)
            .min(last - 1);
        let (a, b) = (self.points[j], self.points[j + 1]);
        let length = self.cum_m[j + 1] - self.cum_m[j];
        let f = if length > 0.0 {
            ((along_m - self.cum_m[j]) / length).clamp(0.0, 1.0)
        } else {
            0.0
        };
        let p = geo::intermediate(a, b, f);
        let bearing = if f < 1.0 {
            geo::initial_bearing_deg(p, b)
        } else {
            geo::initial_bearing_deg(a, b)
        };
        (p, bearing)
    }

    /// `p` projected on leg `leg` (stop `leg` to stop `leg + 1`): the distance along the whole
    /// path to the projection, and the distance to the leg. The nearest segment wins; on a tie,
    /// the earlier one.
    fn project_leg(&self, p: LatLon, leg: usize) -> (f64, f64) {
        let (from, to) = (self.stop_at[leg], self.stop_at[leg + 1]);
        let mut best = (self.cum_m[from], f64::INFINITY);
        for j in from..to {
            let proj = geo::project_on_segment(p, self.points[j], self.points[j + 1]);
            if proj.distance_m < best.1 {
                best = (self.cum_m[j] + proj.along_m, proj.distance_m);
            }
        }
        best
    }

    /// The distance from `p` to the nearest leg, metres.
    pub fn distance_m(&self, p: LatLon) -> f64 {
        let mut best = geo::distance_m(p, self.points[0]);
        for j in 0..self.points.len() - 1 {
            best = best.min(geo::distance_to_segment_m(
                p,
                self.points[j],
                self.points[j + 1],
            ));
        }
        best
    }
}

/// The plan and how far through it the truck is.
#[derive(Debug, Clone)]
struct Planned {
    plan: TripPlan,
    path: Path,
    visits: Vec<StopVisit>,
    next_stop: usize,
    /// Distance done along the path (the progress ratchet).
    done_m: f64,
    finished: bool,
}

/// The newest applied report, as the derivation uses it.
#[derive(Debug, Clone, Copy)]
struct Fix {
    at_ms: u64,
    position: LatLon,
    /// Reported speed, when present, finite and not negative.
    speed_kph: Option<f64>,
}

/// A moving interval between speed samples.
#[derive(Debug, Clone, Copy)]
struct Interval {
    distance_m: f64,
    duration_ms: u64,
}

/// One truck's derivation. See the module docs for what it derives and how.
#[derive(Debug, Clone)]
pub struct Trip {
    config: TripConfig,
    planned: Option<Planned>,
    fix: Option<Fix>,
    /// The latest time known: the newest of every tick, plan and report time.
    clock_ms: u64,
    /// Where the truck stopped and since when (reset whenever it moves).
    still: Option<(LatLon, u64)>,
    /// The last speed sample (time, position).
    sample: Option<(u64, LatLon)>,
    moving: VecDeque<Interval>,
    /// The recent moving speed, m/s, once the truck has moved.
    moving_mps: Option<f64>,
    /// The newest reefer reading.
    reefer_c: Option<f32>,
    /// The newest driver-hours reading.
    driver_minutes_left: Option<u32>,
    insights: TripInsights,
    changes: VecDeque<TripChange>,
}

impl Default for Trip {
    fn default() -> Self {
        Trip::new(TripConfig::default())
    }
}

impl Trip {
    /// A truck with no plan and no position yet: `Idle`, no alerts.
    pub fn new(config: TripConfig) -> Self {
        Trip {
            config,
            planned: None,
            fix: None,
            clock_ms: 0,
            still: None,
            sample: None,
            moving: VecDeque::new(),
            moving_mps: None,
            reefer_c: None,
            driver_minutes_left: None,
            insights: TripInsights {
                status: TripStatus::Idle,
                progress: 0.0,
                next_stop: 0,
                at_stop: None,
                stops: Vec::new(),
                eta_ms: None,
                planned_arrival_ms: None,
                alerts: Vec::new(),
                moving_kph: None,
                off_path_m: None,
                position: None,
                last_fix_ms: None,
                finished: false,
            },
            changes: VecDeque::new(),
        }
    }

    /// What the inputs so far mean.
    pub fn insights(&self) -> &TripInsights {
        &self.insights
    }

    /// The newest driver-hours reading of the reports so far (a report without one keeps it).
    pub fn driver_minutes_left(&self) -> Option<u32> {
        self.driver_minutes_left
    }

    /// The plan in force.
    pub fn plan(&self) -> Option<&TripPlan> {
        self.planned.as_ref().map(|p| &p.plan)
    }

    /// The next change since the last call, oldest first; `None` when all are drained.
    pub fn poll_change(&mut self) -> Option<TripChange> {
        self.changes.pop_front()
    }

    /// When to call [`Trip::tick`] next: when the newest position turns stale, unless `NoSignal`
    /// is raised already or there is no position yet.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.alert_active(TripAlertKind::NoSignal) {
            return None;
        }
        self.fix
            .map(|f| f.at_ms.saturating_add(self.config.stale_after_ms))
    }

    /// Puts `plan` in force at `now_ms`, replacing any plan before it (its visits and progress
    /// start afresh). Errs, changing nothing, when [`TripPlan::validate`] does. With a position
    /// already known, the plan is judged against it at once (arrivals then carry `now_ms`).
    pub fn set_plan(&mut self, now_ms: u64, plan: TripPlan) -> Result<(), PlanError> {
        plan.validate()?;
        let path = Path::new(&plan.stops);
        let visits = vec![StopVisit::default(); plan.stops.len()];
        self.planned = Some(Planned {
            plan,
            path,
            visits,
            next_stop: 0,
            done_m: 0.0,
            finished: false,
        });
        self.clock_ms = self.clock_ms.max(now_ms);
        self.derive(now_ms);
        Ok(())
    }

    /// Applies one position report. Errs, changing nothing, when `report.at_ms` is not after the
    /// last applied report's.
    pub fn report(&mut self, report: &PositionReport) -> Result<(), ReportError> {
        let at_ms = report.at_ms;
        if let Some(last) = self.fix {
            if at_ms <= last.at_ms {
                return Err(ReportError::NotNewer {
                    at_ms,
                    last_ms: last.at_ms,
                });
            }
        }
        let position = report.position;
        let speed_kph = report
            .speed_kph
            .map(f64::from)
            .filter(|v| v.is_finite() && *v >= 0.0);
        self.clock_ms = self.clock_ms.max(at_ms);
        if let Some(c) = report.reefer_c.filter(|c| c.is_finite()) {
            self.reefer_c = Some(c);
        }
        if report.driver_minutes_left.is_some() {
            self.driver_minutes_left = report.driver_minutes_left;
        }
        self.measure_speed(at_ms, position);
        let moving_now = speed_kph.is_some_and(|v| v >= self.config.moving_kph);
        match self.still {
            Some((anchor, _))
                if !moving_now
                    && geo::distance_m(anchor, position) <= self.config.still_radius_m => {}
            _ => self.still = Some((position, at_ms)),
        }
        self.fix = Some(Fix {
            at_ms,
            position,
            speed_kph,
        });
        self.derive(at_ms);
        Ok(())
    }

    /// Tells the trip the time is `now_ms`, so that time-based conditions (`NoSignal`) are
    /// judged without a report. Times before the latest known change nothing.
    pub fn tick(&mut self, now_ms: u64) {
        self.clock_ms = self.clock_ms.max(now_ms);
        self.judge_no_signal(now_ms);
    }

    /// Adds the interval since the last speed sample when it is long enough, and keeps the
    /// window's moving speed.
    fn measure_speed(&mut self, at_ms: u64, position: LatLon) {
        let Some((since_ms, from)) = self.sample else {
            self.sample = Some((at_ms, position));
            return;
        };
        let duration_ms = at_ms - since_ms;
        if duration_ms < self.config.speed_sample_ms {
            return;
        }
        self.sample = Some((at_ms, position));
        let distance_m = geo::distance_m(from, position);
        if distance_m / (duration_ms as f64 / 1000.0) * 3.6 >= self.config.moving_kph {
            self.moving.push_back(Interval {
                distance_m,
                duration_ms,
            });
        }
        // Keep the newest intervals that make up the window's moving time (and a bounded
        // number of them, whatever the configuration).
        let mut moving_ms: u64 = self.moving.iter().map(|i| i.duration_ms).sum();
        while let Some(oldest) = self.moving.front() {
            if moving_ms - oldest.duration_ms < self.config.speed_window_ms
                && self.moving.len() <= MAX_SPEED_INTERVALS
            {
                break;
            }
            moving_ms -= oldest.duration_ms;
            self.moving.pop_front();
        }
        // Weighted by distance: the stretches that covered ground (the highway) count more
        // than the crawl into and out of a stop.
        let (mut weighted, mut metres) = (0.0, 0.0);
        for i in &self.moving {
            weighted += i.distance_m * (i.distance_m / (i.duration_ms as f64 / 1000.0));
            metres += i.distance_m;
        }
        if metres > 0.0 {
            self.moving_mps = Some(weighted / metres);
        }
    }

    /// Re-derives everything from the newest fix and the plan at `at_ms`, queueing the changes.
    fn derive(&mut self, at_ms: u64) {
        let config = self.config;
        let fix = self.fix;
        let mut stop_changes = Vec::new();
        let mut delay: Option<String> = None;
        let mut off_route: Option<String> = None;
        let mut temperature: Option<String> = None;
        let mut at_stop = None;
        let mut eta_ms = None;

        if let Some(planned) = self.planned.as_mut() {
            if let Some(fix) = fix {
                planned.advance(&config, fix.position, at_ms, &mut stop_changes);
                at_stop = planned.at_stop(fix.position);
                let current_m = planned.current_m(fix.position);
                planned.done_m = planned.done_m.max(current_m);
                let off_path_m = planned.path.distance_m(fix.position);
                self.insights.off_path_m = Some(off_path_m);
                if !planned.finished && off_path_m > config.off_route_m {
                    off_route = Some(format!("{:.1} km from the route", off_path_m / 1000.0));
                }
                eta_ms = planned.eta_ms(self.moving_mps, fix, at_ms, current_m, &config);
                let planned_ms = planned.plan.planned_arrival_ms();
                if let Some(eta) = eta_ms.filter(|_| !planned.finished) {
                    if eta > planned_ms.saturating_add(config.late_after_ms) {
                        delay = Some(format!(
                            "ETA {} min behind plan",
                            (eta - planned_ms) / 60_000
                        ));
                    }
                }
            } else {
                self.insights.off_path_m = None;
            }
            if let (Some(band), Some(c)) = (planned.plan.reefer_band, self.reefer_c) {
                if c < band.min_c || c > band.max_c {
                    temperature = Some(format!(
                        "Reefer {c:.1} °C outside {:.1}..{:.1} °C",
                        band.min_c, band.max_c
                    ));
                }
            }
            let total = planned.path.total_m();
            self.insights.progress = if planned
                .visits
                .last()
                .is_some_and(|v| v.arrived_ms.is_some())
            {
                1.0
            } else if total > 0.0 {
                (planned.done_m / total).clamp(0.0, 1.0)
            } else {
                0.0
            };
            self.insights.next_stop = planned.next_stop;
            self.insights.stops = planned.visits.clone();
            self.insights.planned_arrival_ms = Some(planned.plan.planned_arrival_ms());
            self.insights.finished = planned.finished;
        } else {
            self.insights.progress = 0.0;
            self.insights.next_stop = 0;
            self.insights.stops = Vec::new();
            self.insights.planned_arrival_ms = None;
            self.insights.off_path_m = None;
            self.insights.finished = false;
        }
        self.insights.at_stop = at_stop;
        self.insights.eta_ms = eta_ms;
        self.insights.moving_kph = self.moving_mps.map(|v| v * 3.6);
        self.insights.position = fix.map(|f| f.position);
        self.insights.last_fix_ms = fix.map(|f| f.at_ms);
        self.changes.extend(stop_changes);

        self.judge(TripAlertKind::Delay, delay, at_ms);
        self.judge(TripAlertKind::Temperature, temperature, at_ms);
        self.judge(TripAlertKind::OffRoute, off_route, at_ms);
        self.judge_no_signal(at_ms);

        let status = match (&self.planned, fix) {
            (Some(_), Some(fix)) => {
                let still_ms = self.still.map_or(0, |(_, since)| fix.at_ms - since);
                if at_stop.is_some() {
                    TripStatus::AtStop
                } else if still_ms >= config.idle_after_ms {
                    TripStatus::Idle
                } else if self.alert_active(TripAlertKind::Delay) {
                    TripStatus::Delayed
                } else {
                    TripStatus::EnRoute
                }
            }
            _ => TripStatus::Idle,
        };
        if status != self.insights.status {
            self.changes.push_back(TripChange::StatusChanged {
                from: self.insights.status,
                to: status,
                at_ms,
            });
            self.insights.status = status;
        }
    }

    fn judge_no_signal(&mut self, at_ms: u64) {
        let stale = self
            .fix
            .map(|f| self.clock_ms.saturating_sub(f.at_ms))
            .filter(|age| *age >= self.config.stale_after_ms);
        let message = stale.map(|age| format!("No position for {} min", age / 60_000));
        self.judge(TripAlertKind::NoSignal, message, at_ms);
    }

    fn alert_active(&self, kind: TripAlertKind) -> bool {
        self.insights.alerts.iter().any(|a| a.kind == kind)
    }

    /// Raises `kind` when `holds` (carrying its message) and it is not raised; clears it when it
    /// is raised and no longer holds.
    fn judge(&mut self, kind: TripAlertKind, holds: Option<String>, at_ms: u64) {
        let active = self.alert_active(kind);
        match holds {
            Some(message) if !active => {
                let at = self
                    .insights
                    .alerts
                    .partition_point(|a| a.kind.index() < kind.index());
                self.insights.alerts.insert(
                    at,
                    ActiveAlert {
                        kind,
                        raised_ms: at_ms,
                        message: message.clone(),
                    },
                );
                self.changes.push_back(TripChange::AlertRaised {
                    kind,
                    at_ms,
                    message,
                });
            }
            None if active => {
                self.insights.alerts.retain(|a| a.kind != kind);
                self.changes
                    .push_back(TripChange::AlertCleared { kind, at_ms });
            }
            _ => {}
        }
    }
}

impl Planned {
    /// Moves through the stops as far as the position `p` at `at_ms` allows: arrivals,
    /// departures and skips, in order.
    fn advance(&mut self, config: &TripConfig, p: LatLon, at_ms: u64, out: &mut Vec<TripChange>) {
        let last = self.plan.stops.len() - 1;
        while !self.finished {
            let s = self.next_stop;
            let stop = &self.plan.stops[s];
            let d = geo::distance_m(p, stop.position);
            let visit = self.visits[s];
            if visit.arrived_ms.is_none() {
                if d <= stop.radius_m {
                    self.visits[s].arrived_ms = Some(at_ms);
                    self.done_m = self.done_m.max(self.path.stop_m(s));
                    out.push(TripChange::StopArrived { stop: s, at_ms });
                } else if s == 0 {
                    // Never seen at the start: it has left once it is on its way along the
                    // first leg (not while it is still coming to the start from elsewhere).
                    let (along_m, _) = self.path.project_leg(p, 0);
                    if along_m <= stop.radius_m {
                        break;
                    }
                    self.visits[0].departed_ms = Some(at_ms);
                    self.next_stop = 1;
                    out.push(TripChange::StopDeparted { stop: 0, at_ms });
                } else if s < last && self.passed(p, s) {
                    self.visits[s].skipped = true;
                    self.done_m = self.done_m.max(self.path.stop_m(s));
                    self.next_stop = s + 1;
                    out.push(TripChange::StopSkipped { stop: s, at_ms });
                } else {
                    break;
                }
            } else if visit.departed_ms.is_none() && d > stop.radius_m + config.exit_margin_m {
                self.visits[s].departed_ms = Some(at_ms);
                out.push(TripChange::StopDeparted { stop: s, at_ms });
                if s == last {
                    self.finished = true;
                } else {
                    self.next_stop = s + 1;
                }
            } else {
                break;
            }
        }
    }

    /// Whether `p` is past intermediate stop `s` without having entered its radius: more than
    /// the radius along the next leg, and nearer to it than to the current leg by more than the
    /// radius (so a path that doubles back on itself does not skip ahead).
    fn passed(&self, p: LatLon, s: usize) -> bool {
        let radius = self.plan.stops[s].radius_m;
        let (along_m, to_next) = self.path.project_leg(p, s);
        let (_, to_current) = self.path.project_leg(p, s - 1);
        along_m - self.path.stop_m(s) > radius && to_next + radius < to_current
    }

    /// The stop whose radius `p` is in: the one arrived at and not departed, else the first
    /// whose radius holds it.
    fn at_stop(&self, p: LatLon) -> Option<usize> {
        let s = self.next_stop;
        let visit = self.visits[s];
        if visit.arrived_ms.is_some() && visit.departed_ms.is_none() {
            return Some(s);
        }
        self.plan
            .stops
            .iter()
            .position(|stop| geo::distance_m(p, stop.position) <= stop.radius_m)
    }

    /// Where the truck is along the path now, metres, without the ratchet.
    fn current_m(&self, p: LatLon) -> f64 {
        let s = self.next_stop;
        let visit = self.visits[s];
        if self.finished {
            self.path.total_m()
        } else if visit.arrived_ms.is_some() {
            self.path.stop_m(s)
        } else if s == 0 {
            0.0
        } else {
            self.path.project_leg(p, s - 1).0
        }
    }

    /// The ETA at the last stop (see the module docs).
    fn eta_ms(
        &self,
        moving_mps: Option<f64>,
        fix: Fix,
        at_ms: u64,
        current_m: f64,
        config: &TripConfig,
    ) -> Option<u64> {
        if let Some(arrived) = self.visits.last().and_then(|v| v.arrived_ms) {
            return Some(arrived);
        }
        let start_ms = if self.visits[0].departed_ms.is_none() {
            at_ms.max(self.plan.stops[0].planned_ms)
        } else {
            at_ms
        };
        let remaining_m = (self.path.total_m() - current_m).max(0.0);
        if remaining_m == 0.0 {
            return Some(start_ms);
        }
        let reported = fix
            .speed_kph
            .filter(|v| *v >= config.moving_kph)
            .map(|v| v / 3.6);
        let first = self.plan.stops[0].planned_ms;
        let span_ms = self.plan.planned_arrival_ms() - first;
        let pace = (span_ms > 0).then(|| self.path.total_m() / (span_ms as f64 / 1000.0));
        let speed = moving_mps
            .or(reported)
            .or(pace)
            .filter(|v| v.is_finite() && *v > 0.0)?;
        let ms = (remaining_m / speed * 1000.0).round();
        Some(start_ms.saturating_add(ms as u64))
    }
}
