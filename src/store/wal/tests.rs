//! Unit tests for the write-ahead log: frames, replay, torn tails,
//! checkpoints, and what a reader of another process sees.

use super::*;

fn policy() -> CheckpointPolicy {
    // Checkpoints only when a test asks: the thread is not started here.
    CheckpointPolicy {
        max_bytes: u64::MAX,
        max_age: Duration::from_secs(3600),
    }
}

fn put(wal: &Wal, rel: &str, text: &str) {
    wal.write(rel, Some(Arc::from(text.as_bytes()))).unwrap();
}

fn segments(root: &Path) -> Vec<PathBuf> {
    list_segments(&root.join(WAL_DIR))
        .unwrap()
        .into_iter()
        .map(|(_, p)| p)
        .collect()
}

#[test]
fn frames_round_trip_and_refuse_damage() {
    let mut bytes = MAGIC.to_vec();
    bytes.extend(encode("users/ab/tg~1/profile.json", Some(b"{}")).unwrap());
    bytes.extend(encode("global/memos/x.json", None).unwrap());
    let frames: Vec<_> = Frames::new(&bytes).collect::<Result<_, _>>().unwrap();
    assert_eq!(frames[0].path, "users/ab/tg~1/profile.json");
    assert_eq!(frames[0].data, Some(&b"{}"[..]));
    assert_eq!(frames[1].path, "global/memos/x.json");
    assert_eq!(frames[1].data, None);
    // Any cut is read as a torn tail: the whole frames before it stay.
    let first_end = MAGIC.len()
        + encode("users/ab/tg~1/profile.json", Some(b"{}"))
            .unwrap()
            .len();
    for cut in MAGIC.len()..bytes.len() {
        let whole = Frames::new(&bytes[..cut]).map_while(Result::ok).count();
        let torn = Frames::new(&bytes[..cut]).any(|f| f.is_err());
        let boundary = cut == MAGIC.len() || cut == first_end;
        assert_eq!(whole, usize::from(cut >= first_end), "cut at {cut}");
        assert_eq!(torn, !boundary, "cut at {cut}");
    }
    // A flipped bit fails the checksum.
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(Frames::new(&flipped).any(|f| f.is_err()));
    // Paths that would leave the data dir are refused.
    for bad in ["../x.json", "/etc/passwd", "users//x", "global/.tmp-1"] {
        let mut b = MAGIC.to_vec();
        b.extend(encode(bad, Some(b"x")).unwrap());
        assert!(Frames::new(&b).next().unwrap().is_err(), "{bad}");
    }
}

#[test]
fn a_write_is_read_back_before_and_after_its_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("global")).unwrap();
    let wal = Wal::open(dir.path(), policy()).unwrap();
    put(&wal, "global/a.json", "one");
    put(&wal, "global/a.json", "two");
    assert_eq!(wal.get("global/a.json"), Some(Some(Arc::from(&b"two"[..]))));
    // Not in its file yet: only in the log.
    assert!(!dir.path().join("global/a.json").exists());
    assert_eq!(wal.pending(), 1);
    assert_eq!(wal.checkpoint().unwrap(), 1);
    assert_eq!(fs::read(dir.path().join("global/a.json")).unwrap(), b"two");
    assert_eq!(wal.get("global/a.json"), None, "now read from the file");
    // The closed segment is gone; a fresh one is current.
    assert_eq!(segments(dir.path()).len(), 1);
    // A delete reaches the file too.
    wal.write("global/a.json", None).unwrap();
    assert_eq!(wal.get("global/a.json"), Some(None));
    wal.checkpoint().unwrap();
    assert!(!dir.path().join("global/a.json").exists());
    // Nothing logged: a checkpoint does nothing.
    assert_eq!(wal.checkpoint().unwrap(), 0);
}

