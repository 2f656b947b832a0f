//! The Telegram channel end to end: the real bot against a fake Telegram Bot
//! API on loopback (`support::fake_telegram`), and self-tests of that fake
//! driven by teloxide's own client, so the fake is known to speak the same
//! protocol teloxide expects.

// ===========================================================================
// Self-tests of the fake Telegram server (support/fake_telegram).
// ===========================================================================
mod fake_self_tests {
    use std::time::{Duration, Instant};

    use teloxide::RequestError;
    use teloxide::payloads::{
        AnswerCallbackQuerySetters, GetUpdatesSetters, SendMessageSetters, SendPhotoSetters,
    };
    use teloxide::prelude::*;
    use teloxide::types::{
        AllowedUpdate, BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, InputFile,
        MessageId, ParseMode, UpdateKind,
    };
    use teloxide::{ApiError, Bot};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use crate::support::fake_telegram::{BOT_USERNAME, FakeError, FakeTelegram, TOKEN};

    const WAIT: Duration = Duration::from_secs(10);
    const ALICE: i64 = 7;

    fn keyboard(buttons: &[(&str, &str)]) -> InlineKeyboardMarkup {
        InlineKeyboardMarkup::new([buttons
            .iter()
            .map(|(label, data)| InlineKeyboardButton::callback(*label, *data))])
    }

    async fn poll(bot: &Bot, offset: i32, timeout: u32) -> Vec<Update> {
        bot.get_updates()
            .offset(offset)
            .timeout(timeout)
            .await
            .expect("getUpdates")
    }

    fn api_error(result: Result<impl std::fmt::Debug, RequestError>) -> ApiError {
        match result {
            Err(RequestError::Api(e)) => e,
            other => panic!("expected an API error, got {other:?}"),
        }
    }

