//! Progress of long backup and restore steps, printed to stderr at most
//! once a second (and once at the end), or not at all in the service.

use std::time::{Duration, Instant};

/// Where progress goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressOutput {
    /// The command line: lines on stderr.
    Stderr,
    /// The service and tests: nothing (the service logs a summary).
    Quiet,
}

/// Counts files and bytes done out of a known total.
pub struct Progress {
    output: ProgressOutput,
    what: &'static str,
    total_files: usize,
    total_bytes: u64,
    files: usize,
    bytes: u64,
    last_print: Option<Instant>,
}

const EVERY: Duration = Duration::from_secs(1);

impl Progress {
    pub fn start(
        output: ProgressOutput,
        what: &'static str,
        total_files: usize,
        total_bytes: u64,
    ) -> Progress {
        Progress {
            output,
            what,
            total_files,
            total_bytes,
            files: 0,
            bytes: 0,
            last_print: None,
        }
    }

    pub fn advance(&mut self, bytes: u64) {
        self.files += 1;
        self.bytes += bytes;
        if self.last_print.is_none_or(|t| t.elapsed() >= EVERY) {
            self.print();
        }
    }

    pub fn finish(&mut self) {
        if self.total_files > 0 {
            self.print();
        }
    }

    fn print(&mut self) {
        self.last_print = Some(Instant::now());
        if self.output == ProgressOutput::Stderr {
            eprintln!(
                "{}: {}/{} files, {}/{}",
                self.what,
                self.files,
                self.total_files,
                human_bytes(self.bytes),
                human_bytes(self.total_bytes)
            );
        }
    }
}

/// "512 B", "3.2 KiB", "10.1 MiB", "1.5 GiB".
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_naturally() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(10 * 1024 * 1024 + 100 * 1024), "10.1 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
