//! convoy-server: Convoy's SSE backend with an embedded fleet simulator.
//!
//! [`serve`] runs the whole server on a bound listener until a shutdown future resolves, so the
//! binary and the integration tests run the same code. The modules, one concern each:
//! - `sim`: the pure fleet simulator: plans and positions on real corridors;
//! - `producer`: the simulator as a producer, appending facts through the hub like ingest does;
//! - `log`: the event log's interface and its engines (memory, file);
//! - `hub`: the one append path (ids from the engine, fleet snapshot, fan-out) and subscribing;
//! - `fanout`: the open streams: one shared channel for streams that follow every truck;
//! - `ingest`: `POST /api/ingest`, events pushed by an operator's backend;
//! - `osmand`: the OsmAnd protocol of phones and GPS units, decoded, and the device-to-truck map;
//! - `stream`: `GET /api/stream`, the SSE feed;
//! - `api`: the JSON routes;
//! - `error`: the JSON error every `/api` route answers with;
//! - `auth`: sign-in (signed tokens, the session cookie) and each operator's scope;
//! - `headers`: CORS for the app's origins, and the security headers;
//! - `forgery`: cookie-authenticated state changes only from the app's own origins;
//! - `assets`: the built app and the SPA fallback;
//! - `stats`: open-stream counts for `GET /api/stats`;
//! - `metrics`: the Prometheus metrics of `GET /metrics`;
//! - `conn`: accepting connections (HTTP/1.1 and HTTP/2, optional TLS);
//! - `tls`: the rustls config;
//! - `wake`: a waker of its own for the rarely ready futures a busy task also waits on.

pub mod api;
pub mod assets;
pub mod auth;
pub mod conn;
pub mod error;
pub mod fanout;
pub mod forgery;
pub mod headers;
pub mod hub;
pub mod ingest;
pub mod log;
pub mod metrics;
pub mod osmand;
pub mod producer;
pub mod sim;
pub mod stats;
pub mod stream;
pub mod tail;
pub mod tls;
pub mod wake;

