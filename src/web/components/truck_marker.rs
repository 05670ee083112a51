//! One truck in the map page's list: its status, where it is, and a link to its panel.

use crate::web::route::Route;
use crate::web::router::Link;
use convoy_core::view::format::{reported, NOT_REPORTED};
use convoy_core::wire::TruckState;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties)]
pub struct TruckMarkerProps {
    pub truck: Rc<TruckState>,
}

impl PartialEq for TruckMarkerProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.truck, &other.truck)
    }
}

#[function_component(TruckMarker)]
pub fn truck_marker(TruckMarkerProps { truck }: &TruckMarkerProps) -> Html {
    let position = truck.position.map_or_else(
        || NOT_REPORTED.to_owned(),
        |p| format!("{:.4}, {:.4}", p.lat(), p.lon()),
    );
    let alerts = truck.alerts.len();
    html! {
        <li class="truck-marker" data-truck={truck.id.clone()} data-status={truck.status.key()}>
            <Link to={Route::Truck { id: truck.id.clone() }}>{ &truck.id }</Link>
            <span class={classes!("status", truck.status.key())}>{ truck.status.label() }</span>
            <span class="position">{ position }</span>
            <span class="speed">{ reported(truck.speed_kph, |v| format!("{v:.0} km/h")) }</span>
            if alerts > 0 {
                <span class="alert-tag">{ if alerts == 1 { "1 alert".to_owned() } else { format!("{alerts} alerts") } }</span>
            }
        </li>
    }
}
