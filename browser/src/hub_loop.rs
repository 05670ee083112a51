//! The one loop that runs a `convoy_core::relay::TabHub` in a browser, for tabs and workers
//! alike: an input goes in with the current time, the hub's outputs are carried out, and its
//! timer is re-armed. The loop owns what every hub needs (the upstream stream, the Web Lock, the
//! snapshot fetch, the timer); a [`HubHost`] owns the rest (where frames go, what the app is
//! told). No borrow is held while the host's deferred work runs, so it may call back in.
//!
//! A loop started with an `AlertNotices` feeds it the alert events its hub takes (from the
//! upstream while it leads, relayed while it follows), tells it whether the hub leads after
//! every input, runs its timer with the hub's, and hands its outputs to the host: only the tab
//! or worker that holds the stream notifies (see `convoy_core::notice`).

use crate::clock::now_ms;
use crate::locks::{LockRequest, LockSignal};
use crate::snapshot::fetch_snapshot;
use crate::upstream::{stream_url, Upstream, UpstreamSignal};
use crate::worker_port::error_name;
use convoy_core::notice::{concerns_notices, AlertNotices, NoticeOutput};
use convoy_core::relay::{HubConfig, HubOutput, TabHub};
use convoy_core::upstream::UpstreamItem;
use convoy_core::wire::Envelope;
use gloo_timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use web_sys::LockManager;

/// What a hub's surroundings do with the outputs the loop does not handle itself: frames to
/// peers, deliveries, role and connection changes, peers gone.
pub trait HubHost: Sized + 'static {
    /// The stream this host reads: an `EventSource` in a page or a SharedWorker, a fetch body in
    /// a service worker. Only the one named here is linked into the host's bundle.
    type Upstream: Upstream;

    /// Carries out one of `Send`, `Deliver`, `DeliverSnapshot`, `RoleChanged`,
    /// `ConnectionChanged` or `PeerGone`.
    fn handle(&mut self, output: HubOutput);

    /// The Web Lock could not be requested (the lock manager threw): by default the hub shows
    /// it as an error; a tab host may also move to another transport.
    fn lock_failed(&mut self, hub: &mut TabHub, now_ms: u64, reason: String) {
        hub.handle_transport_failed(now_ms, reason);
    }

    /// Shows or closes a desktop notification (outputs of the loop's `AlertNotices`, which
    /// come only while the hub leads). By default nothing: a host without notifications.
    fn notice(&mut self, _output: NoticeOutput) {}

    /// Called after the outputs of an input were carried out; what it returns runs once no
    /// borrow is held (to hand the app its updates).
    fn settle(&mut self, _hub: &TabHub, _handle: &HubHandle<Self>) -> Option<Box<dyn FnOnce()>> {
        None
    }
}

/// The Web Lock a hub in Locks mode competes for.
pub struct LeaderLock {
    pub manager: LockManager,
    pub name: String,
}

struct State<H: HubHost> {
    hub: TabHub,
    host: H,
    upstream: Option<H::Upstream>,
    lock: Option<LeaderLock>,
    lock_request: Option<LockRequest>,
    timer: Option<(u64, Timeout)>,
    notices: Option<AlertNotices>,
    stopped: bool,
}

/// A running hub and its host; dropping it stops everything (the host's listeners too).
pub struct HubLoop<H: HubHost> {
    state: Rc<RefCell<State<H>>>,
}

/// A weak handle for listeners and callbacks: inputs after the loop is gone are dropped.
pub struct HubHandle<H: HubHost> {
    state: Weak<RefCell<State<H>>>,
}

impl<H: HubHost> Clone for HubHandle<H> {
    fn clone(&self) -> Self {
        HubHandle {
            state: self.state.clone(),
        }
    }
}

impl<H: HubHost> HubLoop<H> {
    /// Starts a hub with `config`; `make_host` builds the host with a handle for its listeners.
    /// `lock` is required in Locks mode; with `notices` the host is asked to notify while the hub
    /// leads.
    pub fn start(
        config: HubConfig,
        lock: Option<LeaderLock>,
        notices: Option<AlertNotices>,
        make_host: impl FnOnce(HubHandle<H>) -> H,
    ) -> HubLoop<H> {
        let state = Rc::new_cyclic(|weak: &Weak<RefCell<State<H>>>| {
            let host = make_host(HubHandle {
                state: weak.clone(),
            });
            RefCell::new(State {
                hub: TabHub::new(config, now_ms()),
                host,
                upstream: None,
                lock,
                lock_request: None,
                timer: None,
                notices,
                stopped: false,
            })
        });
        pump(&state);
        HubLoop { state }
    }

    /// A handle for listeners and callbacks.
    pub fn handle(&self) -> HubHandle<H> {
        handle_of(&self.state)
    }

