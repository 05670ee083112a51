//! A Leaflet map in a node the caller renders: loaded on mount (Leaflet and the basemap come on
//! the first map a page shows), brought to each new [`MapData`] in place, removed on unmount.

use convoy_browser::leaflet::{self, LeafletMap, MapData};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use web_sys::HtmlElement;
use yew::prelude::*;

/// Where the map stands.
#[derive(Debug, Clone, PartialEq)]
pub enum MapLoad {
    Loading,
    Ready,
    /// What did not load, worded for the operator.
    Failed(String),
}

/// Draws `data` on a map inside `node`. `fit`: zoom to show everything once, when there first is
/// something to show. `on_select` gets a clicked truck's id.
#[hook]
pub fn use_leaflet_map(
    node: NodeRef,
    data: Rc<MapData>,
    fit: bool,
    compact: bool,
    on_select: Callback<String>,
) -> MapLoad {
    let state = use_state(|| MapLoad::Loading);
    // The one owner of the map: the mount effect's cleanup takes it out, which removes it.
    let owner: Rc<RefCell<Option<LeafletMap>>> = use_mut_ref(|| None);
    let latest = use_mut_ref(|| data.clone());
    *latest.borrow_mut() = data.clone();
    let select = use_mut_ref(|| on_select.clone());
    *select.borrow_mut() = on_select;
    {
        let (state, owner, latest, select) =
            (state.clone(), owner.clone(), latest.clone(), select.clone());
        use_effect_with((), move |()| {
            let mounted = Rc::new(Cell::new(true));
            let still = mounted.clone();
            let taken = owner.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let basemap = leaflet::load().await;
                if !still.get() {
                    return;
                }
                let basemap = match basemap {
                    Ok(basemap) => basemap,
                    Err(why) => return state.set(MapLoad::Failed(why)),
                };
                let Some(container) = node.cast::<HtmlElement>() else {
                    return;
                };
                let on_select = Box::new(move |id: String| {
                    // After the click's handler returns: opening a panel can unmount this map,
                    // and Leaflet's listener must not be dropped while it runs.
                    let select = select.borrow().clone();
                    wasm_bindgen_futures::spawn_local(async move { select.emit(id) });
                });
                let mut map = LeafletMap::new(&container, &basemap, compact, on_select);
                let data = latest.borrow().clone();
                map.update(&data);
                if fit {
                    map.fit_once(&data);
                }
                *owner.borrow_mut() = Some(map);
                state.set(MapLoad::Ready);
            });
            move || {
                mounted.set(false);
                drop(taken.borrow_mut().take());
            }
        });
    }
    {
        let owner = owner.clone();
        use_effect_with(data, move |data| {
            if let Some(map) = owner.borrow_mut().as_mut() {
                map.update(data);
                if fit {
                    map.fit_once(data);
                }
            }
        });
    }
    (*state).clone()
}
