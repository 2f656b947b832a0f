//! `jukebox grid doctor --deploy`: one real smallest deployment, end to end,
//! then its cancellation, through the same backend the service deploys
//! with: the doctor's twin (created and funded when needed), the relay
//! token, the node contract, the hand-over over RMB, the workloads reaching
//! ok, the status as the node reports it, and the cancel on TFChain.
//!
//! It spends real TFT: what it costs is stated before anything is done, and
//! the operator confirms (or passed `--yes`). Whatever fails after the
//! contract exists, the contract is cancelled (the backend does that for a
//! failed deploy; this module for everything after).

use ed25519_dalek::SigningKey;

use super::{Doctor, SESSION, Step, address, describe, doctor_key, units_tft};
use crate::grid::tfgrid::backend::TfGridBackend;
use crate::grid::tfgrid::chain::Ed25519Signer;
use crate::grid::{Capacity, ContractId, ContractState, GridError, Placement, WorkloadState};
use crate::reservation::{WorkloadSpec, build_deployment, sign};

/// The smallest machine Zero-OS runs: one core, its minimum memory, no data
/// disk and no public IPv4 (only the public IPv6 every Jukebox node has).
pub const SMALLEST: Capacity = Capacity {
    cpu: 1,
    memory_mib: 256,
    disk_gib: 0,
    public_ipv4: false,
};

/// The image the doctor's machine runs: the grid's official base image.
const FLIST: &str = "https://hub.grid.tf/tf-official-apps/base:latest.flist";

impl Doctor {
    /// Deploys the smallest machine and cancels it, each step reported.
    /// `confirm` is asked once, with the cost, before anything is spent.
    /// Returns whether every step passed.
    pub async fn deploy(
        &self,
        confirm: &mut dyn FnMut(&str) -> bool,
        report: &mut dyn FnMut(&Step),
    ) -> bool {
        let mut all = true;
        let mut note = |step: Step| {
            all &= step.passed();
            report(&step);
        };
        let Some(funder) = self.setup.funder.clone() else {
            note(Step::fail(
                "deploy",
                "a funding key to pay for the doctor's twin and deployment",
                "JUKEBOX_TFCHAIN_FUNDER_SEED is not set",
                "export JUKEBOX_TFCHAIN_FUNDER_SEED and run again",
            ));
            return false;
        };
        let backend = match TfGridBackend::from_config(
            self.setup.network,
            &self.setup.config,
            SESSION,
            Some(funder.clone()),
        ) {
            Ok(b) => b,
            Err(e) => {
                note(Step::fail(
                    "deploy",
                    "a usable [grid.tfgrid]",
                    e.to_string(),
                    "fix the config",
                ));
                return false;
            }
        };
        let key = doctor_key(&funder);
        let Some(plan) = self.plan(&backend, &key, &mut note).await else {
            return false;
        };
        if !confirm(&plan.statement) {
            note(Step::fail(
                "deploy",
                "a confirmation to spend the TFT above",
                "declined",
                "answer y, or pass --yes",
            ));
            return false;
        }
        let Some(twin) = self.twin(&backend, &funder, &key, &mut note).await else {
            return false;
        };
        note(self.relay_step(Some((twin, key.clone()))).await);
        self.run(&backend, &key, twin, &plan, &mut note).await;
        all
    }

