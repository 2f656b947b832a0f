//! The service: the imperative shell around the pure conversation engine.
//!
//! For each user input it takes the user's lock, loads their documents, runs
//! the engine, carries out the engine's actions (grid lookups, orders,
//! payments, deployments) and stores the new state durably. Long work
//! (deployments) runs in background tasks that re-take the lock for each
//! state change, so a user can keep chatting meanwhile.

use std::sync::Arc;

use crate::alerts::AlertQueue;
use crate::channel::{Outbox, Outgoing};
use crate::clock::Clock;
use crate::command::{AlertAction, Command};
use crate::config::MonitorConfig;
use crate::crypto::MasterKey;
use crate::dialogue::{Action, Effect, Engine, Env, Input, Loaded, Message};
use crate::grid::Grid;
use crate::grid::sim::SimGrid;
use crate::ids::UserId;
use crate::lifecycle::FundingRules;
use crate::metrics::Metrics;
use crate::payments::Wallet;
use crate::payments::sandbox::SandboxWallet;
use crate::probe::AppProbe;
use crate::store::Store;
use crate::user::view::node_briefs;

mod admin;
mod alerter;
mod alerting;
mod audit_trail;
mod backup_report;
mod barrier;
mod billing;
mod chain_watch;
mod deploy;
mod deploy_form;
mod deposit_route;
mod deposits;
mod faults;
mod funding;
mod intents;
mod keys;
mod memos;
mod monitor;
mod node_status;
mod orders;
mod portal;
mod readiness;
mod reconcile;
mod repo;
mod topup;
mod topup_record;
mod twin_balance;
mod views;
mod watch;
mod web;

pub use crate::user::view::{NodeRow, Overview};
pub use admin::{Dashboard, UserPanel};
pub use chain_watch::ChainSweep;
pub use deploy_form::{DeployFormView, FormKey, FormOrder, Placed};
pub use monitor::SweepReport;
pub use node_status::LinkSweep;
pub use portal::{CatalogEntry, NodeChainDetails, NodeDetails};
pub use reconcile::PassReport;
pub use web::LinkError;

/// Engine steps triggered by one input at most (actions answer with more
/// input, e.g. loaded locations); a guard against a script that loops.
const MAX_ENGINE_ROUNDS: usize = 8;

/// Settings of the service itself, from the config file.
#[derive(Clone, Debug)]
pub struct ServiceSettings {
    pub payment_ttl_secs: u64,
    /// Grid nodes tried per blockchain node before giving up.
    pub deploy_attempts: usize,
    pub funding: FundingRules,
    pub monitor: MonitorConfig,
    /// Who may run operator commands.
    pub operators: Vec<UserId>,
    /// How long a contract no node record references is left alone before
    /// the reconciler cancels it.
    pub orphan_delay_secs: u64,
}

impl Default for ServiceSettings {
    fn default() -> ServiceSettings {
        ServiceSettings {
            payment_ttl_secs: 3600,
            deploy_attempts: 3,
            funding: FundingRules::default(),
            monitor: MonitorConfig::default(),
            operators: Vec::new(),
            orphan_delay_secs: 3600,
        }
    }
}

/// Everything a service is built from (see `app::build`).
pub struct Parts {
    pub engine: Arc<Engine>,
    pub store: Arc<Store>,
    pub master: Arc<MasterKey>,
    pub grid: Arc<dyn Grid>,
    /// Runs the catalog's application health checks.
    pub probe: Arc<dyn AppProbe>,
    /// Reads nodes' chains (the simulated grid answers for its own).
    pub chain_probe: Arc<dyn crate::probe::ChainProbe>,
    /// Reads nodes' status on their network's dashboard (the simulated
    /// grid answers for its own).
    pub node_status_probe: Arc<dyn crate::probe::NodeStatusProbe>,
    /// The embedded grid, when it is the grid in use, for fault injection.
    pub sim: Option<SimGrid>,
    /// Where payments arrive (sandbox or Stellar).
    pub wallet: Arc<dyn Wallet>,
    /// The sandbox wallet, when it is the wallet in use, for its pay buttons.
    pub sandbox: Option<Arc<SandboxWallet>>,
    pub outbox: Arc<dyn Outbox>,
    pub alerts: AlertQueue,
    pub metrics: Metrics,
    pub audit: crate::audit::AuditLog,
    pub clock: Arc<dyn Clock>,
    pub settings: ServiceSettings,
}

