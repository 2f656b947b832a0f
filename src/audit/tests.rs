//! Tests of the audit trail against real files in a temp dir: ordering,
//! isolation, torn and damaged lines, large files, concurrency, rotation.

use std::collections::HashSet;
use std::fs::{self, OpenOptions};
use std::io::Write;

use tempfile::TempDir;

use super::*;

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn event(at: u64, who: Option<&str>, kind: &str, detail: &str) -> Event {
    Event {
        at,
        actor: who.unwrap_or("system").to_owned(),
        user: who.map(user),
        kind: kind.to_owned(),
        node: None,
        detail: detail.to_owned(),
    }
}

/// A log under `<tmp>/audit` with user dirs `<tmp>/users/<dir name>`.
fn open(dir: &TempDir, rotate_bytes: u64) -> AuditLog {
    let users = dir.path().join("users");
    AuditLog::open_with_rotation(
        &dir.path().join("audit"),
        move |u| users.join(u.dir_name()),
        rotate_bytes,
    )
    .unwrap()
}

fn details(events: &[Event]) -> Vec<&str> {
    events.iter().map(|e| e.detail.as_str()).collect()
}

fn append_raw(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new().append(true).open(path).unwrap();
    file.write_all(bytes).unwrap();
}

#[test]
fn recent_for_lists_a_users_events_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, ROTATE_BYTES);
    for i in 0..5 {
        log.record(event(100 + i, Some("tg:1"), "node.state", &format!("e{i}")))
            .unwrap();
    }
    let mut deployed = event(200, Some("tg:1"), "node.redeployed", "on farm 7");
    deployed.node = Some("dash-amber-fox".to_owned());
    log.record(deployed.clone()).unwrap();

    let recent = log.recent_for(&user("tg:1"), 3).unwrap();
    assert_eq!(recent[0], deployed);
    assert_eq!(details(&recent), ["on farm 7", "e4", "e3"]);
    assert_eq!(log.recent_for(&user("tg:1"), 100).unwrap().len(), 6);
    assert!(log.recent_for(&user("tg:1"), 0).unwrap().is_empty());
    assert!(log.recent_for(&user("tg:2"), 10).unwrap().is_empty());
}

#[test]
fn user_trails_are_isolated_and_global_has_everything() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, ROTATE_BYTES);
    log.record(event(1, Some("tg:1"), "payment.credited", "a1"))
        .unwrap();
    log.record(event(2, Some("tg:2"), "payment.credited", "b1"))
        .unwrap();
    log.record(event(3, None, "admin.maintenance", "on"))
        .unwrap();
    log.record_all(vec![
        event(4, Some("tg:2"), "node.state", "b2"),
        event(5, Some("tg:1"), "node.state", "a2"),
    ])
    .unwrap();

    assert_eq!(
        details(&log.recent_for(&user("tg:1"), 10).unwrap()),
        ["a2", "a1"]
    );
    assert_eq!(
        details(&log.recent_for(&user("tg:2"), 10).unwrap()),
        ["b2", "b1"]
    );
    let global = log.recent(10, None).unwrap();
    assert_eq!(details(&global), ["a2", "b2", "on", "b1", "a1"]);
    assert_eq!(
        details(&log.recent(10, Some(3)).unwrap()),
        ["a2", "b2", "on"]
    );
    // The offline readers see the same without the handle.
    let root = dir.path().join("audit");
    assert_eq!(read_global_recent(&root, 2, None).unwrap(), global[..2]);
    assert_eq!(
        read_recent(&log.user_trail(&user("tg:1")), 1).unwrap(),
        log.recent_for(&user("tg:1"), 1).unwrap()
    );
}

#[test]
fn lines_carry_a_version_and_omit_an_absent_node() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, ROTATE_BYTES);
    log.record(event(7, None, "admin.maintenance", "two\nlines"))
        .unwrap();
    let text = fs::read_to_string(dir.path().join("audit/global.jsonl")).unwrap();
    assert_eq!(
        text,
        "{\"v\":1,\"at\":7,\"actor\":\"system\",\"user\":null,\"kind\":\"admin.maintenance\",\"detail\":\"two\\nlines\"}\n"
    );
}

#[test]
fn long_details_are_cut_at_a_character_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, ROTATE_BYTES);
    log.record(event(1, None, "admin.note", &"é".repeat(MAX_DETAIL)))
        .unwrap();
    let detail = &log.recent(1, None).unwrap()[0].detail;
    assert!(detail.len() <= MAX_DETAIL + "…".len() && detail.ends_with('…'));
}

