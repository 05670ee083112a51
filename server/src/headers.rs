//! The headers every response gets: CORS for the origins allowed to call the API (a CDN that
//! serves the app), a Content-Security-Policy on every file of the app, Referrer-Policy, HSTS
//! under TLS, and `no-store` on the API's JSON (an operator's fleet must not sit in a shared
//! cache).
//!
//! The policy allows scripts from `'self'` plus `'wasm-unsafe-eval'` and the hash of trunk's
//! inline bootstrap (read from the built `index.html`, so no `'unsafe-inline'`), styles from
//! `'self'` only (no inline style attributes), and no framing. Images come from `'self'` (the
//! map's outlines are the app's own files) plus the tile server a deployment names in
//! `<meta name="convoy-map-tiles">`, when it names one.

use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::Response;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::path::Path;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;

/// CORS with credentials for exactly these origins (never `*`); preflights answered.
pub fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_credentials(true)
        .allow_methods([Method::GET, Method::POST, Method::DELETE])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            CONTENT_TYPE,
            HeaderName::from_static("last-event-id"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

/// Whether `origin` is one `--allow-origin` can take: `scheme://host[:port]` as a browser
/// sends it in `Origin` (http or https, a lowercase host, a port from 1 to 65535), nothing else:
/// no path or trailing slash, no wildcard, no user, not `null`.
pub fn valid_origin(origin: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let (host, port) = match authority.rsplit_once(':') {
        // An IPv6 literal's colons sit inside its brackets.
        Some((host, port)) if !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let port_ok = |port: &str| {
        port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|n| n > 0)
    };
    matches!(scheme, "http" | "https")
        && !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.[]:".contains(c))
        && port.is_none_or(port_ok)
}

/// `value` on every response but an event stream. An `EventSource` makes no document and runs
/// no script from what it reads, so Referrer-Policy and `nosniff` mean nothing to it; and hyper
/// keeps a response's header map, grown to fit, for as long as its connection lives: past six
/// headers it doubles, a kilobyte more for every open stream.
fn except_on_streams(
    value: HeaderValue,
) -> impl Fn(&Response) -> Option<HeaderValue> + Clone + Send + Sync + 'static {
    move |response: &Response| {
        (!content_type_is(response, "text/event-stream")).then(|| value.clone())
    }
}

/// Referrer-Policy on every response but an event stream.
pub fn referrer_policy(
) -> SetResponseHeaderLayer<impl Fn(&Response) -> Option<HeaderValue> + Clone + Send + Sync> {
    SetResponseHeaderLayer::if_not_present(
        REFERRER_POLICY,
        except_on_streams(HeaderValue::from_static("strict-origin-when-cross-origin")),
    )
}

/// `X-Content-Type-Options: nosniff` on every response but an event stream.
pub fn nosniff(
) -> SetResponseHeaderLayer<impl Fn(&Response) -> Option<HeaderValue> + Clone + Send + Sync> {
    SetResponseHeaderLayer::if_not_present(
        X_CONTENT_TYPE_OPTIONS,
        except_on_streams(HeaderValue::from_static("nosniff")),
    )
}

/// HSTS when the server speaks TLS.
pub fn strict_transport(
    tls: bool,
) -> SetResponseHeaderLayer<impl Fn(&Response) -> Option<HeaderValue> + Clone> {
    SetResponseHeaderLayer::overriding(STRICT_TRANSPORT_SECURITY, move |_: &Response| {
        tls.then(|| HeaderValue::from_static("max-age=31536000"))
    })
}

fn content_type_is(response: &Response, prefix: &str) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(prefix))
}

