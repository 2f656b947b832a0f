//! Unit tests for `Store`: round trips, envelopes, locking, listing, temps.

use std::fs;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::*;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Profile {
    name: String,
    credits: i64,
}

fn user(text: &str) -> UserId {
    UserId::parse(text).unwrap()
}

fn profile() -> Profile {
    Profile {
        name: "Alice".into(),
        credits: 42,
    }
}

#[test]
fn round_trip_delete_and_missing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let alice = user("term:alice");
    assert!(!store.user_exists(&alice));
    assert_eq!(store.read::<Profile>(&alice, "profile").unwrap(), None);
    store.write(&alice, "profile", &profile()).unwrap();
    assert!(store.user_exists(&alice));
    assert_eq!(
        store.read::<Profile>(&alice, "profile").unwrap(),
        Some(profile())
    );
    store.delete(&alice, "profile").unwrap();
    store.delete(&alice, "profile").unwrap();
    assert_eq!(store.read::<Profile>(&alice, "profile").unwrap(), None);
}

#[test]
fn records_are_enveloped_on_disk_in_sharded_dirs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bob = user("tg:12345");
    store.write(&bob, "profile", &profile()).unwrap();
    // Records reach their files at a checkpoint (the log holds them before).
    store.checkpoint().unwrap();
    let path = dir
        .path()
        .join("users")
        .join(bob.shard())
        .join("tg~12345")
        .join("profile.json");
    assert_eq!(store.user_dir(&bob), path.parent().unwrap());
    let raw: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600, "records are private");
    assert_eq!(mode(path.parent().unwrap()), 0o700, "user dirs are private");
    assert_eq!(
        raw,
        json!({"schema": 1, "data": {"name": "Alice", "credits": 42}})
    );
}

#[test]
fn newer_schema_and_corrupt_json_are_reported_with_path() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let alice = user("term:alice");
    store.write(&alice, "profile", &profile()).unwrap();
    store.checkpoint().unwrap();
    let path = store.user_dir(&alice).join("profile.json");

    fs::write(&path, br#"{"schema": 9, "data": {}}"#).unwrap();
    let err = store.read::<Profile>(&alice, "profile").unwrap_err();
    assert!(matches!(&err, StoreError::NewerSchema { found: 9, path: p } if *p == path));
    assert!(err.to_string().contains("newer Jukebox"), "{err}");

    fs::write(&path, b"{\"schema\": 1, \"data\": {\"na").unwrap();
    let err = store.read::<Profile>(&alice, "profile").unwrap_err();
    assert!(matches!(&err, StoreError::Corrupt { path: p, .. } if *p == path));
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn second_open_fails_while_first_lives() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    // Same process, separate file handle: flock still conflicts on Linux.
    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("another Jukebox process"), "{msg}");
    assert!(
        msg.contains(&format!("pid {}", std::process::id())),
        "{msg}"
    );
    drop(first);
    Store::open(dir.path()).unwrap();
}

#[test]
fn lists_users_across_shards_and_skips_junk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut ids: Vec<UserId> = (0..300).map(|n| user(&format!("tg:{n}"))).collect();
    ids.push(user("web:alice.3bot"));
    for id in &ids {
        store.write(id, "profile", &profile()).unwrap();
    }
    let shards: std::collections::HashSet<_> = ids.iter().map(UserId::shard).collect();
    assert!(shards.len() > 100, "ids should spread over many shards");

    let users = dir.path().join("users");
    fs::write(users.join("README"), b"x").unwrap();
    fs::create_dir_all(users.join("zz/tg~1")).unwrap();
    fs::create_dir_all(users.join("00/not-a-user")).unwrap();
    fs::create_dir_all(users.join("01")).unwrap();
    fs::write(users.join("01/.tmp-1-1"), b"x").unwrap();
    // A valid id in the wrong shard is not listed.
    let wrong = if user("tg:999999").shard() == "02" {
        "03"
    } else {
        "02"
    };
    fs::create_dir_all(users.join(wrong).join("tg~999999")).unwrap();

    ids.sort();
    assert_eq!(store.list_users().unwrap(), ids);
}

#[test]
fn global_records_and_listing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.write_global("prices", &json!({"tft": 1})).unwrap();
    store.write_global("memos/b", &1).unwrap();
    store.write_global("memos/a", &2).unwrap();
    assert_eq!(store.read_global::<i32>("memos/a").unwrap(), Some(2));
    assert_eq!(store.read_global::<i32>("memos/zz").unwrap(), None);
    assert_eq!(store.list_global("memos").unwrap(), ["a", "b"]);
    assert_eq!(store.list_global("").unwrap(), ["prices"]);
    assert!(store.list_global("nothing").unwrap().is_empty());
    store.delete_global("memos/a").unwrap();
    assert_eq!(store.list_global("memos").unwrap(), ["b"]);
    assert!(matches!(
        store.write_global("a/b/c", &1),
        Err(StoreError::BadName(_))
    ));
    assert!(matches!(
        store.list_global("../x"),
        Err(StoreError::BadName(_))
    ));
}

