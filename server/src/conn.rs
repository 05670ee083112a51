//! Accepting connections: plain TCP or TLS, each served with HTTP/1.1 or HTTP/2 (hyper-util's
//! auto builder picks by the connection preface; TLS also offers both by ALPN). One task per
//! connection, which ends on shutdown (gracefully, within a grace period) or at once when a
//! stream on it fell too far behind.
//!
//! Why not `axum::serve`: a client that stops reading stalls its connection, and then hyper never
//! polls the stream's body again, so the stream itself can never notice it is behind. Closing the
//! connection from outside is the only way to free it, which needs a handle per connection.

use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Lets a request's handler close the connection it came on. Every request served by
/// [`accept_loop`] carries one in its extensions.
#[derive(Debug, Clone)]
pub struct ConnectionHandle {
    close: CancellationToken,
}

impl ConnectionHandle {
    /// A token that closes the connection when cancelled.
    pub fn close_token(&self) -> CancellationToken {
        self.close.clone()
    }
}

/// Serves `app` on every connection `listener` accepts until `shutdown`, then waits up to
/// `grace` for the open connections to finish and drops the rest.
pub async fn accept_loop(
    listener: TcpListener,
    app: Router,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    grace: Duration,
    log: bool,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    // Events are small and should leave at once.
                    let _ = tcp.set_nodelay(true);
                    connections.spawn(serve_connection(
                        tcp,
                        app.clone(),
                        tls.clone(),
                        shutdown.clone(),
                        grace,
                    ));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    if log {
                        crate::log_line(format_args!("accept failed: {e}"));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(grace + Duration::from_millis(100), async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.shutdown().await;
    }
}

async fn serve_connection(
    tcp: TcpStream,
    app: Router,
    tls: Option<TlsAcceptor>,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let Some(acceptor) = tls else {
        return serve_io(TokioIo::new(tcp), app, shutdown, grace).await;
    };
    let handshake = tokio::select! {
        _ = shutdown.cancelled() => return,
        result = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)) => result,
    };
    if let Ok(Ok(stream)) = handshake {
        serve_io(TokioIo::new(stream), app, shutdown, grace).await;
    }
}

async fn serve_io<I>(io: TokioIo<I>, app: Router, shutdown: CancellationToken, grace: Duration)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handle = ConnectionHandle {
        close: CancellationToken::new(),
    };
    let close = handle.close_token();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(handle.clone());
        app.clone().oneshot(request)
    });
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)));
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => return,
        // Dropping the connection closes the socket, whatever is still unsent.
        _ = close.cancelled() => return,
        _ = shutdown.cancelled() => {}
    }
    connection.as_mut().graceful_shutdown();
    tokio::select! {
        _ = tokio::time::timeout(grace, connection.as_mut()) => {}
        _ = close.cancelled() => {}
    }
}
