//! The JSON routes under `/api` (the stream lives in `stream.rs`), and the JSON error every
//! `/api` route answers with (from `error`).

use crate::auth::{Operator, Scope};
use crate::hub::{AckError, Acked};
use crate::producer;
use crate::stats::StatsReport;
use crate::AppState;
use axum::extract::{Path, Request, State};
use axum::http::header::RETRY_AFTER;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use convoy_core::wire::{EventId, FleetEvent, FleetMap, FleetSnapshot, Route, TruckDetail};
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

/// `GET /api/fleet`: every truck of the operator's scope, consistent with `last_event_id`.
pub async fn fleet(
    State(app): State<AppState>,
    Extension(operator): Extension<Operator>,
) -> Json<FleetSnapshot> {
    let mut snapshot = app.hub.snapshot();
    snapshot
        .trucks
        .retain(|truck| operator.scope.includes(&truck.id));
    if let Some(sim) = &app.sim {
        // Events carry the plan only with telemetry; a trip that just started has its plan in
        // the simulator already.
        let sim = producer::lock(sim);
        for truck in &mut snapshot.trucks {
            if let Some(planned) = sim.planned_arrival_ms(&truck.id) {
                truck.planned_arrival_ms = planned;
            }
        }
    }
    Json(snapshot)
}

/// `GET /api/trucks/{id}`: one truck and its route (empty for a truck the simulator does not
/// drive), or 404 (outside the operator's scope too, so existence does not leak).
pub async fn truck(
    State(app): State<AppState>,
    Extension(operator): Extension<Operator>,
    Path(id): Path<String>,
) -> Result<Json<TruckDetail>, ApiError> {
    let mut truck = app
        .hub
        .truck(&id)
        .filter(|_| operator.scope.includes(&id))
        .ok_or_else(|| ApiError::not_found(format!("unknown truck {id:?}")))?;
    let simulated = app.sim.as_ref().and_then(|sim| {
        let sim = producer::lock(sim);
        let route = sim.route(&id)?.clone();
        Some((route, sim.planned_arrival_ms(&id)))
    });
    let route = match simulated {
        Some((route, planned)) => {
            if let Some(planned) = planned {
                truck.planned_arrival_ms = planned;
            }
            route
        }
        None => Route {
            id: truck.route_id.clone(),
            name: truck.route_name.clone(),
            stops: Vec::new(),
        },
    };
    Ok(Json(TruckDetail { truck, route }))
}

/// `GET /api/map`: depots and routes (none on a node without the simulator); an operator
/// limited to some trucks sees only their routes.
pub async fn map(
    State(app): State<AppState>,
    Extension(operator): Extension<Operator>,
) -> Json<FleetMap> {
    let mut map = match &app.sim {
        Some(sim) => producer::lock(sim).map(),
        None => FleetMap {
            depots: Vec::new(),
            routes: Vec::new(),
        },
    };
    if operator.scope != Scope::All {
        let theirs: std::collections::BTreeSet<String> = app
            .hub
            .snapshot()
            .trucks
            .into_iter()
            .filter(|truck| operator.scope.includes(&truck.id))
            .map(|truck| truck.route_id)
            .collect();
        map.routes.retain(|route| theirs.contains(&route.id));
    }
    Json(map)
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
        simulator: app.sim.is_some(),
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
