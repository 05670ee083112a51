//! `GET /api/stream`: the Server-Sent Events feed (WHATWG HTML §9.2).
//!
//! A stream starts with `retry:`, then a `reset` event if its resume id could not be honoured,
//! then the buffered events after the resume id, then live events, with `: keep-alive` comments
//! and optional `heartbeat` events in between. It ends when the server shuts down (with a short
//! `retry:` last, so the client comes back at once, to another node behind a proxy) or when the
//! stream falls more than its queue capacity behind (the client resumes with `Last-Event-ID`).
//! Falling behind ends the response from outside (see `conn`), as a stalled client stops hyper
//! from polling the body: on HTTP/2 only that stream is reset, the connection's other streams go
//! on; on HTTP/1.1 its connection closes.
//!
//! Bounds: at most [`MAX_WATCHED`] truck ids, kept only if the fleet has them; at most
//! `--max-streams` streams at once (503 with `Retry-After` beyond).

use crate::api::ApiError;
use crate::auth::{self, Operator};
use crate::conn::ConnectionHandle;
use crate::fanout::{Delivery, Live};
use crate::hub::{Clock, Hub, Subscription};
use crate::log::Logged;
use crate::metrics::Metrics;
use crate::stats::StreamGuard;
use crate::stats::{OperatorStream, StreamSlot};
use crate::AppState;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Version};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use bytes::{Bytes, BytesMut};
use convoy_core::sse;
use convoy_core::wire::{
    is_valid_truck_id, EventId, Heartbeat, Watch, BATCH_EVENT, HEARTBEAT_EVENT, RESET_EVENT,
};
use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{interval_at, Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

/// The reconnection delay the stream asks browsers for.
pub const RETRY_MS: u64 = 2000;
/// The delay a stream ended by shutdown asks for last: short, so the client comes back at once
/// (to another node, behind a proxy) with `Last-Event-ID`.
pub const SHUTDOWN_RETRY_MS: u64 = 250;
/// The shortest heartbeat interval a client may ask for.
pub const MIN_HEARTBEAT_MS: u64 = 100;
/// The longest one (an hour).
pub const MAX_HEARTBEAT_MS: u64 = 3_600_000;
/// How long a stream resuming after an id this node has not read yet waits for it.
const CATCH_UP: Duration = Duration::from_secs(2);
/// Most bytes sent in one body chunk when batching queued events.
const MAX_CHUNK: usize = 64 * 1024;
/// The most truck ids one stream may watch.
pub const MAX_WATCHED: usize = 500;
/// Seconds a client is asked to wait when every stream slot is taken.
const BUSY_RETRY_AFTER_SECS: u64 = 5;

/// The stream's parameters, read from the query and headers.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamParams {
    pub watch: Watch,
    pub resume: Option<EventId>,
    pub heartbeat: Option<Duration>,
    /// Events that are ready together go out as one `batch` message (`batch=1`).
    pub batch: bool,
}

