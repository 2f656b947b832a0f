//! The store's write-ahead log: one fsync for the records many users write
//! at the same moment, and no new file on the hot path.
//!
//! Writing a record as its own file (temp file, fsync, rename, directory
//! fsync) costs two syncs and a new inode every time; with 100 users at once
//! the bot spent most of its CPU in ext4's inode allocator and most of its
//! latency waiting for syncs one after the other (docs/benchmarks.md, issue
//! 21). So a record write is now:
//!
//! 1. appended as one frame to the current segment of `<data>/wal/`
//!    (a `write` into the page cache) and put in an in-memory **overlay**
//!    that readers of this process consult before the record files, both
//!    under one lock, so the log's order is the order readers saw;
//! 2. made durable by a [`GroupCommit`]: the writer waits for an
//!    `fdatasync` of the segment that started after its append, shared with
//!    every writer of that moment, and only then returns (so no reply is
//!    sent before the step it confirms is on disk);
//! 3. written to its record file later, by a **checkpoint** (a background
//!    thread, every 30 s or when a segment reaches 64 MiB, and at a clean
//!    close): the current segment is closed and a new one started, the
//!    newest version of each record of the closed segment is written to its
//!    file (temp file and rename, so a record file is always whole, and a
//!    backup's hard link keeps its version), then one `syncfs` makes them
//!    all durable at once and the closed segment is deleted. A record
//!    written ten times between two checkpoints costs one file write.
//!
//! After a crash, `Store::open` replays the segments left (oldest first, a
//! torn last frame of the newest segment dropped: its writer never
//! returned) into the record files, syncs and deletes them. A read-only
//! store (`jukebox admin`, the crash tests) loads the segments into its
//! overlay instead, so it sees every write that returned, even one the
//! running process has not checkpointed yet. A backup copies the segments
//! along with the records (the copy is taken with writes paused, so each
//! segment ends on a whole frame), and the restored store replays them.
//!
//! Frame: `len: u32 LE | crc32(payload): u32 LE | payload`, payload
//! `op: u8 (1 put, 2 delete) | path len: u16 LE | path (relative to the data
//! dir, UTF-8) | record bytes`. A segment starts with [`MAGIC`].
//!
//! Ours rather than a crate's for the reason `group_commit.rs` gives: the
//! embedded storage engines would replace the plain JSON record files that
//! operators, backups and the crash tests read; the log only sits in front
//! of them.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write as _};
use std::ops::Bound;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::durable::{self, hold_write, lock, sync_dir};
use super::group_commit::{GroupCommit, Ticket};

/// The log's directory in the data dir.
pub const WAL_DIR: &str = "wal";
/// The first bytes of every segment (format version 1).
const MAGIC: &[u8; 8] = b"JBXWAL1\n";
const SEGMENT_EXT: &str = "wal";
const OP_PUT: u8 = 1;
const OP_DELETE: u8 = 2;
/// Larger frames are refused (and read as damage): records are kilobytes.
const MAX_FRAME: usize = 64 << 20;

/// When a checkpoint runs: the current segment is this big, or its first
/// write is this old. Between checkpoints the overlay holds the newest
/// version of each record written (a few MiB at most), and a crash replays
/// at most this much.
#[derive(Clone, Copy, Debug)]
pub struct CheckpointPolicy {
    pub max_bytes: u64,
    pub max_age: Duration,
}

impl Default for CheckpointPolicy {
    fn default() -> CheckpointPolicy {
        // Like a database's checkpoint interval: longer means fewer file
        // writes (a record written at every step of a conversation reaches
        // its file once per interval) and a longer replay after a crash
        // (at most 64 MiB of frames, a second or two).
        CheckpointPolicy {
            max_bytes: 64 << 20,
            max_age: Duration::from_secs(30),
        }
    }
}

/// The newest version of a record known to the log: its bytes, or deleted.
pub type Version = Option<Arc<[u8]>>;

