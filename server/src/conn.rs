//! Accepting connections: plain TCP or TLS, each served with HTTP/1.1 or HTTP/2 (hyper-util's
//! auto builder picks by the connection preface; TLS also offers both by ALPN). One task per
//! connection, which ends on shutdown (gracefully, within a grace period), when a stream on it
//! fell too far behind (HTTP/1.1), when it idles too long, or when it is evicted.
//!
//! What holds under abuse:
//! - at most `max_connections` connections, and at most `max_connections_per_ip` from one client
//!   address (an IPv6 client by its /64): at either cap a new connection evicts an idle one (no
//!   request in flight: HTTP/1.1 between requests, HTTP/2 with no open stream; one that never
//!   sent a request first, then the longest idle; at the per-address cap only that address's
//!   own), so idle sockets cannot keep a real client out; with none to evict, the new one is
//!   closed at once;
//! - a connection must finish its TLS handshake and send its first request within
//!   `handshake_timeout`, and one left idle (its last response sent, no request in flight) is
//!   closed after the same time, HTTP/2 as HTTP/1.1 keep-alive (HTTP/1.1: also every head must
//!   arrive within it);
//! - request heads are bounded in bytes and headers (HTTP/1.1: 431; HTTP/2: the header list);
//! - `max_streams` SSE streams at once, server-wide ([`StreamSlots`], taken by `stream`).
//!
//! Why not `axum::serve`: a client that stops reading stalls its connection, and then hyper never
//! polls the stream's body again, so the stream itself can never notice it is behind. Ending the
//! response from outside is the only way to free it, which needs a handle per request: on
//! HTTP/1.1 that closes the connection (it carries only this response); on HTTP/2 it drops the
//! task hyper spawned for that one stream (h2 then resets it with `RST_STREAM(CANCEL)`), so the
//! other tabs' streams on the same connection go on.

use crate::stats::StreamSlots;
use crate::wake::WakeFlag;
use crate::Config;
use axum::body::Body;
use axum::Router;
use hyper::body::{Body as HttpBody, Frame, Incoming, SizeHint};
use hyper::{Request, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::collections::{BTreeSet, HashMap};
use std::future::{poll_fn, Future};
use std::net::{IpAddr, Ipv4Addr};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a connection that made requests is given to close once told to go (idle or
/// evicted): an HTTP/2 `GOAWAY` takes a ping's round trip.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// How connections are accepted and bounded; see the module docs.
#[derive(Debug, Clone)]
pub struct Options {
    pub max_connections: usize,
    pub max_streams: usize,
    pub handshake_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// How long shutdown waits for open connections before cutting them.
    pub grace: Duration,
    pub log: bool,
    /// Most connections from one client address (at most `max_connections`).
    pub max_connections_per_ip: usize,
}

impl Options {
    /// The connection limits of `config`.
    pub fn from_config(config: &Config) -> Options {
        Options {
            max_connections: config.max_connections,
            max_streams: config.max_streams,
            handshake_timeout: config.handshake_timeout,
            max_header_bytes: config.max_header_bytes,
            max_headers: config.max_headers,
            grace: config.drain_timeout(),
            log: !config.quiet,
            max_connections_per_ip: config.max_connections_per_ip.min(config.max_connections),
        }
    }
}

/// What a request's handler may do with the response it gives. Every request served by
/// [`accept_loop`] carries one in its extensions.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    end: CancellationToken,
    streams: Arc<StreamSlots>,
}

impl ConnectionHandle {
    /// A token that ends this response when cancelled: its HTTP/2 stream alone, or its
    /// HTTP/1.1 connection (which carries only this response).
    pub fn end_token(&self) -> CancellationToken {
        self.end.clone()
    }

    /// The server's stream slots (`--max-streams`).
    pub fn streams(&self) -> &Arc<StreamSlots> {
        &self.streams
    }
}

/// Which connections count together against `max_connections_per_ip`: an IPv4 address (also
/// when mapped into IPv6), or an IPv6 /64, which one host usually has to itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientAddr {
    V4(Ipv4Addr),
    V6Prefix(u64),
}

