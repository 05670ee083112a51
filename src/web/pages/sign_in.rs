//! `/signin`: paste a token, or follow a sign-in link (`/signin#token=…`, which signs in at
//! once). Shown in place of every page while signed out.

use crate::web::hooks::{input_value, use_link_token, use_sign_in, SessionState};
use yew::prelude::*;

#[function_component(SignInPage)]
pub fn sign_in_page() -> Html {
    let (on_token, error) = use_sign_in();
    let link_token = use_link_token();
    let session = use_context::<SessionState>();
    {
        let on_token = on_token.clone();
        use_effect_with(link_token, move |token| {
            if let Some(token) = token {
                on_token.emit(token.clone());
            }
        });
    }
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
    let signed_in_as = match &session {
        Some(SessionState::Known(session)) => session.operator.clone(),
        _ => None,
    };
    html! {
        <section class="sign-in">
            <h1>{ "Sign in" }</h1>
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
