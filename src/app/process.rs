//! The whole `jukebox run` process, built in one place: the channels'
//! outboxes and their routing, the service ([`super::build_wrapped`]), the
//! ops and web listeners, the start-up work (resumed deployments, the
//! monitor's watch list) and the background work as workers under one
//! [`Runner`]. `main` only parses the command line and calls
//! [`App::build`] then [`App::run_until_stopped`]; the tests start the same
//! `App` (on loopback ports and temp dirs), so they run what the binary
//! runs. Modelled on zero2prod's `Application::build` +
//! `run_until_stopped`.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::backup::Backup;
use crate::channel::{Outbox, RoutingOutbox};
use crate::chat::telegram::{self, RateLimiter, Telegram, TelegramOutbox};
use crate::chat::terminal::TerminalOutbox;
use crate::clock::{Backoff, Clock, SystemClock};
use crate::config::{Config, GridKind, PaymentsKind};
use crate::grid::Grid;
use crate::grid::sim::{Churn, SimGrid};
use crate::ops::OpsServer;
use crate::runtime::workers::{Billing, Monitor, Payments, PeriodicBackup, Reconciler, SimChurn};
use crate::runtime::{EXIT_DEADLINE, Next, Runner, Shutdown, Statuses, Worker};
use crate::service::Service;
use crate::web::{WebHub, WebServer};

/// How often the simulated grid's nodes churn.
const CHURN_EVERY: Duration = Duration::from_secs(60);

/// Whether the background workers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Background {
    /// As the binary: every worker and the alert delivery run on their own.
    Run,
    /// The caller steps the workers' entry points itself (`Service::sweep`,
    /// `bill_all`, the alert queue's `drain`...), so that a test decides
    /// exactly when each happens; listeners and channels still run.
    Stepped,
}

/// What differs between the binary and a test starting the same process.
pub struct Setup<'a> {
    /// Wall time for billing, outages, reminders (tests pass a manual clock).
    pub clock: Arc<dyn Clock>,
    /// Secrets and tokens (`JUKEBOX_MASTER_KEY`, `JUKEBOX_TFCHAIN_FUNDER_SEED`).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// How the service sees the grid (the crash tests stop it mid-call).
    pub wrap_grid: &'a dyn Fn(Arc<dyn Grid>) -> Arc<dyn Grid>,
    /// How nodes' chains are read instead of the grid's own way (the
    /// simulated chains, or the real probe): the tests that drive the real
    /// probe against loopback fakes. `None` in the binary.
    pub chain_probe: Option<Arc<dyn crate::probe::ChainProbe>>,
    /// How nodes' network dashboards are read instead of the grid's own
    /// way: the tests that drive the real client against a loopback fake.
    /// `None` in the binary.
    pub node_status_probe: Option<Arc<dyn crate::probe::NodeStatusProbe>>,
    /// Where Telegram's and the terminal's messages go instead of the real
    /// channels (tests read them from memory); `None`: the terminal, and
    /// Telegram when `TELOXIDE_TOKEN` is set.
    pub chat_outbox: Option<Arc<dyn Outbox>>,
    pub background: Background,
    /// How long stopping waits for work under way before it gives up.
    pub exit_deadline: Duration,
}

impl Setup<'static> {
    /// The binary's: the real clock, the process environment, the real
    /// channels, every worker running.
    pub fn process() -> Setup<'static> {
        Setup {
            clock: Arc::new(SystemClock),
            env: &process_env,
            wrap_grid: &as_is,
            chain_probe: None,
            node_status_probe: None,
            chat_outbox: None,
            background: Background::Run,
            exit_deadline: EXIT_DEADLINE,
        }
    }
}

/// The process environment, for [`Setup::env`].
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The grid as it is, for [`Setup::wrap_grid`].
pub fn as_is(grid: Arc<dyn Grid>) -> Arc<dyn Grid> {
    grid
}

