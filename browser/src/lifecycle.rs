//! bfcache-friendly page lifecycle: no `unload` listener. A page going into the back/forward
//! cache hands over (`pagehide`, persisted) and rejoins on `pageshow`; a page going away for
//! good closes cleanly, so the next leader starts at once. Whether the page is hidden goes to
//! the hub too: a leader holds relayed events a little while every other tab is hidden.

use crate::hub_loop::{HubHandle, HubHost};
use crate::visibility::VisibilityWatch;
use gloo_events::EventListener;
use wasm_bindgen::JsCast;
use web_sys::PageTransitionEvent;

/// The page's `pagehide`, `pageshow` and visibility listeners; dropping it removes them.
pub struct PageLifecycle {
    _listeners: [EventListener; 2],
    _visibility: Option<VisibilityWatch>,
}

impl PageLifecycle {
    /// Feeds this page's lifecycle to the hub behind `handle` (None outside a window).
    pub fn listen<H: HubHost>(handle: HubHandle<H>) -> Option<PageLifecycle> {
        let on_hidden = handle.clone();
        let on_show = handle.clone();
        PageLifecycle::with(
            move |hidden| {
                on_hidden.input(|hub, _, now| hub.set_hidden(now, hidden));
            },
            move |persisted| {
                if persisted {
                    handle.input(|hub, _, now| hub.handle_page_hide(now));
                } else {
                    handle.input(|hub, _, now| hub.shutdown(now));
                }
            },
            move || {
                on_show.input(|hub, _, now| hub.handle_page_show(now));
            },
        )
    }

    /// Calls `on_hidden` when the page is hidden or shown, `on_hide(persisted)` on `pagehide`
    /// (persisted: into the back/forward cache) and `on_show` on a `pageshow` from that cache
    /// (None outside a window).
    pub fn with(
        on_hidden: impl Fn(bool) + 'static,
        on_hide: impl Fn(bool) + 'static,
        on_show: impl Fn() + 'static,
    ) -> Option<PageLifecycle> {
        let window = web_sys::window()?;
        let visibility = VisibilityWatch::listen(on_hidden);
        let persisted = |event: &web_sys::Event| {
            event
                .dyn_ref::<PageTransitionEvent>()
                .is_some_and(|e| e.persisted())
        };
        Some(PageLifecycle {
            _listeners: [
                EventListener::new(&window, "pagehide", move |event| on_hide(persisted(event))),
                EventListener::new(&window, "pageshow", move |event| {
                    if persisted(event) {
                        on_show();
                    }
                }),
            ],
            _visibility: visibility,
        })
    }
}
