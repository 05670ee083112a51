//! Deterministic simulation of many tabs running `crate::relay::TabHub` on a virtual clock: a
//! simulated BroadcastChannel (drops, delays, reordering from a seeded PRNG), a Web Locks manager
//! (exclusive, FIFO, steal; released when a tab crashes or closes, not when it freezes), and a
//! server that emits fleet events, replays from a last event id and serves snapshots. Tabs open
//! late, close cleanly, crash, freeze and resume, enter and leave the back/forward cache, and
//! have their timers throttled like hidden tabs.
//!
//! Invariants checked: at most one tab relays per term (in lossless runs; with drops, two
//! same-term leaders overlap only briefly); every event the server emitted reaches every live tab
//! exactly once and in order, counting snapshot coverage; every tab's state equals the server's
//! for its watch; failover within `HubConfig::failover_bound_ms`.
//!
//! Knobs for exploring beyond the default suite: `SIM_CHAOS_SEEDS=<n>` (chaos seeds, default 4),
//! `SIM_DROP=<p>` (chaos drop probability, default 0.03), `SIM_ONLY=Lease/24` (one chaos run),
//! `SIM_TRACE=1` (role changes and per-tab counters on stderr; use with `--nocapture`).
#![cfg(not(target_arch = "wasm32"))]

