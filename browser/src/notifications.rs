//! Desktop notifications: carries out what `convoy_core::notice` decides. Only the service
//! worker calls the notification API (`self.registration.showNotification`, so a click reaches
//! `notificationclick` in `sw.js` even when no tab is left): a tab that holds the stream, or that
//! its SharedWorker picked, hands each output to it as a message ([`encode_msg`]). A tab can be
//! closed in the middle of a `showNotification` (a leader closed as an alert's hold ends); a
//! message posted to the service worker is delivered whatever becomes of its tab, the worker is
//! not torn down with it, and all checks and shows are in one queue.
//!
//! Chromium reconciles its notification store with what is on screen when it lists
//! notifications: a listing that overlapped a show was seen to drop that notification (under
//! load, in the end-to-end test), which is one more reason to keep every listing and show of the
//! app in that one queue.
//!
//! Shown only when the browser granted the permission and the operator turned notifications on
//! in /settings. That setting lives in the origin's Cache Storage, not localStorage: windows and
//! the service worker both read it, and it outlives a service worker the browser stopped, so no
//! tab has to tell a worker anything.
//!
//! A tag the browser still holds is not shown again, and the worker's check-then-show runs under
//! a Web Lock of the origin (a service worker being replaced by a new build runs beside it).

use convoy_core::notice::{encode_msg, Notice, NoticeOutput};
use js_sys::{Array, Object, Promise, Reflect};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, CacheStorage, LockManager, NotificationOptions, ServiceWorkerRegistration};

/// The Cache Storage entry that holds the operator's choice.
const SETTINGS_CACHE: &str = "convoy-settings";
/// Relative: a window's base URL and the service worker's script URL both resolve it at the
/// app's public URL.
const ENABLED_KEY: &str = "convoy-settings/notifications";
/// The Web Lock each check-then-show holds.
const NOTICE_LOCK: &str = "convoy-notices";
/// Outputs waiting beyond this are dropped, oldest first (a registration that never answers).
const MAX_QUEUED: usize = 256;

/// `Notification.permission`, and "unsupported" where there is no `Notification`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Default,
    Granted,
    Denied,
    Unsupported,
}

impl Permission {
    /// The word /settings shows.
    pub fn label(self) -> &'static str {
        match self {
            Permission::Default => "default",
            Permission::Granted => "granted",
            Permission::Denied => "denied",
            Permission::Unsupported => "unsupported",
        }
    }

    fn parse(value: &JsValue) -> Permission {
        match value.as_string().as_deref() {
            Some("granted") => Permission::Granted,
            Some("denied") => Permission::Denied,
            Some("default") => Permission::Default,
            _ => Permission::Unsupported,
        }
    }
}

fn notification_class() -> Option<JsValue> {
    let class = Reflect::get(&js_sys::global(), &"Notification".into()).ok()?;
    (!class.is_undefined()).then_some(class)
}

/// The permission as it stands (windows and workers alike).
pub fn permission() -> Permission {
    notification_class()
        .and_then(|class| Reflect::get(&class, &"permission".into()).ok())
        .map_or(Permission::Unsupported, |p| Permission::parse(&p))
}

/// Asks the user (call from a click: browsers refuse without a user gesture).
pub async fn request_permission() -> Permission {
    let Some(class) = notification_class() else {
        return Permission::Unsupported;
    };
    let request = Reflect::get(&class, &"requestPermission".into())
        .ok()
        .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
    let Some(promise) = request
        .and_then(|f| f.call0(&class).ok())
        .and_then(|p| p.dyn_into::<Promise>().ok())
    else {
        return permission();
    };
    match JsFuture::from(promise).await {
        Ok(answer) => Permission::parse(&answer),
        Err(_) => permission(),
    }
}

fn cache_storage() -> Option<CacheStorage> {
    let caches = Reflect::get(&js_sys::global(), &"caches".into()).ok()?;
    (!caches.is_undefined()).then(|| caches.unchecked_into())
}

async fn settings_cache() -> Result<Cache, JsValue> {
    let storage = cache_storage().ok_or_else(|| JsValue::from_str("no Cache Storage"))?;
    JsFuture::from(storage.open(SETTINGS_CACHE))
        .await?
        .dyn_into()
}

