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
//!
//! The hold must not lose what a departing leader held back. So a tab that follows runs a
//! notifier too, fed the events its leader relays, with its outputs switched off
//! ([`AlertNotices::set_leading`]): it knows every alert held, and which ones came due while it
//! followed (its leader showed those). When it takes over it shows again those that came due in
//! the last `lookback_ms` (more than any failover takes): the adapter shows a tag only when the
//! browser does not hold one already, so the departed leader's are not shown twice, and the ones
//! it had no time to show are. (A notification the operator dismissed within that window before
//! a takeover is shown again: the browser no longer holds its tag.)
//!
//! A SharedWorker has no notifications of its own: it hands each output to one of its tabs as
//! a message ([`encode_msg`], [`decode_msg`]).

use crate::wire::{is_valid_truck_id, AlertKind, Envelope, EventId, FleetEvent, TruckId};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How long the browser's notifiers hold an alert: a replay's raise and clear arrive within
/// milliseconds of each other, and an alert that flaps back within a second is not worth a
/// notification; later than that feels late.
pub const HOLD_MS: u64 = 1_000;

/// How far back a new leader looks for alerts its predecessor may not have shown: above the
/// slowest failover bound (3 325 ms, `relay` module docs) with room for throttled timers.
pub const TAKEOVER_LOOKBACK_MS: u64 = 5_000;

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

/// Whether `event` is one a notifier acts on (the others need not reach it).
pub fn concerns_notices(event: &FleetEvent) -> bool {
    matches!(
        event,
        FleetEvent::Alert { .. } | FleetEvent::AlertCleared { .. } | FleetEvent::AlertAcked { .. }
    )
}

/// The alert id a tag names (None for a tag that is not an alert's).
pub fn alert_id_of(tag: &str) -> Option<EventId> {
    tag.strip_prefix("convoy-alert-")?.parse().ok()
}

/// The start of a notice message on a worker's port, version included: a tab tells it from the
/// relay's frames without parsing those.
pub const NOTICE_PREFIX: &str = "convoy:notice:1:";

/// The message a SharedWorker posts to ask one tab to carry out `output`: [`NOTICE_PREFIX`] then
/// the output as JSON (`{"type":"show",...}` or `{"type":"close","tag":...}`).
pub fn encode_msg(output: &NoticeOutput) -> String {
    let msg = match output {
        NoticeOutput::Show(n) => NoticeMsg {
            kind: NoticeMsgKind::Show,
            tag: n.tag.clone(),
            alert_id: Some(n.alert_id),
            truck: Some(n.truck.clone()),
            title: Some(n.title.clone()),
            body: Some(n.body.clone()),
        },
        NoticeOutput::Close { tag } => NoticeMsg {
            kind: NoticeMsgKind::Close,
            tag: tag.clone(),
            alert_id: None,
            truck: None,
            title: None,
            body: None,
        },
    };
    // Plain strings and integers: serializing cannot fail.
    let json = serde_json::to_string(&msg).unwrap_or_default();
    format!("{NOTICE_PREFIX}{json}")
}

/// Reads a worker's message: None when it is not a notice (a relay frame), `Some(Err)` when it
/// is one that does not parse or whose tag, alert id and truck disagree.
pub fn decode_msg(text: &str) -> Option<Result<NoticeOutput, String>> {
    let json = text.strip_prefix(NOTICE_PREFIX)?;
    let msg: NoticeMsg = match serde_json::from_str(json) {
        Ok(msg) => msg,
        Err(e) => return Some(Err(e.to_string())),
    };
    let output = match msg {
        NoticeMsg {
            kind: NoticeMsgKind::Show,
            tag,
            alert_id: Some(alert_id),
            truck: Some(truck),
            title: Some(title),
            body: Some(body),
        } => NoticeOutput::Show(Notice {
            tag,
            alert_id,
            truck,
            title,
            body,
        }),
        NoticeMsg {
            kind: NoticeMsgKind::Close,
            tag,
            ..
        } => NoticeOutput::Close { tag },
        NoticeMsg { .. } => return Some(Err("a show without its alert, truck or text".into())),
    };
    let consistent = match &output {
        NoticeOutput::Show(n) => n.tag == tag_for(n.alert_id) && is_valid_truck_id(&n.truck),
        NoticeOutput::Close { tag } => alert_id_of(tag).is_some(),
    };
    Some(if consistent {
        Ok(output)
    } else {
        Err("a notice whose tag, alert id or truck is not one Convoy makes".into())
    })
}

