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
        let window = web_sys::window()?;
        let on_show = handle.clone();
        let on_visibility = handle.clone();
        let visibility = VisibilityWatch::listen(move |hidden| {
            on_visibility.input(|hub, _, now| hub.set_hidden(now, hidden));
        });
        let persisted = |event: &web_sys::Event| {
            event
                .dyn_ref::<PageTransitionEvent>()
                .is_some_and(|e| e.persisted())
        };
        Some(PageLifecycle {
            _listeners: [
                EventListener::new(&window, "pagehide", move |event| {
                    if persisted(event) {
                        handle.input(|hub, _, now| hub.handle_page_hide(now));
                    } else {
                        handle.input(|hub, _, now| hub.shutdown(now));
                    }
                }),
                EventListener::new(&window, "pageshow", move |event| {
                    if persisted(event) {
                        on_show.input(|hub, _, now| hub.handle_page_show(now));
                    }
                }),
            ],
            _visibility: visibility,
        })
    }
}
