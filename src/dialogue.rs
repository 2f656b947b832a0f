//! The conversation engine: scripts from `dialogues/*.yaml`, compiled once into a
//! checked graph, and a pure step function over per-user state.
//!
//! `step(state, input, env, now) -> (state, effects)` does no IO: it never
//! reads files, calls the grid or sends a message. Channels (terminal,
//! Telegram, web) turn [`Effect`]s into messages; the service runs
//! [`Action`]s and feeds results back as [`Input::Loaded`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::{Capacity, Locations, Placement};
use crate::money::Tft;
use crate::pricing::FundingPeriod;

mod engine;
mod render;
pub(crate) mod script;

pub use engine::{
    DEPLOY_COMMAND, Engine, Env, FieldKind, FormCheck, FormField, FormQuote, NodeBrief,
    describe_resources,
};
pub use script::Scripts;

/// What a user did: typed text, pressed a button, sent a command; or what the
/// service loaded on the engine's behalf.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Text(String),
    /// The data of a pressed button, as a channel received it; the service
    /// reads it into a [`crate::command::Command`].
    Button(String),
    /// A conversation's answer button as the service read it (`None`: data
    /// that no conversation issues).
    Answer(Option<crate::command::AnswerButton>),
    /// `/name arg`, with `name` lowercased and without the slash.
    Command {
        name: String,
        arg: Option<String>,
    },
    Loaded(Loaded),
}

impl Input {
    /// Reads a chat message: `/cmd arg` becomes a command (a `@botname` suffix
    /// on the command is dropped), anything else is text.
    pub fn from_message(text: &str) -> Input {
        let trimmed = text.trim();
        if let Some(rest) = trimmed.strip_prefix('/') {
            let (head, arg) = match rest.split_once(char::is_whitespace) {
                Some((h, a)) => (h, Some(a.trim().to_owned()).filter(|a| !a.is_empty())),
                None => (rest, None),
            };
            let name = head.split('@').next().unwrap_or("").to_ascii_lowercase();
            if !name.is_empty()
                && name.len() <= 32
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Input::Command { name, arg };
            }
        }
        Input::Text(text.to_owned())
    }
}

/// Data the service loaded because the engine asked for it.
#[derive(Clone, Debug, PartialEq)]
pub enum Loaded {
    Locations(Locations),
    /// Loading failed; the text says why, for the user.
    Failed(String),
}

/// A button shown under a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub label: String,
    /// Opaque, at most 64 bytes (Telegram's callback data limit).
    pub data: String,
}

impl Button {
    /// For navigation buttons (Back, Cancel, Skip) a letter key that a text
    /// channel can offer instead of a number, so numbers stay free for
    /// answers such as a node count.
    pub fn nav_key(&self) -> Option<char> {
        crate::command::Command::nav_key(&self.data)
    }
}

/// A message for the user: text and rows of buttons.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub text: String,
    pub buttons: Vec<Vec<Button>>,
}

impl Message {
    pub fn text(text: impl Into<String>) -> Message {
        Message {
            text: text.into(),
            buttons: Vec::new(),
        }
    }
}

/// What the engine asks the outside world to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send a new message.
    Send(Message),
    /// The pressed button's question is answered: show `answer` in place of
    /// its buttons (Telegram edits the message; the terminal prints it).
    Answered { answer: String },
    /// Run an action in the service.
    Run(Action),
}

/// Work the engine hands to the service.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Load countries and farms with room for `need`; answer with
    /// [`Loaded::Locations`].
    LoadLocations {
        need: Capacity,
    },
    PlaceOrder(OrderDraft),
    ListNodes,
    ShowBalance,
    ShowStatus {
        node: String,
    },
    DeleteNode {
        node: String,
    },
    RedeployNode {
        node: String,
    },
    /// A payment request to add to the balance; `arg` is what the user
    /// typed after /topup (an amount or a period), unchecked.
    TopUp {
        arg: Option<String>,
    },
    SetAutoheal {
        node: String,
        on: bool,
    },
    /// "nothing", "reminders" or "everything".
    SetMute {
        what: String,
    },
    /// A one-time code for linking a website sign-in to this account.
    LinkAccount,
    /// `/keys`: optional settings given for the user's node `node`
    /// (setting key -> value, secrets included: the service seals them).
    SetSettings {
        node: String,
        settings: BTreeMap<String, String>,
    },
}

/// Everything the user chose in /deploy, ready for the service to price, charge
/// and deploy.
#[derive(Clone, Debug, PartialEq)]
pub struct OrderDraft {
    pub chain: String,
    pub node_type: String,
    pub count: u32,
    pub placement: Placement,
    pub ipv4: bool,
    /// Setting key -> value, including secrets (the service seals them).
    pub settings: BTreeMap<String, String>,
    pub ssh_key: Option<String>,
    pub period: FundingPeriod,
    pub price_per_node_month: Tft,
    /// What the balance must hold for the order to deploy: every node of
    /// the user, old and new, funded for `period` (the one funding rule,
    /// `lifecycle::funding::Plan`).
    pub total: Tft,
}

/// One answer kept in the conversation state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The machine value (an id, a number, a key).
    pub value: String,
    /// What the user saw or typed, for summaries; a mask for secrets.
    pub label: String,
    /// Secret values are sealed by the service before the state is stored.
    #[serde(default)]
    pub secret: bool,
}

/// A button offered by the current step, kept so that a press is checked
/// against what this user was actually shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

/// Where a conversation stands in its flow.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub step: String,
    /// Index of the current setting inside a `settings` step.
    #[serde(default)]
    pub sub: usize,
}

/// A flow in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowState {
    pub flow: String,
    pub at: Position,
    pub answers: BTreeMap<String, Answer>,
    /// Positions answered so far, for Back.
    pub history: Vec<Position>,
    /// The buttons of the current question.
    pub choices: Vec<Choice>,
    /// True while the service loads data for the current step.
    pub waiting: bool,
    pub started_at: u64,
}

/// Per-user conversation state; durable, so a restart resumes mid-flow.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversation {
    pub flow: Option<FlowState>,
    /// Increases with every question asked; buttons carry it so that a press
    /// on an old question is recognised and never acted on twice.
    pub seq: u32,
    pub last_active: u64,
}

impl Conversation {
    /// Applies `f` to every secret answer value (to seal or unseal them).
    pub fn map_secrets<E>(
        &mut self,
        mut f: impl FnMut(&str) -> Result<String, E>,
    ) -> Result<(), E> {
        if let Some(flow) = &mut self.flow {
            for answer in flow.answers.values_mut().filter(|a| a.secret) {
                answer.value = f(&answer.value)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod fuzz_tests;
