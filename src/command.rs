//! The one typed schema of what the channels send the service besides typed
//! text: every button (a conversation's answers, payment, top-up, alert and
//! broadcast buttons) and every slash command. The service turns a channel's
//! [`Input`] into a [`Command`] once, at its entry ([`Command::from_input`]),
//! and dispatches it with one `match`; buttons are built from the same type
//! ([`Command::button`]), so what is encoded is what is parsed.
//!
//! Why bounded fields: Telegram refuses a keyboard whose callback data is over
//! 64 bytes. Every field a button carries has a bounded type ([`Key`], `u32`,
//! `u64`), the longest encoding of each variant is asserted at compile time
//! below, and a [`Key`] longer than its bound cannot be made, so a button
//! that does not fit cannot be built.
//!
//! The encodings are the ones already on users' screens (`rd:<node>:<hex>`,
//! `tu:w`, `pay:<order>`, `<seq>:c<i>`...): alerts and payment requests sent
//! before an upgrade keep working, including the older forms (alert buttons
//! without an outage, top-up buttons with a number of days, broadcast buttons
//! without a draft number). Pure: no IO.

use crate::dialogue::{self, Input};
use crate::lifecycle::chain_state::ChainAlertKind;

mod fault;
mod operator;

pub use fault::{FAULT_HELP, Fault, FaultKind, FaultTarget, FaultUsage};
pub use operator::{
    MAINTENANCE_USAGE, OPERATOR_HELP, audited_by_name, broadcast_progress, maintenance_notice,
    parse_force_redeploy, parse_maintenance,
};

/// Telegram's limit on callback data, in bytes (Bot API,
/// `InlineKeyboardButton.callback_data`: 1-64 bytes).
pub const MAX_BUTTON_DATA: usize = 64;

const REDEPLOY: &str = "rd:";
const STATUS: &str = "st:";
/// A chain alert's buttons: `cr:<kind>:<node>` redeploys, `cs:` shows it.
const CHAIN_REDEPLOY: &str = "cr:";
const CHAIN_STATUS: &str = "cs:";
const TOP_UP: &str = "tu:";
const PAY_TOP_UP: &str = "tpay:";
const PAY: &str = "pay:";
const CANCEL_ORDER: &str = "cxo:";
const NEW_REQUEST: &str = "new:";
const BROADCAST: &str = "bc:";

/// The longest a `u64` is in hex, and a `u32` in decimal.
const HEX_U64: usize = 16;
const DEC_U32: usize = 10;

/// What a button names of the presser's own state (a node, an order, a
/// payment memo): at most `MAX` bytes, and, for node names, without `:`
/// (the separator before an alert's outage). It is only ever looked up
/// among the presser's own records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key<const MAX: usize>(String);

impl<const MAX: usize> Key<MAX> {
    /// The longest key, in bytes.
    pub const MAX: usize = MAX;

    /// `None` when `s` is longer than `MAX` bytes.
    pub fn new(s: &str) -> Option<Self> {
        (s.len() <= MAX).then(|| Key(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> std::fmt::Display for Key<MAX> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A node name on an outage alert's buttons: `rd:` + name + `:` + the
/// outage in hex fills 64 bytes at most.
pub type NodeKey = Key<{ MAX_BUTTON_DATA - REDEPLOY.len() - 1 - HEX_U64 }>;
/// An order id or a payment memo on a payment button.
pub type RecordKey = Key<{ MAX_BUTTON_DATA - PAY_TOP_UP.len() }>;

impl NodeKey {
    /// A node name for an alert's buttons; `None` when too long or when it
    /// holds the `:` that separates the outage.
    pub fn node(name: &str) -> Option<NodeKey> {
        Key::new(name).filter(|k| !k.0.contains(':'))
    }
}

/// What a conversation button picks; its question is the number before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    /// The choice at this index of the choices stored in the presser's
    /// conversation.
    Choice(u32),
    Back,
    Cancel,
    Skip,
}

/// A conversation's own button: `<seq>:c<i>`, `<seq>:b`, `<seq>:x`,
/// `<seq>:s`, `seq` being the question it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerButton {
    pub seq: u32,
    pub pick: Pick,
}

/// Which button of an outage alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertAction {
    Redeploy,
    Status,
}

/// Which button of an order's payment request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderAction {
    /// Pay with the sandbox wallet.
    Pay,
    Cancel,
    /// A fresh payment request for an expired one.
    NewRequest,
}