use convoy_core::election::{ElectionMode, Role};
use convoy_core::fleet::Fleet;
use convoy_core::relay::{
    Connection, Departure, HubConfig, HubOutput, TabFrame, TabHub, TabId, TabMsg, UpstreamState,
};
use convoy_core::wire::{
    Envelope, EventId, FleetEvent, FleetSnapshot, Point, TruckState, TruckStatus, Watch,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

// ----- PRNG -----

/// SplitMix64: small, seeded, good enough for scheduling noise.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

// ----- configuration -----

#[derive(Debug, Clone)]
struct SimConfig {
    mode: ElectionMode,
    seed: u64,
    /// Probability a channel message to one tab is lost.
    drop: f64,
    /// Channel delay range (ms).
    min_delay: u64,
    max_delay: u64,
    /// Keep per-sender order (BroadcastChannel does); `false` lets delays reorder messages.
    fifo: bool,
    /// Lock manager latency.
    lock_delay: u64,
    /// Snapshot fetch round trip.
    fetch_delay: u64,
    /// Upstream connect latency and per-event latency.
    connect_delay: u64,
    upstream_delay: u64,
    /// The server emits an event this often.
    event_interval: u64,
    server_heartbeat: u64,
    trucks: usize,
    /// Tweaks applied to every tab's `HubConfig`.
    hub: fn(&mut HubConfig),
}

impl SimConfig {
    fn new(mode: ElectionMode, seed: u64) -> Self {
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

    fn lossy(mut self, drop: f64) -> Self {
        self.drop = drop;
        self.fifo = false;
        self.max_delay = 20;
        self
    }

    fn hub_config(&self, tab_id: TabId, watch: Watch) -> HubConfig {
        let mut config = HubConfig::new(tab_id, self.mode);
        config.watch = watch;
        (self.hub)(&mut config);
        config
    }
}

// ----- the simulated world -----

#[derive(Debug)]
enum Ev {
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
    ServerEmit,
    ServerHeartbeat,
}

impl Ev {
    /// The tab an event is for (server ticks are for nobody).
    fn tab(&self) -> Option<usize> {
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
            | Ev::UpError { tab, .. } => Some(*tab),
            Ev::ServerEmit | Ev::ServerHeartbeat => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TabState {
    Live,
    /// Not running: inputs wait in the inbox, timers do not fire, the lock stays held.
    Frozen,
    /// In the back/forward cache (after `handle_page_hide`).
    Hidden,
    /// Crashed or closed.
    Gone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Item {
    Snap(EventId),
    Event(EventId),
}

struct Tab {
    id: TabId,
    hub: TabHub,
    state: TabState,
    /// Timer granularity: 0 for a visible tab, 1 000 for hidden, 60 000 after 5 min hidden.
    throttle: u64,
    inbox: Vec<Ev>,
    wake: Option<u64>,
    conn: Option<u64>,
    opened_at: u64,
    /// (time, watch) from the tab's start.
    watches: Vec<(u64, Watch)>,
    items: Vec<Item>,
    app: Option<Fleet>,
    position: Option<EventId>,
    violations: Vec<String>,
    /// (time, status) of every `ConnectionChanged`.
    connections: Vec<(u64, Connection)>,
    /// Every `PeerGone`.
    gone_peers: Vec<TabId>,
}

#[derive(Debug)]
struct Conn {
    tab: usize,
    watch: Watch,
    last_at: u64,
}

struct Server {
    fleet: Fleet,
    history: Vec<(u64, Envelope)>,
    /// Resuming after an id below this is impossible (history gone).
    floor: EventId,
    next_id: EventId,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    emitting: bool,
    /// How many upstream streams were ever opened.
    opened: u64,
}

#[derive(Default)]
struct LockManager {
    holder: Option<usize>,
    queue: VecDeque<usize>,
}

#[derive(Default)]
struct Log {
    /// (time, term, tab) of every relayed event frame.
    relays: Vec<(u64, u64, usize)>,
    /// (time, tab) of every `OpenUpstream`.
    opens: Vec<(u64, usize)>,
    /// (time, tab) of every `FetchSnapshot` issued by a tab without a cursor.
    seeds: Vec<(u64, usize)>,
    /// (time, tab) of every change to leader.
    leads: Vec<(u64, usize)>,
    /// Claim frames sent.
    claims: u64,
    /// Most upstream streams open at once, frozen tabs' streams not counted.
    max_open_streams: usize,
}

struct Sim {
    cfg: SimConfig,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), Ev>,
    rng: Rng,
    tabs: Vec<Tab>,
    server: Server,
    locks: LockManager,
    log: Log,
    /// Per (from, to) latest scheduled channel delivery, for FIFO.
    pair_last: BTreeMap<(usize, usize), u64>,
    used_ids: BTreeSet<TabId>,
}

const EPOCH: u64 = 1_700_000_000_000;

fn truck_name(i: usize) -> String {
    format!("T-{:02}", i + 1)
}

fn trucks(names: &[&str]) -> Watch {
    Watch::Trucks(names.iter().map(|s| s.to_string()).collect())
}

fn seed_truck(i: usize) -> TruckState {
    TruckState {
        id: truck_name(i),
        driver: format!("Driver {i}"),
        route_id: format!("R{i}"),
        route_name: format!("Route {i}"),
        status: TruckStatus::Idle,
        next_stop: 0,
        progress: 0.0,
        position: Point { x: 0.0, y: 0.0 },
        speed_kph: 0.0,
        planned_arrival_ms: EPOCH + 3_600_000,
        eta_ms: EPOCH + 3_600_000,
        fuel_pct: 100.0,
        reefer_c: None,
        reefer_band: None,
        driver_minutes_left: 540,
        alerts: vec![],
        updated_ms: EPOCH,
        last_event_id: 1_000,
    }
}

impl Sim {
    fn new(cfg: SimConfig) -> Sim {
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
            server: Server {
                fleet,
                history: Vec::new(),
                floor: 0,
                next_id: 1_001,
                conns: BTreeMap::new(),
                next_conn: 1,
                emitting: true,
                opened: 0,
            },
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

    fn schedule(&mut self, delay: u64, ev: Ev) {
        self.schedule_at(self.now + delay, ev);
    }

    fn schedule_at(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.insert((at, self.seq), ev);
    }

    // ----- tabs -----

    fn open_tab(&mut self, watch: Watch) -> usize {
        let id = loop {
            let id = 1 + self.rng.below(1 << 40);
            if self.used_ids.insert(id) {
                break id;
            }
        };
        self.open_tab_with_id(id, watch)
    }

    fn open_tab_with_id(&mut self, id: TabId, watch: Watch) -> usize {
        self.used_ids.insert(id);
        let config = self.cfg.hub_config(id, watch.clone());
        let hub = TabHub::new(config, self.now);
        self.tabs.push(Tab {
            id,
            hub,
            state: TabState::Live,
            throttle: 0,
            inbox: Vec::new(),
            wake: None,
            conn: None,
            opened_at: self.now,
            watches: vec![(self.now, watch)],
            items: Vec::new(),
            app: None,
            position: None,
            violations: Vec::new(),
            connections: Vec::new(),
            gone_peers: Vec::new(),
        });
        let i = self.tabs.len() - 1;
        self.pump(i);
        i
    }

    fn live(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.tabs.len()).filter(|&i| self.tabs[i].state == TabState::Live)
    }

    fn close(&mut self, i: usize) {
        let now = self.now;
        self.tabs[i].hub.shutdown(now);
        self.pump(i);
        self.gone(i);
    }

    fn crash(&mut self, i: usize) {
        self.gone(i);
    }

    fn gone(&mut self, i: usize) {
        self.tabs[i].state = TabState::Gone;
        self.tabs[i].inbox.clear();
        self.close_conn(i);
        self.release_lock(i);
    }

    fn freeze(&mut self, i: usize) {
        self.tabs[i].state = TabState::Frozen;
    }

    fn resume(&mut self, i: usize) {
        self.tabs[i].state = TabState::Live;
        let inbox = std::mem::take(&mut self.tabs[i].inbox);
        for ev in inbox {
            self.deliver(ev);
        }
        self.pump(i);
    }

    fn hide(&mut self, i: usize) {
        let now = self.now;
        self.tabs[i].hub.handle_page_hide(now);
        self.pump(i);
        self.tabs[i].state = TabState::Hidden;
    }

    fn show(&mut self, i: usize) {
        self.tabs[i].state = TabState::Live;
        let now = self.now;
        self.tabs[i].hub.handle_page_show(now);
        self.pump(i);
    }

    fn set_watch(&mut self, i: usize, watch: Watch) {
        let now = self.now;
        self.tabs[i].watches.push((now, watch.clone()));
        self.tabs[i].hub.set_watch(now, watch);
        self.pump(i);
    }

    fn inject(&mut self, i: usize, raw: &str) {
        let now = self.now;
        self.tabs[i].hub.handle_channel_message(now, raw);
        self.pump(i);
    }

    fn role(&self, i: usize) -> Role {
        self.tabs[i].hub.diagnostics().role
    }

    fn leaders(&self) -> Vec<usize> {
        self.live()
            .filter(|&i| self.role(i) == Role::Leader)
            .collect()
    }

    fn leader(&self) -> usize {
        let leaders = self.leaders();
        assert_eq!(
            leaders.len(),
            1,
            "expected one leader at {}",
            self.now - EPOCH
        );
        leaders[0]
    }

    // ----- the event loop -----

    fn run_for(&mut self, ms: u64) {
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
    fn effective(&self, i: usize, at: u64) -> u64 {
        let q = self.tabs[i].throttle;
        let at = at.max(self.now);
        if q == 0 {
            at
        } else {
            at.div_ceil(q) * q
        }
    }

    fn dispatch(&mut self, ev: Ev) {
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
    fn deliver(&mut self, ev: Ev) {
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
            _ => return,
        }
        self.pump(i);
    }

    /// Carries out a tab's outputs.
    fn pump(&mut self, i: usize) {
        while let Some(output) = self.tabs[i].hub.poll_output() {
            let now = self.now;
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
                HubOutput::Deliver(envelope) => self.record_event(i, &envelope),
                HubOutput::DeliverSnapshot(snapshot) => self.record_snapshot(i, snapshot),
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
                HubOutput::ConnectionChanged(connection) => {
                    assert_eq!(&connection, self.tabs[i].hub.connection());
                    self.tabs[i].connections.push((now, connection));
                }
                HubOutput::PeerGone(tab) => self.tabs[i].gone_peers.push(tab),
            }
        }
        self.tabs[i].wake = self.tabs[i].hub.poll_timeout();
    }

    fn broadcast(&mut self, from: usize, to: Option<TabId>, raw: String) {
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

    fn request_lock(&mut self, i: usize, steal: bool) {
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

    fn release_lock(&mut self, i: usize) {
        self.locks.queue.retain(|&t| t != i);
        if self.locks.holder == Some(i) {
            self.locks.holder = None;
            self.grant_next();
        }
    }

    fn grant_next(&mut self) {
        while let Some(next) = self.locks.queue.pop_front() {
            if self.tabs[next].state != TabState::Gone {
                self.locks.holder = Some(next);
                let delay = self.cfg.lock_delay;
                self.schedule(delay, Ev::LockGranted { tab: next });
                return;
            }
        }
    }

    // ----- server -----

    fn emit(&mut self) {
        let t = self.rng.below(self.cfg.trucks as u64) as usize;
        let truck = truck_name(t);
        let id = self.server.next_id;
        self.server.next_id += 1;
        let at_ms = self.now;
        let r = self.rng.next();
        let event = if r.is_multiple_of(5) {
            FleetEvent::Status {
                truck,
                at_ms,
                status: TruckStatus::ALL[(r >> 8) as usize % 6],
                next_stop: (r >> 16) as usize % 5,
            }
        } else {
            FleetEvent::Telemetry {
                truck,
                at_ms,
                position: Point {
                    x: (r >> 8) as u16 as f32 / 64.0,
                    y: (r >> 24) as u16 as f32 / 64.0,
                },
                progress: ((r >> 40) % 100) as f32 / 100.0,
                speed_kph: ((r >> 48) % 120) as f32,
                eta_ms: at_ms + 3_600_000,
                planned_arrival_ms: at_ms + 3_000_000,
                fuel_pct: ((r >> 20) % 100) as f32,
                reefer_c: None,
                driver_minutes_left: ((r >> 32) % 600) as u32,
            }
        };
        let envelope = Envelope { id, event };
        self.server.fleet.apply(&envelope);
        self.server.history.push((self.now, envelope.clone()));
        let targets: Vec<(u64, usize)> = self
            .server
            .conns
            .iter()
            .filter(|(_, c)| c.watch.includes(envelope.event.truck()))
            .map(|(id, c)| (*id, c.tab))
            .collect();
        for (conn, tab) in targets {
            let at = self.conn_slot(conn);
            self.schedule_at(
                at,
                Ev::UpEvent {
                    tab,
                    conn,
                    envelope: envelope.clone(),
                },
            );
        }
    }

    /// The next in-order delivery time on a connection.
    fn conn_slot(&mut self, conn: u64) -> u64 {
        let at = self.now + self.cfg.upstream_delay;
        let c = self.server.conns.get_mut(&conn).expect("open connection");
        c.last_at = c.last_at.max(at);
        c.last_at
    }

    fn open_conn(&mut self, i: usize, watch: Watch, last_event_id: Option<EventId>) {
        self.close_conn(i);
        let conn = self.server.next_conn;
        self.server.next_conn += 1;
        self.server.opened += 1;
        let open_at = self.now + self.cfg.connect_delay;
        self.server.conns.insert(
            conn,
            Conn {
                tab: i,
                watch: watch.clone(),
                last_at: open_at,
            },
        );
        self.tabs[i].conn = Some(conn);
        self.schedule_at(open_at, Ev::UpOpen { tab: i, conn });
        let after = last_event_id.unwrap_or(self.server.next_id - 1);
        if after + 1 < self.server.floor {
            self.schedule_at(open_at, Ev::UpReset { tab: i, conn });
        } else {
            let replay: Vec<Envelope> = self
                .server
                .history
                .iter()
                .filter(|(_, e)| e.id > after && watch.includes(e.event.truck()))
                .map(|(_, e)| e.clone())
                .collect();
            for envelope in replay {
                self.schedule_at(
                    open_at,
                    Ev::UpEvent {
                        tab: i,
                        conn,
                        envelope,
                    },
                );
            }
        }
        let open = self
            .server
            .conns
            .values()
            .filter(|c| self.tabs[c.tab].state == TabState::Live)
            .count();
        self.log.max_open_streams = self.log.max_open_streams.max(open);
    }

    fn close_conn(&mut self, i: usize) {
        if let Some(conn) = self.tabs[i].conn.take() {
            self.server.conns.remove(&conn);
        }
    }

    /// The server drops a tab's stream.
    fn kill_stream(&mut self, i: usize) {
        if let Some(conn) = self.tabs[i].conn {
            self.server.conns.remove(&conn);
            self.schedule(1, Ev::UpError { tab: i, conn });
        }
    }

    /// The server loses its history (a restart without a shared broker) and says so.
    fn forget_history(&mut self) {
        self.server.floor = self.server.next_id;
        let conns: Vec<(u64, usize)> = self.server.conns.iter().map(|(c, k)| (*c, k.tab)).collect();
        for (conn, tab) in conns {
            let at = self.conn_slot(conn);
            self.schedule_at(at, Ev::UpReset { tab, conn });
        }
    }

    // ----- what each tab's app got -----

    fn record_event(&mut self, i: usize, envelope: &Envelope) {
        let tab = &mut self.tabs[i];
        tab.items.push(Item::Event(envelope.id));
        let watch = &tab.watches.last().expect("a watch").1;
        if !watch.includes(envelope.event.truck()) {
            tab.violations.push(format!(
                "event {} about {} delivered to a tab watching {watch}",
                envelope.id,
                envelope.event.truck()
            ));
        }
        match tab.position {
            None => tab.violations.push(format!(
                "event {} delivered before any snapshot",
                envelope.id
            )),
            Some(p) if envelope.id <= p => tab.violations.push(format!(
                "event {} delivered at position {p}: repeat or out of order",
                envelope.id
            )),
            _ => {}
        }
        tab.position = Some(tab.position.map_or(envelope.id, |p| p.max(envelope.id)));
        if let Some(app) = &mut tab.app {
            app.apply(envelope);
        }
    }

    fn record_snapshot(&mut self, i: usize, snapshot: FleetSnapshot) {
        let tab = &mut self.tabs[i];
        let id = snapshot.last_event_id;
        tab.items.push(Item::Snap(id));
        let watch = &tab.watches.last().expect("a watch").1;
        if let Some(t) = snapshot.trucks.iter().find(|t| !watch.includes(&t.id)) {
            tab.violations.push(format!(
                "snapshot {id} has {} outside the watch {watch}",
                t.id
            ));
        }
        if let Some(p) = tab.position {
            if id < p {
                tab.violations
                    .push(format!("snapshot {id} delivered after event {p}"));
            }
        }
        tab.position = Some(tab.position.map_or(id, |p| p.max(id)));
        tab.app = Some(Fleet::from_snapshot(snapshot));
    }

    // ----- checks -----

    /// Stops the server, lets everything settle, and checks every invariant.
    fn settle_and_check(&mut self) {
        self.server.emitting = false;
        self.run_for(4_000);
        if std::env::var_os("SIM_TRACE").is_some() {
            for i in self.live() {
                eprintln!("tab {i}: {:?}", self.tabs[i].hub.diagnostics());
            }
        }
        self.check_delivery();
        self.check_agreement();
    }

    /// Exactly once, in order, complete (counting snapshots), and the same state as the server.
    fn check_delivery(&self) {
        let end = self.now;
        for i in self.live() {
            let tab = &self.tabs[i];
            assert!(
                tab.violations.is_empty(),
                "tab {i} ({}): {:?}",
                tab.id,
                tab.violations
            );
            let delivered: BTreeSet<EventId> = tab
                .items
                .iter()
                .filter_map(|item| match item {
                    Item::Event(id) => Some(*id),
                    Item::Snap(_) => None,
                })
                .collect();
            let snapshot_max = tab
                .items
                .iter()
                .filter_map(|item| match item {
                    Item::Snap(id) => Some(*id),
                    Item::Event(_) => None,
                })
                .max()
                .unwrap_or_else(|| panic!("tab {i} never got a snapshot"));
            let mut missing = Vec::new();
            for (at, envelope) in &self.server.history {
                let truck = envelope.event.truck();
                // Watched from the event's emission to the end.
                let since = tab
                    .watches
                    .iter()
                    .rposition(|(t, _)| *t <= *at)
                    .unwrap_or(0);
                let watched = tab.watches[since..].iter().all(|(_, w)| w.includes(truck));
                if watched && envelope.id > snapshot_max && !delivered.contains(&envelope.id) {
                    missing.push(envelope.id);
                }
            }
            assert!(
                missing.is_empty(),
                "tab {i} ({}) opened at {} missed {} events, first {:?}; items tail {:?}; {:?}",
                tab.id,
                tab.opened_at - EPOCH,
                missing.len(),
                &missing[..missing.len().min(5)],
                &tab.items[tab.items.len().saturating_sub(5)..],
                tab.hub.diagnostics()
            );
            let watch = &tab.watches.last().expect("a watch").1;
            let app = tab.app.as_ref().expect("app state");
            assert_eq!(
                app.snapshot(watch).trucks,
                self.server.fleet.snapshot(watch).trucks,
                "tab {i}: state differs from the server's at {}",
                end - EPOCH
            );
        }
    }

    /// One leader, known to every live tab; its stream is the only one.
    fn check_agreement(&self) {
        let leader = self.leader();
        let diag = self.tabs[leader].hub.diagnostics();
        for i in self.live() {
            let d = self.tabs[i].hub.diagnostics();
            assert_eq!(
                (d.leader_id, d.term),
                (Some(self.tabs[leader].id), diag.term),
                "tab {i} disagrees about the leader"
            );
            assert_eq!(d.cursor, diag.cursor, "tab {i} is behind the leader");
        }
        let streams: Vec<usize> = self.server.conns.values().map(|c| c.tab).collect();
        if diag
            .subscribed
            .as_ref()
            .is_some_and(|w| *w != Watch::Trucks(BTreeSet::new()))
        {
            assert_eq!(streams, vec![leader], "one stream, the leader's");
            assert_eq!(diag.upstream, UpstreamState::Open);
        }
    }

    /// At most one tab relays per term (lossless runs).
    fn check_one_relay_per_term(&self) {
        let mut by_term: BTreeMap<u64, BTreeSet<usize>> = BTreeMap::new();
        for (_, term, tab) in &self.log.relays {
            by_term.entry(*term).or_default().insert(*tab);
        }
        for (term, tabs) in by_term {
            assert!(tabs.len() <= 1, "term {term} relayed by tabs {tabs:?}");
        }
    }

    /// With drops, two tabs may briefly lead in one term; they must converge quickly.
    fn max_same_term_overlap(&self) -> u64 {
        let mut spans: BTreeMap<(u64, usize), (u64, u64)> = BTreeMap::new();
        for (at, term, tab) in &self.log.relays {
            let span = spans.entry((*term, *tab)).or_insert((*at, *at));
            span.1 = *at;
        }
        let mut worst = 0;
        for (&(term, a), &(a0, a1)) in &spans {
            for (&(term_b, b), &(b0, b1)) in &spans {
                if term == term_b && a < b {
                    let overlap = a1.min(b1).saturating_sub(a0.max(b0));
                    if a1 >= b0 && b1 >= a0 {
                        worst = worst.max(overlap);
                    }
                }
            }
        }
        worst
    }

    /// Runs until a tab other than `old` leads with its upstream (re)opening and every live tab
    /// follows it; returns how long that took from `since`, or `None` within `max_ms`.
    fn failover(&mut self, since: u64, old: usize, max_ms: u64) -> Option<u64> {
        loop {
            let leaders = self.leaders();
            if let [leader] = leaders[..] {
                let d = self.tabs[leader].hub.diagnostics();
                let streaming = d.upstream != UpstreamState::Closed || d.cursor == 0;
                let id = self.tabs[leader].id;
                if leader != old
                    && streaming
                    && self
                        .live()
                        .all(|i| self.tabs[i].hub.diagnostics().leader_id == Some(id))
                {
                    if std::env::var_os("SIM_TRACE").is_some() {
                        eprintln!("failover {:?} in {} ms", self.cfg.mode, self.now - since);
                    }
                    return Some(self.now - since);
                }
            }
            if self.now >= since + max_ms {
                return None;
            }
            self.run_for(5);
        }
    }

    fn bound(&self, departure: Departure) -> u64 {
        self.cfg
            .hub_config(0, Watch::All)
            .failover_bound_ms(departure)
    }
}

fn both_modes() -> [ElectionMode; 2] {
    [ElectionMode::Locks, ElectionMode::Lease]
}

fn open_many(sim: &mut Sim, n: usize, spacing: u64) -> Vec<usize> {
    (0..n)
        .map(|k| {
            let watch = match k % 4 {
                0 => Watch::All,
                1 => trucks(&["T-01", "T-02"]),
                2 => trucks(&["T-03"]),
                _ => trucks(&["T-02", "T-05", "T-07"]),
            };
            let i = sim.open_tab(watch);
            sim.run_for(spacing);
            i
        })
        .collect()
}

// ----- scenarios -----

#[test]
fn fifty_tabs_share_one_stream_and_all_get_everything() {
    for mode in both_modes() {
        let mut cfg = SimConfig::new(mode, 1);
        cfg.event_interval = 100;
        let mut sim = Sim::new(cfg);
        open_many(&mut sim, 50, 20);
        sim.run_for(3_000);
        assert_eq!(sim.leaders().len(), 1, "{mode:?}");
        sim.settle_and_check();
        sim.check_one_relay_per_term();
        assert_eq!(
            sim.log.max_open_streams, 1,
            "{mode:?}: one upstream for 50 tabs"
        );
        assert_eq!(sim.server.opened, 1, "{mode:?}: opened once");
    }
}

#[test]
fn clean_close_of_the_leader_fails_over_within_bound() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 2));
        open_many(&mut sim, 6, 50);
        sim.run_for(1_000);
        for round in 0..4 {
            let old = sim.leader();
            let t0 = sim.now;
            sim.close(old);
            let took = sim
                .failover(t0, old, 1_500)
                .unwrap_or_else(|| panic!("{mode:?} round {round}: no takeover"));
            sim.run_for(1_000);
            let bound = sim.bound(Departure::CleanClose);
            assert!(
                took < bound,
                "{mode:?} round {round}: {took} ms >= {bound} ms"
            );
            sim.open_tab(Watch::All);
            sim.run_for(500);
        }
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn crash_of_the_leader_fails_over_within_bound() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 3));
        open_many(&mut sim, 6, 50);
        sim.run_for(1_000);
        for round in 0..3 {
            let old = sim.leader();
            let t0 = sim.now;
            sim.crash(old);
            let took = sim
                .failover(t0, old, 5_000)
                .unwrap_or_else(|| panic!("{mode:?} round {round}: no takeover"));
            sim.run_for(1_000);
            let bound = sim.bound(Departure::Crash);
            assert!(
                took < bound,
                "{mode:?} round {round}: {took} ms >= {bound} ms"
            );
        }
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn frozen_leader_is_replaced_and_stands_down_when_it_resumes() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 4));
        open_many(&mut sim, 5, 50);
        sim.run_for(1_000);
        let old = sim.leader();
        let old_term = sim.tabs[old].hub.diagnostics().term;
        let t0 = sim.now;
        sim.freeze(old);
        let took = sim.failover(t0, old, 6_000).expect("takeover");
        sim.run_for(1_000);
        let bound = sim.bound(Departure::Freeze);
        assert!(took < bound, "{mode:?}: {took} ms >= {bound} ms");
        let new = sim.leader();
        assert_ne!(new, old);
        assert!(sim.tabs[new].hub.diagnostics().term > old_term);
        if mode == ElectionMode::Locks {
            assert_eq!(sim.locks.holder, Some(new), "the new leader stole the lock");
        }
        sim.resume(old);
        sim.run_for(1_000);
        assert_eq!(
            sim.role(old),
            Role::Follower,
            "{mode:?}: old leader follows"
        );
        assert_eq!(sim.leader(), new);
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn lossy_reordering_channel_still_delivers_exactly_once() {
    for mode in both_modes() {
        for seed in [11, 12, 13] {
            let mut sim = Sim::new(SimConfig::new(mode, seed).lossy(0.08));
            open_many(&mut sim, 8, 100);
            sim.run_for(2_000);
            let old = sim.leader();
            sim.crash(old);
            sim.run_for(5_000);
            let old = sim.leader();
            sim.close(old);
            sim.run_for(2_000);
            sim.open_tab(trucks(&["T-04"]));
            sim.run_for(2_000);
            sim.settle_and_check();
            let overlap = sim.max_same_term_overlap();
            if std::env::var_os("SIM_TRACE").is_some() {
                let terms: BTreeSet<u64> = sim.log.relays.iter().map(|r| r.1).collect();
                eprintln!(
                    "{mode:?}/{seed}: overlap {overlap} ms, {} terms, {} claims, {} relays",
                    terms.len(),
                    sim.log.claims,
                    sim.log.relays.len(),
                );
            }
            assert!(
                overlap <= 1_000,
                "{mode:?}/{seed}: same-term overlap {overlap} ms"
            );
            let gaps: u64 = sim.live().map(|i| sim.tabs[i].hub.diagnostics().gaps).sum();
            assert!(
                gaps > 0,
                "{mode:?}/{seed}: the drops were noticed and repaired"
            );
        }
    }
}

