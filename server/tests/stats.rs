//! `GET /api/stats`: open streams are counted while connected and uncounted on disconnect.

mod common;

use common::{config, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_open_and_total_and_drop_on_disconnect() {
    let server = TestServer::start(config()).await;
    let stats = server.stats().await;
    assert_eq!((stats.open_streams, stats.opened_total), (0, 0));

    let mut all = server.stream("", None).await;
    let mut two = server.stream("?trucks=T-02,T-01", None).await;
    all.next_envelope().await;
    two.next_envelope().await;
    let stats = server.stats().await;
    assert_eq!((stats.open_streams, stats.opened_total), (2, 2));
    let mut listed: Vec<_> = stats.streams.iter().map(|s| s.trucks.as_str()).collect();
    listed.sort();
    assert_eq!(listed, ["T-01,T-02", "all"]);
    for stream in &stats.streams {
        assert_eq!(stream.http_version, "HTTP/1.1");
        assert!(stream.opened_ms > 0);
    }
    assert!(stats.latest_event_id > 0);

    drop(two);
    let stats = server
        .wait_for_stats("the closed stream to drop", |s| s.open_streams == 1)
        .await;
    assert_eq!(stats.opened_total, 2);
    assert_eq!(stats.streams[0].trucks, "all");

    // A stream that is only open (nothing read yet) counts too.
    let three = server.stream("?trucks=T-05", None).await;
    server
        .wait_for_stats("the new stream", |s| {
            s.open_streams == 2 && s.opened_total == 3
        })
        .await;
    drop(three);
    drop(all);
    server
        .wait_for_stats("every stream to drop", |s| s.open_streams == 0)
        .await;
}
