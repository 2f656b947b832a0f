//! The web channel: what the service sends to people using the website.
//!
//! The service pushes [`Outgoing`] items to the hub like to any channel. The
//! hub keeps, per account, a bounded feed of the conversation and a list of
//! notifications (alerts), and pushes every change to the account's open
//! pages, which listen with server-sent events. Feeds live in memory only:
//! the conversation itself (its state, nodes, money) is in the store, and a
//! restart just starts the page's history afresh.
//!
//! An account is the user id the service knows. A web sign-in either is its
//! own account (`web:alice.3bot`) or is linked to a Telegram account, whose
//! messages the hub then mirrors (see [`WebHub::mirror`]): one conversation
//! seen in both places.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::channel::{Outbox, Outgoing};
use crate::clock::{Clock, SystemClock};
use crate::dialogue::{Button, Message};
use crate::ids::UserId;

/// Conversation entries kept per account (older ones scroll away).
pub const FEED_ENTRIES: usize = 100;
/// Notifications kept per account.
pub const NOTICES: usize = 50;
/// Accounts with a feed in memory; the least recently used are forgotten
/// beyond this, bounding memory whatever the number of users.
pub const MAX_FEEDS: usize = 10_000;
/// Changes buffered per open page; a page further behind reloads.
const LIVE_BUFFER: usize = 64;

/// One thing shown in a feed.
#[derive(Clone, Debug, PartialEq)]
pub enum EntryKind {
    /// A message, with the answer given once one of its buttons was used.
    Message {
        text: String,
        buttons: Vec<Vec<Button>>,
        answer: Option<String>,
    },
    /// An image (a payment QR) with its caption.
    Image {
        png: Arc<Vec<u8>>,
        caption: String,
        buttons: Vec<Vec<Button>>,
        answer: Option<String>,
    },
    /// Work in progress; later updates with the same key replace the text.
    Progress { key: String, text: String },
    /// What the person typed on the site (long answers shown masked, as
    /// they may be keys).
    Mine { text: String },
    /// A notification (an alert: outage, recovery, funds).
    Notice {
        text: String,
        buttons: Vec<Vec<Button>>,
    },
}

/// A feed entry. `id` names it for good; `version` grows with every change
/// anywhere in the account's feed, so a page can ask for what changed since
/// the version it rendered.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub id: u64,
    pub version: u64,
    /// When it arrived (unix seconds, the service's clock), shown on
    /// notifications as "5 minutes ago" with the date and time.
    pub at: u64,
    pub kind: EntryKind,
}

impl Entry {
    pub fn is_notice(&self) -> bool {
        matches!(self.kind, EntryKind::Notice { .. })
    }
}

struct Feed {
    chat: VecDeque<Entry>,
    notices: VecDeque<Entry>,
    version: u64,
    live: broadcast::Sender<Entry>,
    last_used: u64,
}

impl Feed {
    fn new() -> Feed {
        Feed {
            chat: VecDeque::new(),
            notices: VecDeque::new(),
            version: 0,
            live: broadcast::channel(LIVE_BUFFER).0,
            last_used: 0,
        }
    }

