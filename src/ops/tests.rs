//! The ops listener on 127.0.0.1:0 with a fake [`Readiness`], asked over
//! plain HTTP with reqwest. Nothing beyond loopback is touched.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::sync::oneshot;

use super::*;

/// Readiness with canned answers; `sample` counts its calls into a gauge.
#[derive(Default)]
struct Fake {
    store: Option<String>,
    grid: Option<String>,
    /// Checks never answer, to exercise [`CHECK_TIMEOUT`].
    hang: bool,
    samples: AtomicU32,
}

#[async_trait]
impl Readiness for Fake {
    async fn store_writable(&self) -> anyhow::Result<()> {
        self.answer(&self.store).await
    }

    async fn grid_reachable(&self) -> anyhow::Result<()> {
        self.answer(&self.grid).await
    }

    async fn sample(&self, metrics: &Metrics) {
        let n = self.samples.fetch_add(1, Ordering::SeqCst) + 1;
        let running = [("state", "running")];
        metrics.set_gauge(
            "jukebox_nodes",
            "Nodes by state.",
            &running,
            f64::from(n) + 2.0,
        );
    }
}

impl Fake {
    async fn answer(&self, failure: &Option<String>) -> anyhow::Result<()> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        failure
            .clone()
            .map_or(Ok(()), |why| Err(anyhow::anyhow!(why)))
    }
}

/// A listener on a free port; sending on (or dropping) the sender stops it.
async fn start(fake: Fake) -> (OpsServer, Metrics, oneshot::Sender<()>) {
    let metrics = Metrics::new();
    let (tx, rx) = oneshot::channel::<()>();
    let stop = async {
        let _ = rx.await;
    };
    let server = serve("127.0.0.1:0", metrics.clone(), Arc::new(fake), stop)
        .await
        .expect("binds a free port");
    (server, metrics, tx)
}

async fn get(server: &OpsServer, path: &str) -> (u16, String, String) {
    let url = format!("http://{}{path}", server.addr);
    let response = reqwest::get(&url).await.expect("the listener answers");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn healthz_answers_ok() {
    let (server, _, _stop) = start(Fake::default()).await;
    let (status, content_type, body) = get(&server, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    assert!(content_type.starts_with("text/plain"), "{content_type}");
}

#[tokio::test]
async fn readyz_is_ready_when_every_check_passes() {
    let (server, _, _stop) = start(Fake::default()).await;
    let (status, _, body) = get(&server, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
}

#[tokio::test]
async fn readyz_names_each_failing_check() {
    let fake = Fake {
        grid: Some("connection refused".into()),
        ..Fake::default()
    };
    let (server, _, _stop) = start(fake).await;
    let (status, _, body) = get(&server, "/readyz").await;
    assert_eq!((status, body.as_str()), (503, "grid: connection refused\n"));

    let fake = Fake {
        store: Some("disk full\nreally".into()),
        grid: Some("timeout".into()),
        ..Fake::default()
    };
    let (server, _, _stop) = start(fake).await;
    let (status, _, body) = get(&server, "/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(body, "store: disk full really\ngrid: timeout\n");
}

#[tokio::test(start_paused = true)]
async fn a_hung_check_fails_after_the_timeout() {
    let fake = Fake {
        hang: true,
        ..Fake::default()
    };
    let started = tokio::time::Instant::now();
    let failures = check(&fake).await.unwrap_err();
    assert_eq!(started.elapsed(), CHECK_TIMEOUT);
    assert_eq!(
        failures,
        "store: no answer within 5s\ngrid: no answer within 5s\n"
    );
}

#[tokio::test]
async fn metrics_renders_counters_and_sampled_gauges() {
    let (server, metrics, _stop) = start(Fake::default()).await;
    metrics.payment_received();
    metrics.observe_update("tg", 0.003);
    let (status, content_type, body) = get(&server, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(content_type, METRICS_CONTENT_TYPE);
    assert!(
        body.contains("\njukebox_payments_received_total 1\n"),
        "{body}"
    );
    assert!(
        body.contains("\njukebox_updates_total{channel=\"tg\"} 1\n"),
        "{body}"
    );
    assert!(
        body.contains("\njukebox_nodes{state=\"running\"} 3\n"),
        "{body}"
    );
    // Sampled again on every scrape.
    let (_, _, body) = get(&server, "/metrics").await;
    assert!(
        body.contains("\njukebox_nodes{state=\"running\"} 4\n"),
        "{body}"
    );
}

#[tokio::test]
async fn other_paths_are_not_found() {
    let (server, _, _stop) = start(Fake::default()).await;
    for path in ["/", "/metrics/x", "/health", "/readyz/"] {
        let (status, _, _) = get(&server, path).await;
        assert_eq!(status, 404, "{path}");
    }
}

#[tokio::test]
async fn stop_closes_the_port() {
    let (server, _, stop) = start(Fake::default()).await;
    let addr = server.addr;
    assert_eq!(get(&server, "/healthz").await.0, 200);
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), server.stopped())
        .await
        .expect("stops promptly")
        .expect("stops cleanly");
    let refused = tokio::net::TcpStream::connect(addr).await;
    assert!(refused.is_err(), "the port still accepts connections");
}

#[tokio::test]
async fn binding_a_taken_port_names_the_address() {
    let (server, _, _stop) = start(Fake::default()).await;
    let taken = server.addr.to_string();
    let Err(e) = serve(&taken, Metrics::new(), Arc::new(Fake::default()), async {}).await else {
        panic!("bound {taken} twice");
    };
    assert!(format!("{e:#}").contains(&taken), "{e:#}");
    let Err(e) = serve(
        "not an address",
        Metrics::new(),
        Arc::new(Fake::default()),
        async {},
    )
    .await
    else {
        panic!("bound nonsense");
    };
    assert!(format!("{e:#}").contains("not an address"), "{e:#}");
}