/// A service handle that does not keep the service alive (for channels the
/// service itself holds, which would otherwise form a cycle).
#[derive(Clone)]
pub struct WeakService(std::sync::Weak<Inner>);

impl WeakService {
    pub fn upgrade(&self) -> Option<Service> {
        self.0.upgrade().map(|inner| Service { inner })
    }
}

/// Everything the service needs; cheap to clone into background tasks.
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Arc<Engine>,
    /// Users' documents, locks and the watch list (see `repo.rs`).
    repo: Arc<repo::Repo>,
    grid: Arc<dyn Grid>,
    wallet: Arc<dyn Wallet>,
    sandbox: Option<Arc<SandboxWallet>>,
    outbox: Arc<dyn Outbox>,
    /// Raises alerts into the durable queue (see `alerter.rs`).
    alerter: Arc<alerter::Alerter>,
    metrics: Metrics,
    reconciler: Arc<reconcile::Reconciler>,
    /// Deployments and moves, in the background (see `deploy.rs`).
    deployer: Arc<deploy::Deployer>,
    /// Orders and their payments (see `orders.rs`).
    orders: Arc<orders::Orders>,
    /// The ledger following the twins' balances on TFChain (see
    /// `twin_balance.rs`).
    twin_balance: Arc<twin_balance::TwinBalance>,
    /// The hourly billing sweep (see `billing.rs`).
    billing: billing::Billing,
    /// `/topup` and its buttons (see `topup.rs`).
    top_ups: topup::TopUps,
    /// The payment watcher's step and unmatched payments (see
    /// `deposits.rs`).
    deposits: deposits::Deposits,
    /// The monitor's sweep over the watch list (see `monitor.rs`).
    monitor: monitor::Monitor,
    /// /list, /status, /balance, delete, /redeploy, alert buttons (`views.rs`).
    views: views::Views,
    /// /mute and /autoheal (see `alerting.rs`).
    node_settings: alerting::NodeSettings,
    /// `/keys`: optional settings given for an existing node (`keys.rs`).
    keys: keys::NodeKeys,
    /// The chain checks, chain alerts, their mutes and `/fault chain`
    /// (see `chain_watch.rs`).
    chain_watch: Arc<chain_watch::ChainWatch>,
    /// Operator commands, the dashboard's actions, broadcasts (`admin.rs`).
    admin: Arc<admin::Admin>,
    /// Readiness checks and sampled gauges (see `readiness.rs`).
    probes: Arc<readiness::Probes>,
    /// The backup worker's observer (see `backup_report.rs`).
    backups: Arc<backup_report::BackupReporter>,
    clock: Arc<dyn Clock>,
    /// The website's overview, link codes and links (see `web.rs`).
    web_accounts: Arc<web::WebAccounts>,
    /// The portal's read-only views (see `portal.rs`).
    portal: portal::Portal,
    /// The website's deploy form (see `deploy_form.rs`).
    deploy_forms: deploy_form::DeployForms,
}

