//! Orders and money: placing an order, asking for payment, crediting payments
//! exactly once, and handing paid orders to the deployer. Every credit goes
//! through [`Orders::apply_payment`], whichever way the money came (the
//! payment watcher, a sandbox pay button, an operator's `/credit`, a rise of
//! a twin's balance), so the components above (`Deposits`, `TopUps`,
//! `TwinBalance`) only find and hand over payments.

use std::sync::Arc;

use super::audit_trail::AuditTrail;
use super::deploy::Deployer;
use super::deposit_route::DepositRoute;
use super::funding::Funding;
use super::intents::GridWork;
use super::memos::Memos;
use super::repo::Repo;
use super::topup_record::TopUpRecords;
use crate::channel::{Outbox, Outgoing};
use crate::clock::Clock;
use crate::command::{Command, OrderAction, RecordKey};
use crate::crypto::Sealed;
use crate::dialogue::{Button, Engine, OrderDraft};
use crate::ids::UserId;
use crate::ledger::CreditOutcome;
use crate::metrics::Metrics;
use crate::money::Tft;
use crate::payments::Wallet;
use crate::payments::sandbox::{Paid, SandboxWallet};
use crate::payments::{
    IncomingPayment, MemoStyle, PaymentRequest, is_issued_memo, new_memo, twin_memo,
};
use crate::user::{self, NodeMint, NodeState, Order, OrderState};

fn random_token(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bytes = vec![0u8; len];
    if getrandom::getrandom(&mut bytes).is_err() {
        // Fall back to the time: uniqueness here only needs to hold per user.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        bytes
            .iter_mut()
            .enumerate()
            .for_each(|(i, b)| *b = (nanos >> (i % 4 * 8)) as u8 ^ i as u8);
    }
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % 32] as char)
        .collect()
}

/// New nodes' random parts from the system's randomness, their secrets
/// sealed by the repository.
struct ShellMint<'a>(&'a super::repo::Repo);

impl NodeMint for ShellMint<'_> {
    fn pick(&mut self, n: usize) -> usize {
        let mut b = [0u8; 4];
        let _ = getrandom::getrandom(&mut b);
        u32::from_le_bytes(b) as usize % n.max(1)
    }

    fn password(&mut self, length: usize) -> String {
        random_token(length)
    }

    fn seed(&mut self) -> Option<[u8; 32]> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed).ok().map(|()| seed)
    }

    fn seal(&self, plain: &str) -> Sealed {
        self.0.seal_secret(plain)
    }
}

/// Places orders and takes their payments: payment requests and their QR,
/// the sandbox's pay buttons, crediting a payment once and handing a
/// covered order to the deployer, cancelling.
pub struct Orders {
    engine: Arc<Engine>,
    repo: Arc<Repo>,
    deployer: Arc<Deployer>,
    grid_work: Arc<GridWork>,
    funding: Arc<Funding>,
    wallet: Arc<dyn Wallet>,
    sandbox: Option<Arc<SandboxWallet>>,
    route: Arc<DepositRoute>,
    memos: Arc<Memos>,
    top_ups: Arc<TopUpRecords>,
    outbox: Arc<dyn Outbox>,
    metrics: Metrics,
    audit: Arc<AuditTrail>,
    clock: Arc<dyn Clock>,
    payment_ttl_secs: u64,
}

/// What orders are built from (see `Service::new`).
pub struct OrderHandles {
    pub engine: Arc<Engine>,
    pub repo: Arc<Repo>,
    pub deployer: Arc<Deployer>,
    pub grid_work: Arc<GridWork>,
    pub funding: Arc<Funding>,
    pub wallet: Arc<dyn Wallet>,
    pub sandbox: Option<Arc<SandboxWallet>>,
    pub route: Arc<DepositRoute>,
    pub memos: Arc<Memos>,
    pub top_ups: Arc<TopUpRecords>,
    pub outbox: Arc<dyn Outbox>,
    pub metrics: Metrics,
    pub audit: Arc<AuditTrail>,
    pub clock: Arc<dyn Clock>,
    /// How long a payment request stays valid.
    pub payment_ttl_secs: u64,
}

