//! Wire types shared by convoy-server and the app: fleet events, snapshots and the stream's
//! query parameters. Every event is a tagged serde enum whose tag is also its SSE `event:` name.

use crate::flat::flat_enum;
use crate::geo::LatLon;
use crate::trip::{PlannedStop, PositionReport, ReeferBand, TripAlertKind, TripPlan, TripStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A truck's identifier, such as `T-07`.
pub type TruckId = String;

/// Server-assigned event id. Ids increase strictly within a server run and across restarts
/// (each run starts from a base taken from the wall clock), so a client never takes a new event
/// for a repeat. Ids stay below 2^53 so JavaScript numbers hold them exactly.
pub type EventId = u64;

/// The version of this wire protocol. A page sends it as `v=` on `/api/fleet`, `/api/stream`
/// and `/api/trucks/*`; a server speaking another version answers 400 telling it to reload.
/// Version 2: geographic positions, plans and position reports, insights derived by the server.
pub const WIRE_VERSION: u32 = 2;

/// What a truck is doing now, as the server derives it from positions and the plan
/// ([`crate::trip::TripStatus`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruckStatus {
    EnRoute,
    AtStop,
    Delayed,
    Idle,
}

impl TruckStatus {
    /// Every status, in the order an operator reads them.
    pub const ALL: [TruckStatus; 4] = [
        TruckStatus::EnRoute,
        TruckStatus::Delayed,
        TruckStatus::AtStop,
        TruckStatus::Idle,
    ];

    /// The label shown to operators.
    pub fn label(self) -> &'static str {
        match self {
            TruckStatus::EnRoute => "En route",
            TruckStatus::AtStop => "At stop",
            TruckStatus::Delayed => "Delayed",
            TruckStatus::Idle => "Idle",
        }
    }

    /// The snake_case name used on the wire and in CSS classes.
    pub fn key(self) -> &'static str {
        match self {
            TruckStatus::EnRoute => "en_route",
            TruckStatus::AtStop => "at_stop",
            TruckStatus::Delayed => "delayed",
            TruckStatus::Idle => "idle",
        }
    }
}

impl From<TripStatus> for TruckStatus {
    fn from(status: TripStatus) -> TruckStatus {
        match status {
            TripStatus::EnRoute => TruckStatus::EnRoute,
            TripStatus::AtStop => TruckStatus::AtStop,
            TripStatus::Delayed => TruckStatus::Delayed,
            TripStatus::Idle => TruckStatus::Idle,
        }
    }
}

/// The kinds of alert: derived by the server from positions and the plan (all but
/// `DriverHours` come from [`crate::trip::TripAlertKind`]), or raised by an external system
/// through ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Delay,
    Temperature,
    OffRoute,
    DriverHours,
    NoSignal,
}

impl AlertKind {
    /// Every kind, in the order filters and legends list them.
    pub const ALL: [AlertKind; 5] = [
        AlertKind::Delay,
        AlertKind::Temperature,
        AlertKind::OffRoute,
        AlertKind::DriverHours,
        AlertKind::NoSignal,
    ];

    /// The label shown to operators.
    pub fn label(self) -> &'static str {
        match self {
            AlertKind::Delay => "Delay",
            AlertKind::Temperature => "Temperature",
            AlertKind::OffRoute => "Off route",
            AlertKind::DriverHours => "Driver hours",
            AlertKind::NoSignal => "No signal",
        }
    }
}

impl From<TripAlertKind> for AlertKind {
    fn from(kind: TripAlertKind) -> AlertKind {
        match kind {
            TripAlertKind::Delay => AlertKind::Delay,
            TripAlertKind::Temperature => AlertKind::Temperature,
            TripAlertKind::OffRoute => AlertKind::OffRoute,
            TripAlertKind::NoSignal => AlertKind::NoSignal,
        }
    }
}

/// An alert raised on a truck; it stays on the truck until an `alert_cleared` event of its kind
/// or a newer alert of its kind replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// The alert's stable id: the id of the `alert` event that raised it. Producers leave it 0
    /// (ids are assigned by the event log); [`crate::fleet::Fleet::apply`] sets it from the
    /// envelope, so snapshots carry it, and a client reading the stream takes the event's id.
    #[serde(default)]
    pub id: EventId,
    pub kind: AlertKind,
    pub message: String,
    pub raised_ms: u64,
    /// Who acknowledged it and when; `None` until an `alert_acked` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acked: Option<AlertAck>,
}

