//! `relay::parse_frame`: any text is refused or parses to a frame that round-trips, without
//! panicking.
#![no_main]

use convoy_core::relay::parse_frame;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Ok(text) = std::str::from_utf8(input) else {
        return;
    };
    if let Ok(frame) = parse_frame(text, 1) {
        let again = serde_json::to_string(&frame).expect("a parsed frame serializes");
        assert_eq!(parse_frame(&again, 1).expect("and parses again"), frame);
    }
});
