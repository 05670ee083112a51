//! The operator's session, as the browser sees it: `GET/POST/DELETE api/session` (the cookie
//! itself is HttpOnly: pages never hold the token after signing in), and a channel that tells
//! every tab of this browser when the session changed, so a sign-out in one tab ends every tab's
//! feed and a new operator never sees the previous one's trucks.

use crate::api::{error_message, json_change};
use convoy_core::wire::Watch;
use gloo_events::EventListener;
use gloo_net::http::{Method, Response};
use serde::Deserialize;
use wasm_bindgen::JsCast;
use web_sys::BroadcastChannel;

/// The channel on which tabs say the session changed.
const SESSION_CHANNEL: &str = "convoy-session";
/// What they say.
const CHANGED: &str = "changed";
/// Where the session is read, started and ended.
const SESSION_PATH: &str = "api/session";

/// What `api/session` answers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Session {
    /// Whether the server asks for sign-in at all.
    pub auth: bool,
    /// The signed-in operator (None: signed out, or sign-in off).
    pub operator: Option<String>,
    /// `"*"` or the operator's trucks.
    pub trucks: Option<TruckScope>,
    /// When the session ends, Unix ms.
    pub expires_at_ms: Option<u64>,
    /// Names the session (not secret): tabs keep their channel, lock and worker per session.
    pub session: Option<String>,
}

/// Which trucks the operator may see, as `api/session` says it: `"*"` or a list of ids.
#[derive(Debug, Clone, PartialEq)]
pub enum TruckScope {
    All,
    Trucks(Vec<String>),
}

// By hand: `#[serde(untagged)]` would buffer the value in serde's `Content` first.
impl<'de> Deserialize<'de> for TruckScope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, SeqAccess, Visitor};

        struct ScopeVisitor;
        impl<'de> Visitor<'de> for ScopeVisitor {
            type Value = TruckScope;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("\"*\" or a list of truck ids")
            }
            fn visit_str<E: Error>(self, text: &str) -> Result<TruckScope, E> {
                match text {
                    "*" => Ok(TruckScope::All),
                    _ => Err(E::invalid_value(serde::de::Unexpected::Str(text), &self)),
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TruckScope, A::Error> {
                let mut trucks = Vec::new();
                while let Some(id) = seq.next_element::<String>()? {
                    trucks.push(id);
                }
                Ok(TruckScope::Trucks(trucks))
            }
        }
        deserializer.deserialize_any(ScopeVisitor)
    }
}

impl Session {
    /// Whether the app may show the fleet: signed in, or sign-in off.
    pub fn admits(&self) -> bool {
        !self.auth || self.operator.is_some()
    }

    /// The trucks the operator may see: `All` for `"*"`, with sign-in off, or signed out.
    pub fn truck_scope(&self) -> Watch {
        match &self.trucks {
            Some(TruckScope::Trucks(ids)) => Watch::Trucks(ids.iter().cloned().collect()),
            Some(TruckScope::All) | None => Watch::All,
        }
    }

    /// The name this session's tabs share their channel, lock and workers under ("" with
    /// sign-in off).
    pub fn scope_name(&self) -> String {
        self.session.clone().unwrap_or_default()
    }
}

async fn request(method: Method, token: Option<&str>) -> Result<Response, String> {
    let request = if method == Method::GET {
        crate::api::request(method, SESSION_PATH).build()
    } else {
        let bearer = token.map(|token| format!("Bearer {token}"));
        json_change(method, SESSION_PATH, bearer.as_deref())
    };
    request
        .map_err(|_| match token {
            Some(_) => "the token cannot be sent as a header".to_owned(),
            None => "the request could not be made".to_owned(),
        })?
        .send()
        .await
        .map_err(|_| "the server is unreachable".to_owned())
}

async fn read(response: Response) -> Result<Session, String> {
    let text = response
        .text()
        .await
        .map_err(|_| "the answer could not be read".to_owned())?;
    if !response.ok() {
        let message = error_message(&text)
            .unwrap_or_else(|| format!("the server answered {}", response.status()));
        return Err(message);
    }
    serde_json::from_str(&text).map_err(|e| format!("the session did not decode ({e})"))
}

/// Who is signed in.
pub async fn current() -> Result<Session, String> {
    read(request(Method::GET, None).await?).await
}

/// Signs in with `token` (the server sets the cookie).
pub async fn sign_in(token: &str) -> Result<Session, String> {
    read(request(Method::POST, Some(token.trim())).await?).await
}

/// Signs out (the server clears the cookie).
pub async fn sign_out() -> Result<(), String> {
    let response = request(Method::DELETE, None).await?;
    if response.ok() {
        Ok(())
    } else {
        Err(format!("the server answered {}", response.status()))
    }
}

/// This page's line to its other tabs about the session; dropping it stops listening.
pub struct SessionChannel {
    channel: BroadcastChannel,
    _listener: EventListener,
}

thread_local! {
    /// The page's one channel: announcing through it reaches every other tab but not this one.
    static CHANNEL: std::cell::RefCell<Option<SessionChannel>> = const { std::cell::RefCell::new(None) };
}

/// Listens for another tab's sign-in or sign-out; `on_change` runs in this tab then. Until
/// [`stop_listening`], the page keeps this one listener.
pub fn listen(on_change: impl Fn() + 'static) {
    let Ok(channel) = BroadcastChannel::new(SESSION_CHANNEL) else {
        return;
    };
    let listener = EventListener::new(&channel, "message", move |event| {
        let said = event
            .dyn_ref::<web_sys::MessageEvent>()
            .and_then(|m| m.data().as_string());
        if said.as_deref() == Some(CHANGED) {
            on_change();
        }
    });
    let line = SessionChannel {
        channel,
        _listener: listener,
    };
    CHANNEL.with(|slot| *slot.borrow_mut() = Some(line));
}

/// Stops listening (the page's session view is gone).
pub fn stop_listening() {
    CHANNEL.with(|slot| slot.borrow_mut().take());
}

/// Tells every other tab of this browser that the session changed.
pub fn announce() {
    CHANNEL.with(|slot| match &*slot.borrow() {
        Some(line) => {
            let _ = line.channel.post_message(&CHANGED.into());
        }
        None => {
            if let Ok(channel) = BroadcastChannel::new(SESSION_CHANNEL) {
                let _ = channel.post_message(&CHANGED.into());
            }
        }
    });
}

impl Drop for SessionChannel {
    fn drop(&mut self) {
        self.channel.close();
    }
}
