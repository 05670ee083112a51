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
//!
//! Compression: the release build writes a gzip -9 `.gz` and a brotli `.br` sibling beside each
//! js, wasm, css and json file (Trunk.toml's post-build hook). A request whose `Accept-Encoding`
//! takes one gets it (brotli before gzip at equal weight) with `Content-Encoding`, the original's
//! content type and cache policy, and an ETag of its own; every such response says
//! `Vary: Accept-Encoding`. Requests with a `Range` header get the original (this server answers
//! ranges with the whole file, and a range must not count bytes of an encoding the client did
//! not ask for). A sibling older than its original (by a second or more), or outside the dist
//! directory, is ignored.

use crate::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::header::{
    ACCEPT_ENCODING, ALLOW, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG,
    IF_NONE_MATCH, RANGE, VARY,
};
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
        if let Some(response) = serve_file(dist, &file, &headers, head).await {
            return response;
        }
    }
    if looks_like_a_file(path) {
        return not_found();
    }
    let index = inside(dist, &dist.join("index.html")).await;
    if let Some(response) = match index {
        Some(index) => serve_file(dist, &index, &headers, head).await,
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

/// Fewest hex digits taken for trunk's content hash. Trunk writes a 64-bit hash without leading
/// zeros, so one file in 16 has 15 digits and one in 256 has 14; a hash shorter than 12 (one in
/// 65 536) is served `no-cache`, the safe side.
pub const MIN_HASH_DIGITS: usize = 12;

/// Whether a file name carries trunk's content hash: `-` then at least [`MIN_HASH_DIGITS`] hex
/// digits, ended by `.`, `_` or the end of the name.
pub fn is_hashed(file_name: &str) -> bool {
    file_name.match_indices('-').any(|(i, _)| {
        let rest = &file_name.as_bytes()[i + 1..];
        let hex = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        hex >= MIN_HASH_DIGITS && matches!(rest.get(hex), None | Some(b'.') | Some(b'_'))
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

/// The content codings of precompressed siblings, in the order this server prefers them, with
/// the suffix of the sibling's file name.
const ENCODINGS: [(&str, &str); 2] = [("br", ".br"), ("gzip", ".gz")];

/// Whether the build writes compressed siblings for this file name (js, wasm, css, and json: the
/// map's outlines).
pub fn is_precompressed(file_name: &str) -> bool {
    let ext = file_name
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    matches!(ext.as_str(), "js" | "mjs" | "wasm" | "css" | "json")
}

/// The weight (`q`, 0 to 1000) the request's `Accept-Encoding` gives `coding`: its own entry,
/// else `*`'s, else 0 (RFC 9110 §12.5.3). `x-gzip` counts as `gzip`.
pub fn accepted_weight(headers: &HeaderMap, coding: &str) -> u16 {
    let (mut own, mut any) = (None, None);
    for entry in headers
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = entry.split(';');
        let name = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
        let weight = parts
            .find_map(|p| {
                let p = p.trim();
                p.strip_prefix("q=").or_else(|| p.strip_prefix("Q="))
            })
            .map_or(Some(1000), parse_weight);
        let Some(weight) = weight else { continue };
        let name = if name == "x-gzip" {
            "gzip".to_owned()
        } else {
            name
        };
        if name == coding {
            own = Some(own.map_or(weight, |w: u16| w.max(weight)));
        } else if name == "*" {
            any = Some(weight);
        }
    }
    own.or(any).unwrap_or(0)
}

/// A qvalue (`0`, `0.5`, `1.000`) in thousandths; `None` when malformed.
fn parse_weight(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// The codings the request accepts, best first: the highest weight, brotli first at equal
/// weight. Empty: the original (identity is always acceptable here).
fn preferred_encodings(headers: &HeaderMap) -> Vec<(&'static str, &'static str)> {
    let mut codings: Vec<_> = ENCODINGS
        .iter()
        .map(|&(coding, suffix)| (accepted_weight(headers, coding), coding, suffix))
        .filter(|&(weight, _, _)| weight > 0)
        .collect();
    // Stable: equal weights keep ENCODINGS' order.
    codings.sort_by_key(|&(weight, _, _)| std::cmp::Reverse(weight));
    codings.into_iter().map(|(_, c, s)| (c, s)).collect()
}

/// The compressed sibling of `original` (already inside `dist`) for the first coding the request
/// takes that has one: open, a regular file inside `dist`, not older than the original (to the
/// second).
async fn sibling(
    dist: &Path,
    original: &Path,
    original_meta: &std::fs::Metadata,
    headers: &HeaderMap,
) -> Option<(&'static str, tokio::fs::File, std::fs::Metadata)> {
    if headers.contains_key(RANGE) {
        return None;
    }
    for (coding, suffix) in preferred_encodings(headers) {
        let mut name = original.file_name()?.to_os_string();
        name.push(suffix);
        let Some(path) = inside(dist, &original.with_file_name(name)).await else {
            continue;
        };
        let Ok(file) = tokio::fs::File::open(&path).await else {
            continue;
        };
        let Ok(meta) = file.metadata().await else {
            continue;
        };
        // To the second: brotli's CLI gives its output the input's time in whole seconds.
        let seconds = |m: &std::fs::Metadata| {
            m.modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
        };
        let fresh = matches!(
            (seconds(&meta), seconds(original_meta)),
            (Some(sibling), Some(original)) if sibling >= original
        );
        if meta.is_file() && fresh {
            return Some((coding, file, meta));
        }
    }
    None
}

/// Serves one regular file, or `None` when `path` is not one: its compressed sibling when the
/// request accepts one (see the module docs).
async fn serve_file(dist: &Path, path: &Path, headers: &HeaderMap, head: bool) -> Option<Response> {
    let file = tokio::fs::File::open(path).await.ok()?;
    let meta = file.metadata().await.ok()?;
    if !meta.is_file() {
        return None;
    }
    let name = path.file_name()?.to_string_lossy().into_owned();
    let varies = is_precompressed(&name);
    let (encoding, file, meta) = match varies {
        true => match sibling(dist, path, &meta, headers).await {
            Some((coding, file, meta)) => (Some(coding), file, meta),
            None => (None, file, meta),
        },
        false => (None, file, meta),
    };
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let etag = match encoding {
        Some(coding) => format!("\"{:x}-{:x}-{coding}\"", meta.len(), modified),
        None => format!("\"{:x}-{:x}\"", meta.len(), modified),
    };
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
        if let Some(coding) = encoding {
            response
                .headers_mut()
                .insert(CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        response
    };
    let headers = response.headers_mut();
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static(cache_control(&name)),
    );
    if varies {
        headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
    }
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
        // A hash with a leading zero nibble, as trunk writes it: 15 digits.
        assert!(is_hashed("convoy-a38bc7d971370ea.js"));
        assert!(is_hashed("convoy-a38bc7d971370ea_bg.wasm"));
        assert!(!is_hashed("convoy-a38bc7d9713.js"));
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
    fn accept_encoding_weights() {
        let with = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_str(value).unwrap());
            headers
        };
        let codings = |value: &str| {
            preferred_encodings(&with(value))
                .into_iter()
                .map(|(c, _)| c)
                .collect::<Vec<_>>()
        };
        assert_eq!(codings("gzip, deflate, br, zstd"), ["br", "gzip"]);
        assert_eq!(codings("gzip;q=1.0, br;q=0.5"), ["gzip", "br"]);
        assert_eq!(codings("br;q=0, gzip"), ["gzip"]);
        assert_eq!(codings("x-gzip"), ["gzip"]);
        assert_eq!(codings("*"), ["br", "gzip"]);
        assert_eq!(codings("*;q=0.5, br;q=0"), ["gzip"]);
        assert_eq!(codings("identity"), Vec::<&str>::new());
        assert_eq!(
            codings("br;q=2, gzip;q=0.1234, deflate"),
            Vec::<&str>::new()
        );
        assert!(preferred_encodings(&HeaderMap::new()).is_empty());
        assert_eq!(accepted_weight(&with("BR;Q=0.25"), "br"), 250);
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
