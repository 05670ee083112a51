//! Real trucks over real loopback HTTP: plans (`PUT /api/trucks/{id}/plan`, `plan` lines) and
//! position lines through ingest, and what the server derives from them in the snapshot and on
//! the stream; bad bodies (a 400 naming the field, nothing appended); the track (order, bound,
//! scope); `no_signal` on the server's clock with a short `--stale-after`; the wire version
//! check; trips rebuilt from the log after a restart.

mod common;

use common::{config, within, SseClient, TempDir, TestServer};
use convoy_core::wire::{AlertKind, FleetEvent, TruckDetail, TruckStatus};
use convoy_server::auth::{mint, Claims, Scope};
use convoy_server::hub::TrackPoint;
use convoy_server::ingest::{IngestReply, PlanReply};
use convoy_server::log::LogSpec;
use convoy_server::Config;
use serde_json::{json, Value};
use std::time::Duration;

const TOKEN: &str = "positions-ingest-token";
const KEY: &[u8] = b"convoy test key: 32 bytes or more, never reused";
const MIN: u64 = 60_000;

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// An ingest-only server (no simulator) taking `TOKEN`, with sign-in when `signed_in`.
async fn server(dir: &TempDir, tweak: impl FnOnce(&mut Config)) -> TestServer {
    dir.write("tokens", TOKEN.as_bytes());
    let mut config = Config {
        trucks: 0,
        ingest_token_file: Some(dir.path().join("tokens")),
        ..config()
    };
    tweak(&mut config);
    TestServer::start(config).await
}

/// Chicago to Indianapolis: planned to leave at `start` and arrive four hours later.
fn plan(start: u64) -> Value {
    json!({
        "driver": "Dana Reyes",
        "route_name": "Chicago - Indianapolis",
        "stops": [
            {"name": "Chicago", "lat": 41.8781, "lon": -87.6298, "planned_ms": start},
            {"name": "Indianapolis", "lat": 39.7684, "lon": -86.1581,
             "planned_ms": start + 240 * MIN, "radius_m": 500,
             "via": [{"lat": 41.5870, "lon": -87.5600}, {"lat": 41.5800, "lon": -87.3350},
                     {"lat": 40.4167, "lon": -86.8392}]}
        ],
        "reefer_band": {"min_c": 2.0, "max_c": 8.0}
    })
}

fn position(truck: &str, at_ms: u64, lat: f64, lon: f64, speed: f64) -> Value {
    json!({"type": "position", "truck": truck, "at_ms": at_ms, "lat": lat, "lon": lon,
           "speed_kph": speed, "reefer_c": 4.5})
}

