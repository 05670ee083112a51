//! The one stream to the server. [`Upstream`] is what every kind of stream offers the hub loop;
//! [`EventSourceUpstream`] is the `EventSource` one (pages and SharedWorkers). Its listeners live
//! in the guard; dropping it closes the stream and removes them. What a stream says is read by
//! `convoy_core::upstream`, so an event that does not decode is a gap the hub repairs.

use convoy_core::upstream::{read_event, UpstreamItem};
use convoy_core::wire::{FleetEvent, Watch, BATCH_EVENT, HEARTBEAT_EVENT, RESET_EVENT};
use gloo_events::EventListener;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{EventSource, MessageEvent};

/// What the stream reports.
#[derive(Debug)]
pub enum UpstreamSignal {
    Open,
    /// What the stream said, in order: events, a heartbeat, a reset, or a gap (events lost on
    /// the way), after which the stream says nothing more.
    Item(UpstreamItem),
    /// The stream failed; the browser's own retry is cancelled so the caller decides when.
    Error,
}

/// How often the server sends a heartbeat event on streams Convoy opens.
pub const HEARTBEAT_MS: u64 = 500;

/// A stream to the server that reports [`UpstreamSignal`]s; dropping it closes the stream and
/// silences it.
pub trait Upstream: Sized + 'static {
    /// Opens `url`; every signal goes to `on_signal`.
    fn open(url: &str, on_signal: Rc<dyn Fn(UpstreamSignal)>) -> Result<Self, JsValue>;
}

/// An open `EventSource` and its listeners.
// Our own adapter, not gloo-net's `EventSource`: gloo-net's stream yields only messages and
// ends on close, and an `error` while the browser reconnects on its own never reaches it. Convoy
// needs every `error` at once: the chip says "Reconnecting", and the hub closes the source and
// reopens it from the shared cursor (the browser would resume from its own last id, which a
// relayed cursor has moved past), and it needs `open` to time failover and backoff.
pub struct EventSourceUpstream {
    source: EventSource,
    _listeners: Vec<EventListener>,
}

/// The stream URL for a watch, resuming after `last_event_id`.
pub fn stream_url(watch: &Watch, last_event_id: Option<u64>) -> String {
    let mut url = crate::api::api_url(&format!(
        "api/stream?trucks={}&heartbeat_ms={HEARTBEAT_MS}&batch=1&v={}",
        watch.to_url_query(),
        convoy_core::wire::WIRE_VERSION
    ));
    if let Some(id) = last_event_id {
        url.push_str(&format!("&lastEventId={id}"));
    }
    url
}

impl Upstream for EventSourceUpstream {
    fn open(url: &str, on_signal: Rc<dyn Fn(UpstreamSignal)>) -> Result<Self, JsValue> {
        // With credentials: the session cookie goes along when the API is on another origin.
        let init = web_sys::EventSourceInit::new();
        init.set_with_credentials(true);
        let source = EventSource::new_with_event_source_init_dict(url, &init)?;
        let mut listeners = Vec::new();
        let signal = on_signal.clone();
        listeners.push(EventListener::new(&source, "open", move |_| {
            signal(UpstreamSignal::Open)
        }));
        let signal = on_signal.clone();
        let closer = source.clone();
        listeners.push(EventListener::new(&source, "error", move |_| {
            // EventSource would retry on its own with the URL it was opened with; the caller
            // reopens from the shared cursor instead.
            closer.close();
            signal(UpstreamSignal::Error)
        }));
        let names = FleetEvent::NAMES.into_iter();
        for name in names.chain([BATCH_EVENT, HEARTBEAT_EVENT, RESET_EVENT]) {
            let signal = on_signal.clone();
            let closer = source.clone();
            listeners.push(EventListener::new(&source, name, move |event| {
                let item = read(name, event);
                if matches!(item, UpstreamItem::Gap(_)) {
                    // Nothing more from this stream: an event taken after the gap would move the
                    // cursor past it. The hub resumes from the cursor.
                    closer.close();
                }
                signal(UpstreamSignal::Item(item));
            }));
        }
        Ok(EventSourceUpstream {
            source,
            _listeners: listeners,
        })
    }
}

/// Reads one event of a type this stream listens for (so `read_event` knows it).
fn read(name: &str, event: &web_sys::Event) -> UpstreamItem {
    let Some(message) = event.dyn_ref::<MessageEvent>() else {
        return UpstreamItem::Gap(format!("a {name} event was not a message event"));
    };
    let data = message.data().as_string().unwrap_or_default();
    read_event(name, &data, &message.last_event_id())
        .unwrap_or_else(|| UpstreamItem::Gap(format!("a {name} event was not read")))
}

impl Drop for EventSourceUpstream {
    fn drop(&mut self) {
        self.source.close();
    }
}