    fn next_version(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    fn push(&mut self, at: u64, kind: EntryKind) {
        let version = self.next_version();
        let entry = Entry {
            id: version,
            version,
            at,
            kind,
        };
        let list = if entry.is_notice() {
            (&mut self.notices, NOTICES)
        } else {
            (&mut self.chat, FEED_ENTRIES)
        };
        list.0.push_back(entry.clone());
        while list.0.len() > list.1 {
            list.0.pop_front();
        }
        let _ = self.live.send(entry);
    }

    /// Replaces the entry at `index` of the chat with a changed copy.
    fn update(&mut self, index: usize, change: impl FnOnce(&mut EntryKind)) {
        let version = self.next_version();
        if let Some(entry) = self.chat.get_mut(index) {
            change(&mut entry.kind);
            entry.version = version;
            let _ = self.live.send(entry.clone());
        }
    }

    fn apply(&mut self, at: u64, item: Outgoing) {
        match item {
            Outgoing::Message(Message { text, buttons }) => self.push(
                at,
                EntryKind::Message {
                    text,
                    buttons,
                    answer: None,
                },
            ),
            Outgoing::Image {
                png,
                caption,
                buttons,
                ..
            } => self.push(
                at,
                EntryKind::Image {
                    png: Arc::new(png),
                    caption,
                    buttons,
                    answer: None,
                },
            ),
            Outgoing::Progress { key, text } => {
                let existing = self.chat.iter().rposition(
                    |e| matches!(&e.kind, EntryKind::Progress { key: k, .. } if *k == key),
                );
                match existing {
                    Some(index) => self.update(index, |kind| {
                        if let EntryKind::Progress { text: t, .. } = kind {
                            *t = text;
                        }
                    }),
                    None => self.push(at, EntryKind::Progress { key, text }),
                }
            }
            Outgoing::Answered { answer } => {
                // The question answered is the latest one still offering
                // buttons, as in Telegram, where that message is edited.
                let question = self.chat.iter().rposition(|e| match &e.kind {
                    EntryKind::Message {
                        buttons, answer, ..
                    }
                    | EntryKind::Image {
                        buttons, answer, ..
                    } => !buttons.is_empty() && answer.is_none(),
                    _ => false,
                });
                if let Some(index) = question {
                    self.update(index, |kind| match kind {
                        EntryKind::Message {
                            buttons, answer: a, ..
                        }
                        | EntryKind::Image {
                            buttons, answer: a, ..
                        } => {
                            buttons.clear();
                            *a = Some(answer);
                        }
                        _ => {}
                    });
                }
            }
            // A page's buttons are answered where they were pressed (the
            // notifications page shows the service's explanation there).
            Outgoing::Withdrawn => {}
        }
    }

    fn changed_since(&self, version: u64) -> Vec<Entry> {
        let mut changed: Vec<Entry> = self
            .chat
            .iter()
            .chain(self.notices.iter())
            .filter(|e| e.version > version)
            .cloned()
            .collect();
        changed.sort_by_key(|e| e.version);
        changed
    }
}

/// What a page needs to render a feed and then follow it live.
pub struct Snapshot {
    pub chat: Vec<Entry>,
    /// Newest first.
    pub notices: Vec<Entry>,
    pub version: u64,
}

#[derive(Default)]
struct Feeds {
    by_account: HashMap<UserId, Feed>,
    tick: u64,
}

/// The web channel's state, shared by the outboxes and the site.
pub struct WebHub {
    /// Stamps entries with the service's time (tests pass a manual clock).
    clock: Arc<dyn Clock>,
    feeds: Mutex<Feeds>,
    /// Web sign-in -> the account it acts as, for linked sign-ins.
    links: RwLock<HashMap<UserId, UserId>>,
    /// Accounts of other channels that a web sign-in is linked to.
    mirrored: RwLock<HashSet<UserId>>,
}

impl WebHub {
    pub fn new() -> Arc<WebHub> {
        WebHub::with_clock(Arc::new(SystemClock))
    }

    /// A hub whose entries carry `clock`'s time.
    pub fn with_clock(clock: Arc<dyn Clock>) -> Arc<WebHub> {
        Arc::new(WebHub {
            clock,
            feeds: Mutex::default(),
            links: RwLock::default(),
            mirrored: RwLock::default(),
        })
    }

    /// Records stored links (web sign-in, account), e.g. at start.
    pub fn load_links(&self, links: impl IntoIterator<Item = (UserId, UserId)>) {
        for (web, account) in links {
            self.set_link(&web, Some(account));
        }
    }

    fn feeds(&self) -> MutexGuard<'_, Feeds> {
        // A panic while holding the lock leaves consistent data (every
        // mutation is a single push or field update), so keep serving.
        self.feeds.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The account a web sign-in acts as: itself, or its linked account.
    pub fn account_of(&self, web_user: &UserId) -> UserId {
        self.links
            .read()
            .ok()
            .and_then(|links| links.get(web_user).cloned())
            .unwrap_or_else(|| web_user.clone())
    }

    /// Records (or with `None` removes) a link from a web sign-in.
    pub fn set_link(&self, web_user: &UserId, account: Option<UserId>) {
        let (Ok(mut links), Ok(mut mirrored)) = (self.links.write(), self.mirrored.write()) else {
            return;
        };
        let old = match account {
            Some(account) => {
                mirrored.insert(account.clone());
                links.insert(web_user.clone(), account)
            }
            None => links.remove(web_user),
        };
        if let Some(old) = old
            && !links.values().any(|a| *a == old)
        {
            mirrored.remove(&old);
        }
    }

    /// Whether the hub keeps a feed for `account`: web accounts always,
    /// others when a web sign-in is linked to them.
    pub fn follows(&self, account: &UserId) -> bool {
        account.channel() == "web"
            || self
                .mirrored
                .read()
                .map(|m| m.contains(account))
                .unwrap_or(false)
    }