async fn put_plan(
    server: &TestServer,
    truck: &str,
    body: String,
    token: Option<&str>,
) -> reqwest::Response {
    let mut request = server
        .client
        .put(server.url(&format!("/api/trucks/{truck}/plan")))
        .body(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    within(request.send()).await.unwrap()
}

async fn ingest(server: &TestServer, lines: &[Value]) -> reqwest::Response {
    let body: String = lines.iter().map(|l| format!("{l}\n")).collect();
    within(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth(TOKEN)
            .body(body)
            .send(),
    )
    .await
    .unwrap()
}

async fn error_of(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    body["error"].as_str().unwrap_or_default().to_owned()
}

/// Events from the stream until one matches.
async fn until(stream: &mut SseClient, found: impl Fn(&FleetEvent) -> bool) -> Vec<FleetEvent> {
    let mut seen = Vec::new();
    loop {
        let event = stream.next_envelope().await.event;
        let done = found(&event);
        seen.push(event);
        if done {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_and_positions_give_derived_numbers_in_the_snapshot_and_on_the_stream() {
    let dir = TempDir::new("positions-derive");
    // Positions from the last hour are not stale here (no_signal has a test of its own).
    let server = server(&dir, |c| c.stale_after = Duration::from_secs(7200)).await;
    let mut stream = server.stream("", None).await;
    let t0 = now_ms() - 60 * MIN;
    let response = put_plan(&server, "ACME-1", plan(t0).to_string(), Some(TOKEN)).await;
    assert_eq!(response.status(), 200);
    let reply: PlanReply = response.json().await.unwrap();
    let first = stream.next_envelope().await;
    assert_eq!(first.id, reply.id);
    assert!(matches!(&first.event, FleetEvent::Plan { plan, .. } if plan.stops.len() == 2));

    // At the yard, then on the road south at 90 km/h.
    let lines = [
        position("ACME-1", t0, 41.8785, -87.6300, 0.0),
        position("ACME-1", t0 + 10 * MIN, 41.7217, -87.6247, 90.0),
        position("ACME-1", t0 + 20 * MIN, 41.5870, -87.5600, 90.0),
        position("ACME-1", t0 + 30 * MIN, 41.5820, -87.4300, 90.0),
    ];
    let response = ingest(&server, &lines).await;
    assert_eq!(response.status(), 200);
    let reply: IngestReply = response.json().await.unwrap();
    assert_eq!(reply.accepted, 4);
    // Each line's id is its position event's; the derived events follow it.
    let events = until(
        &mut stream,
        |e| matches!(e, FleetEvent::Position { at_ms, .. } if *at_ms == t0 + 30 * MIN),
    )
    .await;
    let names: Vec<&str> = events.iter().map(FleetEvent::name).collect();
    assert_eq!(&names[..3], ["position", "stop", "status"], "{names:?}");
    let progress: Vec<f32> = events
        .iter()
        .filter_map(|e| match e {
            FleetEvent::Position { progress, .. } => Some(*progress),
            _ => None,
        })
        .collect();
    assert_eq!(progress.len(), 4);
    assert!(
        progress[0] == 0.0 && progress.windows(2).all(|w| w[0] < w[1]),
        "{progress:?}"
    );

    let detail: TruckDetail = server.get_json("/api/trucks/ACME-1").await;
    let truck = detail.truck;
    assert_eq!(truck.driver, "Dana Reyes");
    assert_eq!(truck.status, TruckStatus::EnRoute);
    assert_eq!(truck.next_stop, 1);
    assert_eq!(truck.stops[0].arrived_ms, Some(t0));
    assert_eq!(truck.stops[0].departed_ms, Some(t0 + 10 * MIN));
    assert_eq!(truck.planned_arrival_ms, Some(t0 + 240 * MIN));
    assert!((0.1..0.5).contains(&truck.progress), "{}", truck.progress);
    assert_eq!(truck.progress, progress[3]);
    let eta = truck.eta_ms.expect("an ETA from the moving speed");
    assert!(eta > t0 + 30 * MIN && eta < t0 + 6 * 60 * MIN, "{eta}");
    assert_eq!(truck.last_fix_ms, Some(t0 + 30 * MIN));
    assert_eq!(truck.reefer_c, Some(4.5));
    assert_eq!(detail.plan.map(|p| p.stops[1].via.len()), Some(3));
    assert!(truck.alerts.is_empty(), "{:?}", truck.alerts);

    // A reefer reading outside the plan's band raises temperature, as a derived alert.
    let mut warm = position("ACME-1", t0 + 31 * MIN, 41.5800, -87.4000, 90.0);
    warm["reefer_c"] = json!(11.0);
    assert_eq!(ingest(&server, &[warm]).await.status(), 200);
    let events = until(&mut stream, |e| matches!(e, FleetEvent::Alert { .. })).await;
    let Some(FleetEvent::Alert { alert, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(alert.kind, AlertKind::Temperature);
    // A plan line replaces the plan: its stops, its visits afresh.
    let line = json!({"type": "plan", "truck": "ACME-1", "plan": plan(t0 + 40 * MIN)});
    assert_eq!(ingest(&server, &[line]).await.status(), 200);
    let truck = server.snapshot().await.trucks.remove(0);
    assert_eq!(truck.stops[1].planned_ms, t0 + 280 * MIN);
    assert_eq!(truck.stops[0].arrived_ms, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plans_and_positions_are_400_naming_the_field_and_nothing_is_appended() {
    let dir = TempDir::new("positions-bad");
    let server = server(&dir, |_| {}).await;
    let t0 = now_ms() - 60 * MIN;
    let latest = server.stats().await.latest_event_id;
    let mut one_stop = plan(t0);
    one_stop["stops"].as_array_mut().unwrap().truncate(1);
    let mut bad_radius = plan(t0);
    bad_radius["stops"][1]["radius_m"] = json!(-5);
    let mut bad_lat = plan(t0);
    bad_lat["stops"][0]["lat"] = json!(95.0);
    let mut no_driver = plan(t0);
    no_driver.as_object_mut().unwrap().remove("driver");
    for (body, names) in [
        (
            one_stop.to_string(),
            "stops: a plan needs at least two stops",
        ),
        (bad_radius.to_string(), "stops[1].radius_m"),
        (bad_lat.to_string(), "lat must be"),
        (no_driver.to_string(), "missing field `driver`"),
        ("{".to_owned(), "not a JSON plan"),
    ] {
        let error = error_of(put_plan(&server, "ACME-1", body, Some(TOKEN)).await, 400).await;
        assert!(error.contains(names), "{names}: {error}");
    }
    let error = error_of(
        put_plan(&server, "ACME 1", plan(t0).to_string(), Some(TOKEN)).await,
        400,
    )
    .await;
    assert!(error.contains("invalid truck id"), "{error}");
    error_of(
        put_plan(&server, "ACME-1", plan(t0).to_string(), None).await,
        401,
    )
    .await;
    error_of(
        put_plan(&server, "ACME-1", plan(t0).to_string(), Some("nope")).await,
        401,
    )
    .await;

    let good = position("ACME-1", t0, 41.0, -87.0, 50.0);
    for (lines, line, names) in [
        (
            vec![good.clone(), position("ACME-1", t0 + 1, 91.0, -87.0, 0.0)],
            2,
            "lat must be a finite number of degrees within ±90, got 91",
        ),
        (
            vec![position("ACME-1", t0, 41.0, 180.5, 0.0)],
            1,
            "lon must be",
        ),
        (
            vec![
                good.clone(),
                json!({"type":"position","truck":"ACME-1","at_ms":t0 + 1,"lat":41,"lon":-87,"progress":0.5}),
            ],
            2,
            "progress is derived by the server",
        ),
        (
            vec![
                good.clone(),
                json!({"type":"position","truck":"ACME-1","at_ms":t0 + 1,"lat":41,"lon":-87,"eta_ms":5}),
            ],
            2,
            "eta_ms is derived by the server",
        ),
        (
            vec![
                json!({"type":"status","truck":"ACME-1","at_ms":t0,"status":"idle","next_stop":0}),
            ],
            1,
            "status is derived by the server from positions: send position lines",
        ),
        (
            vec![json!({"type":"telemetry","truck":"ACME-1","at_ms":t0})],
            1,
            "telemetry is derived by the server from positions",
        ),
        (
            vec![
                good.clone(),
                json!({"type":"position","truck":"ACME-1","at_ms":t0 + 1,"lon":-87}),
            ],
            2,
            "missing field `lat`",
        ),
        // Refused by the truck's trip, not the parser: still this line, still nothing kept.
        (
            vec![good.clone(), position("ACME-1", t0, 41.1, -87.0, 50.0)],
            2,
            "is not after the last position's",
        ),
        (
            vec![
                good.clone(),
                json!({"type":"plan","truck":"ACME-1","plan":one_stop}),
            ],
            2,
            "plan.stops: a plan needs at least two stops",
        ),
    ] {
        let error = error_of(ingest(&server, &lines).await, 400).await;
        assert!(error.starts_with(&format!("line {line}: ")), "{error}");
        assert!(error.contains(names), "{names}: {error}");
        assert!(error.ends_with("nothing was appended"), "{error}");
    }
    assert_eq!(
        server.stats().await.latest_event_id,
        latest,
        "nothing was appended"
    );
    assert!(server.snapshot().await.trucks.is_empty());
}

fn token(sub: &str, trucks: &[&str]) -> String {
    mint(
        KEY,
        &Claims {
            sub: sub.into(),
            trucks: Scope::Trucks(trucks.iter().map(|t| t.to_string()).collect()),
            exp: now_ms() / 1000 + 600,
            nbf: None,
        },
    )
    .unwrap()
}

async fn get_with(server: &TestServer, path: &str, token: &str) -> reqwest::Response {
    within(
        server
            .client
            .get(server.url(path))
            .bearer_auth(token)
            .send(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_track_is_oldest_first_bounded_to_the_newest_2000_and_within_scope() {
    let dir = TempDir::new("positions-track");
    dir.write("auth.key", KEY);
    let key_file = dir.path().join("auth.key");
    let server = server(&dir, |c| c.auth_key_file = Some(key_file)).await;
    let t0 = now_ms() - 3 * 60 * MIN;
    // 2 050 positions creeping north from Indianapolis, one a second.
    let lines: Vec<Value> = (0..2050u64)
        .map(|i| {
            position(
                "ACME-1",
                t0 + i * 1000,
                39.7684 + i as f64 * 1e-4,
                -86.1581,
                36.0,
            )
        })
        .collect();
    assert_eq!(ingest(&server, &lines).await.status(), 200);
    assert_eq!(
        ingest(&server, &[position("ACME-2", t0, 40.0, -86.0, 0.0)])
            .await
            .status(),
        200
    );

    let ana = token("ana", &["ACME-1"]);
    let track: Vec<TrackPoint> = get_with(&server, "/api/trucks/ACME-1/track", &ana)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(track.len(), 2000);
    assert_eq!(track[0].at_ms, t0 + 50 * 1000, "the newest 2000");
    assert_eq!(track[1999].at_ms, t0 + 2049 * 1000);
    assert!(
        track.windows(2).all(|w| w[0].at_ms < w[1].at_ms),
        "oldest first"
    );
    assert_eq!(track[1999].speed_kph, Some(36.0));
    assert!((track[1999].lat - (39.7684 + 2049e-4)).abs() < 1e-9);
    let since = t0 + 2040 * 1000;
    let recent: Vec<TrackPoint> = get_with(
        &server,
        &format!("/api/trucks/ACME-1/track?since_ms={since}"),
        &ana,
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(recent.len(), 10);
    assert_eq!(recent[0].at_ms, since);
    // Outside the scope is like unknown; a bad since_ms names itself.
    let response = get_with(&server, "/api/trucks/ACME-2/track", &ana).await;
    assert_eq!(response.status(), 404);
    let response = get_with(&server, "/api/trucks/ACME-9/track", &ana).await;
    assert_eq!(response.status(), 404);
    let error = error_of(
        get_with(&server, "/api/trucks/ACME-1/track?since_ms=yesterday", &ana).await,
        400,
    )
    .await;
    assert!(error.contains("since_ms"), "{error}");
    let unsigned = within(
        server
            .client
            .get(server.url("/api/trucks/ACME-1/track"))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(unsigned.status(), 401);
}

/// A reefer's readings ride on its track, so a panel can draw the temperature over the trip; a
/// truck that sent none has no `reefer_c` in its points (the field is optional in wire v2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_track_carries_the_reefer_readings_the_truck_sent() {
    let dir = TempDir::new("positions-reefer");
    let server = server(&dir, |_| {}).await;
    let t0 = now_ms() - 30 * MIN;
    let mut lines: Vec<Value> = (0..5u64)
        .map(|i| {
            let mut line = position("ACME-1", t0 + i * MIN, 41.0 + i as f64 * 1e-3, -87.0, 50.0);
            line["reefer_c"] = json!(3.0 + i as f64);
            line
        })
        .collect();
    // A reading missing in one report: that point carries none.
    if let Some(fields) = lines[2].as_object_mut() {
        fields.remove("reefer_c");
    }
    lines.push(
        json!({"type": "position", "truck": "DRY-1", "at_ms": t0, "lat": 40.0,
                      "lon": -86.0, "speed_kph": 20.0}),
    );
    assert_eq!(ingest(&server, &lines).await.status(), 200);

    let track: Vec<TrackPoint> = server.get_json("/api/trucks/ACME-1/track?v=2").await;
    let readings: Vec<Option<f32>> = track.iter().map(|p| p.reefer_c).collect();
    assert_eq!(
        readings,
        [Some(3.0), Some(4.0), None, Some(6.0), Some(7.0)],
        "each point's reading, oldest first"
    );
    let dry: Value = server.get_json("/api/trucks/DRY-1/track?v=2").await;
    let dry = dry.as_array().expect("an array");
    assert_eq!(dry.len(), 1);
    assert!(dry[0].get("reefer_c").is_none(), "{dry:?}");
    assert_eq!(dry[0]["speed_kph"], json!(20.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_signal_is_raised_on_the_servers_clock_and_cleared_by_the_next_position() {
    let dir = TempDir::new("positions-stale");
    let server = server(&dir, |c| c.stale_after = Duration::from_secs(1)).await;
    let mut stream = server.stream("", None).await;
    let sent = now_ms();
    assert_eq!(
        ingest(&server, &[position("ACME-1", sent, 41.0, -87.0, 0.0)])
            .await
            .status(),
        200
    );
    let events = until(&mut stream, |e| matches!(e, FleetEvent::Alert { .. })).await;
    let Some(FleetEvent::Alert { alert, at_ms, .. }) = events.last() else {
        unreachable!()
    };
    assert_eq!(alert.kind, AlertKind::NoSignal);
    assert!(
        *at_ms >= sent + 1000,
        "not before --stale-after: {at_ms} vs {sent}"
    );
    let truck = server.snapshot().await.trucks.remove(0);
    assert!(truck.alerts.iter().any(|a| a.kind == AlertKind::NoSignal));
    // Raised once, whatever the ticks since.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        ingest(&server, &[position("ACME-1", now_ms(), 41.0, -87.0, 0.0)])
            .await
            .status(),
        200
    );
    let events = until(&mut stream, |e| {
        matches!(e, FleetEvent::AlertCleared { .. })
    })
    .await;
    assert!(
        events
            .iter()
            .all(|e| !matches!(e, FleetEvent::Alert { .. })),
        "{events:?}"
    );
    assert!(matches!(
        events.last(),
        Some(FleetEvent::AlertCleared {
            kind: AlertKind::NoSignal,
            ..
        })
    ));
    let truck = server.snapshot().await.trucks.remove(0);
    assert!(truck.alerts.is_empty(), "{:?}", truck.alerts);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_wire_version_is_told_to_reload() {
    let dir = TempDir::new("positions-version");
    let server = server(&dir, |_| {}).await;
    assert_eq!(
        ingest(&server, &[position("ACME-1", now_ms(), 41.0, -87.0, 0.0)])
            .await
            .status(),
        200
    );
    for path in [
        "/api/fleet?v=1",
        "/api/stream?v=1&trucks=all",
        "/api/trucks/ACME-1?v=1",
        "/api/trucks/ACME-1/track?v=3",
    ] {
        let error = error_of(server.get(path).await, 400).await;
        assert!(
            error.starts_with("this page speaks Convoy's wire version "),
            "{path}: {error}"
        );
        assert!(
            error.ends_with("the server speaks 2: reload the page"),
            "{path}: {error}"
        );
    }
    for path in [
        "/api/fleet?v=2",
        "/api/trucks/ACME-1?v=2",
        "/api/trucks/ACME-1/track?v=2",
        "/api/fleet",
    ] {
        assert_eq!(server.get(path).await.status(), 200, "{path}");
    }
    let mut stream = server.stream("?v=2", None).await;
    assert_eq!(
        ingest(
            &server,
            &[position("ACME-1", now_ms() + 1, 41.0, -87.0, 0.0)]
        )
        .await
        .status(),
        200
    );
    assert_eq!(stream.next_envelope().await.event.name(), "position");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trips_are_rebuilt_from_the_log_after_a_restart() {
    let dir = TempDir::new("positions-restart");
    let data = dir.path().join("data");
    let start = |data| {
        let dir = &dir;
        async move { server(dir, |c| c.log = LogSpec::File(data)).await }
    };
    let t0 = now_ms() - 60 * MIN;
    let server_one = start(data.clone()).await;
    assert_eq!(
        put_plan(&server_one, "ACME-1", plan(t0).to_string(), Some(TOKEN))
            .await
            .status(),
        200
    );
    let lines = [
        position("ACME-1", t0, 41.8785, -87.6300, 0.0),
        position("ACME-1", t0 + 10 * MIN, 41.7217, -87.6247, 90.0),
    ];
    assert_eq!(ingest(&server_one, &lines).await.status(), 200);
    let before = server_one.snapshot().await.trucks.remove(0);
    server_one.stop().await;

    let server_two = start(data).await;
    // The trip knows the last position: an older one is refused, a newer one goes on from it.
    let error = error_of(
        ingest(
            &server_two,
            &[position("ACME-1", t0 + 5 * MIN, 41.8, -87.6, 90.0)],
        )
        .await,
        400,
    )
    .await;
    assert!(error.contains("not after the last position's"), "{error}");
    let next = position("ACME-1", t0 + 20 * MIN, 41.5870, -87.5600, 90.0);
    assert_eq!(ingest(&server_two, &[next]).await.status(), 200);
    let after = server_two.snapshot().await.trucks.remove(0);
    assert_eq!(after.stops[0].departed_ms, before.stops[0].departed_ms);
    assert!(
        after.progress > before.progress,
        "{} vs {}",
        after.progress,
        before.progress
    );
    let detail: TruckDetail = server_two.get_json("/api/trucks/ACME-1").await;
    assert_eq!(detail.plan.map(|p| p.driver), Some("Dana Reyes".to_owned()));
    let track: Vec<TrackPoint> = server_two.get_json("/api/trucks/ACME-1/track").await;
    assert_eq!(track.len(), 3);
}
