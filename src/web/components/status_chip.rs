//! The connection chip: connecting, live, reconnecting in N s, or the error; this tab's role and
//! transport, what `auto` skipped and why, and for a chosen transport that failed, the offer to
//! let Convoy choose.

use crate::web::transport::{Connection, FeedStatus};
use convoy_browser::diagnostics::role_label;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct StatusChipProps {
    pub status: Option<Rc<FeedStatus>>,
    pub now_ms: u64,
    /// "Use automatic": forget the chosen transport and reload.
    pub on_use_automatic: Callback<()>,
}

#[function_component(StatusChip)]
pub fn status_chip(
    StatusChipProps {
        status,
        now_ms,
        on_use_automatic,
    }: &StatusChipProps,
) -> Html {
    let Some(status) = status else {
        return html! { <span class="chip chip-connecting" role="status">{ "Connecting…" }</span> };
    };
    let (class, label) = match &status.connection {
        Connection::Connecting => ("chip-connecting", "Connecting…".to_owned()),
        Connection::Live => ("chip-live", "Live".to_owned()),
        Connection::Reconnecting { at_ms } => {
            let seconds = at_ms.saturating_sub(*now_ms).div_ceil(1000);
            ("chip-reconnecting", format!("Reconnecting in {seconds} s"))
        }
        Connection::Error { reason } => ("chip-error", format!("Error: {reason}")),
    };
    let title = format!(
        "transport {} ({}), tab {}, term {}",
        status.mode, status.mode_reason, status.tab_id, status.term
    );
    let failed_choice = status.explicit && matches!(status.connection, Connection::Error { .. });
    let use_automatic = on_use_automatic.reform(|_: MouseEvent| ());
    html! {
        <span class={classes!("chip", class)} role="status" {title}
            data-role={role_label(status.role, status.mode.is_worker())}
            data-transport={status.mode.key()} data-reason={status.mode_reason.clone()}>
            <span class="chip-dot" aria-hidden="true"></span>
            { label }
            <span class="chip-role">{ format!("{} · {}", role_label(status.role, status.mode.is_worker()), status.mode) }</span>
            if let Some(skipped) = &status.skipped {
                <span class="chip-skipped">{ skipped.clone() }</span>
            }
            if failed_choice {
                <button type="button" class="chip-action" onclick={use_automatic}>{ "Use automatic" }</button>
            }
        </span>
    }
}