#[test]
fn temp_files_are_ignored_and_cleaned_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let alice = user("term:alice");
    let user_dir;
    {
        let store = Store::open(dir.path()).unwrap();
        store.write(&alice, "profile", &profile()).unwrap();
        store.write_global("memos/a", &1).unwrap();
        user_dir = store.user_dir(&alice);
        // What a crash mid-write leaves behind.
        fs::write(user_dir.join(".tmp-77-0"), b"{\"schema\": 1, \"da").unwrap();
        fs::write(dir.path().join("global/memos/.tmp-77-1"), b"").unwrap();
        fs::write(dir.path().join("global/.tmp-77-2"), b"").unwrap();
        assert_eq!(
            store.read::<Profile>(&alice, "profile").unwrap(),
            Some(profile())
        );
        assert_eq!(store.list_global("memos").unwrap(), ["a"]);
        assert_eq!(store.list_users().unwrap(), std::slice::from_ref(&alice));
    }
    // A crash would not have recorded a clean shutdown.
    fs::remove_file(dir.path().join(CLEAN_MARKER)).unwrap();
    let store = Store::open(dir.path()).unwrap();
    let leftovers = |d: &Path| {
        fs::read_dir(d)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".tmp-")
            })
            .count()
    };
    assert_eq!(leftovers(&user_dir), 0);
    assert_eq!(leftovers(&dir.path().join("global")), 0);
    assert_eq!(leftovers(&dir.path().join("global/memos")), 0);
    assert_eq!(
        store.read::<Profile>(&alice, "profile").unwrap(),
        Some(profile())
    );
}

#[test]
fn clean_shutdown_is_recorded_and_consumed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join(CLEAN_MARKER);
    let store = Store::open(dir.path()).unwrap();
    assert!(!marker.exists());
    drop(store);
    assert!(marker.exists(), "drop records a clean shutdown");
    let store = Store::open(dir.path()).unwrap();
    assert!(
        !marker.exists(),
        "open consumes the marker before any write"
    );
    // A failed open (lock held) must not leave a marker either.
    assert!(Store::open(dir.path()).is_err());
    assert!(!marker.exists());
    drop(store);
}

#[test]
fn bad_doc_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let alice = user("term:alice");
    for bad in ["", "../x", "a/b", "A", ".tmp-1"] {
        assert!(matches!(
            store.write(&alice, bad, &1),
            Err(StoreError::BadName(_))
        ));
        assert!(matches!(
            store.read::<i32>(&alice, bad),
            Err(StoreError::BadName(_))
        ));
        assert!(matches!(
            store.delete(&alice, bad),
            Err(StoreError::BadName(_))
        ));
    }
    assert!(!store.user_exists(&alice));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary names and ids never panic: they are either refused or
    /// stored and read back under the data dir.
    #[test]
    fn arbitrary_names_and_ids_never_panic(
        doc in "\\PC{0,80}",
        id in "[a-z]{0,3}:?\\PC{0,40}",
        bytes in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let lossy = String::from_utf8_lossy(&bytes).into_owned();
        let fallback = user("term:x");
        for text in [&doc, &id, &lossy] {
            let _ = UserId::from_dir_name(text);
            let parsed = UserId::parse(text);
            let who = parsed.as_ref().unwrap_or(&fallback);
            if let Ok(parsed) = &parsed {
                prop_assert!(store.user_dir(parsed).starts_with(dir.path().join("users")));
            }
            match store.write(who, text, &1u8) {
                Ok(()) => prop_assert_eq!(store.read::<u8>(who, text).unwrap(), Some(1)),
                Err(StoreError::BadName(_)) => {
                    prop_assert!(store.read::<u8>(who, text).is_err());
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
            let _ = store.delete(who, text);
            let _ = store.read_global::<u8>(text);
            let _ = store.list_global(text);
        }
        prop_assert!(store.list_users().is_ok());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_scope_waits_for_the_disk_once_at_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let alice = user("term:alice");
    // Outside a scope a write returns durable.
    store.write(&alice, "profile", &profile()).unwrap();
    assert!(store.all_durable());
    let syncs = store.wal.syncs();
    let inside = deferred(&store, async {
        for credits in 0..5 {
            let p = Profile {
                name: "Alice".into(),
                credits,
            };
            store.write(&alice, "profile", &p).unwrap();
            // Appended and readable at once, not yet durable.
            assert!(!store.all_durable());
            assert_eq!(store.read::<Profile>(&alice, "profile").unwrap(), Some(p));
        }
        Ok(store.wal.syncs())
    })
    .await
    .unwrap();
    assert_eq!(inside, syncs, "no sync inside the scope");
    assert!(store.all_durable(), "the scope ends durable");
    assert_eq!(store.wal.syncs(), syncs + 1, "one sync for the five writes");
    // A barrier with nothing pending does not sync.
    store.barrier().await.unwrap();
    assert_eq!(store.wal.syncs(), syncs + 1);
}

#[tokio::test(flavor = "current_thread")]
async fn scopes_on_one_thread_share_the_sync_threads_syncs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let syncs = store.wal.syncs();
    // Fifty scopes on a runtime with one thread: if a barrier held the
    // thread while the disk worked, each would sync alone, one after the
    // other; asleep on the sync thread, they share its syncs.
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                deferred(&store, async {
                    let who = user(&format!("term:u{i}"));
                    store.write(&who, "profile", &profile()).unwrap();
                    Ok(())
                })
                .await
                .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    assert!(store.all_durable());
    let used = store.wal.syncs() - syncs;
    assert!((1..25).contains(&used), "{used} syncs for 50 scopes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scopes_other_files_are_synced_with_the_log_before_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let path = dir.path().join("journal.jsonl");
    let mut journal = AppendFile::open(&path).unwrap();
    let syncs = store.wal.syncs();
    deferred(&store, async {
        journal.append_at_scope_end(b"{\"paid\":1}\n").unwrap();
        // Kept for the end: no record written, nothing synced yet.
        assert_eq!(kept_syncs(), 1);
        assert_eq!(store.wal.syncs(), syncs);
        Ok(())
    })
    .await
    .unwrap();
    // The end handed the file to the log's next sync, which counts as a
    // write the barrier waited for, and that sync ran.
    assert!(store.all_durable());
    assert_eq!(store.wal.syncs(), syncs + 1);
    assert_eq!(fs::read(&path).unwrap(), b"{\"paid\":1}\n");
}
