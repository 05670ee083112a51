//! A tab's line to the SharedWorker that holds the stream: the worker's `MessagePort`, text
//! frames both ways. What they mean is the core relay's business (this tab's hub runs in
//! `ElectionMode::Client`).

use gloo_events::EventListener;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MessageEvent, MessagePort, SharedWorker, WorkerOptions};

/// The worker's entry script, relative to the document's base (the app's public URL).
pub const SHARED_WORKER_SCRIPT: &str = "shared-worker.js";

/// The name every Convoy tab gives the worker, so they share one (per session: see
/// `tab_feed::HubNames`).
pub const SHARED_WORKER_NAME: &str = "convoy";

/// The first message a tab sends its service worker: the session it serves. A worker whose hub
/// served another session drops it (stream, cache and cursor) before taking this tab's frames.
pub const SESSION_PREFIX: &str = "convoy:session:";

/// A connected port and its listener.
pub struct WorkerPort {
    _worker: SharedWorker,
    port: MessagePort,
    _listener: EventListener,
    _errors: [EventListener; 2],
}

impl WorkerPort {
    /// Connects to (or starts) the origin's SharedWorker; each text message goes to
    /// `on_message`. Non-text messages become an empty string, which the hub counts as malformed.
    /// A worker whose script fails, or a message that cannot be read, goes to `on_failure`; a
    /// constructor that throws (a policy, a `worker-src` CSP) is the error returned.
    pub fn connect(
        name: &str,
        on_message: impl Fn(String) + 'static,
        on_failure: impl Fn(String) + 'static,
    ) -> Result<WorkerPort, String> {
        let options = WorkerOptions::new();
        options.set_name(name);
        let url =
            crate::api::worker_script_url(SHARED_WORKER_SCRIPT).map_err(|e| error_name(&e))?;
        let worker =
            SharedWorker::new_with_worker_options(&url, &options).map_err(|e| error_name(&e))?;
        let port = worker.port();
        let listener = EventListener::new(&port, "message", move |event| {
            let text = event
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
                .unwrap_or_default();
            on_message(text);
        });
        let on_failure = std::rc::Rc::new(on_failure);
        let on_error = on_failure.clone();
        let errors = [
            EventListener::new(&worker, "error", move |_| {
                on_error("its script did not load or run".into())
            }),
            EventListener::new(&port, "messageerror", move |_| {
                on_failure("a message could not be read".into())
            }),
        ];
        port.start();
        Ok(WorkerPort {
            _worker: worker,
            port,
            _listener: listener,
            _errors: errors,
        })
    }

    /// Sends a frame to the worker.
    pub fn post(&self, frame: &str) {
        let _ = self.port.post_message(&JsValue::from_str(frame));
    }
}

/// The name of a thrown DOMException (`SecurityError`), or its text.
pub fn error_name(error: &JsValue) -> String {
    if let Some(error) = error.dyn_ref::<js_sys::Error>() {
        return String::from(error.name());
    }
    error
        .as_string()
        .unwrap_or_else(|| "an unknown error".to_owned())
}

impl Drop for WorkerPort {
    fn drop(&mut self) {
        self.port.close();
    }
}

/// The service worker's script, at the root of the app's public URL (its scope).
pub const SERVICE_WORKER_SCRIPT: &str = "sw.js";

/// What the page knows of its service worker: the active one, and frames waiting for it.
#[derive(Default)]
struct ServiceWorkerTarget {
    worker: Option<web_sys::ServiceWorker>,
    queued: Vec<String>,
}

/// A tab's line to the service worker that holds the stream: frames go to the active worker
/// (posting to it restarts it when the browser stopped it), frames come back on
/// `navigator.serviceWorker`'s `message` event.
pub struct ServiceWorkerPort {
    target: std::rc::Rc<std::cell::RefCell<ServiceWorkerTarget>>,
    _listener: EventListener,
}

impl ServiceWorkerPort {
    /// Registers `sw.js` at the public URL's root, and sends frames to it once it is active
    /// (queued until then). A registration the browser refuses goes to `on_failure`.
    pub fn connect(
        session: &str,
        on_message: impl Fn(String) + 'static,
        on_failure: impl Fn(String) + 'static,
    ) -> Result<ServiceWorkerPort, String> {
        let port = Self::register(on_message, on_failure).map_err(|e| error_name(&e))?;
        port.post(&format!("{SESSION_PREFIX}{session}"));
        Ok(port)
    }

    fn register(
        on_message: impl Fn(String) + 'static,
        on_failure: impl Fn(String) + 'static,
    ) -> Result<ServiceWorkerPort, JsValue> {
        let window = web_sys::window().ok_or_else(|| JsValue::from_str("no window"))?;
        let container = window.navigator().service_worker();
        let listener = EventListener::new(&container, "message", move |event| {
            if let Some(text) = event
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            {
                on_message(text);
            }
        });
        // Deliver messages now, not only once the page's scripts finished loading (web-sys
        // lacks `startMessages`).
        if let Ok(start) = js_sys::Reflect::get(&container, &"startMessages".into()) {
            if let Some(start) = start.dyn_ref::<js_sys::Function>() {
                let _ = start.call0(&container);
            }
        }
        let target = std::rc::Rc::new(std::cell::RefCell::new(ServiceWorkerTarget::default()));
        let url = crate::api::worker_script_url(SERVICE_WORKER_SCRIPT)?;
        let scope = crate::api::script_url("./")?;
        let options = web_sys::RegistrationOptions::new();
        options.set_scope(&scope);
        let registering = container.register_with_options(&url, &options);
        let ready = container.ready()?;
        let weak = std::rc::Rc::downgrade(&target);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(error) = wasm_bindgen_futures::JsFuture::from(registering).await {
                on_failure(format!("registration refused ({})", error_name(&error)));
                return;
            }
            let Ok(registration) = wasm_bindgen_futures::JsFuture::from(ready).await else {
                return;
            };
            let Ok(registration) = registration.dyn_into::<web_sys::ServiceWorkerRegistration>()
            else {
                return;
            };
            let Some(target) = weak.upgrade() else { return };
            let mut target = target.borrow_mut();
            if let Some(worker) = registration.active() {
                for frame in target.queued.drain(..) {
                    let _ = worker.post_message(&JsValue::from_str(&frame));
                }
                target.worker = Some(worker);
            }
        });
        Ok(ServiceWorkerPort {
            target,
            _listener: listener,
        })
    }

    /// Sends a frame to the service worker (queued until it is active).
    pub fn post(&self, frame: &str) {
        let mut target = self.target.borrow_mut();
        if target.worker.is_none() {
            // A page loaded under an active worker has it as its controller at once; don't
            // depend on the registration promise alone (seen never to hand over a worker).
            target.worker =
                web_sys::window().and_then(|w| w.navigator().service_worker().controller());
            if let Some(worker) = target.worker.clone() {
                for queued in target.queued.drain(..) {
                    let _ = worker.post_message(&JsValue::from_str(&queued));
                }
            }
        }
        match &target.worker {
            Some(worker) => {
                let _ = worker.post_message(&JsValue::from_str(frame));
            }
            None => target.queued.push(frame.to_owned()),
        }
    }
}
