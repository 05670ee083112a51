//! The messages between a tab and the dedicated worker that runs its hub, and the worker's
//! [`Outbox`]: what the hub delivered, held while the tab's page is hidden and handed over in
//! one catch-up when it is shown.
//!
//! The worker runs the tab's whole hub (election, upstream, relay, cursor, last-value cache);
//! the tab only applies what arrives. Both sides come from one build, but the enums are
//! versioned like every other wire format (`version` in [`HubWorkerStart`] and
//! [`FromHubWorker::Ready`]) so a page and a worker script from different builds notice it.

use crate::election::{ElectionMode, Role, TabId};
use crate::relay::Connection;
use crate::transport::Failure;
use crate::wire::{Envelope, EventId, FleetSnapshot, Watch};
use serde::{Deserialize, Serialize};

/// The version of these messages; a worker answers `Ready` with its own.
pub const HUB_WORKER_VERSION: u32 = 1;

/// Events held for a hidden page beyond which the worker hands them over anyway, so a page
/// hidden for hours at 2 000 events/s holds bounded memory (about one message per 30 s there).
pub const HIDDEN_HOLD_LIMIT: usize = 60_000;

/// How the tab's hub starts in the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubWorkerStart {
    /// Must be [`HUB_WORKER_VERSION`].
    pub version: u32,
    pub tab_id: TabId,
    /// `Locks`, `Lease` or `Solo`.
    pub election: ElectionMode,
    /// The BroadcastChannel the session's tabs share (unused in `Solo`).
    pub channel: String,
    /// The Web Lock they compete for (`Locks` only).
    pub lock: String,
    pub watch: Watch,
    pub scope: Watch,
    /// The app already reflects the fleet up to this id.
    pub cursor: Option<EventId>,
    pub hidden: bool,
    /// The API's origin ("" for the app's own).
    pub api: String,
}

/// From the tab to its hub worker. Externally tagged (`{"watch": {...}}`), unlike the frames
/// between tabs: serde reads an internally tagged enum through a buffer, which would instantiate
/// every event and snapshot type's deserializer a second time in both bundles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToHubWorker {
    /// Start the hub (the first message; later ones are ignored).
    Start(HubWorkerStart),
    /// The trucks the tab's views show.
    Watch { watch: Watch },
    /// The page was hidden or shown.
    Hidden { hidden: bool },
    /// `pagehide` into the back/forward cache.
    PageHide,
    /// `pageshow` from the back/forward cache.
    PageShow,
    /// A clean close: say goodbye so the next leader starts at once.
    Stop,
}

/// What the hub looks like, for the chip and /diagnostics.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HubState {
    pub connection: Connection,
    pub role: Role,
    pub tab_id: TabId,
    pub term: u64,
    pub leader_id: Option<TabId>,
    pub malformed: u64,
    pub out_of_scope: u64,
    pub upstream_gaps: u64,
    /// Tabs known to share the stream.
    pub peers: usize,
}

/// From the hub worker to its tab (externally tagged, as [`ToHubWorker`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FromHubWorker {
    /// The hub started; `version` is the worker's [`HUB_WORKER_VERSION`].
    Ready { version: u32 },
    /// Apply these events, in order; afterwards the app reflects the fleet up to `cursor`.
    Events {
        events: Vec<Envelope>,
        cursor: Option<EventId>,
    },
    /// Replace the fleet state.
    Snapshot { snapshot: FleetSnapshot },
    /// The hub's state changed.
    State(HubState),
    /// A desktop notification to show or close (`notice::encode_msg`'s text).
    Notice { text: String },
    /// The tab's transport does not work here (the lock manager threw).
    TransportFailed { failure: Failure },
}

/// What the worker has for its tab: deliveries in order, and the newest state. While the page
/// is hidden nothing is handed over (the page would only pay for it), up to
/// [`HIDDEN_HOLD_LIMIT`] events.
#[derive(Debug, Default)]
pub struct Outbox {
    held: Vec<FromHubWorker>,
    held_events: usize,
    state: Option<HubState>,
    sent_state: Option<HubState>,
    hidden: bool,
}

impl Outbox {
    /// An outbox for a page that is `hidden` or not.
    pub fn new(hidden: bool) -> Outbox {
        Outbox {
            hidden,
            ..Outbox::default()
        }
    }

    /// An event the hub delivered; joins the events held before it.
    pub fn event(&mut self, envelope: Envelope, cursor: Option<EventId>) {
        self.held_events += 1;
        if let Some(FromHubWorker::Events {
            events,
            cursor: last,
        }) = self.held.last_mut()
        {
            events.push(envelope);
            *last = cursor;
            return;
        }
        self.held.push(FromHubWorker::Events {
            events: vec![envelope],
            cursor,
        });
    }

    /// A snapshot the hub delivered: what was held before it goes first.
    pub fn snapshot(&mut self, snapshot: FleetSnapshot) {
        self.held.push(FromHubWorker::Snapshot { snapshot });
    }