/// The log of one data dir, shared by the store and its checkpoint thread.
#[derive(Debug)]
pub struct Wal {
    root: PathBuf,
    dir: PathBuf,
    state: Mutex<State>,
    group: GroupCommit,
    /// One checkpoint at a time (the thread's, a close's, a caller's).
    checkpointing: Mutex<()>,
    policy: CheckpointPolicy,
    /// Wakes the checkpoint thread early (big segment, or stop).
    wake: Condvar,
}

#[derive(Debug)]
struct State {
    /// None for a read-only store, which appends nothing.
    segment: Option<Arc<File>>,
    number: u64,
    len: u64,
    /// When the current segment got its first frame.
    first_write: Option<Instant>,
    /// The newest version of every record written to the current segment.
    overlay: BTreeMap<String, Version>,
    /// The versions a running checkpoint is writing to their files; read
    /// after the overlay and before the files.
    flushing: Arc<BTreeMap<String, Version>>,
    /// Set when the log can no longer vouch for what it holds (a rotation's
    /// sync or a failed append's repair failed): every later write fails.
    broken: Option<String>,
    stop: bool,
    /// Other files the next sync makes durable too, before the segment
    /// (what the scopes that ended appended elsewhere: audit trails, the
    /// sandbox wallet's and the simulated grid's journals, new directory
    /// entries): by (device, inode), so a file many scopes appended to is
    /// synced once.
    also: HashMap<(u64, u64), File>,
}

impl Wal {
    /// Opens the log of a writable store: replays what a crash left into
    /// the record files, then starts a fresh segment. Called with the data
    /// dir's lock held.
    pub fn open(root: &Path, policy: CheckpointPolicy) -> io::Result<Arc<Wal>> {
        let dir = root.join(WAL_DIR);
        durable::ensure_dir(&dir)?;
        durable::remove_stale_temps(&dir)?;
        let segments = list_segments(&dir)?;
        let replayed = replay(root, &segments)?;
        if !segments.is_empty() {
            syncfs(root)?;
            for (_, path) in &segments {
                fs::remove_file(path)?;
            }
            sync_dir(&dir)?;
            tracing::info!(
                records = replayed,
                segments = segments.len(),
                "replayed the store's write-ahead log after an unclean stop"
            );
        }
        let number = segments.last().map_or(1, |(n, _)| n + 1);
        let segment = create_segment(&dir, number)?;
        Ok(Wal::new(
            root,
            dir,
            Some(Arc::new(segment)),
            number,
            BTreeMap::new(),
            policy,
        ))
    }

    /// The log as a reader sees it, for a read-only store: every whole
    /// frame of every segment, in order, in the overlay. A torn frame ends
    /// its segment (the writer may be appending right now).
    pub fn read_only(root: &Path) -> io::Result<Arc<Wal>> {
        let dir = root.join(WAL_DIR);
        let mut overlay = BTreeMap::new();
        for (_, path) in list_segments(&dir)? {
            // A segment deleted by a checkpoint meanwhile is in the files.
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for frame in Frames::new(&bytes).map_while(Result::ok) {
                overlay.insert(frame.path.to_owned(), frame.version());
            }
        }
        Ok(Wal::new(
            root,
            dir,
            None,
            0,
            overlay,
            CheckpointPolicy::default(),
        ))
    }

    /// A log whose current segment is `segment` (None: read-only), with
    /// `overlay` already known.
    fn new(
        root: &Path,
        dir: PathBuf,
        segment: Option<Arc<File>>,
        number: u64,
        overlay: BTreeMap<String, Version>,
        policy: CheckpointPolicy,
    ) -> Arc<Wal> {
        let len = if segment.is_some() {
            MAGIC.len() as u64
        } else {
            0
        };
        Arc::new(Wal {
            root: root.to_owned(),
            dir,
            state: Mutex::new(State {
                segment,
                number,
                len,
                first_write: None,
                overlay,
                flushing: Arc::default(),
                broken: None,
                stop: false,
                also: HashMap::new(),
            }),
            group: GroupCommit::new(),
            checkpointing: Mutex::new(()),
            policy,
            wake: Condvar::new(),
        })
    }