/// `Cache-Control: no-store` on the API's JSON.
pub async fn api_no_store(mut response: Response) -> Response {
    if content_type_is(&response, "application/json") {
        response
            .headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The Content-Security-Policy for a document whose inline scripts hash to `script_hashes`, that
/// calls the API at `connect` and loads map tiles from `img`.
pub fn content_security_policy(
    script_hashes: &[String],
    connect: &[String],
    img: &[String],
) -> String {
    let hashes: String = script_hashes.iter().map(|h| format!(" '{h}'")).collect();
    let connect: String = connect.iter().map(|o| format!(" {o}")).collect();
    let img: String = img.iter().map(|o| format!(" {o}")).collect();
    format!(
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'{hashes}; style-src 'self'; \
         img-src 'self' data:{img}; connect-src 'self'{connect}; worker-src 'self'; \
         manifest-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; \
         form-action 'self'"
    )
}

/// `sha256-…` of every inline `<script>` in `html` (trunk's bootstrap), for the policy.
pub fn inline_script_hashes(html: &str) -> Vec<String> {
    let mut hashes = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find("<script") {
        let after = &rest[open..];
        let Some(tag_end) = after.find('>') else {
            break;
        };
        let tag = &after[..tag_end];
        let body_start = tag_end + 1;
        let Some(close) = after[body_start..].find("</script>") else {
            break;
        };
        if !tag.contains(" src=") {
            let body = &after[body_start..body_start + close];
            let digest = Sha256::digest(body.as_bytes());
            let encoded = base64::engine::general_purpose::STANDARD.encode(digest);
            hashes.push(format!("sha256-{encoded}"));
        }
        rest = &after[body_start + close..];
    }
    hashes
}

/// The policy for the documents of the app built in `dist`: its `index.html` names the inline
/// script, the API's origin when the app streams from another one (its `convoy-api` meta), and
/// the map's tile server when it names one (its `convoy-map-tiles` meta). An app not built yet
/// has none of them.
pub fn policy_for(dist: &Path) -> String {
    let html = std::fs::read_to_string(dist.join("index.html")).unwrap_or_default();
    let api: Vec<String> = api_origin(&html).into_iter().collect();
    let tiles: Vec<String> = tiles_source(&html).into_iter().collect();
    content_security_policy(&inline_script_hashes(&html), &api, &tiles)
}

/// [`policy_for`] a directory that holds a built app, for `convoy-server csp`: an error naming
/// the directory when it holds none (a policy without the bootstrap's hash would block the app).
pub fn build_policy(dist: &Path) -> Result<String, String> {
    let index = dist.join("index.html");
    let html = std::fs::read_to_string(&index).map_err(|e| {
        format!(
            "{} is not a built Convoy app ({}: {e}): build it with `cargo xtask dev` or \
             `trunk build --release` and give its dist directory",
            dist.display(),
            index.display()
        )
    })?;
    if inline_script_hashes(&html).is_empty() {
        return Err(format!(
            "{} has no inline bootstrap script: it is not trunk's build of Convoy, and a policy \
             for it would block the app",
            index.display()
        ));
    }
    Ok(policy_for(dist))
}

/// The origin in `<meta name="convoy-api" content="…">`, when it names a valid one.
pub fn api_origin(html: &str) -> Option<String> {
    let content = meta_content(html, "convoy-api")?.trim();
    let origin = content.trim_end_matches('/');
    valid_origin(origin).then(|| origin.to_owned())
}

/// The CSP source of the tile server in `<meta name="convoy-map-tiles" content="URL|attribution">`:
/// the URL template's `scheme://host[:port]`, a `{s}` subdomain (Leaflet's `a`, `b`, `c`) as `*`;
/// `None` when the meta is empty or its URL is not http(s) on a plain host.
pub fn tiles_source(html: &str) -> Option<String> {
    let content = meta_content(html, "convoy-map-tiles")?;
    let url = content.split('|').next()?.trim();
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let host = match authority.strip_prefix("{s}.") {
        Some(rest) => format!("*.{rest}"),
        None => authority.to_owned(),
    };
    let plain = host.strip_prefix("*.").unwrap_or(&host);
    (matches!(scheme, "http" | "https") && valid_origin(&format!("{scheme}://{plain}")))
        .then(|| format!("{scheme}://{host}"))
}

/// The `content` of `<meta name="{name}" …>`, when the page has that meta.
fn meta_content<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let at = html.find(&format!("name=\"{name}\""))?;
    let tag_start = html[..at].rfind('<')?;
    let tag_end = at + html[at..].find('>')?;
    let tag = &html[tag_start..tag_end];
    tag.split("content=\"").nth(1)?.split('"').next()
}

/// The policy on every file of the app, never the API's answers. Not only HTML takes its policy
/// from its own response: so does an SVG opened as a document and a worker's script (`sw.js`, the
/// shared worker's); on a stylesheet or a module the page imports it does nothing.
pub fn app_policy(policy: &str) -> SetResponseHeaderLayer<Option<HeaderValue>> {
    SetResponseHeaderLayer::overriding(CONTENT_SECURITY_POLICY, HeaderValue::from_str(policy).ok())
}

/// `X-Frame-Options: DENY` on HTML, for browsers that predate `frame-ancestors`.
pub fn frame_options() -> SetResponseHeaderLayer<impl Fn(&Response) -> Option<HeaderValue> + Clone>
{
    SetResponseHeaderLayer::overriding(
        HeaderName::from_static("x-frame-options"),
        |response: &Response| {
            content_type_is(response, "text/html").then(|| HeaderValue::from_static("DENY"))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_inline_scripts_only() {
        let html = "<script type=\"module\">init();</script><script src=\"/a.js\"></script>";
        let hashes = inline_script_hashes(html);
        assert_eq!(hashes.len(), 1);
        // printf 'init();' | openssl dgst -sha256 -binary | base64
        let expected = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(b"init();"));
        assert_eq!(hashes[0], format!("sha256-{expected}"));
        let policy = content_security_policy(&hashes, &["https://api.example.com".into()], &[]);
        assert!(policy.contains("'wasm-unsafe-eval'"));
        assert!(policy.contains("connect-src 'self' https://api.example.com;"));
        assert!(!policy.contains("unsafe-inline") && !policy.contains("'unsafe-eval'"));
    }

    #[test]
    fn the_api_origin_comes_from_the_convoy_api_meta() {
        let meta = |content: &str| format!("<meta name=\"convoy-api\" content=\"{content}\" />");
        assert_eq!(
            api_origin(&meta("https://api.example.com/")),
            Some("https://api.example.com".into())
        );
        assert_eq!(api_origin(&meta("")), None);
        assert_eq!(api_origin(&meta("javascript:alert(1)")), None);
        assert_eq!(api_origin("<html></html>"), None);
    }

    #[test]
    fn the_tile_server_comes_from_the_map_tiles_meta() {
        let meta =
            |content: &str| format!("<meta name=\"convoy-map-tiles\" content=\"{content}\" />");
        let osm = "https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png|&copy; OpenStreetMap";
        assert_eq!(
            tiles_source(&meta(osm)),
            Some("https://*.tile.openstreetmap.org".into())
        );
        assert_eq!(
            tiles_source(&meta("https://tiles.example.com:8443/{z}/{x}/{y}.png")),
            Some("https://tiles.example.com:8443".into())
        );
        assert_eq!(tiles_source(&meta("")), None);
        assert_eq!(tiles_source(&meta("javascript:alert(1)|x")), None);
        assert_eq!(tiles_source(&meta("https://{z}.example.com/{x}|x")), None);
        assert_eq!(tiles_source("<html></html>"), None);
        let policy =
            content_security_policy(&[], &[], &["https://*.tile.openstreetmap.org".into()]);
        assert!(policy.contains("img-src 'self' data: https://*.tile.openstreetmap.org;"));
    }

    #[test]
    fn origins_are_scheme_host_and_port_only() {
        assert!(valid_origin("https://app.example.com"));
        assert!(valid_origin("http://127.0.0.1:8081"));
        assert!(valid_origin("http://[::1]:8081"));
        for bad in [
            "*",
            "null",
            "app.example.com",
            "https://a.example.com/",
            "https://*.example.com",
            "https://user:pw@app.example.com",
            "https://App.example.com",
            "https://app.example.com:0",
            "https://app.example.com:99999",
            "https://app.example.com:",
            "ftp://x",
            "https://",
        ] {
            assert!(!valid_origin(bad), "{bad}");
        }
    }
}
