//! Server-Sent Events: a decoder following WHATWG HTML §9.2.6 for any chunking, and the encoder
//! convoy-server uses.
//!
//! [`Decoder`] is a sans-IO state machine: the transport feeds it the response body's bytes as
//! they arrive, in chunks of any size and split at any byte, and drains dispatched events with
//! [`Decoder::poll_event`]. It does no I/O, keeps no clock and allocates only for the line, the
//! event being built and the events not yet drained. It implements "Interpreting an event stream"
//! (WHATWG HTML §9.2.6): UTF-8 decoding with replacement and one leading BOM stripped, lines
//! ended by CRLF, LF or CR, comments, the `event`, `data`, `id` and `retry` fields, and dispatch on
//! a blank line. Checking the response's MIME type and status, reconnecting and waiting
//! [`Decoder::retry_ms`] belong to the transport (§9.2.3), not here.
//!
//! Two behaviours matter for a live dashboard and are easy to get wrong:
//! - a CR that ends a chunk ends its line at once: `data: a\r\r` dispatches its event without
//!   waiting for the next chunk to show whether an LF follows (a following LF is then skipped);
//! - a line or an event that grows past its limit is dropped and reported, so a misbehaving
//!   server cannot make the tab's memory grow without bound. [`Decoder::poll_output`] yields each
//!   drop in its place among the events ([`SseOutput::Dropped`]): whatever the dropped line
//!   carried is lost, and a reader that resumes from the last event it took before the drop
//!   loses nothing. The defaults fit Convoy's events (JSON of a few hundred bytes, numeric
//!   ids): lines up to 64 KiB, events up to 1 MiB, and an `id` longer than 1 KiB is ignored as
//!   if it had not been sent; every event carries the last id as a shared [`SseId`], so one id
//!   is never copied into each event.
//!
//! [`encode_event`], [`encode_comment`] and [`encode_retry`] write the stream format of
//! WHATWG HTML §9.2.5 "Parsing an event stream"; whatever they write, [`Decoder`] reads back.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;

/// The UTF-8 byte order mark, stripped once at the start of a stream (§9.2.6).
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// Errors kept for [`Decoder::poll_error`] before further ones are only counted.
const MAX_QUEUED_ERRORS: usize = 32;

/// One event dispatched by [`Decoder`], as a browser's `MessageEvent` would carry it
/// (WHATWG HTML §9.2.6, "dispatch the event").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    /// The last `event:` field's value, or `"message"` when there was none or it was empty.
    pub event_type: String,
    /// The `data:` field values joined by LF (the final LF removed).
    pub data: String,
    /// The last event ID buffer at dispatch: the last valid `id:` value seen on this stream or an
    /// earlier one, `""` if none (or after an `id:` with an empty value). Shared by every event
    /// dispatched with the same id; reads as a `&str`.
    pub id: SseId,
}

/// An event's id as [`SseEvent::id`] carries it: text shared by every event dispatched with the
/// same id (cloning it copies no bytes). Reads as `&str` through `Deref`, and compares with
/// `str`, `&str` and `String`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SseId(Arc<str>);

impl SseId {
    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether both ids are the same shared text (not only equal).
    pub fn ptr_eq(a: &SseId, b: &SseId) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }
}

impl Default for SseId {
    fn default() -> Self {
        SseId::from("")
    }
}

impl std::ops::Deref for SseId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for SseId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for SseId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SseId {
    fn from(id: &str) -> Self {
        SseId(Arc::from(id))
    }
}

impl From<String> for SseId {
    fn from(id: String) -> Self {
        SseId(Arc::from(id))
    }
}