/// A top-up button: a period, a number of days (buttons of older alerts),
/// or Cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TopUpCode {
    Week,
    Month,
    Quarter,
    /// 1 to 365 days, from older alerts.
    Days(u16),
    Cancel,
    /// A code no Jukebox issues (any more): the user is told to use /topup.
    OutOfDate,
}

/// The operator commands (for the ids in `admin.operators` only; for anyone
/// else they are unknown commands, as the engine says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdminCommand {
    Admin,
    Stats,
    User,
    Nodes,
    Broadcast,
    Maintenance,
    Ban,
    Unban,
    ForceRedeploy,
    Fault,
    Unmatched,
    Credit,
}

impl AdminCommand {
    pub const ALL: [AdminCommand; 12] = [
        AdminCommand::Admin,
        AdminCommand::Stats,
        AdminCommand::User,
        AdminCommand::Nodes,
        AdminCommand::Broadcast,
        AdminCommand::Maintenance,
        AdminCommand::Ban,
        AdminCommand::Unban,
        AdminCommand::ForceRedeploy,
        AdminCommand::Fault,
        AdminCommand::Unmatched,
        AdminCommand::Credit,
    ];

    /// The command's name, without the slash.
    pub fn name(self) -> &'static str {
        match self {
            AdminCommand::Admin => "admin",
            AdminCommand::Stats => "stats",
            AdminCommand::User => "user",
            AdminCommand::Nodes => "nodes",
            AdminCommand::Broadcast => "broadcast",
            AdminCommand::Maintenance => "maintenance",
            AdminCommand::Ban => "ban",
            AdminCommand::Unban => "unban",
            AdminCommand::ForceRedeploy => "forceredeploy",
            AdminCommand::Fault => "fault",
            AdminCommand::Unmatched => "unmatched",
            AdminCommand::Credit => "credit",
        }
    }

    fn from_name(name: &str) -> Option<AdminCommand> {
        AdminCommand::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// Everything a channel sends the service except typed text and the data
/// the service loads for the engine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// A conversation's answer button; the engine checks it against the
    /// presser's own conversation.
    Answer(AnswerButton),
    /// An outage alert's button, naming the outage by its start (`None`
    /// on alerts sent before outages were named); it acts only while that
    /// outage lasts.
    Alert {
        action: AlertAction,
        node: NodeKey,
        outage: Option<u64>,
    },
    /// A chain alert's button (`kind` being the alert's): it acts only
    /// while the node still shows what the alert was about.
    ChainAlert {
        action: AlertAction,
        node: NodeKey,
        kind: ChainAlertKind,
    },
    /// A button of a payment request, naming one of the presser's orders.
    Order {
        action: OrderAction,
        order: RecordKey,
    },
    TopUp(TopUpCode),
    /// The sandbox pay button of one of the presser's top-up requests.
    PayTopUp {
        memo: RecordKey,
    },
    /// An operator's answer to a broadcast draft; `draft` is `None` on
    /// buttons from before drafts were numbered (they act on nothing).
    Broadcast {
        send: bool,
        draft: Option<u32>,
    },
    /// Button data that no Jukebox issues (forged, garbled or too long);
    /// the conversation engine explains.
    UnknownButton(String),
    /// `/sandboxpay <amount>`.
    SandboxPay {
        arg: Option<String>,
    },
    /// `/deploy`: refused during maintenance, else the conversation.
    Deploy {
        arg: Option<String>,
    },
    /// `/keys [node]`: give optional settings (a node's own keys) for one
    /// of the presser's nodes; checked against their own nodes, then the
    /// conversation.
    Keys {
        arg: Option<String>,
    },
    /// An operator command.
    Operator {
        command: AdminCommand,
        arg: Option<String>,
    },
    /// Any other command: the scripts' (`/start`, `/list`, ...), or one the
    /// engine does not know.
    Script {
        name: String,
        arg: Option<String>,
    },
}

impl Command {
    /// The command a button or a slash command stands for; other inputs
    /// (text, loaded data) are given back for the conversation.
    pub fn from_input(input: Input) -> Result<Command, Input> {
        match input {
            Input::Button(data) => Ok(Command::from_button(&data)),
            Input::Command { name, arg } => Ok(Command::from_slash(name, arg)),
            other => Err(other),
        }
    }

    /// Reads a button's data; data nothing issues is [`Command::UnknownButton`].
    pub fn from_button(data: &str) -> Command {
        Command::parse_button(data).unwrap_or_else(|| Command::UnknownButton(data.to_owned()))
    }

