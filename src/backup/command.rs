//! The `jukebox backup now|list` and `jukebox restore` commands, and the
//! service's periodic backup task: the glue between the configuration, the
//! data dir's lock and [`Backup`].

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;

use super::restore::MasterKeyRestore;
use super::{Backup, Freeze, ProgressOutput, human_bytes};
use crate::clock::{Clock as _, SystemClock};
use crate::config::{BACKUP_KEY_ENV, Config};
use crate::store::{Store, StoreError};

/// How often `backup now` re-copies a data dir the running service changed
/// while it was being copied, before giving up.
const VERIFY_ATTEMPTS: u32 = 5;

fn backup_from(config: &Config) -> anyhow::Result<Backup> {
    let env = |name: &str| std::env::var(name).ok();
    Ok(Backup::from_config(config, &env)?.with_progress(ProgressOutput::Stderr))
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    // Retries log warnings; the command line shows them on stderr.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .try_init();
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// `jukebox backup now`: with the service stopped it takes the data-dir
/// lock (nobody writes); with the service running it cannot, and copies
/// the data dir until one copy is verified unchanged.
pub fn backup_now(config: &Config) -> anyhow::Result<ExitCode> {
    let backup = backup_from(config)?;
    if !config.data_dir.join("users").is_dir() {
        anyhow::bail!(
            "{} is not a Jukebox data dir (no users directory)",
            config.data_dir.display()
        );
    }
    let (store, how) = match Store::open(&config.data_dir) {
        Ok(store) => (Some(store), Freeze::PauseWrites),
        Err(StoreError::Locked { holder, .. }) => {
            eprintln!(
                "backup: the service is running ({holder}); copying the data dir without stopping it"
            );
            (
                None,
                Freeze::VerifyUnchanged {
                    attempts: VERIFY_ATTEMPTS,
                },
            )
        }
        Err(e) => return Err(e.into()),
    };
    let report = runtime()?.block_on(backup.run(how, SystemClock.now()))?;
    drop(store);
    println!(
        "snapshot {}: {} files, {}; uploaded {} new blob(s), {}",
        report.id,
        report.files,
        human_bytes(report.bytes),
        report.uploaded_files,
        human_bytes(report.uploaded_bytes)
    );
    if report.master_key_included {
        println!("master key: included, sealed with the backup key");
    } else {
        println!(
            "master key: NOT included ({BACKUP_KEY_ENV} is not set); keep your own copy of {}",
            config.master_key_path().display()
        );
    }
    if !report.pruned.is_empty() {
        println!(
            "retention removed {} snapshot(s) ({}) and {} unused blob(s)",
            report.pruned.len(),
            report.pruned.join(", "),
            report.deleted_blobs
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `jukebox backup list`.
pub fn list(config: &Config) -> anyhow::Result<ExitCode> {
    let backup = backup_from(config)?;
    let snapshots = runtime()?.block_on(backup.list())?;
    if snapshots.is_empty() {
        println!("no snapshots under {}/", config.backup.prefix);
    }
    for s in snapshots {
        println!(
            "{}  {}  {} files  {}  master key {}",
            s.id,
            crate::lifecycle::utc_datetime(s.created_at),
            s.files,
            human_bytes(s.bytes),
            if s.master_key_included {
                "sealed"
            } else {
                "not included"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `jukebox restore --snapshot ID --to DIR [--force]`.
pub fn restore(
    config: &Config,
    snapshot: &str,
    to: &Path,
    force: bool,
) -> anyhow::Result<ExitCode> {
    let backup = backup_from(config)?;
    let report = runtime()?
        .block_on(backup.restore(snapshot, to, force))
        .with_context(|| format!("restoring {snapshot}; {} is unchanged", to.display()))?;
    println!(
        "restored {} into {}: {} files, {}, every checksum verified",
        report.id,
        to.display(),
        report.files,
        human_bytes(report.bytes)
    );
    match report.master_key {
        MasterKeyRestore::Restored(path) => println!("master key: restored to {}", path.display()),
        MasterKeyRestore::NeedsBackupKey => println!(
            "master key: NOT restored: the snapshot has it sealed; set {BACKUP_KEY_ENV} and restore again, or put your own copy back"
        ),
        MasterKeyRestore::NotInSnapshot => println!(
            "master key: not in this snapshot; put your own copy back (security.master_key_file, default <data_dir>/master.key) or set JUKEBOX_MASTER_KEY"
        ),
    }
    Ok(ExitCode::SUCCESS)
}
