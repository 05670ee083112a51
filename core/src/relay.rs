//! Relaying one upstream SSE stream to every tab of a browser with a shared cursor (sans-IO).
//!
//! Each tab runs a [`TabHub`]. One tab leads (see `core::election`): it owns the only upstream
//! stream and relays every event over a BroadcastChannel; the others follow. Inputs are method
//! calls with the current time (`now_ms`), outputs are drained with [`TabHub::poll_output`], and
//! [`TabHub::poll_timeout`] says when to call [`TabHub::handle_timeout`]. No async, no clock, no
//! randomness, no JS types: the browser adapter (`web::transport::driver`) and the host
//! simulation (`tests/relay_sim.rs`) drive the same code.
//!
//! # The cursor
//! Every tab keeps a cursor: the highest event id its state reflects (delivered, filtered out,
//! or covered by a snapshot). A new leader opens the upstream with `last_event_id = cursor`, so
//! the server replays what was emitted during the handover; every tab drops ids at or below its
//! cursor (counted as duplicates suppressed). [`HubOutput::Deliver`] is therefore exactly once
//! and in id order per tab, and [`HubOutput::DeliverSnapshot`] only moves a tab forward.
//!
//! # Links and gap repair
//! A relayed event travels as a [`Link`]: the event, `prev` (the relaying tab's cursor before it)
//! and `union` (the watch of the upstream stream it came from). A link says "the stream filtered
//! to `union` has nothing between `prev` and this id". A tab accepts a link when
//! `prev <= cursor < id`; otherwise it buffers it (out of order) and, after `gap_grace_ms`, sends
//! `Resend { after: cursor }` (again every `resend_retry_ms`). Leader frames also carry the
//! leader's cursor, so a lost last event is noticed too. Every tab keeps the last `ring_capacity`
//! accepted links; the leader answers a resend with a `Replay` from its ring, or with a snapshot
//! when the ring no longer reaches back that far. A new leader's ring is the one it kept as a
//! follower, so it can repair what its predecessor relayed.
//!
//! # Merged subscriptions
//! Every tab announces its watch (`Hello`, `Watch`, and on each new leader) and re-announces it
//! every `watch_refresh_ms`, both from its timer and, so hidden tabs stay fresh, when a leader
//! frame arrives. Every tab keeps the table (so a new leader knows it at once); entries go on
//! `Goodbye` or after `peer_expiry_ms` of silence. When the union of the live watches changes
//! the leader reopens the upstream with the new union from its cursor, coalescing changes for
//! `resubscribe_debounce_ms` (the first change schedules; later ones ride along). An empty union
//! opens no stream. Tabs deliver only the events their watch includes but advance their cursor
//! on all. A tab that accepts a link whose `union` does not cover its watch may have missed
//! events of its trucks, so it asks for a snapshot.
//!
//! # Last-value cache and late joiners
//! The leader keeps a [`Fleet`] seeded by [`HubOutput::FetchSnapshot`] and kept with
//! `Fleet::apply`; it also knows which trucks the cache is exact for (those the stream has
//! covered since the snapshot). A tab's `Hello` (without a cursor) or `SnapshotRequest` is
//! answered with `Snapshot { to }`: the cache filtered to the tab's watch, whose
//! `last_event_id` is the leader's position; live links above that id follow, so there is no
//! gap. A request the cache cannot answer yet waits until the stream covers the watch and a
//! fresh snapshot has been fetched.
//!
//! A tab that becomes leader without a cursor fetches a snapshot, delivers it to its own app and
//! opens the stream from its id. A tab that becomes leader with a cursor opens the stream from
//! that cursor at once and fetches the snapshot for the cache alongside.
//!
//! # Reset, errors, lifecycle
//! - `handle_upstream_reset` (the server's history is gone): close, fetch a snapshot, deliver it,
//!   broadcast it to all as `Snapshot { reset: true }` and reopen from its id.
//! - `handle_upstream_error`: close and reopen from the cursor after an exponential backoff with
//!   jitter derived from the tab id ([`reconnect_delay_ms`]); `reconnect_at_ms` is in the
//!   diagnostics. A stream silent for `upstream_stall_ms` counts as failed.
//! - `handle_page_hide` / `shutdown`: release the lock, close the stream, broadcast `Goodbye`.
//!   Followers that hear the leader's goodbye elect at once. `handle_page_show` rejoins like a new
//!   tab that keeps its cursor (it then repairs the gap like any other).
//!
//! # Worker modes
//! A SharedWorker or service worker runs a hub in `ElectionMode::Worker`: it leads from the start
//! and its `Send { to: None }` frames go to every connected tab (`Send { to: Some(tab) }` only to
//! that tab's port); its own watch is empty, so it streams exactly the union of its tabs' watches
//! (none: no stream). [`HubOutput::PeerGone`] tells it which ports to drop; the sender that
//! `handle_channel_message` returns binds a port to its tab. Each tab runs a hub in
//! `ElectionMode::Client`, whose frames go to the worker only; it follows whichever worker sends
//! it leader frames and never leads. The protocol is the same as between tabs. A worker that
//! starts without a cursor (a service worker the browser stopped and restarted) adopts the cursor
//! its clients report in `hello`/`watch`, and while nothing has arrived since, a lower one
//! replaces it, so no client is left with a gap; clients ahead of it drop the repeats.
//!
//! # Connection status
//! The core owns what the status chip shows ([`TabHub::connection`], emitted as
//! [`HubOutput::ConnectionChanged`]). A leader (a worker, a Solo tab) derives it from its own
//! upstream: `Connecting` while opening or waiting for its first snapshot, `Live` once open (or
//! with nothing to stream), `Reconnecting { at_ms }` in backoff, `Error` after a failed snapshot
//! fetch until a snapshot arrives or the stream delivers. `leading` and `heartbeat` frames carry
//! it as `upstream`, and a leader whose status changes sends a heartbeat at once, so followers
//! and worker clients show the upstream's real state; until their leader's first frame they
//! show `Connecting`. A tab that stops leading stops showing its own stream at once. A transport
//! failure (`handle_transport_failed`) shows `Error` on any tab until a frame or the lock arrives.
//!
//! # Channel protocol (version 1)
//! Every message on the BroadcastChannel is JSON text: a [`TabFrame`]
//! `{"v":1,"app":"convoy","from":<tab id>,"term":<highest term known>,"msg":{"type":...}}`
//! whose `msg` is a [`TabMsg`] tagged by `type`. Tab ids and event ids are JSON integers below
//! 2^53. A frame that does not parse, or whose content is inconsistent, is dropped and counted
//! as malformed; one from another app or protocol version (or carrying this tab's own id) is
//! dropped and counted as foreign. Nothing a tab receives can make it panic.
//!
//! | `type` | sent by | meaning |
//! |---|---|---|
//! | `hello` | any | joined (or rejoined): watch and cursor; the leader answers `leading`, and a snapshot when the cursor is null |
//! | `watch` | any | watch changed or refreshed (keeps the sender in the union) |
//! | `snapshot_request` | any | "my state lacks trucks of this watch": answered with `snapshot{to}` |
//! | `resend` | any | "send me the links after `after`": answered with `replay` or `snapshot` |
//! | `claim` | any | claim round for `term` (see `core::election`) |
//! | `goodbye` | any | leaving; from the leader: hand over now |
//! | `leading` | leader | announces leadership (on election, hello, claim, stale frames) with its union, cursor and upstream status |
//! | `event` | leader | one relayed link |
//! | `heartbeat` | leader | liveness: every server heartbeat, every `heartbeat_ms` without other frames, and when its upstream status changes |
//! | `snapshot` | leader | cache filtered to `watch`, to one tab or (`reset`) to all |
//! | `replay` | leader | links from the ring, to one tab |
//!
//! `snapshot { to }` and `replay` are emitted as `Send { to: Some(tab) }`, everything else as
//! `Send { to: None }`. `upstream` is `{"state":"connecting"|"live"|"reconnecting"|"error",...}`;
//! a v1 leader frame without it reads as `live`.
//!
//! # Failover bounds
//! Failover is the time from the leader going away to a new leader re-opening the upstream from
//! its cursor (or fetching its snapshot when it has none). [`HubConfig::failover_bound_ms`]
//! computes it; with the defaults:
//! - Locks mode, clean close or `pagehide`, and crash: < 250 ms. The core adds no delay: the
//!   lock manager grants the next queued request and the new holder opens at once. The 250 ms
//!   budget is the lock manager's and channel's latency ([`LOCK_HANDOVER_BOUND_MS`]).
//! - Lease mode, clean close: `claim_window_ms + HANDOVER_MARGIN_MS` = 250 ms.
//! - Lease mode crash, and a frozen leader in either mode:
//!   `liveness_ms + claim_window_ms * 3 / 2 + HANDOVER_MARGIN_MS` = 3 325 ms: silence, the claim
//!   round, the nudge that wakes a winner whose timers are throttled (half a window), and the
//!   margin (Locks adds the steal, inside the margin).
//!
//! The margin allows two channel hops of up to 25 ms and a lock grant of up to 50 ms. Measured
//! in `tests/relay_sim.rs` (5 ms resolution, hops of 1–5 ms): Locks close or crash 5–10 ms,
//! Lease close 160 ms, crash or freeze 3 110–3 190 ms.
//!
//! The bounds assume at least one follower's timers run on time (a visible tab, or any tab once a
//! message arrives: every input runs the deadlines that are due, and a losing claimant re-sends its
//! claim to wake a throttled winner). When every tab is hidden, a crash is noticed only when a
//! timer fires: up to a second later, or a minute after five minutes hidden.
#![warn(missing_docs)]

use crate::election::{
    Election, ElectionAction, ElectionMode, ElectionTiming, LockState, Role, Seen, Term,
};
use crate::fleet::Fleet;
use crate::wire::{Envelope, EventId, FleetSnapshot, Watch};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

pub use crate::election::TabId;

/// The channel protocol version in every frame's `v`.
pub const PROTOCOL_VERSION: u32 = 1;

/// The `app` of every Convoy frame; frames of other apps on the channel are foreign.
pub const APP_NAME: &str = "convoy";

/// Failover budget in Locks mode after a clean close or a crash: the lock manager's and the
/// channel's latency (the core adds none).
pub const LOCK_HANDOVER_BOUND_MS: u64 = 250;

/// Latency allowance in the computed failover bounds: two channel hops and a lock grant.
pub const HANDOVER_MARGIN_MS: u64 = 100;

/// Tab ids and terms in frames stay below 2^53 (JavaScript numbers hold them exactly); larger
/// ones are malformed, so a bad frame cannot push terms to overflow.
const MAX_SAFE_INTEGER: u64 = 1 << 53;

/// How often a leader answers stale leader frames, at most.
const STALE_ANSWER_INTERVAL_MS: u64 = 20;

/// Configuration of one tab's hub. `HubConfig::new` gives the documented defaults; change the
/// public fields before `TabHub::new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// This tab's id, unique among the browser's tabs.
    pub tab_id: TabId,
    /// How the leader is chosen.
    pub election: ElectionMode,
    /// The trucks this tab shows at start. Default: `Watch::All`.
    pub watch: Watch,
    /// The leader sends a heartbeat when it has sent no other frame for this long (a fallback:
    /// upstream events and server heartbeats are relayed as they come). Default 1 000 ms.
    pub heartbeat_ms: u64,
    /// A follower that hears nothing from its leader for this long claims (both modes). Must
    /// exceed the server's heartbeat interval with room to spare. Default 3 000 ms.
    pub liveness_ms: u64,
    /// How long a claim round collects claims. Default 150 ms.
    pub claim_window_ms: u64,
    /// How long the leader coalesces watch changes before reopening the stream. Default 250 ms.
    pub resubscribe_debounce_ms: u64,
    /// Every tab re-announces its watch this often. Default 10 000 ms.
    pub watch_refresh_ms: u64,
    /// A tab silent for this long leaves the union (hidden tabs may be slow). Default 45 000 ms.
    pub peer_expiry_ms: u64,
    /// How long a follower waits for a missing link before asking for a resend. Default 50 ms.
    pub gap_grace_ms: u64,
    /// How often an unanswered resend is repeated. Default 500 ms.
    pub resend_retry_ms: u64,
    /// How often an unanswered snapshot request or fetch is repeated. Default 2 000 ms.
    pub snapshot_retry_ms: u64,
    /// How many recent links every tab keeps to answer resends. Default 512.
    pub ring_capacity: usize,
    /// First reconnect delay after an upstream error. Default 1 000 ms.
    pub reconnect_min_ms: u64,
    /// Largest reconnect delay. Default 30 000 ms.
    pub reconnect_max_ms: u64,
    /// An upstream without any event or heartbeat for this long counts as failed. Default
    /// 45 000 ms.
    pub upstream_stall_ms: u64,
}

