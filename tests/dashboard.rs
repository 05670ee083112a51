//! In-browser tests of the dashboard's components (headless Chromium via
//! wasm-bindgen-test-runner): the board's grid and page, the speed sparkline and its history
//! hook, the schematic map and the alert feed, rendered into a test node and asserted through
//! the DOM. Links need a router, so each test renders inside one over a `MemoryHistory` it can
//! read back.
#![cfg(target_arch = "wasm32")]

use convoy::web::components::alert_feed::AlertFeed;
use convoy::web::components::board_grid::{BoardGrid, BoardSlot};
use convoy::web::components::fleet_table::FleetTable;
use convoy::web::components::sparkline::{Sparkline, SparklineProps};
use convoy::web::components::truck_panel::{TruckPanel, TruckPanelProps};
use convoy::web::hooks::{use_speed_history, SPEED_WINDOW_MS};
use convoy::web::map_adapter::{route_stops, truck_marker};
use convoy::web::pages::board::BoardPage;
use convoy_browser::leaflet::{glyph_class, MapMarker, StopState as MapStopState};
use convoy_core::geo::LatLon;
use convoy_core::trip::{PlannedStop, ReeferBand, TripPlan};
use convoy_core::view::board::{BoardLayout, STORAGE_KEY};
use convoy_core::view::query::{alert_feed, AlertEntry, TableQuery};
use convoy_core::wire::{Alert, AlertKind, StopState, TruckId, TruckState, TruckStatus};
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement};
use yew::prelude::*;
use yew::Renderer;
use yew_router::history::{AnyHistory, History, MemoryHistory};
use yew_router::query::Raw;
use yew_router::Router;

wasm_bindgen_test_configure!(run_in_browser);

// ---- helpers ----

fn truck(id: &str, status: TruckStatus, lat: f64, lon: f64) -> TruckState {
    TruckState {
        driver: "Ana".into(),
        route_name: "Lyon – Turin".into(),
        status,
        next_stop: 1,
        progress: 0.4,
        position: Some(LatLon::new(lat, lon).unwrap()),
        speed_kph: Some(70.0),
        planned_arrival_ms: Some(3_600_000),
        eta_ms: Some(3_600_000),
        fuel_pct: Some(61.0),
        reefer_c: Some(4.5),
        reefer_band: Some(ReeferBand {
            min_c: 2.0,
            max_c: 6.0,
        }),
        driver_minutes_left: Some(300),
        updated_ms: 1_000_000,
        last_event_id: 7,
        ..TruckState::new(id)
    }
}

fn alert(kind: AlertKind, message: &str, raised_ms: u64) -> Alert {
    Alert {
        id: raised_ms,
        kind,
        message: message.into(),
        raised_ms,
        acked: None,
    }
}

fn test_root() -> Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    root
}

fn find(root: &Element, selector: &str) -> Element {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector} in {}", root.inner_html()))
}

fn all(root: &Element, selector: &str) -> Vec<Element> {
    let list = root.query_selector_all(selector).unwrap();
    (0..list.length())
        .filter_map(|i| list.item(i))
        .map(|node| node.unchecked_into::<Element>())
        .collect()
}

fn attr(element: &Element, name: &str) -> String {
    element.get_attribute(name).unwrap_or_default()
}

fn has_class(element: &Element, class: &str) -> bool {
    attr(element, "class")
        .split_whitespace()
        .any(|c| c == class)
}

fn click(root: &Element, selector: &str) {
    find(root, selector).unchecked_into::<HtmlElement>().click();
}

fn slot_ids(root: &Element) -> Vec<String> {
    all(root, "li.board-slot")
        .iter()
        .map(|li| attr(li, "data-truck"))
        .collect()
}

/// Dispatches a real, bubbling `DragEvent` carrying a `DataTransfer`, as a mouse drag would.
fn drag(target: &Element, kind: &str) {
    let dispatch = js_sys::Function::new_with_args(
        "target, kind",
        "target.dispatchEvent(new DragEvent(kind, \
         { bubbles: true, cancelable: true, dataTransfer: new DataTransfer() }));",
    );
    dispatch
        .call2(&wasm_bindgen::JsValue::NULL, target, &kind.into())
        .unwrap();
}

/// Types `text` into an input the way a user does (value, then a bubbling `input` event).
fn type_into(input: &Element, text: &str) {
    let input = input.clone().unchecked_into::<HtmlInputElement>();
    input.set_value(text);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict("input", &init).unwrap();
    input.dispatch_event(&event).unwrap();
}

/// Renders `children` inside a router over `history`, as the app's `BrowserRouter` would.
#[derive(Properties, PartialEq)]
struct RoutedProps {
    history: MemoryHistory,
    children: Html,
}

#[function_component(Routed)]
fn routed(RoutedProps { history, children }: &RoutedProps) -> Html {
    html! { <Router history={AnyHistory::from(history.clone())}>{ children.clone() }</Router> }
}

fn render_routed(root: &Element, history: &MemoryHistory, children: Html) {
    Renderer::<Routed>::with_root_and_props(
        root.clone(),
        RoutedProps {
            history: history.clone(),
            children,
        },
    )
    .render();
}

/// A history standing at `path` with `query` (without its `?`), if any.
fn history_at(path: &str, query: Option<&str>) -> MemoryHistory {
    let history = MemoryHistory::new();
    match query {
        Some(query) => history
            .replace_with_query(path, Raw(query.to_owned()))
            .unwrap(),
        None => history.replace(path),
    }
    history
}

