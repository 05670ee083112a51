//! The dedicated worker that runs one tab's hub off its main thread, as a gloo-worker
//! [`Worker`]: election (Web Locks or lease over the BroadcastChannel), the upstream
//! `EventSource`, SSE decoding, relay, cursor and last-value cache all run here, on the same
//! [`HubLoop`] a tab runs; the tab only applies what this posts (see `hub_worker_link`). A hung
//! main thread then no longer stops the hub it hosts, and the hub's timers are a worker's.
//!
//! What the hub delivers goes through a `convoy_core::hub_worker::Outbox`: nothing is posted
//! while the page is hidden, and one catch-up when it is shown. Desktop notifications decided
//! here are posted at once (the page shows them, hidden or not).

use crate::channel::TabChannel;
use crate::hub_loop::{HubHandle, HubHost, HubLoop, LeaderLock};
use crate::locks::lock_manager;
use crate::upstream::{EventSourceUpstream, HEARTBEAT_MS};
use convoy_core::election::ElectionMode;
use convoy_core::hub_worker::{
    FromHubWorker, HubState, HubWorkerStart, Outbox, ToHubWorker, HUB_WORKER_VERSION,
};
use convoy_core::notice::{encode_msg, AlertNotices, NoticeOutput, HOLD_MS};
use convoy_core::relay::{HubConfig, HubOutput, TabHub};
use convoy_core::transport::{Failure, Feature};
use gloo_worker::{Codec, HandlerId, Worker, WorkerScope};
use serde::{Deserialize, Serialize};
use wasm_bindgen::JsValue;

/// gloo-worker's messages as JSON text: serde_json is in both bundles already (bincode would
/// add its own code to each), and the text is readable in devtools.
pub struct JsonCodec;

impl Codec for JsonCodec {
    fn encode<I: Serialize>(input: I) -> JsValue {
        // Our own types: they always encode.
        JsValue::from_str(&serde_json::to_string(&input).unwrap_or_default())
    }

    fn decode<O: for<'de> Deserialize<'de>>(input: JsValue) -> O {
        let text = input.as_string().unwrap_or_default();
        match serde_json::from_str(&text) {
            Ok(message) => message,
            // Only this build's page and worker talk here (the worker's URL is the page's
            // build's); a message that does not decode ends this event handler, nothing else
            // (gloo decodes before it borrows anything).
            Err(e) => wasm_bindgen::throw_str(&format!("convoy: a hub worker message: {e}")),
        }
    }
}

/// The hub's host in the worker: frames to the other tabs, deliveries to this tab.
pub struct WorkerTab {
    scope: WorkerScope<HubWorker>,
    tab: HandlerId,
    channel: Option<TabChannel>,
    outbox: Outbox,
    leader_mode: bool,
}

impl WorkerTab {
    fn post(&self, message: FromHubWorker) {
        self.scope.respond(self.tab, message);
    }
}

impl HubHost for WorkerTab {
    type Upstream = EventSourceUpstream;

    fn handle(&mut self, output: HubOutput) {
        match output {
            HubOutput::Send { frame, .. } => {
                if let Some(channel) = &self.channel {
                    channel.post(&frame);
                }
            }
            HubOutput::Deliver(envelope) => {
                let id = envelope.id;
                self.outbox.event(envelope, Some(id));
            }
            HubOutput::DeliverSnapshot(snapshot) => self.outbox.snapshot(snapshot),
            // Role and connection go with the state in `settle`; a broadcast link has no peer
            // to forget.
            _ => {}
        }
    }

    fn lock_failed(&mut self, hub: &mut TabHub, now_ms: u64, reason: String) {
        hub.handle_transport_failed(now_ms, reason.clone());
        if self.leader_mode {
            // The tab moves down `auto`'s ladder (to the lease), as with a hub on its thread.
            let failure = Failure {
                feature: Feature::WebLocks,
                reason,
            };
            self.post(FromHubWorker::TransportFailed { failure });
        }
    }

    fn notice(&mut self, output: NoticeOutput) {
        self.post(FromHubWorker::Notice {
            text: encode_msg(&output),
        });
    }

