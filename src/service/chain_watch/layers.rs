//! A chain read in two layers (a CometBFT consensus layer, then an EVM
//! execution client) seen as one node by the rules: the heights and the
//! tips are summed, so the node is within `in_sync_blocks` of the network
//! only when both layers are close, its sync percentage is the share of
//! both chains it holds, and its rate is what both gain together; each
//! layer's own heights are kept for what users read.

use crate::catalog::{ChainProbeSpec, ProbeProtocol};
use crate::lifecycle::chain_state::LayerHeight;
use crate::probe::ChainReading;

/// What the rules and the record see of one reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Combined {
    pub height: u64,
    pub network_height: Option<u64>,
    /// Empty for a chain of one layer.
    pub layers: Vec<LayerHeight>,
}

/// Combines `reading` with the chain's tips: `tip` the consensus layer's,
/// `evm_tip` the execution layer's. A chain without an execution layer, or
/// a reading without one (a simulated chain that does not simulate it),
/// is the consensus layer alone. The network height is known only when
/// both tips are: half a network height would make a node look ahead.
pub(super) fn combine(
    spec: &ChainProbeSpec,
    reading: &ChainReading,
    tip: Option<u64>,
    evm_tip: Option<u64>,
) -> Combined {
    let (ProbeProtocol::CometBft(cometbft), Some(evm)) = (&spec.protocol, &reading.evm) else {
        return Combined {
            height: reading.height,
            network_height: tip,
            layers: vec![],
        };
    };
    let Some(evm_spec) = &cometbft.evm else {
        return Combined {
            height: reading.height,
            network_height: tip,
            layers: vec![],
        };
    };
    Combined {
        height: reading.height.saturating_add(evm.height),
        network_height: tip.zip(evm_tip).map(|(a, b)| a.saturating_add(b)),
        layers: vec![
            LayerHeight {
                name: cometbft.consensus_name.clone(),
                height: reading.height,
                network_height: tip,
            },
            LayerHeight {
                name: evm_spec.name.clone(),
                height: evm.height,
                network_height: evm_tip,
            },
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::probe::evm::EvmStatus;

    fn spec(chain: &str) -> ChainProbeSpec {
        let catalog = Catalog::parse(
            "catalog.yaml",
            include_str!("../../../dialogues/catalog.yaml"),
        )
        .unwrap();
        catalog.chain(chain).unwrap().probe.clone().unwrap()
    }

    fn reading(height: u64, evm: Option<u64>) -> ChainReading {
        ChainReading {
            evm: evm.map(|height| EvmStatus {
                height,
                syncing: None,
            }),
            ..ChainReading::of_evm_reference(height)
        }
    }

    #[test]
    fn polygon_is_heimdall_plus_bor() {
        let polygon = spec("polygon");
        let both = combine(
            &polygon,
            &reading(30_000_000, Some(1_000)),
            Some(30_000_005),
            Some(80_000_000),
        );
        assert_eq!(both.height, 30_001_000);
        assert_eq!(both.network_height, Some(110_000_005));
        let names: Vec<&str> = both.layers.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["Heimdall", "Bor"]);
        assert_eq!(both.layers[1].height, 1_000);
        assert_eq!(both.layers[1].network_height, Some(80_000_000));
        // Heimdall in sync is not enough: the sum is far from the network's.
        let lag = both.network_height.unwrap() - both.height;
        assert!(lag > polygon.in_sync_blocks, "{lag}");
        // Bor's tip unknown: no network height at all (not half of one).
        let half = combine(&polygon, &reading(30_000_000, Some(1_000)), Some(1), None);
        assert_eq!(half.network_height, None);
        assert_eq!(half.layers[0].network_height, Some(1));
    }

    #[test]
    fn one_layer_chains_are_unchanged() {
        let dash = combine(&spec("dash"), &reading(5, None), Some(9), None);
        assert_eq!(
            dash,
            Combined {
                height: 5,
                network_height: Some(9),
                layers: vec![]
            }
        );
        let heimdall_only = combine(&spec("polygon"), &reading(5, None), Some(9), Some(7));
        assert_eq!(heimdall_only.network_height, Some(9));
        assert!(heimdall_only.layers.is_empty());
    }
}
