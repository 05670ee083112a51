//! Which rows of a long table are on screen, so the table renders those and spacers instead of
//! every row: with 500 trucks a frame then diffs a few dozen rows, not 500.

use convoy_core::view::row_window::RowWindow;
use gloo_events::EventListener;
use std::ops::Range;
use yew::prelude::*;

/// Rows rendered beyond each edge of the viewport: always at least the minimum, so fast
/// scrolling shows no blank rows, and as many as the maximum after the window moves, so it
/// moves (and the page re-renders) once every 8 rows scrolled instead of every row. About 10
/// either side on average: every row rendered out of view is still updated by its truck's
/// events (at 2 000 events/s, a third fewer rows rendered made the overview about 2 points of
/// main-thread time calmer).
const MIN_OVERSCAN_ROWS: usize = 6;
const OVERSCAN_ROWS: usize = 14;
/// The viewport's height until it is measured.
const ASSUMED_VIEWPORT_PX: f64 = 1_200.0;

/// The rows of `total` that the table body behind `body` should render, following scroll and
/// resize. Rows must be `row_height_px` tall. The caller re-renders only when these rows
/// change: not for a scroll within a row, nor beyond the table's ends, nor while the rows
/// rendered still cover the viewport and its minimum margin.
#[hook]
pub fn use_row_window(body: NodeRef, row_height_px: f64, total: usize) -> Range<usize> {
    // Measurements are not state: most scroll events change no row, and setting state for
    // each one would re-render the whole page many times a second.
    let new_window = || {
        RowWindow::new(
            row_height_px,
            MIN_OVERSCAN_ROWS,
            OVERSCAN_ROWS,
            ASSUMED_VIEWPORT_PX,
        )
    };
    let window = use_mut_ref(new_window);
    // Rows of another height (the phone's cards): start over, measured below.
    let height = use_mut_ref(|| row_height_px);
    if *height.borrow() != row_height_px {
        *height.borrow_mut() = row_height_px;
        *window.borrow_mut() = new_window();
    }
    let rerender = use_force_update();
    let rows = {
        let mut window = window.borrow_mut();
        window.set_total(total);
        window.rows()
    };
    // Measured again when the row count or height changes: the body may only now be in the
    // page.
    let height_key = row_height_px.to_bits();
    use_effect_with((body, total, height_key), move |(body, _, _)| {
        let body = body.clone();
        let measure = move || {
            let Some(viewport) = web_sys::window() else {
                return;
            };
            let Some(element) = body.cast::<web_sys::Element>() else {
                return;
            };
            let top = element.get_bounding_client_rect().top();
            let height = viewport
                .inner_height()
                .ok()
                .and_then(|h| h.as_f64())
                .unwrap_or(ASSUMED_VIEWPORT_PX);
            if window.borrow_mut().measure(-top, height) {
                rerender.force_update();
            }
        };
        measure();
        let listeners = web_sys::window().map(|viewport| {
            // gloo's listeners are passive: they never hold up scrolling.
            let on_scroll = measure.clone();
            [
                EventListener::new(&viewport, "scroll", move |_| on_scroll()),
                EventListener::new(&viewport, "resize", move |_| measure()),
            ]
        });
        move || drop(listeners)
    });
    rows
}
