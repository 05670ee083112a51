//! The one stream to the server. [`Upstream`] is what every kind of stream offers the hub loop;
//! [`EventSourceUpstream`] is the `EventSource` one (pages and SharedWorkers). Its listeners live
//! in the guard; dropping it closes the stream and removes them.

use convoy_core::wire::{
    self, Envelope, FleetEvent, Watch, BATCH_EVENT, HEARTBEAT_EVENT, RESET_EVENT,
};
use gloo_events::EventListener;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::{EventSource, MessageEvent};

/// What the stream reports.
#[derive(Debug)]
pub enum UpstreamSignal {
    Open,
    /// One event, or a server batch of them, ids increasing.
    Events(Vec<Envelope>),
    /// The server's liveness tick: a network event, so it is not throttled in hidden tabs.
    Heartbeat,
    /// The history asked for is gone: refetch the snapshot.
    Reset,
    /// The stream failed; the browser's own retry is cancelled so the caller decides when.
    Error,
    /// An event that did not decode; dropped.
    Malformed(String),
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
pub struct EventSourceUpstream {
    source: EventSource,
    _listeners: Vec<EventListener>,
}

/// The stream URL for a watch, resuming after `last_event_id`.
pub fn stream_url(watch: &Watch, last_event_id: Option<u64>) -> String {
    let mut url = crate::api::api_url(&format!(
        "api/stream?trucks={}&heartbeat_ms={HEARTBEAT_MS}&batch=1",
        watch.to_url_query()
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
        for name in FleetEvent::NAMES.into_iter().chain([BATCH_EVENT]) {
            let signal = on_signal.clone();
            listeners.push(EventListener::new(&source, name, move |event| {
                signal(decode(name, event));
            }));
        }
        let signal = on_signal.clone();
        listeners.push(EventListener::new(&source, HEARTBEAT_EVENT, move |_| {
            signal(UpstreamSignal::Heartbeat)
        }));
        let signal = on_signal;
        listeners.push(EventListener::new(&source, RESET_EVENT, move |_| {
            signal(UpstreamSignal::Reset)
        }));
        Ok(EventSourceUpstream {
            source,
            _listeners: listeners,
        })
    }
}

fn decode(name: &str, event: &web_sys::Event) -> UpstreamSignal {
    let Some(message) = event.dyn_ref::<MessageEvent>() else {
        return UpstreamSignal::Malformed(format!("{name}: not a message event"));
    };
    let data = message.data().as_string().unwrap_or_default();
    decode_events(name, &data, &message.last_event_id())
}

/// The signal for a fleet event or a [`BATCH_EVENT`] (name, data, id), for every upstream.
pub fn decode_events(name: &str, data: &str, id: &str) -> UpstreamSignal {
    let events = if name == BATCH_EVENT {
        wire::decode_batch(data, id)
    } else {
        wire::decode_event(name, data, id).map(|envelope| vec![envelope])
    };
    match events {
        Ok(envelopes) => UpstreamSignal::Events(envelopes),
        Err(e) => UpstreamSignal::Malformed(e.to_string()),
    }
}

impl Drop for EventSourceUpstream {
    fn drop(&mut self) {
        self.source.close();
    }
}
