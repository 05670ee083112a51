//! What a hub knows about itself, for the status chip and the /diagnostics page: a snapshot of
//! its state and the counters every part of the hub bumps. Read-only, so it lives apart from the
//! logic it describes.

use crate::election::{ElectionMode, LockState, Role, TabId, Term};
use crate::wire::{EventId, Watch};

use super::follow::Follow;
use super::leadership::{Lead, UpstreamState};
use super::{Connection, Tab};

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
    /// The tabs the stream this tab reads serves, its own included: counted here when this
    /// hub leads, else as its leader last said (`None` before it said, or from a leader that
    /// predates the count). A worker's clients learn it only this way.
    pub stream_tabs: Option<usize>,
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
    /// Frames dropped because no live tab could have sent them: a term far above this tab's
    /// (see `core::election`, "Hostile frames").
    pub implausible: u64,
    /// Relayed events and snapshots dropped because they name a truck outside this tab's
    /// scope ([`HubConfig::scope`](super::HubConfig::scope)): no tab of the session streams
    /// one, so a script of the origin forged them.
    pub out_of_scope: u64,
    /// Leader only: events the upstream lost in transit (a line the decoder dropped, an event
    /// that did not decode), each repaired by resuming from the cursor or, when resuming
    /// brings the same hole back, by a snapshot.
    pub upstream_gaps: u64,
}

/// The counters every part of the hub bumps (reported as the fields of the same names).
#[derive(Debug, Clone, Default)]
pub(super) struct Stats {
    pub(super) malformed: u64,
    pub(super) foreign: u64,
    pub(super) gaps: u64,
    pub(super) duplicates: u64,
    pub(super) relayed: u64,
    pub(super) delivered: u64,
    pub(super) snapshots_delivered: u64,
    pub(super) resend_requests: u64,
    pub(super) resends_served: u64,
    pub(super) snapshot_requests: u64,
    pub(super) snapshots_served: u64,
    pub(super) stale_frames: u64,
    pub(super) implausible: u64,
    pub(super) out_of_scope: u64,
    pub(super) upstream_gaps: u64,
}

impl HubDiagnostics {
    /// The diagnostics of a tab, of its leader part when it leads, and of its follower side.
    pub(super) fn of(tab: &Tab, lead: Option<&Lead>, follow: &Follow) -> HubDiagnostics {
        let s = &tab.stats;
        HubDiagnostics {
            tab_id: tab.config.tab_id,
            mode: tab.config.election,
            role: tab.election.role(),
            term: tab.election.term(),
            leader_id: tab.election.leader(),
            lock: tab.election.lock_state(),
            cursor: tab.cursor.unwrap_or(0),
            watch: tab.watch.clone(),
            upstream: lead.map_or(UpstreamState::Closed, |l| l.upstream),
            reconnect_at_ms: lead.and_then(|l| l.reconnect_at_ms),
            reconnect_attempt: lead.map_or(0, |l| l.attempt),
            connection: tab.connection.clone(),
            watch_union: lead.map(|l| l.union.clone()),
            subscribed: lead.and_then(|l| l.subscribed.clone()),
            peers: tab.peers.len(),
            stream_tabs: match lead {
                Some(_) => Some(tab.sharing()),
                None => follow.leader_sharing(),
            },
            needs_snapshot: tab.need_snapshot,
            buffered: follow.buffered(),
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
            implausible: s.implausible,
            out_of_scope: s.out_of_scope,
            upstream_gaps: s.upstream_gaps,
        }
    }
}