    /// Logs `version` of the record at `rel` (relative to the data dir) and
    /// returns once it is durable. Blocking.
    #[cfg(test)]
    pub fn write(&self, rel: &str, version: Version) -> io::Result<()> {
        let ticket = self.append(rel, version)?;
        self.wait(ticket)
    }

    /// Logs `version` of the record at `rel` and returns at once, with the
    /// ticket [`Wal::wait`] takes: readers of this process see it now, the
    /// disk has it once a sync covers the ticket (see `deferred.rs`).
    pub fn append(&self, rel: &str, version: Version) -> io::Result<Ticket> {
        let frame = encode(rel, version.as_deref())?;
        let ticket = {
            // Held across the append so a backup's frozen copy of the log
            // ends on a whole frame.
            let _writing = hold_write();
            // Data behind the lock: a segment handle, counters and maps each
            // changed in single statements after the IO that can fail.
            let mut state = lock(&self.state);
            if let Some(why) = &state.broken {
                return Err(io::Error::other(format!(
                    "the store's write-ahead log is unusable until a restart: {why}"
                )));
            }
            let Some(segment) = state.segment.clone() else {
                return Err(io::Error::new(
                    ErrorKind::PermissionDenied,
                    "the store is open read-only",
                ));
            };
            if let Err(e) = (&*segment).write_all(&frame) {
                // Cut the partial frame off so later frames are not hidden
                // behind it; if even that fails, stop writing altogether.
                if let Err(cut) = segment.set_len(state.len) {
                    state.broken = Some(format!("{e}; then {cut}"));
                }
                return Err(e);
            }
            state.len += frame.len() as u64;
            state.first_write.get_or_insert_with(Instant::now);
            state.overlay.insert(rel.to_owned(), version);
            if state.len >= self.policy.max_bytes {
                self.wake.notify_all();
            }
            self.group.ticket()
        };
        Ok(ticket)
    }

    /// Returns once the write of `ticket` is durable. Blocking.
    pub fn wait(&self, ticket: Ticket) -> io::Result<()> {
        self.group.wait(ticket, || self.sync_current())
    }

    /// Whether every write logged so far is durable.
    pub fn all_durable(&self) -> bool {
        self.group.is_durable(self.group.latest())
    }

    /// Returns once every write logged so far is durable (at once when it
    /// is already). While [`Wal::serve_syncs`] runs, the wait holds no
    /// thread (see `group_commit.rs`).
    pub async fn barrier(&self) -> io::Result<()> {
        let latest = self.group.latest();
        if self.group.is_durable(latest) {
            return Ok(());
        }
        self.group.wait_async(latest, || self.sync_current()).await
    }

    /// Leads the syncs async barriers ask for, until [`Wal::stop`]: the
    /// store's sync thread.
    pub fn serve_syncs(&self) {
        self.group.serve(|| self.sync_current());
    }

    /// Has the next sync make `files` durable as well (before the log's
    /// segment, so a durable frame implies durable lines written before
    /// it), and counts that as a write the next barrier waits for.
    pub fn sync_with_next(&self, files: Vec<File>) -> io::Result<()> {
        let mut keyed = Vec::with_capacity(files.len());
        for file in files {
            let meta = file.metadata()?;
            keyed.push(((meta.dev(), meta.ino()), file));
        }
        let mut state = lock(&self.state);
        state.also.extend(keyed);
        // Under the same lock as the list, like an append's ticket.
        self.group.ticket();
        Ok(())
    }