#[test]
fn malformed_and_foreign_messages_are_counted_not_fatal() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 5));
        open_many(&mut sim, 3, 50);
        sim.run_for(500);
        let deep = "[".repeat(10_000);
        let malformed = [
            "",
            "not json",
            "null",
            "[1,2,3]",
            r#"{"v":1,"app":"convoy"}"#,
            r#"{"v":1,"app":"convoy","from":5,"term":1,"msg":{"type":"bogus"}}"#,
            r#"{"v":1,"app":"convoy","from":5,"term":1,"msg":{"type":"event","event":{"id":5,"event":{"type":"status","truck":"T-01","at_ms":1,"status":"idle","next_stop":0}},"prev":9,"union":{"kind":"all"}}}"#,
            r#"{"v":1,"app":"convoy","from":5,"term":18446744073709551615,"msg":{"type":"goodbye"}}"#,
            r#"{"v":1,"app":"convoy","from":-1,"term":1,"msg":{"type":"goodbye"}}"#,
            deep.as_str(),
            "\u{0}\u{ffff}\"",
        ];
        let foreign = [
            "{}",
            r#"{"v":2,"app":"convoy","from":5,"term":1,"msg":{"type":"goodbye"}}"#,
            r#"{"v":2,"app":"convoy","from":5,"term":1,"msg":{"type":"telepathy"}}"#,
            r#"{"v":1,"app":"other","from":5,"term":1,"msg":{"type":"goodbye"}}"#,
            r#"{"app":"rxdb","type":"leader"}"#,
        ];
        let mut rng = Rng(99);
        let noise: Vec<String> = (0..50)
            .map(|_| {
                (0..rng.below(40))
                    .map(|_| char::from_u32(rng.below(0x2FF) as u32).unwrap_or('?'))
                    .collect()
            })
            .collect();
        for i in sim.live().collect::<Vec<_>>() {
            for raw in malformed {
                sim.inject(i, raw);
            }
            for raw in foreign {
                sim.inject(i, raw);
            }
            for raw in &noise {
                let before = sim.tabs[i].hub.diagnostics().foreign;
                sim.inject(i, raw);
                assert_eq!(
                    sim.tabs[i].hub.diagnostics().foreign,
                    before,
                    "noise {raw:?}"
                );
            }
            let own = format!(
                r#"{{"v":1,"app":"convoy","from":{},"term":1,"msg":{{"type":"goodbye"}}}}"#,
                sim.tabs[i].id
            );
            sim.inject(i, &own);
            let d = sim.tabs[i].hub.diagnostics();
            assert_eq!(d.foreign, foreign.len() as u64 + 1, "{mode:?} tab {i}");
            assert!(d.malformed >= malformed.len() as u64, "{mode:?} tab {i}");
            assert_eq!(
                d.malformed + d.foreign,
                malformed.len() as u64 + foreign.len() as u64 + 1 + noise.len() as u64,
                "{mode:?} tab {i}"
            );
        }
        sim.run_for(1_000);
        sim.settle_and_check();
    }
}