use crate::auth::Auth;
use crate::hub::{Clock, Hub};
use crate::ingest::Ingest;
use crate::log::{LogError, LogSpec, Retention};
use crate::metrics::Metrics;
use crate::osmand::DeviceMap;
use crate::producer::SharedSim;
use crate::sim::{SimConfig, Simulator};
use crate::stats::Stats;
use crate::tls::{TlsError, TlsSource};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use std::any::Any;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// How the server runs. `Config::default()` matches the binary's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The built app (trunk's output).
    pub dist: PathBuf,
    /// Number of simulated trucks; 0 runs no simulator (an ingest-only node).
    pub trucks: usize,
    /// Position reports per simulated truck per second.
    pub rate: f64,
    /// Simulator seed: same seed, same story.
    pub seed: u64,
    /// Interval of the keep-alive tick: a stream that wrote nothing since the last gets a
    /// `: keep-alive` comment. Zero turns them off.
    pub keepalive: Duration,
    /// How many recent events the replay buffer keeps for resuming streams.
    pub replay: usize,
    /// How many events a stream may fall behind before it is closed, on top of the largest
    /// append (see [`Config::stream_capacity`]).
    pub queue_capacity: usize,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) instead of plain HTTP/1.1 (and h2c).
    pub tls: Option<TlsSource>,
    /// How long shutdown may take from the signal to the return of [`serve`]: open connections
    /// get most of it to finish (streams end at once), the log's flush the rest.
    pub shutdown_timeout: Duration,
    /// Shortest interval between simulator steps (events are batched per step); shorter when the
    /// rate needs it.
    pub min_tick: Duration,
    /// No log lines (the tests set this).
    pub quiet: bool,
    /// The event log's engine.
    pub log: LogSpec,
    /// The fleet's name: its log's keys in a shared log (several fleets can share one Redis).
    pub fleet: String,
    /// How much history the log keeps; pruned in the background every `trim_every`.
    pub retention: Retention,
    pub trim_every: Duration,
    /// Bearer tokens for `POST /api/ingest`, one a line; no file, no ingest.
    pub ingest_token_file: Option<PathBuf>,
    /// Largest ingest body, bytes, and most events in one request.
    pub ingest_max_bytes: usize,
    pub ingest_max_events: usize,
    /// Ingest requests handled at once; more get 429.
    pub ingest_concurrency: usize,
    /// How long an ingest key makes a retried event a no-op.
    pub idempotency_window: Duration,
    /// Most SSE streams open at once; more get 503 with `Retry-After`.
    pub max_streams: usize,
    /// Most connections open at once; at the cap a new one evicts an idle one (no request in
    /// flight), or is closed (see `conn`).
    pub max_connections: usize,
    /// How long a new connection may take to finish its TLS handshake and send its first request
    /// head, and how long a connection may stay idle (no request in flight) after its last one;
    /// an HTTP/1.1 connection also has this long for each later head.
    pub handshake_timeout: Duration,
    /// Largest request head in bytes (HTTP/1.1: the read buffer; HTTP/2: the header list).
    pub max_header_bytes: usize,
    /// Most headers in an HTTP/1.1 request.
    pub max_headers: usize,
    /// The HS256 key operators' tokens are signed with; with it (or public keys) sign-in is on.
    pub auth_key_file: Option<PathBuf>,
    /// Ed25519 public keys (PEM) of identity providers whose EdDSA tokens are accepted.
    pub auth_public_keys: Vec<PathBuf>,
    /// Origins (e.g. a CDN serving the app) allowed to call the API with credentials.
    pub allow_origins: Vec<String>,
    /// Most trucks the fleet may hold: ingest naming new trucks beyond it is refused (422).
    pub max_trucks: usize,
    /// The origin browsers reach this server at (`https://convoy.example.com`), when a proxy in
    /// front terminates TLS: `https` makes the session cookie `Secure` and sends HSTS, and
    /// state changes from this origin are the app's own.
    pub public_url: Option<String>,
    /// Most streams one operator may hold open at once (sign-in on).
    pub max_streams_per_operator: usize,
    /// Most connections from one client address (an IPv6 client: its /64); beyond it the
    /// address's own idle connection is evicted, or the new one closed.
    pub max_connections_per_ip: usize,
    /// How long an ingest body may take to arrive in full; later: 408.
    pub ingest_body_timeout: Duration,
    /// Serve `GET /metrics` on a listener of its own at this `HOST:PORT` (plain HTTP, no
    /// sign-in); without it `/metrics` is on the main listener, behind sign-in.
    pub metrics_addr: Option<String>,
    /// A truck without a position for this long gets a `no_signal` alert (`--stale-after`, in
    /// minutes on the command line).
    pub stale_after: Duration,
    /// Which truck each OsmAnd device reports for (`--devices`); without it OsmAnd is off.
    pub devices: Option<PathBuf>,
    /// Serve the OsmAnd protocol at `/` on a listener of its own at this `HOST:PORT`, as a
    /// Traccar server does (`--osmand-addr`; needs `devices`).
    pub osmand_addr: Option<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            dist: PathBuf::from("dist"),
            trucks: 40,
            rate: 1.0,
            seed: 7,
            keepalive: Duration::from_secs(15),
            replay: 10_000,
            queue_capacity: 1024,
            tls: None,
            shutdown_timeout: Duration::from_secs(10),
            min_tick: Duration::from_millis(20),
            quiet: false,
            log: LogSpec::Memory,
            fleet: "default".to_owned(),
            retention: Retention::Events(1_000_000),
            trim_every: Duration::from_secs(10),
            ingest_token_file: None,
            ingest_max_bytes: 1 << 20,
            ingest_max_events: 10_000,
            ingest_concurrency: 4,
            idempotency_window: Duration::from_secs(600),
            max_streams: 10_000,
            max_connections: 10_000,
            handshake_timeout: Duration::from_secs(10),
            max_header_bytes: 64 * 1024,
            max_headers: 100,
            auth_key_file: None,
            auth_public_keys: Vec::new(),
            allow_origins: Vec::new(),
            max_trucks: 100_000,
            public_url: None,
            max_streams_per_operator: 100,
            max_connections_per_ip: 256,
            ingest_body_timeout: Duration::from_secs(30),
            metrics_addr: None,
            stale_after: Duration::from_secs(600),
            devices: None,
            osmand_addr: None,
        }
    }
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Keys(#[from] auth::KeyError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Config {
    /// Checks every number against its range, with a message naming the flag.
    pub fn validate(&self) -> Result<(), ServeError> {
        fn within<T: PartialOrd + std::fmt::Display>(
            flag: &str,
            value: T,
            low: T,
            high: T,
            unit: &str,
        ) -> Result<(), ServeError> {
            if value < low || value > high {
                return Err(ServeError::Config(format!(
                    "--{flag} must be {low} to {high}{unit}, not {value}"
                )));
            }
            Ok(())
        }
        let secs = |d: Duration| d.as_secs_f64();
        within("trucks", self.trucks, 0, 9999, " (0: no simulator)")?;
        if !self.rate.is_finite() || self.rate <= 0.0 || self.rate > 1000.0 {
            return Err(ServeError::Config(format!(
                "--rate must be above 0 and at most 1000 events per truck per second, not {}",
                self.rate
            )));
        }
        within(
            "keepalive",
            secs(self.keepalive),
            0.0,
            3600.0,
            " seconds (0: off)",
        )?;
        within("replay", self.replay, 0, 1_000_000, " events")?;
        within("queue", self.queue_capacity, 1, 1_000_000, " events")?;
        within("max-streams", self.max_streams, 1, 1_000_000, "")?;
        within("max-connections", self.max_connections, 1, 1_000_000, "")?;
        within(
            "handshake-timeout",
            secs(self.handshake_timeout),
            0.1,
            600.0,
            " seconds",
        )?;
        within(
            "max-header-bytes",
            self.max_header_bytes,
            8192,
            1 << 20,
            " bytes",
        )?;
        within("max-headers", self.max_headers, 8, 1000, "")?;
        within(
            "ingest-max-bytes",
            self.ingest_max_bytes,
            1,
            64 << 20,
            " bytes",
        )?;
        within(
            "ingest-max-events",
            self.ingest_max_events,
            1,
            1_000_000,
            "",
        )?;
        within("ingest-concurrency", self.ingest_concurrency, 1, 1024, "")?;
        within("max-trucks", self.max_trucks, 1, 10_000_000, "")?;
        within(
            "max-streams-per-operator",
            self.max_streams_per_operator,
            1,
            1_000_000,
            "",
        )?;
        for origin in &self.allow_origins {
            if !headers::valid_origin(origin) {
                return Err(ServeError::Config(format!(
                    "--allow-origin {origin:?} is not an origin: give scheme://host[:port], as in \
                     https://app.example.com (no path, no trailing slash, no wildcard)"
                )));
            }
        }
        if let Some(url) = &self.public_url {
            if !headers::valid_origin(url) {
                return Err(ServeError::Config(format!(
                    "--public-url {url:?} is not an origin: give scheme://host[:port], as in \
                     https://convoy.example.com"
                )));
            }
        }
        if self.trucks > self.max_trucks {
            return Err(ServeError::Config(format!(
                "--max-trucks ({}) must be at least --trucks ({})",
                self.max_trucks, self.trucks
            )));
        }
        if self.stream_capacity() > MAX_STREAM_CAPACITY {
            return Err(ServeError::Config(format!(
                "--queue ({}) plus the largest append ({}: --ingest-max-events, or --trucks for a \
                 simulator step) must be at most {MAX_STREAM_CAPACITY} events",
                self.queue_capacity,
                self.largest_append()
            )));
        }
        within(
            "shutdown-timeout",
            secs(self.shutdown_timeout),
            0.1,
            3600.0,
            " seconds",
        )?;
        within(
            "max-connections-per-ip",
            self.max_connections_per_ip,
            1,
            1_000_000,
            "",
        )?;
        within(
            "ingest-body-timeout",
            secs(self.ingest_body_timeout),
            0.1,
            3600.0,
            " seconds",
        )?;
        self.metrics_socket_addr()?;
        self.osmand_socket_addr()?;
        if self.osmand_addr.is_some() && self.devices.is_none() {
            return Err(ServeError::Config(
                "--osmand-addr needs --devices FILE: it says which truck each device reports for"
                    .to_owned(),
            ));
        }
        within(
            "stale-after",
            secs(self.stale_after) / 60.0,
            0.001,
            10_080.0,
            " minutes",
        )?;
        if !convoy_core::wire::is_valid_truck_id(&self.fleet) {
            return Err(ServeError::Config(
                "--fleet must be 1 to 32 letters, digits and '-'".to_owned(),
            ));
        }
        Ok(())
    }
}