/// An operator's acknowledgement of an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertAck {
    /// The operator (the token's `sub`).
    pub by: String,
    /// When, Unix ms (the server's clock).
    pub at_ms: u64,
}

/// One stop of a truck's plan and its visit. JSON: `{"name", "lat", "lon", "planned_ms",
/// "radius_m", "arrived_ms", "departed_ms", "skipped"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StopState {
    pub name: String,
    #[serde(flatten)]
    pub position: LatLon,
    /// Planned arrival, Unix ms.
    pub planned_ms: u64,
    /// The truck is at the stop within this many metres of it.
    pub radius_m: f64,
    /// The first position within the radius, Unix ms.
    #[serde(default)]
    pub arrived_ms: Option<u64>,
    /// The first position beyond the radius after arriving, Unix ms.
    #[serde(default)]
    pub departed_ms: Option<u64>,
    /// Driven past without entering the radius.
    #[serde(default)]
    pub skipped: bool,
}

impl StopState {
    /// A planned stop, not visited yet.
    pub fn planned(stop: &PlannedStop) -> StopState {
        StopState {
            name: stop.name.clone(),
            position: stop.position,
            planned_ms: stop.planned_ms,
            radius_m: stop.radius_m,
            arrived_ms: None,
            departed_ms: None,
            skipped: false,
        }
    }
}

/// One truck's current state, as in a snapshot and after applying events. What the truck
/// reported is `None` until it reports it; what the server derives is `None` while unknown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruckState {
    pub id: TruckId,
    /// From the plan ("" without one).
    pub driver: String,
    pub route_name: String,
    pub status: TruckStatus,
    /// Index of the stop the truck is heading to (or standing at).
    pub next_stop: usize,
    /// Fraction of the plan's path done, 0..=1.
    pub progress: f32,
    /// The newest position; `None` until the first.
    #[serde(default)]
    pub position: Option<LatLon>,
    /// Degrees clockwise from true north.
    #[serde(default)]
    pub heading_deg: Option<f32>,
    #[serde(default)]
    pub speed_kph: Option<f32>,
    /// Estimated and planned arrival at the final stop, Unix ms.
    #[serde(default)]
    pub eta_ms: Option<u64>,
    #[serde(default)]
    pub planned_arrival_ms: Option<u64>,
    #[serde(default)]
    pub fuel_pct: Option<f32>,
    /// Reefer trailers only.
    #[serde(default)]
    pub reefer_c: Option<f32>,
    #[serde(default)]
    pub reefer_band: Option<ReeferBand>,
    #[serde(default)]
    pub driver_minutes_left: Option<u32>,
    #[serde(default)]
    pub odometer_km: Option<f64>,
    /// The plan's stops, with their visits (empty without a plan).
    #[serde(default)]
    pub stops: Vec<StopState>,
    pub alerts: Vec<Alert>,
    /// `at_ms` of the newest position (how stale the truck's position is).
    #[serde(default)]
    pub last_fix_ms: Option<u64>,
    /// Unix ms of the last event applied.
    pub updated_ms: u64,
    /// Id of the last event this state reflects.
    pub last_event_id: EventId,
}

impl TruckState {
    /// A truck known only by its id: no plan, no position, `Idle`.
    pub fn new(id: &str) -> TruckState {
        TruckState {
            id: id.to_owned(),
            driver: String::new(),
            route_name: String::new(),
            status: TruckStatus::Idle,
            next_stop: 0,
            progress: 0.0,
            position: None,
            heading_deg: None,
            speed_kph: None,
            eta_ms: None,
            planned_arrival_ms: None,
            fuel_pct: None,
            reefer_c: None,
            reefer_band: None,
            driver_minutes_left: None,
            odometer_km: None,
            stops: Vec::new(),
            alerts: Vec::new(),
            last_fix_ms: None,
            updated_ms: 0,
            last_event_id: 0,
        }
    }

    /// Delay against plan in seconds (ETA minus planned arrival; negative when early); `None`
    /// while either is unknown.
    pub fn delay_s(&self) -> Option<i64> {
        let (eta, planned) = (self.eta_ms?, self.planned_arrival_ms?);
        Some((eta as i64 - planned as i64) / 1000)
    }
}

