//! The website's deploy form (`DeployForms`): its fields and a check of the
//! answers, both from the conversation engine (`Engine::deploy_form`,
//! `Engine::check_form`, which feed the answers through the chat's own
//! step function), the places with room from the grid as the chat loads
//! them, and placing the checked order through [`Orders::place_keyed`], the
//! chat's Confirm. Nothing here decides what is valid or what it costs.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::orders::Orders;
use super::repo::Repo;
use crate::clock::Clock;
use crate::dialogue::{Engine, Env, FormCheck, FormField};
use crate::grid::Grid;
use crate::ids::UserId;
use crate::model::{Locations, PaymentRequest};
use crate::money::Tft;
use crate::user::view::{node_briefs, state_word};
use crate::user::{NodeState, Order};

/// A form's one-time key: its orders are `w<key>-…`, so the same form
/// posted twice finds the order it placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FormKey(String);

impl FormKey {
    const LEN: usize = 12;

    /// A fresh key for a new form.
    pub fn random() -> FormKey {
        let mut bytes = [0u8; FormKey::LEN];
        // Without randomness the time still makes keys differ per user.
        if getrandom::getrandom(&mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            bytes
                .iter_mut()
                .enumerate()
                .for_each(|(i, b)| *b = (nanos >> (i % 16 * 8)) as u8);
        }
        const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
        FormKey(
            bytes
                .iter()
                .map(|b| ALPHABET[usize::from(*b) % 32] as char)
                .collect(),
        )
    }

