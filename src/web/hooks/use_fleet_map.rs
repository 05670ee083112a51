//! The schematic map's static part (depots and corridors), fetched from `/api/map`.

use convoy_browser::api;
use convoy_core::wire::FleetMap;
use std::rc::Rc;
use yew::prelude::*;

/// Where the map fetch stands.
#[derive(Debug, Clone, PartialEq)]
pub enum MapFetch {
    Loading,
    Loaded(Rc<FleetMap>),
    /// Why it failed, worded for the operator.
    Failed(String),
}

/// Fetches the map once per mount; the callback fetches it again (the "Try again" button).
#[hook]
pub fn use_fleet_map() -> (MapFetch, Callback<()>) {
    let state = use_state(|| MapFetch::Loading);
    let attempt = use_state(|| 0u32);
    {
        let state = state.clone();
        use_effect_with(*attempt, move |_| {
            state.set(MapFetch::Loading);
            wasm_bindgen_futures::spawn_local(async move {
                state.set(fetch_map("api/map").await);
            });
        });
    }
    let retry = {
        let attempt = attempt.clone();
        Callback::from(move |()| attempt.set(*attempt + 1))
    };
    ((*state).clone(), retry)
}

async fn fetch_map(url: &str) -> MapFetch {
    let response = match api::get(url).await {
        Ok(response) => response,
        Err(why) => return MapFetch::Failed(why),
    };
    if !response.ok() {
        return MapFetch::Failed(format!("the server answered {}", response.status()));
    }
    match api::read_json::<FleetMap>(&response).await {
        Ok(map) => MapFetch::Loaded(Rc::new(map)),
        Err(e) => MapFetch::Failed(format!("the map did not decode ({e})")),
    }
}
