#![cfg(not(target_arch = "wasm32"))]
//! The SSE decoder against the web-platform-tests `eventsource/format-*` cases, rewritten as
//! byte streams, plus the chunking, end-of-stream, limit and encoder round-trip cases Convoy
//! depends on.
//!
//! Each WPT page asks its server (`resources/message.py`) for `message` followed by `newline`
//! (`"\n\n"` unless `newline=none`) and one more `"\n"`; the streams below are those bodies. A
//! page whose server is reconnected to (the `id` cases) is a list of bodies, one per connection,
//! fed to the same decoder with `finish()` between them, as an `EventSource` would.
//!
//! Every input goes through [`replay`], which decodes it whole, split in two at every byte,
//! split in three at every pair of bytes (short inputs), and one byte at a time, and asserts the
//! outcomes are identical.

use convoy_core::sse::{
    encode_comment, encode_event, encode_retry, Decoder, SseError, SseEvent, SseOutput,
};

/// Everything observable after decoding a list of connections' bodies.
#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<SseEvent>,
    /// Events and drops in stream order, as `poll_output` yields them.
    outputs: Vec<SseOutput>,
    retry_ms: Option<u64>,
    last_event_id: String,
    errors: Vec<SseError>,
    malformed_lines: u64,
    oversized_events: u64,
}

/// Feeds each connection's chunks in order, draining after every chunk, and ends each
/// connection with `finish()`. A second decoder is fed the same and drained with `poll_output`:
/// it must yield the same events and drops, interleaved.
fn run(make: &dyn Fn() -> Decoder, connections: &[Vec<&[u8]>]) -> Outcome {
    let mut decoder = make();
    let mut ordered = make();
    let mut events = Vec::new();
    let mut errors = Vec::new();
    let mut outputs = Vec::new();
    for chunks in connections {
        for chunk in chunks {
            decoder.feed(chunk);
            events.extend(std::iter::from_fn(|| decoder.poll_event()));
            errors.extend(std::iter::from_fn(|| decoder.poll_error()));
            ordered.feed(chunk);
            outputs.extend(std::iter::from_fn(|| ordered.poll_output()));
        }
        decoder.finish();
        events.extend(std::iter::from_fn(|| decoder.poll_event()));
        errors.extend(std::iter::from_fn(|| decoder.poll_error()));
        ordered.finish();
        outputs.extend(std::iter::from_fn(|| ordered.poll_output()));
    }
    let (ordered_events, ordered_errors) = split_outputs(&outputs);
    assert_eq!((&ordered_events, &ordered_errors), (&events, &errors));
    Outcome {
        events,
        outputs,
        retry_ms: decoder.retry_ms(),
        last_event_id: decoder.last_event_id().to_owned(),
        errors,
        malformed_lines: decoder.malformed_lines(),
        oversized_events: decoder.oversized_events(),
    }
}

/// The events and the drops of `outputs`, each in order.
fn split_outputs(outputs: &[SseOutput]) -> (Vec<SseEvent>, Vec<SseError>) {
    let mut events = Vec::new();
    let mut errors = Vec::new();
    for output in outputs {
        match output {
            SseOutput::Event(event) => events.push(event.clone()),
            SseOutput::Dropped(error) => errors.push(error.clone()),
        }
    }
    (events, errors)
}

/// Longest input also replayed in three chunks at every pair of split points.
const THREE_WAY_MAX_LEN: usize = 96;

