//! The app's router: which [`Route`] the address shows, links that change it without a reload,
//! and a navigator for the board's query. Over the History API in the app, over a list of
//! entries in the in-browser tests. Not yew-router: its histories (browser, hash, memory, with
//! serde state), its contexts and its query encoding were 30 KB of the app's wasm, for eight
//! routes and one query (issue 11).

use crate::web::route::Route;
use gloo_events::EventListener;
use std::cell::RefCell;
use std::rc::Rc;
use yew::prelude::*;

/// Where the app stands: the path (below the app's public URL) and the query with its `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    path: String,
    query: String,
}

impl Location {
    fn parse(path_and_query: &str) -> Location {
        let (path, query) = match path_and_query.find('?') {
            Some(at) => path_and_query.split_at(at),
            None => (path_and_query, ""),
        };
        Location {
            path: path.to_owned(),
            query: query.to_owned(),
        }
    }

    /// The path, `/board`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query with its `?` (`?trucks=T-01`), or "".
    pub fn query_str(&self) -> &str {
        &self.query
    }

    /// The page the path names.
    pub fn route(&self) -> Route {
        Route::recognize(&self.path)
    }
}

/// Session history: the browser's, or a list of entries in tests.
pub trait History {
    /// The current entry.
    fn location(&self) -> Location;
    /// Adds an entry for `url` (a path and query below the app's public URL).
    fn push(&self, url: &str);
    /// Replaces the current entry with `url`.
    fn replace(&self, url: &str);
}

/// The browser's session history, below the app's public URL (`<base href>`).
struct BrowserHistory {
    /// The public URL's path without its trailing `/` ("" at the origin's root).
    base: String,
}

impl BrowserHistory {
    fn new() -> BrowserHistory {
        BrowserHistory { base: base_path() }
    }

    fn go(&self, url: &str, replace: bool) {
        let Some(history) = web_sys::window().and_then(|w| w.history().ok()) else {
            return;
        };
        let url = format!("{}{url}", self.base);
        let null = wasm_bindgen::JsValue::NULL;
        let _ = if replace {
            history.replace_state_with_url(&null, "", Some(&url))
        } else {
            history.push_state_with_url(&null, "", Some(&url))
        };
    }
}

impl History for BrowserHistory {
    fn location(&self) -> Location {
        let location = web_sys::window().map(|w| w.location());
        let path = location.as_ref().and_then(|l| l.pathname().ok());
        let query = location.as_ref().and_then(|l| l.search().ok());
        let path = path.unwrap_or_default();
        let path = match path.strip_prefix(&self.base) {
            Some(rest) if rest.starts_with('/') => rest.to_owned(),
            Some(rest) => format!("/{rest}"),
            None => path,
        };
        Location {
            path,
            query: query.unwrap_or_default(),
        }
    }

    fn push(&self, url: &str) {
        self.go(url, false);
    }

    fn replace(&self, url: &str) {
        self.go(url, true);
    }
}

/// The path of `<base href>` without its trailing `/`, as yew-router read it ("" for `/`).
fn base_path() -> String {
    let document = web_sys::window().and_then(|w| w.document());
    let Some(document) = document else {
        return String::new();
    };
    let href = document
        .query_selector("base[href]")
        .ok()
        .flatten()
        .and_then(|base| base.get_attribute("href"));
    let page = document.url().unwrap_or_default();
    let path = href
        .and_then(|href| web_sys::Url::new_with_base(&href, &page).ok())
        .map(|url| url.pathname())
        .unwrap_or_default();
    path.strip_suffix('/').unwrap_or(&path).to_owned()
}

/// A history of its own, for tests: a list of entries and the current one.
#[derive(Clone)]
pub struct MemoryHistory {
    entries: Rc<RefCell<(Vec<String>, usize)>>,
}

impl MemoryHistory {
    /// One entry, `url`.
    pub fn new(url: &str) -> MemoryHistory {
        MemoryHistory {
            entries: Rc::new(RefCell::new((vec![url.to_owned()], 0))),
        }
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries.borrow().0.len()
    }

    /// Whether there are none (never: there is always a current entry).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for MemoryHistory {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.entries, &other.entries)
    }
}

impl History for MemoryHistory {
    fn location(&self) -> Location {
        let entries = self.entries.borrow();
        Location::parse(&entries.0[entries.1])
    }

    fn push(&self, url: &str) {
        let mut entries = self.entries.borrow_mut();
        let (list, current) = &mut *entries;
        list.truncate(*current + 1);
        list.push(url.to_owned());
        *current = list.len() - 1;
    }

    fn replace(&self, url: &str) {
        let mut entries = self.entries.borrow_mut();
        let (list, current) = &mut *entries;
        list[*current] = url.to_owned();
    }
}

/// Changes the address: pushes or replaces an entry, and re-renders the router's pages.
#[derive(Clone)]
pub struct Navigator {
    history: Rc<dyn History>,
    base: Rc<str>,
    on_change: Callback<()>,
}

impl PartialEq for Navigator {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Rc::as_ptr(&self.history), Rc::as_ptr(&other.history))
            && self.base == other.base
            && self.on_change == other.on_change
    }
}

impl Navigator {
    /// Goes to `route`, a new history entry.
    pub fn push(&self, route: &Route) {
        self.history.push(&route.to_path());
        self.on_change.emit(());
    }