/// `GET /api/trucks/{id}`: one truck with its whole plan (`via` points included, so a panel
/// can draw the route); `plan` is `None` for a truck without one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruckDetail {
    pub truck: TruckState,
    #[serde(default)]
    pub plan: Option<TripPlan>,
}

/// One point of a truck's track, as `GET /api/trucks/{id}/track` answers it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackPoint {
    pub at_ms: u64,
    pub lat: f64,
    pub lon: f64,
    pub speed_kph: Option<f32>,
    /// The reefer's temperature with this position; absent when the truck reported none (a
    /// dry trailer, or a server that predates the field).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reefer_c: Option<f32>,
}

/// `GET /api/fleet`: every truck, and the id of the last event the snapshot reflects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSnapshot {
    pub last_event_id: EventId,
    pub trucks: Vec<TruckState>,
}

/// `GET /api/map`: the distinct stops (by name and position) of every current plan in the
/// operator's scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetMap {
    pub depots: Vec<Depot>,
}

/// A named place on the map. JSON: `{"name", "lat", "lon"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Depot {
    pub name: String,
    #[serde(flatten)]
    pub position: LatLon,
}

flat_enum! {
    /// One fleet event. The serde tag is also the SSE `event:` name. Read in one pass (see
    /// `flat_enum!`); the JSON is the same as serde's internally tagged form.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum FleetEvent in mod flat_event, tag "type", checked by check_event {
        common { truck: TruckId, at_ms: u64 }
        fields {
            plan: TripPlan,
            lat: f64,
            lon: f64,
            speed_kph: f32,
            heading_deg: f32,
            fuel_pct: f32,
            reefer_c: f32,
            driver_minutes_left: u32,
            odometer_km: f64,
            progress: f32,
            next_stop: usize,
            eta_ms: u64,
            planned_arrival_ms: u64,
            status: TruckStatus,
            stop: usize,
            arrived_ms: u64,
            departed_ms: u64,
            skipped: bool,
            alert: Alert,
            kind: AlertKind,
            alert_id: EventId,
            by: String,
        }
        /// A new trip: the truck's plan from now on (its visits start afresh).
        Plan {
            truck: common,
            at_ms: common,
            plan,
        },
        /// A position report as the truck sent it (readings absent when not sent), with what
        /// the appending node derived from it (`progress`, `next_stop`, `eta_ms`,
        /// `planned_arrival_ms`).
        Position {
            truck: common,
            at_ms: common,
            lat,
            lon,
            #[serde(skip_serializing_if = "Option::is_none")]
            speed_kph: opt,
            #[serde(skip_serializing_if = "Option::is_none")]
            heading_deg: opt,
            #[serde(skip_serializing_if = "Option::is_none")]
            fuel_pct: opt,
            #[serde(skip_serializing_if = "Option::is_none")]
            reefer_c: opt,
            #[serde(skip_serializing_if = "Option::is_none")]
            driver_minutes_left: opt,
            #[serde(skip_serializing_if = "Option::is_none")]
            odometer_km: opt,
            progress,
            next_stop,
            #[serde(skip_serializing_if = "Option::is_none")]
            eta_ms: opt,
            #[serde(skip_serializing_if = "Option::is_none")]
            planned_arrival_ms: opt,
        },
        /// The truck's status changed (derived).
        Status {
            truck: common,
            at_ms: common,
            status,
            next_stop,
        },
        /// One stop's visit changed; the whole visit is carried, so applying it twice is
        /// harmless.
        Stop {
            truck: common,
            at_ms: common,
            stop,
            #[serde(skip_serializing_if = "Option::is_none")]
            arrived_ms: opt,
            #[serde(skip_serializing_if = "Option::is_none")]
            departed_ms: opt,
            skipped: or(false),
        },
        /// An alert was raised.
        Alert {
            truck: common,
            at_ms: common,
            alert,
        },
        /// The alert of this kind was cleared.
        AlertCleared {
            truck: common,
            at_ms: common,
            kind,
        },
        /// An operator acknowledged alert `alert_id` (`POST /api/alerts/{alert_id}/ack`). The
        /// first acknowledgement of an alert stands; a later one for the same alert changes
        /// nothing.
        AlertAcked {
            truck: common,
            at_ms: common,
            alert_id,
            by,
        },
    }
}

