//! The web channel's feeds: what is kept, replaced, mirrored and bounded.

use super::*;

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn question(text: &str) -> Outgoing {
    Outgoing::Message(Message {
        text: text.into(),
        buttons: vec![vec![Button {
            label: "Yes".into(),
            data: "1:0".into(),
        }]],
    })
}

#[tokio::test]
async fn messages_progress_and_answers_update_one_feed_in_place() {
    let hub = WebHub::new();
    let alice = user("web:alice.3bot");
    let (_, mut live) = hub.follow(&alice, 0);
    hub.send(&alice, question("Which chain?")).await;
    hub.send(
        &alice,
        Outgoing::Progress {
            key: "ord-1".into(),
            text: "Deploying 1/2".into(),
        },
    )
    .await;
    hub.send(
        &alice,
        Outgoing::Progress {
            key: "ord-1".into(),
            text: "Deploying 2/2".into(),
        },
    )
    .await;
    hub.send(
        &alice,
        Outgoing::Answered {
            answer: "Dash".into(),
        },
    )
    .await;

    let snapshot = hub.snapshot(&alice);
    assert_eq!(snapshot.chat.len(), 2, "progress replaced, not appended");
    assert_eq!(
        snapshot.chat[0].kind,
        EntryKind::Message {
            text: "Which chain?".into(),
            buttons: vec![],
            answer: Some("Dash".into())
        }
    );
    assert_eq!(
        snapshot.chat[1].kind,
        EntryKind::Progress {
            key: "ord-1".into(),
            text: "Deploying 2/2".into()
        }
    );
    assert_eq!(snapshot.version, 4);
    // Every change went live, with the entry's stable id.
    let ids: Vec<(u64, u64)> = (0..4)
        .map(|_| live.try_recv().map(|e| (e.id, e.version)).unwrap())
        .collect();
    assert_eq!(ids, vec![(1, 1), (2, 2), (2, 3), (1, 4)]);
    // A page that rendered version 2 catches up with exactly the changes.
    let (changed, _) = hub.follow(&alice, 2);
    assert_eq!(
        changed
            .iter()
            .map(|e| (e.id, e.version))
            .collect::<Vec<_>>(),
        vec![(2, 3), (1, 4)]
    );
}

#[tokio::test]
async fn other_channels_are_followed_only_while_linked() {
    let hub = WebHub::new();
    let web = user("web:bob.3bot");
    let tg = user("tg:42");
    let telegram = Arc::new(crate::channel::MemoryOutbox::default());
    let mirror = hub.mirror(Some(telegram.clone()));

    mirror.send(&tg, question("before the link")).await;
    assert!(hub.snapshot(&tg).chat.is_empty());
    assert_eq!(hub.account_of(&web), web);

    hub.set_link(&web, Some(tg.clone()));
    assert_eq!(hub.account_of(&web), tg);
    mirror.send(&tg, question("after the link")).await;
    assert_eq!(hub.snapshot(&tg).chat.len(), 1);
    assert_eq!(telegram.all().len(), 2, "Telegram gets everything");

    hub.set_link(&web, None);
    assert!(!hub.follows(&tg));
    assert_eq!(hub.account_of(&web), web);
    // Without Telegram running, a linked account still sees its messages.
    hub.set_link(&web, Some(tg.clone()));
    hub.mirror(None).send(&tg, question("Telegram off")).await;
    assert_eq!(hub.snapshot(&tg).chat.len(), 2);
}

#[tokio::test]
async fn alerts_become_notices_and_still_reach_the_conversation() {
    let hub = WebHub::new();
    let alice = user("web:alice.3bot");
    let tap = hub.notices_then(hub.clone());
    tap.send(&alice, Outgoing::Message(Message::text("dash1 is down")))
        .await;
    let snapshot = hub.snapshot(&alice);
    assert_eq!(snapshot.chat.len(), 1);
    assert_eq!(
        snapshot.notices[0].kind,
        EntryKind::Notice {
            text: "dash1 is down".into(),
            buttons: vec![]
        }
    );
    // A Telegram user with no web sign-in gets no feed at all.
    let tg = user("tg:7");
    tap.send(&tg, Outgoing::Message(Message::text("x"))).await;
    assert!(!hub.feeds().by_account.contains_key(&tg));
}

#[tokio::test]
async fn feeds_and_accounts_are_bounded() {
    let hub = WebHub::new();
    let alice = user("web:alice.3bot");
    for i in 0..(FEED_ENTRIES + 20) {
        hub.send(&alice, Outgoing::Message(Message::text(format!("m{i}"))))
            .await;
        hub.notice(&alice, &Message::text(format!("n{i}")));
    }
    let snapshot = hub.snapshot(&alice);
    assert_eq!(snapshot.chat.len(), FEED_ENTRIES);
    assert_eq!(snapshot.notices.len(), NOTICES);
    assert!(
        matches!(&snapshot.notices[0].kind, EntryKind::Notice { text, .. } if text == &format!("n{}", FEED_ENTRIES + 19)),
        "newest notice first"
    );
    for i in 0..(MAX_FEEDS + 5) {
        hub.send(
            &user(&format!("web:sandbox-u{i}")),
            Outgoing::Message(Message::text("hi")),
        )
        .await;
    }
    let kept = hub.feeds().by_account.len();
    assert!(kept <= MAX_FEEDS, "{kept}");
    assert!(
        !hub.feeds().by_account.contains_key(&alice),
        "the least recently used feed was forgotten"
    );
}
