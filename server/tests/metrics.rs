//! `GET /metrics` over real loopback HTTP: a server with the simulator and ingest on, a stream
//! open and ingest requests good and bad, scraped and parsed as Prometheus parses it; behind
//! sign-in on the main listener (401 without a session, 403 for an operator who sees only some
//! trucks); and on a listener of its own with `--metrics-addr` (then 404 on the main one).

mod common;

use common::{config, within, TempDir, TestServer};
use convoy_server::auth::{mint, Claims, Scope};
use convoy_server::Config;
use prometheus_parse::{LineInfo, Scrape, Value};

const INGEST_TOKEN: &str = "metrics-ingest-token";
const KEY: &[u8] = b"convoy metrics test key: 32 bytes or more";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn status_line(truck: &str) -> String {
    serde_json::json!({
        "type": "alert_cleared", "truck": truck, "at_ms": now_ms(), "kind": "delay",
    })
    .to_string()
}

/// Fetches `url` and checks the exposition line by line (every line a HELP, TYPE or UNIT
/// comment or a `name{labels} value` sample, ending with `# EOF`), then parses it.
async fn scrape(client: &reqwest::Client, url: &str) -> Scrape {
    let response = within(client.get(url).send()).await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    let text = response.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.last(),
        Some(&"# EOF"),
        "the exposition ends with # EOF"
    );
    for line in &lines[..lines.len() - 1] {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                ["HELP ", "TYPE ", "UNIT "]
                    .iter()
                    .any(|p| comment.starts_with(p)),
                "an unknown comment: {line}"
            );
            continue;
        }
        assert!(
            matches!(LineInfo::parse(line), LineInfo::Sample { .. }),
            "not a sample line: {line:?}"
        );
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok() || value == "+Inf", "{line}");
    }
    Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap()
}

/// The value of the sample `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"));
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
        ref other => panic!("{name} is not a number: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_counts_streams_appends_ingest_outcomes_latency_and_the_process() {
    let dir = TempDir::new("metrics-scrape");
    dir.write("tokens", INGEST_TOKEN.as_bytes());
    let server = TestServer::start(Config {
        ingest_token_file: Some(dir.path().join("tokens")),
        ..config()
    })
    .await;

    let mut stream = server.stream("", None).await;
    for _ in 0..3 {
        stream.next_envelope().await;
    }
    let post = |token: Option<&'static str>, body: String| {
        let mut request = server.client.post(server.url("/api/ingest")).body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        within(request.send())
    };
    let good = format!("{}\n{}\n", status_line("T-01"), status_line("T-02"));
    assert_eq!(post(Some(INGEST_TOKEN), good).await.unwrap().status(), 200);
    let bad = post(Some(INGEST_TOKEN), "{not json\n".into())
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let anonymous = post(None, status_line("T-01")).await.unwrap();
    assert_eq!(anonymous.status(), 401);

    let scrape = scrape(&server.client, &server.url("/metrics")).await;
    for name in scrape.docs.keys() {
        assert!(name.starts_with("convoy_"), "{name}");
    }
    for name in [
        "convoy_streams_open",
        "convoy_events_appended",
        "convoy_events_written",
        "convoy_publish_to_write_seconds",
        "convoy_slow_streams_cut",
        "convoy_ingest_requests",
        "convoy_log_append_seconds",
        "convoy_log_append_errors",
        "convoy_redis_up",
        "convoy_redis_tail_lag_ids",
        "convoy_process_resident_memory_bytes",
        "convoy_process_open_fds",
    ] {
        assert!(
            scrape.docs.get(name).is_some_and(|help| !help.is_empty()),
            "{name} has no HELP"
        );
    }

    let appended = |source| {
        value(
            &scrape,
            "convoy_events_appended_total",
            &[("source", source)],
        )
    };
    assert_eq!(appended("ingest"), 2.0);
    assert!(appended("simulator") > 0.0);
    assert_eq!(appended("ack"), 0.0);
    assert_eq!(appended("osmand"), 0.0);

    let ingest = |outcome| {
        value(
            &scrape,
            "convoy_ingest_requests_total",
            &[("outcome", outcome)],
        )
    };
    assert_eq!(ingest("accepted"), 1.0);
    assert_eq!(ingest("bad_request"), 1.0);
    assert_eq!(ingest("unauthorized"), 1.0);
    for outcome in ["too_large", "busy", "timeout", "refused", "unavailable"] {
        assert_eq!(ingest(outcome), 0.0, "{outcome}");
    }

    let open = |version| value(&scrape, "convoy_streams_open", &[("version", version)]);
    assert_eq!(open("HTTP/1.1"), 1.0);
    assert_eq!(open("HTTP/2.0"), 0.0);
    assert!(value(&scrape, "convoy_events_written_total", &[]) >= 3.0);
    assert!(value(&scrape, "convoy_publish_to_write_seconds_count", &[]) > 0.0);
    let buckets = scrape
        .samples
        .iter()
        .find(|s| s.metric == "convoy_publish_to_write_seconds")
        .expect("the latency histogram's buckets");
    assert!(matches!(&buckets.value, Value::Histogram(b) if b.len() == 17));
    let engine = [("engine", "memory")];
    assert!(value(&scrape, "convoy_log_append_seconds_count", &engine) > 0.0);
    assert_eq!(
        value(&scrape, "convoy_log_append_errors_total", &engine),
        0.0
    );
    assert_eq!(value(&scrape, "convoy_slow_streams_cut_total", &[]), 0.0);
    assert_eq!(value(&scrape, "convoy_redis_up", &[]), 0.0);
    assert!(value(&scrape, "convoy_process_resident_memory_bytes", &[]) > 0.0);
    assert!(value(&scrape, "convoy_process_open_fds", &[]) > 0.0);

    drop(stream);
    server
        .wait_for_stats("the stream to close", |s| s.open_streams == 0)
        .await;
    let after = self::scrape(&server.client, &server.url("/metrics")).await;
    assert_eq!(
        value(&after, "convoy_streams_open", &[("version", "HTTP/1.1")]),
        0.0
    );
}

