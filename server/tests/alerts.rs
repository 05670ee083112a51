//! Acknowledging alerts over real loopback HTTP (issue 12, item 2): `POST
//! /api/alerts/{alert_id}/ack` by signed-in operators, the `alert_acked` event in the log and on
//! every stream whose scope includes the truck (and on no other), 409 for a second
//! acknowledgement, 404 for unknown, cleared and out-of-scope alerts. Alerts are pushed through
//! ingest on a node without the simulator, so nothing but the test raises or clears them.

mod common;

use common::{config, within, SseClient, TempDir, TestServer};
use convoy_core::sse::Decoder;
use convoy_core::wire::{decode_event, AlertAck, Envelope, EventId, FleetEvent, FleetSnapshot};
use convoy_server::api::AckReceipt;
use convoy_server::auth::{mint, Claims, Scope};
use convoy_server::ingest::IngestReply;
use convoy_server::Config;

const KEY: &[u8] = b"convoy test key: 32 bytes or more, never reused";
const INGEST: &str = "ingest-token-for-alerts";

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn token(sub: &str, trucks: &[&str]) -> String {
    let trucks = if trucks == ["*"] {
        Scope::All
    } else {
        Scope::Trucks(trucks.iter().map(|t| t.to_string()).collect())
    };
    mint(
        KEY,
        &Claims {
            sub: sub.into(),
            trucks,
            exp: now_ms() / 1000 + 600,
            nbf: None,
        },
    )
    .unwrap()
}

/// Sign-in on, ingest on, no simulator.
async fn server(dir: &TempDir) -> TestServer {
    dir.write("auth.key", KEY);
    dir.write("tokens", INGEST.as_bytes());
    TestServer::start(Config {
        trucks: 0,
        auth_key_file: Some(dir.path().join("auth.key")),
        ingest_token_file: Some(dir.path().join("tokens")),
        ..config()
    })
    .await
}

