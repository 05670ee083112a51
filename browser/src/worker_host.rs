//! A hub in `ElectionMode::Worker` inside a SharedWorker or a service worker: it leads at once,
//! and each connected tab (a `MessagePort`, or a window `Client`) is a peer. Tabs' text goes to
//! the hub; the hub's frames go to every tab or, when addressed, to one. The hub names each
//! frame's sender, so a port is bound to its tab id without parsing here, and `PeerGone` drops
//! the ports of tabs that left or vanished.
//!
//! Notifications: the hub's loop runs the worker's `AlertNotices`. A service worker shows them
//! itself, and also what tabs hand it (see `notifications`); a SharedWorker has no registration
//! to show them with, so it hands each output to its most recently joined tab that has spoken (a
//! port bound to a tab id), which hands it to the service worker.
//!
//! The JS entries (`workers/shared-worker.js`, `workers/sw.js`) queue what arrives before the
//! wasm runs in `self.convoyEarly`; the `run_*` functions take it over, so nothing a tab sends
//! before the worker is ready is lost.

use crate::clock::new_tab_id;
use crate::hub_loop::{HubHandle, HubHost, HubLoop};
use crate::notifications::Notifier;
use crate::upstream::{Upstream, HEARTBEAT_MS};
use crate::worker_port::SESSION_PREFIX;
use convoy_core::election::{ElectionMode, TabId};
use convoy_core::notice::{decode_msg, encode_msg, AlertNotices, NoticeOutput, HOLD_MS};
use convoy_core::relay::{HubConfig, HubOutput};
use convoy_core::wire::Watch;
use gloo_events::EventListener;
use js_sys::{Array, Reflect};
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::marker::PhantomData;
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{MessageEvent, MessagePort};

/// How a tab is reached.
enum Sink {
    Port(MessagePort),
    Client(web_sys::Client),
}

/// One connected tab: how to reach it, the tab id its frames carry (once one arrived), and for
/// ports the listener that feeds the hub.
struct Peer {
    sink: Sink,
    tab: Option<TabId>,
    _listener: Option<EventListener>,
}

impl Peer {
    fn post(&self, text: &JsValue) {
        // Posting to a tab that is gone is a no-op; the hub expires that tab.
        let _ = match &self.sink {
            Sink::Port(port) => port.post_message(text),
            Sink::Client(client) => client.post_message(text),
        };
    }
}

/// Who shows the worker's notifications.
enum NoticeSink {
    /// A SharedWorker: one of its tabs.
    HandToTab,
    /// The service worker, with its own registration (the one notifier its tabs hand theirs to).
    Own(Rc<Notifier>),
}

/// The worker's tabs, for a hub that streams with `U`.
pub struct WorkerPeers<U: Upstream> {
    peers: Vec<Peer>,
    notices: NoticeSink,
    _upstream: PhantomData<U>,
}

impl<U: Upstream> HubHost for WorkerPeers<U> {
    type Upstream = U;

    fn handle(&mut self, output: HubOutput) {
        match output {
            HubOutput::Send { to, frame } => {
                let text = JsValue::from_str(&frame);
                for peer in &self.peers {
                    if to.is_none() || peer.tab == to {
                        peer.post(&text);
                    }
                }
            }
            HubOutput::PeerGone(tab) => self.peers.retain(|p| p.tab != Some(tab)),
            // The worker has no app of its own.
            _ => {}
        }
    }

    fn notice(&mut self, output: NoticeOutput) {
        match &self.notices {
            NoticeSink::Own(notifier) => notifier.perform(output),
            NoticeSink::HandToTab => {
                // One tab, so one notification: the newest that has spoken (the others may be
                // gone without a goodbye yet).
                if let Some(peer) = self.peers.iter().rev().find(|p| p.tab.is_some()) {
                    peer.post(&JsValue::from_str(&encode_msg(&output)));
                }
            }
        }
    }
}

type Worker<U> = HubLoop<WorkerPeers<U>>;

