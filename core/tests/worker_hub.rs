//! Host tests of the worker modes of `crate::relay::TabHub`: one hub in `ElectionMode::Worker`
//! (a SharedWorker or service worker) holds the upstream and its frames reach every client tab's
//! port; each tab runs a hub in `ElectionMode::Client`, whose frames reach only the worker. The
//! ports are simulated in memory on a virtual clock, lossless and in order (MessagePorts are).
//!
//! Checked: the worker streams at once and only the union of its clients' watches; every client
//! gets every event of its watch exactly once and in order; late joiners get a snapshot; a
//! client that says goodbye or goes silent leaves the union; a worker that the browser stopped
//! and restarted resumes from its clients' cursor with no gap and no repeat; clients show the
//! worker's upstream status; the worker addresses its answers and names the clients that left.
//! Each client's app is the shared one from `support/`, which checks what arrives as it does
//! for the BroadcastChannel simulation.
#![cfg(not(target_arch = "wasm32"))]

mod support;

use convoy_core::election::{ElectionMode, Role};
use convoy_core::relay::{Connection, HubConfig, HubOutput, TabHub, TabId};
use convoy_core::wire::{Envelope, EventId, FleetSnapshot, Watch};
use std::collections::BTreeSet;
use support::app::App;
use support::fixtures::{event, trucks as watch};

const WORKER: TabId = 1_000;

struct Client {
    hub: TabHub,
    /// What its app got, checked as it arrived.
    app: App,
    open: bool,
    /// Frames the worker addressed to this client alone.
    addressed: usize,
}

impl Client {
    fn new(now: u64, hub: TabHub, open: bool) -> Client {
        let watch = hub.diagnostics().watch;
        Client {
            hub,
            app: App::new(now, watch),
            open,
            addressed: 0,
        }
    }
}

/// A worker, its clients and the server's stream, on a virtual clock.
struct Ports {
    now: u64,
    worker: TabHub,
    worker_id: TabId,
    clients: Vec<Client>,
    /// The worker's open stream: (watch, resumed after).
    stream: Option<(Watch, Option<EventId>)>,
    opened: Vec<(Watch, Option<EventId>)>,
    snapshot_wanted: bool,
    /// While set, snapshot fetches fail with this reason.
    snapshot_failure: Option<String>,
    /// Every event the server emitted.
    emitted: Vec<Envelope>,
    server_last: EventId,
    /// The peers the worker said are gone (the ports it would drop).
    gone: Vec<TabId>,
    /// The senders `handle_channel_message` returned to the worker (the ports it bound).
    senders: BTreeSet<TabId>,
    /// A stopped service worker: silent until a client's message starts a new one.
    stopped: bool,
}

impl Ports {
    fn new() -> Ports {
        let mut ports = Ports {
            now: 1_000,
            worker: TabHub::new(Self::worker_config(WORKER), 1_000),
            worker_id: WORKER,
            clients: Vec::new(),
            stream: None,
            opened: Vec::new(),
            snapshot_wanted: false,
            snapshot_failure: None,
            emitted: Vec::new(),
            server_last: 100,
            gone: Vec::new(),
            senders: BTreeSet::new(),
            stopped: false,
        };
        ports.settle();
        ports
    }

    fn worker_config(id: TabId) -> HubConfig {
        let mut config = HubConfig::new(id, ElectionMode::Worker);
        // A worker has no views of its own: it streams what its clients watch.
        config.watch = Watch::Trucks(BTreeSet::new());
        config
    }

    fn open_client(&mut self, id: TabId, watch: Watch) -> usize {
        let mut config = HubConfig::new(id, ElectionMode::Client);
        config.watch = watch;
        self.clients
            .push(Client::new(self.now, TabHub::new(config, self.now), true));
        self.settle();
        self.clients.len() - 1
    }

