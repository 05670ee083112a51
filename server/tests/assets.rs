//! The built app: content types, cache headers, the SPA fallback and the "not built" page.

mod common;

use common::{config, TempDir, TestServer};
use convoy_server::Config;

const HASH: &str = "9f86d081884c7d65";

fn dist() -> TempDir {
    let dir = TempDir::new("dist");
    dir.write("index.html", b"<!doctype html><title>Convoy app</title>");
    dir.write(&format!("convoy-{HASH}_bg.wasm"), b"\0asm\x01\0\0\0");
    dir.write(&format!("convoy-{HASH}.js"), b"export default 1;");
    dir.write(&format!("styles-{HASH}.css"), b"body{}");
    dir.write("sw.js", b"self.addEventListener('fetch', () => {});");
    dir.write("manifest.webmanifest", b"{}");
    dir.write("snippets/x/inline0.js", b"export const a = 1;");
    dir
}

async fn start(dist: &TempDir) -> TestServer {
    TestServer::start(Config {
        dist: dist.path().to_path_buf(),
        ..config()
    })
    .await
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers()[name].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_carry_their_content_type_and_cache_policy() {
    let dist = dist();
    let server = start(&dist).await;
    let immutable = "public, max-age=31536000, immutable";
    for (path, content_type, cache) in [
        (
            format!("/convoy-{HASH}_bg.wasm"),
            "application/wasm",
            immutable,
        ),
        (
            format!("/convoy-{HASH}.js"),
            "text/javascript; charset=utf-8",
            immutable,
        ),
        (
            format!("/styles-{HASH}.css"),
            "text/css; charset=utf-8",
            immutable,
        ),
        (
            "/sw.js".to_owned(),
            "text/javascript; charset=utf-8",
            "no-cache",
        ),
        (
            "/manifest.webmanifest".to_owned(),
            "application/manifest+json",
            "no-cache",
        ),
        (
            "/snippets/x/inline0.js".to_owned(),
            "text/javascript; charset=utf-8",
            "no-cache",
        ),
        ("/".to_owned(), "text/html; charset=utf-8", "no-cache"),
        (
            "/index.html".to_owned(),
            "text/html; charset=utf-8",
            "no-cache",
        ),
    ] {
        let response = server.get(&path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "content-type"), content_type, "{path}");
        assert_eq!(header(&response, "cache-control"), cache, "{path}");
        assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    }
    let wasm = server.get(&format!("/convoy-{HASH}_bg.wasm")).await;
    assert_eq!(&wasm.bytes().await.unwrap()[..], b"\0asm\x01\0\0\0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_routes_get_the_app_and_missing_assets_do_not() {
    let dist = dist();
    let server = start(&dist).await;
    for path in [
        "/trucks/T-07",
        "/trucks/T-07?tab=alerts",
        "/settings/",
        "/snippets",
        "/../../etc/passwd",
    ] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8",
            "{path}"
        );
        assert_eq!(header(&response, "cache-control"), "no-cache", "{path}");
        let body = response.text().await.unwrap();
        assert!(body.contains("Convoy app"), "{path}: {body}");
    }
    // Not for a missing file with an extension: a stale script gets 404, not HTML.
    for path in ["/missing.js", &format!("/nope-{HASH}.js"), "/gone_bg.wasm"] {
        assert_eq!(server.get(path).await.status(), 404, "{path}");
    }
    // Not for the API, and not for other methods.
    assert_eq!(server.get("/api/missing").await.status(), 404);
    let post = server
        .client
        .post(server.url("/trucks/T-07"))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etags_let_the_browser_revalidate() {
    let dist = dist();
    let server = start(&dist).await;
    let first = server.get("/sw.js").await;
    let etag = header(&first, "etag");
    let again = server
        .client
        .get(server.url("/sw.js"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_built_app_the_fallback_says_how_to_build_it() {
    let empty = TempDir::new("empty-dist");
    let server = start(&empty).await;
    for path in ["/", "/trucks/T-07"] {
        let response = server.get(path).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            header(&response, "content-type"),
            "text/html; charset=utf-8"
        );
        let body = response.text().await.unwrap();
        assert!(body.contains("cargo xtask dev"), "{body}");
    }
    // The API works all the same.
    assert_eq!(server.snapshot().await.trucks.len(), 10);
}