impl fmt::Debug for SseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for SseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for SseId {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for SseId {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for SseId {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<SseId> for str {
    fn eq(&self, other: &SseId) -> bool {
        *self == *other.0
    }
}

impl PartialEq<SseId> for &str {
    fn eq(&self, other: &SseId) -> bool {
        **self == *other.0
    }
}

impl PartialEq<SseId> for String {
    fn eq(&self, other: &SseId) -> bool {
        **self == *other.0
    }
}

/// Something [`Decoder`] dropped to bound its memory. None stops decoding: the rest of the
/// stream is read normally. Whatever was dropped is gone (an event's data, or its id): a reader
/// that must not lose events treats it as a gap to repair (see [`SseOutput::Dropped`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseError {
    /// A line longer than `limit` bytes (terminator excluded) was dropped whole, as if it had
    /// not been sent.
    LineTooLong { limit: usize },
    /// An event whose data grew past `limit` bytes was dropped: its `data` lines up to the next
    /// blank line are ignored and no event is dispatched for it.
    EventTooLarge { limit: usize },
    /// An `id` field whose value is longer than `limit` bytes was ignored: the last event ID
    /// stays what it was.
    IdTooLong { limit: usize },
}

impl fmt::Display for SseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SseError::LineTooLong { limit } => {
                write!(f, "event stream line longer than {limit} bytes dropped")
            }
            SseError::EventTooLarge { limit } => {
                write!(
                    f,
                    "event stream event with more than {limit} bytes of data dropped"
                )
            }
            SseError::IdTooLong { limit } => {
                write!(f, "event stream id longer than {limit} bytes ignored")
            }
        }
    }
}

impl std::error::Error for SseError {}

/// What [`Decoder::poll_output`] yields: the stream's events and drops, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SseOutput {
    /// An event dispatched on a blank line.
    Event(SseEvent),
    /// Something dropped to bound memory, where it happened: events before it were complete,
    /// and whatever the dropped part carried (an event, the events of a batch, an id) is lost.
    /// A reader that must not lose events stops taking this stream's events here and resumes
    /// from the last one it took.
    Dropped(SseError),
}

/// Where the decoder is in stripping the stream's leading byte order mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BomState {
    /// This many leading bytes of the stream matched the BOM so far (0, 1 or 2).
    Matching(usize),
    /// The BOM was stripped or the stream does not start with one.
    Done,
}

/// A sans-IO `text/event-stream` decoder: WHATWG HTML §9.2.6 "Interpreting an event stream",
/// correct for any chunking of the input.
///
/// Feed the body with [`feed`](Decoder::feed), drain events and drops in stream order with
/// [`poll_output`](Decoder::poll_output) (or events with [`poll_event`](Decoder::poll_event) and
/// drops with [`poll_error`](Decoder::poll_error), when their order does not matter) after each
/// call, and call [`finish`](Decoder::finish) when the body ends or the connection drops.
/// After `finish` the same decoder reads the next connection's body: the last event ID and the
/// reconnection time carry over, as they do in an `EventSource`.
#[derive(Debug, Clone)]
pub struct Decoder {
    max_line_len: usize,
    max_event_len: usize,
    max_id_len: usize,
    bom: BomState,
    /// Bytes of the current line, without its terminator.
    line: Vec<u8>,
    /// The current line passed `max_line_len`: drop bytes until its terminator.
    discarding_line: bool,
    /// The last byte fed was a CR: if the next one is an LF, it belongs to the same CRLF.
    after_cr: bool,
    data: String,
    /// The current event's data passed `max_event_len`: ignore `data` until the blank line.
    discarding_event: bool,
    event_type: String,
    /// The spec's "last event ID buffer": set by `id` fields.
    id_buffer: String,
    /// The spec's "last event ID string" of the event source: the buffer as of the last dispatch,
    /// shared with every event dispatched since.
    last_event_id: SseId,
    retry_ms: Option<u64>,
    events: VecDeque<SseEvent>,
    /// Events dispatched so far, drained or not.
    dispatched: u64,
    /// Each undrained error with the number of events dispatched before it (its place).
    errors: VecDeque<(u64, SseError)>,
    malformed_lines: u64,
    oversized_events: u64,
    ignored_ids: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder::new()
    }
}

