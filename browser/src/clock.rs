//! Time and identity from the browser: the core has no clock or randomness of its own.

/// Wall-clock ms: tabs and workers of one browser share it, so delays compare across them.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// Marks this moment on the page's performance timeline (ms since the navigation started), for
/// whoever measures the page from outside; nothing where there is no window.
pub fn mark(name: &str) {
    if let Some(performance) = web_sys::window().and_then(|w| w.performance()) {
        let _ = performance.mark(name);
    }
}

/// A random tab id below 2^53, so it is exact as a JS number in diagnostics and frames.
pub fn new_tab_id() -> u64 {
    (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64
}
