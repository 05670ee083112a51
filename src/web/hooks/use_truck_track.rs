//! A truck's recent track for its panel: the last [`TRAIL_WINDOW_MS`] of positions from
//! `/api/trucks/{id}/track` (fetched once per truck id, again while that fails), then each new
//! position the feed brings. The map draws it as the trail, the speed chart its last
//! [`SPEED_WINDOW_MS`], full from the first render instead of growing from the page's load, and
//! a reefer's chart every temperature reading it holds.

use crate::web::hooks::{use_speed_history, SPEED_WINDOW_MS};
use convoy_browser::api;
use convoy_core::geo::LatLon;
use convoy_core::wire::{TrackPoint, TruckState, WIRE_VERSION};
use gloo_timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

/// How far back the trail reaches.
pub const TRAIL_WINDOW_MS: u64 = 60 * 60_000;
/// The most points a track keeps (the server answers at most 2 000).
const TRACK_POINTS: usize = 2_000;
/// How long a failed fetch waits before it asks again.
const RETRY_MS: u32 = 5_000;

/// What a panel draws from a truck's track.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackView {
    /// `(lat, lon)`, oldest first.
    pub trail: Rc<Vec<(f64, f64)>>,
    /// `(at_ms, speed_kph)` of the positions in the last [`SPEED_WINDOW_MS`] before the newest,
    /// oldest first (positions without a speed left out).
    pub speeds: Rc<Vec<(u64, f32)>>,
    /// `(at_ms, reefer_c)` of every position of the track that carried a reefer reading,
    /// oldest first.
    pub reefer: Rc<Vec<(u64, f32)>>,
}

/// A truck's newest fix: when, where, and the speed and reefer readings sent with it.
pub type LatestFix = (u64, LatLon, Option<f32>, Option<f32>);

/// A truck's newest position, when it was fixed, its speed and reefer temperature, for
/// [`use_truck_track`].
pub fn latest_fix(truck: Option<&TruckState>) -> Option<LatestFix> {
    let truck = truck?;
    Some((
        truck.last_fix_ms?,
        truck.position?,
        truck.speed_kph,
        truck.reefer_c,
    ))
}

/// The track of truck `id`; `latest` is the truck's newest position, appended when it is newer
/// than the track's end.
#[hook]
pub fn use_truck_track(id: &str, latest: Option<LatestFix>, now_ms: u64) -> TrackView {
    let points = use_mut_ref(Vec::<TrackPoint>::new);
    let view = use_state(TrackView::default);
    let attempt = use_state(|| 0u32);
    let publish = {
        let view = view.setter();
        move |points: &RefCell<Vec<TrackPoint>>| view.set(track_view(&points.borrow()))
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
                        let newer: Vec<_> = kept.drain(..).filter(|p| p.at_ms > last).collect();
                        kept.extend(fetched);
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
        let key = latest.map(|(at, p, speed, reefer)| {
            (
                at,
                p.lat().to_bits(),
                p.lon().to_bits(),
                speed.map(f32::to_bits),
                reefer.map(f32::to_bits),
            )
        });
        use_effect_with(key, move |key| {
            if let Some((at_ms, lat, lon, speed, reefer)) = *key {
                let newer = points.borrow().last().is_none_or(|p| p.at_ms < at_ms);
                if newer {
                    let mut kept = points.borrow_mut();
                    kept.push(TrackPoint {
                        at_ms,
                        lat: f64::from_bits(lat),
                        lon: f64::from_bits(lon),
                        speed_kph: speed.map(f32::from_bits),
                        reefer_c: reefer.map(f32::from_bits),
                    });
                    let excess = kept.len().saturating_sub(TRACK_POINTS);
                    kept.drain(..excess);
                    drop(kept);
                    publish(&points);
                }
            }
        });
    }
    (*view).clone()
}

/// What a truck's panel draws of its past: the speed chart's points and the map's trail. The
/// speeds are the server's last ten minutes once it has answered, until then those this page
/// saw arrive ([`use_speed_history`]).
#[hook]
pub fn use_panel_history(id: &str, truck: Option<Rc<TruckState>>, now_ms: u64) -> TrackView {
    let live_speeds = use_speed_history(truck.clone());
    let track = use_truck_track(id, latest_fix(truck.as_deref()), now_ms);
    if track.speeds.is_empty() {
        TrackView {
            speeds: live_speeds,
            ..track
        }
    } else {
        track
    }
}

/// The trail, the speed chart's and the reefer chart's points of a track, oldest first.
pub fn track_view(points: &[TrackPoint]) -> TrackView {
    let newest = points.last().map_or(0, |p| p.at_ms);
    let oldest = newest.saturating_sub(SPEED_WINDOW_MS);
    TrackView {
        trail: Rc::new(points.iter().map(|p| (p.lat, p.lon)).collect()),
        speeds: Rc::new(
            points
                .iter()
                .filter(|p| p.at_ms >= oldest)
                .filter_map(|p| Some((p.at_ms, p.speed_kph?)))
                .collect(),
        ),
        reefer: Rc::new(
            points
                .iter()
                .filter_map(|p| Some((p.at_ms, p.reefer_c?)))
                .collect(),
        ),
    }
}

async fn fetch_track(url: &str) -> Option<Vec<TrackPoint>> {
    let response = api::get(url).await.ok()?;
    if response.status() != 200 {
        return None;
    }
    api::read_json::<Vec<TrackPoint>>(&response).await.ok()
}
