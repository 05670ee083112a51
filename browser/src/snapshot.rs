//! `GET api/fleet`, in a page or a worker alike, from the API's origin (`crate::api`) with the
//! session cookie.

use convoy_core::wire::{FleetSnapshot, WIRE_VERSION};
use wasm_bindgen_futures::JsFuture;

/// The fleet snapshot, or why it could not be had (shown to the user while the hub retries).
pub async fn fetch_snapshot() -> Result<FleetSnapshot, String> {
    let init = crate::api::with_credentials();
    let url = crate::api::api_url(&format!("api/fleet?v={WIRE_VERSION}"));
    let response = crate::api::fetch(&url, &init)
        .await
        .map_err(|_| "the server is unreachable".to_owned())?;
    if response.status() == 400 {
        // The server speaks another wire version: its error says to reload the page.
        let why = match response.text() {
            Ok(text) => JsFuture::from(text).await.ok().and_then(|t| t.as_string()),
            Err(_) => None,
        };
        let why = why
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["error"].as_str().map(str::to_owned));
        return Err(why.unwrap_or_else(|| "the server answered 400".to_owned()));
    }
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    let text = response
        .text()
        .map_err(|_| "the fleet snapshot could not be read".to_owned())?;
    let text = JsFuture::from(text)
        .await
        .map_err(|_| "the fleet snapshot could not be read".to_owned())?;
    serde_json::from_str(&text.as_string().unwrap_or_default())
        .map_err(|e| format!("the fleet snapshot did not decode ({e})"))
}
