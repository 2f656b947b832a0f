//! The pure step function: (state, input, env, now) -> (state, effects).
//!
//! Architecture invariant: nothing here does IO or reads the clock; every
//! input, including `now`, is a parameter, so transcripts replay exactly.

use super::render::render;
use super::script::{FlowBody, InputKind, Next, Source, Step, StepKind};
use super::{
    Action, Answer, Button, Choice, Conversation, Effect, FlowState, Input, Loaded, Message,
    OrderDraft, Position, Scripts,
};
use crate::catalog::{Catalog, Chain, Ipv4Policy, NodeType};
use crate::crypto::mask;
use crate::grid::{Locations, Placement};
use crate::money::Tft;
use crate::pricing::{FundingPeriod, PriceList};
use crate::validate::{check_ssh_public_key, clean_input};

/// More steps than this skipped in a row means the script loops.
const MAX_HOPS: usize = 64;
/// At most this many location buttons; the best-provisioned come first.
const MAX_LOCATION_CHOICES: usize = 24;

/// A user's node as conversations need to see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeBrief {
    pub name: String,
    /// Shown on the button, e.g. "dash-full-amber-fox · running".
    pub label: String,
}

/// Per-user facts the service reads before each step.
#[derive(Clone, Copy, Debug)]
pub struct Env<'a> {
    pub balance: Tft,
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
            Input::Button(data) => self.button(&data),
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
                if let Some(action) = self.build_action(*kind, None) {
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
                    (Some(arg), Some(target)) if target == start => {
                        // Answer the first question with the argument quietly;
                        // if it is not valid, the question is asked normally.
                        if !self.try_quiet_answer(start, &arg) {
                            self.say(format!("I couldn't find {arg:?}."));
                            self.enter(start, 0);
                        }
                    }
                    _ => self.enter(start, 0),
                }
            }
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
        let Some(pick) = match_choice(&choices, text) else {
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
            let settings_done = matches!(step.kind, StepKind::Settings)
                && sub >= self.settings_of_choice().map_or(0, |s| s.len());
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
        true
    }

    fn selected(&self) -> Option<(&Chain, &NodeType)> {
        let answers = &self.state.flow.as_ref()?.answers;
        self.engine.catalog.node_type(
            &answers.get("chain")?.value,
            &answers.get("node_type")?.value,
        )
    }

    fn settings_of_choice(&self) -> Option<&[crate::catalog::Setting]> {
        self.selected().map(|(_, nt)| nt.settings.as_slice())
    }

    /// Asks the current question; `fresh` bumps the sequence so buttons of
    /// older questions stop working.
    fn ask_current(&mut self, fresh: bool) {
        let Some((_, step)) = self.current_step() else {
            return self.broken("lost position");
        };
        let sub = self.state.flow.as_ref().map_or(0, |f| f.at.sub);
        let (prompt, choices, skip) = match &step.kind {
            StepKind::Options(options) => (
                self.render(&step.prompt),
                options
                    .iter()
                    .map(|o| Choice {
                        value: o.value.clone(),
                        label: o.label.clone(),
                    })
                    .collect(),
                None,
            ),
            StepKind::Choose(source) => {
                if matches!(source, Source::Countries | Source::Farms) && fresh {
                    return self.request_locations();
                }
                let choices = match self.choices_for(*source) {
                    Ok(c) => c,
                    Err(why) => return self.broken(&why),
                };
                if choices.is_empty() {
                    let text = step
                        .empty
                        .as_deref()
                        .map(|e| self.render(e))
                        .unwrap_or_else(|| "There is nothing to choose from.".into());
                    self.state.flow = None;
                    return self.say(text);
                }
                (self.render(&step.prompt), choices, None)
            }
            StepKind::Input { skip, .. } => (self.render(&step.prompt), Vec::new(), skip.clone()),
            StepKind::Settings => {
                let Some(setting) = self.settings_of_choice().and_then(|s| s.get(sub)).cloned()
                else {
                    return self.broken("no such setting");
                };
                let count = self.settings_of_choice().map_or(0, |s| s.len());
                let note = if setting.secret {
                    "\n\nIt is stored encrypted and never shown again in full."
                } else {
                    ""
                };
                (
                    format!(
                        "{} ({}/{count})\n{}{note}",
                        setting.label,
                        sub + 1,
                        setting.prompt
                    ),
                    Vec::new(),
                    None,
                )
            }
        };
        if fresh {
            self.state.seq = self.state.seq.wrapping_add(1);
        }
        let seq = self.state.seq;
        let first = self
            .state
            .flow
            .as_ref()
            .is_none_or(|f| f.history.is_empty());
        let mut rows: Vec<Vec<Button>> = Vec::new();
        let buttons: Vec<Button> = choices
            .iter()
            .enumerate()
            .map(|(i, c)| Button {
                label: c.label.clone(),
                data: format!("{seq}:c{i}"),
            })
            .collect();
        let per_row = if buttons.len() > 6 { 2 } else { 1 };
        for chunk in buttons.chunks(per_row) {
            rows.push(chunk.to_vec());
        }
        let mut nav = Vec::new();
        if let Some(label) = skip {
            nav.push(Button {
                label,
                data: format!("{seq}:s"),
            });
        }
        if !first {
            nav.push(Button {
                label: "« Back".into(),
                data: format!("{seq}:b"),
            });
        }
        nav.push(Button {
            label: "✖ Cancel".into(),
            data: format!("{seq}:x"),
        });
        rows.push(nav);
        if let Some(flow) = &mut self.state.flow {
            flow.choices = choices;
        }
        self.effects.push(Effect::Send(Message {
            text: prompt,
            buttons: rows,
        }));
    }

    fn request_locations(&mut self) {
        let Some((_, nt)) = self.selected() else {
            return self.broken("no node type chosen");
        };
        let need = nt.capacity(nt.ipv4 == Ipv4Policy::Required);
        if let Some(flow) = &mut self.state.flow {
            flow.waiting = true;
            flow.choices.clear();
        }
        self.effects
            .push(Effect::Run(Action::LoadLocations { need }));
    }

    fn choices_for(&self, source: Source) -> Result<Vec<Choice>, String> {
        let catalog = &self.engine.catalog;
        Ok(match source {
            Source::Chains => catalog
                .chains
                .iter()
                .map(|c| Choice {
                    value: c.id.clone(),
                    label: c.name.clone(),
                })
                .collect(),
            Source::NodeTypes => {
                let chain_id = self.answer("chain").ok_or("no chain chosen")?;
                let chain = catalog.chain(&chain_id).ok_or("unknown chain")?;
                chain
                    .node_types
                    .iter()
                    .map(|n| Choice {
                        value: n.id.clone(),
                        label: n.name.clone(),
                    })
                    .collect()
            }
            Source::Nodes => self
                .env
                .nodes
                .iter()
                .map(|n| Choice {
                    value: n.name.clone(),
                    label: n.label.clone(),
                })
                .collect(),
            Source::Periods => {
                let (count, per_hour) = self.order_basis().ok_or("order incomplete")?;
                [
                    FundingPeriod::Week,
                    FundingPeriod::Month,
                    FundingPeriod::Quarter,
                ]
                .into_iter()
                .map(|p| Choice {
                    value: p.label().to_owned(),
                    label: format!(
                        "{} · {}",
                        p.label(),
                        per_hour
                            .saturating_mul(p.hours() as i64)
                            .saturating_mul(i64::from(count))
                    ),
                })
                .collect()
            }
            // Locations come from the grid through `Loaded`; when re-asked
            // without reloading, the choices kept in the state are reused.
            Source::Countries | Source::Farms => self
                .state
                .flow
                .as_ref()
                .map(|f| f.choices.clone())
                .unwrap_or_default(),
        })
    }

    fn answer(&self, key: &str) -> Option<String> {
        self.state
            .flow
            .as_ref()?
            .answers
            .get(key)
            .map(|a| a.value.clone())
    }

    fn wants_ipv4(&self) -> bool {
        match self.selected().map(|(_, nt)| &nt.ipv4) {
            Some(Ipv4Policy::Required) => true,
            Some(Ipv4Policy::Optional) => self.answer("ipv4").as_deref() == Some("yes"),
            _ => false,
        }
    }

    /// Node count and hourly price per node of the order so far.
    fn order_basis(&self) -> Option<(u32, Tft)> {
        let (_, nt) = self.selected()?;
        let count: u32 = self.answer("count")?.parse().ok()?;
        Some((
            count,
            self.engine.prices.per_hour(&nt.capacity(self.wants_ipv4())),
        ))
    }

    fn button(&mut self, data: &str) {
        let Some(flow) = &self.state.flow else {
            return self.say("That button belongs to a conversation that has ended. Send /help to see what I can do.");
        };
        let parsed = data
            .split_once(':')
            .and_then(|(seq, code)| Some((seq.parse::<u32>().ok()?, code)));
        let Some((seq, code)) = parsed else {
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
        match code {
            "x" => {
                self.effects.push(Effect::Answered {
                    answer: "✖ Cancel".into(),
                });
                self.command("cancel", None, 0);
            }
            "b" => {
                self.effects.push(Effect::Answered {
                    answer: "« Back".into(),
                });
                self.back();
            }
            "s" => self.skip(),
            _ => {
                let pick = code.strip_prefix('c').and_then(|i| i.parse::<usize>().ok());
                let choice = pick.and_then(|i| flow.choices.get(i).cloned());
                match choice {
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
            StepKind::Settings => self
                .settings_of_choice()?
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
        let text = match clean_input(raw) {
            Ok(t) => t.to_owned(),
            Err(why) => {
                self.say(why);
                return self.ask_current(false);
            }
        };
        let Some((_, step)) = self.current_step() else {
            return self.broken("lost position");
        };
        let sub = flow.at.sub;
        let result: Result<Answer, String> = match &step.kind {
            StepKind::Options(_) | StepKind::Choose(_) => {
                let choices = flow.choices.clone();
                match match_choice(&choices, &text) {
                    Some(i) => return self.pick(choices[i].clone()),
                    None => {
                        Err("Please pick one of the buttons (or type its label or number).".into())
                    }
                }
            }
            StepKind::Input {
                kind: InputKind::Count,
                ..
            } => match text.parse::<u32>() {
                Ok(n) if (1..=self.engine.max_nodes).contains(&n) => Ok(Answer {
                    value: n.to_string(),
                    label: n.to_string(),
                    secret: false,
                }),
                _ => Err(format!(
                    "Please send a whole number from 1 to {}.",
                    self.engine.max_nodes
                )),
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
            StepKind::Settings => {
                let Some(setting) = self.settings_of_choice().and_then(|s| s.get(sub)).cloned()
                else {
                    return self.broken("no such setting");
                };
                setting.validate.check(&text).map(|value| Answer {
                    label: if setting.secret {
                        mask(&value)
                    } else {
                        value.clone()
                    },
                    value,
                    secret: setting.secret,
                })
            }
        };
        match result {
            Ok(answer) => self.accept(answer, None),
            Err(why) => {
                self.say(why);
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
                self.ask_current_loaded();
            }
        }
    }

    /// Asks a location question whose choices were just loaded.
    fn ask_current_loaded(&mut self) {
        let empty = self
            .state
            .flow
            .as_ref()
            .is_some_and(|f| f.choices.is_empty());
        if empty {
            let text = self
                .current_step()
                .and_then(|(_, s)| s.empty.clone())
                .map(|e| self.render(&e))
                .unwrap_or_else(|| "There is nothing to choose from.".into());
            self.state.flow = None;
            return self.say(text);
        }
        self.ask_current_keep_choices();
    }

    fn ask_current_keep_choices(&mut self) {
        // `ask_current(true)` would reload locations; ask with fresh buttons
        // but from the choices now in the state.
        if let Some(flow) = &mut self.state.flow {
            flow.waiting = false;
        }
        self.state.seq = self.state.seq.wrapping_add(1);
        self.ask_current(false);
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
        if matches!(step.kind, StepKind::Settings) {
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
                let action = self.build_action(kind, answers.as_ref());
                self.state.flow = None;
                match action {
                    Some(action) => self.effects.push(Effect::Run(action)),
                    None => self.say("Sorry, some answers were missing. Please start again."),
                }
            }
        }
    }

    fn build_action(
        &self,
        kind: super::script::ActionKind,
        answers: Option<&std::collections::BTreeMap<String, Answer>>,
    ) -> Option<Action> {
        use super::script::ActionKind as K;
        let get = |k: &str| answers.and_then(|a| a.get(k)).map(|a| a.value.clone());
        Some(match kind {
            K::ListNodes => Action::ListNodes,
            K::ShowBalance => Action::ShowBalance,
            K::ShowStatus => Action::ShowStatus { node: get("node")? },
            K::DeleteNode => Action::DeleteNode { node: get("node")? },
            K::RedeployNode => Action::RedeployNode { node: get("node")? },
            K::PlaceOrder => Action::PlaceOrder(self.order_draft()?),
        })
    }

    fn placement(&self) -> Placement {
        match self.answer("location").as_deref() {
            Some("country") => self
                .answer("country")
                .map(Placement::Country)
                .unwrap_or(Placement::Random),
            Some("farm") => self
                .answer("farm")
                .and_then(|f| f.parse().ok())
                .map(Placement::Farm)
                .unwrap_or(Placement::Random),
            _ => Placement::Random,
        }
    }

    fn order_draft(&self) -> Option<OrderDraft> {
        let (chain, nt) = self.selected()?;
        let flow = self.state.flow.as_ref()?;
        let count: u32 = self.answer("count")?.parse().ok()?;
        let period = FundingPeriod::parse(&self.answer("period")?)?;
        let ipv4 = self.wants_ipv4();
        let capacity = nt.capacity(ipv4);
        let settings = nt
            .settings
            .iter()
            .filter_map(|s| {
                flow.answers
                    .get(&format!("setting.{}", s.key))
                    .map(|a| (s.key.clone(), a.value.clone()))
            })
            .collect::<std::collections::BTreeMap<_, _>>();
        if settings.len() != nt.settings.len() {
            return None;
        }
        Some(OrderDraft {
            chain: chain.id.clone(),
            node_type: nt.id.clone(),
            count,
            placement: self.placement(),
            ipv4,
            settings,
            ssh_key: self.answer("ssh_key").filter(|k| !k.is_empty()),
            period,
            price_per_node_month: self.engine.prices.per_month(&capacity),
            total: self
                .engine
                .prices
                .for_hours(&capacity, period.hours())
                .saturating_mul(i64::from(count)),
        })
    }

    fn render(&self, text: &str) -> String {
        render(text, &|name| self.value(name))
    }

    fn value(&self, name: &str) -> String {
        let selected = self.selected();
        let label = |k: &str| {
            self.state
                .flow
                .as_ref()
                .and_then(|f| f.answers.get(k))
                .map(|a| a.label.clone())
                .unwrap_or_default()
        };
        match name {
            "chain" => self
                .answer("chain")
                .and_then(|c| self.engine.catalog.chain(&c).map(|c| c.name.clone()))
                .unwrap_or_default(),
            "chain_description" => self
                .answer("chain")
                .and_then(|c| self.engine.catalog.chain(&c).map(|c| c.description.clone()))
                .unwrap_or_default(),
            "node_type" => selected.map(|(_, n)| n.name.clone()).unwrap_or_default(),
            "node_type_description" => selected
                .map(|(_, n)| n.description.clone())
                .unwrap_or_default(),
            "resources" => selected
                .map(|(_, n)| describe_resources(n))
                .unwrap_or_default(),
            "count" => label("count"),
            "node" => label("node"),
            "max_nodes" => self.engine.max_nodes.to_string(),
            "balance" => self.env.balance.to_string(),
            "ipv4_price" => selected
                .map(|(_, n)| {
                    let p = &self.engine.prices;
                    p.per_month(&n.capacity(true))
                        .saturating_sub(p.per_month(&n.capacity(false)))
                        .to_string()
                })
                .unwrap_or_default(),
            "commands" => self
                .engine
                .scripts
                .commands()
                .iter()
                .map(|(c, d)| format!("/{c} — {d}"))
                .collect::<Vec<_>>()
                .join("\n"),
            "order_summary" => self.order_summary(),
            _ => String::new(),
        }
    }

    fn order_summary(&self) -> String {
        let (Some(draft), Some((_, nt))) = (self.order_draft(), self.selected()) else {
            return "Your order is incomplete; please start again with /deploy.".into();
        };
        let flow = self.state.flow.as_ref();
        let place = match &draft.placement {
            Placement::Random => "anywhere with room (random)".to_owned(),
            Placement::Country(c) => c.clone(),
            Placement::Farm(_) => format!(
                "farm {}",
                flow.and_then(|f| f.answers.get("farm"))
                    .map(|a| a.label.clone())
                    .unwrap_or_default()
            ),
        };
        let mut lines = vec![
            "Your order".to_owned(),
            format!(
                "• {} × {} ({})",
                draft.count,
                nt.name,
                describe_resources(nt)
            ),
            format!("• Location: {place}"),
            format!(
                "• Public IPv4: {}",
                if draft.ipv4 {
                    "yes"
                } else {
                    "no (IPv6 and Mycelium)"
                }
            ),
        ];
        for s in &nt.settings {
            let shown = flow
                .and_then(|f| f.answers.get(&format!("setting.{}", s.key)))
                .map(|a| a.label.clone())
                .unwrap_or_default();
            lines.push(format!("• {}: {shown}", s.label));
        }
        lines.push(format!(
            "• SSH key: {}",
            draft
                .ssh_key
                .as_deref()
                .map(short_key)
                .unwrap_or_else(|| "none".into())
        ));
        lines.push(format!("• Funded for: {}", draft.period.label()));
        let to_pay = draft.total.saturating_sub(self.env.balance).max(Tft::ZERO);
        lines.push(String::new());
        lines.push(format!(
            "Price: {} per node per month",
            draft.price_per_node_month
        ));
        lines.push(format!(
            "Total for {}: {}",
            draft.period.label(),
            draft.total
        ));
        lines.push(format!("Your balance: {}", self.env.balance));
        lines.push(format!("To pay now: {to_pay}"));
        lines.push(String::new());
        lines.push("Press Confirm to place the order.".into());
        lines.join("\n")
    }
}

fn describe_resources(nt: &NodeType) -> String {
    let r = &nt.resources;
    let memory = if r.memory_mib.is_multiple_of(1024) {
        format!("{} GiB", r.memory_mib / 1024)
    } else {
        format!("{} MiB", r.memory_mib)
    };
    format!("{} vCPU, {memory} RAM, {} GiB SSD", r.cpu, r.disk_gib)
}

/// `ssh-ed25519 AAAA…xyz9 comment` for summaries.
fn short_key(key: &str) -> String {
    let mut parts = key.split_whitespace();
    let kind = parts.next().unwrap_or("");
    let body = parts.next().unwrap_or("");
    let comment: Vec<&str> = parts.collect();
    let tail: String = body
        .chars()
        .rev()
        .take(6)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("{kind} …{tail} {}", comment.join(" "))
        .trim_end()
        .to_owned()
}

/// The choice a typed text names: its 1-based number, value or label.
fn match_choice(choices: &[Choice], text: &str) -> Option<usize> {
    let text = text.trim();
    if let Ok(n) = text.parse::<usize>()
        && (1..=choices.len()).contains(&n)
    {
        return Some(n - 1);
    }
    choices
        .iter()
        .position(|c| c.value.eq_ignore_ascii_case(text) || c.label.eq_ignore_ascii_case(text))
        .or_else(|| {
            // A label shown with extra details ("Belgium · 12 nodes") also
            // matches its first part.
            choices.iter().position(|c| {
                c.label
                    .split(" · ")
                    .next()
                    .is_some_and(|l| l.eq_ignore_ascii_case(text))
            })
        })
}

fn location_choices(source: Source, locations: &Locations) -> Vec<Choice> {
    match source {
        Source::Countries => locations
            .countries
            .iter()
            .take(MAX_LOCATION_CHOICES)
            .map(|c| Choice {
                value: c.name.clone(),
                label: format!("{} · {} nodes", c.name, c.nodes),
            })
            .collect(),
        _ => locations
            .farms
            .iter()
            .take(MAX_LOCATION_CHOICES)
            .map(|f| Choice {
                value: f.id.to_string(),
                label: format!("{} · {}", f.name, f.country),
            })
            .collect(),
    }
}
