//! Desktop notifications for /settings: the browser's permission, and whether the operator
//! turned them on (kept where the tabs and the service worker that show them read it; see
//! `convoy_browser::notifications`).

use convoy_browser::beep::{set_sound, sound_on};
use convoy_browser::notifications::{self, Permission};
use yew::prelude::*;

/// What /settings shows and offers about notifications.
#[derive(Clone, PartialEq)]
pub struct NotificationSetting {
    pub permission: Permission,
    /// None until read.
    pub enabled: Option<bool>,
    /// Why the last change did not happen.
    pub error: Option<AttrValue>,
    /// Asks for the permission (from the click itself: browsers want a user gesture) and, once
    /// granted, turns notifications on.
    pub on_enable: Callback<()>,
    pub on_disable: Callback<()>,
    /// A beep in the tab that shows a notification (off by default).
    pub sound: bool,
    pub on_sound: Callback<bool>,
}

#[hook]
pub fn use_notification_setting() -> NotificationSetting {
    let permission = use_state_eq(notifications::permission);
    let enabled = use_state_eq(|| None::<bool>);
    let error = use_state_eq(|| None::<AttrValue>);
    {
        let enabled = enabled.setter();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                enabled.set(Some(notifications::enabled().await));
            });
        });
    }
    let save = {
        let (enabled, error) = (enabled.setter(), error.setter());
        move |on: bool| {
            let (enabled, error) = (enabled.clone(), error.clone());
            async move {
                match notifications::set_enabled(on).await {
                    Ok(()) => {
                        error.set(None);
                        enabled.set(Some(on));
                    }
                    Err(reason) => error.set(Some(format!("Not saved: {reason}").into())),
                }
            }
        }
    };
    let on_enable = {
        let (permission, error, save) = (permission.setter(), error.setter(), save.clone());
        Callback::from(move |()| {
            let (permission, error, save) = (permission.clone(), error.clone(), save.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let answer = notifications::request_permission().await;
                permission.set(answer);
                match answer {
                    Permission::Granted => save(true).await,
                    Permission::Denied => error.set(Some(
                        "The browser blocks notifications for this site: allow them in its site settings."
                            .into(),
                    )),
                    Permission::Default => error.set(Some("No answer: notifications stay off.".into())),
                    Permission::Unsupported => {
                        error.set(Some("This browser has no desktop notifications.".into()))
                    }
                }
            });
        })
    };
    let on_disable = Callback::from(move |()| wasm_bindgen_futures::spawn_local(save(false)));
    let sound = use_state_eq(sound_on);
    let on_sound = {
        let sound = sound.setter();
        Callback::from(move |on: bool| {
            set_sound(on);
            sound.set(on);
        })
    };
    NotificationSetting {
        sound: *sound,
        on_sound,
        permission: *permission,
        enabled: *enabled,
        error: (*error).clone(),
        on_enable,
        on_disable,
    }
}
