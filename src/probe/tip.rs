//! The network's tip, read: the chain's public references are asked
//! through the same [`ChainProbe`] as our nodes (the P2P handshake with
//! public peers, a public CometBFT `/status`), then the pure rule
//! (`lifecycle::tip`) weighs them with what our own nodes of that chain
//! reported in the same sweep, so a lying peer is not believed. A chain
//! with an execution layer (an EVM client) has a second tip, read the same
//! way from its public JSON-RPC references (`read_evm_tip`).

use std::sync::Arc;

use super::{ChainProbe, ChainSource, ChainTarget};
use crate::catalog::{ChainProbeSpec, CometBftSpec, ProbeProtocol};
use crate::lifecycle::tip::{Report, Tip, TipRules, TipVerdict, network_tip};

/// Reads one chain's tip at `now`. `own` holds the heights our nodes of the
/// chain reported (named for the log); `previous` is the last believed tip.
/// References that fail are skipped: the tip is the best of what answered.
pub async fn read_tip(
    probe: &dyn ChainProbe,
    chain: &str,
    spec: &Arc<ChainProbeSpec>,
    own: &[Report],
    previous: Option<Tip>,
    now: u64,
    concurrency: usize,
) -> TipVerdict {
    let sources = spec.references.iter().cloned().map(ChainSource::Reference);
    tip_from(
        probe,
        chain,
        spec,
        sources.collect(),
        own,
        previous,
        now,
        concurrency,
    )
    .await
}

/// [`read_tip`] for the chain's execution layer (an EVM client): its
/// public JSON-RPC references, weighed with our nodes' execution heights
/// by the same rule. `None` when the chain has no execution layer.
#[allow(clippy::too_many_arguments)]
pub async fn read_evm_tip(
    probe: &dyn ChainProbe,
    chain: &str,
    spec: &Arc<ChainProbeSpec>,
    own: &[Report],
    previous: Option<Tip>,
    now: u64,
    concurrency: usize,
) -> Option<TipVerdict> {
    let ProbeProtocol::CometBft(CometBftSpec { evm: Some(evm), .. }) = &spec.protocol else {
        return None;
    };
    let sources = evm
        .references
        .iter()
        .cloned()
        .map(ChainSource::EvmReference);
    Some(
        tip_from(
            probe,
            chain,
            spec,
            sources.collect(),
            own,
            previous,
            now,
            concurrency,
        )
        .await,
    )
}

#[allow(clippy::too_many_arguments)]
async fn tip_from(
    probe: &dyn ChainProbe,
    chain: &str,
    spec: &Arc<ChainProbeSpec>,
    sources: Vec<ChainSource>,
    own: &[Report],
    previous: Option<Tip>,
    now: u64,
    concurrency: usize,
) -> TipVerdict {
    let targets: Vec<ChainTarget> = sources
        .into_iter()
        .map(|source| ChainTarget {
            chain: chain.to_string(),
            source,
            spec: Arc::clone(spec),
        })
        .collect();
    let answers = probe.read_many(&targets, concurrency).await;
    let mut references = Vec::new();
    for (target, answer) in targets.iter().zip(answers) {
        match answer {
            Ok(reading) => references.push(Report {
                source: target.label(),
                height: reading.height,
            }),
            Err(e) => {
                tracing::debug!(chain, reference = %target.label(), error = %e, "tip reference did not answer")
            }
        }
    }
    let verdict = network_tip(
        &references,
        own,
        previous,
        now,
        TipRules::for_block_seconds(spec.block_seconds),
    );
    for lie in &verdict.disbelieved {
        tracing::warn!(chain, source = %lie.source, height = lie.height, "height far above the network's, not believed");
    }
    verdict
}
