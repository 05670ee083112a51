//! Leaflet 1.9 (the `L` global) for the app's maps: loaded on first use from the build's own
//! `map/` directory (a script and a stylesheet injected into the page, plus the offline basemap
//! as GeoJSON, or a deployment's tile server named in `<meta name="convoy-map-tiles">`), and
//! [`LeafletMap`], the one owner of a Leaflet map: it keeps one marker per truck and moves it in
//! place, and removes the map (with every layer and listener) when dropped.
//!
//! The bindings are our own `#[wasm_bindgen]` externs for the dozen calls the app makes, not the
//! `leaflet` crate 0.5 (which would fit the pinned wasm-bindgen: it asks for ^0.2.103). Every
//! binding's JS glue ships in the app's first download, whether or not a map is ever shown; here
//! one duck-typed `Layer` serves the map and every layer, which kept the map's cost to that
//! download within its 5 KB budget (`bench/map-transfer.md`), and the app gains no dependency
//! (the crate brings `url` and `paste`).

use js_sys::{Array, Object, Promise, Reflect};
use std::cell::RefCell;
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
    /// A Leaflet map or layer: methods are looked up by name, as in JS, so one type serves
    /// both (fewer imports, less glue in the app's first download).
    type Layer;

    #[wasm_bindgen(js_namespace = L, js_name = map)]
    fn new_map(container: &HtmlElement, options: &JsValue) -> Layer;
    #[wasm_bindgen(method, js_name = fitBounds)]
    fn fit_bounds(this: &Layer, points: &JsValue, options: &JsValue);
    #[wasm_bindgen(method, js_name = invalidateSize)]
    fn invalidate_size(this: &Layer);

    #[wasm_bindgen(js_namespace = L, js_name = geoJSON)]
    fn geo_json(data: &JsValue, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = tileLayer)]
    fn tile_layer(url: &str, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = polyline)]
    fn polyline(points: &JsValue, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = circleMarker)]
    fn circle_marker(at: &JsValue, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = marker)]
    fn marker(at: &JsValue, options: &JsValue) -> Layer;
    #[wasm_bindgen(js_namespace = L, js_name = divIcon)]
    fn div_icon(options: &JsValue) -> JsValue;

    #[wasm_bindgen(method, js_name = addTo)]
    fn add_to(this: &Layer, map: &Layer) -> Layer;
    #[wasm_bindgen(method, js_name = setLatLng)]
    fn set_lat_lng(this: &Layer, at: &JsValue);
    #[wasm_bindgen(method, js_name = setLatLngs)]
    fn set_lat_lngs(this: &Layer, points: &JsValue);
    #[wasm_bindgen(method)]
    fn on(this: &Layer, event: &str, listener: &js_sys::Function);
    #[wasm_bindgen(method)]
    fn remove(this: &Layer);
    /// A marker's icon element (once on a map).
    #[wasm_bindgen(method, js_name = getElement)]
    fn get_element(this: &Layer) -> Option<web_sys::Element>;
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
    /// The page's one load of Leaflet and the basemap, shared by every map.
    static LOADED: RefCell<Option<Promise>> = const { RefCell::new(None) };
}

/// Loads Leaflet and the basemap, once a page; a later call waits for the same load. An error
/// names the file that did not load (and the next call tries again).
pub async fn load() -> Result<Basemap, String> {
    let tiles = tiles_meta();
    let loading = LOADED.with(|loaded| {
        loaded
            .borrow_mut()
            .get_or_insert_with(|| start_all(tiles.is_none()))
            .clone()
    });
    match JsFuture::from(loading).await {
        Ok(files) => Ok(match tiles {
            Some((url, attribution)) => Basemap::Tiles { url, attribution },
            None => Basemap::Outlines {
                countries: Reflect::get(&files, &3.into()).unwrap_or_default(),
                states: Reflect::get(&files, &4.into()).unwrap_or_default(),
            },
        }),
        Err(file) => {
            LOADED.with(|loaded| loaded.borrow_mut().take());
            Err(format!(
                "{} did not load",
                file.as_string().unwrap_or_default()
            ))
        }
    }
}

