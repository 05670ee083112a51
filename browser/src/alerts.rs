//! Acknowledging an alert: `POST api/alerts/{alert_id}/ack` with the session cookie. The answer
//! is only a receipt: every tab, this one included, learns of the acknowledgement from the
//! `alert_acked` event on its feed, like every other operator's tabs.

use crate::api::{error_message, json_change};
use convoy_core::wire::EventId;
use gloo_net::http::Method;

/// Why an acknowledgement was not recorded, as the operator should read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckError {
    /// 409: someone acknowledged it first (the message names them).
    AlreadyAcked(String),
    /// 404: cleared or replaced meanwhile, or not this operator's truck.
    Gone,
    Failed(String),
}

impl std::fmt::Display for AckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AckError::AlreadyAcked(message) | AckError::Failed(message) => f.write_str(message),
            AckError::Gone => f.write_str("this alert is no longer active"),
        }
    }
}

impl std::error::Error for AckError {}

/// Acknowledges alert `alert_id` as the signed-in operator.
pub async fn ack(alert_id: EventId) -> Result<(), AckError> {
    let path = format!("api/alerts/{alert_id}/ack");
    let response = json_change(Method::POST, &path, None)
        .map_err(|_| AckError::Failed("the request could not be made".into()))?
        .send()
        .await
        .map_err(|_| AckError::Failed("the server is unreachable".into()))?;
    if response.ok() {
        return Ok(());
    }
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let message = error_message(&text).unwrap_or_else(|| format!("the server answered {status}"));
    Err(match status {
        409 => AckError::AlreadyAcked(message),
        404 => AckError::Gone,
        _ => AckError::Failed(message),
    })
}
