//! Whether the page is hidden, and a listener for when that changes. A hidden page keeps its
//! state current but renders nothing until it is shown again.

use gloo_events::EventListener;

/// Whether the page is hidden now (false when there is no document, as in a worker).
pub fn page_hidden() -> bool {
    web_sys::window()
        .and_then(|w| w.document())
        .is_some_and(|d| d.hidden())
}

/// Calls its callback with `page_hidden()` whenever the page is hidden or shown; dropping it
/// stops listening.
pub struct VisibilityWatch {
    _listener: EventListener,
}

impl VisibilityWatch {
    /// Listens on the document (None without one).
    pub fn listen(on_change: impl Fn(bool) + 'static) -> Option<VisibilityWatch> {
        let document = web_sys::window()?.document()?;
        let listener = EventListener::new(&document, "visibilitychange", move |_| {
            on_change(page_hidden())
        });
        Some(VisibilityWatch {
            _listener: listener,
        })
    }
}
