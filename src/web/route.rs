//! The app's addresses. Components link to them; `app` decides which page each one shows.
//! yew-router's derive matches the paths: one trailing `/` is ignored, `:id` is one non-empty
//! segment, percent-decoded (not UTF-8: no page), and any other path is `NotFound`.

use yew_router::Routable;

/// Every page of the app. Links are real links, so "open in new tab" works too.
#[derive(Clone, PartialEq, Debug, Routable)]
pub enum Route {
    #[at("/")]
    Fleet,
    /// The id is percent-encoded in the path.
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
    /// `/404`, and every path no other page claims.
    #[not_found]
    #[at("/404")]
    NotFound,
}

/// yew-router's `Link` to one of the app's routes: a plain click navigates inside the app;
/// modified and middle clicks keep the browser's meaning (a new tab, a new window).
pub type Link = yew_router::components::Link<Route>;