/// Whether the operator turned notifications on (off when unknown).
pub async fn enabled() -> bool {
    let Ok(cache) = settings_cache().await else {
        return false;
    };
    let Ok(found) = JsFuture::from(cache.match_with_str(ENABLED_KEY)).await else {
        return false;
    };
    let Ok(response) = found.dyn_into::<web_sys::Response>() else {
        return false;
    };
    let Ok(text) = response.text() else {
        return false;
    };
    JsFuture::from(text).await.ok().and_then(|t| t.as_string()) == Some("on".into())
}

/// Turns notifications on or off for this browser's Convoy tabs and workers.
pub async fn set_enabled(on: bool) -> Result<(), String> {
    let cache = settings_cache()
        .await
        .map_err(|e| crate::worker_port::error_name(&e))?;
    let response = web_sys::Response::new_with_opt_str(Some(if on { "on" } else { "off" }))
        .map_err(|e| crate::worker_port::error_name(&e))?;
    JsFuture::from(cache.put_with_str(ENABLED_KEY, &response))
        .await
        .map(|_| ())
        .map_err(|e| crate::worker_port::error_name(&e))
}

/// The page's registration once a worker is active (None while `sw.js` is not registered).
async fn page_registration() -> Option<ServiceWorkerRegistration> {
    let navigator = web_sys::window()?.navigator();
    if !Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false) {
        return None;
    }
    let container = navigator.service_worker();
    let found = JsFuture::from(container.get_registration()).await.ok()?;
    if found.is_undefined() {
        return None;
    }
    // Registered: wait until a worker is active, as after a first load whose worker is still
    // installing.
    JsFuture::from(container.ready().ok()?)
        .await
        .ok()?
        .dyn_into()
        .ok()
}

/// A tab hands `output` to its service worker; true for a show the worker will consider.
async fn hand_over(output: &NoticeOutput) -> Result<bool, JsValue> {
    let Some(worker) = page_registration().await.and_then(|r| r.active()) else {
        return Ok(false);
    };
    worker.post_message(&JsValue::from_str(&encode_msg(output)))?;
    Ok(matches!(output, NoticeOutput::Show(_))
        && permission() == Permission::Granted
        && enabled().await)
}

fn lock_manager() -> Option<LockManager> {
    let navigator = Reflect::get(&js_sys::global(), &"navigator".into()).ok()?;
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined()).then(|| locks.unchecked_into())
}

/// The notifications the browser holds with `tag`.
async fn held(
    registration: &ServiceWorkerRegistration,
    tag: &str,
) -> Result<Vec<web_sys::Notification>, JsValue> {
    let all: Array = JsFuture::from(registration.get_notifications()?)
        .await?
        .dyn_into()?;
    Ok(all
        .iter()
        .filter_map(|n| n.dyn_into::<web_sys::Notification>().ok())
        .filter(|n| n.tag().as_deref() == Some(tag))
        .collect())
}

async fn show(registration: &ServiceWorkerRegistration, notice: &Notice) -> Result<bool, JsValue> {
    if permission() != Permission::Granted || !enabled().await {
        return Ok(false);
    }
    if !held(registration, &notice.tag).await?.is_empty() {
        return Ok(false);
    }
    let data = Object::new();
    Reflect::set(&data, &"truck".into(), &notice.truck.as_str().into())?;
    Reflect::set(&data, &"alert_id".into(), &(notice.alert_id as f64).into())?;
    let options = NotificationOptions::new();
    options.set_tag(&notice.tag);
    options.set_body(&notice.body);
    options.set_data(&data);
    // An alert stays until it is cleared, acknowledged or dismissed: Chromium otherwise drops a
    // notification from the list after about 25 s, and with it the tag that keeps it single.
    options.set_require_interaction(true);
    JsFuture::from(registration.show_notification_with_options(&notice.title, &options)?).await?;
    Ok(true)
}

async fn carry_out(output: &NoticeOutput) -> Result<bool, JsValue> {
    let registration: ServiceWorkerRegistration =
        Reflect::get(&js_sys::global(), &"registration".into())?.dyn_into()?;
    match output {
        NoticeOutput::Show(notice) => show(&registration, notice).await,
        NoticeOutput::Close { tag } => {
            for notification in held(&registration, tag).await? {
                notification.close();
            }
            Ok(false)
        }
    }
}

