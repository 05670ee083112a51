//! The board: trucks' panels side by side in a responsive grid, with a picker to add one, and
//! each panel moved by dragging its handle, by the arrow keys (Home, End) on that handle, or by
//! its "move left/right" buttons; every move is announced. The layout is the caller's (it lives
//! in the URL); this component shows it and reports every new layout.

use crate::web::hooks::{input_value, use_refocus};
use crate::web::route::{Link, Route};
use convoy_core::view::board::{BoardLayout, MAX_TRUCKS};
use convoy_core::wire::TruckId;
use std::rc::Rc;
use yew::prelude::*;

/// What the grid hands the caller's panel renderer for one truck.
#[derive(Clone, PartialEq)]
pub struct BoardSlot {
    pub id: TruckId,
    /// Removes a truck from the board; the panel's close button calls it with `id`. The same
    /// callback serves every slot, so panels do not re-render when the grid does.
    pub on_remove: Callback<TruckId>,
}

#[derive(Properties, PartialEq)]
pub struct BoardGridProps {
    pub layout: Rc<BoardLayout>,
    /// Known trucks not on the board, offered by the picker.
    pub choices: Rc<Vec<TruckId>>,
    /// `choices` and the board are the whole fleet the operator sees: an id in neither is
    /// refused. Until then, any valid id may be added (its panel says when it is unknown).
    #[prop_or_default]
    pub fleet_known: bool,
    /// Renders one truck's panel. Keep it stable (`use_callback`): the grid compares it.
    pub panel: Callback<BoardSlot, Html>,
    /// Called with the layout after an add, a removal or a move.
    pub on_change: Callback<BoardLayout>,
}

