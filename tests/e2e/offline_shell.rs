//! The service worker's app shell: with the server gone, a reload of a visited page still starts
//! the app and says it is offline; a new build is offered ("New version — Reload") and taken
//! after that reload, and the old build's cache is deleted.

use crate::harness::{eventually, Browser, Server};
use crate::shared_stream::SERVER_ARGS;
use serde_json::{json, Value};
use std::time::Duration;

/// A copy of the build under test whose index.html and service-worker stamp differ: what the
/// next deployment looks like to a browser.
fn next_build() -> std::path::PathBuf {
    let from = Server::dist();
    let to = std::env::temp_dir().join(format!("convoy-e2e-next-build-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).expect("a temp dir");
    for entry in std::fs::read_dir(&from).expect("the dist dir") {
        let entry = entry.expect("a dist entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    let index = std::fs::read_to_string(to.join("index.html")).expect("index.html");
    let index = index.replace("</html>", "<!-- convoy e2e: next build -->\n</html>");
    std::fs::write(to.join("index.html"), index).expect("write index.html");
    let sw = std::fs::read_to_string(to.join("sw.js")).expect("sw.js");
    let stamped = sw
        .lines()
        .map(|line| {
            if line.starts_with("const BUILD = ") {
                "const BUILD = \"e2e-next-build\";".to_owned()
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(to.join("sw.js"), stamped).expect("write sw.js");
    // The release build's precompressed siblings still hold the old build, and the server
    // serves a sibling written within the same second as fresh: a deployment rebuilds them,
    // this copy drops them.
    for changed in ["index.html", "sw.js"] {
        for sibling in ["br", "gz"] {
            let _ = std::fs::remove_file(to.join(format!("{changed}.{sibling}")));
        }
    }
    to
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_shell_works_offline_and_a_new_build_is_offered() {
    let server = Server::start(&SERVER_ARGS).await;
    let port = server.port;
    let browser = Browser::start().await;
    let url = format!("{}/?transport=leader", server.base);
    let tab = browser.open_tab(&url).await;
    eventually(
        Duration::from_secs(30),
        "the service worker to control the page",
        || async {
            let controlled = browser
                .run(&tab, "return !!navigator.serviceWorker.controller;")
                .await;
            (controlled == json!(true)).then_some(())
        },
    )
    .await;

    drop(server);
    browser.client.refresh().await.expect("reload");
    eventually(
        Duration::from_secs(30),
        "the cached shell to start and say it is offline",
        || async {
            let text = browser
                .run(
                    &tab,
                    "const n = document.querySelector('.convoy-shell-notice');
                     return n && document.querySelector('nav') ? n.textContent : null;",
                )
                .await;
            text.as_str()
                .is_some_and(|t| t.contains("Offline"))
                .then_some(())
        },
    )
    .await;

    let next = next_build();
    let _server = Server::start_at(port, next.to_str().expect("utf-8 path"), &SERVER_ARGS).await;
    browser.client.refresh().await.expect("reload");
    eventually(
        Duration::from_secs(60),
        "the app to offer the new version",
        || async {
            let offered = browser
                .run(
                    &tab,
                    "const b = document.querySelector('.convoy-shell-notice button');
                     return b ? b.parentElement.textContent : null;",
                )
                .await;
            offered
                .as_str()
                .is_some_and(|t| t.contains("New version"))
                .then_some(())
        },
    )
    .await;
    browser
        .run(
            &tab,
            "document.querySelector('.convoy-shell-notice button').click(); return true;",
        )
        .await;
    eventually(
        Duration::from_secs(30),
        "the new build's cache alone, after the reload",
        || async {
            let keys = browser.run(&tab, "return caches.keys();").await;
            let names: Vec<String> = match keys {
                Value::Array(names) => names
                    .into_iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect(),
                _ => return None,
            };
            (names == ["convoy-shell-e2e-next-build"]).then_some(())
        },
    )
    .await;
    let html = browser
        .run(&tab, "return document.documentElement.outerHTML;")
        .await;
    assert!(html.as_str().is_some_and(|h| h.contains("next build")));
    browser.quit().await;
    let _ = std::fs::remove_dir_all(next);
}