#[derive(Default)]
struct Queue {
    outputs: VecDeque<NoticeOutput>,
    draining: bool,
}

/// A notifier's work in flight.
type Task<T> = Pin<Box<dyn Future<Output = Result<T, JsValue>>>>;

/// Carries out notice outputs one after another, in order (a close never overtakes the show it
/// closes): in the service worker, under the origin's notice lock; in a tab, by handing them to
/// the service worker at once (a closing tab has no time to wait for a lock). One per tab or
/// worker.
pub struct Notifier {
    queue: Rc<RefCell<Queue>>,
    on_shown: Option<Rc<dyn Fn()>>,
    /// One output: handed to the service worker (a tab), or shown or closed (the worker). True
    /// for a show. Set by the constructor, so a bundle holds only its own side's code.
    carry_out: fn(NoticeOutput) -> Task<bool>,
    /// Runs a drain of the queue: at once (a tab), or under the notice lock (the worker).
    run: fn(Task<JsValue>),
}

impl Notifier {
    /// A tab's; `on_shown` runs after each show this tab handed over while notifications are on.
    pub fn for_page(on_shown: Option<Rc<dyn Fn()>>) -> Notifier {
        Notifier {
            queue: Rc::default(),
            on_shown,
            carry_out: |output| Box::pin(async move { hand_over(&output).await }),
            run: |drain| {
                wasm_bindgen_futures::spawn_local(async move {
                    let _ = drain.await;
                })
            },
        }
    }

    /// The service worker's own.
    pub fn for_service_worker() -> Notifier {
        Notifier {
            queue: Rc::default(),
            on_shown: None,
            carry_out: |output| Box::pin(async move { carry_out(&output).await }),
            run: under_lock,
        }
    }

    /// Queues `output`; carried out after those before it.
    pub fn perform(&self, output: NoticeOutput) {
        let mut queue = self.queue.borrow_mut();
        if queue.outputs.len() >= MAX_QUEUED {
            queue.outputs.pop_front();
        }
        queue.outputs.push_back(output);
        if queue.draining {
            return;
        }
        queue.draining = true;
        drop(queue);
        let queue = self.queue.clone();
        let on_shown = self.on_shown.clone();
        let carry_out = self.carry_out;
        let drain = async move {
            loop {
                let next = queue.borrow_mut().outputs.pop_front();
                let Some(output) = next else {
                    queue.borrow_mut().draining = false;
                    break;
                };
                match carry_out(output).await {
                    Ok(true) => {
                        if let Some(on_shown) = &on_shown {
                            on_shown();
                        }
                    }
                    Ok(false) => {}
                    Err(error) => web_sys::console::warn_2(
                        &"convoy: a notification could not be carried out".into(),
                        &error,
                    ),
                }
            }
            Ok(JsValue::UNDEFINED)
        };
        (self.run)(Box::pin(drain));
    }
}

/// Runs `work` holding the origin's notice lock (without it where there are no Web Locks).
fn under_lock(work: Task<JsValue>) {
    let Some(manager) = lock_manager() else {
        wasm_bindgen_futures::spawn_local(async move {
            let _ = work.await;
        });
        return;
    };
    // The lock is held until the promise the callback returns settles: the whole drain.
    let work = Rc::new(RefCell::new(Some(work)));
    let granted = work.clone();
    let on_granted = Closure::once(move |_lock: JsValue| -> Promise {
        match granted.borrow_mut().take() {
            Some(work) => wasm_bindgen_futures::future_to_promise(work),
            None => Promise::resolve(&JsValue::UNDEFINED),
        }
    });
    let done = manager.request(NOTICE_LOCK, on_granted.as_ref().unchecked_ref());
    wasm_bindgen_futures::spawn_local(async move {
        // A request that failed never ran the callback: run the work without the lock.
        let refused = JsFuture::from(done).await.is_err();
        drop(on_granted);
        if refused {
            let work = work.borrow_mut().take();
            if let Some(work) = work {
                let _ = work.await;
            }
        }
    });
}