    fn with_feed<T>(&self, account: &UserId, f: impl FnOnce(&mut Feed) -> T) -> T {
        let mut feeds = self.feeds();
        feeds.tick += 1;
        let tick = feeds.tick;
        if !feeds.by_account.contains_key(account) && feeds.by_account.len() >= MAX_FEEDS {
            // Forget the least recently used tenth in one go, so the scan
            // runs once per thousand new feeds rather than on each.
            let mut ages: Vec<u64> = feeds.by_account.values().map(|f| f.last_used).collect();
            ages.sort_unstable();
            let cutoff = ages[ages.len() / 10];
            feeds.by_account.retain(|_, f| f.last_used > cutoff);
        }
        let feed = feeds
            .by_account
            .entry(account.clone())
            .or_insert_with(Feed::new);
        feed.last_used = tick;
        f(feed)
    }

    /// Adds a notification to `account`'s list (the alert itself reaches
    /// the conversation through the outbox as well).
    pub fn notice(&self, account: &UserId, message: &Message) {
        if self.follows(account) {
            let at = self.clock.now();
            self.with_feed(account, |feed| {
                feed.push(
                    at,
                    EntryKind::Notice {
                        text: message.text.clone(),
                        buttons: message.buttons.clone(),
                    },
                )
            });
        }
    }

    /// Shows what the person typed in their own feed.
    pub fn said(&self, account: &UserId, text: &str) {
        let shown = if text.starts_with('/') || text.chars().count() <= 16 {
            text.to_owned()
        } else {
            crate::crypto::mask(text)
        };
        let at = self.clock.now();
        self.with_feed(account, |feed| {
            feed.push(at, EntryKind::Mine { text: shown })
        });
    }

    /// The account's feed now; a page follows later changes from its
    /// version through [`WebHub::follow`].
    pub fn snapshot(&self, account: &UserId) -> Snapshot {
        self.with_feed(account, |feed| Snapshot {
            chat: feed.chat.iter().cloned().collect(),
            notices: feed.notices.iter().rev().cloned().collect(),
            version: feed.version,
        })
    }

    /// Entries changed after `version`, oldest change first, and a receiver
    /// of every later change (taken together, so nothing falls between).
    pub fn follow(
        &self,
        account: &UserId,
        version: u64,
    ) -> (Vec<Entry>, broadcast::Receiver<Entry>) {
        self.with_feed(account, |feed| {
            (feed.changed_since(version), feed.live.subscribe())
        })
    }

    /// The feed's current version (see [`Entry::version`]).
    pub fn version(&self, account: &UserId) -> u64 {
        self.with_feed(account, |feed| feed.version)
    }

    /// Chat entries changed after `version`, for showing the replies to an
    /// action on the page that asked for it.
    pub fn chat_since(&self, account: &UserId, version: u64) -> Vec<Entry> {
        self.with_feed(account, |feed| {
            feed.changed_since(version)
                .into_iter()
                .filter(|e| !e.is_notice())
                .collect()
        })
    }

    /// An outbox for a channel whose accounts may be linked to web sign-ins:
    /// everything goes to `inner` (when that channel runs), and a copy to
    /// the hub for linked accounts, so they see their conversation on the
    /// site even while the other channel is off.
    pub fn mirror(self: &Arc<Self>, inner: Option<Arc<dyn Outbox>>) -> Arc<dyn Outbox> {
        Arc::new(Mirror {
            hub: self.clone(),
            inner,
        })
    }

    /// The outbox the alert dispatcher sends through: alerts also become
    /// notifications of the accounts the hub follows.
    pub fn notices_then(self: &Arc<Self>, inner: Arc<dyn Outbox>) -> Arc<dyn Outbox> {
        Arc::new(NoticeTap {
            hub: self.clone(),
            inner,
        })
    }
}

#[async_trait]
impl Outbox for WebHub {
    async fn send(&self, user: &UserId, item: Outgoing) {
        if self.follows(user) {
            let at = self.clock.now();
            self.with_feed(user, |feed| feed.apply(at, item));
        }
    }
}

struct Mirror {
    hub: Arc<WebHub>,
    inner: Option<Arc<dyn Outbox>>,
}

#[async_trait]
impl Outbox for Mirror {
    async fn send(&self, user: &UserId, item: Outgoing) {
        if self.hub.follows(user) {
            self.hub.send(user, item.clone()).await;
        }
        if let Some(inner) = &self.inner {
            inner.send(user, item).await;
        }
    }
}

struct NoticeTap {
    hub: Arc<WebHub>,
    inner: Arc<dyn Outbox>,
}

#[async_trait]
impl Outbox for NoticeTap {
    async fn send(&self, user: &UserId, item: Outgoing) {
        if let Outgoing::Message(message) = &item {
            self.hub.notice(user, message);
        }
        self.inner.send(user, item).await;
    }
}

#[cfg(test)]
mod tests;
