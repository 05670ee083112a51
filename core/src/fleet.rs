//! Fleet state and how events change it. `Fleet::apply` is pure and idempotent per event id, so
//! the server's snapshot, a leader's last-value cache and the app's reducer all share it.

use crate::wire::{
    Alert, AlertAck, Envelope, EventId, FleetEvent, FleetSnapshot, TruckState, Watch,
};
use std::collections::BTreeMap;

/// The latest state of every known truck.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fleet {
    trucks: BTreeMap<String, TruckState>,
    last_event_id: EventId,
}

/// What `Fleet::apply` did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The truck changed.
    Changed,
    /// The truck already reflects this event id or a later one: nothing changed.
    Stale,
    /// No truck with this id is known (not in the snapshot): nothing changed.
    UnknownTruck,
}

impl Fleet {
    /// A fleet from a snapshot.
    pub fn from_snapshot(snapshot: FleetSnapshot) -> Fleet {
        // Inserted, not collected: `collect` into a map sorts a Vec first, and each sort is
        // code of its own in the wasm.
        let mut trucks = BTreeMap::new();
        for t in snapshot.trucks {
            trucks.insert(t.id.clone(), t);
        }
        Fleet {
            last_event_id: snapshot.last_event_id,
            trucks,
        }
    }

    /// Adds or replaces a truck (the server seeds its fleet this way).
    pub fn insert(&mut self, truck: TruckState) {
        self.last_event_id = self.last_event_id.max(truck.last_event_id);
        self.trucks.insert(truck.id.clone(), truck);
    }

    /// The trucks in id order.
    pub fn trucks(&self) -> impl Iterator<Item = &TruckState> {
        self.trucks.values()
    }

    /// One truck.
    pub fn get(&self, id: &str) -> Option<&TruckState> {
        self.trucks.get(id)
    }

    /// How many trucks are known.
    pub fn len(&self) -> usize {
        self.trucks.len()
    }

    /// Whether no truck is known.
    pub fn is_empty(&self) -> bool {
        self.trucks.is_empty()
    }

    /// The highest event id applied (or carried by the snapshot).
    pub fn last_event_id(&self) -> EventId {
        self.last_event_id
    }

    /// A snapshot of the trucks a watch covers.
    pub fn snapshot(&self, watch: &Watch) -> FleetSnapshot {
        FleetSnapshot {
            last_event_id: self.last_event_id,
            trucks: self
                .trucks
                .values()
                .filter(|t| watch.includes(&t.id))
                .cloned()
                .collect(),
        }
    }

    /// Applies one event. Events at or below the truck's `last_event_id` are ignored, so
    /// replaying a snapshot's events or a relay's repeats changes nothing.
    pub fn apply(&mut self, envelope: &Envelope) -> Applied {
        let Some(truck) = self.trucks.get_mut(envelope.event.truck()) else {
            return Applied::UnknownTruck;
        };
        let outcome = apply_to_truck(truck, envelope);
        if outcome == Applied::Changed {
            self.last_event_id = self.last_event_id.max(envelope.id);
        }
        outcome
    }
}

