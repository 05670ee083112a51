//! A truck's route, fetched once per truck id from `/api/trucks/{id}`.

use convoy_browser::api;
use convoy_core::wire::{Route, TruckDetail};
use std::rc::Rc;
use yew::prelude::*;

/// Where the route fetch stands.
#[derive(Debug, Clone, PartialEq)]
pub enum RouteFetch {
    Loading,
    Loaded(Rc<Route>),
    /// The server knows no truck with this id.
    Unknown,
    Failed(String),
}

/// Fetches the route of truck `id` (again when `id` changes).
#[hook]
pub fn use_truck_route(id: &str) -> RouteFetch {
    let state = use_state(|| RouteFetch::Loading);
    {
        let state = state.clone();
        use_effect_with(id.to_owned(), move |id| {
            state.set(RouteFetch::Loading);
            let url = format!("api/trucks/{id}");
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
            Ok(detail) => RouteFetch::Loaded(Rc::new(detail.route)),
            Err(e) => RouteFetch::Failed(format!("the truck did not decode ({e})")),
        },
        404 | 400 => RouteFetch::Unknown,
        status => RouteFetch::Failed(format!("the server answered {status}")),
    }
}
