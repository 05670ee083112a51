//! The virtual clock and the net: a queue of timed events, a simulated BroadcastChannel (drops,
//! delays, reordering from the seeded PRNG, per-sender order unless lossy) and a Web Locks
//! manager (exclusive, FIFO, steal; released when a tab crashes or closes, not when it freezes).
//! Tabs, the server and the checks add their parts of `Sim` in their own files.

use convoy_core::election::{ElectionMode, Role};
use convoy_core::fleet::Fleet;
use convoy_core::relay::{HubConfig, HubOutput, TabFrame, TabId, TabMsg};
use convoy_core::wire::{Envelope, FleetSnapshot, Watch};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use super::fixtures::{seed_truck, EPOCH};
use super::rng::Rng;
use super::server::Server;
use super::tab::{Tab, TabState};

/// One simulation's knobs: election mode, seed, channel loss and latencies, the server's pace.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub mode: ElectionMode,
    pub seed: u64,
    /// Probability a channel message to one tab is lost.
    pub drop: f64,
    /// Channel delay range (ms).
    pub min_delay: u64,
    pub max_delay: u64,
    /// Keep per-sender order (BroadcastChannel does); `false` lets delays reorder messages.
    pub fifo: bool,
    /// Lock manager latency.
    pub lock_delay: u64,
    /// Snapshot fetch round trip.
    pub fetch_delay: u64,
    /// Upstream connect latency and per-event latency.
    pub connect_delay: u64,
    pub upstream_delay: u64,
    /// The server emits an event this often.
    pub event_interval: u64,
    pub server_heartbeat: u64,
    pub trucks: usize,
    /// Tweaks applied to every tab's `HubConfig`.
    pub hub: fn(&mut HubConfig),
}

impl SimConfig {
    pub fn new(mode: ElectionMode, seed: u64) -> Self {
        SimConfig {
            mode,
            seed,
            drop: 0.0,
            min_delay: 1,
            max_delay: 5,
            fifo: true,
            lock_delay: 2,
            fetch_delay: 30,
            connect_delay: 20,
            upstream_delay: 3,
            event_interval: 50,
            server_heartbeat: 500,
            trucks: 8,
            hub: |_| {},
        }
    }

    pub fn lossy(mut self, drop: f64) -> Self {
        self.drop = drop;
        self.fifo = false;
        self.max_delay = 20;
        self
    }

    pub fn hub_config(&self, tab_id: TabId, watch: Watch) -> HubConfig {
        let mut config = HubConfig::new(tab_id, self.mode);
        config.watch = watch;
        (self.hub)(&mut config);
        config
    }
}

#[derive(Debug)]
pub enum Ev {
    Channel {
        to: usize,
        raw: Rc<str>,
    },
    LockGranted {
        tab: usize,
    },
    LockLost {
        tab: usize,
    },
    ServeSnapshot {
        tab: usize,
    },
    Snapshot {
        tab: usize,
        snapshot: FleetSnapshot,
    },
    UpOpen {
        tab: usize,
        conn: u64,
    },
    UpEvent {
        tab: usize,
        conn: u64,
        envelope: Envelope,
    },
    UpHeartbeat {
        tab: usize,
        conn: u64,
    },
    UpReset {
        tab: usize,
        conn: u64,
    },
    UpError {
        tab: usize,
        conn: u64,
    },
    /// The tab's decoder dropped a line of this stream (the events it carried are lost).
    UpGap {
        tab: usize,
        conn: u64,
    },
    ServerEmit,
    ServerHeartbeat,
}

impl Ev {
    /// The tab an event is for (server ticks are for nobody).
    pub fn tab(&self) -> Option<usize> {
        match self {
            Ev::Channel { to, .. } => Some(*to),
            Ev::LockGranted { tab }
            | Ev::LockLost { tab }
            | Ev::ServeSnapshot { tab }
            | Ev::Snapshot { tab, .. }
            | Ev::UpOpen { tab, .. }
            | Ev::UpEvent { tab, .. }
            | Ev::UpHeartbeat { tab, .. }
            | Ev::UpReset { tab, .. }
            | Ev::UpError { tab, .. }
            | Ev::UpGap { tab, .. } => Some(*tab),
            Ev::ServerEmit | Ev::ServerHeartbeat => None,
        }
    }
}

