//! `/signin`: paste a token, or follow a sign-in link (`/signin#token=…`, which signs in at
//! once when no one is signed in, and asks first when someone is). Shown in place of every page
//! while signed out.

use crate::web::hooks::{input_value, use_link_token, use_sign_in, SessionState};
use yew::prelude::*;

#[function_component(SignInPage)]
pub fn sign_in_page() -> Html {
    let (on_token, error) = use_sign_in();
    let link_token = use_link_token();
    let session = use_context::<SessionState>();
    let signed_in_as = match &session {
        Some(SessionState::Known(session)) => session.operator.clone(),
        _ => None,
    };
    // A link opened while someone is signed in waits for their word: a link sent by anyone
    // must not swap the operator of every tab unnoticed.
    let held_link = use_state(|| None::<String>);
    {
        let (on_token, held_link) = (on_token.clone(), held_link.clone());
        let checked = !matches!(session, Some(SessionState::Checking));
        let signed_in = signed_in_as.is_some();
        use_effect_with(
            (link_token, checked, signed_in),
            move |(token, checked, signed_in)| match token {
                Some(token) if *checked && *signed_in => held_link.set(Some(token.clone())),
                Some(token) if *checked => on_token.emit(token.clone()),
                _ => {}
            },
        );
    }
    let on_switch = {
        let (on_token, held_link) = (on_token.clone(), held_link.clone());
        Callback::from(move |_: MouseEvent| {
            if let Some(token) = (*held_link).clone() {
                held_link.set(None);
                on_token.emit(token);
            }
        })
    };
    let on_keep = {
        let held_link = held_link.clone();
        Callback::from(move |_: MouseEvent| held_link.set(None))
    };
    let text = use_state(String::new);
    let on_input = {
        let text = text.clone();
        input_value(Callback::from(move |value: String| text.set(value)))
    };
    let on_submit = {
        let text = text.clone();
        Callback::from(move |event: SubmitEvent| {
            event.prevent_default();
            on_token.emit((*text).clone());
        })
    };
    html! {
        <section class="sign-in">
            <h1>{ "Sign in" }</h1>
            <p class="intro">{ "Convoy shows your fleet's trucks live: where each is, its route, ETA and alerts. \
                Sign in with the token your administrator made for you (with convoy-server token), \
                or open the sign-in link they sent you." }</p>
            if let (Some(name), true) = (&signed_in_as, held_link.is_some()) {
                <div class="link-held" role="alert">
                    <p>{ format!("You opened a sign-in link while signed in as {name}. Signing in with it switches every tab of this browser to the link's operator.") }</p>
                    <button type="button" class="switch" onclick={on_switch}>{ "Sign in with the link" }</button>
                    <button type="button" class="keep" onclick={on_keep}>{ format!("Stay signed in as {name}") }</button>
                </div>
            }
            if let Some(name) = signed_in_as {
                <p>{ format!("Signed in as {name}. A token of another operator switches every tab to them.") }</p>
            } else {
                <p>{ "You are signed out. Paste the token your administrator gave you, or open your sign-in link." }</p>
            }
            <form onsubmit={on_submit}>
                <label for="token">{ "Token" }</label>
                <textarea id="token" rows="4" autocomplete="off" spellcheck="false"
                    value={(*text).clone()} oninput={on_input} />
                <button type="submit">{ "Sign in" }</button>
            </form>
            if let Some(error) = error {
                <p class="error" role="alert">{ format!("Not signed in: {error}") }</p>
            }
        </section>
    }
}
