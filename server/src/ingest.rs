//! `POST /api/ingest`: an operator's backend pushes fleet events.
//!
//! The body is newline-delimited JSON or one JSON array of events in exactly the shape of the
//! stream's `data:` (no ids: the log assigns them), each with an optional `key` that makes a
//! retried request idempotent within a window. The request is authorised by `Authorization:
//! Bearer <token>` against the tokens of `--ingest-token-file`. Every event is checked before
//! anything is appended: one bad line answers 400 naming the line and the reason, and nothing
//! of the request is kept. The events of one request get contiguous ids.

use crate::hub::{Input, Outcome, Submission};
use crate::log::LogError;
use crate::metrics::{IngestOutcome, Source};
use crate::AppState;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::{Bytes, BytesMut};
use convoy_core::derive::Fact;
use convoy_core::trip::{PositionReport, TripPlan};
use convoy_core::wire::{is_valid_truck_id, EventId, FleetEvent};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// How far ahead of the server's clock an event's time may be (clocks drift; a day-ahead
/// timestamp is a bug in the sender).
pub const MAX_AHEAD_MS: u64 = 5 * 60_000;
/// Longest idempotency key.
pub const MAX_KEY_LEN: usize = 128;
/// Most characters in a text an operator reads (an alert's message): every event must fit one
/// line of the browser's SSE decoder many times over, and a screen shows a few hundred at most.
pub const MAX_TEXT_CHARS: usize = 1000;

/// 400 for a text longer than [`MAX_TEXT_CHARS`], naming its field.
fn check_text(field: &str, text: &str) -> Result<(), String> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(format!(
            "{field} is {chars} characters long: at most {MAX_TEXT_CHARS}"
        ));
    }
    Ok(())
}
/// Bodies being received may hold this many times `concurrency` full bodies of memory: the
/// slot is taken once a body is in, so this, not the slots, bounds what slow senders hold.
const BODIES_PER_SLOT: usize = 8;

/// The ingest route's settings and its limit on concurrent requests.
#[derive(Debug)]
pub struct Ingest {
    tokens: Vec<String>,
    /// Largest body accepted, bytes.
    pub max_bytes: usize,
    /// Most events in one request.
    pub max_events: usize,
    permits: Arc<Semaphore>,
    /// One permit per byte of the bodies being received.
    body_bytes: Arc<Semaphore>,
    /// How long a body may take to arrive in full.
    pub body_timeout: Duration,
}

impl Ingest {
    /// Ingest authorised by `tokens`, at most `max_bytes` a body and `max_events` events a
    /// request, `concurrency` requests handled at a time once their bodies are in (more get
    /// 429), bodies given 30 s to arrive (see [`Ingest::with_body_timeout`]).
    pub fn new(
        tokens: Vec<String>,
        max_bytes: usize,
        max_events: usize,
        concurrency: usize,
    ) -> Ingest {
        Ingest {
            tokens,
            max_bytes,
            max_events,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            body_bytes: Arc::new(Semaphore::new(
                max_bytes
                    .max(1)
                    .saturating_mul(concurrency.max(1))
                    .saturating_mul(BODIES_PER_SLOT)
                    .min(Semaphore::MAX_PERMITS),
            )),
            body_timeout: Duration::from_secs(30),
        }
    }

    /// The same, with bodies given `timeout` to arrive in full (408 later).
    pub fn with_body_timeout(mut self, timeout: Duration) -> Ingest {
        self.body_timeout = timeout;
        self
    }

    /// Whether `token` is one of the configured tokens (compared in constant time per token).
    fn allows(&self, token: &str) -> bool {
        self.tokens.iter().fold(false, |found, t| {
            found | same_bytes(t.as_bytes(), token.as_bytes())
        })
    }
}

fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Reads a token file: one token per line; blank lines and lines starting with `#` are skipped.
pub fn read_tokens(path: &Path) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the ingest token file {}: {e}", path.display()))?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(format!(
            "the ingest token file {} has no token",
            path.display()
        ));
    }
    if let Some(bad) = tokens.iter().find(|t| t.chars().any(char::is_whitespace)) {
        return Err(format!(
            "a token in {} has whitespace inside: {:?}…",
            path.display(),
            &bad[..bad.len().min(4)]
        ));
    }
    Ok(tokens)
}

