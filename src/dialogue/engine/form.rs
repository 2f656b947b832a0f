//! The /deploy conversation as a form (the website's deploy page).
//!
//! The form has no rules of its own. Its fields are the questions the
//! deploy flow in `dialogues/deploy.yaml` asks for one node type, read
//! from the compiled script (labels from the steps' `label`, hints from
//! their prompts, choices from the same sources and option conditions);
//! and a submitted form is checked by feeding its answers, one question
//! at a time, through [`Engine::step`] on a scratch conversation, exactly
//! as if the person had typed or pressed them in the chat. So the
//! validation messages, the prices, the funding plan and the
//! [`OrderDraft`] the service places are the chat's own: a rule changed in
//! the script, a validator or the price list changes both.

use std::collections::{BTreeMap, BTreeSet};

use super::Turn;
use super::questions::location_choices;
use crate::command::{AnswerButton, Pick};
use crate::dialogue::script::{InputKind, Next, Source, Step, StepKind};
use crate::dialogue::{
    Action, Choice, Conversation, Effect, Engine, Env, FlowState, Input, Loaded, OrderDraft,
    Position,
};
use crate::lifecycle::utc_datetime;
use crate::model::{Capacity, Locations};
use crate::money::Tft;
use crate::pricing::FundingPeriod;

/// The command whose flow the form is.
pub const DEPLOY_COMMAND: &str = "deploy";
/// Engine steps one check may take: every question once, the keys step
/// and a location lookup, with room to spare; a guard against a script
/// that loops.
const MAX_FORM_ROUNDS: usize = 128;

/// How a field is entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldKind {
    /// A number from 1 to `max` (the chat's count question).
    Count { max: u32 },
    /// One of [`FormField::choices`].
    Select,
    /// One line of text.
    Text,
    /// Text that may span lines (a key file).
    Multiline,
}

/// One question of the deploy flow as a form field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormField {
    /// The answer's key in the conversation (`count`, `ipv4`, `location`,
    /// `country`, `setting.<key>`, `ssh_key`, `period`): the form field's
    /// name.
    pub name: String,
    pub label: String,
    /// The chat's question, rendered for this node type.
    pub hint: String,
    pub kind: FieldKind,
    pub choices: Vec<Choice>,
    /// The chat offers Skip here.
    pub optional: bool,
    /// Stored sealed and never shown again in full.
    pub secret: bool,
    /// Asked only after this answer (`location` = `country`): the
    /// country and farm pickers.
    pub after: Option<(String, String)>,
    /// Asked only on request (the chat's "Give the node's keys").
    pub on_request: bool,
}

/// The price and funding plan of a complete set of answers, from the
/// same plan the chat's order summary shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormQuote {
    pub count: u32,
    pub ipv4: bool,
    pub period: FundingPeriod,
    pub price_per_node_month: Tft,
    /// What the balance must hold: every node of the user funded for the
    /// period.
    pub needed: Tft,
    pub balance: Tft,
    pub to_pay: Tft,
    /// Everything is funded until then once paid (UTC, as the chat says).
    pub funded_until: String,
    /// Running nodes' funding ends sooner with this order: until when it
    /// lasts now.
    pub shortens_from: Option<String>,
    /// The chat's order summary, word for word.
    pub summary: String,
}

/// What the engine made of a submitted form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FormCheck {
    /// Field name -> the chat's message for that answer.
    pub errors: BTreeMap<String, String>,
    /// The required questions without an answer, in the order asked.
    pub missing: Vec<String>,
    /// The conversation ended without an order (no place has room, the
    /// chain or node type is not offered): the chat's words.
    pub refused: Option<String>,
    /// The choices the engine offered on the way, by field (periods
    /// priced for these answers, countries and farms with room).
    pub choices: BTreeMap<String, Vec<Choice>>,
    /// The walk needs the locations with room for this capacity: load
    /// them and check again with them.
    pub needs_locations: Option<Capacity>,
    pub quote: Option<FormQuote>,
    /// The order the chat's Confirm would place.
    pub draft: Option<OrderDraft>,
}