    /// The hub's state now (handed over when it differs from the last one handed over).
    pub fn state(&mut self, state: HubState) {
        self.state = Some(state);
    }

    /// The page was hidden or shown.
    pub fn set_hidden(&mut self, hidden: bool) {
        self.hidden = hidden;
    }

    /// What to post now: nothing while hidden (unless the hold is full), else everything held
    /// in order and then the state if it changed.
    pub fn drain(&mut self) -> Vec<FromHubWorker> {
        if self.hidden && self.held_events < HIDDEN_HOLD_LIMIT {
            return Vec::new();
        }
        self.held_events = 0;
        let mut out = std::mem::take(&mut self.held);
        if self.state.is_some() && self.state != self.sent_state {
            self.sent_state = self.state.clone();
            out.extend(self.state.clone().map(FromHubWorker::State));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{FleetEvent, TruckStatus};

    fn envelope(id: EventId) -> Envelope {
        Envelope {
            id,
            event: FleetEvent::Status {
                truck: "T-01".into(),
                at_ms: id,
                status: TruckStatus::EnRoute,
                next_stop: 1,
            },
        }
    }

    fn state(term: u64) -> HubState {
        HubState {
            connection: Connection::Live,
            role: Role::Leader,
            tab_id: 7,
            term,
            leader_id: Some(7),
            malformed: 0,
            out_of_scope: 0,
            upstream_gaps: 0,
            peers: 0,
        }
    }

    fn ids(out: &[FromHubWorker]) -> Vec<EventId> {
        out.iter()
            .flat_map(|m| match m {
                FromHubWorker::Events { events, .. } => events.iter().map(|e| e.id).collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    #[test]
    fn a_visible_page_gets_events_in_one_message_then_the_state_once() {
        let mut outbox = Outbox::new(false);
        outbox.event(envelope(1), Some(1));
        outbox.event(envelope(2), Some(2));
        outbox.state(state(1));
        let out = outbox.drain();
        assert_eq!(out.len(), 2);
        assert_eq!(ids(&out), [1, 2]);
        assert!(matches!(
            &out[0],
            FromHubWorker::Events {
                cursor: Some(2),
                ..
            }
        ));
        assert_eq!(out[1], FromHubWorker::State(state(1)));
        outbox.state(state(1));
        assert!(
            outbox.drain().is_empty(),
            "an unchanged state is not sent again"
        );
    }

    #[test]
    fn a_hidden_page_gets_nothing_then_one_catch_up_in_order() {
        let mut outbox = Outbox::new(true);
        outbox.event(envelope(1), Some(1));
        outbox.state(state(1));
        assert!(outbox.drain().is_empty());
        let snapshot = FleetSnapshot {
            trucks: Vec::new(),
            last_event_id: 5,
        };
        outbox.snapshot(snapshot.clone());
        outbox.event(envelope(6), Some(6));
        outbox.state(state(2));
        assert!(outbox.drain().is_empty());
        outbox.set_hidden(false);
        let out = outbox.drain();
        assert_eq!(out.len(), 4);
        assert_eq!(ids(&out[..1]), [1]);
        assert_eq!(out[1], FromHubWorker::Snapshot { snapshot });
        assert_eq!(ids(&out[2..3]), [6]);
        assert_eq!(out[3], FromHubWorker::State(state(2)));
    }

    #[test]
    fn a_full_hold_is_handed_over_even_while_hidden() {
        let mut outbox = Outbox::new(true);
        for id in 1..HIDDEN_HOLD_LIMIT as u64 {
            outbox.event(envelope(id), Some(id));
        }
        assert!(outbox.drain().is_empty());
        outbox.event(envelope(HIDDEN_HOLD_LIMIT as u64), None);
        let out = outbox.drain();
        assert_eq!(ids(&out).len(), HIDDEN_HOLD_LIMIT);
        assert!(outbox.drain().is_empty());
    }

    #[test]
    fn messages_read_back_as_sent() {
        let start = ToHubWorker::Start(HubWorkerStart {
            version: HUB_WORKER_VERSION,
            tab_id: 3,
            election: ElectionMode::Lease,
            channel: "convoy".into(),
            lock: "convoy-leader".into(),
            watch: Watch::All,
            scope: Watch::All,
            cursor: Some(9),
            hidden: true,
            api: String::new(),
        });
        let text = serde_json::to_string(&start).expect("encodes");
        assert_eq!(serde_json::from_str::<ToHubWorker>(&text).ok(), Some(start));
        let events = FromHubWorker::Events {
            events: vec![envelope(4)],
            cursor: Some(4),
        };
        let text = serde_json::to_string(&events).expect("encodes");
        assert_eq!(
            serde_json::from_str::<FromHubWorker>(&text).ok(),
            Some(events)
        );
        let state = FromHubWorker::State(state(3));
        let text = serde_json::to_string(&state).expect("encodes");
        assert_eq!(
            serde_json::from_str::<FromHubWorker>(&text).ok(),
            Some(state)
        );
    }
}
