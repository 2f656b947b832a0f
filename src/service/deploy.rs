//! Deploying and redeploying nodes on the grid, as resumable background work.
//!
//! Each state change is stored before the next grid call, and paid orders
//! are listed in a global `pending/` index, so a restart resumes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::audit_trail::{AuditTrail, SYSTEM};
use super::intents::GridWork;
use super::repo::Repo;
use crate::catalog::NodeType;
use crate::channel::{Outbox, Outgoing};
use crate::clock::Clock;
use crate::dialogue::Engine;
use crate::grid::Grid;
use crate::grid::{GridError, GridNodeId, Placed};
use crate::ids::UserId;
use crate::lifecycle::not_deployed::NotDeployed;
use crate::metrics::Metrics;
use crate::reservation::{self, WorkloadSpec};
use crate::user::{DeployIntent, NodeRecord, NodeState, OrderState, StoredValue};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct PendingOrder {
    user: UserId,
    order: String,
}

fn pending_key(order: &str) -> String {
    format!("pending/{order}")
}

/// Deploys paid orders and moves nodes, in background tasks it keeps so
/// shutdown and tests can wait for them.
pub struct Deployer {
    engine: Arc<Engine>,
    repo: Arc<Repo>,
    grid: Arc<dyn Grid>,
    grid_work: Arc<GridWork>,
    audit: Arc<AuditTrail>,
    outbox: Arc<dyn Outbox>,
    metrics: Metrics,
    clock: Arc<dyn Clock>,
    settings: DeploySettings,
    /// Background deployments and moves.
    tasks: tokio::sync::Mutex<tokio::task::JoinSet<()>>,
}

/// What the deployer takes from the service's settings.
#[derive(Clone, Debug)]
pub struct DeploySettings {
    /// Grid nodes tried per blockchain node before giving up.
    pub attempts: usize,
    /// Grid nodes the monitor saw failing this recently are not chosen.
    pub avoid_failed_secs: u64,
}