/// A notice message's JSON: `type` (`show` or `close`), `tag`, and for a show the alert id, the
/// truck and the text. One flat struct: a tagged enum would make serde buffer every message
/// through its `Content`, code of its own in each wasm bundle.
#[derive(Serialize, Deserialize)]
struct NoticeMsg {
    #[serde(rename = "type")]
    kind: NoticeMsgKind,
    tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alert_id: Option<EventId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    truck: Option<TruckId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum NoticeMsgKind {
    Show,
    Close,
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
    /// Alerts waiting out their hold, in id order (ids only grow: see `last_id`). These lists
    /// hold a few alerts at a time: Vecs, because each BTreeMap key and value type adds its own
    /// code (about 5 KB) to every wasm bundle.
    pending: Vec<Pending>,
    /// The alert shown for each truck and kind (one at most for each).
    shown: Vec<(TruckId, AlertKind, EventId)>,
    /// The highest event id taken: a repeat within this run changes nothing.
    last_id: EventId,
    /// Outputs are carried out (else this tab follows, and only keeps track).
    leading: bool,
    lookback_ms: u64,
    /// Alerts that came due while following (the leader showed them), with when: a takeover
    /// shows again those of the last `lookback_ms`. In alert id order.
    due_following: Vec<(u64, Notice)>,
    out: VecDeque<NoticeOutput>,
}

impl AlertNotices {
    /// A notifier that holds each alert `hold_ms` before showing it. It leads (its outputs are
    /// for carrying out) until [`AlertNotices::set_leading`] says otherwise.
    pub fn new(hold_ms: u64) -> AlertNotices {
        AlertNotices {
            hold_ms,
            pending: Vec::new(),
            shown: Vec::new(),
            last_id: 0,
            leading: true,
            lookback_ms: TAKEOVER_LOOKBACK_MS,
            due_following: Vec::new(),
            out: VecDeque::new(),
        }
    }

    /// Call whenever this tab starts or stops holding the stream. While following nothing is
    /// output: alerts still come due (the leader shows them) and are remembered for
    /// `lookback_ms`; on taking over, those are output as `Show` again, in id order (the
    /// adapter skips a tag the browser still holds).
    pub fn set_leading(&mut self, now_ms: u64, leading: bool) {
        if leading && !self.leading {
            let since = now_ms.saturating_sub(self.lookback_ms);
            for (due_ms, notice) in std::mem::take(&mut self.due_following) {
                if due_ms >= since {
                    self.out.push_back(NoticeOutput::Show(notice));
                }
            }
        }
        self.leading = leading;
    }