    /// A key a page sent back; `None` unless it is one [`FormKey::random`]
    /// could have made.
    pub fn parse(text: &str) -> Option<FormKey> {
        (text.len() == FormKey::LEN
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase()))
        .then(|| FormKey(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn prefix(&self) -> String {
        format!("w{}", self.0)
    }
}

/// A deploy form for one node type: its fields (with the choices the
/// engine offered for these answers) and what the engine made of them.
#[derive(Clone, Debug)]
pub struct DeployFormView {
    pub fields: Vec<FormField>,
    pub check: FormCheck,
}

/// What placing a form's order came to.
#[derive(Debug)]
pub enum Placed {
    /// A new order.
    New(String),
    /// This form placed that order before (posted again).
    Before(String),
    /// Not placed: the answers are incomplete or refused (see the check).
    NotPlaced(Box<DeployFormView>),
    /// Not placed: the price or plan is no longer the one the form showed.
    Changed(Box<DeployFormView>),
    /// Not placed: new deployments are paused (the maintenance words).
    Refused(String),
}

/// One of the user's orders as the deploy form's later steps show it.
#[derive(Clone, Debug)]
pub struct FormOrder {
    pub order: Order,
    pub payment: Option<PaymentRequest>,
    /// (name, state word, running).
    pub nodes: Vec<(String, &'static str, bool)>,
    pub balance: Tft,
}

pub struct DeployForms {
    engine: Arc<Engine>,
    repo: Arc<Repo>,
    orders: Arc<Orders>,
    grid: Arc<dyn Grid>,
    clock: Arc<dyn Clock>,
}

impl DeployForms {
    pub fn new(
        engine: Arc<Engine>,
        repo: Arc<Repo>,
        orders: Arc<Orders>,
        grid: Arc<dyn Grid>,
        clock: Arc<dyn Clock>,
    ) -> DeployForms {
        DeployForms {
            engine,
            repo,
            orders,
            grid,
            clock,
        }
    }

    /// The form for `chain`/`node_type` with `answers` checked, as `user`
    /// (their balance and nodes price the order as in the chat); `None`
    /// when there is no such node type.
    pub async fn view(
        &self,
        user: &UserId,
        chain: &str,
        node_type: &str,
        answers: &BTreeMap<String, String>,
    ) -> anyhow::Result<Option<DeployFormView>> {
        self.view_with(user, chain, node_type, answers, true).await
    }

    /// [`DeployForms::view`] for the live summary, sent as answers change:
    /// the grid is asked for places with room only when these answers
    /// pick a country or farm, not to fill the pickers.
    pub async fn quote(
        &self,
        user: &UserId,
        chain: &str,
        node_type: &str,
        answers: &BTreeMap<String, String>,
    ) -> anyhow::Result<Option<DeployFormView>> {
        self.view_with(user, chain, node_type, answers, false).await
    }

    async fn view_with(
        &self,
        user: &UserId,
        chain: &str,
        node_type: &str,
        answers: &BTreeMap<String, String>,
        pickers: bool,
    ) -> anyhow::Result<Option<DeployFormView>> {
        let now = self.clock.now();
        // The chat's Env, read as `Service::handle` reads it.
        let balance = self
            .repo
            .load_profile(user)?
            .map(|p| p.account.balance)
            .unwrap_or_default();
        let nodes = self.repo.load_nodes(user)?;
        let briefs = node_briefs(&nodes);
        let env = Env {
            balance,
            burn_per_hour: nodes.burn_per_hour(&self.repo.load_orders(user)?),
            nodes: &briefs,
        };
        let engine = &self.engine;
        let mut check = engine.check_form(chain, node_type, answers, &env, None, now);
        // The pickers show the places with room for this order, loaded
        // as the chat loads them when a country or farm is asked.
        let need = check.needs_locations.clone().or_else(|| {
            pickers
                .then(|| engine.form_location_need(chain, node_type, answers))
                .flatten()
        });
        let mut locations: Option<Locations> = None;
        if let Some(need) = need {
            match self.grid.locations(&need).await {
                Ok(found) => locations = Some(found),
                Err(e) => {
                    let field = answers.get("location").cloned().unwrap_or_default();
                    check.errors.insert(
                        field,
                        format!("I couldn't look up locations: {e}. Please try again in a minute."),
                    );
                }
            }
        }
        if check.needs_locations.is_some() && locations.is_some() {
            check = engine.check_form(chain, node_type, answers, &env, locations.as_ref(), now);
        }
        let Some(mut fields) = engine.deploy_form(chain, node_type, &env, locations.as_ref(), now)
        else {
            return Ok(None);
        };
        // Where the engine offered choices for these answers (the periods
        // with what each costs now), the form offers the same.
        for field in &mut fields {
            if let Some(choices) = check.choices.get(&field.name)
                && !choices.is_empty()
            {
                field.choices = choices.clone();
            }
        }
        Ok(Some(DeployFormView { fields, check }))
    }

    /// Places the order the form's answers make, once per form `key`, and
    /// only while its price is still `shown` (the quote's token the page
    /// showed next to the button).
    #[expect(
        clippy::too_many_arguments,
        reason = "the form's parts as the web handler has them; the facade passes them on"
    )]
    pub async fn place(
        &self,
        user: &UserId,
        chain: &str,
        node_type: &str,
        answers: &BTreeMap<String, String>,
        key: &FormKey,
        shown: &str,
        maintenance: Option<String>,
    ) -> anyhow::Result<Placed> {
        let _guard = self.repo.lock(user).await;
        let prefix = format!("{}-", key.prefix());
        let placed_before = |repo: &Repo| -> anyhow::Result<Option<String>> {
            Ok(repo
                .load_orders(user)?
                .orders
                .iter()
                .find(|o| o.id.starts_with(&prefix))
                .map(|o| o.id.clone()))
        };
        if let Some(id) = placed_before(&self.repo)? {
            return Ok(Placed::Before(id));
        }
        if let Some(text) = maintenance {
            return Ok(Placed::Refused(text));
        }
        let Some(view) = self.view(user, chain, node_type, answers).await? else {
            return Ok(Placed::Refused(
                "That node type is no longer offered.".to_owned(),
            ));
        };
        let (Some(draft), Some(quote)) = (view.check.draft.clone(), view.check.quote.as_ref())
        else {
            return Ok(Placed::NotPlaced(Box::new(view)));
        };
        if quote.token() != shown {
            return Ok(Placed::Changed(Box::new(view)));
        }
        self.orders
            .place_keyed(user, draft, &key.prefix(), None)
            .await?;
        Ok(match placed_before(&self.repo)? {
            Some(id) => Placed::New(id),
            None => Placed::NotPlaced(Box::new(view)),
        })
    }

    /// `user`'s order `id` with its payment request and nodes; `None` for
    /// an order that is not theirs.
    pub fn order(&self, user: &UserId, id: &str) -> anyhow::Result<Option<FormOrder>> {
        let Some(order) = self.repo.load_orders(user)?.get(id).cloned() else {
            return Ok(None);
        };
        let all = self.repo.load_nodes(user)?;
        let nodes = order
            .nodes
            .iter()
            .filter_map(|name| all.nodes.iter().find(|n| &n.name == name))
            .map(|n| {
                (
                    n.name.clone(),
                    state_word(&n.state),
                    n.state == NodeState::Running,
                )
            })
            .collect();
        let balance = self
            .repo
            .load_profile(user)?
            .map(|p| p.account.balance)
            .unwrap_or_default();
        Ok(Some(FormOrder {
            payment: order.payment.clone(),
            order,
            nodes,
            balance,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::FormKey;

    #[test]
    fn form_keys_are_fresh_and_only_well_formed_ones_are_read_back() {
        let (a, b) = (FormKey::random(), FormKey::random());
        assert_ne!(a, b);
        assert_eq!(FormKey::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.prefix(), format!("w{}", a.as_str()));
        for bad in [
            "",
            "short",
            "UPPERCASE123",
            "abcdefghijk-",
            "abcdefghijklm",
            "ab/defghijkl",
        ] {
            assert_eq!(FormKey::parse(bad), None, "{bad:?}");
        }
    }
}