/// The answer to an accepted request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngestReply {
    /// Events appended by this request.
    pub accepted: usize,
    /// Events whose key was already seen: not appended again.
    pub duplicates: usize,
    /// Each event's id in request order (a duplicate's is the one it got the first time).
    pub ids: Vec<EventId>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestError {
    /// 404: no token file was given.
    Disabled,
    /// 401: no or an unknown bearer token.
    Unauthorized(&'static str),
    /// 429: too many requests at once.
    Busy,
    /// 408: the body did not arrive in full within the body timeout.
    BodyTimeout(Duration),
    /// 413: the body or the number of events is over the limit.
    TooLarge(String),
    /// 400 about the request as a whole.
    BadRequest(String),
    /// 400 about one line (1-based; the array item for a JSON array).
    BadLine {
        line: usize,
        array: bool,
        reason: String,
    },
    /// 503: the log could not store the events; nothing was appended.
    Unavailable(String),
    /// 422: a limit of the server (`--max-trucks`) refused the events; nothing was appended.
    Refused(String),
}

impl IngestError {
    fn status_and_body(&self) -> (StatusCode, serde_json::Value) {
        match self {
            IngestError::Disabled => (
                StatusCode::NOT_FOUND,
                serde_json::json!({ "error": "ingest is off: start the server with --ingest-token-file FILE" }),
            ),
            IngestError::Unauthorized(why) => (
                StatusCode::UNAUTHORIZED,
                serde_json::json!({ "error": why }),
            ),
            IngestError::Busy => (
                StatusCode::TOO_MANY_REQUESTS,
                serde_json::json!({ "error": "too many ingest requests at once: retry after the Retry-After seconds" }),
            ),
            IngestError::BodyTimeout(limit) => (
                StatusCode::REQUEST_TIMEOUT,
                serde_json::json!({ "error": format!(
                    "the body did not arrive within {} s (--ingest-body-timeout); nothing was appended",
                    limit.as_secs_f64()
                ) }),
            ),
            IngestError::TooLarge(why) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                serde_json::json!({ "error": why }),
            ),
            IngestError::BadRequest(why) => {
                (StatusCode::BAD_REQUEST, serde_json::json!({ "error": why }))
            }
            IngestError::BadLine {
                line,
                array,
                reason,
            } => {
                let what = if *array { "item" } else { "line" };
                (
                    StatusCode::BAD_REQUEST,
                    serde_json::json!({
                        "error": format!("{what} {line}: {reason}; nothing was appended"),
                        "line": line,
                        "reason": reason,
                    }),
                )
            }
            IngestError::Refused(why) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::json!({ "error": format!("{why}; nothing was appended") }),
            ),
            IngestError::Unavailable(why) => (
                StatusCode::SERVICE_UNAVAILABLE,
                serde_json::json!({ "error": format!("the event log is unavailable ({why}): send the request again; a line with a key is never appended twice") }),
            ),
        }
    }

    /// Why the request was refused, for the log: its error message with whatever it quotes
    /// (serde's messages quote the body's values and field names) left out, so no part of an
    /// ingest body reaches the log.
    pub fn log_reason(&self) -> String {
        if let IngestError::Refused(why) = self {
            // The parenthesis lists the refused truck ids, from the body.
            let why = why.split(" (").next().unwrap_or_default();
            return format!("{why}; nothing was appended");
        }
        let (_, body) = self.status_and_body();
        let message = body["error"].as_str().unwrap_or_default();
        let mut reason = String::with_capacity(message.len());
        let mut open: Option<char> = None;
        for c in message.chars() {
            match open {
                Some(close) if c == close => {
                    open = None;
                    reason.push(c);
                }
                Some(_) => {}
                None if c == '"' || c == '`' => {
                    open = Some(c);
                    reason.push(c);
                    reason.push('…');
                }
                None => reason.push(c),
            }
        }
        reason
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let (status, body) = self.status_and_body();
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            IngestError::Unauthorized(_) => {
                headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            IngestError::Busy | IngestError::Unavailable(_) => {
                headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

/// The fields a position line must not carry: the server derives them.
const DERIVED_FIELDS: [&str; 4] = ["progress", "next_stop", "eta_ms", "planned_arrival_ms"];

/// The line types ingest takes.
pub const LINE_TYPES: [&str; 4] = ["position", "plan", "alert", "alert_cleared"];

/// Checks one line as parsed JSON and takes its optional `key` off: a `position` or `plan`
/// (facts the server derives events from), or an `alert` or `alert_cleared` (an external
/// system's own alerts). Truck id shape, coordinates within range, finite numbers, a time not
/// in the far future; derived fields and derived event types are refused, naming them.
pub fn validate(value: serde_json::Value, now_ms: u64) -> Result<Submission, String> {
    let serde_json::Value::Object(mut object) = value else {
        return Err("expected a JSON object".into());
    };
    let key = match object.remove("key") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(key)) => {
            if key.is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
                return Err(format!(
                    "invalid key: use 1 to {MAX_KEY_LEN} bytes without control characters"
                ));
            }
            Some(key)
        }
        Some(_) => return Err("invalid key: expected a string".into()),
    };
    let kind = match object.get("type") {
        Some(serde_json::Value::String(kind)) => kind.clone(),
        Some(_) => return Err("\"type\" must be a string".into()),
        None => return Err("missing \"type\"".into()),
    };
    let input = match kind.as_str() {
        "position" | "plan" => {
            object.remove("type");
            let truck = match object.remove("truck") {
                Some(serde_json::Value::String(truck)) => truck,
                Some(_) => return Err("\"truck\" must be a string".into()),
                None => return Err(format!("invalid {kind} line: missing field `truck`")),
            };
            check_truck(&truck)?;
            let fact = if kind == "position" {
                Fact::Position(position(object, now_ms)?)
            } else {
                Fact::Plan(plan_line(object)?)
            };
            Input::Fact { truck, fact }
        }
        "alert" | "alert_cleared" => Input::Event(external_event(&kind, object, now_ms)?),
        "telemetry" | "status" | "stop" => {
            return Err(format!(
                "{kind} is derived by the server from positions: send position lines"
            ))
        }
        "alert_acked" => {
            return Err(
                "alert_acked events come from operators: POST /api/alerts/{alert_id}/ack".into(),
            )
        }
        _ => {
            return Err(format!(
                "unknown line type {kind:?}: use one of {}",
                LINE_TYPES.join(", ")
            ))
        }
    };
    Ok(Submission { key, input })
}

