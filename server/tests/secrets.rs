//! What the server shows of itself: `/api/health` answers anyone and log lines reach whoever
//! reads the logs, so neither carries a credential or a filesystem path; `--help` names the
//! subcommands, and `csp` refuses a directory that holds no build rather than print a policy
//! that would block the app.

mod common;

use common::{RedisServer, ServerProcess, TempDir, REDIS_HOST};
use convoy_server::api::Health;

/// `/api/health` as anyone gets it: the text and what it says.
async fn health(server: &ServerProcess) -> (String, Health) {
    let response = server.client.get(server.url("/api/health")).send();
    let body = common::within(response)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let health = serde_json::from_str(&body).unwrap();
    (body, health)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_password_is_never_shown_or_logged() {
    let redis = RedisServer::start().await;
    let password = "hunter2-redis-secret";
    assert_eq!(
        redis
            .command(&format!("CONFIG SET requirepass {password}"))
            .await
            .as_deref(),
        Some("+OK")
    );
    let dir = TempDir::new("secrets-redis");
    let log_path = dir.path().join("stderr.log");
    let url = format!("redis://:{password}@{REDIS_HOST}:{}/0", redis.port);
    let server = ServerProcess::start_logging(
        &["--log", &url, "--trucks", "2", "--rate", "20"],
        std::fs::File::create(&log_path).unwrap(),
    );
    // The node reads its log in the background: wait (bounded) until it has.
    let deadline = tokio::time::Instant::now() + common::WAIT;
    let (body, health) = loop {
        let (body, health) = health(&server).await;
        if health.ok || tokio::time::Instant::now() > deadline {
            break (body, health);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    // The password was right: the node reaches its log.
    assert!(health.ok, "{body}");
    assert_eq!(health.log, format!("redis://{REDIS_HOST}:{}/0", redis.port));
    assert!(!body.contains(password), "{body}");
    server.terminate();
    let logged = std::fs::read_to_string(&log_path).unwrap();
    assert!(
        logged.contains(&format!("redis://{REDIS_HOST}:{}/0", redis.port)),
        "the start-up line names the log: {logged}"
    );
    assert!(!logged.contains(password), "{logged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_engine_shows_no_path() {
    let dir = TempDir::new("secrets-file");
    let data = dir.path().join("private-data-dir");
    let log = format!("file:{}", data.display());
    let server = ServerProcess::start(&["--log", &log, "--trucks", "0"]);
    let (body, health) = health(&server).await;
    assert_eq!(health.log, "file");
    assert!(!body.contains("private-data-dir"), "{body}");
}

#[test]
fn help_lists_the_subcommands_and_csp_refuses_a_directory_that_is_no_build() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_convoy-server"))
            .args(args)
            .output()
            .expect("convoy-server runs")
    };
    let help = run(&["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(help.status.success(), "{text}");
    for line in [
        "convoy-server token --key-file",
        "convoy-server csp",
        "openssl rand",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    let dir = TempDir::new("csp-no-build");
    let refused = run(&["csp", dir.path().to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not a built Convoy app"), "{stderr}");
    assert!(refused.stdout.is_empty());
    dir.write("index.html", b"<html><body>not trunk's</body></html>");
    let refused = run(&["csp", dir.path().to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    dir.write(
        "index.html",
        b"<html><script type=\"module\">import init from './convoy.js'; init();</script></html>",
    );
    let built = run(&["csp", dir.path().to_str().unwrap()]);
    let policy = String::from_utf8_lossy(&built.stdout);
    assert!(
        built.status.success() && policy.contains("'sha256-"),
        "{policy}"
    );
}
