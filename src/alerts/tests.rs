//! Tests of the alert queue: delivery order, deduplication, fairness and
//! wake-up on enqueue here; crashes, damaged journals and compaction in
//! `persistence`; rate limits at 10,000 alerts in `limits`. Time is tokio's
//! paused clock, so rate-limited runs take no real time.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::*;
use crate::channel::MemoryOutbox;
use crate::dialogue::Message;

mod limits;
mod persistence;

fn user(n: usize) -> UserId {
    UserId::parse(&format!("tg:{n}")).expect("valid id")
}

/// An alert whose message text is its key, so outboxes can tell them apart.
fn alert(key: &str, user: UserId, priority: Priority, raised_at: u64) -> Alert {
    Alert {
        key: key.to_owned(),
        user,
        priority,
        message: Message::text(key),
        raised_at,
    }
}

/// Limits that never hold anything back.
fn unlimited() -> AlertLimits {
    AlertLimits {
        global_per_second: 1e6,
        global_burst: 1e6,
        per_user_per_second: 1e6,
        per_user_burst: 1e6,
    }
}

fn open(dir: &Path) -> AlertQueue {
    AlertQueue::open(dir).expect("opens")
}

fn journal_lines(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("alerts.jsonl"))
        .expect("journal exists")
        .lines()
        .count()
}

struct Sent {
    user: UserId,
    key: String,
    at: Instant,
}

/// An outbox that records what it gets and when; optionally fires `stop`
/// after `stop_after` sends, and with `hang` never returns from that send
/// (a crash while the outbox holds the alert).
#[derive(Default)]
struct Recorder {
    sent: Mutex<Vec<Sent>>,
    stop_after: Option<usize>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    hang: bool,
}

impl Recorder {
    fn stopping_after(count: usize, hang: bool) -> (Arc<Recorder>, oneshot::Receiver<()>) {
        let (tx, rx) = oneshot::channel();
        let recorder = Recorder {
            stop_after: Some(count),
            stop: Mutex::new(Some(tx)),
            hang,
            ..Recorder::default()
        };
        (Arc::new(recorder), rx)
    }

    fn keys(&self) -> Vec<String> {
        lock(&self.sent).iter().map(|s| s.key.clone()).collect()
    }
}

