//! Reading what the bot did: transcripts, the request log, rate-limit
//! checks, a human-readable report, and waits that wake on every bot
//! request (a `watch` bumped by the server) instead of sleeping.

use std::time::{Duration, Instant};

use super::{AnsweredCallback, BotMessage, FakeTelegram, LoggedRequest, RegisteredCommand};

impl FakeTelegram {
    /// The bot's messages in `chat_id`, oldest first, as shown now (deleted ones flagged).
    pub fn chat(&self, chat_id: i64) -> Vec<BotMessage> {
        let st = self.state();
        let messages = st
            .chats
            .get(&chat_id)
            .map(|c| c.messages.as_slice())
            .unwrap_or_default();
        messages
            .iter()
            .filter(|m| m.from_bot)
            .map(|m| m.view())
            .collect()
    }

    /// How many of the bot's messages in `chat_id` show, or showed before
    /// an edit, `needle` in their text or caption; [`chat`](Self::chat)'s
    /// count without copying every message (photos included) to count.
    pub fn count_shown(&self, chat_id: i64, needle: &str) -> usize {
        let st = self.state();
        let Some(chat) = st.chats.get(&chat_id) else {
            return 0;
        };
        chat.messages
            .iter()
            .filter(|m| m.from_bot && m.shows(needle))
            .count()
    }

    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().requests.clone()
    }

    /// Logged requests of one method (any case).
    pub fn requests_of(&self, method: &str) -> Vec<LoggedRequest> {
        let method = method.to_ascii_lowercase();
        self.state()
            .requests
            .iter()
            .filter(|r| r.method == method)
            .cloned()
            .collect()
    }

    pub fn answered_callbacks(&self) -> Vec<AnsweredCallback> {
        self.state().answered.clone()
    }

    /// The commands of the latest `setMyCommands`.
    pub fn commands(&self) -> Vec<RegisteredCommand> {
        self.state().commands.clone()
    }

    /// Every distinct token the bot used.
    pub fn tokens(&self) -> Vec<String> {
        self.state().tokens.clone()
    }

    /// Every 1-second window in which the bot tried to send or edit more
    /// messages (`send*` but `sendChatAction`, `edit*`; rejected attempts
    /// count too) in one chat, or in all chats, than allowed. The window is
    /// 950 ms so loopback jitter cannot flag a bot sending exactly at its limit.
    pub fn rate_limit_violations(&self, per_chat_per_sec: u32, global_per_sec: u32) -> Vec<String> {
        let st = self.state();
        let sends: Vec<&LoggedRequest> = st
            .requests
            .iter()
            .filter(|r| {
                r.method.starts_with("edit")
                    || r.method.starts_with("send") && r.method != "sendchataction"
            })
            .collect();
        let mut report = Vec::new();
        let mut chats: Vec<i64> = sends.iter().filter_map(|r| r.chat_id).collect();
        chats.sort_unstable();
        chats.dedup();
        for chat in chats {
            let in_chat: Vec<&LoggedRequest> = sends
                .iter()
                .copied()
                .filter(|r| r.chat_id == Some(chat))
                .collect();
            bursts(
                &in_chat,
                per_chat_per_sec,
                &format!("chat {chat}"),
                st.started,
                &mut report,
            );
        }
        bursts(&sends, global_per_sec, "all chats", st.started, &mut report);
        report
    }

    /// Every chat's transcript and the last requests, for failure messages.
    pub fn describe(&self) -> String {
        let st = self.state();
        let mut out = String::from("fake Telegram saw:\n");
        for (id, chat) in &st.chats {
            out += &format!("  chat {id}:\n");
            for m in &chat.messages {
                let view = m.view();
                let who = if m.from_bot { "bot " } else { "user" };
                let flags = format!(
                    "{}{}{}",
                    if view.photo.is_some() { " [photo]" } else { "" },
                    if m.edits > 0 {
                        format!(" [edited x{}]", m.edits)
                    } else {
                        String::new()
                    },
                    if m.deleted { " [deleted]" } else { "" },
                );
                out += &format!("    #{} {who}: {:?}{flags}", view.message_id, view.shown());
                let labels: Vec<&str> = view
                    .buttons
                    .iter()
                    .flatten()
                    .map(|(l, _)| l.as_str())
                    .collect();
                if !labels.is_empty() {
                    out += &format!(" buttons {labels:?}");
                }
                out += "\n";
            }
        }
        let skip = st.requests.len().saturating_sub(20);
        out += &format!("  last requests ({} in all):\n", st.requests.len());
        for r in &st.requests[skip..] {
            let at = r.at.duration_since(st.started).as_secs_f64();
            out += &format!(
                "    +{at:.3}s {} chat={:?} -> {}\n",
                r.method, r.chat_id, r.status
            );
        }
        out
    }

    // ---- Waiting -------------------------------------------------------------

    /// Waits until `cond` holds, re-checking after every bot request.
    pub async fn wait_until(
        &self,
        cond: impl FnMut(&FakeTelegram) -> bool,
        timeout: Duration,
    ) -> Result<(), String> {
        let activity = self.shared.activity.subscribe();
        self.wait_on(activity, cond, timeout, "condition").await
    }

    /// [`wait_until`](Self::wait_until) for a condition on one chat:
    /// re-checked after every bot request naming `chat_id` and every update
    /// a user makes there, not after other chats' requests.
    pub async fn wait_chat_until(
        &self,
        chat_id: i64,
        cond: impl FnMut(&FakeTelegram) -> bool,
        timeout: Duration,
    ) -> Result<(), String> {
        let activity = self.shared.chat_activity(chat_id).subscribe();
        let what = format!("condition on chat {chat_id}");
        self.wait_on(activity, cond, timeout, &what).await
    }

    /// Checks `cond` after each change `activity` signals, until it holds
    /// or `timeout` passes.
    async fn wait_on<T>(
        &self,
        mut activity: tokio::sync::watch::Receiver<T>,
        mut cond: impl FnMut(&FakeTelegram) -> bool,
        timeout: Duration,
        what: &str,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Seen before checking, so activity during the check wakes us.
            activity.borrow_and_update();
            if cond(self) {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, activity.changed())
                .await
                .is_err()
            {
                return match cond(self) {
                    true => Ok(()),
                    false => Err(format!(
                        "{what} not met within {timeout:?}\n{}",
                        self.describe()
                    )),
                };
            }
        }
    }

    /// Waits for a bot message in `chat_id` whose text or caption, now or
    /// before an edit, contains `needle`; returns it as shown now.
    pub async fn wait_for_text(
        &self,
        chat_id: i64,
        needle: &str,
        timeout: Duration,
    ) -> Result<BotMessage, String> {
        let find = |tg: &FakeTelegram| {
            tg.chat(chat_id).into_iter().find(|m| {
                m.shown().contains(needle) || m.history.iter().any(|h| h.contains(needle))
            })
        };
        let mut found = None;
        let waited = self
            .wait_until(
                |tg| {
                    found = find(tg);
                    found.is_some()
                },
                timeout,
            )
            .await;
        waited.map_err(|report| {
            format!("no bot message containing {needle:?} in chat {chat_id}: {report}")
        })?;
        Ok(found.expect("found when the wait succeeds"))
    }

    /// Waits until the bot has called `method` at least `count` times in all.
    pub async fn wait_for_requests(
        &self,
        method: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<LoggedRequest>, String> {
        self.wait_until(|tg| tg.requests_of(method).len() >= count, timeout)
            .await
            .map_err(|report| format!("fewer than {count} {method} requests: {report}"))?;
        Ok(self.requests_of(method))
    }
}

/// Reports each burst of more than `limit` requests within one window.
fn bursts(
    sends: &[&LoggedRequest],
    limit: u32,
    scope: &str,
    started: Instant,
    report: &mut Vec<String>,
) {
    const WINDOW: Duration = Duration::from_millis(950);
    let mut start = 0;
    while start < sends.len() {
        let end = start
            + sends[start..]
                .iter()
                .take_while(|r| r.at - sends[start].at < WINDOW)
                .count();
        if end - start > limit as usize {
            let methods: Vec<&str> = sends[start..end]
                .iter()
                .map(|r| r.method.as_str())
                .collect();
            let at = sends[start].at.duration_since(started).as_secs_f64();
            report.push(format!(
                "{scope}: {} messages within 1 s from +{at:.3}s (limit {limit}/s): {methods:?}",
                end - start
            ));
            start = end;
        } else {
            start += 1;
        }
    }
}
