//! Backups against a real S3 server (s3s-fs, in-process on loopback):
//! backup, wipe, restore gives the identical tree; a second snapshot uploads
//! only what changed; retention keeps the right snapshots and their blobs;
//! S3 down for a while is retried; a corrupt object is caught on restore.

use crate::support::s3_server;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jukebox::backup::{Backup, BackupError, Freeze, MasterKeyRestore, Remote, RetentionPolicy};
use jukebox::clock::Backoff;
use jukebox::config::BackupConfig;
use jukebox::crypto::MasterKey;
use jukebox::ids::UserId;
use jukebox::store::Store;
use s3_server::{ACCESS_KEY, BUCKET, FlakyProxy, S3Server, SECRET_KEY};

const DAY: u64 = 86_400;
/// 2026-11-23 00:00 UTC.
const T0: u64 = 1_795_392_000;
const MASTER_KEY_HEX: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";

fn fast_retry(attempts: u32) -> Backoff {
    Backoff {
        attempts,
        first: Duration::from_millis(1),
        max: Duration::from_millis(10),
    }
}

fn remote(addr: std::net::SocketAddr, attempts: u32) -> Remote {
    let config = BackupConfig {
        endpoint: format!("http://{addr}"),
        bucket: BUCKET.into(),
        allow_http: true,
        prefix: "site/jukebox".into(),
        ..BackupConfig::default()
    };
    config.validate().unwrap();
    Remote::s3_with_keys(&config, ACCESS_KEY, SECRET_KEY)
        .unwrap()
        .with_retry(fast_retry(attempts))
}

struct World {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    s3: S3Server,
}

impl World {
    async fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let s3 = S3Server::start(&tmp.path().join("s3")).await;
        fill_data_dir(&data);
        World {
            data,
            s3,
            _tmp: tmp,
        }
    }

    fn backup(
        &self,
        keep_last: u32,
        keep_daily_days: u32,
        backup_key: Option<MasterKey>,
    ) -> Backup {
        Backup::new(
            remote(self.s3.addr, 3),
            &self.data,
            &self.data.join("master.key"),
            backup_key,
            RetentionPolicy {
                keep_last,
                keep_daily_days,
            },
        )
    }

    /// Through `addr` (a flaky proxy) with `attempts` tries per request,
    /// without a backup key, keeping the last 5.
    fn backup_via(&self, addr: std::net::SocketAddr, attempts: u32) -> Backup {
        Backup::new(
            remote(addr, attempts),
            &self.data,
            &self.data.join("master.key"),
            None,
            RetentionPolicy {
                keep_last: 5,
                keep_daily_days: 0,
            },
        )
    }

    fn scratch(&self, name: &str) -> PathBuf {
        self.data.parent().unwrap().join(name)
    }
}

/// Restores `id` into `to`, which must fail and leave `to` uncreated.
async fn restore_err(backup: &Backup, id: &str, to: &Path) -> BackupError {
    let err = backup.restore(id, to, false).await.unwrap_err();
    assert!(!to.exists(), "{err}");
    err
}

fn backup_key() -> MasterKey {
    jukebox::backup::parse_backup_key(&"ab".repeat(32)).unwrap()
}

