//! A form control's value, read from its event. Components hand these a `Callback<String>`
//! and never cast an event's target to a web-sys element themselves.

use web_sys::{HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement};
use yew::prelude::*;

/// An `oninput` handler for an `<input>` or a `<textarea>`: `on_value` gets the text now in it.
pub fn input_value(on_value: Callback<String>) -> Callback<InputEvent> {
    Callback::from(move |e: InputEvent| {
        if let Some(input) = e.target_dyn_into::<HtmlInputElement>() {
            on_value.emit(input.value());
        } else if let Some(text_area) = e.target_dyn_into::<HtmlTextAreaElement>() {
            on_value.emit(text_area.value());
        }
    })
}

/// An `onchange` handler for a `<select>`: `on_value` gets the chosen option's value.
pub fn select_value(on_value: Callback<String>) -> Callback<Event> {
    Callback::from(move |e: Event| {
        if let Some(select) = e.target_dyn_into::<HtmlSelectElement>() {
            on_value.emit(select.value());
        }
    })
}
