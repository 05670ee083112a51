//! convoy-server: Convoy's SSE backend with an embedded fleet simulator.
//!
//! [`serve`] runs the whole server on a bound listener until a shutdown future resolves, so the
//! binary and the integration tests run the same code. The modules, one concern each:
//! - `sim`: the pure fleet simulator;
//! - `hub`: the event log (ids, replay ring, fan-out, snapshot) and the driver that steps the sim;
//! - `stream`: `GET /api/stream`, the SSE feed;
//! - `api`: the JSON routes and their error body;
//! - `assets`: the built app and the SPA fallback;
//! - `stats`: open-stream counts for `GET /api/stats`;
//! - `conn`: accepting connections (HTTP/1.1 and HTTP/2, optional TLS);
//! - `tls`: the rustls config.

pub mod api;
pub mod assets;
pub mod conn;
pub mod hub;
pub mod sim;
pub mod stats;
pub mod stream;
pub mod tls;

use crate::hub::{Clock, Hub};
use crate::sim::{SimConfig, Simulator};
use crate::stats::Stats;
use crate::tls::{TlsError, TlsSource};
use axum::http::header::X_CONTENT_TYPE_OPTIONS;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::any::Any;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;

/// How the server runs. `Config::default()` matches the binary's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The built app (trunk's output).
    pub dist: PathBuf,
    /// Number of simulated trucks.
    pub trucks: usize,
    /// Telemetry events per truck per second.
    pub rate: f64,
    /// Simulator seed: same seed, same story.
    pub seed: u64,
    /// Interval of `: keep-alive` comments on every stream; zero turns them off.
    pub keepalive: Duration,
    /// How many recent events the replay buffer keeps for resuming streams.
    pub replay: usize,
    /// How many events a stream may fall behind before it is closed.
    pub queue_capacity: usize,
    /// Serve HTTPS (HTTP/2 and HTTP/1.1) instead of plain HTTP/1.1 (and h2c).
    pub tls: Option<TlsSource>,
    /// How long shutdown waits for open connections before dropping them.
    pub shutdown_grace: Duration,
    /// Shortest interval between simulator steps (events are batched per step); shorter when the
    /// rate needs it.
    pub min_tick: Duration,
    /// No log lines (the tests set this).
    pub quiet: bool,
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
            shutdown_grace: Duration::from_secs(5),
            min_tick: Duration::from_millis(20),
            quiet: false,
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
    Io(#[from] std::io::Error),
}

impl Config {
    /// Checks the ranges the simulator and the streams rely on.
    pub fn validate(&self) -> Result<(), ServeError> {
        let fail = |m: &str| Err(ServeError::Config(m.to_owned()));
        if self.trucks == 0 || self.trucks > 9999 {
            return fail("trucks must be between 1 and 9999");
        }
        if !self.rate.is_finite() || self.rate <= 0.0 || self.rate > 1000.0 {
            return fail("rate must be above 0 and at most 1000 events per truck per second");
        }
        if self.queue_capacity == 0 {
            return fail("queue capacity must be at least 1");
        }
        Ok(())
    }
}

/// What the handlers need, shared by every request.
#[derive(Clone)]
pub struct AppState {
    pub hub: Arc<Hub>,
    pub stats: Arc<Stats>,
    pub settings: Arc<Settings>,
    /// Cancelled when the server shuts down; every stream ends on it.
    pub shutdown: CancellationToken,
}

/// The handlers' share of the configuration.
#[derive(Debug)]
pub struct Settings {
    pub dist: PathBuf,
    pub keepalive: Duration,
    pub quiet: bool,
    pub clock: Clock,
}

/// The routes: `/api/*` (JSON and the stream, 404 JSON for anything else) and the app.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/fleet", get(api::fleet))
        .route("/trucks/{id}", get(api::truck))
        .route("/map", get(api::map))
        .route("/stats", get(api::stats))
        .route("/stream", get(stream::stream))
        .fallback(api::not_found);
    Router::new()
        .nest("/api", api)
        .fallback(assets::serve)
        .with_state(state)
        .layer(SetResponseHeaderLayer::if_not_present(
            X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(CatchPanicLayer::custom(panic_response))
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    let body = Json(serde_json::json!({ "error": "internal error" }));
    (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
}

/// Writes a log line to stderr; a closed stderr is ignored rather than a panic.
pub(crate) fn log_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{args}");
}

fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Runs the server on `listener` until `shutdown` resolves, then ends every open stream, waits up
/// to `config.shutdown_grace` for connections to finish and returns. Prints
/// `convoy-server listening on http://ADDR` (https with TLS) once ready, unless quiet.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate()?;
    let tls = match &config.tls {
        Some(source) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(source)?)),
        None => None,
    };
    let start_ms = unix_now_ms();
    let clock = Clock::new(start_ms);
    let sim = Simulator::new(
        &SimConfig {
            trucks: config.trucks,
            rate: config.rate,
            seed: config.seed,
        },
        start_ms,
    );
    let hub = Arc::new(Hub::new(
        sim,
        hub::first_id_for(start_ms),
        config.replay,
        config.queue_capacity,
    ));
    let token = CancellationToken::new();
    let state = AppState {
        hub: hub.clone(),
        stats: Arc::new(Stats::default()),
        settings: Arc::new(Settings {
            dist: config.dist.clone(),
            keepalive: config.keepalive,
            quiet: config.quiet,
            clock,
        }),
        shutdown: token.clone(),
    };
    let addr = listener.local_addr()?;
    let trigger = token.clone();
    let signal = tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    // A truck reports at most once a step, so steps come at least twice per telemetry period.
    let half_period = Duration::from_secs_f64(0.5 / config.rate).max(Duration::from_millis(1));
    let min_tick = config.min_tick.min(half_period);
    let driver = tokio::spawn(hub::drive(hub, clock, min_tick, token.clone()));
    if !config.quiet {
        let scheme = if tls.is_some() { "https" } else { "http" };
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "convoy-server listening on {scheme}://{addr}");
        let _ = stdout.flush();
    }
    conn::accept_loop(
        listener,
        router(state),
        tls,
        token.clone(),
        config.shutdown_grace,
        !config.quiet,
    )
    .await;
    token.cancel();
    signal.abort();
    let _ = driver.await;
    if !config.quiet {
        log_line(format_args!("convoy-server stopped"));
    }
    Ok(())
}
