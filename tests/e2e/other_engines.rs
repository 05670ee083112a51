//! The engines besides Chromium, as Debian ships them: Firefox ESR driven over WebDriver BiDi
//! (its own websocket; Debian has no geckodriver) and WebKitGTK's MiniBrowser driven by
//! `WebKitWebDriver` (classic WebDriver) on an Xvfb display. Both offer the few things the engine
//! smoke tests need: open a tab at a URL, read its `convoyDiagnostics()`, close it.
//! `cargo xtask test` installs them and sets the paths.

use crate::harness::{env_path, eventually, webdriver_session, Diagnostics};
use fantoccini::wd::{Capabilities, WindowHandle};
use fantoccini::Client;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::Mutex;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Reads the app's diagnostics as JSON text, which both protocols return as a plain string.
const DIAGNOSTICS_JSON: &str =
    "window.convoyDiagnostics ? JSON.stringify(window.convoyDiagnostics()) : null";

/// A browser whose tabs a test opens, reads and closes; a tab is named by the driver's id.
pub(crate) trait Engine {
    /// The engine and its version, as the browser reports it.
    fn version(&self) -> &str;

    /// Opens `url` in a new tab (the first call reuses the start tab) and waits for its load.
    async fn open_tab(&mut self, url: &str) -> String;

    /// `window.convoyDiagnostics()` in `tab`, or None before the app started.
    async fn diagnostics(&self, tab: &str) -> Option<Diagnostics>;

    /// Brings `tab` to the front, as a person does to look at it: a hidden page is handed
    /// nothing (its hub's worker holds what arrives, and hands it over once shown).
    async fn show(&self, tab: &str);

    /// `document.visibilityState` in `tab`: a Firefox background tab is `hidden`; WebKit's pages
    /// each have a window.
    async fn visibility(&self, tab: &str) -> Option<String>;

    /// Closes `tab` the way a user does.
    async fn close_tab(&self, tab: &str);
}

/// Headless Firefox with a fresh profile, driven over WebDriver BiDi.
pub(crate) struct Firefox {
    child: Child,
    profile: PathBuf,
    socket: Mutex<WebSocketStream<MaybeTlsStream<TcpStream>>>,
    next_id: std::sync::atomic::AtomicU64,
    /// The tab Firefox starts with, until the first `open_tab` takes it.
    start_tab: Option<String>,
    version: String,
}

