//! Dialogue scripts: the YAML format and its compiler into a checked graph.
//!
//! Every error in every script is collected with its file and line. A compiled
//! [`Scripts`] refers to steps by index, so the engine never looks up a name
//! that might not exist.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Deserialize;
use serde_saphyr::Spanned;

use super::render::{PLACEHOLDERS, placeholders};
use crate::catalog::{Catalog, Ipv4Policy};
use crate::diagnostics::{Diagnostics, yaml_options};

/// Longest button value; button data also carries a sequence number and must
/// stay within Telegram's 64 bytes.
const MAX_VALUE_LEN: usize = 16;
const MAX_LABEL_LEN: usize = 48;

/// All flows, compiled.
#[derive(Clone, Debug)]
pub struct Scripts {
    pub flows: Vec<Flow>,
    by_command: HashMap<String, usize>,
}

#[derive(Clone, Debug)]
pub struct Flow {
    pub id: String,
    pub command: String,
    pub description: String,
    pub body: FlowBody,
}

#[derive(Clone, Debug)]
pub enum FlowBody {
    Say(String),
    Action(ActionKind),
    Steps {
        start: usize,
        steps: Vec<Step>,
        /// The step a command argument answers.
        arg: Option<usize>,
    },
}

#[derive(Clone, Debug)]
pub struct Step {
    pub id: String,
    /// A short name for the question where it is a form field (the
    /// website's deploy form); the chat asks `prompt`.
    pub label: Option<String>,
    pub prompt: String,
    pub when: Option<Condition>,
    pub kind: StepKind,
    pub save: Option<String>,
    pub next: Next,
    pub empty: Option<String>,
}

#[derive(Clone, Debug)]
pub enum StepKind {
    Options(Vec<OptionDef>),
    Choose(Source),
    Input {
        kind: InputKind,
        skip: Option<String>,
    },
    /// The chosen node type's settings from the catalog: its required ones
    /// (`settings: true`), or with `optional_only` its optional ones
    /// (`settings: optional`: a node's existing keys, offered on request at
    /// /deploy and with `/keys`), which the user may skip.
    Settings {
        optional_only: bool,
        /// With `optional_only`: the settings Jukebox keeps (`settings:
        /// kept`, no env) rather than those given to the machine.
        kept: bool,
    },
}

#[derive(Clone, Debug)]
pub struct OptionDef {
    pub label: String,
    pub value: String,
    /// Overrides the step's `next`.
    pub next: Option<Next>,
    /// The option is offered only when this holds.
    pub when: Option<Condition>,
}

#[derive(Clone, Debug)]
pub enum Next {
    Step(usize),
    Action(ActionKind),
    End(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Chains,
    NodeTypes,
    Countries,
    Farms,
    Nodes,
    /// The user's nodes whose node type has optional settings.
    NodesWithOptions,
    /// The user's nodes whose node type has settings Jukebox keeps (a
    /// dashboard API key).
    NodesWithKept,
    Periods,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    Count,
    SshKey,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    PlaceOrder,
    ListNodes,
    ShowBalance,
    ShowStatus,
    DeleteNode,
    RedeployNode,
    /// `/topup [amount or period]`: the command argument goes along.
    TopUp,
    SetAutoheal,
    SetMute,
    /// `/link`: a one-time code that links a website sign-in to this account.
    LinkAccount,
    /// `/keys`: the optional settings given for an existing node.
    SetSettings,
}

impl ActionKind {
    /// Answers the action needs; the compiler checks the flow saves them.
    fn needs(self) -> &'static [&'static str] {
        match self {
            ActionKind::PlaceOrder => &["chain", "node_type", "count", "period"],
            ActionKind::ShowStatus
            | ActionKind::DeleteNode
            | ActionKind::RedeployNode
            | ActionKind::SetSettings => &["node"],
            ActionKind::SetAutoheal => &["node", "autoheal"],
            ActionKind::SetMute => &["mute"],
            ActionKind::ListNodes
            | ActionKind::ShowBalance
            | ActionKind::TopUp
            | ActionKind::LinkAccount => &[],
        }
    }
}

