//! Which rows of a long table are on screen, so the table renders those and spacers instead of
//! every row: with 500 trucks a frame then diffs a few dozen rows, not 500.

use convoy_core::view::query::visible_rows;
use gloo_events::EventListener;
use std::ops::Range;
use yew::prelude::*;

/// Rows rendered beyond each edge of the viewport, so fast scrolling shows no blank rows.
const OVERSCAN_ROWS: usize = 15;

/// The rows of `total` that the table body behind `body` should render, following scroll and
/// resize. Rows must be `row_height_px` tall.
#[hook]
pub fn use_row_window(body: NodeRef, row_height_px: f64, total: usize) -> Range<usize> {
    let offset = use_state(|| (0.0_f64, 1_200.0_f64));
    {
        let offset = offset.clone();
        let body = body.clone();
        use_effect_with((), move |_| {
            let measure = move || {
                let Some(window) = web_sys::window() else {
                    return;
                };
                let Some(element) = body.cast::<web_sys::Element>() else {
                    return;
                };
                let top = element.get_bounding_client_rect().top();
                let viewport = window
                    .inner_height()
                    .ok()
                    .and_then(|h| h.as_f64())
                    .unwrap_or(1_200.0);
                // Whole rows only: scrolling within a row re-renders nothing.
                let quantized = ((-top) / row_height_px).floor() * row_height_px;
                if *offset != (quantized, viewport) {
                    offset.set((quantized, viewport));
                }
            };
            measure();
            let listeners = web_sys::window().map(|window| {
                // gloo's listeners are passive: they never hold up scrolling.
                let on_scroll = measure.clone();
                [
                    EventListener::new(&window, "scroll", move |_| on_scroll()),
                    EventListener::new(&window, "resize", move |_| measure()),
                ]
            });
            move || drop(listeners)
        });
    }
    let (offset_px, viewport_px) = *offset;
    visible_rows(offset_px, viewport_px, row_height_px, total, OVERSCAN_ROWS)
}
