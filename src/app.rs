//! Builds a running Jukebox from its configuration: store, keys, engine,
//! grid, wallet and service, wired together once.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;

use crate::channel::Outbox;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::MasterKey;
use crate::dialogue::{Engine, load_dir};
use crate::grid::sim::SimGrid;
use crate::payments::sandbox::SandboxWallet;
use crate::service::{Service, ServiceSettings};
use crate::store::Store;

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

/// Opens everything under the data dir and returns the service.
pub fn build_service(
    config: &Config,
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Service> {
    let engine = build_engine(config)
        .map_err(|d| anyhow::anyhow!("the scripts or catalog have errors:\n{d}"))?;
    let store = Store::open(&config.data_dir)
        .with_context(|| format!("opening data dir {}", config.data_dir.display()))?;
    let env_key = std::env::var("JUKEBOX_MASTER_KEY").ok();
    let master = MasterKey::load_or_create(&config.master_key_path(), env_key.as_deref())?;
    let grid = SimGrid::open(&config.data_dir.join("grid-sim"), config.grid.sim.clone())?;
    let wallet = SandboxWallet::open(&config.data_dir.join("sandbox-wallet"))?;
    Ok(Service::new(
        Arc::new(engine),
        Arc::new(store),
        Arc::new(master),
        Arc::new(grid),
        Arc::new(wallet),
        outbox,
        clock,
        ServiceSettings {
            payment_ttl_secs: config.payments.request_ttl_minutes * 60,
            ..ServiceSettings::default()
        },
    ))
}

/// The service with the real clock.
pub fn build_default(config: &Config, outbox: Arc<dyn Outbox>) -> anyhow::Result<Service> {
    build_service(config, outbox, Arc::new(SystemClock))
}

/// Loads the config file, with the process environment as overrides.
pub fn load_config(path: &Path) -> anyhow::Result<Config> {
    Config::load(path, &|k| std::env::var(k).ok()).map_err(|d| anyhow::anyhow!("{d}"))
}