#[function_component(BoardGrid)]
pub fn board_grid(props: &BoardGridProps) -> Html {
    let BoardGridProps {
        layout,
        choices,
        fleet_known,
        panel,
        on_change,
    } = props;
    let text = use_state(String::new);
    let error = use_state(|| None::<String>);
    let announcement = use_state(String::new);
    let dragging = use_state_eq(|| None::<TruckId>);
    let drop_target = use_state_eq(|| None::<TruckId>);
    let board_ref = use_node_ref();
    let refocus = use_refocus(board_ref.clone(), layout.clone());

    let on_remove = {
        let announcement = announcement.setter();
        use_callback(
            (layout.clone(), on_change.clone(), refocus.clone()),
            move |id: TruckId, (layout, on_change, refocus)| {
                let Some(at) = layout.position(&id) else {
                    return;
                };
                // The close button disappears with its panel: focus the neighbour's instead.
                let neighbour = layout
                    .trucks()
                    .get(at + 1)
                    .or(at.checked_sub(1).and_then(|i| layout.trucks().get(i)));
                let mut selectors: Vec<String> = neighbour
                    .map(|n| format!("[data-truck=\"{n}\"] button.close"))
                    .into_iter()
                    .collect();
                selectors.push("#board-add".into());
                refocus.emit(selectors);
                announcement.set(format!("Removed {id} from the board."));
                on_change.emit(layout.remove(&id));
            },
        )
    };

    let on_input = {
        let (text, error) = (text.clone(), error.clone());
        input_value(Callback::from(move |typed| {
            text.set(typed);
            error.set(None);
        }))
    };
    let on_submit = {
        let (text, error, announcement) = (text.clone(), error.clone(), announcement.clone());
        let (layout, choices, on_change) = (layout.clone(), choices.clone(), on_change.clone());
        let fleet_known = *fleet_known;
        Callback::from(move |e: SubmitEvent| {
            e.prevent_default();
            let typed = text.trim();
            if typed.is_empty() {
                error.set(Some("Type or pick a truck id first, like T-07.".into()));
                return;
            }
            // "t-07" finds T-07 when the fleet knows it.
            let known = choices
                .iter()
                .chain(layout.trucks())
                .find(|c| c.eq_ignore_ascii_case(typed));
            if fleet_known && known.is_none() {
                error.set(Some(format!(
                    "Could not add it: your fleet has no truck {typed}. Pick one from the list."
                )));
                return;
            }
            let id = known.map_or(typed, String::as_str);
            match layout.add(id) {
                Ok(next) => {
                    announcement.set(format!("Added {id} to the board."));
                    text.set(String::new());
                    error.set(None);
                    on_change.emit(next);
                }
                Err(e) => error.set(Some(format!("Could not add it: {e}."))),
            }
        })
    };

    let count = layout.len();
    let slot = |index: usize, id: &TruckId| {
        let move_button = |delta: isize| {
            let (layout, on_change, refocus, announcement) = (
                layout.clone(),
                on_change.clone(),
                refocus.clone(),
                announcement.setter(),
            );
            let id = id.clone();
            let (class, other, word, glyph, disabled) = if delta < 0 {
                ("move-left", "move-right", "left", "←", index == 0)
            } else {
                ("move-right", "move-left", "right", "→", index + 1 == count)
            };
            let label = format!("Move {id} {word}");
            let onclick = Callback::from(move |_| {
                let next = layout.move_by(&id, delta);
                let at = next.position(&id).unwrap_or_default();
                // Keep focus on the button just pressed; at either end it is disabled, so the
                // other one takes focus.
                refocus.emit(vec![
                    format!("[data-truck=\"{id}\"] button.{class}:not(:disabled)"),
                    format!("[data-truck=\"{id}\"] button.{other}"),
                ]);
                announcement.set(format!(
                    "Moved {id} to position {} of {}.",
                    at + 1,
                    next.len()
                ));
                on_change.emit(next);
            });
            html! {
                <button type="button" class={classes!("move", class)} aria-label={label.clone()} title={label}
                    {disabled} {onclick}>{ glyph }</button>
            }
        };
        // The handle is a button too: the arrow keys move the panel one place, Home and End to
        // either end, and focus stays on the handle so the keys can be pressed again.
        let onkeydown = {
            let (layout, on_change, refocus, announcement) = (
                layout.clone(),
                on_change.clone(),
                refocus.clone(),
                announcement.setter(),
            );
            let id = id.clone();
            Callback::from(move |e: KeyboardEvent| {
                let to = match e.key().as_str() {
                    "ArrowLeft" | "ArrowUp" => index.checked_sub(1),
                    "ArrowRight" | "ArrowDown" => (index + 1 < count).then_some(index + 1),
                    "Home" => Some(0),
                    "End" => Some(count.saturating_sub(1)),
                    _ => return,
                };
                e.prevent_default();
                let Some(to) = to.filter(|to| *to != index) else {
                    announcement.set(format!(
                        "{id} is already at position {} of {count}.",
                        index + 1
                    ));
                    return;
                };
                let next = layout.move_to(&id, to);
                refocus.emit(vec![format!("[data-truck=\"{id}\"] button.drag-handle")]);
                announcement.set(format!(
                    "Moved {id} to position {} of {}.",
                    to + 1,
                    next.len()
                ));
                on_change.emit(next);
            })
        };
        let ondragstart = {
            let (dragging, id) = (dragging.clone(), id.clone());
            Callback::from(move |e: DragEvent| {
                // Firefox starts a drag only when it carries data.
                if let Some(transfer) = e.data_transfer() {
                    let _ = transfer.set_data("text/plain", &id);
                    transfer.set_effect_allowed("move");
                }
                dragging.set(Some(id.clone()));
            })
        };
        let ondragover = {
            let (dragging, drop_target, id) = (dragging.clone(), drop_target.clone(), id.clone());
            Callback::from(move |e: DragEvent| {
                // Only our own panels may be dropped here, not text or files from elsewhere.
                if dragging.is_some() {
                    e.prevent_default();
                    if let Some(transfer) = e.data_transfer() {
                        transfer.set_drop_effect("move");
                    }
                    drop_target.set(Some(id.clone()));
                }
            })
        };
        let ondrop = {
            let (dragging, drop_target, announcement) =
                (dragging.clone(), drop_target.clone(), announcement.setter());
            let (layout, on_change, id) = (layout.clone(), on_change.clone(), id.clone());
            Callback::from(move |e: DragEvent| {
                e.prevent_default();
                if let (Some(from), Some(to)) = ((*dragging).clone(), layout.position(&id)) {
                    let next = layout.move_to(&from, to);
                    announcement.set(format!(
                        "Moved {from} to position {} of {}.",
                        to + 1,
                        next.len()
                    ));
                    on_change.emit(next);
                }
                dragging.set(None);
                drop_target.set(None);
            })
        };
        let ondragend = {
            let (dragging, drop_target) = (dragging.clone(), drop_target.clone());
            Callback::from(move |_: DragEvent| {
                dragging.set(None);
                drop_target.set(None);
            })
        };
        let is_dragged = dragging.as_deref() == Some(id.as_str());
        let is_target = !is_dragged && drop_target.as_deref() == Some(id.as_str());
        html! {
            <li key={id.clone()} data-truck={id.clone()} draggable="true"
                class={classes!("board-slot", is_dragged.then_some("dragging"), is_target.then_some("drop-target"))}
                {ondragstart} {ondragover} {ondrop} {ondragend}>
                <div class="slot-tools" role="group" aria-label={format!("Arrange {id}")}>
                    <button type="button" class="drag-handle" {onkeydown}
                        aria-label={format!("Move {id}: drag, or use the arrow keys")}
                        aria-keyshortcuts="ArrowLeft ArrowRight Home End"
                        title="Drag, or press the arrow keys, to move">{ "⠿" }</button>
                    <span class="slot-position">{ format!("{} of {count}", index + 1) }</span>
                    { move_button(-1) }
                    { move_button(1) }
                </div>
                { panel.emit(BoardSlot { id: id.clone(), on_remove: on_remove.clone() }) }
            </li>
        }
    };

    html! {
        <section class="board" aria-labelledby="board-title" ref={board_ref}>
            <div class="board-head">
                <h1 id="board-title">{ "Board" }</h1>
                <form class="board-picker" onsubmit={on_submit}>
                    <label for="board-add">{ "Add a truck" }</label>
                    <input id="board-add" type="text" list="board-choices" autocomplete="off"
                        placeholder="T-07" value={(*text).clone()} oninput={on_input}
                        aria-invalid={error.is_some().then_some("true")}
                        aria-describedby={if error.is_some() { "board-add-error" } else { "board-add-help" }}
                        disabled={layout.is_full()} />
                    <datalist id="board-choices">
                        { for choices.iter().map(|id| html! { <option key={id.clone()} value={id.clone()} /> }) }
                    </datalist>
                    <button type="submit" disabled={layout.is_full()}>{ "Add" }</button>
                    <span id="board-add-help" class="hint">
                        { if layout.is_full() { format!("The board is full ({MAX_TRUCKS}): remove a truck to add another.") }
                          else { format!("{count} of {MAX_TRUCKS} trucks") } }
                    </span>
                </form>
            </div>
            if let Some(message) = &*error {
                <p id="board-add-error" class="form-error" role="alert">{ message }</p>
            }
            <p class="visually-hidden" role="status" aria-live="polite">{ (*announcement).clone() }</p>
            if layout.is_empty() {
                <div class="board-empty">
                    <p><strong>{ "Add a truck…" }</strong></p>
                    <p>{ "Type or pick a truck id above, or use “Add to board” on the " }
                        <Link to={Route::Fleet}>{ "fleet page" }</Link>
                        { ". Panels can be dragged by their ⠿ handle, moved with the arrow keys on it, or with their ← and → buttons." }</p>
                </div>
            }
            <ol class="board-grid" aria-label="Trucks on the board">
                { for layout.trucks().iter().enumerate().map(|(i, id)| slot(i, id)) }
            </ol>
        </section>
    }
}
