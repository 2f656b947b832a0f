//! Where the process's log goes: stderr (coloured only on a terminal), or,
//! while a terminal chat runs, `<data_dir>/jukebox.log`, since the terminal
//! shows stderr and stdout together and log lines would land inside the
//! conversation.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use tracing_subscriber::fmt::writer::BoxMakeWriter;

use crate::config::Config;

/// Installs the process's log subscriber (`RUST_LOG`, else `[log] level`;
/// `[log] format = "json"` for JSON lines). With `chat`, the log goes to a
/// file, whose path is returned.
pub fn init_logging(config: &Config, chat: bool) -> anyhow::Result<Option<PathBuf>> {
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| config.log.level.clone());
    let filter = tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_else(|_| "info".into());
    let (writer, ansi, log_file) = if chat {
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
    } else {
        // Colours only on a terminal: log files and journald get plain text.
        (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
            None,
        )
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    if config.log.format == crate::config::LogFormat::Json {
        logs.json().init();
    } else {
        logs.init();
    }
    Ok(log_file)
}
