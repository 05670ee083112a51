//! A truck's plan, fetched once per truck id from `/api/trucks/{id}` (also how a page learns
//! that the server knows no such truck).

use convoy_browser::api;
use convoy_core::trip::TripPlan;
use convoy_core::wire::{TruckDetail, WIRE_VERSION};
use std::rc::Rc;
use yew::prelude::*;

/// Where the route fetch stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteFetch {
    Loading,
    Loaded(Rc<TripPlan>),
    /// The truck has no plan.
    NoPlan,
    /// The server knows no truck with this id.
    Unknown,
    Failed(String),
}

/// Fetches the plan of truck `id` (again when `id` changes).
#[hook]
pub fn use_truck_route(id: &str) -> RouteFetch {
    let state = use_state(|| RouteFetch::Loading);
    {
        let state = state.clone();
        use_effect_with(id.to_owned(), move |id| {
            state.set(RouteFetch::Loading);
            let url = format!("api/trucks/{id}?v={WIRE_VERSION}");
            wasm_bindgen_futures::spawn_local(async move {
                state.set(fetch_route(&url).await);
            });
        });
    }
    (*state).clone()
}

async fn fetch_route(url: &str) -> RouteFetch {
    let response = match api::get(url).await {
        Ok(response) => response,
        Err(why) => return RouteFetch::Failed(why),
    };
    match response.status() {
        200 => match api::read_json::<TruckDetail>(&response).await {
            Ok(TruckDetail {
                plan: Some(plan), ..
            }) => RouteFetch::Loaded(Rc::new(plan)),
            Ok(_) => RouteFetch::NoPlan,
            Err(e) => RouteFetch::Failed(format!("the truck did not decode ({e})")),
        },
        404 | 400 => RouteFetch::Unknown,
        status => RouteFetch::Failed(format!("the server answered {status}")),
    }
}
