//! The BroadcastChannel between this origin's tabs. Text frames only; what they mean is the
//! core relay's business.

use gloo_events::EventListener;
use wasm_bindgen::JsValue;
use web_sys::{BroadcastChannel, MessageEvent};

/// The channel name all Convoy tabs of an origin share.
pub const CHANNEL_NAME: &str = "convoy";

/// An open channel and its message listener.
pub struct TabChannel {
    channel: BroadcastChannel,
    _listener: EventListener,
}

impl TabChannel {
    /// Opens the channel; each text message received goes to `on_message`. Non-text messages
    /// (another app on the same channel name) are handed over as an empty string, which the
    /// relay counts as malformed.
    pub fn open(name: &str, on_message: impl Fn(String) + 'static) -> Result<TabChannel, JsValue> {
        let channel = BroadcastChannel::new(name)?;
        let listener = EventListener::new(&channel, "message", move |event| {
            let text = event
                .dyn_ref_message()
                .and_then(|m| m.data().as_string())
                .unwrap_or_default();
            on_message(text);
        });
        Ok(TabChannel {
            channel,
            _listener: listener,
        })
    }

    /// Posts a frame to every other tab.
    pub fn post(&self, frame: &str) {
        // Posting fails only on a closed channel, which this guard never holds.
        let _ = self.channel.post_message(&JsValue::from_str(frame));
    }
}

trait AsMessageEvent {
    fn dyn_ref_message(&self) -> Option<&MessageEvent>;
}

impl AsMessageEvent for web_sys::Event {
    fn dyn_ref_message(&self) -> Option<&MessageEvent> {
        wasm_bindgen::JsCast::dyn_ref::<MessageEvent>(self)
    }
}

impl Drop for TabChannel {
    fn drop(&mut self) {
        self.channel.close();
    }
}
