//! The one stream to the server as a `fetch` body decoded by `core::sse::Decoder`, for service
//! workers, which have no `EventSource`. Same signals as `upstream::Upstream`; dropping the guard
//! aborts the request and silences its task. A line the decoder drops (longer than its 64 KiB)
//! is a gap in its place among the events: the stream is read no further, and the hub resumes.

use crate::upstream::{Upstream, UpstreamSignal};
use convoy_core::sse::Decoder;
use convoy_core::upstream::{read_output, UpstreamItem};
use gloo_net::http::{RequestBuilder, Response};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{AbortController, ReadableStreamDefaultReader};

/// An open fetch stream.
pub struct FetchUpstream {
    abort: AbortController,
    cancelled: Rc<Cell<bool>>,
}

/// `GET url` with `Accept: text/event-stream`; every signal goes to `on_signal` (nothing after
/// the guard is dropped).
impl Upstream for FetchUpstream {
    fn open(url: &str, on_signal: Rc<dyn Fn(UpstreamSignal)>) -> Result<Self, JsValue> {
        let abort = AbortController::new()?;
        let cancelled = Rc::new(Cell::new(false));
        let request = RequestBuilder::new(url)
            .abort_signal(Some(&abort.signal()))
            .cache(web_sys::RequestCache::NoStore)
            .credentials(web_sys::RequestCredentials::Include)
            .header("Accept", "text/event-stream")
            .build()
            .map_err(|e| JsValue::from_str(&e.to_string()))?;
        let response = request.send();
        let live = cancelled.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let result = read(response, &on_signal, &live).await;
            if !live.get() {
                // Ended or failed: the hub reopens from its cursor after its backoff.
                let _ = result;
                on_signal(UpstreamSignal::Error);
            }
        });
        Ok(FetchUpstream { abort, cancelled })
    }
}

async fn read(
    response: impl std::future::Future<Output = Result<Response, gloo_net::Error>>,
    on_signal: &Rc<dyn Fn(UpstreamSignal)>,
    cancelled: &Rc<Cell<bool>>,
) -> Result<(), JsValue> {
    let response = response
        .await
        .map_err(|e| JsValue::from_str(&e.to_string()))?;
    if !response.ok() {
        return Err(JsValue::from_str("the stream was refused"));
    }
    let body = response
        .body()
        .ok_or_else(|| JsValue::from_str("no body"))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().dyn_into()?;
    if cancelled.get() {
        return Ok(());
    }
    on_signal(UpstreamSignal::Open);
    let mut decoder = Decoder::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await?;
        if cancelled.get() {
            return Ok(());
        }
        let done = js_sys::Reflect::get(&chunk, &"done".into())?
            .as_bool()
            .unwrap_or(true);
        if done {
            return Err(JsValue::from_str("the stream ended"));
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into())?;
        let bytes = js_sys::Uint8Array::new(&value).to_vec();
        decoder.feed(&bytes);
        // In stream order: a drop must be seen before the events after it.
        while let Some(output) = decoder.poll_output() {
            let Some(item) = read_output(&output) else {
                continue;
            };
            let gap = matches!(item, UpstreamItem::Gap(_));
            on_signal(UpstreamSignal::Item(item));
            if cancelled.get() {
                return Ok(());
            }
            if gap {
                // The hub did not replace this stream: it fails, and reopens from the cursor.
                return Err(JsValue::from_str("the stream lost events"));
            }
        }
    }
}

impl Drop for FetchUpstream {
    fn drop(&mut self) {
        self.cancelled.set(true);
        self.abort.abort();
    }
}
