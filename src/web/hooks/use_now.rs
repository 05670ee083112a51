//! A clock for views that show ages ("updated 3 s ago") and staleness.

use convoy_browser::visibility::page_hidden;
use gloo_timers::callback::Interval;
use yew::prelude::*;

/// Wall-clock ms, re-rendering the caller every `every_ms` while the page is visible (a hidden
/// page renders nothing; the first tick after it is shown catches up).
#[hook]
pub fn use_now(every_ms: u32) -> u64 {
    let now = use_state(|| js_sys::Date::now() as u64);
    {
        let now = now.clone();
        use_effect_with(every_ms, move |every_ms| {
            let interval = Interval::new(*every_ms, move || {
                if !page_hidden() {
                    now.set(js_sys::Date::now() as u64);
                }
            });
            move || drop(interval)
        });
    }
    *now
}