fn check_truck(truck: &str) -> Result<(), String> {
    if !is_valid_truck_id(truck) {
        return Err(format!(
            "invalid truck id {truck:?}: use 1 to 32 letters, digits and '-'"
        ));
    }
    Ok(())
}

fn check_time(field: &str, at: u64, now_ms: u64) -> Result<(), String> {
    if at > now_ms.saturating_add(MAX_AHEAD_MS) {
        return Err(format!(
            "{field} {at} is more than {} s ahead of the server's clock ({now_ms})",
            MAX_AHEAD_MS / 1000
        ));
    }
    Ok(())
}

/// A position line without its `type`, `truck` and `key`: the report as the truck sent it.
fn position(
    object: serde_json::Map<String, serde_json::Value>,
    now_ms: u64,
) -> Result<PositionReport, String> {
    if let Some(field) = DERIVED_FIELDS.iter().find(|f| object.contains_key(**f)) {
        return Err(format!(
            "{field} is derived by the server: leave it out of position lines"
        ));
    }
    let report: PositionReport = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| format!("invalid position: {e}"))?;
    check_time("at_ms", report.at_ms, now_ms)?;
    let readings = [
        ("speed_kph", report.speed_kph.map(f64::from)),
        ("heading_deg", report.heading_deg.map(f64::from)),
        ("fuel_pct", report.fuel_pct.map(f64::from)),
        ("reefer_c", report.reefer_c.map(f64::from)),
        ("odometer_km", report.odometer_km),
    ];
    for (field, value) in readings {
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(format!("{field} is not a finite number"));
        }
    }
    Ok(report)
}