/// Hands a tab's message to the hub, and binds the peer `find` picks to the sender's tab id.
fn feed<U: Upstream>(
    handle: &HubHandle<WorkerPeers<U>>,
    find: impl Fn(&Peer) -> bool,
    data: JsValue,
) {
    // Anything but text is handed over as "", which the hub counts as malformed.
    let text = data.as_string().unwrap_or_default();
    handle.input(|hub, host, now| {
        let sender = hub.handle_channel_message(now, &text);
        if let (Some(sender), Some(peer)) = (sender, host.peers.iter_mut().find(|p| find(p))) {
            peer.tab.get_or_insert(sender);
        }
    });
}

fn start<U: Upstream>(notices: impl FnOnce() -> NoticeSink) -> Worker<U> {
    let mut config = HubConfig::new(new_tab_id(), ElectionMode::Worker);
    // The worker has no views: it streams what its tabs watch.
    config.watch = Watch::Trucks(BTreeSet::new());
    config.upstream_stall_ms = 8 * HEARTBEAT_MS;
    let alerts = AlertNotices::new(HOLD_MS);
    HubLoop::start(config, None, Some(alerts), |_| WorkerPeers {
        peers: Vec::new(),
        notices: notices(),
        _upstream: PhantomData,
    })
}

thread_local! {
    /// The worker's one hub and what keeps its entry points alive: it lives as long as the
    /// worker does (a worker has no "drop").
    static KEEP: RefCell<Vec<Box<dyn std::any::Any>>> = const { RefCell::new(Vec::new()) };
}

/// A service worker's hub that starts (the browser stopped the last one, or a first tab woke it)
/// knows only the tab whose message woke it; hidden tabs speak again only on their throttled
/// timers. Every window this worker controls is a peer from the start, so the hub's frames reach
/// them all at once; each is bound to its tab id when it speaks.
fn reach_every_window<U: Upstream>(handle: &HubHandle<WorkerPeers<U>>) {
    let Ok(scope) = js_sys::global().dyn_into::<web_sys::ServiceWorkerGlobalScope>() else {
        return;
    };
    let options = web_sys::ClientQueryOptions::new();
    options.set_type(web_sys::ClientType::Window);
    let listing = scope.clients().match_all_with_options(&options);
    let handle = handle.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let Ok(clients) = wasm_bindgen_futures::JsFuture::from(listing).await else {
            return;
        };
        let Ok(clients) = clients.dyn_into::<Array>() else {
            return;
        };
        handle.with_host(|host| {
            for client in clients.iter() {
                let Ok(client) = client.dyn_into::<web_sys::Client>() else {
                    continue;
                };
                let id = client.id();
                let known = host
                    .peers
                    .iter()
                    .any(|p| matches!(&p.sink, Sink::Client(c) if c.id() == id));
                if !known {
                    host.peers.push(Peer {
                        sink: Sink::Client(client),
                        tab: None,
                        _listener: None,
                    });
                }
            }
        });
    });
}

fn keep(value: impl std::any::Any) {
    KEEP.with(|keep| keep.borrow_mut().push(Box::new(value)));
}

/// Starts the SharedWorker's hub, streaming with `U`, and takes over the connections
/// `shared-worker.js` queued.
pub fn run_shared_worker<U: Upstream>() {
    let worker = start::<U>(|| NoticeSink::HandToTab);
    let handle = worker.handle();
    let global = js_sys::global();
    let early = Reflect::get(&global, &"convoyEarly".into()).unwrap_or(JsValue::UNDEFINED);
    if let Ok(early) = early.dyn_into::<Array>() {
        for held in early.iter() {
            let port = Reflect::get(&held, &"port".into()).ok();
            let Some(port) = port.and_then(|p| p.dyn_into::<MessagePort>().ok()) else {
                continue;
            };
            port.set_onmessage(None);
            add_port(&handle, port.clone());
            if let Ok(messages) = Reflect::get(&held, &"messages".into()) {
                if let Ok(messages) = messages.dyn_into::<Array>() {
                    for data in messages.iter() {
                        feed(&handle, |p| is_port(p, &port), data);
                    }
                }
            }
        }
        early.set_length(0);
    }
    let _ = Reflect::set(&global, &"onconnect".into(), &JsValue::NULL);
    let on_connect = handle.clone();
    let connect = EventListener::new(&global.unchecked_into(), "connect", move |event| {
        let port = event
            .dyn_ref::<MessageEvent>()
            .and_then(|e| e.ports().get(0).dyn_into::<MessagePort>().ok());
        if let Some(port) = port {
            add_port(&on_connect, port);
        }
    });
    keep(worker);
    keep(connect);
}

