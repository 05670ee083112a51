//! Shutdown ends open streams promptly instead of waiting for clients to leave.

mod common;

use common::{config, TestServer};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_an_open_stream_promptly() {
    let server = TestServer::start(config()).await;
    let mut stream = server.stream("", None).await;
    stream.envelopes(20).await;
    let mut idle = server.stream("?trucks=T-99", None).await;
    let took = server.stop().await;
    // The grace period is 5 s; streams end on the signal, well before it.
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    // Both bodies end (after whatever was in flight).
    while stream.next().await.is_some() {}
    while idle.next().await.is_some() {}
    assert!(stream.ended && idle.ended);
}