impl Decoder {
    /// The default longest line kept, in bytes, terminator excluded: 64 KiB (a Convoy event's
    /// JSON is a few hundred bytes).
    pub const DEFAULT_MAX_LINE_LEN: usize = 64 << 10;
    /// The default most data one event may carry, in bytes: 1 MiB.
    pub const DEFAULT_MAX_EVENT_LEN: usize = 1 << 20;
    /// The default longest `id` value taken, in bytes: 1 KiB (Convoy's ids are decimal
    /// integers below 2^53).
    pub const DEFAULT_MAX_ID_LEN: usize = 1 << 10;

    /// A decoder at the start of a stream, with an empty last event ID, no reconnection time,
    /// and the default limits ([`DEFAULT_MAX_LINE_LEN`](Decoder::DEFAULT_MAX_LINE_LEN),
    /// [`DEFAULT_MAX_EVENT_LEN`](Decoder::DEFAULT_MAX_EVENT_LEN),
    /// [`DEFAULT_MAX_ID_LEN`](Decoder::DEFAULT_MAX_ID_LEN)).
    pub fn new() -> Self {
        Decoder {
            max_line_len: Self::DEFAULT_MAX_LINE_LEN,
            max_event_len: Self::DEFAULT_MAX_EVENT_LEN,
            max_id_len: Self::DEFAULT_MAX_ID_LEN,
            bom: BomState::Matching(0),
            line: Vec::new(),
            discarding_line: false,
            after_cr: false,
            data: String::new(),
            discarding_event: false,
            event_type: String::new(),
            id_buffer: String::new(),
            last_event_id: SseId::default(),
            retry_ms: None,
            events: VecDeque::new(),
            dispatched: 0,
            errors: VecDeque::new(),
            malformed_lines: 0,
            oversized_events: 0,
            ignored_ids: 0,
        }
    }

    /// Sets the longest line kept, in bytes of UTF-8, line terminator and BOM excluded. A longer
    /// line is dropped whole and reported as [`SseError::LineTooLong`]. Call before feeding.
    #[must_use]
    pub fn with_max_line_len(mut self, max_line_len: usize) -> Self {
        self.max_line_len = max_line_len;
        self
    }

    /// Sets the longest `id` value taken, in bytes of UTF-8. A longer `id` field is ignored (the
    /// last event ID stays as it was) and reported as [`SseError::IdTooLong`]. Call before
    /// feeding.
    #[must_use]
    pub fn with_max_id_len(mut self, max_id_len: usize) -> Self {
        self.max_id_len = max_id_len;
        self
    }

    /// Sets the most data one event may carry, in bytes of decoded UTF-8 counting one LF per
    /// `data` line. A larger event is not dispatched and is reported as
    /// [`SseError::EventTooLarge`]. Call before feeding.
    #[must_use]
    pub fn with_max_event_len(mut self, max_event_len: usize) -> Self {
        self.max_event_len = max_event_len;
        self
    }