/// Applies one event to one truck (the truck must be the event's truck).
pub fn apply_to_truck(truck: &mut TruckState, envelope: &Envelope) -> Applied {
    if envelope.id <= truck.last_event_id {
        return Applied::Stale;
    }
    match &envelope.event {
        FleetEvent::Telemetry {
            position,
            progress,
            speed_kph,
            eta_ms,
            planned_arrival_ms,
            fuel_pct,
            reefer_c,
            driver_minutes_left,
            ..
        } => {
            truck.planned_arrival_ms = *planned_arrival_ms;
            truck.position = *position;
            truck.progress = *progress;
            truck.speed_kph = *speed_kph;
            truck.eta_ms = *eta_ms;
            truck.fuel_pct = *fuel_pct;
            truck.reefer_c = *reefer_c;
            truck.driver_minutes_left = *driver_minutes_left;
        }
        FleetEvent::Status {
            status, next_stop, ..
        } => {
            truck.status = *status;
            truck.next_stop = *next_stop;
        }
        FleetEvent::Alert { alert, .. } => {
            truck.alerts.retain(|a| a.kind != alert.kind);
            truck.alerts.push(Alert {
                id: envelope.id,
                acked: None,
                ..alert.clone()
            });
        }
        FleetEvent::AlertCleared { kind, .. } => truck.alerts.retain(|a| a.kind != *kind),
        FleetEvent::AlertAcked {
            alert_id,
            by,
            at_ms,
            ..
        } => {
            // The first acknowledgement stands; one for an alert already gone changes nothing
            // but the truck's cursor.
            if let Some(alert) = truck
                .alerts
                .iter_mut()
                .find(|a| a.id == *alert_id && a.acked.is_none())
            {
                alert.acked = Some(AlertAck {
                    by: by.clone(),
                    at_ms: *at_ms,
                });
            }
            // An acknowledgement is not news from the truck: its `updated_ms` (the stale
            // warning's clock) stays.
            truck.last_event_id = envelope.id;
            return Applied::Changed;
        }
    }
    truck.updated_ms = envelope.event.at_ms();
    truck.last_event_id = envelope.id;
    Applied::Changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{AlertKind, Point, TruckStatus};

    fn truck(id: &str) -> TruckState {
        TruckState {
            id: id.into(),
            driver: "Ana".into(),
            route_id: "R1".into(),
            route_name: "North".into(),
            status: TruckStatus::Idle,
            next_stop: 0,
            progress: 0.0,
            position: Point { x: 0.0, y: 0.0 },
            speed_kph: 0.0,
            planned_arrival_ms: 1_000,
            eta_ms: 1_000,
            fuel_pct: 100.0,
            reefer_c: None,
            reefer_band: None,
            driver_minutes_left: 540,
            alerts: vec![],
            updated_ms: 0,
            last_event_id: 10,
        }
    }

    fn fleet() -> Fleet {
        Fleet::from_snapshot(FleetSnapshot {
            last_event_id: 10,
            trucks: vec![truck("T-01"), truck("T-02")],
        })
    }

    fn status(id: u64, truck: &str, status: TruckStatus) -> Envelope {
        Envelope {
            id,
            event: FleetEvent::Status {
                truck: truck.into(),
                at_ms: id * 100,
                status,
                next_stop: 1,
            },
        }
    }

    fn alert(id: u64, kind: AlertKind) -> Envelope {
        Envelope {
            id,
            event: FleetEvent::Alert {
                truck: "T-01".into(),
                at_ms: id,
                alert: Alert {
                    id: 0,
                    kind,
                    message: "m".into(),
                    raised_ms: id,
                    acked: None,
                },
            },
        }
    }

    #[test]
    fn table_of_outcomes() {
        let cases = [
            (status(11, "T-01", TruckStatus::EnRoute), Applied::Changed),
            (status(11, "T-01", TruckStatus::Delayed), Applied::Stale),
            (status(9, "T-02", TruckStatus::Delayed), Applied::Stale),
            (
                status(12, "T-99", TruckStatus::Delayed),
                Applied::UnknownTruck,
            ),
            (status(13, "T-02", TruckStatus::AtStop), Applied::Changed),
        ];
        let mut fleet = fleet();
        for (envelope, expected) in cases {
            assert_eq!(fleet.apply(&envelope), expected, "{envelope:?}");
        }
        assert_eq!(fleet.get("T-01").unwrap().status, TruckStatus::EnRoute);
        assert_eq!(fleet.get("T-02").unwrap().status, TruckStatus::AtStop);
        assert_eq!(fleet.get("T-02").unwrap().updated_ms, 1300);
        assert_eq!(fleet.last_event_id(), 13);
    }

    #[test]
    fn alerts_replace_by_kind_and_clear() {
        let mut fleet = fleet();
        fleet.apply(&alert(11, AlertKind::Delay));
        fleet.apply(&alert(12, AlertKind::Delay));
        fleet.apply(&alert(13, AlertKind::Temperature));
        assert_eq!(fleet.get("T-01").unwrap().alerts.len(), 2);
        fleet.apply(&Envelope {
            id: 14,
            event: FleetEvent::AlertCleared {
                truck: "T-01".into(),
                at_ms: 14,
                kind: AlertKind::Delay,
            },
        });
        let alerts = &fleet.get("T-01").unwrap().alerts;
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].kind, AlertKind::Temperature);
    }

    fn ack(id: u64, alert_id: u64, by: &str) -> Envelope {
        Envelope {
            id,
            event: FleetEvent::AlertAcked {
                truck: "T-01".into(),
                at_ms: id * 10,
                alert_id,
                by: by.into(),
            },
        }
    }

    #[test]
    fn alerts_take_their_raising_events_id_and_the_first_ack_stands() {
        let mut fleet = fleet();
        fleet.apply(&alert(11, AlertKind::Delay));
        fleet.apply(&alert(12, AlertKind::Temperature));
        let ids: Vec<u64> = fleet
            .get("T-01")
            .unwrap()
            .alerts
            .iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, [11, 12]);
        assert_eq!(fleet.apply(&ack(13, 12, "ana")), Applied::Changed);
        assert_eq!(fleet.apply(&ack(14, 12, "ben")), Applied::Changed);
        assert_eq!(fleet.apply(&ack(13, 12, "cy")), Applied::Stale);
        let truck = fleet.get("T-01").unwrap();
        assert_eq!(truck.alerts[0].acked, None);
        assert_eq!(
            truck.alerts[1].acked,
            Some(AlertAck {
                by: "ana".into(),
                at_ms: 130
            })
        );
        assert_eq!(truck.updated_ms, 12, "an ack is not news from the truck");
        assert_eq!(truck.last_event_id, 14);
        // A new alert of the kind replaces the acknowledged one, unacknowledged, with its own id.
        fleet.apply(&alert(15, AlertKind::Temperature));
        let replaced = &fleet.get("T-01").unwrap().alerts[1];
        assert_eq!((replaced.id, replaced.acked.clone()), (15, None));
        // Acking an alert that is gone changes nothing but the cursor.
        assert_eq!(fleet.apply(&ack(16, 12, "ana")), Applied::Changed);
        assert!(fleet
            .get("T-01")
            .unwrap()
            .alerts
            .iter()
            .all(|a| a.acked.is_none()));
    }

    #[test]
    fn snapshot_filters_by_watch() {
        let fleet = fleet();
        let only = Watch::parse_query("T-02").unwrap();
        let snap = fleet.snapshot(&only);
        assert_eq!(snap.trucks.len(), 1);
        assert_eq!(snap.trucks[0].id, "T-02");
        assert_eq!(fleet.snapshot(&Watch::All).trucks.len(), 2);
    }
}