impl HubConfig {
    /// The defaults documented on each field, for tab `tab_id` in `election` mode.
    pub fn new(tab_id: TabId, election: ElectionMode) -> Self {
        HubConfig {
            tab_id,
            election,
            watch: Watch::All,
            heartbeat_ms: 1_000,
            liveness_ms: 3_000,
            claim_window_ms: 150,
            resubscribe_debounce_ms: 250,
            watch_refresh_ms: 10_000,
            peer_expiry_ms: 45_000,
            gap_grace_ms: 50,
            resend_retry_ms: 500,
            snapshot_retry_ms: 2_000,
            ring_capacity: 512,
            reconnect_min_ms: 1_000,
            reconnect_max_ms: 30_000,
            upstream_stall_ms: 45_000,
        }
    }

    /// The failover bound for a leader that left by `departure`, under these settings (see the
    /// module docs for what is measured and what it assumes).
    pub fn failover_bound_ms(&self, departure: Departure) -> u64 {
        match (self.election, departure) {
            (ElectionMode::Solo | ElectionMode::Worker, _) => 0,
            // A client's worker does not fail over: a stopped service worker is woken by the
            // client's next message, sent at the latest `liveness_ms` after the silence began.
            (ElectionMode::Client, _) => self.liveness_ms + HANDOVER_MARGIN_MS,
            (ElectionMode::Locks, Departure::CleanClose | Departure::Crash) => {
                LOCK_HANDOVER_BOUND_MS
            }
            (ElectionMode::Lease, Departure::CleanClose) => {
                self.claim_window_ms + HANDOVER_MARGIN_MS
            }
            (ElectionMode::Lease, Departure::Crash) | (_, Departure::Freeze) => {
                self.liveness_ms + self.claim_window_ms * 3 / 2 + HANDOVER_MARGIN_MS
            }
        }
    }
}

/// How a leader went away, for [`HubConfig::failover_bound_ms`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// `shutdown` or `handle_page_hide`: a goodbye was sent and the lock released.
    CleanClose,
    /// Vanished without a goodbye; the browser released its lock.
    Crash,
    /// Stopped running but keeps its lock (frozen or discarded tab).
    Freeze,
}

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
    fn seen(&self) -> Seen {
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

/// What a hub asks its adapter to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum HubOutput {
    /// Post this frame (JSON text) to every peer (`to: None`) or to one tab (`Some(tab)`). On a
    /// BroadcastChannel every tab gets it anyway (the frame says whom it is for); a worker posts
    /// it only to that tab's port.
    Send {
        /// The one tab the frame is for (a `snapshot` or `replay` answer), or `None` for all.
        to: Option<TabId>,
        /// The frame, as JSON text.
        frame: String,
    },
    /// Locks mode: request the leader lock; before a steal, abort any queued request.
    RequestLock {
        /// Take the lock from its holder at once (a frozen leader).
        steal: bool,
    },
    /// Locks mode: release the lock if held and abort any queued request.
    ReleaseLock,
    /// GET the fleet snapshot and call `handle_snapshot` with it.
    FetchSnapshot,
    /// (Re)open the one upstream stream, replacing any open one.
    OpenUpstream {
        /// The trucks to stream (never empty).
        watch: Watch,
        /// Resume after this id (`Last-Event-ID`).
        last_event_id: Option<EventId>,
    },
    /// Close the upstream stream (and cancel the browser's own retry).
    CloseUpstream,
    /// Give this event to this tab's app state: exactly once, in id order.
    Deliver(Envelope),
    /// Replace this tab's app state (late join, reset, repair); only trucks of its watch.
    DeliverSnapshot(FleetSnapshot),
    /// This tab's role changed.
    RoleChanged(Role),
    /// The upstream's state as this tab should show it changed (see [`TabHub::connection`]).
    ConnectionChanged(Connection),
    /// This peer said goodbye or expired: forget how to reach it (a worker drops its port).
    PeerGone(TabId),
}

/// The one upstream stream as users see it. A leader (or worker) reports its own stream;
/// followers and worker clients show what their leader reports in its frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Connection {
    /// Opening the stream, waiting for the first snapshot, or no leader known yet.
    Connecting,
    /// The stream is open (or nothing needs streaming: an empty union).
    Live,
    /// The stream failed and reopens at `at_ms` (Unix ms).
    Reconnecting {
        /// When the stream reopens.
        at_ms: u64,
    },
    /// A snapshot fetch or the tab's transport failed; shown until something works again.
    Error {
        /// What failed, for the user.
        reason: String,
    },
}

impl Connection {
    /// What a v1 leader frame without `upstream` means: its followers used to show `Live`.
    fn unreported() -> Connection {
        Connection::Live
    }
}

/// The upstream stream as the leader sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamState {
    /// No stream (followers, or a leader waiting for its first snapshot or a reset).
    Closed,
    /// `OpenUpstream` issued, not open yet.
    Connecting,
    /// Open (or already delivering).
    Open,
    /// Failed; reopens at `reconnect_at_ms`.
    Backoff,
}

/// What a hub knows about itself, for the status chip and /diagnostics.
#[derive(Debug, Clone, PartialEq)]
pub struct HubDiagnostics {
    /// This tab.
    pub tab_id: TabId,
    /// The election mode.
    pub mode: ElectionMode,
    /// Leader, follower or electing.
    pub role: Role,
    /// The highest term known (the current leader's).
    pub term: Term,
    /// The leader followed (this tab when leading), if any.
    pub leader_id: Option<TabId>,
    /// Where this tab's Web Lock request stands.
    pub lock: LockState,
    /// The highest event id this tab's state reflects (0 before its first snapshot).
    pub cursor: EventId,
    /// This tab's watch.
    pub watch: Watch,
    /// The upstream stream (`Closed` unless leading).
    pub upstream: UpstreamState,
    /// When a failed upstream reopens (Unix ms, leader only).
    pub reconnect_at_ms: Option<u64>,
    /// Failed attempts since the stream last delivered.
    pub reconnect_attempt: u32,
    /// The upstream as this tab shows it (its own as leader, its leader's otherwise).
    pub connection: Connection,
    /// Leader only: the union of the live tabs' watches.
    pub watch_union: Option<Watch>,
    /// Leader only: the watch of the stream opened last.
    pub subscribed: Option<Watch>,
    /// Tabs whose watch this tab knows.
    pub peers: usize,
    /// This tab waits for a snapshot (no state yet, a grown watch, or a stream that skipped
    /// its trucks).
    pub needs_snapshot: bool,
    /// Links waiting for a missing one.
    pub buffered: usize,
    /// Channel messages dropped: unreadable or inconsistent.
    pub malformed: u64,
    /// Channel messages dropped: another app, another protocol version, or this tab's own id.
    pub foreign: u64,
    /// Gaps noticed in the relayed stream.
    pub gaps: u64,
    /// Events dropped because this tab already had them.
    pub duplicates: u64,
    /// Events this tab relayed as leader.
    pub relayed: u64,
    /// Events handed to this tab's app.
    pub delivered: u64,
    /// Snapshots handed to this tab's app.
    pub snapshots_delivered: u64,
    /// Resends this tab asked for.
    pub resend_requests: u64,
    /// Resends this tab answered as leader (with a replay).
    pub resends_served: u64,
    /// Snapshot requests this tab sent.
    pub snapshot_requests: u64,
    /// Snapshots this tab sent to other tabs as leader.
    pub snapshots_served: u64,
    /// Leader frames ignored: old term, another tab's leader, or not ours.
    pub stale_frames: u64,
}

/// The reconnect delay before attempt `attempt` (1 for the first reconnect): exponential from
/// `reconnect_min_ms` up to `reconnect_max_ms`, of which the upper half is jitter derived from
/// the tab id and the attempt, so tabs of many browsers do not reconnect in step.
pub fn reconnect_delay_ms(config: &HubConfig, attempt: u32) -> u64 {
    let shift = attempt.saturating_sub(1).min(30);
    let full = config
        .reconnect_min_ms
        .saturating_mul(1 << shift)
        .min(config.reconnect_max_ms)
        .max(1);
    let half = full / 2;
    half + mix(config.tab_id ^ u64::from(attempt).rotate_left(32)) % (full - half + 1)
}

/// SplitMix64's finaliser: a well-spread hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Whether `inner` is a subset of `outer`.
fn covers(outer: &Watch, inner: &Watch) -> bool {
    match (outer, inner) {
        (Watch::All, _) => true,
        (Watch::Trucks(_), Watch::All) => false,
        (Watch::Trucks(o), Watch::Trucks(i)) => i.is_subset(o),
    }
}

fn intersection(a: &Watch, b: &Watch) -> Watch {
    match (a, b) {
        (Watch::All, w) | (w, Watch::All) => w.clone(),
        (Watch::Trucks(x), Watch::Trucks(y)) => Watch::Trucks(x.intersection(y).cloned().collect()),
    }
}

fn is_empty(watch: &Watch) -> bool {
    matches!(watch, Watch::Trucks(set) if set.is_empty())
}

fn filtered(snapshot: &FleetSnapshot, watch: &Watch) -> FleetSnapshot {
    FleetSnapshot {
        last_event_id: snapshot.last_event_id,
        trucks: snapshot
            .trucks
            .iter()
            .filter(|t| watch.includes(&t.id))
            .cloned()
            .collect(),
    }
}

/// The last accepted links; together they cover `(floor, last id]` without holes.
#[derive(Debug, Clone)]
struct Ring {
    links: VecDeque<Link>,
    floor: EventId,
    capacity: usize,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Ring {
            links: VecDeque::new(),
            floor: 0,
            capacity: capacity.max(1),
        }
    }

    /// Empties the ring at `cursor`.
    fn reset(&mut self, cursor: EventId) {
        self.links.clear();
        self.floor = cursor;
    }

    /// Adds a link whose `prev` is the cursor it was accepted at.
    fn push(&mut self, link: Link) {
        self.links.push_back(link);
        while self.links.len() > self.capacity {
            if let Some(old) = self.links.pop_front() {
                self.floor = old.event.id;
            }
        }
    }

    /// The links after `after`, or `None` when the ring no longer reaches back that far.
    fn after(&self, after: EventId) -> Option<impl Iterator<Item = &Link>> {
        (after >= self.floor).then(|| self.links.iter().filter(move |l| l.event.id > after))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Active,
    /// In the back/forward cache: inputs ignored until `handle_page_show`.
    Hidden,
    /// After `shutdown`: inputs ignored for good.
    Closed,
}

#[derive(Debug, Clone)]
struct Peer {
    watch: Watch,
    last_seen_ms: u64,
}

/// What only the leader keeps.
#[derive(Debug, Clone)]
struct Lead {
    upstream: UpstreamState,
    attempt: u32,
    reconnect_at_ms: Option<u64>,
    /// The watch of the stream opened last.
    subscribed: Option<Watch>,
    union: Watch,
    cache: Option<Fleet>,
    /// The trucks the cache is exact for (meaningful with a cache).
    covers: Watch,
    /// A snapshot fetch is outstanding since then.
    fetch_since_ms: Option<u64>,
    reset_pending: bool,
    /// Tabs waiting for a snapshot of a watch.
    pending: BTreeMap<TabId, Watch>,
    resubscribe_at_ms: Option<u64>,
    last_sent_ms: u64,
    last_stale_answer_ms: Option<u64>,
    upstream_activity_ms: u64,
    /// Whether the stream opened last delivered anything (resets the backoff).
    upstream_proven: bool,
    /// The last snapshot fetch failed (why), until a snapshot arrives or the stream delivers.
    snapshot_error: Option<String>,
    /// The status the last leader frame carried: a change is sent at once.
    announced: Option<Connection>,
}