/// Decodes `connections` whole, split in two at every byte, in three at every pair of bytes
/// (when short) and one byte at a time; asserts all agree and returns the outcome.
fn replay_with(make: &dyn Fn() -> Decoder, connections: &[&[u8]]) -> Outcome {
    let show = |connections: &[&[u8]]| -> Vec<String> {
        connections
            .iter()
            .map(|c| String::from_utf8_lossy(c).escape_debug().to_string())
            .collect()
    };
    let whole: Vec<Vec<&[u8]>> = connections.iter().map(|c| vec![*c]).collect();
    let expected = run(make, &whole);
    let longest = connections.iter().map(|c| c.len()).max().unwrap_or(0);

    for at in 0..=longest {
        let split: Vec<Vec<&[u8]>> = connections
            .iter()
            .map(|c| {
                let (head, tail) = c.split_at(at.min(c.len()));
                vec![head, tail]
            })
            .collect();
        assert_eq!(
            run(make, &split),
            expected,
            "split at byte {at} of {:?}",
            show(connections)
        );
    }

    if longest <= THREE_WAY_MAX_LEN {
        for first in 0..=longest {
            for second in first..=longest {
                let split: Vec<Vec<&[u8]>> = connections
                    .iter()
                    .map(|c| {
                        let a = first.min(c.len());
                        let b = second.min(c.len());
                        vec![&c[..a], &c[a..b], &c[b..]]
                    })
                    .collect();
                assert_eq!(
                    run(make, &split),
                    expected,
                    "split at bytes {first} and {second} of {:?}",
                    show(connections)
                );
            }
        }
    }

    let bytewise: Vec<Vec<&[u8]>> = connections.iter().map(|c| c.chunks(1).collect()).collect();
    assert_eq!(
        run(make, &bytewise),
        expected,
        "1-byte chunks of {:?}",
        show(connections)
    );
    expected
}

/// [`replay_with`] over a default decoder and a list of connections.
fn replay_connections(connections: &[&[u8]]) -> Outcome {
    replay_with(&Decoder::new, connections)
}

/// [`replay_with`] over a default decoder and one connection.
fn replay(input: &[u8]) -> Outcome {
    replay_connections(&[input])
}

fn event(event_type: &str, data: &str, id: &str) -> SseEvent {
    SseEvent {
        event_type: event_type.to_owned(),
        data: data.to_owned(),
        id: id.into(),
    }
}

fn message(data: &str) -> SseEvent {
    event("message", data, "")
}

fn message_with_id(data: &str, id: &str) -> SseEvent {
    event("message", data, id)
}

/// What `message.py?message=…` sends: the message, `"\n\n"` (or nothing with `newline=none`),
/// then `"\n"`.
fn wpt_body(message: &str, newline_none: bool) -> Vec<u8> {
    let newline = if newline_none { "" } else { "\n\n" };
    format!("{message}{newline}\n").into_bytes()
}

// ---------------------------------------------------------------------------------------------
// web-platform-tests eventsource/format-*

// Ports format-bom.htm: a leading BOM is stripped, a BOM later in the stream is not (its
// `\u{FEFF}data` field is unknown, so event "2" never comes).
#[test]
fn wpt_format_bom() {
    let body = wpt_body("\u{FEFF}data:1\n\n\u{FEFF}data:2\n\ndata:3", false);
    assert_eq!(replay(&body).events, vec![message("1"), message("3")]);
}

// Ports format-bom-2.htm: only one of two leading BOMs is stripped.
#[test]
fn wpt_format_bom_2() {
    let body = wpt_body("\u{FEFF}\u{FEFF}data:1\n\ndata:2\n\ndata:3", false);
    assert_eq!(replay(&body).events, vec![message("2"), message("3")]);
}

// Ports format-comments.htm: comments after every kind of line ending, NUL in a comment, and
// long comments.
#[test]
fn wpt_format_comments() {
    let long = "x".repeat(2 * 1024);
    let message =
        format!("data:1\r:\0\n:\r\ndata:2\n:{long}\rdata:3\n:data:fail\r:{long}\ndata:4\n");
    let body = wpt_body(&message, true);
    assert_eq!(
        replay(&body).events,
        vec![message_with_id("1\n2\n3\n4", "")]
    );
}

// Ports format-data-before-final-empty-line.htm: the event cut off by the end of the stream is
// discarded together with its `id`, so after reconnecting `lastEventId` is still "".
#[test]
fn wpt_format_data_before_final_empty_line() {
    let body = wpt_body("retry:1000\ndata:test1\n\nid:test\ndata:test2", true);
    let outcome = replay_connections(&[&body, &body]);
    assert_eq!(outcome.events, vec![message("test1"), message("test1")]);
    assert_eq!(outcome.last_event_id, "");
    assert_eq!(outcome.retry_ms, Some(1000));
}

