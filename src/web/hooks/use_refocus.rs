//! Keeps keyboard focus where the user was when an action re-renders the control away.

use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use web_sys::HtmlElement;
use yew::prelude::*;

/// Returns a callback taking CSS selectors, tried in order inside `root`, of what should have
/// focus once `deps` next changes. Moving a panel re-orders the DOM (which can drop focus from
/// the button just pressed) and removing one deletes the focused button outright; the caller
/// names where focus should land afterwards, and this hook puts it there.
#[hook]
pub fn use_refocus<D>(root: NodeRef, deps: D) -> Callback<Vec<String>>
where
    D: PartialEq + 'static,
{
    let pending: Rc<RefCell<Vec<String>>> = use_mut_ref(Vec::new);
    {
        let pending = pending.clone();
        use_effect_with(deps, move |_| {
            let selectors = std::mem::take(&mut *pending.borrow_mut());
            let root = root.cast::<web_sys::Element>();
            let target = root.and_then(|root| {
                selectors
                    .iter()
                    .find_map(|selector| root.query_selector(selector).ok().flatten())
            });
            if let Some(element) = target.and_then(|e| e.dyn_into::<HtmlElement>().ok()) {
                let _ = element.focus();
            }
        });
    }
    use_memo((), move |_| {
        Callback::from(move |selectors| *pending.borrow_mut() = selectors)
    })
    .as_ref()
    .clone()
}
