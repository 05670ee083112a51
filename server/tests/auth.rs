//! Sign-in and scopes over real loopback HTTP: tokens minted by `convoy-server token`'s code,
//! the session cookie, 401 without it, scope on the fleet, a truck, the map and the stream (403
//! outside, `all` meaning the operator's trucks), a stream that ends when its token expires,
//! CORS for allowed origins only, and the security headers.

mod common;

use common::{config, send, session_cookie, within, TempDir, TestServer};
use convoy_core::sse::Decoder;
use convoy_core::wire::{FleetMap, FleetSnapshot};
use convoy_server::auth::{mint, Claims, Scope, SessionInfo, SIGNED_OUT_EVENT};
use convoy_server::Config;
use std::time::Duration;

const KEY: &[u8] = b"convoy test key: 32 bytes or more, never reused";

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn token(sub: &str, trucks: Scope, ttl_s: u64) -> String {
    mint(
        KEY,
        &Claims {
            sub: sub.into(),
            trucks,
            exp: now_s() + ttl_s,
            nbf: None,
        },
    )
    .unwrap()
}

fn some(trucks: &[&str]) -> Scope {
    Scope::Trucks(trucks.iter().map(|t| t.to_string()).collect())
}

async fn signed_in_server(dir: &TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
    dir.write("auth.key", KEY);
    let mut config = Config {
        auth_key_file: Some(dir.path().join("auth.key")),
        ..config()
    };
    tweak(&mut config);
    TestServer::start(config).await
}