// Ports format-field-data.htm: `data:` with an empty value, `data` without a colon.
#[test]
fn wpt_format_field_data() {
    let body = wpt_body("data:\n\ndata\ndata\n\ndata:test", false);
    assert_eq!(
        replay(&body).events,
        vec![message(""), message("\n"), message("test")]
    );
}

// Ports format-field-event.htm: a custom event type applies to its own event only.
#[test]
fn wpt_format_field_event() {
    let body = wpt_body("event:test\ndata:x\n\ndata:x", false);
    assert_eq!(
        replay(&body).events,
        vec![event("test", "x", ""), message("x")]
    );
}

// Ports format-field-event-empty.htm: `event: ` (empty after the space) means "message".
#[test]
fn wpt_format_field_event_empty() {
    let body = wpt_body("event: \ndata:data", false);
    assert_eq!(replay(&body).events, vec![message("data")]);
}

/// What `resources/last-event-id.py` sends: on the first connection (no `Last-Event-ID`) an id,
/// a retry and "hello"; afterwards it echoes the `Last-Event-ID` it was sent as data.
fn last_event_id_body(last_event_id_header: &str, id_value: &str) -> Vec<u8> {
    if last_event_id_header.is_empty() {
        format!("id: {id_value}\nretry: 200\ndata: hello\n\n").into_bytes()
    } else {
        format!("data: {last_event_id_header}\n\n").into_bytes()
    }
}

// Ports format-field-id.htm: the id is kept across a reconnection and sent back.
#[test]
fn wpt_format_field_id() {
    let first = last_event_id_body("", "…");
    let after_first = replay(&first);
    assert_eq!(after_first.events, vec![message_with_id("hello", "…")]);
    assert_eq!(after_first.last_event_id, "…");
    assert_eq!(after_first.retry_ms, Some(200));

    let second = last_event_id_body(&after_first.last_event_id, "…");
    let outcome = replay_connections(&[&first, &second]);
    assert_eq!(
        outcome.events,
        vec![message_with_id("hello", "…"), message_with_id("…", "…")]
    );
}

// Ports format-field-id-2.htm: the id survives two reconnections.
#[test]
fn wpt_format_field_id_2() {
    let first = last_event_id_body("", "…");
    let again = last_event_id_body("…", "…");
    let outcome = replay_connections(&[&first, &again, &again]);
    assert_eq!(
        outcome.events,
        vec![
            message_with_id("hello", "…"),
            message_with_id("…", "…"),
            message_with_id("…", "…"),
        ]
    );
    assert_eq!(outcome.last_event_id, "…");
}

// Ports format-field-id-3.htm "persists": an id applies to later events without one.
#[test]
fn wpt_format_field_id_3_persists() {
    let outcome = replay(b"id: 1\ndata: 1\n\ndata:2\n\n");
    assert_eq!(
        outcome.events,
        vec![message_with_id("1", "1"), message_with_id("2", "1")]
    );
}

// Ports format-field-id-3.htm "changes and persists".
#[test]
fn wpt_format_field_id_3_changes_and_persists() {
    let outcome = replay(b"id: 1\ndata: 1\n\nid: 2\ndata:2\n\ndata:3\n\n");
    assert_eq!(
        outcome.events,
        vec![
            message_with_id("1", "1"),
            message_with_id("2", "2"),
            message_with_id("3", "2"),
        ]
    );
}

// Ports format-field-id-3.htm "resets": `id:` with an empty value clears the id.
#[test]
fn wpt_format_field_id_3_resets() {
    let outcome = replay(b"id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n");
    assert_eq!(
        outcome.events,
        vec![message_with_id("1", "1"), message("2"), message("3")]
    );
    assert_eq!(outcome.last_event_id, "");
}