/// A data dir as the service leaves it: records of several users, global
/// records, journals, a master key file, and the lock and marker files.
fn fill_data_dir(data: &Path) {
    let store = Store::open(data).unwrap();
    for n in 0..20 {
        let user = UserId::parse(&format!("term:user{n}")).unwrap();
        store
            .write(
                &user,
                "profile",
                &serde_json::json!({"n": n, "name": format!("user {n}")}),
            )
            .unwrap();
        store
            .write(
                &user,
                "nodes",
                &serde_json::json!({"nodes": vec![n; n as usize]}),
            )
            .unwrap();
    }
    store
        .write_global("pending/order-1", &serde_json::json!({"order": 1}))
        .unwrap();
    std::fs::create_dir_all(data.join("audit")).unwrap();
    std::fs::write(
        data.join("audit/global.jsonl"),
        "{\"event\":1}\n{\"event\":2}\n",
    )
    .unwrap();
    std::fs::write(data.join("audit/LOCK"), "123\n").unwrap();
    std::fs::write(data.join("master.key"), MASTER_KEY_HEX).unwrap();
    std::fs::set_permissions(
        data.join("master.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    drop(store); // leaves CLEAN_SHUTDOWN, which is not backed up either
}

/// Every backed-up file: relative path -> (content, mode).
fn tree(root: &Path) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut found = BTreeMap::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned();
            let name = path.file_name().unwrap().to_str().unwrap();
            if ["LOCK", "CLEAN_SHUTDOWN", "backup.lock"].contains(&name) {
                continue;
            }
            let meta = std::fs::metadata(&path).unwrap();
            if meta.is_dir() {
                dirs.push(path);
            } else {
                let mode = meta.permissions().mode() & 0o7777;
                found.insert(rel, (std::fs::read(&path).unwrap(), mode));
            }
        }
    }
    found
}

#[tokio::test]
async fn backup_wipe_restore_gives_the_identical_tree() {
    let world = World::new().await;
    let before = tree(&world.data);
    assert!(before.len() > 40, "{}", before.len());
    let backup = world.backup(24, 30, Some(backup_key()));
    let report = backup.run(Freeze::PauseWrites, T0).await.unwrap();
    assert_eq!(report.id, "20261123T000000Z");
    assert!(report.master_key_included);
    // Every file but the master key, which travels sealed in the manifest.
    assert_eq!(report.files, before.len() - 1);
    assert!(!world.data.join("backup-staging").exists());

    std::fs::remove_dir_all(&world.data).unwrap();
    let restored = world.scratch("restored");
    let done = backup.restore(&report.id, &restored, false).await.unwrap();
    assert_eq!(done.files, report.files);
    assert_eq!(
        done.master_key,
        MasterKeyRestore::Restored(restored.join("master.key"))
    );
    assert_eq!(tree(&restored), before);
    // The restored dir is a working data dir.
    let store = Store::open(&restored).unwrap();
    let user = UserId::parse("term:user7").unwrap();
    let profile: serde_json::Value = store.read(&user, "profile").unwrap().unwrap();
    assert_eq!(profile["name"], "user 7");
}

/// The Telegram inbox holds updates not handled yet (a message may answer
/// a secret question): sealed, and never meant to outlive its handling, so
/// a backup takes no copy of it, nor of an older version's raw journal.
#[tokio::test]
async fn the_telegram_inbox_is_never_backed_up() {
    let world = World::new().await;
    let files_before = tree(&world.data).len();
    std::fs::create_dir_all(world.data.join("telegram-inbox")).unwrap();
    std::fs::write(
        world.data.join("telegram-inbox/0000000005.upd"),
        "inbox-update-marker",
    )
    .unwrap();
    std::fs::write(
        world.data.join("telegram-inbox.jsonl"),
        "legacy-inbox-marker\n",
    )
    .unwrap();
    let report = world
        .backup(24, 30, None)
        .run(Freeze::PauseWrites, T0)
        .await
        .unwrap();
    // Every file of before but the master key; none of the inbox.
    assert_eq!(report.files, files_before - 1);
    for (rel, (content, _)) in tree(&world.s3.root) {
        let text = String::from_utf8_lossy(&content);
        assert!(
            !text.contains("inbox-update-marker") && !text.contains("legacy-inbox-marker"),
            "the Telegram inbox is in {rel}"
        );
    }
}

