//! The feed as hooks: the fleet store, the feed's status, one truck, and the trucks a view
//! needs. The contexts are provided by `components::feed_provider`.

use crate::web::store::FleetStore;
use crate::web::transport::{Feed, FeedStatus};
use convoy_core::wire::{TruckState, Watch};
use std::rc::Rc;
use yew::prelude::*;

/// The app's feed, shared through context; compared by pointer, so it never re-renders anyone.
#[derive(Clone)]
pub struct FeedHandle(pub Rc<Feed>);

impl PartialEq for FeedHandle {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

/// When the feed stopped being live (wall-clock ms), after it had been; None while live or
/// before anything was shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OfflineSince(pub Option<u64>);

/// A moment's outage is not worth marking: a stream reopens within about a second.
pub const OFFLINE_GRACE_MS: u64 = 3_000;

impl OfflineSince {
    /// Whether what the page shows should be marked stale at `now_ms`.
    pub fn stale_at(&self, now_ms: u64) -> bool {
        self.0
            .is_some_and(|since| now_ms.saturating_sub(since) >= OFFLINE_GRACE_MS)
    }
}

/// Whether what the page shows is stale now (the feed has been down past the grace), given the
/// caller's clock.
#[hook]
pub fn use_offline(now_ms: u64) -> bool {
    use_context::<OfflineSince>()
        .unwrap_or_default()
        .stale_at(now_ms)
}

/// When the feed stopped being live (see [`OfflineSince`]).
#[hook]
pub fn use_offline_since() -> OfflineSince {
    use_context::<OfflineSince>().unwrap_or_default()
}

/// The whole fleet as this tab knows it (None outside the provider).
#[hook]
pub fn use_fleet() -> Option<UseReducerHandle<FleetStore>> {
    use_context::<UseReducerHandle<FleetStore>>()
}

/// The feed's connection, role and transport.
#[hook]
pub fn use_feed_status() -> Option<Rc<FeedStatus>> {
    use_context::<Option<Rc<FeedStatus>>>().flatten()
}

/// The feed itself (None outside the provider, as in component tests).
#[hook]
pub fn use_feed() -> Option<FeedHandle> {
    use_context::<Option<FeedHandle>>().flatten()
}

/// One truck's latest state.
#[hook]
pub fn use_truck(id: &str) -> Option<Rc<TruckState>> {
    use_fleet().and_then(|fleet| fleet.trucks.get(id).cloned())
}

/// Subscribes this view to `watch` while it is mounted (and follows changes to it).
#[hook]
pub fn use_watch(watch: Watch) {
    let feed = use_feed();
    use_effect_with(watch, move |watch| {
        let guard = feed.map(|feed| feed.0.watch(watch.clone()));
        move || drop(guard)
    });
}