    /// A raw HTTP/1.1 exchange, for what teloxide cannot send.
    async fn raw_http(tg: &FakeTelegram, head: &str, body: &str) -> String {
        let addr = tg
            .api_url()
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let mut stream = tokio::net::TcpStream::connect(&addr)
            .await
            .expect("connect");
        let request = format!(
            "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).await.expect("read");
        response
    }

    #[tokio::test]
    async fn get_me_has_the_shape_teloxide_needs() {
        let tg = FakeTelegram::start();
        let me = tg.bot().get_me().await.expect("getMe");
        assert_eq!(me.username(), BOT_USERNAME);
        assert!(me.can_join_groups);
        assert_eq!(tg.tokens(), [TOKEN]);
        assert_eq!(tg.requests_of("getMe")[0].status, 200);
    }

    #[tokio::test]
    async fn a_user_message_arrives_as_a_command_update() {
        let tg = FakeTelegram::start();
        let id = tg.send_text(ALICE, "/deploy dash");
        let updates = poll(&tg.bot(), 0, 0).await;
        assert_eq!(updates.len(), 1);
        assert_eq!(i64::from(updates[0].id.0), id);
        let UpdateKind::Message(message) = &updates[0].kind else {
            panic!("not a message: {:?}", updates[0])
        };
        assert_eq!(message.text(), Some("/deploy dash"));
        assert_eq!(message.chat.id, ChatId(ALICE));
        assert!(message.chat.is_private());
        assert_eq!(
            message.from.as_ref().map(|u| u.id),
            Some(UserId(ALICE as u64))
        );
        let entity = &message.entities().expect("entities")[0];
        assert_eq!((entity.offset, entity.length), (0, "/deploy".len()));
    }

    #[tokio::test]
    async fn group_messages_and_update_kind_filters_behave_like_telegram() {
        let tg = FakeTelegram::start();
        let bot = tg.bot();
        tg.send_group_text(-100, ALICE, "/status@jukebox_bot");
        let updates = poll(&bot, 0, 0).await;
        let UpdateKind::Message(message) = &updates[0].kind else {
            panic!("{updates:?}")
        };
        assert!(message.chat.is_group());
        assert_eq!(
            message.entities().unwrap()[0].length,
            "/status@jukebox_bot".len()
        );

        // A bot that asks only for messages never sees button presses.
        let sent = bot
            .send_message(ChatId(-100), "Menu")
            .reply_markup(keyboard(&[("Go", "go")]))
            .await
            .unwrap();
        tg.press_in(-100, ALICE, sent.id.0.into(), "go");
        let only_messages = bot
            .get_updates()
            .offset(updates[0].id.as_offset() + 1)
            .allowed_updates([AllowedUpdate::Message])
            .await;
        assert!(only_messages.unwrap().is_empty());
        assert!(
            tg.pending_updates().is_empty(),
            "the press is dropped, not kept"
        );

        bot.set_webhook("https://example.com/hook".parse().unwrap())
            .await
            .unwrap();
        // Telegram's real text, which teloxide 0.17 leaves as `ApiError::Unknown`.
        let conflict = format!("{:?}", api_error(bot.get_updates().await));
        assert!(
            conflict.contains("Conflict: can't use getUpdates method while webhook is active"),
            "{conflict}"
        );
    }

    #[tokio::test]
    async fn a_long_poll_is_held_until_an_update_arrives() {
        let tg = FakeTelegram::start();
        let first = tg.send_text(ALICE, "hello");
        let bot = tg.bot();
        let held = tokio::spawn({
            let bot = bot.clone();
            async move { poll(&bot, first as i32 + 1, 30).await }
        });
        // The poll has reached the fake, has no answer yet, and its offset
        // has confirmed the first update: it found nothing and is held.
        let held_now = |tg: &FakeTelegram| {
            let polled = tg
                .requests_of("getUpdates")
                .last()
                .is_some_and(|r| r.status == 0);
            polled && tg.pending_updates().is_empty()
        };
        tg.wait_until(held_now, WAIT).await.unwrap();
        assert!(
            !held.is_finished(),
            "a poll with nothing to deliver must be held"
        );
        let second = tg.send_text(ALICE, "again");
        let updates = tokio::time::timeout(WAIT, held)
            .await
            .expect("poll answered")
            .unwrap();
        assert_eq!(
            updates
                .iter()
                .map(|u| i64::from(u.id.0))
                .collect::<Vec<_>>(),
            [second]
        );
    }

    #[tokio::test]
    async fn an_idle_long_poll_answers_empty_after_its_timeout() {
        let tg = FakeTelegram::start();
        let started = Instant::now();
        assert!(poll(&tg.bot(), 0, 1).await.is_empty());
        // Only a lower bound: an early answer is the bug this test catches.
        assert!(started.elapsed() >= Duration::from_millis(900));
    }

    #[tokio::test]
    async fn a_second_poller_terminates_the_first_with_409() {
        let tg = FakeTelegram::start();
        let bot = tg.bot();
        let first = tokio::spawn({
            let bot = bot.clone();
            async move { bot.get_updates().timeout(30).await }
        });
        tg.wait_for_requests("getUpdates", 1, WAIT).await.unwrap();
        let second = tokio::spawn(async move { bot.get_updates().timeout(0).await });
        let first = tokio::time::timeout(WAIT, first)
            .await
            .expect("first poll answered")
            .unwrap();
        assert_eq!(api_error(first), ApiError::TerminatedByOtherGetUpdates);
        assert!(second.await.unwrap().expect("second poll").is_empty());
    }

    #[tokio::test]
    async fn a_redelivered_update_comes_again_with_its_id() {
        let tg = FakeTelegram::start();
        let bot = tg.bot();
        let id = tg.send_text(ALICE, "/start");
        assert_eq!(poll(&bot, 0, 0).await.len(), 1);
        assert!(
            poll(&bot, id as i32 + 1, 0).await.is_empty(),
            "confirmed updates are dropped"
        );
        tg.redeliver(id);
        // A restarted bot polls from offset 0 and gets the same update again.
        let again = poll(&bot, 0, 0).await;
        assert_eq!(
            again.iter().map(|u| i64::from(u.id.0)).collect::<Vec<_>>(),
            [id]
        );
    }

    #[tokio::test]
    async fn messages_edits_and_presses_show_in_the_transcript() {
        let tg = FakeTelegram::start();
        let bot = tg.bot();
        tg.send_text(ALICE, "/start");
        let sent = bot
            .send_message(ChatId(ALICE), "Pick a chain")
            .reply_markup(keyboard(&[("Dash", "c:dash"), ("Polygon", "c:poly")]))
            .await
            .expect("sendMessage");
        assert_eq!(sent.from.as_ref().map(|u| u.is_bot), Some(true));
        assert!(sent.reply_markup().is_some(), "the keyboard is echoed");
        // Ids are per chat and shared with the user's message.
        assert_eq!(sent.id, MessageId(2));

        let shown = tg.chat(ALICE);
        assert_eq!(shown.len(), 1);
        assert_eq!(shown[0].text.as_deref(), Some("Pick a chain"));
        assert_eq!(shown[0].button("Polygon"), Some("c:poly"));

        let press = tg.press(ALICE, sent.id.0.into(), "c:dash");
        let updates = poll(&bot, 0, 0).await;
        let update = updates
            .iter()
            .find(|u| i64::from(u.id.0) == press)
            .expect("press delivered");
        let UpdateKind::CallbackQuery(query) = &update.kind else {
            panic!("not a callback: {update:?}")
        };
        assert_eq!(query.data.as_deref(), Some("c:dash"));
        let pressed_on = query
            .message
            .as_ref()
            .and_then(|m| m.regular_message())
            .expect("accessible message");
        assert_eq!(pressed_on.id, sent.id);
        bot.answer_callback_query(query.id.clone())
            .text("Dash it is")
            .await
            .expect("answer");
        assert_eq!(tg.answered_callbacks()[0].data, "c:dash");
        assert_eq!(
            tg.answered_callbacks()[0].text.as_deref(),
            Some("Dash it is")
        );

        // An edit that does not repeat the keyboard removes it, as on Telegram.
        bot.edit_message_text(ChatId(ALICE), sent.id, "Dash chosen")
            .await
            .expect("edit");
        let edited = &tg.chat(ALICE)[0];
        assert_eq!(
            (edited.text.as_deref(), edited.edits),
            (Some("Dash chosen"), 1)
        );
        assert!(edited.buttons.is_empty());
        assert_eq!(edited.history, ["Pick a chain"]);
        let found = tg
            .wait_for_text(ALICE, "Pick a chain", WAIT)
            .await
            .expect("earlier text still found");
        assert_eq!(found.message_id, i64::from(sent.id.0));

        let same = bot
            .edit_message_text(ChatId(ALICE), sent.id, "Dash chosen")
            .await;
        assert_eq!(api_error(same), ApiError::MessageNotModified);
        let missing = bot
            .edit_message_text(ChatId(ALICE), MessageId(999), "x")
            .await;
        assert_eq!(api_error(missing), ApiError::MessageToEditNotFound);
        bot.delete_message(ChatId(ALICE), sent.id)
            .await
            .expect("delete");
        assert!(tg.chat(ALICE)[0].deleted);
    }

    #[tokio::test]
    async fn a_photo_from_memory_round_trips_its_bytes() {
        let tg = FakeTelegram::start();
        tg.add_user(ALICE, "Alice", Some("alice"));
        let png = jukebox::qr::png("dash:XyZ?amount=1.5").expect("QR code");
        let sent = tg
            .bot()
            .send_photo(
                ChatId(ALICE),
                InputFile::memory(png.clone()).file_name("qr.png"),
            )
            .caption("Pay 1.5 DASH")
            .reply_markup(keyboard(&[("Paid", "paid")]))
            .await
            .expect("sendPhoto");
        let size = &sent.photo().expect("photo sizes")[0];
        assert!(size.width > 0 && size.width == size.height);
        assert_eq!(size.file.size as usize, png.len());
        let shown = &tg.chat(ALICE)[0];
        assert_eq!(shown.photo.as_deref(), Some(png.as_slice()));
        assert_eq!(shown.caption.as_deref(), Some("Pay 1.5 DASH"));
        assert_eq!(shown.button("Paid"), Some("paid"));
    }

    #[tokio::test]
    async fn telegram_limits_are_enforced_with_telegram_errors() {
        let tg = FakeTelegram::start();
        let bot = tg.bot();
        tg.add_user(ALICE, "Alice", None);
        let long = bot.send_message(ChatId(ALICE), "x".repeat(4097)).await;
        assert_eq!(api_error(long), ApiError::MessageIsTooLong);
        let data = bot
            .send_message(ChatId(ALICE), "hi")
            .reply_markup(keyboard(&[("A", &"d".repeat(65))]))
            .await;
        assert_eq!(api_error(data), ApiError::ButtonDataInvalid);
        let stranger = bot.send_message(ChatId(99), "hi").await;
        assert_eq!(api_error(stranger), ApiError::ChatNotFound);
        let unescaped = bot
            .send_message(ChatId(ALICE), "Price: 1.5")
            .parse_mode(ParseMode::MarkdownV2)
            .await;
        assert!(matches!(
            api_error(unescaped),
            ApiError::CantParseEntities(_)
        ));
        let html = bot
            .send_message(ChatId(ALICE), "<b>1 &lt; 2</b>")
            .parse_mode(ParseMode::Html)
            .await;
        assert_eq!(html.expect("valid HTML").text(), Some("1 < 2"));
        assert!(
            tg.chat(ALICE)
                .iter()
                .all(|m| m.text.as_deref() == Some("1 < 2")),
            "rejected sends show nothing"
        );
    }

    #[tokio::test]
    async fn injected_faults_surface_as_teloxide_errors() {
        let tg = FakeTelegram::start();
        let bot = tg.bot();
        tg.add_user(ALICE, "Alice", None);
        tg.fail_next(
            "sendMessage",
            1,
            FakeError::TooManyRequests { retry_after: 3 },
        );
        match bot.send_message(ChatId(ALICE), "one").await {
            Err(RequestError::RetryAfter(after)) => assert_eq!(after.seconds(), 3),
            other => panic!("expected RetryAfter, got {other:?}"),
        }
        bot.send_message(ChatId(ALICE), "two")
            .await
            .expect("only one failure injected");
        tg.block_user(ALICE);
        assert_eq!(
            api_error(bot.send_message(ChatId(ALICE), "three").await),
            ApiError::BotBlocked
        );
        let statuses: Vec<u16> = tg
            .requests_of("sendmessage")
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, [429, 200, 403]);
        assert_eq!(tg.chat(ALICE).len(), 1);
    }

