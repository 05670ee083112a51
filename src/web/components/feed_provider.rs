//! Starts this tab's feed once and provides the fleet, the feed and its status as contexts.

use crate::web::hooks::FeedHandle;
use crate::web::store::{FleetAction, FleetStore};
use crate::web::transport::{Feed, FeedStatus, FeedUpdate};
use convoy_browser::tab_feed::HubNames;
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
    let feed = {
        let dispatcher = store.dispatcher();
        let set_status = status.setter();
        let names = names.clone();
        // One feed for the tab's life: dropped (and its leadership handed over) on unmount.
        use_memo((), move |_| {
            let on_update = Callback::from(move |update| match update {
                FeedUpdate::Snapshot(snapshot) => {
                    dispatcher.dispatch(FleetAction::Snapshot(snapshot))
                }
                FeedUpdate::Events(events) => dispatcher.dispatch(FleetAction::Events(events)),
                FeedUpdate::Status(status) => set_status.set(Some(status)),
            });
            FeedHandle(Feed::connect_with(
                move |update| on_update.emit(update),
                names,
            ))
        })
    };
    html! {
        <ContextProvider<Option<FeedHandle>> context={Some((*feed).clone())}>
            <ContextProvider<Option<Rc<FeedStatus>>> context={(*status).clone()}>
                <ContextProvider<UseReducerHandle<FleetStore>> context={store}>
                    { children.clone() }
                </ContextProvider<UseReducerHandle<FleetStore>>>
            </ContextProvider<Option<Rc<FeedStatus>>>>
        </ContextProvider<Option<FeedHandle>>>
    }
}
