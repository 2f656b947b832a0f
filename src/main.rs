//! The `jukebox` command: run the service, check the configuration, check
//! the real grid (`grid doctor`, `grid nodes`), or chat from a terminal.

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use jukebox::admin::OfflineReport;
use jukebox::channel::RoutingOutbox;
use jukebox::chat::telegram::{self, RateLimiter, Telegram, TelegramOutbox};
use jukebox::chat::terminal::{self, TerminalOutbox};
use jukebox::ids::UserId;
use jukebox::service::Service;
use jukebox::web::WebHub;
use tracing_subscriber::fmt::writer::BoxMakeWriter;

#[derive(Parser)]
#[command(
    name = "jukebox",
    version,
    about = "Run blockchain nodes on the ThreeFold Grid by chatting with a bot"
)]
struct Cli {
    /// The configuration file (missing keys take built-in defaults). Without
    /// it, ./config.toml if there is one, else the defaults.
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (the default). On a terminal it also opens a chat.
    Run,
    /// Validate config, scripts and catalog without starting anything.
    Check,
    /// Operator reports read from the data dir (works while the service runs).
    Admin {
        #[command(subcommand)]
        report: AdminReport,
    },
    /// Back up the data dir to S3 now, or list the snapshots ([backup] in config).
    Backup {
        #[command(subcommand)]
        action: BackupAction,
    },
    /// Restore a snapshot from S3 into a directory (checks every checksum).
    Restore {
        /// The snapshot id, as `jukebox backup list` shows it.
        #[arg(long)]
        snapshot: String,
        /// Where to restore (a new or empty directory).
        #[arg(long)]
        to: PathBuf,
        /// Write over a non-empty directory.
        #[arg(long)]
        force: bool,
    },
    /// The real grid, checked from here: `doctor` (every step of the live
    /// path) and `nodes` (the candidates for a node type).
    Grid {
        #[command(subcommand)]
        action: GridAction,
    },
    /// Chat with Jukebox from this terminal (or a script piped to stdin).
    Chat {
        /// Who you are, e.g. alice (becomes the user id term:alice).
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
enum GridAction {
    /// Check the live path to the grid one step at a time; exit 0 only if
    /// every step passed.
    Doctor {
        /// The network to check (else grid.network, with grid.kind = "tfgrid").
        #[arg(long, value_name = "dev|qa|test|main")]
        network: Option<String>,
        /// Also deploy the smallest machine for real, then cancel it
        /// (spends TFT from the funding account; asks first).
        #[arg(long)]
        deploy: bool,
        /// Do not ask before --deploy spends.
        #[arg(long, requires = "deploy")]
        yes: bool,
    },
    /// The grid nodes Jukebox would pick from for a node type, one per line.
    Nodes {
        #[arg(long, value_name = "dev|qa|test|main")]
        network: Option<String>,
        /// A chain id of the catalog (`dialogues/catalog.yaml`).
        #[arg(long)]
        chain: String,
        /// One of its node types, e.g. full.
        #[arg(long = "type", value_name = "TYPE")]
        node_type: String,
        /// Only nodes in this country (its English name).
        #[arg(long, conflicts_with = "farm")]
        country: Option<String>,
        /// Only nodes of this farm id.
        #[arg(long)]
        farm: Option<u32>,
    },
}

#[derive(Subcommand)]
enum BackupAction {
    /// Take a snapshot and upload it (also while the service runs).
    Now,
    /// The snapshots in the bucket, oldest first.
    List,
}

#[derive(Subcommand)]
enum AdminReport {
    /// Users, nodes by state and chain, balances, the last 24 hours.
    Stats,
    /// One user's profile, nodes, money and recent events.
    User {
        /// A user id (tg:123, term:alice), a bare Telegram id, or @name.
        query: String,
    },
    /// Nodes of all users: live ones, or those matching a state, a chain,
    /// part of a name, or "down".
    Nodes { filter: Option<String> },
    /// Payments that matched no request (kept aside for operators).
    Unmatched,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("jukebox: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The config file to read: the one `--config` names, which must exist (a
/// typo must not silently run on the defaults), or ./config.toml, whose
/// absence means the defaults.
fn config_path(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match given {
        Some(path) if !path.exists() => anyhow::bail!(
            "the config file {} does not exist (--config must name an existing file; without --config, ./config.toml or the built-in defaults are used)",
            path.display()
        ),
        Some(path) => Ok(path),
        None => Ok(PathBuf::from("config.toml")),
    }
}

fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let command = cli.command.unwrap_or(Command::Run);
    let config_file = config_path(cli.config)?;
    if let Command::Check = command {
        return Ok(check(&config_file));
    }
    let config = jukebox::app::load_config(&config_file)?;
    if let Command::Admin { report } = &command {
        let report = match report {
            AdminReport::Stats => OfflineReport::Stats,
            AdminReport::User { query } => OfflineReport::User(query.clone()),
            AdminReport::Nodes { filter } => OfflineReport::Nodes(filter.clone()),
            AdminReport::Unmatched => OfflineReport::Unmatched,
        };
        let now = jukebox::clock::Clock::now(&jukebox::clock::SystemClock);
        println!(
            "{}",
            jukebox::admin::offline(&config.data_dir, &report, now)?
        );
        return Ok(std::process::ExitCode::SUCCESS);
    }
    let env = |name: &str| std::env::var(name).ok();
    match &command {
        Command::Grid {
            action:
                GridAction::Doctor {
                    network,
                    deploy,
                    yes,
                },
        } => {
            let args = jukebox::grid_command::DoctorArgs {
                network: network.clone(),
                deploy: *deploy,
                yes: *yes,
            };
            return jukebox::grid_command::run_doctor(&config, &args, &env);
        }
        Command::Grid {
            action:
                GridAction::Nodes {
                    network,
                    chain,
                    node_type,
                    country,
                    farm,
                },
        } => {
            let args = jukebox::grid_command::NodesArgs {
                network: network.clone(),
                chain: chain.clone(),
                node_type: node_type.clone(),
                country: country.clone(),
                farm: *farm,
            };
            return jukebox::grid_command::run_nodes(&config, &args, &env);
        }
        Command::Backup { action } => {
            return match action {
                BackupAction::Now => jukebox::backup::command::backup_now(&config),
                BackupAction::List => jukebox::backup::command::list(&config),
            };
        }
        Command::Restore {
            snapshot,
            to,
            force,
        } => return jukebox::backup::command::restore(&config, snapshot, to, *force),
        _ => {}
    }
    let chat_user = match &command {
        Command::Chat { user } => Some(user.clone()),
        _ if std::io::stdin().is_terminal() => {
            Some(std::env::var("USER").unwrap_or_else(|_| "you".into()))
        }
        _ => None,
    };
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.log.level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    // In a chat, log lines would land inside the conversation (the terminal
    // shows stderr and stdout together): they go to a file in the data dir.
    let (writer, ansi, log_file) = match &chat_user {
        Some(_) => {
            let path = config.data_dir.join("jukebox.log");
            std::fs::create_dir_all(&config.data_dir)
                .map_err(|e| anyhow::anyhow!("creating {}: {e}", config.data_dir.display()))?;
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| anyhow::anyhow!("opening the log file {}: {e}", path.display()))?;
            (
                BoxMakeWriter::new(std::sync::Mutex::new(file)),
                false,
                Some(path),
            )
        }
        // Colours only on a terminal: log files and journald get plain text.
        None => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
            None,
        ),
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    if config.log.format == "json" {
        logs.json().init();
    } else {
        logs.init();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(config, chat_user, log_file))?;
    Ok(std::process::ExitCode::SUCCESS)
}

fn check(path: &std::path::Path) -> std::process::ExitCode {
    let config = match jukebox::app::load_config(path) {
        Ok(c) => c,
        Err(e) => {
            eprint!("{e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match jukebox::app::build_engine(&config) {
        Ok(engine) => {
            let types: usize = engine
                .catalog()
                .chains
                .iter()
                .map(|c| c.node_types.len())
                .sum();
            println!(
                "ok: config {}, {} chains / {types} node types, {} conversations",
                path.display(),
                engine.catalog().chains.len(),
                engine.scripts().flows.len()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(diags) => {
            eprint!("{diags}");
            eprintln!("{} problem(s) found", diags.0.len());
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(
    config: jukebox::config::Config,
    chat_user: Option<String>,
    log_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let routing = Arc::new(RoutingOutbox::default());
    // The website's channel; it also mirrors the terminal and Telegram
    // accounts that a web sign-in is linked to.
    let hub = WebHub::new();
    routing.route("web", hub.clone());
    let terminal_outbox = Arc::new(TerminalOutbox::new(config.data_dir.join("qr")));
    routing.route("term", hub.mirror(Some(terminal_outbox.clone())));
    let bot = telegram::bot_from_env(config.telegram.poll_timeout_seconds)?;
    let telegram_outbox = bot.clone().map(|bot| {
        Arc::new(TelegramOutbox::new(
            bot,
            RateLimiter::new(config.telegram.limits()),
        ))
    });
    routing.route(
        "tg",
        hub.mirror(
            telegram_outbox
                .clone()
                .map(|o| o as Arc<dyn jukebox::channel::Outbox>),
        ),
    );
    let mut config = config;
    match config.grid.kind {
        jukebox::config::GridKind::Tfgrid => {
            match jukebox::app::use_chain_prices(&mut config).await {
                Ok(()) => tracing::info!(pricing = ?config.pricing, "prices read from TFChain"),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "TFChain's prices could not be read; quoting with [pricing] until the next start")
                }
            }
        }
        jukebox::config::GridKind::Sim => {}
    }
    let app = jukebox::app::build_default(&config, routing.clone())?;
    let service = app.service;
    hub.load_links(service.web_links()?);
    // The simulated grid's nodes go down and come back at the configured rate.
    let churn = app
        .sim
        .map(|sim| tokio::spawn(async move { sim.run_churn(Duration::from_secs(60)).await }));
    match service.grid().kind() {
        "sim" => {
            tracing::info!(data_dir = %config.data_dir.display(), "Jukebox started on the embedded grid, a SIMULATION")
        }
        kind => {
            tracing::info!(grid = kind, network = %config.grid.network, data_dir = %config.data_dir.display(), "Jukebox started on the REAL ThreeFold Grid")
        }
    }
    match service.wallet_kind() {
        "sandbox" => tracing::info!("payments: sandbox wallet, a SIMULATION (no real TFT moves)"),
        "bridge" => {
            tracing::info!("payments: REAL TFT through the TFChain bridge into each user's twin")
        }
        kind => tracing::info!(wallet = kind, "payments: REAL TFT"),
    }
    let resumed = service.resume_pending().await?;
    if resumed > 0 {
        tracing::info!(resumed, "resumed unfinished deployments");
    }
    let billing = tokio::spawn(billing_loop(
        service.clone(),
        Duration::from_secs(config.billing.interval_minutes * 60),
    ));
    let payments = tokio::spawn(payments_loop(
        service.clone(),
        Duration::from_secs(config.payments.stellar.poll_interval_seconds),
    ));
    let watched = service.load_watchlist().await?;
    tracing::info!(nodes = watched, "monitor watching");
    let monitor = tokio::spawn(monitor_loop(
        service.clone(),
        Duration::from_secs(config.monitor.interval_seconds),
    ));
    let reconciler = tokio::spawn(reconcile_loop(
        service.clone(),
        Duration::from_secs(config.reconciler.interval_minutes * 60),
    ));
    let backup = jukebox::backup::command::spawn_periodic(&config, &service)?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let ops = match config.ops.listen() {
        Some(listen) => {
            let mut stopped = stopped.clone();
            let server = jukebox::ops::serve(
                listen,
                service.metrics().clone(),
                Arc::new(service.clone()),
                async move {
                    let _ = stopped.wait_for(|s| *s).await;
                },
            )
            .await?;
            Some(server)
        }
        None => None,
    };
    let alerts = {
        let queue = service.alerts().clone();
        let limits = config.alerts.limits();
        // Alerts also become notifications on the website.
        let routing = hub.notices_then(Arc::new(jukebox::metrics::CountingOutbox {
            inner: routing,
            metrics: service.metrics().clone(),
        }));
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            queue
                .run(routing, limits, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        })
    };
    let web = match config.web.listen() {
        Some(_) => {
            let mut stopped = stopped.clone();
            let server =
                jukebox::web::serve(&config.web, service.clone(), hub.clone(), async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await?;
            println!("Website: {}", server.base_url);
            Some(server)
        }
        None => None,
    };
    let telegram_task = match (bot, telegram_outbox) {
        (Some(bot), Some(outbox)) => {
            outbox.attach(service.downgrade());
            Some(tokio::spawn(run_telegram(
                bot,
                outbox,
                config.telegram.clone(),
                service.clone(),
                config.data_dir.clone(),
                stopped.clone(),
            )))
        }
        _ => {
            tracing::info!("Telegram is off: TELOXIDE_TOKEN is not set");
            None
        }
    };
    let result = match chat_user {
        Some(name) => {
            let user = UserId::parse(&format!("term:{name}"))
                .map_err(|e| anyhow::anyhow!("--user: {e}"))?;
            let session = terminal::Session {
                user,
                log_file,
                data_dir: config.data_dir.clone(),
                website: web.as_ref().map(|w| w.base_url.clone()),
            };
            tokio::select! {
                r = terminal::run(service.clone(), terminal_outbox, session) => r,
                _ = shutdown_signal() => Ok(()),
            }
        }
        None => {
            if let Some(notice) = service.simulation_notice() {
                println!("{notice}");
            }
            println!("Jukebox is running. Stop with Ctrl-C or SIGTERM.");
            shutdown_signal().await;
            Ok(())
        }
    };
    let _ = stop.send(true);
    if let Some(task) = telegram_task {
        let _ = task.await;
    }
    let _ = alerts.await;
    if let Some(ops) = ops {
        let _ = ops.stopped().await;
    }
    if let Some(web) = web {
        let _ = web.stopped().await;
    }
    billing.abort();
    payments.abort();
    monitor.abort();
    reconciler.abort();
    if let Some(backup) = backup {
        backup.abort();
    }
    if let Some(churn) = churn {
        churn.abort();
    }
    tracing::info!("Jukebox stopped");
    result
}

/// Connects to Telegram (retrying while the network or the token is not
/// right) and receives updates until told to stop.
async fn run_telegram(
    bot: teloxide::Bot,
    outbox: Arc<TelegramOutbox>,
    config: telegram::TelegramConfig,
    service: Service,
    data_dir: PathBuf,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(1);
    let connected = loop {
        let commands = service.engine().scripts().commands();
        match Telegram::connect(
            bot.clone(),
            outbox.clone(),
            config.clone(),
            commands,
            data_dir.clone(),
        )
        .await
        {
            Ok(t) => break t,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), wait_secs = wait.as_secs(), "Telegram is not reachable; retrying");
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        }
    };
    let until_stopped = async move {
        let _ = stopped.wait_for(|s| *s).await;
    };
    if let Err(e) = connected.run(service, until_stopped).await {
        tracing::error!(error = %format!("{e:#}"), "Telegram stopped with an error");
    }
}

async fn billing_loop(service: Service, every: Duration) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        match service.bill_all().await {
            Ok(total) => tracing::debug!(charged = %total, "billing sweep done"),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "billing sweep failed; retried next interval")
            }
        }
    }
}

/// The payment watcher: new payments are credited as they are seen; a
/// full batch is followed at once by the next (a backlog drains quickly);
/// after a failure the wait doubles, up to 5 minutes, and nothing is lost
/// (the wallet's cursor only moves past processed payments).
async fn payments_loop(service: Service, every: Duration) {
    let mut wait = every;
    loop {
        match service.poll_payments().await {
            Ok(0) => wait = every,
            Ok(handled) => {
                tracing::debug!(handled, "payments handled");
                wait = every;
                continue;
            }
            Err(e) => {
                wait = (wait * 2).min(Duration::from_secs(300)).max(every);
                tracing::error!(error = %format!("{e:#}"), wait_secs = wait.as_secs(), "payment watcher failed; retrying");
            }
        }
        tokio::time::sleep(wait).await;
    }
}

async fn monitor_loop(service: Service, every: Duration) {
    let mut tick = tokio::time::interval(every);
    // A sweep longer than the interval delays the next one instead of
    // starting a burst of catch-up sweeps.
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let started = std::time::Instant::now();
        let report = service.sweep().await;
        tracing::debug!(
            ?report,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "monitor sweep done"
        );
    }
}

/// The reconciler (docs/reconciler.md): a pass at start, then one per
/// interval; a pass longer than the interval delays the next one.
async fn reconcile_loop(service: Service, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = service.reconcile().await {
            tracing::error!(error = %format!("{e:#}"), "reconciler pass failed; retried next interval");
        }
    }
}

/// Resolves on SIGTERM (how services are stopped) or Ctrl-C.
async fn shutdown_signal() {
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
