//! One row of the fleet table. Props compare by pointer, so a row re-renders only when its own
//! truck changed.

use crate::web::components::board_link::BoardLink;
use crate::web::route::{Link, Route};
use convoy_core::view::board::{BoardError, BoardLayout};
use convoy_core::view::format::{format_age, format_clock, format_delay, is_late, reported};
use convoy_core::wire::TruckState;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties)]
pub struct TruckRowProps {
    pub truck: Rc<TruckState>,
    pub now_ms: u64,
    /// The saved board, which "Add to board" extends.
    #[prop_or_default]
    pub board: Rc<BoardLayout>,
    /// Position in the whole table (header = 1) for screen readers, as rows out of view are
    /// not rendered.
    #[prop_or_default]
    pub row_index: usize,
    /// The feed is down: the row is marked stale, with its age.
    #[prop_or_default]
    pub offline: bool,
}

impl PartialEq for TruckRowProps {
    fn eq(&self, other: &Self) -> bool {
        // The age column moves in whole seconds; re-render for that too.
        Rc::ptr_eq(&self.truck, &other.truck)
            && self.now_ms / 1000 == other.now_ms / 1000
            && Rc::ptr_eq(&self.board, &other.board)
            && self.row_index == other.row_index
            && self.offline == other.offline
    }
}

#[function_component(TruckRow)]
pub fn truck_row(
    TruckRowProps {
        truck,
        now_ms,
        board,
        row_index,
        offline,
    }: &TruckRowProps,
) -> Html {
    let delay_s = truck.delay_s();
    let age = format_age(now_ms.saturating_sub(truck.updated_ms));
    let board_action = match board.add(&truck.id) {
        Ok(next) => html! {
            <BoardLink layout={next} classes="add-to-board"
                label={AttrValue::from(format!("Add to board: {}", truck.id))}>{ "Add to board" }</BoardLink>
        },
        Err(BoardError::AlreadyShown(_)) => html! {
            <BoardLink layout={(**board).clone()} classes="on-board"
                label={AttrValue::from(format!("On board: {}, open the board", truck.id))}>{ "On board" }</BoardLink>
        },
        Err(e) => html! { <span class="muted" title={e.to_string()}>{ "Board full" }</span> },
    };
    html! {
        <tr class={classes!("truck-row", offline.then_some("stale"))} data-truck={truck.id.clone()}
            data-event-id={truck.last_event_id.to_string()}
            aria-rowindex={(*row_index > 0).then(|| row_index.to_string())}>
            <th scope="row">
                <Link to={Route::Truck { id: truck.id.clone() }}>{ &truck.id }</Link>
            </th>
            <td>{ &truck.driver }</td>
            <td><span class={classes!("status", truck.status.key())}>{ truck.status.label() }</span></td>
            <td class="num speed">{ reported(truck.speed_kph, |v| format!("{v:.0} km/h")) }</td>
            <td class="num eta">{ reported(truck.eta_ms, format_clock) }</td>
            <td class={classes!("num", "delay", delay_s.is_some_and(is_late).then_some("late"))}>{ reported(delay_s, format_delay) }</td>
            <td class="alerts">
                { for truck.alerts.iter().map(|a| html! {
                    <span class="alert-tag" title={a.message.clone()}>{ a.kind.label() }</span>
                }) }
            </td>
            <td class="num updated">
                if *offline {
                    <span class="stale-mark" title="Not live: the server cannot be reached">{ format!("Stale: last update {age}") }</span>
                } else {
                    { age }
                }
            </td>
            <td class="board-action">{ board_action }</td>
        </tr>
    }
}
