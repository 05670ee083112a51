//! The real parts an end-to-end test drives: convoy-server on a loopback port, and headless
//! Chromium through Debian's chromedriver. `cargo xtask test` sets the paths they need.

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand, WindowHandle};
use fantoccini::{Client, ClientBuilder};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn env_path(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the end-to-end tests with `cargo xtask test`")
    })
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Polls `check` every 50 ms until it returns Some, or panics after `limit` saying `what`.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The bearer token end-to-end tests push events with (`Server::ingest`).
pub const INGEST_TOKEN: &str = "e2e-ingest-token";

/// A fresh file holding [`INGEST_TOKEN`], for `--ingest-token-file`; `what` names the test.
pub fn ingest_token_file(what: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "convoy-e2e-{what}-{}-{}.tokens",
        std::process::id(),
        free_port()
    ));
    std::fs::write(&path, INGEST_TOKEN).expect("a token file");
    path
}

/// A convoy-server process with its simulator.
pub struct Server {
    child: Child,
    pub base: String,
    /// The loopback port it listens on.
    pub port: u16,
    http: reqwest::Client,
    /// With sign-in on: the key file tokens are minted with, and a token for the stats.
    auth: Option<(PathBuf, String)>,
}

/// `GET /api/stats`.
#[derive(Debug, Deserialize)]
pub struct Stats {
    pub open_streams: u64,
    pub opened_total: u64,
    pub latest_event_id: u64,
}

impl Server {
    /// Starts the server on a free port serving `dist`, and waits until it answers.
    pub async fn start_with_dist(dist: &str, extra_args: &[&str]) -> Server {
        Server::start_at(free_port(), dist, extra_args).await
    }

    /// Starts the server on a free port and waits until it answers.
    pub async fn start(extra_args: &[&str]) -> Server {
        Server::start_at(free_port(), &env_path("CONVOY_DIST"), extra_args).await
    }

    /// The app's build the tests serve (`CONVOY_DIST`).
    pub fn dist() -> PathBuf {
        PathBuf::from(env_path("CONVOY_DIST"))
    }

    /// Starts the server on `port` (e.g. where a dropped one ran) serving `dist`.
    pub async fn start_at(port: u16, dist: &str, extra_args: &[&str]) -> Server {
        Server::launch(port, dist, extra_args, None).await
    }

    /// Starts the server with `--tls` and `cert` (HTTPS, HTTP/2) on a free port, waiting until it
    /// answers; `stats` and `ingest` trust that certificate.
    pub async fn start_tls_with(cert: &TestCert, extra_args: &[&str]) -> Server {
        let cert_path = cert.cert.display().to_string();
        let key_path = cert.key.display().to_string();
        let mut args = vec!["--tls", "--cert", &cert_path, "--key", &key_path];
        args.extend_from_slice(extra_args);
        Server::launch(free_port(), &env_path("CONVOY_DIST"), &args, Some(cert)).await
    }

    async fn launch(port: u16, dist: &str, extra_args: &[&str], tls: Option<&TestCert>) -> Server {
        let child = Command::new(env_path("CONVOY_SERVER_BIN"))
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--dist", dist])
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("convoy-server starts");
        let (scheme, http) = match tls {
            Some(cert) => ("https", cert.client()),
            None => ("http", reqwest::Client::new()),
        };
        let mut server = Server {
            child,
            base: format!("{scheme}://127.0.0.1:{port}"),
            port,
            http,
            auth: None,
        };
        if let Some(at) = extra_args.iter().position(|a| *a == "--auth-key-file") {
            let key = PathBuf::from(extra_args[at + 1]);
            let (token, _) = mint_token(&key, "e2e-stats", "all", &server.base);
            server.auth = Some((key, token));
        }
        eventually(
            Duration::from_secs(20),
            "convoy-server to answer",
            || async { server.try_stats().await },
        )
        .await;
        server
    }

