//! The connection chip, in an operator's words: "Live", "Live, shared with 3 tabs",
//! "Reconnecting in 4 s", "Offline: showing 14:02", or what went wrong as a sentence. The
//! technical detail (role, transport, why, the raw reason) is its title and on /diagnostics;
//! what `auto` skipped, and for a chosen transport that failed, the offer to let Convoy choose.

use crate::web::hooks::OfflineSince;
use crate::web::transport::{Connection, FeedStatus};
use convoy_browser::diagnostics::role_label;
use convoy_core::view::format::format_clock;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct StatusChipProps {
    pub status: Option<Rc<FeedStatus>>,
    pub now_ms: u64,
    /// Since when the feed has not been live (what the page shows dates from then).
    #[prop_or_default]
    pub offline_since: OfflineSince,
    /// "Use automatic": forget the chosen transport and reload.
    pub on_use_automatic: Callback<()>,
}

/// A failure's reason (as the hub words it for logs) as a sentence for the operator.
pub fn operator_sentence(reason: &str) -> String {
    let status = reason
        .strip_prefix("the server answered ")
        .and_then(|s| s.trim().parse::<u16>().ok());
    match status {
        Some(401) => "Your session has ended: sign in again.".to_owned(),
        Some(403) => "This sign-in may not see this fleet: sign in again.".to_owned(),
        Some(429) => "Too many of your tabs are connected: close some; retrying.".to_owned(),
        Some(503) => "The server is busy; retrying.".to_owned(),
        Some(code) => format!("The server has a problem (HTTP {code}); retrying."),
        None if reason.contains("unreachable") => {
            "The server cannot be reached; retrying.".to_owned()
        }
        None if reason.contains("did not decode") || reason.contains("could not be read") => {
            "The server sent data this app cannot read; retrying.".to_owned()
        }
        None => format!("The connection failed ({reason}); retrying."),
    }
}

#[function_component(StatusChip)]
pub fn status_chip(
    StatusChipProps {
        status,
        now_ms,
        offline_since,
        on_use_automatic,
    }: &StatusChipProps,
) -> Html {
    let Some(status) = status else {
        return html! { <span class="chip chip-connecting" role="status">{ "Connecting…" }</span> };
    };
    let retry_in = |at_ms: u64| format!("{} s", at_ms.saturating_sub(*now_ms).div_ceil(1000));
    // Down long enough to matter, with a fleet on screen: say how old it is.
    let showing = offline_since
        .stale_at(*now_ms)
        .then(|| offline_since.0.map(format_clock))
        .flatten();
    let failed_choice = status.explicit && matches!(status.connection, Connection::Error { .. });
    let (class, label, detail) = match (&status.connection, &showing) {
        (Connection::Live, _) => {
            let label = match status.sharing_tabs {
                Some(1) => "Live, shared with 1 tab".to_owned(),
                Some(n) if n > 1 => format!("Live, shared with {n} tabs"),
                _ => "Live".to_owned(),
            };
            ("chip-live", label, None)
        }
        (Connection::Error { reason }, _) if failed_choice => (
            "chip-error",
            format!("The chosen transport failed here ({reason})"),
            Some(reason.clone()),
        ),
        (Connection::Reconnecting { at_ms }, Some(clock)) => (
            "chip-offline",
            format!("Offline: showing {clock}"),
            Some(format!("retrying in {}", retry_in(*at_ms))),
        ),
        (Connection::Error { reason }, Some(clock)) => (
            "chip-offline",
            format!("Offline: showing {clock}"),
            Some(operator_sentence(reason)),
        ),
        (Connection::Connecting, Some(clock)) => (
            "chip-offline",
            format!("Offline: showing {clock}"),
            Some("reconnecting".to_owned()),
        ),
        (Connection::Reconnecting { at_ms }, None) => (
            "chip-reconnecting",
            format!("Reconnecting in {}", retry_in(*at_ms)),
            None,
        ),
        (Connection::Error { reason }, None) => ("chip-error", operator_sentence(reason), None),
        (Connection::Connecting, None) => ("chip-connecting", "Connecting…".to_owned(), None),
    };
    let role = role_label(status.role, status.mode.is_worker());
    let mut title = format!(
        "transport {} ({}); this tab: {role}, tab {}, term {}",
        status.mode, status.mode_reason, status.tab_id, status.term
    );
    title.push_str(&format!("; hub {}", status.hub.describe()));
    if let Connection::Error { reason } = &status.connection {
        title.push_str(&format!("; {reason}"));
    }
    let use_automatic = on_use_automatic.reform(|_: MouseEvent| ());
    html! {
        <span class={classes!("chip", class)} role="status" {title}
            data-role={role} data-transport={status.mode.key()} data-reason={status.mode_reason.clone()}
            data-hub={status.hub.key()} data-hub-reason={status.hub.why().map(str::to_owned)}>
            <span class="chip-dot" aria-hidden="true"></span>
            <span class="chip-label">{ label }</span>
            if let Some(detail) = detail.filter(|_| !failed_choice) {
                <span class="chip-detail">{ detail }</span>
            }
            if let Some(skipped) = &status.skipped {
                <span class="chip-skipped">{ skipped.clone() }</span>
            }
            // Like a skipped transport: the hub runs, on the main thread, and the chip says why.
            if let Some(why) = status.hub.why() {
                <span class="chip-skipped chip-hub">{ why.to_owned() }</span>
            }
            if failed_choice {
                <button type="button" class="chip-action" onclick={use_automatic}>{ "Use automatic" }</button>
            }
        </span>
    }
}
