//! The `jukebox grid` commands' glue: from the config (and `--network`),
//! the catalog and the environment's funding key to the doctor, and its
//! steps to lines on stdout. `doctor` and `nodes` are in
//! `grid/tfgrid/doctor*.rs`; this only wires and prints.

use std::io::{BufRead as _, IsTerminal as _, Write as _};

use anyhow::Context as _;

use crate::config::{Config, FUNDER_SEED_ENV, funder_key};
use crate::grid::Placement;
use crate::grid::tfgrid::doctor::{Doctor, DoctorSetup, NodeTypeNeed, Step, describe, nodes};

/// What `jukebox grid doctor` was asked.
pub struct DoctorArgs {
    /// Overrides `grid.network`, and makes the command work on a config
    /// whose `grid.kind` is still `sim`.
    pub network: Option<String>,
    pub deploy: bool,
    pub yes: bool,
}

/// What `jukebox grid nodes` was asked.
pub struct NodesArgs {
    pub network: Option<String>,
    pub chain: String,
    pub node_type: String,
    pub country: Option<String>,
    pub farm: Option<u32>,
}

/// Builds the doctor for `config` with the environment read through `env`.
fn doctor(
    config: &Config,
    network: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Doctor> {
    let network = match (network, config.grid.kind) {
        (Some(n), _) => {
            crate::config::Network::parse(n).map_err(|e| anyhow::anyhow!("--network: {e}"))?
        }
        (None, crate::config::GridKind::Tfgrid) => config.grid.network,
        (None, crate::config::GridKind::Sim) => anyhow::bail!(
            "grid.kind is {:?}: set grid.kind = \"tfgrid\" in the config, or name the network \
             with --network dev|qa|test|main",
            config.grid.kind.as_str()
        ),
    };
    let endpoints = config
        .grid
        .tfgrid
        .endpoints(network)
        .map_err(|e| anyhow::anyhow!("grid.tfgrid: {e}"))?;
    let funder = match env(FUNDER_SEED_ENV) {
        Some(seed) => {
            Some(funder_key(&seed).map_err(|e| anyhow::anyhow!("{FUNDER_SEED_ENV}: {e}"))?)
        }
        None => None,
    };
    let engine = crate::app::build_engine(config)
        .map_err(|d| anyhow::anyhow!("the scripts or catalog have errors:\n{d}"))?;
    let node_types = engine
        .catalog()
        .chains
        .iter()
        .flat_map(|c| {
            c.node_types.iter().map(|t| NodeTypeNeed {
                label: format!("{}/{}", c.id, t.id),
                need: t.capacity(false),
                flist: t.flist.clone(),
                made_from: t
                    .image
                    .operator_made()
                    .then(|| t.image.sources().join(" + ")),
            })
        })
        .collect();
    Doctor::new(DoctorSetup {
        network,
        endpoints,
        config: config.grid.tfgrid.clone(),
        funder,
        node_types,
    })
    .map_err(|e| anyhow::anyhow!("{e}"))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `jukebox grid doctor`: one line per step on stdout; success only if
/// every step passed. The funding seed is read through `env` and never
/// printed.
pub fn run_doctor(
    config: &Config,
    args: &DoctorArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<std::process::ExitCode> {
    let doctor = doctor(config, args.network.as_deref(), env)?;
    let mut print = |step: &Step| {
        println!("{step}");
        let _ = std::io::stdout().flush();
    };
    let passed = runtime()?.block_on(async {
        let checked = doctor.check(&mut print, args.deploy).await;
        if !args.deploy {
            return checked;
        }
        if !checked {
            // Nothing is spent on a path already known to be broken (a
            // runtime that does not fit could even be sent wrong calls).
            print(&Step::fail(
                "deploy",
                "every step above to pass before spending",
                "some failed",
                "fix those first, then run --deploy again",
            ));
            return false;
        }
        let yes = args.yes;
        let mut confirm = |statement: &str| yes || ask(statement);
        doctor.deploy(&mut confirm, &mut print).await
    });
    println!(
        "{}",
        if passed {
            "all steps passed"
        } else {
            "some steps FAILED (see above)"
        }
    );
    Ok(if passed {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

/// Asks on the terminal; anything but y/yes declines (so does end of input).
fn ask(statement: &str) -> bool {
    println!("This spends real TFT: {statement}.");
    print!("Deploy and cancel it now? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut answer = String::new();
    let stdin = std::io::stdin();
    if stdin.lock().read_line(&mut answer).is_err() {
        return false;
    }
    // A terminal echoed the answer and its newline; piped input did not.
    if !stdin.is_terminal() {
        println!("{}", answer.trim());
    }
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

/// `jukebox grid nodes`: the candidates, one per line.
pub fn run_nodes(
    config: &Config,
    args: &NodesArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<std::process::ExitCode> {
    let doctor = doctor(config, args.network.as_deref(), env)?;
    let engine = crate::app::build_engine(config)
        .map_err(|d| anyhow::anyhow!("the scripts or catalog have errors:\n{d}"))?;
    let Some((_, node_type)) = engine.catalog().node_type(&args.chain, &args.node_type) else {
        let known: Vec<String> = engine
            .catalog()
            .chains
            .iter()
            .flat_map(|c| {
                c.node_types
                    .iter()
                    .map(move |t| format!("{}/{}", c.id, t.id))
            })
            .collect();
        anyhow::bail!(
            "the catalog has no node type {:?} of chain {:?}; it has: {}",
            args.node_type,
            args.chain,
            known.join(", ")
        );
    };
    let need = node_type.capacity(false);
    let place = match (&args.country, args.farm) {
        (Some(country), None) => Placement::Country(country.clone()),
        (None, Some(farm)) => Placement::Farm(farm),
        (None, None) => Placement::Random,
        (Some(_), Some(_)) => anyhow::bail!("give --country or --farm, not both"),
    };
    let listing = runtime()?
        .block_on(doctor.nodes(&need, &place))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let where_ = match &place {
        Placement::Random => "anywhere".to_string(),
        Placement::Country(c) => format!("in {c}"),
        Placement::Farm(f) => format!("in farm {f}"),
    };
    println!(
        "{} candidate(s) for {}/{} ({}) {where_}; each has free at least {}",
        listing.nodes.len(),
        args.chain,
        args.node_type,
        describe(&need),
        nodes::needs(&need)
    );
    for line in &listing.nodes {
        println!("{line}");
    }
    if listing.nodes.is_empty() {
        match listing.up_in_place {
            Some(0) => println!("no node is up {where_}: the location menu stays empty"),
            Some(n) => println!(
                "{n} node(s) are up {where_}, none with room for this node type (or \
                 unhealthy, rented by another twin, in a dedicated farm or with an extra fee)"
            ),
            None => {}
        }
    }
    Ok(std::process::ExitCode::SUCCESS)
}
