//! Which alerts become desktop notifications. The one place that holds a browser's stream (the
//! leading tab, the SharedWorker or the service worker) feeds it every event it reads from the
//! server; it answers with notifications to show and to close. Followers never run it, so a
//! browser shows each alert once however many tabs are open.
//!
//! Exactly once across a failover rests on two things: a new leader resumes its stream from the
//! tabs' shared cursor, so it does not read again what was relayed before; and every
//! notification's tag is its alert's id, so an event the old leader read but had not relayed yet
//! (read again by the new leader) replaces the notification with the same tag instead of adding
//! one.
//!
//! An alert is held for `hold_ms` before it is shown: one cleared, replaced or acknowledged
//! within that time (as in a replay after a reconnect, where raise and clear arrive together) is
//! never shown. A shown alert's notification is closed when the alert is cleared, replaced or
//! acknowledged.

use crate::wire::{AlertKind, Envelope, EventId, FleetEvent, TruckId};
use std::collections::{BTreeMap, VecDeque};

/// A notification to show.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The notification's tag: [`tag_for`] the alert's id.
    pub tag: String,
    pub alert_id: EventId,
    pub truck: TruckId,
    pub title: String,
    pub body: String,
}

/// What to do with the browser's notifications.
#[derive(Debug, Clone, PartialEq)]
pub enum NoticeOutput {
    Show(Notice),
    /// Close the notification with this tag, if it is still shown.
    Close {
        tag: String,
    },
}

/// The tag of alert `alert_id`'s notification.
pub fn tag_for(alert_id: EventId) -> String {
    format!("convoy-alert-{alert_id}")
}

/// The alert id a tag names (None for a tag that is not an alert's).
pub fn alert_id_of(tag: &str) -> Option<EventId> {
    tag.strip_prefix("convoy-alert-")?.parse().ok()
}

#[derive(Debug, Clone)]
struct Pending {
    due_ms: u64,
    kind: AlertKind,
    notice: Notice,
}

/// The notification state machine (sans IO: feed events and the time, drain outputs).
#[derive(Debug, Clone)]
pub struct AlertNotices {
    hold_ms: u64,
    /// Alerts waiting out their hold, by alert id.
    pending: BTreeMap<EventId, Pending>,
    /// The alert shown for each truck and kind.
    shown: BTreeMap<(TruckId, AlertKind), EventId>,
    /// The highest event id taken: a repeat within this run changes nothing.
    last_id: EventId,
    out: VecDeque<NoticeOutput>,
}

impl AlertNotices {
    /// A notifier that holds each alert `hold_ms` before showing it.
    pub fn new(hold_ms: u64) -> AlertNotices {
        AlertNotices {
            hold_ms,
            pending: BTreeMap::new(),
            shown: BTreeMap::new(),
            last_id: 0,
            out: VecDeque::new(),
        }
    }

    /// Takes one event read from the server (in id order; repeats are ignored).
    pub fn handle_event(&mut self, now_ms: u64, envelope: &Envelope) {
        if envelope.id <= self.last_id {
            return;
        }
        self.last_id = envelope.id;
        match &envelope.event {
            FleetEvent::Alert { truck, alert, .. } => {
                // A newer alert of the kind replaces the older one.
                self.withdraw(|p| p.notice.truck == *truck && p.kind == alert.kind);
                self.close_shown(truck, alert.kind);
                self.pending.insert(
                    envelope.id,
                    Pending {
                        due_ms: now_ms + self.hold_ms,
                        kind: alert.kind,
                        notice: Notice {
                            tag: tag_for(envelope.id),
                            alert_id: envelope.id,
                            truck: truck.clone(),
                            title: format!("{} · {}", truck, alert.kind.label()),
                            body: alert.message.clone(),
                        },
                    },
                );
            }
            FleetEvent::AlertCleared { truck, kind, .. } => {
                self.withdraw(|p| p.notice.truck == *truck && p.kind == *kind);
                self.close_shown(truck, *kind);
            }
            FleetEvent::AlertAcked {
                truck, alert_id, ..
            } => {
                self.pending.remove(alert_id);
                let shown = self
                    .shown
                    .iter()
                    .find(|((t, _), id)| t == truck && *id == alert_id)
                    .map(|(key, _)| key.clone());
                if let Some(key) = shown {
                    self.shown.remove(&key);
                    self.out.push_back(NoticeOutput::Close {
                        tag: tag_for(*alert_id),
                    });
                }
            }
            FleetEvent::Telemetry { .. } | FleetEvent::Status { .. } => {}
        }
    }

