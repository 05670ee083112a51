//! The app shell: which page each route shows, the feed provider and the header with the status chip.

use crate::web::components::feed_provider::FeedProvider;
use crate::web::components::nav_bar::NavBar;
use crate::web::pages::{
    board::BoardPage, diagnostics::DiagnosticsPage, fleet::FleetPage, map::MapPage,
    not_found::NotFoundPage, settings::SettingsPage, truck::TruckPage,
};
use crate::web::route::Route;
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