    #[tokio::test]
    async fn commands_and_webhook_calls_are_answered() {
        let tg = FakeTelegram::start();
        let bot = tg.bot();
        bot.set_my_commands([BotCommand::new("/deploy", "Deploy a node")])
            .await
            .expect("setMyCommands");
        assert_eq!(tg.commands()[0].command, "/deploy");
        let upper = bot
            .set_my_commands([BotCommand::new("Deploy", "Deploy a node")])
            .await;
        assert!(format!("{:?}", api_error(upper)).contains("BOT_COMMAND_INVALID"));
        bot.delete_webhook().await.expect("deleteWebhook");
        assert_eq!(
            bot.get_webhook_info().await.expect("getWebhookInfo").url,
            None
        );
    }

    #[tokio::test]
    async fn raw_http_unknown_methods_forms_and_query_strings() {
        let tg = FakeTelegram::start();
        tg.add_user(ALICE, "Alice", None);
        let unknown = raw_http(&tg, "POST /bot1:x/NoSuchMethod HTTP/1.1", "{}").await;
        assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
        let body = unknown.split("\r\n\r\n").nth(1).expect("a body");
        let expected =
            r#"{"ok":false,"error_code":404,"description":"Not Found: method not found"}"#;
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(body).unwrap(),
            serde_json::from_str::<serde_json::Value>(expected).unwrap()
        );
        let me = raw_http(&tg, "GET /bot1:x/getme HTTP/1.1", "").await;
        assert!(me.contains(r#""username":"jukebox_bot""#), "{me}");
        let form = "chat_id=7&text=hello+form%21";
        let sent = raw_http(
            &tg,
            "POST /bot1:x/sendMessage HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
            form,
        )
        .await;
        assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");
        assert_eq!(tg.chat(ALICE)[0].text.as_deref(), Some("hello form!"));
    }

    #[tokio::test]
    async fn waits_report_what_was_seen_and_wake_on_requests() {
        let tg = FakeTelegram::start();
        let bot = tg.bot();
        tg.add_user(ALICE, "Alice", None);
        bot.send_message(ChatId(ALICE), "Welcome").await.unwrap();
        let missing = tg
            .wait_for_text(ALICE, "Goodbye", Duration::from_millis(100))
            .await
            .unwrap_err();
        assert!(
            missing.contains("Goodbye") && missing.contains("\"Welcome\""),
            "{missing}"
        );
        let later = tokio::spawn(async move { bot.send_message(ChatId(ALICE), "Goodbye").await });
        let found = tg
            .wait_for_text(ALICE, "Goodbye", WAIT)
            .await
            .expect("woken by the send");
        assert_eq!(found.message_id, 2);
        later.await.unwrap().unwrap();
    }

    /// `wait_chat_until` looks again only after requests naming its chat
    /// (the bench's hundred users each wait on their own), and
    /// `count_shown` counts what `chat` would show, edits included.
    #[tokio::test]
    async fn a_wait_on_one_chat_wakes_for_that_chat_only() {
        const BOB: i64 = 8;
        let tg = std::sync::Arc::new(FakeTelegram::start());
        let bot = tg.bot();
        tg.add_user(ALICE, "Alice", None);
        tg.add_user(BOB, "Bob", None);
        let welcome = bot.send_message(ChatId(ALICE), "Welcome").await.unwrap();
        bot.edit_message_text(ChatId(ALICE), welcome.id, "Hello")
            .await
            .unwrap();
        assert_eq!(tg.count_shown(ALICE, "Welcome"), 1, "shown before an edit");
        assert_eq!(tg.count_shown(ALICE, "Hello"), 1);
        assert_eq!(tg.count_shown(BOB, "Hello"), 0);
        let missing = tg
            .wait_chat_until(
                ALICE,
                |tg| tg.count_shown(ALICE, "Bye") > 0,
                Duration::from_millis(50),
            )
            .await
            .unwrap_err();
        assert!(
            missing.contains("chat 7") && missing.contains("\"Hello\""),
            "{missing}"
        );

        let later = tokio::spawn(async move {
            for i in 0..5 {
                bot.send_message(ChatId(BOB), format!("Bob {i}"))
                    .await
                    .unwrap();
            }
            bot.send_message(ChatId(ALICE), "Bye").await.unwrap();
        });
        let mut looks = 0;
        tg.wait_chat_until(
            ALICE,
            |tg| {
                looks += 1;
                tg.count_shown(ALICE, "Bye") > 0
            },
            WAIT,
        )
        .await
        .expect("woken by the send to Alice");
        later.await.unwrap();
        // The first look, then at most one per change of Alice's chat (the
        // send is logged, then answered); Bob's five sends woke nothing.
        assert!(looks <= 3, "{looks} looks");
        assert_eq!(tg.count_shown(BOB, "Bob"), 5);
    }

    #[tokio::test]
    async fn bursts_over_the_rate_limit_are_reported() {
        let tg = FakeTelegram::start();
        let bot = tg.bot();
        tg.add_user(ALICE, "Alice", None);
        for text in ["one", "two", "three"] {
            bot.send_message(ChatId(ALICE), text).await.unwrap();
        }
        let violations = tg.rate_limit_violations(1, 30);
        assert_eq!(violations.len(), 1, "{violations:?}");
        assert!(
            violations[0].starts_with("chat 7: 3 messages"),
            "{violations:?}"
        );
        assert!(tg.rate_limit_violations(3, 3).is_empty());
        assert_eq!(tg.rate_limit_violations(3, 2).len(), 1);
    }
}

// ===========================================================================
// The real `jukebox` binary, spawned as a process, against the fake.
// ===========================================================================
mod bot_end_to_end {
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use crate::support::fake_telegram::{FakeError, FakeTelegram};

    const WAIT: Duration = Duration::from_secs(20);
    const ALICE: i64 = 7;
    const BOB: i64 = 8;

    /// A data dir and config for one bot; the process is started separately
    /// so a test can kill it and start it again on the same data.
    struct Bot {
        dir: tempfile::TempDir,
        child: Option<Child>,
        /// More environment for the process (e.g. S3 credentials).
        env: Vec<(String, String)>,
    }

    impl Bot {
        /// A bot with Telegram's real send limits.
        fn new() -> Bot {
            Bot::with_limits("")
        }

        /// A bot that may send faster, for tests that click quicker than people.
        fn fast() -> Bot {
            Bot::with_limits("chat_messages_per_second = 20.0\nchat_burst = 20.0\n")
        }