    /// Picks the node and prices the run; reports the cost as a step.
    async fn plan(
        &self,
        backend: &TfGridBackend,
        key: &SigningKey,
        note: &mut dyn FnMut(Step),
    ) -> Option<Plan> {
        let candidates = backend
            .candidates(&SMALLEST, &Placement::Random, &[], 1)
            .await;
        let node = match candidates.map(|mut c| c.pop()) {
            Ok(Some(node)) => node,
            Ok(None) => {
                note(Step::fail(
                    "cost",
                    format!("a node with room for {}", describe(&SMALLEST)),
                    "none",
                    "see `jukebox grid nodes`; try again later or on another network",
                ));
                return None;
            }
            Err(e) => {
                note(Step::fail(
                    "cost",
                    "a candidate node from the grid proxy",
                    e.to_string(),
                    "fix the grid proxy first",
                ));
                return None;
            }
        };
        let account = key.verifying_key().to_bytes();
        let priced = async {
            let prices = self.chain.price_list(1).await?;
            let held = self.chain.free_balance(account).await?;
            Ok::<_, crate::grid::tfgrid::chain::ChainError>((prices, held))
        };
        let (prices, held) = match tokio::time::timeout(self.patience, priced).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                note(Step::fail(
                    "cost",
                    "TFChain's prices",
                    e.to_string(),
                    "fix TFChain first",
                ));
                return None;
            }
            Err(_) => {
                note(Step::fail(
                    "cost",
                    "TFChain's prices",
                    format!("no answer within {:?}", self.patience),
                    "check the network path to TFChain",
                ));
                return None;
            }
        };
        let funding = self.setup.config.twin_funding().unwrap_or(0);
        let top_up = funding.saturating_sub(held);
        let statement = format!(
            "a {} machine on node {} (farm {} {}, {}) for a few minutes: {} per hour at \
             TFChain's prices, billed by TFChain, then cancelled; first {} moves from the \
             funding account to the doctor's account {} (it keeps what is not billed); \
             transaction fees come on top",
            describe(&SMALLEST),
            node.id,
            node.farm_id,
            node.farm_name,
            node.country,
            prices.per_hour(&SMALLEST),
            units_tft(top_up),
            address(account),
        );
        note(Step::ok("cost", statement.clone()));
        Some(Plan { node, statement })
    }

    /// Tops the doctor's account up and makes sure it has a twin.
    async fn twin(
        &self,
        backend: &TfGridBackend,
        funder: &SigningKey,
        key: &SigningKey,
        note: &mut dyn FnMut(Step),
    ) -> Option<u32> {
        let account = key.verifying_key().to_bytes();
        let funding = self.setup.config.twin_funding().unwrap_or(0);
        if funding > 0 {
            let funder = Ed25519Signer::new(funder.clone());
            if let Err(e) = self.chain.fund_up_to(&funder, account, funding).await {
                note(Step::fail(
                    "twin",
                    format!("{} moved to {}", units_tft(funding), address(account)),
                    e.to_string(),
                    "check the funding account's balance (step above)",
                ));
                return None;
            }
        }
        let existed = matches!(self.chain.twin_id_of(account).await, Ok(Some(_)));
        match backend.ensure_twin(key).await {
            Ok(twin) => {
                let how = if existed { "exists" } else { "created now" };
                note(Step::ok(
                    "twin",
                    format!(
                        "the doctor's twin {} ({how}, account {})",
                        twin.0,
                        address(account)
                    ),
                ));
                Some(twin.0)
            }
            Err(e) => {
                note(Step::fail(
                    "twin",
                    format!("a twin for {}", address(account)),
                    e.to_string(),
                    "a refused terms hash means grid.tfgrid.terms_hash is not accepted; \
                     otherwise see the error",
                ));
                None
            }
        }
    }

    /// Deploy, status, cancel.
    async fn run(
        &self,
        backend: &TfGridBackend,
        key: &SigningKey,
        twin: u32,
        plan: &Plan,
        note: &mut dyn FnMut(Step),
    ) {
        let spec = WorkloadSpec {
            name: "doctor".into(),
            flist: FLIST.into(),
            entrypoint: "/sbin/zinit init".into(),
            cpu: SMALLEST.cpu,
            memory_mib: SMALLEST.memory_mib,
            disk_gib: SMALLEST.disk_gib,
            public_ipv4: SMALLEST.public_ipv4,
            env: Default::default(),
            ssh_key: None,
        };
        let mut seed = [0u8; 32];
        if getrandom::getrandom(&mut seed).is_err() {
            note(Step::fail(
                "deployment",
                "random bytes for the deployment's network keys",
                "the OS random source failed",
                "check the host",
            ));
            return;
        }
        let mut deployment = match build_deployment(twin, &spec, &seed) {
            Ok(d) => d,
            Err(e) => {
                note(Step::fail(
                    "deployment",
                    "a deployment",
                    e.to_string(),
                    "report a bug",
                ));
                return;
            }
        };
        sign(&mut deployment, twin, key);
        let node = plan.node.id;
        let placed = match backend.deploy(key, node, &SMALLEST, &deployment).await {
            Ok(placed) => placed,
            Err(e) => {
                note(Step::fail(
                    "deployment",
                    format!("a contract on node {node}, handed over over RMB, workloads ok"),
                    e.to_string(),
                    deploy_advice(&e),
                ));
                return;
            }
        };
        let contract = placed.contract;
        note(Step::ok(
            "deployment",
            format!(
                "contract {} on node {node}: created, handed over over RMB, workloads ok{}",
                contract.0,
                placed
                    .ipv6
                    .as_deref()
                    .map(|ip| format!(" (IPv6 {ip})"))
                    .unwrap_or_default()
            ),
        ));
        let on_chain = match backend.chain_contract(contract).await {
            Ok(c) => c,
            Err(e) => {
                note(Step::fail(
                    "status",
                    format!("contract {} on TFChain", contract.0),
                    e.to_string(),
                    "see the error; cancel the contract from the dashboard if it stays",
                ));
                return;
            }
        };
        match backend.contract(key, &on_chain).await {
            Ok(info)
                if info.state == ContractState::Created && info.workload == WorkloadState::Ok =>
            {
                note(Step::ok(
                    "status",
                    format!(
                        "contract {} created, node {} {:?}, workloads ok as the node reports",
                        contract.0, info.node.0, info.node_status
                    ),
                ))
            }
            Ok(info) => note(Step::fail(
                "status",
                "contract created and workloads ok",
                format!("contract {:?}, workloads {:?}", info.state, info.workload),
                "see the node's report; the contract is cancelled next",
            )),
            Err(e) => note(Step::fail(
                "status",
                "the node's report on the workloads",
                e.to_string(),
                "see the error; the contract is cancelled next",
            )),
        }
        note(self.cancel_step(backend, key, &on_chain).await);
    }

    async fn cancel_step(
        &self,
        backend: &TfGridBackend,
        key: &SigningKey,
        on_chain: &crate::grid::tfgrid::chain::ChainContract,
    ) -> Step {
        let id = on_chain.id;
        if let Err(e) = backend.cancel(key, on_chain).await {
            return Step::fail(
                "cancel",
                format!("contract {id} cancelled"),
                e.to_string(),
                format!("cancel contract {id} from the dashboard: it bills until then"),
            );
        }
        match backend.chain_contract(ContractId(id)).await {
            Err(GridError::UnknownContract(_)) => {
                Step::ok("cancel", format!("contract {id} is gone from TFChain"))
            }
            Ok(c) if c.state == crate::grid::tfgrid::chain::ChainContractState::Deleted => {
                Step::ok("cancel", format!("contract {id} is cancelled on TFChain"))
            }
            Ok(c) => Step::fail(
                "cancel",
                format!("contract {id} cancelled on TFChain"),
                format!("it is {:?}", c.state),
                format!("cancel contract {id} from the dashboard: it bills until then"),
            ),
            Err(e) => Step::fail(
                "cancel",
                format!("contract {id} read back as cancelled"),
                e.to_string(),
                format!("check contract {id} on the dashboard"),
            ),
        }
    }
}

/// What was decided before spending: the node and the words shown.
struct Plan {
    node: crate::grid::GridNode,
    statement: String,
}

fn deploy_advice(e: &GridError) -> &'static str {
    match e {
        GridError::DeployFailed(_) => {
            "the node took the deployment but it did not come up (or did not answer); the \
             contract was cancelled; run again (another node is picked) and see the error"
        }
        GridError::Rejected(_) => {
            "TFChain refused a call (the error names it); the doctor's account may need \
             more TFT for fees"
        }
        _ => "a service was unreachable: see the steps above",
    }
}