/// Every file a map needs, started together (the outlines download while the script does);
/// resolves to what each one gave, in order, or rejects with the path of one that failed.
fn start_all(outlines: bool) -> Promise {
    wasm_bindgen_futures::future_to_promise(async move {
        let files = [
            ("map/leaflet.css", Fetch::Stylesheet),
            ("convoy-map.css", Fetch::Stylesheet),
            ("map/leaflet.js", Fetch::Script),
            ("map/countries.json", Fetch::Json),
            ("map/states.json", Fetch::Json),
        ];
        let wanted = if outlines { &files[..] } else { &files[..3] };
        let started: Vec<(&str, Promise)> = wanted
            .iter()
            .map(|&(path, kind)| (path, start(path, kind)))
            .collect();
        let done = Array::new();
        for (path, promise) in started {
            let value = JsFuture::from(promise)
                .await
                .map_err(|_| JsValue::from_str(path))?;
            done.push(&value);
        }
        Ok(done.into())
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

fn start(path: &str, kind: Fetch) -> Promise {
    let url = crate::api::script_url(path);
    wasm_bindgen_futures::future_to_promise(async move {
        let url = url?;
        let window = web_sys::window().ok_or("no window")?;
        let document = window.document().ok_or("no document")?;
        let element = match kind {
            Fetch::Json => {
                // Through gloo-net like every request; the outlines go to Leaflet as the plain
                // JS object they are, not through serde.
                let response = gloo_net::http::Request::get(&url)
                    .send()
                    .await
                    .map_err(|e| JsValue::from_str(&e.to_string()))?;
                if !response.ok() {
                    return Err(response.status().into());
                }
                return JsFuture::from(web_sys::Response::from(response).json()?).await;
            }
            Fetch::Script => {
                let script = document.create_element("script")?;
                script.set_attribute("src", &url)?;
                script
            }
            Fetch::Stylesheet => {
                let link = document.create_element("link")?;
                link.set_attribute("rel", "stylesheet")?;
                link.set_attribute("href", &url)?;
                link
            }
        };
        // Same-origin, settled by its load or error event.
        let loaded = Promise::new(&mut |resolve, reject| {
            let _ = Reflect::set(&element, &"onload".into(), &resolve);
            let _ = Reflect::set(&element, &"onerror".into(), &reject);
        });
        document.body().ok_or("no body")?.append_child(&element)?;
        JsFuture::from(loaded).await
    })
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
    glyph: web_sys::Element,
    shown: MapMarker,
}

/// One Leaflet map in `container`, drawn on a [`Basemap`]. Dropping it removes the map.
pub struct LeafletMap {
    map: Layer,
    /// In the order of the last update's markers.
    markers: Vec<Placed>,
    crowded: bool,
    route: Layer,
    trail: Layer,
    stops: Vec<Layer>,
    shown_stops: Vec<MapStop>,
    fitted: bool,
    /// Every marker's click listener: calls `on_select` with the truck's id. Owned here so it
    /// lives exactly as long as the markers that call it.
    on_click: Closure<dyn FnMut(JsValue)>,
    /// Every marker's keydown listener: Enter or Space on a focused marker selects it as a
    /// click does (Leaflet makes markers focusable buttons, but Enter only opens a popup).
    on_key: Closure<dyn FnMut(web_sys::KeyboardEvent)>,
}

impl LeafletMap {
    /// A map in `container` (which must be in the document and sized by CSS), over the
    /// contiguous United States until [`LeafletMap::fit_once`]. `compact`: a small map inside a
    /// panel (no scroll-wheel zoom, so the page scrolls past it).
    pub fn new(
        container: &HtmlElement,
        basemap: &Basemap,
        compact: bool,
        on_select: Box<dyn Fn(String)>,
    ) -> LeafletMap {
        let on_select: std::rc::Rc<dyn Fn(String)> = on_select.into();
        let map = new_map(
            container,
            &options(&[
                ("center", point(39.5, -98.0)),
                ("zoom", 4.into()),
                ("zoomSnap", 0.5.into()),
                ("scrollWheelZoom", (!compact).into()),
            ]),
        );
        match basemap {
            Basemap::Tiles { url, attribution } => {
                tile_layer(
                    url,
                    &options(&[("attribution", attribution.into()), ("maxZoom", 19.into())]),
                )
                .add_to(&map);
            }
            Basemap::Outlines { countries, states } => {
                for (data, class, credit) in [
                    (countries, "basemap-country", "Natural Earth"),
                    (states, "basemap-state", "US Census"),
                ] {
                    geo_json(
                        data,
                        &options(&[
                            ("className", class.into()),
                            ("interactive", false.into()),
                            ("attribution", credit.into()),
                        ]),
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
        let select = on_select.clone();
        let on_key = Closure::<dyn FnMut(web_sys::KeyboardEvent)>::new(
            move |event: web_sys::KeyboardEvent| {
                if !matches!(event.key().as_str(), "Enter" | " ") {
                    return;
                }
                let id = event
                    .current_target()
                    .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                    .and_then(|icon| icon.query_selector("[data-truck]").ok().flatten())
                    .and_then(|glyph| glyph.get_attribute("data-truck"));
                if let Some(id) = id {
                    // Space would scroll the page, Enter would reach Leaflet's popup opener.
                    event.prevent_default();
                    event.stop_propagation();
                    select(id);
                }
            },
        );
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
            markers: Vec::new(),
            crowded: false,
            route,
            trail,
            stops: Vec::new(),
            shown_stops: Vec::new(),
            fitted: false,
            on_click,
            on_key,
        }
    }

    /// Brings the map to `data`, touching only what changed: a moved truck's marker moves, a
    /// truck whose status changed gets its class changed, a new truck gets a marker, a gone one
    /// loses it. Route, trail and stops are replaced (a handful of points each).
    pub fn update(&mut self, data: &MapData) {
        let crowded = data.markers.len() > LABEL_ALL_UP_TO;
        // Crossing the label threshold restyles every marker; otherwise only changed ones.
        let restyle = crowded != self.crowded;
        self.crowded = crowded;
        let mut old: Vec<Option<Placed>> = self.markers.drain(..).map(Some).collect();
        for (i, wanted) in data.markers.iter().enumerate() {
            // The same trucks in the same order, as a page gives them: no search.
            let same = |p: &Option<Placed>| p.as_ref().is_some_and(|p| p.shown.id == wanted.id);
            let at = if old.get(i).is_some_and(same) {
                Some(i)
            } else {
                old.iter().position(same)
            };
            match at.and_then(|at| old[at].take()) {
                Some(mut placed) => {
                    if placed.shown != *wanted || restyle {
                        if (placed.shown.lat, placed.shown.lon) != (wanted.lat, wanted.lon) {
                            placed.layer.set_lat_lng(&point(wanted.lat, wanted.lon));
                        }
                        let _ = placed
                            .glyph
                            .set_attribute("class", &glyph_class(wanted, crowded));
                        placed.shown = wanted.clone();
                    }
                    self.markers.push(placed);
                }
                None => self.markers.extend(self.place(wanted, crowded)),
            }
        }
        for gone in old.into_iter().flatten() {
            gone.layer.remove();
        }
        self.route.set_lat_lngs(&points(&data.route));
        self.trail.set_lat_lngs(&points(&data.trail));
        if self.shown_stops != data.stops {
            for stop in self.stops.drain(..) {
                stop.remove();
            }
            for stop in &data.stops {
                let class = format!("map-stop {}", stop.state.key());
                let options = options(&[("className", class.into()), ("radius", 6.into())]);
                self.stops
                    .push(circle_marker(&point(stop.lat, stop.lon), &options).add_to(&self.map));
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
        // The page around the map may have changed its size since it was made (a scrollbar
        // appears as the fleet arrives); Leaflet only follows the window's resizes.
        self.map.invalidate_size();
        let padding: JsValue = Array::of2(&32.into(), &32.into()).into();
        self.map.fit_bounds(
            &all,
            // At once: a first view has nothing to animate from.
            &options(&[
                ("padding", padding),
                ("maxZoom", 9.into()),
                ("animate", false.into()),
            ]),
        );
    }

    fn place(&self, wanted: &MapMarker, crowded: bool) -> Option<Placed> {
        let document = web_sys::window()?.document()?;
        let glyph = document.create_element("span").ok()?;
        glyph.set_attribute("data-truck", &wanted.id).ok()?;
        glyph
            .set_attribute("class", &glyph_class(wanted, crowded))
            .ok()?;
        let arrow = document.create_element("span").ok()?;
        arrow.set_attribute("class", "truck-arrow").ok()?;
        let label = document.create_element("span").ok()?;
        label.set_attribute("class", "truck-label").ok()?;
        label.set_text_content(Some(&wanted.label));
        glyph.append_child(&arrow).ok()?;
        glyph.append_child(&label).ok()?;
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
        if let Some(icon) = layer.get_element() {
            let _ = icon
                .add_event_listener_with_callback("keydown", self.on_key.as_ref().unchecked_ref());
        }
        Some(Placed {
            layer,
            glyph,
            shown: wanted.clone(),
        })
    }
}

/// The glyph's classes: its status colour, `stale`, `crowded` (its label only on hover and
/// focus), and `heading` to the nearest 16th of a turn (`h0` north … `h15`), else a dot.
/// Classes only: the page's policy refuses inline style attributes.
pub fn glyph_class(marker: &MapMarker, crowded: bool) -> String {
    let mut class = format!("truck-glyph {}", marker.status_key);
    if marker.stale {
        class.push_str(" stale");
    }
    if crowded {
        class.push_str(" crowded");
    }
    if let Some(deg) = marker.heading_deg.filter(|d| d.is_finite()) {
        let sixteenth = (deg.rem_euclid(360.0) / 22.5).round() as u32 % 16;
        class.push_str(&format!(" heading h{sixteenth}"));
    }
    class
}

impl Drop for LeafletMap {
    fn drop(&mut self) {
        // Removes every layer, listener and element Leaflet added to the container.
        self.map.remove();
    }
}
