//! What the tests of the whole backend share: the three fakes with grid
//! nodes behind them and a funded user twin, the backend pointed at them, a
//! node request, a workload and its signed deployment, key rings, and
//! contracts put straight on the fake chain. The `tfgrid_monitor` bench
//! shares it too.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use jukebox::grid::Capacity;
use jukebox::grid::tfgrid::backend::{DeployTiming, TfGridBackend, TwinSettings};
use jukebox::grid::tfgrid::chain::terms::{DEFAULT_LINK, TermsSource};
use jukebox::grid::tfgrid::chain::{Terms, TfChain};
use jukebox::grid::tfgrid::discovery::{Discovery, DiscoverySettings};
use jukebox::grid::tfgrid::proxy::{GridProxy, ProxySettings};
use jukebox::grid::tfgrid::rmb::RmbSettings;
use jukebox::reservation::{Deployment, WorkloadSpec, build_deployment, sign};

// `super::`, not `crate::`: the tfgrid_monitor bench compiles this file
// and the fakes under a module of its own.
use super::fake_gridproxy::{FakeGridProxy, FakeNode};
use super::fake_relay::{Behaviour, FakeRelay};
use super::fake_tfchain::{ContractState as ChainState, FakeContract, FakeTfchain};

pub const TFT: u128 = 10_000_000;

pub struct Fakes {
    pub proxy: FakeGridProxy,
    pub relay: FakeRelay,
    pub chain: FakeTfchain,
    pub backend: TfGridBackend,
    pub user: SigningKey,
    pub twin: u32,
}

/// The three fakes with grid nodes 1-3 in Belgium (farm 1), their twins
/// 1001-1003 on chain and behind the relay, node `n` behaving as
/// `behaviours[n - 1]`. The nodes follow the chain (cancelled contracts,
/// callers' relay and `pk`) and put their relays in every reply, as
/// Zero-OS does: one relay for nodes 1 and 3, two for node 2.
pub async fn fakes(behaviours: [Behaviour; 3]) -> (FakeGridProxy, FakeRelay, FakeTfchain) {
    let proxy =
        FakeGridProxy::start((1..=3).map(|id| FakeNode::new(id, 1, "Belgium")).collect()).await;
    let relay = FakeRelay::start().await;
    let chain = FakeTfchain::start().await;
    for (i, behaviour) in behaviours.into_iter().enumerate() {
        let twin = 1001 + i as u32;
        let key = relay.add_node(twin, 100 + i as u8, behaviour);
        chain
            .world()
            .twins
            .insert(twin, (key.to_bytes(), "relay.fake".into()));
    }
    relay.set_node_relays(1002, &["relay.fake", "relay2.fake"]);
    relay.follow_chain(chain.view());
    (proxy, relay, chain)
}

/// [`fakes`], and a funded user with a twin.
pub async fn grid(behaviours: [Behaviour; 3], call_timeout: Duration) -> Fakes {
    let (proxy, relay, chain) = fakes(behaviours).await;
    let user = SigningKey::from_bytes(&[1; 32]);
    chain.fund(user.verifying_key().to_bytes(), 50 * TFT);

    let backend = build_backend(&proxy, &relay, &chain, call_timeout);
    let twin = backend.ensure_twin(&user).await.unwrap().0;
    // The relay learns twins from the chain.
    relay.register_twin(twin, user.verifying_key());
    Fakes {
        proxy,
        relay,
        chain,
        backend,
        user,
        twin,
    }
}

/// The real backend pointed at the three fakes.
pub fn build_backend(
    proxy: &FakeGridProxy,
    relay: &FakeRelay,
    chain: &FakeTfchain,
    call_timeout: Duration,
) -> TfGridBackend {
    backend_at(&proxy.url, &relay.url, &chain.url, call_timeout)
}