#[derive(Default)]
pub struct LockManager {
    pub holder: Option<usize>,
    pub queue: VecDeque<usize>,
}

#[derive(Default)]
pub struct Log {
    /// (time, term, tab) of every relayed event frame.
    pub relays: Vec<(u64, u64, usize)>,
    /// (time, tab) of every `OpenUpstream`.
    pub opens: Vec<(u64, usize)>,
    /// (time, tab) of every `FetchSnapshot` issued by a tab without a cursor.
    pub seeds: Vec<(u64, usize)>,
    /// (time, tab) of every change to leader.
    pub leads: Vec<(u64, usize)>,
    /// Claim frames sent.
    pub claims: u64,
    /// Most upstream streams open at once, frozen tabs' streams not counted.
    pub max_open_streams: usize,
    /// Every frame sent on the channel, while `Some` (what a script listening on it records).
    pub recorded: Option<Vec<Rc<str>>>,
}

/// The simulated browser and server: every tab, the event queue, and what was logged.
pub struct Sim {
    pub cfg: SimConfig,
    pub now: u64,
    pub seq: u64,
    pub queue: BTreeMap<(u64, u64), Ev>,
    pub rng: Rng,
    pub tabs: Vec<Tab>,
    pub server: Server,
    pub locks: LockManager,
    pub log: Log,
    /// Per (from, to) latest scheduled channel delivery, for FIFO.
    pub pair_last: BTreeMap<(usize, usize), u64>,
    pub used_ids: BTreeSet<TabId>,
}

impl Sim {
    pub fn new(cfg: SimConfig) -> Sim {
        let mut fleet = Fleet::default();
        for i in 0..cfg.trucks {
            fleet.insert(seed_truck(i));
        }
        let mut sim = Sim {
            rng: Rng(cfg.seed ^ 0x5EED),
            cfg,
            now: EPOCH,
            seq: 0,
            queue: BTreeMap::new(),
            tabs: Vec::new(),
            server: Server::new(fleet),
            locks: LockManager::default(),
            log: Log::default(),
            pair_last: BTreeMap::new(),
            used_ids: BTreeSet::new(),
        };
        let interval = sim.cfg.event_interval;
        let heartbeat = sim.cfg.server_heartbeat;
        sim.schedule(interval, Ev::ServerEmit);
        sim.schedule(heartbeat, Ev::ServerHeartbeat);
        sim
    }

    pub fn schedule(&mut self, delay: u64, ev: Ev) {
        self.schedule_at(self.now + delay, ev);
    }

    pub fn schedule_at(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    // ----- the event loop -----

    pub fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        let mut spins = (0, 0u32);
        loop {
            let next_ev = self.queue.first_key_value().map(|((t, _), _)| *t);
            let next_timer = self
                .live()
                .filter_map(|i| self.tabs[i].wake.map(|w| self.effective(i, w)))
                .min();
            let next = match (next_ev, next_timer) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            if next > end {
                break;
            }
            self.now = self.now.max(next);
            if next_ev == Some(next) {
                let (_, ev) = self.queue.pop_first().expect("peeked");
                self.dispatch(ev);
            } else {
                let due: Vec<usize> = self
                    .live()
                    .filter(|&i| {
                        self.tabs[i]
                            .wake
                            .is_some_and(|w| self.effective(i, w) <= self.now)
                    })
                    .collect();
                // A hub whose poll_timeout stays in the past would spin here forever.
                spins = if spins.0 == self.now {
                    (self.now, spins.1 + 1)
                } else {
                    (self.now, 0)
                };
                assert!(
                    spins.1 < 1_000,
                    "timers spin at {}: {due:?}",
                    self.now - EPOCH
                );
                for i in due {
                    let now = self.now;
                    self.tabs[i].hub.handle_timeout(now);
                    self.pump(i);
                }
            }
        }
        self.now = end;
    }

    /// When a tab's timer for `at` really fires, given its throttling.
    pub fn effective(&self, i: usize, at: u64) -> u64 {
        let q = self.tabs[i].throttle;
        let at = at.max(self.now);
        if q == 0 {
            at
        } else {
            at.div_ceil(q) * q
        }
    }

