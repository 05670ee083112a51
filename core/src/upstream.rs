//! What the one upstream stream tells a hub, read from its SSE events: fleet events (one, or a
//! server batch), the server's heartbeat, a reset, or a gap. Every transport reads through here
//! (an `EventSource` hands over each event's type, data and id; a fetch body goes through
//! [`sse::Decoder`](crate::sse::Decoder) first), so what one of them cannot read is a gap the hub
//! repairs with [`TabHub::handle_upstream_gap`](crate::relay::TabHub::handle_upstream_gap),
//! never silence: a line the decoder dropped, and an event or batch that does not decode.

use crate::sse::SseOutput;
use crate::wire::{self, Envelope, FleetEvent, BATCH_EVENT, HEARTBEAT_EVENT, RESET_EVENT};

/// One thing the upstream said, for the hub.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamItem {
    /// One fleet event, or a server batch of them, ids increasing:
    /// `TabHub::handle_upstream_events`.
    Events(Vec<Envelope>),
    /// The server's liveness tick: `TabHub::handle_upstream_heartbeat`.
    Heartbeat,
    /// The history asked for is gone: `TabHub::handle_upstream_reset`.
    Reset,
    /// Events were lost on the way (why, for the console): `TabHub::handle_upstream_gap`, and
    /// nothing more from this stream.
    Gap(String),
}

/// Reads one SSE event by its type, data and id (the last event id, as `MessageEvent` carries
/// it). `None` for a type Convoy does not stream, which is ignored as an `EventSource` ignores
/// events nobody listens for. A fleet event or batch that does not decode is a
/// [`UpstreamItem::Gap`]: its events are lost unless the hub resumes before them.
pub fn read_event(event_type: &str, data: &str, id: &str) -> Option<UpstreamItem> {
    let events = match event_type {
        HEARTBEAT_EVENT => return Some(UpstreamItem::Heartbeat),
        RESET_EVENT => return Some(UpstreamItem::Reset),
        BATCH_EVENT => wire::decode_batch(data, id),
        name if FleetEvent::NAMES.contains(&name) => {
            wire::decode_event(name, data, id).map(|envelope| vec![envelope])
        }
        _ => return None,
    };
    Some(match events {
        Ok(envelopes) => UpstreamItem::Events(envelopes),
        Err(error) => UpstreamItem::Gap(format!("a {event_type} event did not decode: {error}")),
    })
}

/// Reads one output of the decoder, in stream order: an event as [`read_event`], a drop as a
/// [`UpstreamItem::Gap`].
pub fn read_output(output: &SseOutput) -> Option<UpstreamItem> {
    match output {
        SseOutput::Event(event) => read_event(&event.event_type, &event.data, &event.id),
        SseOutput::Dropped(error) => Some(UpstreamItem::Gap(error.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sse::SseError;

    #[test]
    fn events_batches_heartbeats_and_resets_are_read() {
        let status = r#"{"type":"status","truck":"T-01","at_ms":1,"status":"idle","next_stop":0}"#;
        let Some(UpstreamItem::Events(one)) = read_event("status", status, "7") else {
            panic!("a status event");
        };
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].id, 7);
        let batch = format!(r#"[{{"id":8,"event":{status}}},{{"id":9,"event":{status}}}]"#);
        let Some(UpstreamItem::Events(two)) = read_event(BATCH_EVENT, &batch, "9") else {
            panic!("a batch");
        };
        assert_eq!(two.iter().map(|e| e.id).collect::<Vec<_>>(), vec![8, 9]);
        assert_eq!(
            read_event(HEARTBEAT_EVENT, "", ""),
            Some(UpstreamItem::Heartbeat)
        );
        assert_eq!(read_event(RESET_EVENT, "{}", ""), Some(UpstreamItem::Reset));
        assert_eq!(read_event("message", "hello", "1"), None);
    }

    #[test]
    fn what_does_not_decode_or_was_dropped_is_a_gap() {
        for (name, data, id) in [
            (BATCH_EVENT, "[", "9"),
            (BATCH_EVENT, "[]", "9"),
            ("status", "{}", "9"),
            ("status", r#"{"type":"status"}"#, ""),
        ] {
            assert!(
                matches!(read_event(name, data, id), Some(UpstreamItem::Gap(_))),
                "{name} {data} {id}"
            );
        }
        let dropped = SseOutput::Dropped(SseError::LineTooLong { limit: 65_536 });
        assert_eq!(
            read_output(&dropped),
            Some(UpstreamItem::Gap(
                "event stream line longer than 65536 bytes dropped".into()
            ))
        );
    }
}