    fn parse_button(data: &str) -> Option<Command> {
        if let Some(rest) = data.strip_prefix(REDEPLOY) {
            return alert(AlertAction::Redeploy, rest);
        }
        if let Some(rest) = data.strip_prefix(STATUS) {
            return alert(AlertAction::Status, rest);
        }
        for (prefix, action) in [
            (CHAIN_REDEPLOY, AlertAction::Redeploy),
            (CHAIN_STATUS, AlertAction::Status),
        ] {
            if let Some(rest) = data.strip_prefix(prefix) {
                let (kind, node) = rest.split_once(':')?;
                return Some(Command::ChainAlert {
                    action,
                    node: NodeKey::node(node)?,
                    kind: ChainAlertKind::parse(kind)?,
                });
            }
        }
        if let Some(code) = data.strip_prefix(TOP_UP) {
            return Some(Command::TopUp(top_up_code(code)));
        }
        if let Some(memo) = data.strip_prefix(PAY_TOP_UP) {
            return Some(Command::PayTopUp {
                memo: Key::new(memo)?,
            });
        }
        for (prefix, action) in [
            (PAY, OrderAction::Pay),
            (CANCEL_ORDER, OrderAction::Cancel),
            (NEW_REQUEST, OrderAction::NewRequest),
        ] {
            if let Some(order) = data.strip_prefix(prefix) {
                return Some(Command::Order {
                    action,
                    order: Key::new(order)?,
                });
            }
        }
        if let Some(rest) = data.strip_prefix(BROADCAST) {
            let (send, draft) = match rest.split_once(':') {
                Some((answer, id)) => (answer == "yes", id.parse::<u32>().ok()),
                None => (rest == "yes", None),
            };
            return Some(Command::Broadcast { send, draft });
        }
        let (seq, code) = data.split_once(':')?;
        let pick = match code {
            "b" => Pick::Back,
            "x" => Pick::Cancel,
            "s" => Pick::Skip,
            _ => Pick::Choice(code.strip_prefix('c')?.parse().ok()?),
        };
        Some(Command::Answer(AnswerButton {
            seq: seq.parse().ok()?,
            pick,
        }))
    }

    fn from_slash(name: String, arg: Option<String>) -> Command {
        match name.as_str() {
            "sandboxpay" => Command::SandboxPay { arg },
            "deploy" => Command::Deploy { arg },
            "keys" => Command::Keys { arg },
            _ => match AdminCommand::from_name(&name) {
                Some(command) => Command::Operator { command, arg },
                None => Command::Script { name, arg },
            },
        }
    }

    /// The input a channel sends for this command: button data or a slash
    /// command. [`Command::from_input`] reads it back as this command.
    pub fn to_input(&self) -> Input {
        let slash = |name: &str, arg: &Option<String>| Input::Command {
            name: name.to_owned(),
            arg: arg.clone(),
        };
        match self {
            Command::SandboxPay { arg } => slash("sandboxpay", arg),
            Command::Deploy { arg } => slash("deploy", arg),
            Command::Keys { arg } => slash("keys", arg),
            Command::Operator { command, arg } => slash(command.name(), arg),
            Command::Script { name, arg } => slash(name, arg),
            button => Input::Button(button.data()),
        }
    }

    /// A button that sends this command. Only button commands are buttons;
    /// the callback data fits Telegram's limit by the types above.
    pub fn button(&self, label: impl Into<String>) -> dialogue::Button {
        debug_assert!(self.is_button(), "{self:?} is a command, not a button");
        dialogue::Button {
            label: label.into(),
            data: self.data(),
        }
    }

    fn is_button(&self) -> bool {
        !matches!(
            self,
            Command::SandboxPay { .. }
                | Command::Deploy { .. }
                | Command::Keys { .. }
                | Command::Operator { .. }
                | Command::Script { .. }
        )
    }