impl Orders {
    pub fn new(h: OrderHandles) -> Orders {
        Orders {
            engine: h.engine,
            repo: h.repo,
            deployer: h.deployer,
            grid_work: h.grid_work,
            funding: h.funding,
            wallet: h.wallet,
            sandbox: h.sandbox,
            route: h.route,
            memos: h.memos,
            top_ups: h.top_ups,
            outbox: h.outbox,
            metrics: h.metrics,
            audit: h.audit,
            clock: h.clock,
            payment_ttl_secs: h.payment_ttl_secs,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Creates the order (once per confirmation: a redelivered confirm finds
    /// the order it already made), then asks for payment or deploys. A new
    /// order is refused with the `maintenance` message when there is one.
    pub async fn place(
        &self,
        user: &UserId,
        draft: OrderDraft,
        seq: u32,
        maintenance: Option<String>,
    ) -> anyhow::Result<()> {
        self.place_keyed(user, draft, &format!("o{seq}"), maintenance)
            .await
    }

    /// [`Orders::place`] for a confirmation named by `key` (the chat's
    /// `o<seq>`, the website form's `w<token>`): the order's id starts with
    /// `<key>-`, and a second confirmation with the same key finds it.
    pub async fn place_keyed(
        &self,
        user: &UserId,
        draft: OrderDraft,
        key: &str,
        maintenance: Option<String>,
    ) -> anyhow::Result<()> {
        let now = self.now();
        let mut orders = self.repo.load_orders(user)?;
        let order_id = format!("{key}-{}", random_token(6));
        if let Some(existing) = orders
            .orders
            .iter()
            .find(|o| o.id.starts_with(&format!("{key}-")))
        {
            let existing = existing.clone();
            return self.continue_order(user, &existing).await;
        }
        if let Some(text) = maintenance {
            self.outbox.say(user, text).await;
            return Ok(());
        }
        let Some((_, nt)) = self
            .engine
            .catalog()
            .node_type(&draft.chain, &draft.node_type)
        else {
            self.outbox
                .say(
                    user,
                    "That node type is no longer offered. Please start again with /deploy.",
                )
                .await;
            return Ok(());
        };
        let nt = nt.clone();
        let mut nodes = self.repo.load_nodes(user)?;
        let price = self.engine.prices().per_hour(&nt.capacity(draft.ipv4));
        let mut mint = ShellMint(&self.repo);
        let ordered = user::ordered_nodes(
            &draft,
            &nt,
            &order_id,
            price,
            &nodes.used_names,
            now,
            &mut mint,
        )?;
        let mut names = Vec::new();
        for node in ordered {
            self.audit.record(
                user.as_str(),
                Some(user),
                "node.ordered",
                Some(&node.name),
                format!("{}/{} in order {order_id}", draft.chain, draft.node_type),
            );
            nodes.used_names.push(node.name.clone());
            names.push(node.name.clone());
            nodes.nodes.push(node);
        }
        let order = Order {
            id: order_id,
            state: OrderState::AwaitingPayment,
            chain: draft.chain.clone(),
            node_type: draft.node_type.clone(),
            nodes: names,
            period: draft.period,
            price_per_node_month: draft.price_per_node_month,
            total: draft.total,
            payment: None,
            created_at: now,
        };
        // Nodes first: an order never refers to node records that do not exist.
        self.repo.save_nodes(user, &nodes)?;
        orders.orders.push(order.clone());
        self.repo.save_orders(user, &orders)?;
        tracing::info!(user = %user, order = %order.id, nodes = order.nodes.len(), total = %order.total, "order placed");
        self.continue_order(user, &order).await
    }

    /// Moves an order forward: deploy when the balance covers it, otherwise
    /// show (or re-show) its payment request.
    async fn continue_order(&self, user: &UserId, order: &Order) -> anyhow::Result<()> {
        if order.state != OrderState::AwaitingPayment {
            return Ok(());
        }
        let balance = self
            .repo
            .load_profile(user)?
            .map(|p| p.account.balance)
            .unwrap_or_default();
        if balance >= order.total {
            return self.deployer.start_deploy(user, &order.id).await;
        }
        let due = order.total.saturating_sub(balance);
        let asked = due.saturating_add(self.wallet.deposit_fee());
        let now = self.now();
        let mut orders = self.repo.load_orders(user)?;
        let Some(stored) = orders.get_mut(&order.id) else {
            return Ok(());
        };
        let reuse = stored
            .payment
            .as_ref()
            .is_some_and(|p| !p.is_expired(now) && p.amount == asked);
        if !reuse {
            let request = self
                .new_payment_request(user, due, &format!("Jukebox order {}", order.id), &order.id)
                .await?;
            stored.payment = Some(request);
            self.repo.save_orders(user, &orders)?;
        }
        let Some(request) = orders.get(&order.id).and_then(|o| o.payment.clone()) else {
            return Ok(());
        };
        self.show_payment_request(user, &order.id, &request, balance)
            .await
    }

    /// A request for `amount` (plus the deposit route's fee) with a memo
    /// the wallet's style asks for, indexed so the payment finds its user
    /// and what it pays (`order`: an order id, or top-ups). The bridge's
    /// memo names the user's twin, which is registered here if it is not
    /// yet. The caller holds the user's lock.
    pub async fn new_payment_request(
        &self,
        user: &UserId,
        amount: Tft,
        note: &str,
        order: &str,
    ) -> anyhow::Result<PaymentRequest> {
        let memo = match self.wallet.memo_style() {
            MemoStyle::PerRequest => new_memo()?,
            MemoStyle::Twin => match self.grid_work.twin_locked(user).await? {
                Ok((twin, _)) => twin_memo(twin),
                Err(e) => anyhow::bail!(
                    "your identity could not be registered on TFChain to receive payments ({}); try again in a few minutes",
                    crate::lifecycle::not_deployed::grid_words(&e)
                ),
            },
        };
        let request = PaymentRequest::new(
            self.wallet.as_ref(),
            user.clone(),
            memo,
            amount.saturating_add(self.wallet.deposit_fee()),
            note,
            self.now(),
            self.payment_ttl_secs,
        )?;
        self.memos.index(&request.memo, user, order)?;
        self.route.await_deposit(user, request.expires_at);
        self.metrics.payment_request();
        self.audit.record(
            user.as_str(),
            Some(user),
            "payment.requested",
            None,
            format!("{amount} for {order}, memo {}", request.memo),
        );
        Ok(request)
    }

    async fn show_payment_request(
        &self,
        user: &UserId,
        order_id: &str,
        request: &PaymentRequest,
        balance: Tft,
    ) -> anyhow::Result<()> {
        let mut buttons = vec![];
        // Order ids are short (`o<seq>-<6>`); one that did not fit would go
        // without buttons rather than with broken ones.
        if let Some(order) = RecordKey::new(order_id) {
            let button = |action, label: &str| {
                Command::Order {
                    action,
                    order: order.clone(),
                }
                .button(label)
            };
            if self.sandbox.is_some() {
                buttons.push(vec![button(OrderAction::Pay, "Pay with sandbox wallet")]);
            }
            buttons.push(vec![button(OrderAction::Cancel, "Cancel order")]);
        }
        let mut intro = format!(
            "Scan with the ThreeFold Connect app to pay {} (your balance {} counts toward the order).",
            request.amount, balance
        );
        intro.push_str(&self.route.note());
        self.show_qr(user, request, intro, buttons).await
    }

    /// Shows a payment request: the QR (the ThreeFold Connect `TFT:` link),
    /// where to send, the memo, and the SEP-0007 link for other wallets.
    pub async fn show_qr(
        &self,
        user: &UserId,
        request: &PaymentRequest,
        intro: String,
        buttons: Vec<Vec<Button>>,
    ) -> anyhow::Result<()> {
        let uri = request.tft_uri();
        let (png, text_fallback) = crate::qr::render(uri).await?;
        let minutes = request.expires_at.saturating_sub(self.now()) / 60;
        let caption = format!(
            "{intro}\n\nTo: {}\nMemo: {} (required)\nValid for {minutes} minutes.",
            request.address, request.memo
        );
        self.outbox
            .send(
                user,
                Outgoing::Image {
                    png,
                    text_fallback,
                    caption,
                    buttons,
                },
            )
            .await;
        let mut details = format!(
            "Other Stellar wallets can use this payment link (SEP-0007):\n{}",
            request.sep7_uri()
        );
        if self.sandbox.is_some() {
            details.push_str(
                "\n\nSANDBOX: this is a simulated wallet, no real TFT moves. Press \"Pay with sandbox wallet\", or send /sandboxpay <amount> to simulate a partial payment.",
            );
        }
        self.outbox.say(user, details).await;
        Ok(())
    }

    /// A button of a payment request, naming one of the user's orders.
    pub async fn button(
        &self,
        user: &UserId,
        kind: OrderAction,
        order_id: &str,
    ) -> anyhow::Result<()> {
        // The order is looked up among this user's own orders only, so a
        // forged button naming someone else's order finds nothing.
        let orders = self.repo.load_orders(user)?;
        let Some(order) = orders.get(order_id).cloned() else {
            self.outbox
                .say(
                    user,
                    "That order does not exist (or is not yours). Send /list to see your nodes.",
                )
                .await;
            return Ok(());
        };
        if order.state != OrderState::AwaitingPayment {
            let what = match order.state {
                OrderState::Cancelled => "was cancelled",
                _ => "is already paid",
            };
            self.outbox
                .say(
                    user,
                    format!("Order {} {what}. Send /list to see your nodes.", order.id),
                )
                .await;
            return Ok(());
        }
        match kind {
            OrderAction::Pay => {
                let Some(request) = order.payment.clone() else {
                    return self.continue_order(user, &order).await;
                };
                if request.is_expired(self.now()) {
                    self.outbox.send(
                        user,
                        Outgoing::Message(crate::dialogue::Message {
                            text: "That payment request has expired; nothing was paid. Press below for a fresh one.".into(),
                            buttons: RecordKey::new(&order.id)
                                .map(|order| vec![vec![Command::Order { action: OrderAction::NewRequest, order }.button("New payment request")]])
                                .unwrap_or_default(),
                        }),
                    )
                    .await;
                    return Ok(());
                }
                self.pay_request_once(user, &request, &format!("Order {}", order.id))
                    .await?;
            }
            OrderAction::Cancel => self.cancel_order(user, &order.id).await?,
            OrderAction::NewRequest => self.continue_order(user, &order).await?,
        }
        Ok(())
    }

    /// `/sandboxpay <amount>`: pays part of the latest open order, to try
    /// partial payments without a real wallet.
    pub async fn sandbox_pay_command(
        &self,
        user: &UserId,
        arg: Option<&str>,
        input_id: Option<u64>,
    ) -> anyhow::Result<()> {
        let amount = match arg.map(str::parse::<Tft>) {
            Some(Ok(a)) if a.is_positive() => a,
            _ => {
                self.outbox.say(user, "Send /sandboxpay <amount>, e.g. /sandboxpay 12.5, while an order waits for payment.").await;
                return Ok(());
            }
        };
        let orders = self.repo.load_orders(user)?;
        let open = orders
            .orders
            .iter()
            .rev()
            .find(|o| o.state == OrderState::AwaitingPayment && o.payment.is_some());
        let Some(request) = open.and_then(|o| o.payment.clone()) else {
            self.outbox
                .say(
                    user,
                    "No order is waiting for payment. Send /deploy to place one.",
                )
                .await;
            return Ok(());
        };
        // A replayed command (same input id, after a crash) pays nothing new.
        let key = input_id.map(|id| format!("input:{user}:{id}"));
        match self
            .sandbox_pay(user, &request.memo, amount, key.as_deref())
            .await?
        {
            Some(Paid::New(payment) | Paid::Before(payment)) => {
                self.apply_payment(user, &payment).await
            }
            None => Ok(()),
        }
    }

    /// Credits one incoming payment to the user whose memo it carries, once,
    /// then moves the paid order on. The caller holds the user's lock.
    pub async fn apply_payment(
        &self,
        user: &UserId,
        payment: &IncomingPayment,
    ) -> anyhow::Result<()> {
        let now = self.now();
        let Some(mut profile) = self.repo.load_profile(user)? else {
            return Ok(());
        };
        let outcome = profile.account.credit(
            &payment.id,
            payment.amount,
            &format!("payment {}", payment.id),
            now,
        );
        if outcome == CreditOutcome::AlreadyCredited {
            // Re-delivered (after a crash, say): credited before, so only
            // finish what may have been cut short, an order it covered.
            return self.resume_covered_order(user, payment).await;
        }
        self.repo.save_profile(&profile)?;
        self.metrics.payment_received();
        self.audit.record(
            super::audit_trail::SYSTEM,
            Some(user),
            "payment.credited",
            None,
            format!(
                "{} (payment {}, memo {})",
                payment.amount,
                payment.id,
                payment.memo.as_deref().unwrap_or("none")
            ),
        );
        tracing::info!(user = %user, payment = %payment.id, amount = %payment.amount, "payment credited");
        let memo = payment.memo.as_deref().filter(|m| is_issued_memo(m));
        let memo_order = self.memos.find(memo)?.map(|m| m.order);
        // A payment may be seen late (Horizon down), so when it was made
        // decides; the sandbox stamps its payments with the service's clock.
        let paid_at = match payment.received_at {
            0 => now,
            at => at.min(now),
        };
        let orders = self.repo.load_orders(user)?;
        let order = memo_order.as_deref().and_then(|id| orders.get(id).cloned());
        let balance = profile.account.balance;
        match order {
            Some(order) if order.state == OrderState::AwaitingPayment => {
                let expired = order
                    .payment
                    .as_ref()
                    .is_some_and(|p| Some(p.memo.as_str()) == memo && p.is_expired(paid_at));
                if balance >= order.total {
                    let text = if expired {
                        format!(
                            "Received {} after its payment request had expired; it is in your balance, now {balance}, which covers order {}, so it deploys now.",
                            payment.amount, order.id
                        )
                    } else {
                        format!(
                            "Received {}. Thank you! Your balance is now {balance}.",
                            payment.amount
                        )
                    };
                    self.outbox.say(user, text).await;
                    self.deployer.start_deploy(user, &order.id).await?;
                } else if expired {
                    self.outbox.say(user, format!("Received {} after the payment request expired; it is in your balance ({balance}).", payment.amount)).await;
                } else {
                    self.outbox
                        .say(
                            user,
                            format!(
                                "Received {}, thank you. {} is still missing for this order.",
                                payment.amount,
                                order.total.saturating_sub(balance)
                            ),
                        )
                        .await;
                    self.continue_order(user, &order).await?;
                }
            }
            _ => {
                let late = match (memo, memo_order.as_deref()) {
                    (Some(memo), Some(super::topup_record::TOP_UP_ORDER)) => self
                        .top_ups
                        .request(user, memo)?
                        .is_some_and(|r| r.is_expired(paid_at)),
                    _ => false,
                };
                let when = if late {
                    " after its payment request had expired"
                } else {
                    ""
                };
                self.outbox
                    .say(
                        user,
                        format!(
                            "Received {}{when}; it is in your balance, now {balance}.",
                            payment.amount
                        ),
                    )
                    .await;
            }
        }
        // New money may end a grace period (or re-arm reminders). A top-up
        // for a period funded every node for it: no reminder repeats that.
        if let Some(mut profile) = self.repo.load_profile(user)? {
            if let (Some(memo), Some(super::topup_record::TOP_UP_ORDER)) =
                (memo, memo_order.as_deref())
                && let Some(period) = self.top_ups.period(user, memo)?
            {
                profile.funding.paid_for(period);
                self.repo.save_profile(&profile)?;
            }
            let mut nodes = self.repo.load_nodes(user)?;
            self.funding.review(user, &mut profile, &mut nodes).await?;
        }
        Ok(())
    }

    async fn cancel_order(&self, user: &UserId, order_id: &str) -> anyhow::Result<()> {
        let mut orders = self.repo.load_orders(user)?;
        let Some(order) = orders.get_mut(order_id) else {
            return Ok(());
        };
        order.state = OrderState::Cancelled;
        self.audit.record(
            user.as_str(),
            Some(user),
            "order.cancelled",
            None,
            format!("order {order_id}; its pending nodes were removed"),
        );
        let names = order.nodes.clone();
        self.repo.save_orders(user, &orders)?;
        let mut nodes = self.repo.load_nodes(user)?;
        nodes
            .nodes
            .retain(|n| !(names.contains(&n.name) && n.state == NodeState::Pending));
        self.repo.save_nodes(user, &nodes)?;
        self.outbox
            .send(
                user,
                Outgoing::Answered {
                    answer: "Order cancelled".into(),
                },
            )
            .await;
        self.outbox.say(user, "Order cancelled. Nothing was deployed; anything you paid stays in your balance (/balance).").await;
        Ok(())
    }
    /// Deploys the order `payment`'s memo pays if it still waits although
    /// the balance covers it (a crash came between the credit and the
    /// deployment). Says nothing otherwise.
    async fn resume_covered_order(
        &self,
        user: &UserId,
        payment: &IncomingPayment,
    ) -> anyhow::Result<()> {
        let Some(index) = self.memos.find(payment.memo.as_deref())? else {
            return Ok(());
        };
        let Some(order) = self.repo.load_orders(user)?.get(&index.order).cloned() else {
            return Ok(());
        };
        let balance = self
            .repo
            .load_profile(user)?
            .map(|p| p.account.balance)
            .unwrap_or_default();
        if order.state == OrderState::AwaitingPayment && balance >= order.total {
            self.deployer.start_deploy(user, &order.id).await?;
        }
        Ok(())
    }

    /// Pays `amount` with memo `memo` from the sandbox wallet (a
    /// simulation), at most once per `key` when one is given. With a real
    /// wallet there is nothing to press: the user is told how to pay, and
    /// `None` comes back.
    async fn sandbox_pay(
        &self,
        user: &UserId,
        memo: &str,
        amount: Tft,
        key: Option<&str>,
    ) -> anyhow::Result<Option<Paid>> {
        let Some(sandbox) = &self.sandbox else {
            self.outbox.say(
                user,
                "Payments here are real TFT on Stellar: scan the QR code with the ThreeFold Connect app (or use the payment link). There is no sandbox wallet.",
            )
            .await;
            return Ok(None);
        };
        let from = "sandbox-user-wallet";
        Ok(Some(match key {
            Some(key) => {
                sandbox
                    .pay_once(key, memo, amount, from, self.now())
                    .await?
            }
            None => Paid::New(sandbox.pay(memo, amount, from, self.now()).await?),
        }))
    }

    /// The "Pay with sandbox wallet" button of a payment request (`what`
    /// names it for the user: "Order o3-abc", "That top-up"): pays the whole
    /// request at most once, however often it is pressed, replayed after a
    /// crash or pressed again after a restart. The payment is keyed by the
    /// request's memo in the sandbox's journal, which is durable before the
    /// payment counts anywhere, so a press that finds its key paid before
    /// only finishes what that payment started: the credit (once, by
    /// payment id) if a crash came before it, and a covered order's
    /// deployment. The caller holds the user's lock.
    pub async fn pay_request_once(
        &self,
        user: &UserId,
        request: &PaymentRequest,
        what: &str,
    ) -> anyhow::Result<()> {
        let key = format!("request:{}", request.memo);
        let Some(paid) = self
            .sandbox_pay(user, &request.memo, request.amount, Some(&key))
            .await?
        else {
            return Ok(());
        };
        let payment = match paid {
            Paid::New(payment) => payment,
            Paid::Before(payment) => {
                let credited = self
                    .repo
                    .load_profile(user)?
                    .is_some_and(|p| p.account.has_credited(&payment.id));
                if credited {
                    tracing::info!(user = %user, payment = %payment.id, "a payment request was pressed again; already paid");
                    self.outbox
                        .say(
                            user,
                            format!(
                                "{what} is already paid ({} received); nothing more was taken.",
                                payment.amount
                            ),
                        )
                        .await;
                }
                payment
            }
        };
        self.apply_payment(user, &payment).await
    }
}
