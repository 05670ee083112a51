//! A real link to a board layout (`/board?trucks=T-01,T-02`): it opens in a new tab, copies
//! and shares like any link, and a plain click navigates inside the app.

use crate::web::route::Route;
use convoy_core::view::board::BoardLayout;
use yew::prelude::*;
use yew_router::prelude::*;
use yew_router::query::Raw;

#[derive(Properties, PartialEq)]
pub struct BoardLinkProps {
    pub layout: BoardLayout,
    #[prop_or_default]
    pub classes: Classes,
    /// The accessible name when the visible text is short ("Add to board: T-07"): it starts
    /// with the visible words, so a voice command naming them finds the link.
    #[prop_or_default]
    pub label: Option<AttrValue>,
    #[prop_or_default]
    pub children: Html,
}

#[function_component(BoardLink)]
pub fn board_link(props: &BoardLinkProps) -> Html {
    let BoardLinkProps {
        layout,
        classes,
        label,
        children,
    } = props;
    let navigator = use_navigator();
    // The commas stay commas (ids need no escaping): a readable query is what people paste
    // into chat.
    let base = navigator
        .as_ref()
        .and_then(|n| n.basename().map(str::to_owned))
        .unwrap_or_default();
    let href = format!("{base}{}?{}", Route::Board.to_path(), layout.to_query());
    let onclick = {
        let layout = layout.clone();
        Callback::from(move |e: MouseEvent| {
            // Modified clicks and other buttons keep the browser's own meaning (new tab…).
            if e.meta_key() || e.ctrl_key() || e.shift_key() || e.alt_key() || e.button() != 0 {
                return;
            }
            if let Some(navigator) = &navigator {
                e.prevent_default();
                let _ = navigator.push_with_query(&Route::Board, Raw(layout.to_query()));
            }
        })
    };
    html! {
        <a class={classes.clone()} {href} {onclick} aria-label={label.clone()}>{ children.clone() }</a>
    }
}
