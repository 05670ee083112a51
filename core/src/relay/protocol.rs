//! The channel protocol between tabs (and between a worker and its clients): the frame every
//! message travels in, the messages, and how a received text becomes a frame or is refused. Kept
//! apart from the hub so the wire format can be read (and versioned) on its own.

use crate::election::{Seen, TabId, Term};
use crate::flat::flat_enum;
use crate::wire::{is_valid_truck_id, Envelope, EventId, FleetSnapshot, Watch};
use serde::{Deserialize, Serialize};

use super::Connection;

/// The channel protocol version in every frame's `v`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The `app` of every Convoy frame; frames of other apps on the channel are foreign.
pub const APP_NAME: &str = "convoy";

/// Tab ids, terms and event ids in frames stay below 2^53 (JavaScript numbers hold them
/// exactly); larger ones are malformed, so a bad frame cannot push terms or cursors to overflow.
pub const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// The longest channel message read, in bytes: longer ones are malformed without being parsed.
/// A snapshot of a few thousand trucks, or a full replay of the default ring, fits.
pub const MAX_FRAME_BYTES: usize = 2 << 20;

/// The most ids one link may span (`event.id - prev`): the events a filtered stream skipped
/// between two of its own. A live stream skips far fewer (a server run emits fewer than 1 000
/// events a millisecond, and a link never spans two runs: a new run starts with a reset); a
/// larger span is a forged id that would push a follower's cursor past every real event.
pub const MAX_LINK_SPAN: u64 = 1 << 32;

/// The most trucks a watch in a frame may name (a union of every tab's watch included).
pub const MAX_WATCH_TRUCKS: usize = 4_096;

/// The most links one replay may carry.
pub const MAX_REPLAY_LINKS: usize = 4_096;

/// One relayed event with what it proves about the stream: the stream filtered to `union` has
/// no event with an id between `prev` and `event.id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Link {
    /// The event.
    pub event: Envelope,
    /// The relaying tab's cursor before this event: nothing of `union` lies in between.
    pub prev: EventId,
    /// The watch of the upstream stream the event came from.
    pub union: Watch,
}

/// A message between tabs: the frame every message travels in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TabFrame {
    /// [`PROTOCOL_VERSION`].
    pub v: u32,
    /// [`APP_NAME`].
    pub app: String,
    /// The sender.
    pub from: TabId,
    /// The highest term the sender knows.
    pub term: Term,
    /// The sender's page is hidden (absent: shown, as from tabs that predate the field).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub hidden: bool,
    /// What the frame says.
    pub msg: TabMsg,
}