/// Reads `trucks`, `lastEventId` and `heartbeat_ms` from the query and `Last-Event-ID` from the
/// headers; the header wins over the query parameter. The shapes accepted:
/// - `trucks`: `all` (any case), or 1 to [`MAX_WATCHED`] truck ids separated by commas, each
///   trimmed and valid (`is_valid_truck_id`); absent means `all`; empty means no truck (the
///   stream carries heartbeats and keep-alives only: how a page that shows no truck knows its
///   connection lives);
/// - `lastEventId` and `Last-Event-ID`: a decimal event id (digits only, trimmed); empty or
///   blank counts as absent;
/// - `heartbeat_ms`: decimal milliseconds from [`MIN_HEARTBEAT_MS`] to [`MAX_HEARTBEAT_MS`];
///   empty or blank counts as absent;
/// - `batch`: `1` sends events that are ready together as one [`BATCH_EVENT`], `0` (the
///   default, for any SSE client) one message per event.
///
/// A repeated parameter counts once, its last value. Every error is a 400 whose message starts
/// with the parameter's name. Never panics, whatever the input.
pub fn parse_params(
    query: Option<&str>,
    last_event_id: Option<&HeaderValue>,
) -> Result<StreamParams, ApiError> {
    let mut trucks = None;
    let mut query_resume = None;
    let mut heartbeat = None;
    let mut batch = None;
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "trucks" => trucks = Some(value),
            "lastEventId" => query_resume = Some(value),
            "heartbeat_ms" => heartbeat = Some(value),
            "batch" => batch = Some(value),
            _ => {}
        }
    }
    let watch = match trucks {
        Some(value) => parse_trucks(&value)?,
        None => Watch::All,
    };
    let query_resume = match query_resume {
        Some(value) => parse_decimal("lastEventId", "an event id", &value)?,
        None => None,
    };
    let header_resume = match last_event_id {
        Some(value) => {
            let text = value.to_str().map_err(|_| {
                ApiError::bad_request("Last-Event-ID: the header is not visible ASCII")
            })?;
            parse_decimal("Last-Event-ID", "an event id", text)?
        }
        None => None,
    };
    let heartbeat = match parse_decimal(
        "heartbeat_ms",
        "a number of milliseconds",
        &heartbeat.unwrap_or_default(),
    )? {
        Some(ms) if (MIN_HEARTBEAT_MS..=MAX_HEARTBEAT_MS).contains(&ms) => {
            Some(Duration::from_millis(ms))
        }
        Some(ms) => {
            return Err(ApiError::bad_request(format!(
                "heartbeat_ms: {ms} is out of range, use {MIN_HEARTBEAT_MS} to {MAX_HEARTBEAT_MS}"
            )))
        }
        None => None,
    };
    let batch = match batch.as_deref().map(str::trim) {
        None | Some("" | "0") => false,
        Some("1") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "batch: {} is not 0 or 1",
                quoted(other)
            )))
        }
    };
    Ok(StreamParams {
        watch,
        resume: header_resume.or(query_resume),
        heartbeat,
        batch,
    })
}

/// At most this many characters of a bad value are quoted back in an error.
const QUOTED: usize = 40;

fn quoted(value: &str) -> String {
    let mut short: String = value.chars().take(QUOTED).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    format!("{short:?}")
}

fn parse_trucks(value: &str) -> Result<Watch, ApiError> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("all") {
        return Ok(Watch::All);
    }
    if value.is_empty() {
        return Ok(Watch::Trucks(BTreeSet::new()));
    }
    if value.split(',').nth(MAX_WATCHED).is_some() {
        return Err(ApiError::bad_request(format!(
            "trucks: at most {MAX_WATCHED} truck ids, or 'all'"
        )));
    }
    let mut set = BTreeSet::new();
    for id in value.split(',') {
        let id = id.trim();
        if !is_valid_truck_id(id) {
            return Err(ApiError::bad_request(format!(
                "trucks: {} is not a truck id (1 to 32 letters, digits and '-'); \
                 list ids separated by commas, or 'all'",
                quoted(id)
            )));
        }
        set.insert(id.to_owned());
    }
    Ok(Watch::Trucks(set))
}

/// A non-negative decimal integer (digits only, trimmed) below 2^64, `what` the parameter holds;
/// `None` for a blank value.
fn parse_decimal(name: &str, what: &str, value: &str) -> Result<Option<u64>, ApiError> {
    let digits = value.trim();
    if digits.is_empty() {
        return Ok(None);
    }
    let bad = || {
        ApiError::bad_request(format!(
            "{name}: {} is not {what} (decimal digits, below 2^64)",
            quoted(value)
        ))
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits.parse().map(Some).map_err(|_| bad())
}

/// 503 when every stream slot is taken: the client retries after `Retry-After`.
fn busy(max: usize) -> Response {
    let body = Json(serde_json::json!({
        "error": format!("the server has its maximum of {max} streams open: retry after the Retry-After seconds")
    }));
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(BUSY_RETRY_AFTER_SECS));
    response
}

