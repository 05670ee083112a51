//! The app as a static site on one origin (a CDN), the API on another: the built `dist/` with
//! its `convoy-api` meta edited at deploy time, no rebuild. In every transport twelve tabs hold
//! one stream at the API, none at the static host, and every tab is live with nothing lost or
//! repeated; the API answers CORS with credentials for that origin only.

use crate::harness::{free_port, Browser, Server};
use crate::shared_stream::{all_past, one_stream, open_tabs, SERVER_ARGS, TABS};

/// A copy of the build whose `convoy-api` meta names `api`: what a deploy to a CDN does.
pub(crate) fn deployed_for(api: &str) -> std::path::PathBuf {
    let to = std::env::temp_dir().join(format!(
        "convoy-e2e-cdn-{}-{}",
        std::process::id(),
        free_port()
    ));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).expect("a temp dir");
    for entry in std::fs::read_dir(Server::dist()).expect("the dist dir") {
        let entry = entry.expect("a dist entry");
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    let index = std::fs::read_to_string(to.join("index.html")).expect("index.html");
    let edited = index.replace(
        "<meta name=\"convoy-api\" content=\"\" />",
        &format!("<meta name=\"convoy-api\" content=\"{api}\" />"),
    );
    assert_ne!(edited, index, "the build has the convoy-api meta");
    std::fs::write(to.join("index.html"), edited).expect("write index.html");
    to
}

async fn split_origin_in(transport: &str) {
    let static_port = free_port();
    let static_origin = format!("http://127.0.0.1:{static_port}");
    let mut api_args = SERVER_ARGS.to_vec();
    api_args.extend(["--allow-origin", static_origin.as_str()]);
    let api = Server::start(&api_args).await;
    let dist = deployed_for(&api.base);
    let cdn = Server::start_at(
        static_port,
        dist.to_str().expect("a path"),
        &["--trucks", "0"],
    )
    .await;
    let browser = Browser::start().await;
    let url = format!("{static_origin}/?transport={transport}");
    let tabs = open_tabs(&browser, &url, TABS).await;
    let first = all_past(&browser, &tabs, 0).await;
    one_stream(&api).await;
    let latest = api.stats().await.latest_event_id;
    let after = all_past(&browser, &tabs, latest + 10).await;
    for (i, d) in after.iter().enumerate() {
        assert_eq!(d.transport, transport, "tab {i}");
        if transport == "leader" {
            // The hub's worker, served by the static host, streams from the API's origin.
            assert_eq!(d.hub, "worker", "tab {i}");
        }
        d.assert_contiguous(&format!("{transport}, split origin, tab {i}"));
    }
    assert_eq!(first.len(), TABS);
    assert_eq!(
        cdn.stats().await.opened_total,
        0,
        "the static host serves files only"
    );
    let origin = browser.run(&tabs[0], "return location.origin;").await;
    assert_eq!(origin.as_str(), Some(static_origin.as_str()));
    browser.quit().await;
    let _ = std::fs::remove_dir_all(&dist);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_origin_leader_election() {
    split_origin_in("leader").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_origin_shared_worker() {
    split_origin_in("shared-worker").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_origin_service_worker() {
    split_origin_in("service-worker").await;
}
