//! The fleet page's live alert feed: every active alert, newest first, each linking to its
//! truck, acknowledged (by whom, when) or with a button to acknowledge it; then the alerts
//! cleared lately. Screen readers hear
//! new alerts and acknowledgements politely, without losing their place.

use crate::web::route::{Link, Route};
use convoy_core::view::format::format_clock;
use convoy_core::view::query::{AlertEntry, ClearedAlert};
use convoy_core::wire::EventId;
use std::collections::VecDeque;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct AlertFeedProps {
    /// Newest first, as `core::query::alert_feed` orders them.
    pub alerts: Rc<Vec<AlertEntry>>,
    /// Acknowledge the alert with this id (the page posts it; the feed's `alert_acked` event
    /// then marks it in every tab).
    #[prop_or_default]
    pub on_ack: Callback<EventId>,
    /// Why the last acknowledgement failed, shown until the next one.
    #[prop_or_default]
    pub error: Option<AttrValue>,
    /// Alerts cleared lately, newest first.
    #[prop_or_default]
    pub cleared: Rc<VecDeque<ClearedAlert>>,
}

#[function_component(AlertFeed)]
pub fn alert_feed(
    AlertFeedProps {
        alerts,
        on_ack,
        error,
        cleared,
    }: &AlertFeedProps,
) -> Html {
    let unacked = alerts.iter().filter(|e| e.alert.acked.is_none()).count();
    html! {
        <section class="alert-feed" aria-labelledby="alert-feed-title">
            <h2 id="alert-feed-title">{ "Alerts" }<span class="count">{ format!(" {}", alerts.len()) }</span>
                if unacked > 0 {
                    <span class="unacked">{ format!(" · {unacked} unacknowledged") }</span>
                }
            </h2>
            if let Some(error) = error {
                <p class="alert-error" role="alert">{ error.clone() }</p>
            }
            // The live region exists before the first alert, so that one is announced too. Times
            // are clock times, not ages: a ticking "3 s ago" would be re-read every second.
            <div class="alert-feed-body" aria-live="polite">
                if alerts.is_empty() {
                    <p class="empty">{ "No active alerts." }</p>
                } else {
                    <ol class="alert-list">
                        { for alerts.iter().map(|entry| alert_item(entry, on_ack)) }
                    </ol>
                }
            </div>
            if !cleared.is_empty() {
                <h3 class="cleared-title">{ "Recently cleared" }</h3>
                <ol class="alert-list cleared-list">
                    { for cleared.iter().map(cleared_item) }
                </ol>
            }
        </section>
    }
}

fn alert_item(entry: &AlertEntry, on_ack: &Callback<EventId>) -> Html {
    let alert = &entry.alert;
    let state = if alert.acked.is_some() {
        "acked"
    } else {
        "raised"
    };
    let id = alert.id;
    html! {
        <li key={alert.id.to_string()} class={classes!("alert-item", state)}
            data-truck={entry.truck.clone()} data-alert-id={alert.id.to_string()}>
            <Link to={Route::Truck { id: entry.truck.clone() }} classes="alert-truck">
                { &entry.truck }
            </Link>
            <span class="alert-tag">{ alert.kind.label() }</span>
            <time class="alert-time">{ format_clock(alert.raised_ms) }</time>
            <span class="alert-message">{ &alert.message }</span>
            if let Some(ack) = &alert.acked {
                <span class="alert-acked">
                    { format!("Acknowledged by {} at {}", ack.by, format_clock(ack.at_ms)) }
                </span>
            } else {
                <button type="button" class="ack"
                    aria-label={format!("Acknowledge {} on {}", alert.kind.label(), entry.truck)}
                    onclick={on_ack.reform(move |_: MouseEvent| id)}>{ "Acknowledge" }</button>
            }
        </li>
    }
}

fn cleared_item(cleared: &ClearedAlert) -> Html {
    let alert = &cleared.alert;
    html! {
        <li key={alert.id.to_string()} class="alert-item cleared"
            data-truck={cleared.truck.clone()} data-alert-id={alert.id.to_string()}>
            <Link to={Route::Truck { id: cleared.truck.clone() }} classes="alert-truck">
                { &cleared.truck }
            </Link>
            <span class="alert-tag">{ alert.kind.label() }</span>
            <time class="alert-time">{ format_clock(alert.raised_ms) }</time>
            <span class="alert-message">{ &alert.message }</span>
            <span class="alert-cleared">
                { format!("Cleared at {}", format_clock(cleared.cleared_ms)) }
                if let Some(ack) = &alert.acked {
                    { format!(", acknowledged by {}", ack.by) }
                }
            </span>
        </li>
    }
}
