//! Leaflet 1.9 (the `L` global) for the app's maps: loaded on first use from the build's own
//! `map/` directory (a script and a stylesheet injected into the page, plus the offline basemap
//! as GeoJSON, or a deployment's tile server named in `<meta name="convoy-map-tiles">`), and
//! [`LeafletMap`], the one owner of a Leaflet map: it keeps one marker per truck and moves it in
//! place, and removes the map (with every layer and listener) when dropped.
//!
//! The bindings are a dozen `#[wasm_bindgen]` externs rather than the `leaflet` crate: these are
//! all the calls the app makes, they bind to the `L` global only once it exists (the crate's
//! types are the same externs, for all of Leaflet's API), and the app keeps one fewer dependency
//! to move in step with the pinned wasm-bindgen.

use js_sys::{Array, Function, Object, Promise, Reflect};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::HtmlElement;

/// The meta tag a deployment sets to draw a tile server's map instead of the outlines:
/// `content="https://tiles.example.com/{z}/{x}/{y}.png|© Example contributors"`.
const TILES_META: &str = "convoy-map-tiles";
/// Above this many trucks, ids show only on hover and focus: hundreds of labels read as noise.
const LABEL_ALL_UP_TO: usize = 60;

#[wasm_bindgen]
extern "C" {
    /// A Leaflet map (`L.Map`).
    type LMap;
    /// Any Leaflet layer; the methods are looked up by name, as in JS.
    type Layer;

    #[wasm_bindgen(js_namespace = L, js_name = map)]
    fn new_map(container: &HtmlElement, options: &JsValue) -> LMap;
    #[wasm_bindgen(method, js_name = setView)]
    fn set_view(this: &LMap, center: &JsValue, zoom: f64);
    #[wasm_bindgen(method, js_name = fitBounds)]
    fn fit_bounds(this: &LMap, points: &JsValue, options: &JsValue);
    #[wasm_bindgen(method, js_name = remove)]
    fn remove_map(this: &LMap);

    #[wasm_bindgen(js_namespace = L, js_name = geoJSON)]
    fn geo_json(data: &JsValue, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = tileLayer)]
    fn tile_layer(url: &str, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = polyline)]
    fn polyline(points: &JsValue, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = circleMarker)]
    fn circle_marker(at: &JsValue, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = layerGroup)]
    fn layer_group() -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = marker)]
    fn marker(at: &JsValue, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = divIcon)]
    fn div_icon(options: &JsValue) -> JsValue;

    #[wasm_bindgen(method, js_name = addTo)]
    fn add_to(this: &Layer, map: &LMap) -> Layer;
    #[wasm_bindgen(method, js_name = addTo)]
    fn add_to_group(this: &Layer, group: &Layer) -> Layer;
    #[wasm_bindgen(method, js_name = setLatLng)]
    fn set_lat_lng(this: &Layer, at: &JsValue);
    #[wasm_bindgen(method, js_name = setLatLngs)]
    fn set_lat_lngs(this: &Layer, points: &JsValue);
    #[wasm_bindgen(method, js_name = clearLayers)]
    fn clear_layers(this: &Layer);
    #[wasm_bindgen(method, js_name = bindTooltip)]
    fn bind_tooltip(this: &Layer, text: &str) -> Layer;
    #[wasm_bindgen(method)]
    fn on(this: &Layer, event: &str, listener: &Function);
    #[wasm_bindgen(method, js_name = remove)]
    fn remove_layer(this: &Layer);
}

/// One truck on a map.
#[derive(Debug, Clone, PartialEq)]
pub struct MapMarker {
    pub id: String,
    pub lat: f64,
    pub lon: f64,
    /// `TruckStatus::key()`: the CSS class that colours it.
    pub status_key: &'static str,
    /// Degrees clockwise from north; `None` draws a dot instead of an arrow.
    pub heading_deg: Option<f32>,
    /// The text beside it (the truck's id) and its accessible name.
    pub label: String,
    /// No recent update: drawn faded.
    pub stale: bool,
}

/// Where a truck stands with a stop of its route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopState {
    Arrived,
    Next,
    Ahead,
}

impl StopState {
    fn key(self) -> &'static str {
        match self {
            StopState::Arrived => "arrived",
            StopState::Next => "next",
            StopState::Ahead => "ahead",
        }
    }
}

/// One stop of the selected route.
#[derive(Debug, Clone, PartialEq)]
pub struct MapStop {
    pub name: String,
    pub lat: f64,
    pub lon: f64,
    pub state: StopState,
}