/// A required field of a one-pass tagged enum (see `flat_enum!`): `missing field` when absent.
pub(crate) fn required<T, E: serde::de::Error>(
    value: Option<T>,
    field: &'static str,
) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

/// A position read from the wire is a real place (see [`LatLon::new`]).
fn check_event(event: &FleetEvent) -> Result<(), crate::geo::GeoError> {
    match event {
        FleetEvent::Position { lat, lon, .. } => LatLon::new(*lat, *lon).map(|_| ()),
        _ => Ok(()),
    }
}

impl FleetEvent {
    /// The truck this event is about.
    pub fn truck(&self) -> &str {
        match self {
            FleetEvent::Plan { truck, .. }
            | FleetEvent::Position { truck, .. }
            | FleetEvent::Status { truck, .. }
            | FleetEvent::Stop { truck, .. }
            | FleetEvent::Alert { truck, .. }
            | FleetEvent::AlertCleared { truck, .. }
            | FleetEvent::AlertAcked { truck, .. } => truck,
        }
    }

    /// When it happened, Unix ms: a position's fix time, or the appending node's clock.
    pub fn at_ms(&self) -> u64 {
        match self {
            FleetEvent::Plan { at_ms, .. }
            | FleetEvent::Position { at_ms, .. }
            | FleetEvent::Status { at_ms, .. }
            | FleetEvent::Stop { at_ms, .. }
            | FleetEvent::Alert { at_ms, .. }
            | FleetEvent::AlertCleared { at_ms, .. }
            | FleetEvent::AlertAcked { at_ms, .. } => *at_ms,
        }
    }

    /// The SSE `event:` name, equal to the serde tag.
    pub fn name(&self) -> &'static str {
        match self {
            FleetEvent::Plan { .. } => "plan",
            FleetEvent::Position { .. } => "position",
            FleetEvent::Status { .. } => "status",
            FleetEvent::Stop { .. } => "stop",
            FleetEvent::Alert { .. } => "alert",
            FleetEvent::AlertCleared { .. } => "alert_cleared",
            FleetEvent::AlertAcked { .. } => "alert_acked",
        }
    }

    /// Every event name the stream may carry, for `addEventListener`.
    pub const NAMES: [&'static str; 7] = [
        "plan",
        "position",
        "status",
        "stop",
        "alert",
        "alert_cleared",
        "alert_acked",
    ];

    /// The raw report a `position` event carries (what the truck sent), for a [`crate::trip::Trip`].
    /// `None` for other events, or a position out of range (never built by this crate).
    pub fn position_report(&self) -> Option<PositionReport> {
        let FleetEvent::Position {
            at_ms,
            lat,
            lon,
            speed_kph,
            heading_deg,
            fuel_pct,
            reefer_c,
            driver_minutes_left,
            odometer_km,
            ..
        } = self
        else {
            return None;
        };
        Some(PositionReport {
            at_ms: *at_ms,
            position: LatLon::new(*lat, *lon).ok()?,
            speed_kph: *speed_kph,
            heading_deg: *heading_deg,
            fuel_pct: *fuel_pct,
            reefer_c: *reefer_c,
            driver_minutes_left: *driver_minutes_left,
            odometer_km: *odometer_km,
        })
    }
}

/// A fleet event with its id: the unit relayed between server, tabs and workers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub id: EventId,
    pub event: FleetEvent,
}

/// SSE event name telling the client its history is gone: refetch `/api/fleet`.
pub const RESET_EVENT: &str = "reset";

/// SSE event name of the server's frequent liveness tick (no id; see `StreamQuery::heartbeat_ms`).
pub const HEARTBEAT_EVENT: &str = "heartbeat";

/// SSE event name of several fleet events in one message, on streams that ask for them
/// (`batch=1`): its data is a JSON array of [`Envelope`]s in id order, its `id:` the last one's.
/// A browser then dispatches one message for the server's whole batch instead of one per event.
pub const BATCH_EVENT: &str = "batch";

/// Data of a `reset` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResetNotice {
    pub reason: String,
    /// The oldest id the server can still resume after.
    pub oldest_id: EventId,
    pub latest_id: EventId,
}

