//! Time and identity from the browser: the core has no clock or randomness of its own.

/// Wall-clock ms: tabs and workers of one browser share it, so delays compare across them.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// A random tab id below 2^53, so it is exact as a JS number in diagnostics and frames.
pub fn new_tab_id() -> u64 {
    (js_sys::Math::random() * 9_007_199_254_740_991.0) as u64
}