#[test]
fn count_since_counts_recent_kinds_and_stops_at_old_events() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, ROTATE_BYTES);
    let old: Vec<Event> = (0..10_000)
        .map(|i| event(1_000 + i / 100, None, "node.deployed", "old"))
        .collect();
    log.record_all(old).unwrap();
    let since = 100_000;
    log.record_all(vec![
        event(since, Some("tg:1"), "node.deployed", "new"),
        event(since + 5, Some("tg:2"), "node.failed", "new"),
        // Appended late but still within the window.
        event(since + 1, Some("tg:3"), "node.deployed", "new"),
    ])
    .unwrap();

    let (counts, cost) = count_since_costed(&dir.path().join("audit"), since).unwrap();
    assert_eq!(
        counts,
        BTreeMap::from([
            ("node.deployed".to_owned(), 2),
            ("node.failed".to_owned(), 1)
        ])
    );
    // Three recent lines and the first old one, not 10,003.
    assert_eq!(cost.lines, 4);
    assert_eq!(log.count_since(since).unwrap(), counts);
    assert!(log.count_since(since + 100).unwrap().is_empty());
}

#[test]
fn torn_last_lines_are_ignored_and_the_next_append_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    let global = dir.path().join("audit/global.jsonl");
    let log = open(&dir, ROTATE_BYTES);
    log.record(event(1, Some("tg:1"), "node.state", "before"))
        .unwrap();
    let trail = log.user_trail(&user("tg:1"));
    // A crash mid-append leaves half a line in both files.
    let half = br#"{"v":1,"at":2,"actor":"tg:1","user":"tg:1","kind":"no"#;
    append_raw(&global, half);
    append_raw(&trail, half);
    assert_eq!(details(&log.recent(10, None).unwrap()), ["before"]);
    assert_eq!(details(&read_recent(&trail, 10).unwrap()), ["before"]);

    // The next append cuts the fragments off first.
    log.record(event(3, Some("tg:1"), "node.state", "after"))
        .unwrap();
    assert_eq!(
        details(&read_recent(&trail, 10).unwrap()),
        ["after", "before"]
    );
    assert_eq!(details(&log.recent(10, None).unwrap()), ["after", "before"]);

    // A crash while the log is closed: opening it again repairs the file.
    drop(log);
    append_raw(&global, half);
    assert_eq!(
        read_global_recent(&dir.path().join("audit"), 10, None)
            .unwrap()
            .len(),
        2
    );
    let log = open(&dir, ROTATE_BYTES);
    log.record(event(4, None, "admin.maintenance", "reopened"))
        .unwrap();
    for path in [&global, &trail] {
        let text = fs::read_to_string(path).unwrap();
        assert!(
            text.lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        );
    }
    assert_eq!(
        details(&log.recent(10, None).unwrap()),
        ["reopened", "after", "before"]
    );
}

#[test]
fn unparsable_and_over_long_lines_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, ROTATE_BYTES);
    let trail = log.user_trail(&user("tg:1"));
    log.record(event(1, Some("tg:1"), "node.state", "first"))
        .unwrap();
    append_raw(&trail, b"not json\n{\"v\":99,\"at\":1}\n\n");
    let mut huge = vec![b'x'; tail::MAX_LINE + 200_000];
    huge.push(b'\n');
    append_raw(&trail, &huge);
    log.record(event(2, Some("tg:1"), "node.state", "second"))
        .unwrap();
    assert_eq!(
        details(&log.recent_for(&user("tg:1"), 10).unwrap()),
        ["second", "first"]
    );
    // Also when the over-long line is the very first one.
    let path = dir.path().join("only-long.jsonl");
    fs::write(&path, &huge).unwrap();
    append_raw(&path, &fs::read(&trail).unwrap());
    assert_eq!(
        details(&read_recent(&path, 10).unwrap()),
        ["second", "first"]
    );
}