/// A built Jukebox process: the service with its listeners serving; the
/// start-up work, the channels and the background work start in
/// [`App::run_until_stopped`].
pub struct App {
    pub service: Service,
    /// The embedded grid, when it is the grid in use (tests inject faults).
    pub sim: Option<SimGrid>,
    /// The website's channel (it also mirrors linked Telegram and terminal
    /// accounts).
    pub hub: Arc<WebHub>,
    /// Every message of the service goes through it, by user id channel.
    pub routing: Arc<RoutingOutbox>,
    pub terminal_outbox: Arc<TerminalOutbox>,
    /// The website, when `[web] listen` is on.
    pub web: Option<WebServer>,
    /// The ops endpoints, when `[ops] listen` is on.
    pub ops: Option<OpsServer>,
    telegram: Option<(teloxide::Bot, Arc<TelegramOutbox>)>,
    /// The periodic backup, when `[backup]` names a bucket.
    backup: Option<Arc<Backup>>,
    clock: Arc<dyn Clock>,
    runner: Runner,
    config: Config,
    background: Background,
    exit_deadline: Duration,
}

impl App {
    /// Opens everything `config` names and starts the listeners. On the real grid, TFChain's prices replace `[pricing]`
    /// first (kept as configured, with a warning, when TFChain cannot be read).
    pub async fn build(mut config: Config, setup: Setup<'_>) -> anyhow::Result<App> {
        let routing = Arc::new(RoutingOutbox::default());
        let hub = WebHub::with_clock(setup.clock.clone());
        routing.route("web", hub.clone());
        let terminal_outbox = Arc::new(TerminalOutbox::new(config.data_dir.join("qr")));
        let telegram = match &setup.chat_outbox {
            Some(chat) => {
                routing.route("term", hub.mirror(Some(chat.clone())));
                routing.route("tg", hub.mirror(Some(chat.clone())));
                None
            }
            None => {
                routing.route("term", hub.mirror(Some(terminal_outbox.clone())));
                let bot = telegram::bot_from_env(config.telegram.poll_timeout_seconds)?;
                let telegram = bot.map(|bot| {
                    let outbox = Arc::new(TelegramOutbox::new(
                        bot.clone(),
                        RateLimiter::new(config.telegram.limits()),
                    ));
                    (bot, outbox)
                });
                let outbox = telegram.as_ref().map(|(_, o)| o.clone() as Arc<dyn Outbox>);
                routing.route("tg", hub.mirror(outbox));
                telegram
            }
        };
        if matches!(config.grid.kind, GridKind::Tfgrid) {
            match super::use_chain_prices(&mut config).await {
                Ok(()) => tracing::info!(pricing = ?config.pricing, "prices read from TFChain"),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "TFChain's prices could not be read; quoting with [pricing] until the next start")
                }
            }
        }
        let core = super::build_wrapped(
            &config,
            routing.clone(),
            setup.clock.clone(),
            setup.env,
            setup.wrap_grid,
            setup.chain_probe.clone(),
            setup.node_status_probe.clone(),
        )?;
        let service = core.service;
        hub.load_links(service.web_links()?);
        log_what_runs(&config, &service);
        let backup = if config.backup.is_enabled() {
            Some(Arc::new(Backup::from_config(&config, setup.env)?))
        } else {
            tracing::info!("backups are off: no [backup] bucket configured");
            None
        };
        let runner = Runner::new(setup.clock.clone(), Some(service.metrics().clone()));
        let ops = match config.ops.listen() {
            Some(listen) => Some(
                crate::ops::serve_with_workers(
                    listen,
                    service.metrics().clone(),
                    Arc::new(service.clone()),
                    Some(runner.statuses()),
                    runner.shutdown().wait_owned(),
                )
                .await?,
            ),
            None => None,
        };
        let web = match config.web.listen() {
            Some(_) => Some(
                crate::web::serve(
                    &config.web,
                    service.clone(),
                    hub.clone(),
                    runner.shutdown().wait_owned(),
                )
                .await?,
            ),
            None => None,
        };
        Ok(App {
            service,
            sim: core.sim,
            hub,
            routing,
            terminal_outbox,
            web,
            ops,
            telegram,
            backup,
            clock: setup.clock,
            runner,
            config,
            background: setup.background,
            exit_deadline: setup.exit_deadline,
        })
    }

    /// The website's base URL, when it runs.
    pub fn website(&self) -> Option<&str> {
        self.web.as_ref().map(|w| w.base_url.as_str())
    }

    /// Where the alert delivery hands alerts: the channels, counted in the
    /// metrics, and the website's notifications.
    pub fn alert_outbox(&self) -> Arc<dyn Outbox> {
        self.hub
            .notices_then(Arc::new(crate::metrics::CountingOutbox {
                inner: self.routing.clone(),
                metrics: self.service.metrics().clone(),
            }))
    }

    /// Every background worker's status (as `/workers` shows it).
    pub fn statuses(&self) -> Statuses {
        self.runner.statuses()
    }

    /// The background workers this process runs, in start order (their
    /// first steps are due at once). Tests may step them directly.
    pub fn workers(&self) -> Vec<Box<dyn Worker>> {
        let config = &self.config;
        let service = &self.service;
        let mut workers: Vec<Box<dyn Worker>> = vec![
            Box::new(Billing {
                service: service.clone(),
                every: Duration::from_secs(config.billing.interval_minutes * 60),
            }),
            Box::new(Payments {
                service: service.clone(),
                every: Duration::from_secs(config.payments.stellar.poll_interval_seconds),
            }),
            Box::new(Monitor {
                service: service.clone(),
                every: Duration::from_secs(config.monitor.interval_seconds),
            }),
            Box::new(Reconciler {
                service: service.clone(),
                every: Duration::from_secs(config.reconciler.interval_minutes * 60),
            }),
        ];
        if let Some(backup) = &self.backup {
            workers.push(Box::new(PeriodicBackup {
                backup: backup.clone(),
                every: Duration::from_secs(config.backup.interval_minutes * 60),
                first_retry: Duration::from_secs(60),
                clock: self.clock.clone(),
                observer: service.backup_observer(),
                failures: 0,
            }));
        }
        if let Some(sim) = &self.sim {
            // The simulated grid's nodes go down and come back at the
            // configured rate.
            workers.push(Box::new(SimChurn(Churn::new(sim.clone(), CHURN_EVERY))));
        }
        workers
    }

    /// Runs the channels and the background work until `until` resolves,
    /// then stops everything: no new step starts, listeners answer the
    /// requests in flight, and whatever is still busy after the exit
    /// deadline is logged and dropped. Returns what `until` returned.
    pub async fn run_until_stopped<T>(
        mut self,
        until: impl Future<Output = T>,
    ) -> anyhow::Result<T> {
        if self.background == Background::Run {
            self.start_up().await?;
            for worker in self.workers() {
                self.runner.spawn(worker);
            }
            let queue = self.service.alerts().clone();
            let limits = self.config.alerts.limits();
            let outbox = self.alert_outbox();
            self.runner
                .spawn_task("alerts", move |shutdown| async move {
                    queue.run(outbox, limits, shutdown.wait_owned()).await;
                    Ok(())
                });
        }
        match self.telegram.take() {
            Some((bot, outbox)) => {
                outbox.attach(self.service.downgrade());
                self.runner.spawn(Box::new(TelegramChannel {
                    bot,
                    outbox,
                    config: self.config.telegram.clone(),
                    service: self.service.clone(),
                    data_dir: self.config.data_dir.clone(),
                    shutdown: self.runner.shutdown(),
                }));
            }
            None if self.background == Background::Run => {
                tracing::info!("Telegram is off: TELOXIDE_TOKEN is not set")
            }
            None => {}
        }
        let result = until.await;
        self.stop().await;
        Ok(result)
    }

    /// What a start does before the background work: deployments a stop
    /// interrupted are resumed, and the monitor learns the nodes to watch.
    /// (A test stepping the work calls these itself, when it restarts.)
    pub async fn start_up(&self) -> anyhow::Result<()> {
        let resumed = self.service.resume_pending().await?;
        if resumed > 0 {
            tracing::info!(resumed, "resumed unfinished deployments");
        }
        let watched = self.service.load_watchlist().await?;
        tracing::info!(nodes = watched, "monitor watching");
        Ok(())
    }

    /// Stops the runner, then the listeners, each within the exit deadline.
    async fn stop(self) {
        let deadline = self.exit_deadline;
        let late = self.runner.stop(deadline).await;
        if let Some(ops) = self.ops {
            stop_listener("the ops endpoints", ops.stopped(), deadline).await;
        }
        if let Some(web) = self.web {
            stop_listener("the website", web.stopped(), deadline).await;
        }
        if late.is_empty() {
            tracing::info!("Jukebox stopped");
        } else {
            tracing::warn!(workers = ?late, "Jukebox stopped; these were cut short at the exit deadline");
        }
    }
}