    fn settle(&mut self, hub: &TabHub, _handle: &HubHandle<Self>) -> Option<Box<dyn FnOnce()>> {
        let d = hub.diagnostics();
        self.outbox.state(HubState {
            connection: hub.connection().clone(),
            role: d.role,
            tab_id: d.tab_id,
            term: d.term,
            leader_id: d.leader_id,
            malformed: d.malformed,
            out_of_scope: d.out_of_scope,
            upstream_gaps: d.upstream_gaps,
            peers: d.peers,
        });
        for message in self.outbox.drain() {
            self.post(message);
        }
        None
    }
}

/// The worker: one tab's hub, started by that tab's `Start`.
pub struct HubWorker {
    hub: Option<HubLoop<WorkerTab>>,
}

impl HubWorker {
    fn start(&mut self, scope: &WorkerScope<Self>, tab: HandlerId, start: HubWorkerStart) {
        if self.hub.is_some() {
            return;
        }
        if start.version != HUB_WORKER_VERSION {
            // Another build's page: say so by answering with our version, and start nothing.
            scope.respond(
                tab,
                FromHubWorker::Ready {
                    version: HUB_WORKER_VERSION,
                },
            );
            return;
        }
        // `crate::api` reads the API's origin from here in a worker.
        let _ = js_sys::Reflect::set(
            &js_sys::global(),
            &"convoyApi".into(),
            &JsValue::from_str(&start.api),
        );
        let lock = match start.election {
            ElectionMode::Locks => lock_manager().map(|manager| LeaderLock {
                manager,
                name: start.lock.clone(),
            }),
            _ => None,
        };
        let election = match (start.election, &lock) {
            // No lock manager in this worker after all: elect by lease.
            (ElectionMode::Locks, None) => ElectionMode::Lease,
            (election, _) => election,
        };
        let mut config = HubConfig::new(start.tab_id, election);
        config.watch = start.watch;
        config.scope = start.scope;
        config.cursor = start.cursor;
        config.hidden = start.hidden;
        config.upstream_stall_ms = 8 * HEARTBEAT_MS;
        let notices = Some(AlertNotices::new(HOLD_MS));
        let scope = scope.clone();
        let hub = HubLoop::start(config, lock, notices, |handle| {
            let channel = (election != ElectionMode::Solo)
                .then(|| {
                    TabChannel::open(&start.channel, move |text| {
                        handle.input(|hub, _, now| hub.handle_channel_message(now, &text));
                    })
                    .ok()
                })
                .flatten();
            WorkerTab {
                scope: scope.clone(),
                tab,
                channel,
                outbox: Outbox::new(start.hidden),
                leader_mode: election != ElectionMode::Solo,
            }
        });
        scope.respond(
            tab,
            FromHubWorker::Ready {
                version: HUB_WORKER_VERSION,
            },
        );
        self.hub = Some(hub);
    }

    fn input(&self, feed: impl FnOnce(&mut TabHub, &mut WorkerTab, u64)) {
        if let Some(hub) = &self.hub {
            hub.handle().input(feed);
        }
    }
}

impl Worker for HubWorker {
    type Message = ();
    type Input = ToHubWorker;
    type Output = FromHubWorker;

    fn create(_scope: &WorkerScope<Self>) -> Self {
        HubWorker { hub: None }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: ()) {}

    fn received(&mut self, scope: &WorkerScope<Self>, msg: ToHubWorker, id: HandlerId) {
        match msg {
            ToHubWorker::Start(start) => self.start(scope, id, start),
            ToHubWorker::Watch { watch } => self.input(|hub, _, now| hub.set_watch(now, watch)),
            ToHubWorker::Hidden { hidden } => self.input(|hub, host, now| {
                host.outbox.set_hidden(hidden);
                hub.set_hidden(now, hidden);
            }),
            ToHubWorker::PageHide => self.input(|hub, _, now| hub.handle_page_hide(now)),
            ToHubWorker::PageShow => self.input(|hub, _, now| hub.handle_page_show(now)),
            ToHubWorker::Stop => {
                if let Some(hub) = self.hub.take() {
                    hub.stop();
                }
            }
        }
    }

    fn disconnected(&mut self, _scope: &WorkerScope<Self>, _id: HandlerId) {
        // The tab dropped its bridge: a clean close.
        if let Some(hub) = self.hub.take() {
            hub.stop();
        }
    }
}
