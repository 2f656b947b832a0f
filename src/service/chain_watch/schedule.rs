//! Which nodes' chains a sweep reads, so chain reads never hold the sweep
//! hostage on the real grid (docs/chain-health.md, "Cost").
//!
//! Reading every node every sweep costs, when many are silent, nodes ÷
//! concurrency × time-out: two hours for 100,000 silent nodes at 128 × 10 s.
//! Instead each sweep has a time budget: reads start in round-robin order
//! (the nodes read longest ago first, never-read ones before all), none
//! starts once the budget is spent (those already running finish, each
//! bounded by the probe's time-out), and the nodes not reached come first
//! next sweep. A node whose reads time out twice in a row is backed off:
//! not asked again for [`BACKOFF_BASE_SECS`], doubling with each further
//! time-out up to [`BACKOFF_MAX_SECS`]; one answer (or any quick failure,
//! such as a refused connection, which costs nothing) clears it.
//!
//! [`Schedule`] is plain data and decisions (the time passed in);
//! [`read_within`] runs one sweep's reads against the budget.

use std::collections::HashMap;
use std::time::Duration;

use crate::grid::ContractId;
use crate::probe::{ChainProbe, ChainProbeError, ChainReading, ChainTarget};

/// Time-outs in a row before a node is backed off.
pub const BACKOFF_AFTER: u32 = 2;
/// The first back-off: five minutes (about five sweeps at the default interval).
pub const BACKOFF_BASE_SECS: u64 = 300;
/// The longest back-off: a silent node is still tried every two hours.
pub const BACKOFF_MAX_SECS: u64 = 7200;

/// What the schedule remembers of one node (by contract: a redeployed node
/// starts afresh).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Slot {
    /// When a read of it last started (0: never).
    last_read: u64,
    /// Time-outs in a row.
    timeouts: u32,
    /// Not asked before this time (back-off).
    not_before: u64,
}

/// How one planned read ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The node answered, or failed fast (refused, garbage, wrong network).
    Answered,
    /// It did not answer within the time-out.
    TimedOut,
    /// The budget was spent before its read started: first next sweep.
    NotReached,
}

impl Outcome {
    pub fn of(result: &Option<Result<ChainReading, ChainProbeError>>) -> Outcome {
        match result {
            None => Outcome::NotReached,
            Some(Err(e)) if e.is_time_out() => Outcome::TimedOut,
            Some(_) => Outcome::Answered,
        }
    }
}

#[derive(Debug, Default)]
pub struct Schedule {
    slots: HashMap<u64, Slot>,
}

impl Schedule {
    /// The order in which to read `contracts` at `now`: indexes into it,
    /// the least recently read first (ties in the order given), without
    /// the nodes backed off.
    pub fn plan(&self, contracts: &[ContractId], now: u64) -> Vec<usize> {
        let mut order: Vec<(u64, usize)> = contracts
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let slot = self.slots.get(&c.0).copied().unwrap_or_default();
                (slot.not_before <= now).then_some((slot.last_read, i))
            })
            .collect();
        // Stable: equal times keep the given order.
        order.sort_by_key(|&(last_read, _)| last_read);
        order.into_iter().map(|(_, i)| i).collect()
    }

    /// Records how the read of `contract` started at `now` ended.
    pub fn record(&mut self, contract: ContractId, outcome: Outcome, now: u64) {
        if outcome == Outcome::NotReached {
            return;
        }
        let slot = self.slots.entry(contract.0).or_default();
        slot.last_read = now;
        match outcome {
            Outcome::Answered => {
                slot.timeouts = 0;
                slot.not_before = 0;
            }
            Outcome::TimedOut => {
                slot.timeouts = slot.timeouts.saturating_add(1);
                if slot.timeouts >= BACKOFF_AFTER {
                    slot.not_before = now.saturating_add(backoff_secs(slot.timeouts));
                }
            }
            Outcome::NotReached => {}
        }
    }

    /// Whether `contract` is backed off at `now`.
    #[cfg(test)]
    pub fn backed_off(&self, contract: ContractId, now: u64) -> bool {
        self.slots
            .get(&contract.0)
            .is_some_and(|s| s.not_before > now)
    }

    /// Forgets the nodes not in `keep` (cancelled, redeployed, stopped).
    pub fn retain(&mut self, keep: impl Fn(ContractId) -> bool) {
        self.slots.retain(|&c, _| keep(ContractId(c)));
    }
}