/// Everything a map draws above its basemap.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MapData {
    pub markers: Vec<MapMarker>,
    /// The selected truck's route, `(lat, lon)` in order; empty: none.
    pub route: Vec<(f64, f64)>,
    pub stops: Vec<MapStop>,
    /// Where the selected truck has been, oldest first.
    pub trail: Vec<(f64, f64)>,
}

/// What a map is drawn on.
#[derive(Clone)]
pub enum Basemap {
    /// The deployment's tile server: a URL template and its attribution (HTML, as Leaflet takes it).
    Tiles { url: String, attribution: String },
    /// Country polygons and US state borders, GeoJSON from the build's `map/`.
    Outlines { countries: JsValue, states: JsValue },
}

thread_local! {
    /// Loads started by an earlier map, shared by every later one (each file loads once a page).
    static LOADS: RefCell<HashMap<&'static str, Promise>> = RefCell::new(HashMap::new());
}

/// Loads Leaflet and the basemap, once a page; a later call waits for the same loads. An error
/// names what did not load (and the next call tries again).
pub async fn load() -> Result<Basemap, String> {
    let tiles = tiles_meta();
    let mut wanted = vec![
        ("map/leaflet.css", Fetch::Stylesheet),
        ("map/leaflet.js", Fetch::Script),
    ];
    if tiles.is_none() {
        wanted.push(("map/countries.json", Fetch::Json));
        wanted.push(("map/states.json", Fetch::Json));
    }
    // Started together: the outlines download while the script does.
    let pending: Vec<(&'static str, Promise)> = wanted
        .into_iter()
        .map(|(path, kind)| (path, shared(path, kind)))
        .collect();
    let mut loaded = Vec::new();
    for (path, promise) in pending {
        match JsFuture::from(promise).await {
            Ok(value) => loaded.push(value),
            Err(_) => {
                LOADS.with(|loads| loads.borrow_mut().remove(path));
                return Err(format!("{path} did not load"));
            }
        }
    }
    Ok(match tiles {
        Some((url, attribution)) => Basemap::Tiles { url, attribution },
        None => Basemap::Outlines {
            countries: loaded[2].clone(),
            states: loaded[3].clone(),
        },
    })
}

/// `(url, attribution)` from the tiles meta, when it names an http(s) URL.
fn tiles_meta() -> Option<(String, String)> {
    let content = web_sys::window()?
        .document()?
        .query_selector(&format!("meta[name=\"{TILES_META}\"]"))
        .ok()??
        .get_attribute("content")?;
    let (url, attribution) = content.split_once('|').unwrap_or((&content, ""));
    let url = url.trim();
    (url.starts_with("https://") || url.starts_with("http://"))
        .then(|| (url.to_owned(), attribution.trim().to_owned()))
}

#[derive(Clone, Copy)]
enum Fetch {
    Script,
    Stylesheet,
    Json,
}

fn shared(path: &'static str, kind: Fetch) -> Promise {
    LOADS.with(|loads| {
        loads
            .borrow_mut()
            .entry(path)
            .or_insert_with(|| start(path, kind))
            .clone()
    })
}

fn start(path: &str, kind: Fetch) -> Promise {
    let Ok(url) = crate::api::script_url(path) else {
        return Promise::reject(&"no base URL".into());
    };
    match kind {
        Fetch::Json => wasm_bindgen_futures::future_to_promise(async move {
            let window = web_sys::window().ok_or("no window")?;
            let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url))
                .await?
                .dyn_into()?;
            if !response.ok() {
                return Err(response.status().into());
            }
            JsFuture::from(response.json()?).await
        }),
        Fetch::Script | Fetch::Stylesheet => Promise::new(&mut |resolve, reject| {
            if let Err(e) = inject(kind, &url, &resolve, &reject) {
                let _ = reject.call1(&JsValue::UNDEFINED, &e);
            }
        }),
    }
}

/// Adds a same-origin `<script>` or stylesheet `<link>` to the head, settling on its load.
fn inject(kind: Fetch, url: &str, resolve: &Function, reject: &Function) -> Result<(), JsValue> {
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or("no document")?;
    let head = document.head().ok_or("no head")?;
    let element = match kind {
        Fetch::Script => {
            let script = document.create_element("script")?;
            script.set_attribute("src", url)?;
            script
        }
        _ => {
            let link = document.create_element("link")?;
            link.set_attribute("rel", "stylesheet")?;
            link.set_attribute("href", url)?;
            link
        }
    };
    element.add_event_listener_with_callback("load", resolve)?;
    element.add_event_listener_with_callback("error", reject)?;
    head.append_child(&element)?;
    Ok(())
}

