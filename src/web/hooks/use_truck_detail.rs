//! A truck's plan, fetched from `/api/trucks/{id}` once per truck id and trip (also how a page
//! learns that the server knows no such truck), and again every [`RETRY_MS`] while the server
//! cannot be reached.

use convoy_browser::api;
use convoy_core::trip::TripPlan;
use convoy_core::wire::{TruckDetail, TruckState, WIRE_VERSION};
use gloo_timers::callback::Timeout;
use std::rc::Rc;
use yew::prelude::*;

/// How long a failed fetch waits before it asks again.
pub const RETRY_MS: u32 = 5_000;

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

/// What tells one trip of a truck from the next, as its state shows it (the plan's stop times):
/// when it changes, the plan is fetched again.
pub fn trip_key(truck: Option<&TruckState>) -> Option<(u64, u64)> {
    let stops = &truck?.stops;
    Some((stops.first()?.planned_ms, stops.last()?.planned_ms))
}

/// Fetches the plan of truck `id` (again when `id` or `trip` changes, and after a failure).
#[hook]
pub fn use_truck_route(id: &str, trip: Option<(u64, u64)>) -> RouteFetch {
    let state = use_state(|| RouteFetch::Loading);
    let attempt = use_state(|| 0u32);
    let fetched_id = use_mut_ref(String::new);
    {
        let state = state.clone();
        use_effect_with((id.to_owned(), *attempt, trip), move |(id, _, _)| {
            // A retry keeps showing the failure until it has an answer.
            if *fetched_id.borrow() != *id {
                state.set(RouteFetch::Loading);
                *fetched_id.borrow_mut() = id.clone();
            }
            let url = format!("api/trucks/{id}?v={WIRE_VERSION}");
            wasm_bindgen_futures::spawn_local(async move {
                state.set(fetch_route(&url).await);
            });
        });
    }
    {
        let failed = matches!(*state, RouteFetch::Failed(_));
        let attempt = attempt.clone();
        use_effect_with((failed, *attempt), move |(failed, _)| {
            let retry = failed.then(|| Timeout::new(RETRY_MS, move || attempt.set(*attempt + 1)));
            move || drop(retry)
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