        fn with_limits(limits: &str) -> Bot {
            let dir = tempfile::tempdir().expect("temp dir");
            let dialogues = Path::new(env!("CARGO_MANIFEST_DIR")).join("dialogues");
            let config = format!(
                "data_dir = {:?}\ndialogues_dir = {:?}\n[grid.sim]\ndeploy_seconds = 0.0\ndeploy_failure_rate = 0.0\nnode_down_rate_per_hour = 0.0\n[ops]\nlisten = \"127.0.0.1:0\"\n[web]\nlisten = \"127.0.0.1:0\"\n[telegram]\npoll_timeout_seconds = 2\n{limits}",
                dir.path().join("data"),
                dialogues
            );
            std::fs::write(dir.path().join("config.toml"), config).expect("config");
            Bot {
                dir,
                child: None,
                env: Vec::new(),
            }
        }

        fn start(&mut self, tg: &FakeTelegram) {
            self.start_with_log_format(tg, "text");
        }

        /// Starts the bot and returns once it has polled Telegram.
        async fn start_polling(&mut self, tg: &FakeTelegram) {
            self.start(tg);
            tg.wait_for_requests("getUpdates", 1, WAIT)
                .await
                .expect("the bot polls");
        }

        fn start_with_log_format(&mut self, tg: &FakeTelegram, format: &str) {
            let log = std::fs::File::create(self.dir.path().join("jukebox.log")).expect("log file");
            let child = Command::new(env!("CARGO_BIN_EXE_jukebox"))
                .arg("--config")
                .arg(self.dir.path().join("config.toml"))
                .arg("run")
                .envs(tg.env())
                .envs(self.env.iter().cloned())
                .env("JUKEBOX_LOG", "info,jukebox=debug")
                .env("JUKEBOX_LOG_FORMAT", format)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .expect("jukebox starts");
            self.child = Some(child);
        }

        /// SIGKILL: no chance to tidy up, as in a crash.
        fn kill(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }

