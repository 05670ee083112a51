//! The overview's sort, filters and search, kept in the URL's query: a link or a reload shows
//! the same view, and Back and Forward walk through the views.

use crate::web::route::Route;
use convoy_core::view::query::TableQuery;
use yew::prelude::*;
use yew_router::prelude::*;
use yew_router::query::Raw;

/// The view the URL asks for, and the callback that moves the URL to another: a new history
/// entry for a sort, a filter or a search begun, the same entry for typing on in the search box
/// (Back undoes a search, not a keystroke). Other parameters of the query (`transport=`) stay.
#[hook]
pub fn use_table_query() -> (TableQuery, Callback<TableQuery>) {
    let navigator = use_navigator();
    let query = use_location()
        .map(|location| location.query_str().to_owned())
        .unwrap_or_default();
    let view = use_memo(query.clone(), |query| TableQuery::from_url_query(query));
    let on_query = use_callback(
        (navigator, query, view.clone()),
        |next: TableQuery, (navigator, query, view)| {
            if next == **view {
                return;
            }
            let Some(navigator) = navigator else {
                return;
            };
            let target = next.with_view(query);
            let typed_on = !view.text.is_empty()
                && TableQuery {
                    text: next.text.clone(),
                    ..(**view).clone()
                } == next;
            if typed_on {
                let _ = navigator.replace_with_query(&Route::Fleet, Raw(target));
            } else {
                let _ = navigator.push_with_query(&Route::Fleet, Raw(target));
            }
        },
    );
    ((*view).clone(), on_query)
}