impl Service {
    pub fn new(mut parts: Parts) -> Service {
        // Every message and every changing grid call waits for the records
        // written before it to be durable (`service/barrier.rs`).
        parts.outbox = Arc::new(barrier::BarrierOutbox::new(
            parts.outbox,
            parts.store.clone(),
        ));
        parts.grid = Arc::new(barrier::BarrierGrid::new(parts.grid, parts.store.clone()));
        let repo = Arc::new(repo::Repo::new(parts.store, parts.master));
        let audit = Arc::new(audit_trail::AuditTrail::new(
            parts.audit,
            parts.clock.clone(),
        ));
        let alerter = Arc::new(alerter::Alerter::new(
            repo.clone(),
            parts.alerts,
            parts.clock.clone(),
            parts.settings.operators.clone(),
        ));
        let grid_work = Arc::new(intents::GridWork::new(
            repo.clone(),
            parts.grid.clone(),
            audit.clone(),
        ));
        let reconciler = Arc::new(reconcile::Reconciler::new(
            repo.clone(),
            parts.grid.clone(),
            grid_work.clone(),
            audit.clone(),
            parts.clock.clone(),
            parts.settings.orphan_delay_secs,
        ));
        let funding = Arc::new(funding::Funding::new(
            repo.clone(),
            parts.grid.clone(),
            grid_work.clone(),
            alerter.clone(),
            audit.clone(),
            parts.clock.clone(),
            parts.settings.funding.clone(),
        ));
        let deployer = Arc::new(deploy::Deployer::new(
            parts.engine.clone(),
            repo.clone(),
            parts.grid.clone(),
            grid_work.clone(),
            audit.clone(),
            parts.outbox.clone(),
            parts.metrics.clone(),
            parts.clock.clone(),
            deploy::DeploySettings {
                attempts: parts.settings.deploy_attempts,
                avoid_failed_secs: parts.settings.monitor.avoid_failed_hours * 3600,
            },
        ));
        let chain_watch = Arc::new(chain_watch::ChainWatch::new(
            parts.engine.clone(),
            repo.clone(),
            parts.chain_probe.clone(),
            alerter.clone(),
            audit.clone(),
            parts.clock.clone(),
            parts.sim.clone(),
            &parts.settings.monitor,
        ));
        let links = Arc::new(node_status::NodeStatusWatch::new(
            parts.engine.clone(),
            repo.clone(),
            parts.node_status_probe.clone(),
            alerter.clone(),
            audit.clone(),
            parts.clock.clone(),
            parts.sim.clone(),
            &parts.settings.monitor,
        ));
        let monitor = monitor::Monitor::new(
            chain_watch.clone(),
            links.clone(),
            parts.engine.clone(),
            repo.clone(),
            parts.grid.clone(),
            parts.probe.clone(),
            alerter.clone(),
            audit.clone(),
            deployer.clone(),
            parts.metrics.clone(),
            parts.clock.clone(),
            parts.settings.monitor.clone(),
        );
        let views = views::Views::new(
            repo.clone(),
            parts.grid.clone(),
            grid_work.clone(),
            funding.clone(),
            deployer.clone(),
            audit.clone(),
            parts.outbox.clone(),
            parts.clock.clone(),
        );
        let node_settings =
            alerting::NodeSettings::new(repo.clone(), chain_watch.clone(), parts.outbox.clone());
        let keys = keys::NodeKeys::new(
            repo.clone(),
            parts.engine.clone(),
            audit.clone(),
            parts.outbox.clone(),
        );
        let faults = Arc::new(faults::Faults::new(
            parts.sim,
            chain_watch.clone(),
            links,
            parts.outbox.clone(),
        ));
        let admin = Arc::new(admin::Admin::new(admin::AdminParts {
            repo: repo.clone(),
            audit: audit.clone(),
            alerter: alerter.clone(),
            reconciler: reconciler.clone(),
            deployer: deployer.clone(),
            faults,
            outbox: parts.outbox.clone(),
            clock: parts.clock.clone(),
            operators: parts.settings.operators.clone(),
        }));
        let web_accounts = Arc::new(web::WebAccounts::new(
            parts.engine.clone(),
            repo.clone(),
            funding.clone(),
            audit.clone(),
            parts.outbox.clone(),
            parts.clock.clone(),
        ));
        let portal = portal::Portal::new(
            parts.engine.clone(),
            repo.clone(),
            audit.clone(),
            web_accounts.clone(),
            parts.clock.clone(),
        );
        let probes = Arc::new(readiness::Probes::new(
            repo.clone(),
            parts.grid.clone(),
            alerter.clone(),
            parts.clock.clone(),
        ));
        let backups = Arc::new(backup_report::BackupReporter::new(
            parts.metrics.clone(),
            alerter.clone(),
            parts.clock.clone(),
        ));
        let deposit_route = Arc::new(deposit_route::DepositRoute::new(parts.wallet.clone()));
        let memos = Arc::new(memos::Memos::new(repo.clone()));
        let top_up_records = Arc::new(topup_record::TopUpRecords::new(repo.clone()));
        let orders = Arc::new(orders::Orders::new(orders::OrderHandles {
            engine: parts.engine.clone(),
            repo: repo.clone(),
            deployer: deployer.clone(),
            grid_work: grid_work.clone(),
            funding: funding.clone(),
            wallet: parts.wallet.clone(),
            sandbox: parts.sandbox.clone(),
            route: deposit_route.clone(),
            memos: memos.clone(),
            top_ups: top_up_records.clone(),
            outbox: parts.outbox.clone(),
            metrics: parts.metrics.clone(),
            audit: audit.clone(),
            clock: parts.clock.clone(),
            payment_ttl_secs: parts.settings.payment_ttl_secs,
        }));
        let twin_balance = Arc::new(twin_balance::TwinBalance::new(
            repo.clone(),
            parts.grid.clone(),
            deposit_route.clone(),
            orders.clone(),
            parts.clock.clone(),
        ));
        let billing = billing::Billing::new(
            repo.clone(),
            deposit_route.clone(),
            twin_balance.clone(),
            funding.clone(),
            parts.clock.clone(),
        );
        let top_ups = topup::TopUps::new(
            repo.clone(),
            orders.clone(),
            top_up_records.clone(),
            deposit_route.clone(),
            parts.outbox.clone(),
            parts.clock.clone(),
            parts.sandbox.is_some(),
        );
        let deposits = deposits::Deposits::new(deposits::DepositHandles {
            repo: repo.clone(),
            wallet: parts.wallet.clone(),
            memos: memos.clone(),
            orders: orders.clone(),
            twin_balance: twin_balance.clone(),
            alerter: alerter.clone(),
            audit: audit.clone(),
            clock: parts.clock.clone(),
        });
        let deploy_forms = deploy_form::DeployForms::new(
            parts.engine.clone(),
            repo.clone(),
            orders.clone(),
            parts.grid.clone(),
            parts.clock.clone(),
        );
        Service {
            inner: Arc::new(Inner {
                engine: parts.engine,
                repo,
                grid: parts.grid,
                wallet: parts.wallet,
                sandbox: parts.sandbox,
                outbox: parts.outbox,
                alerter,
                metrics: parts.metrics,
                reconciler,
                deployer,
                orders,
                twin_balance,
                billing,
                top_ups,
                deposits,
                monitor,
                views,
                node_settings,
                keys,
                chain_watch,
                admin,
                probes,
                backups,
                clock: parts.clock,
                web_accounts,
                portal,
                deploy_forms,
            }),
        }
    }