/// 429 when the operator holds every stream of their share: their oldest tabs must close first.
fn operator_busy(operator: &str, max: usize) -> Response {
    let body = Json(serde_json::json!({
        "error": format!(
            "{operator} has {max} streams open, the most --max-streams-per-operator allows: \
             close a tab or another browser first"
        )
    }));
    let mut response = (StatusCode::TOO_MANY_REQUESTS, body).into_response();
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(BUSY_RETRY_AFTER_SECS));
    response
}

/// Keeps only the trucks the fleet has: a watch never holds ids that name nothing.
fn known_trucks(hub: &Hub, watch: Watch) -> Watch {
    match watch {
        Watch::All => Watch::All,
        Watch::Trucks(set) => Watch::Trucks(
            set.into_iter()
                .filter(|id| hub.truck(id).is_some())
                .collect(),
        ),
    }
}

/// `GET /api/stream`.
pub async fn stream(
    State(app): State<AppState>,
    version: Version,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    connection: Option<Extension<ConnectionHandle>>,
    Extension(operator): Extension<Operator>,
) -> Result<Response, ApiError> {
    let mut params = parse_params(query.as_deref(), headers.get("last-event-id"))?;
    params.watch = operator.scope.restrict(&params.watch)?;
    let operator_slot = match &operator.name {
        Some(name) => match app.operator_streams.try_take(name) {
            Some(slot) => Some(slot),
            None => return Ok(operator_busy(name, app.operator_streams.max())),
        },
        None => None,
    };
    let slot = match &connection {
        Some(Extension(connection)) => match connection.streams().try_take() {
            Some(slot) => Some(slot),
            None => return Ok(busy(connection.streams().max())),
        },
        None => None,
    };
    let watch = known_trucks(&app.hub, params.watch);
    let trucks = watch.to_query();
    let guard = app.stats.open(
        format!("{version:?}"),
        trucks.clone(),
        app.settings.clock.now_ms(),
    );
    let on_lag = connection.map(|Extension(c)| c.end_token());
    if let (Some(_), Some(resume)) = (app.hub.remote(), params.resume) {
        // Read up to `resume` on a node that is ahead of this one: resume here once this
        // node's tail has caught up, rather than refuse an id the shared log has.
        if resume > app.hub.latest_id() {
            app.hub.caught_up(resume, CATCH_UP).await;
        }
    }
    let subscription = app.hub.subscribe(guard.id(), watch, params.resume, on_lag);
    let log = !app.settings.quiet;
    if log {
        let from = match (&subscription.reset, params.resume) {
            (Some(_), _) => "reset".to_owned(),
            (None, Some(id)) => format!("after {id}"),
            (None, None) => "live".to_owned(),
        };
        tracing::info!(
            stream = guard.id(),
            operator = operator.name.as_deref(),
            node = %app.settings.node,
            http = ?version,
            %trucks,
            %from,
            "stream opened"
        );
    }
    let lagged = subscription.lagged.clone();
    let feed = Feed::new(
        subscription,
        Lease {
            hub: app.hub.clone(),
            metrics: app.metrics.clone(),
            closing: app.shutdown.clone(),
            guard,
            lagged,
            log,
            operator: operator.name.clone(),
            node: app.settings.node.clone(),
            opened: Instant::now(),
            sent: 0,
            ended: None,
            expires_at_ms: operator.expires_at_ms,
            clock: app.settings.clock,
            _slot: slot,
            _operator_slot: operator_slot,
        },
        params.heartbeat,
        params.batch,
        app.settings.clock,
    );
    let body = futures_util::stream::unfold(feed, |mut feed| async move {
        let chunk = feed.next_chunk().await?;
        Some((Ok::<Bytes, Infallible>(chunk), feed))
    });
    // A session that never expires needs no deadline beside its feed: one allocation less per
    // stream, and one layer less to poll for every chunk.
    let body = match operator.expires_at_ms {
        Some(_) => Body::from_stream(auth::end_at_expiry(
            body,
            operator.expires_at_ms,
            app.settings.clock.now_ms(),
        )),
        None => Body::from_stream(body),
    };
    let response = Response::builder()
        .header(CONTENT_TYPE, "text/event-stream")
        .header(CACHE_CONTROL, "no-cache")
        .header("x-accel-buffering", "no")
        .body(body)
        .map_err(|e| ApiError {
            status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        })?;
    Ok(response)
}