    /// Starts the server with `--tls` (HTTPS, HTTP/2) on a free port and waits until it accepts
    /// connections. `stats` does not work on it (the test client has no TLS): ask a tab.
    pub async fn start_tls(extra_args: &[&str]) -> Server {
        let port = free_port();
        let child = Command::new(env_path("CONVOY_SERVER_BIN"))
            .args(["--addr", &format!("127.0.0.1:{port}")])
            .args(["--dist", &env_path("CONVOY_DIST"), "--tls"])
            .args(extra_args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("convoy-server starts");
        eventually(
            Duration::from_secs(20),
            "convoy-server to accept connections",
            || async {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
            },
        )
        .await;
        Server {
            child,
            base: format!("https://127.0.0.1:{port}"),
            port,
            http: reqwest::Client::new(),
            auth: None,
        }
    }

    async fn try_stats(&self) -> Option<Stats> {
        let mut request = self.http.get(format!("{}/api/stats", self.base));
        if let Some((_, token)) = &self.auth {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.ok()?;
        response.json().await.ok()
    }

    /// Starts the server with sign-in on (a fresh key), waiting until it answers.
    pub async fn start_signed_in(extra_args: &[&str]) -> Server {
        let key_arg = auth_key_file().display().to_string();
        let mut args = vec!["--auth-key-file", key_arg.as_str()];
        args.extend_from_slice(extra_args);
        Server::start(&args).await
    }

    /// A token and sign-in link for `sub` (`trucks`: `all` or `T-01,T-02`), minted by
    /// `convoy-server token` with this server's key.
    pub fn token(&self, sub: &str, trucks: &str) -> (String, String) {
        self.token_for_app(sub, trucks, &self.base)
    }

    /// Like `token`, with the sign-in link on `app`: the app's origin when it is not the API's.
    pub fn token_for_app(&self, sub: &str, trucks: &str, app: &str) -> (String, String) {
        let (key, _) = self.auth.as_ref().expect("a server with sign-in on");
        mint_token(key, sub, trucks, app)
    }

    /// Posts `events` in one `POST /api/ingest` (a server started with [`ingest_token_file`]);
    /// their ids, contiguous.
    pub async fn ingest(&self, events: Vec<Value>) -> Vec<u64> {
        let reply: Value = self
            .http
            .post(format!("{}/api/ingest", self.base))
            .bearer_auth(INGEST_TOKEN)
            .body(Value::Array(events).to_string())
            .send()
            .await
            .expect("ingest answers")
            .json()
            .await
            .expect("ingest replies with JSON");
        reply["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|id| id.as_u64().expect("an id"))
            .collect()
    }

    /// The server's stream counts.
    pub async fn stats(&self) -> Stats {
        self.try_stats().await.expect("/api/stats answers")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What `window.convoyDiagnostics()` returns.
#[derive(Debug, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Diagnostics {
    pub role: String,
    pub tab_id: u64,
    pub term: u64,
    pub leader_id: Option<u64>,
    pub upstream: String,
    pub transport: String,
    pub last_event_id: u64,
    pub received: Vec<u64>,
    pub gaps: u64,
    pub gap_places: Vec<(u64, u64)>,
    pub duplicates: u64,
    pub snapshots: u64,
    /// Where the tab's hub runs: `worker` (its dedicated worker) or `main-thread`.
    pub hub: String,
}

impl Diagnostics {
    /// Asserts the delivered ids run without a gap or a repeat.
    pub fn assert_contiguous(&self, tab: &str) {
        assert_eq!(
            (self.gaps, self.duplicates),
            (0, 0),
            "{tab} (tab id {}, {} snapshots): gaps at {:?}",
            self.tab_id,
            self.snapshots,
            self.gap_places
        );
        for pair in self.received.windows(2) {
            assert_eq!(
                pair[1],
                pair[0] + 1,
                "{tab} (tab id {}) received {} after {}",
                self.tab_id,
                pair[1],
                pair[0]
            );
        }
    }
}

/// A fresh key file for `--auth-key-file`.
pub fn auth_key_file() -> PathBuf {
    let key = std::env::temp_dir().join(format!(
        "convoy-e2e-auth-{}-{}.key",
        std::process::id(),
        free_port()
    ));
    std::fs::write(
        &key,
        "an e2e key that is long enough to sign with: 0123456789",
    )
    .expect("a key file");
    key
}

/// A self-signed certificate for `127.0.0.1` and `localhost`, as PEM files in a fresh directory
/// (for nginx and `convoy-server --tls --cert --key`), and what clients need to trust it.
pub struct TestCert {
    dir: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pem: String,
    /// base64 of the SHA-256 of its SubjectPublicKeyInfo, as Chromium's
    /// `--ignore-certificate-errors-spki-list` takes it.
    spki_sha256: String,
}

impl TestCert {
    pub fn new() -> TestCert {
        use base64::Engine;
        use sha2::Digest;
        let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
        let made = rcgen::generate_simple_self_signed(names).expect("a self-signed certificate");
        let dir = std::env::temp_dir().join(format!(
            "convoy-e2e-cert-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let pem = made.cert.pem();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, &pem).expect("write the certificate");
        std::fs::write(&key, made.key_pair.serialize_pem()).expect("write the key");
        let digest = sha2::Sha256::digest(made.key_pair.public_key_der());
        TestCert {
            dir,
            cert,
            key,
            pem,
            spki_sha256: base64::engine::general_purpose::STANDARD.encode(digest),
        }
    }

    /// An HTTP client that trusts this certificate and no other, and follows no redirect.
    pub fn client(&self) -> reqwest::Client {
        let root = reqwest::Certificate::from_pem(self.pem.as_bytes()).expect("a PEM certificate");
        reqwest::Client::builder()
            .add_root_certificate(root)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTPS client")
    }
}

impl Drop for TestCert {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// nginx (`CONVOY_NGINX`) as a child process on a config of its own, with its pid, logs and
/// temp files in a fresh directory; stopped (and the directory removed) on drop.
pub struct NginxProcess {
    child: Child,
    /// Where its config, logs and temp files are.
    pub dir: PathBuf,
    conf: PathBuf,
}

impl NginxProcess {
    /// Writes a config with `main` in the main context and `http` (server blocks, upstreams) in
    /// the http block, checks it with `nginx -t` (no warning allowed), starts nginx on it and
    /// waits until 127.0.0.1:`port` accepts connections.
    pub async fn start(main: &str, http: &str, port: u16) -> NginxProcess {
        let dir = std::env::temp_dir().join(format!(
            "convoy-e2e-nginx-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).expect("a temp dir");
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, nginx_conf(&dir, main, http)).expect("write nginx.conf");
        let check = nginx(&dir, &conf)
            .arg("-t")
            .output()
            .expect("nginx -t runs");
        let said = String::from_utf8_lossy(&check.stderr).into_owned();
        assert!(check.status.success(), "nginx -t: {said}");
        assert!(
            !said.contains("[warn]") && !said.contains("[emerg]"),
            "nginx -t: {said}"
        );
        let child = nginx(&dir, &conf)
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        eventually(
            Duration::from_secs(20),
            "nginx to accept connections",
            || async {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .ok()
            },
        )
        .await;
        NginxProcess { child, dir, conf }
    }

    /// `nginx -s SIGNAL` (`reload`, `stop`) to this nginx; whether it was delivered.
    pub fn signal(&self, signal: &str) -> bool {
        nginx(&self.dir, &self.conf)
            .args(["-s", signal])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The master process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for NginxProcess {
    fn drop(&mut self) {
        // The master stops its workers; killing it would leave them serving.
        if !self.signal("stop") {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Debian's `mime.types`, which an nginx.conf includes in its http block.
const MIME_TYPES: &str = "/etc/nginx/mime.types";

/// A whole nginx.conf whose pid, logs and temp files live in `dir` (not the system's), with
/// `main` in the main context and `http` in the http block.
fn nginx_conf(dir: &Path, main: &str, http: &str) -> String {
    let d = dir.display();
    // As root nginx's workers switch to its default user, `nobody`, whose group Debian calls
    // `nogroup`; as anyone else they stay who they are.
    let user = if running_as_root() {
        "user nobody nogroup;"
    } else {
        ""
    };
    format!(
        "{user}\n{main}\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n\
         include {MIME_TYPES};\ndefault_type application/octet-stream;\n\
         access_log {d}/access.log;\nclient_body_temp_path {d}/client_body;\n\
         proxy_temp_path {d}/proxy;\nfastcgi_temp_path {d}/fastcgi;\n\
         uwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\n{http}\n}}\n"
    )
}

/// `nginx` with the config `conf`, its prefix and its error log in `dir`.
fn nginx(dir: &Path, conf: &Path) -> Command {
    let mut command = Command::new(env_path("CONVOY_NGINX"));
    command
        .arg("-p")
        .arg(dir)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-c")
        .arg(conf);
    command
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Headless Chromium driven over WebDriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Browser {
    /// Starts chromedriver and a fresh Chromium session.
    pub async fn start() -> Browser {
        Browser::start_with(false).await
    }

    /// Like `start`; `ignore_certificate_errors` accepts the server's self-signed certificate
    /// (`convoy-server --tls`, for HTTP/2).
    pub async fn start_with(ignore_certificate_errors: bool) -> Browser {
        Browser::launch(ignore_certificate_errors, false, &[]).await
    }

    /// Like `start`, trusting `cert` as if a CA had signed it: unlike with
    /// `--ignore-certificate-errors`, the page's origin is then secure without a certificate
    /// error, which a service worker's registration requires.
    pub async fn start_trusting(cert: &TestCert) -> Browser {
        let trust = format!("--ignore-certificate-errors-spki-list={}", cert.spki_sha256);
        Browser::launch(false, false, &[trust.as_str()]).await
    }

    /// Like `start`, but without the switches chromedriver adds that turn background throttling
    /// off: hidden tabs' timers run at most once a second, as in the browsers people use.
    pub async fn start_throttled() -> Browser {
        Browser::launch(false, true, &[]).await
    }

    /// Like `start_throttled`, with more Chromium switches (e.g. a shorter grace period before
    /// intensive wake-up throttling). The bench's long-hidden failover rows use it.
    #[allow(dead_code)]
    pub async fn start_throttled_with(switches: &[&str]) -> Browser {
        Browser::launch(false, true, switches).await
    }

    async fn launch(
        ignore_certificate_errors: bool,
        throttled: bool,
        switches: &[&str],
    ) -> Browser {
        let port = free_port();
        let driver = Command::new(env_path("CHROMEDRIVER"))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile =
            std::env::temp_dir().join(format!("convoy-e2e-{}-{port}", std::process::id()));
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,800",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.extend(switches.iter().map(|s| s.to_string()));
        if ignore_certificate_errors {
            args.push("--ignore-certificate-errors".into());
        }
        let exclude: &[&str] = if throttled {
            &[
                "disable-background-timer-throttling",
                "disable-backgrounding-occluded-windows",
                "disable-renderer-backgrounding",
            ]
        } else {
            &[]
        };
        let capabilities: Capabilities = serde_json::from_value(json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": args,
                "excludeSwitches": exclude,
            },
        }))
        .expect("capabilities are an object");
        let client = webdriver_session(
            &format!("http://127.0.0.1:{port}"),
            capabilities,
            Duration::from_secs(20),
            "chromedriver to start a session",
        )
        .await;
        Browser {
            client,
            driver,
            profile,
        }
    }

    /// Opens `url` in a new tab (the first call reuses the session's blank tab), asking the app
    /// to keep every delivery for `convoyDiagnostics()`.
    pub async fn open_tab(&self, url: &str) -> WindowHandle {
        let current = self.client.window().await.expect("a window");
        let blank = self
            .client
            .current_url()
            .await
            .map(|u| u.as_str() == "about:blank");
        let handle = if blank.unwrap_or(false) {
            current
        } else {
            let created = self.client.new_window(true).await.expect("a new tab");
            created.handle
        };
        self.load_in(&handle, url).await;
        handle
    }

    /// Switches to `handle` and loads `url` there, keeping every delivery for diagnostics.
    async fn load_in(&self, handle: &WindowHandle, url: &str) {
        self.client
            .switch_to_window(handle.clone())
            .await
            .expect("switch to the tab");
        self.client
            .goto(&with_full_diagnostics(url))
            .await
            .expect("the page loads");
    }

    /// Opens `url` in a new window: unlike a tab of one window, whose others the browser hides,
    /// every window stays visible. The bench's visible-followers row uses it.
    #[allow(dead_code)]
    pub async fn open_window(&self, url: &str) -> WindowHandle {
        let created = self.client.new_window(false).await.expect("a new window");
        self.load_in(&created.handle, url).await;
        created.handle
    }

    /// Opens `url` in a new tab with `script` run in every document before the page's own
    /// scripts (through the DevTools protocol): how a test emulates a browser that lacks or
    /// blocks a feature.
    pub async fn open_tab_with_script(&self, url: &str, script: &str) -> WindowHandle {
        let created = self.client.new_window(true).await.expect("a new tab");
        self.cdp(
            &created.handle,
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": script }),
        )
        .await;
        self.client
            .goto(&with_full_diagnostics(url))
            .await
            .expect("the page loads");
        created.handle
    }

    /// Opens `url` in a background tab of `opener`'s window, as people have them: hidden, its
    /// timers throttled by the browser (with `start_throttled`). `script` runs before the page's
    /// own. chromedriver activates a tab it switches to, so reading it (`run`, `diagnostics`,
    /// `cdp`) shows it; the caller switches back to a visible tab once every tab is open.
    pub async fn open_background_tab(
        &self,
        opener: &WindowHandle,
        url: &str,
        script: &str,
    ) -> WindowHandle {
        self.open_target(opener, url, script, false).await
    }

    /// Opens `url` in a new visible window (`Target.createTarget` with `newWindow: true`):
    /// unlike the tabs of one window, every window stays visible. `script` runs before the
    /// page's own.
    #[allow(dead_code)]
    pub async fn open_visible_window(
        &self,
        opener: &WindowHandle,
        url: &str,
        script: &str,
    ) -> WindowHandle {
        self.open_target(opener, url, script, true).await
    }

    /// A new target from `opener`: a background tab of its window, or a visible window.
    async fn open_target(
        &self,
        opener: &WindowHandle,
        url: &str,
        script: &str,
        window: bool,
    ) -> WindowHandle {
        let target = self
            .cdp(
                opener,
                "Target.createTarget",
                json!({ "url": "about:blank", "newWindow": window, "background": !window }),
            )
            .await;
        let id = target["targetId"]
            .as_str()
            .expect("Target.createTarget answers a targetId")
            .to_owned();
        let tab = WindowHandle::try_from(id).expect("a target id is a window handle");
        self.cdp(
            &tab,
            "Page.addScriptToEvaluateOnNewDocument",
            json!({ "source": script }),
        )
        .await;
        self.cdp(
            &tab,
            "Page.navigate",
            json!({ "url": with_full_diagnostics(url) }),
        )
        .await;
        tab
    }

    /// Opens a tab without waiting for its page to load (for the stalled tab of the control).
    pub async fn open_tab_no_wait(&self, url: &str) -> WindowHandle {
        let created = self.client.new_window(true).await.expect("a new tab");
        self.client
            .switch_to_window(created.handle.clone())
            .await
            .expect("switch tab");
        let _ = self
            .client
            .execute(
                "window.location.href = arguments[0]; return true;",
                vec![json!(with_full_diagnostics(url))],
            )
            .await;
        created.handle
    }

    /// `window.convoyDiagnostics()` in `tab`, or None before the app started.
    pub async fn diagnostics(&self, tab: &WindowHandle) -> Option<Diagnostics> {
        self.client.switch_to_window(tab.clone()).await.ok()?;
        let value = self
            .client
            .execute(
                "return window.convoyDiagnostics ? window.convoyDiagnostics() : null;",
                vec![],
            )
            .await
            .ok()?;
        serde_json::from_value(value).ok()
    }

    /// Runs a script in `tab` and returns its result.
    pub async fn run(&self, tab: &WindowHandle, script: &str) -> Value {
        self.client
            .switch_to_window(tab.clone())
            .await
            .expect("switch tab");
        self.client
            .execute(script, vec![])
            .await
            .unwrap_or(Value::Null)
    }

    /// Closes `tab` the way a user does.
    pub async fn close_tab(&self, tab: &WindowHandle) {
        self.client
            .switch_to_window(tab.clone())
            .await
            .expect("switch tab");
        self.client.close_window().await.expect("close tab");
    }

    /// Kills `tab`'s renderer process (no pagehide, no goodbye): a crash.
    pub async fn crash_tab(&self, tab: &WindowHandle) {
        self.client
            .switch_to_window(tab.clone())
            .await
            .expect("switch tab");
        // The command does not answer: the renderer is gone before it could.
        let _ = tokio::time::timeout(
            Duration::from_secs(5),
            self.client.issue_cmd(Cdp::new("Page.crash", json!({}))),
        )
        .await;
    }

    /// Sends a Chrome DevTools Protocol command to the current tab.
    pub async fn cdp(&self, tab: &WindowHandle, cmd: &str, params: Value) -> Value {
        self.client
            .switch_to_window(tab.clone())
            .await
            .expect("switch tab");
        self.client
            .issue_cmd(Cdp::new(cmd, params))
            .await
            .unwrap_or(Value::Null)
    }

    /// Ends the session and the browser.
    pub async fn quit(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Runs `convoy-server token`: (the token, the sign-in link).
fn mint_token(key: &std::path::Path, sub: &str, trucks: &str, base: &str) -> (String, String) {
    let output = Command::new(env_path("CONVOY_SERVER_BIN"))
        .arg("token")
        .arg("--key-file")
        .arg(key)
        .args(["--sub", sub, "--trucks", trucks, "--url", base])
        .output()
        .expect("convoy-server token runs");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("utf-8");
    let mut lines = text.lines().map(str::to_owned);
    (
        lines.next().expect("a token"),
        lines.next().expect("a sign-in link"),
    )
}

/// chromedriver's `goog/cdp/execute` endpoint.
#[derive(Debug)]
struct Cdp {
    cmd: String,
    params: Value,
}

impl Cdp {
    fn new(cmd: &str, params: Value) -> Cdp {
        Cdp {
            cmd: cmd.to_owned(),
            params,
        }
    }
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({ "cmd": self.cmd, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// `url` with `#diagnostics=full`: the app then lists every delivery since load, not only the
/// recent ones (and remembers it for the origin, so later navigations keep it). In the fragment,
/// so the page's path and query stay what the test asked for.
pub fn with_full_diagnostics(url: &str) -> String {
    if url.contains('#') {
        url.to_owned()
    } else {
        format!("{url}#diagnostics=full")
    }
}

/// A WebDriver session on the driver at `url`, retried until the driver answers (it has just
/// been started) or `limit` passes.
pub(crate) async fn webdriver_session(
    url: &str,
    capabilities: Capabilities,
    limit: Duration,
    what: &str,
) -> Client {
    eventually(limit, what, || {
        let capabilities = capabilities.clone();
        async move {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            ClientBuilder::new(connector)
                .capabilities(capabilities)
                .connect(url)
                .await
                .ok()
        }
    })
    .await
}
