//! Accepting connections: plain TCP or TLS, each served with HTTP/1.1 or HTTP/2 (hyper-util's
//! auto builder picks by the connection preface; TLS also offers both by ALPN). One task per
//! connection, which ends on shutdown (gracefully, within a grace period), when a stream on it
//! fell too far behind (HTTP/1.1), or when it is evicted.
//!
//! What holds under abuse:
//! - at most `max_connections` connections: at the cap a new connection evicts the oldest one
//!   that has not sent a request yet (an idle socket cannot keep a real client out); with none
//!   to evict, the new one is closed at once;
//! - a connection must finish its TLS handshake and send its first request head within
//!   `handshake_timeout`, and every later HTTP/1.1 head within the same time;
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
use crate::Config;
use axum::Router;
use hyper::body::Incoming;
use hyper::{Request, Version};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How connections are accepted and bounded; see the module docs.
#[derive(Debug, Clone)]
pub struct Options {
    pub max_connections: usize,
    pub max_streams: usize,
    pub handshake_timeout: Duration,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    /// How long shutdown waits for open connections before dropping them.
    pub grace: Duration,
    pub log: bool,
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
            grace: config.shutdown_grace,
            log: !config.quiet,
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

/// The open connections, oldest first, and which of them have not sent a request yet.
#[derive(Default)]
struct Registry {
    next: u64,
    open: BTreeMap<u64, Tracked>,
    by_task: HashMap<tokio::task::Id, u64>,
    /// Candidates for eviction in accept order; entries that sent a request since, or closed,
    /// are skipped when reached.
    unproven: VecDeque<u64>,
    /// Evicted and not closed yet.
    evicted: usize,
}

struct Tracked {
    evict: CancellationToken,
    requested: Arc<AtomicBool>,
}

impl Registry {
    fn insert(&mut self) -> (u64, CancellationToken, Arc<AtomicBool>) {
        self.next += 1;
        let tracked = Tracked {
            evict: CancellationToken::new(),
            requested: Arc::new(AtomicBool::new(false)),
        };
        let out = (self.next, tracked.evict.clone(), tracked.requested.clone());
        self.open.insert(self.next, tracked);
        self.unproven.push_back(self.next);
        out
    }

    fn remove(&mut self, task: tokio::task::Id) {
        let tracked = self
            .by_task
            .remove(&task)
            .and_then(|seq| self.open.remove(&seq));
        if tracked.is_some_and(|t| t.evict.is_cancelled()) {
            self.evicted -= 1;
        }
    }

    /// Evicts the oldest connection that has not sent a request; false when there is none.
    fn evict_one(&mut self) -> bool {
        while let Some(seq) = self.unproven.pop_front() {
            let Some(tracked) = self.open.get(&seq) else {
                continue;
            };
            if tracked.requested.load(Ordering::Acquire) || tracked.evict.is_cancelled() {
                continue;
            }
            tracked.evict.cancel();
            self.evicted += 1;
            return true;
        }
        false
    }

    /// Open connections, not counting those evicted and about to close.
    fn live(&self) -> usize {
        self.open.len() - self.evicted
    }
}

/// Serves `app` on every connection `listener` accepts until `shutdown`, then waits up to
/// `options.grace` for the open connections to finish and drops the rest.
pub async fn accept_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    options: Options,
) {
    let options = Arc::new(options);
    let streams = StreamSlots::new(options.max_streams);
    let mut connections = JoinSet::new();
    let mut registry = Registry::default();
    let mut refused = 0u64;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(done) = connections.join_next_with_id(), if !connections.is_empty() => {
                let task = match done {
                    Ok((task, ())) => task,
                    Err(e) => e.id(),
                };
                registry.remove(task);
            }
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    if registry.live() >= options.max_connections && !registry.evict_one()
                    {
                        // Every connection has made a request: refuse this one rather than
                        // leave it waiting in the backlog.
                        refused += 1;
                        if options.log && refused.is_power_of_two() {
                            crate::log_line(format_args!(
                                "at --max-connections {}: refused {refused} connections so far",
                                options.max_connections
                            ));
                        }
                        drop(tcp);
                        continue;
                    }
                    // Events are small and should leave at once.
                    let _ = tcp.set_nodelay(true);
                    let (seq, evict, requested) = registry.insert();
                    let task = connections.spawn(serve_connection(
                        tcp,
                        app.clone(),
                        tls.clone(),
                        Lifetime {
                            shutdown: shutdown.clone(),
                            evict,
                            requested,
                            deadline: Instant::now() + options.handshake_timeout,
                        },
                        options.clone(),
                        streams.clone(),
                    ));
                    registry.by_task.insert(task.id(), seq);
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    if options.log {
                        crate::log_line(format_args!("accept failed: {e}"));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(options.grace + Duration::from_millis(100), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.shutdown().await;
    }
}

/// What ends a connection from outside, and its first-request deadline.
struct Lifetime {
    shutdown: CancellationToken,
    evict: CancellationToken,
    /// Set when the first request head arrives.
    requested: Arc<AtomicBool>,
    deadline: Instant,
}

impl Lifetime {
    /// Resolves when the connection should be dropped now: evicted, or no request by the
    /// deadline.
    async fn cut(&self) {
        tokio::select! {
            _ = self.evict.cancelled() => {}
            _ = tokio::time::sleep_until(self.deadline) => {
                if self.requested.load(Ordering::Acquire) {
                    std::future::pending::<()>().await;
                }
            }
        }
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
    let Some(acceptor) = tls else {
        return serve_io(TokioIo::new(tcp), app, life, options, streams).await;
    };
    let handshake = tokio::select! {
        _ = life.shutdown.cancelled() => return,
        _ = life.cut() => return,
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
        let (close, next_end, requested) = (
            close.clone(),
            executor.next_end.clone(),
            life.requested.clone(),
        );
        move |mut request: Request<Incoming>| {
            requested.store(true, Ordering::Release);
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
            app.clone().oneshot(request)
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
    tokio::select! {
        _ = connection.as_mut() => return,
        // Dropping the connection closes the socket, whatever is still unsent.
        _ = close.cancelled() => return,
        _ = life.cut() => return,
        _ = life.shutdown.cancelled() => {}
    }
    connection.as_mut().graceful_shutdown();
    tokio::select! {
        _ = tokio::time::timeout(options.grace, connection.as_mut()) => {}
        _ = close.cancelled() => {}
    }
}
