//! The deploy recipe, for real: Debian's nginx serves the built app through `deploy/nginx.conf`
//! over HTTPS (HTTP/2), with only its ports, paths, certificate and server names changed and the
//! policy `convoy-server csp` prints pasted in, as a deployer does; the API is convoy-server on
//! another origin of the same site (`--tls --allow-origin`, sign-in on). Every kind of file
//! carries every header, with the same policy and cache rule convoy-server gives it, and the app
//! signs in and goes live in Chromium in every transport, with no policy violation and no request
//! to the API reaching nginx.

use crate::harness::{
    auth_key_file, env_path, eventually, free_port, Browser, NginxProcess, Server, TestCert,
};
use crate::security::RECORD_VIOLATIONS;
use crate::shared_stream::{all_past, SERVER_ARGS};
use crate::split_origin::deployed_for;
use fantoccini::wd::WindowHandle;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// nginx running `deploy/nginx.conf` in a config of its own (pid, logs, temp files in a fresh
/// directory), as a child process on loopback ports.
struct Nginx {
    process: NginxProcess,
    /// `https://127.0.0.1:<port>`: the app's origin.
    origin: String,
    /// The plain-HTTP port, which only redirects.
    http_port: u16,
}

impl Nginx {
    /// Checks the config with `nginx -t` (no warning allowed), then starts nginx on it.
    async fn start(dist: &Path, cert: &TestCert, https_port: u16, policy: &str) -> Nginx {
        let http_port = free_port();
        let site = site(https_port, http_port, dist, cert, policy);
        Nginx {
            process: NginxProcess::start("", &site, https_port).await,
            origin: format!("https://127.0.0.1:{https_port}"),
            http_port,
        }
    }

    /// The requests nginx has served, one line each.
    fn access_log(&self) -> String {
        std::fs::read_to_string(self.process.dir.join("access.log")).unwrap_or_default()
    }
}

/// `deploy/nginx.conf` as a deployer adapts it: the ports, the paths, the certificate and the
/// server names, and the policy printed for the build over the placeholder. Nothing else: no
/// `example.com` is left outside the comments.
fn site(https_port: u16, http_port: u16, dist: &Path, cert: &TestCert, policy: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx.conf");
    let mut site = std::fs::read_to_string(&path).expect("deploy/nginx.conf");
    for (from, to, times) in [
        (
            "listen 443 ssl http2;".to_owned(),
            format!("listen 127.0.0.1:{https_port} ssl http2;"),
            1,
        ),
        (
            "listen 80;".to_owned(),
            format!("listen 127.0.0.1:{http_port};"),
            1,
        ),
        (
            "server_name app.example.com;".to_owned(),
            "server_name 127.0.0.1;".to_owned(),
            2,
        ),
        (
            "/etc/letsencrypt/live/app.example.com/fullchain.pem".to_owned(),
            cert.cert.display().to_string(),
            1,
        ),
        (
            "/etc/letsencrypt/live/app.example.com/privkey.pem".to_owned(),
            cert.key.display().to_string(),
            1,
        ),
        (
            "root /srv/convoy/dist;".to_owned(),
            format!("root {};", dist.display()),
            1,
        ),
    ] {
        assert_eq!(
            site.matches(from.as_str()).count(),
            times,
            "deploy/nginx.conf has {from:?} {times} time(s)"
        );
        site = site.replace(&from, &to);
    }
    let directive = "add_header Content-Security-Policy \"";
    let mut policies = 0;
    let site: Vec<String> = site
        .lines()
        .map(|line| match line.find(directive) {
            Some(at) if !line.trim_start().starts_with('#') => {
                policies += 1;
                format!("{}{directive}{policy}\" always;", &line[..at])
            }
            _ => line.to_owned(),
        })
        .collect();
    assert_eq!(policies, 1, "deploy/nginx.conf sets the policy once");
    for line in &site {
        let code = line.split('#').next().unwrap_or_default();
        assert!(!code.contains("example.com"), "left to substitute: {line}");
    }
    site.join("\n")
}