#[async_trait]
impl Outbox for Recorder {
    async fn send(&self, user: &UserId, item: Outgoing) {
        let Outgoing::Message(message) = item else {
            panic!("alerts are sent as messages");
        };
        let count = {
            let mut sent = lock(&self.sent);
            sent.push(Sent {
                user: user.clone(),
                key: message.text,
                at: Instant::now(),
            });
            sent.len()
        };
        if Some(count) == self.stop_after {
            if let Some(stop) = lock(&self.stop).take() {
                let _ = stop.send(());
            }
            if self.hang {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// How often each key was sent.
fn counts(keys: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for key in keys {
        *counts.entry(key).or_default() += 1;
    }
    counts
}

#[tokio::test(start_paused = true)]
async fn drain_delivers_each_once_by_priority_then_age() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    let (a, b) = (user(1), user(2));
    // Enqueued least urgent first, in two batches, to show order is not arrival.
    let first = vec![
        alert("rem-new", a.clone(), Priority::Reminder, 300),
        alert("rem-old", b.clone(), Priority::Reminder, 100),
        alert("notice", a.clone(), Priority::Notice, 200),
    ];
    let second = vec![
        alert("rec", b.clone(), Priority::Recovery, 500),
        alert("out-new", a.clone(), Priority::Outage, 400),
        alert("out-old", b.clone(), Priority::Outage, 50),
        alert("out-tie", a.clone(), Priority::Outage, 400),
    ];
    assert_eq!(queue.enqueue(first).unwrap(), 3);
    assert_eq!(queue.enqueue(second).unwrap(), 4);
    let expected = [
        "out-old", "out-new", "out-tie", "rec", "notice", "rem-old", "rem-new",
    ];
    let listed: Vec<String> = queue.pending(100).into_iter().map(|a| a.key).collect();
    assert_eq!(listed, expected);
    assert_eq!(queue.pending(2).len(), 2);

    let outbox = Recorder::default();
    assert_eq!(queue.drain(&outbox, unlimited()).await.unwrap(), 7);
    assert_eq!(outbox.keys(), expected);
    assert_eq!(queue.depth(), 0);
    assert_eq!(queue.drain(&outbox, unlimited()).await.unwrap(), 0);
    assert_eq!(queue.stats().sent, 7);
}

#[tokio::test(start_paused = true)]
async fn duplicate_keys_are_not_queued_twice() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    let a = user(1);
    let one = |key: &str| alert(key, a.clone(), Priority::Notice, 10);
    assert_eq!(queue.enqueue(vec![one("k1"), one("k1")]).unwrap(), 1);
    assert_eq!(queue.enqueue(vec![one("k1"), one("k2")]).unwrap(), 1);
    assert_eq!(queue.depth(), 2);

    let outbox = Recorder::default();
    assert_eq!(queue.drain(&outbox, unlimited()).await.unwrap(), 2);
    assert_eq!(queue.enqueue(vec![one("k1"), one("k2")]).unwrap(), 0);
    assert_eq!(queue.enqueue(vec![one("k3")]).unwrap(), 1);

    drop(queue);
    let queue = open(dir.path());
    assert_eq!(queue.depth(), 1);
    assert_eq!(queue.stats().remembered, 2);
    let again = vec![one("k1"), one("k2"), one("k3")];
    assert_eq!(queue.enqueue(again).unwrap(), 0);
    assert_eq!(queue.drain(&outbox, unlimited()).await.unwrap(), 1);
    assert_eq!(outbox.keys(), ["k1", "k2", "k3"]);
}

#[tokio::test(start_paused = true)]
async fn count_pending_counts_matching_keys_until_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    let (a, b) = (user(1), user(2));
    let batch = vec![
        alert("tg:1:broadcast:7", a.clone(), Priority::Notice, 10),
        alert("tg:2:broadcast:7", b.clone(), Priority::Notice, 10),
        alert("tg:1:broadcast:8", a.clone(), Priority::Notice, 20),
        alert("tg:2:down:n1", b.clone(), Priority::Outage, 30),
    ];
    assert_eq!(queue.enqueue(batch).unwrap(), 4);
    assert_eq!(queue.count_pending(|k| k.ends_with(":broadcast:7")), 2);
    assert_eq!(queue.count_pending(|k| k.ends_with(":broadcast:8")), 1);
    assert_eq!(queue.count_pending(|_| true), queue.depth());
    assert_eq!(queue.count_pending(|k| k.ends_with(":nothing")), 0);

    let outbox = Recorder::default();
    assert_eq!(queue.drain(&outbox, unlimited()).await.unwrap(), 4);
    assert_eq!(queue.count_pending(|k| k.ends_with(":broadcast:7")), 0);
}

#[tokio::test(start_paused = true)]
async fn run_wakes_up_on_enqueue() {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(dir.path());
    let outbox = Arc::new(MemoryOutbox::default());
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let runner = {
        let (queue, outbox) = (queue.clone(), outbox.clone());
        tokio::spawn(async move {
            let stop = async {
                let _ = stop_rx.await;
            };
            queue.run(outbox, AlertLimits::default(), stop).await;
        })
    };
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(outbox.all().is_empty());

    let before = Instant::now();
    queue
        .enqueue(vec![alert("k", user(1), Priority::Outage, 1)])
        .unwrap();
    tokio::time::timeout(Duration::from_secs(1), outbox.changed())
        .await
        .expect("run delivered without being polled");
    // Delivered at once, not after some polling interval.
    assert_eq!(Instant::now(), before);
    assert_eq!(
        outbox.all(),
        [(user(1), Outgoing::Message(Message::text("k")))]
    );
    stop_tx.send(()).unwrap();
    runner.await.unwrap();
    assert_eq!(queue.depth(), 0);
}
