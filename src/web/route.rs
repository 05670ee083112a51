//! The app's addresses. Components link to them; `app` decides which page each one shows.

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
    /// Paste a token, or follow a sign-in link (`/signin#token=…`).
    #[at("/signin")]
    SignIn,
    #[not_found]
    #[at("/404")]
    NotFound,
}