// Ports format-field-id-null.htm, as the current spec has it: an id containing U+0000 is
// ignored, so no `Last-Event-ID` is sent and the server says "hello" again.
#[test]
fn wpt_format_field_id_null() {
    let first = last_event_id_body("", "\0\0");
    let after_first = replay(&first);
    assert_eq!(after_first.events, vec![message("hello")]);
    assert_eq!(after_first.last_event_id, "");

    let second = last_event_id_body(&after_first.last_event_id, "\0\0");
    let outcome = replay_connections(&[&first, &second]);
    assert_eq!(outcome.events, vec![message("hello"), message("hello")]);
}

// Ports format-field-parsing.htm: field names are exact and case-sensitive, NUL is data.
#[test]
fn wpt_format_field_parsing() {
    let message = concat!(
        "data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\n",
        "data:3\rdata:\r\n data:32\ndata:4\n",
    );
    let body = wpt_body(message, true);
    assert_eq!(
        replay(&body).events,
        vec![message_with_id("\0\n 2\n1\n3\n\n4", "")]
    );
}

// Ports format-field-retry.htm: leading zeros are base ten, not octal.
#[test]
fn wpt_format_field_retry() {
    let body = wpt_body("retry:03000\ndata:x", false);
    let outcome = replay(&body);
    assert_eq!(outcome.retry_ms, Some(3000));
    assert_eq!(outcome.events, vec![message("x")]);
}

// Ports format-field-retry-bogus.htm: a retry value with a non-digit is ignored.
#[test]
fn wpt_format_field_retry_bogus() {
    let body = wpt_body("retry:3000\nretry:1000x\ndata:x", false);
    let outcome = replay(&body);
    assert_eq!(outcome.retry_ms, Some(3000));
    assert_eq!(outcome.events, vec![message("x")]);
}

// Ports format-field-retry-empty.htm: `retry` without a value changes nothing.
#[test]
fn wpt_format_field_retry_empty() {
    let body = wpt_body("retry\ndata:test", false);
    let outcome = replay(&body);
    assert_eq!(outcome.retry_ms, None);
    assert_eq!(outcome.events, vec![message("test")]);
}

// Ports format-field-unknown.htm: unknown fields, a leading space in the name, bare text.
#[test]
fn wpt_format_field_unknown() {
    let body = wpt_body(
        "data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test",
        false,
    );
    assert_eq!(replay(&body).events, vec![message("test\n\ntest")]);
}

// Ports format-leading-space.htm: only a space is stripped, not a tab; one CR line ending.
#[test]
fn wpt_format_leading_space() {
    let body = wpt_body("data:\ttest\rdata: \ndata:test", false);
    assert_eq!(replay(&body).events, vec![message("\ttest\n\ntest")]);
}

// Ports format-newlines.htm: CRLF, LF and CR mixed; the blank line is a lone CR.
#[test]
fn wpt_format_newlines() {
    let body = wpt_body("data:test\r\ndata\ndata:test\r\n\r", true);
    assert_eq!(replay(&body).events, vec![message("test\n\ntest")]);
}

// Ports format-null-character.html: U+0000 in data is kept.
#[test]
fn wpt_format_null_character() {
    let body = wpt_body("data:\0\n\n", false);
    assert_eq!(replay(&body).events, vec![message("\0")]);
}

// Ports format-utf-8.htm: the stream is UTF-8 whatever charset the MIME type names (the
// charset itself is the transport's to ignore).
#[test]
fn wpt_format_utf_8() {
    let body = wpt_body("data:ok\u{2026}", false);
    assert_eq!(body[7..10], [0xE2, 0x80, 0xA6]);
    assert_eq!(replay(&body).events, vec![message("ok…")]);
}

// ---------------------------------------------------------------------------------------------
// Chunking

#[test]
fn cr_at_chunk_end_dispatches_without_more_bytes() {
    let mut decoder = Decoder::new();
    decoder.feed(b"data: a\r\r");
    assert_eq!(decoder.poll_event(), Some(message("a")));
    assert_eq!(decoder.poll_event(), None);
}