    /// What the backup worker reports to: metrics and operator alerts.
    pub fn backup_observer(&self) -> Arc<dyn crate::backup::BackupObserver> {
        self.inner.backups.clone()
    }

    /// The durable alert queue (its dispatcher runs under the runner).
    pub fn alerts(&self) -> &AlertQueue {
        self.inner.alerter.queue()
    }

    /// Whether `user` may run operator commands (`admin.operators`).
    pub fn is_operator(&self, user: &UserId) -> bool {
        self.inner.admin.is_operator(user)
    }

    pub fn downgrade(&self) -> WeakService {
        WeakService(Arc::downgrade(&self.inner))
    }

    /// Sends a plain message to a user, outside any conversation.
    pub async fn tell(&self, user: &UserId, text: &str) {
        self.say(user, text).await;
    }

    /// Marks a user who blocked the bot as inactive; alerts skip them until
    /// they write again.
    pub async fn mark_blocked(&self, user: &UserId) {
        let result = self.inner.repo.load_profile(user).and_then(|p| match p {
            Some(mut p) if !p.blocked => {
                p.blocked = true;
                self.inner.repo.save_profile(&p)
            }
            _ => Ok(()),
        });
        if let Err(e) = result {
            tracing::error!(user = %user, error = %format!("{e:#}"), "could not mark a user inactive");
        }
    }

    /// The master key, for a channel that keeps what users typed at rest
    /// (the Telegram inbox seals it).
    pub(crate) fn shared_master_key(&self) -> Arc<MasterKey> {
        self.inner.repo.master().clone()
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    pub fn store(&self) -> &Store {
        self.inner.repo.store()
    }

    /// Which wallet `payments.kind` chose.
    pub fn wallet_kind(&self) -> crate::config::PaymentsKind {
        self.inner.wallet.kind()
    }

    pub fn grid(&self) -> &Arc<dyn Grid> {
        &self.inner.grid
    }

    /// What a user must be told about this Jukebox when it is not real: a
    /// simulated grid (nothing is deployed anywhere) and/or the sandbox
    /// wallet (no TFT moves). `None` when both are real.
    pub fn simulation_notice(&self) -> Option<&'static str> {
        let sim_grid = self.inner.grid.kind() == crate::config::GridKind::Sim;
        let sandbox = self.inner.sandbox.is_some();
        match (sim_grid, sandbox) {
            (true, true) => Some(
                "SIMULATION: the grid here is simulated and the wallet a sandbox. No real node is deployed and no real TFT moves.",
            ),
            (true, false) => {
                Some("SIMULATION: the grid here is simulated. No real node is deployed.")
            }
            (false, true) => Some("SANDBOX: the wallet here is a sandbox. No real TFT moves."),
            (false, false) => None,
        }
    }

    fn now(&self) -> u64 {
        self.inner.clock.now()
    }

