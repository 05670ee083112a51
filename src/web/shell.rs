//! The app shell's service worker, whatever the transport: registers `sw.js` at the root of the
//! public URL (it precaches the build and serves it when the server is unreachable), says so when
//! this page is that cached shell, and offers a reload when a new build is waiting.
//!
//! A click on an alert's notification lands in `sw.js`, which focuses a Convoy window and posts it
//! `{convoyNavigate: url}`: the shell moves the app there in place (history and a `popstate`,
//! which the router follows), so the page is not reloaded.
//!
//! The notice lives outside the Yew tree (a fixed element at the end of `<body>`): it belongs to
//! the page, not to any route.

use convoy_browser::api::{script_url, worker_script_url};
use convoy_browser::worker_port::SERVICE_WORKER_SCRIPT;
use gloo_events::EventListener;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{ServiceWorkerRegistration, ServiceWorkerState};

/// The class of the notice element (tests look for it).
pub const NOTICE_CLASS: &str = "convoy-shell-notice";

/// The message that lets a waiting service worker take over (see `workers/sw.js`).
const SKIP_WAITING: &str = "convoy:skip-waiting";

thread_local! {
    /// The shell's listeners: they live as long as the page does.
    static LISTENERS: RefCell<Vec<EventListener>> = const { RefCell::new(Vec::new()) };
}

fn keep(listener: EventListener) {
    LISTENERS.with(|l| l.borrow_mut().push(listener));
}

/// Registers the service worker and wires the offline notice and the update offer.
pub fn start() {
    let Some(window) = web_sys::window() else {
        return;
    };
    let document = window.document();
    if let Some(document) = &document {
        if document
            .query_selector("meta[name=convoy-offline]")
            .ok()
            .flatten()
            .is_some()
        {
            show_notice(
                "Offline: the server is unreachable. This is the app as last loaded.",
                None,
            );
        }
    }
    let navigator = window.navigator();
    if !js_sys::Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false) {
        return;
    }
    let container = navigator.service_worker();
    let (Ok(url), Ok(scope)) = (worker_script_url(SERVICE_WORKER_SCRIPT), script_url("./")) else {
        return;
    };
    let app_root = scope.clone();
    keep(EventListener::new(&container, "message", move |event| {
        let target = event
            .dyn_ref::<web_sys::MessageEvent>()
            .and_then(|m| js_sys::Reflect::get(&m.data(), &"convoyNavigate".into()).ok())
            .and_then(|t| t.as_string());
        // Only a page of this app: the message could come from any script of the worker.
        if let Some(target) = target.filter(|t| t.starts_with(&app_root)) {
            navigate_in_place(&target);
        }
    }));
    let options = web_sys::RegistrationOptions::new();
    options.set_scope(&scope);
    let registering = container.register_with_options(&url, &options);
    let accepted = Rc::new(Cell::new(false));
    let reload_on_change = accepted.clone();
    keep(EventListener::new(
        &container,
        "controllerchange",
        move |_| {
            // Only after the user asked: the first install also changes the controller.
            if reload_on_change.get() {
                if let Some(window) = web_sys::window() {
                    let _ = window.location().reload();
                }
            }
        },
    ));
    wasm_bindgen_futures::spawn_local(async move {
        let Ok(registration) = JsFuture::from(registering).await else {
            return;
        };
        let Ok(registration) = registration.dyn_into::<ServiceWorkerRegistration>() else {
            return;
        };
        watch_updates(registration, accepted);
    });
}

/// Shows `url` (of this app) without a reload: the router follows `popstate`.
fn navigate_in_place(url: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    if window.location().href().ok().as_deref() == Some(url) {
        return;
    }
    if let Ok(history) = window.history() {
        if history
            .push_state_with_url(&JsValue::NULL, "", Some(url))
            .is_ok()
        {
            if let Ok(event) = web_sys::Event::new("popstate") {
                let _ = window.dispatch_event(&event);
            }
        }
    }
}

fn controlled() -> bool {
    web_sys::window().is_some_and(|w| w.navigator().service_worker().controller().is_some())
}

fn watch_updates(registration: ServiceWorkerRegistration, accepted: Rc<Cell<bool>>) {
    if registration.waiting().is_some() && controlled() {
        offer_reload(&registration, &accepted);
    }
    let found = registration.clone();
    keep(EventListener::new(
        &registration,
        "updatefound",
        move |_| {
            let Some(installing) = found.installing() else {
                return;
            };
            let registration = found.clone();
            let accepted = accepted.clone();
            let worker = installing.clone();
            keep(EventListener::new(&installing, "statechange", move |_| {
                if worker.state() == ServiceWorkerState::Installed && controlled() {
                    offer_reload(&registration, &accepted);
                }
            }));
        },
    ));
}

fn offer_reload(registration: &ServiceWorkerRegistration, accepted: &Rc<Cell<bool>>) {
    let registration = registration.clone();
    let accepted = accepted.clone();
    show_notice(
        "New version",
        Some((
            "Reload",
            Box::new(move || {
                if let Some(waiting) = registration.waiting() {
                    accepted.set(true);
                    let _ = waiting.post_message(&JsValue::from_str(SKIP_WAITING));
                }
            }),
        )),
    );
}

type Action = (&'static str, Box<dyn Fn()>);

fn show_notice(text: &str, action: Option<Action>) {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else {
        return;
    };
    let Some(body) = document.body() else {
        return;
    };
    let Ok(notice) = document.create_element("div") else {
        return;
    };
    notice.set_class_name(NOTICE_CLASS);
    let _ = notice.set_attribute("role", "status");
    let _ = notice.set_attribute(
        "style",
        "position:fixed;bottom:1rem;left:50%;transform:translateX(-50%);z-index:1000;\
         padding:.5rem 1rem;border-radius:.5rem;background:#222;color:#fff;font:inherit",
    );
    notice.set_text_content(Some(text));
    if let Some((label, on_click)) = action {
        if let Ok(button) = document.create_element("button") {
            button.set_text_content(Some(label));
            let _ = button.set_attribute("style", "margin-left:.75rem");
            keep(EventListener::new(&button, "click", move |_| on_click()));
            let _ = notice.append_child(&button);
        }
    }
    let _ = body.append_child(&notice);
}
