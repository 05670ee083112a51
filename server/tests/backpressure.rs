//! A client that stops reading is cut off once it falls a queue's worth behind, while the others
//! keep flowing; its stream leaves the stats and is counted in the metrics.

mod common;

use common::{config, within, TestServer, WAIT};
use convoy_server::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_cut_off_while_a_normal_one_keeps_flowing() {
    let server = TestServer::start(Config {
        trucks: 40,
        rate: 200.0,
        queue_capacity: 512,
        ..config()
    })
    .await;
    let mut normal = server.stream("", None).await;
    normal.next_envelope().await;

    // A raw HTTP/1.1 client with a tiny receive window that never reads after the request.
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stalled = within(socket.connect(server.addr)).await.unwrap();
    let request = format!(
        "GET /api/stream?trucks=all HTTP/1.1\r\nhost: {}\r\naccept: text/event-stream\r\n\r\n",
        server.addr
    );
    stalled.write_all(request.as_bytes()).await.unwrap();
    let stats = server
        .wait_for_stats("both streams to open", |s| s.open_streams == 2)
        .await;
    let stalled_id = stats.streams.iter().map(|s| s.id).max().unwrap();

    // Keep reading the normal stream until the stalled one is gone from the stats; the normal
    // stream must see every event, in order, meanwhile.
    let deadline = tokio::time::Instant::now() + WAIT * 3;
    let mut last = normal.next_envelope().await.id;
    let mut read = 0u64;
    loop {
        for _ in 0..200 {
            let id = normal.next_envelope().await.id;
            assert_eq!(id, last + 1, "the normal reader lost events");
            last = id;
            read += 1;
        }
        let stats = server.stats().await;
        if !stats.streams.iter().any(|s| s.id == stalled_id) {
            assert_eq!(stats.open_streams, 1, "{stats:?}");
            assert_eq!(stats.opened_total, 2);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stalled stream was never cut off: {stats:?}"
        );
    }
    // The normal reader goes on.
    for _ in 0..500 {
        let id = normal.next_envelope().await.id;
        assert_eq!(id, last + 1);
        last = id;
    }
    assert!(read > 0);
    // Counted once in the metrics (the count goes up before the stream leaves the stats).
    let metrics = server.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics
            .lines()
            .any(|l| l == "convoy_slow_streams_cut_total 1"),
        "{metrics}"
    );

    // The stalled client finds its connection closed once it reads what was in flight.
    let mut sink = vec![0u8; 64 * 1024];
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match stalled.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the stalled connection stayed open");
}
