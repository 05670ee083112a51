//! The Web Locks adapter: one exclusive lock, held for a leader's whole term. The lock is held
//! by a promise this guard keeps pending; releasing resolves it.

use js_sys::{Function, Promise};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::{AbortController, LockManager, LockMode, LockOptions};

/// The lock all Convoy tabs of an origin compete for.
pub const LEADER_LOCK: &str = "convoy-leader";

/// What happens to a lock request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockSignal {
    Granted,
    /// Stolen by another tab, or the request ended without us releasing it.
    Lost,
}

/// The lock manager of this browser, when it has Web Locks: a window's or a worker's
/// (`navigator.locks` in either global).
pub fn lock_manager() -> Option<LockManager> {
    let navigator =
        js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("navigator")).ok()?;
    if navigator.is_undefined() {
        return None;
    }
    let locks = js_sys::Reflect::get(&navigator, &JsValue::from_str("locks")).ok()?;
    (!locks.is_undefined()).then(|| locks.unchecked_into())
}

/// The resolver that ends our hold, and whether we ended the request ourselves.
#[derive(Default)]
struct Held {
    resolve: Option<Function>,
    ended_by_us: bool,
}

/// One outstanding request for the leader lock: queued, or granted and held.
pub struct LockRequest {
    abort: AbortController,
    held: Rc<RefCell<Held>>,
    _on_granted: Closure<dyn FnMut(JsValue) -> Promise>,
}

impl LockRequest {
    /// Asks for the lock `name` (with `steal`, takes it from its holder at once).
    pub fn request(
        manager: &LockManager,
        name: &str,
        steal: bool,
        on_signal: Rc<dyn Fn(LockSignal)>,
    ) -> Result<LockRequest, JsValue> {
        let abort = AbortController::new()?;
        let options = LockOptions::new();
        options.set_mode(LockMode::Exclusive);
        if steal {
            options.set_steal(true);
        } else {
            // A steal request may not carry a signal.
            options.set_signal(&abort.signal());
        }
        let held: Rc<RefCell<Held>> = Rc::default();
        let holder = held.clone();
        let granted = on_signal.clone();
        let on_granted = Closure::<dyn FnMut(JsValue) -> Promise>::new(move |_lock| {
            let holder = holder.clone();
            // Pending until `release` resolves it: the lock is ours until then.
            let hold = Promise::new(&mut |resolve, _reject| {
                holder.borrow_mut().resolve = Some(resolve);
            });
            granted(LockSignal::Granted);
            hold
        });
        let done =
            manager.request_with_options(name, &options, on_granted.as_ref().unchecked_ref());
        let watched = held.clone();
        spawn_local(async move {
            let _ = JsFuture::from(done).await;
            // A request that ends without our release was stolen (or torn down by the browser).
            if !watched.borrow().ended_by_us {
                on_signal(LockSignal::Lost);
            }
        });
        Ok(LockRequest {
            abort,
            held,
            _on_granted: on_granted,
        })
    }

    /// Releases the lock if held, or withdraws the request if queued.
    pub fn release(&self) {
        let mut held = self.held.borrow_mut();
        if held.ended_by_us {
            return;
        }
        held.ended_by_us = true;
        match held.resolve.take() {
            Some(resolve) => {
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
            None => self.abort.abort(),
        }
    }
}

impl Drop for LockRequest {
    fn drop(&mut self) {
        self.release();
    }
}