#[tokio::test]
async fn the_master_key_is_never_uploaded_in_clear() {
    let world = World::new().await;
    let report = world
        .backup(24, 30, None)
        .run(Freeze::PauseWrites, T0)
        .await
        .unwrap();
    assert!(!report.master_key_included);
    let sealed = world.backup(24, 30, Some(backup_key()));
    sealed.run(Freeze::PauseWrites, T0 + 60).await.unwrap();
    for (rel, (content, _)) in tree(&world.s3.root) {
        let text = String::from_utf8_lossy(&content);
        assert!(
            !text.contains(MASTER_KEY_HEX),
            "the master key is in clear in {rel}"
        );
    }
    // Without the backup key, restore says the key is not there.
    let restored = world.scratch("restored");
    let done = world
        .backup(24, 30, None)
        .restore(&report.id, &restored, false)
        .await
        .unwrap();
    assert_eq!(done.master_key, MasterKeyRestore::NotInSnapshot);
    assert!(!restored.join("master.key").exists());
    let other = world.scratch("other");
    let done = world
        .backup(24, 30, None)
        .restore("20261123T000100Z", &other, false)
        .await
        .unwrap();
    assert_eq!(done.master_key, MasterKeyRestore::NeedsBackupKey);
    // A wrong backup key is refused, and the target is left alone.
    let wrong = jukebox::backup::parse_backup_key(&"cd".repeat(32)).unwrap();
    let third = world.scratch("third");
    let err = restore_err(
        &world.backup(24, 30, Some(wrong)),
        "20261123T000100Z",
        &third,
    )
    .await;
    assert!(matches!(err, BackupError::Corrupt { .. }), "{err}");
}

#[tokio::test]
async fn a_second_snapshot_uploads_only_what_changed() {
    let world = World::new().await;
    let backup = world.backup(24, 30, None);
    let first = backup.run(Freeze::PauseWrites, T0).await.unwrap();
    assert!(first.uploaded_files > 0);
    let store = Store::open(&world.data).unwrap();
    let user = UserId::parse("term:user3").unwrap();
    store
        .write(&user, "profile", &serde_json::json!({"changed": true}))
        .unwrap();
    let newcomer = UserId::parse("term:newcomer").unwrap();
    store
        .write(&newcomer, "profile", &serde_json::json!({"new": true}))
        .unwrap();
    drop(store);
    let second = backup.run(Freeze::PauseWrites, T0 + 3600).await.unwrap();
    assert_eq!(second.uploaded_files, 2, "{second:?}");
    assert_eq!(second.files, first.files + 1);
    // A run with nothing changed uploads nothing.
    let third = backup.run(Freeze::PauseWrites, T0 + 7200).await.unwrap();
    assert_eq!((third.uploaded_files, third.uploaded_bytes), (0, 0));
    let ids: Vec<String> = backup
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(ids, vec![first.id, second.id, third.id]);
}

#[tokio::test]
async fn retention_removes_the_right_snapshots_and_their_blobs_only() {
    let world = World::new().await;
    // Keep the last 2, and the newest of each of the last 3 days.
    let backup = world.backup(2, 3, None);
    let store_path = world.data.clone();
    let mut ids = Vec::new();
    // Two snapshots a day for 5 days, each with one file unique to it.
    for day in 0..5 {
        for half in 0..2 {
            let n = day * 2 + half;
            let store = Store::open(&store_path).unwrap();
            let user = UserId::parse(&format!("term:only{n}")).unwrap();
            store
                .write(&user, "profile", &serde_json::json!({"only": n}))
                .unwrap();
            drop(store);
            let report = backup
                .run(Freeze::PauseWrites, T0 + day * DAY + half * 12 * 3600)
                .await
                .unwrap();
            ids.push(report.id);
            std::fs::remove_dir_all(store_path.join("users")).unwrap();
            fill_data_dir(&store_path);
        }
    }
    let kept: Vec<String> = backup
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    // Day 4 (today): both (the last 2); days 3 and 2: their newest.
    assert_eq!(
        kept,
        vec![
            ids[5].clone(),
            ids[7].clone(),
            ids[8].clone(),
            ids[9].clone()
        ]
    );
    // Blobs of dropped snapshots are gone; every kept snapshot restores.
    let blobs = backup.remote().blobs().await.unwrap();
    let needed: std::collections::BTreeSet<String> = {
        let mut all = std::collections::BTreeSet::new();
        for id in &kept {
            let restored = world.scratch(&format!("r-{id}"));
            backup.restore(id, &restored, false).await.unwrap();
            for (_, (content, _)) in tree(&restored) {
                all.insert(jukebox_sha256(&content));
            }
        }
        all
    };
    let blobs: std::collections::BTreeSet<String> = blobs.into_iter().collect();
    assert_eq!(blobs, needed);
}

