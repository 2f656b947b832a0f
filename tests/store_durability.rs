//! Crash-safety test: a writer killed with SIGKILL never leaves a torn record.
//!
//! The test re-runs its own binary as a child process (selected by an env
//! var plus the exact name of the `crash_child` test) that rewrites one ~200 KB record in a tight
//! loop, alternating two different values. The parent kills it, half the
//! time at an arbitrary moment and half the time as soon as it sees a write
//! under way (the dangerous window), then checks that the record on disk is
//! exactly one of the two values and that the next `Store::open` succeeds
//! and removes the leftover temp file. (Checked by sabotage during
//! development: a plain truncate-and-write implementation fails this test.)
//! SIGKILL exercises process crashes; power loss additionally relies on the
//! fsyncs in `write_atomic`, which a test cannot observe.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jukebox::ids::UserId;
use jukebox::store::{CheckpointPolicy, Store};
use serde::{Deserialize, Serialize};

/// Set (to a base dir) only in the child process.
const CHILD_ENV: &str = "JUKEBOX_STORE_CRASH_CHILD";
/// The child writes its completed-write count here after each write.
const PROGRESS_FILE: &str = "progress";
const DOC: &str = "blob";

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Blob {
    generation: String,
    body: String,
}

/// Two large values of different lengths, so any mix of them is detectable.
fn values() -> [Blob; 2] {
    [
        Blob {
            generation: "a".into(),
            body: "a".repeat(200_000),
        },
        Blob {
            generation: "b".into(),
            body: "b".repeat(230_000),
        },
    ]
}

fn user() -> UserId {
    UserId::parse("term:crash").expect("valid id")
}

fn data_dir(base: &Path) -> PathBuf {
    base.join("data")
}

/// Child side: a no-op in normal test runs.
#[test]
fn crash_child() {
    let Some(base) = std::env::var_os(CHILD_ENV).map(PathBuf::from) else {
        return;
    };
    // A checkpoint after every write, so record files are replaced (temp
    // file and rename) as often as the log is appended to, and a kill lands
    // in either.
    let store = Store::open_with(
        &data_dir(&base),
        CheckpointPolicy {
            max_bytes: 1,
            max_age: Duration::from_secs(3600),
        },
    )
    .expect("child opens store");
    let values = values();
    let started = Instant::now();
    // Bounded so an orphaned child cannot spin forever.
    for n in 1u64..=100_000 {
        store
            .write(&user(), DOC, &values[(n % 2) as usize])
            .expect("child write");
        std::fs::write(base.join(PROGRESS_FILE), n.to_string()).expect("progress");
        if started.elapsed() > Duration::from_secs(30) {
            break;
        }
    }
}

fn progress(base: &Path) -> u64 {
    std::fs::read_to_string(base.join(PROGRESS_FILE))
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .unwrap_or(0)
}

/// Sizes of the record file holding each value completely, measured by
/// writing both values into a scratch store (keeps the test independent of
/// the envelope's exact formatting).
fn complete_sizes() -> [u64; 2] {
    let scratch = tempfile::tempdir().unwrap();
    let store = Store::open(scratch.path()).unwrap();
    let path = store.user_dir(&user()).join(format!("{DOC}.json"));
    values().map(|value| {
        store.write(&user(), DOC, &value).unwrap();
        store.checkpoint().unwrap();
        std::fs::metadata(&path).unwrap().len()
    })
}

/// Whether a write is visibly under way: a temp file exists, or the record
/// file has a size that no complete record has (a non-atomic writer).
fn write_in_flight(user_dir: &Path, sizes: &[u64; 2]) -> bool {
    let Ok(entries) = std::fs::read_dir(user_dir) else {
        return false;
    };
    entries.flatten().any(|entry| {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        name.starts_with(".tmp-")
            || (name == format!("{DOC}.json")
                && entry.metadata().is_ok_and(|m| !sizes.contains(&m.len())))
    })
}

#[test]
fn killed_writer_never_leaves_a_torn_record() {
    let exe = std::env::current_exe().unwrap();
    // The child's test by its full name in this binary (`store_durability::
    // crash_child`): the module path without the crate's name.
    let child_test = format!(
        "{}::crash_child",
        module_path!().split_once("::").map_or("", |(_, m)| m)
    );
    let values = values();
    let sizes = complete_sizes();
    let mut interrupted = 0;
    for round in 0..8u64 {
        let base = tempfile::tempdir().unwrap();
        let user_dir = data_dir(base.path())
            .join("users")
            .join(user().shard())
            .join(user().dir_name());
        let mut child = Command::new(&exe)
            .args([child_test.as_str(), "--exact", "--test-threads=1"])
            .env(CHILD_ENV, base.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut wait_until = |done: &dyn Fn() -> bool| {
            while !done() {
                assert!(Instant::now() < deadline, "child made no progress");
                assert!(child.try_wait().unwrap().is_none(), "child exited early");
                std::thread::yield_now();
            }
        };
        // Let a varying number of writes complete first.
        wait_until(&|| progress(base.path()) >= 2 + round);
        if round % 2 == 0 {
            // Aim at the dangerous window: kill while a write is under way.
            wait_until(&|| write_in_flight(&user_dir, &sizes));
        } else {
            // Kill at an arbitrary point of the write cycle.
            std::thread::sleep(Duration::from_micros(round * 700));
        }
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();

        // A kill mid-write leaves a temp file (a checkpoint replacing the
        // record file) or frames in the log not yet written to the file
        // (the next open replays them).
        interrupted += count_temps(&user_dir) + frames_left(&data_dir(base.path()));
        // What a reader sees before any recovery: a whole value (the
        // record file, or the write-ahead log's newest whole frame).
        let reader = Store::open_read_only(&data_dir(base.path())).unwrap();
        let seen: Blob = reader.read(&user(), DOC).unwrap().expect("record exists");
        assert!(
            seen == values[0] || seen == values[1],
            "round {round}: a reader saw a torn record"
        );
        // The kernel released the child's lock when it died.
        let store = Store::open(&data_dir(base.path())).unwrap();
        let blob: Blob = store.read(&user(), DOC).unwrap().expect("record exists");
        assert!(
            blob == values[0] || blob == values[1],
            "round {round}: torn record: generation {:?}, {} bytes",
            blob.generation,
            blob.body.len()
        );
        assert_eq!(
            count_temps(&user_dir),
            0,
            "Store::open must remove stale temp files"
        );
    }
    // Evidence that kills really landed mid-write (a temp file or log
    // frames not yet in the record file were left).
    assert!(interrupted > 0, "no round interrupted a write");
}

/// Segments of the write-ahead log holding frames (longer than their
/// 8-byte header): writes the record file does not have yet.
fn frames_left(data: &Path) -> usize {
    std::fs::read_dir(data.join(jukebox::store::WAL_DIR))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.metadata().is_ok_and(|m| m.len() > 8))
                .count()
        })
        .unwrap_or(0)
}

fn count_temps(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().starts_with(".tmp-")
        })
        .count()
}
