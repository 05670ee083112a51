//! `/settings`: pick the transport (kept in localStorage as `convoy.transport`, read at the next
//! page load) and see what this browser supports.

use crate::web::transport::{
    auto_mode, chosen_mode, store_setting, stored_setting, Capabilities, TransportMode, AUTO,
};
use yew::prelude::*;

#[function_component(SettingsPage)]
pub fn settings_page() -> Html {
    let caps = use_memo((), |_| Capabilities::detect());
    let setting = use_state(|| stored_setting().unwrap_or_else(|| AUTO.to_owned()));
    let changed = use_state(|| false);
    let on_change = {
        let setting = setting.clone();
        let changed = changed.clone();
        Callback::from(move |event: Event| {
            let value = event
                .target_dyn_into::<web_sys::HtmlSelectElement>()
                .map(|select| select.value())
                .unwrap_or_else(|| AUTO.to_owned());
            store_setting(&value);
            setting.set(value);
            changed.set(true);
        })
    };
    let (running, reason) = chosen_mode();
    let (auto, auto_reason) = auto_mode(&caps);
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    let support = [
        ("SharedWorker", yes_no(caps.shared_worker).to_owned()),
        ("Web Locks", yes_no(caps.web_locks).to_owned()),
        (
            "BroadcastChannel",
            yes_no(caps.broadcast_channel).to_owned(),
        ),
        ("Service worker", yes_no(caps.service_worker).to_owned()),
        (
            "This page's HTTP version",
            caps.http_version
                .clone()
                .unwrap_or_else(|| "unknown".into()),
        ),
    ];
    let options = std::iter::once((AUTO.to_owned(), format!("auto (now: {auto})"))).chain(
        TransportMode::ALL
            .into_iter()
            .map(|m| (m.key().to_owned(), m.key().to_owned())),
    );
    html! {
        <section class="settings">
            <h1>{ "Settings" }</h1>
            <label for="transport">{ "Transport" }</label>
            <select id="transport" onchange={on_change}>
                { for options.map(|(value, label)| {
                    let selected = *setting == value;
                    html! { <option {selected} {value}>{ label }</option> }
                }) }
            </select>
            <p>{ format!("Running: {running} ({reason}). Auto would pick {auto}: {auto_reason}.") }</p>
            if *changed {
                <p role="status">{ "Saved. It applies when the page is reloaded." }</p>
            }
            <h2>{ "This browser" }</h2>
            <dl>
                { for support.into_iter().map(|(label, value)| html! {
                    <div data-field={label}><dt>{ label }</dt><dd>{ value }</dd></div>
                }) }
            </dl>
        </section>
    }
}