fn jukebox_sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn s3_unavailable_is_retried_then_succeeds() {
    let world = World::new().await;
    let proxy = FlakyProxy::start(world.s3.addr, 3).await;
    let backup = world.backup_via(proxy.addr, 6);
    let report = backup.run(Freeze::PauseWrites, T0).await.unwrap();
    assert!(
        backup.remote().retries() >= 3,
        "{}",
        backup.remote().retries()
    );
    assert!(proxy.connections.load(std::sync::atomic::Ordering::SeqCst) > 3);
    let restored = world.scratch("restored");
    let direct = world.backup(5, 0, None);
    direct.restore(&report.id, &restored, false).await.unwrap();

    // Down for longer than the attempts: the run fails with a clear error,
    // leaves no snapshot, and the next run succeeds.
    let long = FlakyProxy::start(world.s3.addr, 1000).await;
    let failing = world.backup_via(long.addr, 3);
    let err = failing.run(Freeze::PauseWrites, T0 + 60).await.unwrap_err();
    assert!(
        matches!(err, BackupError::Remote { attempts: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("after 3 attempt(s)"), "{err}");
    assert!(!world.data.join("backup-staging").exists());
    let again = direct.run(Freeze::PauseWrites, T0 + 120).await.unwrap();
    assert_eq!(again.uploaded_files, 0);
    assert_eq!(direct.list().await.unwrap().len(), 2);
}

#[tokio::test]
async fn a_corrupt_object_is_detected_on_restore_and_the_target_left_alone() {
    let world = World::new().await;
    let backup = world.backup(24, 30, None);
    let report = backup.run(Freeze::PauseWrites, T0).await.unwrap();
    let some_blob = backup
        .remote()
        .blobs()
        .await
        .unwrap()
        .into_iter()
        .next()
        .unwrap();
    let object = world
        .s3
        .object_file(&format!("site/jukebox/blobs/{some_blob}"));
    let mut content = std::fs::read(&object).unwrap();
    content[0] ^= 0x20;
    std::fs::write(&object, &content).unwrap();
    let restored = world.scratch("restored");
    let err = restore_err(&backup, &report.id, &restored).await;
    assert!(matches!(err, BackupError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains(&some_blob), "{err}");
    // A missing object is an error too, not a silently shorter tree.
    std::fs::remove_file(&object).unwrap();
    let err = restore_err(&backup, &report.id, &restored).await;
    assert!(matches!(err, BackupError::Remote { .. }), "{err}");
}

#[tokio::test]
async fn restore_refuses_a_non_empty_target_unless_forced_and_a_running_one_always() {
    let world = World::new().await;
    let backup = world.backup(24, 30, None);
    let report = backup.run(Freeze::PauseWrites, T0).await.unwrap();
    let target = world.scratch("target");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::write(target.join("keep-me"), "mine").unwrap();
    let err = backup
        .restore(&report.id, &target, false)
        .await
        .unwrap_err();
    assert!(matches!(err, BackupError::TargetNotEmpty(_)), "{err}");
    assert!(err.to_string().contains("--force"));
    backup.restore(&report.id, &target, true).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(target.join("keep-me")).unwrap(),
        "mine"
    );
    let mut expected = tree(&world.data);
    expected.remove("master.key");
    let mut got = tree(&target);
    got.remove("keep-me");
    assert_eq!(got, expected);
    // A data dir a running Jukebox holds is never written over.
    let running = Store::open(&world.data).unwrap();
    let err = backup
        .restore(&report.id, &world.data, true)
        .await
        .unwrap_err();
    assert!(matches!(err, BackupError::TargetInUse(_)), "{err}");
    drop(running);
    let err = backup
        .restore("20200101T000000Z", &world.scratch("x"), false)
        .await
        .unwrap_err();
    assert!(matches!(err, BackupError::NoSuchSnapshot(_)), "{err}");
}

/// A running service's newest writes are in its write-ahead log, not yet
/// in their record files: the snapshot carries the log, the restored store
/// replays it, and a forced restore drops the target's own older log.
#[tokio::test]
async fn writes_not_yet_checkpointed_are_restored_and_a_targets_old_log_is_dropped() {
    let world = World::new().await;
    let user = UserId::parse("term:user3").unwrap();
    let target = world.scratch("target");
    {
        // The target's earlier life: a log that would set another profile,
        // left behind as a crash leaves it (copied before the clean close
        // checkpoints it, and put back after). Its segment numbers run past
        // the snapshot's, so replayed after them it would win.
        for _ in 0..5 {
            drop(Store::open(&target).unwrap());
        }
        let old = Store::open(&target).unwrap();
        old.write(&user, "profile", &serde_json::json!({"name": "stale"}))
            .unwrap();
        let log: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(target.join("wal"))
            .unwrap()
            .map(|e| {
                let path = e.unwrap().path();
                let bytes = std::fs::read(&path).unwrap();
                (path, bytes)
            })
            .collect();
        drop(old);
        for (path, bytes) in log {
            std::fs::write(path, bytes).unwrap();
        }
    }
    let running = Store::open(&world.data).unwrap();
    running
        .write(&user, "profile", &serde_json::json!({"name": "newest"}))
        .unwrap();
    let record = running.user_dir(&user).join("profile.json");
    let on_file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(on_file["data"]["name"], "user 3", "only in the log so far");
    let backup = world.backup(24, 30, None);
    let report = backup.run(Freeze::PauseWrites, T0).await.unwrap();
    drop(running);

    let fresh = world.scratch("fresh");
    backup.restore(&report.id, &fresh, false).await.unwrap();
    let store = Store::open(&fresh).unwrap();
    let profile: serde_json::Value = store.read(&user, "profile").unwrap().unwrap();
    assert_eq!(profile["name"], "newest");
    drop(store);

    backup.restore(&report.id, &target, true).await.unwrap();
    let store = Store::open(&target).unwrap();
    let profile: serde_json::Value = store.read(&user, "profile").unwrap().unwrap();
    assert_eq!(profile["name"], "newest");
}

#[tokio::test]
async fn backup_while_another_process_holds_the_data_dir_verifies_its_copy() {
    let world = World::new().await;
    let _service = Store::open(&world.data).unwrap();
    let backup = world.backup(24, 30, None);
    let report = backup
        .run(Freeze::VerifyUnchanged { attempts: 3 }, T0)
        .await
        .unwrap();
    let restored = world.scratch("restored");
    backup.restore(&report.id, &restored, false).await.unwrap();
    let mut expected = tree(&world.data);
    expected.remove("master.key");
    assert_eq!(tree(&restored), expected);
}

/// Records what the periodic loop reports.
struct Recorder(tokio::sync::mpsc::UnboundedSender<String>);

#[async_trait::async_trait]
impl jukebox::backup::BackupObserver for Recorder {
    async fn backup_succeeded(&self, report: &jukebox::backup::BackupReport, failed_before: u32) {
        let _ = self
            .0
            .send(format!("ok {} after {failed_before}", report.id));
    }
    async fn backup_failed(&self, _error: &BackupError, failures_in_a_row: u32) {
        let _ = self.0.send(format!("failed {failures_in_a_row}"));
    }
}

#[tokio::test]
async fn the_periodic_backup_reports_failures_and_keeps_going() {
    let world = World::new().await;
    // Two attempts per request; the first four connections are refused:
    // two runs fail, the third succeeds.
    let proxy = FlakyProxy::start(world.s3.addr, 4).await;
    let backup = std::sync::Arc::new(world.backup_via(proxy.addr, 2));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    struct Fixed;
    impl jukebox::clock::Clock for Fixed {
        fn now(&self) -> u64 {
            T0
        }
    }
    let task = tokio::spawn(jukebox::backup::run_periodically(
        backup,
        Duration::from_secs(3600),
        Duration::from_millis(1),
        std::sync::Arc::new(Fixed),
        std::sync::Arc::new(Recorder(tx)),
    ));
    let mut events = Vec::new();
    for _ in 0..3 {
        events.push(rx.recv().await.unwrap());
    }
    task.abort();
    assert_eq!(
        events,
        vec!["failed 1", "failed 2", "ok 20261123T000000Z after 2"]
    );
}

#[tokio::test]
async fn the_service_backs_up_its_own_data_dir_and_tells_operators_about_failures() {
    use jukebox::alerts::AlertLimits;
    use jukebox::channel::{MemoryOutbox, Outgoing};
    let tmp = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&tmp.path().join("s3")).await;
    let mut config = jukebox::config::Config {
        data_dir: tmp.path().join("data"),
        dialogues_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("dialogues"),
        ..Default::default()
    };
    config.admin.operators = vec!["term:operator".into()];
    let outbox = std::sync::Arc::new(MemoryOutbox::default());
    let clock = std::sync::Arc::new(jukebox::clock::ManualClock::new(T0));
    config.web.listen = String::new();
    config.ops.listen = String::new();
    // The process as `jukebox run` starts it, with its workers stepped here.
    let app = crate::support::spawn_app(config.clone(), clock, outbox.clone()).await;
    let service = app.service.clone();
    let user = UserId::parse("term:alice").unwrap();
    service
        .handle(
            &user,
            "Alice",
            jukebox::dialogue::Input::from_message("/start"),
            None,
        )
        .await
        .unwrap();
    // The service holds the data dir; the backup pauses its writes.
    let backup = Backup::new(
        remote(s3.addr, 3),
        &config.data_dir,
        &config.master_key_path(),
        None,
        RetentionPolicy {
            keep_last: 5,
            keep_daily_days: 0,
        },
    );
    let report = backup.run(Freeze::PauseWrites, T0).await.unwrap();
    let restored = tmp.path().join("restored");
    backup.restore(&report.id, &restored, false).await.unwrap();
    let store = Store::open(&restored).unwrap();
    assert!(store.user_exists(&user));

    let failure = BackupError::Busy { attempts: 1 };
    // The backup worker's observer, as the app hands it over.
    let observer = service.backup_observer();
    observer.backup_failed(&failure, 1).await;
    observer.backup_failed(&failure, 2).await;
    observer.backup_succeeded(&report, 2).await;
    let unlimited = AlertLimits {
        global_per_second: 1e6,
        global_burst: 1e6,
        per_user_per_second: 1e6,
        per_user_burst: 1e6,
    };
    outbox.take();
    service
        .alerts()
        .drain(outbox.as_ref(), unlimited)
        .await
        .unwrap();
    let operator = UserId::parse("term:operator").unwrap();
    let texts: Vec<String> = outbox
        .take()
        .into_iter()
        .filter(|(to, _)| *to == operator)
        .filter_map(|(_, item)| match item {
            Outgoing::Message(m) => Some(m.text),
            _ => None,
        })
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts[0].contains("backup to S3 failed"), "{texts:?}");
    assert!(texts[1].contains("Backups work again"), "{texts:?}");
    let metrics = service.metrics().render();
    assert!(
        metrics.contains("jukebox_backup_failures_total 2"),
        "{metrics}"
    );
    assert!(metrics.contains("jukebox_backups_total 1"), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "jukebox_backup_last_success_timestamp_seconds {T0}"
        )),
        "{metrics}"
    );
}

#[tokio::test]
async fn an_https_endpoint_gets_a_tls_client_and_an_unreachable_one_a_clear_error() {
    // Nothing listens on port 1: the request fails to connect, after the
    // TLS client was built (reqwest panics if no crypto provider is set).
    let config = BackupConfig {
        endpoint: "https://127.0.0.1:1".into(),
        bucket: BUCKET.into(),
        ..BackupConfig::default()
    };
    let remote = Remote::s3_with_keys(&config, ACCESS_KEY, SECRET_KEY)
        .unwrap()
        .with_retry(fast_retry(2));
    let err = remote.blobs().await.unwrap_err();
    assert!(
        matches!(err, BackupError::Remote { attempts: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("listing blobs"), "{err}");
}
