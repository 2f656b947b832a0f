//! The `jukebox` command: run the service, check the configuration, check
//! the real grid (`grid doctor`, `grid nodes`), or chat from a terminal.
//! It only parses the command line: the process itself is `app::App`.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use jukebox::admin::OfflineReport;
use jukebox::app::{App, Setup, shutdown_signal};
use jukebox::chat::terminal;
use jukebox::ids::UserId;

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
    let log_file = jukebox::app::init_logging(&config, chat_user.is_some())?;
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

/// `jukebox run` and `jukebox chat`: the whole process ([`App`]) until
/// SIGTERM or Ctrl-C, or until the terminal chat ends.
async fn serve(
    config: jukebox::config::Config,
    chat_user: Option<String>,
    log_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let data_dir = config.data_dir.clone();
    let app = App::build(config, Setup::process()).await?;
    if let Some(url) = app.website() {
        println!("Website: {url}");
    }
    match chat_user {
        Some(name) => {
            let user = UserId::parse(&format!("term:{name}"))
                .map_err(|e| anyhow::anyhow!("--user: {e}"))?;
            let session = terminal::Session {
                user,
                log_file,
                data_dir,
                website: app.website().map(str::to_owned),
            };
            let chat = terminal::run(app.service.clone(), app.terminal_outbox.clone(), session);
            app.run_until_stopped(async {
                tokio::select! {
                    r = chat => r,
                    _ = shutdown_signal() => Ok(()),
                }
            })
            .await?
        }
        None => {
            if let Some(notice) = app.service.simulation_notice() {
                println!("{notice}");
            }
            println!("Jukebox is running. Stop with Ctrl-C or SIGTERM.");
            app.run_until_stopped(shutdown_signal()).await
        }
    }
}
