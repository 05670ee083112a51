//! /settings' desktop notifications: the browser's permission, whether they are on, the button
//! that asks for the permission and turns them on (or off), and the beep.

use crate::web::hooks::NotificationSetting;
use convoy_browser::notifications::Permission;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct NotificationToggleProps {
    /// What `use_notification_setting` reads and offers.
    pub setting: NotificationSetting,
}

#[function_component(NotificationToggle)]
pub fn notification_toggle(
    NotificationToggleProps {
        setting:
            NotificationSetting {
                permission,
                enabled,
                error,
                on_enable,
                on_disable,
                sound,
                on_sound,
            },
    }: &NotificationToggleProps,
) -> Html {
    let toggle_sound = {
        let sound = *sound;
        on_sound.reform(move |_: Event| !sound)
    };
    let on = *enabled == Some(true) && *permission == Permission::Granted;
    let state = match enabled {
        None => "…",
        Some(_) if on => "on",
        Some(true) => "on, but the browser does not allow them",
        Some(false) => "off",
    };
    let button = if *enabled == Some(true) {
        let on_disable = on_disable.reform(|_: MouseEvent| ());
        html! { <button class="notifications-disable" onclick={on_disable}>{ "Turn off" }</button> }
    } else {
        let on_enable = on_enable.reform(|_: MouseEvent| ());
        let disabled = matches!(permission, Permission::Denied | Permission::Unsupported);
        html! {
            <button class="notifications-enable" onclick={on_enable} {disabled}>
                { "Turn on desktop notifications" }
            </button>
        }
    };
    html! {
        <section class="notification-settings" data-permission={permission.label()} data-enabled={state}>
            <h2>{ "Desktop notifications" }</h2>
            <p>{ "One per alert for this browser, however many tabs are open. Clicking one opens the truck." }</p>
            <dl>
                <div data-field="permission"><dt>{ "Browser permission" }</dt><dd>{ permission.label() }</dd></div>
                <div data-field="notifications"><dt>{ "Notifications" }</dt><dd>{ state }</dd></div>
            </dl>
            { button }
            <label class="notification-sound">
                <input type="checkbox" checked={*sound} onchange={toggle_sound} />
                { " Beep in the tab that shows one (none in service-worker mode, where the worker shows them)" }
            </label>
            if let Some(error) = error {
                <p role="alert">{ error.clone() }</p>
            }
        </section>
    }
}