#[test]
fn the_tail_of_a_large_file_is_read_without_reading_it_all() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, ROTATE_BYTES);
    for batch in 0..10 {
        let events = (0..5_000)
            .map(|i| {
                let n = batch * 5_000 + i;
                event(n, Some("tg:1"), "node.state", &format!("event {n}"))
            })
            .collect();
        log.record_all(events).unwrap();
    }
    let trail = log.user_trail(&user("tg:1"));
    let len = fs::metadata(&trail).unwrap().len();
    assert!(len > 3_000_000, "{len}");

    let started = std::time::Instant::now();
    let recent = log.recent_for(&user("tg:1"), 25).unwrap();
    let took = started.elapsed();
    let expected: Vec<String> = (49_975..50_000)
        .rev()
        .map(|n| format!("event {n}"))
        .collect();
    assert_eq!(details(&recent), expected);
    assert_eq!(recent[0].at, 49_999);

    let mut cost = tail::ScanCost::default();
    let mut seen = 0;
    tail::scan_file(&trail, &mut cost, &mut |_| {
        stop_when({
            seen += 1;
            seen >= 25
        })
    })
    .unwrap();
    assert!(cost.bytes_read <= 64 * 1024, "{cost:?} of {len}");
    assert_eq!(cost.lines, 25);
    eprintln!("last 25 of {len} bytes in {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_records_are_all_present_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, 256 * 1024);
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let log = log.clone();
            tokio::spawn(async move {
                for i in 0..500 {
                    // Two users per task, so tasks share users too.
                    let who = format!("tg:{}", (t + i) % 10);
                    log.record(event(i, Some(&who), "node.state", &format!("{t}/{i}")))
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }

    let global = log.recent(usize::MAX, None).unwrap();
    assert_eq!(global.len(), 4_000);
    let unique: HashSet<&str> = global.iter().map(|e| e.detail.as_str()).collect();
    assert_eq!(unique.len(), 4_000);
    let mut per_user = 0;
    for u in 0..10 {
        let id = user(&format!("tg:{u}"));
        let events = log.recent_for(&id, usize::MAX).unwrap();
        assert!(events.iter().all(|e| e.user.as_ref() == Some(&id)));
        per_user += events.len();
    }
    assert_eq!(per_user, 4_000);
    // Each task's own events stay in order in the global trail.
    for t in 0..8 {
        let prefix = format!("{t}/");
        let mine: Vec<u64> = global
            .iter()
            .rev()
            .filter(|e| e.detail.starts_with(&prefix))
            .map(|e| e.at)
            .collect();
        assert_eq!(mine, (0..500).collect::<Vec<_>>());
    }
}

#[test]
fn rotation_keeps_every_file_and_reads_go_across_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("audit");
    let log = open(&dir, 2_048);
    for i in 0..150 {
        log.record(event(i, None, "admin.note", &format!("n{i}")))
            .unwrap();
    }
    let rotated = tail::rotated_files(&root).unwrap();
    assert!(rotated.len() >= 4, "{rotated:?}");
    assert!(rotated.iter().map(|(n, _)| *n).eq(1..=rotated.len() as u64));

    // Every event exactly once, in order, over the rotated files then the current one.
    let mut files: Vec<PathBuf> = rotated.iter().map(|(_, p)| p.clone()).collect();
    files.push(root.join("global.jsonl"));
    let mut all: Vec<Event> = Vec::new();
    for file in &files {
        all.extend(read_recent(file, usize::MAX).unwrap().into_iter().rev());
    }
    assert!(all.iter().map(|e| e.at).eq(0..150));
    let recent = log.recent(usize::MAX, None).unwrap();
    assert!(recent.iter().map(|e| e.at).eq((0..150).rev()));
    assert_eq!(log.count_since(100).unwrap()["admin.note"], 50);

    // Reopening goes on numbering after the last rotated file.
    drop(log);
    let log = open(&dir, 2_048);
    for i in 150..300 {
        log.record(event(i, None, "admin.note", &format!("n{i}")))
            .unwrap();
    }
    let more = tail::rotated_files(&root).unwrap();
    assert!(more.len() > rotated.len());
    assert_eq!(
        fs::read(&rotated[0].1).unwrap(),
        fs::read(&more[0].1).unwrap()
    );
    let recent = log.recent(usize::MAX, None).unwrap();
    assert!(recent.iter().map(|e| e.at).eq((0..300).rev()));
}

#[test]
fn a_second_log_on_the_same_root_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = open(&dir, ROTATE_BYTES);
    let again = AuditLog::open(&dir.path().join("audit"), |u| PathBuf::from(u.dir_name()));
    assert!(again.is_err());
    drop(log);
    open(&dir, ROTATE_BYTES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_a_deferred_scope_both_trails_sync_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = crate::store::Store::open(&dir.path().join("data")).unwrap();
    let log = open(&dir, ROTATE_BYTES);
    crate::store::deferred(&store, async {
        log.record(event(1, Some("tg:1"), "order.placed", "o1"))
            .unwrap();
        log.record(event(2, Some("tg:1"), "order.paid", "o1"))
            .unwrap();
        // Written and readable now; two syncs per event (the global file,
        // the user's) and the new trail's directory entries (`users/`, the
        // user's directory, the file's name) kept for the scope's end
        // instead of run one by one.
        assert_eq!(
            details(&log.recent_for(&user("tg:1"), 10).unwrap()),
            ["o1", "o1"]
        );
        assert_eq!(log.recent(10, None).unwrap().len(), 2);
        assert_eq!(crate::store::kept_syncs(), 4 + 3);
        Ok(())
    })
    .await
    .unwrap();
    // The scope's end handed them to the store's sync and waited for it.
    assert!(store.all_durable());
    // Outside a scope a record is synced before it returns, as before.
    log.record(event(3, Some("tg:1"), "order.deployed", "o1"))
        .unwrap();
    assert_eq!(log.recent(10, None).unwrap().len(), 3);
}