fn options(entries: &[(&str, JsValue)]) -> JsValue {
    let object = Object::new();
    for (key, value) in entries {
        let _ = Reflect::set(&object, &JsValue::from_str(key), value);
    }
    object.into()
}

fn point(lat: f64, lon: f64) -> JsValue {
    Array::of2(&lat.into(), &lon.into()).into()
}

fn points(line: &[(f64, f64)]) -> JsValue {
    line.iter()
        .map(|&(lat, lon)| point(lat, lon))
        .collect::<Array>()
        .into()
}

/// A truck's marker and the element inside its icon, changed in place.
struct Placed {
    layer: Layer,
    glyph: HtmlElement,
    shown: MapMarker,
}

/// One Leaflet map in `container`, drawn on a [`Basemap`]. Dropping it removes the map.
pub struct LeafletMap {
    map: LMap,
    container: HtmlElement,
    markers: HashMap<String, Placed>,
    route: Layer,
    trail: Layer,
    stops: Layer,
    shown_stops: Vec<MapStop>,
    fitted: bool,
    /// Every marker's click listener: calls `on_select` with the truck's id. Owned here so it
    /// lives exactly as long as the markers that call it.
    on_click: Closure<dyn FnMut(JsValue)>,
}

impl LeafletMap {
    /// A map in `container` (which must be in the document and sized by CSS). `compact`: a small
    /// map inside a panel (no scroll-wheel zoom, so the page scrolls past it).
    pub fn new(
        container: &HtmlElement,
        basemap: &Basemap,
        compact: bool,
        on_select: Box<dyn Fn(String)>,
    ) -> LeafletMap {
        let map = new_map(
            container,
            &options(&[
                ("scrollWheelZoom", (!compact).into()),
                ("zoomSnap", 0.5.into()),
            ]),
        );
        map.set_view(&point(39.5, -98.0), 4.0);
        match basemap {
            Basemap::Tiles { url, attribution } => {
                tile_layer(
                    url,
                    &options(&[("attribution", attribution.into()), ("maxZoom", 19.into())]),
                )
                .add_to(&map);
            }
            Basemap::Outlines { countries, states } => {
                container.class_list().add_1("outlines").ok();
                for (data, class) in [(countries, "basemap-country"), (states, "basemap-state")] {
                    geo_json(
                        data,
                        &options(&[("className", class.into()), ("interactive", false.into())]),
                    )
                    .add_to(&map);
                }
            }
        }
        let line = |class: &str| {
            polyline(
                &Array::new(),
                &options(&[("className", class.into()), ("interactive", false.into())]),
            )
            .add_to(&map)
        };
        let trail = line("map-trail");
        let route = line("map-route");
        let stops = layer_group().add_to(&map);
        let on_click = Closure::<dyn FnMut(JsValue)>::new(move |event: JsValue| {
            let id = Reflect::get(&event, &"target".into())
                .and_then(|target| Reflect::get(&target, &"options".into()))
                .and_then(|options| Reflect::get(&options, &"truck".into()))
                .ok()
                .and_then(|id| id.as_string());
            if let Some(id) = id {
                on_select(id);
            }
        });
        LeafletMap {
            map,
            container: container.clone(),
            markers: HashMap::new(),
            route,
            trail,
            stops,
            shown_stops: Vec::new(),
            fitted: false,
            on_click,
        }
    }