/// What `convoy-server csp DIST` prints: the policy a deployer pastes into the config.
fn printed_policy(dist: &Path) -> String {
    let output = Command::new(env_path("CONVOY_SERVER_BIN"))
        .arg("csp")
        .arg(dist)
        .output()
        .expect("convoy-server csp runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .expect("utf-8")
        .trim()
        .to_owned()
}

/// The deployment: the API (convoy-server over HTTPS, sign-in on, the app's origin allowed), the
/// build pointed at it, and nginx serving that build on another port of the same host.
struct Deploy {
    nginx: Nginx,
    api: Server,
    dist: PathBuf,
    key_file: PathBuf,
    policy: String,
    cert: TestCert,
}

impl Deploy {
    async fn start() -> Deploy {
        let cert = TestCert::new();
        let https_port = free_port();
        let app = format!("https://127.0.0.1:{https_port}");
        let key_file = auth_key_file();
        let key = key_file.display().to_string();
        let mut args = SERVER_ARGS.to_vec();
        args.extend(["--allow-origin", &app, "--auth-key-file", &key]);
        let api = Server::start_tls_with(&cert, &args).await;
        let dist = deployed_for(&api.base);
        let policy = printed_policy(&dist);
        assert!(
            policy.contains(&format!("connect-src 'self' {};", api.base)),
            "{policy}"
        );
        let nginx = Nginx::start(&dist, &cert, https_port, &policy).await;
        Deploy {
            nginx,
            api,
            dist,
            key_file,
            policy,
            cert,
        }
    }
}

impl Drop for Deploy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dist);
        let _ = std::fs::remove_file(&self.key_file);
    }
}

fn header(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().expect("an ASCII header").to_owned())
}

/// Asserts `response` (for `path`) carries every header of the recipe, and `cache` as its
/// Cache-Control.
fn assert_every_header(response: &reqwest::Response, path: &str, policy: &str, cache: &str) {
    for (name, value) in [
        ("content-security-policy", policy),
        ("strict-transport-security", "max-age=31536000"),
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        ("x-frame-options", "DENY"),
        ("cache-control", cache),
    ] {
        assert_eq!(
            header(response, name).as_deref(),
            Some(value),
            "{path}: {name}"
        );
    }
}