flat_enum! {
    /// The messages of the channel protocol (see the module docs' table). On the wire, serde's
    /// internally tagged form (`{"type":"hello",...}`), read in one pass (see `flat_enum!`):
    /// deserializing the enum as serde derives it would buffer each frame's message in serde's
    /// `Content` first, 26 KB of wasm for this deserializer alone.
    #[derive(Debug, Clone, PartialEq, Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    pub enum TabMsg in mod flat_msg, tag "type" {
        common {}
        fields {
            watch: Watch,
            cursor: EventId,
            after: EventId,
            term: Term,
            union: Watch,
            upstream: Connection,
            sharing: usize,
            server: bool,
            to: TabId,
            reset: bool,
            snapshot: FleetSnapshot,
            links: Vec<Link>,
            event: Envelope,
            events: Vec<Envelope>,
            prev: EventId,
        }
        /// Any tab, on start and on `pageshow`: here is my watch and cursor. The leader answers
        /// `Leading`, and a `Snapshot` when `cursor` is `None`.
        Hello {
            /// The sender's watch.
            watch,
            /// The sender's cursor; `None` before its first snapshot.
            cursor: opt,
        },
        /// Any tab: my watch changed, or is still this (refresh every `watch_refresh_ms`).
        Watch {
            /// The sender's watch.
            watch,
            /// The sender's cursor (informational).
            cursor: opt,
        },
        /// Any tab: my state lacks trucks of `watch`; answered with `Snapshot { to }`.
        SnapshotRequest {
            /// The sender's watch, which the snapshot must cover.
            watch,
        },
        /// A follower: send me the links after `after`; answered with `Replay` or `Snapshot`.
        Resend {
            /// The sender's cursor.
            after,
            /// The sender's watch (for the snapshot fallback).
            watch,
        },
        /// Any tab: a claim round for `term` (see `core::election`).
        Claim {
            /// The term claimed (the frame's `term` is the sender's current one).
            term,
        },
        /// Any tab leaving (page hide or close); from the leader: elect a new one now.
        Goodbye,
        /// The leader: I lead in the frame's term.
        Leading {
            /// The watch of the leader's stream (or the union it will open).
            union,
            /// The leader's cursor.
            cursor: opt,
            /// The leader's upstream as its followers should show it (`Live` when a v1 frame
            /// predates the field).
            upstream: or(Connection::unreported()),
            /// The tabs the leader's stream serves, the leader's own included when it is a tab
            /// (absent in frames that predate the field).
            #[serde(skip_serializing_if = "Option::is_none")]
            sharing: opt,
        },
        /// The leader: one relayed event.
        Event = Link { event, prev, union },
        /// The leader: events its stream delivered together (one server batch), relayed in one
        /// message: each links to the one before, the first to `prev`. One message instead of
        /// one per event is what a follower's main thread pays for.
        Events {
            /// The leader's cursor before the first event.
            prev,
            /// The watch of the upstream stream the events came from.
            union,
            /// The events, ids increasing.
            events,
        },
        /// The leader: still here, at `cursor`.
        Heartbeat {
            /// The watch of the leader's stream.
            union,
            /// The leader's cursor: a follower behind it has lost a link.
            cursor: opt,
            /// Relayed from a server heartbeat (rather than the leader's timer).
            server,
            /// The leader's upstream as its followers should show it (`Live` when a v1 frame
            /// predates the field).
            upstream: or(Connection::unreported()),
            /// The tabs the leader's stream serves, the leader's own included when it is a tab
            /// (absent in frames that predate the field).
            #[serde(skip_serializing_if = "Option::is_none")]
            sharing: opt,
        },
        /// The leader: a snapshot of its cache.
        Snapshot {
            /// One tab, or every tab (`None`, after a reset).
            to: opt,
            /// The trucks the snapshot is exact for.
            watch,
            /// The server's history was lost: every tab takes it, whatever its cursor.
            reset,
            /// The trucks; `last_event_id` is the position live links continue from.
            snapshot,
        },
        /// The leader: links from its ring, answering a `Resend`.
        Replay {
            /// The tab that asked.
            to,
            /// Consecutive links in id order.
            links,
        },
    }
}

impl TabMsg {
    /// The election's view of this message.
    pub(super) fn seen(&self) -> Seen {
        match self {
            TabMsg::Leading { .. }
            | TabMsg::Event(_)
            | TabMsg::Events { .. }
            | TabMsg::Heartbeat { .. }
            | TabMsg::Snapshot { .. }
            | TabMsg::Replay { .. } => Seen::Leader,
            TabMsg::Claim { term } => Seen::Claim { term: *term },
            TabMsg::Goodbye => Seen::Goodbye,
            TabMsg::Hello { .. }
            | TabMsg::Watch { .. }
            | TabMsg::SnapshotRequest { .. }
            | TabMsg::Resend { .. } => Seen::Peer,
        }
    }

    /// For a leader frame, the position in the stream it shows its sender at: the cursor it
    /// reports, the event it relays, the snapshot's id, the last replayed link. `None` for
    /// other frames, and for a leader that reports no cursor yet.
    pub(super) fn position(&self) -> Option<EventId> {
        match self {
            TabMsg::Leading { cursor, .. } | TabMsg::Heartbeat { cursor, .. } => *cursor,
            TabMsg::Event(link) => Some(link.event.id),
            TabMsg::Events { events, .. } => events.last().map(|e| e.id),
            TabMsg::Snapshot { snapshot, .. } => Some(snapshot.last_event_id),
            TabMsg::Replay { links, .. } => links.last().map(|l| l.event.id),
            TabMsg::Hello { .. }
            | TabMsg::Watch { .. }
            | TabMsg::SnapshotRequest { .. }
            | TabMsg::Resend { .. }
            | TabMsg::Claim { .. }
            | TabMsg::Goodbye => None,
        }
    }

