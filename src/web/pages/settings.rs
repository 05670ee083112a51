//! `/settings`: pick the transport (kept in localStorage as `convoy.transport`, read at the next
//! page load), turn desktop notifications on, and see what this browser supports.

use crate::web::components::notification_toggle::NotificationToggle;
use crate::web::hooks::{select_value, use_notification_setting};
use convoy_browser::capabilities::{chosen_mode, detect, store_setting, stored_setting};
use convoy_core::transport::{auto_mode, TransportSetting};
use yew::prelude::*;

#[function_component(SettingsPage)]
pub fn settings_page() -> Html {
    let caps = use_memo((), |_| detect());
    let notifications = use_notification_setting();
    let setting = use_state(|| stored_setting().unwrap_or_default());
    let changed = use_state(|| false);
    let on_change = {
        let setting = setting.clone();
        let changed = changed.clone();
        select_value(Callback::from(move |value: String| {
            let chosen = TransportSetting::parse(&value).unwrap_or_default();
            store_setting(chosen);
            setting.set(chosen);
            changed.set(true);
        }))
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
    let label = |option: TransportSetting| match option {
        TransportSetting::Auto => format!("auto (now: {auto})"),
        TransportSetting::Fixed(mode) => mode.key().to_owned(),
    };
    html! {
        <section class="settings">
            <h1>{ "Settings" }</h1>
            <label for="transport">{ "Transport" }</label>
            <select id="transport" onchange={on_change}>
                { for TransportSetting::ALL.into_iter().map(|option| {
                    let selected = *setting == option;
                    html! { <option {selected} value={option.key()}>{ label(option) }</option> }
                }) }
            </select>
            <p>{ format!("Running: {running} ({reason}). Auto would pick {auto}: {auto_reason}.") }</p>
            if *changed {
                <p role="status">{ "Saved. It applies when the page is reloaded." }</p>
            }
            <NotificationToggle setting={notifications} />
            <h2>{ "This browser" }</h2>
            <dl>
                { for support.into_iter().map(|(label, value)| html! {
                    <div data-field={label}><dt>{ label }</dt><dd>{ value }</dd></div>
                }) }
            </dl>
        </section>
    }
}
