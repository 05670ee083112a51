//! `/map`: every truck on the schematic map, live.

use crate::web::components::schematic_map::SchematicMap;
use crate::web::hooks::{use_fleet, use_fleet_map, use_watch, MapFetch};
use crate::web::route::{Link, Route};
use convoy_core::wire::Watch;
use yew::prelude::*;

#[function_component(MapPage)]
pub fn map_page() -> Html {
    use_watch(Watch::All);
    let fleet = use_fleet();
    let (map, retry) = use_fleet_map();
    let body = match map {
        MapFetch::Loading => {
            html! { <div class="skeleton map-skeleton" aria-busy="true">{ "Loading the map…" }</div> }
        }
        MapFetch::Failed(message) => html! {
            <div class="error" role="alert">
                <h2>{ "Could not load the map" }</h2>
                <p>{ format!("{message}. Check that convoy-server is running, then try again. The ") }
                    <Link to={Route::Fleet}>{ "fleet table" }</Link>
                    { " works without the map." }</p>
                <button type="button" onclick={retry.reform(|_| ())}>{ "Try again" }</button>
            </div>
        },
        MapFetch::Loaded(map) => {
            let (loaded, trucks) = match fleet {
                Some(fleet) if fleet.loaded => (true, fleet.trucks.values().cloned().collect()),
                _ => (false, Vec::new()),
            };
            html! {
                <>
                    if !loaded {
                        <p class="hint" aria-busy="true">{ "Waiting for the fleet…" }</p>
                    }
                    <SchematicMap {map} {trucks} />
                </>
            }
        }
    };
    html! {
        <section class="map-page" aria-labelledby="map-title">
            <h1 id="map-title">{ "Map" }</h1>
            { body }
        </section>
    }
}
