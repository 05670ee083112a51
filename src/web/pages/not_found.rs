//! Any path the app does not know.

use crate::web::route::Route;
use yew::prelude::*;
use yew_router::prelude::*;

#[function_component(NotFoundPage)]
pub fn not_found_page() -> Html {
    html! {
        <section class="not-found">
            <h1>{ "Page not found" }</h1>
            <p>{ "This address is not part of Convoy. " }
                <Link<Route> to={Route::Fleet}>{ "Back to the fleet" }</Link<Route>></p>
        </section>
    }
}
