//! `GET api/fleet`, in a page or a worker alike, from the API's origin (`crate::api`) with the
//! session cookie.

use convoy_core::wire::FleetSnapshot;
use wasm_bindgen_futures::JsFuture;

/// The fleet snapshot, or why it could not be had (shown to the user while the hub retries).
pub async fn fetch_snapshot() -> Result<FleetSnapshot, String> {
    let init = crate::api::with_credentials();
    let response = crate::api::fetch(&crate::api::api_url("api/fleet"), &init)
        .await
        .map_err(|_| "the server is unreachable".to_owned())?;
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