    /// Consumes the next bytes of the stream, however they were chunked: a chunk may end inside
    /// a line, a CRLF pair, a UTF-8 character or the leading BOM. Every line completed by these
    /// bytes is interpreted (§9.2.6); a line ended by a CR is interpreted at once, even when the
    /// CR is the chunk's last byte. Dispatched events queue for
    /// [`poll_event`](Decoder::poll_event).
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut rest = self.strip_bom(bytes);
        if self.after_cr {
            if let Some((&first, tail)) = rest.split_first() {
                self.after_cr = false;
                if first == b'\n' {
                    rest = tail;
                }
            }
        }
        while let Some(end) = rest.iter().position(|&b| b == b'\n' || b == b'\r') {
            self.push_line_bytes(&rest[..end]);
            self.end_line();
            let terminator = rest[end];
            rest = &rest[end + 1..];
            if terminator == b'\r' {
                match rest.split_first() {
                    Some((b'\n', tail)) => rest = tail,
                    Some(_) => {}
                    None => self.after_cr = true,
                }
            }
        }
        self.push_line_bytes(rest);
    }

    /// Ends the stream: the body is complete or the connection was lost. As §9.2.6 requires, a
    /// line without its terminator and an event without its final blank line are discarded.
    ///
    /// The decoder is then ready for the next connection's body: BOM stripping starts again,
    /// while [`last_event_id`](Decoder::last_event_id) (which seeds the next stream's last event
    /// ID buffer, as browsers do) and [`retry_ms`](Decoder::retry_ms) are kept, and so are
    /// events and errors not yet drained.
    pub fn finish(&mut self) {
        self.bom = BomState::Matching(0);
        self.line.clear();
        self.discarding_line = false;
        self.after_cr = false;
        self.data.clear();
        self.discarding_event = false;
        self.event_type.clear();
        self.id_buffer.clear();
        self.id_buffer.push_str(&self.last_event_id);
    }

    /// The next event or drop, in the order the stream had them; `None` when everything so far
    /// was drained. Shares its queues with [`poll_event`](Decoder::poll_event) and
    /// [`poll_error`](Decoder::poll_error): what one drains, the others no longer yield.
    pub fn poll_output(&mut self) -> Option<SseOutput> {
        // The index of the next undrained event, counted from the stream's first.
        let next_event = self.dispatched - self.events.len() as u64;
        match self.errors.front() {
            Some((before, _)) if *before <= next_event || self.events.is_empty() => self
                .errors
                .pop_front()
                .map(|(_, error)| SseOutput::Dropped(error)),
            _ => self.events.pop_front().map(SseOutput::Event),
        }
    }

    /// The next dispatched event, oldest first; `None` when every event so far was drained.
    pub fn poll_event(&mut self) -> Option<SseEvent> {
        self.events.pop_front()
    }

    /// The next thing dropped to bound memory, oldest first; `None` when there is none. At most
    /// 32 undrained errors are kept; later ones are only counted in
    /// [`malformed_lines`](Decoder::malformed_lines),
    /// [`oversized_events`](Decoder::oversized_events) and
    /// [`ignored_ids`](Decoder::ignored_ids) (a reader of [`poll_output`](Decoder::poll_output)
    /// that stops at the first drop sees it all the same).
    pub fn poll_error(&mut self) -> Option<SseError> {
        self.errors.pop_front().map(|(_, error)| error)
    }

    /// The reconnection time set by the latest valid `retry` field (ASCII digits only, read in
    /// base ten, saturating at `u64::MAX`), in ms; `None` if no valid `retry` was seen (§9.2.6).
    pub fn retry_ms(&self) -> Option<u64> {
        self.retry_ms
    }

    /// The event source's "last event ID string" (§9.2.6, dispatch step 1): the last event ID
    /// buffer as of the latest blank line, whether or not that blank line dispatched an event.
    /// An `id` field whose event never completed does not count. Send it as `Last-Event-ID`
    /// when reconnecting (§9.2.4); `""` means none.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// How many lines were dropped for being longer than the line limit.
    pub fn malformed_lines(&self) -> u64 {
        self.malformed_lines
    }

    /// How many events were dropped for carrying more data than the event limit.
    pub fn oversized_events(&self) -> u64 {
        self.oversized_events
    }

    /// How many `id` fields were ignored for being longer than the id limit.
    pub fn ignored_ids(&self) -> u64 {
        self.ignored_ids
    }

    /// Strips the stream's leading BOM, even when it arrives split over several chunks, and
    /// returns the bytes after it. A partial match that fails is line content, not BOM.
    fn strip_bom<'a>(&mut self, mut bytes: &'a [u8]) -> &'a [u8] {
        while let BomState::Matching(matched) = self.bom {
            let Some((&byte, tail)) = bytes.split_first() else {
                break;
            };
            if byte == BOM[matched] {
                bytes = tail;
                self.bom = if matched + 1 == BOM.len() {
                    BomState::Done
                } else {
                    BomState::Matching(matched + 1)
                };
            } else {
                self.bom = BomState::Done;
                // Bytes of a BOM are never CR or LF, so they simply start the first line.
                self.push_line_bytes(&BOM[..matched]);
            }
        }
        bytes
    }

    fn push_line_bytes(&mut self, bytes: &[u8]) {
        if self.discarding_line || bytes.is_empty() {
            return;
        }
        if self.line.len() + bytes.len() > self.max_line_len {
            self.discarding_line = true;
            self.line.clear();
            self.malformed_lines += 1;
            self.report(SseError::LineTooLong {
                limit: self.max_line_len,
            });
        } else {
            self.line.extend_from_slice(bytes);
        }
    }

    fn end_line(&mut self) {
        if self.discarding_line {
            self.discarding_line = false;
            return;
        }
        let line = std::mem::take(&mut self.line);
        self.interpret_line(&line);
        self.line = line;
        self.line.clear();
    }

    /// One complete line, terminator removed (§9.2.6). Field names are compared as bytes, which
    /// is the same as comparing decoded text since the names are ASCII.
    fn interpret_line(&mut self, line: &[u8]) {
        if line.is_empty() {
            self.dispatch();
            return;
        }
        if line[0] == b':' {
            return;
        }
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match name {
            b"event" => {
                self.event_type.clear();
                self.event_type.push_str(&decode_utf8(value));
            }
            b"data" => self.append_data(&decode_utf8(value)),
            b"id" if value.len() > self.max_id_len => {
                self.ignored_ids += 1;
                self.report(SseError::IdTooLong {
                    limit: self.max_id_len,
                });
            }
            b"id" if !value.contains(&0) => {
                self.id_buffer.clear();
                self.id_buffer.push_str(&decode_utf8(value));
            }
            b"retry" if !value.is_empty() && value.iter().all(u8::is_ascii_digit) => {
                let ms = value.iter().fold(0u64, |ms, &digit| {
                    ms.saturating_mul(10)
                        .saturating_add(u64::from(digit - b'0'))
                });
                self.retry_ms = Some(ms);
            }
            // Unknown fields, an `id` containing U+0000 and a `retry` that is not all ASCII
            // digits are ignored.
            _ => {}
        }
    }

    fn append_data(&mut self, value: &str) {
        if self.discarding_event {
            return;
        }
        if self.data.len() + value.len() + 1 > self.max_event_len {
            self.discarding_event = true;
            self.data.clear();
            self.oversized_events += 1;
            self.report(SseError::EventTooLarge {
                limit: self.max_event_len,
            });
        } else {
            self.data.push_str(value);
            self.data.push('\n');
        }
    }

    /// "Dispatch the event" (§9.2.6), on a blank line.
    fn dispatch(&mut self) {
        if *self.last_event_id != *self.id_buffer {
            self.last_event_id = SseId::from(self.id_buffer.as_str());
        }
        self.discarding_event = false;
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        if self.data.ends_with('\n') {
            self.data.pop();
        }
        let event_type = if self.event_type.is_empty() {
            "message".to_owned()
        } else {
            std::mem::take(&mut self.event_type)
        };
        self.events.push_back(SseEvent {
            event_type,
            data: std::mem::take(&mut self.data),
            id: self.last_event_id.clone(),
        });
        self.dispatched += 1;
    }

    fn report(&mut self, error: SseError) {
        if self.errors.len() < MAX_QUEUED_ERRORS {
            self.errors.push_back((self.dispatched, error));
        }
    }
}

