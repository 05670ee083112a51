//! A truck's trail for its map: the last [`TRAIL_WINDOW_MS`] of positions from
//! `/api/trucks/{id}/track` (fetched once per truck id, again while that fails), then each new
//! position the feed brings.

use convoy_browser::api;
use convoy_core::geo::LatLon;
use convoy_core::wire::{TrackPoint, TruckState, WIRE_VERSION};
use gloo_timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

/// How far back the trail reaches.
pub const TRAIL_WINDOW_MS: u64 = 60 * 60_000;
/// The most points a trail keeps (the server answers at most 2 000).
const TRAIL_POINTS: usize = 2_000;
/// How long a failed fetch waits before it asks again.
const RETRY_MS: u32 = 5_000;

/// A truck's newest position and when it was fixed, for [`use_truck_track`].
pub fn latest_fix(truck: Option<&TruckState>) -> Option<(u64, LatLon)> {
    let truck = truck?;
    Some((truck.last_fix_ms?, truck.position?))
}

/// The trail of truck `id`, oldest first, as `(lat, lon)`; `latest` is the truck's newest
/// position and its time, appended when it is newer than the trail's end.
#[hook]
pub fn use_truck_track(
    id: &str,
    latest: Option<(u64, LatLon)>,
    now_ms: u64,
) -> Rc<Vec<(f64, f64)>> {
    let points = use_mut_ref(Vec::<(u64, f64, f64)>::new);
    let trail = use_state(|| Rc::new(Vec::<(f64, f64)>::new()));
    let attempt = use_state(|| 0u32);
    let publish = {
        let trail = trail.setter();
        move |points: &RefCell<Vec<(u64, f64, f64)>>| {
            trail.set(Rc::new(
                points
                    .borrow()
                    .iter()
                    .map(|&(_, lat, lon)| (lat, lon))
                    .collect(),
            ));
        }
    };
    {
        let (points, attempt, publish) = (points.clone(), attempt.clone(), publish.clone());
        use_effect_with((id.to_owned(), *attempt), move |(id, tried)| {
            let tried = *tried;
            let url = format!(
                "api/trucks/{id}/track?since_ms={}&v={WIRE_VERSION}",
                now_ms.saturating_sub(TRAIL_WINDOW_MS)
            );
            if tried == 0 {
                points.borrow_mut().clear();
            }
            let retry = Rc::new(RefCell::new(None::<Timeout>));
            let pending = retry.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match fetch_track(&url).await {
                    Some(fetched) => {
                        // Positions the feed brought while the fetch was out stay after it.
                        let mut kept = points.borrow_mut();
                        let last = fetched.last().map_or(0, |p| p.at_ms);
                        let newer: Vec<_> = kept.drain(..).filter(|p| p.0 > last).collect();
                        kept.extend(fetched.iter().map(|p| (p.at_ms, p.lat, p.lon)));
                        kept.extend(newer);
                        drop(kept);
                        publish(&points);
                    }
                    None => {
                        *pending.borrow_mut() =
                            Some(Timeout::new(RETRY_MS, move || attempt.set(tried + 1)));
                    }
                }
            });
            move || drop(retry.borrow_mut().take())
        });
    }
    {
        let points = points.clone();
        use_effect_with(
            latest.map(|(at, p)| (at, p.lat().to_bits(), p.lon().to_bits())),
            move |latest| {
                if let Some((at_ms, lat, lon)) = *latest {
                    let newer = points.borrow().last().is_none_or(|p| p.0 < at_ms);
                    if newer {
                        let mut kept = points.borrow_mut();
                        kept.push((at_ms, f64::from_bits(lat), f64::from_bits(lon)));
                        let excess = kept.len().saturating_sub(TRAIL_POINTS);
                        kept.drain(..excess);
                        drop(kept);
                        publish(&points);
                    }
                }
            },
        );
    }
    (*trail).clone()
}

async fn fetch_track(url: &str) -> Option<Vec<TrackPoint>> {
    let response = api::get(url).await.ok()?;
    if response.status() != 200 {
        return None;
    }
    api::read_json::<Vec<TrackPoint>>(&response).await.ok()
}