    async fn send(&self, user: &UserId, item: Outgoing) {
        self.inner.outbox.send(user, item).await;
    }

    async fn say(&self, user: &UserId, text: impl Into<String>) {
        self.send(user, Outgoing::Message(Message::text(text)))
            .await;
    }

    /// Handles one input from `user`. `input_id`, when the channel has one
    /// (Telegram's update_id), makes redelivered inputs harmless.
    pub async fn handle(
        &self,
        user: &UserId,
        display_name: &str,
        input: Input,
        input_id: Option<u64>,
    ) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        // One wait for the disk per update, at its end (and before each
        // message it sends), not one per record it writes.
        let result = crate::store::deferred(
            self.inner.repo.store(),
            self.handle_locked(user, display_name, input, input_id),
        )
        .await;
        self.inner
            .metrics
            .observe_update(user.channel(), started.elapsed().as_secs_f64());
        result
    }

    /// The process-wide metrics (the ops listener renders them).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    async fn handle_locked(
        &self,
        user: &UserId,
        display_name: &str,
        input: Input,
        input_id: Option<u64>,
    ) -> anyhow::Result<()> {
        let _guard = self.inner.repo.lock(user).await;
        let mut profile = self
            .inner
            .repo
            .load_or_create_profile(user, display_name, self.now())?;
        if profile.blocked {
            // Writing again means they unblocked the bot.
            profile.blocked = false;
            self.inner.repo.save_profile(&profile)?;
        }
        let mut stored = self.inner.repo.load_conversation(user)?;
        if let (Some(id), Some(last)) = (input_id, stored.last_input_id)
            && id <= last
        {
            tracing::debug!(user = %user, input_id = id, "ignoring a redelivered input");
            return Ok(());
        }
        stored.last_seen = self.now();
        if profile.banned {
            self.say(user, "Your account is suspended. Your nodes are not affected; please contact the operator of this Jukebox.").await;
            stored.last_input_id = input_id.or(stored.last_input_id);
            return self.inner.repo.save_conversation(user, &stored);
        }
        // Buttons and commands are read once, here, and dispatched by one match.
        let mut start_or_help = false;
        let input = match Command::from_input(input) {
            Ok(command) => {
                start_or_help = matches!(&command, Command::Script { name, .. } if name == "start" || name == "help");
                match self.dispatch(user, command, input_id).await? {
                    Some(input) => input,
                    None => {
                        stored.last_input_id = input_id.or(stored.last_input_id);
                        return self.inner.repo.save_conversation(user, &stored);
                    }
                }
            }
            Err(input) => input,
        };
        // The only action that feeds the engine again is a location lookup,
        // which changes neither money nor nodes: one read serves every round.
        let nodes = self.inner.repo.load_nodes(user)?;
        let briefs = node_briefs(&nodes);
        // Most steps have no pending node, whose order alone counts: no
        // read of the orders for them.
        let orders = match nodes.burn_needs_orders() {
            true => self.inner.repo.load_orders(user)?,
            false => Default::default(),
        };
        let env = Env {
            balance: profile.account.balance,
            burn_per_hour: nodes.burn_per_hour(&orders),
            nodes: &briefs,
        };
        // /start and /help say when this Jukebox is a simulation.
        let mut notice = if start_or_help {
            self.simulation_notice()
        } else {
            None
        };
        let mut next_input = Some(input);
        let mut rounds = 0;
        while let Some(input) = next_input.take() {
            rounds += 1;
            if rounds > MAX_ENGINE_ROUNDS {
                tracing::error!(user = %user, "conversation engine looped; stopping");
                break;
            }
            let previous_seq = stored.state.seq;
            let (state, effects) = self
                .inner
                .engine
                .step(&stored.state, input, &env, self.now());
            stored.state = state;
            for effect in effects {
                match effect {
                    Effect::Send(mut m) => {
                        if let Some(notice) = notice.take() {
                            m.text = format!("{notice}\n\n{}", m.text);
                        }
                        self.send(user, Outgoing::Message(m)).await
                    }
                    Effect::Answered { answer } => {
                        self.send(user, Outgoing::Answered { answer }).await
                    }
                    Effect::Run(action) => {
                        if let Some(loaded) = self.run_action(user, action, previous_seq).await? {
                            next_input = Some(Input::Loaded(loaded));
                        }
                    }
                }
            }
        }
        stored.last_input_id = input_id.or(stored.last_input_id);
        self.inner.repo.save_conversation(user, &stored)
    }

    async fn run_action(
        &self,
        user: &UserId,
        action: Action,
        seq: u32,
    ) -> anyhow::Result<Option<Loaded>> {
        match action {
            Action::LoadLocations { need } => {
                Ok(Some(match self.inner.grid.locations(&need).await {
                    Ok(locations) => Loaded::Locations(locations),
                    Err(e) => Loaded::Failed(format!("{e}. Please try again in a minute.")),
                }))
            }
            Action::PlaceOrder(draft) => {
                let maintenance = self.maintenance();
                self.inner
                    .orders
                    .place(user, draft, seq, maintenance)
                    .await?;
                Ok(None)
            }
            Action::ListNodes => {
                self.inner.views.list_nodes(user).await?;
                Ok(None)
            }
            Action::ShowBalance => {
                // On the real grid the ledger follows the twin's balance.
                let fresh = self
                    .inner
                    .twin_balance
                    .reconcile_with_grid(user)
                    .await
                    .map(drop);
                self.inner.views.show_balance(user, fresh).await?;
                Ok(None)
            }
            Action::ShowStatus { node } => {
                self.inner.views.show_status(user, &node).await?;
                Ok(None)
            }
            Action::DeleteNode { node } => {
                self.inner.views.delete_node(user, &node).await?;
                Ok(None)
            }
            Action::RedeployNode { node } => {
                self.inner.views.start_redeploy(user, &node).await?;
                Ok(None)
            }
            Action::TopUp { arg } => {
                self.inner.top_ups.top_up(user, arg.as_deref()).await?;
                Ok(None)
            }
            Action::SetAutoheal { node, on } => {
                self.inner
                    .node_settings
                    .set_autoheal(user, &node, on)
                    .await?;
                Ok(None)
            }
            Action::SetMute { what } => {
                self.inner.node_settings.set_mute(user, &what).await?;
                Ok(None)
            }
            Action::LinkAccount => {
                self.inner.web_accounts.link_code(user).await?;
                Ok(None)
            }
            Action::SetSettings { node, settings } => {
                self.inner.keys.set_settings(user, &node, settings).await?;
                Ok(None)
            }
        }
    }

    /// The one dispatch of what channels send besides text: buttons of
    /// payment requests, alerts and broadcasts and the commands not in the
    /// scripts are carried out here; conversation buttons and the scripts'
    /// commands are returned as the engine's input. `None` when handled.
    async fn dispatch(
        &self,
        user: &UserId,
        command: Command,
        input_id: Option<u64>,
    ) -> anyhow::Result<Option<Input>> {
        match command {
            Command::Answer(answer) => return Ok(Some(Input::Answer(Some(answer)))),
            Command::UnknownButton(_) => return Ok(Some(Input::Answer(None))),
            Command::Alert {
                action,
                node,
                outage,
            } => {
                self.inner
                    .views
                    .alert_button(user, action, node.as_str(), outage)
                    .await?
            }
            Command::ChainAlert { action, node, kind } => {
                // A chain alert's buttons act only while the node still
                // shows what the alert was about, as outage alerts' do.
                let name = node.as_str();
                match self.inner.chain_watch.button_applies(user, name, kind)? {
                    Ok(()) => match action {
                        AlertAction::Redeploy => {
                            self.inner.views.start_redeploy(user, name).await?
                        }
                        AlertAction::Status => self.inner.views.show_status(user, name).await?,
                    },
                    Err(why) => {
                        self.send(user, Outgoing::Withdrawn).await;
                        self.say(
                            user,
                            format!(
                                "That alert's button no longer applies: {why}. Nothing was done."
                            ),
                        )
                        .await;
                    }
                }
            }
            Command::TopUp(code) => self.inner.top_ups.top_up_button(user, code).await?,
            Command::PayTopUp { memo } => {
                self.inner.top_ups.pay_top_up(user, memo.as_str()).await?
            }
            Command::Order { action, order } => {
                self.inner
                    .orders
                    .button(user, action, order.as_str())
                    .await?
            }
            // Not an operator: the button means nothing to them.
            Command::Broadcast { send, draft } => {
                if !self.inner.admin.button(user, send, draft).await? {
                    return Ok(Some(Input::Answer(None)));
                }
            }
            Command::SandboxPay { arg } => {
                self.inner
                    .orders
                    .sandbox_pay_command(user, arg.as_deref(), input_id)
                    .await?
            }
            Command::Deploy { arg } => match self.maintenance() {
                Some(text) => self.say(user, text).await,
                None => return Ok(Some(Command::Deploy { arg }.to_input())),
            },
            // Non-operators fall through to the engine's "I don't know".
            Command::Operator { command, arg } => {
                match self
                    .inner
                    .admin
                    .command(user, command, arg.as_deref())
                    .await?
                {
                    admin::Handled::NotOperator => {
                        return Ok(Some(Command::Operator { command, arg }.to_input()));
                    }
                    admin::Handled::Done => {}
                    // Unmatched payments are the money side's (`deposits.rs`).
                    admin::Handled::Unmatched => {
                        let reply = self.unmatched_report()?;
                        self.say(user, reply).await;
                    }
                    admin::Handled::Credit(arg) => {
                        let reply = self.credit_unmatched(user, arg.as_deref()).await?;
                        self.say(user, reply).await;
                    }
                }
            }
            Command::Keys { arg } => return self.inner.keys.keys_command(user, arg).await,
            script @ Command::Script { .. } => return Ok(Some(script.to_input())),
        }
        Ok(None)
    }

    /// The maintenance message when new deployments are refused.
    pub fn maintenance(&self) -> Option<String> {
        self.inner.admin.maintenance()
    }

    /// An operator report for the website, `None` for non-operators.
    pub async fn operator_report(
        &self,
        operator: &UserId,
        name: &str,
        arg: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        self.inner.admin.operator_report(operator, name, arg).await
    }

    /// The operators' dashboard as data (`service/admin/dashboard.rs`),
    /// `None` for non-operators.
    pub async fn operator_dashboard(
        &self,
        operator: &UserId,
        user: Option<&str>,
        nodes: Option<&str>,
    ) -> anyhow::Result<Option<Dashboard>> {
        self.inner.admin.dashboard(operator, user, nodes).await
    }

    /// The maintenance switch from the website's dashboard (as
    /// `/maintenance on|off [message]`); `None` for non-operators.
    pub async fn switch_maintenance(
        &self,
        operator: &UserId,
        arg: &str,
    ) -> anyhow::Result<Option<String>> {
        self.inner.admin.switch_maintenance(operator, arg)
    }

    /// A link code works this long (the website's Telegram page says so).
    pub const LINK_CODE_TTL_SECS: u64 = web::LINK_CODE_TTL_SECS;

    /// The "My nodes" page's data for `user` (see `web.rs`).
    pub fn overview(&self, user: &UserId) -> anyhow::Result<Overview> {
        self.inner.web_accounts.overview(user)
    }

    /// The deploy form for `chain`/`node_type` with `answers` checked by
    /// the conversation engine (`deploy_form.rs`); `None`: no such type.
    pub async fn deploy_form(
        &self,
        user: &UserId,
        chain: &str,
        node_type: &str,
        answers: &std::collections::BTreeMap<String, String>,
    ) -> anyhow::Result<Option<DeployFormView>> {
        self.inner
            .deploy_forms
            .view(user, chain, node_type, answers)
            .await
    }

    /// [`Service::deploy_form`] for the form's live summary (no location
    /// lookup just to fill the pickers).
    pub async fn deploy_form_quote(
        &self,
        user: &UserId,
        chain: &str,
        node_type: &str,
        answers: &std::collections::BTreeMap<String, String>,
    ) -> anyhow::Result<Option<DeployFormView>> {
        self.inner
            .deploy_forms
            .quote(user, chain, node_type, answers)
            .await
    }

    /// Places the deploy form's order as the chat's Confirm does, once
    /// per form key and only at the price the form showed (`shown`).
    pub async fn place_form_order(
        &self,
        user: &UserId,
        chain: &str,
        node_type: &str,
        answers: &std::collections::BTreeMap<String, String>,
        key: &FormKey,
        shown: &str,
    ) -> anyhow::Result<Placed> {
        let maintenance = self.maintenance();
        self.inner
            .deploy_forms
            .place(user, chain, node_type, answers, key, shown, maintenance)
            .await
    }

    /// `user`'s order `id` for the deploy form's payment and progress.
    pub fn form_order(&self, user: &UserId, id: &str) -> anyhow::Result<Option<FormOrder>> {
        self.inner.deploy_forms.order(user, id)
    }

    /// `user`'s live node `name` in full, for its page (`portal.rs`).
    pub fn node_details(&self, user: &UserId, name: &str) -> anyhow::Result<Option<NodeDetails>> {
        self.inner.portal.node_details(user, name)
    }

    /// `user`'s outages going on now: (node, when it started).
    pub fn current_outages(&self, user: &UserId) -> anyhow::Result<Vec<(String, u64)>> {
        self.inner.portal.current_outages(user)
    }

    /// Every node type with its monthly price, for the catalog page.
    pub fn catalog_entries(&self) -> Vec<CatalogEntry> {
        self.inner.portal.catalog_entries()
    }

    /// `tft` in USD at the configured price, and that price.
    pub fn usd(&self, tft: crate::money::Tft) -> (String, String) {
        self.inner.portal.usd(tft)
    }

    /// Links `web_user` to the account that asked for `typed_code`, once.
    /// Returns that account.
    pub async fn redeem_link_code(
        &self,
        web_user: &UserId,
        typed_code: &str,
    ) -> Result<UserId, LinkError> {
        self.inner
            .web_accounts
            .redeem_link_code(web_user, typed_code)
            .await
    }

    /// Removes `web_user`'s link, if any.
    pub async fn unlink(&self, web_user: &UserId) -> anyhow::Result<Option<UserId>> {
        self.inner.web_accounts.unlink(web_user).await
    }

    /// Every web sign-in -> account link, for the website at start.
    pub fn web_links(&self) -> anyhow::Result<Vec<(UserId, UserId)>> {
        self.inner.web_accounts.web_links()
    }

    /// The master key, from which the website derives its cookie and
    /// login keys.
    pub fn master_key(&self) -> &MasterKey {
        self.inner.repo.master()
    }

    /// The service's clock (unix seconds): sessions expire by it.
    pub fn current_time(&self) -> u64 {
        self.now()
    }

    /// Whether the embedded grid and the sandbox wallet are in use (the
    /// website labels itself so, and offers the sandbox sign-in).
    pub fn is_sandbox(&self) -> bool {
        self.wallet_kind() == crate::config::PaymentsKind::Sandbox
    }

    /// Fills the monitor's watch list from the store; run once at start.
    pub async fn load_watchlist(&self) -> anyhow::Result<usize> {
        self.inner.monitor.load_watchlist().await
    }

    /// Nodes the monitor watches now.
    pub fn watched(&self) -> usize {
        self.inner.monitor.watched()
    }

    /// One monitor sweep over every watched node (see `monitor.rs`).
    pub async fn sweep(&self) -> SweepReport {
        self.inner.monitor.sweep().await
    }

    /// One reconciler pass (see `reconcile.rs`, `docs/reconciler.md`).
    pub async fn reconcile(&self) -> anyhow::Result<PassReport> {
        self.inner.reconciler.pass().await
    }

    /// Charges every running node of `user` for the whole hours it ran
    /// since it was last charged, then reviews their funding (see
    /// `billing.rs`). Returns what was charged.
    pub async fn bill_user(&self, user: &UserId) -> anyhow::Result<crate::money::Tft> {
        self.inner.billing.bill_user(user).await
    }

    /// One billing sweep over all users (see `billing.rs`).
    pub async fn bill_all(&self) -> anyhow::Result<crate::money::Tft> {
        self.inner.billing.bill_all().await
    }

    /// One round of the payment watcher (see `deposits.rs`): new payments
    /// credited to their users or kept aside, then bridge deposits. Returns
    /// how many were handled.
    pub async fn poll_payments(&self) -> anyhow::Result<usize> {
        self.inner.deposits.poll_payments().await
    }

    /// `/unmatched`: the payments kept aside.
    pub(super) fn unmatched_report(&self) -> anyhow::Result<String> {
        self.inner.deposits.unmatched_report()
    }

    /// `/credit <payment id> <user>`: credits a kept-aside payment once.
    pub(super) async fn credit_unmatched(
        &self,
        operator: &UserId,
        arg: Option<&str>,
    ) -> anyhow::Result<String> {
        self.inner.deposits.credit_unmatched(operator, arg).await
    }

    /// Waits until every background deployment started so far has finished.
    pub async fn wait_idle(&self) {
        self.inner.deployer.wait_idle().await;
    }

    /// Restarts every paid order left unfinished by a crash or a stop, and
    /// finishes the moves and cancels a crash interrupted. Returns how many
    /// deployments and moves resumed.
    pub async fn resume_pending(&self) -> anyhow::Result<usize> {
        self.inner.deployer.resume_pending().await
    }
}