/// A plan line's `plan`, checked ([`TripPlan::validate`]); errors name the field under `plan.`.
fn plan_line(mut object: serde_json::Map<String, serde_json::Value>) -> Result<TripPlan, String> {
    let value = object
        .remove("plan")
        .ok_or("invalid plan line: missing field `plan`")?;
    read_plan(value).map_err(|e| format!("plan.{e}"))
}

/// A trip plan from JSON, checked: the error names the field (`stops[1].radius_m …`).
pub fn read_plan(value: serde_json::Value) -> Result<TripPlan, String> {
    let plan: TripPlan = serde_json::from_value(value).map_err(|e| format!("{e}"))?;
    plan.validate().map_err(|e| e.to_string())?;
    Ok(plan)
}

/// An `alert` or `alert_cleared` line as the stream carries it.
fn external_event(
    kind: &str,
    object: serde_json::Map<String, serde_json::Value>,
    now_ms: u64,
) -> Result<FleetEvent, String> {
    let event: FleetEvent = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| format!("invalid {kind} event: {e}"))?;
    check_truck(event.truck())?;
    check_time("at_ms", event.at_ms(), now_ms)?;
    if let FleetEvent::Alert { alert, .. } = &event {
        check_time("alert.raised_ms", alert.raised_ms, now_ms)?;
        check_text("alert.message", &alert.message)?;
    }
    Ok(event)
}

/// A body's lines, checked, with the 1-based line (or array item) each came from.
#[derive(Debug)]
pub struct Lines {
    pub submissions: Vec<Submission>,
    pub numbers: Vec<usize>,
    pub array: bool,
}

/// Splits and checks a body: a JSON array, or one line per line (blank lines skipped).
pub fn parse_body(body: &[u8], now_ms: u64) -> Result<Lines, IngestError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| IngestError::BadRequest(format!("the body is not UTF-8: {e}")))?;
    let mut out = Vec::new();
    let mut numbers = Vec::new();
    let array = text.trim_start().starts_with('[');
    if array {
        let items: Vec<serde_json::Value> = serde_json::from_str(text).map_err(|e| {
            IngestError::BadRequest(format!(
                "invalid JSON array at line {} column {}: {e}",
                e.line(),
                e.column()
            ))
        })?;
        for (i, item) in items.into_iter().enumerate() {
            out.push(
                validate(item, now_ms).map_err(|reason| IngestError::BadLine {
                    line: i + 1,
                    array: true,
                    reason,
                })?,
            );
            numbers.push(i + 1);
        }
    } else {
        for (i, line) in text.split('\n').enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let bad = |reason: String| IngestError::BadLine {
                line: i + 1,
                array: false,
                reason,
            };
            let value: serde_json::Value =
                serde_json::from_str(line).map_err(|e| bad(format!("invalid JSON: {e}")))?;
            out.push(validate(value, now_ms).map_err(bad)?);
            numbers.push(i + 1);
        }
    }
    if out.is_empty() {
        return Err(IngestError::BadRequest("no events in the body".into()));
    }
    Ok(Lines {
        submissions: out,
        numbers,
        array,
    })
}

/// How much of a body over the limit is read and dropped before answering 413, and for how
/// long: answering while the client still sends makes its TCP stack reset the connection, and
/// the client may never see the 413.
const DRAIN_LIMIT: usize = 4 << 20;
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(2);

/// A body read in full, and its share of the memory budget while it is kept.
struct Received {
    bytes: Bytes,
    _budget: Option<OwnedSemaphorePermit>,
}

