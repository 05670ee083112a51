//! What only the leader keeps and does: the upstream session (open, backoff, stall), the
//! last-value cache and the snapshot requests it answers, resend answers from the ring, and the
//! leader's own deadlines. A [`Lead`] exists exactly while its tab leads; every method takes the
//! rest of the tab beside it, so no leader code has to ask whether it leads.

use crate::election::{ElectionMode, TabId};
use crate::fleet::Fleet;
use crate::wire::{Envelope, EventId, FleetSnapshot, Watch};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::config::{reconnect_delay_ms, HubConfig};
use super::timers::{due, Timer};
use super::{Connection, HubOutput, Link, Tab, TabMsg};

/// How often a leader answers stale leader frames, at most.
pub(super) const STALE_ANSWER_INTERVAL_MS: u64 = 20;

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

/// What only the leader keeps.
#[derive(Debug, Clone)]
pub(super) struct Lead {
    pub(super) upstream: UpstreamState,
    pub(super) attempt: u32,
    pub(super) reconnect_at_ms: Option<u64>,
    /// The watch of the stream opened last.
    pub(super) subscribed: Option<Watch>,
    pub(super) union: Watch,
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
    /// The cursor at the last upstream gap: a gap again there means resuming cannot repair it.
    gap_at: Option<EventId>,
    /// The last snapshot fetch failed (why), until a snapshot arrives or the stream delivers.
    snapshot_error: Option<String>,
    /// The status the last leader frame carried: a change is sent at once.
    announced: Option<Connection>,
    /// Until when each tab that got a snapshot from this leader gets no other (see
    /// `answer_intervals`); only limits still running are kept.
    snapshot_answers: BTreeMap<TabId, u64>,
    /// Until when each tab that got a replay gets no other, likewise.
    replay_answers: BTreeMap<TabId, u64>,
    /// Resends that came while their tab's last replay was too recent, coalesced: the highest
    /// `after` (the tab's own cursor; copies of its older requests ask for less), answered
    /// when the interval ends.
    resends: BTreeMap<TabId, (EventId, Watch)>,
    /// Links relayed while every other tab is hidden, not sent yet (see `relay_hold_ms`).
    held: Vec<Link>,
    /// Since when `held` is not empty.
    held_since_ms: Option<u64>,
    /// When this tab started leading.
    started_ms: u64,
}

/// How often one tab may be answered, at most: `(snapshot, replay)` intervals in ms. Half the
/// requester's own retry interval, so an honest retry is never held back by its own last
/// answer, while a flood of copies of its requests (or of `resend { after: 0 }`, which only a
/// snapshot answers) gets one answer per interval instead of one each.
fn answer_intervals(config: &HubConfig) -> (u64, u64) {
    (config.snapshot_retry_ms / 2, config.resend_retry_ms / 2)
}

impl Lead {
    /// `tab` has just become leader: announce it, inherit the snapshot requests it overheard,
    /// and open the stream from its cursor (or fetch the snapshot that gives it one).
    pub(super) fn start(tab: &mut Tab, now_ms: u64) -> Lead {
        let recent = now_ms.saturating_sub(tab.config.snapshot_retry_ms);
        let mut lead = Lead {
            upstream: UpstreamState::Closed,
            attempt: 0,
            reconnect_at_ms: None,
            subscribed: None,
            union: tab.union(),
            cache: None,
            covers: Watch::All,
            fetch_since_ms: None,
            reset_pending: false,
            pending: tab.peers.take_overheard(recent),
            resubscribe_at_ms: None,
            last_sent_ms: now_ms,
            last_stale_answer_ms: None,
            upstream_activity_ms: now_ms,
            upstream_proven: false,
            gap_at: None,
            snapshot_error: None,
            announced: None,
            snapshot_answers: BTreeMap::new(),
            replay_answers: BTreeMap::new(),
            resends: BTreeMap::new(),
            held: Vec::new(),
            held_since_ms: None,
            started_ms: now_ms,
        };
        lead.send_leading(tab, now_ms);
        if tab.cursor.is_some() {
            let union = tab.union();
            lead.open_upstream(tab, now_ms, union);
        }
        lead.fetch(tab, now_ms);
        lead
    }

