//! The pure step function: (state, input, env, now) -> (state, effects).
//!
//! Architecture invariant: nothing here does IO or reads the clock; every
//! input, including `now`, is a parameter, so transcripts replay exactly.

mod form;
mod order;
mod questions;
mod type_words;

use super::script::{FlowBody, InputKind, Next, Source, Step, StepKind};
use super::{
    Answer, Choice, Conversation, Effect, FlowState, Input, Loaded, Message, Position, Scripts,
};
use crate::catalog::{Catalog, Chain, NodeType};
use crate::command::{AnswerButton, Command, Pick};
use crate::crypto::mask;
use crate::money::Tft;
use crate::pricing::PriceList;
use crate::validate::{Invalid, check_ssh_public_key, clean_input, clean_multiline_input};
pub use form::{DEPLOY_COMMAND, FieldKind, FormCheck, FormField, FormQuote};
pub use order::describe_resources;
use order::short_key;
use questions::{location_choices, match_choice};

/// More steps than this skipped in a row means the script loops.
const MAX_HOPS: usize = 64;
/// At most this many location buttons; the best-provisioned come first.
const MAX_LOCATION_CHOICES: usize = 24;

/// A user's node as conversations need to see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBrief {
    pub name: String,
    /// Shown on the button, e.g. "<chain>-full-amber-fox · running".
    pub label: String,
    /// The node's chain and node type ids, for conversations about an
    /// existing node's settings (`/keys`).
    pub chain: String,
    pub node_type: String,
}

/// Per-user facts the service reads before each step.
#[derive(Clone, Copy, Debug)]
pub struct Env<'a> {
    pub balance: Tft,
    /// What the user's nodes cost per hour together now (running, paused
    /// and being deployed), for the order summary's funding plan.
    pub burn_per_hour: Tft,
    pub nodes: &'a [NodeBrief],
}

/// The compiled scripts plus the catalog and prices they refer to.
#[derive(Clone, Debug)]
pub struct Engine {
    scripts: Scripts,
    catalog: Catalog,
    prices: PriceList,
    max_nodes: u32,
    /// A flow silent for longer than this is dropped on the next input.
    flow_ttl_secs: u64,
}

impl Engine {
    pub fn new(
        scripts: Scripts,
        catalog: Catalog,
        prices: PriceList,
        max_nodes: u32,
        flow_ttl_secs: u64,
    ) -> Engine {
        Engine {
            scripts,
            catalog,
            prices,
            max_nodes,
            flow_ttl_secs,
        }
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    pub fn scripts(&self) -> &Scripts {
        &self.scripts
    }

    pub fn prices(&self) -> &PriceList {
        &self.prices
    }

    /// Handles one input. Never panics, whatever the input or state.
    pub fn step(
        &self,
        state: &Conversation,
        input: Input,
        env: &Env<'_>,
        now: u64,
    ) -> (Conversation, Vec<Effect>) {
        let mut turn = Turn {
            engine: self,
            env,
            now,
            state: state.clone(),
            effects: Vec::new(),
        };
        turn.handle(input, now);
        turn.state.last_active = now;
        (turn.state, turn.effects)
    }
}

/// One step in progress: the state being changed and the effects so far.
struct Turn<'a> {
    engine: &'a Engine,
    env: &'a Env<'a>,
    /// The moment of this step, for dates in the order summary.
    now: u64,
    state: Conversation,
    effects: Vec<Effect>,
}

