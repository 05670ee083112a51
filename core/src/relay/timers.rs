//! Every deadline a hub keeps, in one table. Each [`Timer`] is an absolute time (Unix ms)
//! computed in one place, by the part that owns its state (`Tab::deadline`,
//! `Follow::deadline`, `Lead::deadline`); `TabHub::poll_timeout` takes the earliest of the
//! table, and the code that acts on a timer asks [`due`] of that same time, so the two cannot
//! drift apart.

/// The hub's deadlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Timer {
    /// Every tab but a worker's: re-announce the watch, `watch_refresh_ms` after the last.
    WatchRefresh,
    /// The longest-silent peer expires, `peer_expiry_ms` after it was last heard.
    PeerExpiry,
    /// A follower that needs a snapshot asks again, `snapshot_retry_ms` after it last asked.
    SnapshotRequest,
    /// A follower whose live leader stays behind it takes the leader's snapshot.
    Behind,
    /// A follower with a gap asks for a resend (after `gap_grace_ms`, then every
    /// `resend_retry_ms`).
    Resend,
    /// The leader speaks at least every `heartbeat_ms`.
    Heartbeat,
    /// The leader reopens its stream with the union, debounced.
    Resubscribe,
    /// The leader sends what it holds for hidden tabs, `relay_hold_ms` after it began holding.
    ReleaseHeld,
    /// The leader's failed stream reopens after its backoff.
    Reconnect,
    /// The leader fetches its snapshot again, `snapshot_retry_ms` after the last fetch.
    FetchRetry,
    /// The leader's stream counts as failed after `upstream_stall_ms` of silence.
    UpstreamStall,
    /// The leader answers a request the per-tab limit held back.
    HeldBackAnswer,
}

impl Timer {
    /// The whole table.
    pub(super) const ALL: [Timer; 12] = [
        Timer::WatchRefresh,
        Timer::PeerExpiry,
        Timer::SnapshotRequest,
        Timer::Behind,
        Timer::Resend,
        Timer::Heartbeat,
        Timer::Resubscribe,
        Timer::ReleaseHeld,
        Timer::Reconnect,
        Timer::FetchRetry,
        Timer::UpstreamStall,
        Timer::HeldBackAnswer,
    ];
}

/// Whether a deadline (`None`: not set) has come at `now_ms`.
pub(super) fn due(at: Option<u64>, now_ms: u64) -> bool {
    at.is_some_and(|at| now_ms >= at)
}
