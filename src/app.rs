//! Builds a running Jukebox from its configuration: store, keys, engine,
//! grid, wallet and service, wired together once ([`build`] and friends),
//! and the whole process around it ([`App`] in `app/process.rs`: channels,
//! listeners, background workers; `app/logging.rs`: where the log goes).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::alerts::AlertQueue;
use crate::channel::Outbox;
use crate::clock::Clock;
use crate::config::{Config, GridKind, PaymentsKind};
use crate::config::{FUNDER_SEED_ENV, funder_key};
use crate::crypto::MasterKey;
use crate::dialogue::Engine;
use crate::dialogue_dir::load_dir;
use crate::grid::Grid;
use crate::grid::sim::SimGrid;
use crate::grid::tfgrid::adapter::TfGrid;
use crate::grid::tfgrid::backend::TfGridBackend;
use crate::grid::tfgrid::chain::TfChain;
use crate::payments::Wallet;
use crate::payments::bridge::BridgeWallet;
use crate::payments::sandbox::SandboxWallet;
use crate::payments::stellar::{StellarSettings, StellarWallet};
use crate::probe::{AppProbe, ChainProbe, NetChainProbe, NetProbe};
use crate::service::{Parts, Service, ServiceSettings};
use crate::store::Store;

/// The RMB session Jukebox's twins connect as.
const RMB_SESSION: &str = "jukebox";

mod logging;
mod process;
#[cfg(test)]
mod tests;

pub use logging::init_logging;
pub use process::{App, Background, Setup, as_is, process_env, shutdown_signal};

/// Compiles scripts and catalog for `config`; the error lists every problem.
pub fn build_engine(config: &Config) -> Result<Engine, crate::diagnostics::Diagnostics> {
    let (catalog, scripts) = load_dir(&config.dialogues_dir)?;
    Ok(Engine::new(
        scripts,
        catalog,
        config.pricing.clone(),
        config.max_nodes_per_order,
        config.conversation_ttl_hours * 3600,
    ))
}

/// A built service, and the simulated grid when that is the grid in use
/// (its churn runs in the background; operators inject faults). [`App`]
/// builds the process around it.
pub struct Core {
    pub service: Service,
    pub sim: Option<SimGrid>,
}

