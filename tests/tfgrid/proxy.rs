//! The grid proxy client and discovery against the fake grid proxy: filters,
//! paging, random candidates, location menus, node reads, caching, and every
//! way the proxy can fail.

use std::time::Duration;

use jukebox::grid::tfgrid::discovery::{Discovery, DiscoverySettings};
use jukebox::grid::tfgrid::proxy::{GridProxy, NodeFilter, ProxyError, ProxySettings};
use jukebox::grid::{Capacity, GridError, GridNodeId, NodeStatus, Placement};

use crate::fake_gridproxy::{FakeGridProxy, FakeNode, Fault};

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

/// Twelve nodes: good ones in Belgium (farm 1) and Egypt (farm 2), and one of
/// each kind that must never be chosen.
fn world() -> Vec<FakeNode> {
    let mut nodes: Vec<FakeNode> = (1..=4).map(|id| FakeNode::new(id, 1, "Belgium")).collect();
    nodes.extend((5..=7).map(|id| FakeNode::new(id, 2, "Egypt")));
    let bad = |id: u32, tweak: &dyn Fn(&mut FakeNode)| {
        let mut n = FakeNode::new(id, 3, "Belgium");
        tweak(&mut n);
        n
    };
    nodes.push(bad(8, &|n| n.status = "down"));
    nodes.push(bad(9, &|n| n.healthy = false));
    nodes.push(bad(10, &|n| n.used_mru_gib = 60)); // 4 GiB free, 8 needed
    nodes.push(bad(11, &|n| n.used_sru_gib = 1000)); // 24 GiB SSD free
    nodes.push(bad(12, &|n| n.dedicated = true));
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
    // Belgium and up: 1-4 and 9-12 (8 is down).
    assert_eq!(page.count, Some(8));
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
                && r.contains("dedicated=false&rented=false&randomize=true")),
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
    // Seven fitting nodes in pages of two: four requests, then none at all
    // while the menu is fresh.
    let requests = fake.take_requests();
    assert_eq!(requests.len(), 4, "{requests:?}");
    assert!(
        requests[0].ends_with("size=2&page=1&ret_count=true"),
        "{requests:?}"
    );
    assert!(requests[3].ends_with("size=2&page=4"), "{requests:?}");
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
    assert_eq!(proxy.nodes(&any).await.unwrap().nodes.len(), 12);
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
    // A port nothing listens on: bind one, then free it.
    let url = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let proxy = GridProxy::new(settings(&url, Duration::ZERO)).unwrap();
    assert!(matches!(
        proxy.nodes(&NodeFilter::default()).await,
        Err(ProxyError::Unreachable(_))
    ));
}