impl Engine {
    /// The deploy flow's questions for `chain`/`node_type`, in the order
    /// the chat asks them; `None` when the catalog has no such node type.
    /// `locations` fills the country and farm pickers.
    pub fn deploy_form(
        &self,
        chain: &str,
        node_type: &str,
        env: &Env<'_>,
        locations: Option<&Locations>,
        now: u64,
    ) -> Option<Vec<FormField>> {
        self.catalog.node_type(chain, node_type)?;
        let flow = self.scripts.flow_for_command(DEPLOY_COMMAND)?;
        let crate::dialogue::script::FlowBody::Steps { steps, .. } = &flow.body else {
            return None;
        };
        let state = seeded(&flow.id, &[("chain", chain), ("node_type", node_type)], now);
        let turn = Turn {
            engine: self,
            env,
            now,
            state,
            effects: Vec::new(),
        };
        // Steps reached only through an option's own `next` (the country
        // after "Pick a country") are asked after that answer.
        let mut after: BTreeMap<usize, (String, String)> = BTreeMap::new();
        for step in steps {
            if let (StepKind::Options(options), Some(save)) = (&step.kind, &step.save) {
                for option in options {
                    if let Some(Next::Step(j)) = option.next
                        && !matches!(step.next, Next::Step(k) if k == j)
                    {
                        after.insert(j, (save.clone(), option.value.clone()));
                    }
                }
            }
        }
        let mut fields = Vec::new();
        for (idx, step) in steps.iter().enumerate() {
            let flow_state = turn.state.flow.as_ref()?;
            if step
                .when
                .as_ref()
                .is_some_and(|c| !turn.condition_holds(c, flow_state))
            {
                continue;
            }
            let label = step.label.clone().unwrap_or_else(|| step.id.clone());
            let field = |kind, choices, optional| FormField {
                name: step.save.clone().unwrap_or_else(|| step.id.clone()),
                label: label.clone(),
                hint: turn.render(&step.prompt),
                kind,
                choices,
                optional,
                secret: false,
                after: after.get(&idx).cloned(),
                on_request: false,
            };
            match &step.kind {
                // The node type is the form's; the summary is its button.
                StepKind::Choose(Source::Chains | Source::NodeTypes) => {}
                StepKind::Choose(
                    Source::Nodes | Source::NodesWithOptions | Source::NodesWithKept,
                ) => {}
                StepKind::Options(options) if is_summary(step) => {
                    let _ = options;
                }
                StepKind::Options(options) => {
                    let choices = options
                        .iter()
                        .filter(|o| turn.option_offered(o))
                        .map(|o| Choice {
                            value: o.value.clone(),
                            label: o.label.clone(),
                        })
                        .collect();
                    fields.push(field(FieldKind::Select, choices, false));
                }
                StepKind::Choose(source @ (Source::Countries | Source::Farms)) => {
                    let choices = locations
                        .map(|l| location_choices(*source, l))
                        .unwrap_or_default();
                    fields.push(field(FieldKind::Select, choices, false));
                }
                StepKind::Choose(Source::Periods) => {
                    let choices = FundingPeriod::ALL
                        .into_iter()
                        .map(|p| Choice {
                            value: p.label().to_owned(),
                            label: p.label().to_owned(),
                        })
                        .collect();
                    fields.push(field(FieldKind::Select, choices, false));
                }
                StepKind::Input {
                    kind: InputKind::Count,
                    ..
                } => fields.push(field(
                    FieldKind::Count {
                        max: turn.max_count(),
                    },
                    Vec::new(),
                    false,
                )),
                StepKind::Input {
                    kind: InputKind::SshKey,
                    skip,
                } => fields.push(field(FieldKind::Text, Vec::new(), skip.is_some())),
                StepKind::Settings { optional_only, .. } => {
                    for setting in turn.step_settings(step) {
                        fields.push(FormField {
                            name: format!("setting.{}", setting.key),
                            label: setting.label.clone(),
                            hint: setting.prompt.clone(),
                            kind: if setting.validate.multiline() {
                                FieldKind::Multiline
                            } else {
                                FieldKind::Text
                            },
                            choices: Vec::new(),
                            optional: setting.optional,
                            secret: setting.secret,
                            after: None,
                            on_request: *optional_only,
                        });
                    }
                }
            }
        }
        Some(fields)
    }

    /// What the country and farm pickers are loaded for: the node type's
    /// capacity with a public IPv4 when these answers (or the node type)
    /// want one, as the chat's location question loads them.
    pub fn form_location_need(
        &self,
        chain: &str,
        node_type: &str,
        answers: &BTreeMap<String, String>,
    ) -> Option<Capacity> {
        let flow = self.scripts.flow_for_command(DEPLOY_COMMAND)?;
        let ipv4 = answers.get("ipv4").map_or("", String::as_str);
        let env = Env {
            balance: Tft::ZERO,
            burn_per_hour: Tft::ZERO,
            nodes: &[],
        };
        let turn = Turn {
            engine: self,
            env: &env,
            now: 0,
            state: seeded(
                &flow.id,
                &[("chain", chain), ("node_type", node_type), ("ipv4", ipv4)],
                0,
            ),
            effects: Vec::new(),
        };
        let (_, nt) = turn.selected()?;
        Some(nt.capacity(turn.wants_ipv4()))
    }