/// UTF-8 decode with replacement (§9.2.6 decodes the whole stream so; lines split at CR and LF,
/// which are never inside a multi-byte sequence, decode to the same text).
fn decode_utf8(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

/// Splits text into lines at CRLF, LF or lone CR. `""` is one empty line; a trailing line
/// break ends with an empty line.
fn normalized_lines(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.find(['\r', '\n']) {
            Some(end) => {
                let skip = if current[end..].starts_with("\r\n") {
                    2
                } else {
                    1
                };
                rest = Some(&current[end + skip..]);
                Some(&current[..end])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Encodes one event in the stream format of WHATWG HTML §9.2.5: an `id:` line when `id` is
/// given, an `event:` line when `event` is given, one `data:` line per line of `data`, then the
/// blank line that dispatches it.
///
/// `data` may hold any text: CRLF and lone CR become LF, so [`Decoder`] yields exactly `data` with
/// line breaks normalised to LF (`""` yields an event with empty data). CR and LF are removed
/// from `event`, which cannot carry them. Without `event` the client sees type `"message"`;
/// without `id` the client keeps the previous event's id.
pub fn encode_event(id: Option<u64>, event: Option<&str>, data: &str) -> String {
    let mut out = String::with_capacity(data.len() + 32);
    if let Some(id) = id {
        out.push_str("id: ");
        out.push_str(&id.to_string());
        out.push('\n');
    }
    if let Some(event) = event {
        out.push_str("event: ");
        out.extend(event.chars().filter(|&c| c != '\r' && c != '\n'));
        out.push('\n');
    }
    for line in normalized_lines(data) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// Encodes a comment (WHATWG HTML §9.2.5): one `: ` line per line of `text` (CRLF, LF and CR all
/// split lines). Clients ignore it; the server sends it to keep idle connections open. It does
/// not end with a blank line, so it can go between any two events.
pub fn encode_comment(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 3);
    for line in normalized_lines(text) {
        out.push_str(": ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// Encodes a `retry:` field setting the client's reconnection time to `ms` milliseconds
/// (WHATWG HTML §9.2.6). It takes effect when read, without a blank line or an event, so it can go
/// between any two events.
pub fn encode_retry(ms: u64) -> String {
    format!("retry: {ms}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> (Decoder, Vec<SseEvent>) {
        let mut decoder = Decoder::new();
        decoder.feed(input);
        let events = std::iter::from_fn(|| decoder.poll_event()).collect();
        (decoder, events)
    }

    fn message(data: &str, id: &str) -> SseEvent {
        SseEvent {
            event_type: "message".to_owned(),
            data: data.to_owned(),
            id: id.into(),
        }
    }

    #[test]
    fn dispatches_on_blank_line_and_joins_data_lines() {
        let (_, events) = decode_all(b"data: a\ndata: b\n\ndata: c\n\n");
        assert_eq!(events, vec![message("a\nb", ""), message("c", "")]);
    }

    #[test]
    fn all_three_line_endings_end_lines() {
        let (_, events) = decode_all(b"data: a\r\ndata: b\rdata: c\n\r\n");
        assert_eq!(events, vec![message("a\nb\nc", "")]);
    }

    #[test]
    fn event_field_sets_type_for_one_event_only() {
        let (_, events) = decode_all(b"event: status\ndata: x\n\ndata: y\n\n");
        assert_eq!(events[0].event_type, "status");
        assert_eq!(events[1].event_type, "message");
    }

    #[test]
    fn comments_and_unknown_fields_are_ignored() {
        let (_, events) = decode_all(b": hello\nfoo: bar\ndata\n\n");
        assert_eq!(events, vec![message("", "")]);
    }

    #[test]
    fn only_one_leading_space_is_stripped() {
        let (_, events) = decode_all(b"data:  two\n\n");
        assert_eq!(events, vec![message(" two", "")]);
    }

    #[test]
    fn id_persists_resets_and_ignores_null() {
        let (decoder, events) =
            decode_all(b"id: 7\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\nid\ndata: d\n\n");
        assert_eq!(
            events,
            vec![
                message("a", "7"),
                message("b", "7"),
                message("c", "7"),
                message("d", "")
            ]
        );
        assert_eq!(decoder.last_event_id(), "");
    }

    #[test]
    fn last_event_id_commits_on_blank_line_even_without_data() {
        let mut decoder = Decoder::new();
        decoder.feed(b"id: 41\n");
        assert_eq!(decoder.last_event_id(), "");
        decoder.feed(b"\n");
        assert_eq!(decoder.last_event_id(), "41");
        assert_eq!(decoder.poll_event(), None);
    }

    #[test]
    fn retry_accepts_digits_only_and_saturates() {
        let (decoder, _) = decode_all(b"retry: 3000\n");
        assert_eq!(decoder.retry_ms(), Some(3000));
        let (decoder, _) = decode_all(b"retry: 3000\nretry: -1\nretry: 1e3\nretry:\nretry: 2 \n");
        assert_eq!(decoder.retry_ms(), Some(3000));
        let (decoder, _) = decode_all(b"retry: 99999999999999999999999999\n");
        assert_eq!(decoder.retry_ms(), Some(u64::MAX));
    }

    #[test]
    fn trailing_cr_dispatches_without_more_bytes_and_swallows_its_lf() {
        let mut decoder = Decoder::new();
        decoder.feed(b"data: a\r\r");
        assert_eq!(decoder.poll_event(), Some(message("a", "")));
        decoder.feed(b"\ndata: b\r");
        decoder.feed(b"\n\r");
        assert_eq!(decoder.poll_event(), Some(message("b", "")));
        assert_eq!(decoder.poll_event(), None);
    }

    #[test]
    fn bom_is_stripped_once_even_split() {
        let mut decoder = Decoder::new();
        for byte in b"\xEF\xBB\xBFdata: a\n\n" {
            decoder.feed(&[*byte]);
        }
        assert_eq!(decoder.poll_event(), Some(message("a", "")));
        let (_, events) = decode_all(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: a\n\n");
        assert_eq!(events, vec![]);
    }

    #[test]
    fn finish_discards_incomplete_event_and_keeps_id_and_retry() {
        let mut decoder = Decoder::new();
        decoder.feed(b"retry: 10\nid: 1\ndata: a\n\nid: 2\ndata: b\n\ndata: partial");
        decoder.finish();
        let events: Vec<_> = std::iter::from_fn(|| decoder.poll_event()).collect();
        assert_eq!(events, vec![message("a", "1"), message("b", "2")]);
        decoder.feed(b"\n\ndata: c\n\n");
        assert_eq!(decoder.poll_event(), Some(message("c", "2")));
        assert_eq!(decoder.retry_ms(), Some(10));
    }

    #[test]
    fn too_long_line_is_dropped_and_reported() {
        let mut decoder = Decoder::new().with_max_line_len(8);
        decoder.feed(b"data: 12\ndata: 123\ndata: 1\n\n");
        assert_eq!(decoder.poll_event(), Some(message("12\n1", "")));
        assert_eq!(
            decoder.poll_error(),
            Some(SseError::LineTooLong { limit: 8 })
        );
        assert_eq!(decoder.poll_error(), None);
        assert_eq!(decoder.malformed_lines(), 1);
    }

    #[test]
    fn too_large_event_is_dropped_and_reported() {
        let mut decoder = Decoder::new().with_max_event_len(6);
        decoder.feed(b"data: abc\ndata: def\ndata: g\n\ndata: ok\n\n");
        assert_eq!(decoder.poll_event(), Some(message("ok", "")));
        assert_eq!(
            decoder.poll_error(),
            Some(SseError::EventTooLarge { limit: 6 })
        );
        assert_eq!(decoder.oversized_events(), 1);
    }

    #[test]
    fn encoder_writes_the_expected_lines() {
        assert_eq!(
            encode_event(Some(5), Some("status"), "a\r\nb\rc\n"),
            "id: 5\nevent: status\ndata: a\ndata: b\ndata: c\ndata: \n\n"
        );
        assert_eq!(encode_event(None, None, ""), "data: \n\n");
        assert_eq!(
            encode_event(None, Some("a\r\nb"), "x"),
            "event: ab\ndata: x\n\n"
        );
        assert_eq!(encode_comment("hi\nthere"), ": hi\n: there\n");
        assert_eq!(encode_retry(2500), "retry: 2500\n");
    }
}
