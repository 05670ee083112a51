//! `GET api/fleet`, in a page or a worker alike, from the API's origin (`crate::api`) with the
//! session cookie.

use convoy_core::wire::{FleetSnapshot, WIRE_VERSION};
use gloo_net::http::Method;

/// The fleet snapshot, or why it could not be had (shown to the user while the hub retries).
pub async fn fetch_snapshot() -> Result<FleetSnapshot, String> {
    let response = crate::api::request(Method::GET, &format!("api/fleet?v={WIRE_VERSION}"))
        .send()
        .await
        .map_err(|_| "the server is unreachable".to_owned())?;
    if response.status() == 400 {
        // The server speaks another wire version: its error says to reload the page.
        let why = response
            .text()
            .await
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["error"].as_str().map(str::to_owned));
        return Err(why.unwrap_or_else(|| "the server answered 400".to_owned()));
    }
    if !response.ok() {
        return Err(format!("the server answered {}", response.status()));
    }
    let text = response
        .text()
        .await
        .map_err(|_| "the fleet snapshot could not be read".to_owned())?;
    serde_json::from_str(&text).map_err(|e| format!("the fleet snapshot did not decode ({e})"))
}