    /// The callback data of a button command (slash commands have none).
    fn data(&self) -> String {
        match self {
            Command::Answer(AnswerButton { seq, pick }) => match pick {
                Pick::Choice(i) => format!("{seq}:c{i}"),
                Pick::Back => format!("{seq}:b"),
                Pick::Cancel => format!("{seq}:x"),
                Pick::Skip => format!("{seq}:s"),
            },
            Command::Alert {
                action,
                node,
                outage,
            } => {
                let prefix = match action {
                    AlertAction::Redeploy => REDEPLOY,
                    AlertAction::Status => STATUS,
                };
                match outage {
                    Some(since) => format!("{prefix}{node}:{since:x}"),
                    None => format!("{prefix}{node}"),
                }
            }
            Command::ChainAlert { action, node, kind } => {
                let prefix = match action {
                    AlertAction::Redeploy => CHAIN_REDEPLOY,
                    AlertAction::Status => CHAIN_STATUS,
                };
                format!("{prefix}{}:{node}", kind.word())
            }
            Command::Order { action, order } => {
                let prefix = match action {
                    OrderAction::Pay => PAY,
                    OrderAction::Cancel => CANCEL_ORDER,
                    OrderAction::NewRequest => NEW_REQUEST,
                };
                format!("{prefix}{order}")
            }
            Command::TopUp(code) => {
                let code = match code {
                    TopUpCode::Week => "w".to_owned(),
                    TopUpCode::Month => "m".to_owned(),
                    TopUpCode::Quarter => "q".to_owned(),
                    TopUpCode::Days(days) => days.to_string(),
                    TopUpCode::Cancel => "x".to_owned(),
                    TopUpCode::OutOfDate => "-".to_owned(),
                };
                format!("{TOP_UP}{code}")
            }
            Command::PayTopUp { memo } => format!("{PAY_TOP_UP}{memo}"),
            Command::Broadcast { send, draft } => {
                let answer = if *send { "yes" } else { "no" };
                match draft {
                    Some(draft) => format!("{BROADCAST}{answer}:{draft}"),
                    None => format!("{BROADCAST}{answer}"),
                }
            }
            Command::UnknownButton(data) => data.clone(),
            Command::SandboxPay { .. }
            | Command::Deploy { .. }
            | Command::Keys { .. }
            | Command::Operator { .. }
            | Command::Script { .. } => String::new(),
        }
    }

    /// The conversation answer this is, if it is one.
    pub fn answer(&self) -> Option<AnswerButton> {
        match self {
            Command::Answer(answer) => Some(*answer),
            _ => None,
        }
    }

    /// For a text channel: the letter offered for a navigation button
    /// (Back, Cancel, Skip), so numbers stay free for answers.
    pub fn nav_key(data: &str) -> Option<char> {
        match Command::from_button(data) {
            Command::Answer(AnswerButton { pick, .. }) => match pick {
                Pick::Back => Some('b'),
                Pick::Cancel => Some('x'),
                Pick::Skip => Some('s'),
                Pick::Choice(_) => None,
            },
            Command::TopUp(TopUpCode::Cancel) => Some('x'),
            _ => None,
        }
    }
}

/// An alert button's node and outage; alerts sent before outages were
/// named carry the node alone.
fn alert(action: AlertAction, rest: &str) -> Option<Command> {
    let (node, outage) = match rest.rsplit_once(':') {
        Some((name, since)) => match u64::from_str_radix(since, 16) {
            Ok(since) => (name, Some(since)),
            Err(_) => (rest, None),
        },
        None => (rest, None),
    };
    Some(Command::Alert {
        action,
        node: NodeKey::node(node)?,
        outage,
    })
}

fn top_up_code(code: &str) -> TopUpCode {
    match code {
        "w" => TopUpCode::Week,
        "m" => TopUpCode::Month,
        "q" => TopUpCode::Quarter,
        "x" => TopUpCode::Cancel,
        days => match days.parse::<u16>() {
            Ok(days @ 1..=365) => TopUpCode::Days(days),
            _ => TopUpCode::OutOfDate,
        },
    }
}

// The longest encoding of every button fits Telegram's limit.
const _: () = {
    assert!(REDEPLOY.len() + NodeKey::MAX + 1 + HEX_U64 <= MAX_BUTTON_DATA);
    assert!(STATUS.len() + NodeKey::MAX + 1 + HEX_U64 <= MAX_BUTTON_DATA);
    assert!(PAY.len() + RecordKey::MAX <= MAX_BUTTON_DATA);
    assert!(CANCEL_ORDER.len() + RecordKey::MAX <= MAX_BUTTON_DATA);
    assert!(NEW_REQUEST.len() + RecordKey::MAX <= MAX_BUTTON_DATA);
    assert!(PAY_TOP_UP.len() + RecordKey::MAX <= MAX_BUTTON_DATA);
    assert!(TOP_UP.len() + 3 <= MAX_BUTTON_DATA);
    assert!(BROADCAST.len() + "yes:".len() + DEC_U32 <= MAX_BUTTON_DATA);
    assert!(DEC_U32 + ":c".len() + DEC_U32 <= MAX_BUTTON_DATA);
};