/// The service core alone, with the process environment for secrets: what
/// the benches measure (the engine and the monitor, not the channels). The
/// binary and the tests start the whole process with [`App::build`].
pub fn build_service(
    config: &Config,
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Service> {
    build(config, outbox, clock).map(|app| app.service)
}

/// [`build_service`], with the simulated grid when it is the grid in use.
pub fn build(
    config: &Config,
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Core> {
    build_wrapped(
        config,
        outbox,
        clock,
        &|name| std::env::var(name).ok(),
        &|grid| grid,
        None,
        None,
    )
}

/// The service core, with secrets (`JUKEBOX_MASTER_KEY`,
/// `JUKEBOX_TFCHAIN_FUNDER_SEED`) read through `env` and the grid seen
/// through `wrap` (how the crash tests stop a process at a chosen moment of
/// its grid work); [`App::build`] is its one caller.
pub(crate) fn build_wrapped(
    config: &Config,
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
    env: &dyn Fn(&str) -> Option<String>,
    wrap: &dyn Fn(Arc<dyn Grid>) -> Arc<dyn Grid>,
    chain_probe: Option<Arc<dyn ChainProbe>>,
    node_status_probe: Option<Arc<dyn crate::probe::NodeStatusProbe>>,
) -> anyhow::Result<Core> {
    let engine = build_engine(config)
        .map_err(|d| anyhow::anyhow!("the scripts or catalog have errors:\n{d}"))?;
    // The key first: opening the store tidies temporary files in the data
    // dir, where the key file may be being created.
    let env_key = env("JUKEBOX_MASTER_KEY");
    let master = MasterKey::load_or_create(&config.master_key_path(), env_key.as_deref())?;
    let store = Arc::new(
        Store::open(&config.data_dir)
            .with_context(|| format!("opening data dir {}", config.data_dir.display()))?,
    );
    let audit = {
        let store = store.clone();
        crate::audit::AuditLog::open(&config.data_dir.join("audit"), move |u| store.user_dir(u))?
    };
    let master = Arc::new(master);
    let grids = open_grid(config, env(FUNDER_SEED_ENV), clock.clone())?;
    let (wallet, sandbox) = open_wallet(config)?;
    let alerts = AlertQueue::open(&config.data_dir.join("alerts"))?;
    let operators = config
        .admin
        .operator_ids()
        .map_err(|e| anyhow::anyhow!("admin.{e}"))?;
    let service = Service::new(Parts {
        engine: Arc::new(engine),
        store,
        master,
        grid: wrap(grids.grid),
        probe: grids.probe,
        chain_probe: chain_probe.unwrap_or(grids.chain_probe),
        node_status_probe: node_status_probe.unwrap_or(grids.node_status_probe),
        sim: grids.sim.clone(),
        wallet,
        sandbox,
        outbox,
        alerts,
        metrics: crate::metrics::Metrics::new(),
        audit,
        clock,
        settings: ServiceSettings {
            payment_ttl_secs: config.payments.request_ttl_minutes * 60,
            funding: config.billing.rules(),
            monitor: config.monitor.clone(),
            operators,
            orphan_delay_secs: config.reconciler.orphan_delay_minutes * 60,
            ..ServiceSettings::default()
        },
    });
    Ok(Core {
        service,
        sim: grids.sim,
    })
}

/// The grid in use, how its nodes' applications are probed, and the
/// simulation again when that is the grid (for churn and faults).
struct Grids {
    grid: Arc<dyn Grid>,
    probe: Arc<dyn AppProbe>,
    /// How nodes' chains are read.
    chain_probe: Arc<dyn ChainProbe>,
    /// How nodes' network dashboards are read.
    node_status_probe: Arc<dyn crate::probe::NodeStatusProbe>,
    sim: Option<SimGrid>,
}

/// The grid `grid.kind` names. Nothing here touches the network: the real
/// grid's clients connect on first use.
fn open_grid(
    config: &Config,
    funder_seed: Option<String>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Grids> {
    match config.grid.kind {
        GridKind::Sim => {
            let sim = SimGrid::open(&config.data_dir.join("grid-sim"), config.grid.sim.clone())?
                .with_clock(clock);
            return Ok(Grids {
                grid: Arc::new(sim.clone()),
                // SIMULATION: the embedded grid's nodes have no real address to
                // probe, so it answers the application checks itself, and
                // its simulated chains answer the chain checks.
                probe: Arc::new(sim.clone()),
                chain_probe: Arc::new(sim.clone()),
                node_status_probe: Arc::new(sim.clone()),
                sim: Some(sim),
            });
        }
        GridKind::Tfgrid => {}
    }
    let funder = match funder_seed {
        Some(seed) => {
            Some(funder_key(&seed).map_err(|e| anyhow::anyhow!("{FUNDER_SEED_ENV}: {e}"))?)
        }
        None => {
            tracing::warn!(
                "{FUNDER_SEED_ENV} is not set: new identities' TFChain accounts must be funded by hand before their twins can be created"
            );
            None
        }
    };
    let backend = TfGridBackend::from_config(
        config.grid.network,
        &config.grid.tfgrid,
        RMB_SESSION,
        funder,
    )
    .map_err(|e| anyhow::anyhow!("grid.tfgrid: {e}"))?;
    Ok(Grids {
        grid: Arc::new(TfGrid::new(backend)),
        probe: Arc::new(NetProbe {
            timeout: std::time::Duration::from_secs(config.monitor.probe_timeout_seconds),
        }),
        // Bounded by `chain_probe_concurrency` where the monitor asks.
        chain_probe: Arc::new(NetChainProbe {
            timeout: std::time::Duration::from_secs(config.monitor.chain_probe_timeout_seconds),
        }),
        node_status_probe: Arc::new(crate::probe::NetNodeStatusProbe {
            timeout: std::time::Duration::from_secs(config.monitor.chain_probe_timeout_seconds),
        }),
        sim: None,
    })
}

/// Replaces `[pricing]` with what TFChain bills with (pricing policy 1 and
/// the TFT price billing uses: the average held between the chain's floor
/// and ceiling), so quotes and burn rates match the real bills, and takes
/// the bridge's deposit fee from TFChain too. For the real grid only; the
/// caller decides what to do when TFChain cannot be read (the fee then
/// stays at its 1 TFT fallback).
pub async fn use_chain_prices(config: &mut Config) -> anyhow::Result<()> {
    let endpoints = config
        .grid
        .tfgrid
        .endpoints(config.grid.network)
        .map_err(|e| anyhow::anyhow!("grid.tfgrid: {e}"))?;
    let chain = TfChain::connect(&endpoints.tfchain, config.grid.tfgrid.finality_timeout()).await?;
    config.payments.bridge_deposit_fee = match chain.bridge_deposit_fee().await {
        Ok(units) => i64::try_from(units).ok().map(crate::money::Tft::from_units),
        Err(e) => {
            tracing::warn!(error = %e, "the bridge's deposit fee could not be read from TFChain; assuming 1 TFT");
            None
        }
    };
    config.pricing = chain.price_list(1).await?;
    Ok(())
}

/// The wallet in use, and the sandbox again when that is it (for its buttons).
type Wallets = (Arc<dyn Wallet>, Option<Arc<SandboxWallet>>);

/// The wallet `payments.kind` names.
fn open_wallet(config: &Config) -> anyhow::Result<Wallets> {
    match config.payments.kind {
        PaymentsKind::Bridge => {
            let wallet = BridgeWallet::for_network(
                config.grid.network,
                &config.payments.bridge_vault,
                config.payments.stellar.network,
            )
            .map_err(|e| anyhow::anyhow!("payments: {e}"))?
            .with_deposit_fee(config.payments.bridge_deposit_fee);
            Ok((Arc::new(wallet), None))
        }
        PaymentsKind::Stellar => {
            let settings = StellarSettings::from_config(&config.payments.stellar)?;
            let wallet = StellarWallet::open(&config.data_dir.join("stellar-wallet"), settings)?;
            Ok((Arc::new(wallet), None))
        }
        PaymentsKind::Sandbox => {
            let sandbox = Arc::new(SandboxWallet::open(
                &config.data_dir.join("sandbox-wallet"),
            )?);
            Ok((sandbox.clone(), Some(sandbox)))
        }
    }
}

/// Loads the config file, with the process environment as overrides.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path, &|k| std::env::var(k).ok()).map_err(|d| anyhow::anyhow!("{d}"))
}
