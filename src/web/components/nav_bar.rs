//! The header: where you are, where you can go, and how the feed is doing. On a phone it is
//! one line (the brand, the chip and a Menu button that opens the links and the operator).

use crate::web::components::status_chip::StatusChip;
use crate::web::hooks::{
    use_automatic_transport, use_feed_status, use_now, use_offline_since, use_sign_out,
    use_unacked_alerts, SessionState,
};
use crate::web::route::{Link, Route};
use yew::prelude::*;

#[function_component(NavBar)]
pub fn nav_bar() -> Html {
    let status = use_feed_status();
    let offline_since = use_offline_since();
    let now_ms = use_now(1_000);
    let on_sign_out = use_sign_out().reform(|_: MouseEvent| ());
    let operator = match use_context::<SessionState>() {
        Some(SessionState::Known(session)) => session.operator.clone(),
        _ => None,
    };
    let on_use_automatic = use_automatic_transport();
    let unacked = use_unacked_alerts();
    let open = use_state_eq(|| false);
    let on_toggle = {
        let open = open.clone();
        Callback::from(move |_: MouseEvent| open.set(!*open))
    };
    // A link followed closes the menu (the click bubbles up from it).
    let on_follow = {
        let open = open.clone();
        Callback::from(move |_: MouseEvent| open.set(false))
    };
    html! {
        <header class={classes!("nav-bar", open.then_some("menu-open"))}>
            <a class="skip-link" href="#main">{ "Skip to content" }</a>
            <Link to={Route::Fleet} classes="brand">{ "Convoy" }</Link>
            <button type="button" class="menu-toggle" aria-expanded={open.to_string()}
                aria-controls="nav-menu" onclick={on_toggle}>
                { "Menu" }
                if unacked > 0 {
                    <span class="alert-count">{ format!(" ({unacked})") }</span>
                }
            </button>
            <div id="nav-menu" class="nav-menu" onclick={on_follow}>
            <nav aria-label="Main">
                <Link to={Route::Fleet}>{ "Fleet" }
                    if unacked > 0 {
                        <span class="alert-count" title="Unacknowledged alerts">
                            { format!(" ({unacked})") }
                            <span class="visually-hidden">{ " unacknowledged alerts" }</span>
                        </span>
                    }
                </Link>
                <Link to={Route::Board}>{ "Board" }</Link>
                <Link to={Route::Map}>{ "Map" }</Link>
                <Link to={Route::Diagnostics}>{ "Diagnostics" }</Link>
                <Link to={Route::Settings}>{ "Settings" }</Link>
            </nav>
            if let Some(name) = operator {
                <span class="operator">
                    <span class="operator-name" title="Signed in">{ name }</span>
                    <button type="button" class="sign-out" onclick={on_sign_out}>{ "Sign out" }</button>
                </span>
            }
            </div>
            <StatusChip {status} {now_ms} {offline_since} {on_use_automatic} />
        </header>
    }
}
