//! The simulated server: emits fleet events, streams them to each open connection in order
//! (filtered to its watch), replays from a last event id, serves snapshots, drops streams and
//! loses its history on demand, and sends lines the client's decoder drops (each arrives as the
//! decoder's report of the drop, in the place of the events it carried).

use convoy_core::fleet::Fleet;
use convoy_core::wire::{Envelope, EventId, FleetEvent, TruckStatus, Watch};
use std::collections::{BTreeMap, BTreeSet};

use super::fixtures::{seed_truck, truck_name};
use super::tab::TabState;
use super::world::{Ev, Sim};

#[derive(Debug)]
pub struct Conn {
    pub tab: usize,
    pub watch: Watch,
    pub last_at: u64,
    /// The next event sent on this stream goes in a line the decoder drops.
    pub drop_next: bool,
}

pub struct Server {
    pub fleet: Fleet,
    pub history: Vec<(u64, Envelope)>,
    /// Resuming after an id below this is impossible (history gone).
    pub floor: EventId,
    pub next_id: EventId,
    pub conns: BTreeMap<u64, Conn>,
    pub next_conn: u64,
    pub emitting: bool,
    /// How many upstream streams were ever opened.
    pub opened: u64,
    /// Events whose line the decoder drops every time they are sent (a batch too long for it,
    /// which the server never splits).
    pub unreadable: BTreeSet<EventId>,
}

impl Server {
    pub fn new(fleet: Fleet) -> Server {
        Server {
            fleet,
            history: Vec::new(),
            floor: 0,
            next_id: 1_001,
            conns: BTreeMap::new(),
            next_conn: 1,
            emitting: true,
            opened: 0,
            unreadable: BTreeSet::new(),
        }
    }
}

impl Sim {
    // ----- server -----

    pub fn emit(&mut self) {
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
                status: TruckStatus::ALL[(r >> 8) as usize % TruckStatus::ALL.len()],
                next_stop: (r >> 16) as usize % 5,
            }
        } else {
            FleetEvent::Position {
                truck,
                at_ms,
                lat: ((r >> 8) as u16 as f64 / 65_536.0) * 60.0,
                lon: ((r >> 24) as u16 as f64 / 65_536.0) * 120.0 - 60.0,
                speed_kph: Some(((r >> 48) % 120) as f32),
                heading_deg: None,
                fuel_pct: Some(((r >> 20) % 100) as f32),
                reefer_c: None,
                driver_minutes_left: Some(((r >> 32) % 600) as u32),
                odometer_km: None,
                progress: ((r >> 40) % 100) as f32 / 100.0,
                next_stop: (r >> 16) as usize % 5,
                eta_ms: Some(at_ms + 3_600_000),
                planned_arrival_ms: Some(at_ms + 3_000_000),
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
            self.send_event(at, tab, conn, envelope.clone());
        }
    }

    /// Sends one event on a stream at `at`, or, when its line is one the decoder drops, the
    /// decoder's report of the drop in its place.
    fn send_event(&mut self, at: u64, tab: usize, conn: u64, envelope: Envelope) {
        let once = self
            .server
            .conns
            .get_mut(&conn)
            .is_some_and(|c| std::mem::take(&mut c.drop_next));
        if once || self.server.unreadable.contains(&envelope.id) {
            self.schedule_at(at, Ev::UpGap { tab, conn });
        } else {
            self.schedule_at(
                at,
                Ev::UpEvent {
                    tab,
                    conn,
                    envelope,
                },
            );
        }
    }

    /// The next event sent on tab `i`'s stream goes in a line its decoder drops (once: a
    /// resumed stream carries it readably, as a server that splits its batches does).
    pub fn drop_next_line(&mut self, i: usize) {
        let conn = self.tabs[i].conn.expect("an open stream");
        self.server.conns.get_mut(&conn).expect("open").drop_next = true;
    }

    /// The fleet as the server had it right after event `at`.
    pub fn server_state_at(&self, at: EventId) -> Fleet {
        let mut fleet = Fleet::default();
        for i in 0..self.cfg.trucks {
            fleet.insert(seed_truck(i));
        }
        for (_, envelope) in self.server.history.iter().filter(|(_, e)| e.id <= at) {
            fleet.apply(envelope);
        }
        fleet
    }

    /// The next in-order delivery time on a connection.
    pub fn conn_slot(&mut self, conn: u64) -> u64 {
        let at = self.now + self.cfg.upstream_delay;
        let c = self.server.conns.get_mut(&conn).expect("open connection");
        c.last_at = c.last_at.max(at);
        c.last_at
    }

    pub fn open_conn(&mut self, i: usize, watch: Watch, last_event_id: Option<EventId>) {
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
                drop_next: false,
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
                self.send_event(open_at, i, conn, envelope);
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

    pub fn close_conn(&mut self, i: usize) {
        if let Some(conn) = self.tabs[i].conn.take() {
            self.server.conns.remove(&conn);
        }
    }

    /// The server drops a tab's stream.
    pub fn kill_stream(&mut self, i: usize) {
        if let Some(conn) = self.tabs[i].conn {
            self.server.conns.remove(&conn);
            self.schedule(1, Ev::UpError { tab: i, conn });
        }
    }

    /// The server loses its history (a restart without a shared broker) and says so.
    pub fn forget_history(&mut self) {
        self.server.floor = self.server.next_id;
        let conns: Vec<(u64, usize)> = self.server.conns.iter().map(|(c, k)| (*c, k.tab)).collect();
        for (conn, tab) in conns {
            let at = self.conn_slot(conn);
            self.schedule_at(at, Ev::UpReset { tab, conn });
        }
    }
}
