//! The map page until the geographic map lands: every truck with its status and position (those
//! needing attention first) linking to its panel, counts per status, and the plans' stops.

use crate::web::components::truck_marker::TruckMarker;
use convoy_core::view::order::sort_stably;
use convoy_core::wire::{FleetMap, TruckState, TruckStatus};
use std::rc::Rc;
use yew::prelude::*;

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
    let needs_attention = |t: &TruckState| t.status == TruckStatus::Delayed || !t.alerts.is_empty();
    // Trucks that need attention come first.
    let mut ordered: Vec<&Rc<TruckState>> = trucks.iter().collect();
    sort_stably(&mut ordered, |a, b| {
        needs_attention(b)
            .cmp(&needs_attention(a))
            .then_with(|| a.id.cmp(&b.id))
    });
    let count = |status: TruckStatus| trucks.iter().filter(|t| t.status == status).count();
    html! {
        <div class="map-layout">
            <ul class="map-trucks" aria-label="Trucks and where they are">
                { for ordered.into_iter().map(|truck| html! {
                    <TruckMarker key={truck.id.clone()} truck={truck.clone()} />
                }) }
            </ul>
            <aside class="map-legend" aria-labelledby="map-legend-title">
                <h2 id="map-legend-title">{ "Status" }</h2>
                <ul>
                    { for TruckStatus::ALL.iter().map(|status| html! {
                        <li data-status={status.key()}>
                            { status.label() }<span class="count">{ count(*status) }</span>
                        </li>
                    }) }
                </ul>
                <h2>{ "Stops" }</h2>
                <ul class="depots">
                    { for map.depots.iter().map(|depot| html! {
                        <li class="depot">{ format!("{} ({:.4}, {:.4})", depot.name, depot.position.lat(), depot.position.lon()) }</li>
                    }) }
                </ul>
            </aside>
        </div>
    }
}
