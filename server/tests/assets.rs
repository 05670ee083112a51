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

/// Not only HTML is a document with a policy of its own: an SVG opened directly runs its scripts,
/// and a worker takes its policy from its script's response.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_of_the_app_carries_the_policy() {
    let dist = dist();
    dist.write(
        "index.html",
        b"<!doctype html><script type=\"module\">boot();</script>",
    );
    dist.write("icon.svg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    dist.write(&format!("icon-{HASH}.svg"), b"<svg/>");
    let server = start(&dist).await;
    let page = server.get("/").await;
    let policy = header(&page, "content-security-policy");
    assert!(
        policy.contains("script-src 'self' 'wasm-unsafe-eval' 'sha256-"),
        "{policy}"
    );
    for path in [
        "/index.html".to_owned(),
        "/trucks/T-07".to_owned(),
        "/icon.svg".to_owned(),
        format!("/icon-{HASH}.svg"),
        "/sw.js".to_owned(),
        format!("/convoy-{HASH}.js"),
        format!("/convoy-{HASH}_bg.wasm"),
        format!("/styles-{HASH}.css"),
        "/manifest.webmanifest".to_owned(),
        "/missing.js".to_owned(),
    ] {
        let response = server.get(&path).await;
        assert_eq!(
            maybe(&response, "content-security-policy").as_deref(),
            Some(policy.as_str()),
            "{path}"
        );
    }
    let svg = server.get("/icon.svg").await;
    assert_eq!(header(&svg, "content-type"), "image/svg+xml");
    for path in ["/api/health", "/api/missing", "/api/fleet"] {
        let response = server.get(path).await;
        assert_eq!(maybe(&response, "content-security-policy"), None, "{path}");
    }
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

/// A dist with precompressed siblings as the release build writes them. The siblings' bytes are
/// markers (reqwest here decodes nothing), so a test sees which file answered.
fn compressed_dist() -> TempDir {
    let dir = dist();
    dir.write(&format!("convoy-{HASH}.js.br"), b"BR js");
    dir.write(&format!("convoy-{HASH}.js.gz"), b"GZIP js!");
    dir.write(&format!("convoy-{HASH}_bg.wasm.gz"), b"GZIP wasm");
    dir.write("sw.js.br", b"BR sw");
    dir.write("index.html.gz", b"GZIP index");
    dir.write("map/countries.json", b"{\"type\":\"FeatureCollection\"}");
    dir.write("map/countries.json.br", b"BR outlines");
    dir
}

async fn get_with(server: &TestServer, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut request = server.client.get(server.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// Whether any `Vary` header of the response names Accept-Encoding (the CORS layer adds its own).
fn varies_by_encoding(response: &reqwest::Response) -> bool {
    response
        .headers()
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(','))
        .any(|name| name.trim().eq_ignore_ascii_case("accept-encoding"))
}

fn maybe(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precompressed_siblings_by_accept_encoding() {
    let dist = compressed_dist();
    let server = start(&dist).await;
    let js = format!("/convoy-{HASH}.js");
    let immutable = "public, max-age=31536000, immutable";
    for (accept, encoding, body) in [
        (Some("gzip, deflate, br, zstd"), Some("br"), &b"BR js"[..]),
        (Some("br"), Some("br"), b"BR js"),
        (Some("gzip"), Some("gzip"), b"GZIP js!"),
        (Some("br;q=0, gzip"), Some("gzip"), b"GZIP js!"),
        (Some("gzip;q=1, br;q=0.5"), Some("gzip"), b"GZIP js!"),
        (Some("*"), Some("br"), b"BR js"),
        (Some("identity"), None, b"export default 1;"),
        (Some("gzip;q=0, br;q=0"), None, b"export default 1;"),
        (None, None, b"export default 1;"),
    ] {
        let headers: Vec<_> = accept.map(|a| ("accept-encoding", a)).into_iter().collect();
        let response = get_with(&server, &js, &headers).await;
        assert_eq!(response.status(), 200, "{accept:?}");
        assert_eq!(
            maybe(&response, "content-encoding").as_deref(),
            encoding,
            "{accept:?}"
        );
        assert_eq!(
            header(&response, "content-type"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(header(&response, "cache-control"), immutable);
        assert!(varies_by_encoding(&response), "{accept:?}");
        assert_eq!(header(&response, "content-length"), body.len().to_string());
        assert_eq!(&response.bytes().await.unwrap()[..], body, "{accept:?}");
    }

    // Only a gzip sibling: br is not invented; the content type stays the wasm one.
    let wasm = get_with(
        &server,
        &format!("/convoy-{HASH}_bg.wasm"),
        &[("accept-encoding", "br, gzip")],
    )
    .await;
    assert_eq!(header(&wasm, "content-encoding"), "gzip");
    assert_eq!(header(&wasm, "content-type"), "application/wasm");
    assert_eq!(&wasm.bytes().await.unwrap()[..], b"GZIP wasm");

    // No sibling: the original, still marked as varying.
    let css = get_with(
        &server,
        &format!("/styles-{HASH}.css"),
        &[("accept-encoding", "br, gzip")],
    )
    .await;
    assert_eq!(maybe(&css, "content-encoding"), None);
    assert!(varies_by_encoding(&css));
    assert_eq!(&css.bytes().await.unwrap()[..], b"body{}");

    // sw.js keeps its revalidate policy when compressed.
    let sw = get_with(&server, "/sw.js", &[("accept-encoding", "br")]).await;
    assert_eq!(header(&sw, "content-encoding"), "br");
    assert_eq!(header(&sw, "cache-control"), "no-cache");
    assert_eq!(
        header(&sw, "content-type"),
        "text/javascript; charset=utf-8"
    );

    // The map's outlines (json, in a directory) too, as json.
    let outlines = get_with(
        &server,
        "/map/countries.json",
        &[("accept-encoding", "gzip, deflate, br")],
    )
    .await;
    assert_eq!(header(&outlines, "content-encoding"), "br");
    assert_eq!(header(&outlines, "content-type"), "application/json");
    assert!(varies_by_encoding(&outlines));
    assert_eq!(&outlines.bytes().await.unwrap()[..], b"BR outlines");

    // index.html (and the SPA fallback) is never served from a sibling.
    for path in ["/", "/index.html", "/trucks/T-07"] {
        let page = get_with(&server, path, &[("accept-encoding", "gzip")]).await;
        assert_eq!(maybe(&page, "content-encoding"), None, "{path}");
        assert!(!varies_by_encoding(&page), "{path}");
        assert!(page.text().await.unwrap().contains("Convoy app"), "{path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_answers_to_head_ranges_and_revalidation() {
    let dist = compressed_dist();
    let server = start(&dist).await;
    let js = format!("/convoy-{HASH}.js");

    // HEAD: the headers GET would send (the sibling's length and coding), no body.
    let head = server
        .client
        .head(server.url(&js))
        .header("accept-encoding", "br")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(header(&head, "content-encoding"), "br");
    assert_eq!(header(&head, "content-length"), "5");
    assert!(varies_by_encoding(&head));
    assert!(head.bytes().await.unwrap().is_empty());

    // A range request gets the original, whole (this server does not do ranges).
    let ranged = get_with(
        &server,
        &js,
        &[("accept-encoding", "br, gzip"), ("range", "bytes=0-3")],
    )
    .await;
    assert_eq!(ranged.status(), 200);
    assert_eq!(maybe(&ranged, "content-encoding"), None);
    assert_eq!(&ranged.bytes().await.unwrap()[..], b"export default 1;");

    // Each representation has its own ETag: a br one revalidates br, not gzip or identity.
    let br = get_with(&server, &js, &[("accept-encoding", "br")]).await;
    let gzip = get_with(&server, &js, &[("accept-encoding", "gzip")]).await;
    let plain = server.get(&js).await;
    let br_etag = header(&br, "etag");
    assert_ne!(br_etag, header(&gzip, "etag"));
    assert_ne!(br_etag, header(&plain, "etag"));
    let again = get_with(
        &server,
        &js,
        &[("accept-encoding", "br"), ("if-none-match", &br_etag)],
    )
    .await;
    assert_eq!(again.status(), 304);
    assert!(varies_by_encoding(&again));
    assert_eq!(header(&again, "etag"), br_etag);
    let other = get_with(
        &server,
        &js,
        &[("accept-encoding", "gzip"), ("if-none-match", &br_etag)],
    )
    .await;
    assert_eq!(other.status(), 200);
    assert_eq!(header(&other, "content-encoding"), "gzip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_or_escaping_siblings_are_ignored() {
    let dist = compressed_dist();
    // A sibling older than its original (the original rebuilt, the sibling left behind).
    let br = dist.path().join(format!("convoy-{HASH}.js.br"));
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&br)
        .unwrap()
        .set_modified(old)
        .unwrap();
    // A sibling that is a symlink out of the dist directory.
    let outside = TempDir::new("outside");
    outside.write("secret.gz", b"SECRET");
    std::os::unix::fs::symlink(
        outside.path().join("secret.gz"),
        dist.path().join(format!("styles-{HASH}.css.gz")),
    )
    .unwrap();
    // A sibling stamped with its original's time in whole seconds, as brotli's CLI does: fresh.
    let wasm = dist.path().join(format!("convoy-{HASH}_bg.wasm"));
    let wasm_time = std::fs::metadata(&wasm).unwrap().modified().unwrap();
    let since = wasm_time.duration_since(std::time::UNIX_EPOCH).unwrap();
    let whole = std::time::UNIX_EPOCH + std::time::Duration::from_secs(since.as_secs());
    for (path, time) in [
        (wasm.clone(), wasm_time),
        (wasm.with_extension("wasm.gz"), whole),
    ] {
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(time)
            .unwrap();
    }
    let server = start(&dist).await;

    let js = get_with(
        &server,
        &format!("/convoy-{HASH}.js"),
        &[("accept-encoding", "br, gzip")],
    )
    .await;
    assert_eq!(header(&js, "content-encoding"), "gzip");
    let wasm = get_with(
        &server,
        &format!("/convoy-{HASH}_bg.wasm"),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(header(&wasm, "content-encoding"), "gzip");
    let css = get_with(
        &server,
        &format!("/styles-{HASH}.css"),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(maybe(&css, "content-encoding"), None);
    assert_eq!(&css.bytes().await.unwrap()[..], b"body{}");
}