#[test]
fn crlf_split_across_chunks_is_one_line_ending() {
    let mut decoder = Decoder::new();
    decoder.feed(b"data: a\r");
    assert_eq!(decoder.poll_event(), None);
    decoder.feed(b"\n\r");
    assert_eq!(decoder.poll_event(), Some(message("a")));
    // This LF completes the CRLF blank line above; it must not count as another blank line.
    decoder.feed(b"\ndata: b\r");
    decoder.feed(b"\n");
    assert_eq!(decoder.poll_event(), None);
    decoder.feed(b"\r\n");
    assert_eq!(decoder.poll_event(), Some(message("b")));
}

#[test]
fn retry_with_leading_space_is_honoured() {
    assert_eq!(replay(b"retry: 3000\n").retry_ms, Some(3000));
    assert_eq!(
        replay(&encode_retry(3000).into_bytes()).retry_ms,
        Some(3000)
    );
    // Only one space is stripped: the second makes the value non-numeric.
    assert_eq!(replay(b"retry:  3000\n").retry_ms, None);
}

#[test]
fn utf8_character_split_across_chunks() {
    let body = "data: é€😀中\n\n".as_bytes();
    assert_eq!(replay(body).events, vec![message("é€😀中")]);
    // And explicitly: every split inside the 4-byte emoji, fed as separate chunks.
    let emoji = "😀".as_bytes();
    for at in 1..emoji.len() {
        let mut decoder = Decoder::new();
        decoder.feed(b"data: ");
        decoder.feed(&emoji[..at]);
        decoder.feed(&emoji[at..]);
        decoder.feed(b"\n\n");
        assert_eq!(decoder.poll_event(), Some(message("😀")), "split at {at}");
    }
}

#[test]
fn invalid_utf8_is_replaced() {
    let outcome = replay(b"data: a\xFFb\xE2\x82\nevent: \xC3\n\n");
    assert_eq!(
        outcome.events,
        vec![event("\u{FFFD}", "a\u{FFFD}b\u{FFFD}", "")]
    );
}

#[test]
fn partial_bom_is_line_content() {
    // EF BB then 'd' is no BOM: the first line is "\u{FFFD}data: x", an unknown field.
    let outcome = replay(b"\xEF\xBBdata: x\n\ndata: y\n\n");
    assert_eq!(outcome.events, vec![message("y")]);
    let outcome = replay(b"\xEFdata: x\n\n");
    assert_eq!(outcome.events, vec![]);
}

#[test]
fn bom_is_stripped_at_the_start_of_each_connection() {
    let body = b"\xEF\xBB\xBFdata: x\n\n";
    let outcome = replay_connections(&[body, body]);
    assert_eq!(outcome.events, vec![message("x"), message("x")]);
}

#[test]
fn event_type_is_reset_by_a_blank_line_without_data() {
    let outcome = replay(b"event: status\n\ndata: y\n\n");
    assert_eq!(outcome.events, vec![message("y")]);
}

// ---------------------------------------------------------------------------------------------
// End of stream

#[test]
fn end_of_stream_discards_incomplete_event() {
    for body in [
        &b"data: a\n\ndata: b\n"[..],
        &b"data: a\n\ndata: b"[..],
        &b"data: a\n\ndata: b\r"[..],
        &b"data: a\n\nevent: x\ndata: b\nid: 9\n"[..],
    ] {
        let outcome = replay(body);
        assert_eq!(outcome.events, vec![message("a")], "{body:?}");
        assert_eq!(outcome.last_event_id, "", "{body:?}");
    }
}

#[test]
fn next_connection_starts_clean_after_end_of_stream() {
    // The unterminated "data: b" and the pending "event: x" die with the first connection; the
    // second connection's leading LF is a blank line of its own.
    let outcome = replay_connections(&[b"data: a\n\nevent: x\ndata: b", b"\ndata: c\n\n"]);
    assert_eq!(outcome.events, vec![message("a"), message("c")]);
}

// ---------------------------------------------------------------------------------------------
// Memory limits

