//! The channel protocol between tabs (and between a worker and its clients): the frame every
//! message travels in, the messages, and how a received text becomes a frame or is refused. Kept
//! apart from the hub so the wire format can be read (and versioned) on its own.

use crate::election::{Seen, TabId, Term};
use crate::wire::{Envelope, EventId, FleetSnapshot, Watch};
use serde::{Deserialize, Serialize};

use super::Connection;

/// The channel protocol version in every frame's `v`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The `app` of every Convoy frame; frames of other apps on the channel are foreign.
pub const APP_NAME: &str = "convoy";

/// Tab ids and terms in frames stay below 2^53 (JavaScript numbers hold them exactly); larger
/// ones are malformed, so a bad frame cannot push terms to overflow.
const MAX_SAFE_INTEGER: u64 = 1 << 53;

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
    /// What the frame says.
    pub msg: TabMsg,
}

/// The messages of the channel protocol (see the module docs' table).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TabMsg {
    /// Any tab, on start and on `pageshow`: here is my watch and cursor. The leader answers
    /// `Leading`, and a `Snapshot` when `cursor` is `None`.
    Hello {
        /// The sender's watch.
        watch: Watch,
        /// The sender's cursor; `None` before its first snapshot.
        cursor: Option<EventId>,
    },
    /// Any tab: my watch changed, or is still this (refresh every `watch_refresh_ms`).
    Watch {
        /// The sender's watch.
        watch: Watch,
        /// The sender's cursor (informational).
        cursor: Option<EventId>,
    },
    /// Any tab: my state lacks trucks of `watch`; answered with `Snapshot { to }`.
    SnapshotRequest {
        /// The sender's watch, which the snapshot must cover.
        watch: Watch,
    },
    /// A follower: send me the links after `after`; answered with `Replay` or `Snapshot`.
    Resend {
        /// The sender's cursor.
        after: EventId,
        /// The sender's watch (for the snapshot fallback).
        watch: Watch,
    },
    /// Any tab: a claim round for `term` (see `core::election`).
    Claim {
        /// The term claimed (the frame's `term` is the sender's current one).
        term: Term,
    },
    /// Any tab leaving (page hide or close); from the leader: elect a new one now.
    Goodbye,
    /// The leader: I lead in the frame's term.
    Leading {
        /// The watch of the leader's stream (or the union it will open).
        union: Watch,
        /// The leader's cursor.
        cursor: Option<EventId>,
        /// The leader's upstream as its followers should show it (`Live` when a v1 frame
        /// predates the field).
        #[serde(default = "Connection::unreported")]
        upstream: Connection,
    },
    /// The leader: one relayed event.
    Event(Link),
    /// The leader: still here, at `cursor`.
    Heartbeat {
        /// The watch of the leader's stream.
        union: Watch,
        /// The leader's cursor: a follower behind it has lost a link.
        cursor: Option<EventId>,
        /// Relayed from a server heartbeat (rather than the leader's timer).
        server: bool,
        /// The leader's upstream as its followers should show it (`Live` when a v1 frame
        /// predates the field).
        #[serde(default = "Connection::unreported")]
        upstream: Connection,
    },
    /// The leader: a snapshot of its cache.
    Snapshot {
        /// One tab, or every tab (`None`, after a reset).
        to: Option<TabId>,
        /// The trucks the snapshot is exact for.
        watch: Watch,
        /// The server's history was lost: every tab takes it, whatever its cursor.
        reset: bool,
        /// The trucks; `last_event_id` is the position live links continue from.
        snapshot: FleetSnapshot,
    },
    /// The leader: links from its ring, answering a `Resend`.
    Replay {
        /// The tab that asked.
        to: TabId,
        /// Consecutive links in id order.
        links: Vec<Link>,
    },
}

impl TabMsg {
    /// The election's view of this message.
    pub(super) fn seen(&self) -> Seen {
        match self {
            TabMsg::Leading { .. }
            | TabMsg::Event(_)
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

    /// Content checks serde cannot make.
    fn is_consistent(&self) -> bool {
        match self {
            TabMsg::Event(link) => link.prev < link.event.id,
            TabMsg::Replay { links, .. } => {
                links.iter().all(|l| l.prev < l.event.id)
                    && links.windows(2).all(|w| w[0].event.id < w[1].event.id)
            }
            _ => true,
        }
    }
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
pub fn parse_frame(raw: &str, me: TabId) -> Result<TabFrame, FrameError> {
    let frame: TabFrame = match serde_json::from_str(raw) {
        Ok(frame) => frame,
        Err(error) => {
            #[derive(Deserialize)]
            struct Head {
                v: Option<serde_json::Value>,
                app: Option<serde_json::Value>,
            }
            return Err(match serde_json::from_str::<Head>(raw) {
                Ok(head)
                    if head.app.as_ref().and_then(|a| a.as_str()) != Some(APP_NAME)
                        || head.v.as_ref().and_then(|v| v.as_u64())
                            != Some(PROTOCOL_VERSION as u64) =>
                {
                    FrameError::Foreign(format!("app {:?}, version {:?}", head.app, head.v))
                }
                _ => FrameError::Malformed(error.to_string()),
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
    if !frame.msg.is_consistent() {
        return Err(FrameError::Malformed("links out of order".into()));
    }
    Ok(frame)
}
