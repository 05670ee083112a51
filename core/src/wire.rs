//! Wire types shared by convoy-server and the app: fleet events, snapshots and the stream's
//! query parameters. Every event is a tagged serde enum whose tag is also its SSE `event:` name.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A truck's identifier, such as `T-07`.
pub type TruckId = String;

/// Server-assigned event id. Ids increase strictly within a server run and across restarts
/// (each run starts from a base taken from the wall clock), so a client never takes a new event
/// for a repeat. Ids stay below 2^53 so JavaScript numbers hold them exactly.
pub type EventId = u64;

/// What a truck is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TruckStatus {
    Loading,
    EnRoute,
    AtStop,
    Delayed,
    Unloading,
    Idle,
}

impl TruckStatus {
    /// Every status, in the order an operator reads them.
    pub const ALL: [TruckStatus; 6] = [
        TruckStatus::EnRoute,
        TruckStatus::Delayed,
        TruckStatus::AtStop,
        TruckStatus::Loading,
        TruckStatus::Unloading,
        TruckStatus::Idle,
    ];

    /// The label shown to operators.
    pub fn label(self) -> &'static str {
        match self {
            TruckStatus::Loading => "Loading",
            TruckStatus::EnRoute => "En route",
            TruckStatus::AtStop => "At stop",
            TruckStatus::Delayed => "Delayed",
            TruckStatus::Unloading => "Unloading",
            TruckStatus::Idle => "Idle",
        }
    }

    /// The snake_case name used on the wire and in CSS classes.
    pub fn key(self) -> &'static str {
        match self {
            TruckStatus::Loading => "loading",
            TruckStatus::EnRoute => "en_route",
            TruckStatus::AtStop => "at_stop",
            TruckStatus::Delayed => "delayed",
            TruckStatus::Unloading => "unloading",
            TruckStatus::Idle => "idle",
        }
    }
}

/// The kinds of alert the simulator raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    Delay,
    Temperature,
    OffRoute,
    DriverHours,
}

impl AlertKind {
    /// Every kind, in the order filters and legends list them.
    pub const ALL: [AlertKind; 4] = [
        AlertKind::Delay,
        AlertKind::Temperature,
        AlertKind::OffRoute,
        AlertKind::DriverHours,
    ];

    /// The label shown to operators.
    pub fn label(self) -> &'static str {
        match self {
            AlertKind::Delay => "Delay",
            AlertKind::Temperature => "Temperature",
            AlertKind::OffRoute => "Off route",
            AlertKind::DriverHours => "Driver hours",
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

/// A reefer trailer's allowed temperature band, in °C.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TempBand {
    pub min_c: f32,
    pub max_c: f32,
}

/// A point on the fleet's schematic map (unitless, 0..1000 on both axes).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
}

/// One truck's current state, as in a snapshot and after applying events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruckState {
    pub id: TruckId,
    pub driver: String,
    pub route_id: String,
    pub route_name: String,
    pub status: TruckStatus,
    /// Index of the stop the truck is heading to (or standing at).
    pub next_stop: usize,
    /// Fraction of the whole route done, 0..=1.
    pub progress: f32,
    pub position: Point,
    pub speed_kph: f32,
    /// Planned and estimated arrival at the final stop, Unix ms.
    pub planned_arrival_ms: u64,
    pub eta_ms: u64,
    pub fuel_pct: f32,
    /// Present for reefer trailers only.
    pub reefer_c: Option<f32>,
    pub reefer_band: Option<TempBand>,
    pub driver_minutes_left: u32,
    pub alerts: Vec<Alert>,
    /// Unix ms of the last event applied.
    pub updated_ms: u64,
    /// Id of the last event this state reflects.
    pub last_event_id: EventId,
}

impl TruckState {
    /// Delay against plan in seconds; negative when early.
    pub fn delay_s(&self) -> i64 {
        (self.eta_ms as i64 - self.planned_arrival_ms as i64) / 1000
    }
}

/// A stop on a route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stop {
    pub name: String,
    pub position: Point,
    /// Planned arrival at this stop, Unix ms.
    pub planned_ms: u64,
}

/// A route between depots, with its stops in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Route {
    pub id: String,
    pub name: String,
    pub stops: Vec<Stop>,
}

/// `GET /api/trucks/{id}`: one truck with its route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TruckDetail {
    pub truck: TruckState,
    pub route: Route,
}

/// `GET /api/fleet`: every truck, and the id of the last event the snapshot reflects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetSnapshot {
    pub last_event_id: EventId,
    pub trucks: Vec<TruckState>,
}

/// `GET /api/map`: depots and corridors for the schematic map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetMap {
    pub depots: Vec<Depot>,
    pub routes: Vec<Route>,
}

/// A depot on the schematic map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Depot {
    pub name: String,
    pub position: Point,
}

/// One fleet event. The serde tag is also the SSE `event:` name. Deserialized in one pass over
/// a flat struct (see [`required`]); the JSON is the same as serde's internally tagged form.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FleetEvent {
    /// Periodic telemetry: where the truck is and how it is doing.
    Telemetry {
        truck: TruckId,
        at_ms: u64,
        position: Point,
        progress: f32,
        speed_kph: f32,
        eta_ms: u64,
        /// The current trip's planned arrival: it changes when a new trip starts.
        planned_arrival_ms: u64,
        fuel_pct: f32,
        reefer_c: Option<f32>,
        driver_minutes_left: u32,
    },
    /// The truck's status changed.
    Status {
        truck: TruckId,
        at_ms: u64,
        status: TruckStatus,
        next_stop: usize,
    },
    /// An alert was raised.
    Alert {
        truck: TruckId,
        at_ms: u64,
        alert: Alert,
    },
    /// The alert of this kind was cleared.
    AlertCleared {
        truck: TruckId,
        at_ms: u64,
        kind: AlertKind,
    },
    /// An operator acknowledged alert `alert_id` (`POST /api/alerts/{alert_id}/ack`). The first
    /// acknowledgement of an alert stands; a later one for the same alert changes nothing.
    AlertAcked {
        truck: TruckId,
        at_ms: u64,
        alert_id: EventId,
        by: String,
    },
}