impl Config {
    /// `--metrics-addr` as a socket address: an IP address and a port (`127.0.0.1:9100`,
    /// `[::1]:9100`); `None` when not given.
    pub fn metrics_socket_addr(&self) -> Result<Option<std::net::SocketAddr>, ServeError> {
        let Some(text) = &self.metrics_addr else {
            return Ok(None);
        };
        text.parse().map(Some).map_err(|_| {
            ServeError::Config(format!(
                "--metrics-addr {text:?} is not HOST:PORT with an IP address, as in \
                 127.0.0.1:9100 or [::1]:9100"
            ))
        })
    }

    /// `--osmand-addr` as a socket address; `None` when not given.
    pub fn osmand_socket_addr(&self) -> Result<Option<std::net::SocketAddr>, ServeError> {
        let Some(text) = &self.osmand_addr else {
            return Ok(None);
        };
        text.parse().map(Some).map_err(|_| {
            ServeError::Config(format!(
                "--osmand-addr {text:?} is not HOST:PORT with an IP address, as in \
                 0.0.0.0:5055 or [::]:5055"
            ))
        })
    }

    /// How long open connections get to finish at shutdown: `shutdown_timeout` but the share kept
    /// for storing the fleet snapshot (a quarter of it, at most [`FLUSH_RESERVE`]).
    pub fn drain_timeout(&self) -> Duration {
        self.shutdown_timeout - (self.shutdown_timeout / 4).min(FLUSH_RESERVE)
    }

