//! The JSON routes and the stream's bad-input answers, over real loopback HTTP.

mod common;

use common::{config, TestServer};
use convoy_core::wire::{FleetMap, TruckDetail};

async fn json_error(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let body: serde_json::Value = response.json().await.unwrap();
    body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("no error string in {body}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_snapshot_lists_every_truck_with_its_plan_and_position() {
    let server = TestServer::start(config()).await;
    let snapshot = server.fleet_of(10).await;
    let ids: Vec<_> = snapshot.trucks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(
        ids,
        ["T-01", "T-02", "T-03", "T-04", "T-05", "T-06", "T-07", "T-08", "T-09", "T-10"]
    );
    for truck in &snapshot.trucks {
        assert!((0.0..=1.0).contains(&truck.progress));
        assert_eq!(
            truck.planned_arrival_ms,
            truck.stops.last().map(|s| s.planned_ms)
        );
        assert!(truck.stops.len() >= 2 && !truck.route_name.is_empty());
        assert!(truck.last_fix_ms.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truck_detail_carries_the_plan_and_unknown_truck_404() {
    let server = TestServer::start(config()).await;
    server.fleet_of(10).await;
    let detail: TruckDetail = server.get_json("/api/trucks/T-07").await;
    assert_eq!(detail.truck.id, "T-07");
    let plan = detail.plan.expect("a simulated truck has a plan");
    assert_eq!(plan.route_name, detail.truck.route_name);
    let names: Vec<&str> = plan.stops.iter().map(|s| s.name.as_str()).collect();
    let stops: Vec<&str> = detail.truck.stops.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, stops);
    let error = json_error(server.get("/api/trucks/T-99").await, 404).await;
    assert!(error.contains("T-99"), "{error}");
    json_error(server.get("/api/trucks/..%2F..%2Fetc").await, 404).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_has_every_plans_stops_once() {
    let server = TestServer::start(config()).await;
    let snapshot = server.fleet_of(10).await;
    let map: FleetMap = server.get_json("/api/map").await;
    assert!(map.depots.len() >= 3);
    for truck in &snapshot.trucks {
        for stop in &truck.stops {
            let same = map
                .depots
                .iter()
                .filter(|d| d.name == stop.name && d.position == stop.position)
                .count();
            assert_eq!(same, 1, "{} in {map:?}", stop.name);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_stream_parameters_are_400_with_json_errors() {
    let server = TestServer::start(config()).await;
    for query in [
        "?trucks=T%2001",
        "?trucks=%20,",
        "?trucks=T-01,,T-02",
        "?trucks=%3Cscript%3E",
        "?lastEventId=abc",
        "?lastEventId=-3",
        "?lastEventId=1.5",
        "?heartbeat_ms=20",
        "?heartbeat_ms=often",
    ] {
        let response = server.get(&format!("/api/stream{query}")).await;
        let error = json_error(response, 400).await;
        assert!(!error.is_empty(), "{query}");
    }
    for header in ["abc", "-1", "18446744073709551616"] {
        let response = server
            .client
            .get(server.url("/api/stream"))
            .header("Last-Event-ID", header)
            .send()
            .await
            .unwrap();
        let error = json_error(response, 400).await;
        assert!(error.contains("event id"), "{error}");
    }
    // Nothing was opened by any of them.
    assert_eq!(server.stats().await.opened_total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_api_routes_are_404_json() {
    let server = TestServer::start(config()).await;
    for path in [
        "/api/nope",
        "/api",
        "/api/",
        "/api/fleet/extra",
        "/api/trucks",
    ] {
        json_error(server.get(path).await, 404).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_trucks_runs_no_simulator() {
    let server = TestServer::start(convoy_server::Config {
        trucks: 0,
        ..config()
    })
    .await;
    let health: convoy_server::api::Health = server.get_json("/api/health").await;
    assert!(!health.simulator, "{health:?}");
    assert_eq!(health.log, "memory");
    let snapshot = server.snapshot().await;
    assert!(snapshot.trucks.is_empty(), "{snapshot:?}");
    let map: FleetMap = server.get_json("/api/map").await;
    assert!(map.depots.is_empty());
    // A simulating server at this rate publishes within a few milliseconds; this one never does.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(server.stats().await.latest_event_id, health.latest_event_id);
    assert_eq!(health.latest_event_id, health.first_id - 1);
    json_error(server.get("/api/trucks/T-01").await, 404).await;
}
