//! The app shell: routes, the feed provider and the header with the status chip.

use crate::web::components::feed_provider::FeedProvider;
use crate::web::components::nav_bar::NavBar;
use crate::web::pages::{
    board::BoardPage, diagnostics::DiagnosticsPage, fleet::FleetPage, map::MapPage,
    not_found::NotFoundPage, settings::SettingsPage, truck::TruckPage,
};
use yew::prelude::*;
use yew_router::prelude::*;

/// Every page of the app. Links are real links, so "open in new tab" works too.
#[derive(Clone, Routable, PartialEq, Debug)]
pub enum Route {
    #[at("/")]
    Fleet,
    #[at("/trucks/:id")]
    Truck { id: String },
    /// Trucks side by side; the layout is the query: `/board?trucks=T-03,T-01`.
    #[at("/board")]
    Board,
    #[at("/map")]
    Map,
    #[at("/diagnostics")]
    Diagnostics,
    #[at("/settings")]
    Settings,
    #[not_found]
    #[at("/404")]
    NotFound,
}

fn switch(route: Route) -> Html {
    match route {
        Route::Fleet => html! { <FleetPage /> },
        Route::Truck { id } => html! { <TruckPage {id} /> },
        Route::Board => html! { <BoardPage /> },
        Route::Map => html! { <MapPage /> },
        Route::Diagnostics => html! { <DiagnosticsPage /> },
        Route::Settings => html! { <SettingsPage /> },
        Route::NotFound => html! { <NotFoundPage /> },
    }
}

/// The root component.
#[function_component(App)]
pub fn app() -> Html {
    html! {
        <BrowserRouter>
            <FeedProvider>
                <NavBar />
                <main id="main">
                    <Switch<Route> render={switch} />
                </main>
            </FeedProvider>
        </BrowserRouter>
    }
}