/// Holds the stream's place in the stats and the hub's fan-out; dropping it (when the body is
/// dropped, on close or disconnect) releases both.
struct Lease {
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    /// The server's shutdown token, checked before each chunk of a replay.
    closing: CancellationToken,
    guard: StreamGuard,
    lagged: Arc<AtomicBool>,
    log: bool,
    /// For the closing log line: who, where, since when, how much, and why it ended when the
    /// feed knows (else the client left, or the session expired).
    operator: Option<String>,
    node: Arc<str>,
    opened: Instant,
    sent: u64,
    ended: Option<&'static str>,
    expires_at_ms: Option<u64>,
    clock: Clock,
    /// This stream's place under `--max-streams`.
    _slot: Option<StreamSlot>,
    /// Its place in its operator's share (`--max-streams-per-operator`).
    _operator_slot: Option<OperatorStream>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.guard.id());
        let lagged = self.lagged.load(Ordering::Acquire);
        if lagged {
            self.metrics.slow_stream_cut();
        }
        if self.log {
            let expired = self
                .expires_at_ms
                .is_some_and(|at| at <= self.clock.now_ms());
            let reason = if lagged {
                "fell behind"
            } else if let Some(ended) = self.ended {
                ended
            } else if expired {
                "token expired"
            } else {
                "client left"
            };
            tracing::info!(
                stream = self.guard.id(),
                operator = self.operator.as_deref(),
                node = %self.node,
                duration_ms = self.opened.elapsed().as_millis() as u64,
                events_sent = self.sent,
                reason,
                "stream closed"
            );
        }
    }
}

/// The body's state: what to send next.
struct Feed {
    pending: VecDeque<Bytes>,
    live: Live,
    /// The heartbeats the client asked for. The keep-alive tick and shutdown arrive through the
    /// fan-out, the same moment for every stream: no timer or token of each stream's own to
    /// poll at every event.
    heartbeat: Option<Interval>,
    /// Whether anything went out since the last keep-alive tick.
    wrote_since_tick: bool,
    /// Events ready together go out as one `batch` message.
    batch: bool,
    clock: Clock,
    lease: Lease,
}

