//! Relaying one upstream SSE stream to every tab of a browser with a shared cursor (sans-IO).
//!
//! Each tab runs a [`TabHub`]. One tab leads (see `core::election`): it owns the only upstream
//! stream and relays every event over a BroadcastChannel; the others follow. Inputs are method
//! calls with the current time (`now_ms`), outputs are drained with [`TabHub::poll_output`], and
//! [`TabHub::poll_timeout`] says when to call [`TabHub::handle_timeout`]. No async, no clock, no
//! randomness, no JS types: the browser crate's hub loop and the host simulations
//! (`tests/relay_sim.rs`, `tests/worker_hub.rs`) drive the same code.
//!
//! The files follow the jobs: `protocol` (the frames), `config` (settings, failover bounds,
//! backoff), `intake` (what every tab does with what its leader relays: cursor, buffer, ring, gap
//! repair, snapshots), `leadership` (what only the leader keeps: the upstream session, the cache,
//! pending snapshots, resend answers, its deadlines), `peers` (who watches what) and
//! `diagnostics`. This file holds the hub: its inputs and outputs, and the dispatch that
//! hands each input to the leader's part when this tab leads.
//!
//! # The cursor
//! Every tab keeps a cursor: the highest event id its state reflects (delivered, filtered out,
//! or covered by a snapshot). A new leader opens the upstream with `last_event_id = cursor`, so
//! the server replays what was emitted during the handover; every tab drops ids at or below its
//! cursor (counted as duplicates suppressed). [`HubOutput::Deliver`] is therefore exactly once
//! and in id order per tab, and [`HubOutput::DeliverSnapshot`] only moves a tab forward, except
//! to repair a cursor no live leader can reach (see "Hostile frames").
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
//! follower, so it can repair what its predecessor relayed. Events the stream delivered together
//! (a server batch) travel as one `Events` message: consecutive links that share a `union`,
//! the first after `prev`, each later one after the event before it.
//!
//! Every frame says whether its sender's page is hidden (`hidden`, left out when shown). While
//! every other tab is hidden, a leader that has led for `relay_catch_up_ms` holds what it
//! relays for up to `relay_hold_ms` and sends it as one message (hidden tabs render nothing,
//! and their main thread pays per message); any other leader frame sends what is held first,
//! so frames keep their order, and a tab that shows its page gets what is held at once.
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
//! A hub may start with a cursor ([`HubConfig::cursor`]: a tab falling back from one transport
//! to another keeps the state its app has). It joins like a tab that has state: its `hello`
//! carries the cursor, it asks for no snapshot (unless a stream that skips its trucks or a grown
//! watch needs one, as for any tab), a leader ahead of it repairs the difference with a replay
//! or a snapshot, and if it leads it opens the stream from that cursor.
//!
//! # Reset, errors, lifecycle
//! - `handle_upstream_reset` (the server's history is gone): close, fetch a snapshot, deliver it,
//!   broadcast it to all as `Snapshot { reset: true }` and reopen from its id.
//! - `handle_upstream_error`: close and reopen from the cursor after an exponential backoff with
//!   jitter derived from the tab id ([`reconnect_delay_ms`]); `reconnect_at_ms` is in the
//!   diagnostics. A stream silent for `upstream_stall_ms` counts as failed.
//! - `handle_upstream_gap` (a line the decoder dropped, a batch that did not decode): events
//!   were lost, never silently. Reopen at once from the cursor, so the server replays them; if
//!   the same hole comes back before anything was taken, fetch a snapshot and give it to every
//!   tab as after a reset (then reopen from its id), so a line that can never be read costs one
//!   snapshot, not a loop.
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
//! `{"v":1,"app":"convoy","from":<tab id>,"term":<highest term known>,"hidden":true,"msg":{"type":...}}`
//! (`hidden` only from a hidden page)
//! whose `msg` is a [`TabMsg`] tagged by `type`. Tab ids and event ids are JSON integers below
//! 2^53. A frame that does not parse, or whose content is inconsistent, is dropped and counted
//! as malformed; one from another app or protocol version (or carrying this tab's own id) is
//! dropped and counted as foreign. Nothing a tab receives can make it panic.
//!
//! ## Hostile frames
//! Any script of the origin can post on the channel, so nothing a frame says is trusted beyond
//! what a live tab could have sent. Each rule below has a test in `relay::tests` and the whole
//! attack (recorded frames posted back with each number pushed to 2^53-1, 2^53, 1e300, -1 and
//! 0, plus garbage) runs in `tests/relay_sim.rs` and, in Chromium, `tests/e2e/hostile_frames.rs`.
//! - **Size and shape** ([`parse_frame`]): a message over [`MAX_FRAME_BYTES`] is dropped before
//!   parsing; tab ids, terms, event ids and cursors are below 2^53; a link spans at most
//!   [`MAX_LINK_SPAN`] ids (a forged `id` cannot push a follower's cursor past every real
//!   event); replays chain; truck ids pass `wire::is_valid_truck_id` (and stream URLs are
//!   built with `Watch::to_url_query`), watches name at most [`MAX_WATCH_TRUCKS`] trucks.
//! - **Terms** (`core::election`, "Hostile frames"): a tab that has a term refuses frames more
//!   than `MAX_TERM_STEP` above it (counted as `implausible`); a lock holder is not unseated by
//!   a same-term rival; and a same-term rival leader whose frame shows a position behind this
//!   tab's cursor (a copy of an old frame under another id) is stale, not a rival: two live
//!   leaders of a term stream the same events, so the lower id still wins once it is caught up.
//! - **Cursors**: a follower takes its leader's latest reported cursor (a forged one lasts until
//!   the next heartbeat) and ignores one no stream could reach; it installs a snapshot only
//!   when it asked for one (a reset only when it is not older than its cursor); and a follower
//!   whose live leader stays behind it for `liveness_ms` asks for the leader's snapshot and
//!   takes it even though it moves the cursor back, instead of dropping every event as a repeat.
//! - **Scope** ([`HubConfig::scope`], the operator's trucks from the session): a follower drops
//!   a relayed event about a truck outside it, and a snapshot naming one, counted as
//!   `out_of_scope` (no tab of the session streams one); and the leader's stream stays within
//!   it, so a forged watch cannot make it name a truck the server refuses (403), which would
//!   stop the stream for every tab. A frame can still show forged data about the operator's own
//!   trucks: same-origin script is trusted, as in any web app (see the README).
//! - **Work a frame can cause**: the peer table holds at most [`MAX_PEERS`] tabs and a leader
//!   answers only tabs in it; each tab gets at most one snapshot per `snapshot_retry_ms / 2` and
//!   one replay per `resend_retry_ms / 2` (held-back resends are coalesced into one answer with
//!   the highest `after`), so a flood of `resend { after: 0 }` gets one snapshot a second.
//!
//! What stays possible: a script of the origin can still cost one election with a forged
//! higher term within the bound (after which recorded copies are stale), can keep a tab that
//! joins during the attack from the table when it is full, and can of course call the app's own
//! code; the goal is that live tabs keep delivering and nothing is lost or repeated.
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
//! - Lease mode crash, and a frozen (hung) leader in either mode, while the leader relays
//!   server heartbeats (its upstream is live; streams Convoy opens ask for one every 500 ms):
//!   [`HubConfig::takeover_bound_ms`]`(slack)` = `takeover_ms + slack + HANDOVER_MARGIN_MS`,
//!   900 ms with visible followers (slack 0) and 1 900 ms with hidden ones (slack 1 000: their
//!   timers fire once a second). The successor (the lowest live id but the leader's) arms one
//!   deadline `takeover_ms` after the leader's last frame and takes over when it fires, without
//!   a claim round (Locks: steal; see `core::election`, "Taking over on the server's clock").
//!   In Lease mode the successor also leads at once on its leader's goodbye.
//! - Otherwise (a silent server, a leader in backoff, a successor that is deep hidden or gone):
//!   `liveness_ms + claim_window_ms * 3 / 2 + HANDOVER_MARGIN_MS` = 3 325 ms: silence, the claim
//!   round, the nudge that wakes a winner whose timers are throttled (half a window), and the
//!   margin (Locks adds the steal, inside the margin).
//!
//! The margin allows two channel hops of up to 25 ms and a lock grant of up to 50 ms. Measured
//! in `tests/relay_sim.rs` (5 ms resolution, hops of 1–5 ms): Locks close or crash 5–10 ms,
//! Lease close 160 ms, crash or freeze by claim rounds 3 110–3 190 ms; on the server's clock
//! `hidden_followers_replace_a_hung_or_crashed_leader_on_the_servers_clock` (twelve tabs, eleven
//! hidden) asserts hang and Lease crash below 1 900 ms.
//!
//! The claim-round bounds assume at least one follower's timers run on time (a visible tab, or
//! any tab once a message arrives: every input runs the deadlines that are due, and a losing
//! claimant re-sends its claim to wake a throttled winner). When every tab is hidden, a crash
//! is noticed only when a timer fires: up to a second later, or a minute after five minutes
//! hidden. The browser's real stall (fault to fresh data in every tab, 1 visible + 11 hidden
//! tabs) is measured by `cargo xtask bench tabs` (`CONVOY_BENCH_ONLY=failover`).
#![warn(missing_docs)]