#[test]
fn too_long_lines_are_dropped_at_every_split() {
    let make = || Decoder::new().with_max_line_len(16);
    // 16 bytes is fine; 17 bytes is dropped whatever its ending; CRLF and BOM do not count.
    let body: &[u8] = concat!(
        "\u{FEFF}data: 0123456789\r\n",
        "data: 0123456789A\r",
        "data: ok\n",
        ": comment longer than 16\n\n",
    )
    .as_bytes();
    let outcome = replay_with(&make, &[body]);
    assert_eq!(outcome.events, vec![message("0123456789\nok")]);
    assert_eq!(outcome.malformed_lines, 2);
    assert_eq!(
        outcome.errors,
        vec![
            SseError::LineTooLong { limit: 16 },
            SseError::LineTooLong { limit: 16 }
        ]
    );
}

#[test]
fn too_long_line_is_not_a_blank_line() {
    // A dropped line is gone, not turned into a blank line that would dispatch.
    let make = || Decoder::new().with_max_line_len(4);
    let outcome = replay_with(&make, &[b"data\n\ndata\ndata: toolong\ndata\n\n"]);
    assert_eq!(outcome.events, vec![message(""), message("\n")]);
    assert_eq!(outcome.malformed_lines, 1);
}

#[test]
fn oversized_events_are_dropped_at_every_split() {
    let make = || Decoder::new().with_max_event_len(8);
    // The limit counts one LF per data line: "123\n456\n" is 8 bytes.
    let outcome = replay_with(
        &make,
        &[b"data: 123\ndata: 456\n\ndata: 12345678\ndata: x\n\ndata: 1234567\n\n"],
    );
    assert_eq!(
        outcome.events,
        vec![message("123\n456"), message("1234567")]
    );
    assert_eq!(outcome.oversized_events, 1);
    assert_eq!(outcome.errors, vec![SseError::EventTooLarge { limit: 8 }]);
}

#[test]
fn drops_come_out_in_their_place_among_the_events_at_every_split() {
    // A batch line too long for the decoder between two events that fit: the reader sees event
    // 1, then the drop, then event 3, whatever the chunking, so it can stop at the drop and
    // resume after event 1 instead of taking event 3 over the hole.
    let make = || Decoder::new().with_max_line_len(24);
    let body: &[u8] = concat!(
        "id: 1\nevent: batch\ndata: [1]\n\n",
        "id: 2\nevent: batch\ndata: [2, far too long for the line limit]\n\n",
        "id: 3\nevent: batch\ndata: [3]\n\n",
        "id: 4\nevent: batch\ndata: [4]\ndata: and one more line that is too long\n\n",
        "id: 5\nevent: batch\ndata: [5]\n\n",
    )
    .as_bytes();
    let outcome = replay_with(&make, &[body]);
    let batch = |data: &str, id: &str| SseOutput::Event(event("batch", data, id));
    let dropped = SseOutput::Dropped(SseError::LineTooLong { limit: 24 });
    assert_eq!(
        outcome.outputs,
        vec![
            batch("[1]", "1"),
            dropped.clone(),
            batch("[3]", "3"),
            dropped,
            // What is left of event 4 is dispatched; a reader stopped at the drop before it.
            batch("[4]", "4"),
            batch("[5]", "5"),
        ]
    );

    // An oversized event and an ignored id are drops in their place too.
    let make = || Decoder::new().with_max_event_len(8).with_max_id_len(4);
    let outcome = replay_with(
        &make,
        &[b"id: 1\ndata: a\n\ndata: 123456789\n\nid: 12345\ndata: b\n\ndata: c\n\n"],
    );
    assert_eq!(
        outcome.outputs,
        vec![
            SseOutput::Event(event("message", "a", "1")),
            SseOutput::Dropped(SseError::EventTooLarge { limit: 8 }),
            SseOutput::Dropped(SseError::IdTooLong { limit: 4 }),
            SseOutput::Event(event("message", "b", "1")),
            SseOutput::Event(event("message", "c", "1")),
        ]
    );
}

