//! Sign-in and scopes over real loopback HTTP: tokens minted by `convoy-server token`'s code,
//! the session cookie, 401 without it, scope on the fleet, a truck, the map and the stream (403
//! outside, `all` meaning the operator's trucks), a stream that ends when its token expires,
//! CORS for allowed origins only, and the security headers.

mod common;

use common::{config, within, TempDir, TestServer};
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
    let snapshot: FleetSnapshot = get_with(&server, "/api/fleet", &tok)
        .await
        .json()
        .await
        .unwrap();
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
    let routes: Vec<&str> = map.routes.iter().map(|r| r.id.as_str()).collect();
    let theirs: Vec<&str> = snapshot
        .trucks
        .iter()
        .map(|t| t.route_id.as_str())
        .collect();
    assert!(routes.iter().all(|r| theirs.contains(r)), "{routes:?}");
    assert!(!routes.is_empty());

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
    let operator = auth.verify(tok).unwrap();
    assert_eq!(operator.name.as_deref(), Some("ana"));
    assert_eq!(operator.scope, some(&["T-01", "T-02"]));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_convoy-server"))
        .args(["token", "--key-file", "/nonexistent/key", "--sub", "ana"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
}
