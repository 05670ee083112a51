//! `GET /metrics`: the server's Prometheus metrics, in the OpenMetrics text exposition
//! (which Prometheus reads; it is the Prometheus text format plus a closing `# EOF`).
//!
//! One [`Metrics`] per server, shared by the hub, the streams, ingest and the Redis log. Counters
//! are bumped where things happen; what can be read at any moment (open streams by HTTP version,
//! Redis reachable, the tail's lag, the process's RSS and open files) is read at scrape time.
//!
//! The stream path stays cheap: the hub stamps each event once when it publishes it
//! ([`now_us`], one clock read per event, not per stream), and a stream makes one latency
//! observation per body chunk, for the oldest event in it (the chunk's worst), plus one counter
//! add for the events the chunk carries. The latency histograms are lock-free (an atomic add per
//! bucket and sum), unlike the crate's own, which takes a mutex per observation.

use crate::AppState;
use axum::extract::{Extension, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The scrape's `Content-Type`.
pub const CONTENT_TYPE_VALUE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// How long a scrape waits for Redis to say its latest id.
const HEAD_TIMEOUT: Duration = Duration::from_secs(1);

/// Where appended events come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Simulator,
    Ingest,
    /// Alert acknowledgements.
    Ack,
    /// Phones and GPS units over the OsmAnd protocol (`/api/osmand`, `--osmand-addr`).
    Osmand,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::Simulator => "simulator",
            Source::Ingest => "ingest",
            Source::Ack => "ack",
            Source::Osmand => "osmand",
        }
    }
}

/// What became of an ingest request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IngestOutcome {
    Accepted,
    BadRequest,
    Unauthorized,
    TooLarge,
    Busy,
    Timeout,
    Refused,
    Unavailable,
}

impl IngestOutcome {
    fn label(self) -> &'static str {
        match self {
            IngestOutcome::Accepted => "accepted",
            IngestOutcome::BadRequest => "bad_request",
            IngestOutcome::Unauthorized => "unauthorized",
            IngestOutcome::TooLarge => "too_large",
            IngestOutcome::Busy => "busy",
            IngestOutcome::Timeout => "timeout",
            IngestOutcome::Refused => "refused",
            IngestOutcome::Unavailable => "unavailable",
        }
    }
}

/// Microseconds since the process's first call, never 0 (0 marks an event never published).
pub fn now_us() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    (start.elapsed().as_micros() as u64).max(1)
}

/// Upper bounds of the latency buckets, microseconds (100 µs to 10 s, then +Inf).
const BOUNDS_US: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

