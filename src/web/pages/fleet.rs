//! `/`: the whole fleet, live: the table, and the alert feed beside it. Where the screen is
//! too narrow for both, the feed comes first: below hundreds of rows no one on a phone would
//! ever reach it. On a phone each truck is a card (status, delay, ETA, alerts).

use crate::web::components::alert_feed::AlertFeed;
use crate::web::components::fleet_table::{FleetTable, CARD_HEIGHT_PX, ROW_HEIGHT_PX};
use crate::web::hooks::{
    use_ack_alert, use_fleet, use_narrow, use_now, use_offline, use_row_window, use_saved_board,
    use_table_query, use_watch,
};
use convoy_core::view::query::alert_feed;
use convoy_core::wire::Watch;
use std::rc::Rc;
use yew::prelude::*;

/// The feed shows this many alerts at most; the table's alert filter finds the rest.
const ALERT_FEED_LIMIT: usize = 50;

#[function_component(FleetPage)]
pub fn fleet_page() -> Html {
    use_watch(Watch::All);
    let fleet = use_fleet();
    let now_ms = use_now(1_000);
    let offline = use_offline(now_ms);
    let (query, on_query) = use_table_query();
    let board = use_saved_board();
    let ack = use_ack_alert();
    let body_ref = use_node_ref();
    let total = fleet.as_ref().map_or(0, |f| f.trucks.len());
    // On a phone each truck is a card, taller than a row.
    let row_height_px = if use_narrow() {
        CARD_HEIGHT_PX
    } else {
        ROW_HEIGHT_PX
    };
    let window = use_row_window(body_ref.clone(), row_height_px, total);
    let body = match fleet {
        Some(fleet) if fleet.loaded => {
            let trucks: Vec<_> = fleet.trucks.values().cloned().collect();
            let alerts = Rc::new(alert_feed(trucks.iter(), ALERT_FEED_LIMIT));
            html! {
                <div class="fleet-layout">
                    <AlertFeed {alerts} on_ack={ack.on_ack} error={ack.error}
                        cleared={fleet.cleared.clone()} />
                    <FleetTable {trucks} {query} {now_ms} {on_query} {board}
                        {body_ref} window={Some(window)} {offline} {row_height_px} />
                </div>
            }
        }
        _ => html! { <div class="skeleton" aria-busy="true">{ "Loading the fleet…" }</div> },
    };
    html! {
        <>
            <h1 class="visually-hidden">{ "Fleet" }</h1>
            { body }
        </>
    }
}