impl Lead {
    /// The leader's own upstream as users should see it.
    fn connection(&self) -> Connection {
        if let Some(reason) = &self.snapshot_error {
            return Connection::Error {
                reason: reason.clone(),
            };
        }
        match self.upstream {
            UpstreamState::Connecting => Connection::Connecting,
            UpstreamState::Open => Connection::Live,
            UpstreamState::Backoff => Connection::Reconnecting {
                at_ms: self.reconnect_at_ms.unwrap_or(0),
            },
            // Nothing to stream is not a failure; otherwise a first snapshot or a reset is due.
            UpstreamState::Closed => match &self.subscribed {
                Some(Watch::Trucks(set)) if set.is_empty() => Connection::Live,
                _ => Connection::Connecting,
            },
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Stats {
    malformed: u64,
    foreign: u64,
    gaps: u64,
    duplicates: u64,
    relayed: u64,
    delivered: u64,
    snapshots_delivered: u64,
    resend_requests: u64,
    resends_served: u64,
    snapshot_requests: u64,
    snapshots_served: u64,
    stale_frames: u64,
}

/// One tab's relay: election, cursor, gap repair, merged subscription and (as leader) the
/// upstream and the last-value cache. See the module docs.
#[derive(Debug, Clone)]
pub struct TabHub {
    config: HubConfig,
    election: Election,
    phase: Phase,
    outputs: VecDeque<HubOutput>,
    reported_role: Role,
    /// The status last reported with `ConnectionChanged` (see `TabHub::connection`).
    connection: Connection,
    /// The adapter could not set up its transport (why), until a frame or the lock arrives.
    transport_error: Option<String>,
    /// The status the current leader reported last (`None` before its first frame).
    leader_connection: Option<Connection>,
    watch: Watch,
    cursor: Option<EventId>,
    ring: Ring,
    /// Links that arrived before the one they follow, by id.
    buffer: BTreeMap<EventId, Link>,
    gap_since_ms: Option<u64>,
    last_resend_ms: Option<u64>,
    /// The cursor the current leader announced last.
    leader_cursor: Option<EventId>,
    need_snapshot: bool,
    last_snapshot_request_ms: Option<u64>,
    last_announce_ms: u64,
    peers: BTreeMap<TabId, Peer>,
    /// Snapshot requests heard while not leading (tab -> watch, when): a new leader answers them.
    overheard: BTreeMap<TabId, (Watch, u64)>,
    lead: Option<Lead>,
    /// Worker mode: the cursor taken from a client because this worker had none, while nothing
    /// has been accepted since (a lower one reported meanwhile replaces it).
    adopted: Option<EventId>,
    stats: Stats,
}

impl TabHub {
    /// A hub that joins at once: queues a `hello` frame and, in Locks mode,
    /// `RequestLock { steal: false }` (Solo mode leads at once and never broadcasts).
    pub fn new(config: HubConfig, now_ms: u64) -> Self {
        let election = Election::new(
            config.tab_id,
            config.election,
            ElectionTiming {
                liveness_ms: config.liveness_ms,
                claim_window_ms: config.claim_window_ms,
            },
        );
        let mut hub = TabHub {
            watch: config.watch.clone(),
            ring: Ring::new(config.ring_capacity),
            config,
            election,
            phase: Phase::Active,
            outputs: VecDeque::new(),
            reported_role: Role::Electing,
            connection: Connection::Connecting,
            transport_error: None,
            leader_connection: None,
            cursor: None,
            buffer: BTreeMap::new(),
            gap_since_ms: None,
            last_resend_ms: None,
            leader_cursor: None,
            need_snapshot: true,
            last_snapshot_request_ms: None,
            last_announce_ms: now_ms,
            peers: BTreeMap::new(),
            overheard: BTreeMap::new(),
            lead: None,
            adopted: None,
            stats: Stats::default(),
        };
        hub.join(now_ms);
        hub.after_input(now_ms);
        hub
    }

    /// A message from the BroadcastChannel or a port (JSON text). Malformed, foreign and
    /// other-version messages are dropped and counted; nothing here panics.
    ///
    /// Returns the sender of a frame that parsed, so a worker can bind a port to a tab id
    /// without parsing; `None` when the frame was malformed or foreign, or this hub is hidden
    /// or shut down.
    pub fn handle_channel_message(&mut self, now_ms: u64, raw: &str) -> Option<TabId> {
        self.active_input(now_ms, |hub, now_ms| {
            match parse_frame(raw, hub.config.tab_id) {
                Ok(frame) => {
                    let from = frame.from;
                    // Frames arrive: the transport works.
                    hub.transport_error = None;
                    hub.on_frame(now_ms, frame);
                    Some(from)
                }
                Err(FrameError::Malformed(_)) => {
                    hub.stats.malformed += 1;
                    None
                }
                Err(FrameError::Foreign(_)) => {
                    hub.stats.foreign += 1;
                    None
                }
            }
        })
        .flatten()
    }

    /// Locks mode: this tab now holds the leader lock and leads.
    pub fn handle_lock_granted(&mut self, now_ms: u64) {
        if self.phase == Phase::Active {
            self.run_due(now_ms);
        }
        self.election.handle_lock_granted(now_ms);
        // The lock manager answered: the transport works.
        self.transport_error = None;
        self.after_election(now_ms);
        self.after_input(now_ms);
    }

    /// Locks mode: the lock was stolen or the request aborted: stop leading at once.
    pub fn handle_lock_lost(&mut self, now_ms: u64) {
        self.election.handle_lock_lost(now_ms);
        self.after_election(now_ms);
        self.after_input(now_ms);
    }

    /// The answer to `FetchSnapshot`. Ignored unless leading.
    pub fn handle_snapshot(&mut self, now_ms: u64, snapshot: FleetSnapshot) {
        self.active_input(now_ms, |hub, now_ms| {
            hub.on_fetched_snapshot(now_ms, snapshot);
        });
    }

    /// A `FetchSnapshot` failed (server unreachable, bad status, undecodable): the connection
    /// shows `Error { reason }` until a snapshot arrives or the stream delivers. The fetch is
    /// retried after `snapshot_retry_ms` as always. Ignored unless leading.
    pub fn handle_snapshot_failed(&mut self, now_ms: u64, reason: String) {
        self.active_input(now_ms, |hub, _| {
            if let Some(lead) = &mut hub.lead {
                lead.snapshot_error = Some(reason);
            }
        });
    }

    /// The adapter could not set up its transport (no BroadcastChannel, the worker did not
    /// start, a lock request failed): the connection shows `Error { reason }` until a frame
    /// parses or the lock is granted.
    pub fn handle_transport_failed(&mut self, now_ms: u64, reason: String) {
        self.active_input(now_ms, |hub, _| {
            hub.transport_error = Some(reason);
        });
    }

    /// The upstream stream opened. Ignored unless leading with a stream being opened.
    pub fn handle_upstream_open(&mut self, now_ms: u64) {
        self.active_input(now_ms, |hub, now_ms| {
            if let Some(lead) = &mut hub.lead {
                if lead.upstream == UpstreamState::Connecting {
                    lead.upstream = UpstreamState::Open;
                    lead.upstream_activity_ms = now_ms;
                    lead.snapshot_error = None;
                }
            }
        });
    }

    /// An event from the upstream: relayed to every tab and delivered here if watched.
    /// Ignored unless leading.
    pub fn handle_upstream_event(&mut self, now_ms: u64, envelope: Envelope) {
        self.active_input(now_ms, |hub, now_ms| {
            hub.on_upstream_event(now_ms, envelope);
        });
    }

    /// A server heartbeat: relayed at once (a network event, so it keeps followers' leases
    /// alive even when this tab's timers are throttled).
    pub fn handle_upstream_heartbeat(&mut self, now_ms: u64) {
        self.active_input(now_ms, |hub, now_ms| {
            if hub.upstream_alive(now_ms) {
                hub.send_heartbeat(now_ms, true);
            }
        });
    }

    /// The server said the history asked for is gone: close the stream, fetch a snapshot and
    /// give it to every tab (then reopen from its id).
    pub fn handle_upstream_reset(&mut self, now_ms: u64) {
        self.active_input(now_ms, |hub, now_ms| {
            if let Some(lead) = &mut hub.lead {
                if lead.upstream != UpstreamState::Closed {
                    hub.outputs.push_back(HubOutput::CloseUpstream);
                }
                lead.upstream = UpstreamState::Closed;
                lead.reconnect_at_ms = None;
                lead.reset_pending = true;
                lead.fetch_since_ms = Some(now_ms);
                hub.outputs.push_back(HubOutput::FetchSnapshot);
            }
        });
    }

    /// The upstream stream failed: close it and reopen from the cursor after a backoff.
    pub fn handle_upstream_error(&mut self, now_ms: u64) {
        self.active_input(now_ms, |hub, now_ms| {
            if hub.lead.as_ref().is_some_and(|l| {
                matches!(l.upstream, UpstreamState::Connecting | UpstreamState::Open)
            }) {
                hub.upstream_failed(now_ms);
            }
        });
    }

    /// This tab's views now show `watch`. A watch with new trucks asks the leader for a
    /// snapshot of them; every change is announced so the leader's union follows.
    pub fn set_watch(&mut self, now_ms: u64, watch: Watch) {
        if watch == self.watch {
            return;
        }
        let grew = !covers(&self.watch, &watch);
        self.watch = watch;
        if self.phase != Phase::Active {
            // Announced on `handle_page_show`.
            self.need_snapshot |= grew;
            return;
        }
        self.run_due(now_ms);
        if grew {
            self.need_snapshot = true;
        }
        if self.is_leader() {
            self.announce_watch(now_ms);
            self.union_changed(now_ms);
            self.ensure_cache(now_ms);
            self.serve_pending(now_ms);
        } else if grew {
            self.request_snapshot(now_ms);
        } else {
            self.announce_watch(now_ms);
        }
        self.after_input(now_ms);
    }

    /// `pagehide` into the back/forward cache: a leader hands over (`ReleaseLock`,
    /// `CloseUpstream`, a `goodbye` frame); every tab stops taking part until
    /// `handle_page_show`.
    pub fn handle_page_hide(&mut self, now_ms: u64) {
        self.leave(now_ms, Phase::Hidden);
    }

    /// `pageshow` from the back/forward cache: rejoin like a new tab, keeping the cursor.
    pub fn handle_page_show(&mut self, now_ms: u64) {
        if self.phase != Phase::Hidden {
            return;
        }
        self.join(now_ms);
        self.after_input(now_ms);
    }

    /// Clean close: like `handle_page_hide` (goodbye, so the next leader starts at once), for
    /// good.
    pub fn shutdown(&mut self, now_ms: u64) {
        self.leave(now_ms, Phase::Closed);
    }

    /// Runs every deadline due at `now_ms`. Every other input does so too, so a tab whose timers
    /// are throttled still acts on time when a message arrives.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        self.active_input(now_ms, |_, _| {});
    }

    /// The absolute time (ms) of the next deadline, or `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<u64> {
        if self.phase != Phase::Active {
            return None;
        }
        let mut next: Option<u64> = self.election.poll_timeout();
        let mut at = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        if self.config.election == ElectionMode::Solo {
            if let Some(lead) = &self.lead {
                lead_deadlines(&self.config, lead, &mut at);
            }
            return next;
        }
        if self.config.election != ElectionMode::Worker {
            at(self.last_announce_ms + self.config.watch_refresh_ms);
        }
        if let Some(oldest) = self.peers.values().map(|p| p.last_seen_ms).min() {
            at(oldest + self.config.peer_expiry_ms);
        }
        match &self.lead {
            Some(lead) => lead_deadlines(&self.config, lead, &mut at),
            None => {
                if self.need_snapshot {
                    at(self
                        .last_snapshot_request_ms
                        .map_or(0, |t| t + self.config.snapshot_retry_ms));
                }
                if let (Some(since), Role::Follower) = (self.gap_since_ms, self.election.role()) {
                    let retry = self
                        .last_resend_ms
                        .map_or(0, |t| t + self.config.resend_retry_ms);
                    at((since + self.config.gap_grace_ms).max(retry));
                }
            }
        }
        next
    }

    /// The next output to carry out, in order.
    pub fn poll_output(&mut self) -> Option<HubOutput> {
        self.outputs.pop_front()
    }

    /// The upstream as this tab should show it: a leader's (or worker's, or Solo tab's) own
    /// stream; for followers and worker clients, what their leader reported last
    /// (`Connecting` until it has); `Error` after a transport failure. Every change is also
    /// emitted as [`HubOutput::ConnectionChanged`].
    pub fn connection(&self) -> &Connection {
        &self.connection
    }

    /// A snapshot of this tab's state and counters.
    pub fn diagnostics(&self) -> HubDiagnostics {
        let s = &self.stats;
        HubDiagnostics {
            tab_id: self.config.tab_id,
            mode: self.config.election,
            role: self.election.role(),
            term: self.election.term(),
            leader_id: self.election.leader(),
            lock: self.election.lock_state(),
            cursor: self.cursor.unwrap_or(0),
            watch: self.watch.clone(),
            upstream: self
                .lead
                .as_ref()
                .map_or(UpstreamState::Closed, |l| l.upstream),
            reconnect_at_ms: self.lead.as_ref().and_then(|l| l.reconnect_at_ms),
            reconnect_attempt: self.lead.as_ref().map_or(0, |l| l.attempt),
            connection: self.connection.clone(),
            watch_union: self.lead.as_ref().map(|l| l.union.clone()),
            subscribed: self.lead.as_ref().and_then(|l| l.subscribed.clone()),
            peers: self.peers.len(),
            needs_snapshot: self.need_snapshot,
            buffered: self.buffer.len(),
            malformed: s.malformed,
            foreign: s.foreign,
            gaps: s.gaps,
            duplicates: s.duplicates,
            relayed: s.relayed,
            delivered: s.delivered,
            snapshots_delivered: s.snapshots_delivered,
            resend_requests: s.resend_requests,
            resends_served: s.resends_served,
            snapshot_requests: s.snapshot_requests,
            snapshots_served: s.snapshots_served,
            stale_frames: s.stale_frames,
        }
    }

    // ----- joining and leaving -----

    fn join(&mut self, now_ms: u64) {
        self.phase = Phase::Active;
        self.need_snapshot |= self.cursor.is_none();
        self.buffer.clear();
        self.gap_since_ms = None;
        self.last_resend_ms = None;
        self.leader_cursor = None;
        self.peers.clear();
        self.overheard.clear();
        self.broadcast(
            now_ms,
            TabMsg::Hello {
                watch: self.watch.clone(),
                cursor: self.cursor,
            },
        );
        self.last_announce_ms = now_ms;
        if self.need_snapshot && self.cursor.is_none() {
            // The hello asks for the snapshot.
            self.last_snapshot_request_ms = Some(now_ms);
        } else {
            self.last_snapshot_request_ms = None;
        }
        self.election.start(now_ms);
        self.after_election(now_ms);
    }

    fn leave(&mut self, now_ms: u64, phase: Phase) {
        if self.phase != Phase::Active {
            if phase == Phase::Closed {
                self.phase = Phase::Closed;
            }
            return;
        }
        self.election.resign(now_ms);
        self.after_election(now_ms);
        self.broadcast(now_ms, TabMsg::Goodbye);
        self.phase = phase;
        self.buffer.clear();
        self.gap_since_ms = None;
        self.after_input(now_ms);
    }

    // ----- plumbing -----

    fn is_leader(&self) -> bool {
        self.election.role() == Role::Leader && self.lead.is_some()
    }

    fn broadcast(&mut self, now_ms: u64, msg: TabMsg) {
        if self.config.election == ElectionMode::Solo {
            return;
        }
        if msg.seen() == Seen::Leader {
            if let Some(lead) = &mut self.lead {
                lead.last_sent_ms = now_ms;
            }
        }
        let to = match &msg {
            TabMsg::Snapshot { to, .. } => *to,
            TabMsg::Replay { to, .. } => Some(*to),
            _ => None,
        };
        let frame = TabFrame {
            v: PROTOCOL_VERSION,
            app: APP_NAME.to_owned(),
            from: self.config.tab_id,
            term: self.election.term(),
            msg,
        };
        // Serializing these plain types cannot fail; skip the frame rather than panic.
        if let Ok(frame) = serde_json::to_string(&frame) {
            self.outputs.push_back(HubOutput::Send { to, frame });
        }
    }

    fn after_input(&mut self, now_ms: u64) {
        let role = self.election.role();
        if role != self.reported_role {
            self.reported_role = role;
            self.outputs.push_back(HubOutput::RoleChanged(role));
        }
        let connection = self.current_connection();
        if connection != self.connection {
            self.connection = connection.clone();
            self.outputs
                .push_back(HubOutput::ConnectionChanged(connection.clone()));
        }
        // Followers show what the leader frames carry: tell them of a change at once.
        if self.phase == Phase::Active
            && self.is_leader()
            && self.config.election != ElectionMode::Solo
            && self
                .lead
                .as_ref()
                .is_some_and(|l| l.announced.as_ref() != Some(&connection))
        {
            self.send_heartbeat(now_ms, false);
        }
    }

    /// The status this tab shows: a transport failure, else its own stream as leader, else
    /// what its leader reported.
    fn current_connection(&self) -> Connection {
        if let Some(reason) = &self.transport_error {
            return Connection::Error {
                reason: reason.clone(),
            };
        }
        match &self.lead {
            Some(lead) => lead.connection(),
            None => self
                .leader_connection
                .clone()
                .unwrap_or(Connection::Connecting),
        }
    }

    fn after_election(&mut self, now_ms: u64) {
        while let Some(action) = self.election.poll_action() {
            match action {
                ElectionAction::RequestLock { steal } => {
                    self.outputs.push_back(HubOutput::RequestLock { steal })
                }
                ElectionAction::ReleaseLock => self.outputs.push_back(HubOutput::ReleaseLock),
                ElectionAction::SendClaim { term } => {
                    self.broadcast(now_ms, TabMsg::Claim { term })
                }
                ElectionAction::AssertLeadership => self.send_leading(now_ms),
                ElectionAction::AnnounceTerm => {
                    if now_ms >= self.last_announce_ms + STALE_ANSWER_INTERVAL_MS {
                        self.announce_watch(now_ms);
                    }
                }
                ElectionAction::BecomeLeader { .. } => self.start_leading(now_ms),
                ElectionAction::StopLeading => self.stop_leading(),
                ElectionAction::Follow { .. } => self.on_new_leader(now_ms),
                ElectionAction::LeaderGone => {
                    self.leader_cursor = None;
                    self.leader_connection = None;
                }
            }
        }
    }

    /// Runs an input only while this tab takes part (not hidden in the bfcache, not closed):
    /// the deadlines due first, so a throttled tab still acts on time, then the input, then
    /// what follows every input.
    fn active_input<R>(
        &mut self,
        now_ms: u64,
        input: impl FnOnce(&mut Self, u64) -> R,
    ) -> Option<R> {
        if self.phase != Phase::Active {
            return None;
        }
        self.run_due(now_ms);
        let result = input(self, now_ms);
        self.after_input(now_ms);
        Some(result)
    }

    fn run_due(&mut self, now_ms: u64) {
        self.election.handle_timeout(now_ms);
        self.after_election(now_ms);
        if self.config.election != ElectionMode::Solo {
            self.expire_peers(now_ms);
            if self.config.election != ElectionMode::Worker
                && now_ms >= self.last_announce_ms + self.config.watch_refresh_ms
            {
                self.announce_watch(now_ms);
            }
        }
        if self.lead.is_some() {
            self.leader_due(now_ms);
        } else {
            if self.need_snapshot
                && self
                    .last_snapshot_request_ms
                    .is_none_or(|t| now_ms >= t + self.config.snapshot_retry_ms)
            {
                self.request_snapshot(now_ms);
            }
            self.check_gap(now_ms);
        }
    }

    fn announce_watch(&mut self, now_ms: u64) {
        self.last_announce_ms = now_ms;
        self.broadcast(
            now_ms,
            TabMsg::Watch {
                watch: self.watch.clone(),
                cursor: self.cursor,
            },
        );
    }

    fn request_snapshot(&mut self, now_ms: u64) {
        self.last_snapshot_request_ms = Some(now_ms);
        self.stats.snapshot_requests += 1;
        self.broadcast(
            now_ms,
            TabMsg::SnapshotRequest {
                watch: self.watch.clone(),
            },
        );
    }

    fn expire_peers(&mut self, now_ms: u64) {
        let expiry = self.config.peer_expiry_ms;
        let expired: Vec<TabId> = self
            .peers
            .iter()
            .filter(|(_, p)| now_ms >= p.last_seen_ms + expiry)
            .map(|(tab, _)| *tab)
            .collect();
        if expired.is_empty() {
            return;
        }
        for tab in expired {
            self.peers.remove(&tab);
            self.outputs.push_back(HubOutput::PeerGone(tab));
        }
        self.union_changed(now_ms);
    }

    fn union(&self) -> Watch {
        self.peers
            .values()
            .fold(self.watch.clone(), |acc, p| acc.union(&p.watch))
    }

    // ----- frames -----

    fn on_frame(&mut self, now_ms: u64, frame: TabFrame) {
        let TabFrame {
            from, term, msg, ..
        } = frame;
        self.note_peer(now_ms, from, &msg);
        if let TabMsg::Hello {
            cursor: Some(cursor),
            ..
        }
        | TabMsg::Watch {
            cursor: Some(cursor),
            ..
        } = &msg
        {
            self.adopt_cursor(now_ms, *cursor);
        }
        self.election.handle_frame(now_ms, from, term, msg.seen());
        self.after_election(now_ms);
        let from_my_leader = self.election.role() == Role::Follower
            && self.election.leader() == Some(from)
            && self.election.term() == term;
        match msg {
            TabMsg::Hello { watch, cursor } => {
                if self.is_leader() {
                    self.send_leading(now_ms);
                }
                if cursor.is_none() {
                    self.snapshot_wanted(now_ms, from, watch);
                }
            }
            TabMsg::SnapshotRequest { watch } => self.snapshot_wanted(now_ms, from, watch),
            // A tab with no cursor has no state: its hello may have been lost (a service worker
            // still starting), so its next announcement gets the snapshot instead.
            TabMsg::Watch {
                watch,
                cursor: None,
            } => self.snapshot_wanted(now_ms, from, watch),
            TabMsg::Resend { after, watch } => {
                if self.is_leader() {
                    self.serve_resend(now_ms, from, after, watch);
                }
            }
            TabMsg::Watch { .. } | TabMsg::Claim { .. } | TabMsg::Goodbye => {}
            TabMsg::Leading {
                union,
                cursor,
                upstream,
            }
            | TabMsg::Heartbeat {
                union,
                cursor,
                upstream,
                ..
            } => {
                if from_my_leader {
                    self.leader_connection = Some(upstream);
                    self.on_leader_position(now_ms, &union, cursor);
                } else {
                    self.stats.stale_frames += 1;
                }
            }
            TabMsg::Event(link) => {
                if from_my_leader {
                    self.on_link(now_ms, link);
                } else {
                    self.stats.stale_frames += 1;
                }
            }
            TabMsg::Replay { to, links } => {
                if !from_my_leader {
                    self.stats.stale_frames += 1;
                } else if to == self.config.tab_id {
                    for link in links {
                        self.on_link(now_ms, link);
                    }
                }
            }
            TabMsg::Snapshot {
                to,
                watch,
                reset,
                snapshot,
            } => {
                if !from_my_leader {
                    self.stats.stale_frames += 1;
                } else if to.is_none_or(|t| t == self.config.tab_id) {
                    self.on_snapshot_frame(now_ms, &watch, reset, snapshot);
                } else if let Some(to) = to {
                    self.overheard.remove(&to);
                }
            }
        }
        if from_my_leader && now_ms >= self.last_announce_ms + self.config.watch_refresh_ms {
            // Network-driven refresh: hidden tabs' timers may run once a minute.
            self.announce_watch(now_ms);
        }
        if self.lead.is_none() {
            self.check_gap(now_ms);
        }
    }

    fn note_peer(&mut self, now_ms: u64, from: TabId, msg: &TabMsg) {
        let announced = match msg {
            TabMsg::Hello { watch, .. }
            | TabMsg::Watch { watch, .. }
            | TabMsg::SnapshotRequest { watch }
            | TabMsg::Resend { watch, .. } => Some(watch),
            TabMsg::Goodbye => {
                self.outputs.push_back(HubOutput::PeerGone(from));
                self.peers.remove(&from);
                self.overheard.remove(&from);
                if let Some(lead) = &mut self.lead {
                    lead.pending.remove(&from);
                }
                self.union_changed(now_ms);
                return;
            }
            _ => None,
        };
        match (announced, self.peers.get_mut(&from)) {
            (Some(watch), Some(peer)) => {
                peer.last_seen_ms = now_ms;
                if peer.watch != *watch {
                    peer.watch = watch.clone();
                    self.union_changed(now_ms);
                }
            }
            (Some(watch), None) => {
                self.peers.insert(
                    from,
                    Peer {
                        watch: watch.clone(),
                        last_seen_ms: now_ms,
                    },
                );
                self.union_changed(now_ms);
            }
            (None, Some(peer)) => peer.last_seen_ms = now_ms,
            (None, None) => {}
        }
    }

    /// Worker mode: a (re)started worker has no cursor, but its clients do. Resuming from theirs
    /// loses nothing; the lowest one reported before anything arrives wins, so no client is left
    /// with a gap only a snapshot could fill (the others drop what they already have).
    fn adopt_cursor(&mut self, now_ms: u64, reported: EventId) {
        if self.config.election != ElectionMode::Worker || !self.is_leader() {
            return;
        }
        let adopt = match self.cursor {
            None => true,
            Some(cursor) => self.adopted == Some(cursor) && reported < cursor,
        };
        if !adopt {
            return;
        }
        self.adopted = Some(reported);
        self.cursor = Some(reported);
        self.ring.reset(reported);
        self.need_snapshot = false;
        self.last_snapshot_request_ms = None;
        let union = self.union();
        self.open_upstream(now_ms, union);
        // The snapshot fetched at start rebuilds the cache from the ring when it comes.
        self.fetch(now_ms);
    }

    fn on_new_leader(&mut self, now_ms: u64) {
        self.leader_cursor = None;
        self.leader_connection = None;
        self.last_resend_ms = None;
        self.announce_watch(now_ms);
        // A request sent just before was heard by the new leader (answered, or inherited).
        if self.need_snapshot
            && self
                .last_snapshot_request_ms
                .is_none_or(|t| now_ms >= t + self.config.claim_window_ms)
        {
            self.request_snapshot(now_ms);
        }
    }

    fn on_leader_position(&mut self, now_ms: u64, union: &Watch, cursor: Option<EventId>) {
        if let Some(c) = cursor {
            self.leader_cursor = Some(self.leader_cursor.map_or(c, |l| l.max(c)));
        }
        if !covers(union, &self.watch)
            && now_ms >= self.last_announce_ms + self.config.resubscribe_debounce_ms
        {
            // The leader's stream misses our trucks: tell it again what we watch.
            self.announce_watch(now_ms);
        }
    }

    // ----- follower side: links, gaps, snapshots -----

    fn on_link(&mut self, now_ms: u64, link: Link) {
        let Some(cursor) = self.cursor else {
            // No state yet: keep it for after the snapshot.
            if self.buffer.len() < self.config.ring_capacity {
                self.buffer.insert(link.event.id, link);
            }
            return;
        };
        if link.event.id <= cursor {
            self.stats.duplicates += 1;
            return;
        }
        if link.prev <= cursor {
            self.accept(now_ms, link);
            self.drain_buffer(now_ms);
        } else if self.buffer.insert(link.event.id, link).is_some() {
            self.stats.duplicates += 1;
        } else if self.buffer.len() > self.config.ring_capacity {
            // Too far behind to hold everything: the resend brings it back (or a snapshot).
            self.buffer.clear();
        }
    }

    fn drain_buffer(&mut self, now_ms: u64) {
        while let Some(cursor) = self.cursor {
            let Some(entry) = self.buffer.first_entry() else {
                break;
            };
            if *entry.key() <= cursor {
                entry.remove();
                self.stats.duplicates += 1;
            } else if entry.get().prev <= cursor {
                let link = entry.remove();
                self.accept(now_ms, link);
            } else {
                break;
            }
        }
    }

    /// Takes a link in order: `prev <= cursor < id`.
    fn accept(&mut self, now_ms: u64, link: Link) {
        let Some(from) = self.cursor else {
            return;
        };
        if !covers(&link.union, &self.watch) {
            // The stream skipped some of our trucks: only a snapshot can tell what we missed.
            self.mark_incomplete(now_ms);
        }
        if self.watch.includes(link.event.event.truck()) {
            self.stats.delivered += 1;
            self.outputs
                .push_back(HubOutput::Deliver(link.event.clone()));
        }
        self.cursor = Some(link.event.id);
        self.ring.push(Link { prev: from, ..link });
    }

    fn mark_incomplete(&mut self, now_ms: u64) {
        if self.need_snapshot {
            return;
        }
        self.need_snapshot = true;
        if self.lead.is_none()
            && self
                .last_snapshot_request_ms
                .is_none_or(|t| now_ms >= t + self.config.gap_grace_ms)
        {
            self.request_snapshot(now_ms);
        }
    }

    fn check_gap(&mut self, now_ms: u64) {
        let Some(cursor) = self.cursor else {
            self.gap_since_ms = None;
            return;
        };
        let open = !self.buffer.is_empty() || self.leader_cursor.is_some_and(|l| l > cursor);
        if !open {
            self.gap_since_ms = None;
            self.last_resend_ms = None;
            return;
        }
        let since = *self.gap_since_ms.get_or_insert_with(|| {
            self.stats.gaps += 1;
            now_ms
        });
        let due = now_ms >= since + self.config.gap_grace_ms
            && self
                .last_resend_ms
                .is_none_or(|t| now_ms >= t + self.config.resend_retry_ms);
        if due && self.election.role() == Role::Follower {
            self.last_resend_ms = Some(now_ms);
            self.stats.resend_requests += 1;
            self.broadcast(
                now_ms,
                TabMsg::Resend {
                    after: cursor,
                    watch: self.watch.clone(),
                },
            );
        }
    }

    fn on_snapshot_frame(
        &mut self,
        now_ms: u64,
        watch: &Watch,
        reset: bool,
        snapshot: FleetSnapshot,
    ) {
        let id = snapshot.last_event_id;
        if !reset {
            if !covers(watch, &self.watch) {
                return; // for an older watch of ours: the retry asks again
            }
            if let Some(cursor) = self.cursor {
                if id < cursor || (id == cursor && !self.need_snapshot) {
                    return; // behind us, or nothing new
                }
            }
        }
        self.install_snapshot(now_ms, &snapshot, covers(watch, &self.watch));
    }

    /// Replaces this tab's state with `snapshot` (filtered to its watch) and moves the cursor
    /// to its id.
    fn install_snapshot(&mut self, now_ms: u64, snapshot: &FleetSnapshot, complete: bool) {
        let id = snapshot.last_event_id;
        self.stats.snapshots_delivered += 1;
        self.outputs
            .push_back(HubOutput::DeliverSnapshot(filtered(snapshot, &self.watch)));
        if self.cursor != Some(id) {
            self.ring.reset(id);
        }
        self.cursor = Some(id);
        self.need_snapshot = !complete;
        if complete {
            self.last_snapshot_request_ms = None;
        }
        self.drain_buffer(now_ms);
    }

    // ----- leader side -----

    fn start_leading(&mut self, now_ms: u64) {
        self.buffer.clear();
        self.gap_since_ms = None;
        self.leader_cursor = None;
        self.lead = Some(Lead {
            upstream: UpstreamState::Closed,
            attempt: 0,
            reconnect_at_ms: None,
            subscribed: None,
            union: self.union(),
            cache: None,
            covers: Watch::All,
            fetch_since_ms: None,
            reset_pending: false,
            pending: BTreeMap::new(),
            resubscribe_at_ms: None,
            last_sent_ms: now_ms,
            last_stale_answer_ms: None,
            upstream_activity_ms: now_ms,
            upstream_proven: false,
            snapshot_error: None,
            announced: None,
        });
        let recent = now_ms.saturating_sub(self.config.snapshot_retry_ms);
        let inherited: BTreeMap<TabId, Watch> = std::mem::take(&mut self.overheard)
            .into_iter()
            .filter(|(_, (_, at))| *at >= recent)
            .map(|(tab, (watch, _))| (tab, watch))
            .collect();
        if let Some(lead) = &mut self.lead {
            lead.pending = inherited;
        }
        self.send_leading(now_ms);
        if self.cursor.is_some() {
            let union = self.union();
            self.open_upstream(now_ms, union);
        }
        self.fetch(now_ms);
    }

    fn stop_leading(&mut self) {
        if let Some(lead) = self.lead.take() {
            if lead.upstream != UpstreamState::Closed {
                self.outputs.push_back(HubOutput::CloseUpstream);
            }
        }
    }

    fn send_leading(&mut self, now_ms: u64) {
        let Some(lead) = &mut self.lead else {
            return;
        };
        if lead
            .last_stale_answer_ms
            .is_some_and(|t| now_ms < t + STALE_ANSWER_INTERVAL_MS && now_ms >= t)
        {
            return;
        }
        lead.last_stale_answer_ms = Some(now_ms);
        let union = lead
            .subscribed
            .clone()
            .unwrap_or_else(|| lead.union.clone());
        let upstream = self.current_connection();
        if let Some(lead) = &mut self.lead {
            lead.announced = Some(upstream.clone());
        }
        self.broadcast(
            now_ms,
            TabMsg::Leading {
                union,
                cursor: self.cursor,
                upstream,
            },
        );
    }

    fn send_heartbeat(&mut self, now_ms: u64, server: bool) {
        let Some(lead) = &self.lead else {
            return;
        };
        let union = lead
            .subscribed
            .clone()
            .unwrap_or_else(|| lead.union.clone());
        let upstream = self.current_connection();
        if let Some(lead) = &mut self.lead {
            lead.announced = Some(upstream.clone());
        }
        self.broadcast(
            now_ms,
            TabMsg::Heartbeat {
                union,
                cursor: self.cursor,
                server,
                upstream,
            },
        );
    }

    fn fetch(&mut self, now_ms: u64) {
        if let Some(lead) = &mut self.lead {
            if lead.fetch_since_ms.is_none() {
                lead.fetch_since_ms = Some(now_ms);
                self.outputs.push_back(HubOutput::FetchSnapshot);
            }
        }
    }

    /// Opens the stream for `union` from the cursor (nothing for an empty union).
    fn open_upstream(&mut self, now_ms: u64, union: Watch) {
        let Some(cursor) = self.cursor else {
            return;
        };
        let Some(lead) = &mut self.lead else {
            return;
        };
        lead.resubscribe_at_ms = None;
        lead.reconnect_at_ms = None;
        lead.union = union.clone();
        if lead.cache.is_some() {
            lead.covers = intersection(&lead.covers, &union);
        }
        lead.subscribed = Some(union.clone());
        if is_empty(&union) {
            if lead.upstream != UpstreamState::Closed {
                lead.upstream = UpstreamState::Closed;
                self.outputs.push_back(HubOutput::CloseUpstream);
            }
            return;
        }
        lead.upstream = UpstreamState::Connecting;
        lead.upstream_activity_ms = now_ms;
        lead.upstream_proven = false;
        self.outputs.push_back(HubOutput::OpenUpstream {
            watch: union,
            last_event_id: Some(cursor),
        });
    }

    fn upstream_failed(&mut self, now_ms: u64) {
        let Some(lead) = &mut self.lead else {
            return;
        };
        lead.attempt = lead.attempt.saturating_add(1);
        let delay = reconnect_delay_ms(&self.config, lead.attempt);
        lead.upstream = UpstreamState::Backoff;
        lead.reconnect_at_ms = Some(now_ms + delay);
        self.outputs.push_back(HubOutput::CloseUpstream);
    }

    /// Whether the leader's stream may deliver now (and marks it alive).
    fn upstream_alive(&mut self, now_ms: u64) -> bool {
        let Some(lead) = &mut self.lead else {
            return false;
        };
        if !matches!(
            lead.upstream,
            UpstreamState::Connecting | UpstreamState::Open
        ) {
            return false;
        }
        lead.upstream = UpstreamState::Open;
        lead.upstream_activity_ms = now_ms;
        lead.snapshot_error = None;
        if !lead.upstream_proven {
            lead.upstream_proven = true;
            lead.attempt = 0;
        }
        true
    }

    fn on_upstream_event(&mut self, now_ms: u64, envelope: Envelope) {
        if !self.upstream_alive(now_ms) {
            self.stats.stale_frames += 1;
            return;
        }
        let Some(cursor) = self.cursor else {
            return;
        };
        if envelope.id <= cursor {
            self.stats.duplicates += 1;
            return;
        }
        let Some(lead) = &mut self.lead else {
            return;
        };
        if let Some(cache) = &mut lead.cache {
            cache.apply(&envelope);
        }
        let link = Link {
            event: envelope,
            prev: cursor,
            union: lead.subscribed.clone().unwrap_or(Watch::All),
        };
        self.stats.relayed += 1;
        self.broadcast(now_ms, TabMsg::Event(link.clone()));
        self.accept(now_ms, link);
        if self.need_snapshot || self.lead.as_ref().is_some_and(|l| !l.pending.is_empty()) {
            self.serve_pending(now_ms);
        }
    }

    fn on_fetched_snapshot(&mut self, now_ms: u64, snapshot: FleetSnapshot) {
        let Some(lead) = &mut self.lead else {
            return;
        };
        lead.fetch_since_ms = None;
        lead.snapshot_error = None;
        if lead.reset_pending || self.cursor.is_none() {
            // A fresh start (no state yet, or the server's history is gone): the snapshot is
            // the new base for this tab, its cache and (after a reset) every tab.
            let reset = std::mem::take(&mut lead.reset_pending);
            lead.cache = Some(Fleet::from_snapshot(snapshot.clone()));
            lead.covers = Watch::All;
            self.buffer.clear();
            self.install_snapshot(now_ms, &snapshot, true);
            if reset {
                self.stats.snapshots_served += 1;
                self.broadcast(
                    now_ms,
                    TabMsg::Snapshot {
                        to: None,
                        watch: Watch::All,
                        reset: true,
                        snapshot,
                    },
                );
            }
            let union = self.union();
            self.open_upstream(now_ms, union);
        } else {
            // Rebuild the cache: the snapshot, then the links after it from the ring.
            let Some(links) = self.ring.after(snapshot.last_event_id) else {
                // Older than the ring reaches: fetch again after `snapshot_retry_ms`.
                lead.fetch_since_ms = Some(now_ms);
                return;
            };
            let mut covered = lead.subscribed.clone().unwrap_or(Watch::All);
            let mut cache = Fleet::from_snapshot(snapshot);
            for link in links {
                covered = intersection(&covered, &link.union);
                cache.apply(&link.event);
            }
            lead.cache = Some(cache);
            lead.covers = covered;
        }
        self.serve_pending(now_ms);
        self.ensure_cache(now_ms);
    }

    fn snapshot_wanted(&mut self, now_ms: u64, tab: TabId, watch: Watch) {
        if self.is_leader() {
            self.add_pending(now_ms, tab, watch);
        } else {
            self.overheard.insert(tab, (watch, now_ms));
        }
    }

    fn add_pending(&mut self, now_ms: u64, tab: TabId, watch: Watch) {
        if let Some(lead) = &mut self.lead {
            lead.pending.insert(tab, watch);
        }
        self.union_changed(now_ms);
        self.serve_pending(now_ms);
        self.ensure_cache(now_ms);
    }

    /// Answers every snapshot request (this tab's own included) the cache can answer.
    fn serve_pending(&mut self, now_ms: u64) {
        let Some(cursor) = self.cursor else {
            return;
        };
        let Some(lead) = &mut self.lead else {
            return;
        };
        let Some(cache) = &lead.cache else {
            return;
        };
        let position = cursor.max(cache.last_event_id());
        let ready: Vec<(TabId, Watch)> = lead
            .pending
            .iter()
            .filter(|(_, w)| covers(&lead.covers, w))
            .map(|(t, w)| (*t, w.clone()))
            .collect();
        let own = (self.need_snapshot
            && covers(&lead.covers, &self.watch)
            && cursor >= cache.last_event_id())
        .then(|| {
            let mut s = cache.snapshot(&self.watch);
            s.last_event_id = cursor;
            s
        });
        let answers: Vec<(TabId, Watch, FleetSnapshot)> = ready
            .into_iter()
            .map(|(tab, watch)| {
                let mut s = cache.snapshot(&watch);
                s.last_event_id = position;
                (tab, watch, s)
            })
            .collect();
        for (tab, _, _) in &answers {
            lead.pending.remove(tab);
        }
        if let Some(snapshot) = own {
            self.install_snapshot(now_ms, &snapshot, true);
        }
        for (tab, watch, snapshot) in answers {
            self.stats.snapshots_served += 1;
            self.broadcast(
                now_ms,
                TabMsg::Snapshot {
                    to: Some(tab),
                    watch,
                    reset: false,
                    snapshot,
                },
            );
        }
    }

    /// Fetches a snapshot when the cache is missing, or cannot answer a request whose trucks
    /// the stream now covers.
    fn ensure_cache(&mut self, now_ms: u64) {
        let Some(lead) = &self.lead else {
            return;
        };
        let Some(subscribed) = &lead.subscribed else {
            return;
        };
        let needs = lead.cache.is_none()
            || lead
                .pending
                .values()
                .chain(self.need_snapshot.then_some(&self.watch))
                .any(|w| covers(subscribed, w) && !covers(&lead.covers, w));
        if needs {
            self.fetch(now_ms);
        }
    }

    fn serve_resend(&mut self, now_ms: u64, to: TabId, after: EventId, watch: Watch) {
        let Some(cursor) = self.cursor else {
            return;
        };
        if after >= cursor {
            return;
        }
        let links: Option<Vec<Link>> = self.ring.after(after).map(|l| l.cloned().collect());
        match links {
            Some(links) => {
                self.stats.resends_served += 1;
                self.broadcast(now_ms, TabMsg::Replay { to, links });
            }
            // The ring no longer reaches back that far: a snapshot instead.
            None => self.add_pending(now_ms, to, watch),
        }
    }

    fn union_changed(&mut self, now_ms: u64) {
        let union = self.union();
        let debounce = self.config.resubscribe_debounce_ms;
        let Some(lead) = &mut self.lead else {
            return;
        };
        lead.union = union;
        if lead.subscribed.as_ref() != Some(&lead.union) && lead.resubscribe_at_ms.is_none() {
            lead.resubscribe_at_ms = Some(now_ms + debounce);
        }
    }

    fn leader_due(&mut self, now_ms: u64) {
        let Some(lead) = &mut self.lead else {
            return;
        };
        if lead.resubscribe_at_ms.is_some_and(|t| now_ms >= t) {
            lead.resubscribe_at_ms = None;
            let union = lead.union.clone();
            let reopen = lead.subscribed.as_ref() != Some(&union)
                && matches!(
                    lead.upstream,
                    UpstreamState::Connecting | UpstreamState::Open | UpstreamState::Closed
                )
                && !lead.reset_pending;
            // A stream in backoff reopens with the new union when its delay ends.
            if reopen {
                self.open_upstream(now_ms, union);
                self.ensure_cache(now_ms);
                self.serve_pending(now_ms);
            }
        }
        let Some(lead) = &mut self.lead else {
            return;
        };
        if lead.reconnect_at_ms.is_some_and(|t| now_ms >= t) {
            lead.reconnect_at_ms = None;
            let union = self.union();
            self.open_upstream(now_ms, union);
        }
        let Some(lead) = &mut self.lead else {
            return;
        };
        if matches!(
            lead.upstream,
            UpstreamState::Connecting | UpstreamState::Open
        ) && now_ms >= lead.upstream_activity_ms + self.config.upstream_stall_ms
        {
            self.upstream_failed(now_ms);
        }
        let Some(lead) = &mut self.lead else {
            return;
        };
        if lead
            .fetch_since_ms
            .is_some_and(|t| now_ms >= t + self.config.snapshot_retry_ms)
        {
            lead.fetch_since_ms = Some(now_ms);
            self.outputs.push_back(HubOutput::FetchSnapshot);
        }
        if self.config.election != ElectionMode::Solo
            && self
                .lead
                .as_ref()
                .is_some_and(|l| now_ms >= l.last_sent_ms + self.config.heartbeat_ms)
        {
            self.send_heartbeat(now_ms, false);
        }
    }
}

fn lead_deadlines(config: &HubConfig, lead: &Lead, at: &mut impl FnMut(u64)) {
    if config.election != ElectionMode::Solo {
        at(lead.last_sent_ms + config.heartbeat_ms);
    }
    if let Some(t) = lead.resubscribe_at_ms {
        at(t);
    }
    if let Some(t) = lead.reconnect_at_ms {
        at(t);
    }
    if let Some(t) = lead.fetch_since_ms {
        at(t + config.snapshot_retry_ms);
    }
    if matches!(
        lead.upstream,
        UpstreamState::Connecting | UpstreamState::Open
    ) {
        at(lead.upstream_activity_ms + config.upstream_stall_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{FleetEvent, TruckStatus};

    const LEADER: TabId = 10;
    const ME: TabId = 50;

    fn frame(from: TabId, term: Term, msg: TabMsg) -> String {
        serde_json::to_string(&TabFrame {
            v: PROTOCOL_VERSION,
            app: APP_NAME.into(),
            from,
            term,
            msg,
        })
        .unwrap()
    }

    fn drain(hub: &mut TabHub) -> Vec<HubOutput> {
        std::iter::from_fn(|| hub.poll_output()).collect()
    }

    fn sent(outputs: &[HubOutput]) -> Vec<TabMsg> {
        outputs
            .iter()
            .filter_map(|o| match o {
                HubOutput::Send { frame, .. } => Some(parse_frame(frame, 0).unwrap().msg),
                _ => None,
            })
            .collect()
    }

    fn delivered(outputs: &[HubOutput]) -> Vec<EventId> {
        outputs
            .iter()
            .filter_map(|o| match o {
                HubOutput::Deliver(e) => Some(e.id),
                _ => None,
            })
            .collect()
    }

    fn env(id: EventId, truck: &str) -> Envelope {
        Envelope {
            id,
            event: FleetEvent::Status {
                truck: truck.into(),
                at_ms: id,
                status: TruckStatus::EnRoute,
                next_stop: 1,
            },
        }
    }

    fn link(id: EventId, prev: EventId) -> Link {
        Link {
            event: env(id, "T-01"),
            prev,
            union: Watch::All,
        }
    }

    fn snap(id: EventId) -> FleetSnapshot {
        FleetSnapshot {
            last_event_id: id,
            trucks: vec![],
        }
    }

    fn set(ids: &[&str]) -> Watch {
        Watch::Trucks(ids.iter().map(|s| s.to_string()).collect())
    }

    /// A Lease-mode follower of `LEADER` (term 3) whose state is at event 100.
    fn follower() -> TabHub {
        let mut hub = TabHub::new(HubConfig::new(ME, ElectionMode::Lease), 0);
        let leading = TabMsg::Leading {
            union: Watch::All,
            cursor: Some(100),
            upstream: Connection::Live,
        };
        hub.handle_channel_message(1, &frame(LEADER, 3, leading));
        let snapshot = TabMsg::Snapshot {
            to: Some(ME),
            watch: Watch::All,
            reset: false,
            snapshot: snap(100),
        };
        hub.handle_channel_message(2, &frame(LEADER, 3, snapshot));
        let outputs = drain(&mut hub);
        assert!(outputs.contains(&HubOutput::DeliverSnapshot(snap(100))));
        assert_eq!(hub.diagnostics().role, Role::Follower);
        hub
    }

    /// A Lease-mode leader (alone) streaming from event 100, its outputs drained.
    fn leader(config: impl FnOnce(&mut HubConfig)) -> TabHub {
        let mut c = HubConfig::new(1, ElectionMode::Lease);
        config(&mut c);
        let mut hub = TabHub::new(c, 0);
        hub.handle_timeout(150);
        hub.handle_timeout(300);
        assert_eq!(hub.diagnostics().role, Role::Leader);
        assert!(drain(&mut hub).contains(&HubOutput::FetchSnapshot));
        hub.handle_snapshot(320, snap(100));
        let outputs = drain(&mut hub);
        assert!(outputs.iter().any(|o| matches!(
            o,
            HubOutput::OpenUpstream {
                last_event_id: Some(100),
                ..
            }
        )));
        hub.handle_upstream_open(340);
        let outputs = drain(&mut hub);
        assert_eq!(outputs[0], HubOutput::ConnectionChanged(Connection::Live));
        assert!(sent(&outputs).iter().any(|m| matches!(
            m,
            TabMsg::Heartbeat {
                upstream: Connection::Live,
                ..
            }
        )));
        hub
    }

    #[test]
    fn frames_round_trip_and_bad_ones_are_classified() {
        let msgs = [
            TabMsg::Hello {
                watch: set(&["T-01"]),
                cursor: None,
            },
            TabMsg::Claim { term: 4 },
            TabMsg::Goodbye,
            TabMsg::Event(link(5, 4)),
            TabMsg::Replay {
                to: 3,
                links: vec![link(5, 4), link(7, 5)],
            },
        ];
        for msg in msgs {
            let raw = frame(2, 1, msg.clone());
            assert_eq!(parse_frame(&raw, 9).unwrap().msg, msg, "{raw}");
            assert!(matches!(parse_frame(&raw, 2), Err(FrameError::Foreign(_))));
        }
        let bad_link = frame(2, 1, TabMsg::Event(link(5, 5)));
        assert!(matches!(
            parse_frame(&bad_link, 9),
            Err(FrameError::Malformed(_))
        ));
        let other_version = frame(2, 1, TabMsg::Goodbye).replace("\"v\":1", "\"v\":2");
        assert!(matches!(
            parse_frame(&other_version, 9),
            Err(FrameError::Foreign(_))
        ));
        let huge_term = frame(2, 1 << 53, TabMsg::Goodbye);
        assert!(matches!(
            parse_frame(&huge_term, 9),
            Err(FrameError::Malformed(_))
        ));
        for raw in ["", "{", "[]", r#"{"v":1,"app":"convoy","msg":{}}"#] {
            assert!(
                matches!(parse_frame(raw, 9), Err(FrameError::Malformed(_))),
                "{raw}"
            );
        }
    }

    #[test]
    fn follower_repairs_a_gap_in_order_and_drops_repeats() {
        let mut hub = follower();
        hub.handle_channel_message(10, &frame(LEADER, 3, TabMsg::Event(link(102, 101))));
        assert!(delivered(&drain(&mut hub)).is_empty(), "102 waits for 101");
        assert_eq!(hub.diagnostics().buffered, 1);
        // After the grace period the follower asks for what it misses.
        assert_eq!(hub.poll_timeout(), Some(60));
        hub.handle_timeout(60);
        let asked = sent(&drain(&mut hub));
        assert!(asked.contains(&TabMsg::Resend {
            after: 100,
            watch: Watch::All
        }));
        let replay = TabMsg::Replay {
            to: ME,
            links: vec![link(101, 100)],
        };
        hub.handle_channel_message(70, &frame(LEADER, 3, replay));
        assert_eq!(delivered(&drain(&mut hub)), [101, 102]);
        hub.handle_channel_message(80, &frame(LEADER, 3, TabMsg::Event(link(102, 101))));
        assert!(delivered(&drain(&mut hub)).is_empty());
        let d = hub.diagnostics();
        assert_eq!((d.cursor, d.duplicates, d.gaps, d.buffered), (102, 1, 1, 0));
    }

    #[test]
    fn follower_notices_a_lost_last_event_from_the_leader_cursor() {
        let mut hub = follower();
        let heartbeat = TabMsg::Heartbeat {
            union: Watch::All,
            cursor: Some(104),
            server: true,
            upstream: Connection::Live,
        };
        hub.handle_channel_message(10, &frame(LEADER, 3, heartbeat));
        hub.handle_timeout(60);
        assert!(sent(&drain(&mut hub))
            .iter()
            .any(|m| matches!(m, TabMsg::Resend { after: 100, .. })));
    }

    #[test]
    fn stream_without_our_trucks_makes_a_follower_ask_for_a_snapshot() {
        let mut hub = follower();
        let narrow = Link {
            union: set(&["T-01"]),
            ..link(101, 100)
        };
        hub.handle_channel_message(10, &frame(LEADER, 3, TabMsg::Event(narrow)));
        let outputs = drain(&mut hub);
        assert_eq!(delivered(&outputs), [101]);
        assert!(sent(&outputs).contains(&TabMsg::SnapshotRequest { watch: Watch::All }));
        assert!(hub.diagnostics().needs_snapshot);
    }

    #[test]
    fn leader_replays_from_its_ring_or_sends_a_snapshot_when_it_is_too_short() {
        let mut hub = leader(|c| c.ring_capacity = 4);
        for id in 101..=110 {
            hub.handle_upstream_event(400 + id, env(id, "T-01"));
        }
        let outputs = drain(&mut hub);
        assert_eq!(delivered(&outputs), (101..=110).collect::<Vec<_>>());
        let relayed: Vec<(EventId, EventId)> = sent(&outputs)
            .into_iter()
            .filter_map(|m| match m {
                TabMsg::Event(l) => Some((l.prev, l.event.id)),
                _ => None,
            })
            .collect();
        assert_eq!(relayed[0], (100, 101));
        assert_eq!(relayed[9], (109, 110));
        let resend = |after| TabMsg::Resend {
            after,
            watch: Watch::All,
        };
        hub.handle_channel_message(600, &frame(7, 1, resend(108)));
        let replayed: Vec<EventId> = sent(&drain(&mut hub))
            .into_iter()
            .flat_map(|m| match m {
                TabMsg::Replay { to: 7, links } => links.into_iter().map(|l| l.event.id).collect(),
                _ => vec![],
            })
            .collect();
        assert_eq!(replayed, [109, 110]);
        hub.handle_channel_message(610, &frame(7, 1, resend(101)));
        let answer = sent(&drain(&mut hub));
        assert!(
            answer.iter().any(|m| matches!(
                m,
                TabMsg::Snapshot { to: Some(7), snapshot, .. } if snapshot.last_event_id == 110
            )),
            "{answer:?}"
        );
        // Repeats from the server are dropped.
        hub.handle_upstream_event(620, env(110, "T-01"));
        assert!(delivered(&drain(&mut hub)).is_empty());
        assert_eq!(hub.diagnostics().duplicates, 1);
    }

    #[test]
    fn late_joiner_gets_the_cache_at_the_leader_position() {
        let mut hub = leader(|c| c.watch = set(&["T-01", "T-02"]));
        hub.handle_upstream_event(400, env(105, "T-02"));
        drain(&mut hub);
        let hello = TabMsg::Hello {
            watch: set(&["T-02"]),
            cursor: None,
        };
        hub.handle_channel_message(410, &frame(7, 0, hello));
        let answer = sent(&drain(&mut hub));
        assert!(matches!(answer[0], TabMsg::Leading { .. }), "{answer:?}");
        assert!(answer.iter().any(|m| matches!(
            m,
            TabMsg::Snapshot { to: Some(7), watch, snapshot, reset: false }
                if *watch == set(&["T-02"]) && snapshot.last_event_id == 105
        )));
    }

    #[test]
    fn watch_changes_are_coalesced_and_reopen_from_the_cursor() {
        let mut hub = leader(|c| c.watch = set(&["T-01"]));
        hub.handle_upstream_event(400, env(101, "T-01"));
        drain(&mut hub);
        let watch = |w| TabMsg::Watch {
            watch: w,
            cursor: Some(101),
        };
        hub.handle_channel_message(500, &frame(7, 1, watch(set(&["T-02"]))));
        hub.handle_channel_message(600, &frame(8, 1, watch(set(&["T-03"]))));
        assert_eq!(hub.poll_timeout(), Some(750));
        hub.handle_timeout(750);
        let opens: Vec<HubOutput> = drain(&mut hub)
            .into_iter()
            .filter(|o| matches!(o, HubOutput::OpenUpstream { .. }))
            .collect();
        assert_eq!(
            opens,
            [HubOutput::OpenUpstream {
                watch: set(&["T-01", "T-02", "T-03"]),
                last_event_id: Some(101),
            }]
        );
        // Leaving shrinks it again.
        hub.handle_channel_message(800, &frame(8, 1, TabMsg::Goodbye));
        hub.handle_timeout(1_050);
        assert!(drain(&mut hub).contains(&HubOutput::OpenUpstream {
            watch: set(&["T-01", "T-02"]),
            last_event_id: Some(101),
        }));
    }

    #[test]
    fn an_empty_union_opens_no_stream() {
        let mut hub = TabHub::new(
            HubConfig {
                watch: set(&[]),
                ..HubConfig::new(1, ElectionMode::Solo)
            },
            0,
        );
        assert!(drain(&mut hub).contains(&HubOutput::FetchSnapshot));
        hub.handle_snapshot(10, snap(100));
        let outputs = drain(&mut hub);
        assert!(!outputs
            .iter()
            .any(|o| matches!(o, HubOutput::OpenUpstream { .. })));
        hub.set_watch(20, set(&["T-04"]));
        hub.handle_timeout(270);
        assert!(drain(&mut hub).contains(&HubOutput::OpenUpstream {
            watch: set(&["T-04"]),
            last_event_id: Some(100),
        }));
    }

    #[test]
    fn solo_mode_fetches_delivers_and_streams_without_broadcasting() {
        let mut hub = TabHub::new(HubConfig::new(1, ElectionMode::Solo), 0);
        let outputs = drain(&mut hub);
        assert_eq!(
            outputs,
            [
                HubOutput::FetchSnapshot,
                HubOutput::RoleChanged(Role::Leader)
            ]
        );
        hub.handle_snapshot(10, snap(100));
        assert_eq!(
            drain(&mut hub),
            [
                HubOutput::DeliverSnapshot(snap(100)),
                HubOutput::OpenUpstream {
                    watch: Watch::All,
                    last_event_id: Some(100)
                }
            ]
        );
        hub.handle_upstream_open(20);
        hub.handle_upstream_event(30, env(101, "T-01"));
        assert_eq!(
            drain(&mut hub),
            [
                HubOutput::ConnectionChanged(Connection::Live),
                HubOutput::Deliver(env(101, "T-01"))
            ]
        );
    }

    #[test]
    fn upstream_errors_back_off_and_reopen_from_the_cursor() {
        let mut hub = leader(|_| {});
        hub.handle_upstream_event(400, env(101, "T-01"));
        drain(&mut hub);
        hub.handle_upstream_error(500);
        let outputs = drain(&mut hub);
        let d = hub.diagnostics();
        assert_eq!(d.upstream, UpstreamState::Backoff);
        let at = d.reconnect_at_ms.unwrap();
        assert!((500..=1_000).contains(&(at - 500)), "{at}");
        let reconnecting = Connection::Reconnecting { at_ms: at };
        assert_eq!(
            outputs[..2],
            [
                HubOutput::CloseUpstream,
                HubOutput::ConnectionChanged(reconnecting.clone())
            ]
        );
        assert!(sent(&outputs).iter().all(|m| matches!(
            m,
            TabMsg::Heartbeat { upstream, .. } if *upstream == reconnecting
        )));
        hub.handle_timeout(at);
        assert!(drain(&mut hub).contains(&HubOutput::OpenUpstream {
            watch: Watch::All,
            last_event_id: Some(101)
        }));
    }

    #[test]
    fn reconnect_delay_grows_with_jitter_from_the_tab_id() {
        let a = HubConfig::new(1, ElectionMode::Lease);
        let b = HubConfig::new(2, ElectionMode::Lease);
        let mut jittered = false;
        for attempt in 1..=12 {
            let full = (1_000u64 << (attempt - 1)).min(30_000);
            let d = reconnect_delay_ms(&a, attempt);
            assert!((full / 2..=full).contains(&d), "attempt {attempt}: {d}");
            assert_eq!(d, reconnect_delay_ms(&a, attempt), "deterministic");
            jittered |= d != reconnect_delay_ms(&b, attempt);
        }
        assert!(jittered, "tabs do not reconnect in step");
        assert!(reconnect_delay_ms(&a, u32::MAX) <= 30_000);
    }

    #[test]
    fn reset_gives_everyone_the_new_snapshot() {
        let mut hub = leader(|_| {});
        hub.handle_upstream_reset(400);
        let outputs = drain(&mut hub);
        assert_eq!(
            outputs[..3],
            [
                HubOutput::CloseUpstream,
                HubOutput::FetchSnapshot,
                HubOutput::ConnectionChanged(Connection::Connecting)
            ]
        );
        hub.handle_snapshot(450, snap(900));
        let outputs = drain(&mut hub);
        assert_eq!(outputs[0], HubOutput::DeliverSnapshot(snap(900)));
        assert!(sent(&outputs).contains(&TabMsg::Snapshot {
            to: None,
            watch: Watch::All,
            reset: true,
            snapshot: snap(900)
        }));
        assert!(outputs.contains(&HubOutput::OpenUpstream {
            watch: Watch::All,
            last_event_id: Some(900)
        }));
        // A follower takes it whatever its cursor.
        let mut f = follower();
        let reset = TabMsg::Snapshot {
            to: None,
            watch: Watch::All,
            reset: true,
            snapshot: snap(900),
        };
        f.handle_channel_message(10, &frame(LEADER, 3, reset));
        assert!(drain(&mut f).contains(&HubOutput::DeliverSnapshot(snap(900))));
        assert_eq!(f.diagnostics().cursor, 900);
    }

    #[test]
    fn page_hide_hands_over_and_page_show_rejoins() {
        let mut hub = TabHub::new(HubConfig::new(1, ElectionMode::Locks), 0);
        assert_eq!(sent(&drain(&mut hub)).len(), 1, "hello");
        hub.handle_lock_granted(5);
        hub.handle_snapshot(10, snap(100));
        drain(&mut hub);
        hub.handle_page_hide(20);
        let outputs = drain(&mut hub);
        assert_eq!(
            outputs[..2],
            [HubOutput::ReleaseLock, HubOutput::CloseUpstream]
        );
        assert_eq!(sent(&outputs), [TabMsg::Goodbye]);
        assert_eq!(
            outputs.last(),
            Some(&HubOutput::RoleChanged(Role::Electing))
        );
        assert_eq!(hub.poll_timeout(), None);
        hub.handle_lock_granted(30);
        assert_eq!(drain(&mut hub), [HubOutput::ReleaseLock]);
        hub.handle_page_show(40);
        let outputs = drain(&mut hub);
        assert_eq!(
            sent(&outputs),
            [TabMsg::Hello {
                watch: Watch::All,
                cursor: Some(100)
            }]
        );
        assert!(outputs.contains(&HubOutput::RequestLock { steal: false }));
    }

    #[test]
    fn stale_leader_frames_are_ignored_and_answered() {
        let mut hub = leader(|_| {});
        drain(&mut hub);
        hub.handle_channel_message(400, &frame(99, 0, TabMsg::Event(link(150, 149))));
        let outputs = drain(&mut hub);
        assert!(delivered(&outputs).is_empty());
        assert!(matches!(sent(&outputs)[..], [TabMsg::Leading { .. }]));
        assert_eq!(hub.diagnostics().role, Role::Leader);
        assert_eq!(hub.diagnostics().stale_frames, 1);
    }

    fn connection_changes(outputs: &[HubOutput]) -> Vec<Connection> {
        outputs
            .iter()
            .filter_map(|o| match o {
                HubOutput::ConnectionChanged(c) => Some(c.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn answers_to_one_tab_are_addressed_and_the_rest_go_to_all() {
        let mut hub = leader(|c| c.ring_capacity = 4);
        for id in 101..=110 {
            hub.handle_upstream_event(400 + id, env(id, "T-01"));
        }
        let outputs = drain(&mut hub);
        assert!(outputs
            .iter()
            .filter(|o| matches!(o, HubOutput::Send { .. }))
            .all(|o| matches!(o, HubOutput::Send { to: None, .. })));
        let resend = |after| TabMsg::Resend {
            after,
            watch: Watch::All,
        };
        hub.handle_channel_message(600, &frame(7, 1, resend(108)));
        let replay: Vec<Option<TabId>> = drain(&mut hub)
            .iter()
            .filter_map(|o| match o {
                HubOutput::Send { to, frame } if frame.contains("\"replay\"") => Some(*to),
                _ => None,
            })
            .collect();
        assert_eq!(replay, [Some(7)]);
        hub.handle_channel_message(610, &frame(8, 1, resend(101)));
        let snapshot: Vec<Option<TabId>> = drain(&mut hub)
            .iter()
            .filter_map(|o| match o {
                HubOutput::Send { to, frame } if frame.contains("\"snapshot\"") => Some(*to),
                _ => None,
            })
            .collect();
        assert_eq!(snapshot, [Some(8)]);
        // A reset snapshot is for everyone.
        hub.handle_upstream_reset(700);
        drain(&mut hub);
        hub.handle_snapshot(750, snap(900));
        assert!(drain(&mut hub).iter().any(|o| matches!(
            o,
            HubOutput::Send { to: None, frame } if frame.contains("\"reset\":true")
        )));
    }

    #[test]
    fn channel_messages_return_their_sender_when_they_parse() {
        let mut hub = follower();
        let watch = TabMsg::Watch {
            watch: Watch::All,
            cursor: Some(100),
        };
        assert_eq!(
            hub.handle_channel_message(10, &frame(7, 3, watch.clone())),
            Some(7)
        );
        assert_eq!(hub.handle_channel_message(11, "{"), None);
        let other_app = frame(7, 3, watch.clone()).replace("convoy", "other");
        assert_eq!(hub.handle_channel_message(12, &other_app), None);
        assert_eq!(hub.handle_channel_message(13, &frame(ME, 3, watch)), None);
        hub.handle_page_hide(20);
        assert_eq!(
            hub.handle_channel_message(30, &frame(7, 3, TabMsg::Goodbye)),
            None,
            "a hidden hub does not take part"
        );
    }

    #[test]
    fn peers_are_gone_on_goodbye_and_on_expiry() {
        let mut hub = leader(|c| c.peer_expiry_ms = 5_000);
        let hello = |w| TabMsg::Hello {
            watch: w,
            cursor: Some(100),
        };
        hub.handle_channel_message(400, &frame(7, 1, hello(set(&["T-01"]))));
        hub.handle_channel_message(400, &frame(8, 1, hello(set(&["T-02"]))));
        drain(&mut hub);
        hub.handle_channel_message(500, &frame(7, 1, TabMsg::Goodbye));
        assert!(drain(&mut hub).contains(&HubOutput::PeerGone(7)));
        assert_eq!(hub.diagnostics().peers, 1);
        hub.handle_timeout(5_399);
        assert!(!drain(&mut hub).contains(&HubOutput::PeerGone(8)));
        hub.handle_timeout(5_400);
        let outputs = drain(&mut hub);
        assert_eq!(
            outputs
                .iter()
                .filter(|o| matches!(o, HubOutput::PeerGone(_)))
                .collect::<Vec<_>>(),
            [&HubOutput::PeerGone(8)]
        );
        assert_eq!(hub.diagnostics().peers, 0);
    }

    #[test]
    fn follower_shows_what_its_leader_reports() {
        let mut hub = follower();
        assert_eq!(hub.connection(), &Connection::Live);
        let heartbeat = |upstream| TabMsg::Heartbeat {
            union: Watch::All,
            cursor: Some(100),
            server: false,
            upstream,
        };
        let reconnecting = Connection::Reconnecting { at_ms: 4_000 };
        hub.handle_channel_message(10, &frame(LEADER, 3, heartbeat(reconnecting.clone())));
        assert_eq!(
            connection_changes(&drain(&mut hub)),
            std::slice::from_ref(&reconnecting)
        );
        assert_eq!(hub.diagnostics().connection, reconnecting);
        // Another tab's frames do not move it.
        hub.handle_channel_message(20, &frame(99, 1, heartbeat(Connection::Live)));
        assert_eq!(hub.connection(), &reconnecting);
        hub.handle_channel_message(30, &frame(LEADER, 3, heartbeat(Connection::Live)));
        assert_eq!(connection_changes(&drain(&mut hub)), [Connection::Live]);
        // A v1 leader frame without the field reads as live, as followers always showed.
        let old = r#"{"v":1,"app":"convoy","from":10,"term":3,"msg":{"type":"heartbeat","union":{"kind":"all"},"cursor":100,"server":true}}"#;
        assert_eq!(hub.handle_channel_message(40, old), Some(LEADER));
        assert_eq!(hub.diagnostics().malformed, 0);
        assert_eq!(hub.connection(), &Connection::Live);
    }

    #[test]
    fn a_leader_in_backoff_that_stops_leading_stops_showing_reconnecting() {
        // Lease: a leader of a higher term takes over.
        let mut hub = leader(|_| {});
        hub.handle_upstream_error(500);
        assert!(matches!(hub.connection(), Connection::Reconnecting { .. }));
        drain(&mut hub);
        let leading = TabMsg::Leading {
            union: Watch::All,
            cursor: Some(100),
            upstream: Connection::Live,
        };
        hub.handle_channel_message(600, &frame(2, 9, leading));
        assert_eq!(hub.diagnostics().role, Role::Follower);
        assert_eq!(connection_changes(&drain(&mut hub)), [Connection::Live]);

        // Locks: the lock is stolen, no new leader heard yet.
        let mut hub = TabHub::new(HubConfig::new(1, ElectionMode::Locks), 0);
        hub.handle_lock_granted(5);
        hub.handle_snapshot(10, snap(100));
        hub.handle_upstream_open(20);
        hub.handle_upstream_error(30);
        assert!(matches!(hub.connection(), Connection::Reconnecting { .. }));
        drain(&mut hub);
        hub.handle_lock_lost(40);
        let outputs = drain(&mut hub);
        assert_ne!(hub.diagnostics().role, Role::Leader);
        assert_eq!(connection_changes(&outputs), [Connection::Connecting]);
        assert!(
            sent(&outputs).is_empty(),
            "no status heartbeat from a tab that no longer leads"
        );
    }

    #[test]
    fn failed_snapshot_fetches_show_an_error_until_one_arrives() {
        let mut hub = TabHub::new(HubConfig::new(1, ElectionMode::Solo), 0);
        drain(&mut hub);
        hub.handle_snapshot_failed(10, "HTTP 503".into());
        let error = Connection::Error {
            reason: "HTTP 503".into(),
        };
        assert_eq!(
            connection_changes(&drain(&mut hub)),
            std::slice::from_ref(&error)
        );
        // Retried as before.
        hub.handle_timeout(1_999);
        assert!(!drain(&mut hub).contains(&HubOutput::FetchSnapshot));
        hub.handle_timeout(2_000);
        assert!(drain(&mut hub).contains(&HubOutput::FetchSnapshot));
        assert_eq!(hub.connection(), &error);
        hub.handle_snapshot(2_050, snap(100));
        assert_eq!(
            connection_changes(&drain(&mut hub)),
            [Connection::Connecting]
        );
        hub.handle_upstream_open(2_100);
        assert_eq!(connection_changes(&drain(&mut hub)), [Connection::Live]);
        // A follower ignores it: it fetches nothing.
        let mut f = follower();
        f.handle_snapshot_failed(10, "HTTP 503".into());
        assert_eq!(f.connection(), &Connection::Live);
    }

    #[test]
    fn a_leader_sends_its_status_change_at_once() {
        let mut hub = leader(|_| {});
        hub.handle_upstream_error(500);
        let at = hub.diagnostics().reconnect_at_ms.unwrap();
        let heartbeats: Vec<Connection> = sent(&drain(&mut hub))
            .into_iter()
            .filter_map(|m| match m {
                TabMsg::Heartbeat { upstream, .. } => Some(upstream),
                _ => None,
            })
            .collect();
        assert_eq!(heartbeats, [Connection::Reconnecting { at_ms: at }]);
        // Unchanged status: no extra frames.
        hub.handle_timeout(510);
        assert!(sent(&drain(&mut hub)).is_empty());
    }

    #[test]
    fn transport_failure_shows_an_error_until_frames_arrive() {
        let mut hub = TabHub::new(HubConfig::new(ME, ElectionMode::Client), 0);
        drain(&mut hub);
        hub.handle_transport_failed(10, "the worker did not start".into());
        let error = Connection::Error {
            reason: "the worker did not start".into(),
        };
        assert_eq!(
            connection_changes(&drain(&mut hub)),
            std::slice::from_ref(&error)
        );
        hub.handle_channel_message(20, "{");
        assert_eq!(hub.connection(), &error, "garbage proves nothing");
        let leading = TabMsg::Leading {
            union: Watch::All,
            cursor: Some(100),
            upstream: Connection::Reconnecting { at_ms: 900 },
        };
        hub.handle_channel_message(30, &frame(LEADER, 1, leading));
        assert_eq!(hub.connection(), &Connection::Reconnecting { at_ms: 900 });
    }

    #[test]
    fn failover_bounds_follow_the_knobs() {
        let c = HubConfig::new(1, ElectionMode::Lease);
        assert_eq!(c.failover_bound_ms(Departure::CleanClose), 250);
        assert_eq!(c.failover_bound_ms(Departure::Crash), 3_325);
        let l = HubConfig::new(1, ElectionMode::Locks);
        assert_eq!(l.failover_bound_ms(Departure::Crash), 250);
        assert_eq!(l.failover_bound_ms(Departure::Freeze), 3_325);
    }
}