    /// This tab stops leading: send what it holds, close the stream.
    pub(super) fn stop(mut self, tab: &mut Tab, now_ms: u64) {
        self.release_held(tab, now_ms);
        if self.upstream != UpstreamState::Closed {
            tab.outputs.push_back(HubOutput::CloseUpstream);
        }
    }

    /// The leader's own upstream as users should see it.
    pub(super) fn connection(&self) -> Connection {
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
            // A first snapshot or a reset is due.
            UpstreamState::Closed => Connection::Connecting,
        }
    }

    /// The status the last leader frame carried.
    pub(super) fn announced(&self) -> Option<&Connection> {
        self.announced.as_ref()
    }

    /// When `timer` is due, if it is one of the leader's.
    pub(super) fn deadline(&self, timer: Timer, config: &HubConfig) -> Option<u64> {
        let streaming = matches!(
            self.upstream,
            UpstreamState::Connecting | UpstreamState::Open
        );
        match timer {
            Timer::Heartbeat => (config.election != ElectionMode::Solo)
                .then_some(self.last_sent_ms + config.heartbeat_ms),
            Timer::Resubscribe => self.resubscribe_at_ms,
            Timer::ReleaseHeld => self.held_since_ms.map(|t| t + config.relay_hold_ms),
            Timer::Reconnect => self.reconnect_at_ms,
            Timer::FetchRetry => self.fetch_since_ms.map(|t| t + config.snapshot_retry_ms),
            Timer::UpstreamStall => {
                streaming.then_some(self.upstream_activity_ms + config.upstream_stall_ms)
            }
            // Answers held back by the per-tab limit (the maps keep only limits still running).
            Timer::HeldBackAnswer => {
                let snapshots = self
                    .snapshot_answers
                    .iter()
                    .filter(|(tab, _)| self.pending.contains_key(tab));
                let replays = self
                    .replay_answers
                    .iter()
                    .filter(|(tab, _)| self.resends.contains_key(tab));
                snapshots.chain(replays).map(|(_, until)| *until).min()
            }
            Timer::WatchRefresh
            | Timer::PeerExpiry
            | Timer::SnapshotRequest
            | Timer::Behind
            | Timer::Resend => None,
        }
    }

    /// Runs the deadlines due at `now_ms`: the debounced resubscribe, the reconnect after a
    /// backoff, the stall check, the fetch retry and the heartbeat.
    pub(super) fn due(&mut self, tab: &mut Tab, now_ms: u64) {
        if due(self.deadline(Timer::ReleaseHeld, &tab.config), now_ms) {
            self.release_held(tab, now_ms);
        }
        if due(self.deadline(Timer::Resubscribe, &tab.config), now_ms) {
            self.resubscribe_at_ms = None;
            let union = self.union.clone();
            let reopen = self.subscribed != wanted(tab, &union)
                && matches!(
                    self.upstream,
                    UpstreamState::Connecting | UpstreamState::Open | UpstreamState::Closed
                )
                && !self.reset_pending;
            // A stream in backoff reopens with the new union when its delay ends.
            if reopen {
                self.open_upstream(tab, now_ms, union);
                self.ensure_cache(tab, now_ms);
                self.serve_pending(tab, now_ms);
            }
        }
        if due(self.deadline(Timer::Reconnect, &tab.config), now_ms) {
            self.reconnect_at_ms = None;
            let union = tab.union();
            self.open_upstream(tab, now_ms, union);
        }
        if due(self.deadline(Timer::UpstreamStall, &tab.config), now_ms) {
            self.upstream_failed(tab, now_ms);
        }
        if due(self.deadline(Timer::FetchRetry, &tab.config), now_ms) {
            self.fetch_since_ms = Some(now_ms);
            tab.outputs.push_back(HubOutput::FetchSnapshot);
        }
        self.answer_held_back(tab, now_ms);
        if due(self.deadline(Timer::Heartbeat, &tab.config), now_ms) {
            self.send_heartbeat(tab, now_ms, false);
        }
    }

    /// Ends the per-tab limits that have run out, and answers what they held back.
    fn answer_held_back(&mut self, tab: &mut Tab, now_ms: u64) {
        self.snapshot_answers.retain(|_, until| now_ms < *until);
        self.replay_answers.retain(|_, until| now_ms < *until);
        let free: Vec<TabId> = self
            .resends
            .keys()
            .filter(|t| !self.replay_answers.contains_key(t))
            .copied()
            .collect();
        for to in free {
            if let Some((after, watch)) = self.resends.remove(&to) {
                self.serve_resend(tab, now_ms, to, after, watch);
            }
        }
        if !self.pending.is_empty() {
            self.serve_pending(tab, now_ms);
        }
    }

    // ----- frames -----

    /// Sends a leader frame (and notes when the leader last spoke, for the heartbeat), after
    /// the links held so far: the tabs read the leader's frames in the order they happened.
    fn send(&mut self, tab: &mut Tab, now_ms: u64, msg: TabMsg) {
        self.release_held(tab, now_ms);
        self.last_sent_ms = now_ms;
        tab.broadcast(msg);
    }

    /// Announces this leader (rate-limited: it also answers stale frames and claims).
    pub(super) fn send_leading(&mut self, tab: &mut Tab, now_ms: u64) {
        if self
            .last_stale_answer_ms
            .is_some_and(|t| now_ms < t + STALE_ANSWER_INTERVAL_MS && now_ms >= t)
        {
            return;
        }
        self.last_stale_answer_ms = Some(now_ms);
        let union = self.stream_watch();
        let upstream = tab.connection_now(self.connection());
        self.announced = Some(upstream.clone());
        let cursor = tab.cursor;
        let sharing = Some(tab.sharing());
        self.send(
            tab,
            now_ms,
            TabMsg::Leading {
                union,
                cursor,
                upstream,
                sharing,
            },
        );
    }

    pub(super) fn send_heartbeat(&mut self, tab: &mut Tab, now_ms: u64, server: bool) {
        let union = self.stream_watch();
        let upstream = tab.connection_now(self.connection());
        self.announced = Some(upstream.clone());
        let cursor = tab.cursor;
        let sharing = Some(tab.sharing());
        self.send(
            tab,
            now_ms,
            TabMsg::Heartbeat {
                union,
                cursor,
                server,
                upstream,
                sharing,
            },
        );
    }

    /// The watch of the stream, or of the one about to open.
    fn stream_watch(&self) -> Watch {
        self.subscribed
            .clone()
            .unwrap_or_else(|| self.union.clone())
    }

    // ----- the upstream session -----

    fn fetch(&mut self, tab: &mut Tab, now_ms: u64) {
        if self.fetch_since_ms.is_none() {
            self.fetch_since_ms = Some(now_ms);
            tab.outputs.push_back(HubOutput::FetchSnapshot);
        }
    }

    /// Opens the stream for `union` from the cursor. An empty union still opens one (the server
    /// sends it heartbeats only): the tabs' pages show no truck, but whether they are live is
    /// shown, and known only from a stream. Only a worker with no tab streams nothing.
    fn open_upstream(&mut self, tab: &mut Tab, now_ms: u64, union: Watch) {
        let Some(cursor) = tab.cursor else {
            return;
        };
        self.resubscribe_at_ms = None;
        self.reconnect_at_ms = None;
        self.union = union.clone();
        if self.cache.is_some() {
            self.covers = self.covers.intersection(&union);
        }
        self.subscribed = wanted(tab, &union);
        if self.subscribed.is_none() {
            if self.upstream != UpstreamState::Closed {
                self.upstream = UpstreamState::Closed;
                tab.outputs.push_back(HubOutput::CloseUpstream);
            }
            return;
        }
        self.upstream = UpstreamState::Connecting;
        self.upstream_activity_ms = now_ms;
        self.upstream_proven = false;
        tab.outputs.push_back(HubOutput::OpenUpstream {
            watch: union,
            last_event_id: Some(cursor),
        });
    }

    fn upstream_failed(&mut self, tab: &mut Tab, now_ms: u64) {
        self.attempt = self.attempt.saturating_add(1);
        let delay = reconnect_delay_ms(&tab.config, self.attempt);
        self.upstream = UpstreamState::Backoff;
        self.reconnect_at_ms = Some(now_ms + delay);
        tab.outputs.push_back(HubOutput::CloseUpstream);
    }

    /// Whether the stream may deliver now (and marks it alive).
    fn upstream_alive(&mut self, now_ms: u64) -> bool {
        if !matches!(
            self.upstream,
            UpstreamState::Connecting | UpstreamState::Open
        ) {
            return false;
        }
        self.upstream = UpstreamState::Open;
        self.upstream_activity_ms = now_ms;
        self.snapshot_error = None;
        if !self.upstream_proven {
            self.upstream_proven = true;
            self.attempt = 0;
        }
        true
    }

    pub(super) fn on_upstream_open(&mut self, now_ms: u64) {
        if self.upstream == UpstreamState::Connecting {
            self.upstream = UpstreamState::Open;
            self.upstream_activity_ms = now_ms;
            self.snapshot_error = None;
        }
    }

    pub(super) fn on_upstream_heartbeat(&mut self, tab: &mut Tab, now_ms: u64) {
        if self.upstream_alive(now_ms) {
            self.send_heartbeat(tab, now_ms, true);
        }
    }

    pub(super) fn on_upstream_reset(&mut self, tab: &mut Tab, now_ms: u64) {
        if self.upstream != UpstreamState::Closed {
            tab.outputs.push_back(HubOutput::CloseUpstream);
        }
        self.upstream = UpstreamState::Closed;
        self.reconnect_at_ms = None;
        self.reset_pending = true;
        self.fetch_since_ms = Some(now_ms);
        tab.outputs.push_back(HubOutput::FetchSnapshot);
    }

    pub(super) fn on_upstream_error(&mut self, tab: &mut Tab, now_ms: u64) {
        if matches!(
            self.upstream,
            UpstreamState::Connecting | UpstreamState::Open
        ) {
            self.upstream_failed(tab, now_ms);
        }
    }

    /// The stream lost events (see `TabHub::handle_upstream_gap`): resume from the cursor, or,
    /// when the last gap was at this same cursor, cover the hole with a snapshot for every tab.
    pub(super) fn on_upstream_gap(&mut self, tab: &mut Tab, now_ms: u64) {
        if !matches!(
            self.upstream,
            UpstreamState::Connecting | UpstreamState::Open
        ) {
            return;
        }
        tab.stats.upstream_gaps += 1;
        if self.gap_at.is_some() && self.gap_at == tab.cursor {
            // The server sent the same unreadable line again: resuming cannot get past it.
            self.gap_at = None;
            self.on_upstream_reset(tab, now_ms);
        } else {
            // Not a failure of the connection: no backoff, and the next stream starts at once.
            self.gap_at = tab.cursor;
            let union = tab.union();
            self.open_upstream(tab, now_ms, union);
        }
    }

    /// Events the stream delivered together: taken here, and relayed in one message.
    pub(super) fn on_upstream_events(
        &mut self,
        tab: &mut Tab,
        now_ms: u64,
        envelopes: Vec<Envelope>,
    ) {
        let mut relayed = Vec::new();
        for envelope in envelopes {
            if !self.upstream_alive(now_ms) {
                tab.stats.stale_frames += 1;
                continue;
            }
            let Some(cursor) = tab.cursor else {
                return;
            };
            if envelope.id <= cursor {
                tab.stats.duplicates += 1;
                continue;
            }
            if let Some(cache) = &mut self.cache {
                cache.apply(&envelope);
            }
            let link = Link {
                event: envelope,
                prev: cursor,
                union: self.subscribed.clone().unwrap_or(Watch::All),
            };
            tab.stats.relayed += 1;
            relayed.push(link.clone());
            tab.accept(now_ms, link);
            if tab.need_snapshot || !self.pending.is_empty() {
                // What was relayed goes before any snapshot or replay that follows it.
                self.relay(tab, now_ms, std::mem::take(&mut relayed));
                self.serve_pending(tab, now_ms);
            }
        }
        self.relay(tab, now_ms, relayed);
    }

    /// Relays links to the other tabs: at once, or, while every other tab is hidden (and this
    /// tab has led for `relay_catch_up_ms`), held for up to `relay_hold_ms` and then sent with
    /// what came meanwhile.
    fn relay(&mut self, tab: &mut Tab, now_ms: u64, links: Vec<Link>) {
        if links.is_empty() || tab.config.election == ElectionMode::Solo {
            return;
        }
        self.held.extend(links);
        let since = *self.held_since_ms.get_or_insert(now_ms);
        let config = &tab.config;
        let may_hold = config.relay_hold_ms > 0
            && now_ms >= self.started_ms + config.relay_catch_up_ms
            && now_ms < since + config.relay_hold_ms
            && !tab.peers.any_shown();
        if !may_hold {
            self.release_held(tab, now_ms);
        }
    }

    /// Sends the held links: each run that chains under one union as one message.
    pub(super) fn release_held(&mut self, tab: &mut Tab, now_ms: u64) {
        self.held_since_ms = None;
        if self.held.is_empty() {
            return;
        }
        let mut run: Vec<Link> = Vec::new();
        for link in std::mem::take(&mut self.held) {
            let chains = run
                .last()
                .is_none_or(|last| last.union == link.union && link.prev == last.event.id);
            if !chains {
                self.send_links(tab, now_ms, std::mem::take(&mut run));
            }
            run.push(link);
        }
        self.send_links(tab, now_ms, run);
    }

    /// Sends consecutive links: one as `Event`, more as one `Events`.
    fn send_links(&mut self, tab: &mut Tab, now_ms: u64, mut links: Vec<Link>) {
        let msg = match links.len() {
            0 => return,
            1 => TabMsg::Event(links.remove(0)),
            _ => TabMsg::Events {
                prev: links[0].prev,
                union: links[0].union.clone(),
                events: links.into_iter().map(|link| link.event).collect(),
            },
        };
        self.send(tab, now_ms, msg);
    }

    pub(super) fn on_snapshot_failed(&mut self, reason: String) {
        self.snapshot_error = Some(reason);
    }

    pub(super) fn on_fetched_snapshot(
        &mut self,
        tab: &mut Tab,
        now_ms: u64,
        snapshot: FleetSnapshot,
    ) {
        self.fetch_since_ms = None;
        self.snapshot_error = None;
        if self.reset_pending || tab.cursor.is_none() {
            // A fresh start (no state yet, or the server's history is gone): the snapshot is
            // the new base for this tab, its cache and (after a reset) every tab.
            let reset = std::mem::take(&mut self.reset_pending);
            self.cache = Some(Fleet::from_snapshot(snapshot.clone()));
            self.covers = Watch::All;
            tab.install_snapshot(&snapshot, true);
            if reset {
                tab.stats.snapshots_served += 1;
                self.send(
                    tab,
                    now_ms,
                    TabMsg::Snapshot {
                        to: None,
                        watch: Watch::All,
                        reset: true,
                        snapshot,
                    },
                );
            }
            let union = tab.union();
            self.open_upstream(tab, now_ms, union);
        } else {
            // Rebuild the cache: the snapshot, then the links after it from the ring.
            let Some(links) = tab.ring.after(snapshot.last_event_id) else {
                // Older than the ring reaches: fetch again after `snapshot_retry_ms`.
                self.fetch_since_ms = Some(now_ms);
                return;
            };
            let mut covered = self.subscribed.clone().unwrap_or(Watch::All);
            let mut cache = Fleet::from_snapshot(snapshot);
            for link in links {
                covered = covered.intersection(&link.union);
                cache.apply(&link.event);
            }
            self.cache = Some(cache);
            self.covers = covered;
        }
        self.serve_pending(tab, now_ms);
        self.ensure_cache(tab, now_ms);
    }

    // ----- what other tabs ask of the leader -----

    /// A frame was noted in the peer table (`union_moved`: the union may have changed): a
    /// goodbye cancels the tab's pending snapshot, and a worker may adopt a client's cursor.
    pub(super) fn on_peer_frame(
        &mut self,
        tab: &mut Tab,
        now_ms: u64,
        from: TabId,
        msg: &TabMsg,
        union_moved: bool,
    ) {
        if let TabMsg::Goodbye = msg {
            self.pending.remove(&from);
            self.resends.remove(&from);
        }
        if union_moved {
            self.union_changed(tab, now_ms);
        }
        if let TabMsg::Hello {
            cursor: Some(cursor),
            ..
        }
        | TabMsg::Watch {
            cursor: Some(cursor),
            ..
        } = msg
        {
            self.adopt_cursor(tab, now_ms, *cursor);
        }
    }

    /// A frame, after the election has seen it (and this tab still leads): requests are
    /// answered; other leaders' frames are stale (the election has answered them).
    pub(super) fn on_frame(&mut self, tab: &mut Tab, now_ms: u64, from: TabId, msg: TabMsg) {
        match msg {
            TabMsg::Hello { watch, cursor } => {
                self.send_leading(tab, now_ms);
                if cursor.is_none() {
                    self.add_pending(tab, now_ms, from, watch);
                }
            }
            // A tab with no cursor has no state: its hello may have been lost (a service worker
            // still starting), so its next announcement gets the snapshot instead.
            TabMsg::Watch {
                watch,
                cursor: None,
            }
            | TabMsg::SnapshotRequest { watch } => self.add_pending(tab, now_ms, from, watch),
            TabMsg::Resend { after, watch } => self.serve_resend(tab, now_ms, from, after, watch),
            TabMsg::Watch { .. } | TabMsg::Claim { .. } | TabMsg::Goodbye => {}
            TabMsg::Leading { .. }
            | TabMsg::Event(_)
            | TabMsg::Events { .. }
            | TabMsg::Heartbeat { .. }
            | TabMsg::Snapshot { .. }
            | TabMsg::Replay { .. } => tab.stats.stale_frames += 1,
        }
    }

    /// Worker mode: a (re)started worker has no cursor, but its clients do. Resuming from theirs
    /// loses nothing; the lowest one reported before anything arrives wins, so no client is left
    /// with a gap only a snapshot could fill (the others drop what they already have).
    fn adopt_cursor(&mut self, tab: &mut Tab, now_ms: u64, reported: EventId) {
        if tab.config.election != ElectionMode::Worker {
            return;
        }
        let adopt = match tab.cursor {
            None => true,
            Some(cursor) => tab.adopted == Some(cursor) && reported < cursor,
        };
        if !adopt {
            return;
        }
        tab.adopt(reported);
        let union = tab.union();
        self.open_upstream(tab, now_ms, union);
        // The snapshot fetched at start rebuilds the cache from the ring when it comes.
        self.fetch(tab, now_ms);
    }

    /// The union may have changed: resubscribe after `resubscribe_debounce_ms` if it did (the
    /// first change schedules, later ones ride along).
    pub(super) fn union_changed(&mut self, tab: &Tab, now_ms: u64) {
        self.union = tab.union();
        if self.subscribed != wanted(tab, &self.union) && self.resubscribe_at_ms.is_none() {
            self.resubscribe_at_ms = Some(now_ms + tab.config.resubscribe_debounce_ms);
        }
    }

    fn add_pending(&mut self, tab: &mut Tab, now_ms: u64, to: TabId, watch: Watch) {
        // Only tabs in the (bounded) table are answered: made-up ids cannot queue work.
        if !tab.peers.knows(to) {
            return;
        }
        self.pending.insert(to, watch);
        self.union_changed(tab, now_ms);
        self.serve_pending(tab, now_ms);
        self.ensure_cache(tab, now_ms);
    }

    /// Answers every snapshot request (this tab's own included) the cache can answer.
    pub(super) fn serve_pending(&mut self, tab: &mut Tab, now_ms: u64) {
        let Some(cursor) = tab.cursor else {
            return;
        };
        let Some(cache) = &self.cache else {
            return;
        };
        let position = cursor.max(cache.last_event_id());
        let held_back = &self.snapshot_answers;
        let own = (tab.need_snapshot
            && self.covers.covers(&tab.watch)
            && cursor >= cache.last_event_id())
        .then(|| {
            let mut s = cache.snapshot(&tab.watch);
            s.last_event_id = cursor;
            s
        });
        let answers: Vec<(TabId, Watch, FleetSnapshot)> = self
            .pending
            .iter()
            .filter(|(to, w)| self.covers.covers(w) && !held_back.contains_key(to))
            .map(|(to, watch)| {
                let mut s = cache.snapshot(watch);
                s.last_event_id = position;
                (*to, watch.clone(), s)
            })
            .collect();
        for (to, _, _) in &answers {
            self.pending.remove(to);
        }
        if let Some(snapshot) = own {
            tab.install_snapshot(&snapshot, true);
        }
        for (to, watch, snapshot) in answers {
            tab.stats.snapshots_served += 1;
            self.snapshot_answers
                .insert(to, now_ms + answer_intervals(&tab.config).0);
            self.send(
                tab,
                now_ms,
                TabMsg::Snapshot {
                    to: Some(to),
                    watch,
                    reset: false,
                    snapshot,
                },
            );
        }
    }

    /// Fetches a snapshot when the cache is missing, or cannot answer a request whose trucks
    /// the stream now covers.
    pub(super) fn ensure_cache(&mut self, tab: &mut Tab, now_ms: u64) {
        let Some(subscribed) = &self.subscribed else {
            return;
        };
        let needs = self.cache.is_none()
            || self
                .pending
                .values()
                .chain(tab.need_snapshot.then_some(&tab.watch))
                .any(|w| subscribed.covers(w) && !self.covers.covers(w));
        if needs {
            self.fetch(tab, now_ms);
        }
    }

    /// Answers a resend with the links after `after` from the ring, or with a snapshot when the
    /// ring no longer reaches back that far. One replay per tab per half `resend_retry_ms`:
    /// resends within that are coalesced into one answer when it ends.
    fn serve_resend(
        &mut self,
        tab: &mut Tab,
        now_ms: u64,
        to: TabId,
        after: EventId,
        watch: Watch,
    ) {
        let Some(cursor) = tab.cursor else {
            return;
        };
        if after >= cursor || !tab.peers.knows(to) {
            return;
        }
        if self.replay_answers.contains_key(&to) {
            match self.resends.get_mut(&to) {
                Some(held) if held.0 >= after => {}
                Some(held) => *held = (after, watch),
                None => {
                    self.resends.insert(to, (after, watch));
                }
            }
            return;
        }
        let links: Option<Vec<Link>> = tab.ring.after(after).map(|l| l.cloned().collect());
        match links {
            Some(links) => {
                tab.stats.resends_served += 1;
                self.replay_answers
                    .insert(to, now_ms + answer_intervals(&tab.config).1);
                self.send(tab, now_ms, TabMsg::Replay { to, links });
            }
            None => self.add_pending(tab, now_ms, to, watch),
        }
    }
}

/// What the stream should carry for `union`: None when nothing should stream, which is only a
/// worker's case with no tab to serve (a tab always has its own page to show live or not).
fn wanted(tab: &Tab, union: &Watch) -> Option<Watch> {
    let idle =
        union.is_empty() && tab.config.election == ElectionMode::Worker && tab.peers.len() == 0;
    (!idle).then(|| union.clone())
}