mod config;
mod diagnostics;
mod intake;
mod leadership;
mod peers;
mod protocol;
#[cfg(test)]
mod tests;

pub use crate::election::TabId;
pub use config::{
    reconnect_delay_ms, Departure, HubConfig, HANDOVER_MARGIN_MS, LOCK_HANDOVER_BOUND_MS,
};
pub use diagnostics::HubDiagnostics;
pub use leadership::UpstreamState;
pub use peers::MAX_PEERS;
pub use protocol::{
    parse_frame, FrameError, Link, TabFrame, TabMsg, APP_NAME, MAX_FRAME_BYTES, MAX_LINK_SPAN,
    MAX_REPLAY_LINKS, MAX_SAFE_INTEGER, MAX_WATCH_TRUCKS, PROTOCOL_VERSION,
};

use crate::election::{Election, ElectionAction, ElectionMode, ElectionTiming, Role, Term};
use crate::wire::{Envelope, EventId, FleetSnapshot, Watch};
use diagnostics::Stats;
use intake::Ring;
use leadership::{Lead, STALE_ANSWER_INTERVAL_MS};
use peers::Peers;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

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
    /// GET the fleet snapshot and call `handle_snapshot` with it (`handle_snapshot_failed` when
    /// that fails).
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
/// followers and worker clients show what their leader reports in its frames. Read in one pass
/// (see `wire::required`), the same JSON as serde's internally tagged form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Connection {
    /// Opening the stream, waiting for the first snapshot, or no leader known yet.
    Connecting,
    /// The stream is open (for an empty union, one that carries heartbeats only).
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

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum ConnectionState {
    Connecting,
    Live,
    Reconnecting,
    Error,
}