    /// Content checks serde cannot make: numbers in range, links that a live stream could
    /// have made, replays that chain, truck ids that are ids. Returns why a message fails.
    fn check(&self) -> Result<(), &'static str> {
        let cursor_ok = |c: &Option<EventId>| c.as_ref().is_none_or(safe);
        match self {
            TabMsg::Hello { watch, cursor } | TabMsg::Watch { watch, cursor } => {
                check_watch(watch)?;
                ensure(cursor_ok(cursor), "cursor beyond 2^53")
            }
            TabMsg::SnapshotRequest { watch } => check_watch(watch),
            TabMsg::Resend { after, watch } => {
                check_watch(watch)?;
                ensure(safe(after), "resend after beyond 2^53")
            }
            TabMsg::Claim { term } => ensure(safe(term), "claimed term beyond 2^53"),
            TabMsg::Goodbye => Ok(()),
            TabMsg::Leading { union, cursor, .. } | TabMsg::Heartbeat { union, cursor, .. } => {
                check_watch(union)?;
                ensure(cursor_ok(cursor), "cursor beyond 2^53")
            }
            TabMsg::Event(link) => check_link(link),
            TabMsg::Events {
                prev,
                union,
                events,
            } => {
                ensure(!events.is_empty(), "no events")?;
                ensure(events.len() <= MAX_REPLAY_LINKS, "too many events")?;
                check_watch(union)?;
                let mut before = *prev;
                for envelope in events {
                    check_span(before, envelope)?;
                    before = envelope.id;
                }
                Ok(())
            }
            TabMsg::Snapshot {
                to,
                watch,
                snapshot,
                ..
            } => {
                check_watch(watch)?;
                ensure(to.as_ref().is_none_or(safe), "tab id beyond 2^53")?;
                check_snapshot(snapshot)
            }
            TabMsg::Replay { to, links } => {
                ensure(safe(to), "tab id beyond 2^53")?;
                ensure(links.len() <= MAX_REPLAY_LINKS, "replay too long")?;
                links.iter().try_for_each(check_link)?;
                ensure(
                    links.windows(2).all(|w| w[1].prev == w[0].event.id),
                    "replayed links do not chain",
                )
            }
        }
    }
}

fn safe(n: &u64) -> bool {
    *n < MAX_SAFE_INTEGER
}

fn ensure(ok: bool, why: &'static str) -> Result<(), &'static str> {
    if ok {
        Ok(())
    } else {
        Err(why)
    }
}

fn check_watch(watch: &Watch) -> Result<(), &'static str> {
    match watch {
        Watch::All => Ok(()),
        Watch::Trucks(trucks) => {
            ensure(
                trucks.len() <= MAX_WATCH_TRUCKS,
                "watch names too many trucks",
            )?;
            ensure(
                trucks.iter().all(|t| is_valid_truck_id(t)),
                "invalid truck id in a watch",
            )
        }
    }
}

fn check_link(link: &Link) -> Result<(), &'static str> {
    check_watch(&link.union)?;
    check_span(link.prev, &link.event)
}

/// An event that follows `prev`: in order, within what a stream skips, for a real truck id.
fn check_span(prev: EventId, event: &Envelope) -> Result<(), &'static str> {
    let id = event.id;
    ensure(safe(&id), "event id beyond 2^53")?;
    ensure(prev < id, "link out of order")?;
    ensure(
        id - prev <= MAX_LINK_SPAN,
        "link spans more ids than a stream skips",
    )?;
    ensure(
        is_valid_truck_id(event.event.truck()),
        "invalid truck id in an event",
    )
}

/// The links an `Events` message stands for: each event linked to the one before it.
pub(super) fn chained(prev: EventId, union: Watch, events: Vec<Envelope>) -> Vec<Link> {
    let mut before = prev;
    events
        .into_iter()
        .map(|event| {
            let link = Link {
                prev: before,
                union: union.clone(),
                event,
            };
            before = link.event.id;
            link
        })
        .collect()
}

fn check_snapshot(snapshot: &FleetSnapshot) -> Result<(), &'static str> {
    let id = snapshot.last_event_id;
    ensure(safe(&id), "snapshot id beyond 2^53")?;
    ensure(
        snapshot
            .trucks
            .iter()
            .all(|t| is_valid_truck_id(&t.id) && t.last_event_id <= id),
        "snapshot truck with an invalid id or past the snapshot",
    )
}

