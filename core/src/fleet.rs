//! Fleet state and how events change it. `Fleet::apply` is pure and idempotent per event id, so
//! the server's snapshot, a leader's last-value cache and the app's reducer all share it.

use crate::geo::LatLon;
use crate::wire::{
    Alert, AlertAck, Envelope, EventId, FleetEvent, FleetSnapshot, StopState, TruckState, Watch,
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
        FleetEvent::Plan { plan, .. } => {
            truck.driver = plan.driver.clone();
            truck.route_name = plan.route_name.clone();
            truck.reefer_band = plan.reefer_band;
            truck.stops = plan.stops.iter().map(StopState::planned).collect();
            truck.planned_arrival_ms = Some(plan.planned_arrival_ms());
            truck.progress = 0.0;
            truck.next_stop = 0;
            truck.eta_ms = None;
        }
        FleetEvent::Position {
            at_ms,
            lat,
            lon,
            speed_kph,
            heading_deg,
            fuel_pct,
            reefer_c,
            driver_minutes_left,
            odometer_km,
            progress,
            next_stop,
            eta_ms,
            planned_arrival_ms,
            ..
        } => {
            // Built by the wire's reader or the derivation, both of which check the ranges.
            truck.position = LatLon::new(*lat, *lon).ok().or(truck.position);
            truck.last_fix_ms = Some(*at_ms);
            // A reading the truck did not send keeps its last known value.
            fn keep<T: Copy>(slot: &mut Option<T>, reading: Option<T>) {
                if reading.is_some() {
                    *slot = reading;
                }
            }
            keep(&mut truck.speed_kph, *speed_kph);
            keep(&mut truck.heading_deg, *heading_deg);
            keep(&mut truck.fuel_pct, *fuel_pct);
            keep(&mut truck.reefer_c, *reefer_c);
            keep(&mut truck.driver_minutes_left, *driver_minutes_left);
            keep(&mut truck.odometer_km, *odometer_km);
            truck.progress = *progress;
            truck.next_stop = *next_stop;
            truck.eta_ms = *eta_ms;
            truck.planned_arrival_ms = *planned_arrival_ms;
        }
        FleetEvent::Status {
            status, next_stop, ..
        } => {
            truck.status = *status;
            truck.next_stop = *next_stop;
        }
        FleetEvent::Stop {
            stop,
            arrived_ms,
            departed_ms,
            skipped,
            ..
        } => {
            if let Some(visit) = truck.stops.get_mut(*stop) {
                visit.arrived_ms = *arrived_ms;
                visit.departed_ms = *departed_ms;
                visit.skipped = *skipped;
            }
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
    use crate::wire::{AlertKind, TruckStatus};

    fn truck(id: &str) -> TruckState {
        TruckState {
            driver: "Ana".into(),
            route_name: "North".into(),
            last_event_id: 10,
            ..TruckState::new(id)
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
    fn a_position_keeps_readings_it_does_not_carry_and_a_stop_sets_its_visit() {
        let mut fleet = fleet();
        let plan: crate::trip::TripPlan = serde_json::from_str(
            r#"{"driver":"Bo","route_name":"A-B","stops":[{"name":"A","lat":1,"lon":2,"planned_ms":5},{"name":"B","lat":1.5,"lon":2,"planned_ms":9}]}"#,
        )
        .unwrap();
        let position = |id, fuel: Option<f32>| Envelope {
            id,
            event: FleetEvent::Position {
                truck: "T-01".into(),
                at_ms: id,
                lat: 1.2,
                lon: 2.0,
                speed_kph: None,
                heading_deg: Some(90.0),
                fuel_pct: fuel,
                reefer_c: None,
                driver_minutes_left: None,
                odometer_km: None,
                progress: 0.4,
                next_stop: 1,
                eta_ms: None,
                planned_arrival_ms: Some(9),
            },
        };
        fleet.apply(&Envelope {
            id: 11,
            event: FleetEvent::Plan {
                truck: "T-01".into(),
                at_ms: 11,
                plan,
            },
        });
        fleet.apply(&position(12, Some(80.0)));
        fleet.apply(&position(13, None));
        fleet.apply(&Envelope {
            id: 14,
            event: FleetEvent::Stop {
                truck: "T-01".into(),
                at_ms: 14,
                stop: 0,
                arrived_ms: Some(3),
                departed_ms: Some(12),
                skipped: false,
            },
        });
        let truck = fleet.get("T-01").unwrap();
        assert_eq!((truck.driver.as_str(), truck.stops.len()), ("Bo", 2));
        assert_eq!(
            truck.fuel_pct,
            Some(80.0),
            "an absent reading keeps the last one"
        );
        assert_eq!((truck.progress, truck.next_stop), (0.4, 1));
        assert_eq!(truck.last_fix_ms, Some(13));
        assert_eq!(truck.position.map(|p| p.lat()), Some(1.2));
        assert_eq!(truck.stops[0].departed_ms, Some(12));
        assert_eq!(truck.stops[1].arrived_ms, None);
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