fn is_port(peer: &Peer, port: &MessagePort) -> bool {
    matches!(&peer.sink, Sink::Port(p) if p == port)
}

fn add_port<U: Upstream>(handle: &HubHandle<WorkerPeers<U>>, port: MessagePort) {
    let on_message = handle.clone();
    let own = port.clone();
    let listener = EventListener::new(&port, "message", move |event| {
        if let Some(message) = event.dyn_ref::<MessageEvent>() {
            feed(&on_message, |p| is_port(p, &own), message.data());
        }
    });
    port.start();
    handle.with_host(|host| {
        host.peers.push(Peer {
            sink: Sink::Port(port),
            tab: None,
            _listener: Some(listener),
        })
    });
}

/// `self.convoyOnMessage(source, data)`.
type OnMessage = Closure<dyn Fn(JsValue, JsValue)>;

/// Starts the service worker's message handling, streaming with `U`: `sw.js` calls
/// `self.convoyOnMessage(source, data)` for every message from a window, after handing over
/// those it queued. The hub starts with the first message (not on install or fetch wake-ups),
/// so a restarted worker resumes from the cursor its windows report.
pub fn run_service_worker<U: Upstream>() {
    let worker: std::rc::Rc<RefCell<Option<Worker<U>>>> = Default::default();
    let session: RefCell<Option<String>> = RefCell::default();
    let notifier = Rc::new(Notifier::for_service_worker());
    let on_message = OnMessage::new(move |source: JsValue, data: JsValue| {
        let Ok(client) = source.dyn_into::<web_sys::Client>() else {
            return;
        };
        // A tab that holds the stream (or that its SharedWorker picked) hands over a notice.
        match data.as_string().as_deref().and_then(decode_msg) {
            Some(Ok(output)) => return notifier.perform(output),
            Some(Err(reason)) => {
                let warning = format!("convoy: dropped a malformed notice: {reason}");
                return web_sys::console::warn_1(&warning.into());
            }
            None => {}
        }
        if let Some(named) = data
            .as_string()
            .and_then(|text| text.strip_prefix(SESSION_PREFIX).map(str::to_owned))
        {
            // Another operator's session: nothing of the previous one may reach these tabs.
            if session.borrow().as_deref() != Some(named.as_str()) {
                *worker.borrow_mut() = None;
                *session.borrow_mut() = Some(named);
            }
            return;
        }
        let started = worker.borrow().is_none();
        let handle = worker
            .borrow_mut()
            .get_or_insert_with(|| start::<U>(|| NoticeSink::Own(notifier.clone())))
            .handle();
        if started {
            reach_every_window(&handle);
        }
        let id = client.id();
        let same_client = move |p: &Peer| matches!(&p.sink, Sink::Client(c) if c.id() == id);
        let known = handle
            .read(|_, host| host.peers.iter().any(&same_client))
            .unwrap_or(false);
        if !known {
            handle.with_host(|host| {
                host.peers.push(Peer {
                    sink: Sink::Client(client),
                    tab: None,
                    _listener: None,
                })
            });
        }
        feed(&handle, same_client, data);
    });
    let global = js_sys::global();
    let _ = Reflect::set(&global, &"convoyOnMessage".into(), on_message.as_ref());
    let early = Reflect::get(&global, &"convoyEarly".into()).unwrap_or(JsValue::UNDEFINED);
    if let Ok(early) = early.dyn_into::<Array>() {
        let function: &js_sys::Function = on_message.as_ref().unchecked_ref();
        for held in early.iter() {
            let source = Reflect::get(&held, &"source".into()).unwrap_or_default();
            let data = Reflect::get(&held, &"data".into()).unwrap_or_default();
            let _ = function.call2(&JsValue::NULL, &source, &data);
        }
        early.set_length(0);
    }
    keep(on_message);
}
