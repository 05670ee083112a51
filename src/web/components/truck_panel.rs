//! A truck's live insights: route progress with its stops, ETA and delay against plan, speed,
//! fuel, reefer temperature against its band, driver hours, alerts, how fresh it all is, and a
//! small map of its route.

use crate::web::components::fleet_map_view::FleetMapView;
use crate::web::components::sparkline::Sparkline;
use crate::web::hooks::SPEED_WINDOW_MS;
use crate::web::map_adapter::{route_stops, truck_marker};
use convoy_core::view::format::{
    format_age, format_clock, format_delay, format_duration_minutes, is_late,
};
use convoy_core::wire::{EventId, Route, TruckState};
use std::rc::Rc;
use yew::prelude::*;

/// After this long without an update the panel says it is stale.
pub const STALE_AFTER_MS: u64 = 10_000;

#[derive(Properties)]
pub struct TruckPanelProps {
    pub truck: Rc<TruckState>,
    pub route: Option<Rc<Route>>,
    pub now_ms: u64,
    /// `(updated_ms, speed_kph)` over the last `SPEED_WINDOW_MS`, oldest first.
    #[prop_or_default]
    pub speed_history: Rc<Vec<(u64, f32)>>,
    #[prop_or_default]
    pub on_close: Option<Callback<()>>,
    /// Acknowledge the alert with this id; without it the panel only shows who acknowledged.
    #[prop_or_default]
    pub on_ack: Option<Callback<EventId>>,
}

impl PartialEq for TruckPanelProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.truck, &other.truck)
            && self.route == other.route
            && self.now_ms / 1000 == other.now_ms / 1000
            && Rc::ptr_eq(&self.speed_history, &other.speed_history)
            && self.on_close == other.on_close
            && self.on_ack == other.on_ack
    }
}

#[function_component(TruckPanel)]
pub fn truck_panel(props: &TruckPanelProps) -> Html {
    let TruckPanelProps {
        truck,
        route,
        now_ms,
        speed_history,
        on_close,
        on_ack,
    } = props;
    let age_ms = now_ms.saturating_sub(truck.updated_ms);
    let stale = age_ms > STALE_AFTER_MS;
    let delay_s = truck.delay_s();
    let (line, stops) = route
        .as_ref()
        .map(|route| route_stops(truck, route))
        .unwrap_or_default();
    html! {
        <article class={classes!("truck-panel", stale.then_some("stale"))} data-truck={truck.id.clone()}
            data-event-id={truck.last_event_id.to_string()} aria-label={format!("Truck {}", truck.id)}>
            <header>
                <h2>{ &truck.id }<small>{ format!(" · {} · {}", truck.driver, truck.route_name) }</small></h2>
                <span class={classes!("status", truck.status.key())}>{ truck.status.label() }</span>
                if let Some(on_close) = on_close {
                    <button type="button" class="close" aria-label={format!("Remove {}", truck.id)}
                        onclick={on_close.reform(|_| ())}>{ "×" }</button>
                }
            </header>
            <p class={classes!("freshness", stale.then_some("stale"))}>
                { if stale { format!("Stale: no update for {}", format_age(age_ms).trim_end_matches(" ago")) } else { format!("Updated {}", format_age(age_ms)) } }
            </p>
            <dl class="facts">
                <div><dt>{ "ETA" }</dt><dd>{ format_clock(truck.eta_ms) }<small>{ format!(" plan {}", format_clock(truck.planned_arrival_ms)) }</small></dd></div>
                <div><dt>{ "Delay" }</dt><dd class={classes!(is_late(delay_s).then_some("late"))}>{ format_delay(delay_s) }</dd></div>
                <div><dt>{ "Speed" }</dt><dd>{ format!("{:.0} km/h", truck.speed_kph) }</dd></div>
                <div><dt>{ "Fuel" }</dt><dd><meter min="0" max="100" low="20" value={truck.fuel_pct.to_string()}></meter>{ format!(" {:.0} %", truck.fuel_pct) }</dd></div>
                if let (Some(temp), Some(band)) = (truck.reefer_c, truck.reefer_band) {
                    <div><dt>{ "Reefer" }</dt>
                        <dd class={classes!((temp < band.min_c || temp > band.max_c).then_some("late"))}>
                            { format!("{temp:.1} °C") }<small>{ format!(" band {:.0}…{:.0} °C", band.min_c, band.max_c) }</small>
                        </dd></div>
                }
                <div><dt>{ "Driver hours left" }</dt><dd>{ format_duration_minutes(truck.driver_minutes_left) }</dd></div>
            </dl>
            <div class="speed-trend">
                <Sparkline points={speed_history.clone()} window_ms={SPEED_WINDOW_MS}
                    label="Speed" unit="km/h" min_scale={90.0} />
            </div>
            <div class="progress" role="progressbar" aria-label="Route progress" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow={format!("{:.0}", truck.progress * 100.0)}>
                // A presentation attribute, not a style: the policy allows no inline styles.
                <svg viewBox="0 0 1000 1" preserveAspectRatio="none" aria-hidden="true">
                    <rect width={format!("{:.0}", truck.progress * 1000.0)} height="1" />
                </svg>
            </div>
            <FleetMapView compact={true} markers={vec![truck_marker(truck, *now_ms)]}
                route={Some(line)} {stops} on_select={Callback::noop()}
                label={format!("Map of {}'s route", truck.id)} />
            if let Some(route) = route {
                <ol class="stops">
                    { for route.stops.iter().enumerate().map(|(i, stop)| {
                        let state = match i.cmp(&truck.next_stop) {
                            std::cmp::Ordering::Less => "done",
                            std::cmp::Ordering::Equal => "current",
                            std::cmp::Ordering::Greater => "next",
                        };
                        html! { <li class={state}><span>{ &stop.name }</span><small>{ format!(" plan {}", format_clock(stop.planned_ms)) }</small></li> }
                    }) }
                </ol>
            }
            <ul class="alerts" aria-label="Alerts">
                { for truck.alerts.iter().map(|a| {
                    let id = a.id;
                    html! {
                        <li key={a.id.to_string()} class={classes!("alert-tag", if a.acked.is_some() { "acked" } else { "raised" })}
                            data-alert-id={a.id.to_string()}>
                            { format!("{}: {}", a.kind.label(), a.message) }
                            if let Some(ack) = &a.acked {
                                <span class="alert-acked">
                                    { format!(" · acknowledged by {} at {}", ack.by, format_clock(ack.at_ms)) }
                                </span>
                            } else if let Some(on_ack) = on_ack {
                                <button type="button" class="ack"
                                    aria-label={format!("Acknowledge {} on {}", a.kind.label(), truck.id)}
                                    onclick={on_ack.reform(move |_: MouseEvent| id)}>{ "Acknowledge" }</button>
                            }
                        </li>
                    }
                }) }
            </ul>
        </article>
    }
}