        /// SIGTERM, and the process must exit on its own.
        fn terminate(&mut self) -> std::process::ExitStatus {
            let mut child = self.child.take().expect("running");
            let pid = child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            for _ in 0..200 {
                if let Ok(Some(status)) = child.try_wait() {
                    return status;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            panic!("jukebox did not stop on SIGTERM within 10 s");
        }

        fn log(&self) -> String {
            std::fs::read_to_string(self.dir.path().join("jukebox.log")).unwrap_or_default()
        }
    }

    impl Drop for Bot {
        fn drop(&mut self) {
            self.kill();
        }
    }

    /// How many messages in the chat show (or showed) `needle`.
    fn count(tg: &FakeTelegram, chat: i64, needle: &str) -> usize {
        tg.chat(chat)
            .iter()
            .filter(|m| m.shown().contains(needle) || m.history.iter().any(|h| h.contains(needle)))
            .count()
    }

    async fn wait_count(tg: &FakeTelegram, chat: i64, needle: &str, n: usize) {
        let result = tg.wait_until(|tg| count(tg, chat, needle) >= n, WAIT).await;
        if let Err(report) = result {
            panic!("waiting for {n} × {needle:?} in chat {chat}: {report}");
        }
    }

    /// Presses the newest button whose label starts with `prefix`.
    fn click(tg: &FakeTelegram, chat: i64, prefix: &str) -> i64 {
        let found = tg.chat(chat).into_iter().rev().find_map(|m| {
            m.buttons
                .iter()
                .flatten()
                .find(|(label, _)| label.starts_with(prefix))
                .map(|(_, data)| (m.message_id, data.clone()))
        });
        let (message, data) =
            found.unwrap_or_else(|| panic!("no button {prefix:?}:\n{}", tg.describe()));
        tg.press(chat, message, &data)
    }

    /// Walks a Dash full node through /deploy up to the payment request.
    async fn order_dash(tg: &FakeTelegram, chat: i64) {
        order(tg, chat, "Dash", "Dash full node", true, &[]).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deploy_manage_and_stop_over_telegram() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::new();
        bot.start_polling(&tg).await;
        let commands: Vec<String> = tg.commands().into_iter().map(|c| c.command).collect();
        for expected in [
            "start", "help", "deploy", "list", "status", "delete", "redeploy", "balance", "cancel",
        ] {
            assert!(
                commands.iter().any(|c| c == expected),
                "menu lacks /{expected}: {commands:?}"
            );
        }

        tg.send_text(ALICE, "/start");
        wait_count(&tg, ALICE, "Welcome to Jukebox", 1).await;

        // 429 on the next two sends: the bot waits as told and still delivers.
        tg.fail_next(
            "sendMessage",
            2,
            FakeError::TooManyRequests { retry_after: 1 },
        );
        order_dash(&tg, ALICE).await;
        let qr = tg
            .chat(ALICE)
            .into_iter()
            .find(|m| m.photo.is_some())
            .expect("the QR code is sent as a photo");
        assert!(
            qr.photo
                .as_deref()
                .is_some_and(|p| p.starts_with(b"\x89PNG"))
        );
        assert!(
            qr.caption
                .as_deref()
                .is_some_and(|c| c.contains("Memo: jb-"))
        );

        click(&tg, ALICE, "Pay with sandbox wallet");
        wait_count(&tg, ALICE, "is running", 1).await;
        // Progress is one message edited in place.
        let progress: Vec<_> = tg
            .chat(ALICE)
            .into_iter()
            .filter(|m| m.shown().starts_with("Deploy"))
            .collect();
        assert_eq!(progress.len(), 1, "{}", tg.describe());
        assert!(progress[0].edits >= 1);
        assert!(
            progress[0].shown().starts_with("Deployed 1/1"),
            "{}",
            tg.describe()
        );

        tg.send_text(ALICE, "/list");
        wait_count(&tg, ALICE, "Your nodes (1)", 1).await;
        // One node: the "Which node?" questions answer themselves.
        tg.send_text(ALICE, "/status");
        wait_count(&tg, ALICE, "Which node? dash-full-", 1).await;
        wait_count(&tg, ALICE, "Health: healthy", 1).await;
        tg.send_text(ALICE, "/redeploy");
        wait_count(&tg, ALICE, "Which node should I move", 1).await;
        wait_count(&tg, ALICE, "on another grid node? It keeps its name", 1).await;
        click(&tg, ALICE, "Yes, redeploy");
        wait_count(&tg, ALICE, "Redeployed.", 1).await;
        tg.send_text(ALICE, "/delete");
        wait_count(&tg, ALICE, "Which node should I delete", 1).await;
        wait_count(&tg, ALICE, "It stops for good", 1).await;
        click(&tg, ALICE, "Yes, delete it");
        wait_count(&tg, ALICE, "Deleted dash-full-", 1).await;

        // A group: only a command addressed to the bot is answered, politely.
        tg.send_group_text(-100, ALICE, "/deploy@jukebox_bot");
        tg.wait_for_text(-100, "private chats only", WAIT)
            .await
            .expect("declined in the group");

        // Every press got its spinner stopped; limits held.
        assert!(tg.answered_callbacks().len() >= 10);
        let violations = tg.rate_limit_violations(5, 30);
        assert!(violations.is_empty(), "{violations:?}");

        // The ops listener (port 0 in tests; its address is logged) serves
        // the series operators scrape.
        let log = bot.log();
        let addr = log
            .lines()
            .find(|l| l.contains("ops endpoints"))
            .and_then(|l| l.split("addr=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(|a| a.trim_end_matches(|c: char| !c.is_ascii_digit()).to_owned())
            .unwrap_or_else(|| panic!("no ops address in the log:\n{log}"));
        let metrics = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("metrics answer")
            .text()
            .await
            .expect("metrics body");
        for series in [
            "jukebox_updates_total{channel=\"tg\"}",
            "jukebox_step_duration_seconds_bucket",
            "jukebox_deployments_total{result=\"ok\"} 1",
            "jukebox_deployments_total{result=\"redeployed\"} 1",
            "jukebox_payment_requests_total 1",
            "jukebox_payments_received_total 1",
            "jukebox_alert_queue_depth",
            "jukebox_nodes_watched 0",
            "jukebox_nodes{state=\"deleted\"} 1",
            "jukebox_nodes{state=\"running\"} 0",
            "jukebox_users ",
        ] {
            assert!(metrics.contains(series), "no {series} in:\n{metrics}");
        }
        let ready = reqwest::get(format!("http://{addr}/readyz"))
            .await
            .expect("readyz");
        assert_eq!(ready.status().as_u16(), 200);

        let status = bot.terminate();
        assert!(status.success(), "exit {status:?}; log:\n{}", bot.log());
        assert!(!bot.log().contains("panicked"), "{}", bot.log());
    }

    /// `/deploy <chain> <node type>` (the website catalog's "Deploy in
    /// chat") in Telegram, also addressed to the bot by name: both answered
    /// at once; a node type the chain lacks is said and its kinds offered.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn deploy_with_chain_and_node_type_over_telegram() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::fast();
        bot.start_polling(&tg).await;
        tg.send_text(ALICE, "/deploy@jukebox_bot dash masternode");
        wait_count(&tg, ALICE, "Dash · Dash masternode", 1).await;
        wait_count(&tg, ALICE, "How many nodes", 1).await;
        assert_eq!(count(&tg, ALICE, "Which kind of Dash node?"), 0);
        tg.send_text(ALICE, "/deploy dash fullest");
        wait_count(
            &tg,
            ALICE,
            "I couldn't find \"fullest\" among these kinds",
            1,
        )
        .await;
        wait_count(&tg, ALICE, "Which kind of Dash node?", 1).await;
        click(&tg, ALICE, "Dash full node");
        wait_count(&tg, ALICE, "How many nodes", 2).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn forged_callbacks_touch_nothing() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::fast();
        bot.start_polling(&tg).await;
        order_dash(&tg, ALICE).await;
        let pay = tg
            .chat(ALICE)
            .into_iter()
            .find_map(|m| m.button("Pay with sandbox wallet").map(str::to_owned))
            .expect("Alice's pay button");
        // Bob replays Alice's payment and cancel buttons under his own message.
        tg.send_text(BOB, "/help");
        wait_count(&tg, BOB, "Here is what I can do", 1).await;
        let bob_message = tg.chat(BOB).last().expect("a message").message_id;
        tg.press(BOB, bob_message, &pay);
        wait_count(&tg, BOB, "does not exist (or is not yours)", 1).await;
        tg.press(BOB, bob_message, &pay.replace("pay:", "cxo:"));
        wait_count(&tg, BOB, "does not exist (or is not yours)", 2).await;
        // Garbage and a stale question number are explained, not acted on.
        tg.press(BOB, bob_message, "999:c0");
        wait_count(&tg, BOB, "conversation that has ended", 1).await;
        // Alice's order is untouched and still payable by her.
        click(&tg, ALICE, "Pay with sandbox wallet");
        wait_count(&tg, ALICE, "is running", 1).await;
        assert_eq!(count(&tg, BOB, "Received"), 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crash_and_redelivery_cause_no_double_deploy_or_charge() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::fast();
        bot.start_polling(&tg).await;
        order_dash(&tg, ALICE).await;
        let pay_update = click(&tg, ALICE, "Pay with sandbox wallet");
        wait_count(&tg, ALICE, "is running", 1).await;
        bot.kill();
        // Telegram redelivers what the dead bot had not confirmed.
        tg.redeliver(pay_update);
        bot.start(&tg);
        tg.wait_until(|tg| !tg.pending_updates().contains(&pay_update), WAIT)
            .await
            .expect("the restarted bot takes the redelivered update");
        tg.send_text(ALICE, "/balance");
        wait_count(&tg, ALICE, "Balance:", 1).await;
        tg.send_text(ALICE, "/list");
        wait_count(&tg, ALICE, "Your nodes (1)", 1).await;
        assert_eq!(count(&tg, ALICE, "Received"), 1, "{}", tg.describe());
        assert_eq!(count(&tg, ALICE, "is running"), 1, "{}", tg.describe());
        // Mid-conversation state survives the crash as well.
        tg.send_text(ALICE, "/deploy");
        wait_count(&tg, ALICE, "Which blockchain", 2).await;
        bot.kill();
        bot.start(&tg);
        click(&tg, ALICE, "DigiByte");
        wait_count(&tg, ALICE, "Which kind of DigiByte node", 1).await;
    }

    /// An outage alert's Redeploy button pressed after the node came back:
    /// it moves nothing, says why, and its keyboard is edited away
    /// (editMessageReplyMarkup without a markup), the alert's text kept.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stale_outage_button_is_edited_away_and_moves_nothing() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::with_limits(&format!(
            "chat_messages_per_second = 20.0\nchat_burst = 20.0\n[monitor]\ninterval_seconds = 5\n[admin]\noperators = [\"tg:{BOB}\"]\n"
        ));
        bot.start_polling(&tg).await;
        deploy_type(&tg, ALICE, "Dash", "Dash full node", true, &[]).await;
        let placed = tg
            .chat(ALICE)
            .iter()
            .find_map(|m| {
                let (_, rest) = m.shown().split_once(" on grid node ")?;
                rest.split_whitespace().next()?.parse::<u32>().ok()
            })
            .unwrap_or_else(|| panic!("no grid node named:\n{}", tg.describe()));
        // The operator takes the grid node down: the owner is alerted.
        tg.send_text(BOB, &format!("/fault node {placed} down"));
        wait_count(&tg, BOB, "Done: node", 1).await;
        wait_count(&tg, ALICE, "is down: grid node", 1).await;
        let alert = tg
            .chat(ALICE)
            .into_iter()
            .find(|m| m.shown().contains("is down: grid node"))
            .expect("the alert");
        assert!(alert.button("Redeploy now").is_some(), "{alert:?}");
        // It comes back by itself; the alert's buttons now mean nothing.
        tg.send_text(BOB, &format!("/fault node {placed} up"));
        wait_count(&tg, ALICE, "is back up. It was down for", 1).await;
        let data = alert.button("Redeploy now").expect("button").to_owned();
        tg.press(ALICE, alert.message_id, &data);
        wait_count(&tg, ALICE, "That alert's button no longer applies", 1).await;
        tg.wait_for_requests("editMessageReplyMarkup", 1, WAIT)
            .await
            .expect("the keyboard is edited away");
        let after = tg
            .chat(ALICE)
            .into_iter()
            .find(|m| m.message_id == alert.message_id)
            .expect("the alert is still there");
        assert!(after.buttons.is_empty(), "{after:?}");
        assert_eq!(after.shown(), alert.shown(), "the alert's text stays");
        // Nothing moved: no redeploy was started, the node runs where it ran.
        tg.send_text(ALICE, "/list");
        wait_count(&tg, ALICE, &format!(" · grid node {placed} ("), 1).await;
        assert_eq!(count(&tg, ALICE, "Redeploying"), 0, "{}", tg.describe());
        assert!(!bot.log().contains("panicked"), "{}", bot.log());
    }

