//! The operator's session: who is signed in (asked once per page load), every tab reloading
//! when another signs in or out, the page reloading when the session expires, and the sign-in
//! and sign-out actions.

use convoy_browser::session::{self, Session};
use convoy_core::wire::Watch;
use gloo_events::EventListener;
use gloo_timers::callback::Timeout;
use std::rc::Rc;
use yew::prelude::*;

/// Where the session stands.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionState {
    /// Asking the server.
    Checking,
    /// The server answered.
    Known(Rc<Session>),
    /// The server could not be asked (offline): the app runs with what it has, and the feed
    /// says what is wrong.
    Unknown,
}

impl SessionState {
    /// Whether the app may show the fleet.
    pub fn admits(&self) -> bool {
        match self {
            SessionState::Checking => false,
            SessionState::Known(session) => session.admits(),
            SessionState::Unknown => true,
        }
    }

    /// The trucks the operator may see (`All` when unknown or sign-in is off: the server still
    /// filters what it sends).
    pub fn truck_scope(&self) -> Watch {
        match self {
            SessionState::Known(session) => session.truck_scope(),
            _ => Watch::All,
        }
    }

    /// The session's name for channels, locks and workers ("" when unknown or sign-in is off).
    pub fn scope_name(&self) -> String {
        match self {
            SessionState::Known(session) => session.scope_name(),
            _ => String::new(),
        }
    }
}

fn reload() {
    if let Some(window) = web_sys::window() {
        let _ = window.location().reload();
    }
}

/// Goes to a page of the app by a path relative to its public URL, as a fresh load.
fn load(path: &str) {
    let Some(window) = web_sys::window() else {
        return;
    };
    let base = window
        .document()
        .and_then(|d| d.base_uri().ok().flatten())
        .unwrap_or_default();
    if let Ok(url) = web_sys::Url::new_with_base(path, &base) {
        let _ = window.location().replace(&url.href());
    }
}

/// This page's session: asked for once, and a new page load whenever it changes anywhere.
#[hook]
pub fn use_session() -> SessionState {
    let state = use_state(|| SessionState::Checking);
    {
        let state = state.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                state.set(match session::current().await {
                    Ok(session) => SessionState::Known(Rc::new(session)),
                    Err(_) => SessionState::Unknown,
                });
            });
            // Another tab signed in or out: nothing of this page's session may stay on screen.
            session::listen(reload);
            session::stop_listening
        });
    }
    let expires_at_ms = match &*state {
        SessionState::Known(session) => session.expires_at_ms,
        _ => None,
    };
    use_effect_with(expires_at_ms, |expires_at_ms| {
        // When the token expires the server refuses it; a new load shows the sign-in page.
        let timer = expires_at_ms.map(|at| {
            let delay = at.saturating_sub(js_sys::Date::now() as u64) + 500;
            Timeout::new(delay.min(u64::from(u32::MAX)) as u32, reload)
        });
        move || drop(timer)
    });
    (*state).clone()
}

/// Signs in with a token; says why not. Every other tab reloads into the new session.
#[hook]
pub fn use_sign_in() -> (Callback<String>, Option<String>) {
    let error = use_state(|| None::<String>);
    let on_token = {
        let error = error.clone();
        use_callback((), move |token: String, _| {
            let error = error.clone();
            wasm_bindgen_futures::spawn_local(async move {
                match session::sign_in(&token).await {
                    Ok(_) => {
                        session::announce();
                        load("./");
                    }
                    Err(reason) => error.set(Some(reason)),
                }
            });
        })
    };
    (on_token, (*error).clone())
}

/// A token handed over in the sign-in link (`#token=…`), taken out of the address bar at once:
/// when the page loads, and when a link is opened in a tab already on the app (then only the
/// fragment changes, and the page does not load again).
#[hook]
pub fn use_link_token() -> Option<String> {
    let token = use_state(take_link_token);
    {
        let token = token.clone();
        use_effect_with((), move |_| {
            let listener = web_sys::window().map(|window| {
                EventListener::new(&window, "hashchange", move |_| {
                    if let Some(found) = take_link_token() {
                        token.set(Some(found));
                    }
                })
            });
            move || drop(listener)
        });
    }
    (*token).clone()
}

/// The `#token=…` of the address, removed from it (and from the history entry).
fn take_link_token() -> Option<String> {
    let window = web_sys::window()?;
    let hash = window.location().hash().ok()?;
    let token = hash.strip_prefix("#token=")?.to_owned();
    if let Ok(history) = window.history() {
        let path = window.location().pathname().unwrap_or_default();
        let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path));
    }
    (!token.is_empty()).then_some(token)
}

/// Signs out in every tab: the cookie is cleared, every tab reloads into the sign-in form, and
/// the shared stream closes with the last tab's feed.
#[hook]
pub fn use_sign_out() -> Callback<()> {
    use_callback((), |_, _| {
        wasm_bindgen_futures::spawn_local(async {
            let _ = session::sign_out().await;
            session::announce();
            // The fleet's address: signed out it shows the sign-in form, and when anyone signs
            // in again (in any tab) this tab reloads straight into the fleet.
            load("./");
        });
    })
}
