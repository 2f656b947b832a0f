//! The order: building the action the service runs, and the summary and
//! template values shown before Confirm.

use super::Turn;
use crate::catalog::NodeType;
use crate::dialogue::render::render;
use crate::dialogue::{Action, Answer, OrderDraft};
use crate::lifecycle::{Plan, utc_datetime};
use crate::model::Placement;
use crate::money::Tft;
use crate::pricing::FundingPeriod;

impl Turn<'_> {
    pub(super) fn build_action(
        &self,
        kind: crate::dialogue::script::ActionKind,
        answers: Option<&std::collections::BTreeMap<String, Answer>>,
        arg: Option<String>,
    ) -> Option<Action> {
        use crate::dialogue::script::ActionKind as K;
        let get = |k: &str| answers.and_then(|a| a.get(k)).map(|a| a.value.clone());
        Some(match kind {
            K::ListNodes => Action::ListNodes,
            K::ShowBalance => Action::ShowBalance,
            K::ShowStatus => Action::ShowStatus { node: get("node")? },
            K::DeleteNode => Action::DeleteNode { node: get("node")? },
            K::RedeployNode => Action::RedeployNode { node: get("node")? },
            K::PlaceOrder => Action::PlaceOrder(self.order_draft()?),
            K::TopUp => Action::TopUp { arg },
            K::SetAutoheal => Action::SetAutoheal {
                node: get("node")?,
                on: get("autoheal")? == "on",
            },
            K::SetMute => Action::SetMute { what: get("mute")? },
            K::LinkAccount => Action::LinkAccount,
            K::SetSettings => {
                let (_, nt) = self.selected()?;
                let settings = nt
                    .settings
                    .iter()
                    .filter(|s| s.optional)
                    .filter_map(|s| {
                        answers?
                            .get(&format!("setting.{}", s.key))
                            .map(|a| (s.key.clone(), a.value.clone()))
                    })
                    .collect();
                Action::SetSettings {
                    node: get("node")?,
                    settings,
                }
            }
        })
    }

    pub(super) fn placement(&self) -> Placement {
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

    pub(super) fn order_draft(&self) -> Option<OrderDraft> {
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
        // Every required setting is answered; an optional one only if given.
        if nt
            .settings
            .iter()
            .any(|s| !s.optional && !settings.contains_key(&s.key))
        {
            return None;
        }
        let per_node_hour = self.engine.prices.per_hour(&capacity);
        let plan = self.plan(per_node_hour, count, period)?;
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
            total: plan.needed,
        })
    }

    /// The one funding rule applied to this order: `count` new nodes at
    /// `per_node_hour` join the user's nodes, and the period funds them all.
    pub(super) fn plan(
        &self,
        per_node_hour: Tft,
        count: u32,
        period: FundingPeriod,
    ) -> Option<Plan> {
        Some(Plan::new(
            self.env.balance,
            self.env.burn_per_hour,
            per_node_hour.saturating_mul(i64::from(count)),
            period.hours(),
            self.now,
        ))
    }

    pub(super) fn render(&self, text: &str) -> String {
        render(text, &|name| self.value(name))
    }

    pub(super) fn value(&self, name: &str) -> String {
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
            "with_ipv4" => {
                if self.wants_ipv4() {
                    " with a public IPv4".into()
                } else {
                    String::new()
                }
            }
            // The name alone: the button label also carries the node's state.
            "node" => self.answer("node").unwrap_or_default(),
            "max_nodes" => self.max_count().to_string(),
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

    pub(super) fn order_summary(&self) -> String {
        self.summary_lines()
            .unwrap_or_else(|| "Your order is incomplete; please start again with /deploy.".into())
    }

    fn summary_lines(&self) -> Option<String> {
        let (draft, (_, nt)) = (self.order_draft()?, self.selected()?);
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
        // Kept settings (a dashboard API key) are given after the deploy.
        for s in nt.settings.iter().filter(|s| !s.is_kept()) {
            let shown = flow
                .and_then(|f| f.answers.get(&format!("setting.{}", s.key)))
                .map(|a| a.label.clone());
            match shown {
                Some(shown) => lines.push(format!("• {}: {shown}", s.label)),
                // The pair is one thing to the user: one line when skipped.
                None if s.optional && s.validate.of_key().is_some() => {}
                None if s.optional => lines.push(format!("• {}: none (optional)", s.label)),
                None => lines.push(format!("• {}: ", s.label)),
            }
        }
        lines.push(format!(
            "• SSH key: {}",
            draft
                .ssh_key
                .as_deref()
                .map(short_key)
                .unwrap_or_else(|| "none".into())
        ));
        let (count, per_node_hour) = self.order_basis()?;
        let plan = self.plan(per_node_hour, count, draft.period)?;
        lines.push(format!(
            "• Funded for: {}, all your nodes together, until {}",
            draft.period.label(),
            utc_datetime(plan.until)
        ));
        lines.push(String::new());
        lines.push(format!(
            "Price: {} per node per month",
            draft.price_per_node_month
        ));
        let per_day = |t: Tft| t.saturating_mul(24);
        if plan.burn_before.is_positive() {
            lines.push(format!(
                "All your nodes: {} per day now, {} per day with this order",
                per_day(plan.burn_before),
                per_day(plan.burn_after)
            ));
        }
        lines.push(format!(
            "Needed for {} of all your nodes: {}",
            draft.period.label(),
            plan.needed
        ));
        lines.push(format!("Your balance: {}", self.env.balance));
        lines.push(format!("To pay now: {}", plan.to_pay));
        if plan.shortens()
            && let Some(before) = plan.until_before
        {
            lines.push(String::new());
            lines.push(format!(
                "⚠ This order shortens how long your running nodes are funded: from {} to {}. Press « Back to choose a longer period.",
                utc_datetime(before),
                utc_datetime(plan.until)
            ));
        }
        lines.push(String::new());
        lines.push("Press Confirm to place the order.".into());
        Some(lines.join("\n"))
    }
}

/// "2 vCPU, 4 GiB RAM, 50 GiB SSD": a node type's resources in words
/// (the order summary's, and the website catalog's).
pub fn describe_resources(nt: &NodeType) -> String {
    let r = &nt.resources;
    let memory = if r.memory_mib.is_multiple_of(1024) {
        format!("{} GiB", r.memory_mib / 1024)
    } else {
        format!("{} MiB", r.memory_mib)
    };
    format!("{} vCPU, {memory} RAM, {} GiB SSD", r.cpu, r.disk_gib)
}

/// `ssh-ed25519 AAAA…xyz9 comment` for summaries.
pub(super) fn short_key(key: &str) -> String {
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