/// A required field of a flattened tagged enum (see [`FleetEvent`]'s `Deserialize`): serde's
/// internally and adjacently tagged enums first buffer the whole object in its private
/// `Content` type, which costs the wasm app tens of KB; reading every variant's fields into one
/// flat struct of `Option`s and then picking the variant's ones reads the same JSON in one pass.
pub(crate) fn required<T, E: serde::de::Error>(
    value: Option<T>,
    field: &'static str,
) -> Result<T, E> {
    value.ok_or_else(|| E::missing_field(field))
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum FleetEventKind {
    Telemetry,
    Status,
    Alert,
    AlertCleared,
    AlertAcked,
}

/// Every field of every [`FleetEvent`] variant.
#[derive(Deserialize)]
struct FlatFleetEvent {
    #[serde(rename = "type")]
    kind: FleetEventKind,
    truck: TruckId,
    at_ms: u64,
    position: Option<Point>,
    progress: Option<f32>,
    speed_kph: Option<f32>,
    eta_ms: Option<u64>,
    planned_arrival_ms: Option<u64>,
    fuel_pct: Option<f32>,
    reefer_c: Option<f32>,
    driver_minutes_left: Option<u32>,
    status: Option<TruckStatus>,
    next_stop: Option<usize>,
    alert: Option<Alert>,
    #[serde(rename = "kind")]
    alert_kind: Option<AlertKind>,
    alert_id: Option<EventId>,
    by: Option<String>,
}

impl<'de> Deserialize<'de> for FleetEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let f = FlatFleetEvent::deserialize(deserializer)?;
        let (truck, at_ms) = (f.truck, f.at_ms);
        Ok(match f.kind {
            FleetEventKind::Telemetry => FleetEvent::Telemetry {
                truck,
                at_ms,
                position: required(f.position, "position")?,
                progress: required(f.progress, "progress")?,
                speed_kph: required(f.speed_kph, "speed_kph")?,
                eta_ms: required(f.eta_ms, "eta_ms")?,
                planned_arrival_ms: required(f.planned_arrival_ms, "planned_arrival_ms")?,
                fuel_pct: required(f.fuel_pct, "fuel_pct")?,
                reefer_c: f.reefer_c,
                driver_minutes_left: required(f.driver_minutes_left, "driver_minutes_left")?,
            },
            FleetEventKind::Status => FleetEvent::Status {
                truck,
                at_ms,
                status: required(f.status, "status")?,
                next_stop: required(f.next_stop, "next_stop")?,
            },
            FleetEventKind::Alert => FleetEvent::Alert {
                truck,
                at_ms,
                alert: required(f.alert, "alert")?,
            },
            FleetEventKind::AlertCleared => FleetEvent::AlertCleared {
                truck,
                at_ms,
                kind: required(f.alert_kind, "kind")?,
            },
            FleetEventKind::AlertAcked => FleetEvent::AlertAcked {
                truck,
                at_ms,
                alert_id: required(f.alert_id, "alert_id")?,
                by: required(f.by, "by")?,
            },
        })
    }
}

impl FleetEvent {
    /// The truck this event is about.
    pub fn truck(&self) -> &str {
        match self {
            FleetEvent::Telemetry { truck, .. }
            | FleetEvent::Status { truck, .. }
            | FleetEvent::Alert { truck, .. }
            | FleetEvent::AlertCleared { truck, .. }
            | FleetEvent::AlertAcked { truck, .. } => truck,
        }
    }

    /// When the simulator produced it, Unix ms.
    pub fn at_ms(&self) -> u64 {
        match self {
            FleetEvent::Telemetry { at_ms, .. }
            | FleetEvent::Status { at_ms, .. }
            | FleetEvent::Alert { at_ms, .. }
            | FleetEvent::AlertCleared { at_ms, .. }
            | FleetEvent::AlertAcked { at_ms, .. } => *at_ms,
        }
    }

    /// The SSE `event:` name, equal to the serde tag.
    pub fn name(&self) -> &'static str {
        match self {
            FleetEvent::Telemetry { .. } => "telemetry",
            FleetEvent::Status { .. } => "status",
            FleetEvent::Alert { .. } => "alert",
            FleetEvent::AlertCleared { .. } => "alert_cleared",
            FleetEvent::AlertAcked { .. } => "alert_acked",
        }
    }

    /// Every event name the stream may carry, for `addEventListener`.
    pub const NAMES: [&'static str; 5] = [
        "telemetry",
        "status",
        "alert",
        "alert_cleared",
        "alert_acked",
    ];
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

/// Which trucks a stream (or a tab) follows. Deserialized in one pass (see [`required`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(tag = "kind", content = "trucks", rename_all = "snake_case")]
pub enum Watch {
    #[default]
    All,
    Trucks(BTreeSet<TruckId>),
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum WatchKind {
    All,
    Trucks,
}

#[derive(Deserialize)]
struct FlatWatch {
    kind: WatchKind,
    trucks: Option<BTreeSet<TruckId>>,
}

impl<'de> Deserialize<'de> for Watch {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let f = FlatWatch::deserialize(deserializer)?;
        Ok(match f.kind {
            WatchKind::All => Watch::All,
            WatchKind::Trucks => Watch::Trucks(required(f.trucks, "trucks")?),
        })
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
