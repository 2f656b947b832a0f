//! What a node type may be called when typed (`/deploy <chain> sentry
//! node`, or "Sentry node" at the kind question): besides its id and its
//! whole label, the words of its label, in any case and spacing, with or
//! without the chain's name in front and with or without a trailing
//! "node". So for a chain named "Acme", "sentry", "sentry node", "acme
//! sentry" and "Acme sentry node" all name "Acme sentry node", and
//! "validator node" names "Acme validator". Pure; the engine asks it only
//! about node types.

use super::super::Choice;

/// The word a label may end with, or not, and still be meant.
const NODE: &str = "node";

/// The lowercase words of `text`, without a trailing "node".
fn words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    if words.last().is_some_and(|w| w == NODE) {
        words.pop();
    }
    words
}

/// Whether `text` names the node type labelled `label` of the chain named
/// `chain_name`.
fn names(chain_name: &str, label: &str, text: &str) -> bool {
    if text.split_whitespace().next().is_none() {
        return false;
    }
    let typed = words(text);
    let whole = words(label);
    let chain = words(chain_name);
    let short = whole.strip_prefix(chain.as_slice()).unwrap_or(&whole);
    typed == whole || typed == short
}

/// The node type among `choices` (the kind question's, labelled by the
/// catalog's names) that `text` names by its label's words, if exactly one.
pub(super) fn match_node_type(choices: &[Choice], chain_name: &str, text: &str) -> Option<usize> {
    let mut named = choices
        .iter()
        .enumerate()
        .filter(|(_, c)| names(chain_name, &c.label, text))
        .map(|(i, _)| i);
    let first = named.next()?;
    named.next().is_none().then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn polygon() -> Vec<Choice> {
        [
            ("sentry", "Polygon sentry node"),
            ("full", "Polygon full node"),
            ("validator", "Polygon validator"),
        ]
        .map(|(value, label)| Choice {
            value: value.into(),
            label: label.into(),
        })
        .to_vec()
    }

    #[test]
    fn a_type_is_named_by_its_labels_words_with_or_without_node() {
        let choices = polygon();
        for (typed, want) in [
            ("sentry node", 0),
            ("Sentry Node", 0),
            ("sentry  node", 0),
            ("polygon sentry", 0),
            ("Polygon sentry node", 0),
            ("sentry", 0),
            ("full node", 1),
            ("validator node", 2),
            ("POLYGON VALIDATOR", 2),
        ] {
            assert_eq!(
                match_node_type(&choices, "Polygon", typed),
                Some(want),
                "{typed}"
            );
        }
    }

    #[test]
    fn other_words_name_no_type() {
        let choices = polygon();
        for typed in [
            "",
            "node",
            "sentry nodes",
            "node sentry",
            "sentry node node",
            "polygon",
            "archive node",
            "sentry full",
        ] {
            assert_eq!(match_node_type(&choices, "Polygon", typed), None, "{typed}");
        }
    }

    #[test]
    fn a_label_that_is_the_chain_and_node_is_named_by_node() {
        let choices = vec![Choice {
            value: "node".into(),
            label: "Presearch node".into(),
        }];
        assert_eq!(match_node_type(&choices, "Presearch", "node"), Some(0));
        assert_eq!(
            match_node_type(&choices, "Presearch", "presearch node"),
            Some(0)
        );
        assert_eq!(match_node_type(&choices, "Presearch", "full"), None);
    }
}
