//! What a simulated tab's app got from its hub, checked as it arrives: events only of its watch,
//! none before a snapshot, none twice or out of order, and no snapshot behind what it has. Both
//! the BroadcastChannel simulation and the worker ports keep one per tab, so the invariants are
//! checked the same way whichever transport relays.

use convoy_core::fleet::Fleet;
use convoy_core::relay::{Connection, HubOutput, TabId};
use convoy_core::wire::{Envelope, EventId, FleetSnapshot, TruckId, Watch};
use std::collections::BTreeSet;

/// One thing the app was given, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Snap(EventId),
    Event(EventId),
}

/// A tab's app: its watch over time, what it was given, and the state that makes.
#[derive(Debug)]
pub struct App {
    /// (time, watch) from the tab's start.
    pub watches: Vec<(u64, Watch)>,
    pub items: Vec<Item>,
    /// The fleet as the app shows it (from its last snapshot on).
    pub state: Option<Fleet>,
    /// The highest event id the app reflects.
    pub position: Option<EventId>,
    /// Broken invariants, as they happened.
    pub violations: Vec<String>,
    /// (time, status) of every `ConnectionChanged`.
    pub connections: Vec<(u64, Connection)>,
    /// Every `PeerGone`.
    pub gone_peers: Vec<TabId>,
    /// Every truck an event or snapshot it was given named.
    pub trucks_seen: BTreeSet<TruckId>,
}

impl App {
    pub fn new(now: u64, watch: Watch) -> App {
        App {
            watches: vec![(now, watch)],
            items: Vec::new(),
            state: None,
            position: None,
            violations: Vec::new(),
            connections: Vec::new(),
            gone_peers: Vec::new(),
            trucks_seen: BTreeSet::new(),
        }
    }

    /// An app that starts with state (a tab moving from another transport): `snapshot` counts
    /// as its first delivery.
    pub fn with_state(now: u64, watch: Watch, snapshot: FleetSnapshot) -> App {
        let mut app = App::new(now, watch);
        app.record_snapshot(snapshot);
        app
    }

    /// The watch now.
    pub fn watch(&self) -> &Watch {
        &self.watches.last().expect("a watch").1
    }

    pub fn set_watch(&mut self, now: u64, watch: Watch) {
        self.watches.push((now, watch));
    }

    /// Records an output meant for the app (deliveries, status, gone peers); hands back any
    /// other for the harness to carry out.
    pub fn take(&mut self, now: u64, output: HubOutput) -> Option<HubOutput> {
        match output {
            HubOutput::Deliver(envelope) => self.record_event(&envelope),
            HubOutput::DeliverSnapshot(snapshot) => self.record_snapshot(snapshot),
            HubOutput::ConnectionChanged(connection) => self.connections.push((now, connection)),
            HubOutput::PeerGone(tab) => self.gone_peers.push(tab),
            other => return Some(other),
        }
        None
    }

    /// The ids of the events delivered, in order.
    pub fn delivered(&self) -> Vec<EventId> {
        self.items
            .iter()
            .filter_map(|item| match item {
                Item::Event(id) => Some(*id),
                Item::Snap(_) => None,
            })
            .collect()
    }

    /// The ids of the snapshots delivered, in order.
    pub fn snapshots(&self) -> Vec<EventId> {
        self.items
            .iter()
            .filter_map(|item| match item {
                Item::Snap(id) => Some(*id),
                Item::Event(_) => None,
            })
            .collect()
    }

    /// The status last reported, if any.
    pub fn connection(&self) -> Option<&Connection> {
        self.connections.last().map(|(_, c)| c)
    }

    fn record_event(&mut self, envelope: &Envelope) {
        self.items.push(Item::Event(envelope.id));
        self.trucks_seen.insert(envelope.event.truck().to_owned());
        let watch = self.watch();
        if !watch.includes(envelope.event.truck()) {
            let violation = format!(
                "event {} about {} delivered to a tab watching {watch}",
                envelope.id,
                envelope.event.truck()
            );
            self.violations.push(violation);
        }
        match self.position {
            None => self.violations.push(format!(
                "event {} delivered before any snapshot",
                envelope.id
            )),
            Some(p) if envelope.id <= p => self.violations.push(format!(
                "event {} delivered at position {p}: repeat or out of order",
                envelope.id
            )),
            _ => {}
        }
        self.position = Some(self.position.map_or(envelope.id, |p| p.max(envelope.id)));
        if let Some(state) = &mut self.state {
            state.apply(envelope);
        }
    }

    fn record_snapshot(&mut self, snapshot: FleetSnapshot) {
        let id = snapshot.last_event_id;
        self.items.push(Item::Snap(id));
        let named = snapshot.trucks.iter().map(|t| t.id.clone());
        self.trucks_seen.extend(named);
        let watch = self.watch();
        if let Some(t) = snapshot.trucks.iter().find(|t| !watch.includes(&t.id)) {
            let violation = format!("snapshot {id} has {} outside the watch {watch}", t.id);
            self.violations.push(violation);
        }
        if let Some(p) = self.position {
            if id < p {
                self.violations
                    .push(format!("snapshot {id} delivered after event {p}"));
            }
        }
        self.position = Some(self.position.map_or(id, |p| p.max(id)));
        self.state = Some(Fleet::from_snapshot(snapshot));
    }
}