fn ticker(period: Duration) -> Interval {
    let mut interval = interval_at(Instant::now() + period, period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

impl Feed {
    fn new(
        subscription: Subscription,
        mut lease: Lease,
        heartbeat: Option<Duration>,
        batch: bool,
        clock: Clock,
    ) -> Feed {
        let mut first = BytesMut::from(sse::encode_retry(RETRY_MS).as_bytes());
        if let Some(notice) = &subscription.reset {
            let data = serde_json::to_string(notice).unwrap_or_default();
            first.extend_from_slice(sse::encode_event(None, Some(RESET_EVENT), &data).as_bytes());
        }
        let mut pending = VecDeque::new();
        // The replay in chunks of about MAX_CHUNK bytes of frames: `replay[start..i]` waits.
        let replay = &subscription.replay;
        let (mut start, mut waiting_bytes) = (0, 0);
        for (i, event) in replay.iter().enumerate() {
            if first.len() + waiting_bytes + event.frame.len() > MAX_CHUNK
                && !(first.is_empty() && start == i)
            {
                write_events(&mut first, &replay[start..i], batch);
                (start, waiting_bytes) = (i, 0);
                pending.push_back(first.split().freeze());
            }
            waiting_bytes += event.frame.len();
        }
        write_events(&mut first, &replay[start..], batch);
        pending.push_back(first.freeze());
        // Replayed events were published before this stream: no latency of theirs to observe.
        lease.metrics.written(replay.len(), 0);
        lease.sent = replay.len() as u64;
        Feed {
            pending,
            live: subscription.live,
            heartbeat: heartbeat.map(ticker),
            wrote_since_tick: false,
            batch,
            clock,
            lease,
        }
    }

    /// The stream's last chunk at shutdown, [`SHUTDOWN_RETRY_MS`] as `retry:`; `None` after it.
    /// Events still queued are not sent: the client resumes after its last id elsewhere.
    fn closing(&mut self) -> Option<Bytes> {
        if self.lease.ended.is_some() {
            return None;
        }
        self.lease.ended = Some("shutdown");
        Some(Bytes::from(sse::encode_retry(SHUTDOWN_RETRY_MS)))
    }

    /// The next body chunk, or `None` when the stream ends.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(chunk) = self.pending.pop_front() {
            // A replay may be long: at shutdown the client resumes it elsewhere.
            if self.lease.closing.is_cancelled() {
                return self.closing();
            }
            return Some(chunk);
        }
        loop {
            // Timers before events, so a busy stream still gets its heartbeats.
            let delivery = tokio::select! {
                biased;
                _ = tick(&mut self.heartbeat) => return Some(self.heartbeat()),
                delivery = self.live.recv() => delivery,
            };
            match delivery {
                // A stream that wrote since the last tick is plainly alive: no comment, and no
                // burst of a write on every stream at every tick.
                Some(Delivery::KeepAlive) if std::mem::take(&mut self.wrote_since_tick) => {}
                Some(Delivery::KeepAlive) => {
                    return Some(Bytes::from(sse::encode_comment("keep-alive")))
                }
                Some(Delivery::Event(event)) => return Some(self.events_from(event).await),
                // The hub dropped this stream's queue: it fell behind.
                None if self.lease.lagged.load(Ordering::Acquire) => return None,
                // The fan-out closed: the server is shutting down.
                None => return self.closing(),
            }
        }
    }

    /// `first` and the events queued behind it, as one chunk.
    async fn events_from(&mut self, first: Logged) -> Bytes {
        if self.batch {
            // The rest of this event's append may still be on its way (the hub fans an append
            // out in microseconds): wait for it, so the append goes out as one message.
            self.lease.hub.fanned_out().await;
        }
        // One event alone goes out as the shared frame itself, with no copy; only a backlog is
        // gathered into one chunk.
        let Ok(next) = self.live.try_recv() else {
            self.written(std::slice::from_ref(&first));
            return first.frame;
        };
        let mut ready = vec![first, next];
        self.drain_into(&mut ready, MAX_CHUNK);
        let mut chunk = BytesMut::with_capacity(ready.len() * ready[0].frame.len());
        write_events(&mut chunk, &ready, self.batch);
        self.written(&ready);
        chunk.freeze()
    }

    /// The events queued so far, then a heartbeat saying the latest id.
    fn heartbeat(&mut self) -> Bytes {
        // Read the latest id first, then drain: every event up to it is in the queue
        // (the hub updates it after the fan-out), so it goes out before the heartbeat.
        let latest_id = self.lease.hub.latest_id();
        let mut chunk = BytesMut::new();
        let mut ready = Vec::new();
        self.drain_into(&mut ready, usize::MAX);
        write_events(&mut chunk, &ready, self.batch);
        self.written(&ready);
        let beat = Heartbeat {
            at_ms: self.clock.now_ms(),
            latest_id,
        };
        let data = serde_json::to_string(&beat).unwrap_or_default();
        chunk.extend_from_slice(sse::encode_event(None, Some(HEARTBEAT_EVENT), &data).as_bytes());
        chunk.freeze()
    }

    /// Counts a chunk's events, and its oldest event's publish-to-write latency (one observation
    /// per chunk keeps the cost per stream flat however many events it carries).
    fn written(&mut self, events: &[Logged]) {
        self.wrote_since_tick = true;
        self.lease.sent += events.len() as u64;
        if let Some(oldest) = events.first() {
            self.lease
                .metrics
                .written(events.len(), oldest.published_us);
        }
    }

    /// Takes queued events without waiting, until they hold `limit` bytes of frames.
    fn drain_into(&mut self, ready: &mut Vec<Logged>, limit: usize) {
        let mut bytes: usize = ready.iter().map(|e| e.frame.len()).sum();
        while bytes < limit {
            match self.live.try_recv() {
                Ok(event) => {
                    bytes += event.frame.len();
                    ready.push(event);
                }
                Err(_) => break,
            }
        }
    }
}