    /// Whether outputs are for carrying out.
    pub fn leading(&self) -> bool {
        self.leading
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
                self.pending.push(Pending {
                    due_ms: now_ms + self.hold_ms,
                    kind: alert.kind,
                    notice: Notice {
                        tag: tag_for(envelope.id),
                        alert_id: envelope.id,
                        truck: truck.clone(),
                        title: format!("{} · {}", truck, alert.kind.label()),
                        body: alert.message.clone(),
                    },
                });
            }
            FleetEvent::AlertCleared { truck, kind, .. } => {
                self.withdraw(|p| p.notice.truck == *truck && p.kind == *kind);
                self.close_shown(truck, *kind);
            }
            FleetEvent::AlertAcked {
                truck, alert_id, ..
            } => {
                self.pending.retain(|p| p.notice.alert_id != *alert_id);
                let shown = self
                    .shown
                    .iter()
                    .position(|(t, _, id)| t == truck && id == alert_id);
                if let Some(at) = shown {
                    self.shown.swap_remove(at);
                    self.forget_due_following(*alert_id);
                    if self.leading {
                        self.out.push_back(NoticeOutput::Close {
                            tag: tag_for(*alert_id),
                        });
                    }
                }
            }
            FleetEvent::Plan { .. }
            | FleetEvent::Position { .. }
            | FleetEvent::Status { .. }
            | FleetEvent::Stop { .. } => {}
        }
    }

    /// Shows the alerts whose hold is over.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        let due: Vec<Pending> = self
            .pending
            .extract_if(.., |p| p.due_ms <= now_ms)
            .collect();
        for Pending {
            due_ms,
            kind,
            notice,
        } in due
        {
            let id = notice.alert_id;
            self.shown
                .retain(|(t, k, _)| *t != notice.truck || *k != kind);
            self.shown.push((notice.truck.clone(), kind, id));
            if self.leading {
                self.out.push_back(NoticeOutput::Show(notice));
            } else {
                let at = self.due_following.partition_point(|(_, n)| n.alert_id < id);
                self.due_following.insert(at, (due_ms, notice));
            }
        }
        let since = now_ms.saturating_sub(self.lookback_ms);
        self.due_following.retain(|(due_ms, _)| *due_ms >= since);
    }

    /// When to call [`AlertNotices::handle_timeout`] next; None when nothing waits.
    pub fn poll_timeout(&self) -> Option<u64> {
        self.pending.iter().map(|p| p.due_ms).min()
    }

    /// The next thing to do.
    pub fn poll_output(&mut self) -> Option<NoticeOutput> {
        self.out.pop_front()
    }

    fn withdraw(&mut self, matches: impl Fn(&Pending) -> bool) {
        self.pending.retain(|p| !matches(p));
    }

    fn forget_due_following(&mut self, alert_id: EventId) {
        self.due_following.retain(|(_, n)| n.alert_id != alert_id);
    }

    fn close_shown(&mut self, truck: &str, kind: AlertKind) {
        let shown = self
            .shown
            .iter()
            .position(|(t, k, _)| t == truck && *k == kind);
        if let Some(at) = shown {
            let (_, _, id) = self.shown.swap_remove(at);
            self.forget_due_following(id);
            if self.leading {
                self.out.push_back(NoticeOutput::Close { tag: tag_for(id) });
            }
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

    #[test]
    fn a_follower_that_takes_over_shows_again_what_came_due_lately_and_then_what_it_held() {
        let mut n = AlertNotices::new(300);
        n.set_leading(0, false);
        n.handle_event(0, &raise(1, "T-01", AlertKind::Delay));
        n.handle_event(0, &raise(2, "T-02", AlertKind::Delay));
        n.handle_event(100, &raise(3, "T-03", AlertKind::Delay));
        n.handle_event(200, &raise(4, "T-04", AlertKind::Delay));
        n.handle_timeout(400);
        // Following: the leader shows 1 to 3; nothing here.
        assert!(drain(&mut n).is_empty());
        assert_eq!(n.poll_timeout(), Some(500));
        // Cleared after it came due: the leader closed it, a takeover must not bring it back.
        n.handle_event(450, &clear(5, "T-02", AlertKind::Delay));
        assert!(drain(&mut n).is_empty());
        n.set_leading(460, true);
        assert!(n.leading());
        assert_eq!(
            drain(&mut n),
            ["show convoy-alert-1", "show convoy-alert-3"]
        );
        n.handle_timeout(500);
        assert_eq!(drain(&mut n), ["show convoy-alert-4"]);
        // Leading now: a clear closes.
        n.handle_event(600, &clear(6, "T-01", AlertKind::Delay));
        assert_eq!(drain(&mut n), ["close convoy-alert-1"]);
    }

    #[test]
    fn a_takeover_looks_back_only_lookback_ms_and_leading_again_repeats_nothing() {
        let mut n = AlertNotices::new(0);
        n.set_leading(0, false);
        n.handle_event(0, &raise(1, "T-01", AlertKind::Delay));
        n.handle_timeout(0);
        n.handle_event(TAKEOVER_LOOKBACK_MS, &raise(2, "T-02", AlertKind::Delay));
        n.handle_timeout(TAKEOVER_LOOKBACK_MS);
        n.set_leading(TAKEOVER_LOOKBACK_MS + 1, true);
        assert_eq!(drain(&mut n), ["show convoy-alert-2"]);
        n.set_leading(TAKEOVER_LOOKBACK_MS + 2, true);
        n.set_leading(TAKEOVER_LOOKBACK_MS + 3, false);
        n.set_leading(TAKEOVER_LOOKBACK_MS + 4, true);
        assert!(drain(&mut n).is_empty());
    }

    #[test]
    fn notice_messages_round_trip_and_inconsistent_ones_are_refused() {
        let mut n = AlertNotices::new(0);
        n.handle_event(0, &raise(7, "T-01", AlertKind::Temperature));
        n.handle_timeout(0);
        let show = n.poll_output().expect("a show");
        let text = encode_msg(&show);
        assert!(text.starts_with(NOTICE_PREFIX));
        assert_eq!(decode_msg(&text), Some(Ok(show)));
        let close = NoticeOutput::Close { tag: tag_for(7) };
        assert_eq!(decode_msg(&encode_msg(&close)), Some(Ok(close)));
        // A relay frame is not a notice.
        assert_eq!(decode_msg(r#"{"v":1,"app":"convoy"}"#), None);
        for bad in [
            r#"{"type":"show","tag":"convoy-alert-8","alert_id":7,"truck":"T-01","title":"t","body":"b"}"#,
            r#"{"type":"show","tag":"convoy-alert-7","alert_id":7,"truck":"../x","title":"t","body":"b"}"#,
            r#"{"type":"close","tag":"other"}"#,
            r#"{"type":"show","tag":"convoy-alert-7","alert_id":7}"#,
            r#"{"type":"explode"}"#,
            "not json",
        ] {
            assert!(
                matches!(decode_msg(&format!("{NOTICE_PREFIX}{bad}")), Some(Err(_))),
                "{bad}"
            );
        }
    }
}