/// Every file of the build and every kind of route, through nginx: every header, the same
/// policy and Cache-Control as convoy-server gives the same file, the right content types, the
/// page for the app's routes and 404 (with the headers) for a missing script or a dotfile, the
/// precompressed siblings, and plain HTTP sent to HTTPS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_serves_every_file_with_every_header() {
    let deploy = Deploy::start().await;
    let origin = &deploy.nginx.origin;
    let client = deploy.cert.client();
    // convoy-server serving the same build: the reference for each file's policy and caching.
    let reference =
        Server::start_with_dist(deploy.dist.to_str().expect("a path"), &["--trucks", "0"]).await;
    let plain = reqwest::Client::new();
    let index = std::fs::read_to_string(deploy.dist.join("index.html")).expect("index.html");

    let mut files: Vec<String> = std::fs::read_dir(&deploy.dist)
        .expect("the dist dir")
        .map(|entry| entry.expect("a dist entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| !name.ends_with(".gz") && !name.ends_with(".br"))
        .collect();
    files.sort();
    let mut kinds = Vec::new();
    for name in &files {
        let path = format!("/{name}");
        let response = client
            .get(format!("{origin}{path}"))
            .send()
            .await
            .expect("nginx answers");
        assert_eq!(response.status(), 200, "{path}");
        let expected = plain
            .get(format!("{}{path}", reference.base))
            .send()
            .await
            .expect("convoy-server answers");
        assert_eq!(expected.status(), 200, "{path} from convoy-server");
        let cache = header(&expected, "cache-control").expect("convoy-server's Cache-Control");
        assert_eq!(
            header(&expected, "content-security-policy").as_deref(),
            Some(deploy.policy.as_str()),
            "{path}: convoy-server's policy is the printed one"
        );
        assert_every_header(&response, &path, &deploy.policy, &cache);
        let content_type = header(&response, "content-type").unwrap_or_default();
        let ext = name.rsplit('.').next().unwrap_or_default();
        let kind = match ext {
            "html" => "text/html",
            "js" => "javascript",
            "wasm" => "application/wasm",
            "css" => "text/css",
            "svg" => "image/svg+xml",
            "json" | "webmanifest" => "json",
            _ => "",
        };
        assert!(
            content_type.contains(kind),
            "{path}: {content_type}, not {kind}"
        );
        let hashed = cache == IMMUTABLE;
        kinds.push(format!("{}{ext}", if hashed { "hashed " } else { "" }));
        if name == "sw.js" {
            kinds.push("sw.js".into());
        }
    }
    for kind in [
        "hashed js",
        "hashed wasm",
        "hashed css",
        "hashed svg",
        "sw.js",
        "html",
    ] {
        assert!(
            kinds.iter().any(|k| k == kind),
            "the build has a {kind}: {files:?}"
        );
    }

    // The page, under every name the app answers to.
    for path in [
        "/",
        "/index.html",
        "/board",
        "/trucks/T-03",
        "/map?from=nginx",
        "/signin",
    ] {
        let response = client
            .get(format!("{origin}{path}"))
            .send()
            .await
            .expect("nginx answers");
        assert_eq!(response.status(), 200, "{path}");
        assert_every_header(&response, path, &deploy.policy, "no-cache");
        let content_type = header(&response, "content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("text/html"),
            "{path}: {content_type}"
        );
        assert_eq!(response.text().await.expect("a body"), index, "{path}");
    }

    // A stale script gets an error, never the page; dotfiles are not served.
    for path in [
        "/convoy-0123456789abcdef.js",
        "/gone_bg.wasm",
        "/.env",
        "/.git/config",
    ] {
        let response = client
            .get(format!("{origin}{path}"))
            .send()
            .await
            .expect("nginx answers");
        assert_eq!(response.status(), 404, "{path}");
        assert_every_header(&response, path, &deploy.policy, "no-cache");
        let content_type = header(&response, "content-type").unwrap_or_default();
        let body = response.text().await.unwrap_or_default();
        assert!(!body.contains("convoy-api"), "{path}: {content_type}");
    }

    // The build's precompressed sibling, by Accept-Encoding, with the same headers.
    let js = files
        .iter()
        .find(|name| {
            name.starts_with("convoy-") && name.ends_with(".js") && !name.contains("worker")
        })
        .expect("the app's js");
    let sibling = std::fs::read(deploy.dist.join(format!("{js}.gz"))).expect("the build's .gz");
    let gzipped = client
        .get(format!("{origin}/{js}"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("nginx answers");
    assert_eq!(
        header(&gzipped, "content-encoding").as_deref(),
        Some("gzip")
    );
    assert_eq!(header(&gzipped, "vary").as_deref(), Some("Accept-Encoding"));
    assert_every_header(&gzipped, js, &deploy.policy, IMMUTABLE);
    assert_eq!(&gzipped.bytes().await.expect("a body")[..], &sibling[..]);

    // Plain HTTP only redirects to HTTPS, path and query kept.
    let redirect = client
        .get(format!(
            "http://127.0.0.1:{}/board?trucks=T-01",
            deploy.nginx.http_port
        ))
        .send()
        .await;
    let redirect = redirect.expect("nginx answers on plain HTTP");
    assert_eq!(redirect.status(), 301);
    let location = header(&redirect, "location").unwrap_or_default();
    assert!(
        location.starts_with("https://127.0.0.1") && location.ends_with("/board?trucks=T-01"),
        "{location}"
    );
}

/// The fleet rows `tab` shows (None while the sign-in page is shown).
async fn shown_trucks(browser: &Browser, tab: &WindowHandle) -> Option<usize> {
    let value = browser
        .run(
            tab,
            "if (document.querySelector('section.sign-in')) return null; \
             return document.querySelectorAll('tr.truck-row').length;",
        )
        .await;
    value.as_u64().map(|n| n as usize)
}

const TABS: usize = 3;

/// The protocol `tab`'s page came over (empty when the service worker answered it).
async fn page_protocol(browser: &Browser, tab: &WindowHandle) -> Value {
    browser
        .run(
            tab,
            "return performance.getEntriesByType('navigation')[0].nextHopProtocol;",
        )
        .await
}

/// Signs in through the app nginx serves (the link on the app's origin, the session cookie from
/// the API's), opens [`TABS`] tabs in `transport` (`None`: `auto`, whatever it picks), and checks
/// that every tab is live on it with nothing lost or repeated, one stream at the API (one per tab
/// for `direct`), and no policy violation; the page came over HTTP/2, and nginx served files
/// only.
async fn live_through_nginx(transport: Option<&str>) {
    let deploy = Deploy::start().await;
    let origin = deploy.nginx.origin.clone();
    let browser = Browser::start_trusting(&deploy.cert).await;
    let query = transport
        .map(|t| format!("?transport={t}"))
        .unwrap_or_default();
    let url = format!("{origin}/{query}");
    let first = browser.open_tab_with_script(&url, RECORD_VIOLATIONS).await;
    eventually(Duration::from_secs(30), "the sign-in page", || async {
        let signing_in = browser
            .run(
                &first,
                "return !!document.querySelector('section.sign-in');",
            )
            .await;
        (signing_in.as_bool() == Some(true)).then_some(())
    })
    .await;
    assert_eq!(page_protocol(&browser, &first).await, "h2");
    let (_, link) = deploy.api.token_for_app("ana", "all", &origin);
    assert!(link.starts_with(&format!("{origin}/signin#")), "{link}");
    browser
        .run(
            &first,
            &format!("location.href = {}; return true;", Value::from(link)),
        )
        .await;
    eventually(
        Duration::from_secs(30),
        "the fleet after sign-in",
        || async { (shown_trucks(&browser, &first).await? == 20).then_some(()) },
    )
    .await;
    // The link leads to `/` in `auto`: back to the transport under test, replacing the page so
    // that the back-forward cache does not keep it (and its stream) alive.
    browser
        .run(
            &first,
            &format!(
                "location.replace({}); return true;",
                Value::from(url.as_str())
            ),
        )
        .await;
    let mut tabs = vec![first];
    for _ in 1..TABS {
        tabs.push(browser.open_tab_with_script(&url, RECORD_VIOLATIONS).await);
    }
    let before = all_past(&browser, &tabs, 0).await;
    let chosen = transport.unwrap_or(&before[0].transport).to_owned();
    for (i, (d, tab)) in before.iter().zip(&tabs).enumerate() {
        let why = browser
            .run(tab, "return window.convoyDiagnostics().transportReason;")
            .await;
        assert_eq!(d.transport, chosen, "tab {i}: {why}");
        if matches!(chosen.as_str(), "leader" | "direct") {
            // The hub's dedicated worker starts under nginx's policy and headers.
            assert_eq!(d.hub, "worker", "tab {i}");
        }
    }
    let streams = if chosen == "direct" { TABS as u64 } else { 1 };
    let what = format!("{streams} stream(s) at the API");
    eventually(Duration::from_secs(20), &what, || async {
        (deploy.api.stats().await.open_streams == streams).then_some(())
    })
    .await;
    let latest = deploy.api.stats().await.latest_event_id;
    let after = all_past(&browser, &tabs, latest + 10).await;
    for (i, d) in after.iter().enumerate() {
        d.assert_contiguous(&format!("{chosen} through nginx, tab {i}"));
    }
    for (i, tab) in tabs.iter().enumerate() {
        let violations = browser
            .run(tab, "return window.convoyCspViolations || ['no recorder'];")
            .await;
        assert_eq!(violations, Value::Array(Vec::new()), "{chosen}, tab {i}");
    }
    let log = deploy.nginx.access_log();
    assert!(log.contains("\"GET / "), "nginx served the app: {log}");
    assert!(!log.contains(" /api/"), "the API is not nginx's: {log}");
    if transport.is_none() {
        eprintln!("auto through nginx: {chosen}");
    }
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_deploy_live_auto() {
    live_through_nginx(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_deploy_live_leader_election() {
    live_through_nginx(Some("leader")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_deploy_live_direct() {
    live_through_nginx(Some("direct")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_deploy_live_shared_worker() {
    live_through_nginx(Some("shared-worker")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_deploy_live_service_worker() {
    live_through_nginx(Some("service-worker")).await;
}
