//! The fleet page's live alert feed: every active alert, newest first, each linking to its
//! truck. Screen readers hear new alerts politely, without losing their place.

use crate::web::route::Route;
use convoy_core::view::format::format_clock;
use convoy_core::view::query::AlertEntry;
use std::rc::Rc;
use yew::prelude::*;
use yew_router::prelude::*;

#[derive(Properties, PartialEq)]
pub struct AlertFeedProps {
    /// Newest first, as `core::query::alert_feed` orders them.
    pub alerts: Rc<Vec<AlertEntry>>,
}

#[function_component(AlertFeed)]
pub fn alert_feed(AlertFeedProps { alerts }: &AlertFeedProps) -> Html {
    html! {
        <section class="alert-feed" aria-labelledby="alert-feed-title">
            <h2 id="alert-feed-title">{ "Alerts" }<span class="count">{ format!(" {}", alerts.len()) }</span></h2>
            // The live region exists before the first alert, so that one is announced too. Times
            // are clock times, not ages: a ticking "3 s ago" would be re-read every second.
            <div class="alert-feed-body" aria-live="polite">
                if alerts.is_empty() {
                    <p class="empty">{ "No active alerts." }</p>
                } else {
                    <ol class="alert-list">
                        { for alerts.iter().map(|entry| html! {
                            <li key={format!("{}-{:?}", entry.truck, entry.alert.kind)}
                                class="alert-item" data-truck={entry.truck.clone()}>
                                <Link<Route> to={Route::Truck { id: entry.truck.clone() }} classes="alert-truck">
                                    { &entry.truck }
                                </Link<Route>>
                                <span class="alert-tag">{ entry.alert.kind.label() }</span>
                                <time class="alert-time">{ format_clock(entry.alert.raised_ms) }</time>
                                <span class="alert-message">{ &entry.alert.message }</span>
                            </li>
                        }) }
                    </ol>
                }
            </div>
        </section>
    }
}