/// Data of a `heartbeat` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    pub at_ms: u64,
    pub latest_id: EventId,
}

flat_enum! {
    /// Which trucks a stream (or a tab) follows. Read in one pass (see `flat_enum!`).
    #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
    #[serde(tag = "kind", content = "trucks", rename_all = "snake_case")]
    pub enum Watch in mod flat_watch, tag "kind" {
        common {}
        fields { trucks: BTreeSet<TruckId> }
        #[default]
        All,
        Trucks(trucks),
    }
}

impl Watch {
    /// Whether an event about `truck` belongs to this watch.
    pub fn includes(&self, truck: &str) -> bool {
        match self {
            Watch::All => true,
            Watch::Trucks(set) => set.contains(truck),
        }
    }

    /// The union of two watches.
    pub fn union(&self, other: &Watch) -> Watch {
        match (self, other) {
            (Watch::Trucks(a), Watch::Trucks(b)) => {
                // Extended, not collected: `collect` into a set sorts a Vec first (code of its own).
                let mut both = a.clone();
                both.extend(b.iter().cloned());
                Watch::Trucks(both)
            }
            _ => Watch::All,
        }
    }

    /// Whether every truck of `other` belongs to this watch (`other` is a subset).
    pub fn covers(&self, other: &Watch) -> bool {
        match (self, other) {
            (Watch::All, _) => true,
            (Watch::Trucks(_), Watch::All) => false,
            (Watch::Trucks(outer), Watch::Trucks(inner)) => inner.is_subset(outer),
        }
    }

    /// The trucks both watches include.
    pub fn intersection(&self, other: &Watch) -> Watch {
        match (self, other) {
            (Watch::All, w) | (w, Watch::All) => w.clone(),
            (Watch::Trucks(a), Watch::Trucks(b)) => {
                let mut both = a.clone();
                both.retain(|id| b.contains(id));
                Watch::Trucks(both)
            }
        }
    }

    /// This watch without the trucks outside `scope`. `All` stays `All`: a stream for `all` is
    /// the operator's trucks as the server reads it, so it never names one outside the scope.
    pub fn within(&self, scope: &Watch) -> Watch {
        match self {
            Watch::All => Watch::All,
            trucks => trucks.intersection(scope),
        }
    }

    /// Whether this watch includes no truck at all (a stream for it would carry nothing).
    pub fn is_empty(&self) -> bool {
        matches!(self, Watch::Trucks(set) if set.is_empty())
    }

    /// The `trucks=` query value: `all` or ids joined by commas.
    pub fn to_query(&self) -> String {
        match self {
            Watch::All => "all".to_owned(),
            Watch::Trucks(set) => set.iter().cloned().collect::<Vec<_>>().join(","),
        }
    }

    /// The `trucks=` query value for a URL: like [`Watch::to_query`], with each truck id
    /// percent-encoded (RFC 3986: everything but unreserved characters), so an id that is not
    /// one (`&`, `#`, `%`, spaces...) cannot add or change a parameter. Ids that pass
    /// [`is_valid_truck_id`] come out unchanged.
    pub fn to_url_query(&self) -> String {
        match self {
            Watch::All => "all".to_owned(),
            Watch::Trucks(set) => set
                .iter()
                .map(|id| percent_encode(id))
                .collect::<Vec<_>>()
                .join(","),
        }
    }

    /// Parses a `trucks=` query value.
    pub fn parse_query(value: &str) -> Result<Watch, WireError> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("all") {
            return Ok(Watch::All);
        }
        let mut set = BTreeSet::new();
        for id in value.split(',') {
            let id = id.trim();
            if !is_valid_truck_id(id) {
                return Err(WireError::BadTruckId(id.to_owned()));
            }
            set.insert(id.to_owned());
        }
        Ok(Watch::Trucks(set))
    }
}

/// `text` with every byte but RFC 3986's unreserved characters written as `%XX`.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Truck ids are short and printable: letters, digits and `-`, 1 to 32 characters.
pub fn is_valid_truck_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Errors reading wire data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("invalid truck id {0:?}: use letters, digits and '-', or 'all'")]
    BadTruckId(String),
    #[error("invalid event id {0:?}: expected a non-negative integer")]
    BadEventId(String),
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
}