    /// The event log's engine as the metrics name it.
    fn engine_name(&self) -> &'static str {
        match self.log {
            LogSpec::Memory => "memory",
            LogSpec::File(_) => "file",
            LogSpec::Redis(_) => "redis",
        }
    }
}

/// The part of `--shutdown-timeout` kept for storing the fleet snapshot after connections.
pub const FLUSH_RESERVE: Duration = Duration::from_secs(1);

/// The most events a stream may hold unread (the shared ring's slots are allocated up front).
pub const MAX_STREAM_CAPACITY: usize = 1_000_000;

/// The events one fact derives at most, as far as stream queues are sized: the position or plan,
/// a stop or two, an alert change of each kind, the status.
pub const EVENTS_PER_FACT: usize = 8;

impl Config {
    /// Whether browsers reach the server over HTTPS through a proxy (`--public-url https://…`).
    pub fn public_url_is_https(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|url| url.starts_with("https://"))
    }

    /// The most events one append can publish at once: an ingest request, a simulator step
    /// (a plan and a position a truck at most), each input deriving up to [`EVENTS_PER_FACT`]
    /// events; a chunk read from a shared log's tail.
    pub fn largest_append(&self) -> usize {
        let ingest = if self.ingest_token_file.is_some() {
            self.ingest_max_events
        } else {
            0
        };
        let tail = if matches!(self.log, LogSpec::Redis(_)) {
            tail::TAIL_CHUNK
        } else {
            0
        };
        ingest
            .max(2 * self.trucks)
            .saturating_mul(EVENTS_PER_FACT)
            .max(tail)
            .max(1)
    }

    /// How many events a stream may fall behind before it is cut: `--queue` on top of the
    /// largest append, so one append, however large, never cuts a stream that keeps up, and a
    /// client that stops reading is still cut once `--queue` more events wait for it.
    pub fn stream_capacity(&self) -> usize {
        self.queue_capacity.saturating_add(self.largest_append())
    }
}

/// What the handlers need, shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    /// Whether this node runs the simulator.
    pub simulator: bool,
    /// Which truck each OsmAnd device reports for; `None`: OsmAnd is off.
    pub devices: Option<Arc<DeviceMap>>,
    /// `None` when ingest is off.
    pub ingest: Option<Arc<Ingest>>,
    pub stats: Arc<Stats>,
    /// The server's metrics (`GET /metrics`), shared with the hub.
    pub metrics: Arc<Metrics>,
    pub settings: Arc<Settings>,
    /// The keys operators' tokens are checked against; `None`: sign-in is off.
    pub auth: Option<Arc<Auth>>,
    /// Cancelled when the server shuts down; every stream ends on it.
    pub shutdown: CancellationToken,
    /// Each signed-in operator's open streams.
    pub operator_streams: Arc<stats::OperatorStreams>,
}

/// The handlers' share of the configuration.
#[derive(Debug)]
pub struct Settings {
    pub dist: PathBuf,
    pub keepalive: Duration,
    pub quiet: bool,
    /// This node in log lines: the address it listens on.
    pub node: Arc<str>,
    pub clock: Clock,
    /// Browsers reach this server over HTTPS (its own TLS, or `--public-url https://…` behind a
    /// proxy): the session cookie is `Secure` and `__Host-` prefixed, and HSTS is sent.
    pub secure_cookies: bool,
    /// Origins whose pages may change state with the session cookie besides the request's
    /// own host: `--public-url` and every `--allow-origin`.
    pub trusted_origins: Vec<String>,
}

impl Settings {
    /// The session cookie's name: `__Host-` prefixed when it is `Secure`.
    pub fn cookie_name(&self) -> &'static str {
        if self.secure_cookies {
            auth::SECURE_COOKIE_NAME
        } else {
            auth::COOKIE_NAME
        }
    }
}