/// Pushes events through ingest; their ids.
async fn push(server: &TestServer, events: &[serde_json::Value]) -> Vec<EventId> {
    let body: String = events.iter().map(|e| format!("{e}\n")).collect();
    let response = within(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth(INGEST)
            .body(body)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let reply: IngestReply = response.json().await.unwrap();
    reply.ids
}

fn raise(truck: &str, kind: &str) -> serde_json::Value {
    serde_json::json!({
        "type": "alert", "truck": truck, "at_ms": now_ms(),
        "alert": {"kind": kind, "message": format!("{kind} on {truck}"), "raised_ms": now_ms()},
    })
}

fn clear(truck: &str, kind: &str) -> serde_json::Value {
    serde_json::json!({"type": "alert_cleared", "truck": truck, "at_ms": now_ms(), "kind": kind})
}

/// A position of `truck` (one event: the truck has no plan).
fn status(truck: &str) -> serde_json::Value {
    common::position_line(truck)
}

async fn ack(server: &TestServer, alert_id: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = server
        .client
        .post(server.url(&format!("/api/alerts/{alert_id}/ack")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    within(request.send()).await.unwrap()
}

async fn stream(server: &TestServer, token: &str, last_event_id: Option<EventId>) -> SseClient {
    let mut request = server
        .client
        .get(server.url("/api/stream?trucks=all"))
        .bearer_auth(token);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    let response = within(request.send()).await.unwrap();
    assert_eq!(response.status(), 200);
    SseClient {
        response,
        decoder: Decoder::new(),
        ended: false,
    }
}

/// Fleet events (checked as the app decodes them) up to and including event `id`.
async fn until(client: &mut SseClient, id: EventId) -> Vec<Envelope> {
    let mut out = Vec::new();
    loop {
        let event = client.next().await.expect("the stream goes on");
        if event.id.is_empty() {
            continue;
        }
        let envelope = decode_event(&event.event_type, &event.data, &event.id)
            .unwrap_or_else(|e| panic!("bad event {event:?}: {e}"));
        let last = envelope.id >= id;
        out.push(envelope);
        if last {
            return out;
        }
    }
}

fn acks(events: &[Envelope]) -> Vec<(EventId, String, EventId, String)> {
    events
        .iter()
        .filter_map(|e| match &e.event {
            FleetEvent::AlertAcked {
                truck,
                alert_id,
                by,
                ..
            } => Some((e.id, truck.clone(), *alert_id, by.clone())),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ack_is_logged_once_and_reaches_every_stream_whose_scope_includes_the_truck() {
    let dir = TempDir::new("alerts-ack");
    let server = server(&dir).await;
    let (ana, ben, cy) = (
        token("ana", &["T-01", "T-02"]),
        token("ben", &["T-01"]),
        token("cy", &["T-02"]),
    );
    // The trucks join the fleet on their first events; then the streams open.
    push(&server, &[status("T-01"), status("T-02")]).await;
    let mut ben_stream = stream(&server, &ben, None).await;
    let mut cy_stream = stream(&server, &cy, None).await;
    let ids = push(&server, &[raise("T-01", "temperature")]).await;
    let alert_id = ids[0];

    let response = ack(&server, &alert_id.to_string(), Some(&ana)).await;
    assert_eq!(response.status(), 200);
    let receipt: AckReceipt = response.json().await.unwrap();
    assert_eq!(
        (
            receipt.truck.as_str(),
            receipt.alert_id,
            receipt.by.as_str()
        ),
        ("T-01", alert_id, "ana")
    );
    assert!(receipt.event_id > alert_id && receipt.at_ms > 0);

    // Ben (T-01 in scope) gets the alert then its acknowledgement, with its name and time.
    let seen = until(&mut ben_stream, receipt.event_id).await;
    assert_eq!(
        acks(&seen),
        [(receipt.event_id, "T-01".into(), alert_id, "ana".into())]
    );
    let raised = seen.iter().find(|e| e.id == alert_id).expect("the alert");
    assert!(matches!(raised.event, FleetEvent::Alert { .. }));
    let Some(FleetEvent::AlertAcked { at_ms, .. }) = seen.last().map(|e| &e.event) else {
        panic!("the ack comes last: {seen:?}");
    };
    assert_eq!(*at_ms, receipt.at_ms);

    // Cy (T-02 only) gets nothing of T-01: an event on T-02 after the ack arrives first.
    let later = push(&server, &[status("T-02")]).await[0];
    let cy_seen = until(&mut cy_stream, later).await;
    assert!(
        cy_seen.iter().all(|e| e.event.truck() == "T-02"),
        "{cy_seen:?}"
    );

    // A second acknowledgement, by anyone, is a conflict that names the first.
    let again = ack(&server, &alert_id.to_string(), Some(&ben)).await;
    assert_eq!(again.status(), 409);
    let body: serde_json::Value = again.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("ana"), "{body}");

    // The fleet shows it acknowledged to every operator with the truck.
    let fleet: FleetSnapshot = within(
        server
            .client
            .get(server.url("/api/fleet"))
            .bearer_auth(&ben)
            .send(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let alert = &fleet.trucks[0].alerts[0];
    assert_eq!(alert.id, alert_id);
    assert_eq!(
        alert.acked,
        Some(AlertAck {
            by: "ana".into(),
            at_ms: receipt.at_ms
        })
    );

    // The log recorded it: a stream resuming from the alert replays the acknowledgement, once.
    let mut resumed = stream(&server, &ana, Some(alert_id)).await;
    let replayed = until(&mut resumed, later).await;
    assert_eq!(
        acks(&replayed),
        [(receipt.event_id, "T-01".into(), alert_id, "ana".into())]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acking_an_unknown_cleared_or_out_of_scope_alert_is_404_and_needs_a_session() {
    let dir = TempDir::new("alerts-404");
    let server = server(&dir).await;
    let (ben, cy) = (token("ben", &["T-01"]), token("cy", &["T-02"]));
    let ids = push(
        &server,
        &[raise("T-01", "delay"), raise("T-01", "off_route")],
    )
    .await;
    let (delay, off_route) = (ids[0], ids[1]);
    assert_eq!(ack(&server, &delay.to_string(), None).await.status(), 401);
    for (id, who, why) in [
        (delay.to_string(), &cy, "outside the scope"),
        ((off_route + 1000).to_string(), &ben, "never raised"),
        ("0".to_owned(), &ben, "zero"),
        ("abc".to_owned(), &ben, "not a number"),
    ] {
        let response = ack(&server, &id, Some(who)).await;
        assert_eq!(response.status(), 404, "{why}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(body["error"].is_string(), "{why}: {body}");
    }
    // Cleared, and replaced by a newer alert of its kind: both gone.
    push(
        &server,
        &[clear("T-01", "delay"), raise("T-01", "off_route")],
    )
    .await;
    assert_eq!(
        ack(&server, &delay.to_string(), Some(&ben)).await.status(),
        404
    );
    assert_eq!(
        ack(&server, &off_route.to_string(), Some(&ben))
            .await
            .status(),
        404
    );
    // The newer alert is the one that can be acknowledged.
    let current = server_alert_ids(&server, &ben).await;
    assert_eq!(current.len(), 1);
    assert_eq!(
        ack(&server, &current[0].to_string(), Some(&ben))
            .await
            .status(),
        200
    );
}

async fn server_alert_ids(server: &TestServer, token: &str) -> Vec<EventId> {
    let fleet: FleetSnapshot = within(
        server
            .client
            .get(server.url("/api/fleet"))
            .bearer_auth(token)
            .send(),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    fleet
        .trucks
        .iter()
        .flat_map(|t| t.alerts.iter().map(|a| a.id))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_concurrent_acks_exactly_one_is_appended() {
    let dir = TempDir::new("alerts-race");
    let server = server(&dir).await;
    let alert_id = push(&server, &[raise("T-07", "driver_hours")]).await[0];
    let operators: Vec<String> = (0..8).map(|i| token(&format!("op{i}"), &["*"])).collect();
    let answers = futures_join(&server, alert_id, &operators).await;
    let ok = answers.iter().filter(|&&s| s == 200).count();
    let conflict = answers.iter().filter(|&&s| s == 409).count();
    assert_eq!((ok, conflict), (1, 7), "{answers:?}");
    let mut resumed = stream(&server, &operators[0], Some(alert_id)).await;
    let marker = push(&server, &[status("T-07")]).await[0];
    assert_eq!(acks(&until(&mut resumed, marker).await).len(), 1);
}

async fn futures_join(server: &TestServer, alert_id: EventId, operators: &[String]) -> Vec<u16> {
    let mut tasks = Vec::new();
    for op in operators {
        let (client, url, op) = (
            server.client.clone(),
            server.url(&format!("/api/alerts/{alert_id}/ack")),
            op.clone(),
        );
        tasks.push(tokio::spawn(async move {
            within(client.post(url).bearer_auth(op).send())
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test]
async fn ingest_refuses_alert_acked_events() {
    let dir = TempDir::new("alerts-ingest");
    let server = server(&dir).await;
    let forged = serde_json::json!({
        "type": "alert_acked", "truck": "T-01", "at_ms": now_ms(), "alert_id": 5, "by": "mallory",
    });
    let response = within(
        server
            .client
            .post(server.url("/api/ingest"))
            .bearer_auth(INGEST)
            .body(forged.to_string())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 400);
}