    /// A clean close: the hub says goodbye (so the next leader starts at once), then the stream,
    /// the lock and the timer go.
    pub fn stop(&self) {
        self.handle().input(|hub, _, now| hub.shutdown(now));
        let mut state = self.state.borrow_mut();
        state.stopped = true;
        state.upstream = None;
        state.lock_request = None;
        state.timer = None;
    }
}

impl<H: HubHost> Drop for HubLoop<H> {
    fn drop(&mut self) {
        self.stop();
    }
}

impl<H: HubHost> HubHandle<H> {
    /// Feeds one input to the hub (with the host at hand, e.g. to bind a port to the sender),
    /// then carries out what it asks for. Ignored after `stop` or while the loop is busy.
    pub fn input<R>(&self, feed: impl FnOnce(&mut TabHub, &mut H, u64) -> R) -> Option<R> {
        let state = self.state.upgrade()?;
        let result = {
            let mut guard = state.try_borrow_mut().ok()?;
            if guard.stopped {
                return None;
            }
            let State { hub, host, .. } = &mut *guard;
            feed(hub, host, now_ms())
        };
        pump(&state);
        Some(result)
    }

    /// Events the upstream delivered together: to the hub, and to the notifier those the hub
    /// took.
    fn upstream_events(&self, envelopes: Vec<Envelope>) -> Option<()> {
        let state = self.state.upgrade()?;
        {
            let mut guard = state.try_borrow_mut().ok()?;
            if guard.stopped {
                return None;
            }
            let now = now_ms();
            let State { hub, notices, .. } = &mut *guard;
            let copies: Vec<Envelope> = match notices {
                Some(_) => envelopes
                    .iter()
                    .filter(|e| concerns_notices(&e.event))
                    .cloned()
                    .collect(),
                None => Vec::new(),
            };
            let before = hub.cursor();
            hub.handle_upstream_events(now, envelopes);
            if let (Some(notices), Some(after)) = (notices, hub.cursor()) {
                // Ids increase: the hub took exactly those between its cursors. A stale
                // stream's events and repeats it dropped are not news.
                for copy in copies {
                    if before.is_some_and(|b| b < copy.id) && copy.id <= after {
                        notices.handle_event(now, &copy);
                    }
                }
            }
        }
        pump(&state);
        Some(())
    }

    /// Reads the hub and its host (None when the loop is gone or busy).
    pub fn read<R>(&self, read: impl FnOnce(&TabHub, &H) -> R) -> Option<R> {
        let state = self.state.upgrade()?;
        let guard = state.try_borrow().ok()?;
        Some(read(&guard.hub, &guard.host))
    }

    /// Changes the host without an input, then runs what its `settle` defers.
    pub fn with_host(&self, change: impl FnOnce(&mut H)) {
        let Some(state) = self.state.upgrade() else {
            return;
        };
        if let Ok(mut guard) = state.try_borrow_mut() {
            change(&mut guard.host);
        }
        pump(&state);
    }
}

/// Carries out the hub's outputs, re-arms its timer, then runs the host's deferred work.
fn pump<H: HubHost>(state: &Rc<RefCell<State<H>>>) {
    loop {
        let output = match state.try_borrow_mut() {
            Ok(mut guard) => guard.hub.poll_output(),
            Err(_) => return,
        };
        let Some(output) = output else { break };
        execute(state, output);
    }
    let handle = handle_of(state);
    let deferred = {
        let mut guard = state.borrow_mut();
        let State {
            hub,
            host,
            notices,
            stopped,
            ..
        } = &mut *guard;
        if let (Some(notices), false) = (notices, *stopped) {
            let now = now_ms();
            notices.set_leading(now, hub.leads());
            notices.handle_timeout(now);
            while let Some(output) = notices.poll_output() {
                host.notice(output);
            }
        }
        arm_timer(&mut guard, &handle);
        let State { hub, host, .. } = &mut *guard;
        host.settle(hub, &handle)
    };
    if let Some(deferred) = deferred {
        deferred();
    }
}