    /// The group commit's sync: the files asked for, then the segment
    /// current when it starts. A rotation syncs the segment it closes
    /// before switching, so every frame registered before this call is
    /// durable once it returns Ok.
    fn sync_current(&self) -> io::Result<()> {
        let (segment, broken, also) = {
            let mut state = lock(&self.state);
            (
                state.segment.clone(),
                state.broken.clone(),
                std::mem::take(&mut state.also),
            )
        };
        if also.is_empty() {
            if let Some(segment) = &segment {
                segment.sync_data()?;
            }
        } else {
            // One `syncfs` per filesystem instead of an `fdatasync` per
            // file: every `fdatasync` is a journal commit of its own, and a
            // round holds a file per user who answered meanwhile (measured
            // on this project's VM: one file 0.19 ms, ten files 1.7 ms one
            // after the other and 2.2 ms in parallel, `syncfs` of all of
            // them 0.28 ms). Its price: the round also writes whatever else
            // is dirty on that filesystem (a checkpoint's record files).
            let mut devices: HashMap<u64, &File> = HashMap::new();
            for ((dev, _), file) in &also {
                devices.entry(*dev).or_insert(file);
            }
            for file in devices.values() {
                syncfs_of(file)?;
            }
            if let Some(segment) = &segment
                && !devices.contains_key(&segment.metadata()?.dev())
            {
                segment.sync_data()?;
            }
        }
        match broken {
            Some(why) => Err(io::Error::other(why)),
            None => Ok(()),
        }
    }

    /// The newest version of `rel` the log knows (None: ask the file).
    pub fn get(&self, rel: &str) -> Option<Version> {
        let state = lock(&self.state);
        state
            .overlay
            .get(rel)
            .or_else(|| state.flushing.get(rel))
            .cloned()
    }

    /// The records the log knows under `prefix` (a directory, ending in
    /// `/`), with their newest versions, whatever their depth.
    pub fn under(&self, prefix: &str) -> BTreeMap<String, Version> {
        let state = lock(&self.state);
        let range = |map: &BTreeMap<String, Version>| {
            map.range::<str, _>((Bound::Included(prefix), Bound::Unbounded))
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<Vec<_>>()
        };
        let mut found: BTreeMap<String, Version> = range(&state.flushing).into_iter().collect();
        // The overlay is newer than what is being flushed.
        found.extend(range(&state.overlay));
        found
    }

    /// Whether a checkpoint is due under the policy.
    fn due(&self, state: &State) -> bool {
        state.len >= self.policy.max_bytes
            || state
                .first_write
                .is_some_and(|t| t.elapsed() >= self.policy.max_age)
    }

    /// Writes every record logged so far to its file, makes the files
    /// durable and drops the segments that held them. Blocking; writers go
    /// on meanwhile (into a new segment). Returns how many records it wrote.
    pub fn checkpoint(&self) -> io::Result<usize> {
        let _one = lock(&self.checkpointing);
        // A new segment first, created and made durable outside the lock.
        let (next, closed) = {
            let state = lock(&self.state);
            if state.segment.is_none() || state.first_write.is_none() {
                return Ok(0);
            }
            (state.number + 1, state.number)
        };
        let fresh = Arc::new(create_segment(&self.dir, next)?);
        let flushing = {
            let _writing = hold_write();
            let mut state = lock(&self.state);
            if let Some(old) = &state.segment
                && let Err(e) = old.sync_data()
            {
                // The closed segment's frames may not be durable, and
                // Linux may have dropped the pages it failed to write:
                // nothing written from now on can be vouched for.
                state.broken = Some(format!("syncing the write-ahead log: {e}"));
                return Err(e);
            }
            state.segment = Some(fresh);
            state.number = next;
            state.len = MAGIC.len() as u64;
            state.first_write = None;
            // What an earlier, failed checkpoint did not finish goes again,
            // under what was written since.
            let mut flushing = (*state.flushing).clone();
            flushing.append(&mut state.overlay);
            let flushing = Arc::new(flushing);
            state.flushing = flushing.clone();
            flushing
        };
        for (rel, version) in flushing.iter() {
            let _writing = hold_write();
            apply(&self.root, rel, version.as_deref())?;
        }
        syncfs(&self.root)?;
        {
            let _writing = hold_write();
            for (number, path) in list_segments(&self.dir)? {
                if number <= closed {
                    fs::remove_file(&path)?;
                }
            }
            sync_dir(&self.dir)?;
        }
        lock(&self.state).flushing = Arc::default();
        Ok(flushing.len())
    }