#[derive(Debug, Default)]
struct Buckets {
    /// Per bucket (not cumulative), the last one +Inf.
    counts: [AtomicU64; BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

/// A latency histogram in seconds, lock-free: two relaxed atomic adds per observation.
#[derive(Debug, Clone, Default)]
pub struct Latency(Arc<Buckets>);

impl Latency {
    pub fn observe_us(&self, us: u64) {
        let i = BOUNDS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(BOUNDS_US.len());
        self.0.counts[i].fetch_add(1, Ordering::Relaxed);
        self.0.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    pub fn observe(&self, elapsed: Duration) {
        self.observe_us(elapsed.as_micros() as u64);
    }
}

impl TypedMetric for Latency {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Latency {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let mut buckets = Vec::with_capacity(BOUNDS_US.len() + 1);
        for (i, count) in self.0.counts.iter().enumerate() {
            let bound = BOUNDS_US
                .get(i)
                .map_or(f64::INFINITY, |&us| us as f64 / 1e6);
            buckets.push((bound, count.load(Ordering::Relaxed)));
        }
        // The count is the buckets' sum, so a scrape never sees them disagree.
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = self.0.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

type Label = [(&'static str, &'static str); 1];
type OwnedLabel = [(&'static str, String); 1];

/// The server's metrics and the registry that exports them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// This server's engine's series of `append_latency` and `append_errors`, at hand.
    engine_latency: Latency,
    engine_errors: Counter,
    streams_open: Family<OwnedLabel, Gauge>,
    events_appended: Family<Label, Counter>,
    events_written: Counter,
    publish_to_write: Latency,
    slow_streams_cut: Counter,
    ingest_requests: Family<Label, Counter>,
    append_latency: Family<Label, Latency>,
    append_errors: Family<Label, Counter>,
    redis_up: Gauge,
    tail_lag: Gauge,
    rss: Gauge,
    open_fds: Gauge,
}

impl Metrics {
    /// Metrics for a server whose event log is `engine` (`memory`, `file` or `redis`).
    pub fn new(engine: &'static str) -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            engine_latency: Latency::default(),
            engine_errors: Counter::default(),
            streams_open: Family::default(),
            events_appended: Family::default(),
            events_written: Counter::default(),
            publish_to_write: Latency::default(),
            slow_streams_cut: Counter::default(),
            ingest_requests: Family::default(),
            append_latency: Family::default(),
            append_errors: Family::default(),
            redis_up: Gauge::default(),
            tail_lag: Gauge::default(),
            rss: Gauge::default(),
            open_fds: Gauge::default(),
        };
        registry.register(
            "convoy_streams_open",
            "SSE streams open now, by HTTP version",
            m.streams_open.clone(),
        );
        registry.register(
            "convoy_events_appended",
            "Events appended to the log by this node, by source (simulator, ingest, ack, osmand)",
            m.events_appended.clone(),
        );
        registry.register(
            "convoy_events_written",
            "Events written to streams (replayed and live, counted once per stream)",
            m.events_written.clone(),
        );
        registry.register(
            "convoy_publish_to_write_seconds",
            "From the hub publishing an event to a stream handing the body chunk carrying it to \
             hyper; one observation per chunk, for its oldest event",
            m.publish_to_write.clone(),
        );
        registry.register(
            "convoy_slow_streams_cut",
            "Streams closed because they fell more than their queue behind",
            m.slow_streams_cut.clone(),
        );
        registry.register(
            "convoy_ingest_requests",
            "POST /api/ingest requests by outcome",
            m.ingest_requests.clone(),
        );
        registry.register(
            "convoy_log_append_seconds",
            "Time the event log's engine takes to append a batch, by engine",
            m.append_latency.clone(),
        );
        registry.register(
            "convoy_log_append_errors",
            "Appends the event log's engine failed or refused, by engine",
            m.append_errors.clone(),
        );
        registry.register(
            "convoy_redis_up",
            "1 when Redis answered this scrape, 0 when not (always 0 without Redis)",
            m.redis_up.clone(),
        );
        registry.register(
            "convoy_redis_tail_lag_ids",
            "Ids Redis has assigned that this node has not published yet",
            m.tail_lag.clone(),
        );
        registry.register(
            "convoy_process_resident_memory_bytes",
            "Resident set size of the process (VmRSS)",
            m.rss.clone(),
        );
        registry.register(
            "convoy_process_open_fds",
            "File descriptors the process has open",
            m.open_fds.clone(),
        );
        // Every labelled series exists from the start, at 0, so rates work from the first scrape.
        for source in [
            Source::Simulator,
            Source::Ingest,
            Source::Ack,
            Source::Osmand,
        ] {
            let _ = m
                .events_appended
                .get_or_create(&[("source", source.label())]);
        }
        for outcome in [
            IngestOutcome::Accepted,
            IngestOutcome::BadRequest,
            IngestOutcome::Unauthorized,
            IngestOutcome::TooLarge,
            IngestOutcome::Busy,
            IngestOutcome::Timeout,
            IngestOutcome::Refused,
            IngestOutcome::Unavailable,
        ] {
            let _ = m
                .ingest_requests
                .get_or_create(&[("outcome", outcome.label())]);
        }
        let engine_latency = m.append_latency.get_or_create_owned(&[("engine", engine)]);
        let engine_errors = m.append_errors.get_or_create_owned(&[("engine", engine)]);
        Metrics {
            registry,
            engine_latency,
            engine_errors,
            ..m
        }
    }

    /// `n` events from `source` were appended.
    pub fn appended(&self, source: Source, n: usize) {
        self.events_appended
            .get_or_create(&[("source", source.label())])
            .inc_by(n as u64);
    }

    /// A stream wrote `n` events in one chunk; `oldest_published_us` is the oldest one's
    /// [`now_us`] stamp from publishing, 0 for events not published live (a replay).
    pub fn written(&self, n: usize, oldest_published_us: u64) {
        if n == 0 {
            return;
        }
        self.events_written.inc_by(n as u64);
        if oldest_published_us != 0 {
            self.publish_to_write
                .observe_us(now_us().saturating_sub(oldest_published_us));
        }
    }

    /// A stream was cut for falling behind.
    pub fn slow_stream_cut(&self) {
        self.slow_streams_cut.inc();
    }

    /// An ingest request ended with `outcome`.
    pub fn ingest(&self, outcome: IngestOutcome) {
        self.ingest_requests
            .get_or_create(&[("outcome", outcome.label())])
            .inc();
    }

    /// The engine took `elapsed` over an append; `ok`: whether it stored the batch.
    pub fn append_done(&self, elapsed: Duration, ok: bool) {
        self.engine_latency.observe(elapsed);
        if !ok {
            self.engine_errors.inc();
        }
    }

    /// Reads what is read at scrape time and renders every metric.
    pub async fn scrape(&self, app: &AppState) -> String {
        self.streams_open.clear();
        for version in ["HTTP/1.1", "HTTP/2.0"] {
            let _ = self
                .streams_open
                .get_or_create(&[("version", version.to_owned())]);
        }
        for (version, n) in app.stats.open_by_version() {
            self.streams_open
                .get_or_create(&[("version", version)])
                .set(n as i64);
        }
        if let Some(remote) = app.hub.remote() {
            // Up: Redis answers this scrape's read of its latest id.
            match tokio::time::timeout(HEAD_TIMEOUT, remote.head_id()).await {
                Ok(Ok(head)) => {
                    // Before the node has read the log once there is no lag to speak of yet.
                    if app.hub.loaded() {
                        let latest = app.hub.latest_id();
                        let lag = head.map_or(0, |head| head.saturating_sub(latest));
                        self.tail_lag.set(lag as i64);
                    }
                    self.redis_up.set(1);
                }
                // The lag stays at its last known value while Redis is out of reach.
                _ => {
                    self.redis_up.set(0);
                }
            }
        }
        self.rss.set(resident_bytes().unwrap_or(0) as i64);
        self.open_fds.set(open_fds().unwrap_or(0) as i64);
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// The process's resident set size from `/proc/self/status`; `None` off Linux.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Open file descriptors, from `/proc/self/fd` (less the one reading it); `None` off Linux.
fn open_fds() -> Option<u64> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    Some((entries.count() as u64).saturating_sub(1))
}

/// `GET /metrics` on the main listener, behind sign-in: only an operator who may see every
/// truck (the metrics count every operator's streams), like `/api/stats`.
pub async fn behind_sign_in(
    State(app): State<AppState>,
    Extension(operator): Extension<crate::auth::Operator>,
) -> Response {
    if operator.scope != crate::auth::Scope::All {
        let body = axum::Json(serde_json::json!({
            "error": "the server's metrics count every operator's streams: only an operator who \
                      may see every truck gets them"
        }));
        return (StatusCode::FORBIDDEN, body).into_response();
    }
    open(State(app)).await
}

/// `GET /metrics` on `--metrics-addr`: no sign-in, the listener is meant to stay private.
pub async fn open(State(app): State<AppState>) -> Response {
    let text = app.metrics.scrape(&app).await;
    ([(CONTENT_TYPE, CONTENT_TYPE_VALUE)], text).into_response()
}