/// The body, or `None` when it is over `ingest.max_bytes` (what follows the limit is drained,
/// within bounds). Every byte kept takes a permit of the bodies' memory budget (429 when it is
/// spent); a body not in by the body timeout is 408.
async fn read_body(mut body: Body, ingest: &Ingest) -> Result<Option<Received>, IngestError> {
    use http_body_util::BodyExt;
    let max = ingest.max_bytes;
    let deadline = tokio::time::Instant::now() + ingest.body_timeout;
    let mut kept = BytesMut::new();
    let mut budget: Option<OwnedSemaphorePermit> = None;
    let mut total = 0usize;
    let mut drain_until = None;
    loop {
        let frame = match drain_until {
            None => match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(frame) => frame,
                Err(_) => return Err(IngestError::BodyTimeout(ingest.body_timeout)),
            },
            Some(until) => match tokio::time::timeout_at(until, body.frame()).await {
                Ok(frame) => frame,
                Err(_) => break,
            },
        };
        let Some(frame) = frame else { break };
        let frame =
            frame.map_err(|e| IngestError::BadRequest(format!("cannot read the body: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total += data.len();
        if total <= max {
            let more = u32::try_from(data.len())
                .ok()
                .and_then(|n| ingest.body_bytes.clone().try_acquire_many_owned(n).ok())
                .ok_or(IngestError::Busy)?;
            match &mut budget {
                Some(held) => held.merge(more),
                None => budget = Some(more),
            }
            kept.extend_from_slice(&data);
        } else if total > max + DRAIN_LIMIT {
            break;
        } else if drain_until.is_none() {
            drain_until = Some(tokio::time::Instant::now() + DRAIN_TIME);
        }
    }
    Ok((total <= max).then(|| Received {
        bytes: kept.freeze(),
        _budget: budget,
    }))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Middleware around `POST /api/ingest`, outside its other layers: counts each request's
/// outcome by its status (a node still reading its shared log answers 503 before the handler).
/// Nothing is counted with ingest off (404).
pub async fn count_outcome(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let outcome = match response.status() {
        StatusCode::OK => IngestOutcome::Accepted,
        StatusCode::BAD_REQUEST => IngestOutcome::BadRequest,
        StatusCode::UNAUTHORIZED => IngestOutcome::Unauthorized,
        StatusCode::PAYLOAD_TOO_LARGE => IngestOutcome::TooLarge,
        StatusCode::TOO_MANY_REQUESTS => IngestOutcome::Busy,
        StatusCode::REQUEST_TIMEOUT => IngestOutcome::Timeout,
        StatusCode::UNPROCESSABLE_ENTITY => IngestOutcome::Refused,
        StatusCode::SERVICE_UNAVAILABLE => IngestOutcome::Unavailable,
        _ => return response,
    };
    app.metrics.ingest(outcome);
    response
}

/// `POST /api/ingest`.
pub async fn ingest(
    State(app): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestReply>, IngestError> {
    let reply = handle(&app, headers, body).await.inspect_err(|e| {
        // With ingest off (404) there is nothing to refuse: the request line says it.
        if !app.settings.quiet && !matches!(e, IngestError::Disabled) {
            tracing::warn!(
                status = e.status_and_body().0.as_u16(),
                reason = e.log_reason(),
                "ingest rejected"
            );
        }
    })?;
    app.metrics.appended(Source::Ingest, reply.accepted);
    Ok(reply)
}

/// The ingest settings when `headers` carry one of its tokens.
fn authorize(app: &AppState, headers: &HeaderMap) -> Result<Arc<Ingest>, IngestError> {
    let ingest = app.ingest.clone().ok_or(IngestError::Disabled)?;
    let token = bearer(headers).ok_or(IngestError::Unauthorized(
        "missing Authorization: Bearer <token>",
    ))?;
    if !ingest.allows(token) {
        return Err(IngestError::Unauthorized("unknown ingest token"));
    }
    Ok(ingest)
}

/// The body in full, within the ingest limits.
async fn receive(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Body,
) -> Result<Received, IngestError> {
    let too_large = || {
        IngestError::TooLarge(format!(
            "the body is over the limit of {} bytes",
            ingest.max_bytes
        ))
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > (ingest.max_bytes + DRAIN_LIMIT) as u64) {
        return Err(too_large());
    }
    read_body(body, ingest).await?.ok_or_else(too_large)
}

/// A log error as ingest answers it; `line` names the request's line for an input that could
/// not be derived.
fn refused(e: LogError, line: impl Fn(usize) -> (usize, bool)) -> IngestError {
    match e {
        LogError::Refused(why) => IngestError::Refused(why),
        LogError::Invalid { index, reason } => {
            let (line, array) = line(index);
            IngestError::BadLine {
                line,
                array,
                reason,
            }
        }
        e => IngestError::Unavailable(e.to_string()),
    }
}

async fn handle(
    app: &AppState,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestReply>, IngestError> {
    let ingest = authorize(app, &headers)?;
    let received = receive(&ingest, &headers, body).await?;
    // The slot is taken once the body is in: a slow sender holds none, only its bytes.
    let _permit = ingest
        .permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| IngestError::Busy)?;
    let now_ms = app.settings.clock.now_ms();
    let Lines {
        submissions,
        numbers,
        array,
    } = parse_body(&received.bytes, now_ms)?;
    if submissions.len() > ingest.max_events {
        return Err(IngestError::TooLarge(format!(
            "{} events is over the limit of {} a request",
            submissions.len(),
            ingest.max_events
        )));
    }
    let outcomes = app
        .hub
        .append_async(submissions, now_ms)
        .await
        .map_err(|e| refused(e, |index| (numbers[index], array)))?;
    let accepted = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Appended(_)))
        .count();
    Ok(Json(IngestReply {
        accepted,
        duplicates: outcomes.len() - accepted,
        ids: outcomes.iter().map(|o| o.id()).collect(),
    }))
}

/// The answer to an accepted `PUT /api/trucks/{id}/plan`: the `plan` event's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanReply {
    pub id: EventId,
}

/// `PUT /api/trucks/{id}/plan` (an ingest token): the body is a trip plan; it is appended as
/// a `plan` event (and what it derives against the truck's last position). 400 naming the field
/// for a bad plan.
pub async fn put_plan(
    State(app): State<AppState>,
    axum::extract::Path(truck): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PlanReply>, IngestError> {
    let reply = async {
        let ingest = authorize(&app, &headers)?;
        let received = receive(&ingest, &headers, body).await?;
        let _permit = ingest
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| IngestError::Busy)?;
        check_truck(&truck).map_err(IngestError::BadRequest)?;
        let value: serde_json::Value = serde_json::from_slice(&received.bytes)
            .map_err(|e| IngestError::BadRequest(format!("the body is not a JSON plan: {e}")))?;
        let plan = read_plan(value)
            .map_err(|e| IngestError::BadRequest(format!("{e}; nothing was appended")))?;
        let now_ms = app.settings.clock.now_ms();
        let outcomes = app
            .hub
            .append_async(vec![Submission::fact(truck, Fact::Plan(plan))], now_ms)
            .await
            .map_err(|e| match refused(e, |_| (1, false)) {
                IngestError::BadLine { reason, .. } => IngestError::BadRequest(reason),
                e => e,
            })?;
        Ok(PlanReply {
            id: outcomes[0].id(),
        })
    }
    .await
    .inspect_err(|e: &IngestError| {
        if !app.settings.quiet && !matches!(e, IngestError::Disabled) {
            tracing::warn!(
                status = e.status_and_body().0.as_u16(),
                reason = e.log_reason(),
                "plan rejected"
            );
        }
    })?;
    app.metrics.appended(Source::Ingest, 1);
    Ok(Json(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn check(line: &str) -> Result<Submission, String> {
        validate(serde_json::from_str(line).unwrap(), NOW)
    }

    #[test]
    fn a_position_line_is_a_fact_and_takes_the_key_off() {
        let ok = check(
            r#"{"type":"position","truck":"T-01","at_ms":1800000000000,"lat":41.88,"lon":-87.63,"speed_kph":72.5,"key":"k1"}"#,
        )
        .unwrap();
        assert_eq!(ok.key.as_deref(), Some("k1"));
        let Input::Fact {
            truck,
            fact: Fact::Position(report),
        } = ok.input
        else {
            panic!("not a position fact: {:?}", ok.input);
        };
        assert_eq!(truck, "T-01");
        assert_eq!(
            (report.position.lat(), report.speed_kph),
            (41.88, Some(72.5))
        );
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            (
                r#"{"type":"teleport","truck":"T-01","at_ms":1}"#,
                "unknown line type \"teleport\": use one of position, plan, alert, alert_cleared",
            ),
            (r#"{"truck":"T-01","at_ms":1}"#, "missing \"type\""),
            (
                r#"{"type":"position","truck":"T 01","at_ms":1,"lat":0,"lon":0}"#,
                "invalid truck id",
            ),
            (
                r#"{"type":"status","truck":"T-01","at_ms":1,"status":"idle","next_stop":0}"#,
                "status is derived by the server from positions: send position lines",
            ),
            (
                r#"{"type":"telemetry","truck":"T-01","at_ms":1}"#,
                "telemetry is derived by the server from positions",
            ),
            (
                r#"{"type":"position","truck":"T-01","at_ms":9999999999999999,"lat":0,"lon":0}"#,
                "ahead of the server's clock",
            ),
            (
                r#"{"type":"position","truck":"T-01","at_ms":1,"lat":91,"lon":0}"#,
                "lat must be a finite number of degrees within ±90, got 91",
            ),
            (
                r#"{"type":"position","truck":"T-01","at_ms":1,"lat":1,"lon":-180.5}"#,
                "lon must be a finite number of degrees within ±180",
            ),
            (
                r#"{"type":"position","truck":"T-01","at_ms":1,"lat":1,"lon":2,"speed_kph":1e39}"#,
                "speed_kph is not a finite number",
            ),
            (
                r#"{"type":"position","truck":"T-01","at_ms":1,"lat":1,"lon":2,"progress":0.5}"#,
                "progress is derived by the server",
            ),
            (
                r#"{"type":"position","truck":"T-01","at_ms":1,"lon":2}"#,
                "missing field `lat`",
            ),
            (
                r#"{"type":"plan","truck":"T-01","plan":{"driver":"A","route_name":"R","stops":[]}}"#,
                "plan.stops: a plan needs at least two stops",
            ),
            (
                r#"{"type":"alert_cleared","truck":"T-01","at_ms":1,"kind":"delay","key":7}"#,
                "invalid key",
            ),
            (r#"[1]"#, "expected a JSON object"),
        ];
        for (line, expected) in cases {
            let error = check(line).unwrap_err();
            assert!(error.contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn bodies_number_their_lines() {
        let good = r#"{"type":"alert_cleared","truck":"T-02","at_ms":5,"kind":"delay"}"#;
        let body = format!("{good}\n\n{good}\r\n{{oops\n");
        match parse_body(body.as_bytes(), NOW) {
            Err(IngestError::BadLine {
                line: 4,
                array: false,
                reason,
            }) => {
                assert!(reason.contains("invalid JSON"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_body(format!("{good}\n\n{good}\n").as_bytes(), NOW)
                .unwrap()
                .numbers,
            [1, 3]
        );
        let array = format!("[{good}, {{\"type\":\"nope\"}}]");
        assert!(matches!(
            parse_body(array.as_bytes(), NOW),
            Err(IngestError::BadLine {
                line: 2,
                array: true,
                ..
            })
        ));
        assert!(matches!(
            parse_body(b"  \n", NOW),
            Err(IngestError::BadRequest(_))
        ));
    }

    #[test]
    fn tokens_match_exactly() {
        let ingest = Ingest::new(vec!["abc".into(), "secret-2".into()], 10, 10, 1);
        assert!(ingest.allows("secret-2"));
        assert!(!ingest.allows("secret"));
        assert!(!ingest.allows(""));
    }

    #[test]
    fn the_log_reason_leaves_out_what_the_body_said() {
        let bad = IngestError::BadLine {
            line: 2,
            array: false,
            reason: "unknown event type \"s3cret\": use one of telemetry; `also` here".into(),
        };
        assert_eq!(
            bad.log_reason(),
            "line 2: unknown event type \"…\": use one of telemetry; `…` here; nothing was appended"
        );
        let refused = IngestError::Refused(
            "the fleet holds 2 trucks and --max-trucks is 2: 1 new truck ids refused (T-s3cret)"
                .into(),
        );
        assert!(
            !refused.log_reason().contains("s3cret"),
            "{}",
            refused.log_reason()
        );
        assert!(refused.log_reason().contains("--max-trucks is 2"));
    }
}