/// Why a channel message was dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Not JSON, not a frame, or inconsistent content (with the reason).
    Malformed(String),
    /// Another app, another protocol version, or this tab's own id (with the reason).
    Foreign(String),
}

/// Parses a channel message into a frame (without acting on it). `me` is this tab's id.
///
/// Refuses as malformed, before anything else, a message longer than [`MAX_FRAME_BYTES`]; then
/// anything that is not a frame, and a frame whose numbers reach 2^53, whose links span more
/// than [`MAX_LINK_SPAN`] ids or do not chain, or whose truck ids fail
/// [`is_valid_truck_id`]. Never panics, whatever `raw` holds.
pub fn parse_frame(raw: &str, me: TabId) -> Result<TabFrame, FrameError> {
    if raw.len() > MAX_FRAME_BYTES {
        return Err(FrameError::Malformed(format!(
            "{} bytes, more than {MAX_FRAME_BYTES}",
            raw.len()
        )));
    }
    let frame: TabFrame = match serde_json::from_str(raw) {
        Ok(frame) => frame,
        Err(error) => {
            #[derive(Deserialize)]
            struct Head {
                v: Option<HeadValue>,
                app: Option<HeadValue>,
            }
            return Err(match serde_json::from_str::<Head>(raw) {
                Ok(head) => {
                    let app = head.app.as_ref().and_then(HeadValue::text);
                    let v = head.v.as_ref().and_then(HeadValue::whole);
                    if app != Some(APP_NAME) || v != Some(PROTOCOL_VERSION as u64) {
                        FrameError::Foreign(format!("app {app:?}, version {v:?}"))
                    } else {
                        FrameError::Malformed(error.to_string())
                    }
                }
                Err(_) => FrameError::Malformed(error.to_string()),
            });
        }
    };
    if frame.app != APP_NAME || frame.v != PROTOCOL_VERSION {
        return Err(FrameError::Foreign(format!(
            "app {:?}, version {}",
            frame.app, frame.v
        )));
    }
    if frame.from >= MAX_SAFE_INTEGER || frame.term >= MAX_SAFE_INTEGER {
        return Err(FrameError::Malformed("tab id or term beyond 2^53".into()));
    }
    if frame.from == me {
        return Err(FrameError::Foreign("a frame with this tab's own id".into()));
    }
    if let Err(why) = frame.msg.check() {
        return Err(FrameError::Malformed(why.into()));
    }
    Ok(frame)
}

/// Any JSON value in a frame's `v` or `app`, kept only as far as telling a foreign frame from a
/// malformed one needs. Not `serde_json::Value`: its map, tree and `Debug` were 11 KB of the
/// app's wasm, for a check on a message that failed to parse anyway.
enum HeadValue {
    Text(String),
    Whole(u64),
    Other,
}

impl HeadValue {
    fn text(&self) -> Option<&str> {
        match self {
            HeadValue::Text(text) => Some(text),
            _ => None,
        }
    }

    fn whole(&self) -> Option<u64> {
        match self {
            HeadValue::Whole(n) => Some(*n),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for HeadValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

        struct AnyValue;
        impl<'de> Visitor<'de> for AnyValue {
            type Value = HeadValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, text: &str) -> Result<HeadValue, E> {
                Ok(HeadValue::Text(text.to_owned()))
            }
            fn visit_u64<E>(self, n: u64) -> Result<HeadValue, E> {
                Ok(HeadValue::Whole(n))
            }
            fn visit_i64<E>(self, _: i64) -> Result<HeadValue, E> {
                Ok(HeadValue::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<HeadValue, E> {
                Ok(HeadValue::Other)
            }
            fn visit_bool<E>(self, _: bool) -> Result<HeadValue, E> {
                Ok(HeadValue::Other)
            }
            fn visit_unit<E>(self) -> Result<HeadValue, E> {
                Ok(HeadValue::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HeadValue, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(HeadValue::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HeadValue, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(HeadValue::Other)
            }
        }
        deserializer.deserialize_any(AnyValue)
    }
}