/// Parses an event id as sent in `Last-Event-ID` or `lastEventId`.
pub fn parse_event_id(value: &str) -> Result<EventId, WireError> {
    value
        .trim()
        .parse::<EventId>()
        .map_err(|_| WireError::BadEventId(value.to_owned()))
}

/// Decodes a [`BATCH_EVENT`]'s data and id: at least one envelope, ids increasing, the last
/// one the SSE `id:` (so the stream's resume point and its contents agree).
pub fn decode_batch(data: &str, id: &str) -> Result<Vec<Envelope>, WireError> {
    let id = parse_event_id(id)?;
    let malformed = |detail: String| WireError::Malformed {
        what: "event batch",
        detail,
    };
    let envelopes: Vec<Envelope> =
        serde_json::from_str(data).map_err(|e| malformed(e.to_string()))?;
    if !envelopes.windows(2).all(|pair| pair[0].id < pair[1].id) {
        return Err(malformed("event ids do not increase".into()));
    }
    match envelopes.last() {
        Some(last) if last.id == id => Ok(envelopes),
        Some(last) => Err(malformed(format!(
            "the last event is {} but the batch's id is {id}",
            last.id
        ))),
        None => Err(malformed("no events".into())),
    }
}

/// Decodes an SSE event (name, data, id) into an envelope.
pub fn decode_event(name: &str, data: &str, id: &str) -> Result<Envelope, WireError> {
    let id = parse_event_id(id)?;
    let event: FleetEvent = serde_json::from_str(data).map_err(|e| WireError::Malformed {
        what: "fleet event",
        detail: e.to_string(),
    })?;
    if event.name() != name {
        return Err(WireError::Malformed {
            what: "fleet event",
            detail: format!(
                "event name {name:?} does not match data type {:?}",
                event.name()
            ),
        });
    }
    Ok(Envelope { id, event })
}

