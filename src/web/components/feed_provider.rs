//! Starts this tab's feed once and provides the fleet, the feed and its status as contexts.
//! A hidden page keeps its fleet current but renders nothing (only its title's alert count
//! follows); it renders once when shown.
//!
//! The header is a view of the feed too (its chip says whether what the page shows is live), so
//! the provider joins the feed itself, with an empty watch: a page that shows no truck
//! (settings, sign-in, an unknown path) still connects, and one that does starts the hub with
//! its own watch, as the provider's effect runs after its children's.

use crate::web::hooks::{FeedHandle, OfflineSince};
use crate::web::store::{FleetAction, FleetMirror, FleetStore};
use crate::web::transport::{Connection, Feed, FeedStatus, FeedUpdate};
use convoy_browser::tab_feed::HubNames;
use convoy_browser::visibility::{page_hidden, VisibilityWatch};
use convoy_core::view::query::{document_title, unacked_alert_count};
use convoy_core::wire::Watch;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct FeedProviderProps {
    pub children: Html,
    /// The channel, lock and worker this session's tabs share.
    pub names: HubNames,
}

#[function_component(FeedProvider)]
pub fn feed_provider(FeedProviderProps { children, names }: &FeedProviderProps) -> Html {
    let store = use_reducer(FleetStore::default);
    let status = use_state(|| None::<Rc<FeedStatus>>);
    let offline = use_state_eq(|| OfflineSince(None));
    let feed = {
        let dispatcher = store.dispatcher();
        let set_status = status.setter();
        let set_offline = offline.setter();
        let names = names.clone();
        // One feed for the tab's life: dropped (and its leadership handed over) on unmount.
        use_memo((), move |_| {
            let shown = Rc::new(ShownFleet {
                mirror: RefCell::new(FleetMirror::default()),
                status: RefCell::new(None),
                unacked: Cell::new(0),
                offline_since: Cell::new(None),
                dispatcher,
                set_status,
                set_offline,
            });
            let on_update = {
                let shown = shown.clone();
                move |update| shown.update(update)
            };
            let visibility = VisibilityWatch::listen(move |hidden| {
                if !hidden {
                    shown.show();
                }
            });
            (FeedHandle(Feed::connect_with(on_update, names)), visibility)
        })
    };
    let feed = feed.0.clone();
    {
        let feed = feed.clone();
        use_effect_with((), move |()| {
            let shell = feed.0.watch(Watch::Trucks(Default::default()));
            move || drop(shell)
        });
    }
    html! {
        <ContextProvider<Option<FeedHandle>> context={Some(feed)}>
            <ContextProvider<Option<Rc<FeedStatus>>> context={(*status).clone()}>
                <ContextProvider<OfflineSince> context={*offline}>
                    <ContextProvider<UseReducerHandle<FleetStore>> context={store}>
                        { children.clone() }
                    </ContextProvider<UseReducerHandle<FleetStore>>>
                </ContextProvider<OfflineSince>>
            </ContextProvider<Option<Rc<FeedStatus>>>>
        </ContextProvider<Option<FeedHandle>>>
    }
}

/// What the feed hands the app, and what of it Yew has seen.
struct ShownFleet {
    mirror: RefCell<FleetMirror>,
    /// A status that arrived while hidden.
    status: RefCell<Option<Rc<FeedStatus>>>,
    /// The title's count while hidden (the tab strip shows it without rendering the page).
    unacked: Cell<usize>,
    /// When the feed stopped being live, after it had been (wall-clock ms).
    offline_since: Cell<Option<u64>>,
    dispatcher: UseReducerDispatcher<FleetStore>,
    set_status: UseStateSetter<Option<Rc<FeedStatus>>>,
    set_offline: UseStateSetter<OfflineSince>,
}

impl ShownFleet {
    fn update(&self, update: FeedUpdate) {
        let hidden = page_hidden();
        let action = match update {
            FeedUpdate::Status(status) => {
                self.note_connection(&status.connection);
                *self.status.borrow_mut() = Some(status);
                if !hidden {
                    self.show();
                }
                return;
            }
            FeedUpdate::Snapshot(snapshot) => FleetAction::Snapshot(snapshot),
            FeedUpdate::Events(events) => FleetAction::Events(events),
        };
        let recount = action.touches_alerts();
        let mut mirror = self.mirror.borrow_mut();
        if !mirror.update(action) {
            return;
        }
        if !hidden {
            drop(mirror);
            return self.show();
        }
        if !recount {
            return;
        }
        let unacked = unacked_alert_count(mirror.store().trucks.values());
        if self.unacked.replace(unacked) != unacked {
            if let Some(document) = web_sys::window().and_then(|w| w.document()) {
                document.set_title(&document_title(unacked));
            }
        }
    }

    /// Notes when the feed stops being live: from then on, what the page shows is stale. Before
    /// the first live state there is nothing shown to mark.
    fn note_connection(&self, connection: &Connection) {
        match connection {
            Connection::Live => self.offline_since.set(None),
            _ if self.offline_since.get().is_none() && self.mirror.borrow().store().loaded => {
                self.offline_since.set(Some(js_sys::Date::now() as u64));
            }
            _ => {}
        }
    }

    /// Hands Yew what changed since it last rendered.
    fn show(&self) {
        self.set_offline.set(OfflineSince(self.offline_since.get()));
        if let Some(status) = self.status.borrow_mut().take() {
            self.set_status.set(Some(status));
        }
        let next = self.mirror.borrow_mut().show();
        if let Some(store) = next {
            self.unacked.set(unacked_alert_count(store.trucks.values()));
            self.dispatcher.dispatch(store);
        }
    }
}
