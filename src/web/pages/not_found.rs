//! Any path the app does not know.

use crate::web::route::{Link, Route};
use yew::prelude::*;

#[function_component(NotFoundPage)]
pub fn not_found_page() -> Html {
    html! {
        <section class="not-found">
            <h1>{ "Page not found" }</h1>
            <p>{ "This address is not part of Convoy. " }
                <Link to={Route::Fleet}>{ "Back to the fleet" }</Link></p>
        </section>
    }
}