/// The real backend pointed at these addresses. Nothing is contacted yet:
/// the chain client connects on first use.
pub fn backend_at(proxy: &str, relay: &str, chain: &str, call_timeout: Duration) -> TfGridBackend {
    let proxy_client = GridProxy::new(ProxySettings {
        url: proxy.to_string(),
        timeout: Duration::from_secs(5),
        cache_ttl: Duration::ZERO,
    })
    .unwrap();
    let discovery = Discovery::new(Arc::new(proxy_client), DiscoverySettings::default());
    TfGridBackend::new(
        discovery,
        TfChain::new(chain, Duration::from_secs(10)),
        RmbSettings {
            relay_url: relay.to_string(),
            call_timeout,
            token_ttl: Duration::from_secs(60),
            session: "jukebox".into(),
        },
        TwinSettings {
            relay_domain: "relay.fake".into(),
            terms: TermsSource::Configured(Terms::parse(DEFAULT_LINK, TERMS_HASH).unwrap()),
        },
        DeployTiming {
            poll_interval: Duration::from_millis(10),
            deploy_timeout: Duration::from_secs(10),
        },
    )
}

/// The terms hash the fakes' twins accept, as an operator configures one.
pub const TERMS_HASH: &str = "cc6c00174f609cc33a945ffd3493714d";

pub fn healthy() -> Behaviour {
    Behaviour::Healthy { polls_until_ok: 1 }
}

pub fn need() -> Capacity {
    Capacity {
        cpu: 2,
        memory_mib: 4096,
        disk_gib: 50,
        public_ipv4: true,
    }
}

/// The workload the deployments of these tests run: one machine the size
/// of [`need`].
pub fn spec() -> WorkloadSpec {
    WorkloadSpec {
        name: "dash1".into(),
        flist: "https://hub.grid.tf/tf-official-apps/base:latest.flist".into(),
        entrypoint: "/sbin/zinit init".into(),
        cpu: 2,
        memory_mib: 4096,
        disk_gib: 50,
        public_ipv4: true,
        env: BTreeMap::new(),
        ssh_key: None,
    }
}

pub fn deployment(g: &Fakes, seed: u8, key: &SigningKey) -> Deployment {
    let mut d = build_deployment(g.twin, &spec(), &[seed; 32]).unwrap();
    sign(&mut d, g.twin, key);
    d
}

pub fn live_contracts(g: &Fakes) -> Vec<u64> {
    let world = g.chain.world();
    world
        .contracts
        .iter()
        .filter(|(_, c)| c.state != ChainState::Deleted)
        .map(|(id, _)| *id)
        .collect()
}

/// Puts node contracts (id to node and state) straight into the fake
/// chain's storage, all owned by twin 7.
pub fn put_contracts(chain: &FakeTfchain, contracts: &BTreeMap<u64, (u32, ChainState)>) {
    let mut world = chain.world();
    for (id, (node, state)) in contracts {
        let mut hash = [b'0'; 32];
        hash[..8].copy_from_slice(format!("{id:08}").as_bytes());
        world.contracts.insert(
            *id,
            FakeContract {
                twin: 7,
                node: *node,
                hash,
                data: b"{}".to_vec(),
                public_ips: 0,
                state: state.clone(),
            },
        );
    }
    world.seal();
}

/// What the grid proxy's indexer does: every contract on the fake chain,
/// in the proxy's `/contracts` JSON shape (tfgrid-sdk-go
/// `grid-proxy/pkg/types/contracts.go`: `Contract` with
/// `NodeContractDetails`), replaces the proxy's list. Tests call it when
/// the indexer has caught up, and leave it out to play one that lags.
pub fn index(proxy: &FakeGridProxy, chain: &FakeTfchain) {
    let world = chain.world();
    let contracts = world
        .contracts
        .iter()
        .map(|(id, c)| {
            let state = match c.state {
                ChainState::Created => "Created",
                ChainState::GracePeriod(_) => "GracePeriod",
                ChainState::Deleted => "Deleted",
            };
            serde_json::json!({
                "contract_id": id, "twin_id": c.twin, "state": state,
                "created_at": 1716200000, "type": "node",
                "details": {
                    "nodeId": c.node,
                    "deployment_data": String::from_utf8_lossy(&c.data),
                    "deployment_hash": String::from_utf8_lossy(&c.hash),
                    "number_of_public_ips": c.public_ips,
                    "farm_name": "Farm1", "farm_id": 1,
                },
            })
        })
        .collect();
    proxy.state().contracts = contracts;
}
