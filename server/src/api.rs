//! The JSON routes under `/api` (the stream lives in `stream.rs`), and the JSON error every
//! `/api` route answers with (from `error`).

use crate::auth::{Operator, Scope};
use crate::hub::TrackPoint;
use crate::hub::{AckError, Acked};
use crate::stats::StatsReport;
use crate::AppState;
use axum::extract::RawQuery;
use axum::extract::{Path, Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use convoy_core::wire::{
    Depot, EventId, FleetEvent, FleetMap, FleetSnapshot, TruckDetail, WIRE_VERSION,
};
use serde::{Deserialize, Serialize};

pub use crate::error::ApiError;

/// How long a request waits for a node that is reading its shared log before it is refused (a
/// node that starts with Redis up reads it within this).
const LOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Middleware for the routes that read or append the fleet: until the node has read its shared
/// log once, they wait up to [`LOAD_WAIT`], then answer 503 with `Retry-After`, so nothing is
/// served from (or added to) a fleet that is not the log's yet.
pub async fn require_loaded(State(app): State<AppState>, request: Request, next: Next) -> Response {
    if app.hub.loaded()
        || tokio::time::timeout(LOAD_WAIT, app.hub.wait_loaded())
            .await
            .is_ok()
    {
        return next.run(request).await;
    }
    let mut response = ApiError {
        status: StatusCode::SERVICE_UNAVAILABLE,
        message: format!(
            "{}; retry after the Retry-After seconds",
            crate::hub::NOT_LOADED
        ),
    }
    .into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Middleware for the routes a page reads the wire from (`/api/fleet`, `/api/stream`,
/// `/api/trucks/*`): an optional `v=` names the wire version the page speaks; any other than
/// [`WIRE_VERSION`] answers 400 telling the page to reload (an old page would misread the
/// events).
pub async fn check_version(request: Request, next: Next) -> Response {
    let query = request.uri().query().unwrap_or("");
    let asked = form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "v")
        .map(|(_, value)| value.into_owned());
    match asked {
        Some(v) if v.trim() != WIRE_VERSION.to_string() => {
            let shown: String = v.chars().take(16).collect();
            ApiError::bad_request(format!(
                "this page speaks Convoy's wire version {shown}; the server speaks \
                 {WIRE_VERSION}: reload the page"
            ))
            .into_response()
        }
        _ => next.run(request).await,
    }
}

/// `GET /api/fleet`: every truck of the operator's scope, consistent with `last_event_id`.
pub async fn fleet(
    State(app): State<AppState>,
    Extension(operator): Extension<Operator>,
) -> Json<FleetSnapshot> {
    let mut snapshot = app.hub.snapshot();
    snapshot
        .trucks
        .retain(|truck| operator.scope.includes(&truck.id));
    Json(snapshot)
}

/// `GET /api/trucks/{id}`: one truck and its whole plan (`None` without one), or 404 (outside
/// the operator's scope too, so existence does not leak).
pub async fn truck(
    State(app): State<AppState>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
) -> Result<Json<TruckDetail>, ApiError> {
    let truck = app
        .hub
        .truck(&id)
        .filter(|_| operator.scope.includes(&id))
        .ok_or_else(|| ApiError::not_found(format!("unknown truck {id:?}")))?;
    let plan = app.hub.plan(&id);
    Ok(Json(TruckDetail { truck, plan }))
}

/// `GET /api/trucks/{id}/track?since_ms=…`: the truck's positions at or after `since_ms` (0
/// when absent), oldest first, at most [`crate::hub::TRACK_POINTS`] (the newest); 404 like
/// `/api/trucks/{id}`.
pub async fn track(
    State(app): State<AppState>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<Vec<TrackPoint>>, ApiError> {
    if app.hub.truck(&id).is_none() || !operator.scope.includes(&id) {
        return Err(ApiError::not_found(format!("unknown truck {id:?}")));
    }
    let mut since_ms = 0;
    for (key, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if key == "since_ms" {
            since_ms = value.trim().parse::<u64>().map_err(|_| {
                let shown: String = value.chars().take(40).collect();
                ApiError::bad_request(format!(
                    "since_ms: {shown:?} is not a time in Unix milliseconds"
                ))
            })?;
        }
    }
    Ok(Json(app.hub.track(&id, since_ms)))
}

/// `GET /api/map`: the distinct stops (by name and position) of the current plans of the
/// operator's trucks, in the order first met.
pub async fn map(
    State(app): State<AppState>,
    Extension(operator): Extension<Operator>,
) -> Json<FleetMap> {
    let mut depots: Vec<Depot> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for truck in app.hub.snapshot().trucks {
        if !operator.scope.includes(&truck.id) {
            continue;
        }
        for stop in truck.stops {
            let key = (
                stop.name.clone(),
                stop.position.lat().to_bits(),
                stop.position.lon().to_bits(),
            );
            if seen.insert(key) {
                depots.push(Depot {
                    name: stop.name,
                    position: stop.position,
                });
            }
        }
    }
    Json(FleetMap { depots })
}

/// The body of `GET /api/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Whether this node can take events and serve streams: false while a shared log (Redis)
    /// is out of reach (ingest answers 503; open streams stay open and resume when it is back),
    /// and from a start with Redis down until it has been read once.
    pub ok: bool,
    /// The engine, as `--log` names it.
    pub log: String,
    /// The log's first id, the oldest id a stream can resume after, and the last id issued.
    pub first_id: EventId,
    pub oldest_id: EventId,
    pub latest_event_id: EventId,
    pub simulator: bool,
    pub ingest: bool,
}

/// `GET /api/health`: what this node runs and whether its log answers.
pub async fn health(State(app): State<AppState>) -> Json<Health> {
    Json(Health {
        ok: app.hub.loaded() && app.hub.remote().is_none_or(|r| r.reachable()),
        log: app.hub.describe().to_owned(),
        first_id: app.hub.first_id(),
        oldest_id: app.hub.floor(),
        latest_event_id: app.hub.latest_id(),
        simulator: app.simulator,
        ingest: app.ingest.is_some(),
    })
}

/// `GET /api/stats`: open streams and totals. Each stream's filter names trucks, so only an
/// operator who may see every truck gets it; anyone else gets 403.
pub async fn stats(
    State(app): State<AppState>,
    Extension(operator): Extension<Operator>,
) -> Result<Json<StatsReport>, ApiError> {
    if operator.scope != Scope::All {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            message: "the server's stats name every operator's trucks: only an operator who may \
                      see every truck gets them"
                .to_owned(),
        });
    }
    Ok(Json(app.stats.report(app.hub.latest_id())))
}