async fn get_with(server: &TestServer, path: &str, token: &str) -> reqwest::Response {
    within(
        server
            .client
            .get(server.url(path))
            .bearer_auth(token)
            .send(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn without_a_session_every_operator_route_is_401_but_health_and_session_answer() {
    let dir = TempDir::new("auth-401");
    let server = signed_in_server(&dir, |_| {}).await;
    for path in [
        "/api/fleet",
        "/api/map",
        "/api/trucks/T-01",
        "/api/stats",
        "/api/stream",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 401, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("sign in"),
            "{path}"
        );
    }
    assert_eq!(server.get("/api/health").await.status(), 200);
    let session: SessionInfo = server.get_json("/api/session").await;
    assert!(session.auth && session.operator.is_none());
    let expired = token("ana", Scope::All, 0);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        get_with(&server, "/api/fleet", &expired).await.status(),
        401
    );
}

#[tokio::test]
async fn signing_in_sets_an_http_only_cookie_that_opens_the_api_and_signing_out_clears_it() {
    let dir = TempDir::new("auth-cookie");
    let server = signed_in_server(&dir, |_| {}).await;
    let jar_client = reqwest::Client::builder().build().unwrap();
    let tok = token("ana", some(&["T-01", "T-02"]), 600);
    let response = within(
        jar_client
            .post(server.url("/api/session"))
            .bearer_auth(&tok)
            .header("content-type", "application/json")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for part in ["convoy_session=", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(
        !cookie.contains("Secure"),
        "no Secure without TLS: {cookie}"
    );
    let info: SessionInfo = response.json().await.unwrap();
    assert_eq!(info.operator.as_deref(), Some("ana"));
    assert_eq!(info.trucks, Some(some(&["T-01", "T-02"])));
    assert!(info.session.is_some());

    let pair = cookie.split(';').next().unwrap().to_owned();
    let fleet = within(
        jar_client
            .get(server.url("/api/fleet"))
            .header("cookie", &pair)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(fleet.status(), 200);
    assert_eq!(fleet.headers()["cache-control"], "no-store");
    let snapshot: FleetSnapshot = fleet.json().await.unwrap();
    let ids: Vec<&str> = snapshot.trucks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["T-01", "T-02"]);

    let out = within(jar_client.delete(server.url("/api/session")).send())
        .await
        .unwrap();
    assert_eq!(out.status(), 204);
    let cleared = out.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("convoy_session=;") && cleared.contains("Max-Age=0"));
    let refused = within(
        jar_client
            .post(server.url("/api/session"))
            .bearer_auth("not-a-token")
            .header("content-type", "application/json")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn scope_limits_the_fleet_a_truck_the_map_and_the_stream() {
    let dir = TempDir::new("auth-scope");
    let server = signed_in_server(&dir, |_| {}).await;
    let tok = token("ben", some(&["T-02", "T-05"]), 600);
    // Simulated trucks join the fleet with their first plan.
    let snapshot: FleetSnapshot = within(async {
        loop {
            let snapshot: FleetSnapshot = get_with(&server, "/api/fleet", &tok)
                .await
                .json()
                .await
                .unwrap();
            if snapshot.trucks.len() == 2 {
                return snapshot;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    })
    .await;
    let ids: Vec<String> = snapshot.trucks.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids, ["T-02", "T-05"]);
    assert_eq!(
        get_with(&server, "/api/trucks/T-02", &tok).await.status(),
        200
    );
    assert_eq!(
        get_with(&server, "/api/trucks/T-03", &tok).await.status(),
        404,
        "outside the scope looks like unknown"
    );
    let map: FleetMap = get_with(&server, "/api/map", &tok)
        .await
        .json()
        .await
        .unwrap();
    // Only the stops of the operator's trucks' plans.
    let theirs: Vec<&str> = snapshot
        .trucks
        .iter()
        .flat_map(|t| t.stops.iter().map(|s| s.name.as_str()))
        .collect();
    assert!(!map.depots.is_empty());
    assert!(
        map.depots.iter().all(|d| theirs.contains(&d.name.as_str())),
        "{map:?}"
    );

    assert_eq!(
        get_with(&server, "/api/stream?trucks=T-02,T-03", &tok)
            .await
            .status(),
        403
    );
    let mut stream = get_with(&server, "/api/stream?trucks=all", &tok).await;
    assert_eq!(stream.status(), 200);
    let mut decoder = Decoder::new();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 30 {
        let chunk = within(stream.chunk())
            .await
            .unwrap()
            .expect("the stream goes on");
        decoder.feed(&chunk);
        while let Some(event) = decoder.poll_event() {
            if let Ok(envelope) =
                convoy_core::wire::decode_event(&event.event_type, &event.data, &event.id)
            {
                seen.insert(envelope.event.truck().to_owned());
                assert!(
                    ["T-02", "T-05"].contains(&envelope.event.truck()),
                    "{envelope:?}"
                );
                if seen.len() >= 2 {
                    return;
                }
            }
        }
    }
}

#[tokio::test]
async fn stats_name_other_operators_trucks_so_only_an_operator_of_every_truck_gets_them() {
    let dir = TempDir::new("auth-stats");
    let server = signed_in_server(&dir, |_| {}).await;
    // Another operator watches trucks this one may not see.
    let other = token("cy", some(&["T-05", "T-07", "T-09"]), 600);
    let stream = get_with(&server, "/api/stream?trucks=T-05,T-07,T-09", &other).await;
    assert_eq!(stream.status(), 200);

    let limited = token("ben", some(&["T-01", "T-02"]), 600);
    let refused = get_with(&server, "/api/stats", &limited).await;
    assert_eq!(refused.status(), 403);
    let body = refused.text().await.unwrap();
    assert!(body.contains("every truck"), "{body}");
    assert!(!body.contains("T-05"), "{body}");

    let everyone = token("ana", Scope::All, 600);
    let stats = get_with(&server, "/api/stats", &everyone).await;
    assert_eq!(stats.status(), 200);
    let stats: convoy_server::stats::StatsReport = stats.json().await.unwrap();
    assert_eq!(stats.open_streams, 1, "{stats:?}");
    drop(stream);
}

#[tokio::test]
async fn a_stream_ends_with_signed_out_when_its_token_expires() {
    let dir = TempDir::new("auth-expiry");
    let server = signed_in_server(&dir, |_| {}).await;
    let tok = token("cy", Scope::All, 2);
    let mut stream = get_with(&server, "/api/stream", &tok).await;
    assert_eq!(stream.status(), 200);
    let mut decoder = Decoder::new();
    let mut last = None;
    while let Some(chunk) = within(stream.chunk()).await.unwrap() {
        decoder.feed(&chunk);
        while let Some(event) = decoder.poll_event() {
            last = Some(event.event_type.clone());
        }
    }
    assert_eq!(last.as_deref(), Some(SIGNED_OUT_EVENT));
}

#[tokio::test]
async fn cors_answers_allowed_origins_with_credentials_and_no_one_else() {
    let dir = TempDir::new("auth-cors");
    let server = signed_in_server(&dir, |c| {
        c.allow_origins = vec!["http://app.example.test".into()];
    })
    .await;
    let preflight = within(
        server
            .client
            .request(reqwest::Method::OPTIONS, server.url("/api/fleet"))
            .header("origin", "http://app.example.test")
            .header("access-control-request-method", "GET")
            .send(),
    )
    .await
    .unwrap();
    assert!(preflight.status().is_success());
    let h = preflight.headers();
    assert_eq!(h["access-control-allow-origin"], "http://app.example.test");
    assert_eq!(h["access-control-allow-credentials"], "true");
    let other = within(
        server
            .client
            .get(server.url("/api/health"))
            .header("origin", "http://evil.example.test")
            .send(),
    )
    .await
    .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn documents_carry_a_strict_content_security_policy() {
    let dir = TempDir::new("auth-csp");
    dir.write(
        "index.html",
        b"<html><head><script type=\"module\">boot();</script></head><body></body></html>",
    );
    let server = TestServer::start(Config {
        dist: dir.path().to_path_buf(),
        ..config()
    })
    .await;
    let response = server.get("/").await;
    let h = response.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    for part in [
        "script-src 'self' 'wasm-unsafe-eval' 'sha256-",
        "style-src 'self';",
        "worker-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(part), "{part} in {csp}");
    }
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h["referrer-policy"], "strict-origin-when-cross-origin");
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS without TLS"
    );
    let api = server.get("/api/health").await;
    assert!(api.headers().get("content-security-policy").is_none());
}

#[tokio::test]
async fn an_identity_providers_eddsa_tokens_are_accepted_with_its_public_key() {
    let dir = TempDir::new("auth-eddsa");
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    dir.write("idp.pub.pem", pair.public_key_pem().as_bytes());
    let server = TestServer::start(Config {
        auth_public_keys: vec![dir.path().join("idp.pub.pem")],
        ..config()
    })
    .await;
    let key = jsonwebtoken::EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes()).unwrap();
    let claims = Claims {
        sub: "dee".into(),
        trucks: some(&["T-04"]),
        exp: now_s() + 600,
        nbf: None,
    };
    let tok = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
        &claims,
        &key,
    )
    .unwrap();
    let snapshot: FleetSnapshot = get_with(&server, "/api/fleet", &tok)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot.trucks.len(), 1);
    assert_eq!(snapshot.trucks[0].id, "T-04");
    // An HS256 token is refused: this server has no shared key.
    let hs = token("dee", Scope::All, 600);
    assert_eq!(get_with(&server, "/api/fleet", &hs).await.status(), 401);
}

#[test]
fn the_token_command_prints_the_token_then_a_sign_in_link() {
    let dir = TempDir::new("auth-token-cmd");
    dir.write("auth.key", KEY);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_convoy-server"))
        .args(["token", "--key-file"])
        .arg(dir.path().join("auth.key"))
        .args(["--sub", "ana", "--trucks", "T-01,T-02", "--ttl-s", "60"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8(output.stdout).unwrap();
    let mut lines = stdout.lines();
    let tok = lines.next().unwrap();
    let link = lines.next().unwrap();
    assert_eq!(link, format!("http://127.0.0.1:8080/signin#token={tok}"));
    let auth = convoy_server::auth::Auth::load(Some(&dir.path().join("auth.key")), &[] as &[&str])
        .unwrap()
        .unwrap();
    let operator = auth.verify(tok, now_s() * 1000).unwrap();
    assert_eq!(operator.name.as_deref(), Some("ana"));
    assert_eq!(operator.scope, some(&["T-01", "T-02"]));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_convoy-server"))
        .args(["token", "--key-file", "/nonexistent/key", "--sub", "ana"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}

/// Raises an alert on T-01 through ingest (token `ingest-token`); its id.
async fn raise_alert(server: &TestServer) -> u64 {
    let now_ms = now_s() * 1000;
    let event = serde_json::json!({
        "type": "alert", "truck": "T-01", "at_ms": now_ms,
        "alert": {"kind": "delay", "message": "late", "raised_ms": now_ms},
    });
    let reply: serde_json::Value = send(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth("ingest-token")
            .body(event.to_string()),
    )
    .await
    .json()
    .await
    .unwrap();
    reply["ids"][0].as_u64().expect("the alert was appended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_authenticated_changes_from_another_origin_or_a_form_are_refused() {
    let dir = TempDir::new("auth-forgery");
    dir.write("ingest-tokens", b"ingest-token\n");
    let tokens = dir.path().join("ingest-tokens");
    let server = signed_in_server(&dir, |config| {
        config.allow_origins = vec!["https://app.example.com".into()];
        config.ingest_token_file = Some(tokens);
    })
    .await;
    let tok = token("ana", Scope::All, 600);
    let cookie = session_cookie(&server.client, server.url("/api/session"), &tok).await;
    let alert = raise_alert(&server).await;
    let ack = |origin: &'static str, content_type: &'static str| {
        server
            .client
            .post(server.url(&format!("/api/alerts/{alert}/ack")))
            .header("cookie", &cookie)
            .header("origin", origin)
            .header("content-type", content_type)
            .send()
    };
    // A page on another site, and a sibling subdomain (same site, so SameSite=Lax lets the
    // cookie through), posting a form.
    for origin in ["https://evil.example.net", "https://evil.example.com"] {
        let refused = within(ack(origin, "application/x-www-form-urlencoded"))
            .await
            .unwrap();
        assert_eq!(refused.status(), 403, "{origin}");
        let body = refused.text().await.unwrap();
        assert!(body.contains(origin), "{body}");
        let refused = within(ack(origin, "application/json")).await.unwrap();
        assert_eq!(refused.status(), 403, "{origin}");
    }
    // The allowed origin, but a form: refused too.
    let form = within(ack(
        "https://app.example.com",
        "application/x-www-form-urlencoded",
    ))
    .await
    .unwrap();
    assert_eq!(form.status(), 415);
    // Nothing was recorded: the alert is still unacknowledged.
    let snapshot: FleetSnapshot = get_with(&server, "/api/fleet", &tok)
        .await
        .json()
        .await
        .unwrap();
    let still = snapshot
        .trucks
        .iter()
        .flat_map(|t| &t.alerts)
        .find(|a| a.id == alert);
    assert!(still.is_some_and(|a| a.acked.is_none()), "{still:?}");
    // The app's own page (its own host) and the allowed origin, with JSON, are heard.
    let own = format!("http://{}", server.addr);
    let heard = send(
        server
            .client
            .post(server.url(&format!("/api/alerts/{alert}/ack")))
            .header("cookie", &cookie)
            .header("origin", &own)
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(heard.status(), 200);

    // Signing out and in from another site: refused, and the session stays.
    let out = send(
        server
            .client
            .delete(server.url("/api/session"))
            .header("cookie", &cookie)
            .header("origin", "https://evil.example.net"),
    )
    .await;
    assert_eq!(out.status(), 403);
    let other = token("mallory", Scope::All, 600);
    let swap = send(
        server
            .client
            .post(server.url("/api/session"))
            .bearer_auth(&other)
            .header("origin", "https://evil.example.net")
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(swap.status(), 403);
    let fleet = send(
        server
            .client
            .get(server.url("/api/fleet"))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(fleet.status(), 200);
}

#[tokio::test]
async fn behind_a_tls_proxy_the_cookie_is_secure_and_host_only_and_hsts_is_sent() {
    let dir = TempDir::new("auth-proxy");
    let server = signed_in_server(&dir, |config| {
        config.public_url = Some("https://convoy.example.com".into());
    })
    .await;
    let tok = token("ana", Scope::All, 600);
    let response = send(
        server
            .client
            .post(server.url("/api/session"))
            .bearer_auth(&tok)
            .header("content-type", "application/json"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cookie.starts_with("__Host-convoy_session="), "{cookie}");
    for part in ["Secure", "HttpOnly", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Domain"), "{cookie}");
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    let pair = cookie.split(';').next().unwrap();
    let fleet = send(
        server
            .client
            .get(server.url("/api/fleet"))
            .header("cookie", pair),
    )
    .await;
    assert_eq!(fleet.status(), 200);
    // The plain name is not this server's cookie any more.
    let plain = pair.replacen("__Host-", "", 1);
    let refused = send(
        server
            .client
            .get(server.url("/api/fleet"))
            .header("cookie", plain),
    )
    .await;
    assert_eq!(refused.status(), 401);
    // The origin it names is the app's own: its state changes are heard.
    let own = send(
        server
            .client
            .delete(server.url("/api/session"))
            .header("cookie", pair)
            .header("origin", "https://convoy.example.com"),
    )
    .await;
    assert_eq!(own.status(), 204);
}

#[tokio::test]
async fn signing_out_revokes_the_session_and_two_session_cookies_are_refused() {
    let dir = TempDir::new("auth-revoke");
    let server = signed_in_server(&dir, |_| {}).await;
    let tok = token("ana", Scope::All, 600);
    let cookie = session_cookie(&server.client, server.url("/api/session"), &tok).await;
    let fleet_with = |cookie: String| {
        server
            .client
            .get(server.url("/api/fleet"))
            .header("cookie", cookie)
            .send()
    };
    assert_eq!(
        within(fleet_with(cookie.clone())).await.unwrap().status(),
        200
    );
    // Two session cookies (one planted for a parent domain, say): which operator is unclear.
    let other = session_cookie(
        &server.client,
        server.url("/api/session"),
        &token("ben", some(&["T-01"]), 600),
    )
    .await;
    let both = within(fleet_with(format!("{cookie}; {other}")))
        .await
        .unwrap();
    assert_eq!(both.status(), 401);
    let body = both.text().await.unwrap();
    assert!(body.contains("two session cookies"), "{body}");

    let out = send(
        server
            .client
            .delete(server.url("/api/session"))
            .header("cookie", &cookie),
    )
    .await;
    assert_eq!(out.status(), 204);
    // The old cookie, kept by whoever copied it, no longer works; the bearer token neither.
    let after = within(fleet_with(cookie.clone())).await.unwrap();
    assert_eq!(after.status(), 401);
    assert!(after.text().await.unwrap().contains("signed out"));
    assert_eq!(get_with(&server, "/api/fleet", &tok).await.status(), 401);
    // Another session of another operator goes on.
    assert_eq!(within(fleet_with(other)).await.unwrap().status(), 200);
}

#[tokio::test]
async fn one_operator_cannot_take_every_stream() {
    let dir = TempDir::new("auth-share");
    let server = signed_in_server(&dir, |config| config.max_streams_per_operator = 2).await;
    let ana = token("ana", Scope::All, 600);
    let first = get_with(&server, "/api/stream", &ana).await;
    let second = get_with(&server, "/api/stream", &ana).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = get_with(&server, "/api/stream", &ana).await;
    assert_eq!(third.status(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let body = third.text().await.unwrap();
    assert!(body.contains("--max-streams-per-operator"), "{body}");
    // Another operator still gets one, and ana gets hers back once one closes.
    let ben = token("ben", Scope::All, 600);
    assert_eq!(get_with(&server, "/api/stream", &ben).await.status(), 200);
    drop(first);
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let again = get_with(&server, "/api/stream", &ana).await;
        if again.status() == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream's place came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn run_server(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_convoy-server"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--dist",
            "/nonexistent/convoy-dist",
        ])
        .args(args)
        .output()
        .expect("convoy-server runs")
}

#[test]
fn allow_origin_and_public_url_take_exactly_an_origin_and_say_which_value_is_wrong() {
    for (flag, value) in [
        ("--allow-origin", "*"),
        ("--allow-origin", "null"),
        ("--allow-origin", "https://app.example.com/"),
        ("--allow-origin", "app.example.com"),
        ("--allow-origin", "https://*.example.com"),
        ("--public-url", "convoy.example.com"),
    ] {
        let output = run_server(&[flag, value]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(value),
            "{flag} {value}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{flag} {value}: {stderr}");
    }
}

#[test]
fn the_token_command_stops_quietly_when_its_reader_does() {
    use std::io::Read;
    let dir = TempDir::new("auth-token-pipe");
    dir.write("auth.key", KEY);
    let key = dir.path().join("auth.key");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_convoy-server"))
        .arg("token")
        .arg("--key-file")
        .arg(&key)
        .args(["--sub", "ana"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // `| head -c 0`: the reader goes away before anything is read.
    drop(child.stdout.take());
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[tokio::test]
async fn the_start_up_lines_say_sign_in_is_on_and_how_to_mint_a_first_token() {
    let dir = TempDir::new("auth-startup");
    dir.write("auth.key", KEY);
    let key = dir.path().join("auth.key").display().to_string();
    let log = dir.path().join("stderr.log");
    let server = common::ServerProcess::start_logging(
        &["--auth-key-file", &key],
        std::fs::File::create(&log).unwrap(),
    );
    server.terminate();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("sign-in is on"), "{logged}");
    assert!(
        logged.contains(&format!("convoy-server token --key-file {key} --sub NAME")),
        "{logged}"
    );
}
