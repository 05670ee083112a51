//! `convoy-server`: parses flags, binds, and runs [`convoy_server::serve`] until Ctrl-C or SIGTERM.

mod token;

use clap::Parser;
use convoy_server::log::{LogSpec, Retention};
use convoy_server::tls::TlsSource;
use convoy_server::{serve, Config};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// What `--help` says after the flags: the subcommands, which clap does not see (they are
/// dispatched before the flags are parsed).
const SUBCOMMANDS: &str = "\
Subcommands:
  convoy-server token --key-file FILE --sub NAME [--trucks all|T-01,T-02] [--ttl-s N] [--url URL]
      Mints an operator's sign-in token and link with the --auth-key-file key
      (make a key with: openssl rand -hex 32 > auth.key).
  convoy-server csp [DIST]
      Prints the Content-Security-Policy for the app built in DIST (default dist), for a CDN.";

/// Convoy's SSE backend with an embedded fleet simulator.
#[derive(Debug, Parser)]
#[command(version, about, after_help = SUBCOMMANDS)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: SocketAddr,
    /// The built app to serve (trunk's output directory).
    #[arg(long, default_value = "dist")]
    dist: PathBuf,
    /// Number of simulated trucks; 0 runs no simulator (an ingest-only node).
    #[arg(long, default_value_t = 40)]
    trucks: usize,
    /// Position reports per second per simulated truck.
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Simulator seed: the same seed tells the same story.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Seconds between keep-alive ticks (0: none): at each, every stream that wrote nothing
    /// since the last one gets a `: keep-alive` comment.
    #[arg(long, default_value_t = 15, value_name = "SECONDS")]
    keepalive: u64,
    /// Events kept for resuming streams with Last-Event-ID.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    replay: usize,
    /// Events a stream may fall behind before it is closed.
    #[arg(long, default_value_t = 1024, value_name = "N")]
    queue: usize,
    /// Serve HTTPS with HTTP/2 and HTTP/1.1 (a self-signed certificate unless --cert/--key).
    #[arg(long)]
    tls: bool,
    /// PEM certificate chain for --tls.
    #[arg(long, requires = "key", requires = "tls")]
    cert: Option<PathBuf>,
    /// PEM private key for --tls.
    #[arg(long, requires = "cert", requires = "tls")]
    key: Option<PathBuf>,
    /// The event log: `memory` (gone with the process), `file:DIR` (durable, in DIR) or
    /// `redis://HOST:PORT[/DB]` (a Redis stream shared by several nodes).
    #[arg(long, default_value = "memory", value_name = "ENGINE")]
    log: LogSpec,
    /// The fleet's name: its keys in a shared Redis.
    #[arg(long, default_value = "default")]
    fleet: String,
    /// History the log keeps: a number of events, or a duration (90s, 30m, 24h, 7d).
    #[arg(long, default_value = "1000000", value_name = "EVENTS|DURATION")]
    retention: Retention,
    /// Bearer tokens for POST /api/ingest, one a line; without it ingest is off.
    #[arg(long, value_name = "FILE")]
    ingest_token_file: Option<PathBuf>,
    /// Largest ingest body in bytes.
    #[arg(long, default_value_t = 1 << 20, value_name = "BYTES")]
    ingest_max_bytes: usize,
    /// Most events in one ingest request.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    ingest_max_events: usize,
    /// Ingest requests handled at once; more are answered 429.
    #[arg(long, default_value_t = 4, value_name = "N")]
    ingest_concurrency: usize,
    /// Most SSE streams open at once; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_streams: usize,
    /// Most connections open at once; at the cap a new one evicts an idle one (no request in
    /// flight; those that never sent one first), or is closed.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    max_connections: usize,
    /// Seconds a new connection has to finish its TLS handshake and send its first request
    /// head, and an idle connection (HTTP/1.1 or HTTP/2, no request in flight) to send its next.
    #[arg(long, default_value_t = 10, value_name = "SECONDS")]
    handshake_timeout: u64,
    /// Largest request head in bytes (HTTP/1.1 and HTTP/2).
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    max_header_bytes: usize,
    /// Most headers in an HTTP/1.1 request.
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_headers: usize,
    /// The HS256 key operators' tokens are signed with (at least 32 bytes); turns sign-in on.
    /// `convoy-server token --key-file FILE --sub NAME` mints a token.
    #[arg(long, value_name = "FILE")]
    auth_key_file: Option<PathBuf>,
    /// An identity provider's Ed25519 public key (PEM) whose EdDSA tokens are accepted;
    /// repeatable; turns sign-in on.
    #[arg(long, value_name = "FILE")]
    auth_public_key: Vec<PathBuf>,
    /// An origin (`https://app.example.com`) allowed to call the API with credentials, e.g. the
    /// CDN that serves the app; repeatable. Never `*`.
    #[arg(long, value_name = "ORIGIN")]
    allow_origin: Vec<String>,
    /// The origin browsers reach this server at, when a proxy in front terminates TLS
    /// (`https://convoy.example.com`): the session cookie becomes Secure and HSTS is sent.
    #[arg(long, value_name = "ORIGIN")]
    public_url: Option<String>,
    /// Most streams one signed-in operator may hold open at once.
    #[arg(long, default_value_t = 100, value_name = "N")]
    max_streams_per_operator: usize,
    /// Most trucks the fleet may hold; ingest naming new trucks beyond it is refused (422).
    #[arg(long, default_value_t = 100_000, value_name = "N")]
    max_trucks: usize,
    /// Most connections from one client address (IPv6: its /64); beyond it the address's own
    /// idle connection is evicted, or the new one closed. Behind a proxy every connection comes
    /// from the proxy: raise it to --max-connections.
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_connections_per_ip: usize,
    /// Seconds an ingest body may take to arrive in full; later it is answered 408.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    ingest_body_timeout: u64,
    /// Serve GET /metrics (Prometheus) on a listener of its own at HOST:PORT, plain HTTP with no
    /// sign-in, to keep private; without it /metrics is on --addr, for operators who see every
    /// truck.
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<String>,
    /// Minutes without a position after which a truck gets a `no_signal` alert (server's clock).
    #[arg(long, default_value_t = 10.0, value_name = "MINUTES")]
    stale_after: f64,
    /// Which truck each OsmAnd device (a phone with Traccar Client, a GPS unit) reports for:
    /// `DEVICE_ID TRUCK_ID` per line, `#` comments. Turns on /api/osmand.
    #[arg(long, value_name = "FILE")]
    devices: Option<PathBuf>,
    /// Also serve the OsmAnd protocol at / on a listener of its own at HOST:PORT, as a Traccar
    /// server does (devices set up for Traccar need only the host and port changed).
    #[arg(long, value_name = "HOST:PORT", requires = "devices")]
    osmand_addr: Option<String>,
    /// On SIGTERM or Ctrl-C: how long the node may take to stop (a duration: 500ms, 10s, 2m, or
    /// seconds). It refuses new connections, ends every stream with a short `retry:`, lets
    /// requests in flight finish, stores the fleet snapshot, and cuts what is left at the end.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    shutdown_timeout: Duration,
    /// Log lines as `text` or `json` (one object a line), to stderr; `RUST_LOG` sets the
    /// levels (default `convoy_server=info,warn`).
    #[arg(long, default_value = "text", value_name = "text|json")]
    log_format: LogFormat,
    /// No log lines.
    #[arg(long)]
    quiet: bool,
}

