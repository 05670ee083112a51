//! `--tls`: HTTPS with HTTP/2 by ALPN, several streams multiplexed on one connection, and the
//! stats telling HTTP/2 apart.

mod common;

use axum::body::Body;
use common::{config, within, TempDir, TestServer};
use convoy_core::sse::Decoder;
use convoy_core::wire::decode_event;
use convoy_server::stats::StatsReport;
use convoy_server::tls::TlsSource;
use convoy_server::Config;
use futures_util::StreamExt;
use hyper::client::conn::http2::SendRequest;
use hyper::{Request, Version};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

async fn get(send: &mut SendRequest<Body>, path: &str) -> hyper::Response<Body> {
    let request = Request::get(format!("https://localhost{path}"))
        .body(Body::empty())
        .unwrap();
    let response = within(send.send_request(request)).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    response.map(Body::new)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_http2_and_multiplexes_streams() {
    let dir = TempDir::new("tls");
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    dir.write("cert.pem", certified.cert.pem().as_bytes());
    dir.write("key.pem", certified.key_pair.serialize_pem().as_bytes());
    let server = TestServer::start(Config {
        tls: Some(TlsSource::Pem {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
        }),
        ..config()
    })
    .await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(server.addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let tls = within(TlsConnector::from(Arc::new(client)).connect(name, tcp))
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
            .await
            .unwrap();
    tokio::spawn(connection);

    // Two streams on the one connection, both flowing.
    let mut bodies = Vec::new();
    for query in ["?trucks=T-01", "?trucks=T-02"] {
        let response = get(&mut send, &format!("/api/stream{query}")).await;
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        bodies.push(response.into_body().into_data_stream());
    }
    for (body, truck) in bodies.iter_mut().zip(["T-01", "T-02"]) {
        let mut decoder = Decoder::new();
        let event = within(async {
            loop {
                if let Some(event) = decoder.poll_event() {
                    return event;
                }
                let chunk = body.next().await.expect("stream ended").unwrap();
                decoder.feed(&chunk);
            }
        })
        .await;
        let envelope = decode_event(&event.event_type, &event.data, &event.id).unwrap();
        assert_eq!(envelope.event.truck(), truck);
    }

    let response = get(&mut send, "/api/stats").await;
    let mut bytes = Vec::new();
    let mut body = response.into_body().into_data_stream();
    while let Some(chunk) = within(body.next()).await {
        bytes.extend_from_slice(&chunk.unwrap());
    }
    let stats: StatsReport = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(stats.open_streams, 2);
    for stream in &stats.streams {
        assert_eq!(stream.http_version, "HTTP/2.0");
    }
}
