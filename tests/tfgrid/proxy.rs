//! The grid proxy client and discovery against the fake grid proxy: filters,
//! paging, random candidates, location menus, node reads, caching, and every
//! way the proxy can fail.

use std::time::Duration;

use jukebox::grid::tfgrid::discovery::{Discovery, DiscoverySettings};
use jukebox::grid::tfgrid::proxy::{GridProxy, NodeFilter, ProxyError, ProxySettings};
use jukebox::grid::{Capacity, GridError, GridNodeId, NodeStatus, Placement};

use super::fake_gridproxy::{FakeGridProxy, FakeNode, Fault};

fn settings(url: &str, cache_ttl: Duration) -> ProxySettings {
    ProxySettings {
        url: format!("{url}/"),
        timeout: Duration::from_secs(5),
        cache_ttl,
    }
}

fn client(fake: &FakeGridProxy) -> GridProxy {
    GridProxy::new(settings(&fake.url, Duration::ZERO)).unwrap()
}

fn discovery(fake: &FakeGridProxy, page_size: u32) -> Discovery {
    let proxy = GridProxy::new(settings(&fake.url, Duration::from_secs(30))).unwrap();
    Discovery::new(
        std::sync::Arc::new(proxy),
        DiscoverySettings {
            page_size,
            max_pages: 10,
            locations_ttl: Duration::from_secs(60),
        },
    )
}

fn need(ipv4: bool) -> Capacity {
    Capacity {
        cpu: 4,
        memory_mib: 8192,
        disk_gib: 100,
        public_ipv4: ipv4,
    }
}

/// The twin a test deploys as.
const OURS: u32 = 42;

/// Fifteen nodes: good ones in Belgium (farm 1) and Egypt (farm 2), idle
/// (no contracts, which upstream calls "dedicated") and busy alike, and one
/// of each kind that must never be chosen.
fn world() -> Vec<FakeNode> {
    let mut nodes: Vec<FakeNode> = (1..=4).map(|id| FakeNode::new(id, 1, "Belgium")).collect();
    nodes.extend((5..=7).map(|id| FakeNode::new(id, 2, "Egypt")));
    nodes[1] = nodes[1].clone().busy(3);
    nodes[5] = nodes[5].clone().busy(1);
    let bad = |id: u32, tweak: &dyn Fn(&mut FakeNode)| {
        let mut n = FakeNode::new(id, 3, "Belgium");
        tweak(&mut n);
        n
    };
    nodes.push(bad(8, &|n| n.status = "down"));
    nodes.push(bad(9, &|n| n.healthy = false));
    nodes.push(bad(10, &|n| n.used_mru_gib = 60)); // 4 GiB free, 8 needed
    nodes.push(bad(11, &|n| n.used_sru_gib = 1000)); // 24 GiB SSD free
    nodes.push(bad(12, &|n| n.dedicated_farm = true));
    nodes.push(bad(13, &|n| n.extra_fee = 50_000));
    nodes.push(bad(14, &|n| n.rented_by = Some(77)));
    // Rented by a twin of ours: Jukebox never rents, so listings leave it
    // out; a deploy by that very twin may use it.
    nodes.push(bad(15, &|n| n.rented_by = Some(OURS)));
    nodes
}

