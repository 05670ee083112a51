//! `/trucks/{id}`: one truck's panel, live.

use crate::web::components::board_link::BoardLink;
use crate::web::components::truck_panel::TruckPanel;
use crate::web::hooks::{
    trip_key, use_ack_alert, use_now, use_offline, use_panel_history, use_saved_board, use_truck,
    use_truck_route, use_watch, RouteFetch, TrackView,
};
use crate::web::route::{Link, Route};
use convoy_core::wire::{is_valid_truck_id, Watch};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct TruckPageProps {
    pub id: String,
}

#[function_component(TruckPage)]
pub fn truck_page(TruckPageProps { id }: &TruckPageProps) -> Html {
    let watch = if is_valid_truck_id(id) {
        Watch::Trucks([id.clone()].into())
    } else {
        Watch::Trucks(Default::default())
    };
    use_watch(watch);
    let truck = use_truck(id);
    let route = use_truck_route(id, trip_key(truck.as_deref()));
    let board = use_saved_board();
    let now_ms = use_now(1_000);
    let TrackView {
        speeds: speed_history,
        reefer: reefer_history,
        trail,
    } = use_panel_history(id, truck.clone(), now_ms);
    let ack = use_ack_alert();
    let offline = use_offline(now_ms);
    let back = html! { <Link to={Route::Fleet}>{ "Back to the fleet" }</Link> };
    match (truck, route) {
        (_, RouteFetch::Unknown) => html! {
            <section class="not-found"><h1>{ format!("No truck {id}") }</h1>
                <p>{ "The fleet has no truck with this id. " }{ back }</p></section>
        },
        (_, RouteFetch::Failed(message)) => html! {
            <section class="error"><h1>{ "Could not load this truck" }</h1>
                <p>{ format!("The truck's route did not load: {message}; retrying. ") }{ back }</p></section>
        },
        (Some(truck), route) => {
            let plan = match route {
                RouteFetch::Loaded(plan) => Some(plan),
                _ => None,
            };
            // Already on the saved board, or the board is full: the link just opens it.
            let (layout, label) = match board.add(id) {
                Ok(next) => (next, "Add to board"),
                Err(_) => ((*board).clone(), "Open the board"),
            };
            html! {
                <div class="single-panel">
                    <TruckPanel {truck} {now_ms} {speed_history} {reefer_history} on_ack={Some(ack.on_ack)} {offline} {plan} {trail} />
                    if let Some(error) = ack.error {
                        <p class="alert-error" role="alert">{ error }</p>
                    }
                    <p class="panel-actions">
                        { back.clone() }
                        <BoardLink {layout} classes="add-to-board">{ label }</BoardLink>
                    </p>
                </div>
            }
        }
        (None, _) => {
            html! { <div class="skeleton" aria-busy="true">{ format!("Loading {id}…") }</div> }
        }
    }
}
