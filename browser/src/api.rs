//! Where the API is. By default the page's own origin (paths relative to the app's public URL,
//! as when convoy-server serves the app); a static build on a CDN names another origin in
//! `<meta name="convoy-api" content="https://api.example.com">`, editable at deploy time without
//! a rebuild. Workers learn it from their script URL (`?api=`), which the page sets, so every
//! tab and worker of a deployment streams from the same place. Requests carry credentials (the
//! session cookie) either way.

use gloo_net::http::{Method, Request, RequestBuilder, Response};
use std::cell::OnceCell;

/// The meta tag a deployment sets.
const META_NAME: &str = "convoy-api";

thread_local! {
    static BASE: OnceCell<String> = const { OnceCell::new() };
}

/// The API's origin, or "" for the app's own.
pub fn api_base() -> String {
    BASE.with(|base| base.get_or_init(read_base).clone())
}

fn read_base() -> String {
    let named = match web_sys::window().and_then(|w| w.document()) {
        Some(document) => document
            .query_selector(&format!("meta[name=\"{META_NAME}\"]"))
            .ok()
            .flatten()
            .and_then(|meta| meta.get_attribute("content")),
        // A worker: its script URL says (`?api=`), read by its JS entry into `convoyApi`.
        None => js_sys::Reflect::get(&js_sys::global(), &"convoyApi".into())
            .ok()
            .and_then(|v| v.as_string()),
    };
    named.map_or_else(String::new, |value| origin_of(&value))
}

/// `value` as an origin (`scheme://host[:port]`), or "" when it is empty or not http(s).
fn origin_of(value: &str) -> String {
    let value = value.trim();
    match web_sys::Url::new(value) {
        Ok(url) if matches!(url.protocol().as_str(), "http:" | "https:") => url.origin(),
        _ => String::new(),
    }
}

/// The URL of an API path such as `api/fleet`.
pub fn api_url(path: &str) -> String {
    let base = api_base();
    if base.is_empty() {
        path.to_owned()
    } else {
        format!("{base}/{}", path.trim_start_matches('/'))
    }
}

/// `name` resolved against the document's base URL (trunk's public URL), never a hard-coded
/// absolute path.
pub fn script_url(name: &str) -> Result<String, wasm_bindgen::JsValue> {
    let base = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.base_uri().ok().flatten())
        .ok_or_else(|| wasm_bindgen::JsValue::from_str("no document base URL"))?;
    Ok(web_sys::Url::new_with_base(name, &base)?.href())
}

/// `script` resolved against the document's base URL, carrying the API origin for the worker.
pub fn worker_script_url(script: &str) -> Result<String, wasm_bindgen::JsValue> {
    let url = script_url(script)?;
    let base = api_base();
    if base.is_empty() {
        return Ok(url);
    }
    let parsed = web_sys::Url::new(&url)?;
    parsed.search_params().set("api", &base);
    Ok(parsed.href())
}

/// A request to the API path `path` (`api/fleet`) that sends the session cookie, cross-origin
/// too. gloo-net calls the global `fetch`, which windows and workers both have.
pub fn request(method: Method, path: &str) -> RequestBuilder {
    RequestBuilder::new(&api_url(path))
        .method(method)
        .credentials(web_sys::RequestCredentials::Include)
}

/// A state change sent with the session cookie: `method` with an empty JSON body and its
/// content type, which the server requires of cookie-authenticated changes (a cross-site HTML
/// form cannot send it); a `DELETE` has neither. `authorization` goes in the `Authorization`
/// header when given. `Err` when the request cannot be made (a token that is no header value).
pub fn json_change(
    method: Method,
    path: &str,
    authorization: Option<&str>,
) -> Result<Request, gloo_net::Error> {
    let mut builder = request(method.clone(), path);
    if let Some(value) = authorization {
        builder = builder.header("Authorization", value);
    }
    if method == Method::DELETE {
        builder.build()
    } else {
        builder
            .header("Content-Type", "application/json")
            .body("{}")
    }
}

/// The message of the server's JSON error (`{"error": "…"}`), if `body` is one.
pub fn error_message(body: &str) -> Option<String> {
    // A struct, not `serde_json::Value`: Value's map and tree are kilobytes of wasm.
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        error: String,
    }
    serde_json::from_str::<ErrorBody>(body)
        .ok()
        .map(|body| body.error)
}

/// `GET` `path` (relative to the API) with the session cookie; `Err` says why no answer came,
/// worded for the operator (the browser's own reason goes to the console: "TypeError: Failed to
/// fetch" tells an operator nothing).
pub async fn get(path: &str) -> Result<Response, String> {
    request(Method::GET, path).send().await.map_err(|error| {
        web_sys::console::warn_1(&format!("GET {path}: {error}").into());
        "the server cannot be reached".to_owned()
    })
}

/// The answer's body as JSON; `Err` is the reason it could not be read or decoded.
pub async fn read_json<T: serde::de::DeserializeOwned>(response: &Response) -> Result<T, String> {
    let text = response
        .text()
        .await
        .map_err(|_| "the answer could not be read".to_owned())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}