fn ids(nodes: &[jukebox::grid::GridNode]) -> Vec<u32> {
    let mut ids: Vec<u32> = nodes.iter().map(|n| n.id.0).collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn node_listing_sends_filters_and_reads_the_count_header() {
    let fake = FakeGridProxy::start(world()).await;
    let proxy = client(&fake);
    let filter = NodeFilter {
        up_only: true,
        country: Some("Belgium".into()),
        size: 2,
        page: 2,
        ret_count: true,
        ..NodeFilter::default()
    };
    let page = proxy.nodes(&filter).await.unwrap();
    // Belgium and up: 1-4 and 9-15 (8 is down).
    assert_eq!(page.count, Some(11));
    let got: Vec<u32> = page.nodes.iter().map(|n| n.node_id).collect();
    assert_eq!(got, vec![3, 4]);
    assert_eq!(page.nodes[0].free().mru, 64 << 30);
    assert_eq!(
        fake.take_requests(),
        vec!["/nodes?status=up&country=Belgium&size=2&page=2&ret_count=true"]
    );
}

#[tokio::test]
async fn candidates_have_room_and_respect_place_and_avoid() {
    let fake = FakeGridProxy::start(world()).await;
    let d = discovery(&fake, 100);
    let all = d
        .candidates(&need(false), &Placement::Random, &[], 50)
        .await
        .unwrap();
    assert_eq!(ids(&all), vec![1, 2, 3, 4, 5, 6, 7]);
    assert!(all.iter().all(|n| n.status == NodeStatus::Up));

    let egypt = Placement::Country("egypt".into());
    let got = d.candidates(&need(false), &egypt, &[], 50).await.unwrap();
    assert_eq!(ids(&got), vec![5, 6, 7]);
    assert!(
        got.iter()
            .all(|n| n.country == "Egypt" && n.farm_name == "Farm2")
    );

    let avoid = [GridNodeId(1), GridNodeId(3)];
    let got = d
        .candidates(&need(false), &Placement::Farm(1), &avoid, 50)
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![2, 4]);
    let got = d
        .candidates(&need(false), &Placement::Random, &[], 2)
        .await
        .unwrap();
    assert_eq!(got.len(), 2);
    assert!(
        d.candidates(&need(false), &Placement::Random, &[], 0)
            .await
            .unwrap()
            .is_empty()
    );

    let requests = fake.take_requests();
    assert!(
        requests
            .iter()
            .all(|r| r.contains("status=up&healthy=true&free_mru=8589934592")
                && r.contains("free_sru=109521666048")
                && r.contains("in_dedicated_farm=false&rented=false&randomize=true")
                // Upstream's `dedicated=false` would drop every idle node.
                && !r.contains("&dedicated=")),
        "{requests:?}"
    );
    assert!(
        requests[2].contains("farm_ids=1&excluded=1,3"),
        "{requests:?}"
    );
}

#[tokio::test]
async fn a_public_ipv4_needs_a_free_address_in_the_farm() {
    let mut nodes = world();
    for n in nodes.iter_mut().filter(|n| n.farm_id == 1) {
        n.farm_free_ips = 0;
    }
    let fake = FakeGridProxy::start(nodes).await;
    let d = discovery(&fake, 100);
    let got = d
        .candidates(&need(true), &Placement::Random, &[], 50)
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![5, 6, 7]);
    assert!(fake.take_requests()[0].contains("free_ips=1"));
    let got = d
        .candidates(&need(true), &Placement::Farm(1), &[], 50)
        .await
        .unwrap();
    assert!(got.is_empty());
}

#[tokio::test]
async fn nodes_a_careless_proxy_returns_are_checked_again() {
    let fake = FakeGridProxy::start(world()).await;
    fake.state().ignore_filters = true;
    let d = discovery(&fake, 100);
    let got = d
        .candidates(&need(false), &Placement::Random, &[GridNodeId(2)], 50)
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![1, 3, 4, 5, 6, 7]);
    let got = d
        .candidates(&need(false), &Placement::Country("Egypt".into()), &[], 50)
        .await
        .unwrap();
    assert_eq!(ids(&got), vec![5, 6, 7]);
    let menu = d.locations(&need(false)).await.unwrap();
    assert_eq!(
        menu.farms.iter().map(|f| f.id).collect::<Vec<_>>(),
        vec![1, 2]
    );
}