/// The routes: `/api/*` (JSON and the stream, 404 JSON for anything else), `/metrics` behind
/// sign-in unless `metrics_apart` (it has its own listener then), and the app. `https`:
/// browsers reach the server over HTTPS (HSTS is sent).
pub fn router(state: AppState, origins: &[String], https: bool, metrics_apart: bool) -> Router {
    let policy = headers::policy_for(&state.settings.dist);
    // What an operator sees: signed in (when sign-in is on), within the operator's scope.
    // A page reads the wire from these: `v=` must be this server's wire version.
    let versioned = Router::new()
        .route("/fleet", get(api::fleet))
        .route("/trucks/{id}", get(api::truck))
        .route("/trucks/{id}/track", get(api::track))
        .route("/stream", get(stream::stream))
        .route_layer(middleware::from_fn(api::check_version));
    let operator_routes = Router::new()
        .merge(versioned)
        .route("/map", get(api::map))
        .route("/stats", get(api::stats))
        .route("/alerts/{alert_id}/ack", post(api::ack_alert))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::require_loaded,
        ))
        // Inside `require`: a request without a session is 401 before anything else.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            forgery::refuse_cross_site_changes,
        ))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require));
    let session_routes = Router::new()
        .route(
            "/session",
            get(auth::session)
                .post(auth::sign_in)
                .delete(auth::sign_out),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            forgery::refuse_cross_site_changes,
        ));
    let api =
        Router::new()
            .merge(session_routes)
            .route("/health", get(api::health))
            .route(
                "/ingest",
                post(ingest::ingest)
                    .route_layer(middleware::from_fn_with_state(
                        state.clone(),
                        api::require_loaded,
                    ))
                    .route_layer(middleware::from_fn_with_state(
                        state.clone(),
                        ingest::count_outcome,
                    )),
            )
            .route(
                "/trucks/{id}/plan",
                put(ingest::put_plan).route_layer(middleware::from_fn_with_state(
                    state.clone(),
                    api::require_loaded,
                )),
            )
            .route(
                "/osmand",
                get(osmand::report).post(osmand::report).route_layer(
                    middleware::from_fn_with_state(state.clone(), api::require_loaded),
                ),
            )
            .merge(operator_routes)
            .fallback(api::not_found)
            .layer(axum::middleware::map_response(headers::api_no_store));
    let metrics_route = if metrics_apart {
        // Not the app's page either: a scraper pointed here by mistake gets a clear 404.
        Router::new().route("/metrics", get(api::not_found))
    } else {
        Router::new()
            .route("/metrics", get(metrics::behind_sign_in))
            .route_layer(middleware::from_fn_with_state(state.clone(), auth::require))
    };
    let app = Router::new()
        .nest("/api", api)
        .merge(metrics_route.layer(axum::middleware::map_response(headers::api_no_store)));
    let app = app
        .fallback(assets::serve.layer(headers::app_policy(&policy)))
        .with_state(state.clone())
        .layer(headers::frame_options())
        .layer(headers::referrer_policy())
        .layer(headers::strict_transport(https));
    // With no other origin allowed there is nothing for CORS to say (its layer would still add
    // `Vary` and `Access-Control-Allow-Credentials` to every response, streams too).
    let app = if origins.is_empty() {
        app
    } else {
        app.layer(headers::cors(origins))
    };
    app.layer(headers::nosniff())
        .layer(middleware::from_fn(catch_panic))
        .layer(middleware::from_fn_with_state(state, log_request))
}

/// The `--metrics-addr` listener's routes: `GET /metrics` and nothing else (404 JSON).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::open))
        .fallback(api::not_found)
        .with_state(state.clone())
        .layer(axum::middleware::map_response(headers::api_no_store))
        .layer(headers::nosniff())
        .layer(middleware::from_fn(catch_panic))
        .layer(middleware::from_fn_with_state(state, log_request))
}

/// The `--osmand-addr` listener's routes: the OsmAnd protocol at `/` (GET and POST), as a
/// Traccar server's OsmAnd port serves it, and a 404 JSON for anything else.
pub fn osmand_router(state: AppState) -> Router {
    Router::new()
        .route("/", get(osmand::report).post(osmand::report))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            api::require_loaded,
        ))
        .fallback(api::not_found)
        .with_state(state.clone())
        .layer(headers::nosniff())
        .layer(middleware::from_fn(catch_panic))
        .layer(middleware::from_fn_with_state(state, log_request))
}

/// Says that anyone who reaches this server sees every truck: loudly when that is anyone on the
/// network.
fn warn_auth_off(addr: std::net::SocketAddr) {
    if addr.ip().is_loopback() {
        tracing::info!(
            "sign-in is off (no --auth-key-file): every truck is shown to anyone on this machine"
        );
    } else {
        tracing::warn!(
            "sign-in is off (no --auth-key-file) and {addr} is reachable from the network: \
             anyone who reaches it sees every truck and the server's stats"
        );
    }
}

