//! `sse::Decoder::feed`: any bytes, cut into chunks where the input says, decode exactly as the
//! whole input does, within the limits, without panicking.
#![no_main]

use convoy_core::sse::{Decoder, SseEvent};
use libfuzzer_sys::fuzz_target;

/// Events, last id, retry, and the drop counters (not the error queue: at most 32 undrained
/// errors are kept, so how many are queued depends on how often it is drained).
type Decoded = (Vec<SseEvent>, String, Option<u64>, [u64; 3]);

fn decode(chunks: &[&[u8]]) -> Decoded {
    let mut decoder = Decoder::new()
        .with_max_line_len(64)
        .with_max_event_len(128)
        .with_max_id_len(16);
    let mut events = Vec::new();
    for chunk in chunks {
        decoder.feed(chunk);
        events.extend(std::iter::from_fn(|| decoder.poll_event()));
        assert!(std::iter::from_fn(|| decoder.poll_error()).count() <= 32);
    }
    let last = decoder.last_event_id().to_owned();
    let counters = [
        decoder.malformed_lines(),
        decoder.oversized_events(),
        decoder.ignored_ids(),
    ];
    (events, last, decoder.retry_ms(), counters)
}

fuzz_target!(|input: &[u8]| {
    // The first byte says where to cut: every `step` bytes, shifted by the second.
    let (head, body) = input.split_at(input.len().min(2));
    let step = usize::from(head.first().copied().unwrap_or(1)).max(1);
    let shift = usize::from(head.get(1).copied().unwrap_or(0)) % step;
    let mut chunks = vec![&body[..shift.min(body.len())]];
    chunks.extend(body[shift.min(body.len())..].chunks(step));
    let whole = decode(&[body]);
    assert_eq!(decode(&chunks), whole);
    for event in &whole.0 {
        assert!(event.data.len() < 128);
        assert!(event.id.chars().count() <= 16);
    }
});