impl ClientAddr {
    fn of(ip: IpAddr) -> ClientAddr {
        match ip {
            IpAddr::V4(v4) => ClientAddr::V4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => ClientAddr::V4(v4),
                None => ClientAddr::V6Prefix((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Where an idle connection stands in the eviction order, first evicted first: those that
/// never sent a request (`false` sorts first), then by when they became idle.
type IdleKey = (bool, u64, u64);

/// The open connections: how many requests each has in flight, and the idle ones in eviction
/// order, server-wide and per client address. Shared by the accept loop and the requests.
#[derive(Default)]
struct Registry {
    next: u64,
    /// Orders idle connections by when they became idle.
    idle_order: u64,
    open: HashMap<u64, Tracked>,
    by_task: HashMap<tokio::task::Id, u64>,
    idle: BTreeSet<IdleKey>,
    clients: HashMap<ClientAddr, ClientConnections>,
    /// Evicted and not closed yet.
    evicted: usize,
}

#[derive(Default)]
struct ClientConnections {
    /// Open and not evicted.
    live: usize,
    idle: BTreeSet<IdleKey>,
}

struct Tracked {
    client: ClientAddr,
    in_flight: usize,
    /// Has sent a request.
    proven: bool,
    /// Its key in the idle sets while it is idle and not evicted.
    idle: Option<IdleKey>,
    /// When it became idle, and whether it was evicted, for its task.
    standing: Standing,
}

impl Registry {
    fn insert(&mut self, client: ClientAddr) -> (u64, Standing) {
        self.next += 1;
        let seq = self.next;
        let standing = Standing::new();
        self.open.insert(
            seq,
            Tracked {
                client,
                in_flight: 0,
                proven: false,
                idle: None,
                standing: standing.clone(),
            },
        );
        self.clients.entry(client).or_default().live += 1;
        self.become_idle(seq);
        (seq, standing)
    }

    fn become_idle(&mut self, seq: u64) {
        self.idle_order += 1;
        let Some(tracked) = self.open.get_mut(&seq) else {
            return;
        };
        let key = (tracked.proven, self.idle_order, seq);
        tracked.idle = Some(key);
        tracked.standing.set_idle_since(Some(Instant::now()));
        self.idle.insert(key);
        if let Some(client) = self.clients.get_mut(&tracked.client) {
            client.idle.insert(key);
        }
    }

    /// Takes `seq` out of the idle sets, if it is there.
    fn unlist_idle(&mut self, seq: u64) {
        let Some(tracked) = self.open.get_mut(&seq) else {
            return;
        };
        if let Some(key) = tracked.idle.take() {
            self.idle.remove(&key);
            if let Some(client) = self.clients.get_mut(&tracked.client) {
                client.idle.remove(&key);
            }
        }
    }

    fn request_started(&mut self, seq: u64) {
        self.unlist_idle(seq);
        if let Some(tracked) = self.open.get_mut(&seq) {
            tracked.proven = true;
            tracked.in_flight += 1;
            if tracked.in_flight == 1 {
                tracked.standing.set_idle_since(None);
            }
        }
    }

    fn request_ended(&mut self, seq: u64) {
        let Some(tracked) = self.open.get_mut(&seq) else {
            return;
        };
        tracked.in_flight -= 1;
        if tracked.in_flight == 0 && !tracked.standing.evicted() {
            self.become_idle(seq);
        }
    }

    fn remove(&mut self, task: tokio::task::Id) {
        let Some(seq) = self.by_task.remove(&task) else {
            return;
        };
        self.unlist_idle(seq);
        let Some(tracked) = self.open.remove(&seq) else {
            return;
        };
        if tracked.standing.evicted() {
            self.evicted -= 1;
        } else if let Some(client) = self.clients.get_mut(&tracked.client) {
            client.live -= 1;
        }
        if self
            .clients
            .get(&tracked.client)
            .is_some_and(|c| c.live == 0 && c.idle.is_empty())
        {
            self.clients.remove(&tracked.client);
        }
    }

    fn evict(&mut self, seq: u64) {
        self.unlist_idle(seq);
        let Some(tracked) = self.open.get(&seq) else {
            return;
        };
        tracked.standing.evict();
        self.evicted += 1;
        if let Some(client) = self.clients.get_mut(&tracked.client) {
            client.live -= 1;
        }
    }

    /// Evicts the first idle connection in eviction order; false when none is idle.
    fn evict_idle(&mut self) -> bool {
        let Some(&(_, _, seq)) = self.idle.first() else {
            return false;
        };
        self.evict(seq);
        true
    }

    /// Evicts the first idle connection of `client`; false when none of its is idle.
    fn evict_idle_of(&mut self, client: ClientAddr) -> bool {
        let Some(&(_, _, seq)) = self.clients.get(&client).and_then(|c| c.idle.first()) else {
            return false;
        };
        self.evict(seq);
        true
    }

    /// Open connections, not counting those evicted and about to close.
    fn live(&self) -> usize {
        self.open.len() - self.evicted
    }

    /// Open connections from `client`, not counting those evicted.
    fn live_of(&self, client: ClientAddr) -> usize {
        self.clients.get(&client).map_or(0, |c| c.live)
    }
}

type SharedRegistry = Arc<Mutex<Registry>>;

fn lock(registry: &SharedRegistry) -> MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(|e| e.into_inner())
}

/// One request in flight on connection `seq`, from the request head until its response is
/// sent or dropped.
struct InFlight {
    registry: SharedRegistry,
    seq: u64,
}

impl InFlight {
    fn start(registry: &SharedRegistry, seq: u64) -> InFlight {
        lock(registry).request_started(seq);
        InFlight {
            registry: registry.clone(),
            seq,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.registry).request_ended(self.seq);
    }
}

/// A response's body, holding its request's place in flight until it is sent or dropped.
/// Handed to hyper as it is (not boxed again): hyper polls it once per chunk of every stream.
struct InFlightBody {
    body: Body,
    _in_flight: InFlight,
}

impl HttpBody for InFlightBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Why connections were refused, for the log: counts, logged at powers of two.
#[derive(Default)]
struct Refusals {
    at_cap: u64,
    per_ip: u64,
}

/// Serves `app` on every connection `listener` accepts until `shutdown`, then closes the
/// listener (new connections are refused), waits up to `options.grace` for the open connections
/// to finish and cuts the rest; returns how many it cut.
pub async fn accept_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    options: Options,
) -> usize {
    let options = Arc::new(options);
    let streams = StreamSlots::new(options.max_streams);
    let mut connections = JoinSet::new();
    let registry = SharedRegistry::default();
    let mut refused = Refusals::default();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = connections.join_next_with_id(), if !connections.is_empty() => {
                let task = match done {
                    Ok((task, ())) => task,
                    Err(e) => e.id(),
                };
                lock(&registry).remove(task);
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let client = ClientAddr::of(peer.ip());
                    let mut open = lock(&registry);
                    // Every connection at the cap has a request in flight: refuse this one
                    // rather than leave it waiting in the backlog.
                    if open.live_of(client) >= options.max_connections_per_ip
                        && !open.evict_idle_of(client)
                    {
                        refused.per_ip += 1;
                        if options.log && refused.per_ip.is_power_of_two() {
                            tracing::warn!(
                                refused = refused.per_ip,
                                latest_from = %peer.ip(),
                                "at --max-connections-per-ip {}: refusing connections (behind \
                                 a proxy every connection comes from the proxy: raise it)",
                                options.max_connections_per_ip,
                            );
                        }
                        continue;
                    }
                    if open.live() >= options.max_connections && !open.evict_idle() {
                        refused.at_cap += 1;
                        if options.log && refused.at_cap.is_power_of_two() {
                            tracing::warn!(
                                refused = refused.at_cap,
                                "at --max-connections {}: refusing connections",
                                options.max_connections
                            );
                        }
                        continue;
                    }
                    // Events are small and should leave at once.
                    let _ = tcp.set_nodelay(true);
                    let (seq, standing) = open.insert(client);
                    let task = connections.spawn(serve_connection(
                        tcp,
                        app.clone(),
                        tls.clone(),
                        Lifetime {
                            // The server's own token: the task polls it only when it fired.
                            shutdown: shutdown.clone(),
                            standing,
                            registry: registry.clone(),
                            seq,
                        },
                        options.clone(),
                        streams.clone(),
                    ));
                    open.by_task.insert(task.id(), seq);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    if options.log {
                        tracing::error!(error = %e, "accept failed");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(options.grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    let cut = connections.len();
    if drained.is_err() {
        connections.shutdown().await;
    }
    cut
}

/// Where a connection stands, as the registry sees it: idle since when (no request in flight),
/// or evicted. Set by the registry, waited on by the connection's task. Tokens and a watch
/// channel would do, but at some 500 bytes more for every open connection.
#[derive(Clone)]
struct Standing(Arc<StandingState>);

struct StandingState {
    /// Nanoseconds after `epoch` at which it became idle; [`BUSY`] while a request is in flight.
    idle_since: AtomicU64,
    evicted: AtomicBool,
    epoch: Instant,
    changed: Notify,
}

const BUSY: u64 = u64::MAX;

impl Standing {
    /// Busy, and not evicted.
    fn new() -> Standing {
        Standing(Arc::new(StandingState {
            idle_since: AtomicU64::new(BUSY),
            evicted: AtomicBool::new(false),
            epoch: Instant::now(),
            changed: Notify::new(),
        }))
    }

    fn set_idle_since(&self, since: Option<Instant>) {
        let nanos = since.map_or(BUSY, |at| {
            let nanos = at.saturating_duration_since(self.0.epoch).as_nanos();
            u64::try_from(nanos).unwrap_or(BUSY - 1)
        });
        self.0.idle_since.store(nanos, Ordering::Release);
        self.0.changed.notify_waiters();
    }

    fn idle_since(&self) -> Option<Instant> {
        match self.0.idle_since.load(Ordering::Acquire) {
            BUSY => None,
            nanos => Some(self.0.epoch + Duration::from_nanos(nanos)),
        }
    }

    fn evict(&self) {
        self.0.evicted.store(true, Ordering::Release);
        self.0.changed.notify_waiters();
    }

    fn evicted(&self) -> bool {
        self.0.evicted.load(Ordering::Acquire)
    }

    /// Resolves once the connection is evicted or has been idle for `limit`.
    async fn cut_after(&self, limit: Duration) {
        loop {
            // Registered before reading, so a change in between still wakes it.
            let changed = self.0.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.evicted() {
                return;
            }
            match self.idle_since() {
                // Boxed: only an idle connection sleeps, and inline the timer would take its
                // bytes in every connection's task for as long as it lives.
                Some(since) => tokio::select! {
                    _ = Box::pin(tokio::time::sleep_until(since + limit)) => return,
                    _ = changed => {}
                },
                None => changed.await,
            }
        }
    }
}

/// Why a connection is ending from outside.
enum Outside {
    /// A stream on it fell behind (HTTP/1.1): close at once.
    Close,
    /// Idle too long, or evicted.
    Cut,
    /// The server is shutting down.
    Shutdown,
}

/// What ends a connection from outside, and its place in the registry.
struct Lifetime {
    shutdown: CancellationToken,
    standing: Standing,
    registry: SharedRegistry,
    seq: u64,
}

impl Lifetime {
    /// Resolves when the connection should go: evicted, or idle for `idle_limit` (also before
    /// its first request: the handshake deadline).
    async fn cut(&self, idle_limit: Duration) {
        self.standing.cut_after(idle_limit).await;
    }

    /// Whether it has sent a request.
    fn proven(&self) -> bool {
        lock(&self.registry)
            .open
            .get(&self.seq)
            .is_some_and(|t| t.proven)
    }
}

async fn serve_connection(
    tcp: TcpStream,
    app: Router,
    tls: Option<TlsAcceptor>,
    life: Lifetime,
    options: Arc<Options>,
    streams: Arc<StreamSlots>,
) {
    match tls {
        None => serve_io(TokioIo::new(tcp), app, life, options, streams).await,
        // Boxed: a TLS handshake and session are kilobytes, and a task is as large as its
        // largest state, so inline they would grow every plain connection's task too.
        Some(acceptor) => Box::pin(serve_tls(tcp, acceptor, app, life, options, streams)).await,
    }
}

async fn serve_tls(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    app: Router,
    life: Lifetime,
    options: Arc<Options>,
    streams: Arc<StreamSlots>,
) {
    let shutdown = life.shutdown.clone();
    let handshake = tokio::select! {
        _ = shutdown.cancelled() => return,
        _ = life.cut(options.handshake_timeout) => return,
        result = acceptor.accept(tcp) => result,
    };
    if let Ok(stream) = handshake {
        serve_io(TokioIo::new(stream), app, life, options, streams).await;
    }
}

/// Spawns hyper's tasks. For an HTTP/2 stream's task it takes the end token the service just
/// made for that request (hyper calls the service, then spawns the stream, on the connection's
/// task with nothing in between), and drops the task when the token is cancelled.
#[derive(Clone)]
struct StreamExecutor {
    next_end: Arc<Mutex<Option<CancellationToken>>>,
}

impl<F> hyper::rt::Executor<F> for StreamExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        let end = self
            .next_end
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        tokio::spawn(async move {
            match end {
                Some(end) => {
                    tokio::select! {
                        _ = end.cancelled() => {}
                        _ = future => {}
                    }
                }
                None => {
                    future.await;
                }
            }
        });
    }
}

async fn serve_io<I>(
    io: TokioIo<I>,
    app: Router,
    life: Lifetime,
    options: Arc<Options>,
    streams: Arc<StreamSlots>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let close = CancellationToken::new();
    let executor = StreamExecutor {
        next_end: Arc::new(Mutex::new(None)),
    };
    let service = hyper::service::service_fn({
        let (close, next_end, registry, seq) = (
            close.clone(),
            executor.next_end.clone(),
            life.registry.clone(),
            life.seq,
        );
        move |mut request: Request<Incoming>| {
            let in_flight = InFlight::start(&registry, seq);
            let end = if request.version() == Version::HTTP_2 {
                let end = CancellationToken::new();
                *next_end.lock().unwrap_or_else(|e| e.into_inner()) = Some(end.clone());
                end
            } else {
                close.clone()
            };
            request.extensions_mut().insert(ConnectionHandle {
                end,
                streams: streams.clone(),
            });
            let response = app.clone().oneshot(request);
            async move {
                let response = response.await?;
                // In flight until its body is sent or dropped (an SSE stream: until it ends).
                Ok::<_, std::convert::Infallible>(response.map(|body| InFlightBody {
                    body,
                    _in_flight: in_flight,
                }))
            }
        }
    });
    let mut builder = Builder::new(executor);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.handshake_timeout)
        .max_buf_size(options.max_header_bytes)
        .max_headers(options.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .max_header_list_size(u32::try_from(options.max_header_bytes).unwrap_or(u32::MAX));
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    let shutdown = life.shutdown.clone();
    // The task wakes for every chunk a stream writes; what ends the connection from outside is
    // polled only when it woke the task itself.
    let ending = {
        let mut outside = pin!(async {
            tokio::select! {
                _ = close.cancelled() => Outside::Close,
                _ = life.cut(options.handshake_timeout) => Outside::Cut,
                _ = shutdown.cancelled() => Outside::Shutdown,
            }
        });
        let flag = WakeFlag::new();
        tokio::select! {
            biased;
            _ = connection.as_mut() => return,
            ending = poll_fn(|cx| flag.poll_with(cx, |cx| outside.as_mut().poll(cx))) => ending,
        }
    };
    match ending {
        // Dropping the connection closes the socket, whatever is still unsent.
        Outside::Close => return,
        Outside::Cut => {
            if !life.proven() {
                return;
            }
            // Idle or evicted after requests: told to go (HTTP/2: GOAWAY), so a request that
            // crossed the decision is still answered, and briefly.
            connection.as_mut().graceful_shutdown();
            tokio::select! {
                _ = tokio::time::timeout(CLOSE_GRACE, connection.as_mut()) => {}
                _ = close.cancelled() => {}
            }
            return;
        }
        Outside::Shutdown => {}
    }
    // Shutdown: the requests in flight finish (streams end on the same signal), then it closes;
    // the accept loop cuts it if that takes longer than the grace period.
    connection.as_mut().graceful_shutdown();
    tokio::select! {
        _ = connection.as_mut() => {}
        _ = close.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every open stream keeps its connection's task: at 10 000 streams each kilobyte of it is
    /// 10 MB. A plain TCP connection's task must not be sized for a TLS session it does not have.
    #[tokio::test]
    async fn a_plain_connection_task_is_not_sized_for_tls() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (tcp, _) = listener.accept().await.unwrap();
        let registry = SharedRegistry::default();
        let (seq, standing) = lock(&registry).insert(ClientAddr::of(IpAddr::from([127, 0, 0, 1])));
        let options = Arc::new(Options {
            max_connections: 10,
            max_streams: 10,
            handshake_timeout: Duration::from_secs(10),
            max_header_bytes: 65536,
            max_headers: 100,
            grace: Duration::from_secs(1),
            log: false,
            max_connections_per_ip: 10,
        });
        let task = serve_connection(
            tcp,
            Router::new(),
            None,
            Lifetime {
                shutdown: CancellationToken::new(),
                standing,
                registry: registry.clone(),
                seq,
            },
            options,
            StreamSlots::new(10),
        );
        let size = std::mem::size_of_val(&task);
        assert!(size <= 4096, "a connection's task takes {size} bytes");
        drop(client);
    }
}