#[test]
fn a_crash_is_replayed_at_open_and_a_torn_tail_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), policy()).unwrap();
        put(&wal, "users/ab/tg~1/profile.json", "p1");
        put(&wal, "global/memos/m.json", "m1");
        wal.write("global/memos/m.json", None).unwrap();
        put(&wal, "users/ab/tg~1/profile.json", "p2");
        // "Crash": the Wal is dropped without a checkpoint.
    }
    let segment = segments(dir.path()).pop().unwrap();
    // A torn frame at the end, as a kill mid-append leaves it.
    let mut torn = encode("users/ab/tg~1/profile.json", Some(b"p3")).unwrap();
    torn.truncate(torn.len() - 1);
    fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap()
        .write_all(&torn)
        .unwrap();
    // A reader of another process sees the whole frames.
    let reader = Wal::read_only(dir.path()).unwrap();
    assert_eq!(
        reader.get("users/ab/tg~1/profile.json"),
        Some(Some(Arc::from(&b"p2"[..])))
    );
    assert_eq!(reader.get("global/memos/m.json"), Some(None));
    // Opening replays them into the files and starts clean.
    let wal = Wal::open(dir.path(), policy()).unwrap();
    assert_eq!(
        fs::read(dir.path().join("users/ab/tg~1/profile.json")).unwrap(),
        b"p2"
    );
    assert!(!dir.path().join("global/memos/m.json").exists());
    assert_eq!(wal.get("users/ab/tg~1/profile.json"), None);
    let left = segments(dir.path());
    assert_eq!(left.len(), 1);
    assert_eq!(fs::read(&left[0]).unwrap(), MAGIC);
}

#[test]
fn damage_in_a_segment_that_is_not_the_last_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let wal = Wal::open(dir.path(), policy()).unwrap();
        put(&wal, "global/a.json", "one");
    }
    {
        // A second run that also crashed.
        let wal_dir = dir.path().join(WAL_DIR);
        let first = segments(dir.path()).pop().unwrap();
        let number = list_segments(&wal_dir).unwrap().last().unwrap().0;
        fs::copy(&first, segment_path(&wal_dir, number + 1)).unwrap();
        let mut bytes = fs::read(&first).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(&first, bytes).unwrap();
    }
    let err = match Wal::open(dir.path(), policy()) {
        Ok(_) => panic!("a damaged older segment must not be skipped"),
        Err(err) => err,
    };
    assert!(err.to_string().contains("restore the data dir"), "{err}");
}

#[test]
fn writers_go_on_while_a_checkpoint_runs_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("global")).unwrap();
    let wal = Wal::open(dir.path(), policy()).unwrap();
    std::thread::scope(|scope| {
        for t in 0..4 {
            let wal = &wal;
            scope.spawn(move || {
                for i in 0..100 {
                    put(wal, &format!("global/t{t}.json"), &format!("{i}"));
                }
            });
        }
        scope.spawn(|| {
            for _ in 0..20 {
                wal.checkpoint().unwrap();
            }
        });
    });
    for t in 0..4 {
        let rel = format!("global/t{t}.json");
        let seen = match wal.get(&rel) {
            Some(Some(bytes)) => bytes.to_vec(),
            Some(None) => panic!("deleted?"),
            None => fs::read(dir.path().join(&rel)).unwrap(),
        };
        assert_eq!(seen, b"99");
    }
    wal.checkpoint().unwrap();
    for t in 0..4 {
        assert_eq!(
            fs::read(dir.path().join(format!("global/t{t}.json"))).unwrap(),
            b"99"
        );
    }
    assert!(
        wal.group.syncs() < 400,
        "syncs are shared: {}",
        wal.group.syncs()
    );
}

#[test]
fn the_checkpoint_thread_runs_when_a_segment_is_old_or_big_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("global")).unwrap();
    let wal = Wal::open(
        dir.path(),
        CheckpointPolicy {
            max_bytes: 1024,
            max_age: Duration::from_secs(3600),
        },
    )
    .unwrap();
    let thread = {
        let wal = wal.clone();
        std::thread::spawn(move || wal.run_checkpoints())
    };
    // Past the size: the writer wakes the thread, which writes the file.
    put(&wal, "global/big.json", &"x".repeat(2000));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !dir.path().join("global/big.json").exists() {
        assert!(Instant::now() < deadline, "no checkpoint");
        std::thread::yield_now();
    }
    wal.stop();
    thread.join().unwrap();
}

#[test]
fn a_read_only_log_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let wal = Wal::read_only(dir.path()).unwrap();
    let err = wal.write("global/a.json", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
}