/// The body of a successful `POST /api/alerts/{alert_id}/ack`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AckReceipt {
    pub truck: String,
    pub alert_id: EventId,
    /// The operator, and when (server's clock, Unix ms).
    pub by: String,
    pub at_ms: u64,
    /// The `alert_acked` event's id in the log.
    pub event_id: EventId,
}

/// The name an acknowledgement records when sign-in is off.
pub const ANONYMOUS_OPERATOR: &str = "operator";

/// `POST /api/alerts/{alert_id}/ack`: records who acknowledged the alert and when, as an
/// `alert_acked` event in the log that every stream including the truck carries. 404 for an
/// alert that is not active on one of the operator's trucks (outside the scope looks like
/// unknown), 409 when it was acknowledged already (naming by whom).
pub async fn ack_alert(
    State(app): State<AppState>,
    Extension(operator): Extension<Operator>,
    Path(alert_id): Path<String>,
) -> Result<Json<AckReceipt>, ApiError> {
    let alert_id: EventId = alert_id
        .parse()
        .map_err(|_| ApiError::not_found(format!("unknown alert {alert_id:?}")))?;
    let by = operator
        .name
        .clone()
        .unwrap_or_else(|| ANONYMOUS_OPERATOR.to_owned());
    let scope = operator.scope.clone();
    let now_ms = app.settings.clock.now_ms();
    match app
        .hub
        .ack(alert_id, move |truck| scope.includes(truck), by, now_ms)
        .await
    {
        Ok(Acked {
            event_id,
            event:
                FleetEvent::AlertAcked {
                    truck,
                    at_ms,
                    alert_id,
                    by,
                },
        }) => Ok(Json(AckReceipt {
            truck,
            alert_id,
            by,
            at_ms,
            event_id,
        })),
        Ok(Acked { event, .. }) => Err(ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("unexpected event {}", event.name()),
        }),
        Err(e @ AckError::Unknown(_)) => Err(ApiError::not_found(e.to_string())),
        Err(e @ AckError::AlreadyAcked { .. }) => Err(ApiError {
            status: StatusCode::CONFLICT,
            message: e.to_string(),
        }),
        Err(AckError::Log(e)) => Err(ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            message: format!("the event log could not take the acknowledgement: {e}"),
        }),
    }
}

/// Any other path under `/api`.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such API route")
}
