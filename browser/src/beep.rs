//! A short beep through Web Audio, for a notification this tab showed (when the operator asked
//! for sound in /settings). One `AudioContext` per tab, made at the first beep and reused:
//! browsers cap how many a page may open.

use web_sys::{AudioContext, OscillatorType};

/// The localStorage key of the sound setting (only tabs beep, so only tabs read it).
const SOUND_KEY: &str = "convoy.notificationSound";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// Whether the operator wants a beep with each notification this tab shows (off by default).
pub fn sound_on() -> bool {
    storage()
        .and_then(|s| s.get_item(SOUND_KEY).ok().flatten())
        .is_some_and(|v| v == "on")
}

/// Turns the beep on or off for this browser's tabs.
pub fn set_sound(on: bool) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(SOUND_KEY, if on { "on" } else { "off" });
    }
}

/// This tab's beeper.
#[derive(Default)]
pub struct Beeper {
    context: Option<AudioContext>,
}

impl Beeper {
    /// 150 ms at 880 Hz, fading out. Silent where the browser keeps audio suspended (a tab the
    /// user never interacted with), which is the browser's call.
    pub fn beep(&mut self) {
        if self.context.is_none() {
            self.context = AudioContext::new().ok();
        }
        let Some(context) = &self.context else {
            return;
        };
        let _ = context.resume();
        let (Ok(oscillator), Ok(gain)) = (context.create_oscillator(), context.create_gain())
        else {
            return;
        };
        let start = context.current_time();
        oscillator.set_type(OscillatorType::Sine);
        oscillator.frequency().set_value(880.0);
        let _ = gain.gain().set_value_at_time(0.2, start);
        let _ = gain
            .gain()
            .exponential_ramp_to_value_at_time(0.001, start + 0.15);
        let connected = oscillator
            .connect_with_audio_node(&gain)
            .and_then(|_| gain.connect_with_audio_node(&context.destination()));
        if connected.is_ok() {
            let _ = oscillator.start_with_when(start);
            // A stopped oscillator is released with its nodes by the browser.
            let _ = oscillator.stop_with_when(start + 0.16);
        }
    }
}