#[tokio::test]
async fn locations_count_fitting_nodes_across_pages_and_are_cached() {
    let fake = FakeGridProxy::start(world()).await;
    let d = discovery(&fake, 2);
    let menu = d.locations(&need(false)).await.unwrap();
    let countries: Vec<(String, u32)> = menu
        .countries
        .iter()
        .map(|c| (c.name.clone(), c.nodes))
        .collect();
    assert_eq!(countries, vec![("Belgium".into(), 4), ("Egypt".into(), 3)]);
    let farms: Vec<(u32, String, String, u32)> = menu
        .farms
        .iter()
        .map(|f| (f.id, f.name.clone(), f.country.clone(), f.nodes))
        .collect();
    assert_eq!(
        farms,
        vec![
            (1, "Farm1".into(), "Belgium".into(), 4),
            (2, "Farm2".into(), "Egypt".into(), 3)
        ]
    );
    // Eight nodes match (the extra-fee one, which the proxy cannot filter
    // out, is dropped here) in pages of two: five requests, then none at
    // all while the menu is fresh.
    let requests = fake.take_requests();
    assert_eq!(requests.len(), 5, "{requests:?}");
    assert!(
        requests[0].ends_with("size=2&page=1&ret_count=true"),
        "{requests:?}"
    );
    assert!(requests[4].ends_with("size=2&page=5"), "{requests:?}");
    assert_eq!(d.locations(&need(false)).await.unwrap(), menu);
    assert!(fake.take_requests().is_empty());
    // Another request is another menu.
    let with_ip = d.locations(&need(true)).await.unwrap();
    assert_eq!(with_ip, menu);
    assert!(!fake.take_requests().is_empty());
}

#[tokio::test]
async fn listing_stops_at_max_pages() {
    let nodes: Vec<FakeNode> = (1..=30)
        .map(|id| FakeNode::new(id, id, "Belgium"))
        .collect();
    let fake = FakeGridProxy::start(nodes).await;
    let proxy = GridProxy::new(settings(&fake.url, Duration::ZERO)).unwrap();
    let d = Discovery::new(
        std::sync::Arc::new(proxy),
        DiscoverySettings {
            page_size: 5,
            max_pages: 3,
            locations_ttl: Duration::ZERO,
        },
    );
    let menu = d.locations(&need(false)).await.unwrap();
    assert_eq!(menu.countries[0].nodes, 15);
    assert_eq!(fake.take_requests().len(), 3);
}

#[tokio::test]
async fn node_reads_are_cached_and_a_missing_node_is_unknown() {
    let fake = FakeGridProxy::start(world()).await;
    let d = discovery(&fake, 100);
    let node = d.node(GridNodeId(5)).await.unwrap();
    assert_eq!((node.node_id, node.farm_id, node.twin_id), (5, 2, 1005));
    // `/nodes/{id}` nests the resources under "capacity".
    assert_eq!(node.free().sru, 1024 << 30);
    assert_eq!(node.public_config.ipv4, "185.206.122.31/24");
    d.node(GridNodeId(5)).await.unwrap();
    assert_eq!(fake.take_requests(), vec!["/nodes/5"]);
    assert_eq!(
        d.node(GridNodeId(99)).await,
        Err(GridError::UnknownNode(GridNodeId(99)))
    );
}