/// Middleware: one log line per request that is not a stream (streams log their own opening
/// and end): method, path without the query (a sign-in link's token is in its query), status,
/// milliseconds to the response's head, and the operator when signed in.
async fn log_request(
    axum::extract::State(app): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> Response {
    if app.settings.quiet {
        return next.run(request).await;
    }
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let is_stream = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"));
    if !is_stream {
        tracing::info!(
            method = %method,
            path,
            status = response.status().as_u16(),
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            operator = response.extensions().get::<auth::SignedIn>().map(|s| s.0.as_str()),
            "request"
        );
    }
    response
}

/// Middleware: a handler that panics answers 500 with a JSON error, and the server goes on.
/// Not tower-http's `CatchPanicLayer`: that boxes every response body twice more, and hyper
/// polls an open stream's body through every box for each chunk it sends.
async fn catch_panic(request: axum::extract::Request, next: middleware::Next) -> Response {
    use futures_util::FutureExt;
    std::panic::AssertUnwindSafe(next.run(request))
        .catch_unwind()
        .await
        .unwrap_or_else(panic_response)
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    let body = Json(serde_json::json!({ "error": "internal error" }));
    (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the server on `listener` until `shutdown` resolves, then stops accepting, ends every open
/// stream (asking its client to come back soon, to another node behind a proxy), lets requests
/// in flight finish, stores the fleet snapshot, and returns within `config.shutdown_timeout`
/// of the signal. Prints
/// `convoy-server listening on http://ADDR` (https with TLS) once ready, unless quiet.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate()?;
    let metrics_listener = match config.metrics_socket_addr()? {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
            ServeError::Config(format!("--metrics-addr: cannot listen on {addr}: {e}"))
        })?),
        None => None,
    };
    let metrics = Arc::new(Metrics::new(config.engine_name()));
    let tls = match &config.tls {
        Some(source) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(source)?)),
        None => None,
    };
    let ingest = match &config.ingest_token_file {
        Some(path) => Some(Arc::new(
            Ingest::new(
                ingest::read_tokens(path).map_err(ServeError::Config)?,
                config.ingest_max_bytes,
                config.ingest_max_events,
                config.ingest_concurrency,
            )
            .with_body_timeout(config.ingest_body_timeout),
        )),
        None => None,
    };
    let auth = Auth::load(config.auth_key_file.as_deref(), &config.auth_public_keys)?.map(Arc::new);
    let start_ms = unix_now_ms();
    let clock = Clock::new(start_ms);
    let sim = (config.trucks > 0).then(|| {
        Simulator::new(
            &SimConfig {
                trucks: config.trucks,
                rate: config.rate,
                seed: config.seed,
            },
            start_ms,
        )
    });
    // Simulated trucks join the fleet with their first plan, like any other.
    let seed: Vec<convoy_core::wire::TruckState> = Vec::new();
    let devices = match &config.devices {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ServeError::Config(format!("cannot read --devices {}: {e}", path.display()))
            })?;
            let map = DeviceMap::parse(&text)
                .map_err(|e| ServeError::Config(format!("--devices {}: {e}", path.display())))?;
            Some(Arc::new(map))
        }
        None => None,
    };
    let osmand_listener = match config.osmand_socket_addr()? {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
            ServeError::Config(format!("--osmand-addr: cannot listen on {addr}: {e}"))
        })?),
        None => None,
    };
    let trip_config = convoy_core::trip::TripConfig {
        stale_after_ms: config.stale_after.as_millis() as u64,
        ..convoy_core::trip::TripConfig::default()
    };
    // With a shared log the node listens at once and reads the log in the background
    // (`tail::follow`): it may start while Redis is unreachable.
    let (hub, pending_seed) = match &config.log {
        LogSpec::Redis(url) => {
            let maxlen = match config.retention {
                Retention::Events(n) => n.max(config.replay as u64),
                Retention::Age(_) => 1_000_000.max(config.replay as u64),
            };
            let remote = Arc::new(log::redis::RedisLog::new(
                url,
                &config.fleet,
                maxlen,
                config.idempotency_window,
            )?);
            let hub = Hub::pending(config.stream_capacity(), config.idempotency_window)
                .with_trip_config(trip_config)
                .shared_by(remote)
                .with_max_trucks(config.max_trucks)
                .with_metrics(metrics.clone());
            (Arc::new(hub), Some(seed))
        }
        spec => {
            let engine = log::open(
                spec,
                hub::first_id_for(start_ms),
                config.replay,
                config.idempotency_window,
            )?;
            let hub = tokio::task::spawn_blocking({
                let (queue, window) = (config.stream_capacity(), config.idempotency_window);
                move || Hub::open(engine, seed, queue, window)
            })
            .await
            .map_err(|e| ServeError::Config(e.to_string()))??;
            let hub = hub
                .with_trip_config(trip_config)
                .with_max_trucks(config.max_trucks)
                .with_metrics(metrics.clone());
            (Arc::new(hub), None)
        }
    };
    if !config.quiet {
        if hub.loaded() {
            tracing::info!(
                engine = %config.log,
                first_id = hub.first_id(),
                latest_id = hub.latest_id(),
                "event log loaded"
            );
        } else {
            tracing::info!(engine = %hub.describe(), "event log opened, reading it");
        }
    }
    let token = CancellationToken::new();
    let addr = listener.local_addr()?;
    let sim: Option<SharedSim> = sim.map(|sim| Arc::new(Mutex::new(sim)));
    let state = AppState {
        hub: hub.clone(),
        simulator: sim.is_some(),
        devices,
        ingest,
        stats: Arc::new(Stats::default()),
        metrics,
        settings: Arc::new(Settings {
            dist: config.dist.clone(),
            keepalive: config.keepalive,
            quiet: config.quiet,
            node: Arc::from(addr.to_string()),
            clock,
            secure_cookies: config.tls.is_some() || config.public_url_is_https(),
            trusted_origins: config
                .public_url
                .iter()
                .chain(&config.allow_origins)
                .cloned()
                .collect(),
        }),
        auth: auth.clone(),
        shutdown: token.clone(),
        operator_streams: stats::OperatorStreams::new(config.max_streams_per_operator),
    };
    let signal = tokio::spawn({
        let (trigger, hub, log) = (token.clone(), hub.clone(), !config.quiet);
        let timeout = config.shutdown_timeout;
        async move {
            shutdown.await;
            let began = tokio::time::Instant::now();
            if log {
                tracing::info!(
                    streams = hub.subscriber_count(),
                    timeout_ms = timeout.as_millis() as u64,
                    "shutting down: refusing connections, ending streams, finishing requests"
                );
            }
            trigger.cancel();
            // Every stream reads what was already sent to it, then its end.
            hub.close_streams();
            began
        }
    });
    // A truck reports at most once a step, so steps come at least twice per report period.
    let half_period = Duration::from_secs_f64(0.5 / config.rate).max(Duration::from_millis(1));
    let min_tick = config.min_tick.min(half_period);
    let driver = sim.map(|sim| {
        tokio::spawn(producer::drive(
            hub.clone(),
            sim,
            clock,
            min_tick,
            !config.quiet,
            token.clone(),
        ))
    });
    let keep_alive = tokio::spawn(keep_streams_alive(
        hub.clone(),
        config.keepalive,
        token.clone(),
    ));
    let signal_watch = tokio::spawn(watch_signal(
        hub.clone(),
        config.stale_after,
        clock,
        !config.quiet,
        token.clone(),
    ));
    // The tail outlives the signal until connections are done: an ingest request in flight
    // waits for its events to come back through it, and a stream resuming here for the tail to
    // catch up.
    let tail_stop = CancellationToken::new();
    let tail = match (hub.remote().cloned(), pending_seed) {
        (Some(remote), Some(seed)) => Some(tokio::spawn(tail::follow(
            remote,
            hub.clone(),
            config.replay,
            seed,
            clock,
            !config.quiet,
            tail_stop.clone(),
        ))),
        _ => None,
    };
    let trimmer = tokio::spawn(trim(
        hub.clone(),
        config.retention,
        config.trim_every,
        clock,
        !config.quiet,
        token.clone(),
    ));
    if !config.quiet {
        let scheme = if tls.is_some() { "https" } else { "http" };
        match (&auth, &config.auth_key_file) {
            (None, _) => warn_auth_off(addr),
            (Some(_), Some(key)) => tracing::info!(
                "sign-in is on: operators sign in with a token; mint one (and a sign-in link) with \
                 `convoy-server token --key-file {} --sub NAME --trucks all --url {scheme}://{addr}`",
                key.display()
            ),
            (Some(_), None) => tracing::info!(
                "sign-in is on: operators sign in with tokens from the identity provider whose \
                 public key --auth-public-key names"
            ),
        }
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        if let Some(listener) = &metrics_listener {
            let at = listener.local_addr()?;
            let _ = writeln!(stdout, "convoy-server metrics on http://{at}/metrics");
        }
        if let Some(listener) = &osmand_listener {
            let at = listener.local_addr()?;
            let _ = writeln!(stdout, "convoy-server OsmAnd on http://{at}/");
        }
        let _ = writeln!(stdout, "convoy-server listening on {scheme}://{addr}");
        let _ = stdout.flush();
    }
    let osmand_server = osmand_listener.map(|listener| {
        tokio::spawn(conn::accept_loop(
            listener,
            osmand_router(state.clone()),
            None,
            token.clone(),
            conn::Options::from_config(&config),
        ))
    });
    let metrics_server = metrics_listener.map(|listener| {
        tokio::spawn(conn::accept_loop(
            listener,
            metrics_router(state.clone()),
            None,
            token.clone(),
            conn::Options::from_config(&config),
        ))
    });
    let routes = router(
        state,
        &config.allow_origins,
        tls.is_some() || config.public_url_is_https(),
        metrics_server.is_some(),
    );
    let cut = conn::accept_loop(
        listener,
        routes,
        tls,
        token.clone(),
        conn::Options::from_config(&config),
    )
    .await;
    token.cancel();
    // Only the signal cancels the token, so it has fired; the guard keeps a hang impossible.
    let began = if signal.is_finished() {
        signal.await.unwrap_or_else(|_| tokio::time::Instant::now())
    } else {
        signal.abort();
        tokio::time::Instant::now()
    };
    let finish = async move {
        let mut cut = cut;
        if let Some(metrics_server) = metrics_server {
            cut += metrics_server.await.unwrap_or(0);
        }
        if let Some(osmand_server) = osmand_server {
            cut += osmand_server.await.unwrap_or(0);
        }
        let _ = signal_watch.await;
        let _ = keep_alive.await;
        if let Some(driver) = driver {
            let _ = driver.await;
        }
        let _ = trimmer.await;
        tail_stop.cancel();
        if let Some(tail) = tail {
            let _ = tail.await;
        }
        if let Some(remote) = hub.remote().filter(|_| hub.loaded()) {
            // The next node to start rebuilds from the latest snapshot, not an older one.
            let _ = remote.save_snapshot(&hub.snapshot()).await;
        }
        // The next start then rebuilds the fleet from the snapshot alone.
        let checkpoint = tokio::task::spawn_blocking(move || hub.checkpoint()).await;
        if let Ok(Err(e)) = checkpoint {
            tracing::error!(error = %e, "cannot store the fleet snapshot");
        }
        cut
    };
    // Whatever is left at the deadline is given up: the process must exit in time.
    let finished = tokio::time::timeout_at(began + config.shutdown_timeout, finish).await;
    if !config.quiet {
        let took_ms = began.elapsed().as_millis() as u64;
        match finished {
            Ok(0) => tracing::info!(shutdown_ms = took_ms, "convoy-server stopped"),
            Ok(cut) => tracing::warn!(
                shutdown_ms = took_ms,
                connections_cut = cut,
                "convoy-server stopped; connections still open at --shutdown-timeout were cut"
            ),
            Err(_) => tracing::warn!(
                shutdown_ms = took_ms,
                "convoy-server stopped at --shutdown-timeout before the event log was flushed"
            ),
        }
    }
    Ok(())
}

