//! The chip's "use automatic": a failed transport the user chose gives way to `auto`.

use yew::prelude::*;

/// A callback that forgets the chosen transport and its failures and reloads with `auto`.
#[hook]
pub fn use_automatic_transport() -> Callback<()> {
    use_callback((), |_, _| {
        convoy_browser::capabilities::use_automatic_transport()
    })
}
