//! A truck's live insights: route progress with its stops, ETA and delay against plan, speed,
//! fuel, reefer temperature against its band, driver hours, alerts, how fresh it all is, and a
//! small map of its route with its trail. A reading the truck has not sent (or an insight not
//! derived yet) reads "not reported".

use crate::web::components::fleet_map_view::FleetMapView;
use crate::web::components::sparkline::Sparkline;
use crate::web::hooks::{SPEED_WINDOW_MS, TRAIL_WINDOW_MS};
use crate::web::map_adapter::{route_stops, truck_marker};
use convoy_core::trip::TripPlan;
use convoy_core::view::format::{
    format_age, format_clock, format_delay, format_duration_minutes, is_late, reported,
};
use convoy_core::wire::{EventId, TruckState};
use std::rc::Rc;
use yew::prelude::*;

/// After this long without an update the panel says it is stale.
pub const STALE_AFTER_MS: u64 = 10_000;

#[derive(Properties)]
pub struct TruckPanelProps {
    pub truck: Rc<TruckState>,
    pub now_ms: u64,
    /// `(updated_ms, speed_kph)` over the last `SPEED_WINDOW_MS`, oldest first.
    #[prop_or_default]
    pub speed_history: Rc<Vec<(u64, f32)>>,
    /// `(at_ms, reefer_c)` over the track the panel has (the trip's last hour), oldest first.
    #[prop_or_default]
    pub reefer_history: Rc<Vec<(u64, f32)>>,
    #[prop_or_default]
    pub on_close: Option<Callback<()>>,
    /// Acknowledge the alert with this id; without it the panel only shows who acknowledged.
    #[prop_or_default]
    pub on_ack: Option<Callback<EventId>>,
    /// The feed is down: the panel is marked stale, whatever the truck last said.
    #[prop_or_default]
    pub offline: bool,
    /// The truck's plan with its road shape, once fetched: the map draws its legs along it
    /// (else straight between the stops).
    #[prop_or_default]
    pub plan: Option<Rc<TripPlan>>,
    /// The truck's recent positions, oldest first, for the map's trail.
    #[prop_or_default]
    pub trail: Rc<Vec<(f64, f64)>>,
}

impl PartialEq for TruckPanelProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.truck, &other.truck)
            && self.now_ms / 1000 == other.now_ms / 1000
            && Rc::ptr_eq(&self.speed_history, &other.speed_history)
            && Rc::ptr_eq(&self.reefer_history, &other.reefer_history)
            && self.on_close == other.on_close
            && self.on_ack == other.on_ack
            && self.offline == other.offline
            && self.plan == other.plan
            && Rc::ptr_eq(&self.trail, &other.trail)
    }
}

#[function_component(TruckPanel)]
pub fn truck_panel(props: &TruckPanelProps) -> Html {
    let TruckPanelProps {
        truck,
        now_ms,
        speed_history,
        reefer_history,
        on_close,
        on_ack,
        offline,
        plan,
        trail,
    } = props;
    let age_ms = now_ms.saturating_sub(truck.updated_ms);
    let stale = *offline || age_ms > STALE_AFTER_MS;
    let delay_s = truck.delay_s();
    let late = delay_s.is_some_and(is_late);
    let stops = &truck.stops;
    let (line, map_stops) = route_stops(truck, plan.as_deref());
    let out_of_band = match (truck.reefer_c, truck.reefer_band) {
        (Some(t), Some(band)) => t < band.min_c || t > band.max_c,
        _ => false,
    };
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
            <p class={classes!("freshness", stale.then_some("stale"), offline.then_some("offline"))}>
                { match (*offline, stale) {
                    (true, _) => format!("Stale, not live: last update {}", format_age(age_ms)),
                    (false, true) => format!("Stale: no update for {}", format_age(age_ms).trim_end_matches(" ago")),
                    (false, false) => format!("Updated {}", format_age(age_ms)),
                } }
            </p>
            <dl class="facts">
                <div><dt>{ "ETA" }</dt><dd>{ reported(truck.eta_ms, format_clock) }<small>{ format!(" plan {}", reported(truck.planned_arrival_ms, format_clock)) }</small></dd></div>
                <div><dt>{ "Delay" }</dt><dd class={classes!(late.then_some("late"))}>{ reported(delay_s, format_delay) }</dd></div>
                <div><dt>{ "Speed" }</dt><dd>{ reported(truck.speed_kph, |v| format!("{v:.0} km/h")) }</dd></div>
                <div><dt>{ "Fuel" }</dt><dd>
                    if let Some(fuel) = truck.fuel_pct {
                        <meter min="0" max="100" low="20" value={fuel.to_string()}></meter>
                    }
                    { format!(" {}", reported(truck.fuel_pct, |v| format!("{v:.0} %"))) }</dd></div>
                <div><dt>{ "Reefer" }</dt>
                    <dd class={classes!(out_of_band.then_some("late"))}>
                        { reported(truck.reefer_c, |t| format!("{t:.1} °C")) }
                        if let Some(band) = truck.reefer_band {
                            <small>{ format!(" band {:.0}…{:.0} °C", band.min_c, band.max_c) }</small>
                        }
                    </dd></div>
                <div><dt>{ "Driver hours left" }</dt><dd>{ reported(truck.driver_minutes_left, format_duration_minutes) }</dd></div>
            </dl>
            <div class="speed-trend">
                <Sparkline points={speed_history.clone()} window_ms={SPEED_WINDOW_MS}
                    label="Speed" unit="km/h" min_scale={90.0} />
            </div>
            <div class="reefer-trend">
                <Sparkline points={reefer_history.clone()} window_ms={TRAIL_WINDOW_MS}
                    label="Reefer temperature" unit="°C" precision={1}
                    band={truck.reefer_band.map(|b| (b.min_c, b.max_c))}
                    empty={if truck.reefer_c.is_some() { "waiting for data" } else { "not reported" }} />
            </div>
            <div class="progress" role="progressbar" aria-label="Route progress" aria-valuemin="0" aria-valuemax="100"
                aria-valuenow={format!("{:.0}", truck.progress * 100.0)}>
                // A presentation attribute, not a style: the policy allows no inline styles.
                <svg viewBox="0 0 1000 1" preserveAspectRatio="none" aria-hidden="true">
                    <rect width={format!("{:.0}", truck.progress * 1000.0)} height="1" />
                </svg>
            </div>
            if !stops.is_empty() || truck.position.is_some() {
                <FleetMapView compact={true} markers={truck_marker(truck, *now_ms).into_iter().collect::<Vec<_>>()}
                    route={(!line.is_empty()).then_some(line)} stops={map_stops}
                    trail={(**trail).clone()} on_select={Callback::noop()}
                    label={format!("Map of {}'s route", truck.id)} />
            }
            if !stops.is_empty() {
                <ol class="stops">
                    { for stops.iter().enumerate().map(|(i, stop)| {
                        let state = match i.cmp(&truck.next_stop) {
                            std::cmp::Ordering::Less => "done",
                            std::cmp::Ordering::Equal => "current",
                            std::cmp::Ordering::Greater => "next",
                        };
                        let mut times = format!(" plan {}", format_clock(stop.planned_ms));
                        if let Some(at) = stop.arrived_ms {
                            times.push_str(&format!(" · arrived {}", format_clock(at)));
                        }
                        if let Some(at) = stop.departed_ms {
                            times.push_str(&format!(" · left {}", format_clock(at)));
                        }
                        if stop.skipped {
                            times.push_str(" · passed by");
                        }
                        html! { <li class={state}><span>{ &stop.name }</span><small>{ times }</small></li> }
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