#[test]
fn an_80_kb_batch_line_is_a_drop_between_the_events_around_it() {
    // Two alerts with 40 000-character messages make one batch line past the default 64 KiB.
    let alert = |id: u64| {
        format!(
            concat!(
                r#"{{"id":{id},"event":{{"type":"alert","truck":"T-01","at_ms":1,"#,
                r#""alert":{{"kind":"delay","message":"{message}","raised_ms":1}}}}}}"#
            ),
            id = id,
            message = "x".repeat(40_000)
        )
    };
    let huge = format!("[{},{}]", alert(2), alert(3));
    assert!(huge.len() > Decoder::DEFAULT_MAX_LINE_LEN);
    let body = [
        encode_event(Some(1), Some("batch"), "[1]"),
        encode_event(Some(3), Some("batch"), &huge),
        encode_event(Some(4), Some("batch"), "[4]"),
    ]
    .concat();
    for chunk in [1 << 20, 4_096, 1_000, 7] {
        let chunks: Vec<&[u8]> = body.as_bytes().chunks(chunk).collect();
        let outcome = run(&Decoder::new, &[chunks]);
        assert_eq!(
            outcome.outputs,
            vec![
                SseOutput::Event(event("batch", "[1]", "1")),
                SseOutput::Dropped(SseError::LineTooLong {
                    limit: Decoder::DEFAULT_MAX_LINE_LEN
                }),
                SseOutput::Event(event("batch", "[4]", "4")),
            ],
            "chunks of {chunk}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Encoder round trip

/// Data with every kind of line break and some text that looks like the format itself.
const TRICKY_DATA: &[&str] = &[
    "",
    "plain",
    "\n",
    "\r",
    "\r\n",
    "\n\n",
    "\r\r\n\n",
    "a\r\n\r\nb",
    "trailing\n",
    "\r\nleading",
    " one leading space",
    "  two leading spaces",
    ":looks like a comment",
    "data: nested\n\nid: 3\nevent: injected\nretry: 1",
    "é€😀\n中文\r\nΩ",
    "\u{FEFF}bom at the start of data",
    "nul\0inside",
    "{\"type\":\"status\",\"truck\":\"T-07\"}",
];

fn normalize_line_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

#[test]
fn encode_decode_round_trips_each_event() {
    for data in TRICKY_DATA {
        for id in [None, Some(0), Some((1u64 << 53) - 1)] {
            for name in [
                None,
                Some("telemetry"),
                Some("alert_cleared"),
                Some("re\r\nset"),
            ] {
                let encoded = encode_event(id, name, data);
                let outcome = replay(encoded.as_bytes());
                let expected = SseEvent {
                    event_type: name.map_or("message".to_owned(), |n| n.replace(['\r', '\n'], "")),
                    data: normalize_line_breaks(data),
                    id: id.map_or(String::new(), |id| id.to_string()).into(),
                };
                assert_eq!(outcome.events, vec![expected], "{encoded:?}");
                assert_eq!(outcome.retry_ms, None, "{encoded:?}");
            }
        }
    }
}

#[test]
fn encode_decode_round_trips_a_stream() {
    let mut stream = encode_comment("convoy-server\r\nhello");
    stream.push_str(&encode_retry(2500));
    let mut expected = Vec::new();
    let mut last_id = String::new();
    for (i, data) in TRICKY_DATA.iter().enumerate() {
        let id = (i % 3 != 2).then_some(1000 + i as u64);
        let name = (i % 2 == 0).then_some("status");
        if let Some(id) = id {
            last_id = id.to_string();
        }
        stream.push_str(&encode_event(id, name, data));
        stream.push_str(&encode_comment(""));
        expected.push(event(
            name.unwrap_or("message"),
            &normalize_line_breaks(data),
            &last_id,
        ));
    }
    let outcome = replay(stream.as_bytes());
    assert_eq!(outcome.events, expected);
    assert_eq!(outcome.retry_ms, Some(2500));
    assert_eq!(outcome.last_event_id, last_id);
    assert!(outcome.errors.is_empty());
}

#[test]
fn comments_decode_to_nothing() {
    for text in TRICKY_DATA {
        let outcome = replay(encode_comment(text).as_bytes());
        assert_eq!(outcome.events, vec![], "{text:?}");
        assert_eq!(outcome.retry_ms, None, "{text:?}");
        assert_eq!(outcome.last_event_id, "", "{text:?}");
    }
}