impl Firefox {
    /// Starts `CONVOY_FIREFOX` headless, its BiDi server on a port it picks (so no port is
    /// guessed), and opens a session.
    pub(crate) async fn start() -> Firefox {
        let profile = std::env::temp_dir().join(format!(
            "convoy-e2e-firefox-{}-{}",
            std::process::id(),
            crate::harness::free_port()
        ));
        std::fs::create_dir_all(&profile).expect("a profile directory");
        let child = Command::new(env_path("CONVOY_FIREFOX"))
            .args(["--headless", "--no-remote", "--profile"])
            .arg(&profile)
            .args(["--remote-debugging-port", "0", "about:blank"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("firefox starts");
        // With port 0, Firefox writes where it listens into the profile.
        let announced = profile.join("WebDriverBiDiServer.json");
        let port = eventually(
            Duration::from_secs(30),
            "Firefox to announce its WebDriver BiDi port",
            || async {
                let text = std::fs::read_to_string(&announced).ok()?;
                serde_json::from_str::<Value>(&text).ok()?["ws_port"].as_u64()
            },
        )
        .await;
        let url = format!("ws://127.0.0.1:{port}/session");
        let (socket, _) = eventually(
            Duration::from_secs(20),
            "Firefox's BiDi websocket",
            || async { tokio_tungstenite::connect_async(url.as_str()).await.ok() },
        )
        .await;
        let mut firefox = Firefox {
            child,
            profile,
            socket: Mutex::new(socket),
            next_id: std::sync::atomic::AtomicU64::new(1),
            start_tab: None,
            version: String::new(),
        };
        let session = firefox
            .command("session.new", json!({ "capabilities": {} }))
            .await;
        let capabilities = &session["capabilities"];
        firefox.version = format!(
            "{} {}",
            capabilities["browserName"].as_str().unwrap_or("firefox"),
            capabilities["browserVersion"].as_str().unwrap_or("?")
        );
        let tree = firefox.command("browsingContext.getTree", json!({})).await;
        firefox.start_tab = tree["contexts"][0]["context"].as_str().map(str::to_owned);
        firefox
    }

    /// Sends one BiDi command and returns its result; panics on an error answer, naming it.
    async fn command(&self, method: &str, params: Value) -> Value {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut socket = self.socket.lock().await;
        let request = json!({ "id": id, "method": method, "params": params });
        socket
            .send(Message::text(request.to_string()))
            .await
            .expect("the BiDi socket takes a command");
        // No events are subscribed to: every message is an answer, and commands run one at a time.
        loop {
            let next = tokio::time::timeout(Duration::from_secs(60), socket.next())
                .await
                .unwrap_or_else(|_| panic!("Firefox did not answer {method} in 60 s"));
            let message = match next {
                Some(Ok(message)) => message,
                Some(Err(e)) => panic!("the BiDi socket failed during {method}: {e}"),
                None => panic!("Firefox closed the BiDi socket during {method}"),
            };
            let Message::Text(text) = message else {
                continue;
            };
            let answer: Value = serde_json::from_str(text.as_str()).expect("BiDi sends JSON");
            if answer["id"].as_u64() != Some(id) {
                continue;
            }
            assert_eq!(
                answer["type"], "success",
                "Firefox refused {method} {params}: {answer}"
            );
            return answer["result"].clone();
        }
    }

    /// Evaluates `expression` in `tab`; the remote value BiDi returns (`{type, value}`).
    async fn evaluate(&self, tab: &str, expression: &str) -> Value {
        let reply = self
            .command(
                "script.evaluate",
                json!({
                    "expression": expression,
                    "target": { "context": tab },
                    "awaitPromise": false,
                }),
            )
            .await;
        reply["result"].clone()
    }
}

impl Engine for Firefox {
    fn version(&self) -> &str {
        &self.version
    }

    async fn open_tab(&mut self, url: &str) -> String {
        let tab = match self.start_tab.take() {
            Some(tab) => tab,
            None => {
                let created = self
                    .command("browsingContext.create", json!({ "type": "tab" }))
                    .await;
                created["context"]
                    .as_str()
                    .expect("browsingContext.create answers a context")
                    .to_owned()
            }
        };
        self.command(
            "browsingContext.navigate",
            json!({ "context": tab, "url": crate::harness::with_full_diagnostics(url), "wait": "complete" }),
        )
        .await;
        tab
    }

    async fn diagnostics(&self, tab: &str) -> Option<Diagnostics> {
        let value = self.evaluate(tab, DIAGNOSTICS_JSON).await;
        serde_json::from_str(value["value"].as_str()?).ok()
    }

    async fn show(&self, tab: &str) {
        self.command("browsingContext.activate", json!({ "context": tab }))
            .await;
    }

    async fn visibility(&self, tab: &str) -> Option<String> {
        let value = self.evaluate(tab, "document.visibilityState").await;
        value["value"].as_str().map(str::to_owned)
    }

    async fn close_tab(&self, tab: &str) {
        self.command("browsingContext.close", json!({ "context": tab }))
            .await;
    }
}

impl Drop for Firefox {
    fn drop(&mut self) {
        terminate(&mut self.child);
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// WebKitGTK's MiniBrowser under `WebKitWebDriver`, on its own Xvfb display.
pub(crate) struct WebKit {
    client: Client,
    driver: Child,
    /// The X server; MiniBrowser exits with it, so dropping it ends the browser too.
    display: Child,
    /// The tab MiniBrowser starts with, until the first `open_tab` takes it.
    start_tab: Option<WindowHandle>,
    version: String,
}

impl WebKit {
    /// Starts Xvfb on a display it picks, `CONVOY_WEBKIT_WEBDRIVER` on 127.0.0.2 (a port there
    /// cannot be taken back by tests binding 127.0.0.1:0), and a MiniBrowser session.
    pub(crate) async fn start() -> WebKit {
        let mut display = Command::new(env_path("CONVOY_XVFB"))
            .args([
                "-displayfd",
                "1",
                "-screen",
                "0",
                "1280x800x24",
                "-nolisten",
                "tcp",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("Xvfb starts");
        let mut number = String::new();
        BufReader::new(display.stdout.take().expect("Xvfb's stdout"))
            .read_line(&mut number)
            .expect("Xvfb names its display");
        let number = number.trim().to_owned();
        assert!(!number.is_empty(), "Xvfb did not start a display");
        let port = std::net::TcpListener::bind("127.0.0.2:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port on 127.0.0.2");
        let driver = Command::new(env_path("CONVOY_WEBKIT_WEBDRIVER"))
            .args([format!("--port={port}"), "--host=127.0.0.2".to_owned()])
            .env("DISPLAY", format!(":{number}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("WebKitWebDriver starts");
        let capabilities: Capabilities = serde_json::from_value(json!({
            "webkitgtk:browserOptions": {
                "binary": env_path("CONVOY_MINIBROWSER"),
                "args": ["--automation"],
            },
        }))
        .expect("capabilities are an object");
        let client = webdriver_session(
            &format!("http://127.0.0.2:{port}"),
            capabilities,
            Duration::from_secs(30),
            "WebKitWebDriver to start a MiniBrowser session",
        )
        .await;
        let version = client
            .capabilities()
            .map(|c| {
                let field = |name: &str| c.get(name).and_then(Value::as_str).unwrap_or("?");
                format!("{} {}", field("browserName"), field("browserVersion"))
            })
            .unwrap_or_default();
        let start_tab = client.window().await.ok();
        WebKit {
            client,
            driver,
            display,
            start_tab,
            version,
        }
    }

    async fn switch_to(&self, tab: &str) -> Option<()> {
        let handle = WindowHandle::try_from(tab.to_owned()).ok()?;
        self.client.switch_to_window(handle).await.ok()
    }
}

impl Engine for WebKit {
    fn version(&self) -> &str {
        &self.version
    }

    async fn open_tab(&mut self, url: &str) -> String {
        let handle = match self.start_tab.take() {
            Some(handle) => handle,
            None => {
                // A window, not a tab: WebDriver cannot bring a WebKitGTK background tab to
                // the front, and a hidden page is handed nothing until it is shown.
                self.client
                    .new_window(false)
                    .await
                    .expect("a new window")
                    .handle
            }
        };
        self.client
            .switch_to_window(handle.clone())
            .await
            .expect("switch to the tab");
        self.client
            .goto(&crate::harness::with_full_diagnostics(url))
            .await
            .expect("the page loads");
        String::from(handle)
    }

    async fn diagnostics(&self, tab: &str) -> Option<Diagnostics> {
        self.switch_to(tab).await?;
        let value = self
            .client
            .execute(&format!("return {DIAGNOSTICS_JSON};"), vec![])
            .await
            .ok()?;
        serde_json::from_str(value.as_str()?).ok()
    }

    async fn show(&self, tab: &str) {
        // Each page has a window of its own, so every one is shown already.
        self.switch_to(tab).await;
    }

    async fn visibility(&self, tab: &str) -> Option<String> {
        self.switch_to(tab).await?;
        let value = self
            .client
            .execute("return document.visibilityState;", vec![])
            .await
            .ok()?;
        value.as_str().map(str::to_owned)
    }

    async fn close_tab(&self, tab: &str) {
        self.switch_to(tab).await.expect("switch to the tab");
        self.client.close_window().await.expect("close the tab");
    }
}

impl Drop for WebKit {
    fn drop(&mut self) {
        terminate(&mut self.driver);
        terminate(&mut self.display);
    }
}

/// Ends `child` with SIGTERM, so it cleans up after itself (Firefox its content processes, Xvfb
/// its socket), and kills it if it is still there after 5 s.
fn terminate(child: &mut Child) {
    let asked = Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .is_ok_and(|s| s.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while asked && std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