fn token(sub: &str, trucks: Scope) -> String {
    let exp = now_ms() / 1000 + 600;
    mint(
        KEY,
        &Claims {
            sub: sub.into(),
            trucks,
            exp,
            nbf: None,
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_sign_in_on_only_an_operator_who_sees_every_truck_gets_the_metrics() {
    let dir = TempDir::new("metrics-auth");
    dir.write("auth.key", KEY);
    let server = TestServer::start(Config {
        auth_key_file: Some(dir.path().join("auth.key")),
        ..config()
    })
    .await;
    let url = server.url("/metrics");

    let anonymous = within(server.client.get(&url).send()).await.unwrap();
    assert_eq!(anonymous.status(), 401);
    let body: serde_json::Value = anonymous.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("sign in"),
        "{body}"
    );

    let scoped = token(
        "dispatch-north",
        Scope::Trucks(["T-01"].iter().map(|t| t.to_string()).collect()),
    );
    let refused = within(server.client.get(&url).bearer_auth(&scoped).send())
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("every truck"),
        "{body}"
    );

    let all = token("ops", Scope::All);
    let allowed = within(server.client.get(&url).bearer_auth(&all).send())
        .await
        .unwrap();
    assert_eq!(allowed.status(), 200);
    assert!(allowed
        .text()
        .await
        .unwrap()
        .contains("# TYPE convoy_streams_open gauge"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_metrics_addr_the_metrics_have_their_own_listener_and_leave_the_main_one() {
    // A free port, bound, read and released for the server to take, on 127.0.0.2: the other
    // tests in this binary bind 127.0.0.1:0 at the same time and could be handed the released
    // port there, but never here.
    let port = std::net::TcpListener::bind("127.0.0.2:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics_addr = format!("127.0.0.2:{port}");
    let server = TestServer::start(Config {
        metrics_addr: Some(metrics_addr.clone()),
        ..config()
    })
    .await;
    let _stream = server.stream("", None).await;

    let main = within(server.client.get(server.url("/metrics")).send())
        .await
        .unwrap();
    assert_eq!(main.status(), 404);

    // The listener is bound before the server answers anything, so it is up by now.
    let scrape = scrape(&server.client, &format!("http://{metrics_addr}/metrics")).await;
    assert_eq!(
        value(&scrape, "convoy_streams_open", &[("version", "HTTP/1.1")]),
        1.0
    );
    let other = within(
        server
            .client
            .get(format!("http://{metrics_addr}/api/fleet"))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(other.status(), 404, "only /metrics is served there");
}

#[test]
fn a_metrics_addr_that_is_not_an_ip_and_port_is_refused_naming_the_flag() {
    for bad in [
        "localhost",
        "9100",
        "metrics.example.com:9100",
        "127.0.0.1:99999",
    ] {
        let config = Config {
            metrics_addr: Some(bad.into()),
            ..Config::default()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("--metrics-addr"), "{bad}: {err}");
        assert!(err.contains(bad), "{bad}: {err}");
    }
    let good = Config {
        metrics_addr: Some("[::1]:9100".into()),
        ..Config::default()
    };
    good.validate().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_the_scrape_reports_it_up_the_tail_lag_in_ids_and_down_once_it_is_gone() {
    let mut redis = common::RedisServer::start().await;
    let dir = TempDir::new("metrics-redis");
    dir.write("tokens", INGEST_TOKEN.as_bytes());
    // No simulator: nothing appends but this test.
    let server = TestServer::start(Config {
        trucks: 0,
        log: redis.url().parse().unwrap(),
        ingest_token_file: Some(dir.path().join("tokens")),
        ..config()
    })
    .await;
    let response = within(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth(INGEST_TOKEN)
            .body(status_line("EXT-1"))
            .send(),
    )
    .await
    .unwrap();
    // Answered once this node has published it: nothing is left to read.
    assert_eq!(response.status(), 200);
    let url = server.url("/metrics");
    let scrape = self::scrape(&server.client, &url).await;
    assert_eq!(value(&scrape, "convoy_redis_up", &[]), 1.0);
    assert_eq!(value(&scrape, "convoy_redis_tail_lag_ids", &[]), 0.0);
    let engine = [("engine", "redis")];
    assert_eq!(
        value(&scrape, "convoy_log_append_seconds_count", &engine),
        1.0
    );
    assert_eq!(
        value(
            &scrape,
            "convoy_events_appended_total",
            &[("source", "ingest")]
        ),
        1.0
    );

    // Ids Redis has handed out that this node has not read (as if another node's appends
    // were on their way) are the lag.
    let counter = "convoy:{default}:next";
    assert!(redis
        .command(&format!("INCRBY {counter} 100"))
        .await
        .is_some_and(|reply| reply.starts_with(':')));
    let scrape = self::scrape(&server.client, &url).await;
    assert_eq!(value(&scrape, "convoy_redis_tail_lag_ids", &[]), 100.0);

    redis.kill();
    let scrape = self::scrape(&server.client, &url).await;
    assert_eq!(value(&scrape, "convoy_redis_up", &[]), 0.0);
    let refused = within(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth(INGEST_TOKEN)
            .body(status_line("EXT-1"))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 503);
    let scrape = self::scrape(&server.client, &url).await;
    assert_eq!(
        value(
            &scrape,
            "convoy_ingest_requests_total",
            &[("outcome", "unavailable")]
        ),
        1.0
    );
    assert_eq!(
        value(&scrape, "convoy_log_append_errors_total", &engine),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_refused_while_the_node_cannot_read_redis_counts_as_unavailable() {
    // A port nothing listens on: the node starts, but never reads its log.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = TempDir::new("metrics-no-redis");
    dir.write("tokens", INGEST_TOKEN.as_bytes());
    let server = TestServer::start(Config {
        trucks: 0,
        log: format!("redis://127.0.0.1:{port}").parse().unwrap(),
        ingest_token_file: Some(dir.path().join("tokens")),
        ..config()
    })
    .await;
    let response = within(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth(INGEST_TOKEN)
            .body(status_line("EXT-1"))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 503);
    let scrape = scrape(&server.client, &server.url("/metrics")).await;
    assert_eq!(
        value(
            &scrape,
            "convoy_ingest_requests_total",
            &[("outcome", "unavailable")]
        ),
        1.0
    );
    assert_eq!(value(&scrape, "convoy_redis_up", &[]), 0.0);
}
