//! The header: where you are, where you can go, and how the feed is doing.

use crate::web::components::status_chip::StatusChip;
use crate::web::hooks::{
    use_automatic_transport, use_feed_status, use_now, use_offline_since, use_sign_out,
    use_unacked_alerts, SessionState,
};
use crate::web::route::Route;
use crate::web::router::Link;
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
    html! {
        <header class="nav-bar">
            <a class="skip-link" href="#main">{ "Skip to content" }</a>
            <Link to={Route::Fleet} classes="brand">{ "Convoy" }</Link>
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
            <StatusChip {status} {now_ms} {offline_since} {on_use_automatic} />
            if let Some(name) = operator {
                <span class="operator">
                    <span class="operator-name" title="Signed in">{ name }</span>
                    <button type="button" class="sign-out" onclick={on_sign_out}>{ "Sign out" }</button>
                </span>
            }
        </header>
    }
}