    /// The checkpoint thread's loop: checkpoints when due, until
    /// [`Wal::stop`]. Failures are logged and retried at the next turn.
    pub fn run_checkpoints(&self) {
        let tick = (self.policy.max_age / 4).max(Duration::from_millis(50));
        let mut state = lock(&self.state);
        loop {
            if state.stop {
                return;
            }
            if self.due(&state) {
                drop(state);
                if let Err(e) = self.checkpoint() {
                    tracing::error!(error = %e, "the store's checkpoint failed; records stay in the write-ahead log");
                }
                state = lock(&self.state);
                continue;
            }
            state = self
                .wake
                .wait_timeout(state, tick)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// Ends [`Wal::run_checkpoints`] and [`Wal::serve_syncs`] (once no
    /// async barrier waits for it).
    pub fn stop(&self) {
        lock(&self.state).stop = true;
        self.wake.notify_all();
        self.group.stop_serving();
    }

    /// Syncs run so far (for tests).
    #[cfg(test)]
    pub fn syncs(&self) -> u64 {
        self.group.syncs()
    }

    /// Frames logged since the last checkpoint (for tests).
    #[cfg(test)]
    pub fn pending(&self) -> usize {
        lock(&self.state).overlay.len()
    }
}

/// Writes one version of a record to its file: replaced whole (temp file
/// and rename, unsynced: the checkpoint's `syncfs` follows) or removed.
fn apply(root: &Path, rel: &str, version: Option<&[u8]>) -> io::Result<()> {
    let path = root.join(rel);
    match version {
        Some(bytes) => {
            if let Some(dir) = path.parent() {
                durable::ensure_dir(dir)?;
            }
            durable::replace_unsynced(&path, bytes)
        }
        None => match fs::remove_file(&path) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
    }
}

/// Replays segments (oldest first) into the record files; the newest may
/// end in a torn frame, any other must be whole. Returns the records written.
fn replay(root: &Path, segments: &[(u64, PathBuf)]) -> io::Result<usize> {
    let mut newest: BTreeMap<String, Version> = BTreeMap::new();
    for (i, (_, path)) in segments.iter().enumerate() {
        let bytes = fs::read(path)?;
        let last = i + 1 == segments.len();
        for frame in Frames::new(&bytes) {
            match frame {
                Ok(frame) => {
                    newest.insert(frame.path.to_owned(), frame.version());
                }
                // Never acknowledged: its writer waited for a sync that
                // did not happen.
                Err(_) if last => break,
                Err(why) => {
                    return Err(io::Error::new(
                        ErrorKind::InvalidData,
                        format!(
                            "{} is damaged ({why}) although a later segment exists; \
                             restore the data dir from a backup",
                            path.display()
                        ),
                    ));
                }
            }
        }
    }
    for (rel, version) in &newest {
        apply(root, rel, version.as_deref())?;
    }
    Ok(newest.len())
}

/// Makes every write to the file system holding `root` durable.
fn syncfs(root: &Path) -> io::Result<()> {
    syncfs_of(&File::open(root)?)
}

/// `syncfs` of the filesystem `file` is on.
fn syncfs_of(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: `syncfs` only reads the descriptor, which `file` keeps open
    // for the duration of the call.
    if unsafe { libc::syncfs(file.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:016x}.{SEGMENT_EXT}"))
}

/// A new, empty segment whose name is durable before any frame is in it.
fn create_segment(dir: &Path, number: u64) -> io::Result<File> {
    let path = segment_path(dir, number);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(MAGIC)?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

/// The segments in `dir`, oldest first.
fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(stem) = name
            .to_str()
            .and_then(|n| n.strip_suffix(SEGMENT_EXT))
            .and_then(|n| n.strip_suffix('.'))
        else {
            continue;
        };
        if let Ok(number) = u64::from_str_radix(stem, 16) {
            found.push((number, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

fn encode(rel: &str, bytes: Option<&[u8]>) -> io::Result<Vec<u8>> {
    let path_len = u16::try_from(rel.len())
        .map_err(|_| io::Error::new(ErrorKind::InvalidInput, "record path too long"))?;
    let data = bytes.unwrap_or_default();
    let payload_len = 1 + 2 + rel.len() + data.len();
    if payload_len > MAX_FRAME {
        return Err(io::Error::new(
            ErrorKind::InvalidInput,
            format!("a record of {} bytes is too big", data.len()),
        ));
    }
    let mut payload = Vec::with_capacity(payload_len);
    payload.push(if bytes.is_some() { OP_PUT } else { OP_DELETE });
    payload.extend_from_slice(&path_len.to_le_bytes());
    payload.extend_from_slice(rel.as_bytes());
    payload.extend_from_slice(data);
    let mut frame = Vec::with_capacity(8 + payload.len());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    frame.extend_from_slice(&payload);
    Ok(frame)
}

/// One frame read back.
struct Frame<'a> {
    path: &'a str,
    data: Option<&'a [u8]>,
}

impl Frame<'_> {
    fn version(&self) -> Version {
        self.data.map(Arc::from)
    }
}

/// The frames of one segment's bytes, each whole and checked, or the
/// reason the rest cannot be read.
struct Frames<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> Frames<'a> {
    fn new(bytes: &'a [u8]) -> Frames<'a> {
        match bytes.strip_prefix(MAGIC.as_slice()) {
            Some(rest) => Frames {
                rest,
                failed: false,
            },
            // An empty file is a segment cut before its header was written.
            None => Frames {
                rest: if bytes.is_empty() { &[] } else { bytes },
                failed: false,
            },
        }
    }

    fn next_frame(&mut self) -> Result<Frame<'a>, Damage> {
        let damage = |why: &str| Damage(why.to_owned());
        let header = self
            .rest
            .get(..8)
            .ok_or_else(|| damage("a frame header is cut short"))?;
        let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
        if len > MAX_FRAME {
            return Err(Damage(format!("a frame claims {len} bytes")));
        }
        let payload = self
            .rest
            .get(8..8 + len)
            .ok_or_else(|| damage("a frame is cut short"))?;
        if crc32fast::hash(payload) != crc {
            return Err(damage("a frame's checksum does not match"));
        }
        let (&op, rest) = payload
            .split_first()
            .ok_or_else(|| damage("an empty frame"))?;
        let path_len = rest
            .get(..2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| damage("a frame without its path"))?;
        let path = rest
            .get(2..2 + path_len)
            .and_then(|p| std::str::from_utf8(p).ok())
            .filter(|p| is_record_path(p))
            .ok_or_else(|| damage("a frame with a bad path"))?;
        let data = &rest[2 + path_len..];
        let data = match op {
            OP_PUT => Some(data),
            OP_DELETE => None,
            other => return Err(Damage(format!("a frame with unknown operation {other}"))),
        };
        self.rest = &self.rest[8 + len..];
        Ok(Frame { path, data })
    }
}

/// Why the rest of a segment cannot be read (its words go in the error
/// that refuses to open a damaged log).
#[derive(Debug)]
struct Damage(String);

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, Damage>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let frame = self.next_frame();
        self.failed = frame.is_err();
        Some(frame)
    }
}

/// A path a frame may name: relative, inside the data dir, no `..`, no
/// temp file (what the store itself builds from checked names).
fn is_record_path(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.starts_with('/')
        && rel
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != ".." && !durable::is_temp(part))
}

#[cfg(test)]
mod tests;