/// A duration flag's value: a number with `ms`, `s`, `m` or `h`, or a number of seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let bad =
        || format!("{text:?} is not a duration: use 500ms, 10s, 2m, 1h or a number of seconds");
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "" | "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// The levels when `RUST_LOG` is unset: the server's own lines, and only warnings from the
/// libraries under it.
const DEFAULT_FILTER: &str = "convoy_server=info,warn";

/// Lines the background writer may hold before it drops new ones rather than block a request.
/// Its queue is allocated and touched whole at start: the library's default, 128 000, is 4 MB
/// of memory for a burst the writer drains in milliseconds.
const LOG_LINES_QUEUED: usize = 16_384;

/// Sends the process's `tracing` events to stderr through a background writer, so a slow stderr
/// never holds up a request. The returned guard flushes the lines still queued when dropped:
/// keep it until the process ends.
fn install_logging(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|e| {
        if std::env::var_os(EnvFilter::DEFAULT_ENV).is_some() {
            eprintln!("convoy-server: RUST_LOG: {e}; using {DEFAULT_FILTER}");
        }
        EnvFilter::new(DEFAULT_FILTER)
    });
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_LINES_QUEUED)
        .finish(std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    guard
}

impl Args {
    fn config(self) -> Config {
        let tls = match (self.tls, self.cert, self.key) {
            (false, _, _) => None,
            (true, Some(cert), Some(key)) => Some(TlsSource::Pem { cert, key }),
            (true, _, _) => Some(TlsSource::SelfSigned),
        };
        Config {
            dist: self.dist,
            trucks: self.trucks,
            rate: self.rate,
            seed: self.seed,
            keepalive: Duration::from_secs(self.keepalive),
            replay: self.replay,
            queue_capacity: self.queue,
            tls,
            quiet: self.quiet,
            log: self.log,
            fleet: self.fleet,
            retention: self.retention,
            ingest_token_file: self.ingest_token_file,
            ingest_max_bytes: self.ingest_max_bytes,
            ingest_max_events: self.ingest_max_events,
            ingest_concurrency: self.ingest_concurrency,
            max_streams: self.max_streams,
            max_connections: self.max_connections,
            handshake_timeout: Duration::from_secs(self.handshake_timeout),
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            auth_key_file: self.auth_key_file,
            auth_public_keys: self.auth_public_key,
            allow_origins: self.allow_origin,
            max_trucks: self.max_trucks,
            public_url: self
                .public_url
                .map(|url| url.trim_end_matches('/').to_owned()),
            max_streams_per_operator: self.max_streams_per_operator,
            max_connections_per_ip: self.max_connections_per_ip,
            ingest_body_timeout: Duration::from_secs(self.ingest_body_timeout),
            metrics_addr: self.metrics_addr,
            // Out of range (or not a number) fails `Config::validate`, naming the flag.
            stale_after: Duration::try_from_secs_f64(self.stale_after * 60.0).unwrap_or_default(),
            devices: self.devices,
            osmand_addr: self.osmand_addr,
            shutdown_timeout: self.shutdown_timeout,
            ..Config::default()
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a SIGTERM that arrives right after the "listening" line must stop
/// the server gracefully, not kill it with the default action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut streams: Vec<_> = [SignalKind::terminate(), SignalKind::interrupt()]
            .into_iter()
            .filter_map(|kind| signal(kind).ok())
            .collect();
        async move {
            if streams.is_empty() {
                return std::future::pending().await;
            }
            let waits = streams.iter_mut().map(|s| Box::pin(s.recv()));
            futures_util::future::select_all(waits).await;
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// One glibc malloc arena instead of up to eight per core. glibc gives each thread that meets a
/// locked arena one of its own, and each keeps the free space its allocations left behind; the
/// server's memory is mostly per-connection state made and freed across threads, so at 10 000
/// streams the extra arenas held about 18 MB more resident for no speed the fan-out needed (it
/// allocates almost nothing per event). `MALLOC_ARENA_MAX` or `GLIBC_TUNABLES` still decide
/// when set.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none()
        && std::env::var_os("GLIBC_TUNABLES").is_none()
    {
        // SAFETY: mallopt only changes allocator settings; called before any other thread runs.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

fn main() -> ExitCode {
    limit_malloc_arenas();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("convoy-server: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(run());
    // `serve` has returned within --shutdown-timeout; a blocking task still running then (a
    // write stuck on a dead disk) must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn run() -> ExitCode {
    match std::env::args().nth(1).as_deref() {
        Some("token") => return token::main(std::env::args().skip(2)),
        Some("csp") => {
            // The Content-Security-Policy this server sends with the app in DIST, for a CDN.
            let dist = std::env::args().nth(2).unwrap_or_else(|| "dist".into());
            return match convoy_server::headers::build_policy(std::path::Path::new(&dist)) {
                Ok(policy) => {
                    use std::io::Write;
                    let _ = writeln!(std::io::stdout().lock(), "{policy}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("convoy-server csp: {e}");
                    ExitCode::from(2)
                }
            };
        }
        _ => {}
    }
    let args = Args::parse();
    // `--quiet`: no subscriber, so no line at all.
    let _log_guard = (!args.quiet).then(|| install_logging(args.log_format));
    let addr = args.addr;
    let config = args.config();
    if let Err(e) = config.validate() {
        eprintln!("convoy-server: {e}");
        return ExitCode::from(2);
    }
    if let Ok(Some(metrics_addr)) = config.metrics_socket_addr() {
        if metrics_addr == addr {
            eprintln!("convoy-server: --metrics-addr must differ from --addr ({addr})");
            return ExitCode::from(2);
        }
    }
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("convoy-server: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    match serve(listener, config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("convoy-server: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_a_unit_or_mean_seconds() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration(" 1.5 "), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "s", "-1s", "10 s", "1.2.3s", "5d", "soon"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