/// The longest `data:` line of a [`BATCH_EVENT`], in bytes: well below the line limit of
/// Convoy's SSE decoder (`Decoder::DEFAULT_MAX_LINE_LEN`, 64 KiB), which drops a longer line
/// whole. A batch that would grow past it is split; one event alone goes out as its own frame.
pub const MAX_BATCH_LINE: usize = convoy_core::sse::Decoder::DEFAULT_MAX_LINE_LEN / 2;

/// Bytes a batch's line spends on one event besides its JSON: `{"id":…,"event":…},`.
const BATCH_ITEM_OVERHEAD: usize = 40;

/// Appends `events` to `chunk`: each as its own frame, or, when `batch`, every run of two or
/// more (whose JSON is one line, as serde_json writes it) as one [`BATCH_EVENT`] whose data is
/// the envelopes' array and whose `id:` is the last one's, each batch's line at most
/// [`MAX_BATCH_LINE`] bytes.
fn write_events(chunk: &mut BytesMut, events: &[Logged], batch: bool) {
    let mut rest = events;
    while let Some((first, tail)) = rest.split_first() {
        let run = match first.data() {
            Some(data) if batch => {
                let mut line = data.len() + BATCH_ITEM_OVERHEAD;
                1 + tail
                    .iter()
                    .map_while(|e| e.data())
                    .take_while(|data| {
                        line += data.len() + BATCH_ITEM_OVERHEAD;
                        line <= MAX_BATCH_LINE
                    })
                    .count()
            }
            _ => 1,
        };
        let (taken, left) = rest.split_at(run);
        rest = left;
        if let [one] = taken {
            chunk.extend_from_slice(&one.frame);
            continue;
        }
        // Writing into a BytesMut cannot fail.
        let last = taken[taken.len() - 1].id;
        let _ = write!(chunk, "id: {last}\nevent: {BATCH_EVENT}\ndata: [");
        for (i, event) in taken.iter().enumerate() {
            let comma = if i > 0 { "," } else { "" };
            let _ = write!(chunk, "{comma}{{\"id\":{},\"event\":", event.id);
            chunk.extend_from_slice(event.data().unwrap_or_default());
            chunk.extend_from_slice(b"}");
        }
        chunk.extend_from_slice(b"]\n\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(query: &str, header: Option<&str>) -> Result<StreamParams, ApiError> {
        let header = header.map(|h| HeaderValue::from_str(h).unwrap());
        parse_params(Some(query), header.as_ref())
    }

    #[test]
    fn defaults_and_values() {
        let p = parse("", None).unwrap();
        assert_eq!((p.watch, p.resume, p.heartbeat), (Watch::All, None, None));
        let p = parse("trucks=T-03%2CT-01&lastEventId=42&heartbeat_ms=250", None).unwrap();
        assert_eq!(p.watch.to_query(), "T-01,T-03");
        assert_eq!(p.resume, Some(42));
        assert_eq!(p.heartbeat, Some(Duration::from_millis(250)));
        let p = parse("trucks=all&lastEventId=", None).unwrap();
        assert_eq!((p.watch, p.resume), (Watch::All, None));
        let p = parse("trucks=&heartbeat_ms=250", None).unwrap();
        assert!(p.watch.is_empty());
    }

    #[test]
    fn header_wins_over_query() {
        assert_eq!(parse("lastEventId=5", Some("9")).unwrap().resume, Some(9));
        assert_eq!(parse("lastEventId=5", Some("")).unwrap().resume, Some(5));
    }

    #[test]
    fn bad_values_are_400() {
        for (query, header) in [
            ("trucks=T%2001", None),
            ("trucks=,", None),
            ("trucks=T-01,,T-02", None),
            ("lastEventId=abc", None),
            ("lastEventId=-1", None),
            ("", Some("x1")),
            ("heartbeat_ms=99", None),
            ("heartbeat_ms=soon", None),
            ("heartbeat_ms=99999999999999999999999", None),
        ] {
            let err = parse(query, header).unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST, "{query}");
        }
    }

    #[test]
    fn batch_is_0_or_1() {
        assert!(!parse("", None).unwrap().batch);
        assert!(!parse("batch=0", None).unwrap().batch);
        assert!(parse("batch=1", None).unwrap().batch);
        let err = parse("batch=yes", None).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(err.message.starts_with("batch:"), "{}", err.message);
    }

    fn logged(id: EventId, truck: &str) -> Logged {
        let event = convoy_core::wire::FleetEvent::AlertCleared {
            truck: truck.into(),
            at_ms: id,
            kind: convoy_core::wire::AlertKind::Delay,
        };
        let data = serde_json::to_string(&event).unwrap();
        Logged::encode(id, Arc::from(truck), event.name(), &data)
    }

    /// What a browser would dispatch for `bytes`: (event type, id, data).
    fn dispatched(bytes: &[u8]) -> Vec<(String, String, String)> {
        let mut decoder = sse::Decoder::new();
        decoder.feed(bytes);
        std::iter::from_fn(|| decoder.poll_event())
            .map(|e| (e.event_type, e.id.to_string(), e.data))
            .collect()
    }

    #[test]
    fn events_ready_together_go_out_as_one_batch_only_when_asked() {
        let events = [logged(4, "T-01"), logged(5, "T-02"), logged(9, "T-01")];

        let mut plain = BytesMut::new();
        write_events(&mut plain, &events, false);
        let each: Vec<u8> = events.iter().flat_map(|e| e.frame.to_vec()).collect();
        assert_eq!(
            &plain[..],
            &each[..],
            "without batch=1 the frames are unchanged"
        );

        let mut batched = BytesMut::new();
        write_events(&mut batched, &events, true);
        let messages = dispatched(&batched);
        assert_eq!(messages.len(), 1);
        let (name, id, data) = &messages[0];
        assert_eq!((name.as_str(), id.as_str()), (BATCH_EVENT, "9"));
        let envelopes = convoy_core::wire::decode_batch(data, id).unwrap();
        assert_eq!(
            envelopes.iter().map(|e| e.id).collect::<Vec<_>>(),
            [4, 5, 9]
        );
        assert_eq!(envelopes[1].event.truck(), "T-02");

        // One event alone is its own frame, batch or not.
        let mut single = BytesMut::new();
        write_events(&mut single, &events[..1], true);
        assert_eq!(&single[..], &events[0].frame[..]);
    }

    #[test]
    fn an_event_whose_data_spans_lines_breaks_the_batch_and_keeps_its_place() {
        let odd = Logged::encode(5, Arc::from("T-02"), "status", "{\n}");
        let events = [logged(4, "T-01"), odd, logged(6, "T-01"), logged(7, "T-01")];
        let mut chunk = BytesMut::new();
        write_events(&mut chunk, &events, true);
        let messages = dispatched(&chunk);
        let shape: Vec<(&str, &str)> = messages
            .iter()
            .map(|(name, id, _)| (name.as_str(), id.as_str()))
            .collect();
        assert_eq!(
            shape,
            [("alert_cleared", "4"), ("status", "5"), (BATCH_EVENT, "7")]
        );
    }
}
