//! `/board?trucks=T-03,T-01`: several trucks' panels side by side, live. The layout is the
//! URL's (see `hooks::use_board`); the page watches exactly the trucks on it.

use crate::web::components::board_grid::{BoardGrid, BoardSlot};
use crate::web::components::truck_panel::TruckPanel;
use crate::web::hooks::{
    trip_key, use_board, use_fleet, use_fleet_ids, use_now, use_offline, use_panel_history,
    use_truck, use_truck_route, use_watch, BoardHandle, RouteFetch, TrackView,
};
use convoy_core::wire::TruckId;
use std::rc::Rc;
use yew::prelude::*;

#[function_component(BoardPage)]
pub fn board_page() -> Html {
    let BoardHandle { layout, on_change } = use_board();
    use_watch(layout.watch());
    let store = use_fleet();
    // The store holds only the trucks on the board: the picker offers the operator's fleet.
    let fleet = use_fleet_ids();
    let fleet_known = fleet.is_some();
    let choices: Vec<TruckId> = fleet
        .map(|ids| {
            ids.iter()
                .filter(|id| !layout.contains(id))
                .cloned()
                .collect()
        })
        .or_else(|| {
            store.map(|store| {
                store
                    .trucks
                    .keys()
                    .filter(|id| !layout.contains(id))
                    .cloned()
                    .collect()
            })
        })
        .unwrap_or_default();
    let panel = use_callback((), |slot: BoardSlot, ()| {
        html! { <BoardPanel id={slot.id} on_remove={slot.on_remove} /> }
    });
    html! { <BoardGrid {layout} choices={Rc::new(choices)} {fleet_known} {panel} {on_change} /> }
}

#[derive(Properties, PartialEq)]
struct BoardPanelProps {
    id: TruckId,
    on_remove: Callback<TruckId>,
}

/// One truck's live panel. A component of its own so each truck's hooks (its state, its route
/// fetch, its speed history) live exactly as long as its place on the board.
#[function_component(BoardPanel)]
fn board_panel(BoardPanelProps { id, on_remove }: &BoardPanelProps) -> Html {
    let truck = use_truck(id);
    let route = use_truck_route(id, trip_key(truck.as_deref()));
    let now_ms = use_now(1_000);
    let TrackView {
        speeds: speed_history,
        reefer: reefer_history,
        trail,
    } = use_panel_history(id, truck.clone(), now_ms);
    let offline = use_offline(now_ms);
    let on_close = use_callback((id.clone(), on_remove.clone()), |(), (id, on_remove)| {
        on_remove.emit(id.clone())
    });
    let close = html! {
        <button type="button" class="close" aria-label={format!("Remove {id}")}
            onclick={on_close.reform(|_| ())}>{ "×" }</button>
    };
    match (truck, route) {
        (Some(truck), route) => {
            let plan = match route {
                RouteFetch::Loaded(plan) => Some(plan),
                _ => None,
            };
            html! { <TruckPanel {truck} {now_ms} {speed_history} {reefer_history} on_close={Some(on_close)} {offline} {plan} {trail} /> }
        }
        (None, RouteFetch::Unknown) => html! {
            <article class="truck-panel missing" data-truck={id.clone()} aria-label={format!("Truck {id}")}>
                <header><h2>{ id }</h2>{ close }</header>
                <p>{ format!("The fleet has no truck {id}. Check the id, or remove it from the board.") }</p>
            </article>
        },
        (None, RouteFetch::Failed(message)) => html! {
            <article class="truck-panel failed" data-truck={id.clone()} aria-label={format!("Truck {id}")}>
                <header><h2>{ id }</h2>{ close }</header>
                <p role="alert">{ format!("Could not load {id}: {message}; retrying. It appears here once the server answers.") }</p>
            </article>
        },
        (None, _) => html! {
            <article class="truck-panel loading" data-truck={id.clone()} aria-label={format!("Truck {id}")} aria-busy="true">
                <header><h2>{ id }</h2>{ close }</header>
                <div class="skeleton">{ format!("Loading {id}…") }</div>
            </article>
        },
    }
}