    pub fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::ServerEmit => {
                if self.server.emitting {
                    self.emit();
                }
                let interval = self.cfg.event_interval;
                self.schedule(interval, Ev::ServerEmit);
            }
            Ev::ServerHeartbeat => {
                let conns: Vec<(u64, usize)> =
                    self.server.conns.iter().map(|(c, k)| (*c, k.tab)).collect();
                for (conn, tab) in conns {
                    let at = self.conn_slot(conn);
                    self.schedule_at(at, Ev::UpHeartbeat { tab, conn });
                }
                let heartbeat = self.cfg.server_heartbeat;
                self.schedule(heartbeat, Ev::ServerHeartbeat);
            }
            Ev::ServeSnapshot { tab } => {
                let snapshot = self.server.fleet.snapshot(&Watch::All);
                let delay = self.cfg.fetch_delay / 2;
                self.schedule(delay, Ev::Snapshot { tab, snapshot });
            }
            ev => {
                let Some(tab) = ev.tab() else { return };
                match self.tabs[tab].state {
                    TabState::Gone => {}
                    TabState::Frozen => self.tabs[tab].inbox.push(ev),
                    TabState::Hidden => {
                        if matches!(ev, Ev::LockGranted { .. } | Ev::LockLost { .. }) {
                            self.deliver(ev);
                        }
                    }
                    TabState::Live => self.deliver(ev),
                }
            }
        }
    }

    /// Hands an event to a live (or hidden, for locks) tab's hub.
    pub fn deliver(&mut self, ev: Ev) {
        let now = self.now;
        let Some(i) = ev.tab() else { return };
        let conn_ok = |sim: &Sim, conn: u64| sim.tabs[i].conn == Some(conn);
        match ev {
            Ev::Channel { raw, .. } => {
                let from = self.tabs[i].hub.handle_channel_message(now, &raw);
                let sender = serde_json::from_str::<TabFrame>(&raw).map(|f| f.from);
                assert_eq!(from, sender.ok(), "the hub names the sender of {raw}");
            }
            Ev::LockGranted { .. } => {
                if self.locks.holder != Some(i) {
                    return; // superseded by a steal or a release
                }
                self.tabs[i].hub.handle_lock_granted(now);
            }
            Ev::LockLost { .. } => self.tabs[i].hub.handle_lock_lost(now),
            Ev::Snapshot { snapshot, .. } => self.tabs[i].hub.handle_snapshot(now, snapshot),
            Ev::UpOpen { conn, .. } if conn_ok(self, conn) => {
                self.tabs[i].hub.handle_upstream_open(now)
            }
            Ev::UpEvent { conn, envelope, .. } if conn_ok(self, conn) => {
                self.tabs[i].hub.handle_upstream_event(now, envelope)
            }
            Ev::UpHeartbeat { conn, .. } if conn_ok(self, conn) => {
                self.tabs[i].hub.handle_upstream_heartbeat(now)
            }
            Ev::UpReset { conn, .. } if conn_ok(self, conn) => {
                self.tabs[i].hub.handle_upstream_reset(now)
            }
            Ev::UpError { conn, .. } if conn_ok(self, conn) => {
                self.tabs[i].conn = None;
                self.tabs[i].hub.handle_upstream_error(now)
            }
            Ev::UpGap { conn, .. } if conn_ok(self, conn) => {
                self.tabs[i].hub.handle_upstream_gap(now);
                self.pump(i);
                // As the browser's adapters do: no more events from a stream after a gap. A hub
                // that kept it open sees it fail.
                if self.tabs[i].conn == Some(conn) {
                    self.close_conn(i);
                    self.tabs[i].hub.handle_upstream_error(now);
                }
            }
            _ => return,
        }
        self.pump(i);
    }

    /// Carries out a tab's outputs.
    pub fn pump(&mut self, i: usize) {
        while let Some(output) = self.tabs[i].hub.poll_output() {
            let now = self.now;
            if let HubOutput::ConnectionChanged(connection) = &output {
                assert_eq!(connection, self.tabs[i].hub.connection());
            }
            let Some(output) = self.tabs[i].app.take(now, output) else {
                continue;
            };
            match output {
                // A BroadcastChannel reaches every tab, whomever the frame is for.
                HubOutput::Send { to, frame } => self.broadcast(i, to, frame),
                HubOutput::RequestLock { steal } => self.request_lock(i, steal),
                HubOutput::ReleaseLock => self.release_lock(i),
                HubOutput::FetchSnapshot => {
                    if self.tabs[i].hub.diagnostics().cursor == 0 {
                        self.log.seeds.push((now, i));
                    }
                    let delay = self.cfg.fetch_delay / 2;
                    self.schedule(delay, Ev::ServeSnapshot { tab: i });
                }
                HubOutput::OpenUpstream {
                    watch,
                    last_event_id,
                } => {
                    self.log.opens.push((now, i));
                    self.open_conn(i, watch, last_event_id);
                }
                HubOutput::CloseUpstream => self.close_conn(i),
                HubOutput::RoleChanged(role) => {
                    if std::env::var_os("SIM_TRACE").is_some() {
                        let d = self.tabs[i].hub.diagnostics();
                        eprintln!(
                            "{} tab {i} -> {role:?} term {} leader {:?} cursor {}",
                            now - EPOCH,
                            d.term,
                            d.leader_id
                                .map(|l| self.tabs.iter().position(|t| t.id == l)),
                            d.cursor
                        );
                    }
                    if role == Role::Leader {
                        self.log.leads.push((now, i));
                    }
                }
                HubOutput::Deliver(_)
                | HubOutput::DeliverSnapshot(_)
                | HubOutput::ConnectionChanged(_)
                | HubOutput::PeerGone(_) => unreachable!("taken by the app"),
            }
        }
        self.tabs[i].wake = self.tabs[i].hub.poll_timeout();
    }

    pub fn broadcast(&mut self, from: usize, to: Option<TabId>, raw: String) {
        if let Ok(frame) = serde_json::from_str::<TabFrame>(&raw) {
            let addressed = match &frame.msg {
                TabMsg::Snapshot { to, .. } => *to,
                TabMsg::Replay { to, .. } => Some(*to),
                _ => None,
            };
            assert_eq!(to, addressed, "a Send addressed unlike its frame: {raw}");
            match frame.msg {
                TabMsg::Event(_) => self.log.relays.push((self.now, frame.term, from)),
                TabMsg::Claim { .. } => self.log.claims += 1,
                _ => {}
            }
        } else {
            panic!("a hub broadcast something it cannot parse: {raw}");
        }
        let raw: Rc<str> = raw.into();
        if let Some(recorded) = &mut self.log.recorded {
            recorded.push(raw.clone());
        }
        for to in 0..self.tabs.len() {
            if to == from
                || matches!(self.tabs[to].state, TabState::Gone | TabState::Hidden)
                || self.rng.chance(self.cfg.drop)
            {
                continue;
            }
            let delay =
                self.cfg.min_delay + self.rng.below(self.cfg.max_delay - self.cfg.min_delay + 1);
            let mut at = self.now + delay;
            if self.cfg.fifo {
                let last = self.pair_last.entry((from, to)).or_insert(0);
                at = at.max(*last);
                *last = at;
            }
            self.schedule_at(
                at,
                Ev::Channel {
                    to,
                    raw: raw.clone(),
                },
            );
        }
    }

    // ----- locks -----

    pub fn request_lock(&mut self, i: usize, steal: bool) {
        // The adapter drops its previous request (releasing a held lock) before a new one.
        self.locks.queue.retain(|&t| t != i);
        if steal {
            if let Some(holder) = self.locks.holder {
                if holder != i {
                    let delay = self.cfg.lock_delay;
                    self.schedule(delay, Ev::LockLost { tab: holder });
                }
            }
            self.locks.holder = Some(i);
            let delay = self.cfg.lock_delay;
            self.schedule(delay, Ev::LockGranted { tab: i });
            return;
        }
        if self.locks.holder == Some(i) {
            self.locks.holder = None;
            self.grant_next();
        }
        self.locks.queue.push_back(i);
        if self.locks.holder.is_none() {
            self.grant_next();
        }
    }

    pub fn release_lock(&mut self, i: usize) {
        self.locks.queue.retain(|&t| t != i);
        if self.locks.holder == Some(i) {
            self.locks.holder = None;
            self.grant_next();
        }
    }

    pub fn grant_next(&mut self) {
        while let Some(next) = self.locks.queue.pop_front() {
            if self.tabs[next].state != TabState::Gone {
                self.locks.holder = Some(next);
                let delay = self.cfg.lock_delay;
                self.schedule(delay, Ev::LockGranted { tab: next });
                return;
            }
        }
    }
}