/// Waits for a listener told to stop to answer its requests in flight, at
/// most `deadline` (an open event stream must not hold the exit for ever).
async fn stop_listener(
    what: &str,
    stopped: impl Future<Output = anyhow::Result<()>>,
    deadline: Duration,
) {
    match tokio::time::timeout(deadline, stopped).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "{what} stopped with an error"),
        Err(_) => tracing::warn!("{what} still had requests in flight at the exit deadline"),
    }
}

/// Says at start what this process runs on, loudly when it is a simulation.
fn log_what_runs(config: &Config, service: &Service) {
    match service.grid().kind() {
        GridKind::Sim => {
            tracing::info!(data_dir = %config.data_dir.display(), "Jukebox started on the embedded grid, a SIMULATION")
        }
        kind @ GridKind::Tfgrid => {
            tracing::info!(grid = kind.as_str(), network = %config.grid.network, data_dir = %config.data_dir.display(), "Jukebox started on the REAL ThreeFold Grid")
        }
    }
    match service.wallet_kind() {
        PaymentsKind::Sandbox => {
            tracing::info!("payments: sandbox wallet, a SIMULATION (no real TFT moves)")
        }
        PaymentsKind::Bridge => {
            tracing::info!("payments: REAL TFT through the TFChain bridge into each user's twin")
        }
        kind @ PaymentsKind::Stellar => {
            tracing::info!(wallet = kind.as_str(), "payments: REAL TFT")
        }
    }
}