impl fmt::Display for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_query())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_query_round_trips() {
        let watch = Watch::parse_query("T-02,T-01").unwrap();
        assert_eq!(watch.to_query(), "T-01,T-02");
        assert_eq!(Watch::parse_query("ALL").unwrap(), Watch::All);
        assert!(Watch::parse_query("T-01,,T-02").is_err());
        assert!(Watch::parse_query("T 01").is_err());
    }

    #[test]
    fn url_query_encodes_what_is_not_an_id() {
        let odd = Watch::Trucks(
            ["T-01", "a&lastEventId=9", "x y#%", "ü"]
                .into_iter()
                .map(String::from)
                .collect(),
        );
        assert_eq!(
            odd.to_url_query(),
            "T-01,a%26lastEventId%3D9,x%20y%23%25,%C3%BC"
        );
        let plain = Watch::parse_query("T-02,T-01").unwrap();
        assert_eq!(plain.to_url_query(), plain.to_query());
        assert_eq!(Watch::All.to_url_query(), "all");
    }

    #[test]
    fn union_of_sets_and_all() {
        let a = Watch::parse_query("T-01").unwrap();
        let b = Watch::parse_query("T-02").unwrap();
        assert_eq!(a.union(&b).to_query(), "T-01,T-02");
        assert_eq!(a.union(&Watch::All), Watch::All);
    }

    #[test]
    fn covers_intersection_and_empty() {
        let one = Watch::parse_query("T-01").unwrap();
        let two = Watch::parse_query("T-01,T-02").unwrap();
        let none = Watch::Trucks(BTreeSet::new());
        assert!(two.covers(&one) && !one.covers(&two));
        assert!(Watch::All.covers(&two) && !two.covers(&Watch::All));
        assert!(one.covers(&none) && none.covers(&none));
        assert_eq!(two.intersection(&one), one);
        assert_eq!(Watch::All.intersection(&two), two);
        assert_eq!(one.intersection(&Watch::parse_query("T-02").unwrap()), none);
        assert!(none.is_empty() && !one.is_empty() && !Watch::All.is_empty());
    }

    #[test]
    fn tagged_enums_read_in_any_field_order_and_round_trip() {
        let cleared: FleetEvent = serde_json::from_str(
            r#"{"truck":"T-01","kind":"delay","at_ms":5,"type":"alert_cleared"}"#,
        )
        .unwrap();
        assert_eq!(
            cleared,
            FleetEvent::AlertCleared {
                truck: "T-01".into(),
                at_ms: 5,
                kind: AlertKind::Delay
            }
        );
        let json = serde_json::to_string(&cleared).unwrap();
        assert_eq!(serde_json::from_str::<FleetEvent>(&json).unwrap(), cleared);
        let missing =
            serde_json::from_str::<FleetEvent>(r#"{"type":"status","truck":"T","at_ms":1}"#);
        assert!(missing
            .unwrap_err()
            .to_string()
            .contains("missing field `status`"));
        assert!(
            serde_json::from_str::<FleetEvent>(r#"{"type":"nope","truck":"T","at_ms":1}"#).is_err()
        );

        let watch = Watch::parse_query("T-01,T-02").unwrap();
        let json = serde_json::to_string(&watch).unwrap();
        assert_eq!(json, r#"{"kind":"trucks","trucks":["T-01","T-02"]}"#);
        assert_eq!(serde_json::from_str::<Watch>(&json).unwrap(), watch);
        let reversed = r#"{"trucks":["T-02","T-01"],"kind":"trucks"}"#;
        assert_eq!(serde_json::from_str::<Watch>(reversed).unwrap(), watch);
        assert_eq!(
            serde_json::to_string(&Watch::All).unwrap(),
            r#"{"kind":"all"}"#
        );
        assert_eq!(
            serde_json::from_str::<Watch>(r#"{"kind":"all"}"#).unwrap(),
            Watch::All
        );
        assert!(serde_json::from_str::<Watch>(r#"{"kind":"trucks"}"#).is_err());
    }

    #[test]
    fn event_tag_matches_name() {
        let event = FleetEvent::AlertCleared {
            truck: "T-01".into(),
            at_ms: 5,
            kind: AlertKind::Delay,
        };
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains("\"type\":\"alert_cleared\""), "{json}");
        let env = decode_event("alert_cleared", &json, "42").unwrap();
        assert_eq!(env.id, 42);
        assert!(decode_event("status", &json, "42").is_err());
        assert!(decode_event("alert_cleared", &json, "x").is_err());
    }

    #[test]
    fn alert_acked_round_trips_and_alerts_without_ids_still_read() {
        let event = FleetEvent::AlertAcked {
            truck: "T-01".into(),
            at_ms: 7,
            alert_id: 41,
            by: "ana".into(),
        };
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains("\"type\":\"alert_acked\""), "{json}");
        assert_eq!(
            decode_event("alert_acked", &json, "42").unwrap().event,
            event
        );
        // Producers from before alert ids (and ingest) send no `id` and no `acked`.
        let old = r#"{"type":"alert","truck":"T-01","at_ms":1,"alert":{"kind":"delay","message":"m","raised_ms":1}}"#;
        let FleetEvent::Alert { alert, .. } = decode_event("alert", old, "9").unwrap().event else {
            panic!("not an alert");
        };
        assert_eq!((alert.id, alert.acked), (0, None));
    }

    #[test]
    fn a_batch_reads_in_order_and_must_end_at_its_id() {
        let event = |truck: &str| {
            serde_json::to_string(&FleetEvent::AlertCleared {
                truck: truck.into(),
                at_ms: 5,
                kind: AlertKind::Delay,
            })
            .unwrap()
        };
        let data = format!(
            r#"[{{"id":7,"event":{}}},{{"id":9,"event":{}}}]"#,
            event("T-01"),
            event("T-02")
        );
        let envelopes = decode_batch(&data, "9").unwrap();
        assert_eq!(envelopes.iter().map(|e| e.id).collect::<Vec<_>>(), [7, 9]);
        assert_eq!(envelopes[1].event.truck(), "T-02");
        // The id must be the last event's; ids must increase; a batch is never empty.
        assert!(decode_batch(&data, "8").is_err());
        assert!(decode_batch(&data, "").is_err());
        let backwards = format!(
            r#"[{{"id":9,"event":{}}},{{"id":7,"event":{}}}]"#,
            event("T-01"),
            event("T-02")
        );
        assert!(decode_batch(&backwards, "7").is_err());
        assert!(decode_batch("[]", "7").is_err());
        assert!(decode_batch(r#"[{"id":7,"event":{"type":"nope"}}]"#, "7").is_err());
        assert!(decode_batch("{", "7").is_err());
    }
}
