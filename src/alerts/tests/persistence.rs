//! Persistence: crashes, damaged journals, compaction and the directory lock.

use std::borrow::Cow;

use super::*;

#[test]
fn a_second_queue_on_the_same_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    assert!(AlertQueue::open(dir.path()).is_err());
    drop(queue);
    open(dir.path());
}

/// 50 alerts over 5 users, all priorities.
fn fifty() -> Vec<Alert> {
    let priorities = [
        Priority::Outage,
        Priority::Recovery,
        Priority::Notice,
        Priority::Reminder,
    ];
    (0..50)
        .map(|i| alert(&format!("a{i}"), user(i % 5), priorities[i % 4], i as u64))
        .collect()
}

#[tokio::test(start_paused = true)]
async fn a_crash_after_some_sends_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    assert_eq!(queue.enqueue(fifty()).unwrap(), 50);
    let (first, stop) = Recorder::stopping_after(17, false);
    let stop = async {
        let _ = stop.await;
    };
    queue.run(first.clone(), AlertLimits::default(), stop).await;
    assert_eq!(first.keys().len(), 17);
    // No clean shutdown: the queue is simply dropped, as in a crash.
    drop(queue);

    let queue = open(dir.path());
    assert_eq!(queue.depth(), 33);
    let second = Recorder::default();
    assert_eq!(
        queue.drain(&second, AlertLimits::default()).await.unwrap(),
        33
    );
    let all = counts(first.keys().into_iter().chain(second.keys()));
    assert_eq!(all.len(), 50);
    assert!(all.values().all(|&n| n == 1), "{all:?}");
}

#[tokio::test(start_paused = true)]
async fn a_crash_during_a_send_repeats_only_that_alert() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    queue.enqueue(fifty()).unwrap();
    let (first, stop) = Recorder::stopping_after(9, true);
    let stop = async {
        let _ = stop.await;
    };
    queue.run(first.clone(), AlertLimits::default(), stop).await;
    // The interrupted send was given back rather than lost.
    assert_eq!(queue.depth(), 42);
    drop(queue);

    let queue = open(dir.path());
    assert_eq!(queue.depth(), 42);
    let second = Recorder::default();
    queue.drain(&second, AlertLimits::default()).await.unwrap();
    let all = counts(first.keys().into_iter().chain(second.keys()));
    assert_eq!(all.len(), 50);
    let repeated: Vec<&String> = all
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k)
        .collect();
    assert_eq!(repeated, [&first.keys()[8]]);
}

#[tokio::test(start_paused = true)]
async fn a_torn_last_line_and_a_damaged_line_are_tolerated() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    let a = user(1);
    queue
        .enqueue(vec![alert("k1", a.clone(), Priority::Notice, 1)])
        .unwrap();
    queue
        .enqueue(vec![alert("k2", a.clone(), Priority::Notice, 2)])
        .unwrap();
    drop(queue);
    let path = dir.path().join("alerts.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let (line1, line2) = text.trim_end().split_once('\n').unwrap();
    // A damaged line in the middle and a torn append at the end.
    let damaged = format!("{line1}\nnot json\n{line2}\n{{\"v\":1,\"op\":\"deliv");
    std::fs::write(&path, damaged).unwrap();

    let queue = open(dir.path());
    assert_eq!(queue.depth(), 2);
    queue
        .enqueue(vec![alert("k3", a.clone(), Priority::Notice, 3)])
        .unwrap();
    drop(queue);
    // The torn tail was cut off, so the new line did not land on it.
    let queue = open(dir.path());
    assert_eq!(queue.depth(), 3);
    let outbox = Recorder::default();
    queue.drain(&outbox, unlimited()).await.unwrap();
    assert_eq!(outbox.keys(), ["k1", "k2", "k3"]);
}

#[tokio::test(start_paused = true)]
async fn a_fragment_left_while_the_queue_is_open_is_cut_before_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    let a = user(1);
    queue
        .enqueue(vec![alert("k1", a.clone(), Priority::Notice, 1)])
        .unwrap();
    // What a failed append leaves when cutting it back failed too.
    let mut journal = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.path().join("alerts.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut journal, b"{\"v\":1,\"op\":\"que").unwrap();
    queue
        .enqueue(vec![alert("k2", a.clone(), Priority::Notice, 2)])
        .unwrap();
    drop(queue);
    // The new line was not glued onto the fragment, so it replays.
    let queue = open(dir.path());
    assert_eq!(queue.depth(), 2);
    assert_eq!(journal_lines(dir.path()), 2);
}

#[tokio::test(start_paused = true)]
async fn compaction_keeps_pending_alerts_and_the_dedup_memory() {
    let dir = tempfile::tempdir().unwrap();
    let delivered = journal::COMPACT_MIN_LINES / 2 + 1;
    // A journal as a long run leaves it: each delivered alert has two lines.
    let mut body = Vec::new();
    for i in 0..delivered {
        let key = format!("done{i}");
        let queued = alert(&key, user(i % 7), Priority::Reminder, i as u64);
        journal::encode(
            &Record::Queued {
                alert: Cow::Owned(queued),
            },
            &mut body,
        )
        .unwrap();
        let ack = Record::Delivered {
            key: key.into(),
            raised_at: i as u64,
        };
        journal::encode(&ack, &mut body).unwrap();
    }
    let waiting: Vec<Alert> = (0..5)
        .map(|i| {
            alert(
                &format!("wait{i}"),
                user(i),
                Priority::Notice,
                100 - i as u64,
            )
        })
        .collect();
    for a in &waiting {
        journal::encode(
            &Record::Queued {
                alert: Cow::Borrowed(a),
            },
            &mut body,
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("alerts.jsonl"), body).unwrap();

    let queue = open(dir.path());
    assert_eq!(journal_lines(dir.path()), delivered + 5);
    assert_eq!(queue.depth(), 5);
    assert_eq!(queue.stats().remembered, delivered);
    let mut expected = waiting.clone();
    expected.reverse();
    assert_eq!(queue.pending(10), expected);
    drop(queue);

    // The compacted journal replays to the same state.
    let queue = open(dir.path());
    assert_eq!(journal_lines(dir.path()), delivered + 5);
    let done = alert("done3", user(3), Priority::Reminder, 3);
    assert_eq!(queue.enqueue(vec![done]).unwrap(), 0);
    assert_eq!(queue.enqueue(waiting).unwrap(), 0);
    let outbox = Recorder::default();
    assert_eq!(queue.drain(&outbox, unlimited()).await.unwrap(), 5);
    assert_eq!(outbox.keys(), ["wait4", "wait3", "wait2", "wait1", "wait0"]);
}
