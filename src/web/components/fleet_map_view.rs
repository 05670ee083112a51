//! A geographic map: trucks as markers coloured by status and pointing along their heading, the
//! selected truck's route with its stops and its trail, on the offline outlines (or the
//! deployment's tiles). Clicking a truck calls `on_select` with its id.

use crate::web::hooks::{use_leaflet_map, MapLoad};
use convoy_browser::leaflet::{MapData, MapMarker, MapStop};
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct FleetMapViewProps {
    pub markers: Vec<MapMarker>,
    /// The selected truck's route, `(lat, lon)` in order.
    #[prop_or_default]
    pub route: Option<Vec<(f64, f64)>>,
    #[prop_or_default]
    pub stops: Vec<MapStop>,
    /// Where the selected truck has been, oldest first.
    #[prop_or_default]
    pub trail: Vec<(f64, f64)>,
    pub on_select: Callback<String>,
    /// Zoom to show everything when there first is something to show.
    #[prop_or(true)]
    pub fit_on_first_load: bool,
    /// A small map inside a panel.
    #[prop_or_default]
    pub compact: bool,
    /// The map's accessible name.
    #[prop_or(AttrValue::Static("Map of the fleet"))]
    pub label: AttrValue,
}

#[function_component(FleetMapView)]
pub fn fleet_map_view(props: &FleetMapViewProps) -> Html {
    let FleetMapViewProps {
        markers,
        route,
        stops,
        trail,
        on_select,
        fit_on_first_load,
        compact,
        label,
    } = props;
    let node = use_node_ref();
    let data = Rc::new(MapData {
        markers: markers.clone(),
        route: route.clone().unwrap_or_default(),
        stops: stops.clone(),
        trail: trail.clone(),
    });
    let load = use_leaflet_map(
        node.clone(),
        data,
        *fit_on_first_load,
        *compact,
        on_select.clone(),
    );
    html! {
        <div class={classes!("fleet-map", compact.then_some("compact"))}>
            // Leaflet owns everything inside this node; Yew renders no children into it.
            <div class="fleet-map-canvas" ref={node} role="region" aria-label={label.clone()}></div>
            { match load {
                MapLoad::Loading => html! { <p class="map-status hint" aria-busy="true">{ "Loading the map…" }</p> },
                MapLoad::Ready => html! {},
                MapLoad::Failed(why) => html! {
                    <p class="map-status error" role="alert">{ format!("The map could not load: {why}. Reload to try again.") }</p>
                },
            } }
        </div>
    }
}
