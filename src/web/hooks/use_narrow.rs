//! Whether the viewport is a phone's: the views that change shape there (the overview's cards)
//! and the stylesheet's `max-width` queries use the same width.

use gloo_events::EventListener;
use yew::prelude::*;

/// At most this wide (CSS px) the app takes its phone layout; the stylesheet's
/// `@media (max-width: 600px)` rules say the same.
pub const PHONE_MAX_WIDTH_PX: f64 = 600.0;

fn narrow_now() -> bool {
    web_sys::window()
        .and_then(|w| w.inner_width().ok())
        .and_then(|w| w.as_f64())
        .is_some_and(|w| w <= PHONE_MAX_WIDTH_PX)
}

/// True while the viewport is at most [`PHONE_MAX_WIDTH_PX`] wide; follows resizes.
#[hook]
pub fn use_narrow() -> bool {
    let narrow = use_state_eq(narrow_now);
    {
        let narrow = narrow.setter();
        use_effect_with((), move |()| {
            let listener = web_sys::window().map(|window| {
                EventListener::new(&window, "resize", move |_| narrow.set(narrow_now()))
            });
            move || drop(listener)
        });
    }
    *narrow
}
