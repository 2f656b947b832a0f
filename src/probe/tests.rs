//! [`NetProbe`] against real listeners on 127.0.0.1: an open port, a closed
//! one, an HTTP server answering 200 and 503, and one that accepts but never
//! answers. Nothing beyond loopback is touched.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tokio::net::TcpListener;

use super::*;

const TIMEOUT: Duration = Duration::from_millis(200);

fn probe() -> NetProbe {
    NetProbe { timeout: TIMEOUT }
}

fn target(hosts: &[&str], tcp: Option<u16>, http: Option<(u16, &str)>) -> ProbeTarget {
    ProbeTarget {
        contract: ContractId(1),
        hosts: hosts.iter().map(|h| h.to_string()).collect(),
        check: HealthCheck {
            tcp,
            http: http.map(|(port, path)| HttpCheck {
                port,
                path: path.to_string(),
            }),
        },
    }
}

/// A port nothing listens on: bound, then released.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    listener.local_addr().expect("addr").port()
}

/// A listener that accepts connections and holds them without a word.
async fn silent_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    port
}

/// An HTTP server: `/status` answers 200, `/sick` 503.
async fn http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
    let port = listener.local_addr().expect("addr").port();
    let app = Router::new()
        .route("/status", get(|| async { "ok" }))
        .route("/sick", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

#[tokio::test]
async fn tcp_check_sees_open_and_closed_ports() {
    let open = silent_listener().await;
    let closed = closed_port().await;
    let health = probe()
        .probe(&target(&["127.0.0.1"], Some(open), None))
        .await;
    assert_eq!(health, AppHealth::Healthy);
    let health = probe()
        .probe(&target(&["127.0.0.1"], Some(closed), None))
        .await;
    let want = format!("port {closed} refused the connection");
    assert_eq!(health, AppHealth::Unhealthy(want));
}

#[tokio::test]
async fn http_check_wants_a_2xx() {
    let port = http_server().await;
    let ok = target(&["127.0.0.1"], None, Some((port, "/status")));
    assert_eq!(probe().probe(&ok).await, AppHealth::Healthy);
    let sick = target(&["127.0.0.1"], Some(port), Some((port, "sick")));
    let want = format!("GET /sick on port {port} answered 503 Service Unavailable");
    assert_eq!(probe().probe(&sick).await, AppHealth::Unhealthy(want));
    let closed = closed_port().await;
    let refused = target(&["127.0.0.1"], None, Some((closed, "/status")));
    let want = format!("port {closed} refused the connection");
    assert_eq!(probe().probe(&refused).await, AppHealth::Unhealthy(want));
}

#[tokio::test]
async fn a_silent_http_server_times_out() {
    let port = silent_listener().await;
    let started = std::time::Instant::now();
    let health = probe()
        .probe(&target(&["127.0.0.1"], Some(port), Some((port, "/status"))))
        .await;
    let want = format!("GET /status on port {port} did not answer within 200 ms");
    assert_eq!(health, AppHealth::Unhealthy(want));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn the_first_host_that_answers_decides() {
    let port = http_server().await;
    // Only 127.0.0.1 is bound: 127.0.0.2 (also loopback) refuses.
    let fallback = target(&["127.0.0.2", "127.0.0.1"], Some(port), None);
    assert_eq!(probe().probe(&fallback).await, AppHealth::Healthy);
    // The first host answered on tcp, so its HTTP failure is the verdict;
    // the healthy-looking second host is not consulted.
    let closed = closed_port().await;
    let verdict = target(
        &["127.0.0.1", "127.0.0.1"],
        Some(port),
        Some((closed, "/status")),
    );
    let want = format!("port {closed} refused the connection");
    assert_eq!(probe().probe(&verdict).await, AppHealth::Unhealthy(want));
    // Nobody answers: the first host's failure is reported.
    let none = target(&["127.0.0.2", "127.0.0.3"], Some(closed), None);
    let want = format!("port {closed} refused the connection");
    assert_eq!(probe().probe(&none).await, AppHealth::Unhealthy(want));
}

#[tokio::test]
async fn nothing_to_check_is_healthy() {
    let no_hosts = target(&[], Some(1), None);
    assert_eq!(probe().probe(&no_hosts).await, AppHealth::Healthy);
    let no_check = target(&["127.0.0.1"], None, None);
    assert_eq!(probe().probe(&no_check).await, AppHealth::Healthy);
}

#[test]
fn urls_bracket_ipv6_literals() {
    let check = HttpCheck {
        port: 26657,
        path: "/status".into(),
    };
    assert_eq!(url_for("1.2.3.4", &check), "http://1.2.3.4:26657/status");
    assert_eq!(url_for("2a02::1", &check), "http://[2a02::1]:26657/status");
    assert_eq!(
        url_for("node.example", &check),
        "http://node.example:26657/status"
    );
    assert_eq!(human(Duration::from_secs(5)), "5 s");
    assert_eq!(human(TIMEOUT), "200 ms");
}
