//! What a hub is configured with, and the timing derived from it: the failover bounds the
//! module docs promise and the reconnect backoff. Pure functions of the configuration, so the
//! simulations and the status chip can compute them too.

use crate::election::{ElectionMode, TabId};
use crate::wire::{EventId, Watch};

/// Failover budget in Locks mode after a clean close or a crash: the lock manager's and the
/// channel's latency (the core adds none).
pub const LOCK_HANDOVER_BOUND_MS: u64 = 250;

/// Latency allowance in the computed failover bounds: two channel hops and a lock grant.
pub const HANDOVER_MARGIN_MS: u64 = 100;

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
    /// The trucks this tab's operator may see (the session's scope, as `GET /api/session`
    /// says it). The tab's watch and, as leader, its stream are kept within it (a list loses
    /// the trucks outside; `All` stays `All`, which the server reads as the operator's trucks),
    /// so neither a view nor another tab's watch makes the stream name a truck the server
    /// refuses; and an event or snapshot another tab or a worker relays about a truck outside it
    /// is dropped and counted (`out_of_scope`). Default `Watch::All`: sign-in off, or a session
    /// not known (the server still filters what it sends).
    pub scope: Watch,
    /// The highest event id the tab's app state already reflects for `watch`, when it starts
    /// with state (a tab moving from one transport to another keeps what its app has). Such a
    /// hub joins like a tab that has state: its `hello` carries the cursor, it asks for no
    /// snapshot unless its watch needs one, and as leader it opens the stream from the cursor at
    /// once. Default `None`: the hub gets its first state from a snapshot.
    pub cursor: Option<EventId>,
    /// The leader sends a heartbeat when it has sent no other frame for this long (a fallback:
    /// upstream events and server heartbeats are relayed as they come). Default 1 000 ms.
    pub heartbeat_ms: u64,
    /// A follower that hears nothing from its leader for this long claims (both modes). Must
    /// exceed the server's heartbeat interval with room to spare. Default 3 000 ms.
    pub liveness_ms: u64,
    /// How long a claim round collects claims. Default 150 ms.
    pub claim_window_ms: u64,
    /// While its leader relays server heartbeats (the server is the clock, see
    /// `core::election`, "Taking over on the server's clock"), the successor follower takes
    /// over after this much silence, without a claim round. Must exceed the server's heartbeat
    /// interval (500 ms on streams Convoy opens) with room for a late one. Default 800 ms.
    pub takeover_ms: u64,
    /// While its worker relays server heartbeats, a worker's client pings it after this much
    /// silence: only a stopped service worker is that silent, and the ping is what starts it
    /// again. A ping is a hello, so a late heartbeat costs one message, not a takeover: the
    /// margin over the heartbeat interval can be slimmer than `takeover_ms`'. Default 600 ms.
    pub worker_ping_ms: u64,
    /// While every other tab is hidden (they render nothing), the leader holds relayed events
    /// this long at most and sends what it holds as one message: a hidden follower's main
    /// thread pays per message. Any other leader frame (a relayed server heartbeat, every
    /// 500 ms on Convoy's streams) sends what is held first. Not in a leader's first
    /// `relay_catch_up_ms`, so a failover is not slowed. 0: every batch at once. Default
    /// 500 ms.
    pub relay_hold_ms: u64,
    /// How long a new leader relays every batch at once. Default 1 000 ms.
    pub relay_catch_up_ms: u64,
    /// This tab's page is hidden at start (`TabHub::set_hidden` follows it). Default false.
    pub hidden: bool,
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
            scope: Watch::All,
            cursor: None,
            heartbeat_ms: 1_000,
            liveness_ms: 3_000,
            claim_window_ms: 150,
            takeover_ms: 800,
            worker_ping_ms: 600,
            relay_hold_ms: 500,
            relay_catch_up_ms: 1_000,
            hidden: false,
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

impl HubConfig {
    /// The failover bound for a leader that crashed (Lease mode) or hung (either mode) while
    /// it relayed server heartbeats, when the successor's timers fire at most
    /// `timer_slack_ms` late (0 for a visible tab, 1 000 for a hidden one): the successor takes
    /// over `takeover_ms` after the last frame, its timer adds the slack, the handover the
    /// margin. Not for a deep-hidden successor (timers once a minute): the claim rounds of
    /// [`HubConfig::failover_bound_ms`] bound that case.
    pub fn takeover_bound_ms(&self, timer_slack_ms: u64) -> u64 {
        self.takeover_ms + timer_slack_ms + HANDOVER_MARGIN_MS
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