/// Sends every stream a `: keep-alive` comment every `every` (never when zero) until
/// `shutdown`: one timer for the server, not one per stream.
async fn keep_streams_alive(hub: Arc<Hub>, every: Duration, shutdown: CancellationToken) {
    if every.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => hub.keep_streams_alive(),
        }
    }
}

/// Appends the `no_signal` alerts that fall due (a truck without a position for `stale_after`,
/// on the server's clock) until `shutdown`, checking a few times per `stale_after` and at least
/// every 5 s.
async fn watch_signal(
    hub: Arc<Hub>,
    stale_after: Duration,
    clock: Clock,
    log: bool,
    shutdown: CancellationToken,
) {
    let every = (stale_after / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        if !hub.loaded() {
            continue;
        }
        match hub.tick(clock.now_ms()).await {
            Ok(0) => {}
            Ok(n) if log => tracing::info!(events = n, "no signal from some trucks"),
            Ok(_) => {}
            Err(e) if log => tracing::warn!(error = %e, "cannot append no_signal alerts"),
            Err(_) => {}
        }
    }
}

/// Prunes the log to `retention` every `every` until `shutdown`.
async fn trim(
    hub: Arc<Hub>,
    retention: Retention,
    every: Duration,
    clock: Clock,
    log: bool,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(every.max(Duration::from_millis(10)));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let local = hub.clone();
        let now = clock.now_ms();
        match tokio::task::spawn_blocking(move || local.trim(retention, now)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) if log => tracing::info!(pruned = n, %retention, "event log pruned"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "pruning the event log failed"),
            Err(e) => tracing::error!(error = %e, "pruning the event log failed"),
        }
        // A shared log keeps its events in Redis, trimmed by count as they are appended; by age
        // here, once the node has read it (until then Redis has not answered).
        let (Some(remote), Retention::Age(age)) = (hub.remote(), retention) else {
            continue;
        };
        if !hub.loaded() {
            continue;
        }
        match remote.trim_by_age(age).await {
            Ok(0) => {}
            Ok(n) if log => tracing::info!(
                pruned = n,
                engine = %remote.url(),
                %retention,
                "event log pruned"
            ),
            Ok(_) => {}
            // The tail reports outages.
            Err(LogError::Unavailable(_)) => {}
            Err(e) => tracing::error!(error = %e, "pruning Redis failed"),
        }
    }
}