/// Buttons for a top-up that funds every node for a week, a month or
/// three months (the periods of /deploy, one length each).
pub fn with_top_up_buttons(text: String) -> dialogue::Message {
    let button = |label: String, code| Command::TopUp(code).button(label);
    dialogue::Message {
        text,
        buttons: vec![vec![
            button(
                format!("Top up {}", crate::pricing::FundingPeriod::Week.label()),
                TopUpCode::Week,
            ),
            button(
                crate::pricing::FundingPeriod::Month.label().into(),
                TopUpCode::Month,
            ),
            button(
                crate::pricing::FundingPeriod::Quarter.label().into(),
                TopUpCode::Quarter,
            ),
        ]],
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn node_key() -> impl Strategy<Value = NodeKey> {
        "[a-z0-9-]{0,45}".prop_filter_map("too long", |s| NodeKey::node(&s))
    }

    fn record_key() -> impl Strategy<Value = RecordKey> {
        "[ -~]{0,59}".prop_map(|s| Key::new(&s).expect("within the bound"))
    }

    fn arg() -> impl Strategy<Value = Option<String>> {
        prop::option::of("[ -~]{1,40}")
    }

    fn command() -> impl Strategy<Value = Command> {
        let pick = prop_oneof![
            any::<u32>().prop_map(Pick::Choice),
            Just(Pick::Back),
            Just(Pick::Cancel),
            Just(Pick::Skip),
        ];
        let top_up = prop_oneof![
            Just(TopUpCode::Week),
            Just(TopUpCode::Month),
            Just(TopUpCode::Quarter),
            Just(TopUpCode::Cancel),
            Just(TopUpCode::OutOfDate),
            (1u16..=365).prop_map(TopUpCode::Days),
        ];
        prop_oneof![
            (any::<u32>(), pick)
                .prop_map(|(seq, pick)| Command::Answer(AnswerButton { seq, pick })),
            (
                prop::sample::select(vec![AlertAction::Redeploy, AlertAction::Status]),
                node_key(),
                prop::option::of(any::<u64>())
            )
                .prop_map(|(action, node, outage)| Command::Alert {
                    action,
                    node,
                    outage
                }),
            (
                prop::sample::select(vec![
                    OrderAction::Pay,
                    OrderAction::Cancel,
                    OrderAction::NewRequest
                ]),
                record_key()
            )
                .prop_map(|(action, order)| Command::Order { action, order }),
            top_up.prop_map(Command::TopUp),
            record_key().prop_map(|memo| Command::PayTopUp { memo }),
            (any::<bool>(), prop::option::of(any::<u32>()))
                .prop_map(|(send, draft)| Command::Broadcast { send, draft }),
            arg().prop_map(|arg| Command::SandboxPay { arg }),
            arg().prop_map(|arg| Command::Deploy { arg }),
            (prop::sample::select(AdminCommand::ALL.to_vec()), arg())
                .prop_map(|(command, arg)| Command::Operator { command, arg }),
            ("[a-z_]{1,32}", arg())
                .prop_filter("a command with its own variant", |(name, _)| {
                    name != "sandboxpay"
                        && name != "deploy"
                        && AdminCommand::from_name(name).is_none()
                })
                .prop_map(|(name, arg)| Command::Script { name, arg }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        #[test]
        fn every_command_reads_back_as_itself(command in command()) {
            let input = command.to_input();
            if let Input::Button(data) = &input {
                prop_assert!(data.len() <= MAX_BUTTON_DATA, "{data:?} is too long");
            }
            prop_assert_eq!(Command::from_input(input), Ok(command));
        }

        #[test]
        fn any_button_data_reads_without_panic_and_rereads_the_same(data in any::<String>()) {
            let command = Command::from_button(&data);
            prop_assert_eq!(Command::from_input(command.to_input()), Ok(command));
        }
    }

    #[test]
    fn the_longest_buttons_fit_telegram() {
        let node = NodeKey::node(&"n".repeat(NodeKey::MAX)).expect("at the bound");
        let record = RecordKey::new(&"r".repeat(RecordKey::MAX)).expect("at the bound");
        let longest = [
            Command::Alert {
                action: AlertAction::Redeploy,
                node: node.clone(),
                outage: Some(u64::MAX),
            },
            Command::Alert {
                action: AlertAction::Status,
                node,
                outage: Some(u64::MAX),
            },
            Command::Order {
                action: OrderAction::NewRequest,
                order: record.clone(),
            },
            Command::PayTopUp { memo: record },
            Command::Broadcast {
                send: true,
                draft: Some(u32::MAX),
            },
            Command::Answer(AnswerButton {
                seq: u32::MAX,
                pick: Pick::Choice(u32::MAX),
            }),
        ];
        for command in longest {
            let data = command.button("x").data;
            assert!(data.len() <= MAX_BUTTON_DATA, "{data:?}");
        }
        assert_eq!(
            Command::Alert {
                action: AlertAction::Redeploy,
                node: NodeKey::node(&"n".repeat(NodeKey::MAX)).expect("at the bound"),
                outage: Some(u64::MAX),
            }
            .button("x")
            .data
            .len(),
            MAX_BUTTON_DATA,
            "the alert's bound is exactly Telegram's"
        );
        // One byte more cannot be made.
        assert!(NodeKey::node(&"n".repeat(NodeKey::MAX + 1)).is_none());
        assert!(RecordKey::new(&"r".repeat(RecordKey::MAX + 1)).is_none());
        assert!(NodeKey::node("a:b").is_none());
    }

    #[test]
    fn buttons_already_on_screens_keep_their_meaning() {
        let read = Command::from_button;
        assert_eq!(
            read("rd:dash-full-amber-fox:6b038200"),
            Command::Alert {
                action: AlertAction::Redeploy,
                node: NodeKey::node("dash-full-amber-fox").unwrap(),
                outage: Some(1_795_392_000),
            }
        );
        // Alerts from before outages were named: the node alone.
        assert_eq!(
            read("st:dash-full-amber-fox"),
            Command::Alert {
                action: AlertAction::Status,
                node: NodeKey::node("dash-full-amber-fox").unwrap(),
                outage: None,
            }
        );
        assert_eq!(read("tu:w"), Command::TopUp(TopUpCode::Week));
        assert_eq!(read("tu:30"), Command::TopUp(TopUpCode::Days(30)));
        assert_eq!(read("tu:0"), Command::TopUp(TopUpCode::OutOfDate));
        assert_eq!(read("tu:zz"), Command::TopUp(TopUpCode::OutOfDate));
        assert_eq!(
            read("pay:o3-abc123"),
            Command::Order {
                action: OrderAction::Pay,
                order: Key::new("o3-abc123").unwrap()
            }
        );
        assert_eq!(
            read("tpay:jb-0123456789abcdef"),
            Command::PayTopUp {
                memo: Key::new("jb-0123456789abcdef").unwrap()
            }
        );
        assert_eq!(
            read("bc:yes"),
            Command::Broadcast {
                send: true,
                draft: None
            }
        );
        assert_eq!(
            read("bc:no:7"),
            Command::Broadcast {
                send: false,
                draft: Some(7)
            }
        );
        assert_eq!(
            read("4:c2"),
            Command::Answer(AnswerButton {
                seq: 4,
                pick: Pick::Choice(2)
            })
        );
        assert_eq!(read("c:dash"), Command::UnknownButton("c:dash".into()));
        assert_eq!(read(""), Command::UnknownButton(String::new()));
        assert_eq!(Command::nav_key("4:x"), Some('x'));
        assert_eq!(Command::nav_key("tu:x"), Some('x'));
        assert_eq!(Command::nav_key("4:b"), Some('b'));
        assert_eq!(Command::nav_key("4:s"), Some('s'));
        assert_eq!(Command::nav_key("4:c1"), None);
    }

    #[test]
    fn slash_commands_are_typed_by_name() {
        let slash = |name: &str, arg: Option<&str>| {
            Command::from_input(Input::Command {
                name: name.into(),
                arg: arg.map(str::to_owned),
            })
        };
        assert_eq!(
            slash("sandboxpay", Some("12.5")),
            Ok(Command::SandboxPay {
                arg: Some("12.5".into())
            })
        );
        assert_eq!(
            slash("keys", Some("node-a")),
            Ok(Command::Keys {
                arg: Some("node-a".into())
            })
        );
        assert_eq!(
            Command::Keys { arg: None }.to_input(),
            Input::Command {
                name: "keys".into(),
                arg: None
            }
        );
        assert_eq!(
            slash("stats", None),
            Ok(Command::Operator {
                command: AdminCommand::Stats,
                arg: None
            })
        );
        assert_eq!(
            slash("list", None),
            Ok(Command::Script {
                name: "list".into(),
                arg: None
            })
        );
        assert_eq!(
            Command::from_input(Input::Text("hi".into())),
            Err(Input::Text("hi".into()))
        );
    }
}
