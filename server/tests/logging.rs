//! The log as an operator reads it: the real binary with `--log-format json` and sign-in on,
//! driven over real loopback HTTP, then every stderr line parsed as JSON: one line per request
//! with its status and duration, a stream's opening and end with the events it sent and why it
//! ended, ingest refusals with their reason, and never a token, a cookie or an ingest body.
//! `RUST_LOG` filters the lines.

mod common;

use common::{session_cookie, within, ServerProcess, TempDir};
use convoy_server::auth::{mint, Claims, Scope};
use serde_json::Value;

const KEY: &[u8] = b"convoy test key: 32 bytes or more, never reused";
const INGEST_TOKEN: &str = "ingest-secret-token-5c1f0a9e";
const WRONG_TOKEN: &str = "wrong-secret-token-77d3b2c4";
const BODY_SECRET: &str = "BODY-SECRET-TEXT-e8a41f";

fn operator_token() -> String {
    let now_s = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    mint(
        KEY,
        &Claims {
            sub: "ana".into(),
            trucks: Scope::All,
            exp: now_s + 3600,
            nbf: None,
        },
    )
    .unwrap()
}

/// A signed-in node with ingest on, logging JSON to `dir/stderr.log` under `rust_log`.
fn start(dir: &TempDir, rust_log: Option<&str>) -> ServerProcess {
    dir.write("auth.key", KEY);
    dir.write("ingest.tokens", format!("{INGEST_TOKEN}\n").as_bytes());
    let key = dir.path().join("auth.key").display().to_string();
    let tokens = dir.path().join("ingest.tokens").display().to_string();
    ServerProcess::start_filtered(
        &[
            "--log-format",
            "json",
            "--auth-key-file",
            &key,
            "--ingest-token-file",
            &tokens,
            "--trucks",
            "2",
            "--rate",
            "20",
        ],
        std::fs::File::create(dir.path().join("stderr.log")).unwrap(),
        rust_log,
    )
}

/// Posts `body` to ingest with `token`; the status.
async fn ingest(server: &ServerProcess, token: &str, body: String) -> u16 {
    within(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth(token)
            .body(body)
            .send(),
    )
    .await
    .unwrap()
    .status()
    .as_u16()
}

/// Every line of the log, each parsed as one JSON object.
fn lines(dir: &TempDir) -> (String, Vec<Value>) {
    let text = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    let parsed = text
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"))
        })
        .collect();
    (text, parsed)
}

fn with_message<'a>(lines: &'a [Value], message: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["message"] == message).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_tell_requests_streams_and_refusals_and_never_a_secret() {
    let dir = TempDir::new("logging-json");
    let server = start(&dir, None);
    let token = operator_token();
    let cookie = session_cookie(&server.client, server.url("/api/session"), &token).await;
    let cookie_value = cookie.split_once('=').unwrap().1.to_owned();
    // A signed-in request, the query left out of its line.
    let fleet = within(
        server
            .client
            .get(server.url("/api/fleet?secret-query=1"))
            .header("cookie", &cookie)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(fleet.status(), 200);
    // A stream the client leaves after a few events, and one still open at shutdown.
    let open_stream = || {
        within(
            server
                .client
                .get(server.url("/api/stream"))
                .header("cookie", &cookie)
                .send(),
        )
    };
    let mut left = open_stream().await.unwrap();
    assert_eq!(left.status(), 200);
    let mut read = 0;
    while read < 3 {
        let chunk = within(left.chunk()).await.unwrap().expect("stream open");
        read += String::from_utf8_lossy(&chunk).matches("\ndata:").count()
            + usize::from(chunk.starts_with(b"data:"));
    }
    drop(left);
    let mut kept = open_stream().await.unwrap();
    assert_eq!(kept.status(), 200);
    within(kept.chunk()).await.unwrap().expect("stream open");
    // Refused ingest: a body naming a secret-looking value, and an unknown token.
    let body = serde_json::json!({ "type": BODY_SECRET, "truck": BODY_SECRET }).to_string();
    assert_eq!(ingest(&server, INGEST_TOKEN, body.clone()).await, 400);
    assert_eq!(ingest(&server, WRONG_TOKEN, body).await, 401);
    // The closed stream's end is logged once the server notices the client left.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    while !std::fs::read_to_string(dir.path().join("stderr.log"))
        .unwrap()
        .contains("client left")
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no stream end logged"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let node = server.addr.to_string();
    server.terminate();
    drop(kept);

    let (text, lines) = lines(&dir);
    let requests = with_message(&lines, "request");
    let fleet_line = requests
        .iter()
        .find(|l| l["path"] == "/api/fleet")
        .unwrap_or_else(|| panic!("no line for GET /api/fleet: {text}"));
    assert_eq!(fleet_line["method"], "GET", "{fleet_line}");
    assert_eq!(fleet_line["status"], 200, "{fleet_line}");
    assert_eq!(fleet_line["operator"], "ana", "{fleet_line}");
    assert!(fleet_line["duration_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(fleet_line["level"], "INFO");
    assert!(
        requests.iter().all(|l| l["path"] != "/api/stream"),
        "streams log their own lines: {text}"
    );

    let opened = with_message(&lines, "stream opened");
    assert_eq!(opened.len(), 2, "{text}");
    for line in &opened {
        assert_eq!(line["operator"], "ana", "{line}");
        assert_eq!(line["node"], node.as_str(), "{line}");
        assert!(line["stream"].is_u64(), "{line}");
    }
    let closed = with_message(&lines, "stream closed");
    assert_eq!(closed.len(), 2, "{text}");
    let reasons: Vec<&str> = closed
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"client left"), "{text}");
    assert!(reasons.contains(&"shutdown"), "{text}");
    for line in &closed {
        assert_eq!(line["operator"], "ana", "{line}");
        assert!(line["duration_ms"].is_u64(), "{line}");
        assert!(line["events_sent"].is_u64(), "{line}");
    }
    let left_line = closed
        .iter()
        .find(|l| l["reason"] == "client left")
        .unwrap();
    assert!(
        left_line["events_sent"].as_u64().unwrap() >= 3,
        "{left_line}"
    );

    let refused = with_message(&lines, "ingest rejected");
    let statuses: Vec<u64> = refused
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [400, 401], "{text}");
    for line in &refused {
        assert_eq!(line["level"], "WARN", "{line}");
        assert!(!line["reason"].as_str().unwrap().is_empty(), "{line}");
    }
    assert!(
        refused[1]["reason"]
            .as_str()
            .unwrap()
            .contains("unknown ingest token"),
        "{text}"
    );

    for secret in [
        token.as_str(),
        cookie_value.as_str(),
        INGEST_TOKEN,
        WRONG_TOKEN,
        BODY_SECRET,
        "secret-query",
    ] {
        assert!(!text.contains(secret), "{secret} is in the log: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_log_warn_leaves_only_warnings_and_errors() {
    let dir = TempDir::new("logging-warn");
    let server = start(&dir, Some("warn"));
    let token = operator_token();
    let cookie = session_cookie(&server.client, server.url("/api/session"), &token).await;
    let fleet = within(
        server
            .client
            .get(server.url("/api/fleet"))
            .header("cookie", &cookie)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(fleet.status(), 200);
    assert_eq!(ingest(&server, WRONG_TOKEN, "{}".into()).await, 401);
    server.terminate();
    let (text, lines) = lines(&dir);
    assert!(
        !with_message(&lines, "ingest rejected").is_empty(),
        "warnings still come: {text}"
    );
    for line in &lines {
        assert!(
            line["level"] == "WARN" || line["level"] == "ERROR",
            "{line}"
        );
    }
}
