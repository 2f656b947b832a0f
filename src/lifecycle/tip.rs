//! The network's tip, pure: which height a chain is at, from what public
//! reference peers say and what Jukebox's own nodes of that chain report.
//!
//! A peer can lie (or be on a fork): a single height far above the others
//! must not make every honest node look behind. The anchor is the median of
//! the references (one liar among three cannot move it), or, with no
//! reference answering, the previous tip moved on by the chain's block
//! time, or the median of our own nodes; anything more than `max_ahead`
//! blocks above the anchor is not believed. The tip is the highest believed
//! height, and never lower than the last one (a stale reference does not
//! pull the tip back).

/// A believed tip and when it was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tip {
    pub height: u64,
    pub at: u64,
}

/// The thresholds for one chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TipRules {
    pub block_seconds: u32,
    /// Heights more than this far above the anchor are not believed.
    pub max_ahead: u64,
}

impl TipRules {
    /// An hour of the chain's blocks (and at least 6): far more than any
    /// honest spread between synced peers, far less than a lie that would
    /// matter.
    pub fn for_block_seconds(block_seconds: u32) -> TipRules {
        TipRules {
            block_seconds: block_seconds.max(1),
            max_ahead: (3600 / u64::from(block_seconds.max(1))).max(6),
        }
    }
}

/// A height some source reported, named for the log ("seed.example:9999",
/// "contract 42").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub source: String,
    pub height: u64,
}

/// What [`network_tip`] decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TipVerdict {
    pub tip: Option<Tip>,
    /// Reports above the believable ceiling.
    pub disbelieved: Vec<Report>,
}

/// Decides the tip at `now` (see the module doc).
pub fn network_tip(
    references: &[Report],
    own: &[Report],
    previous: Option<Tip>,
    now: u64,
    rules: TipRules,
) -> TipVerdict {
    // How far the previous tip can honestly have moved: twice the block
    // rate (blocks come in bursts) plus the margin.
    let extrapolated = previous.map(|p| {
        let blocks = now.saturating_sub(p.at) * 2 / u64::from(rules.block_seconds.max(1));
        p.height
            .saturating_add(blocks)
            .saturating_add(rules.max_ahead)
    });
    let anchor = match (median(references), extrapolated, median(own)) {
        (Some(refs), Some(limit), _) => Some(refs.min(limit)),
        (Some(refs), None, _) => Some(refs),
        (None, Some(limit), _) => Some(limit.saturating_sub(rules.max_ahead)),
        (None, None, own) => own,
    };
    let Some(anchor) = anchor else {
        return TipVerdict {
            tip: None,
            disbelieved: Vec::new(),
        };
    };
    let ceiling = anchor.saturating_add(rules.max_ahead);
    let mut disbelieved = Vec::new();
    let mut best: Option<u64> = None;
    for report in references.iter().chain(own) {
        if report.height > ceiling {
            disbelieved.push(report.clone());
        } else {
            best = best.max(Some(report.height));
        }
    }
    let height = best.max(previous.map(|p| p.height));
    TipVerdict {
        tip: height.map(|height| Tip { height, at: now }),
        disbelieved,
    }
}

/// The lower median: with two reports, the smaller one is the anchor (a
/// liar among two cannot raise it).
fn median(reports: &[Report]) -> Option<u64> {
    let mut heights: Vec<u64> = reports.iter().map(|r| r.height).collect();
    heights.sort_unstable();
    heights.get((heights.len().max(1) - 1) / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(source: &str, height: u64) -> Report {
        Report {
            source: source.into(),
            height,
        }
    }

    const DASH: TipRules = TipRules {
        block_seconds: 150,
        max_ahead: 24,
    };

    #[test]
    fn rules_give_an_hour_of_blocks() {
        assert_eq!(TipRules::for_block_seconds(150), DASH);
        assert_eq!(TipRules::for_block_seconds(15).max_ahead, 240);
        assert_eq!(TipRules::for_block_seconds(2).max_ahead, 1800);
        assert_eq!(TipRules::for_block_seconds(7200).max_ahead, 6);
    }

    #[test]
    fn a_lying_reference_is_outvoted_and_named() {
        let refs = [r("a", 1000), r("liar", 9_000_000), r("b", 1001)];
        let v = network_tip(&refs, &[r("contract 7", 998)], None, 0, DASH);
        assert_eq!(
            v.tip,
            Some(Tip {
                height: 1001,
                at: 0
            })
        );
        assert_eq!(v.disbelieved, vec![r("liar", 9_000_000)]);
    }

    #[test]
    fn one_of_two_references_lying_cannot_raise_the_tip() {
        let v = network_tip(&[r("liar", 5000), r("a", 1000)], &[], None, 0, DASH);
        assert_eq!(v.tip.map(|t| t.height), Some(1000));
        assert_eq!(v.disbelieved.len(), 1);
    }

    #[test]
    fn our_own_node_ahead_of_slow_references_counts_within_the_margin() {
        let v = network_tip(
            &[r("a", 1000)],
            &[r("c1", 1010), r("c2", 5000)],
            None,
            0,
            DASH,
        );
        assert_eq!(v.tip.map(|t| t.height), Some(1010));
        assert_eq!(v.disbelieved, vec![r("c2", 5000)]);
    }

    #[test]
    fn without_references_the_previous_tip_bounds_our_nodes() {
        let prev = Tip {
            height: 1000,
            at: 0,
        };
        // 10 minutes later: 4 blocks expected, 8 allowed, plus the margin.
        let v = network_tip(&[], &[r("c1", 1004), r("c2", 1100)], Some(prev), 600, DASH);
        assert_eq!(
            v.tip,
            Some(Tip {
                height: 1004,
                at: 600
            })
        );
        assert_eq!(v.disbelieved, vec![r("c2", 1100)]);
    }

    #[test]
    fn a_majority_of_liars_cannot_outrun_the_previous_tip() {
        let prev = Tip {
            height: 1000,
            at: 0,
        };
        let refs = [r("l1", 90_000), r("l2", 90_001), r("a", 1001)];
        let v = network_tip(&refs, &[], Some(prev), 150, DASH);
        assert_eq!(v.tip.map(|t| t.height), Some(1001));
        assert_eq!(v.disbelieved.len(), 2);
    }

    #[test]
    fn the_tip_never_goes_back_and_nothing_known_is_none() {
        let prev = Tip {
            height: 1000,
            at: 0,
        };
        let v = network_tip(&[r("stale", 900)], &[], Some(prev), 60, DASH);
        assert_eq!(v.tip.map(|t| t.height), Some(1000));
        assert_eq!(network_tip(&[], &[], None, 0, DASH).tip, None);
        // Only our own nodes, first sweep: their median anchors.
        let v = network_tip(
            &[],
            &[r("c1", 10), r("c2", 12), r("c3", 10_000)],
            None,
            0,
            DASH,
        );
        assert_eq!(v.tip.map(|t| t.height), Some(12));
    }
}