fn query_of(history: &MemoryHistory) -> String {
    let location = history.location();
    format!("{}{}", location.path(), location.query_str())
}

// ---- the board's grid, driven like the page drives it ----

/// Every layout the grid reported, in order.
#[derive(Clone, Default)]
struct Recorder(Rc<RefCell<Vec<BoardLayout>>>);

impl PartialEq for Recorder {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Recorder {
    fn last_query(&self) -> Option<String> {
        self.0.borrow().last().map(BoardLayout::to_query)
    }
}

#[derive(Properties, PartialEq)]
struct GridHarnessProps {
    start: BoardLayout,
    choices: Vec<TruckId>,
    record: Recorder,
}

/// Holds the layout the way the page does (the page keeps it in the URL) and records each
/// change; panels are stand-ins with a close button, as `TruckPanel`'s.
#[function_component(GridHarness)]
fn grid_harness(props: &GridHarnessProps) -> Html {
    let GridHarnessProps {
        start,
        choices,
        record,
    } = props;
    let layout = use_state(|| Rc::new(start.clone()));
    let on_change = {
        let (layout, record) = (layout.clone(), record.clone());
        Callback::from(move |next: BoardLayout| {
            record.0.borrow_mut().push(next.clone());
            layout.set(Rc::new(next));
        })
    };
    let panel = use_callback((), |slot: BoardSlot, _: &()| {
        let BoardSlot { id, on_remove } = slot;
        let remove = {
            let id = id.clone();
            Callback::from(move |_: MouseEvent| on_remove.emit(id.clone()))
        };
        html! {
            <article class="truck-panel" data-truck={id.clone()}>
                <button type="button" class="close" aria-label={format!("Remove {id}")} onclick={remove}>{ "×" }</button>
            </article>
        }
    });
    html! {
        <BoardGrid layout={(*layout).clone()} choices={Rc::new(choices.clone())} {panel} {on_change} />
    }
}

async fn render_grid(start: &str, choices: &[&str]) -> (Element, Recorder) {
    let root = test_root();
    let record = Recorder::default();
    let props = GridHarnessProps {
        start: BoardLayout::parse(start),
        choices: choices.iter().map(|c| c.to_string()).collect(),
        record: record.clone(),
    };
    render_routed(
        &root,
        &MemoryHistory::new(),
        html! { <GridHarness ..props /> },
    );
    yew::scheduler::flush().await;
    (root, record)
}

#[wasm_bindgen_test]
async fn board_grid_moves_panels_with_the_keyboard_buttons() {
    let (root, record) = render_grid("T-01,T-02,T-03", &[]).await;
    assert_eq!(slot_ids(&root), ["T-01", "T-02", "T-03"]);
    let left = find(
        &root,
        "[data-truck='T-01'] button[aria-label='Move T-01 left']",
    );
    assert!(
        left.has_attribute("disabled"),
        "the first panel cannot move left"
    );
    let right = find(
        &root,
        "[data-truck='T-03'] button[aria-label='Move T-03 right']",
    );
    assert!(
        right.has_attribute("disabled"),
        "the last panel cannot move right"
    );

    click(&root, "button[aria-label='Move T-03 left']");
    yew::scheduler::flush().await;
    assert_eq!(
        record.last_query().as_deref(),
        Some("trucks=T-01,T-03,T-02")
    );
    assert_eq!(slot_ids(&root), ["T-01", "T-03", "T-02"]);

    click(&root, "button[aria-label='Move T-01 right']");
    yew::scheduler::flush().await;
    assert_eq!(
        record.last_query().as_deref(),
        Some("trucks=T-03,T-01,T-02")
    );
    assert_eq!(slot_ids(&root), ["T-03", "T-01", "T-02"]);
    let focused = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .active_element()
        .unwrap();
    assert_eq!(
        attr(&focused, "aria-label"),
        "Move T-01 right",
        "focus stays on the button just pressed"
    );
    let status = find(&root, "[role='status']")
        .text_content()
        .unwrap_or_default();
    assert_eq!(status, "Moved T-01 to position 2 of 3.");
}

#[wasm_bindgen_test]
async fn board_grid_reorders_by_drag_and_drop() {
    let (root, record) = render_grid("T-01,T-02,T-03", &[]).await;
    drag(&find(&root, "li[data-truck='T-03']"), "dragstart");
    yew::scheduler::flush().await;
    assert!(has_class(&find(&root, "li[data-truck='T-03']"), "dragging"));
    drag(&find(&root, "li[data-truck='T-01']"), "dragover");
    yew::scheduler::flush().await;
    assert!(has_class(
        &find(&root, "li[data-truck='T-01']"),
        "drop-target"
    ));
    drag(&find(&root, "li[data-truck='T-01']"), "drop");
    yew::scheduler::flush().await;
    assert_eq!(
        record.last_query().as_deref(),
        Some("trucks=T-03,T-01,T-02")
    );
    assert_eq!(slot_ids(&root), ["T-03", "T-01", "T-02"]);
    assert!(
        all(&root, ".dragging, .drop-target").is_empty(),
        "drop clears the drag state"
    );

    // Dropping onto a panel further right puts the dragged one in that panel's place.
    drag(&find(&root, "li[data-truck='T-03']"), "dragstart");
    yew::scheduler::flush().await;
    drag(&find(&root, "li[data-truck='T-02']"), "dragover");
    yew::scheduler::flush().await;
    drag(&find(&root, "li[data-truck='T-02']"), "drop");
    yew::scheduler::flush().await;
    assert_eq!(slot_ids(&root), ["T-01", "T-02", "T-03"]);

    // A drag from elsewhere (text, a file) is not ours: nothing moves.
    let before = record.0.borrow().len();
    drag(&find(&root, "li[data-truck='T-01']"), "drop");
    yew::scheduler::flush().await;
    assert_eq!(record.0.borrow().len(), before);
}

#[wasm_bindgen_test]
async fn board_grid_adds_from_the_picker_and_removes_with_close() {
    let (root, record) = render_grid("T-01,T-02", &["T-03", "T-04"]).await;
    let options: Vec<String> = all(&root, "datalist#board-choices option")
        .iter()
        .map(|o| attr(o, "value"))
        .collect();
    assert_eq!(options, ["T-03", "T-04"]);

    // Lower case finds the fleet's T-04.
    type_into(&find(&root, "#board-add"), "t-04");
    yew::scheduler::flush().await;
    click(&root, ".board-picker button[type='submit']");
    yew::scheduler::flush().await;
    assert_eq!(
        record.last_query().as_deref(),
        Some("trucks=T-01,T-02,T-04")
    );
    assert_eq!(slot_ids(&root), ["T-01", "T-02", "T-04"]);
    let input = find(&root, "#board-add").unchecked_into::<HtmlInputElement>();
    assert_eq!(input.value(), "", "the picker clears after adding");

    // A truck already shown is refused, with the reason.
    type_into(&find(&root, "#board-add"), "T-02");
    yew::scheduler::flush().await;
    click(&root, ".board-picker button[type='submit']");
    yew::scheduler::flush().await;
    assert_eq!(record.0.borrow().len(), 1);
    let error = find(&root, "[role='alert']")
        .text_content()
        .unwrap_or_default();
    assert!(error.contains("T-02 is already on the board"), "{error}");
    assert_eq!(attr(&find(&root, "#board-add"), "aria-invalid"), "true");

    click(&root, "[data-truck='T-01'] button.close");
    yew::scheduler::flush().await;
    assert_eq!(record.last_query().as_deref(), Some("trucks=T-02,T-04"));
    assert_eq!(slot_ids(&root), ["T-02", "T-04"]);
    let focused = web_sys::window()
        .unwrap()
        .document()
        .unwrap()
        .active_element()
        .unwrap();
    assert_eq!(
        attr(&focused, "aria-label"),
        "Remove T-02",
        "focus moves to the neighbour's close button"
    );

    click(&root, "[data-truck='T-02'] button.close");
    yew::scheduler::flush().await;
    click(&root, "[data-truck='T-04'] button.close");
    yew::scheduler::flush().await;
    assert_eq!(record.last_query().as_deref(), Some("trucks="));
    assert!(slot_ids(&root).is_empty());
    assert!(root
        .text_content()
        .unwrap_or_default()
        .contains("Add a truck…"));
}

// ---- the board page: the layout in the URL and in localStorage ----

fn storage() -> web_sys::Storage {
    web_sys::window().unwrap().local_storage().unwrap().unwrap()
}

#[wasm_bindgen_test]
async fn board_page_pushes_each_layout_to_the_url_and_saves_it() {
    let history = history_at("/board", Some("trucks=T-01,T-02,bad%20id,T-01,T-03"));
    let root = test_root();
    render_routed(&root, &history, html! { <BoardPage /> });
    yew::scheduler::flush().await;
    // Invalid and repeated ids are dropped, the order kept.
    assert_eq!(slot_ids(&root), ["T-01", "T-02", "T-03"]);
    assert_eq!(
        storage().get_item(STORAGE_KEY).unwrap().as_deref(),
        Some("T-01,T-02,T-03")
    );

    click(&root, "button[aria-label='Move T-03 left']");
    yew::scheduler::flush().await;
    assert_eq!(query_of(&history), "/board?trucks=T-01,T-03,T-02");
    assert_eq!(slot_ids(&root), ["T-01", "T-03", "T-02"]);

    // No feed and no server here: each panel shows its loading or missing state, both with a
    // close button that removes the truck.
    click(&root, "[data-truck='T-01'] button.close");
    yew::scheduler::flush().await;
    assert_eq!(query_of(&history), "/board?trucks=T-03,T-02");
    assert_eq!(slot_ids(&root), ["T-03", "T-02"]);
    assert_eq!(
        storage().get_item(STORAGE_KEY).unwrap().as_deref(),
        Some("T-03,T-02")
    );

    // Each change was a push (Back itself is checked end to end: gloo's MemoryHistory does not
    // tell the router when it goes back).
    assert_eq!(history.len(), 3);
}

#[wasm_bindgen_test]
async fn board_page_without_trucks_restores_the_saved_board() {
    storage().set_item(STORAGE_KEY, "T-05,T-06").unwrap();
    let history = history_at("/board", None);
    let root = test_root();
    render_routed(&root, &history, html! { <BoardPage /> });
    yew::scheduler::flush().await;
    yew::scheduler::flush().await;
    assert_eq!(slot_ids(&root), ["T-05", "T-06"]);
    assert_eq!(
        query_of(&history),
        "/board?trucks=T-05,T-06",
        "the URL is shareable"
    );

    // An explicitly empty board stays empty, and says what to do.
    storage().set_item(STORAGE_KEY, "T-05").unwrap();
    let history = history_at("/board", Some("trucks="));
    let root = test_root();
    render_routed(&root, &history, html! { <BoardPage /> });
    yew::scheduler::flush().await;
    assert!(slot_ids(&root).is_empty());
    assert!(root
        .text_content()
        .unwrap_or_default()
        .contains("Add a truck…"));
}

// ---- the sparkline and the history behind it ----

fn polyline_points(root: &Element) -> Vec<(f32, f32)> {
    attr(&find(root, "polyline.sparkline-line"), "points")
        .split_whitespace()
        .map(|pair| {
            let (x, y) = pair.split_once(',').expect("x,y");
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

async fn render_sparkline(points: Vec<(u64, f32)>) -> Element {
    let root = test_root();
    Renderer::<Sparkline>::with_root_and_props(
        root.clone(),
        yew::props!(SparklineProps {
            points: Rc::new(points),
            window_ms: 600_000,
            label: "Speed",
            unit: "km/h",
            min_scale: 90.0,
        }),
    )
    .render();
    yew::scheduler::flush().await;
    root
}

#[wasm_bindgen_test]
async fn sparkline_draws_one_vertex_per_point_across_the_window() {
    let root = render_sparkline(vec![(0, 0.0), (300_000, 45.0), (600_000, 90.0)]).await;
    let points = polyline_points(&root);
    assert_eq!(points.len(), 3);
    assert!(
        points.windows(2).all(|w| w[0].0 < w[1].0),
        "time runs left to right: {points:?}"
    );
    assert!(
        points.windows(2).all(|w| w[0].1 > w[1].1),
        "faster is higher: {points:?}"
    );
    let svg = find(&root, "svg.sparkline");
    assert_eq!(attr(&svg, "data-points"), "3");
    assert_eq!(
        attr(&svg, "aria-label"),
        "Speed over the last 10 min: between 0 and 90 km/h, now 90 km/h"
    );

    // Points older than the window are left out.
    let root = render_sparkline(vec![(0, 10.0), (700_000, 20.0), (900_000, 30.0)]).await;
    assert_eq!(polyline_points(&root).len(), 2);

    // Two seconds of history make a short line ending at the right edge (a 60 s axis), not a
    // dot lost at the end of a 10-minute axis, and the caption says how much there is.
    let root = render_sparkline(vec![(1_000, 10.0), (3_000, 20.0)]).await;
    let points = polyline_points(&root);
    let width = points[1].0 - points[0].0;
    assert!(
        (8.0..14.0).contains(&width),
        "2 s of a 60 s axis ≈ 10 of 314 units: {points:?}"
    );
    let caption = find(&root, ".sparkline-caption")
        .text_content()
        .unwrap_or_default();
    assert_eq!(caption, "Speed · last 2 s10–20 km/h");

    // One point is a dot, no line yet; none says it is waiting.
    let root = render_sparkline(vec![(5, 50.0)]).await;
    assert!(root.query_selector("polyline").unwrap().is_none());
    assert!(root
        .query_selector("circle.sparkline-now")
        .unwrap()
        .is_some());
    let root = render_sparkline(vec![]).await;
    assert!(root
        .text_content()
        .unwrap_or_default()
        .contains("waiting for data"));
}

#[derive(Properties, PartialEq)]
struct HistoryProbeProps {
    truck: Option<Rc<TruckState>>,
}

/// What a page does: the hook's history into a sparkline; and the history's own length, which
/// the sparkline would hide (it leaves out old points itself).
#[function_component(HistoryProbe)]
fn history_probe(HistoryProbeProps { truck }: &HistoryProbeProps) -> Html {
    let points = use_speed_history(truck.clone());
    let kept = points.len().to_string();
    html! {
        <>
            <output class="kept">{ kept }</output>
            <Sparkline {points} window_ms={SPEED_WINDOW_MS} label="Speed" unit="km/h" />
        </>
    }
}

#[wasm_bindgen_test]
async fn speed_history_appends_on_each_new_truck_state_and_forgets_after_ten_minutes() {
    let root = test_root();
    let at = |ms: u64, speed: f32| {
        let mut t = truck("T-01", TruckStatus::EnRoute, 0.0, 0.0);
        t.updated_ms = ms;
        t.speed_kph = Some(speed);
        Some(Rc::new(t))
    };
    let count = |root: &Element| {
        let kept = find(root, "output.kept").text_content().unwrap_or_default();
        let drawn = attr(&find(root, "svg.sparkline"), "data-points");
        assert_eq!(kept, drawn, "the sparkline draws what the history keeps");
        kept
    };
    let first = at(1_000_000, 50.0);
    let mut app = Renderer::<HistoryProbe>::with_root_and_props(
        root.clone(),
        HistoryProbeProps {
            truck: first.clone(),
        },
    )
    .render();
    yew::scheduler::flush().await;
    assert_eq!(count(&root), "1");

    // The same Rc again (a re-render for another reason) adds nothing.
    app.update(HistoryProbeProps {
        truck: first.clone(),
    });
    yew::scheduler::flush().await;
    assert_eq!(count(&root), "1");

    app.update(HistoryProbeProps {
        truck: at(1_001_000, 60.0),
    });
    yew::scheduler::flush().await;
    app.update(HistoryProbeProps {
        truck: at(1_002_000, 70.0),
    });
    yew::scheduler::flush().await;
    assert_eq!(count(&root), "3");
    assert_eq!(polyline_points(&root).len(), 3);

    // Eleven minutes on, the first three have aged out.
    app.update(HistoryProbeProps {
        truck: at(1_000_000 + 11 * 60_000, 65.0),
    });
    yew::scheduler::flush().await;
    assert_eq!(count(&root), "1");

    // Another truck starts its own history.
    let mut other = truck("T-02", TruckStatus::EnRoute, 0.0, 0.0);
    other.updated_ms = 2_000_000;
    app.update(HistoryProbeProps {
        truck: Some(Rc::new(other)),
    });
    yew::scheduler::flush().await;
    assert_eq!(count(&root), "1");
}

#[wasm_bindgen_test]
async fn truck_panel_shows_the_speed_sparkline() {
    let root = test_root();
    Renderer::<TruckPanel>::with_root_and_props(
        root.clone(),
        yew::props!(TruckPanelProps {
            truck: Rc::new(truck("T-09", TruckStatus::EnRoute, 0.0, 0.0)),
            now_ms: 1_002_000,
            speed_history: Rc::new(vec![(900_000, 60.0), (950_000, 64.0), (1_000_000, 70.0)]),
        }),
    )
    .render();
    yew::scheduler::flush().await;
    assert_eq!(
        polyline_points(&find(&root, ".truck-panel .speed-trend")).len(),
        3
    );
    // The rest of the panel is still there.
    let text = root.text_content().unwrap_or_default();
    for expected in [
        "ETA",
        "Fuel",
        "Reefer",
        "Driver hours left",
        "Updated 2 s ago",
    ] {
        assert!(text.contains(expected), "{expected} in {text}");
    }
}

#[wasm_bindgen_test]
fn a_track_gives_the_trail_the_last_ten_minutes_of_speed_and_the_reefer_readings() {
    let point = |at_ms: u64, speed_kph: Option<f32>| convoy_core::wire::TrackPoint {
        at_ms,
        lat: 41.0 + at_ms as f64 / 1e9,
        lon: -87.0,
        speed_kph,
        // A reading on every other minute's point.
        reefer_c: (at_ms / 60_000 % 2 == 1).then_some(at_ms as f32 / 60_000.0),
    };
    let minute = 60_000;
    let points = [
        point(0, Some(50.0)),
        point(5 * minute, Some(60.0)),
        point(9 * minute, None),
        point(14 * minute, Some(80.0)),
        point(15 * minute, Some(85.0)),
    ];
    let view = convoy::web::hooks::track_view(&points);
    assert_eq!(view.trail.len(), 5, "every position is on the trail");
    assert_eq!(
        *view.speeds,
        [(5 * minute, 60.0), (14 * minute, 80.0), (15 * minute, 85.0)],
        "the speeds of the last ten minutes before the newest, without the unreported one"
    );
    assert_eq!(
        *view.reefer,
        [(5 * minute, 5.0), (9 * minute, 9.0), (15 * minute, 15.0)],
        "every reading of the track, however old, without the points that carried none"
    );
    assert!(convoy::web::hooks::track_view(&[]).speeds.is_empty());
}

// ---- what the maps draw ----

#[wasm_bindgen_test]
fn a_truck_becomes_a_marker_and_its_route_stops_arrived_next_and_ahead() {
    let planned = |name: &str, lat: f64, lon: f64, via: Vec<LatLon>| PlannedStop {
        name: name.into(),
        position: LatLon::new(lat, lon).unwrap(),
        planned_ms: 0,
        radius_m: 300.0,
        via,
    };
    let plan = TripPlan {
        driver: "Ana".into(),
        route_name: "Lyon – Turin".into(),
        stops: vec![
            planned("Lyon", 45.764, 4.8357, vec![]),
            planned(
                "Grenoble",
                45.1885,
                5.7245,
                vec![LatLon::new(45.5, 5.3).unwrap()],
            ),
            planned("Turin", 45.0703, 7.6869, vec![]),
        ],
        reefer_band: None,
    };
    let mut t = truck("T-01", TruckStatus::Delayed, 45.3, 5.5);
    t.heading_deg = Some(120.0);
    t.stops = plan.stops.iter().map(StopState::planned).collect();
    t.stops[0].arrived_ms = Some(1);
    let marker = truck_marker(&t, t.updated_ms + 1_000).expect("a truck with a position");
    assert_eq!(
        (marker.id.as_str(), marker.label.as_str(), marker.status_key),
        ("T-01", "T-01", "delayed")
    );
    assert_eq!(
        (marker.lat, marker.lon, marker.heading_deg),
        (45.3, 5.5, Some(120.0))
    );
    assert!(!marker.stale);
    assert!(truck_marker(&t, t.updated_ms + 60_000).unwrap().stale);
    let mut silent = t.clone();
    silent.position = None;
    assert!(truck_marker(&silent, 0).is_none(), "no position, no marker");

    // With the plan, the line runs through its shape points; without, straight between stops.
    let (line, stops) = route_stops(&t, Some(&plan));
    assert_eq!(
        line,
        [
            (45.764, 4.8357),
            (45.5, 5.3),
            (45.1885, 5.7245),
            (45.0703, 7.6869)
        ]
    );
    assert_eq!(route_stops(&t, None).0.len(), 3);
    let states: Vec<(&str, MapStopState)> =
        stops.iter().map(|s| (s.name.as_str(), s.state)).collect();
    assert_eq!(
        states,
        [
            ("Lyon", MapStopState::Arrived),
            ("Grenoble", MapStopState::Next),
            ("Turin", MapStopState::Ahead)
        ]
    );
}

#[wasm_bindgen_test]
fn a_marker_points_along_its_heading_by_class_and_fades_when_stale() {
    let marker = |heading_deg: Option<f32>, stale: bool| MapMarker {
        id: "T-01".into(),
        lat: 40.0,
        lon: -90.0,
        status_key: "en_route",
        heading_deg,
        label: "T-01".into(),
        stale,
    };
    assert_eq!(
        glyph_class(&marker(None, false), false),
        "truck-glyph en_route"
    );
    assert_eq!(
        glyph_class(&marker(Some(90.0), true), true),
        "truck-glyph en_route stale crowded heading h4"
    );
    // The nearest 16th of a turn, wrapping: 350° and -10° are north, 191° is south (h8).
    for (deg, class) in [(350.0, "h0"), (-10.0, "h0"), (191.0, "h8"), (338.0, "h15")] {
        let classes = glyph_class(&marker(Some(deg), false), false);
        assert!(
            classes.ends_with(&format!("heading {class}")),
            "{deg}: {classes}"
        );
    }
    assert_eq!(
        glyph_class(&marker(Some(f32::NAN), false), false),
        "truck-glyph en_route"
    );
}

#[wasm_bindgen_test]
async fn a_truck_panel_says_not_reported_for_what_the_truck_has_not_sent() {
    let mut quiet = truck("T-08", TruckStatus::Idle, 0.0, 0.0);
    quiet.fuel_pct = None;
    quiet.eta_ms = None;
    quiet.driver_minutes_left = None;
    quiet.stops = vec![StopState {
        name: "Lyon".into(),
        position: LatLon::new(45.764, 4.8357).unwrap(),
        planned_ms: 0,
        radius_m: 300.0,
        arrived_ms: Some(5),
        departed_ms: None,
        skipped: false,
    }];
    quiet.next_stop = 0;
    let root = test_root();
    Renderer::<TruckPanel>::with_root_and_props(
        root.clone(),
        yew::props!(TruckPanelProps {
            truck: Rc::new(quiet),
            now_ms: 1_002_000,
        }),
    )
    .render();
    yew::scheduler::flush().await;
    let facts = find(&root, ".truck-panel dl.facts")
        .text_content()
        .unwrap_or_default();
    for (what, expected) in [
        ("ETA", "ETAnot reported"),
        ("Delay", "Delaynot reported"),
        ("Fuel", "Fuel not reported"),
        ("Driver hours", "Driver hours leftnot reported"),
    ] {
        assert!(facts.contains(expected), "{what}: {facts}");
    }
    assert!(root.query_selector(".truck-panel meter").unwrap().is_none());
    let stop = find(&root, ".truck-panel ol.stops li");
    assert_eq!(attr(&stop, "class"), "current");
}

// ---- the fleet page's alert feed and "Add to board" ----

#[wasm_bindgen_test]
async fn alert_feed_shows_who_acknowledged_and_a_button_for_the_rest() {
    let mut a = truck("T-01", TruckStatus::Delayed, 0.0, 0.0);
    a.alerts.push(alert(AlertKind::Delay, "15 min late", 1_000));
    let mut b = truck("T-03", TruckStatus::EnRoute, 0.0, 0.0);
    let mut acked = alert(AlertKind::Temperature, "Reefer at 9.1 °C", 5_000);
    acked.acked = Some(convoy_core::wire::AlertAck {
        by: "ana".into(),
        at_ms: 6_000,
    });
    b.alerts.push(acked);
    let trucks = [Rc::new(a), Rc::new(b)];
    let alerts: Rc<Vec<AlertEntry>> = Rc::new(alert_feed(trucks.iter(), 50));
    let asked = Rc::new(RefCell::new(Vec::new()));
    let on_ack = {
        let asked = asked.clone();
        Callback::from(move |id: u64| asked.borrow_mut().push(id))
    };
    let root = test_root();
    render_routed(
        &root,
        &MemoryHistory::new(),
        html! { <AlertFeed {alerts} {on_ack} /> },
    );
    yew::scheduler::flush().await;

    let items = all(&root, ".alert-feed [aria-live='polite'] li.alert-item");
    assert_eq!(attr(&items[0], "data-alert-id"), "5000");
    assert!(items[0].class_list().contains("acked"));
    assert!(items[0]
        .text_content()
        .unwrap_or_default()
        .contains("Acknowledged by ana"));
    assert!(items[0].query_selector("button.ack").unwrap().is_none());
    assert!(items[1].class_list().contains("raised"));
    let button = find(&items[1], "button.ack");
    assert_eq!(attr(&button, "aria-label"), "Acknowledge Delay on T-01");
    button.unchecked_into::<HtmlElement>().click();
    yew::scheduler::flush().await;
    assert_eq!(*asked.borrow(), [1_000]);
    assert!(find(&root, ".alert-feed h2")
        .text_content()
        .unwrap_or_default()
        .contains("1 unacknowledged"));
}

#[wasm_bindgen_test]
async fn alert_feed_lists_newest_first_with_links_in_a_polite_live_region() {
    let mut a = truck("T-01", TruckStatus::Delayed, 0.0, 0.0);
    a.alerts.push(alert(AlertKind::Delay, "15 min late", 1_000));
    let mut b = truck("T-03", TruckStatus::EnRoute, 0.0, 0.0);
    b.alerts
        .push(alert(AlertKind::Temperature, "Reefer at 9.1 °C", 5_000));
    let trucks = [Rc::new(a), Rc::new(b)];
    let alerts: Rc<Vec<AlertEntry>> = Rc::new(alert_feed(trucks.iter(), 50));
    let root = test_root();
    render_routed(
        &root,
        &MemoryHistory::new(),
        html! { <AlertFeed {alerts} /> },
    );
    yew::scheduler::flush().await;

    let live = find(&root, ".alert-feed [aria-live='polite']");
    let items = all(&live, "li.alert-item");
    let order: Vec<String> = items.iter().map(|li| attr(li, "data-truck")).collect();
    assert_eq!(order, ["T-03", "T-01"]);
    assert!(items[0]
        .text_content()
        .unwrap_or_default()
        .contains("Reefer at 9.1 °C"));
    assert_eq!(attr(&find(&items[0], "a"), "href"), "/trucks/T-03");
    assert_eq!(attr(&find(&items[1], "a"), "href"), "/trucks/T-01");

    let root = test_root();
    render_routed(
        &root,
        &MemoryHistory::new(),
        html! { <AlertFeed alerts={Rc::new(Vec::new())} /> },
    );
    yew::scheduler::flush().await;
    let live = find(&root, ".alert-feed [aria-live='polite']");
    assert!(live
        .text_content()
        .unwrap_or_default()
        .contains("No active alerts"));
}

#[wasm_bindgen_test]
async fn fleet_rows_link_to_the_board_with_the_truck_added() {
    let trucks = vec![
        Rc::new(truck("T-01", TruckStatus::EnRoute, 0.0, 0.0)),
        Rc::new(truck("T-05", TruckStatus::Idle, 0.0, 0.0)),
    ];
    let history = MemoryHistory::new();
    let root = test_root();
    render_routed(
        &root,
        &history,
        html! {
            <FleetTable {trucks} query={TableQuery::default()} now_ms={1_000_000}
                on_query={Callback::noop()} board={Rc::new(BoardLayout::parse("T-05"))} />
        },
    );
    yew::scheduler::flush().await;
    let add = find(&root, "tr[data-truck='T-01'] a.add-to-board");
    assert_eq!(attr(&add, "href"), "/board?trucks=T-05,T-01");
    // The visible words start the name (WCAG 2.5.3, "label in name").
    assert_eq!(attr(&add, "aria-label"), "Add to board: T-01");
    let on_board = find(&root, "tr[data-truck='T-05'] a.on-board");
    assert_eq!(attr(&on_board, "href"), "/board?trucks=T-05");
    assert_eq!(
        attr(&find(&root, "tr[data-truck='T-01'] th a"), "href"),
        "/trucks/T-01",
        "the truck link still opens its panel"
    );

    add.unchecked_into::<HtmlElement>().click();
    yew::scheduler::flush().await;
    assert_eq!(query_of(&history), "/board?trucks=T-05,T-01");
}

// ---- the app's addresses ----

/// yew-router's derive matches the app's paths: one trailing `/` is ignored, `:id` is one
/// non-empty segment, percent-decoded (not UTF-8: no page), any other path is `NotFound`.
#[wasm_bindgen_test]
fn routes_match_paths() {
    use convoy::web::route::Route;
    use yew_router::Routable;
    let truck = |id: &str| Route::Truck { id: id.into() };
    for (path, route) in [
        ("/", Route::Fleet),
        ("", Route::Fleet),
        ("/board", Route::Board),
        ("/board/", Route::Board),
        ("/map", Route::Map),
        ("/diagnostics", Route::Diagnostics),
        ("/settings", Route::Settings),
        ("/signin", Route::SignIn),
        ("/404", Route::NotFound),
        ("/trucks/T-01", truck("T-01")),
        ("/trucks/T-01/", truck("T-01")),
        ("/trucks/T%2D01%20x", truck("T-01 x")),
        ("/trucks/%ZZ", truck("%ZZ")),
        ("/trucks/%FF", Route::NotFound),
        ("/trucks/", Route::NotFound),
        ("/trucks/T-01/more", Route::NotFound),
        ("/map/more", Route::NotFound),
        ("//map", Route::NotFound),
        ("/Map", Route::NotFound),
    ] {
        assert_eq!(Route::recognize(path), Some(route), "{path}");
    }
    assert_eq!(Route::Fleet.to_path(), "/");
    assert_eq!(truck("T-01").to_path(), "/trucks/T-01");
    assert_eq!(truck("a b/ü~").to_path(), "/trucks/a%20b%2F%C3%BC~");
    for route in [truck("T-07"), truck("x y"), Route::Board, Route::SignIn] {
        assert_eq!(Route::recognize(&route.to_path()), Some(route));
    }
}

/// Every page the app has, behind yew-router's `Switch`, with links to two of them.
#[function_component(RoutedPages)]
fn routed_pages() -> Html {
    use convoy::web::route::{Link, Route};
    use yew_router::Switch;
    let render = |route: Route| html! { <p class="page">{ format!("{route:?}") }</p> };
    html! {
        <>
            <Link to={Route::Map} classes="to-map">{ "Map" }</Link>
            <Link to={Route::Truck { id: "T 7".into() }} classes="to-truck">{ "T 7" }</Link>
            <Switch<Route> {render} />
        </>
    }
}

#[derive(Properties, PartialEq)]
struct BasedProps {
    history: MemoryHistory,
}

/// The pages below a public URL of `/convoy/`, as `BrowserRouter` reads it from `<base href>`.
#[function_component(Based)]
fn based(BasedProps { history }: &BasedProps) -> Html {
    html! {
        <Router history={AnyHistory::from(history.clone())} basename="/convoy">
            <RoutedPages />
        </Router>
    }
}

/// Clicks `selector` with `modifier` held ("" for none) as a dispatched click, and says
/// whether the app took it (prevented the browser's own navigation). The browser's own is
/// always stopped, so the test page stays.
fn click_with(root: &Element, selector: &str, modifier: &str) -> bool {
    let init = web_sys::MouseEventInit::new();
    init.set_bubbles(true);
    init.set_cancelable(true);
    init.set_button(0);
    match modifier {
        "ctrl" => init.set_ctrl_key(true),
        "meta" => init.set_meta_key(true),
        "shift" => init.set_shift_key(true),
        "alt" => init.set_alt_key(true),
        _ => {}
    }
    let event = web_sys::MouseEvent::new_with_mouse_event_init_dict("click", &init).unwrap();
    let taken = Rc::new(std::cell::Cell::new(None));
    let window = web_sys::window().unwrap();
    let seen = taken.clone();
    // On the window, after the app's own handler (yew listens on its root); not passive, so
    // it can stop the browser.
    let options = gloo_events::EventListenerOptions::enable_prevent_default();
    let _last =
        gloo_events::EventListener::new_with_options(&window, "click", options, move |event| {
            seen.set(Some(event.default_prevented()));
            event.prevent_default();
        });
    find(root, selector).dispatch_event(&event).unwrap();
    taken.get().expect("the click reached the window")
}

#[wasm_bindgen_test]
async fn links_navigate_below_the_basename_and_leave_modified_clicks_to_the_browser() {
    let history = MemoryHistory::new();
    history.replace("/convoy/trucks/T-01");
    let root = test_root();
    Renderer::<Based>::with_root_and_props(
        root.clone(),
        BasedProps {
            history: history.clone(),
        },
    )
    .render();
    yew::scheduler::flush().await;
    let page = |root: &Element| find(root, "p.page").text_content().unwrap_or_default();
    assert_eq!(
        page(&root),
        r#"Truck { id: "T-01" }"#,
        "a deep link below the base"
    );
    assert_eq!(attr(&find(&root, "a.to-map"), "href"), "/convoy/map");
    assert_eq!(
        attr(&find(&root, "a.to-truck"), "href"),
        "/convoy/trucks/T%207"
    );

    // Ctrl/Cmd/Shift/Alt-click: the browser opens a tab or a window; this tab stays.
    for modifier in ["ctrl", "meta", "shift", "alt"] {
        assert!(!click_with(&root, "a.to-map", modifier), "{modifier}-click");
        yew::scheduler::flush().await;
        assert_eq!(
            history.location().path(),
            "/convoy/trucks/T-01",
            "{modifier}"
        );
        assert_eq!(page(&root), r#"Truck { id: "T-01" }"#, "{modifier}");
    }
    assert_eq!(history.len(), 1);

    // A plain click navigates inside the app: one new entry, the page it names.
    assert!(click_with(&root, "a.to-map", ""));
    yew::scheduler::flush().await;
    assert_eq!(history.location().path(), "/convoy/map");
    assert_eq!(page(&root), "Map");
    assert!(click_with(&root, "a.to-truck", ""));
    yew::scheduler::flush().await;
    assert_eq!(history.location().path(), "/convoy/trucks/T%207");
    assert_eq!(page(&root), r#"Truck { id: "T 7" }"#);
    assert_eq!(history.len(), 3);

    // An address no page claims.
    history.push("/convoy/nowhere");
    yew::scheduler::flush().await;
    assert_eq!(page(&root), "NotFound");
}

#[wasm_bindgen_test]
async fn notification_toggle_offers_what_the_permission_allows_and_reports_its_callbacks() {
    use convoy::web::components::notification_toggle::NotificationToggle;
    use convoy::web::hooks::NotificationSetting;
    use convoy_browser::notifications::Permission;
    let calls = Rc::new(RefCell::new(Vec::<String>::new()));
    let record = |what: &'static str| {
        let calls = calls.clone();
        Callback::from(move |()| calls.borrow_mut().push(what.to_owned()))
    };
    let on_sound = {
        let calls = calls.clone();
        Callback::from(move |on: bool| calls.borrow_mut().push(format!("sound {on}")))
    };
    let render = |permission: Permission, enabled: Option<bool>, sound: bool| {
        let root = test_root();
        let (on_enable, on_disable, on_sound) =
            (record("enable"), record("disable"), on_sound.clone());
        render_routed(
            &root,
            &MemoryHistory::with_entries(["/settings"]),
            html! {
                <NotificationToggle setting={NotificationSetting {
                    permission, enabled, error: None, on_enable, on_disable, sound, on_sound,
                }} />
            },
        );
        root
    };

    // Blocked: nothing to turn on.
    let root = render(Permission::Denied, Some(false), false);
    yew::scheduler::flush().await;
    let section = find(&root, "section.notification-settings");
    assert_eq!(attr(&section, "data-permission"), "denied");
    assert_eq!(attr(&section, "data-enabled"), "off");
    assert!(find(&root, "button.notifications-enable").has_attribute("disabled"));

    // Not asked yet: the button asks; the beep is off and the checkbox turns it on.
    let root = render(Permission::Default, Some(false), false);
    yew::scheduler::flush().await;
    let button = find(&root, "button.notifications-enable");
    assert!(!button.has_attribute("disabled"));
    button.unchecked_into::<HtmlElement>().click();
    let sound = find(&root, ".notification-sound input").unchecked_into::<HtmlInputElement>();
    assert!(!sound.checked());
    sound.click();
    yew::scheduler::flush().await;

    // On: shown as on, and the button turns it off.
    let root = render(Permission::Granted, Some(true), true);
    yew::scheduler::flush().await;
    assert_eq!(
        attr(
            &find(&root, "section.notification-settings"),
            "data-enabled"
        ),
        "on"
    );
    find(&root, "button.notifications-disable")
        .unchecked_into::<HtmlElement>()
        .click();
    yew::scheduler::flush().await;
    assert_eq!(*calls.borrow(), ["enable", "sound true", "disable"]);
}
