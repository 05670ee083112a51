//! `POST /api/ingest`: an operator's backend pushes fleet events.
//!
//! The body is newline-delimited JSON or one JSON array of events in exactly the shape of the
//! stream's `data:` (no ids: the log assigns them), each with an optional `key` that makes a
//! retried request idempotent within a window. The request is authorised by `Authorization:
//! Bearer <token>` against the tokens of `--ingest-token-file`. Every event is checked before
//! anything is appended: one bad line answers 400 naming the line and the reason, and nothing
//! of the request is kept. The events of one request get contiguous ids.

use crate::hub::{Outcome, Submission};
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
                serde_json::json!({ "error": format!("the event log is unavailable, nothing was appended: {why}") }),
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

/// Checks one event as parsed JSON: known type, truck id shape, finite numbers, a time not in
/// the far future; takes its optional `key` off.
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
    if !FleetEvent::NAMES.contains(&kind.as_str()) {
        return Err(format!(
            "unknown event type {kind:?}: use one of {}",
            FleetEvent::NAMES.join(", ")
        ));
    }
    if kind == "alert_acked" {
        return Err(
            "alert_acked events come from operators: POST /api/alerts/{alert_id}/ack".into(),
        );
    }
    let event: FleetEvent = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| format!("invalid {kind} event: {e}"))?;
    if !is_valid_truck_id(event.truck()) {
        return Err(format!(
            "invalid truck id {:?}: use 1 to 32 letters, digits and '-'",
            event.truck()
        ));
    }
    let limit = now_ms.saturating_add(MAX_AHEAD_MS);
    let mut times = vec![("at_ms", event.at_ms())];
    if let FleetEvent::Alert { alert, .. } = &event {
        times.push(("alert.raised_ms", alert.raised_ms));
        check_text("alert.message", &alert.message)?;
    }
    for (field, at) in times {
        if at > limit {
            return Err(format!(
                "{field} {at} is more than {} s ahead of the server's clock ({now_ms})",
                MAX_AHEAD_MS / 1000
            ));
        }
    }
    if let FleetEvent::Telemetry {
        position,
        progress,
        speed_kph,
        fuel_pct,
        reefer_c,
        ..
    } = &event
    {
        let numbers = [
            ("position.x", Some(position.x)),
            ("position.y", Some(position.y)),
            ("progress", Some(*progress)),
            ("speed_kph", Some(*speed_kph)),
            ("fuel_pct", Some(*fuel_pct)),
            ("reefer_c", *reefer_c),
        ];
        for (field, value) in numbers {
            if value.is_some_and(|v| !v.is_finite()) {
                return Err(format!("{field} is not a finite number"));
            }
        }
    }
    Ok(Submission { key, event })
}

/// Splits and checks a body: a JSON array, or one event per line (blank lines skipped).
pub fn parse_body(body: &[u8], now_ms: u64) -> Result<Vec<Submission>, IngestError> {
    let text = std::str::from_utf8(body)
        .map_err(|e| IngestError::BadRequest(format!("the body is not UTF-8: {e}")))?;
    let mut out = Vec::new();
    if text.trim_start().starts_with('[') {
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
        }
    }
    if out.is_empty() {
        return Err(IngestError::BadRequest("no events in the body".into()));
    }
    Ok(out)
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

async fn handle(
    app: &AppState,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<IngestReply>, IngestError> {
    let ingest = app.ingest.clone().ok_or(IngestError::Disabled)?;
    let token = bearer(&headers).ok_or(IngestError::Unauthorized(
        "missing Authorization: Bearer <token>",
    ))?;
    if !ingest.allows(token) {
        return Err(IngestError::Unauthorized("unknown ingest token"));
    }
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
    let received = read_body(body, &ingest).await?.ok_or_else(too_large)?;
    // The slot is taken once the body is in: a slow sender holds none, only its bytes.
    let _permit = ingest
        .permits
        .clone()
        .try_acquire_owned()
        .map_err(|_| IngestError::Busy)?;
    let now_ms = app.settings.clock.now_ms();
    let batch = parse_body(&received.bytes, now_ms)?;
    if batch.len() > ingest.max_events {
        return Err(IngestError::TooLarge(format!(
            "{} events is over the limit of {} a request",
            batch.len(),
            ingest.max_events
        )));
    }
    let outcomes = app
        .hub
        .append_async(batch, now_ms)
        .await
        .map_err(|e| match e {
            LogError::Refused(why) => IngestError::Refused(why),
            e => IngestError::Unavailable(e.to_string()),
        })?;
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

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn check(line: &str) -> Result<Submission, String> {
        validate(serde_json::from_str(line).unwrap(), NOW)
    }

    #[test]
    fn accepts_the_stream_shape_and_takes_the_key_off() {
        let ok = check(
            r#"{"type":"status","truck":"T-01","at_ms":1800000000000,"status":"delayed","next_stop":2,"key":"k1"}"#,
        )
        .unwrap();
        assert_eq!(ok.key.as_deref(), Some("k1"));
        assert_eq!(ok.event.truck(), "T-01");
    }

    #[test]
    fn names_what_is_wrong() {
        let cases = [
            (
                r#"{"type":"teleport","truck":"T-01","at_ms":1}"#,
                "unknown event type",
            ),
            (r#"{"truck":"T-01","at_ms":1}"#, "missing \"type\""),
            (
                r#"{"type":"status","truck":"T 01","at_ms":1,"status":"idle","next_stop":0}"#,
                "invalid truck id",
            ),
            (
                r#"{"type":"status","truck":"T-01","at_ms":1,"status":"flying","next_stop":0}"#,
                "invalid status event",
            ),
            (
                r#"{"type":"status","truck":"T-01","at_ms":9999999999999999,"status":"idle","next_stop":0}"#,
                "ahead of the server's clock",
            ),
            (
                r#"{"type":"telemetry","truck":"T-01","at_ms":1,"position":{"x":1e39,"y":0},"progress":0,"speed_kph":0,"eta_ms":0,"planned_arrival_ms":0,"fuel_pct":0,"reefer_c":null,"driver_minutes_left":0}"#,
                "position.x is not a finite number",
            ),
            (
                r#"{"type":"status","truck":"T-01","at_ms":1,"status":"idle","next_stop":0,"key":7}"#,
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
                .len(),
            2
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
