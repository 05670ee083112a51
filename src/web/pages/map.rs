//! `/map`: every truck on a geographic map, live, with a legend; a truck opens its panel.

use crate::web::components::fleet_map_view::FleetMapView;
use crate::web::hooks::{use_fleet, use_now, use_offline, use_watch};
use crate::web::map_adapter::truck_marker;
use crate::web::route::Route;
use convoy_browser::leaflet::MapMarker;
use convoy_core::wire::{TruckStatus, Watch};
use yew::prelude::*;
use yew_router::prelude::use_navigator;

#[function_component(MapPage)]
pub fn map_page() -> Html {
    use_watch(Watch::All);
    let fleet = use_fleet();
    let now_ms = use_now(5_000);
    let offline = use_offline(now_ms);
    let navigator = use_navigator();
    let on_select = use_callback(navigator, |id: String, navigator| {
        if let Some(navigator) = navigator {
            navigator.push(&Route::Truck { id });
        }
    });
    let (loaded, trucks) = match fleet {
        Some(fleet) if fleet.loaded => (true, fleet.trucks.values().cloned().collect::<Vec<_>>()),
        _ => (false, Vec::new()),
    };
    // A truck that has not reported a position yet has no marker; during an outage every
    // marker is stale.
    let markers: Vec<_> = trucks
        .iter()
        .filter_map(|t| truck_marker(t, now_ms))
        .map(|marker| MapMarker {
            stale: marker.stale || offline,
            ..marker
        })
        .collect();
    let count = |status: TruckStatus| trucks.iter().filter(|t| t.status == status).count();
    html! {
        <section class="map-page" aria-labelledby="map-title">
            <h1 id="map-title">{ "Map" }</h1>
            if !loaded {
                <p class="hint" aria-busy="true">{ "Waiting for the fleet…" }</p>
            }
            <div class="map-layout">
                <FleetMapView {markers} {on_select} fit_on_first_load={true} />
                <aside class="map-legend" aria-labelledby="map-legend-title">
                    <h2 id="map-legend-title">{ "Legend" }</h2>
                    <ul>
                        { for TruckStatus::ALL.iter().map(|status| html! {
                            <li data-status={status.key()}>
                                <span class={classes!("swatch", "truck-glyph", status.key())} aria-hidden="true"></span>
                                { status.label() }<span class="count">{ count(*status) }</span>
                            </li>
                        }) }
                    </ul>
                    <p class="hint">{ format!("{} trucks. Select one to open its panel.", trucks.len()) }</p>
                </aside>
            </div>
        </section>
    }
}
