//! The board's layout as hooks: read from the URL, changed by pushing a new URL (so Back and
//! Forward walk through the changes), and remembered in localStorage for the next `/board`.

use crate::web::route::Route;
use convoy_core::view::board::{BoardLayout, STORAGE_KEY};
use std::rc::Rc;
use yew::prelude::*;
use yew_router::prelude::*;
use yew_router::query::Raw;

/// The board shown now and how to change it.
#[derive(Clone, PartialEq)]
pub struct BoardHandle {
    pub layout: Rc<BoardLayout>,
    /// Pushes a new history entry with this layout (nothing when it is the current one).
    pub on_change: Callback<BoardLayout>,
}

/// The layout in the URL's `trucks=`; without one, the saved board, which then replaces the
/// URL (a replace, so Back still leaves the board instead of bouncing on it). Every layout
/// shown is saved, including those reached with Back and Forward.
#[hook]
pub fn use_board() -> BoardHandle {
    let navigator = use_navigator();
    let query = use_location()
        .map(|location| location.query_str().to_owned())
        .unwrap_or_default();
    let from_url = use_memo(query, |query| BoardLayout::from_query(query));
    let layout = use_memo(from_url.clone(), |from_url| {
        (**from_url).clone().unwrap_or_else(load_saved_board)
    });
    {
        let navigator = navigator.clone();
        use_effect_with(
            (from_url, layout.clone()),
            move |(from_url, layout)| match (from_url.as_ref(), navigator) {
                (Some(_), _) => save_board(layout),
                (None, Some(navigator)) if !layout.is_empty() => {
                    let _ = navigator.replace_with_query(&Route::Board, Raw(layout.to_query()));
                }
                (None, _) => {}
            },
        );
    }
    let on_change = {
        let current = layout.clone();
        use_callback(
            (navigator, current),
            |next: BoardLayout, (navigator, current)| {
                if next == **current {
                    return;
                }
                if let Some(navigator) = navigator {
                    let _ = navigator.push_with_query(&Route::Board, Raw(next.to_query()));
                }
            },
        )
    };
    BoardHandle { layout, on_change }
}

/// The board saved by the last `/board` this browser showed (empty when none or unreadable),
/// read once when the caller mounts: the fleet page's "Add to board" links build on it.
#[hook]
pub fn use_saved_board() -> Rc<BoardLayout> {
    (*use_state(|| Rc::new(load_saved_board()))).clone()
}

fn storage() -> Option<web_sys::Storage> {
    // Private modes and blocked storage throw: the board then simply is not remembered.
    web_sys::window()?.local_storage().ok().flatten()
}

fn load_saved_board() -> BoardLayout {
    storage()
        .and_then(|s| s.get_item(STORAGE_KEY).ok().flatten())
        .map(|value| BoardLayout::parse(&value))
        .unwrap_or_default()
}

fn save_board(layout: &BoardLayout) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(STORAGE_KEY, &layout.to_value());
    }
}