#[tokio::test]
async fn an_unknown_parameter_is_a_refused_query() {
    let fake = FakeGridProxy::start(world()).await;
    // An older proxy that does not know the health filter.
    fake.state().unknown_params.insert("healthy".into());
    let d = discovery(&fake, 100);
    let err = d
        .candidates(&need(false), &Placement::Random, &[], 5)
        .await
        .unwrap_err();
    match err {
        GridError::Unavailable(m) => {
            assert!(
                m.contains("refused the query") && m.contains("healthy"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn server_errors_and_garbage_are_reported_not_trusted() {
    let fake = FakeGridProxy::start(world()).await;
    let proxy = client(&fake);
    let any = NodeFilter::default();
    fake.state()
        .faults
        .push(Fault::Status(502, "<html>Bad Gateway</html>".into()));
    fake.state()
        .faults
        .push(Fault::Status(500, r#"{"error":"database is down"}"#.into()));
    fake.state()
        .faults
        .push(Fault::Status(200, "[{\"nodeId\":".into()));
    assert_eq!(
        proxy.nodes(&any).await,
        Err(ProxyError::Server {
            status: 502,
            message: "<html>Bad Gateway</html>".into()
        })
    );
    let e = proxy.node(GridNodeId(1)).await.unwrap_err();
    assert_eq!(
        e,
        ProxyError::Server {
            status: 500,
            message: "database is down".into()
        }
    );
    let grid: GridError = e.into();
    assert!(matches!(&grid, GridError::Unavailable(m) if m.contains("database is down")));
    assert!(matches!(
        proxy.nodes(&any).await,
        Err(ProxyError::Decode(_))
    ));
    // The faults are spent: the proxy answers again.
    assert_eq!(proxy.nodes(&any).await.unwrap().nodes.len(), 15);
}

#[tokio::test]
async fn failed_answers_are_not_cached() {
    let fake = FakeGridProxy::start(world()).await;
    let d = discovery(&fake, 100);
    fake.state()
        .faults
        .push(Fault::Status(503, "{\"error\":\"busy\"}".into()));
    assert!(matches!(
        d.node(GridNodeId(1)).await,
        Err(GridError::Unavailable(_))
    ));
    assert_eq!(d.node(GridNodeId(1)).await.unwrap().node_id, 1);
}

#[tokio::test(start_paused = true)]
async fn a_silent_proxy_times_out() {
    let fake = FakeGridProxy::start(world()).await;
    fake.state().faults.push(Fault::Hang);
    let proxy = client(&fake);
    let err = proxy.nodes(&NodeFilter::default()).await.unwrap_err();
    assert_eq!(err, ProxyError::Timeout(Duration::from_secs(5)));
}

#[tokio::test]
async fn an_unreachable_proxy_is_unavailable() {
    // A port nothing listens on.
    let (_refusing, addr) = crate::support::refusing_addr();
    let url = format!("http://{addr}");
    let proxy = GridProxy::new(settings(&url, Duration::ZERO)).unwrap();
    assert!(matches!(
        proxy.nodes(&NodeFilter::default()).await,
        Err(ProxyError::Unreachable(_))
    ));
}

/// One node of each kind the chain's rule tells apart, all in Belgium.
fn kinds() -> Vec<FakeNode> {
    let node = |id| FakeNode::new(id, 1, "Belgium");
    vec![
        node(1),                                // idle, shared farm
        node(2).busy(2),                        // busy, shared farm
        node(3).busy(1).with_extra_fee(90_000), // busy, for renters
        node(4).rented_by(OURS),                // rented by our twin
        node(5).busy(1).rented_by(77),          // rented by another twin
        node(6).in_dedicated_farm(),            // idle, dedicated farm
    ]
}

/// `GET /nodes?<query>` on the fake, as raw JSON: the fake's own answers,
/// checked against upstream's semantics.
async fn raw_nodes(fake: &FakeGridProxy, query: &str) -> (u16, serde_json::Value) {
    let response = reqwest::get(format!("{}/nodes?{query}", fake.url))
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn node_ids(body: &serde_json::Value) -> Vec<u64> {
    let mut ids: Vec<u64> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["nodeId"].as_u64().unwrap())
        .collect();
    ids.sort();
    ids
}

/// The fake's fields and filters are upstream's (tfgrid-sdk-go grid-proxy:
/// `internal/explorer/converters.go` for the fields, `db/postgres.go`
/// `GetNodes` for the filters), mistakes of meaning included.
#[tokio::test]
async fn the_fake_proxy_tells_nodes_apart_as_upstream_does() {
    let fake = FakeGridProxy::start(kinds()).await;
    let (_, all) = raw_nodes(&fake, "").await;
    let field = |name: &str| -> Vec<bool> {
        all.as_array()
            .unwrap()
            .iter()
            .map(|n| n[name].as_bool().unwrap())
            .collect()
    };
    // `dedicated`: farm dedicated OR no contracts OR rented OR extra fee.
    assert_eq!(field("dedicated"), [true, false, true, true, true, true]);
    assert_eq!(field("rented"), [false, false, false, true, true, false]);
    assert_eq!(field("rentable"), [true, false, false, false, false, true]);
    assert_eq!(
        field("inDedicatedFarm"),
        [false, false, false, false, false, true]
    );
    assert_eq!(all[3]["rentedByTwinId"], OURS);
    assert_eq!(all[2]["extraFee"], 90_000);

    // The `dedicated` filter has no extra fee in it, and drops idle nodes.
    assert_eq!(
        node_ids(&raw_nodes(&fake, "dedicated=false").await.1),
        [2, 3]
    );
    assert_eq!(
        node_ids(&raw_nodes(&fake, &format!("available_for={OURS}")).await.1),
        [1, 2, 4]
    );
    assert_eq!(
        node_ids(&raw_nodes(&fake, "available_for=77").await.1),
        [1, 2, 5]
    );
    assert_eq!(
        node_ids(
            &raw_nodes(&fake, "in_dedicated_farm=false&rented=false")
                .await
                .1
        ),
        [1, 2, 3]
    );
    assert_eq!(node_ids(&raw_nodes(&fake, "rented_by=77").await.1), [5]);
    assert_eq!(node_ids(&raw_nodes(&fake, "rentable=true").await.1), [1, 6]);
    // Empty values are ignored; bad ones and unknown names are a 400.
    assert_eq!(node_ids(&raw_nodes(&fake, "rented=").await.1).len(), 6);
    assert_eq!(raw_nodes(&fake, "rented=maybe").await.0, 400);
    assert_eq!(raw_nodes(&fake, "rented_by=me").await.0, 400);
    assert_eq!(raw_nodes(&fake, "shared=true").await.0, 400);
}

#[tokio::test]
async fn discovery_offers_what_the_chain_lets_any_twin_of_ours_use() {
    let fake = FakeGridProxy::start(kinds()).await;
    let d = discovery(&fake, 100);
    let small = Capacity {
        cpu: 1,
        memory_mib: 1024,
        disk_gib: 10,
        public_ipv4: false,
    };
    let got = d
        .candidates(&small, &Placement::Random, &[], 10)
        .await
        .unwrap();
    // Idle and busy shared nodes; never one for renters or rented.
    assert_eq!(ids(&got), [1, 2]);
    let menu = d.locations(&small).await.unwrap();
    assert_eq!(menu.countries[0].nodes, 2);

    // Before a contract, the deploying twin itself is asked about: the
    // node its own rent contract holds fits, another's never does.
    let fits = |n: &jukebox::grid::tfgrid::proxy::ProxyNode, twin| {
        jukebox::grid::tfgrid::discovery::fits(n, &small, twin)
    };
    let mine = d.node(GridNodeId(4)).await.unwrap();
    assert!(fits(&mine, Some(OURS)) && !fits(&mine, Some(43)) && !fits(&mine, None));
    let theirs = d.node(GridNodeId(5)).await.unwrap();
    assert!(!fits(&theirs, Some(OURS)));
    for renters_only in [3, 6] {
        let node = d.node(GridNodeId(renters_only)).await.unwrap();
        assert!(!fits(&node, Some(OURS)), "node {renters_only}");
    }
    assert!(fits(&d.node(GridNodeId(1)).await.unwrap(), Some(OURS)));
}

#[tokio::test]
async fn a_farm_of_extra_fee_nodes_does_not_hide_its_one_open_node() {
    // The proxy cannot filter extra fees out: a random page of this farm
    // is mostly nodes the local check drops.
    let mut nodes: Vec<FakeNode> = (1..=40)
        .map(|id| FakeNode::new(id, 9, "Belgium").with_extra_fee(10_000))
        .collect();
    nodes.push(FakeNode::new(41, 9, "Belgium"));
    let fake = FakeGridProxy::start(nodes).await;
    let d = discovery(&fake, 10);
    for _ in 0..5 {
        let got = d
            .candidates(&need(false), &Placement::Farm(9), &[], 1)
            .await
            .unwrap();
        assert_eq!(ids(&got), [41]);
    }
    let menu = d.locations(&need(false)).await.unwrap();
    assert_eq!(menu.farms.len(), 1);
    assert_eq!(menu.farms[0].nodes, 1);
}
