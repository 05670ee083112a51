//! The built app (`--dist`): files with their content types and cache headers, and the SPA
//! fallback that answers every other GET outside `/api` with `index.html`, so client routes such
//! as `/trucks/T-07` load the app.
//!
//! What is never served: dotfiles and dot-directories, anything outside the dist directory once
//! symlinks are followed, and a path that cannot name a file (`..`, bad encoding): those are 404.
//! A missing file whose name has an extension (`/app-old.js`) is 404 too, not `index.html`: a
//! browser loading a stale script should get an error, not HTML. The "not built" page names no
//! filesystem path.
//!
//! Cache policy: trunk's hashed files (`name-<16+ hex>.ext`, also `name-<hex>_bg.wasm`) never
//! change, so they are cached for a year; `index.html`, `sw.js` and everything else revalidate
//! (`no-cache`) against a strong ETag.

use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{ALLOW, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;
use tokio_util::io::ReaderStream;

/// `Cache-Control` for files whose name carries a content hash.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `Cache-Control` for everything else: always revalidate.
pub const REVALIDATE: &str = "no-cache";

/// Serves a file from the dist directory, or the app's `index.html` for any other path.
pub async fn serve(
    State(app): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        // The API's own fallback answers these; this catches what nesting leaves out (`/api/`).
        return crate::api::ApiError::not_found("no such API route").into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = StatusCode::METHOD_NOT_ALLOWED.into_response();
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    let head = method == Method::HEAD;
    let dist = &app.settings.dist;
    let Some(file) = resolve(dist, path) else {
        return not_found();
    };
    if let Some(file) = inside(dist, &file).await {
        if let Some(response) = serve_file(&file, &headers, head).await {
            return response;
        }
    }
    if looks_like_a_file(path) {
        return not_found();
    }
    let index = inside(dist, &dist.join("index.html")).await;
    if let Some(response) = match index {
        Some(index) => serve_file(&index, &headers, head).await,
        None => None,
    } {
        return response;
    }
    not_built()
}

/// `path` with symlinks followed, when it exists and stays inside `dist` (itself followed).
async fn inside(dist: &Path, path: &Path) -> Option<PathBuf> {
    let dist = tokio::fs::canonicalize(dist).await.ok()?;
    let path = tokio::fs::canonicalize(path).await.ok()?;
    path.starts_with(&dist).then_some(path)
}

/// Whether the request's last segment has an extension (`app.js`, `a.b`): an asset, not a
/// client route.
pub fn looks_like_a_file(request_path: &str) -> bool {
    let last = request_path.rsplit('/').next().unwrap_or_default();
    last.rsplit_once('.')
        .is_some_and(|(stem, ext)| !stem.is_empty() && !ext.is_empty())
}

fn not_found() -> Response {
    let mut response = (StatusCode::NOT_FOUND, "not found\n").into_response();
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    response
}

/// Maps a request path onto a file under `dist`; `None` when it cannot name one (a `..` or `.`
/// segment, a dotfile or dot-directory, a backslash, a NUL, bad percent-encoding). `/` names
/// `index.html`. Symlinks are checked when the file is opened.
pub fn resolve(dist: &Path, request_path: &str) -> Option<PathBuf> {
    let decoded = percent_decode(request_path)?;
    let mut path = dist.to_path_buf();
    let mut any = false;
    for segment in decoded.split('/').filter(|s| !s.is_empty()) {
        if segment.starts_with('.') || segment.contains(['\\', '\0', ':']) {
            return None;
        }
        path.push(segment);
        any = true;
    }
    if !any {
        path.push("index.html");
    }
    Some(path)
}

fn percent_decode(input: &str) -> Option<String> {
    let bytes = input.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether a file name carries trunk's content hash: `-` then at least 16 hex digits, ended by
/// `.`, `_` or the end of the name.
pub fn is_hashed(file_name: &str) -> bool {
    file_name.match_indices('-').any(|(i, _)| {
        let rest = &file_name.as_bytes()[i + 1..];
        let hex = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        hex >= 16 && matches!(rest.get(hex), None | Some(b'.') | Some(b'_'))
    })
}

/// The content type for a file name, by extension.
pub fn content_type(file_name: &str) -> &'static str {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn cache_control(file_name: &str) -> &'static str {
    if file_name != "index.html" && file_name != "sw.js" && is_hashed(file_name) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// Serves one regular file, or `None` when `path` is not one.
async fn serve_file(path: &Path, headers: &HeaderMap, head: bool) -> Option<Response> {
    let file = tokio::fs::File::open(path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    if !meta.is_file() {
        return None;
    }
    let name = path.file_name()?.to_string_lossy().into_owned();
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = format!("\"{:x}-{:x}\"", meta.len(), modified);
    let mut response = if etag_matches(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let body = if head {
            Body::empty()
        } else {
            Body::from_stream(ReaderStream::new(file))
        };
        let mut response = Response::new(body);
        response
            .headers_mut()
            .insert(CONTENT_LENGTH, HeaderValue::from(meta.len()));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type(&name)));
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(cache_control(&name)),
    );
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(ETAG, value);
    }
    Some(response)
}

fn etag_matches(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| {
            let tag = tag.trim();
            tag == "*" || tag.trim_start_matches("W/") == etag
        })
}