    /// `/fault chain` from Telegram: the operator ages a DigiByte node's
    /// client on the simulated chain; its owner is told once, with the
    /// one-tap redeploy; the operator lifts the fault and the owner hears
    /// the network accepts the client again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_chain_fault_from_telegram_reaches_the_owner_once() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::with_limits(&format!(
            "chat_messages_per_second = 20.0\nchat_burst = 20.0\n[monitor]\ninterval_seconds = 5\nchain_confirmations = 1\n[admin]\noperators = [\"tg:{BOB}\"]\n"
        ));
        bot.start_polling(&tg).await;
        deploy_type(&tg, ALICE, "DigiByte", "DigiByte full node", true, &[]).await;
        let name = tg
            .chat(ALICE)
            .iter()
            .find_map(|m| {
                let shown = m.shown();
                let (name, _) = shown.split_once(" is running")?;
                Some(name.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("no node named:\n{}", tg.describe()));
        tg.send_text(BOB, &format!("/fault chain {name} oldversion"));
        wait_count(&tg, BOB, "Done: the chain of", 1).await;
        wait_count(&tg, ALICE, "too old for the network", 1).await;
        let alert = tg
            .chat(ALICE)
            .into_iter()
            .find(|m| m.shown().contains("too old for the network"))
            .expect("the alert");
        assert!(alert.button("Redeploy to update").is_some(), "{alert:?}");
        tg.send_text(BOB, &format!("/fault chain {name} clear"));
        wait_count(&tg, BOB, "runs normally again", 1).await;
        wait_count(&tg, ALICE, "which the network accepts", 1).await;
        assert_eq!(
            count(&tg, ALICE, "too old for the network"),
            1,
            "{}",
            tg.describe()
        );
        assert!(!bot.log().contains("panicked"), "{}", bot.log());
    }

    /// The stored profile of a Telegram user, as JSON, read as an
    /// operator's `jukebox admin` reads a running bot's data dir (record
    /// files and the write-ahead log not checkpointed yet).
    fn profile(bot: &Bot, user: i64) -> serde_json::Value {
        let store = jukebox::store::Store::open_read_only(&bot.dir.path().join("data"))
            .expect("the data dir opens");
        let id = jukebox::ids::UserId::parse(&format!("tg:{user}")).expect("user id");
        let profile: Option<serde_json::Value> = store.read(&id, "profile").expect("profile");
        let Some(data) = profile else {
            panic!("no profile for tg:{user}");
        };
        serde_json::json!({ "data": data })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_user_who_blocked_the_bot_is_marked_inactive() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::fast();
        bot.start_polling(&tg).await;
        tg.send_text(BOB, "/help");
        wait_count(&tg, BOB, "Here is what I can do", 1).await;
        assert_eq!(profile(&bot, BOB)["data"]["blocked"], false);
        tg.block_user(BOB);
        tg.send_text(BOB, "/list");
        tg.wait_until(|_| profile(&bot, BOB)["data"]["blocked"] == true, WAIT)
            .await
            .expect("marked inactive after Telegram said the bot was blocked");
        tg.unblock_user(BOB);
        tg.send_text(BOB, "/list");
        wait_count(&tg, BOB, "You have no nodes yet", 1).await;
        assert_eq!(profile(&bot, BOB)["data"]["blocked"], false);
    }

    /// One user orders one node type up to the payment request: chain and
    /// type labels, whether IPv4 is asked, and the answers to its settings.
    async fn order(
        tg: &FakeTelegram,
        chat: i64,
        chain: &str,
        node_type: &str,
        ipv4_asked: bool,
        settings: &[String],
    ) {
        to_settings(tg, chat, chain, node_type, ipv4_asked).await;
        for (i, answer) in settings.iter().enumerate() {
            wait_count(tg, chat, &format!("({}/{})", i + 1, settings.len()), 1).await;
            tg.send_text(chat, answer);
        }
        confirm_order(tg, chat).await;
    }

    /// /deploy up to the node type's first setting: the chain, its node type
    /// (chosen for the user when it is the only one), one node (fixed for a
    /// validator), no IPv4 where asked, anywhere.
    async fn to_settings(
        tg: &FakeTelegram,
        chat: i64,
        chain: &str,
        node_type: &str,
        ipv4_asked: bool,
    ) {
        tg.send_text(chat, "/deploy");
        wait_count(tg, chat, "Which blockchain", 1).await;
        click(tg, chat, chain);
        wait_count(tg, chat, "node?", 1).await;
        // A chain with one node type has it chosen for the user.
        if count(tg, chat, "(the only possible answer") == 0 {
            click(tg, chat, node_type);
        }
        wait_count(tg, chat, "How many nodes", 1).await;
        // A Polygon validator's count is fixed to 1; others offer buttons.
        if count(
            tg,
            chat,
            "How many nodes would you like? 1 (the only possible answer",
        ) == 0
        {
            tg.send_text(chat, "zero");
            wait_count(tg, chat, "Please send a whole number from 1 to 10", 1).await;
            tg.send_text(chat, "1");
        }
        if ipv4_asked {
            wait_count(tg, chat, "public IPv4", 1).await;
            click(tg, chat, "No");
        }
        wait_count(tg, chat, "Where should they run", 1).await;
        click(tg, chat, "Anywhere");
    }

    /// From the SSH key question to the payment request: no key, one week.
    async fn confirm_order(tg: &FakeTelegram, chat: i64) {
        wait_count(tg, chat, "SSH public key", 1).await;
        click(tg, chat, "Skip");
        wait_count(tg, chat, "How long", 1).await;
        click(tg, chat, "1 week");
        wait_count(tg, chat, "To pay now", 1).await;
        click(tg, chat, "Confirm");
        wait_count(tg, chat, "Scan with the ThreeFold Connect app", 1).await;
    }

    /// `order`, then pays with the sandbox and waits for the node to run.
    async fn deploy_type(
        tg: &FakeTelegram,
        chat: i64,
        chain: &str,
        node_type: &str,
        ipv4_asked: bool,
        settings: &[String],
    ) {
        order(tg, chat, chain, node_type, ipv4_asked, settings).await;
        click(tg, chat, "Pay with sandbox wallet");
        wait_count(tg, chat, "is running", 1).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_node_type_deploys_over_telegram() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::fast();
        // JSON logs here, so the secret scan below also covers that format.
        bot.start_with_log_format(&tg, "json");
        tg.wait_for_requests("getUpdates", 1, WAIT)
            .await
            .expect("the bot polls");
        // A BLS12-381 secret key (below the group order) for the masternode.
        let hex64 = "3a".repeat(32);
        let rpc = "https://eth.example.org/rpc".to_owned();
        // The signer key and its own address (go-ethereum crypto_test.go).
        let eth_key = "289c2857d4598e37fb9647507e47a309d6133539bf21a8b9cb6df88fd5232032";
        let validator = vec![
            rpc.clone(),
            eth_key.to_owned(),
            "correct horse battery".to_owned(),
            "0x970E8128AB834E8EAC17Ab8E3812F010678CF791".to_owned(),
            "c".repeat(40),
            format!("enode://{}@10.0.0.1:30303", "d".repeat(128)),
        ];
        let code = vec!["0123456789abcdef0123456789abc123".to_owned()];
        // Seven users at once, one node type each.
        tokio::join!(
            deploy_type(&tg, 101, "Dash", "Dash full node", true, &[]),
            // A masternode always has a public IPv4: not asked.
            deploy_type(
                &tg,
                102,
                "Dash",
                "Dash masternode",
                false,
                std::slice::from_ref(&hex64)
            ),
            deploy_type(&tg, 103, "DigiByte", "DigiByte full node", true, &[]),
            deploy_type(
                &tg,
                104,
                "Polygon",
                "Polygon sentry",
                false,
                std::slice::from_ref(&rpc)
            ),
            deploy_type(
                &tg,
                105,
                "Polygon",
                "Polygon full",
                false,
                std::slice::from_ref(&rpc)
            ),
            deploy_type(&tg, 106, "Polygon", "Polygon validator", false, &validator),
            deploy_type(&tg, 107, "Presearch", "Presearch node", false, &code),
        );
        for (chat, prefix) in [
            (101, "dash-full-"),
            (102, "dash-masternode-"),
            (103, "digibyte-full-"),
            (104, "polygon-sentry-"),
            (105, "polygon-full-"),
            (106, "polygon-validator-"),
            (107, "presearch-node-"),
        ] {
            assert!(count(&tg, chat, prefix) >= 1, "{}", tg.describe());
        }
        // Secrets never travel back to the chat in full.
        assert_eq!(count(&tg, 102, &hex64), 0);
        assert_eq!(count(&tg, 106, "correct horse battery"), 0);
        assert_eq!(count(&tg, 106, eth_key), 0);

        // Nor into the logs (debug level, JSON): not the bot token, not a
        // secret setting, not the master key.
        let status = bot.terminate();
        assert!(status.success(), "exit {status:?}");
        let log = bot.log();
        let lines: Vec<serde_json::Value> = log
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect();
        assert!(
            lines
                .iter()
                .any(|l| l["fields"]["user"] == "tg:106" && l["fields"]["node"].is_string()),
            "user and node ids are fields:\n{log}"
        );
        let master_key = std::fs::read_to_string(bot.dir.path().join("data/master.key"))
            .expect("master key file");
        let token_secret = crate::support::fake_telegram::TOKEN
            .split(':')
            .nth(1)
            .expect("token");
        for secret in [
            token_secret,
            master_key.trim(),
            hex64.as_str(),
            eth_key,
            "correct horse battery",
            "0123456789abcdef0123456789abc123",
        ] {
            assert!(!log.contains(secret), "a secret is in the log: {secret}");
        }
    }

    /// The files in the bot's Telegram inbox (updates not handled yet).
    fn inbox_files(bot: &Bot) -> Vec<String> {
        std::fs::read_dir(bot.dir.path().join("data/telegram-inbox"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// Issue 16: a top-up is paid at most once, whether "Pay" is pressed
    /// twice at once or the bot is killed while it says "Received" and the
    /// press is replayed from the inbox after the restart.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_top_up_is_paid_once_whatever_the_presses_and_kills() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::fast();
        bot.start_polling(&tg).await;
        tg.send_text(ALICE, "/topup 50");
        wait_count(&tg, ALICE, "to add 50.00 TFT", 1).await;
        // A double press: both presses reach the bot before it answers.
        click(&tg, ALICE, "Pay with sandbox wallet");
        click(&tg, ALICE, "Pay with sandbox wallet");
        wait_count(&tg, ALICE, "That top-up is already paid", 1).await;
        assert_eq!(count(&tg, ALICE, "Received"), 1, "{}", tg.describe());

        // A kill while the bot is sending "Received".
        tg.send_text(ALICE, "/topup 30");
        wait_count(&tg, ALICE, "to add 30.00 TFT", 1).await;
        tg.hold_message("Received 30.00 TFT");
        click(&tg, ALICE, "Pay with sandbox wallet");
        tg.wait_until(|tg| !tg.held_messages().is_empty(), WAIT)
            .await
            .expect("the bot sends Received");
        bot.kill();
        bot.start(&tg);
        // The press comes back from the inbox and pays nothing more.
        wait_count(&tg, ALICE, "That top-up is already paid (30.00 TFT", 1).await;
        tg.send_text(ALICE, "/balance");
        wait_count(&tg, ALICE, "Balance:", 1).await;
        let balance = tg
            .chat(ALICE)
            .into_iter()
            .rev()
            .find(|m| m.shown().starts_with("Balance:"))
            .expect("balance shown");
        assert!(
            balance.shown().starts_with("Balance: 80.00 TFT"),
            "{}",
            tg.describe()
        );
        assert_eq!(count(&tg, ALICE, "Received"), 1, "{}", tg.describe());
        assert!(!bot.log().contains("panicked"), "{}", bot.log());
    }

    /// Issue 16: each update leaves the inbox as soon as it is handled, so a
    /// restart (even right after, by SIGKILL) replays nothing handled and
    /// answers no callback query twice.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn handled_updates_leave_the_inbox_at_once_and_are_never_answered_again() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::fast();
        bot.start_polling(&tg).await;
        tg.send_text(ALICE, "/deploy");
        wait_count(&tg, ALICE, "Which blockchain", 1).await;
        click(&tg, ALICE, "Dash");
        wait_count(&tg, ALICE, "Which kind of Dash node", 1).await;
        tg.send_text(BOB, "/help");
        wait_count(&tg, BOB, "Here is what I can do", 1).await;
        tg.wait_until(|_| inbox_files(&bot).is_empty(), WAIT)
            .await
            .unwrap_or_else(|r| {
                panic!(
                    "handled updates stay in the inbox: {:?}\n{r}",
                    inbox_files(&bot)
                )
            });
        bot.kill();
        bot.start(&tg);
        tg.send_text(ALICE, "/cancel");
        wait_count(&tg, ALICE, "Cancelled", 1).await;
        let answered = tg.answered_callbacks();
        let mut ids: Vec<&str> = answered.iter().map(|a| a.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), answered.len(), "answered twice: {answered:?}");
        assert_eq!(count(&tg, ALICE, "Which kind of Dash node"), 1);
        assert_eq!(count(&tg, BOB, "Here is what I can do"), 1);
        assert!(!bot.log().contains("replaying updates"), "{}", bot.log());
    }

    /// Issue 21: the inbox became a journal; an inbox the previous version
    /// left (one sealed `<update id>.upd` file per update not handled) is
    /// replayed at the first start of this one and then gone from disk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_upgrade_replays_the_previous_versions_inbox_files() {
        let tg = FakeTelegram::start();
        let mut bot = Bot::fast();
        bot.start_polling(&tg).await;
        tg.send_text(ALICE, "/help");
        wait_count(&tg, ALICE, "Here is what I can do", 1).await;
        assert!(bot.terminate().success(), "{}", bot.log());
        // As the previous version left it: "/balance" received (and
        // confirmed to Telegram, so never sent again), not handled. Its id
        // is above every one the fake has given out.
        let data = bot.dir.path().join("data");
        let master = jukebox::crypto::MasterKey::load_or_create(&data.join("master.key"), None)
            .expect("master key");
        let update = format!(
            r#"{{"update_id":500000,"message":{{"message_id":900,"from":{{"id":{ALICE},"is_bot":false,"first_name":"Alice"}},"chat":{{"id":{ALICE},"type":"private","first_name":"Alice"}},"date":1754000000,"text":"/balance","entities":[{{"type":"bot_command","offset":0,"length":8}}]}}}}"#
        );
        let sealed = serde_json::to_vec(&master.seal(update.as_bytes())).expect("json");
        std::fs::write(data.join("telegram-inbox/0000500000.upd"), sealed).expect("old file");
        bot.start(&tg);
        wait_count(&tg, ALICE, "Balance:", 1).await;
        tg.wait_until(|_| inbox_files(&bot).is_empty(), WAIT)
            .await
            .unwrap_or_else(|r| panic!("left in the inbox: {:?}\n{r}", inbox_files(&bot)));
        assert!(bot.log().contains("replaying updates"), "{}", bot.log());
    }

