//! Where the API is. By default the page's own origin (paths relative to the app's public URL,
//! as when convoy-server serves the app); a static build on a CDN names another origin in
//! `<meta name="convoy-api" content="https://api.example.com">`, editable at deploy time without
//! a rebuild. Workers learn it from their script URL (`?api=`), which the page sets, so every
//! tab and worker of a deployment streams from the same place. Requests carry credentials (the
//! session cookie) either way.

use std::cell::OnceCell;
use wasm_bindgen::JsCast;

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

/// A `fetch` init that sends the session cookie, cross-origin too.
pub fn with_credentials() -> web_sys::RequestInit {
    let init = web_sys::RequestInit::new();
    init.set_credentials(web_sys::RequestCredentials::Include);
    init
}

/// A state change sent with the session cookie: `method` with an empty JSON body and its
/// content type, which the server requires of cookie-authenticated changes (a cross-site HTML
/// form cannot send it). `authorization` goes in the `Authorization` header when given.
pub fn json_change(
    method: &str,
    authorization: Option<&str>,
) -> Result<web_sys::RequestInit, wasm_bindgen::JsValue> {
    let init = with_credentials();
    init.set_method(method);
    let headers = web_sys::Headers::new()?;
    if let Some(value) = authorization {
        headers.set("Authorization", value)?;
    }
    if method != "DELETE" {
        headers.set("Content-Type", "application/json")?;
        init.set_body(&wasm_bindgen::JsValue::from_str("{}"));
    }
    init.set_headers(&headers);
    Ok(init)
}

/// The global `fetch` of `url` with `init`, which windows and workers both have.
pub async fn fetch(
    url: &str,
    init: &web_sys::RequestInit,
) -> Result<web_sys::Response, wasm_bindgen::JsValue> {
    use wasm_bindgen::JsCast;
    let global = js_sys::global();
    let fetch: js_sys::Function = js_sys::Reflect::get(&global, &"fetch".into())?.dyn_into()?;
    let promise: js_sys::Promise = fetch.call2(&global, &url.into(), init)?.dyn_into()?;
    wasm_bindgen_futures::JsFuture::from(promise)
        .await?
        .dyn_into()
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
pub async fn get(path: &str) -> Result<web_sys::Response, String> {
    fetch(&api_url(path), &with_credentials())
        .await
        .map_err(|error| {
            let reason = match error.dyn_ref::<js_sys::Error>() {
                Some(error) => format!("{}: {}", error.name(), error.message()),
                None => error.as_string().unwrap_or_default(),
            };
            web_sys::console::warn_1(&format!("GET {path}: {reason}").into());
            "the server cannot be reached".to_owned()
        })
}

/// The answer's body as JSON; `Err` is the reason it could not be read or decoded.
pub async fn read_json<T: serde::de::DeserializeOwned>(
    response: &web_sys::Response,
) -> Result<T, String> {
    let text = match response.text() {
        Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise).await.ok(),
        Err(_) => None,
    };
    let text = text
        .and_then(|text| text.as_string())
        .ok_or_else(|| "the answer could not be read".to_owned())?;
    serde_json::from_str(&text).map_err(|e| e.to_string())
}
