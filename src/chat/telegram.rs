//! The Telegram channel: Bot API through teloxide's client, long polling by
//! default or a webhook, feeding the same service as every other channel.
//!
//! Updates of one user are handled in order; different users concurrently.
//! A batch of updates is confirmed to Telegram (by the next `getUpdates`
//! offset) once every update in it is in the durable inbox (`inbox.rs`:
//! sealed, in an append-only journal, marked as soon as it is handled), and the
//! service drops inputs whose `update_id` it has already handled, so after a
//! crash the replayed updates cause no double action.
//!
//! Group chats: the bot declines politely and points to a private chat, so
//! that nobody's nodes, balance or secrets are shown in a group.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use teloxide::Bot;
use teloxide::payloads::GetUpdatesSetters as _;
use teloxide::prelude::Requester as _;
use teloxide::types::{
    AllowedUpdate, BotCommand, ChatKind, MaybeInaccessibleMessage, Update, UpdateKind,
};

use crate::dialogue::Input;
use crate::ids::UserId;
use crate::service::Service;

mod inbox;
mod limiter;
mod outbox;
mod webhook;

pub use inbox::{INBOX_DIR, LEGACY_JOURNAL as LEGACY_INBOX};
use inbox::{Inbox, Leftover, Queues};
pub use limiter::{Limits, RateLimiter};
pub use outbox::{Pressed, TelegramOutbox, chat_of};

// `[telegram]` is plain config data (`config/telegram.rs`); re-exported
// for the channel's callers.
pub use crate::config::{TelegramConfig, TelegramMode};

/// The send limits `[telegram]` sets, as the channel's rate limiter takes
/// them.
impl TelegramConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            chat_per_second: self.chat_messages_per_second,
            chat_burst: self.chat_burst,
            global_per_second: self.global_messages_per_second,
            global_burst: self.global_messages_per_second.max(1.0),
        }
    }
}

/// Builds the Bot API client from `TELOXIDE_TOKEN` and `TELOXIDE_API_URL`.
/// Returns None when no token is set (Telegram is then off).
pub fn bot_from_env(poll_timeout_seconds: u32) -> anyhow::Result<Option<Bot>> {
    let Ok(token) = std::env::var("TELOXIDE_TOKEN") else {
        return Ok(None);
    };
    if token.trim().is_empty() {
        return Ok(None);
    }
    // The HTTP timeout must outlast a long poll.
    let client = teloxide::net::default_reqwest_settings()
        .timeout(Duration::from_secs(u64::from(poll_timeout_seconds) + 10))
        .build()?;
    let mut bot = Bot::with_client(token.trim(), client);
    if let Ok(url) = std::env::var("TELOXIDE_API_URL") {
        let url = reqwest::Url::parse(&url)
            .map_err(|e| anyhow::anyhow!("TELOXIDE_API_URL is not a URL: {e}"))?;
        bot = bot.set_api_url(url);
    }
    Ok(Some(bot))
}

/// The running Telegram side.
pub struct Telegram {
    bot: Bot,
    outbox: Arc<TelegramOutbox>,
    config: TelegramConfig,
    username: String,
    /// The data dir, where received, not yet handled, updates are kept
    /// (see `inbox.rs`).
    data_dir: PathBuf,
}

/// One update turned into what the service understands.
struct Incoming {
    user: UserId,
    chat: i64,
    display_name: String,
    input: Input,
    update_id: u64,
    pressed: Option<Pressed>,
}

impl Telegram {
    /// Checks the token (getMe) and registers the command menu.
    pub async fn connect(
        bot: Bot,
        outbox: Arc<TelegramOutbox>,
        config: TelegramConfig,
        commands: Vec<(String, String)>,
        data_dir: PathBuf,
    ) -> anyhow::Result<Telegram> {
        let me = bot.get_me().await.map_err(|e| {
            anyhow::anyhow!("Telegram getMe failed (is TELOXIDE_TOKEN right?): {e}")
        })?;
        let username = me.username.clone().unwrap_or_default();
        let menu: Vec<BotCommand> = commands
            .into_iter()
            .map(|(c, d)| BotCommand::new(c, d))
            .collect();
        if let Err(e) = bot.set_my_commands(menu).await {
            tracing::warn!(error = %e, "could not register the command menu");
        }
        tracing::info!(bot = %username, mode = config.mode.as_str(), "Telegram connected");
        Ok(Telegram {
            bot,
            outbox,
            config,
            username,
            data_dir,
        })
    }