    /// Brings the map to `data`, touching only what changed: a moved truck's marker moves, a
    /// truck whose status changed gets its class changed, a new truck gets a marker, a gone one
    /// loses it. Route, trail and stops are replaced (a handful of points each).
    pub fn update(&mut self, data: &MapData) {
        let mut gone: Vec<String> = Vec::new();
        for id in self.markers.keys() {
            if !data.markers.iter().any(|m| &m.id == id) {
                gone.push(id.clone());
            }
        }
        for id in gone {
            if let Some(placed) = self.markers.remove(&id) {
                placed.layer.remove_layer();
            }
        }
        for wanted in &data.markers {
            match self.markers.get_mut(&wanted.id) {
                Some(placed) if placed.shown == *wanted => {}
                Some(placed) => {
                    if (placed.shown.lat, placed.shown.lon) != (wanted.lat, wanted.lon) {
                        placed.layer.set_lat_lng(&point(wanted.lat, wanted.lon));
                    }
                    style_glyph(&placed.glyph, wanted);
                    placed.shown = wanted.clone();
                }
                None => {
                    if let Some(placed) = self.place(wanted) {
                        self.markers.insert(wanted.id.clone(), placed);
                    }
                }
            }
        }
        let crowded = data.markers.len() > LABEL_ALL_UP_TO;
        let classes = self.container.class_list();
        let _ = if crowded {
            classes.add_1("crowded")
        } else {
            classes.remove_1("crowded")
        };
        self.route.set_lat_lngs(&points(&data.route));
        self.trail.set_lat_lngs(&points(&data.trail));
        if self.shown_stops != data.stops {
            self.stops.clear_layers();
            for stop in &data.stops {
                circle_marker(
                    &point(stop.lat, stop.lon),
                    &options(&[
                        ("className", format!("map-stop {}", stop.state.key()).into()),
                        ("radius", 6.into()),
                    ]),
                )
                .bind_tooltip(&stop.name)
                .add_to_group(&self.stops);
            }
            self.shown_stops = data.stops.clone();
        }
    }

    /// Zooms to show every marker, the route and its stops, once: later calls do nothing, so
    /// an operator's own panning and zooming stay. Nothing to show: nothing happens.
    pub fn fit_once(&mut self, data: &MapData) {
        if self.fitted {
            return;
        }
        let all: Array = data
            .markers
            .iter()
            .map(|m| point(m.lat, m.lon))
            .chain(data.route.iter().map(|&(lat, lon)| point(lat, lon)))
            .chain(data.stops.iter().map(|s| point(s.lat, s.lon)))
            .collect();
        if all.length() == 0 {
            return;
        }
        self.fitted = true;
        let padding: JsValue = Array::of2(&32.into(), &32.into()).into();
        self.map.fit_bounds(
            &all,
            &options(&[("padding", padding), ("maxZoom", 9.into())]),
        );
    }

    fn place(&self, wanted: &MapMarker) -> Option<Placed> {
        let document = web_sys::window()?.document()?;
        let glyph: HtmlElement = document.create_element("span").ok()?.dyn_into().ok()?;
        glyph.set_attribute("data-truck", &wanted.id).ok()?;
        let arrow = document.create_element("span").ok()?;
        arrow.set_attribute("class", "truck-arrow").ok()?;
        let label = document.create_element("span").ok()?;
        label.set_attribute("class", "truck-label").ok()?;
        label.set_text_content(Some(&wanted.label));
        glyph.append_child(&arrow).ok()?;
        glyph.append_child(&label).ok()?;
        style_glyph(&glyph, wanted);
        let size: JsValue = Array::of2(&22.into(), &22.into()).into();
        let anchor: JsValue = Array::of2(&11.into(), &11.into()).into();
        let icon = div_icon(&options(&[
            ("html", glyph.clone().into()),
            ("className", "truck-icon".into()),
            ("iconSize", size),
            ("iconAnchor", anchor),
        ]));
        let layer = marker(
            &point(wanted.lat, wanted.lon),
            &options(&[
                ("icon", icon),
                ("title", wanted.label.as_str().into()),
                ("alt", wanted.label.as_str().into()),
                ("riseOnHover", true.into()),
                ("truck", wanted.id.as_str().into()),
            ]),
        );
        layer.on("click", self.on_click.as_ref().unchecked_ref());
        layer.add_to(&self.map);
        Some(Placed {
            layer,
            glyph,
            shown: wanted.clone(),
        })
    }
}

/// The glyph's classes (status colour, stale, arrow or dot) and its heading, set through the
/// CSSOM: the page's policy refuses inline style attributes, not script-set properties.
fn style_glyph(glyph: &HtmlElement, marker: &MapMarker) {
    let mut class = format!("truck-glyph {}", marker.status_key);
    if marker.stale {
        class.push_str(" stale");
    }
    if marker.heading_deg.is_some() {
        class.push_str(" heading");
    }
    let _ = glyph.set_attribute("class", &class);
    let style = glyph.style();
    let _ = match marker.heading_deg {
        Some(deg) => style.set_property("--heading", &format!("{deg:.0}deg")),
        None => style.remove_property("--heading").map(|_| ()),
    };
}

impl Drop for LeafletMap {
    fn drop(&mut self) {
        // Removes every layer, listener and element Leaflet added to the container.
        self.map.remove_map();
    }
}