/// The Telegram channel as a worker: a step connects (the runner retries
/// while the network or the token is not right, 1 s doubling to a minute)
/// and then receives updates until shutdown.
struct TelegramChannel {
    bot: teloxide::Bot,
    outbox: Arc<TelegramOutbox>,
    config: telegram::TelegramConfig,
    service: Service,
    data_dir: PathBuf,
    shutdown: Shutdown,
}

#[async_trait::async_trait]
impl Worker for TelegramChannel {
    fn name(&self) -> &'static str {
        "telegram"
    }

    fn backoff(&self) -> Backoff {
        Backoff {
            first: Duration::from_secs(1),
            max: Duration::from_secs(60),
            attempts: u32::MAX,
        }
    }

    async fn step(&mut self) -> anyhow::Result<Next> {
        let commands = self.service.engine().scripts().commands();
        let connected = Telegram::connect(
            self.bot.clone(),
            self.outbox.clone(),
            self.config.clone(),
            commands,
            self.data_dir.clone(),
        )
        .await
        .map_err(|e| e.context("Telegram is not reachable"))?;
        connected
            .run(self.service.clone(), self.shutdown.clone().wait_owned())
            .await
            .map_err(|e| e.context("Telegram stopped with an error"))?;
        Ok(Next::Done)
    }
}

/// Resolves on SIGTERM (how services are stopped) or Ctrl-C.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