/// What `/` shows before the app is built. It names no filesystem path: the page is public.
fn not_built() -> Response {
    let page = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Convoy</title></head>\n\
         <body><h1>Convoy</h1>\n<p>The app is not built: there is no <code>index.html</code> in \
         the server's <code>--dist</code> directory.</p>\n<p>Build it with <code>cargo xtask dev</code>, then reload \
         this page. The API is up under <code>/api</code>.</p></body></html>\n";
    let mut response = Response::new(Body::from(page));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names() {
        assert!(is_hashed("convoy-9f86d081884c7d65.js"));
        assert!(is_hashed("convoy-9f86d081884c7d65_bg.wasm"));
        assert!(is_hashed("style-0123456789abcdef0123.css"));
        assert!(!is_hashed("convoy-9f86d08.js"));
        assert!(!is_hashed("index.html"));
        assert!(!is_hashed("convoy-9f86d081884c7d65x.js"));
        assert!(!is_hashed("manifest.webmanifest"));
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type("a_bg.wasm"), "application/wasm");
        assert_eq!(content_type("a.JS"), "text/javascript; charset=utf-8");
        assert_eq!(
            content_type("manifest.webmanifest"),
            "application/manifest+json"
        );
        assert_eq!(content_type("noext"), "application/octet-stream");
    }

    #[test]
    fn resolve_stays_inside_dist() {
        let dist = Path::new("/srv/dist");
        assert_eq!(resolve(dist, "/"), Some(dist.join("index.html")));
        assert_eq!(resolve(dist, "/a/b.js"), Some(dist.join("a").join("b.js")));
        assert_eq!(resolve(dist, "/a%20b.js"), Some(dist.join("a b.js")));
        assert_eq!(resolve(dist, "/../etc/passwd"), None);
        assert_eq!(resolve(dist, "/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(dist, "/a%2F..%2F..%2Fx"), None);
        assert_eq!(resolve(dist, "/a%5c..%5cx"), None);
        assert_eq!(resolve(dist, "/bad%zz"), None);
        assert_eq!(resolve(dist, "/bad%ff"), None);
        assert_eq!(resolve(dist, "/.env"), None);
        assert_eq!(resolve(dist, "/.git/config"), None);
        assert_eq!(resolve(dist, "/a/%2Essh/id"), None);
    }

    #[test]
    fn asset_looking_paths() {
        for path in [
            "/app.js",
            "/a/b_bg.wasm",
            "/s.css",
            "/x.b",
            "/trucks/T-07.json",
        ] {
            assert!(looks_like_a_file(path), "{path}");
        }
        for path in ["/", "/trucks/T-07", "/settings/", "/.env", "/a.", "/board"] {
            assert!(!looks_like_a_file(path), "{path}");
        }
    }
}