#[test]
fn merged_subscription_follows_tabs_opening_closing_and_changing_watch() {
    for mode in both_modes() {
        let mut cfg = SimConfig::new(mode, 6);
        cfg.hub = |c| {
            c.peer_expiry_ms = 4_000;
            c.watch_refresh_ms = 1_000;
        };
        let mut sim = Sim::new(cfg);
        let a = sim.open_tab(trucks(&["T-01"]));
        sim.run_for(500);
        let b = sim.open_tab(trucks(&["T-02"]));
        let c = sim.open_tab(trucks(&["T-03"]));
        sim.run_for(1_000);
        let subscribed = |sim: &Sim| {
            let leader = sim.leader();
            let conn = sim.tabs[leader].conn.expect("the leader's stream");
            sim.server.conns[&conn].watch.clone()
        };
        assert_eq!(
            subscribed(&sim),
            trucks(&["T-01", "T-02", "T-03"]),
            "{mode:?}"
        );
        // A follower changes its watch: the stream follows, and it gets the new truck's state.
        let follower = [a, b, c].into_iter().find(|&i| i != sim.leader()).unwrap();
        let before = sim.tabs[follower].items.len();
        sim.set_watch(follower, trucks(&["T-06"]));
        sim.run_for(1_000);
        let mut expected: BTreeSet<&str> = ["T-01", "T-02", "T-03"].into();
        let old = match &sim.tabs[follower].watches[0].1 {
            Watch::Trucks(set) => set.iter().next().unwrap().clone(),
            Watch::All => unreachable!(),
        };
        expected.remove(old.as_str());
        expected.insert("T-06");
        assert_eq!(
            subscribed(&sim),
            trucks(&expected.iter().copied().collect::<Vec<_>>()),
            "{mode:?}"
        );
        assert!(
            sim.tabs[follower].items[before..]
                .iter()
                .any(|i| matches!(i, Item::Snap(_))),
            "{mode:?}: the grown watch came with a snapshot"
        );
        // A closing tab leaves the union at once; a crashed one after peer_expiry_ms.
        let others: Vec<usize> = [a, b, c]
            .into_iter()
            .filter(|&i| i != sim.leader() && i != follower)
            .collect();
        let closing = others[0];
        let closing_truck = sim.tabs[closing].watches[0].1.clone();
        sim.close(closing);
        sim.run_for(1_000);
        assert!(
            !subscribed(&sim).covers(&closing_truck),
            "{mode:?}: closed tab's truck left the stream"
        );
        let d = sim.open_tab(Watch::All);
        sim.run_for(1_000);
        assert_eq!(subscribed(&sim), Watch::All, "{mode:?}");
        sim.crash(d);
        sim.run_for(6_000);
        assert_ne!(subscribed(&sim), Watch::All, "{mode:?}: expired");
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn late_joiner_gets_snapshot_then_live_events_without_gap() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 7));
        open_many(&mut sim, 3, 50);
        sim.run_for(3_000);
        for watch in [Watch::All, trucks(&["T-02"]), trucks(&["T-08", "T-01"])] {
            let i = sim.open_tab(watch.clone());
            sim.run_for(1_000);
            let items = &sim.tabs[i].items;
            let Some(Item::Snap(s)) = items.first() else {
                panic!("{mode:?}: first item is not a snapshot: {items:?}");
            };
            let next: Vec<EventId> = items[1..]
                .iter()
                .map(|item| match item {
                    Item::Event(id) => *id,
                    Item::Snap(_) => panic!("{mode:?}: a second snapshot"),
                })
                .collect();
            let expected: Vec<EventId> = sim
                .server
                .history
                .iter()
                .filter(|(_, e)| e.id > *s && watch.includes(e.event.truck()))
                .map(|(_, e)| e.id)
                .take(next.len())
                .collect();
            assert!(!next.is_empty(), "{mode:?}: live events followed");
            assert_eq!(
                next, expected,
                "{mode:?}: live right after the snapshot, no gap"
            );
        }
        sim.settle_and_check();
    }
}

