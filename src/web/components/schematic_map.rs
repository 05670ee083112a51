//! The fleet on a schematic map: corridors as lines, depots as labelled squares, every truck as
//! a dot coloured by status that links to its panel, and a legend with counts. It is a
//! diagram of the simulator's 0..1000 plane, not geography: no tiles, nothing from the internet.

use crate::web::components::truck_marker::TruckMarker;
use convoy_core::view::order::sort_stably;
use convoy_core::wire::{FleetMap, TruckState, TruckStatus};
use std::collections::BTreeSet;
use std::rc::Rc;
use yew::prelude::*;

/// Above this many trucks, ids are drawn only beside those needing attention, and the
/// corridors fade: two hundred overlapping labels read as noise.
const LABEL_ALL_UP_TO: usize = 60;

#[derive(Properties)]
pub struct SchematicMapProps {
    pub map: Rc<FleetMap>,
    pub trucks: Vec<Rc<TruckState>>,
}

impl PartialEq for SchematicMapProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.map, &other.map)
            && self.trucks.len() == other.trucks.len()
            && self
                .trucks
                .iter()
                .zip(&other.trucks)
                .all(|(a, b)| Rc::ptr_eq(a, b))
    }
}

#[function_component(SchematicMap)]
pub fn schematic_map(SchematicMapProps { map, trucks }: &SchematicMapProps) -> Html {
    let corridors = use_memo(map.clone(), |map| {
        let mut seen = BTreeSet::new();
        map.routes
            .iter()
            .filter(|route| seen.insert(route.id.clone()) && route.stops.len() >= 2)
            .map(|route| {
                let points: Vec<String> = route
                    .stops
                    .iter()
                    .map(|s| format!("{:.1},{:.1}", s.position.x, s.position.y))
                    .collect();
                html! { <polyline key={route.id.clone()} class="corridor" points={points.join(" ")} /> }
            })
            .collect::<Html>()
    });
    let needs_attention = |t: &TruckState| t.status == TruckStatus::Delayed || !t.alerts.is_empty();
    let crowded = trucks.len() > LABEL_ALL_UP_TO;
    // Trucks that need attention are drawn last, on top of the others.
    let mut ordered: Vec<&Rc<TruckState>> = trucks.iter().collect();
    sort_stably(&mut ordered, |a, b| {
        needs_attention(a)
            .cmp(&needs_attention(b))
            .then_with(|| a.id.cmp(&b.id))
    });
    let count = |status: TruckStatus| trucks.iter().filter(|t| t.status == status).count();

    html! {
        <div class="map-layout">
            <svg class={classes!("schematic", crowded.then_some("crowded"))} viewBox="0 0 1000 1000" role="group"
                aria-label="Schematic map of depots, routes and trucks">
                <rect class="map-ground" width="1000" height="1000" rx="12" />
                <g class="corridors" aria-hidden="true">{ (*corridors).clone() }</g>
                <g class="depots">
                    { for map.depots.iter().map(|depot| {
                        let (x, y) = (depot.position.x, depot.position.y);
                        html! {
                            <g class="depot" key={depot.name.clone()}>
                                <rect x={format!("{:.1}", x - 10.0)} y={format!("{:.1}", y - 10.0)} width="20" height="20" />
                                <text x={format!("{x:.1}")} y={format!("{:.1}", y - 18.0)} text-anchor="middle">{ &depot.name }</text>
                            </g>
                        }
                    }) }
                </g>
                <g class="trucks">
                    { for ordered.into_iter().map(|truck| html! {
                        <TruckMarker key={truck.id.clone()} truck={truck.clone()}
                            labelled={!crowded || needs_attention(truck)} />
                    }) }
                </g>
            </svg>
            <aside class="map-legend" aria-labelledby="map-legend-title">
                <h2 id="map-legend-title">{ "Legend" }</h2>
                <ul>
                    { for TruckStatus::ALL.iter().map(|status| html! {
                        <li data-status={status.key()}>
                            <svg class="swatch" viewBox="0 0 20 20" aria-hidden="true">
                                <circle class={classes!("marker", status.key())} cx="10" cy="10" r="7" />
                            </svg>
                            { status.label() }<span class="count">{ count(*status) }</span>
                        </li>
                    }) }
                    <li>
                        <svg class="swatch" viewBox="0 0 20 20" aria-hidden="true">
                            <circle class="marker-alert" cx="10" cy="10" r="8" />
                            <circle class="marker idle" cx="10" cy="10" r="5" />
                        </svg>
                        { "Has an alert" }
                    </li>
                    <li>
                        <svg class="swatch" viewBox="0 0 20 20" aria-hidden="true"><g class="depot"><rect x="4" y="4" width="12" height="12" /></g></svg>
                        { "Depot" }
                    </li>
                    <li>
                        <svg class="swatch" viewBox="0 0 20 20" aria-hidden="true"><polyline class="corridor" points="2,14 10,6 18,12" /></svg>
                        { "Route" }
                    </li>
                </ul>
                <p class="hint">{ format!("{} trucks. Select a dot to open its panel.", trucks.len()) }</p>
            </aside>
        </div>
    }
}