    /// Receives updates until `shutdown` resolves.
    pub async fn run(
        self,
        service: Service,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        match self.config.mode {
            TelegramMode::Webhook => return webhook::run(self, service, shutdown).await,
            TelegramMode::Polling => {}
        }
        if let Err(e) = self.bot.delete_webhook().await {
            tracing::warn!(error = %e, "could not delete a previous webhook");
        }
        tokio::pin!(shutdown);
        let inbox = Arc::new(
            Inbox::open(&self.data_dir, service.shared_master_key())
                .map_err(|e| anyhow::anyhow!("cannot open the Telegram inbox: {e}"))?,
        );
        let queues: Arc<Queues<Incoming>> = Queues::new();
        let leftover = inbox.load();
        if !leftover.is_empty() {
            tracing::info!(
                updates = leftover.len(),
                "replaying updates received but not handled before a stop"
            );
            self.dispatch(&service, &queues, &inbox, leftover).await;
        }
        let mut offset: i32 = 0;
        let mut backoff = Duration::from_secs(1);
        loop {
            let request = self
                .bot
                .get_updates()
                .offset(offset)
                .timeout(self.config.poll_timeout_seconds)
                .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery]);
            let updates = tokio::select! {
                _ = &mut shutdown => break,
                result = request => result,
            };
            match updates {
                Ok(updates) if updates.is_empty() => backoff = Duration::from_secs(1),
                Ok(updates) => {
                    backoff = Duration::from_secs(1);
                    let next = updates
                        .last()
                        .map(|u| i32::try_from(u.id.0).unwrap_or(i32::MAX).saturating_add(1))
                        .unwrap_or(offset);
                    match inbox.append(&updates) {
                        // Kept: confirm at once and keep polling while the
                        // queues work.
                        Ok(()) => {
                            let fresh = updates
                                .into_iter()
                                .map(|update| Leftover {
                                    update,
                                    answered: false,
                                })
                                .collect();
                            self.dispatch(&service, &queues, &inbox, fresh).await
                        }
                        // Not journaled: handle before confirming, as the
                        // only safe order without it.
                        Err(e) => {
                            tracing::warn!(error = %e, "could not journal updates; handling them before polling again");
                            self.handle_batch(&service, updates).await;
                        }
                    }
                    offset = next;
                }
                Err(teloxide::RequestError::RetryAfter(after)) => {
                    tokio::time::sleep(after.duration()).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, wait_secs = backoff.as_secs(), "getUpdates failed; retrying");
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(30));
                }
            }
        }
        // Let what is in hand finish (briefly); what does not is replayed
        // from the inbox at the next start.
        if tokio::time::timeout(Duration::from_secs(10), queues.wait_idle())
            .await
            .is_err()
        {
            tracing::info!("some Telegram updates are left for the next start");
        }
        tracing::info!("Telegram stopped receiving");
        Ok(())
    }

    /// Queues updates for their users' workers; each leaves the inbox as
    /// soon as it is handled (or at once if it is nothing to handle).
    async fn dispatch(
        &self,
        service: &Service,
        queues: &Arc<Queues<Incoming>>,
        inbox: &Arc<Inbox>,
        updates: Vec<Leftover>,
    ) {
        for Leftover { update, answered } in updates {
            let id = update.id.0;
            let Some(item) = self.incoming(update, !answered, Some(inbox)).await else {
                inbox.done(id);
                continue;
            };
            // The worker of a user's queue runs the closure of the push that
            // started it for every later item too, so the id to forget comes
            // from the item, never from this closure's capture.
            let (service, outbox, inbox) = (service.clone(), self.outbox.clone(), inbox.clone());
            queues.push(item.user.clone(), item, move |item| {
                let (service, outbox, inbox) = (service.clone(), outbox.clone(), inbox.clone());
                async move {
                    let id = item.update_id;
                    process(service, outbox, item).await;
                    if let Ok(id) = u32::try_from(id) {
                        // One unsynced write: a crash losing it only replays
                        // the update into the service's de-duplication.
                        inbox.done(id);
                    }
                }
            });
        }
    }

    /// Handles a batch: each user's updates in order, users concurrently.
    async fn handle_batch(&self, service: &Service, updates: Vec<Update>) {
        let mut per_user: BTreeMap<UserId, Vec<Incoming>> = BTreeMap::new();
        for update in updates {
            if let Some(incoming) = self.incoming(update, true, None).await {
                per_user
                    .entry(incoming.user.clone())
                    .or_default()
                    .push(incoming);
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (_, items) in per_user {
            let (service, outbox) = (service.clone(), self.outbox.clone());
            tasks.spawn(async move {
                for item in items {
                    process(service.clone(), outbox.clone(), item).await;
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }

    /// Reads one update. Group messages and unsupported content are answered
    /// here and produce no service input. A callback query's spinner is
    /// stopped when `answer` (not when a replayed update's was before); the
    /// answer is noted in `inbox` when the update is kept there.
    async fn incoming(
        &self,
        update: Update,
        answer: bool,
        inbox: Option<&Arc<Inbox>>,
    ) -> Option<Incoming> {
        let update_id = u64::from(update.id.0);
        match update.kind {
            UpdateKind::Message(message) => {
                let from = message.from.as_ref()?;
                let chat = message.chat.id.0;
                if !matches!(message.chat.kind, ChatKind::Private(_)) {
                    let addressed = message
                        .text()
                        .and_then(|t| t.split_whitespace().next())
                        .is_some_and(|cmd| {
                            cmd.starts_with('/') && cmd.ends_with(&format!("@{}", self.username))
                        });
                    if addressed {
                        self.decline_group(chat).await;
                    }
                    return None;
                }
                let user = UserId::parse(&format!("tg:{}", from.id.0)).ok()?;
                let Some(text) = message.text() else {
                    self.reply(&user, "I can only read text messages and button presses. Send /help to see what I can do.").await;
                    return None;
                };
                Some(Incoming {
                    user,
                    chat,
                    display_name: display_name(from),
                    input: Input::from_message(text),
                    update_id,
                    pressed: None,
                })
            }
            UpdateKind::CallbackQuery(query) => {
                // Always stop the button's spinner, whatever happens next
                // (once: not again for a replayed update that had it).
                if answer {
                    let (bot, id, inbox) = (self.bot.clone(), query.id.clone(), inbox.cloned());
                    let update = update.id.0;
                    tokio::spawn(async move {
                        match bot.answer_callback_query(id).await {
                            Ok(_) => {
                                if let Some(inbox) = inbox {
                                    inbox.answered(update);
                                }
                            }
                            Err(e) => tracing::debug!(error = %e, "answerCallbackQuery failed"),
                        }
                    });
                }
                let user = UserId::parse(&format!("tg:{}", query.from.id.0)).ok()?;
                let (chat, pressed) = match &query.message {
                    Some(MaybeInaccessibleMessage::Regular(m)) => (
                        m.chat.id.0,
                        Some(Pressed {
                            message_id: m.id.0,
                            text: m.text().or(m.caption()).unwrap_or_default().to_owned(),
                        }),
                    ),
                    Some(MaybeInaccessibleMessage::Inaccessible(m)) => (m.chat.id.0, None),
                    None => (i64::try_from(query.from.id.0).ok()?, None),
                };
                if chat_of(&user) != Some(chat) {
                    // A button under a group message: the same policy as text.
                    self.decline_group(chat).await;
                    return None;
                }
                Some(Incoming {
                    user,
                    chat,
                    display_name: display_name(&query.from),
                    input: Input::Button(query.data.unwrap_or_default()),
                    update_id,
                    pressed,
                })
            }
            _ => None,
        }
    }

    async fn reply(&self, user: &UserId, text: &str) {
        use crate::channel::{Outbox as _, Outgoing};
        self.outbox
            .send(
                user,
                Outgoing::Message(crate::dialogue::Message::text(text)),
            )
            .await;
    }

    async fn decline_group(&self, chat: i64) {
        use teloxide::types::ChatId;
        let text = format!(
            "I work in private chats only, so that your nodes, balance and keys stay private. Message me directly: https://t.me/{}",
            self.username
        );
        if let Err(e) = self.bot.send_message(ChatId(chat), text).await {
            tracing::debug!(chat, error = %e, "could not answer in a group");
        }
    }
}

/// Handles one update for its user.
async fn process(service: Service, outbox: Arc<TelegramOutbox>, item: Incoming) {
    outbox.begin(item.chat, item.pressed.clone());
    let result = service
        .handle(
            &item.user,
            &item.display_name,
            item.input,
            Some(item.update_id),
        )
        .await;
    outbox.flush(&item.user).await;
    if let Err(e) = result {
        tracing::error!(user = %item.user, error = %format!("{e:#}"), "handling an update failed");
        service
            .tell(
                &item.user,
                "Sorry, something went wrong on our side; nothing was lost. Please try again.",
            )
            .await;
    }
}

fn display_name(user: &teloxide::types::User) -> String {
    user.username
        .clone()
        .map(|u| format!("@{u}"))
        .unwrap_or_else(|| user.first_name.clone())
}
