//! Asking questions: buttons, choices from sources, and matching typed answers.

use super::{MAX_LOCATION_CHOICES, Turn};
use crate::catalog::Ipv4Policy;
use crate::command::{AnswerButton, Command, Pick};
use crate::dialogue::script::{InputKind, Source, Step, StepKind};
use crate::dialogue::{Action, Answer, Button, Choice, Effect, Message};
use crate::model::Locations;
use crate::money::Tft;
use crate::pricing::FundingPeriod;

/// The count question's buttons; "Other…" takes a typed number.
const COUNT_BUTTONS: [u32; 4] = [1, 2, 3, 5];
/// The value of the "Other…" choice.
pub(super) const OTHER: &str = "other";

impl Turn<'_> {
    pub(super) fn ask_current(&mut self, fresh: bool) {
        let Some((_, step)) = self.current_step() else {
            return self.broken("lost position");
        };
        let sub = self.state.flow.as_ref().map_or(0, |f| f.at.sub);
        let (prompt, choices, skip) = match &step.kind {
            StepKind::Options(options) => (
                self.render(&step.prompt),
                options
                    .iter()
                    .filter(|o| self.option_offered(o))
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
                let prompt = self.render(&step.prompt);
                if let [only] = choices.as_slice()
                    && !matches!(source, Source::Periods | Source::Chains)
                {
                    return self.answer_alone(&step, &prompt, only.clone());
                }
                (prompt, choices, None)
            }
            StepKind::Input {
                kind: InputKind::Count,
                skip,
            } => {
                let max = self.max_count();
                let prompt = self.render(&step.prompt);
                if max == 1 {
                    let one = Choice {
                        value: "1".into(),
                        label: "1".into(),
                    };
                    return self.answer_alone(&step, &prompt, one);
                }
                let mut choices: Vec<Choice> = COUNT_BUTTONS
                    .iter()
                    .filter(|n| **n <= max)
                    .map(|n| Choice {
                        value: n.to_string(),
                        label: n.to_string(),
                    })
                    .collect();
                if (1..=max).any(|n| !COUNT_BUTTONS.contains(&n)) {
                    choices.push(Choice {
                        value: OTHER.into(),
                        label: "Other…".into(),
                    });
                }
                (prompt, choices, skip.clone())
            }
            StepKind::Input { skip, .. } => (self.render(&step.prompt), Vec::new(), skip.clone()),
            StepKind::Settings { .. } => {
                let settings = self.step_settings(&step);
                let Some(setting) = settings.get(sub).cloned() else {
                    return self.broken("no such setting");
                };
                let count = settings.len();
                let note = if setting.secret {
                    "\n\nIt is stored encrypted and never shown again in full."
                } else {
                    ""
                };
                let optional = if setting.optional { ", optional" } else { "" };
                (
                    format!(
                        "{} ({}/{count}{optional})\n{}{note}",
                        setting.label,
                        sub + 1,
                        setting.prompt
                    ),
                    Vec::new(),
                    Self::skippable(&setting).then(|| "Skip".to_owned()),
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
            .map(|(i, c)| {
                answer(seq, Pick::Choice(u32::try_from(i).unwrap_or(u32::MAX))).button(&c.label)
            })
            .collect();
        let per_row = if buttons.len() > 6 { 2 } else { 1 };
        for chunk in buttons.chunks(per_row) {
            rows.push(chunk.to_vec());
        }
        let mut nav = Vec::new();
        if let Some(label) = skip {
            nav.push(answer(seq, Pick::Skip).button(label));
        }
        if !first {
            nav.push(answer(seq, Pick::Back).button("« Back"));
        }
        nav.push(answer(seq, Pick::Cancel).button("✖ Cancel"));
        rows.push(nav);
        if let Some(flow) = &mut self.state.flow {
            flow.choices = choices;
        }
        self.effects.push(Effect::Send(Message {
            text: prompt,
            buttons: rows,
        }));
    }

    /// A question with one possible answer is not asked: the answer is
    /// taken and shown as such. It is not kept in the history, so Back
    /// from the next question goes to the last one the user answered.
    fn answer_alone(&mut self, step: &Step, prompt: &str, choice: Choice) {
        let question = prompt
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim();
        // The question itself, without the instructions after it.
        let question = question.find('?').map_or(question, |end| &question[..=end]);
        self.say(format!(
            "{question} {} (the only possible answer, so I chose it for you)",
            choice.label
        ));
        if let (Some(flow), Some(key)) = (&mut self.state.flow, step.save.clone()) {
            flow.answers.insert(
                key,
                Answer {
                    value: choice.value,
                    label: choice.label,
                    secret: false,
                },
            );
        }
        self.follow(step.next.clone());
    }

    /// Whether an option's own condition (if any) holds now.
    pub(super) fn option_offered(&self, option: &crate::dialogue::script::OptionDef) -> bool {
        match (&option.when, self.state.flow.as_ref()) {
            (Some(cond), Some(flow)) => self.condition_holds(cond, flow),
            _ => true,
        }
    }

    /// How many nodes one order may have of the chosen type.
    pub(super) fn max_count(&self) -> u32 {
        let cap = self.selected().and_then(|(_, nt)| nt.max_count);
        cap.map_or(self.engine.max_nodes, |c| c.min(self.engine.max_nodes))
            .max(1)
    }

    pub(super) fn request_locations(&mut self) {
        let Some((_, nt)) = self.selected() else {
            return self.broken("no node type chosen");
        };
        let need = nt.capacity(self.wants_ipv4());
        if let Some(flow) = &mut self.state.flow {
            flow.waiting = true;
            flow.choices.clear();
        }
        self.effects
            .push(Effect::Run(Action::LoadLocations { need }));
    }

    pub(super) fn choices_for(&self, source: Source) -> Result<Vec<Choice>, String> {
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
            Source::NodesWithOptions => self
                .env
                .nodes
                .iter()
                .filter(|n| {
                    catalog
                        .node_type(&n.chain, &n.node_type)
                        .is_some_and(|(_, nt)| nt.has_optional_settings())
                })
                .map(|n| Choice {
                    value: n.name.clone(),
                    label: n.label.clone(),
                })
                .collect(),
            Source::NodesWithKept => self
                .env
                .nodes
                .iter()
                .filter(|n| {
                    catalog
                        .node_type(&n.chain, &n.node_type)
                        .is_some_and(|(_, nt)| nt.has_kept_settings())
                })
                .map(|n| Choice {
                    value: n.name.clone(),
                    label: n.label.clone(),
                })
                .collect(),
            Source::Periods => {
                let (count, per_hour) = self.order_basis().ok_or("order incomplete")?;
                FundingPeriod::ALL
                    .into_iter()
                    .filter_map(|p| {
                        // The button shows what this period costs now: what
                        // the balance misses to fund every node for it.
                        let plan = self.plan(per_hour, count, p)?;
                        Some(Choice {
                            value: p.label().to_owned(),
                            label: if plan.to_pay.is_positive() {
                                format!("{} · {}", p.label(), plan.to_pay)
                            } else {
                                format!("{} · covered by your balance", p.label())
                            },
                        })
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

    pub(super) fn answer(&self, key: &str) -> Option<String> {
        self.state
            .flow
            .as_ref()?
            .answers
            .get(key)
            .map(|a| a.value.clone())
    }

    pub(super) fn wants_ipv4(&self) -> bool {
        match self.selected().map(|(_, nt)| &nt.ipv4) {
            Some(Ipv4Policy::Required) => true,
            Some(Ipv4Policy::Optional) => self.answer("ipv4").as_deref() == Some("yes"),
            _ => false,
        }
    }

    /// Node count and hourly price per node of the order so far.
    pub(super) fn order_basis(&self) -> Option<(u32, Tft)> {
        let (_, nt) = self.selected()?;
        let count: u32 = self.answer("count")?.parse().ok()?;
        Some((
            count,
            self.engine.prices.per_hour(&nt.capacity(self.wants_ipv4())),
        ))
    }
}

/// The choice a typed text names: its 1-based number, value or label.
pub(super) fn match_choice(choices: &[Choice], text: &str) -> Option<usize> {
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

pub(super) fn location_choices(source: Source, locations: &Locations) -> Vec<Choice> {
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

/// A conversation button for question `seq`.
fn answer(seq: u32, pick: Pick) -> Command {
    Command::Answer(AnswerButton { seq, pick })
}