impl Deployer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        engine: Arc<Engine>,
        repo: Arc<Repo>,
        grid: Arc<dyn Grid>,
        grid_work: Arc<GridWork>,
        audit: Arc<AuditTrail>,
        outbox: Arc<dyn Outbox>,
        metrics: Metrics,
        clock: Arc<dyn Clock>,
        settings: DeploySettings,
    ) -> Deployer {
        Deployer {
            engine,
            repo,
            grid,
            grid_work,
            audit,
            outbox,
            metrics,
            clock,
            settings,
            tasks: tokio::sync::Mutex::new(tokio::task::JoinSet::new()),
        }
    }

    /// Waits until every background deployment started so far has finished.
    pub async fn wait_idle(&self) {
        loop {
            let mut tasks = self.tasks.lock().await;
            if tasks.join_next().await.is_none() {
                return;
            }
        }
    }

    /// Runs `work` in the background with deferred writes (one wait for
    /// the disk at its end, and before each grid call and message through
    /// the barrier decorators, instead of one per record: `store/deferred.rs`).
    async fn spawn(&self, work: impl std::future::Future<Output = ()> + Send + 'static) {
        let store = self.repo.store().clone();
        self.tasks.lock().await.spawn(async move {
            let done = crate::store::deferred(&store, async {
                work.await;
                Ok(())
            })
            .await;
            if let Err(e) = done {
                tracing::error!(error = %format!("{e:#}"), "a deployment's records could not be made durable");
            }
        });
    }

    /// Marks a paid order as deploying and starts the work in the background.
    pub async fn start_deploy(
        self: &Arc<Self>,
        user: &UserId,
        order_id: &str,
    ) -> anyhow::Result<()> {
        let mut orders = self.repo.load_orders(user)?;
        let Some(order) = orders.get_mut(order_id) else {
            return Ok(());
        };
        if order.state == OrderState::AwaitingPayment {
            order.state = OrderState::Deploying;
            // The balance now funds every node for the order's period (the
            // one funding rule): reminders that would repeat it stay quiet.
            if let Some(mut profile) = self.repo.load_profile(user)? {
                profile.funding.paid_for(order.period.hours() * 3600);
                self.repo.save_profile(&profile)?;
            }
            self.repo.save_global(
                &pending_key(order_id),
                &PendingOrder {
                    user: user.clone(),
                    order: order_id.to_owned(),
                },
            )?;
            self.repo.save_orders(user, &orders)?;
        }
        let deployer = Arc::clone(self);
        let (user, order_id) = (user.clone(), order_id.to_owned());
        self.spawn(async move {
            if let Err(e) = deployer.deploy_order(&user, &order_id).await {
                tracing::error!(user = %user, order = %order_id, error = %format!("{e:#}"), "deployment stopped; it resumes at the next start");
                deployer.outbox.say(&user, "Something went wrong on our side while deploying; it will be retried automatically. /list shows where things stand.").await;
            }
        })
        .await;
        Ok(())
    }

    /// Restarts every paid order left unfinished by a crash or a stop, and
    /// finishes the moves and cancels a crash interrupted (see
    /// `intents.rs`). Returns how many deployments and moves resumed.
    pub async fn resume_pending(self: &Arc<Self>) -> anyhow::Result<usize> {
        let mut resumed = self.resume_moves().await?;
        let keys = self.repo.list_global("pending")?;
        for key in keys {
            let Some(p) = self
                .repo
                .load_global::<PendingOrder>(&format!("pending/{key}"))?
            else {
                continue;
            };
            tracing::info!(user = %p.user, order = %p.order, "resuming deployment");
            let _guard = self.repo.lock(&p.user).await;
            self.start_deploy(&p.user, &p.order).await?;
            resumed += 1;
        }
        Ok(resumed)
    }

    async fn deploy_order(&self, user: &UserId, order_id: &str) -> anyhow::Result<()> {
        let Some(order) = self.repo.load_orders(user)?.get(order_id).cloned() else {
            return Ok(());
        };
        let key = format!("order:{order_id}");
        let total = order.nodes.len();
        let mut lines: Vec<String> = order.nodes.iter().map(|n| format!("⏳ {n}")).collect();
        self.outbox
            .send(
                user,
                Outgoing::Progress {
                    key: key.clone(),
                    text: progress_text(&lines, 0, total),
                },
            )
            .await;
        let mut results = Vec::new();
        for (i, name) in order.nodes.iter().enumerate() {
            let outcome = self.deploy_node(user, name).await?;
            lines[i] = match &outcome {
                Ok(placed) => format!(
                    "✅ {name} on grid node {} ({})",
                    placed.node.id, placed.node.country
                ),
                Err(why) => format!("❌ {name}: {why}"),
            };
            self.outbox
                .send(
                    user,
                    Outgoing::Progress {
                        key: key.clone(),
                        text: progress_text(&lines, i + 1, total),
                    },
                )
                .await;
            results.push((name.clone(), outcome));
        }
        {
            let _guard = self.repo.lock(user).await;
            let mut orders = self.repo.load_orders(user)?;
            if let Some(o) = orders.get_mut(order_id) {
                o.state = OrderState::Done;
            }
            self.repo.save_orders(user, &orders)?;
            self.repo.delete_global(&pending_key(order_id))?;
        }
        let nodes = self.repo.load_nodes(user)?;
        let mut failed = Vec::new();
        for (name, outcome) in &results {
            match outcome {
                Ok(_) => {
                    if let Some(node) = nodes.get(name) {
                        self.outbox.say(user, self.describe_running(node)).await;
                    }
                }
                Err(_) => failed.push(name.clone()),
            }
        }
        if !failed.is_empty() {
            self.outbox.say(
                user,
                format!(
                    "{} of {total} node(s) could not be deployed: {}. Nothing is charged for them; their share stays in your balance. You can try again with /deploy.",
                    failed.len(),
                    failed.join(", ")
                ),
            )
            .await;
        }
        Ok(())
    }

    /// Deploys one pending node; returns where it runs, or why it could not.
    /// Only an internal error (storage) is an `Err`.
    async fn deploy_node(
        &self,
        user: &UserId,
        name: &str,
    ) -> anyhow::Result<Result<Placed, NotDeployed>> {
        let node = {
            let _guard = self.repo.lock(user).await;
            let mut nodes = self.repo.load_nodes(user)?;
            let Some(node) = nodes.get_mut(name) else {
                return Ok(Err(NotDeployed::Removed));
            };
            match &node.state {
                NodeState::Running => {
                    return Ok(node.placed.clone().ok_or(NotDeployed::NoPlacement));
                }
                NodeState::Failed(why) => return Ok(Err(NotDeployed::FailedBefore(why.clone()))),
                NodeState::Deleted | NodeState::Expired => {
                    return Ok(Err(NotDeployed::Deleted));
                }
                NodeState::Paused => return Ok(Err(NotDeployed::Paused)),
                NodeState::Pending | NodeState::Deploying => {}
            }
            node.state = NodeState::Deploying;
            let node = node.clone();
            self.repo.save_nodes(user, &nodes)?;
            node
        };
        let avoid = node.failed_on.clone();
        let outcome = self.place(user, &node, avoid).await?;
        let _guard = self.repo.lock(user).await;
        let mut nodes = self.repo.load_nodes(user)?;
        let now = self.clock.now();
        if let Some(n) = nodes.get_mut(name) {
            match &outcome {
                Ok((placed, failed_on)) => {
                    n.state = NodeState::Running;
                    n.placed = Some(placed.clone());
                    n.billed_until = now;
                    n.failed_on = failed_on.clone();
                }
                Err((why, failed_on)) => {
                    n.state = NodeState::Failed(why.to_string());
                    n.failed_on = failed_on.clone();
                }
            }
            // Settled: the placement (or the failure) is what counts now.
            n.intent = None;
        }
        self.repo.save_nodes(user, &nodes)?;
        self.metrics
            .deployment(if outcome.is_ok() { "ok" } else { "failed" });
        match &outcome {
            Ok((placed, _)) => self.audit.record(
                SYSTEM,
                Some(user),
                "node.running",
                Some(name),
                format!(
                    "deployed on grid node {}, contract {}",
                    placed.node.id, placed.contract
                ),
            ),
            Err((why, _)) => self.audit.record(
                SYSTEM,
                Some(user),
                "node.failed",
                Some(name),
                why.to_string(),
            ),
        }
        Ok(outcome.map(|(p, _)| p).map_err(|(why, _)| why))
    }

    /// Finds a grid node and deploys there, trying others when one fails,
    /// and skipping grid nodes the monitor saw failing recently.
    /// Returns the placement (or the reason) and the grid nodes that failed.
    #[allow(clippy::type_complexity)]
    async fn place(
        &self,
        user: &UserId,
        node: &NodeRecord,
        mut avoid: Vec<GridNodeId>,
    ) -> anyhow::Result<Result<(Placed, Vec<GridNodeId>), (NotDeployed, Vec<GridNodeId>)>> {
        let Some((_, nt)) = self
            .engine
            .catalog()
            .node_type(&node.chain, &node.node_type)
        else {
            return Ok(Err((NotDeployed::NotInCatalog, avoid)));
        };
        let need = nt.capacity(node.ipv4);
        let (twin, key) = match self.grid_work.twin_and_key(user).await? {
            Ok(v) => v,
            Err(e) => return Ok(Err((NotDeployed::Identity(e), avoid))),
        };
        let spec = self.workload_spec(node)?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&node.seed, &mut seed)?;
        let mut deployment = match reservation::build_deployment(twin.0, &spec, &seed) {
            Ok(d) => d,
            Err(e) => return Ok(Err((NotDeployed::Invalid(e), avoid))),
        };
        reservation::sign(&mut deployment, twin.0, key.signing_key());
        let hash = reservation::deployment_hash_hex(&deployment);
        let mut last_error = GridError::NoCapacity;
        // Resumed after a crash: the grid may hold the contract the intent
        // made. Adopt it rather than make a second one elsewhere.
        if let Some(intent) = node.intent.as_ref().filter(|i| i.deployment_hash == hash) {
            match self.grid.contract_for(intent.grid_node, &hash).await {
                Ok(None) => {}
                Ok(Some(contract)) => {
                    tracing::info!(user = %user, node = %node.name, grid_node = %intent.grid_node, contract = %contract, "adopting the contract an interrupted deployment made");
                    match self
                        .grid
                        .deploy(&key, intent.grid_node, &need, &deployment)
                        .await
                    {
                        Ok(placed) => return Ok(Ok((placed, avoid))),
                        Err(e) => {
                            // The grid cancels a contract whose deploy failed.
                            tracing::warn!(user = %user, node = %node.name, grid_node = %intent.grid_node, error = %e, "the adopted deployment failed");
                            avoid.push(intent.grid_node);
                            last_error = e;
                        }
                    }
                }
                // Whether a contract exists is unknown: making another now
                // could be the second one. The reconciler cancels the first
                // if it exists and no node ends up using it.
                Err(e) => return Ok(Err((NotDeployed::Grid(e), avoid))),
            }
        }
        let window = self.settings.avoid_failed_secs;
        let recently_failed = self.repo.watch().recently_failed(self.clock.now(), window);
        for _ in 0..self.settings.attempts {
            let mut skip = avoid.clone();
            skip.extend(recently_failed.iter().copied());
            let candidates = match self.grid.candidates(&need, &node.placement, &skip, 1).await {
                Ok(c) => c,
                Err(e) => {
                    last_error = e;
                    break;
                }
            };
            let Some(candidate) = candidates.into_iter().next() else {
                last_error = GridError::NoCapacity;
                break;
            };
            // Write-ahead: the intent is durable before the grid is asked.
            let intent = DeployIntent {
                grid_node: candidate.id,
                deployment_hash: hash.clone(),
                at: self.clock.now(),
            };
            if !self
                .grid_work
                .write_intent(user, &node.name, intent)
                .await?
            {
                return Ok(Err((NotDeployed::DeletedMeanwhile, avoid)));
            }
            match self
                .grid
                .deploy(&key, candidate.id, &need, &deployment)
                .await
            {
                Ok(placed) => {
                    tracing::info!(user = %user, node = %node.name, grid_node = %candidate.id, contract = %placed.contract, "node deployed");
                    return Ok(Ok((placed, avoid)));
                }
                Err(e) => {
                    tracing::warn!(user = %user, node = %node.name, grid_node = %candidate.id, error = %e, "deployment failed");
                    let retry = e.try_elsewhere();
                    last_error = e;
                    avoid.push(candidate.id);
                    if !retry {
                        break;
                    }
                }
            }
        }
        Ok(Err((NotDeployed::Grid(last_error), avoid)))
    }

    /// The zos workload for a node: catalog values plus the user's settings,
    /// unsealed only here, in memory, to be signed and sent.
    fn workload_spec(&self, node: &NodeRecord) -> anyhow::Result<WorkloadSpec> {
        let Some((_, nt)) = self
            .engine
            .catalog()
            .node_type(&node.chain, &node.node_type)
        else {
            anyhow::bail!("unknown node type {}/{}", node.chain, node.node_type);
        };
        let mut env: BTreeMap<String, String> = nt.env.clone();
        let open = |v: &StoredValue| -> anyhow::Result<String> {
            Ok(match v {
                StoredValue::Plain(s) => s.clone(),
                StoredValue::Sealed(s) => self.repo.open_secret(s)?.to_string(),
            })
        };
        for setting in &nt.settings {
            // A setting without env is Jukebox's own (a dashboard API key).
            if setting.env.is_empty() {
                continue;
            }
            if let Some(v) = node.settings.get(&setting.key) {
                env.insert(setting.env.clone(), open(v)?);
            }
        }
        for (name, v) in &node.generated {
            env.insert(name.clone(), open(v)?);
        }
        Ok(WorkloadSpec {
            name: node.name.clone(),
            flist: nt.flist.clone(),
            entrypoint: nt.entrypoint.clone(),
            cpu: nt.resources.cpu,
            memory_mib: nt.resources.memory_mib,
            disk_gib: nt.resources.disk_gib,
            public_ipv4: node.ipv4,
            env,
            ssh_key: node.ssh_key.clone(),
        })
    }

    /// The catalog the deployments are made from.
    pub fn catalog(&self) -> &crate::catalog::Catalog {
        self.engine.catalog()
    }

    /// Redeploys `node` in the background (from /redeploy, the alert's
    /// button, or auto-heal).
    pub async fn spawn_redeploy(self: &Arc<Self>, user: &UserId, node: NodeRecord) {
        let deployer = Arc::clone(self);
        let user = user.clone();
        self.spawn(async move {
            if let Err(e) = deployer.redeploy(&user, node).await {
                tracing::error!(user = %user, error = %format!("{e:#}"), "redeploy failed");
                deployer.outbox.say(&user, "Something went wrong on our side during the redeploy; your node was left as it was. Please try /redeploy again in a minute.").await;
            }
        })
        .await;
    }

    /// Creates the new deployment first and cancels the old one only after
    /// the new one is recorded, so a failed redeploy leaves the node where
    /// it was and a crash at any point leaves one contract in use and the
    /// other either adopted or retired (see `intents.rs`). The new grid node
    /// is never the current one, nor one that failed recently.
    async fn redeploy(&self, user: &UserId, node: NodeRecord) -> anyhow::Result<()> {
        let mut avoid = node.failed_on.clone();
        let old = node.placed.clone();
        if let Some(old) = &old {
            avoid.push(old.node.id);
        }
        let outcome = self.place(user, &node, avoid).await?;
        let _guard = self.repo.lock(user).await;
        let mut nodes = self.repo.load_nodes(user)?;
        match outcome {
            Ok((placed, _)) => {
                // Another redeploy (a double tap), a delete or a pause may
                // have happened meanwhile: then this placement is not wanted.
                let current = nodes
                    .get_mut(&node.name)
                    .filter(|n| n.state == NodeState::Running && n.contract() == node.contract());
                let Some(n) = current else {
                    let Some(n) = nodes.get_mut(&node.name) else {
                        // No record to retire it in (records are never
                        // removed, so this is only a guard): the contract
                        // is an orphan, cancelled straight away, and the
                        // reconciler catches it if this fails.
                        let cancelled = match self.grid_work.identity_of(user)? {
                            Some(identity) => self
                                .grid
                                .cancel(&identity, placed.contract)
                                .await
                                .map_err(|e| e.to_string()),
                            None => Err("no profile".to_owned()),
                        };
                        if let Err(e) = cancelled {
                            tracing::warn!(user = %user, contract = %placed.contract, error = %e, "could not cancel a superseded redeploy");
                        }
                        return Ok(());
                    };
                    n.retired.push(placed.contract);
                    if n.intent
                        .as_ref()
                        .is_some_and(|i| i.grid_node == placed.node.id)
                    {
                        n.intent = None;
                    }
                    self.repo.save_nodes(user, &nodes)?;
                    self.grid_work.cancel_retired(user).await?;
                    return Ok(());
                };
                // One save records the new placement and retires the old
                // contract; the cancel comes after.
                n.placed = Some(placed);
                n.outage = None;
                n.intent = None;
                n.retired.extend(old.as_ref().map(|o| o.contract));
                let mut text = self.describe_running(n);
                if let Some(notice) = self.move_notice(n, old.as_ref()) {
                    text.push_str("\n\n");
                    text.push_str(&notice);
                }
                self.repo.save_nodes(user, &nodes)?;
                self.grid_work.cancel_retired(user).await?;
                self.metrics.deployment("redeployed");
                self.audit.record(
                    SYSTEM,
                    Some(user),
                    "node.redeployed",
                    Some(&node.name),
                    format!(
                        "from {} to {}",
                        old.as_ref().map_or("nowhere".to_owned(), |o| format!(
                            "grid node {} (contract {})",
                            o.node.id, o.contract
                        )),
                        text.lines().nth(1).unwrap_or_default()
                    ),
                );
                self.outbox.say(user, format!("Redeployed. {text}")).await;
            }
            Err((why, _)) => {
                if let Some(n) = nodes.get_mut(&node.name)
                    && n.intent.is_some()
                {
                    // Every grid node tried settled without a contract in
                    // use (or the reconciler cancels it).
                    n.intent = None;
                    self.repo.save_nodes(user, &nodes)?;
                }
                self.metrics.deployment("redeploy_failed");
                self.audit.record(
                    SYSTEM,
                    Some(user),
                    "node.redeploy_failed",
                    Some(&node.name),
                    why.to_string(),
                );
                self.outbox
                    .say(
                        user,
                        format!(
                            "Could not redeploy {}: {why}. It stays where it was.",
                            node.name
                        ),
                    )
                    .await;
            }
        }
        Ok(())
    }

    /// After a start: cancels what nodes retired, resumes moves a crash
    /// interrupted (a running node with an intent is redeployed again, and
    /// the redeploy adopts the contract the intent made, if any), and drops
    /// the intent of a node in any other state, whose contract, if one was
    /// made, the reconciler then cancels as an orphan. Deployments of paid
    /// orders resume through `global/pending/` instead. Returns how many
    /// moves were resumed.
    async fn resume_moves(self: &Arc<Self>) -> anyhow::Result<usize> {
        let mut resumed = 0;
        for user in self.repo.list_users()? {
            let moves = {
                let _guard = self.repo.lock(&user).await;
                let mut nodes = self.repo.load_nodes(&user)?;
                // One read for the many users with nothing left half-done.
                if nodes
                    .nodes
                    .iter()
                    .all(|n| n.retired.is_empty() && n.intent.is_none())
                {
                    continue;
                }
                if nodes.nodes.iter().any(|n| !n.retired.is_empty()) {
                    self.grid_work.cancel_retired(&user).await?;
                    nodes = self.repo.load_nodes(&user)?;
                }
                let mut moves = Vec::new();
                let mut changed = false;
                let mut retired = false;
                for node in &mut nodes.nodes {
                    match (&node.state, &node.intent) {
                        (_, None) | (NodeState::Deploying | NodeState::Pending, _) => {}
                        (NodeState::Running, Some(_)) => moves.push(node.clone()),
                        (_, Some(intent)) => {
                            // A move the owner deleted (or that lost its
                            // funding) while the grid was making its new
                            // contract, and a crash before the move could
                            // retire it: the contract the intent made is
                            // retired now rather than left for the
                            // reconciler's orphan delay.
                            match self
                                .grid
                                .contract_for(intent.grid_node, &intent.deployment_hash)
                                .await
                            {
                                Ok(Some(made)) if node.contract() != Some(made) => {
                                    node.retired.push(made);
                                    retired = true;
                                }
                                Ok(_) => {}
                                Err(e) => {
                                    tracing::warn!(user = %user, node = %node.name, error = %e, "could not ask the grid for an interrupted move's contract; the reconciler cancels it if one was made");
                                }
                            }
                            node.intent = None;
                            changed = true;
                        }
                    }
                }
                if changed {
                    self.repo.save_nodes(&user, &nodes)?;
                }
                if retired {
                    self.grid_work.cancel_retired(&user).await?;
                }
                moves
            };
            for node in moves {
                tracing::info!(user = %user, node = %node.name, "resuming an interrupted move");
                resumed += 1;
                self.spawn_redeploy(&user, node).await;
            }
        }
        Ok(resumed)
    }

    /// What a move kept and what the user must do after it (the catalog's
    /// `on_move`, rendered by the pure `catalog::move_notice` from the old
    /// and new placements and the node's non-secret settings).
    fn move_notice(&self, node: &NodeRecord, old: Option<&Placed>) -> Option<String> {
        let (old, new) = (old?, node.placed.as_ref()?);
        let (_, nt) = self
            .engine
            .catalog()
            .node_type(&node.chain, &node.node_type)?;
        let settings = node
            .settings
            .iter()
            .filter_map(|(k, v)| match v {
                StoredValue::Plain(p) => Some((k.clone(), p.clone())),
                StoredValue::Sealed(_) => None,
            })
            .collect();
        // Which settings the node has (secret ones too, by key only): a
        // node given its own keys moved its identity.
        let given = node.settings.keys().cloned().collect();
        let notice = crate::catalog::move_notice_given(nt, old, new, &settings, &given);
        let mut text = notice.keeps;
        if let Some(todo) = notice.todo {
            text.push('\n');
            text.push_str(&todo);
        }
        (!text.trim().is_empty()).then_some(text)
    }

    /// Where a running node is and how to reach it (the words are the
    /// core's, `user::view::describe_running`).
    pub fn describe_running(&self, node: &NodeRecord) -> String {
        let nt: Option<&NodeType> = self
            .engine
            .catalog()
            .node_type(&node.chain, &node.node_type)
            .map(|(_, n)| n);
        crate::user::view::describe_running(
            node,
            nt,
            self.grid.kind() == crate::config::GridKind::Sim,
        )
    }
}

/// "Deploying 1/3…" while the work goes on; "Deployed 3/3" (how many made
/// it) once every node is done.
fn progress_text(lines: &[String], done: usize, total: usize) -> String {
    let head = if done < total {
        format!("Deploying {done}/{total}…")
    } else {
        let ok = lines.iter().filter(|l| l.starts_with('✅')).count();
        match total - ok {
            0 => format!("Deployed {ok}/{total}"),
            failed => format!("Deployed {ok}/{total} ({failed} failed)"),
        }
    };
    format!("{head}\n{}", lines.join("\n"))
}