fn execute<H: HubHost>(state: &Rc<RefCell<State<H>>>, output: HubOutput) {
    let handle = handle_of(state);
    let mut guard = state.borrow_mut();
    match output {
        HubOutput::RequestLock { steal } => {
            // A queued request must go before a steal, or it would be granted again later.
            guard.lock_request = None;
            let Some(lock) = &guard.lock else { return };
            let on_signal: Rc<dyn Fn(LockSignal)> = Rc::new(move |signal| {
                match signal {
                    LockSignal::Granted => handle.input(|hub, _, now| hub.handle_lock_granted(now)),
                    LockSignal::Lost => handle.input(|hub, _, now| hub.handle_lock_lost(now)),
                };
            });
            match LockRequest::request(&lock.manager, &lock.name, steal, on_signal) {
                Ok(request) => guard.lock_request = Some(request),
                Err(error) => {
                    drop(guard);
                    let reason = format!("the lock request threw {}", error_name(&error));
                    // Not from inside this output: the hub is between inputs only after pump.
                    let handle = handle_of(state);
                    wasm_bindgen_futures::spawn_local(async move {
                        handle.input(|hub, host, now| host.lock_failed(hub, now, reason));
                    });
                }
            }
        }
        HubOutput::ReleaseLock => guard.lock_request = None,
        HubOutput::FetchSnapshot => {
            drop(guard);
            wasm_bindgen_futures::spawn_local(async move {
                match fetch_snapshot().await {
                    Ok(snapshot) => handle.input(|hub, _, now| hub.handle_snapshot(now, snapshot)),
                    // The hub asks again after `snapshot_retry_ms`; meanwhile it says why.
                    Err(reason) => {
                        handle.input(|hub, _, now| hub.handle_snapshot_failed(now, reason))
                    }
                };
            });
        }
        HubOutput::OpenUpstream {
            watch,
            last_event_id,
        } => {
            guard.upstream = None;
            let on_signal: Rc<dyn Fn(UpstreamSignal)> =
                Rc::new(move |signal| on_upstream(&handle, signal));
            match H::Upstream::open(&stream_url(&watch, last_event_id), on_signal) {
                Ok(upstream) => guard.upstream = Some(upstream),
                Err(_) => {
                    drop(guard);
                    // Not from inside this output: the hub is between inputs only after pump.
                    let handle = handle_of(state);
                    wasm_bindgen_futures::spawn_local(async move {
                        handle.input(|hub, _, now| hub.handle_upstream_error(now));
                    });
                }
            }
        }
        HubOutput::CloseUpstream => guard.upstream = None,
        HubOutput::Deliver(envelope) => {
            let State { notices, host, .. } = &mut *guard;
            // What the leader relayed: a follower keeps track, to take over with it.
            if let Some(notices) = notices
                .as_mut()
                .filter(|_| concerns_notices(&envelope.event))
            {
                notices.handle_event(now_ms(), &envelope);
            }
            host.handle(HubOutput::Deliver(envelope));
        }
        other => guard.host.handle(other),
    }
}

fn handle_of<H: HubHost>(state: &Rc<RefCell<State<H>>>) -> HubHandle<H> {
    HubHandle {
        state: Rc::downgrade(state),
    }
}

fn on_upstream<H: HubHost>(handle: &HubHandle<H>, signal: UpstreamSignal) {
    match signal {
        UpstreamSignal::Open => handle.input(|hub, _, now| hub.handle_upstream_open(now)),
        UpstreamSignal::Item(UpstreamItem::Events(envelopes)) => handle.upstream_events(envelopes),
        UpstreamSignal::Item(UpstreamItem::Heartbeat) => {
            handle.input(|hub, _, now| hub.handle_upstream_heartbeat(now))
        }
        UpstreamSignal::Item(UpstreamItem::Reset) => {
            handle.input(|hub, _, now| hub.handle_upstream_reset(now))
        }
        UpstreamSignal::Item(UpstreamItem::Gap(reason)) => {
            web_sys::console::warn_1(
                &format!("convoy: the stream lost events ({reason}); repairing").into(),
            );
            handle.input(|hub, _, now| hub.handle_upstream_gap(now))
        }
        UpstreamSignal::Error => handle.input(|hub, _, now| hub.handle_upstream_error(now)),
    };
}

fn arm_timer<H: HubHost>(state: &mut State<H>, handle: &HubHandle<H>) {
    let notices = state.notices.as_ref().and_then(AlertNotices::poll_timeout);
    let deadline = match (state.hub.poll_timeout(), notices) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let Some(deadline) = deadline else {
        state.timer = None;
        return;
    };
    // Re-armed whenever the deadline moves, so the timer that counts was set by the input that
    // moved it (a message, a network event), not by an earlier timer: Chromium throttles a
    // chain of five or more timers, each set from the one before, to one wake-up a minute in
    // a tab hidden for 5 minutes, and a hidden successor would then notice a crashed leader
    // a minute late. (Hidden tabs get a few messages a second; see `relay_hold_ms`.)
    if state.timer.as_ref().is_some_and(|(at, _)| *at == deadline) {
        return;
    }
    let handle = handle.clone();
    let delay = deadline.saturating_sub(now_ms()).min(u64::from(u32::MAX)) as u32;
    let timeout = Timeout::new(delay, move || {
        if let Some(state) = handle.state.upgrade() {
            if let Ok(mut guard) = state.try_borrow_mut() {
                guard.timer = None;
            }
        }
        handle.input(|hub, _, now| hub.handle_timeout(now));
    });
    state.timer = Some((deadline, timeout));
}
