//! The app shell: the session gate (signed out: the sign-in page; signed in or sign-in off: the
//! app), which page each route shows, the feed provider (one per session) and the header.

use crate::web::components::feed_provider::FeedProvider;
use crate::web::components::nav_bar::NavBar;
use crate::web::hooks::{use_session, SessionState};
use crate::web::pages::{
    board::BoardPage, diagnostics::DiagnosticsPage, fleet::FleetPage, map::MapPage,
    not_found::NotFoundPage, settings::SettingsPage, sign_in::SignInPage, truck::TruckPage,
};
use crate::web::route::Route;
use convoy_browser::tab_feed::HubNames;
use yew::prelude::*;
use yew_router::prelude::*;

fn switch(route: Route) -> Html {
    match route {
        Route::Fleet => html! { <FleetPage /> },
        Route::Truck { id } => html! { <TruckPage {id} /> },
        Route::Board => html! { <BoardPage /> },
        Route::Map => html! { <MapPage /> },
        Route::Diagnostics => html! { <DiagnosticsPage /> },
        Route::Settings => html! { <SettingsPage /> },
        Route::SignIn => html! { <SignInPage /> },
        Route::NotFound => html! { <NotFoundPage /> },
    }
}

/// The root component.
#[function_component(App)]
pub fn app() -> Html {
    let session = use_session();
    let body = match &session {
        SessionState::Checking => {
            html! { <div class="skeleton" aria-busy="true">{ "Checking your session…" }</div> }
        }
        signed_out if !signed_out.admits() => html! {
            <main id="main"><SignInPage /></main>
        },
        admitted => {
            // One feed per session: another operator's tabs share nothing with this one's, and
            // nothing relayed about another operator's trucks is shown.
            let scope = admitted.scope_name();
            let names = HubNames::for_session(&scope).within(admitted.truck_scope());
            html! {
                <FeedProvider key={scope} {names}>
                    <NavBar />
                    <main id="main">
                        <Switch<Route> render={switch} />
                    </main>
                </FeedProvider>
            }
        }
    };
    html! {
        <BrowserRouter>
            <ContextProvider<SessionState> context={session}>
                { body }
            </ContextProvider<SessionState>>
        </BrowserRouter>
    }
}
