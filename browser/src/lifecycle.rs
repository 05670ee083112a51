//! bfcache-friendly page lifecycle: no `unload` listener. A page going into the back/forward
//! cache hands over (`pagehide`, persisted) and rejoins on `pageshow`; a page going away for
//! good closes cleanly, so the next leader starts at once.

use crate::hub_loop::{HubHandle, HubHost};
use gloo_events::EventListener;
use wasm_bindgen::JsCast;
use web_sys::PageTransitionEvent;

/// The page's `pagehide` and `pageshow` listeners; dropping it removes them.
pub struct PageLifecycle {
    _listeners: [EventListener; 2],
}

impl PageLifecycle {
    /// Feeds this page's lifecycle to the hub behind `handle` (None outside a window).
    pub fn listen<H: HubHost>(handle: HubHandle<H>) -> Option<PageLifecycle> {
        let window = web_sys::window()?;
        let on_show = handle.clone();
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
        })
    }
}
