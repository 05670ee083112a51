//! One truck on the schematic map: a dot coloured by its status that links to its panel.

use crate::web::route::{Link, Route};
use convoy_core::wire::TruckState;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties)]
pub struct TruckMarkerProps {
    pub truck: Rc<TruckState>,
    /// Draw the id beside the dot (a crowded map labels only the trucks needing attention).
    #[prop_or(true)]
    pub labelled: bool,
}

impl PartialEq for TruckMarkerProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.truck, &other.truck) && self.labelled == other.labelled
    }
}

#[function_component(TruckMarker)]
pub fn truck_marker(TruckMarkerProps { truck, labelled }: &TruckMarkerProps) -> Html {
    let (x, y) = (truck.position.x, truck.position.y);
    let alerts = truck.alerts.len();
    let title = format!(
        "{} · {} · {:.0} km/h{}",
        truck.id,
        truck.status.label(),
        truck.speed_kph,
        match alerts {
            0 => String::new(),
            1 => " · 1 alert".to_owned(),
            n => format!(" · {n} alerts"),
        }
    );
    // The link's name comes from its <title> (SVG-AAM), the same text a mouse user hovers.
    html! {
        <g class="truck-marker" data-truck={truck.id.clone()} data-status={truck.status.key()}>
            <Link to={Route::Truck { id: truck.id.clone() }}>
                <title>{ title }</title>
                // Invisible, larger than the dot: a target a finger can hit on a phone.
                <circle class="marker-hit" cx={format!("{x:.1}")} cy={format!("{y:.1}")} r="26" />
                if alerts > 0 {
                    <circle class="marker-alert" cx={format!("{x:.1}")} cy={format!("{y:.1}")} r="17" />
                }
                <circle class={classes!("marker", truck.status.key())} cx={format!("{x:.1}")} cy={format!("{y:.1}")} r="11" />
                if *labelled {
                    <text class="marker-label" x={format!("{:.1}", x + 15.0)} y={format!("{:.1}", y + 5.0)}>{ &truck.id }</text>
                }
            </Link>
        </g>
    }
}
