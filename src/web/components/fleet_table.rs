//! The fleet table: sortable by any column, filtered by status, alert and text, with counts
//! per status. The query is the caller's; this component only shows it and reports changes.

use crate::web::components::truck_row::TruckRow;
use crate::web::hooks::{input_value, select_value};
use convoy_core::view::board::BoardLayout;
use convoy_core::view::query::{SortKey, TableQuery};
use convoy_core::wire::{AlertKind, TruckState, TruckStatus};
use std::rc::Rc;
use yew::prelude::*;

/// Every row is this tall (the stylesheet says so too), so rows out of view become spacers.
pub const ROW_HEIGHT_PX: f64 = 36.0;

/// On a phone each row is a card this tall (the stylesheet's `max-width: 600px` rules).
pub const CARD_HEIGHT_PX: f64 = 96.0;

/// The performance mark of the table's first render with trucks: when a new tab shows data.
pub const DATA_SHOWN_MARK: &str = "convoy:data-shown";

#[derive(Properties)]
pub struct FleetTableProps {
    pub trucks: Vec<Rc<TruckState>>,
    pub query: TableQuery,
    pub now_ms: u64,
    pub on_query: Callback<TableQuery>,
    /// The saved board, for each row's "Add to board" link.
    #[prop_or_default]
    pub board: Rc<BoardLayout>,
    /// The table body, for whoever measures which rows are in view.
    #[prop_or_default]
    pub body_ref: NodeRef,
    /// The rows to render (of those that pass the filters); None renders them all.
    #[prop_or_default]
    pub window: Option<std::ops::Range<usize>>,
    /// The feed is down: rows are marked stale.
    #[prop_or_default]
    pub offline: bool,
    /// How tall each row is ([`ROW_HEIGHT_PX`], or [`CARD_HEIGHT_PX`] as cards on a phone).
    #[prop_or(ROW_HEIGHT_PX)]
    pub row_height_px: f64,
}

impl PartialEq for FleetTableProps {
    fn eq(&self, other: &Self) -> bool {
        // By pointer: the store gives a truck a new `Rc` exactly when it changed, and comparing
        // 500 trucks field by field on every render would cost more than it saves.
        self.trucks.len() == other.trucks.len()
            && self
                .trucks
                .iter()
                .zip(&other.trucks)
                .all(|(a, b)| Rc::ptr_eq(a, b))
            && self.query == other.query
            && self.now_ms == other.now_ms
            && self.on_query == other.on_query
            && self.board == other.board
            && self.body_ref == other.body_ref
            && self.window == other.window
            && self.offline == other.offline
            && self.row_height_px == other.row_height_px
    }
}

#[function_component(FleetTable)]
pub fn fleet_table(props: &FleetTableProps) -> Html {
    let FleetTableProps {
        trucks,
        query,
        now_ms,
        on_query,
        board,
        body_ref,
        window,
        offline,
        row_height_px,
    } = props;
    // After the first render that shows trucks (effects run once the DOM is updated).
    use_effect_with(trucks.is_empty(), |empty| {
        if !*empty {
            convoy_browser::clock::mark(DATA_SHOWN_MARK);
        }
    });
    let rows = query.apply(trucks.iter());
    let nothing_matches = rows.is_empty();
    let shown = window.clone().map_or(0..rows.len(), |w| {
        w.start.min(rows.len())..w.end.min(rows.len())
    });
    // Sized by an SVG's height attribute, not a style attribute: the Content-Security-Policy
    // allows no inline styles.
    let spacer = |count: usize| {
        (count > 0).then(|| html! {
            <tr class="spacer" aria-hidden="true">
                <td colspan="9"><svg class="spacer-size" width="1" height={format!("{}", count as f64 * row_height_px)} /></td>
            </tr>
        })
    };
    let above = spacer(shown.start);
    let below = spacer(rows.len() - shown.end);
    let count = |status: TruckStatus| trucks.iter().filter(|t| t.status == status).count();

    let on_text = {
        let query = query.clone();
        input_value(on_query.reform(move |text| TableQuery {
            text,
            ..query.clone()
        }))
    };
    let on_alert = {
        let query = query.clone();
        select_value(on_query.reform(move |value: String| TableQuery {
            alert: AlertKind::ALL.into_iter().find(|k| k.label() == value),
            ..query.clone()
        }))
    };
    let status_button = |status: Option<TruckStatus>, label: String| {
        let (query, on_query) = (query.clone(), on_query.clone());
        let pressed = query.status == status;
        let onclick = Callback::from(move |_| {
            on_query.emit(TableQuery {
                status,
                ..query.clone()
            })
        });
        html! {
            <button type="button" class="status-filter" aria-pressed={pressed.to_string()} {onclick}
                data-status={status.map(|s| s.key()).unwrap_or("all")}>{ label }</button>
        }
    };
    let header = |key: SortKey| {
        let (query, on_query) = (query.clone(), on_query.clone());
        let sorted = query.sort == key;
        let aria_sort = match (sorted, query.descending) {
            (false, _) => "none",
            (true, false) => "ascending",
            (true, true) => "descending",
        };
        let onclick = Callback::from(move |_| on_query.emit(query.toggled(key)));
        html! {
            <th scope="col" aria-sort={aria_sort}>
                <button type="button" class="sort" {onclick} data-sort={key.label()}>
                    { key.label() }
                    <span aria-hidden="true">{ match aria_sort { "ascending" => " ▲", "descending" => " ▼", _ => "" } }</span>
                </button>
            </th>
        }
    };

    html! {
        <section class="fleet-table" aria-label="Fleet">
            <div class="filters" role="group" aria-label="Filter trucks">
                { status_button(None, format!("All {}", trucks.len())) }
                { for TruckStatus::ALL.iter().map(|s| status_button(Some(*s), format!("{} {}", s.label(), count(*s)))) }
                <select aria-label="Alert" onchange={on_alert} class="alert-filter">
                    <option value="" selected={query.alert.is_none()}>{ "Any alert state" }</option>
                    { for AlertKind::ALL.iter().map(|k| html! {
                        <option value={k.label()} selected={query.alert == Some(*k)}>{ k.label() }</option>
                    }) }
                </select>
                <input type="search" class="text-filter" placeholder="Truck, driver or route"
                    aria-label="Search trucks" value={query.text.clone()} oninput={on_text} />
            </div>
            <table aria-rowcount={(rows.len() + 1).to_string()}>
                <thead><tr>
                    { for SortKey::ALL.iter().take(5).map(|k| header(*k)) }
                    { header(SortKey::Delay) }
                    <th scope="col">{ "Alerts" }</th>
                    { header(SortKey::Updated) }
                    <th scope="col">{ "Board" }</th>
                </tr></thead>
                <tbody ref={body_ref.clone()}>
                    { above }
                    { for rows[shown.clone()].iter().zip(shown.clone()).map(|(truck, at)| html! {
                        <TruckRow key={truck.id.clone()} truck={(*truck).clone()} now_ms={*now_ms}
                            board={board.clone()} row_index={at + 2} offline={*offline} />
                    }) }
                    { below }
                </tbody>
            </table>
            if trucks.is_empty() {
                <p class="empty">{ "No trucks yet. Is convoy-server running with its simulator?" }</p>
            } else if nothing_matches {
                <p class="empty">{ "No truck matches these filters." }</p>
            }
        </section>
    }
}