impl Turn<'_> {
    fn say(&mut self, text: impl Into<String>) {
        self.effects.push(Effect::Send(Message::text(text)));
    }

    fn handle(&mut self, input: Input, now: u64) {
        let expired = self.state.flow.is_some()
            && now.saturating_sub(self.state.last_active) > self.engine.flow_ttl_secs;
        if expired && !matches!(input, Input::Command { .. }) {
            let command = self.current_command().unwrap_or_default();
            self.state.flow = None;
            self.say(format!("That conversation expired after a long silence. Send /{command} to start again, or /help."));
            return;
        }
        match input {
            Input::Command { name, arg } => self.command(&name, arg, now),
            // The service reads buttons once, at its entry, and hands the
            // engine `Input::Answer`; raw data (direct callers of the engine:
            // benches, property tests) is read by the same type.
            Input::Button(data) => self.button(Command::from_button(&data).answer()),
            Input::Answer(pressed) => self.button(pressed),
            Input::Text(text) => self.text(&text),
            Input::Loaded(loaded) => self.loaded(loaded),
        }
    }

    fn current_command(&self) -> Option<String> {
        let flow = self.state.flow.as_ref()?;
        self.engine
            .scripts
            .flow(&flow.flow)
            .map(|f| f.command.clone())
    }

    fn command(&mut self, name: &str, arg: Option<String>, now: u64) {
        if name == "cancel" {
            if self.state.flow.take().is_some() {
                self.say("Cancelled. Nothing was changed. Send /deploy to start again, or /help.");
            } else {
                self.say("There is nothing to cancel. Send /help to see what I can do.");
            }
            return;
        }
        let Some(flow) = self.engine.scripts.flow_for_command(name) else {
            self.say(format!(
                "I don't know /{name}. Send /help to see what I can do."
            ));
            return;
        };
        if let Some(previous) = self.current_command()
            && previous != flow.command
        {
            self.say(format!("(Your unfinished /{previous} was cancelled.)"));
        }
        self.state.flow = None;
        match &flow.body {
            FlowBody::Say(text) => {
                let text = self.render(text);
                self.say(text);
            }
            FlowBody::Action(kind) => {
                if let Some(action) = self.build_action(*kind, None, arg) {
                    self.effects.push(Effect::Run(action));
                }
            }
            FlowBody::Steps {
                start,
                arg: arg_step,
                ..
            } => {
                self.state.flow = Some(FlowState {
                    flow: flow.id.clone(),
                    at: Position {
                        step: String::new(),
                        sub: 0,
                    },
                    answers: Default::default(),
                    history: Vec::new(),
                    choices: Vec::new(),
                    waiting: false,
                    started_at: now,
                });
                let (start, arg_step) = (*start, *arg_step);
                match (arg, arg_step) {
                    (Some(arg), Some(target)) if target == start => self.quiet_args(start, &arg),
                    _ => self.enter(start, 0),
                }
            }
        }
    }

    /// A command's argument answers its flow's first question quietly
    /// (`/deploy <chain>`), and a second word the question after it
    /// (`/deploy <chain> <node type>`). What does not
    /// fit is said kindly and its question asked as usual, so nothing
    /// typed is lost silently.
    fn quiet_args(&mut self, start: usize, arg: &str) {
        if self.try_quiet_answer(start, arg) {
            return;
        }
        let Some((first, rest)) = arg
            .split_once(char::is_whitespace)
            .map(|(f, r)| (f, r.trim()))
        else {
            self.say(format!("I couldn't find {arg:?}."));
            return self.enter(start, 0);
        };
        let before = self.effects.len();
        if !self.try_quiet_answer(start, first) {
            self.say(format!("I couldn't find {arg:?}."));
            return self.enter(start, 0);
        }
        let asked = self.effects.len();
        let answered_alone = self.state.flow.as_ref().and_then(|flow| {
            let step = self.step_at(start)?;
            let next = match &step.next {
                Next::Step(j) => self.step_at(*j)?,
                _ => return None,
            };
            let key = next.save.as_ref()?;
            // The step after was answered for the user (its only choice).
            (flow.at.step != next.id)
                .then(|| flow.answers.get(key).cloned())
                .flatten()
        });
        let note = match (answered_alone, self.current_step()) {
            (Some(only), _) => {
                let next = self.step_at(start).and_then(|step| match step.next {
                    Next::Step(j) => self.step_at(j),
                    _ => None,
                });
                let by_words = next.is_some_and(|step| {
                    let only = Choice {
                        value: only.value.clone(),
                        label: only.label.clone(),
                    };
                    matches!(step.kind, StepKind::Choose(Source::NodeTypes))
                        && self.node_type_words(&[only], rest).is_some()
                });
                let fits = by_words
                    || [&only.value, &only.label]
                        .iter()
                        .any(|v| v.eq_ignore_ascii_case(rest));
                (!fits).then(|| {
                    format!(
                        "There is no {rest:?} to choose here; {} is the only one.",
                        only.label
                    )
                })
            }
            (None, Some((idx, _))) => {
                if self.try_quiet_answer(idx, rest) {
                    // Answered: its question is not shown after all; what
                    // the two words chose is said instead.
                    let shown: Vec<Effect> = self.effects.drain(before..asked).collect();
                    self.effects.splice(
                        before..before,
                        shown.into_iter().filter(|e| !matches!(e, Effect::Send(_))),
                    );
                    let label = |i: usize| {
                        let key = self.step_at(i)?.save?;
                        Some(self.state.flow.as_ref()?.answers.get(&key)?.label.clone())
                    };
                    match (label(start), label(idx)) {
                        (Some(a), Some(b)) => Some(format!("{a} · {b}")),
                        _ => None,
                    }
                } else {
                    Some(format!(
                        "I couldn't find {rest:?} among these kinds; please pick one."
                    ))
                }
            }
            (None, None) => None,
        };
        if let Some(note) = note {
            self.effects
                .insert(before, Effect::Send(Message::text(note)));
        }
    }

    /// Answers step `idx` with `text` without asking it first. Returns false if
    /// the text is not a valid answer there.
    fn try_quiet_answer(&mut self, idx: usize, text: &str) -> bool {
        let Some(step) = self.step_at(idx) else {
            return false;
        };
        let StepKind::Choose(source) = step.kind else {
            return false;
        };
        let choices = match self.choices_for(source) {
            Ok(c) => c,
            Err(_) => return false,
        };
        let Some(pick) = self.match_typed(source, &choices, text) else {
            return false;
        };
        if let Some(flow) = &mut self.state.flow {
            flow.at = Position {
                step: step.id.clone(),
                sub: 0,
            };
            flow.choices = choices.clone();
        }
        let choice = choices[pick].clone();
        self.accept(
            Answer {
                value: choice.value,
                label: choice.label,
                secret: false,
            },
            None,
        );
        true
    }

    fn steps(&self) -> Option<&[Step]> {
        let flow = self.state.flow.as_ref()?;
        match &self.engine.scripts.flow(&flow.flow)?.body {
            FlowBody::Steps { steps, .. } => Some(steps),
            _ => None,
        }
    }

    fn step_at(&self, idx: usize) -> Option<Step> {
        self.steps()?.get(idx).cloned()
    }

    fn current_step(&self) -> Option<(usize, Step)> {
        let flow = self.state.flow.as_ref()?;
        let steps = self.steps()?;
        let idx = steps.iter().position(|s| s.id == flow.at.step)?;
        Some((idx, steps[idx].clone()))
    }

    fn broken(&mut self, why: &str) {
        self.state.flow = None;
        self.say(format!("Sorry, this conversation cannot continue ({why}). Please send /deploy or /help to start again."));
    }

    /// Moves to step `idx` (setting `sub`), skipping steps whose condition is
    /// false, and asks its question.
    fn enter(&mut self, mut idx: usize, mut sub: usize) {
        for _ in 0..MAX_HOPS {
            let Some(step) = self.step_at(idx) else {
                return self.broken("missing step");
            };
            let skip = match (&step.when, self.state.flow.as_ref()) {
                (Some(cond), Some(flow)) => !self.condition_holds(cond, flow),
                _ => false,
            };
            if matches!(step.kind, StepKind::Settings { .. }) {
                sub = self.first_asked_setting(&step, sub);
            }
            let settings_done = matches!(step.kind, StepKind::Settings { .. })
                && sub >= self.step_settings(&step).len();
            if skip || settings_done {
                match &step.next {
                    Next::Step(j) => {
                        idx = *j;
                        sub = 0;
                        continue;
                    }
                    other => return self.follow(other.clone()),
                }
            }
            if let Some(flow) = &mut self.state.flow {
                flow.at = Position {
                    step: step.id.clone(),
                    sub,
                };
                flow.waiting = false;
            }
            return self.ask_current(true);
        }
        self.broken("the script loops")
    }

    fn condition_holds(&self, cond: &super::script::Condition, flow: &FlowState) -> bool {
        let answer = |k: &str| flow.answers.get(k).map(|a| a.value.as_str());
        if let Some(policy) = &cond.ipv4
            && self.selected().is_none_or(|(_, nt)| &nt.ipv4 != policy)
        {
            return false;
        }
        if let Some(chains) = &cond.chain
            && !answer("chain").is_some_and(|c| chains.iter().any(|x| x == c))
        {
            return false;
        }
        if let Some(types) = &cond.node_type {
            let pair = format!(
                "{}/{}",
                answer("chain").unwrap_or(""),
                answer("node_type").unwrap_or("")
            );
            if !types.contains(&pair) {
                return false;
            }
        }
        if let Some(wanted) = &cond.answer
            && !wanted.iter().all(|(k, v)| answer(k) == Some(v.as_str()))
        {
            return false;
        }
        if let Some(wanted) = cond.optional_settings
            && self
                .selected()
                .is_none_or(|(_, nt)| nt.has_optional_settings() != wanted)
        {
            return false;
        }
        true
    }

    /// The choice typed `text` names among `choices` from `source`: its
    /// number, value or label, and for a node type also the words of its
    /// label (`type_words`: "sentry node" for "<Chain> sentry node").
    fn match_typed(&self, source: Source, choices: &[Choice], text: &str) -> Option<usize> {
        match_choice(choices, text).or_else(|| {
            (source == Source::NodeTypes)
                .then(|| self.node_type_words(choices, text))
                .flatten()
        })
    }

    /// The node type among `choices` of the chosen chain that `text` names
    /// by its label's words.
    fn node_type_words(&self, choices: &[Choice], text: &str) -> Option<usize> {
        let chain = self.answer("chain")?;
        let chain = self.engine.catalog.chain(&chain)?;
        type_words::match_node_type(choices, &chain.name, text)
    }

    /// The node type chosen in /deploy, or that of the user's node the
    /// conversation is about (`/keys`).
    fn selected(&self) -> Option<(&Chain, &NodeType)> {
        let answers = &self.state.flow.as_ref()?.answers;
        match (answers.get("chain"), answers.get("node_type")) {
            (Some(chain), Some(node_type)) => self
                .engine
                .catalog
                .node_type(&chain.value, &node_type.value),
            _ => {
                let name = &answers.get("node")?.value;
                let node = self.env.nodes.iter().find(|n| &n.name == name)?;
                self.engine.catalog.node_type(&node.chain, &node.node_type)
            }
        }
    }

    /// The settings a settings step asks, in order: the chosen node type's
    /// required ones, or only its optional ones, which the user asks for.
    fn step_settings(&self, step: &Step) -> Vec<crate::catalog::Setting> {
        let (optional, kept) = match step.kind {
            StepKind::Settings {
                optional_only,
                kept,
            } => (optional_only, kept),
            _ => (false, false),
        };
        self.selected()
            .map(|(_, nt)| {
                nt.settings
                    .iter()
                    .filter(|s| s.optional == optional && (!optional || s.is_kept() == kept))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The first setting from `sub` on that is asked: an optional setting
    /// checked against an earlier one (a public key against its private
    /// key) is passed over when that one was skipped.
    fn first_asked_setting(&self, step: &Step, mut sub: usize) -> usize {
        let settings = self.step_settings(step);
        while let Some(setting) = settings.get(sub) {
            let passed_over = setting.optional
                && setting
                    .validate
                    .of_key()
                    .is_some_and(|key| self.answer(&format!("setting.{key}")).is_none());
            if !passed_over {
                break;
            }
            sub += 1;
        }
        sub
    }

    /// Whether the setting asked now may be skipped with a button.
    fn skippable(setting: &crate::catalog::Setting) -> bool {
        // A setting checked against another is asked only when that one
        // was given, and is then needed too (the flist wants both keys).
        setting.optional && setting.validate.of_key().is_none()
    }

    /// Asks the current question; `fresh` bumps the sequence so buttons of
    /// older questions stop working.
    /// A conversation button, as [`crate::command::Command`] read it:
    /// `None` for data no conversation issues. It acts only on the
    /// presser's current question, and a choice only by its index into the
    /// choices stored in this user's conversation.
    fn button(&mut self, pressed: Option<AnswerButton>) {
        let Some(flow) = &self.state.flow else {
            return self.say("That button belongs to a conversation that has ended. Send /help to see what I can do.");
        };
        let Some(AnswerButton { seq, pick }) = pressed else {
            return self.say("I didn't understand that button. Send /help to see what I can do.");
        };
        let waiting = flow.waiting;
        if seq != self.state.seq || waiting {
            self.say("That button belongs to an earlier question; here is the current one.");
            if !waiting {
                self.ask_current(false);
            }
            return;
        }
        match pick {
            Pick::Cancel => {
                self.effects.push(Effect::Answered {
                    answer: "✖ Cancel".into(),
                });
                self.command("cancel", None, 0);
            }
            Pick::Back => {
                self.effects.push(Effect::Answered {
                    answer: "« Back".into(),
                });
                self.back();
            }
            Pick::Skip => self.skip(),
            Pick::Choice(index) => {
                let choice = usize::try_from(index)
                    .ok()
                    .and_then(|i| flow.choices.get(i).cloned());
                match choice {
                    Some(choice) if choice.value == questions::OTHER => {
                        // "Other": the question stays open for a typed answer.
                        self.effects.push(Effect::Answered {
                            answer: choice.label,
                        });
                        let max = self.max_count();
                        self.say(format!("Type how many you would like, from 1 to {max}."));
                    }
                    Some(choice) => self.pick(choice),
                    None => {
                        self.say(
                            "That choice is not on offer any more; here is the question again.",
                        );
                        self.ask_current(false);
                    }
                }
            }
        }
    }

    fn skip(&mut self) {
        match self.current_step() {
            Some((idx, step)) if matches!(step.kind, StepKind::Settings { .. }) => {
                let sub = self.state.flow.as_ref().map_or(0, |f| f.at.sub);
                let settings = self.step_settings(&step);
                let Some(setting) = settings.get(sub).filter(|s| Self::skippable(s)) else {
                    return self.ask_current(false);
                };
                self.effects.push(Effect::Answered {
                    answer: "Skipped".into(),
                });
                // Nothing is kept for a skipped setting, nor for those checked
                // against it (a key given before and now skipped is dropped
                // with its public half); Back returns to it.
                let dropped: Vec<String> = settings
                    .iter()
                    .filter(|s| s.key == setting.key || s.validate.of_key() == Some(&setting.key))
                    .map(|s| format!("setting.{}", s.key))
                    .collect();
                if let Some(flow) = &mut self.state.flow {
                    for key in &dropped {
                        flow.answers.remove(key);
                    }
                    flow.history.push(flow.at.clone());
                }
                self.enter(idx, sub + 1);
            }
            Some((_, step)) if matches!(step.kind, StepKind::Input { skip: Some(_), .. }) => {
                self.effects.push(Effect::Answered {
                    answer: "Skipped".into(),
                });
                self.accept(
                    Answer {
                        value: String::new(),
                        label: "none".into(),
                        secret: false,
                    },
                    None,
                );
            }
            _ => self.ask_current(false),
        }
    }

    fn pick(&mut self, choice: Choice) {
        let Some((_, step)) = self.current_step() else {
            return self.broken("lost position");
        };
        self.effects.push(Effect::Answered {
            answer: choice.label.clone(),
        });
        let next = match &step.kind {
            StepKind::Options(options) => options
                .iter()
                .find(|o| o.value == choice.value)
                .and_then(|o| o.next.clone()),
            _ => None,
        };
        self.accept(
            Answer {
                value: choice.value,
                label: choice.label,
                secret: false,
            },
            next,
        );
    }

    fn back(&mut self) {
        let Some(flow) = &mut self.state.flow else {
            return;
        };
        let Some(previous) = flow.history.pop() else {
            return self.ask_current(false);
        };
        let Some(steps) = self.steps() else { return };
        let Some(idx) = steps.iter().position(|s| s.id == previous.step) else {
            return self.broken("lost position");
        };
        let key = self.answer_key(&steps[idx].clone(), previous.sub);
        if let (Some(flow), Some(key)) = (&mut self.state.flow, key) {
            flow.answers.remove(&key);
        }
        self.enter(idx, previous.sub);
    }

    fn answer_key(&self, step: &Step, sub: usize) -> Option<String> {
        match step.kind {
            StepKind::Settings { .. } => self
                .step_settings(step)
                .get(sub)
                .map(|s| format!("setting.{}", s.key)),
            _ => step.save.clone(),
        }
    }

    fn text(&mut self, raw: &str) {
        let Some(flow) = &self.state.flow else {
            return self.say("I didn't get that. Send /deploy to run a node, or /help to see everything I can do.");
        };
        if flow.waiting {
            return self.say("One moment, I'm still looking for places with room…");
        }
        let sub = flow.at.sub;
        let Some((_, step)) = self.current_step() else {
            return self.broken("lost position");
        };
        // A key file spans lines; everything else is one line of text.
        let multiline = matches!(step.kind, StepKind::Settings { .. })
            && self
                .step_settings(&step)
                .get(sub)
                .is_some_and(|s| s.validate.multiline());
        let cleaned = if multiline {
            clean_multiline_input(raw)
        } else {
            clean_input(raw)
        };
        let text = match cleaned {
            Ok(t) => t.to_owned(),
            Err(why) => {
                self.say(why.to_string());
                return self.ask_current(false);
            }
        };
        let result: Result<Answer, Invalid> = match &step.kind {
            StepKind::Options(_) | StepKind::Choose(_) => {
                let choices = flow.choices.clone();
                let source = match step.kind {
                    StepKind::Choose(source) => Some(source),
                    _ => None,
                };
                let pick = match source {
                    Some(source) => self.match_typed(source, &choices, &text),
                    None => match_choice(&choices, &text),
                };
                match pick {
                    Some(i) => return self.pick(choices[i].clone()),
                    None => Err(Invalid::NotAChoice),
                }
            }
            StepKind::Input {
                kind: InputKind::Count,
                ..
            } => match text.parse::<u32>() {
                Ok(n) if (1..=self.max_count()).contains(&n) => Ok(Answer {
                    value: n.to_string(),
                    label: n.to_string(),
                    secret: false,
                }),
                _ => Err(Invalid::Count {
                    max: self.max_count(),
                }),
            },
            StepKind::Input {
                kind: InputKind::SshKey,
                skip,
            } => {
                if skip.as_ref().is_some_and(|s| s.eq_ignore_ascii_case(&text)) {
                    return self.skip();
                }
                check_ssh_public_key(&text).map(|key| Answer {
                    label: short_key(&key),
                    value: key,
                    secret: false,
                })
            }
            StepKind::Settings { .. } => {
                let Some(setting) = self.step_settings(&step).get(sub).cloned() else {
                    return self.broken("no such setting");
                };
                let answers = self.state.flow.as_ref().map(|f| &f.answers);
                let earlier = |key: &str| {
                    answers
                        .and_then(|a| a.get(&format!("setting.{key}")))
                        .map(|a| a.value.clone())
                };
                setting
                    .validate
                    .check(&text)
                    .and_then(|value| {
                        setting.validate.check_against(&value, &earlier)?;
                        Ok(value)
                    })
                    .map(|value| Answer {
                        label: match setting.validate.summary(&value) {
                            // A key file: its kind and size, never its content.
                            Some(summary) => summary,
                            None if setting.secret => mask(&value),
                            None => value.clone(),
                        },
                        value,
                        secret: setting.secret,
                    })
            }
        };
        match result {
            Ok(answer) => self.accept(answer, None),
            Err(why) => {
                self.say(why.to_string());
                self.ask_current(false);
            }
        }
    }

    fn loaded(&mut self, loaded: Loaded) {
        let waiting_source = self.current_step().and_then(|(_, s)| match s.kind {
            StepKind::Choose(src @ (Source::Countries | Source::Farms)) => Some(src),
            _ => None,
        });
        let (Some(source), Some(true)) =
            (waiting_source, self.state.flow.as_ref().map(|f| f.waiting))
        else {
            return; // Nobody is waiting for this any more (cancelled meanwhile).
        };
        match loaded {
            Loaded::Failed(why) => {
                self.say(format!("I couldn't look up locations: {why}"));
                if let Some(flow) = &mut self.state.flow {
                    flow.waiting = false;
                }
                self.back();
            }
            Loaded::Locations(locations) => {
                let choices = location_choices(source, &locations);
                if let Some(flow) = &mut self.state.flow {
                    flow.waiting = false;
                    flow.choices = choices;
                }
                // New buttons, asked from the choices just stored (asking
                // "fresh" would load them again); an empty list ends the flow
                // with the step's `empty` text, as for any choose step.
                self.state.seq = self.state.seq.wrapping_add(1);
                self.ask_current(false);
            }
        }
    }

    /// Records an answer for the current position and moves on.
    fn accept(&mut self, answer: Answer, next_override: Option<Next>) {
        let Some((idx, step)) = self.current_step() else {
            return self.broken("lost position");
        };
        let sub = self.state.flow.as_ref().map_or(0, |f| f.at.sub);
        let key = self.answer_key(&step, sub);
        if let Some(flow) = &mut self.state.flow {
            flow.history.push(flow.at.clone());
            if let Some(key) = key {
                flow.answers.insert(key, answer);
            }
        }
        if matches!(step.kind, StepKind::Settings { .. }) {
            return self.enter(idx, sub + 1);
        }
        self.follow(next_override.unwrap_or(step.next));
    }

    fn follow(&mut self, next: Next) {
        match next {
            Next::Step(j) => self.enter(j, 0),
            Next::End(text) => {
                let text = self.render(&text);
                self.state.flow = None;
                if !text.is_empty() {
                    self.say(text);
                }
            }
            Next::Action(kind) => {
                let answers = self.state.flow.as_ref().map(|f| f.answers.clone());
                let action = self.build_action(kind, answers.as_ref(), None);
                self.state.flow = None;
                match action {
                    Some(action) => self.effects.push(Effect::Run(action)),
                    None => self.say("Sorry, some answers were missing. Please start again."),
                }
            }
        }
    }
}
