//! The ids of every truck the operator may see, for pickers: a page that watches only some
//! trucks (the board) holds only those in its store, so they are fetched from `/api/fleet`
//! once per mount, and again every few seconds while that fails.

use convoy_browser::api;
use convoy_core::wire::{FleetSnapshot, TruckId};
use gloo_timers::callback::Timeout;
use std::rc::Rc;
use yew::prelude::*;

/// How long a failed fetch waits before it asks again.
const RETRY_MS: u32 = 5_000;

/// The operator's fleet, in id order; None until the server has answered.
#[hook]
pub fn use_fleet_ids() -> Option<Rc<Vec<TruckId>>> {
    let ids = use_state(|| None::<Rc<Vec<TruckId>>>);
    let attempt = use_state(|| 0u32);
    {
        let (ids, attempt) = (ids.clone(), attempt.clone());
        use_effect_with(*attempt, move |tried| {
            let tried = *tried;
            let retry = Rc::new(std::cell::RefCell::new(None::<Timeout>));
            let pending = retry.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match fetch_ids().await {
                    Some(fleet) => ids.set(Some(Rc::new(fleet))),
                    None => {
                        *pending.borrow_mut() =
                            Some(Timeout::new(RETRY_MS, move || attempt.set(tried + 1)));
                    }
                }
            });
            move || drop(retry.borrow_mut().take())
        });
    }
    (*ids).clone()
}

async fn fetch_ids() -> Option<Vec<TruckId>> {
    let response = api::get("api/fleet").await.ok().filter(|r| r.ok())?;
    let snapshot = api::read_json::<FleetSnapshot>(&response).await.ok()?;
    let mut ids: Vec<TruckId> = snapshot.trucks.into_iter().map(|t| t.id).collect();
    ids.sort();
    Some(ids)
}