    /// Every form a secret could take on disk or in a bucket.
    fn secret_forms(secret: &str) -> Vec<String> {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut forms = vec![
            secret.to_owned(),
            hex::encode(secret),
            b64.encode(secret),
            serde_json::to_string(secret).expect("json")[1..]
                .trim_end_matches('"')
                .to_owned(),
        ];
        if let Ok(bytes) = hex::decode(secret) {
            forms.push(b64.encode(&bytes));
            forms.push(secret.to_uppercase());
        }
        forms
    }

    /// Files under `dir` (recursively) that contain any of `needles`.
    fn files_containing(dir: &Path, needles: &[String]) -> Vec<String> {
        let mut found = Vec::new();
        let mut todo = vec![dir.to_owned()];
        while let Some(dir) = todo.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    todo.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    let text = String::from_utf8_lossy(&bytes);
                    for needle in needles {
                        if text.contains(needle.as_str()) {
                            found.push(format!("{} holds {needle:?}", path.display()));
                        }
                    }
                }
            }
        }
        found
    }

    /// Issue 17: a secret typed in chat is nowhere in clear: not in the data
    /// dir, not in the log, not in any object of a backup taken at once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn typed_secrets_are_nowhere_in_clear_not_even_in_a_backup_taken_at_once() {
        use crate::support::s3_server::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};
        let tmp = tempfile::tempdir().expect("temp dir");
        let s3 = S3Server::start(&tmp.path().join("s3")).await;
        let tg = FakeTelegram::start();
        let mut bot = Bot::with_limits(&format!(
            "chat_messages_per_second = 20.0\nchat_burst = 20.0\n[backup]\nendpoint = \"http://{}\"\nbucket = \"{BUCKET}\"\nallow_http = true\ninterval_minutes = 1440\n",
            s3.addr
        ));
        bot.env = vec![
            ("AWS_ACCESS_KEY_ID".into(), ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY".into(), SECRET_KEY.into()),
        ];
        bot.start_polling(&tg).await;
        let backup_now = || {
            let out = Command::new(env!("CARGO_BIN_EXE_jukebox"))
                .arg("--config")
                .arg(bot.dir.path().join("config.toml"))
                .args(["backup", "now"])
                .envs(bot.env.iter().cloned())
                .output()
                .expect("backup runs");
            assert!(
                out.status.success(),
                "backup now failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        // The signer key and its own address (go-ethereum crypto_test.go).
        let eth_key = "289c2857d4598e37fb9647507e47a309d6133539bf21a8b9cb6df88fd5232032".to_owned();
        let passphrase = "violet staple 9 horse".to_owned();
        let bls_key = "1f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a79881f2e3d4c5b6a7988".to_owned();
        let code = "9a8b7c6d5e4f3a2b1c0d9a8b7c6d5e4f".to_owned();
        let steps: [(i64, &str, &str, bool, Vec<String>); 3] = [
            (
                201,
                "Polygon",
                "Polygon validator",
                false,
                vec![
                    "https://eth.example.org/rpc".to_owned(),
                    eth_key.clone(),
                    passphrase.clone(),
                    "0x970E8128AB834E8EAC17Ab8E3812F010678CF791".to_owned(),
                    "c".repeat(40),
                    format!("enode://{}@10.0.0.1:30303", "d".repeat(128)),
                ],
            ),
            // A masternode always has a public IPv4: not asked.
            (202, "Dash", "Dash masternode", false, vec![bls_key.clone()]),
            (
                203,
                "Presearch",
                "Presearch node",
                false,
                vec![code.clone()],
            ),
        ];
        let secrets = [&eth_key, &passphrase, &bls_key, &code];
        let needles: Vec<String> = secrets.iter().flat_map(|s| secret_forms(s)).collect();
        let check = |bot: &Bot, when: &str| {
            let mut found = files_containing(&bot.dir.path().join("data"), &needles);
            found.extend(files_containing(&s3.root, &needles));
            let log = bot.log();
            found.extend(
                needles
                    .iter()
                    .filter(|n| log.contains(n.as_str()))
                    .map(|n| format!("the log holds {n:?}")),
            );
            assert!(
                found.is_empty(),
                "{when}: a secret in clear:\n{}",
                found.join("\n")
            );
        };
        for (chat, chain, node_type, ipv4, settings) in &steps {
            to_settings(&tg, *chat, chain, node_type, *ipv4).await;
            for (i, answer) in settings.iter().enumerate() {
                wait_count(&tg, *chat, &format!("({}/{})", i + 1, settings.len()), 1).await;
                tg.send_text(*chat, answer);
                if secrets.contains(&answer) {
                    // At once: the answer has just been handled.
                    let next = match settings.get(i + 1) {
                        Some(_) => format!("({}/{})", i + 2, settings.len()),
                        None => "SSH public key".to_owned(),
                    };
                    wait_count(&tg, *chat, &next, 1).await;
                    backup_now();
                    check(&bot, &format!("{node_type}, setting {}", i + 1));
                }
            }
            confirm_order(&tg, *chat).await;
            click(&tg, *chat, "Pay with sandbox wallet");
            wait_count(&tg, *chat, "is running", 1).await;
        }
        backup_now();
        check(&bot, "after deploying");
        let status = bot.terminate();
        assert!(status.success(), "exit {status:?}");
        check(&bot, "after the stop");
    }
}