    /// Feeds `answers` (field name -> value, as [`Engine::deploy_form`]
    /// names them) through the deploy conversation for `chain`/`node_type`
    /// and says what the chat would have said: the first answer it
    /// refuses and why, or the order summary and the order Confirm places.
    /// An empty answer is the chat's Skip where the chat offers one.
    /// Optional settings asked on request are given when any is answered.
    pub fn check_form(
        &self,
        chain: &str,
        node_type: &str,
        answers: &BTreeMap<String, String>,
        env: &Env<'_>,
        locations: Option<&Locations>,
        now: u64,
    ) -> FormCheck {
        let mut check = FormCheck::default();
        let given = |name: &str| {
            answers
                .get(name)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        let wants_keys = self
            .catalog
            .node_type(chain, node_type)
            .is_some_and(|(_, nt)| {
                nt.settings
                    .iter()
                    .any(|s| s.optional && given(&format!("setting.{}", s.key)).is_some())
            });
        let mut keys_asked = false;
        // Questions whose answer is missing or refused: to read on and
        // check the answers after them, the walk gives the chat's first
        // button there (or Skip) in their place; no order comes of it.
        let mut stood_in: BTreeSet<String> = BTreeSet::new();
        let (mut state, mut effects) = self.step(
            &Conversation::default(),
            Input::Command {
                name: DEPLOY_COMMAND.into(),
                arg: Some(chain.to_owned()),
            },
            env,
            now,
        );
        for _ in 0..MAX_FORM_ROUNDS {
            if let Some(draft) = effects.iter().find_map(|e| match e {
                Effect::Run(Action::PlaceOrder(draft)) => Some(draft.clone()),
                _ => None,
            }) {
                check.draft = Some(draft);
                break;
            }
            let Some(flow) = state.flow.clone() else {
                check.refused =
                    Some(last_said(&effects).unwrap_or_else(|| {
                        "This node type cannot be ordered right now.".to_owned()
                    }));
                break;
            };
            // The field this round answers.
            let mut asked = None;
            let input = if flow.waiting {
                let need = effects.iter().find_map(|e| match e {
                    Effect::Run(Action::LoadLocations { need }) => Some(need.clone()),
                    _ => None,
                });
                match locations {
                    Some(locations) => Input::Loaded(Loaded::Locations(locations.clone())),
                    None => {
                        check.needs_locations = need;
                        break;
                    }
                }
            } else {
                let turn = Turn {
                    engine: self,
                    env,
                    now,
                    state: state.clone(),
                    effects: Vec::new(),
                };
                let Some((_, step)) = turn.current_step() else {
                    check.refused = Some("This node type cannot be ordered right now.".into());
                    break;
                };
                let name = turn
                    .answer_key(&step, flow.at.sub)
                    .unwrap_or_else(|| step.id.clone());
                if !flow.choices.is_empty() {
                    check.choices.insert(name.clone(), flow.choices.clone());
                }
                asked = Some(name.clone());
                let skip_here = skippable(&turn, &step, flow.at.sub);
                let press = |pick| {
                    Input::Answer(Some(AnswerButton {
                        seq: state.seq,
                        pick,
                    }))
                };
                let pick_value = |value: &str| {
                    flow.choices
                        .iter()
                        .position(|c| c.value == value)
                        .and_then(|i| u32::try_from(i).ok())
                };
                match &step.kind {
                    StepKind::Choose(Source::NodeTypes) => match pick_value(node_type) {
                        Some(i) => press(Pick::Choice(i)),
                        None => {
                            check.refused =
                                Some(format!("There is no {node_type:?} node type here."));
                            break;
                        }
                    },
                    StepKind::Options(_) if is_summary(&step) && !stood_in.is_empty() => break,
                    StepKind::Options(options) if is_summary(&step) => {
                        check.quote = turn.quote(last_said(&effects).unwrap_or_default());
                        let keys = options.iter().find(|o| {
                            matches!(o.next, Some(Next::Step(j)) if turn.steps().and_then(|s| s.get(j))
                                .is_some_and(|s| matches!(s.kind, StepKind::Settings { optional_only: true, .. })))
                        });
                        let confirm = options
                            .iter()
                            .find(|o| matches!(o.next, Some(Next::Action(_))));
                        let chosen = match keys.and_then(|k| pick_value(&k.value)) {
                            Some(i) if wants_keys && !keys_asked => {
                                keys_asked = true;
                                Some(i)
                            }
                            _ => confirm.and_then(|c| pick_value(&c.value)),
                        };
                        match chosen {
                            Some(i) => press(Pick::Choice(i)),
                            None => break,
                        }
                    }
                    kind => {
                        let stand_in = if skip_here {
                            Some(press(Pick::Skip))
                        } else if flow.choices.is_empty() {
                            None
                        } else {
                            Some(press(Pick::Choice(0)))
                        };
                        match (given(&name), kind) {
                            _ if stood_in.contains(&name) => match stand_in {
                                Some(input) => input,
                                None => break,
                            },
                            (None, _) if skip_here => press(Pick::Skip),
                            (None, _) => {
                                check.missing.push(name.clone());
                                stood_in.insert(name);
                                match stand_in {
                                    Some(input) => input,
                                    None => break,
                                }
                            }
                            (Some(value), StepKind::Options(_) | StepKind::Choose(_)) => {
                                match pick_value(value) {
                                    Some(i) => press(Pick::Choice(i)),
                                    None => {
                                        check.errors.insert(
                                            name.clone(),
                                            "That choice is not on offer; please pick one of the list."
                                                .into(),
                                        );
                                        stood_in.insert(name);
                                        match stand_in {
                                            Some(input) => input,
                                            None => break,
                                        }
                                    }
                                }
                            }
                            (Some(value), _) => Input::Text(value.to_owned()),
                        }
                    }
                }
            };
            let before = (flow.at.clone(), flow.history.len(), flow.waiting);
            (state, effects) = self.step(&state, input, env, now);
            // The question is asked again: the chat refused the answer,
            // and its first words say why.
            if let Some(after) = &state.flow
                && !before.2
                && !after.waiting
                && after.at == before.0
                && after.history.len() == before.1
            {
                let why = effects
                    .iter()
                    .find_map(|e| match e {
                        Effect::Send(m) => Some(m.text.clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| "Please check this answer.".into());
                let name = asked.unwrap_or_default();
                // A stand-in refused too: the walk cannot go on.
                if !stood_in.insert(name.clone()) {
                    break;
                }
                check.errors.insert(name, why);
            }
        }
        check
    }
}

/// A conversation of `flow` with `answers` given, at no question yet: the
/// state the form's questions are read in.
fn seeded(flow: &str, answers: &[(&str, &str)], now: u64) -> Conversation {
    let answers = answers
        .iter()
        .map(|(key, value)| {
            (
                (*key).to_owned(),
                crate::dialogue::Answer {
                    value: (*value).to_owned(),
                    label: (*value).to_owned(),
                    secret: false,
                },
            )
        })
        .collect();
    Conversation {
        flow: Some(FlowState {
            flow: flow.to_owned(),
            at: Position {
                step: String::new(),
                sub: 0,
            },
            answers,
            history: Vec::new(),
            choices: Vec::new(),
            waiting: false,
            started_at: now,
        }),
        seq: 0,
        last_active: now,
    }
}

/// The flow's last question: an option that runs the action (Confirm).
fn is_summary(step: &Step) -> bool {
    matches!(&step.kind, StepKind::Options(options)
        if options.iter().any(|o| matches!(o.next, Some(Next::Action(_)))))
}

/// Whether the chat offers Skip for this question.
fn skippable(turn: &Turn<'_>, step: &Step, sub: usize) -> bool {
    match &step.kind {
        StepKind::Input { skip, .. } => skip.is_some(),
        StepKind::Settings { .. } => turn
            .step_settings(step)
            .get(sub)
            .is_some_and(Turn::skippable),
        _ => false,
    }
}

/// The text of the last message among `effects`.
fn last_said(effects: &[Effect]) -> Option<String> {
    effects.iter().rev().find_map(|e| match e {
        Effect::Send(m) => Some(m.text.clone()),
        _ => None,
    })
}

impl FormQuote {
    /// What the order button stands for: the order and its price. A form
    /// sends it back, and the order is placed only while it is still so.
    pub fn token(&self) -> String {
        format!(
            "{}x{}{}-{}-{}",
            self.count,
            if self.ipv4 { "v4-" } else { "" },
            self.period.label().replace(' ', ""),
            self.price_per_node_month.to_decimal_string(),
            self.to_pay.to_decimal_string()
        )
    }
}

impl Turn<'_> {
    /// The summary step's price and plan (as `summary_lines` words them).
    fn quote(&self, summary: String) -> Option<FormQuote> {
        let draft = self.order_draft()?;
        let (count, per_node_hour) = self.order_basis()?;
        let plan = self.plan(per_node_hour, count, draft.period)?;
        Some(FormQuote {
            count,
            ipv4: draft.ipv4,
            period: draft.period,
            price_per_node_month: draft.price_per_node_month,
            needed: plan.needed,
            balance: self.env.balance,
            to_pay: plan.to_pay,
            funded_until: utc_datetime(plan.until),
            shortens_from: plan
                .shortens()
                .then_some(plan.until_before)
                .flatten()
                .map(utc_datetime),
            summary,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::PriceList;

    fn engine() -> Engine {
        let catalog = crate::catalog::Catalog::parse(
            "catalog.yaml",
            include_str!("../../../dialogues/catalog.yaml"),
        )
        .expect("catalog");
        let files = vec![(
            "deploy.yaml".to_owned(),
            include_str!("../../../dialogues/deploy.yaml").to_owned(),
        )];
        let scripts = crate::dialogue::Scripts::compile(&files, &catalog).expect("scripts");
        Engine::new(scripts, catalog, PriceList::default(), 10, 3600)
    }

    fn env() -> Env<'static> {
        Env {
            balance: Tft::ZERO,
            burn_per_hour: Tft::ZERO,
            nodes: &[],
        }
    }

    #[test]
    fn the_form_asks_the_scripts_questions_and_checks_them_with_the_engine() {
        let engine = engine();
        let (chain, nt) = engine
            .catalog()
            .chains
            .iter()
            .flat_map(|c| c.node_types.iter().map(move |t| (c, t)))
            .find(|(_, t)| !t.settings.iter().any(|s| !s.optional))
            .expect("a node type without required settings");
        let fields = engine
            .deploy_form(&chain.id, &nt.id, &env(), None, 0)
            .expect("fields");
        let names: Vec<&str> = fields.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"count"), "{names:?}");
        for name in ["location", "country", "farm", "ssh_key", "period"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        let country = fields.iter().find(|f| f.name == "country").unwrap();
        assert_eq!(
            country.after,
            Some(("location".to_owned(), "country".to_owned()))
        );
        let mut answers: BTreeMap<String, String> = [
            ("count", "0"),
            ("ipv4", "no"),
            ("location", "random"),
            ("period", "1 week"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let check = engine.check_form(&chain.id, &nt.id, &answers, &env(), None, 0);
        let why = check.errors.get("count").expect("a count error");
        assert!(why.contains("from 1 to"), "{why}");
        assert!(check.draft.is_none());
        answers.insert("count".into(), "2".into());
        let check = engine.check_form(&chain.id, &nt.id, &answers, &env(), None, 0);
        assert!(check.errors.is_empty(), "{:?}", check.errors);
        let draft = check.draft.expect("a draft");
        assert_eq!(draft.count, 2);
        let quote = check.quote.expect("a quote");
        assert_eq!(quote.to_pay, draft.total);
        assert!(quote.summary.contains("Your order"), "{}", quote.summary);
        answers.insert("ssh_key".into(), "not a key".into());
        let check = engine.check_form(&chain.id, &nt.id, &answers, &env(), None, 0);
        assert!(check.errors.contains_key("ssh_key"), "{check:?}");
        assert!(check.draft.is_none() && check.quote.is_none());
        // Answers after a refused or missing one are still checked.
        answers.insert("count".into(), "x".into());
        answers.remove("period");
        let check = engine.check_form(&chain.id, &nt.id, &answers, &env(), None, 0);
        assert!(check.errors.contains_key("count"), "{check:?}");
        assert!(check.errors.contains_key("ssh_key"), "{check:?}");
        assert_eq!(check.missing, ["period"]);
        assert!(check.draft.is_none() && check.quote.is_none());
        answers.insert("count".into(), "2".into());
        answers.insert("period".into(), "1 week".into());
        // A country needs the places with room, which the caller loads.
        answers.insert("ssh_key".into(), String::new());
        answers.insert("location".into(), "country".into());
        let check = engine.check_form(&chain.id, &nt.id, &answers, &env(), None, 0);
        assert!(check.needs_locations.is_some(), "{check:?}");
    }
}