/// Skips a step unless every given field matches the answers so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    #[serde(default)]
    pub ipv4: Option<Ipv4Policy>,
    #[serde(default)]
    pub chain: Option<Vec<String>>,
    /// `chain/node_type` pairs.
    #[serde(default)]
    pub node_type: Option<Vec<String>>,
    /// Saved answer key -> required value.
    #[serde(default)]
    pub answer: Option<BTreeMap<String, String>>,
    /// Whether the chosen node type has optional settings (a node's own
    /// keys): offers them only where there are some.
    #[serde(default)]
    pub optional_settings: Option<bool>,
}

impl Scripts {
    pub fn flow_for_command(&self, command: &str) -> Option<&Flow> {
        self.by_command.get(command).map(|&i| &self.flows[i])
    }

    pub fn flow(&self, id: &str) -> Option<&Flow> {
        self.flows.iter().find(|f| f.id == id)
    }

    /// Commands and their descriptions, in script order (for /help and
    /// Telegram's command menu).
    pub fn commands(&self) -> Vec<(String, String)> {
        let mut list: Vec<(String, String)> = self
            .flows
            .iter()
            .map(|f| (f.command.clone(), f.description.clone()))
            .collect();
        list.push(("cancel".into(), "Stop the current conversation".into()));
        list
    }

