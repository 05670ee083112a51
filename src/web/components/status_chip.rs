//! The connection chip: connecting, live, reconnecting in N s, or the error; and this tab's role.

use convoy_browser::diagnostics::role_label;
use crate::web::transport::{Connection, FeedStatus};
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct StatusChipProps {
    pub status: Option<Rc<FeedStatus>>,
    pub now_ms: u64,
}

#[function_component(StatusChip)]
pub fn status_chip(StatusChipProps { status, now_ms }: &StatusChipProps) -> Html {
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
        "transport {} ({}), tab {}, term {}, last event {}",
        status.mode, status.mode_reason, status.tab_id, status.term, status.last_event_id
    );
    html! {
        <span class={classes!("chip", class)} role="status" {title} data-role={role_label(status.role, status.mode.is_worker())}>
            <span class="chip-dot" aria-hidden="true"></span>
            { label }
            <span class="chip-role">{ format!("{} · {}", role_label(status.role, status.mode.is_worker()), status.mode) }</span>
        </span>
    }
}