#[test]
fn upstream_errors_reconnect_with_backoff_from_the_cursor() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 8));
        open_many(&mut sim, 4, 50);
        sim.run_for(1_000);
        let leader = sim.leader();
        let mut delays = Vec::new();
        sim.kill_stream(leader);
        sim.run_for(2);
        for _ in 0..3 {
            let d = sim.tabs[leader].hub.diagnostics();
            assert_eq!(d.upstream, UpstreamState::Backoff, "{mode:?}");
            let at = d
                .reconnect_at_ms
                .expect("reconnect time for the status chip");
            delays.push(at - sim.now);
            sim.run_for(at - sim.now);
            assert!(sim.tabs[leader].conn.is_some(), "{mode:?}: reopened");
            // Fail again before the stream proves itself, so the backoff grows.
            sim.kill_stream(leader);
            sim.run_for(2);
        }
        assert!(delays[2] > delays[0], "{mode:?}: backoff grows: {delays:?}");
        assert!(delays.iter().all(|&d| d <= 30_000));
        sim.run_for(1_000);
        assert_eq!(
            sim.leader(),
            leader,
            "{mode:?}: no failover for a stream error"
        );
        sim.settle_and_check();
    }
}

#[test]
fn server_reset_gives_every_tab_the_new_snapshot() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 9));
        open_many(&mut sim, 5, 50);
        sim.run_for(1_000);
        let counts: Vec<usize> = sim.live().map(|i| sim.tabs[i].items.len()).collect();
        sim.forget_history();
        sim.run_for(1_000);
        for (k, i) in sim.live().collect::<Vec<_>>().into_iter().enumerate() {
            assert!(
                sim.tabs[i].items[counts[k]..]
                    .iter()
                    .any(|item| matches!(item, Item::Snap(_))),
                "{mode:?}: tab {i} got the reset snapshot"
            );
        }
        sim.settle_and_check();
    }
}

