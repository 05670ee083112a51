//! The JSON routes under `/api` (the stream lives in `stream.rs`), and the JSON error every
//! `/api` route answers with.

use crate::stats::StatsReport;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use convoy_core::wire::{FleetMap, FleetSnapshot, TruckDetail};

/// An error answered as `{"error": "..."}` with its status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    /// 400 with `message`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// 404 with `message`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(serde_json::json!({ "error": self.message }));
        (self.status, body).into_response()
    }
}

/// `GET /api/fleet`: every truck, consistent with `last_event_id`.
pub async fn fleet(State(app): State<AppState>) -> Json<FleetSnapshot> {
    Json(app.hub.snapshot())
}

/// `GET /api/trucks/{id}`: one truck and its route, or 404.
pub async fn truck(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TruckDetail>, ApiError> {
    app.hub
        .truck(&id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("unknown truck {id:?}")))
}

/// `GET /api/map`: depots and routes.
pub async fn map(State(app): State<AppState>) -> Json<FleetMap> {
    Json(app.hub.map())
}

/// `GET /api/stats`: open streams and totals.
pub async fn stats(State(app): State<AppState>) -> Json<StatsReport> {
    Json(app.stats.report(app.hub.latest_id()))
}

/// Any other path under `/api`.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such API route")
}