/// The back-off after `timeouts` time-outs in a row (at least
/// [`BACKOFF_AFTER`]).
pub fn backoff_secs(timeouts: u32) -> u64 {
    let doublings = timeouts.saturating_sub(BACKOFF_AFTER).min(16);
    BACKOFF_BASE_SECS
        .saturating_mul(1 << doublings)
        .min(BACKOFF_MAX_SECS)
}

/// Reads `targets[i]` for each `i` of `order`, at most `concurrency` at
/// once, starting none once `budget` has passed: `None` for those not
/// started. Answers by index into `targets`.
pub async fn read_within(
    probe: &dyn ChainProbe,
    targets: &[ChainTarget],
    order: &[usize],
    concurrency: usize,
    budget: Duration,
) -> Vec<Option<Result<ChainReading, ChainProbeError>>> {
    use futures_util::StreamExt as _;
    let deadline = tokio::time::Instant::now() + budget;
    let mut answers: Vec<Option<Result<ChainReading, ChainProbeError>>> =
        std::iter::repeat_with(|| None)
            .take(targets.len())
            .collect();
    // Made up front: mapping inside the stream trips the compiler's
    // higher-ranked lifetime check for Send futures.
    let reads: Vec<_> = order
        .iter()
        .map(|&i| {
            let target = &targets[i];
            async move {
                // Checked when the read would start, i.e. when a slot frees.
                if tokio::time::Instant::now() >= deadline {
                    return (i, None);
                }
                (i, Some(probe.read_chain(target).await))
            }
        })
        .collect();
    let mut stream = futures_util::stream::iter(reads).buffer_unordered(concurrency.max(1));
    while let Some((i, answer)) = stream.next().await {
        answers[i] = answer;
    }
    answers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::probe::ChainSource;
    use std::sync::{Arc, Mutex};

    /// Contracts 1..: those in `silent` wait out the time-out (10 s of
    /// paused tokio time) and time out; the others answer at once.
    struct Fleet {
        silent: Vec<u64>,
        asked: Mutex<Vec<u64>>,
    }

    #[async_trait::async_trait]
    impl ChainProbe for Fleet {
        async fn read_chain(&self, target: &ChainTarget) -> Result<ChainReading, ChainProbeError> {
            let ChainSource::Node { contract, .. } = &target.source else {
                unreachable!()
            };
            self.asked.lock().unwrap().push(contract.0);
            if self.silent.contains(&contract.0) {
                tokio::time::sleep(Duration::from_secs(10)).await;
                return Err(ChainProbeError::TimedOut {
                    what: "port 9999".into(),
                    after: "10 s".into(),
                });
            }
            Ok(ChainReading::of_evm_reference(contract.0))
        }
    }

    fn targets(n: u64) -> (Vec<ContractId>, Vec<ChainTarget>) {
        let catalog = Catalog::parse(
            "catalog.yaml",
            include_str!("../../../dialogues/catalog.yaml"),
        )
        .unwrap();
        let spec = Arc::new(catalog.chain("dash").unwrap().probe.clone().unwrap());
        let contracts: Vec<ContractId> = (1..=n).map(ContractId).collect();
        let targets = contracts
            .iter()
            .map(|&contract| ChainTarget {
                chain: "dash".into(),
                source: ChainSource::Node {
                    contract,
                    hosts: vec![],
                    mycelium: None,
                },
                spec: Arc::clone(&spec),
            })
            .collect();
        (contracts, targets)
    }

    /// One sweep at `now`: planned, read within the budget, recorded.
    /// Answers which contracts were read, and how long it took.
    async fn sweep(
        schedule: &mut Schedule,
        fleet: &Fleet,
        (contracts, targets): &(Vec<ContractId>, Vec<ChainTarget>),
        now: u64,
    ) -> (Vec<u64>, Duration) {
        let started = tokio::time::Instant::now();
        let order = schedule.plan(contracts, now);
        let answers = read_within(fleet, targets, &order, 2, Duration::from_secs(15)).await;
        let mut read = Vec::new();
        for (contract, answer) in contracts.iter().zip(&answers) {
            schedule.record(*contract, Outcome::of(answer), now);
            if answer.is_some() {
                read.push(contract.0);
            }
        }
        (read, started.elapsed())
    }

    #[tokio::test(start_paused = true)]
    async fn silent_nodes_do_not_hold_the_sweep_and_are_backed_off() {
        // Ten nodes, two at once, a 15 s budget, a 10 s time-out: nodes 1
        // to 4 never answer.
        let fleet = Fleet {
            silent: vec![1, 2, 3, 4],
            asked: Mutex::new(vec![]),
        };
        let fleet_targets = targets(10);
        let mut schedule = Schedule::default();

        // Sweep 1: 1 and 2 hold both slots for 10 s, 3 and 4 start at
        // 10 s and end at 20 s; past 15 s nothing starts: 5..10 wait.
        let (read, took) = sweep(&mut schedule, &fleet, &fleet_targets, 1_000).await;
        assert_eq!(read, [1, 2, 3, 4]);
        assert_eq!(
            took,
            Duration::from_secs(20),
            "budget + one time-out at most"
        );

        // Sweep 2: the nodes not reached come first, all answer at once,
        // then the silent ones are tried a second time.
        let (read, took) = sweep(&mut schedule, &fleet, &fleet_targets, 1_060).await;
        assert_eq!(read, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(took, Duration::from_secs(20));
        let asked = fleet.asked.lock().unwrap().split_off(4);
        assert_eq!(asked[..6], [5, 6, 7, 8, 9, 10]);

        // Two time-outs in a row: backed off for five minutes, so sweep 3
        // costs nothing but the answering nodes.
        for contract in 1..=4 {
            assert!(schedule.backed_off(ContractId(contract), 1_120));
        }
        let (read, took) = sweep(&mut schedule, &fleet, &fleet_targets, 1_120).await;
        assert_eq!(read, [5, 6, 7, 8, 9, 10]);
        assert_eq!(took, Duration::ZERO);

        // Five minutes after the second time-out they are tried again; a
        // third time-out doubles the back-off.
        // (They were read longest ago, so they go first and use the
        // budget: the others, read a sweep ago, wait for the next.)
        let (read, _) = sweep(&mut schedule, &fleet, &fleet_targets, 1_060 + 300).await;
        assert_eq!(read, [1, 2, 3, 4]);
        assert!(schedule.backed_off(ContractId(1), 1_360 + 599));
        assert!(!schedule.backed_off(ContractId(1), 1_360 + 600));

        // One answer clears it.
        let fleet = Fleet {
            silent: vec![],
            asked: Mutex::new(vec![]),
        };
        let (read, _) = sweep(&mut schedule, &fleet, &fleet_targets, 1_360 + 600).await;
        assert_eq!(read, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert!(!schedule.backed_off(ContractId(1), 1_960 + 1));
    }

    #[test]
    fn round_robin_and_backoff_figures() {
        let mut schedule = Schedule::default();
        let contracts: Vec<ContractId> = (1..=4).map(ContractId).collect();
        assert_eq!(schedule.plan(&contracts, 10), [0, 1, 2, 3]);
        schedule.record(ContractId(1), Outcome::Answered, 10);
        schedule.record(ContractId(2), Outcome::Answered, 20);
        schedule.record(ContractId(3), Outcome::NotReached, 20);
        // Never read first (3 and 4, in the order given), then by age.
        assert_eq!(schedule.plan(&contracts, 30), [2, 3, 0, 1]);
        // One time-out is not enough to back off.
        schedule.record(ContractId(4), Outcome::TimedOut, 30);
        assert!(!schedule.backed_off(ContractId(4), 31));
        assert_eq!(backoff_secs(2), 300);
        assert_eq!(backoff_secs(3), 600);
        assert_eq!(backoff_secs(6), 4800);
        assert_eq!(backoff_secs(7), 7200);
        assert_eq!(backoff_secs(u32::MAX), 7200);
        schedule.retain(|c| c != ContractId(1));
        assert_eq!(schedule.plan(&contracts, 40)[0], 0, "forgotten: never read");
    }
}