#[test]
fn bfcache_hide_hands_over_and_show_rejoins() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 10));
        open_many(&mut sim, 4, 50);
        sim.run_for(1_000);
        let old = sim.leader();
        let t0 = sim.now;
        sim.hide(old);
        assert!(
            sim.tabs[old].conn.is_none(),
            "{mode:?}: stream closed on pagehide"
        );
        if mode == ElectionMode::Locks {
            assert_ne!(sim.locks.holder, Some(old), "lock released on pagehide");
        }
        let took = sim.failover(t0, old, 2_000).expect("takeover");
        sim.run_for(1_000);
        assert!(
            took < sim.bound(Departure::CleanClose),
            "{mode:?}: {took} ms"
        );
        sim.show(old);
        sim.run_for(1_500);
        assert_eq!(sim.role(old), Role::Follower, "{mode:?}");
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn throttled_hidden_followers_still_fail_over_on_time() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 14));
        let tabs = open_many(&mut sim, 6, 50);
        sim.run_for(1_000);
        let leader = sim.leader();
        // Every follower but the one with the highest id is deep hidden (timers once a minute);
        // the lowest ids, which win claim rounds, are among them.
        let visible = tabs
            .iter()
            .copied()
            .filter(|&i| i != leader)
            .max_by_key(|&i| sim.tabs[i].id)
            .unwrap();
        for &i in &tabs {
            if i != visible {
                sim.tabs[i].throttle = 60_000;
            }
        }
        // The hidden leader's own timers are throttled too: server heartbeats keep it alive.
        sim.run_for(20_000);
        assert_eq!(
            sim.leader(),
            leader,
            "{mode:?}: no failover from a live hidden leader"
        );
        let t0 = sim.now;
        sim.crash(leader);
        let took = sim.failover(t0, leader, 5_000).expect("takeover");
        sim.run_for(1_000);
        let bound = sim.bound(Departure::Crash);
        assert!(took < bound, "{mode:?}: {took} ms >= {bound} ms");
        for &i in &tabs {
            sim.tabs[i].throttle = 0;
        }
        sim.settle_and_check();
    }
}