    /// Goes to `route` with `query` (without its `?`), a new history entry.
    pub fn push_with_query(&self, route: &Route, query: &str) {
        self.history.push(&with_query(route, query));
        self.on_change.emit(());
    }

    /// Shows `route` with `query` (without its `?`) in place of the current entry.
    pub fn replace_with_query(&self, route: &Route, query: &str) {
        self.history.replace(&with_query(route, query));
        self.on_change.emit(());
    }

    /// `route`'s address as a link's `href` (below the public URL).
    pub fn href(&self, route: &Route) -> String {
        format!("{}{}", self.base, route.to_path())
    }
}

fn with_query(route: &Route, query: &str) -> String {
    match query {
        "" => route.to_path(),
        query => format!("{}?{query}", route.to_path()),
    }
}

#[derive(Clone, PartialEq)]
struct RouterContext {
    location: Rc<Location>,
    navigator: Navigator,
}

#[derive(Properties, PartialEq)]
pub struct RouterProps {
    pub history: MemoryHistory,
    #[prop_or_default]
    pub children: Html,
}

/// A router over a [`MemoryHistory`] (the in-browser tests').
#[function_component(Router)]
pub fn router(RouterProps { history, children }: &RouterProps) -> Html {
    let history = use_memo(history.clone(), |history| {
        Rc::new(history.clone()) as Rc<dyn History>
    });
    html! { <RouterOver history={(*history).clone()} base={Rc::<str>::from("")}>{ children.clone() }</RouterOver> }
}

#[derive(Properties, PartialEq)]
pub struct BrowserRouterProps {
    #[prop_or_default]
    pub children: Html,
}

/// The app's router over the browser's history; Back and Forward re-render it.
#[function_component(BrowserRouter)]
pub fn browser_router(BrowserRouterProps { children }: &BrowserRouterProps) -> Html {
    let (history, base) = &*use_memo((), |()| {
        let history = BrowserHistory::new();
        let base = Rc::<str>::from(history.base.as_str());
        (Rc::new(history) as Rc<dyn History>, base)
    });
    html! { <RouterOver history={history.clone()} base={base.clone()}>{ children.clone() }</RouterOver> }
}

#[derive(Properties)]
struct RouterOverProps {
    history: Rc<dyn History>,
    base: Rc<str>,
    children: Html,
}

impl PartialEq for RouterOverProps {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::addr_eq(Rc::as_ptr(&self.history), Rc::as_ptr(&other.history))
            && self.base == other.base
            && self.children == other.children
    }
}

#[function_component(RouterOver)]
fn router_over(props: &RouterOverProps) -> Html {
    let RouterOverProps {
        history,
        base,
        children,
    } = props;
    // A router keeps the history it started with (both callers memoize theirs).
    let location = use_state(|| Rc::new(history.location()));
    let on_change = {
        let (history, location) = (history.clone(), location.setter());
        use_callback((), move |(), ()| location.set(Rc::new(history.location())))
    };
    // Back and Forward change the address without telling the app.
    {
        let on_change = on_change.clone();
        use_effect_with((), move |()| {
            let listener = web_sys::window()
                .map(|window| EventListener::new(&window, "popstate", move |_| on_change.emit(())));
            move || drop(listener)
        });
    }
    let context = RouterContext {
        location: (*location).clone(),
        navigator: Navigator {
            history: history.clone(),
            base: base.clone(),
            on_change,
        },
    };
    html! {
        <ContextProvider<RouterContext> {context}>{ children.clone() }</ContextProvider<RouterContext>>
    }
}

/// The router's navigator (`None` outside a router).
#[hook]
pub fn use_navigator() -> Option<Navigator> {
    use_context::<RouterContext>().map(|context| context.navigator)
}

/// Where the router stands (`None` outside a router).
#[hook]
pub fn use_location() -> Option<Rc<Location>> {
    use_context::<RouterContext>().map(|context| context.location)
}

#[derive(Properties, PartialEq)]
pub struct SwitchProps {
    /// The page for a route.
    pub render: Callback<Route, Html>,
}

/// The page the address names.
#[function_component(Switch)]
pub fn switch(SwitchProps { render }: &SwitchProps) -> Html {
    match use_location() {
        Some(location) => render.emit(location.route()),
        None => Html::default(),
    }
}

#[derive(Properties, PartialEq)]
pub struct LinkProps {
    pub to: Route,
    #[prop_or_default]
    pub classes: Classes,
    #[prop_or_default]
    pub children: Html,
}

/// A real link to `to`: a plain click navigates inside the app; modified clicks keep the
/// browser's meaning (a new tab, a new window).
#[function_component(Link)]
pub fn link(
    LinkProps {
        to,
        classes,
        children,
    }: &LinkProps,
) -> Html {
    let navigator = use_navigator();
    let href = navigator
        .as_ref()
        .map_or_else(|| to.to_path(), |navigator| navigator.href(to));
    let onclick = {
        let to = to.clone();
        Callback::from(move |e: MouseEvent| {
            if e.meta_key() || e.ctrl_key() || e.shift_key() || e.alt_key() {
                return;
            }
            if let Some(navigator) = &navigator {
                e.prevent_default();
                navigator.push(&to);
            }
        })
    };
    html! { <a class={classes.clone()} {href} {onclick}>{ children.clone() }</a> }
}