#[derive(Deserialize)]
struct FlatConnection {
    state: ConnectionState,
    at_ms: Option<u64>,
    reason: Option<String>,
}

impl<'de> Deserialize<'de> for Connection {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let f = FlatConnection::deserialize(deserializer)?;
        Ok(match f.state {
            ConnectionState::Connecting => Connection::Connecting,
            ConnectionState::Live => Connection::Live,
            ConnectionState::Reconnecting => Connection::Reconnecting {
                at_ms: crate::wire::required(f.at_ms, "at_ms")?,
            },
            ConnectionState::Error => Connection::Error {
                reason: crate::wire::required(f.reason, "reason")?,
            },
        })
    }
}

impl Connection {
    /// What a v1 leader frame without `upstream` means: its followers used to show `Live`.
    fn unreported() -> Connection {
        Connection::Live
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

/// What every tab keeps, leading or not: the hub without its [`Lead`]. Its follower side
/// (`intake.rs`) and the plumbing below work on it alone; leadership code gets it beside the
/// `Lead`.
#[derive(Debug, Clone)]
struct Tab {
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
    /// The tabs the current leader said its stream serves (`None` before it said).
    leader_sharing: Option<usize>,
    watch: Watch,
    cursor: Option<EventId>,
    ring: Ring,
    /// Links that arrived before the one they follow, by id.
    buffer: BTreeMap<EventId, Link>,
    gap_since_ms: Option<u64>,
    last_resend_ms: Option<u64>,
    /// The cursor the current leader announced last.
    leader_cursor: Option<EventId>,
    /// The leader that last relayed a server heartbeat, and when.
    leader_clock: Option<(TabId, u64)>,
    /// Since when the leader, live and streaming, has reported a cursor below ours (nothing
    /// it relays is new to us): after `liveness_ms` we take its snapshot instead.
    behind_since_ms: Option<u64>,
    /// We asked for the leader's snapshot because it stayed behind us: take it even though it
    /// moves the cursor back.
    rebase: bool,
    need_snapshot: bool,
    last_snapshot_request_ms: Option<u64>,
    last_announce_ms: u64,
    peers: Peers,
    /// This tab's page is hidden: every frame says so, and the leader may hold relayed events.
    hidden: bool,
    /// Worker mode: the cursor taken from a client because this worker had none, while nothing
    /// has been accepted since (a lower one reported meanwhile replaces it).
    adopted: Option<EventId>,
    stats: Stats,
}

/// One tab's relay: election, cursor, gap repair, merged subscription and (as leader) the
/// upstream and the last-value cache. See the module docs.
#[derive(Debug, Clone)]
pub struct TabHub {
    tab: Tab,
    /// `Some` exactly while the election says this tab leads (`BecomeLeader` and
    /// `StopLeading` keep them in step, and every election input is followed by
    /// `after_election`): each input is handed to it once, instead of every leader step asking.
    lead: Option<Lead>,
}

impl TabHub {
    /// A hub that joins at once: queues a `hello` frame and, in Locks mode,
    /// `RequestLock { steal: false }` (Solo mode leads at once and never sends frames). With
    /// `config.cursor` it starts from that cursor, like a tab that already has state.
    pub fn new(config: HubConfig, now_ms: u64) -> Self {
        let election = Election::new(
            config.tab_id,
            config.election,
            ElectionTiming {
                liveness_ms: config.liveness_ms,
                claim_window_ms: config.claim_window_ms,
            },
        );
        let mut ring = Ring::new(config.ring_capacity);
        ring.reset(config.cursor.unwrap_or(0));
        let hidden = config.hidden;
        let mut hub = TabHub {
            tab: Tab {
                watch: config.watch.within(&config.scope),
                cursor: config.cursor,
                need_snapshot: config.cursor.is_none(),
                ring,
                config,
                election,
                phase: Phase::Active,
                outputs: VecDeque::new(),
                reported_role: Role::Electing,
                connection: Connection::Connecting,
                transport_error: None,
                leader_connection: None,
                leader_sharing: None,
                buffer: BTreeMap::new(),
                gap_since_ms: None,
                last_resend_ms: None,
                leader_cursor: None,
                leader_clock: None,
                behind_since_ms: None,
                rebase: false,
                last_snapshot_request_ms: None,
                last_announce_ms: now_ms,
                peers: Peers::default(),
                hidden,
                adopted: None,
                stats: Stats::default(),
            },
            lead: None,
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
            match parse_frame(raw, hub.tab.config.tab_id) {
                Ok(frame) => {
                    let from = frame.from;
                    // Frames arrive: the transport works.
                    hub.tab.transport_error = None;
                    hub.on_frame(now_ms, frame);
                    Some(from)
                }
                Err(FrameError::Malformed(_)) => {
                    hub.tab.stats.malformed += 1;
                    None
                }
                Err(FrameError::Foreign(_)) => {
                    hub.tab.stats.foreign += 1;
                    None
                }
            }
        })
        .flatten()
    }

    /// Locks mode: this tab now holds the leader lock and leads.
    pub fn handle_lock_granted(&mut self, now_ms: u64) {
        if self.tab.phase == Phase::Active {
            self.run_due(now_ms);
        }
        self.tab.election.handle_lock_granted(now_ms);
        // The lock manager answered: the transport works.
        self.tab.transport_error = None;
        self.after_election(now_ms);
        self.after_input(now_ms);
    }

    /// Locks mode: the lock was stolen or the request aborted: stop leading at once.
    pub fn handle_lock_lost(&mut self, now_ms: u64) {
        self.tab.election.handle_lock_lost(now_ms);
        self.after_election(now_ms);
        self.after_input(now_ms);
    }

    /// The answer to `FetchSnapshot`. Ignored unless leading.
    pub fn handle_snapshot(&mut self, now_ms: u64, snapshot: FleetSnapshot) {
        self.leader_input(now_ms, |lead, tab| {
            lead.on_fetched_snapshot(tab, now_ms, snapshot)
        });
    }

    /// A `FetchSnapshot` failed (server unreachable, bad status, undecodable): the connection
    /// shows `Error { reason }` until a snapshot arrives or the stream delivers. The fetch is
    /// retried after `snapshot_retry_ms` as always. Ignored unless leading.
    pub fn handle_snapshot_failed(&mut self, now_ms: u64, reason: String) {
        self.leader_input(now_ms, |lead, _| lead.on_snapshot_failed(reason));
    }

    /// The adapter could not set up its transport (no BroadcastChannel, the worker did not
    /// start, a lock request failed): the connection shows `Error { reason }` until a frame
    /// parses or the lock is granted.
    pub fn handle_transport_failed(&mut self, now_ms: u64, reason: String) {
        self.active_input(now_ms, |hub, _| {
            hub.tab.transport_error = Some(reason);
        });
    }

    /// The upstream stream opened. Ignored unless leading with a stream being opened.
    pub fn handle_upstream_open(&mut self, now_ms: u64) {
        self.leader_input(now_ms, |lead, _| lead.on_upstream_open(now_ms));
    }

    /// An event from the upstream: relayed to every tab and delivered here if watched.
    /// Ignored unless leading.
    pub fn handle_upstream_event(&mut self, now_ms: u64, envelope: Envelope) {
        self.handle_upstream_events(now_ms, vec![envelope]);
    }

    /// Events the upstream delivered together (a server batch), in id order: taken like one
    /// event each, and relayed to the other tabs in one message. Ignored unless leading.
    pub fn handle_upstream_events(&mut self, now_ms: u64, envelopes: Vec<Envelope>) {
        self.leader_input(now_ms, |lead, tab| {
            lead.on_upstream_events(tab, now_ms, envelopes)
        });
    }

    /// A server heartbeat: relayed at once (a network event, so it keeps followers' leases
    /// alive even when this tab's timers are throttled).
    pub fn handle_upstream_heartbeat(&mut self, now_ms: u64) {
        self.leader_input(now_ms, |lead, tab| lead.on_upstream_heartbeat(tab, now_ms));
    }

    /// The server said the history asked for is gone: close the stream, fetch a snapshot and
    /// give it to every tab (then reopen from its id).
    pub fn handle_upstream_reset(&mut self, now_ms: u64) {
        self.leader_input(now_ms, |lead, tab| lead.on_upstream_reset(tab, now_ms));
    }

    /// The upstream stream failed: close it and reopen from the cursor after a backoff.
    pub fn handle_upstream_error(&mut self, now_ms: u64) {
        self.leader_input(now_ms, |lead, tab| lead.on_upstream_error(tab, now_ms));
    }

    /// The upstream lost events in transit: its decoder dropped a line (`sse::SseOutput::Dropped`)
    /// or an event did not decode (see `upstream::read_event`). Call it in the gap's place: after
    /// the events before it, and take no more events from that stream. The stream is replaced
    /// at once by one that resumes from the cursor; if that brings the same hole back (a gap
    /// again before any event was taken), a snapshot covers it, given to every tab as after a
    /// reset. Ignored unless leading with a stream open or opening.
    pub fn handle_upstream_gap(&mut self, now_ms: u64) {
        self.leader_input(now_ms, |lead, tab| lead.on_upstream_gap(tab, now_ms));
    }

    /// This tab's views now show `watch` (kept within [`HubConfig::scope`]). A watch with new
    /// trucks asks the leader for a snapshot of them; every change is announced so the leader's
    /// union follows.
    pub fn set_watch(&mut self, now_ms: u64, watch: Watch) {
        let watch = watch.within(&self.tab.config.scope);
        if watch == self.tab.watch {
            return;
        }
        let grew = !self.tab.watch.covers(&watch);
        self.tab.watch = watch;
        if self.tab.phase != Phase::Active {
            // Announced on `handle_page_show`.
            self.tab.need_snapshot |= grew;
            return;
        }
        self.run_due(now_ms);
        if grew {
            self.tab.need_snapshot = true;
        }
        let tab = &mut self.tab;
        match &mut self.lead {
            Some(lead) => {
                tab.announce_watch(now_ms);
                lead.union_changed(tab, now_ms);
                lead.ensure_cache(tab, now_ms);
                lead.serve_pending(tab, now_ms);
            }
            None if grew => tab.request_snapshot(now_ms),
            None => tab.announce_watch(now_ms),
        }
        self.after_input(now_ms);
    }

    /// This tab's page was hidden or shown: the other tabs hear it at once (a watch
    /// announcement carries it), so a leader relays at once to a tab that shows its page.
    pub fn set_hidden(&mut self, now_ms: u64, hidden: bool) {
        if hidden == self.tab.hidden {
            return;
        }
        self.tab.hidden = hidden;
        if self.tab.phase != Phase::Active || self.tab.config.election == ElectionMode::Solo {
            return;
        }
        self.run_due(now_ms);
        if self.lead.is_none() {
            self.tab.announce_watch(now_ms);
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
        if self.tab.phase != Phase::Hidden {
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
        self.active_input(now_ms, |hub, now_ms| {
            // Only a timer can say the leader is silent: a frame would have been proof of life.
            if hub.tab.election.handle_takeover(now_ms) {
                hub.after_election(now_ms);
            }
        });
    }

    /// The absolute time (ms) of the next deadline, or `None` when nothing is scheduled.
    pub fn poll_timeout(&self) -> Option<u64> {
        let tab = &self.tab;
        if tab.phase != Phase::Active {
            return None;
        }
        let mut next: Option<u64> = tab.election.poll_timeout();
        let mut at = |t: u64| next = Some(next.map_or(t, |n| n.min(t)));
        if tab.config.election != ElectionMode::Solo {
            if tab.config.election != ElectionMode::Worker {
                at(tab.last_announce_ms + tab.config.watch_refresh_ms);
            }
            if let Some(oldest) = tab.peers.oldest_seen_ms() {
                at(oldest + tab.config.peer_expiry_ms);
            }
        }
        match &self.lead {
            Some(lead) => lead.deadlines(&tab.config, &mut at),
            None if tab.config.election != ElectionMode::Solo => tab.intake_deadlines(&mut at),
            None => {}
        }
        next
    }

    /// The next output to carry out, in order.
    pub fn poll_output(&mut self) -> Option<HubOutput> {
        self.tab.outputs.pop_front()
    }

    /// The upstream as this tab should show it: a leader's (or worker's, or Solo tab's) own
    /// stream; for followers and worker clients, what their leader reported last
    /// (`Connecting` until it has); `Error` after a transport failure. Every change is also
    /// emitted as [`HubOutput::ConnectionChanged`].
    pub fn connection(&self) -> &Connection {
        &self.tab.connection
    }

    /// This hub leads now (holds, or is opening, the one upstream stream).
    pub fn leads(&self) -> bool {
        self.lead.is_some()
    }

    /// The highest event id this tab's state reflects (`None` before its first snapshot): an
    /// upstream event was taken when the cursor is its id afterwards.
    pub fn cursor(&self) -> Option<EventId> {
        self.tab.cursor
    }

    /// A snapshot of this tab's state and counters.
    pub fn diagnostics(&self) -> HubDiagnostics {
        HubDiagnostics::of(&self.tab, self.lead.as_ref())
    }

    // ----- joining and leaving -----

    fn join(&mut self, now_ms: u64) {
        let tab = &mut self.tab;
        tab.phase = Phase::Active;
        tab.need_snapshot |= tab.cursor.is_none();
        tab.buffer.clear();
        tab.gap_since_ms = None;
        tab.last_resend_ms = None;
        tab.leader_cursor = None;
        tab.behind_since_ms = None;
        tab.peers.clear();
        tab.broadcast(TabMsg::Hello {
            watch: tab.watch.clone(),
            cursor: tab.cursor,
        });
        tab.last_announce_ms = now_ms;
        if tab.need_snapshot && tab.cursor.is_none() {
            // The hello asks for the snapshot.
            tab.last_snapshot_request_ms = Some(now_ms);
        } else {
            tab.last_snapshot_request_ms = None;
        }
        tab.election.start(now_ms);
        self.after_election(now_ms);
    }

    fn leave(&mut self, now_ms: u64, phase: Phase) {
        if self.tab.phase != Phase::Active {
            if phase == Phase::Closed {
                self.tab.phase = Phase::Closed;
            }
            return;
        }
        self.tab.election.resign(now_ms);
        self.after_election(now_ms);
        self.tab.broadcast(TabMsg::Goodbye);
        self.tab.phase = phase;
        self.tab.buffer.clear();
        self.tab.gap_since_ms = None;
        self.after_input(now_ms);
    }

    // ----- dispatch -----

    /// Runs an input only while this tab takes part (not hidden in the bfcache, not closed):
    /// the deadlines due first, so a throttled tab still acts on time, then the input, then
    /// what follows every input.
    fn active_input<R>(
        &mut self,
        now_ms: u64,
        input: impl FnOnce(&mut Self, u64) -> R,
    ) -> Option<R> {
        if self.tab.phase != Phase::Active {
            return None;
        }
        self.run_due(now_ms);
        let result = input(self, now_ms);
        self.after_input(now_ms);
        Some(result)
    }

    /// An input only a leader acts on: like `active_input`, handed to the leader's part (and
    /// the rest of the tab) once, and ignored when this tab does not lead.
    fn leader_input(&mut self, now_ms: u64, input: impl FnOnce(&mut Lead, &mut Tab)) {
        self.active_input(now_ms, |hub, _| {
            if let Some(lead) = &mut hub.lead {
                input(lead, &mut hub.tab);
            }
        });
    }

    fn after_input(&mut self, now_ms: u64) {
        let tab = &mut self.tab;
        let takeover = tab.takeover_ms(now_ms);
        tab.election.set_takeover(takeover);
        let role = tab.election.role();
        if role != tab.reported_role {
            tab.reported_role = role;
            tab.outputs.push_back(HubOutput::RoleChanged(role));
        }
        let connection = tab.connection_now(self.lead.as_ref());
        if connection != tab.connection {
            tab.connection = connection.clone();
            tab.outputs
                .push_back(HubOutput::ConnectionChanged(connection.clone()));
        }
        // Followers show what the leader frames carry: tell them of a change at once.
        if let Some(lead) = &mut self.lead {
            if tab.phase == Phase::Active
                && tab.config.election != ElectionMode::Solo
                && lead.announced() != Some(&connection)
            {
                lead.send_heartbeat(tab, now_ms, false);
            }
        }
    }

    fn after_election(&mut self, now_ms: u64) {
        while let Some(action) = self.tab.election.poll_action() {
            let tab = &mut self.tab;
            match action {
                ElectionAction::RequestLock { steal } => {
                    tab.outputs.push_back(HubOutput::RequestLock { steal })
                }
                ElectionAction::ReleaseLock => tab.outputs.push_back(HubOutput::ReleaseLock),
                ElectionAction::SendClaim { term } => tab.broadcast(TabMsg::Claim { term }),
                ElectionAction::AssertLeadership => {
                    if let Some(lead) = &mut self.lead {
                        lead.send_leading(tab, now_ms);
                    }
                }
                ElectionAction::AnnounceTerm => {
                    if now_ms >= tab.last_announce_ms + STALE_ANSWER_INTERVAL_MS {
                        tab.announce_watch(now_ms);
                    }
                }
                ElectionAction::BecomeLeader { .. } => {
                    self.lead = Some(Lead::start(tab, now_ms));
                }
                ElectionAction::StopLeading => {
                    if let Some(lead) = self.lead.take() {
                        lead.stop(tab, now_ms);
                    }
                }
                ElectionAction::Follow { .. } => tab.on_new_leader(now_ms),
                ElectionAction::LeaderGone => tab.on_leader_gone(),
            }
        }
    }

    fn run_due(&mut self, now_ms: u64) {
        self.tab.election.handle_timeout(now_ms);
        self.after_election(now_ms);
        let tab = &mut self.tab;
        let mut union_moved = false;
        if tab.config.election != ElectionMode::Solo {
            union_moved = tab.expire_peers(now_ms);
            if tab.config.election != ElectionMode::Worker
                && now_ms >= tab.last_announce_ms + tab.config.watch_refresh_ms
            {
                tab.announce_watch(now_ms);
            }
        }
        match &mut self.lead {
            Some(lead) => {
                if union_moved {
                    lead.union_changed(tab, now_ms);
                }
                lead.due(tab, now_ms);
            }
            None => tab.intake_due(now_ms),
        }
    }

    /// Acts on one frame: the peer table first (and the leader's view of it), then the
    /// election, then the message itself: a leader answers requests, a follower takes what its
    /// leader relays.
    fn on_frame(&mut self, now_ms: u64, frame: TabFrame) {
        let TabFrame {
            from,
            term,
            hidden,
            msg,
            ..
        } = frame;
        if !self.tab.election.plausible(term, msg.seen()) {
            // A term no live tab could have reached from ours: forged, or from a tab that
            // missed many elections (it catches up when it next joins).
            self.tab.stats.implausible += 1;
            return;
        }
        if self.tab.is_rival_behind(from, term, &msg) {
            self.tab.stats.stale_frames += 1;
            return;
        }
        let union_moved = self.tab.note_peer(now_ms, from, hidden, &msg);
        if let Some(lead) = &mut self.lead {
            if !hidden {
                // A tab that shows its page gets what is held at once.
                lead.release_held(&mut self.tab, now_ms);
            }
            lead.on_peer_frame(&mut self.tab, now_ms, from, &msg, union_moved);
        }
        self.tab
            .election
            .handle_frame(now_ms, from, term, msg.seen());
        self.after_election(now_ms);
        match &mut self.lead {
            Some(lead) => lead.on_frame(&mut self.tab, now_ms, from, msg),
            None => {
                let election = &self.tab.election;
                let from_my_leader = election.role() == Role::Follower
                    && election.leader() == Some(from)
                    && election.term() == term;
                self.tab.on_frame(now_ms, from, from_my_leader, msg);
            }
        }
    }
}

impl Tab {
    /// `Some(takeover_ms)` while this tab follows a leader whose upstream is live and that
    /// relayed a server heartbeat within `liveness_ms`, and no other live tab (heard within two watch refreshes) has a lower id:
    /// the successor on the server's clock (see `core::election`).
    fn takeover_ms(&self, now_ms: u64) -> Option<u64> {
        if self.phase != Phase::Active || self.election.role() != Role::Follower {
            return None;
        }
        let leader = self.election.leader()?;
        let (clocked, at) = self.leader_clock?;
        // A leader in backoff speaks on its own (throttled) timer only: the claim rounds decide.
        if clocked != leader
            || now_ms >= at.saturating_add(self.config.liveness_ms)
            || self.leader_connection != Some(Connection::Live)
        {
            return None;
        }
        let since = now_ms.saturating_sub(2 * self.config.watch_refresh_ms);
        if self
            .peers
            .any_lower_since(self.config.tab_id, leader, since)
        {
            return None;
        }
        Some(match self.config.election {
            ElectionMode::Client => self.config.worker_ping_ms,
            _ => self.config.takeover_ms,
        })
    }

    /// Whether the election says this tab leads (its `Lead` exists exactly then).
    fn leads(&self) -> bool {
        self.election.role() == Role::Leader
    }

    /// Whether a leader frame comes from a rival of our leader's term (not the leader we follow
    /// or are) that shows a position behind our cursor. Two live leaders of one term stream the
    /// same events, so the lower id need not win at once: it wins when it shows it is where we
    /// are. A rival that stays behind is a copy of an old frame (a script replaying what it
    /// recorded, with another sender id), and following it would stop delivery.
    fn is_rival_behind(&self, from: TabId, term: Term, msg: &TabMsg) -> bool {
        let election = &self.election;
        // A worker's clients follow whatever worker talks to them (a restarted one included).
        let contested = matches!(
            self.config.election,
            ElectionMode::Locks | ElectionMode::Lease
        );
        let Some(leader) = election.leader().filter(|_| contested) else {
            return false;
        };
        term == election.term()
            && from != leader
            && msg
                .position()
                .zip(self.cursor)
                .is_some_and(|(position, cursor)| position < cursor)
    }

    /// Queues a frame for the other tabs (none in Solo mode), addressed when it answers one tab.
    /// Leader frames go through `Lead::send`, which also notes when the leader last spoke.
    fn broadcast(&mut self, msg: TabMsg) {
        if self.config.election == ElectionMode::Solo {
            return;
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
            hidden: self.hidden,
            msg,
        };
        // Serializing these plain types cannot fail; skip the frame rather than panic.
        if let Ok(frame) = serde_json::to_string(&frame) {
            self.outputs.push_back(HubOutput::Send { to, frame });
        }
    }

    fn announce_watch(&mut self, now_ms: u64) {
        self.last_announce_ms = now_ms;
        self.broadcast(TabMsg::Watch {
            watch: self.watch.clone(),
            cursor: self.cursor,
        });
    }

    /// The status this tab shows: a transport failure, else its own stream as leader, else
    /// what its leader reported.
    fn connection_now(&self, lead: Option<&Lead>) -> Connection {
        if let Some(reason) = &self.transport_error {
            return Connection::Error {
                reason: reason.clone(),
            };
        }
        match lead {
            Some(lead) => lead.connection(),
            None => self
                .leader_connection
                .clone()
                .unwrap_or(Connection::Connecting),
        }
    }
}