#[test]
fn silent_server_and_throttled_leader_keep_their_leader() {
    for mode in both_modes() {
        let mut cfg = SimConfig::new(mode, 15);
        cfg.server_heartbeat = 3_600_000;
        let mut sim = Sim::new(cfg);
        let tabs = open_many(&mut sim, 4, 50);
        sim.run_for(1_000);
        let leader = sim.leader();
        let term = sim.tabs[leader].hub.diagnostics().term;
        sim.server.emitting = false;
        sim.tabs[leader].throttle = 60_000;
        sim.run_for(30_000);
        // Followers claimed (the leader's timers were too slow), the leader answered each claim.
        assert!(sim.log.claims > 0, "{mode:?}: followers did claim");
        assert_eq!(sim.leader(), leader, "{mode:?}");
        assert_eq!(sim.tabs[leader].hub.diagnostics().term, term, "{mode:?}");
        for &i in &tabs {
            sim.tabs[i].throttle = 0;
        }
        sim.server.emitting = true;
        sim.run_for(1_000);
        sim.settle_and_check();
        sim.check_one_relay_per_term();
    }
}

#[test]
fn chaos_keeps_every_invariant() {
    for mode in both_modes() {
        // `SIM_CHAOS_SEEDS=200 cargo test --test relay_sim chaos` explores further.
        let seeds = std::env::var("SIM_CHAOS_SEEDS")
            .ok()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(4);
        for seed in 21..21 + seeds {
            if std::env::var("SIM_ONLY").is_ok_and(|o| o != format!("{mode:?}/{seed}")) {
                continue;
            }
            let drop = std::env::var("SIM_DROP")
                .ok()
                .and_then(|p| p.parse::<f64>().ok())
                .unwrap_or(0.03);
            let mut sim = Sim::new(SimConfig::new(mode, seed).lossy(drop));
            open_many(&mut sim, 6, 100);
            let mut frozen: Vec<usize> = Vec::new();
            let mut hidden: Vec<usize> = Vec::new();
            for _ in 0..25 {
                let live: Vec<usize> = sim.live().collect();
                // The leader is the interesting victim: pick it half the time.
                let leader = sim.leaders().first().copied();
                let pick = match leader {
                    Some(l) if sim.rng.below(2) == 0 => l,
                    _ => live[sim.rng.below(live.len() as u64) as usize],
                };
                let op = sim.rng.below(9);
                if std::env::var_os("SIM_TRACE").is_some() {
                    eprintln!(
                        "{} op {op} on tab {pick} (leader {leader:?})",
                        sim.now - EPOCH
                    );
                }
                match op {
                    0 if live.len() > 2 => sim.crash(pick),
                    1 if live.len() > 2 => sim.close(pick),
                    2 if live.len() > 2 && frozen.is_empty() => {
                        sim.freeze(pick);
                        frozen.push(pick);
                    }
                    3 if live.len() > 2 && hidden.is_empty() => {
                        sim.hide(pick);
                        hidden.push(pick);
                    }
                    4 => {
                        let k = sim.rng.below(8) as usize;
                        sim.set_watch(pick, trucks(&[&truck_name(k)]));
                    }
                    5 => {
                        if let Some(i) = frozen.pop() {
                            sim.resume(i);
                        }
                        if let Some(i) = hidden.pop() {
                            sim.show(i);
                        }
                    }
                    6 => {
                        let leader = sim.leaders().first().copied();
                        if let Some(l) = leader {
                            sim.kill_stream(l);
                        }
                    }
                    _ => {
                        let watch = if sim.rng.below(2) == 0 {
                            Watch::All
                        } else {
                            trucks(&["T-01", "T-04"])
                        };
                        sim.open_tab(watch);
                    }
                }
                let pause = 200 + sim.rng.below(1_500);
                sim.run_for(pause);
            }
            for i in frozen {
                sim.resume(i);
            }
            for i in hidden {
                sim.show(i);
            }
            sim.run_for(4_000);
            sim.settle_and_check();
            let overlap = sim.max_same_term_overlap();
            if std::env::var_os("SIM_TRACE").is_some() {
                let terms: BTreeSet<u64> = sim.log.relays.iter().map(|r| r.1).collect();
                eprintln!(
                    "{mode:?}/{seed}: overlap {overlap} ms, {} terms, {} claims, {} relays",
                    terms.len(),
                    sim.log.claims,
                    sim.log.relays.len(),
                );
            }
            assert!(
                overlap <= 1_000,
                "{mode:?}/{seed}: same-term overlap {overlap} ms"
            );
        }
    }
}