    /// Shows the alerts whose hold is over.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let due: Vec<EventId> = self
            .pending
            .iter()
            .filter(|(_, p)| p.due_ms <= now_ms)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(pending) = self.pending.remove(&id) {
                self.shown
                    .insert((pending.notice.truck.clone(), pending.kind), id);
                self.out.push_back(NoticeOutput::Show(pending.notice));
            }
        }
    }

    /// When to call [`AlertNotices::handle_timeout`] next; None when nothing waits.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.pending.values().map(|p| p.due_ms).min()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<NoticeOutput> {
        self.out.pop_front()
    }

    fn withdraw(&mut self, matches: impl Fn(&Pending) -> bool) {
        self.pending.retain(|_, p| !matches(p));
    }

    fn close_shown(&mut self, truck: &str, kind: AlertKind) {
        if let Some(id) = self.shown.remove(&(truck.to_owned(), kind)) {
            self.out.push_back(NoticeOutput::Close { tag: tag_for(id) });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Alert;

    fn raise(id: EventId, truck: &str, kind: AlertKind) -> Envelope {
        Envelope {
            id,
            event: FleetEvent::Alert {
                truck: truck.into(),
                at_ms: id,
                alert: Alert {
                    id: 0,
                    kind,
                    message: "reefer at 9 °C".into(),
                    raised_ms: id,
                    acked: None,
                },
            },
        }
    }

    fn clear(id: EventId, truck: &str, kind: AlertKind) -> Envelope {
        Envelope {
            id,
            event: FleetEvent::AlertCleared {
                truck: truck.into(),
                at_ms: id,
                kind,
            },
        }
    }

    fn acked(id: EventId, truck: &str, alert_id: EventId) -> Envelope {
        Envelope {
            id,
            event: FleetEvent::AlertAcked {
                truck: truck.into(),
                at_ms: id,
                alert_id,
                by: "ana".into(),
            },
        }
    }

    fn drain(n: &mut AlertNotices) -> Vec<String> {
        std::iter::from_fn(|| n.poll_output())
            .map(|o| match o {
                NoticeOutput::Show(notice) => format!("show {}", notice.tag),
                NoticeOutput::Close { tag } => format!("close {tag}"),
            })
            .collect()
    }

    #[test]
    fn an_alert_shows_once_after_its_hold_with_its_id_as_tag() {
        let mut n = AlertNotices::new(300);
        n.handle_event(1_000, &raise(7, "T-01", AlertKind::Temperature));
        assert_eq!(n.poll_timeout(), Some(1_300));
        n.handle_timeout(1_299);
        assert!(drain(&mut n).is_empty());
        // A repeat (the same id again) changes nothing.
        n.handle_event(1_100, &raise(7, "T-01", AlertKind::Temperature));
        n.handle_timeout(1_300);
        assert_eq!(drain(&mut n), ["show convoy-alert-7"]);
        n.handle_timeout(5_000);
        assert!(drain(&mut n).is_empty());
        assert_eq!(n.poll_timeout(), None);
        assert_eq!(alert_id_of("convoy-alert-7"), Some(7));
        assert_eq!(alert_id_of("other"), None);
    }

    #[test]
    fn alerts_cleared_or_acknowledged_within_the_hold_are_never_shown() {
        let mut n = AlertNotices::new(300);
        n.handle_event(0, &raise(1, "T-01", AlertKind::Delay));
        n.handle_event(0, &raise(2, "T-02", AlertKind::Delay));
        n.handle_event(0, &raise(3, "T-03", AlertKind::OffRoute));
        n.handle_event(10, &clear(4, "T-01", AlertKind::Delay));
        n.handle_event(10, &acked(5, "T-02", 2));
        // A newer alert of the kind replaces the held one.
        n.handle_event(10, &raise(6, "T-03", AlertKind::OffRoute));
        n.handle_timeout(1_000);
        assert_eq!(drain(&mut n), ["show convoy-alert-6"]);
    }

    #[test]
    fn a_shown_alert_closes_when_cleared_acknowledged_or_replaced() {
        let mut n = AlertNotices::new(0);
        for (id, truck) in [(1, "T-01"), (2, "T-02"), (3, "T-03")] {
            n.handle_event(0, &raise(id, truck, AlertKind::Delay));
        }
        n.handle_timeout(0);
        assert_eq!(drain(&mut n).len(), 3);
        n.handle_event(1, &clear(4, "T-01", AlertKind::Delay));
        n.handle_event(1, &acked(5, "T-02", 2));
        n.handle_event(1, &raise(6, "T-03", AlertKind::Delay));
        n.handle_timeout(1);
        assert_eq!(
            drain(&mut n),
            [
                "close convoy-alert-1",
                "close convoy-alert-2",
                "close convoy-alert-3",
                "show convoy-alert-6"
            ]
        );
        // An acknowledgement of an alert not shown here closes nothing.
        n.handle_event(2, &acked(7, "T-09", 99));
        assert!(drain(&mut n).is_empty());
    }
}