    /// Drains every hub's outputs until nothing moves: worker frames go to every open client
    /// (addressed ones only to their tab, as a worker posts to one port), client frames to the
    /// worker.
    fn settle(&mut self) {
        for _ in 0..1_000 {
            let mut moved = false;
            while let Some(output) = (!self.stopped).then(|| self.worker.poll_output()).flatten() {
                moved = true;
                match output {
                    HubOutput::Send { to, frame } => {
                        for client in self.clients.iter_mut().filter(|c| c.open) {
                            let me = client.hub.diagnostics().tab_id;
                            if to.is_none_or(|t| t == me) {
                                client.addressed += usize::from(to.is_some());
                                client.hub.handle_channel_message(self.now, &frame);
                            }
                        }
                    }
                    HubOutput::PeerGone(tab) => self.gone.push(tab),
                    HubOutput::FetchSnapshot => self.snapshot_wanted = true,
                    HubOutput::OpenUpstream {
                        watch,
                        last_event_id,
                    } => {
                        self.opened.push((watch.clone(), last_event_id));
                        self.stream = Some((watch, last_event_id));
                    }
                    HubOutput::CloseUpstream => self.stream = None,
                    HubOutput::RequestLock { .. } | HubOutput::ReleaseLock => {
                        panic!("a worker never asks for the lock")
                    }
                    HubOutput::Deliver(_)
                    | HubOutput::DeliverSnapshot(_)
                    | HubOutput::RoleChanged(_)
                    | HubOutput::ConnectionChanged(_) => {}
                }
            }
            for i in 0..self.clients.len() {
                while let Some(output) = self.clients[i].hub.poll_output() {
                    moved = true;
                    let Some(output) = self.clients[i].app.take(self.now, output) else {
                        continue;
                    };
                    match output {
                        HubOutput::Send { to, frame } => {
                            assert_eq!(to, None, "a client never answers for the worker");
                            if self.clients[i].open && self.stopped {
                                // The message starts the worker again, with nothing of its own.
                                self.stopped = false;
                                self.worker_id += 1;
                                self.worker =
                                    TabHub::new(Self::worker_config(self.worker_id), self.now);
                            }
                            if self.clients[i].open {
                                let from = self.worker.handle_channel_message(self.now, &frame);
                                self.senders.extend(from);
                            }
                        }
                        HubOutput::RoleChanged(role) => assert_ne!(role, Role::Leader),
                        other => panic!("a client asked for {other:?}"),
                    }
                }
            }
            if self.snapshot_wanted {
                self.snapshot_wanted = false;
                moved = true;
                if let Some(reason) = self.snapshot_failure.clone() {
                    self.worker.handle_snapshot_failed(self.now, reason);
                } else {
                    let snapshot = FleetSnapshot {
                        last_event_id: self.server_last,
                        trucks: vec![],
                    };
                    self.worker.handle_snapshot(self.now, snapshot);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the hubs never settled");
    }

    /// Advances the clock in 50 ms steps, running due timers.
    fn run_for(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += 50;
            if !self.stopped && self.worker.poll_timeout().is_some_and(|t| t <= self.now) {
                self.worker.handle_timeout(self.now);
            }
            for client in self.clients.iter_mut().filter(|c| c.open) {
                if client.hub.poll_timeout().is_some_and(|t| t <= self.now) {
                    client.hub.handle_timeout(self.now);
                }
            }
            self.settle();
        }
    }

    /// The server emits one event; the worker gets it if its stream carries that truck.
    fn emit(&mut self, truck: &str) {
        self.server_last += 1;
        let envelope = event(self.server_last, truck);
        self.emitted.push(envelope.clone());
        if let Some((watch, _)) = &self.stream {
            if watch.includes(truck) {
                self.worker.handle_upstream_event(self.now, envelope);
            }
        }
        self.settle();
    }

    /// What the server replays to a stream opened after `after` for `watch`.
    fn replay(&mut self) {
        let Some((watch, Some(after))) = self.stream.clone() else {
            return;
        };
        self.worker.handle_upstream_open(self.now);
        let missed: Vec<Envelope> = self
            .emitted
            .iter()
            .filter(|e| e.id > after && watch.includes(e.event.truck()))
            .cloned()
            .collect();
        for envelope in missed {
            self.worker.handle_upstream_event(self.now, envelope);
        }
        self.settle();
    }

    /// Every event of a client's watch since its first snapshot, exactly once and in order
    /// (and nothing its app checks went wrong).
    fn assert_exact(&self, i: usize, watch: &Watch) {
        let client = &self.clients[i];
        assert!(
            client.app.violations.is_empty(),
            "client {i}: {:?}",
            client.app.violations
        );
        let base = client.app.snapshots()[0];
        let expected: Vec<EventId> = self
            .emitted
            .iter()
            .filter(|e| e.id > base && watch.includes(e.event.truck()))
            .map(|e| e.id)
            .collect();
        assert_eq!(client.app.delivered(), expected, "client {i}");
    }
}

#[test]
fn worker_leads_at_once_and_streams_the_union_of_its_clients() {
    let mut ports = Ports::new();
    assert_eq!(ports.worker.diagnostics().role, Role::Leader);
    assert!(ports.stream.is_none(), "no clients, no stream");
    let a = ports.open_client(1, watch(&["T-01"]));
    let b = ports.open_client(2, watch(&["T-02"]));
    ports.run_for(500);
    assert_eq!(ports.clients[a].hub.diagnostics().role, Role::Follower);
    assert_eq!(ports.clients[a].hub.diagnostics().leader_id, Some(WORKER));
    assert_eq!(
        ports.stream.as_ref().map(|s| s.0.clone()),
        Some(watch(&["T-01", "T-02"]))
    );
    for _ in 0..5 {
        ports.emit("T-01");
        ports.emit("T-02");
        ports.emit("T-03");
    }
    ports.assert_exact(a, &watch(&["T-01"]));
    ports.assert_exact(b, &watch(&["T-02"]));
    assert_eq!(ports.clients[a].app.delivered().len(), 5);
}

#[test]
fn a_client_that_watches_no_truck_gets_a_stream_of_heartbeats_until_it_leaves() {
    let mut ports = Ports::new();
    let a = ports.open_client(1, watch(&[]));
    ports.run_for(500);
    // The page shows no truck, but its chip shows whether the server is there.
    assert_eq!(ports.stream.as_ref().map(|s| s.0.clone()), Some(watch(&[])));
    ports.clients[a].hub.shutdown(ports.now);
    ports.settle();
    ports.clients[a].open = false;
    ports.run_for(500);
    assert!(ports.stream.is_none(), "no clients, no stream");
}

#[test]
fn late_joiner_gets_a_snapshot_then_live_events() {
    let mut ports = Ports::new();
    let a = ports.open_client(1, Watch::All);
    ports.run_for(500);
    ports.emit("T-01");
    ports.emit("T-02");
    let b = ports.open_client(2, Watch::All);
    ports.run_for(500);
    assert_eq!(
        ports.clients[b].app.snapshots(),
        vec![102],
        "snapshot at the worker's cursor"
    );
    ports.emit("T-03");
    ports.assert_exact(a, &Watch::All);
    ports.assert_exact(b, &Watch::All);
    assert_eq!(ports.clients[b].app.delivered(), vec![103]);
}

#[test]
fn goodbye_and_silence_shrink_the_union() {
    let mut ports = Ports::new();
    let a = ports.open_client(1, watch(&["T-01"]));
    let b = ports.open_client(2, watch(&["T-02"]));
    let c = ports.open_client(3, watch(&["T-03"]));
    ports.run_for(500);
    assert_eq!(
        ports.stream.as_ref().map(|s| s.0.clone()),
        Some(watch(&["T-01", "T-02", "T-03"]))
    );
    // b closes cleanly.
    ports.clients[b].hub.shutdown(ports.now);
    ports.settle();
    ports.clients[b].open = false;
    ports.run_for(500);
    assert_eq!(
        ports.stream.as_ref().map(|s| s.0.clone()),
        Some(watch(&["T-01", "T-03"]))
    );
    // c's tab vanishes without a word (a SharedWorker cannot tell): it expires.
    ports.clients[c].open = false;
    let expiry = HubConfig::new(0, ElectionMode::Worker).peer_expiry_ms;
    ports.run_for(expiry + 1_000);
    assert_eq!(
        ports.stream.as_ref().map(|s| s.0.clone()),
        Some(watch(&["T-01"]))
    );
    ports.emit("T-01");
    ports.assert_exact(a, &watch(&["T-01"]));
}

/// A worker's clients cannot hear each other: the worker's frames say how many tabs share its
/// stream, so each client's chip can, as a leader's followers do.
#[test]
fn clients_learn_how_many_tabs_share_the_workers_stream() {
    let mut ports = Ports::new();
    let a = ports.open_client(1, watch(&["T-01"]));
    let b = ports.open_client(2, watch(&["T-02"]));
    ports.open_client(3, watch(&["T-03"]));
    ports.run_for(500);
    ports.replay();
    ports.run_for(2_000);
    assert_eq!(
        ports.worker.diagnostics().stream_tabs,
        Some(3),
        "the worker is no tab"
    );
    for (i, client) in ports.clients.iter().enumerate() {
        assert_eq!(client.hub.diagnostics().stream_tabs, Some(3), "client {i}");
        assert_eq!(
            client.hub.diagnostics().peers,
            0,
            "client {i} hears no other client"
        );
    }
    ports.clients[b].hub.shutdown(ports.now);
    ports.settle();
    ports.clients[b].open = false;
    ports.run_for(2_000);
    assert_eq!(ports.clients[a].hub.diagnostics().stream_tabs, Some(2));
}

#[test]
fn restarted_worker_resumes_from_its_clients_cursor() {
    let mut ports = Ports::new();
    let a = ports.open_client(1, Watch::All);
    let b = ports.open_client(2, Watch::All);
    ports.run_for(500);
    ports.replay();
    for _ in 0..3 {
        ports.emit("T-01");
    }
    // The browser stops the worker; the server goes on.
    ports.stream = None;
    for _ in 0..4 {
        ports.emit("T-02");
    }
    // It restarts (new id, term 1 again) with no cursor of its own.
    ports.worker_id = WORKER + 1;
    ports.worker = TabHub::new(Ports::worker_config(ports.worker_id), ports.now);
    // The server moved on before the restarted worker's snapshot fetch.
    ports.settle();
    // The clients' silence timers send a message, which is what wakes a service worker.
    let bound = HubConfig::new(0, ElectionMode::Client).liveness_ms;
    ports.run_for(bound + 500);
    let (_, after) = ports.opened.last().cloned().expect("reopened");
    assert_eq!(after, Some(103), "resumed from the clients' cursor");
    ports.replay();
    ports.emit("T-03");
    ports.assert_exact(a, &Watch::All);
    ports.assert_exact(b, &Watch::All);
    assert_eq!(
        ports.clients[a].hub.diagnostics().leader_id,
        Some(WORKER + 1)
    );
    assert_eq!(ports.clients[a].hub.diagnostics().gaps, 0);
}

/// A worker that relays the server's heartbeats is silent only when it stopped: its clients
/// ping (which wakes a service worker) after `worker_ping_ms` of silence, well before
/// `liveness_ms`, and the restarted worker resumes from their cursor.
#[test]
fn a_stopped_worker_on_the_server_clock_is_woken_after_the_ping_silence() {
    let mut ports = Ports::new();
    let a = ports.open_client(1, Watch::All);
    ports.run_for(500);
    ports.replay();
    for _ in 0..10 {
        ports.emit("T-01");
        ports.worker.handle_upstream_heartbeat(ports.now);
        ports.settle();
        ports.run_for(250);
    }
    // The browser stops the service worker: it runs again on the next message to it.
    ports.stream = None;
    ports.stopped = true;
    let opened = ports.opened.len();
    let config = HubConfig::new(0, ElectionMode::Client);
    ports.run_for(config.worker_ping_ms + 100);
    assert!(
        config.worker_ping_ms + 100 < config.takeover_ms.min(config.liveness_ms),
        "the case is the ping silence, not the takeover or the liveness"
    );
    assert!(ports.opened.len() > opened, "the clients woke the worker");
    ports.replay();
    ports.emit("T-02");
    ports.assert_exact(a, &Watch::All);
}

#[test]
fn client_never_leads_and_worker_ignores_claims() {
    let mut config = HubConfig::new(7, ElectionMode::Client);
    config.watch = Watch::All;
    let mut client = TabHub::new(config, 0);
    for t in (0..20_000).step_by(100) {
        client.handle_timeout(t);
    }
    let outputs: Vec<HubOutput> = std::iter::from_fn(|| client.poll_output()).collect();
    assert!(outputs
        .iter()
        .all(|o| matches!(o, HubOutput::Send { to: None, .. })));
    assert!(outputs
        .iter()
        .all(|o| !matches!(o, HubOutput::Send { frame, .. } if frame.contains("\"claim\""))));
    assert_ne!(client.diagnostics().role, Role::Leader);
    assert!(
        outputs.len() >= 5,
        "a silent worker gets pinged every liveness_ms"
    );

    let mut worker = TabHub::new(Ports::worker_config(WORKER), 0);
    let claim = r#"{"v":1,"app":"convoy","from":3,"term":9,"msg":{"type":"claim","term":9}}"#;
    worker.handle_channel_message(10, claim);
    assert_eq!(worker.diagnostics().role, Role::Leader);
}

/// A service worker still starting can miss a tab's hello. The tab's next announcement (it
/// pings a silent worker) still gets it the snapshot, then live events.
#[test]
fn a_client_whose_hello_was_lost_gets_its_snapshot_from_its_next_ping() {
    let mut ports = Ports::new();
    let a = ports.open_client(1, Watch::All);
    ports.run_for(500);
    ports.emit("T-01");
    let mut config = HubConfig::new(2, ElectionMode::Client);
    config.watch = Watch::All;
    ports.clients.push(Client::new(
        ports.now,
        TabHub::new(config, ports.now),
        false,
    ));
    ports.settle();
    let b = ports.clients.len() - 1;
    ports.clients[b].open = true;
    assert!(
        ports.clients[b].app.snapshots().is_empty(),
        "its hello never arrived"
    );
    ports.run_for(4_000);
    assert_eq!(ports.clients[b].app.snapshots(), vec![101]);
    ports.emit("T-02");
    ports.emit("T-03");
    ports.assert_exact(a, &Watch::All);
    ports.assert_exact(b, &Watch::All);
    assert_eq!(ports.clients[b].app.delivered(), vec![102, 103]);
}

#[test]
fn clients_show_the_workers_upstream() {
    let mut ports = Ports::new();
    let a = ports.open_client(1, Watch::All);
    let b = ports.open_client(2, watch(&["T-01"]));
    ports.run_for(500);
    ports.replay();
    for i in [a, b] {
        assert_eq!(ports.clients[i].hub.connection(), &Connection::Live);
    }
    // The stream fails: the worker backs off, and its clients say when it reconnects.
    ports.stream = None;
    ports.worker.handle_upstream_error(ports.now);
    ports.settle();
    let at = ports
        .worker
        .diagnostics()
        .reconnect_at_ms
        .expect("in backoff");
    let reconnecting = Connection::Reconnecting { at_ms: at };
    assert_eq!(ports.worker.connection(), &reconnecting);
    for i in [a, b] {
        assert_eq!(
            ports.clients[i].hub.connection(),
            &reconnecting,
            "client {i}"
        );
        assert_eq!(ports.clients[i].app.connection(), Some(&reconnecting));
    }
    ports.run_for(at - ports.now + 50);
    ports.replay();
    for i in [a, b] {
        assert_eq!(
            ports.clients[i].hub.connection(),
            &Connection::Live,
            "client {i}"
        );
    }
    // The server loses its history and its snapshot endpoint fails: the clients show the
    // worker's error until the retried fetch works.
    ports.snapshot_failure = Some("HTTP 502".into());
    ports.worker.handle_upstream_reset(ports.now);
    ports.settle();
    let error = Connection::Error {
        reason: "HTTP 502".into(),
    };
    for i in [a, b] {
        assert_eq!(ports.clients[i].hub.connection(), &error, "client {i}");
    }
    ports.snapshot_failure = None;
    ports.run_for(2_500);
    ports.replay();
    for i in [a, b] {
        assert_eq!(
            ports.clients[i].hub.connection(),
            &Connection::Live,
            "client {i}"
        );
    }
}

#[test]
fn the_worker_names_gone_clients_and_addresses_its_answers() {
    let mut ports = Ports::new();
    let a = ports.open_client(1, watch(&["T-01"]));
    ports.run_for(500);
    ports.emit("T-01");
    let b = ports.open_client(2, watch(&["T-02"]));
    let c = ports.open_client(3, watch(&["T-03"]));
    ports.run_for(500);
    assert_eq!(ports.senders, BTreeSet::from([1, 2, 3]));
    // Each late joiner's snapshot went to its port alone.
    assert_eq!(ports.clients[b].app.snapshots(), vec![101]);
    assert_eq!(ports.clients[c].app.snapshots(), vec![101]);
    assert_eq!(ports.clients[b].addressed, 1);
    assert_eq!(ports.clients[c].addressed, 1);
    assert_eq!(ports.clients[a].app.snapshots().len(), 1, "only its own");
    assert_eq!(ports.clients[a].addressed, 1);
    assert!(ports.gone.is_empty());
    ports.clients[b].hub.shutdown(ports.now);
    ports.settle();
    ports.clients[b].open = false;
    assert_eq!(ports.gone, [2], "goodbye");
    ports.clients[c].open = false;
    let expiry = HubConfig::new(0, ElectionMode::Worker).peer_expiry_ms;
    ports.run_for(expiry + 1_000);
    assert_eq!(ports.gone, [2, 3], "expired");
}