    /// Compiles the given files (name, text) against the catalog.
    pub fn compile(files: &[(String, String)], catalog: &Catalog) -> Result<Scripts, Diagnostics> {
        let mut diags = Diagnostics::default();
        let mut flows = Vec::new();
        let mut by_command = HashMap::new();
        let mut ids = BTreeSet::new();
        for (file, text) in files {
            let raw: RawFile = match serde_saphyr::from_str_with_options(text, yaml_options()) {
                Ok(raw) => raw,
                Err(e) => {
                    diags.yaml_error(file, &e);
                    continue;
                }
            };
            for flow in raw.flows {
                let line = flow.referenced.line() as usize;
                if let Some(flow) = compile_flow(file, line, flow.value, catalog, &mut diags) {
                    if !ids.insert(flow.id.clone()) {
                        diags.push(file, line, format!("flow {:?} is defined twice", flow.id));
                    }
                    if flow.command == "cancel"
                        || by_command
                            .insert(flow.command.clone(), flows.len())
                            .is_some()
                    {
                        diags.push(
                            file,
                            line,
                            format!(
                                "command /{} is defined twice (or is the built-in /cancel)",
                                flow.command
                            ),
                        );
                    }
                    flows.push(flow);
                }
            }
        }
        if !by_command.contains_key("deploy") {
            diags.push("dialogues", 0, "no flow handles /deploy");
        }
        if diags.is_empty() {
            Ok(Scripts { flows, by_command })
        } else {
            Err(diags)
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    flows: Vec<Spanned<RawFlow>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlow {
    id: String,
    command: String,
    description: String,
    #[serde(default)]
    say: Option<String>,
    #[serde(default)]
    action: Option<ActionKind>,
    #[serde(default)]
    arg: Option<String>,
    #[serde(default)]
    start: Option<String>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    id: String,
    #[serde(default)]
    label: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    when: Option<Condition>,
    #[serde(default)]
    options: Option<Vec<RawOption>>,
    #[serde(default)]
    choose: Option<Source>,
    #[serde(default)]
    input: Option<InputKind>,
    #[serde(default)]
    settings: Option<RawSettings>,
    #[serde(default)]
    skip: Option<String>,
    #[serde(default)]
    empty: Option<String>,
    #[serde(default)]
    save: Option<String>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    action: Option<ActionKind>,
    #[serde(default)]
    end: Option<String>,
}

/// `settings: true` (all of the node type's) or `settings: optional`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawSettings {
    All(bool),
    Which(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOption {
    label: String,
    value: String,
    #[serde(default)]
    when: Option<Condition>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    action: Option<ActionKind>,
    #[serde(default)]
    end: Option<String>,
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 32
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Checks a template's placeholders; returns it unchanged.
fn template(file: &str, line: usize, at: &str, text: &str, diags: &mut Diagnostics) -> String {
    match placeholders(text) {
        Ok(names) => {
            for name in names {
                if !PLACEHOLDERS.contains(&name.as_str()) {
                    diags.push(
                        file,
                        line,
                        format!(
                            "{at}: unknown placeholder {{{name}}}; known: {}",
                            PLACEHOLDERS.join(", ")
                        ),
                    );
                }
            }
        }
        Err(e) => diags.push(file, line, format!("{at}: {e}")),
    }
    text.to_owned()
}

fn compile_flow(
    file: &str,
    line: usize,
    raw: RawFlow,
    catalog: &Catalog,
    diags: &mut Diagnostics,
) -> Option<Flow> {
    let at = format!("flow {}", raw.id);
    if !is_name(&raw.id) || !is_name(&raw.command) {
        diags.push(
            file,
            line,
            format!("{at}: id and command must be 1-32 of a-z, 0-9, _"),
        );
    }
    if raw.description.trim().is_empty() || raw.description.len() > 256 {
        diags.push(
            file,
            line,
            format!("{at}: description must be 1-256 characters"),
        );
    }
    let kinds = usize::from(raw.say.is_some())
        + usize::from(raw.action.is_some())
        + usize::from(!raw.steps.is_empty());
    if kinds != 1 {
        diags.push(
            file,
            line,
            format!("{at}: needs exactly one of say, action or steps"),
        );
        return None;
    }
    let body = if let Some(say) = raw.say {
        FlowBody::Say(template(file, line, &at, &say, diags))
    } else if let Some(action) = raw.action {
        if !action.needs().is_empty() {
            diags.push(
                file,
                line,
                format!("{at}: action {action:?} needs answers; give the flow steps"),
            );
        }
        FlowBody::Action(action)
    } else {
        compile_steps(
            file, line, &at, raw.start, raw.arg, raw.steps, catalog, diags,
        )?
    };
    Some(Flow {
        id: raw.id,
        command: raw.command,
        description: raw.description,
        body,
    })
}

#[allow(clippy::too_many_arguments)]
fn compile_steps(
    file: &str,
    line: usize,
    at: &str,
    start: Option<String>,
    arg: Option<String>,
    raw_steps: Vec<Spanned<RawStep>>,
    catalog: &Catalog,
    diags: &mut Diagnostics,
) -> Option<FlowBody> {
    let mut index = BTreeMap::new();
    for (i, s) in raw_steps.iter().enumerate() {
        if !is_name(&s.value.id) {
            diags.push(
                file,
                s.referenced.line() as usize,
                format!("{at}: step id {:?} must be 1-32 of a-z, 0-9, _", s.value.id),
            );
        }
        if index.insert(s.value.id.clone(), i).is_some() {
            diags.push(
                file,
                s.referenced.line() as usize,
                format!("{at}: step {} is defined twice", s.value.id),
            );
        }
    }
    let lookup = |name: &str, sline: usize, diags: &mut Diagnostics| -> Option<usize> {
        let found = index.get(name).copied();
        if found.is_none() {
            diags.push(file, sline, format!("{at}: no step named {name:?}"));
        }
        found
    };
    let start = match start {
        Some(s) => lookup(&s, line, diags),
        None => {
            diags.push(file, line, format!("{at}: a flow with steps needs `start`"));
            None
        }
    };
    let arg = arg.and_then(|a| lookup(&a, line, diags));
    let mut steps = Vec::new();
    let mut saved = BTreeSet::new();
    let mut actions = Vec::new();
    for s in &raw_steps {
        let sline = s.referenced.line() as usize;
        let r = &s.value;
        let sat = format!("{at}, step {}", r.id);
        let next = resolve_next(
            file,
            r.next.as_deref(),
            r.action,
            r.end.as_deref(),
            sline,
            &sat,
            &lookup,
            diags,
        );
        if let Some(cond) = &r.when {
            check_condition(file, sline, &sat, cond, catalog, diags);
        }
        let kinds = usize::from(r.options.is_some())
            + usize::from(r.choose.is_some())
            + usize::from(r.input.is_some())
            + usize::from(r.settings.is_some());
        if kinds != 1 {
            diags.push(
                file,
                sline,
                format!("{sat}: needs exactly one of options, choose, input or settings"),
            );
            continue;
        }
        let kind = if let Some(options) = &r.options {
            if options.is_empty() {
                diags.push(file, sline, format!("{sat}: options must not be empty"));
            }
            let mut values = BTreeSet::new();
            let mut defs = Vec::new();
            for o in options {
                if o.value.is_empty()
                    || o.value.len() > MAX_VALUE_LEN
                    || !o
                        .value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_')
                {
                    diags.push(file, sline, format!("{sat}: option value {:?} must be 1-{MAX_VALUE_LEN} letters, digits or _", o.value));
                }
                if !values.insert(o.value.clone()) {
                    diags.push(
                        file,
                        sline,
                        format!("{sat}: option value {:?} is used twice", o.value),
                    );
                }
                if o.label.trim().is_empty() || o.label.chars().count() > MAX_LABEL_LEN {
                    diags.push(
                        file,
                        sline,
                        format!(
                            "{sat}: option label {:?} must be 1-{MAX_LABEL_LEN} characters",
                            o.label
                        ),
                    );
                }
                let has_own = o.next.is_some() || o.action.is_some() || o.end.is_some();
                let own = has_own
                    .then(|| {
                        resolve_next(
                            file,
                            o.next.as_deref(),
                            o.action,
                            o.end.as_deref(),
                            sline,
                            &sat,
                            &lookup,
                            diags,
                        )
                    })
                    .flatten();
                if let Some(Next::Action(a)) = &own {
                    actions.push((*a, sline));
                }
                if !has_own && next.is_none() {
                    diags.push(file, sline, format!("{sat}: option {:?} leads nowhere (give the step or the option next, action or end)", o.value));
                }
                if let Some(cond) = &o.when {
                    check_condition(file, sline, &sat, cond, catalog, diags);
                }
                defs.push(OptionDef {
                    label: o.label.clone(),
                    value: o.value.clone(),
                    next: own,
                    when: o.when.clone(),
                });
            }
            StepKind::Options(defs)
        } else if let Some(source) = r.choose {
            StepKind::Choose(source)
        } else if let Some(kind) = r.input {
            StepKind::Input {
                kind,
                skip: r.skip.clone(),
            }
        } else {
            let (optional_only, kept) = match &r.settings {
                Some(RawSettings::All(true)) => (false, false),
                Some(RawSettings::Which(w)) if w == "optional" => (true, false),
                Some(RawSettings::Which(w)) if w == "kept" => (true, true),
                _ => {
                    diags.push(
                        file,
                        sline,
                        format!("{sat}: settings must be `true`, `optional` or `kept`"),
                    );
                    (false, false)
                }
            };
            StepKind::Settings {
                optional_only,
                kept,
            }
        };
        if r.skip.is_some() && !matches!(kind, StepKind::Input { .. }) {
            diags.push(
                file,
                sline,
                format!("{sat}: skip only applies to input steps"),
            );
        }
        let prompt = match (&r.prompt, &kind) {
            (Some(p), _) => template(file, sline, &sat, p, diags),
            (None, StepKind::Settings { .. }) => String::new(),
            (None, _) => {
                diags.push(file, sline, format!("{sat}: needs a prompt"));
                String::new()
            }
        };
        if matches!(kind, StepKind::Settings { .. }) && (r.save.is_some() || r.prompt.is_some()) {
            diags.push(
                file,
                sline,
                format!("{sat}: a settings step takes its prompts and keys from the catalog"),
            );
        }
        let empty = r
            .empty
            .as_ref()
            .map(|e| template(file, sline, &sat, e, diags));
        if let Some(save) = &r.save {
            if !is_name(save) {
                diags.push(
                    file,
                    sline,
                    format!("{sat}: save key {save:?} must be 1-32 of a-z, 0-9, _"),
                );
            }
            saved.insert(save.clone());
        }
        let needs_next_everywhere = !matches!(kind, StepKind::Options(_));
        let next = match next {
            Some(n) => n,
            None if !needs_next_everywhere => Next::End(String::new()),
            None => {
                diags.push(file, sline, format!("{sat}: needs next, action or end"));
                continue;
            }
        };
        if let Next::Action(a) = &next {
            actions.push((*a, sline));
        }
        steps.push(Step {
            id: r.id.clone(),
            label: r.label.clone(),
            prompt,
            when: r.when.clone(),
            kind,
            save: r.save.clone(),
            next,
            empty,
        });
    }
    for (action, aline) in actions {
        for need in action.needs() {
            if !saved.contains(*need) {
                diags.push(
                    file,
                    aline,
                    format!("{at}: action {action:?} needs an answer saved as {need:?}"),
                );
            }
        }
    }
    let start = start?;
    if steps.len() != raw_steps.len() {
        return None;
    }
    check_reachable(file, line, at, start, &steps, diags);
    Some(FlowBody::Steps { start, steps, arg })
}

#[allow(clippy::too_many_arguments)]
fn resolve_next(
    file: &str,
    next: Option<&str>,
    action: Option<ActionKind>,
    end: Option<&str>,
    line: usize,
    at: &str,
    lookup: &dyn Fn(&str, usize, &mut Diagnostics) -> Option<usize>,
    diags: &mut Diagnostics,
) -> Option<Next> {
    let count =
        usize::from(next.is_some()) + usize::from(action.is_some()) + usize::from(end.is_some());
    if count > 1 {
        diags.push(
            file,
            line,
            format!("{at}: give only one of next, action or end"),
        );
    }
    if let Some(n) = next {
        // An unknown target is already reported; carry on with a harmless
        // stand-in so that the remaining checks still run and report too.
        return Some(lookup(n, line, diags).map_or(Next::End(String::new()), Next::Step));
    }
    if let Some(a) = action {
        return Some(Next::Action(a));
    }
    end.map(|e| Next::End(e.to_owned()))
}

/// A condition naming a chain or node type the catalog lacks can never hold.
fn check_condition(
    file: &str,
    line: usize,
    at: &str,
    cond: &Condition,
    catalog: &Catalog,
    diags: &mut Diagnostics,
) {
    for chain in cond.chain.iter().flatten() {
        if catalog.chain(chain).is_none() {
            diags.push(
                file,
                line,
                format!("{at}: when: no chain {chain:?} in the catalog"),
            );
        }
    }
    for pair in cond.node_type.iter().flatten() {
        let known = pair
            .split_once('/')
            .is_some_and(|(c, t)| catalog.node_type(c, t).is_some());
        if !known {
            diags.push(
                file,
                line,
                format!("{at}: when: no node type {pair:?} (chain/type) in the catalog"),
            );
        }
    }
}

fn check_reachable(
    file: &str,
    line: usize,
    at: &str,
    start: usize,
    steps: &[Step],
    diags: &mut Diagnostics,
) {
    let mut seen = vec![false; steps.len()];
    let mut todo = vec![start];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let mut targets = vec![&steps[i].next];
        if let StepKind::Options(opts) = &steps[i].kind {
            targets.extend(opts.iter().filter_map(|o| o.next.as_ref()));
        }
        for t in targets {
            if let Next::Step(j) = t {
                todo.push(*j);
            }
        }
    }
    for (i, s) in steps.iter().enumerate() {
        if !seen[i] {
            diags.push(
                file,
                line,
                format!("{at}: step {} can never be reached from the start", s.id),
            );
        }
    }
}
