//! In-browser tests (headless Chromium via wasm-bindgen-test-runner): components rendered into
//! a test node and asserted through the DOM, and the browser adapters against real APIs.
#![cfg(target_arch = "wasm32")]

use convoy::web::components::fleet_table::{FleetTable, FleetTableProps, ROW_HEIGHT_PX};
use convoy::web::components::truck_panel::{TruckPanel, TruckPanelProps, STALE_AFTER_MS};
use convoy::web::hooks::use_row_window;
use convoy_core::geo::LatLon;
use convoy_core::trip::ReeferBand;
use convoy_core::view::query::{SortKey, TableQuery};
use convoy_core::wire::{Alert, AlertKind, TruckState, TruckStatus};
use std::cell::Cell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;
use web_sys::{Element, HtmlElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;
use yew::Renderer;
use yew_router::history::{AnyHistory, MemoryHistory};
use yew_router::Router;

/// The table's rows link to truck pages, and links need a router around them.
#[function_component(RoutedTable)]
fn routed_table(props: &FleetTableProps) -> Html {
    let history = use_memo((), |_| AnyHistory::from(MemoryHistory::new()));
    html! {
        <Router history={(*history).clone()}>
            <FleetTable trucks={props.trucks.clone()} query={props.query.clone()}
                now_ms={props.now_ms} on_query={props.on_query.clone()}
                window={props.window.clone()} />
        </Router>
    }
}

wasm_bindgen_test_configure!(run_in_browser);

fn truck(
    id: &str,
    driver: &str,
    status: TruckStatus,
    speed: f32,
    updated_ms: u64,
) -> Rc<TruckState> {
    Rc::new(TruckState {
        driver: driver.into(),
        route_name: "Lyon – Turin".into(),
        status,
        next_stop: 1,
        progress: 0.4,
        position: Some(LatLon::new(45.76, 4.84).unwrap()),
        speed_kph: Some(speed),
        planned_arrival_ms: Some(3_600_000),
        eta_ms: Some(3_600_000 + 900_000),
        fuel_pct: Some(61.0),
        reefer_c: Some(4.5),
        reefer_band: Some(ReeferBand {
            min_c: 2.0,
            max_c: 6.0,
        }),
        driver_minutes_left: Some(300),
        updated_ms,
        last_event_id: 7,
        ..TruckState::new(id)
    })
}

fn test_root() -> Element {
    let document = web_sys::window().unwrap().document().unwrap();
    let root = document.create_element("div").unwrap();
    document.body().unwrap().append_child(&root).unwrap();
    root
}

fn row_ids(root: &Element) -> Vec<String> {
    let rows = root.query_selector_all("tr.truck-row").unwrap();
    (0..rows.length())
        .map(|i| {
            rows.item(i)
                .unwrap()
                .unchecked_into::<Element>()
                .get_attribute("data-truck")
                .unwrap()
        })
        .collect()
}

fn click(root: &Element, selector: &str) {
    root.query_selector(selector)
        .unwrap()
        .unwrap_or_else(|| panic!("no {selector}"))
        .unchecked_into::<HtmlElement>()
        .click();
}

/// Renders the table with whatever query the last click asked for, like the fleet page does.
struct TableHarness {
    root: Element,
    query: Rc<std::cell::RefCell<TableQuery>>,
    window: std::cell::RefCell<Option<std::ops::Range<usize>>>,
}

impl TableHarness {
    async fn render(trucks: Vec<Rc<TruckState>>) -> TableHarness {
        let root = test_root();
        let query = Rc::new(std::cell::RefCell::new(TableQuery::default()));
        let harness = TableHarness {
            root,
            query,
            window: Default::default(),
        };
        harness.mount(trucks).await;
        harness
    }

    async fn mount(&self, trucks: Vec<Rc<TruckState>>) {
        self.root.set_inner_html("");
        let store = self.query.clone();
        let props = FleetTableProps {
            trucks,
            query: self.query.borrow().clone(),
            now_ms: 4_000_000,
            on_query: Callback::from(move |q| *store.borrow_mut() = q),
            board: Default::default(),
            body_ref: Default::default(),
            window: self.window.borrow().clone(),
            offline: false,
            row_height_px: ROW_HEIGHT_PX,
        };
        Renderer::<RoutedTable>::with_root_and_props(self.root.clone(), props).render();
        yew::scheduler::flush().await;
    }
}

fn fleet() -> Vec<Rc<TruckState>> {
    let mut delayed = (*truck("T-03", "Zoe", TruckStatus::Delayed, 40.0, 0)).clone();
    delayed.alerts.push(Alert {
        id: 1,
        kind: AlertKind::Delay,
        message: "15 min late".into(),
        raised_ms: 0,
        acked: None,
    });
    vec![
        truck("T-02", "Ana", TruckStatus::EnRoute, 80.0, 0),
        Rc::new(delayed),
        truck("T-01", "Bo", TruckStatus::Idle, 0.0, 0),
    ]
}

#[wasm_bindgen_test]
async fn fleet_table_renders_every_truck_in_id_order() {
    let table = TableHarness::render(fleet()).await;
    assert_eq!(row_ids(&table.root), ["T-01", "T-02", "T-03"]);
    let text = table.root.text_content().unwrap();
    assert!(text.contains("+15 min"), "{text}");
    assert!(text.contains("Delayed 1"), "status counts: {text}");
}

#[wasm_bindgen_test]
async fn fleet_table_sorts_by_a_clicked_column_and_flips() {
    let table = TableHarness::render(fleet()).await;
    click(&table.root, "button.sort[data-sort='Speed']");
    assert_eq!(table.query.borrow().sort, SortKey::Speed);
    table.mount(fleet()).await;
    assert_eq!(row_ids(&table.root), ["T-01", "T-03", "T-02"]);
    click(&table.root, "button.sort[data-sort='Speed']");
    table.mount(fleet()).await;
    assert_eq!(row_ids(&table.root), ["T-02", "T-03", "T-01"]);
    let header = table
        .root
        .query_selector("th[aria-sort='descending']")
        .unwrap();
    assert!(
        header.is_some(),
        "the sorted column says so to screen readers"
    );
}

#[wasm_bindgen_test]
async fn fleet_table_filters_by_status_and_text() {
    let table = TableHarness::render(fleet()).await;
    click(&table.root, "button.status-filter[data-status='delayed']");
    table.mount(fleet()).await;
    assert_eq!(row_ids(&table.root), ["T-03"]);
    *table.query.borrow_mut() = TableQuery {
        text: "ana".into(),
        ..TableQuery::default()
    };
    table.mount(fleet()).await;
    assert_eq!(row_ids(&table.root), ["T-02"]);
    *table.query.borrow_mut() = TableQuery {
        text: "nobody".into(),
        ..TableQuery::default()
    };
    table.mount(fleet()).await;
    assert!(row_ids(&table.root).is_empty());
    assert!(table
        .root
        .text_content()
        .unwrap()
        .contains("No truck matches"));
}

#[wasm_bindgen_test]
async fn truck_panel_turns_stale_when_updates_stop() {
    let root = test_root();
    let fresh = TruckPanelProps {
        truck: truck("T-09", "Ana", TruckStatus::EnRoute, 72.0, 1_000_000),
        now_ms: 1_000_000 + 2_000,
        speed_history: Default::default(),
        reefer_history: Default::default(),
        on_close: None,
        on_ack: None,
        offline: false,
        plan: None,
        trail: Default::default(),
    };
    Renderer::<TruckPanel>::with_root_and_props(root.clone(), fresh).render();
    yew::scheduler::flush().await;
    let panel = root.query_selector(".truck-panel").unwrap().unwrap();
    assert!(!panel.class_list().contains("stale"));
    assert!(root.text_content().unwrap().contains("Updated 2 s ago"));

    let stale_root = test_root();
    let stale = TruckPanelProps {
        truck: truck("T-09", "Ana", TruckStatus::EnRoute, 72.0, 1_000_000),
        now_ms: 1_000_000 + STALE_AFTER_MS + 5_000,
        speed_history: Default::default(),
        reefer_history: Default::default(),
        on_close: None,
        on_ack: None,
        offline: false,
        plan: None,
        trail: Default::default(),
    };
    Renderer::<TruckPanel>::with_root_and_props(stale_root.clone(), stale).render();
    yew::scheduler::flush().await;
    let panel = stale_root.query_selector(".truck-panel").unwrap().unwrap();
    assert!(panel.class_list().contains("stale"));
    assert!(stale_root
        .text_content()
        .unwrap()
        .contains("Stale: no update for 15 s"));
}

#[wasm_bindgen_test]
async fn fleet_table_renders_only_the_rows_in_view_and_spacers_for_the_rest() {
    let trucks: Vec<_> = (1..=50)
        .map(|i| truck(&format!("T-{i:02}"), "Ana", TruckStatus::EnRoute, 50.0, 0))
        .collect();
    let table = TableHarness::render(trucks.clone()).await;
    assert_eq!(row_ids(&table.root).len(), 50, "no window: every row");
    *table.window.borrow_mut() = Some(10..20);
    table.mount(trucks).await;
    let ids = row_ids(&table.root);
    assert_eq!(ids.first().map(String::as_str), Some("T-11"));
    assert_eq!(ids.len(), 10);
    let spacers = table.root.query_selector_all("tr.spacer").unwrap();
    assert_eq!(spacers.length(), 2, "one above, one below");
    // Sized by an SVG's height attribute: the Content-Security-Policy allows no inline styles.
    let height = |i| {
        spacers
            .item(i)
            .unwrap()
            .unchecked_into::<Element>()
            .query_selector("svg")
            .unwrap()
            .and_then(|svg| svg.get_attribute("height"))
            .unwrap_or_default()
    };
    assert_eq!(height(0), "360");
    assert_eq!(height(1), "1080");
    assert!(spacers
        .item(0)
        .unwrap()
        .unchecked_into::<Element>()
        .get_attribute("style")
        .is_none());
    let table_element = table.root.query_selector("table").unwrap().unwrap();
    assert_eq!(
        table_element.get_attribute("aria-rowcount").as_deref(),
        Some("51")
    );
    let first = table.root.query_selector("tr.truck-row").unwrap().unwrap();
    assert_eq!(first.get_attribute("aria-rowindex").as_deref(), Some("12"));
}

/// Dispatches a bubbling `kind` event at `target`, as the browser does after a user's edit.
fn dispatch(target: &Element, kind: &str) {
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    let event = web_sys::Event::new_with_event_init_dict(kind, &init).unwrap();
    target.dispatch_event(&event).unwrap();
}

#[wasm_bindgen_test]
async fn fleet_table_reports_the_typed_text_and_the_chosen_alert() {
    let table = TableHarness::render(fleet()).await;
    let search = table
        .root
        .query_selector("input.text-filter")
        .unwrap()
        .unwrap();
    search
        .clone()
        .unchecked_into::<HtmlInputElement>()
        .set_value("zoe");
    dispatch(&search, "input");
    assert_eq!(table.query.borrow().text, "zoe");
    table.mount(fleet()).await;
    assert_eq!(row_ids(&table.root), ["T-03"]);

    let select = table
        .root
        .query_selector("select.alert-filter")
        .unwrap()
        .unwrap();
    let options = select.query_selector_all("option").unwrap();
    assert_eq!(
        options.length() as usize,
        1 + AlertKind::ALL.len(),
        "any, then every kind"
    );
    select
        .clone()
        .unchecked_into::<HtmlSelectElement>()
        .set_value(AlertKind::Temperature.label());
    dispatch(&select, "change");
    let query = table.query.borrow().clone();
    assert_eq!(query.alert, Some(AlertKind::Temperature));
    assert_eq!(query.text, "zoe", "the other filters stay");
}

#[derive(Properties)]
struct WindowProbeProps {
    total: usize,
    renders: Rc<Cell<u32>>,
}

impl PartialEq for WindowProbeProps {
    fn eq(&self, other: &Self) -> bool {
        self.total == other.total && Rc::ptr_eq(&self.renders, &other.renders)
    }
}

/// A body of `total` 36 px rows that shows which rows `use_row_window` picks, counting renders.
#[function_component(WindowProbe)]
fn window_probe(WindowProbeProps { total, renders }: &WindowProbeProps) -> Html {
    let body = use_node_ref();
    let rows = use_row_window(body.clone(), 36.0, *total);
    renders.set(renders.get() + 1);
    html! {
        <div ref={body} class="window-probe" style={format!("height: {}px", *total * 36)}
            data-rows={format!("{}..{}", rows.start, rows.end)}></div>
    }
}

#[wasm_bindgen_test]
async fn row_window_re_renders_only_when_the_rendered_rows_must_change() {
    let root = test_root();
    let renders = Rc::new(Cell::new(0));
    let props = WindowProbeProps {
        total: 500,
        renders: renders.clone(),
    };
    Renderer::<WindowProbe>::with_root_and_props(root.clone(), props).render();
    yew::scheduler::flush().await;
    let window = web_sys::window().unwrap();
    let probe = root.query_selector(".window-probe").unwrap().unwrap();
    let rows = || probe.get_attribute("data-rows").unwrap();
    let body_top = probe.get_bounding_client_rect().top() + window.scroll_y().unwrap();
    // Scroll events arrive with the next frame; dispatching one at once keeps the test
    // deterministic (the real one follows and finds nothing new).
    let scroll_to = |y: f64| {
        window.scroll_to_with_x_and_y(0.0, y);
        window
            .dispatch_event(&web_sys::Event::new("scroll").unwrap())
            .unwrap();
    };
    // Row 100 at the top: whole pixels, one in, so sub-pixel layout stays inside the row.
    let row_100 = body_top.ceil() + 100.0 * 36.0 + 1.0;
    scroll_to(row_100);
    yew::scheduler::flush().await;
    let (at_row_100, renders_at_row_100) = (rows(), renders.get());
    // The window moved from the top: 14 rows spare above row 100.
    assert!(at_row_100.starts_with("86.."), "{at_row_100}");

    for within in [5.0, 34.0, 12.0, 29.0, 0.0, 1.0] {
        scroll_to(row_100 + within);
        yew::scheduler::flush().await;
        assert_eq!(rows(), at_row_100, "{within} px into the row");
        assert_eq!(
            renders.get(),
            renders_at_row_100,
            "scrolling {within} px within the row re-rendered"
        );
    }

    // Rows 101 to 108 at the top still leave 6 or more rendered rows spare below the viewport.
    for row in [101.0, 104.0, 108.0] {
        scroll_to(row_100 + (row - 100.0) * 36.0);
        yew::scheduler::flush().await;
        assert_eq!(rows(), at_row_100, "row {row} at the top");
        assert_eq!(renders.get(), renders_at_row_100, "row {row} re-rendered");
    }
    scroll_to(row_100 + 9.0 * 36.0);
    yew::scheduler::flush().await;
    assert!(rows().starts_with("95.."), "{}", rows());
    assert_eq!(
        renders.get(),
        renders_at_row_100 + 1,
        "the window moved: one render"
    );

    window.scroll_to_with_x_and_y(0.0, 0.0);
    root.remove();
}

#[wasm_bindgen_test]
async fn the_status_chip_speaks_to_the_operator_and_keeps_the_transport_for_its_title() {
    use convoy::web::components::status_chip::{StatusChip, StatusChipProps};
    use convoy::web::hooks::OfflineSince;
    use convoy::web::transport::{Connection, FeedStatus};
    use convoy_core::election::Role;
    use convoy_core::transport::TransportMode;
    let status = |connection| {
        Some(Rc::new(FeedStatus {
            connection,
            mode: TransportMode::Leader,
            mode_reason: "auto: this browser has Web Locks".into(),
            explicit: false,
            skipped: None,
            role: Role::Leader,
            tab_id: 7,
            term: 2,
            leader_id: Some(7),
            malformed: 0,
            sharing_tabs: Some(3),
            hub: convoy_browser::tab_feed::HubPlace::Worker,
        }))
    };
    let now_ms = 50_000_000;
    let cases = [
        (Connection::Live, None, "Live, shared with 3 tabs"),
        // Down for a second: not worth calling offline yet.
        (
            Connection::Reconnecting {
                at_ms: now_ms + 3_500,
            },
            Some(now_ms - 1_000),
            "Reconnecting in 4 s",
        ),
        (
            Connection::Reconnecting {
                at_ms: now_ms + 3_500,
            },
            Some(now_ms - 120_000),
            "Offline: showing 13:51",
        ),
        (
            Connection::Error {
                reason: "the server is unreachable".into(),
            },
            None,
            "The server cannot be reached; retrying.",
        ),
        (
            Connection::Error {
                reason: "the server answered 401".into(),
            },
            None,
            "Your session has ended: sign in again.",
        ),
    ];
    for (connection, since, label) in cases {
        let root = test_root();
        let props = StatusChipProps {
            status: status(connection),
            now_ms,
            offline_since: OfflineSince(since),
            on_use_automatic: Callback::noop(),
        };
        Renderer::<StatusChip>::with_root_and_props(root.clone(), props).render();
        yew::scheduler::flush().await;
        let chip = root.query_selector(".chip").unwrap().unwrap();
        let shown = chip
            .query_selector(".chip-label")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap();
        assert_eq!(shown, label);
        let text = chip.text_content().unwrap();
        assert!(!text.contains("leader"), "{text}");
        let title = chip.get_attribute("title").unwrap_or_default();
        assert!(title.contains("transport leader"), "{title}");
    }
}

#[wasm_bindgen_test]
async fn a_row_and_a_panel_shown_during_an_outage_say_they_are_stale_and_how_old() {
    let now_ms = 1_000_000 + 125_000;
    let root = test_root();
    let props = FleetTableProps {
        trucks: vec![truck("T-09", "Ana", TruckStatus::EnRoute, 72.0, 1_000_000)],
        query: TableQuery::default(),
        now_ms,
        on_query: Callback::noop(),
        board: Default::default(),
        body_ref: Default::default(),
        window: None,
        offline: true,
        row_height_px: ROW_HEIGHT_PX,
    };
    #[function_component(OfflineTable)]
    fn offline_table(props: &FleetTableProps) -> Html {
        let history = use_memo((), |_| AnyHistory::from(MemoryHistory::new()));
        html! {
            <Router history={(*history).clone()}>
                <FleetTable trucks={props.trucks.clone()} query={props.query.clone()}
                    now_ms={props.now_ms} on_query={props.on_query.clone()} offline={props.offline} />
            </Router>
        }
    }
    Renderer::<OfflineTable>::with_root_and_props(root.clone(), props).render();
    yew::scheduler::flush().await;
    let row = root.query_selector("tr.truck-row").unwrap().unwrap();
    assert!(row.class_list().contains("stale"));
    assert_eq!(
        row.query_selector(".updated")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap(),
        "Stale: last update 2 min ago"
    );

    let panel_root = test_root();
    let props = TruckPanelProps {
        truck: truck("T-09", "Ana", TruckStatus::EnRoute, 72.0, now_ms - 2_000),
        now_ms,
        speed_history: Default::default(),
        reefer_history: Default::default(),
        on_close: None,
        on_ack: None,
        offline: true,
        plan: None,
        trail: Default::default(),
    };
    Renderer::<TruckPanel>::with_root_and_props(panel_root.clone(), props).render();
    yew::scheduler::flush().await;
    let panel = panel_root.query_selector(".truck-panel").unwrap().unwrap();
    assert!(panel.class_list().contains("stale"));
    assert!(panel_root
        .text_content()
        .unwrap()
        .contains("Stale, not live: last update 2 s ago"));
}
