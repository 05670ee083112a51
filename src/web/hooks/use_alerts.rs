//! Alerts' side effects: acknowledging one (the POST, its error kept for the view), and the
//! document title and nav counting the alerts no one has acknowledged.

use crate::web::hooks::use_fleet;
use convoy_core::view::query::{document_title, unacked_alert_count};
use convoy_core::wire::EventId;
use yew::prelude::*;

/// What a view needs to offer acknowledging alerts.
#[derive(Clone, PartialEq)]
pub struct AckHandle {
    /// Posts the acknowledgement. Nothing changes in the view until the `alert_acked` event
    /// comes back on the feed, as it does in every other tab and for every other operator.
    pub on_ack: Callback<EventId>,
    /// Why the last acknowledgement failed (someone was first, or the alert is gone).
    pub error: Option<AttrValue>,
}

#[hook]
pub fn use_ack_alert() -> AckHandle {
    let error = use_state_eq(|| None::<AttrValue>);
    let on_ack = use_callback(error.setter(), |alert_id: EventId, set_error| {
        set_error.set(None);
        let set_error = set_error.clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = convoy_browser::alerts::ack(alert_id).await {
                set_error.set(Some(e.to_string().into()));
            }
        });
    });
    AckHandle {
        on_ack,
        error: (*error).clone(),
    }
}

/// How many alerts this tab's trucks have that no operator acknowledged; keeps the document
/// title at `(n) Convoy`.
#[hook]
pub fn use_unacked_alerts() -> usize {
    let count = use_fleet().map_or(0, |fleet| unacked_alert_count(fleet.trucks.values()));
    use_effect_with(count, |count| {
        if let Some(document) = web_sys::window().and_then(|w| w.document()) {
            document.set_title(&document_title(*count));
        }
    });
    count
}