#[test]
fn followers_show_the_leaders_backoff_and_live_again_after() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 16));
        open_many(&mut sim, 4, 50);
        sim.run_for(1_000);
        for i in sim.live().collect::<Vec<_>>() {
            assert_eq!(sim.tabs[i].hub.connection(), &Connection::Live, "{mode:?}");
        }
        let leader = sim.leader();
        sim.kill_stream(leader);
        sim.run_for(20);
        let at = sim.tabs[leader]
            .hub
            .diagnostics()
            .reconnect_at_ms
            .expect("in backoff");
        let reconnecting = Connection::Reconnecting { at_ms: at };
        for i in sim.live().collect::<Vec<_>>() {
            assert_eq!(
                sim.tabs[i].hub.connection(),
                &reconnecting,
                "{mode:?} tab {i}"
            );
            assert_eq!(
                sim.tabs[i].connections.last().map(|c| &c.1),
                Some(&reconnecting),
                "{mode:?} tab {i}: emitted"
            );
        }
        sim.run_for(at - sim.now + sim.cfg.connect_delay + 50);
        for i in sim.live().collect::<Vec<_>>() {
            assert_eq!(
                sim.tabs[i].hub.connection(),
                &Connection::Live,
                "{mode:?} tab {i}"
            );
        }
        sim.settle_and_check();
    }
}

#[test]
fn a_leader_that_closes_in_backoff_leaves_no_reconnecting_behind() {
    for mode in both_modes() {
        let mut sim = Sim::new(SimConfig::new(mode, 17));
        open_many(&mut sim, 4, 50);
        sim.run_for(1_000);
        let old = sim.leader();
        sim.kill_stream(old);
        sim.run_for(20);
        let t0 = sim.now;
        sim.close(old);
        sim.failover(t0, old, 1_500).expect("takeover");
        sim.run_for(500);
        for i in sim.live().collect::<Vec<_>>() {
            assert_eq!(
                sim.tabs[i].hub.connection(),
                &Connection::Live,
                "{mode:?} tab {i}"
            );
        }
        sim.settle_and_check();
    }
}

#[test]
fn goodbyes_and_expiry_name_the_gone_peer() {
    let mut cfg = SimConfig::new(ElectionMode::Lease, 18);
    cfg.hub = |c| {
        c.peer_expiry_ms = 4_000;
        c.watch_refresh_ms = 1_000;
    };
    let mut sim = Sim::new(cfg);
    let tabs = open_many(&mut sim, 4, 50);
    sim.run_for(1_000);
    let leader = sim.leader();
    let others: Vec<usize> = tabs.iter().copied().filter(|&i| i != leader).collect();
    let (closing, crashing) = (others[0], others[1]);
    let (closing_id, crashing_id) = (sim.tabs[closing].id, sim.tabs[crashing].id);
    sim.close(closing);
    sim.run_for(100);
    for i in sim.live().collect::<Vec<_>>() {
        assert_eq!(sim.tabs[i].gone_peers, [closing_id], "tab {i}");
    }
    sim.crash(crashing);
    sim.run_for(5_000);
    for i in sim.live().collect::<Vec<_>>() {
        assert_eq!(sim.tabs[i].gone_peers, [closing_id, crashing_id], "tab {i}");
    }
}
