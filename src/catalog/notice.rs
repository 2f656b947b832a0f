//! What a redeploy ("move") means for a node's identity on its chain: what
//! moves with the node, and what the user must do afterwards (a
//! masternode's new IP needs a transaction from its owner; a sentry's new address
//! must reach its validator). The words are catalog data (`on_move`), the
//! rendering is a pure function of the catalog and the node's old and new
//! placements, so the redeploy flow only has to call [`move_notice`].
//!
//! A template names values as `{old.ipv4}`, `{new.ipv4}`, `{old.ipv6}`,
//! `{new.ipv6}`, `{port.<name>}` (a port of the node type) and
//! `{setting.<key>}` (a non-secret setting); [`Template::parse`] refuses
//! anything else, so `jukebox check` catches a typo, and a secret can never
//! be written into a message.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::{NodeType, Port, Setting};
use crate::model::grid::Placed;

/// When the notice applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    /// Only when the node's public IPv4 changed (what a chain registered).
    #[default]
    Ipv4Changed,
    /// After every move.
    Always,
}

/// `on_move` as the catalog writes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOnMove {
    pub keeps: String,
    #[serde(default)]
    pub when: When,
    #[serde(default)]
    pub notice: Option<String>,
    #[serde(default)]
    pub given: Option<RawGiven>,
}

/// `on_move.given` as the catalog writes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGiven {
    pub settings: Vec<String>,
    pub keeps: String,
    #[serde(default)]
    pub notice: Option<String>,
}

/// What a move keeps and, when it applies, what the user must do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnMove {
    pub keeps: String,
    pub when: When,
    pub notice: Option<Template>,
    /// The words instead when the node has every one of some (optional)
    /// settings: a node given its own keys moves its identity.
    pub given: Option<Given>,
}

/// `on_move` for a node that has all of `settings`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Given {
    pub settings: Vec<String>,
    pub keeps: String,
    pub notice: Option<Template>,
}

impl OnMove {
    /// Checks `raw` against the node type's ports and settings.
    pub(super) fn parse(
        raw: RawOnMove,
        ports: &[Port],
        settings: &[Setting],
    ) -> Result<OnMove, String> {
        if raw.keeps.trim().is_empty() {
            return Err("on_move.keeps must say what a move keeps".into());
        }
        let notice = match raw.notice {
            Some(text) => Some(Template::parse(&text, ports, settings)?),
            None => None,
        };
        let given = match raw.given {
            Some(given) => {
                if given.settings.is_empty() {
                    return Err("on_move.given.settings must name at least one setting".into());
                }
                if let Some(key) = given
                    .settings
                    .iter()
                    .find(|k| !settings.iter().any(|s| &s.key == *k))
                {
                    return Err(format!(
                        "on_move.given names setting {key:?}, which the node type does not have"
                    ));
                }
                if given.keeps.trim().is_empty() {
                    return Err("on_move.given.keeps must say what a move keeps".into());
                }
                Some(Given {
                    settings: given.settings,
                    keeps: given.keeps.trim().to_owned(),
                    notice: match given.notice {
                        Some(text) => Some(Template::parse(&text, ports, settings)?),
                        None => None,
                    },
                })
            }
            None => None,
        };
        Ok(OnMove {
            keeps: raw.keeps.trim().to_owned(),
            when: raw.when,
            notice,
            given,
        })
    }
}

/// A value a template may name.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Slot {
    OldIpv4,
    NewIpv4,
    OldIpv6,
    NewIpv6,
    Port(u16),
    Setting(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Slot(Slot),
}

/// A checked notice template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses `text`, resolving `{port.<name>}` against `ports` and
    /// `{setting.<key>}` against the non-secret `settings`.
    pub(super) fn parse(
        text: &str,
        ports: &[Port],
        settings: &[Setting],
    ) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = text.trim();
        while let Some(open) = rest.find('{') {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 1..];
            let close = after.find('}').ok_or_else(|| {
                format!(
                    "on_move.notice has a '{{' without '}}': {:?}",
                    &rest[open..]
                )
            })?;
            let name = &after[..close];
            pieces.push(Piece::Slot(slot(name, ports, settings)?));
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err("on_move.notice has a '}' without '{'".into());
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Template { pieces })
    }

    /// The text with `old` and `new`'s addresses (without prefix length)
    /// and the node's non-secret `settings` filled in; a value the node
    /// does not have reads as a placeholder in angle brackets.
    pub fn render(
        &self,
        old: &Placed,
        new: &Placed,
        settings: &BTreeMap<String, String>,
    ) -> String {
        let bare = |ip: &Option<String>| {
            ip.as_deref()
                .map(|ip| ip.split('/').next().unwrap_or(ip).to_owned())
        };
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Slot(s) => {
                    let value = match s {
                        Slot::OldIpv4 => bare(&old.ipv4).unwrap_or_else(|| "<no IPv4>".into()),
                        Slot::NewIpv4 => bare(&new.ipv4).unwrap_or_else(|| "<no IPv4>".into()),
                        Slot::OldIpv6 => bare(&old.ipv6).unwrap_or_else(|| "<no IPv6>".into()),
                        Slot::NewIpv6 => bare(&new.ipv6).unwrap_or_else(|| "<no IPv6>".into()),
                        Slot::Port(p) => p.to_string(),
                        Slot::Setting(key) => settings
                            .get(key)
                            .cloned()
                            .unwrap_or_else(|| format!("<{key}>")),
                    };
                    out.push_str(&value);
                }
            }
        }
        out
    }
}

fn slot(name: &str, ports: &[Port], settings: &[Setting]) -> Result<Slot, String> {
    match name {
        "old.ipv4" => return Ok(Slot::OldIpv4),
        "new.ipv4" => return Ok(Slot::NewIpv4),
        "old.ipv6" => return Ok(Slot::OldIpv6),
        "new.ipv6" => return Ok(Slot::NewIpv6),
        _ => {}
    }
    if let Some(port) = name.strip_prefix("port.") {
        return ports
            .iter()
            .find(|p| p.name == port)
            .map(|p| Slot::Port(p.port))
            .ok_or_else(|| {
                format!("on_move.notice names {{{name}}}, but no port is called {port:?}")
            });
    }
    if let Some(key) = name.strip_prefix("setting.") {
        return match settings.iter().find(|s| s.key == key) {
            Some(s) if s.secret => Err(format!(
                "on_move.notice names {{{name}}}, a secret setting: secrets are never written into a message"
            )),
            Some(_) => Ok(Slot::Setting(key.to_owned())),
            None => Err(format!(
                "on_move.notice names {{{name}}}, but there is no setting {key:?}"
            )),
        };
    }
    Err(format!(
        "on_move.notice names {{{name}}}; use old.ipv4, new.ipv4, old.ipv6, new.ipv6, port.<name> or setting.<key>"
    ))
}

/// What the user is told after a move.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MoveNotice {
    /// What moved with the node (always said).
    pub keeps: String,
    /// What the user must do, when the node type has something and it
    /// applies to this move.
    pub todo: Option<String>,
}

/// The notice for a node of type `nt` moved from `old` to `new`; `settings`
/// are the node's setting values by key (only non-secret ones are ever
/// read, as the catalog check allows no other in a template), and the only
/// settings it has.
pub fn move_notice(
    nt: &NodeType,
    old: &Placed,
    new: &Placed,
    settings: &BTreeMap<String, String>,
) -> MoveNotice {
    let given: BTreeSet<String> = settings.keys().cloned().collect();
    move_notice_given(nt, old, new, settings, &given)
}

/// [`move_notice`] for a node that has the settings named in `given`
/// (secret ones included: only whether they are there is read, never a
/// value), which decides between `on_move` and `on_move.given`.
pub fn move_notice_given(
    nt: &NodeType,
    old: &Placed,
    new: &Placed,
    settings: &BTreeMap<String, String>,
    given: &BTreeSet<String>,
) -> MoveNotice {
    let on_move = &nt.on_move;
    let (keeps, notice) = match &on_move.given {
        Some(g) if g.settings.iter().all(|k| given.contains(k)) => (&g.keeps, &g.notice),
        _ => (&on_move.keeps, &on_move.notice),
    };
    let v4 = |p: &Placed| {
        p.ipv4
            .as_deref()
            .map(|ip| ip.split('/').next().unwrap_or(ip).to_owned())
    };
    let applies = match on_move.when {
        When::Always => true,
        When::Ipv4Changed => v4(old) != v4(new),
    };
    MoveNotice {
        keeps: keeps.clone(),
        todo: notice
            .as_ref()
            .filter(|_| applies)
            .map(|t| t.render(old, new, settings)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;
    use crate::model::grid::{ContractId, GridNode, GridNodeId, NodeStatus};

    const CATALOG: &str = include_str!("../../dialogues/catalog.yaml");

    fn placed(ipv4: Option<&str>, ipv6: &str) -> Placed {
        Placed {
            contract: ContractId(7),
            node: GridNode {
                id: GridNodeId(11),
                farm_id: 1,
                farm_name: "Farm".into(),
                country: "Belgium".into(),
                status: NodeStatus::Up,
            },
            ipv4: ipv4.map(str::to_owned),
            ipv6: Some(ipv6.to_owned()),
            mycelium: None,
        }
    }

    fn node_type(chain: &str, id: &str) -> NodeType {
        let catalog = Catalog::parse("catalog.yaml", CATALOG).unwrap();
        catalog.node_type(chain, id).unwrap().1.clone()
    }

    #[test]
    fn a_moved_masternode_gets_its_protx_update_service_line() {
        let nt = node_type("dash", "masternode");
        let old = placed(Some("192.0.2.10/24"), "2001:db8::1/64");
        let new = placed(Some("198.51.100.7/24"), "2001:db8::2/64");
        let notice = move_notice(&nt, &old, &new, &BTreeMap::new());
        let todo = notice.todo.unwrap();
        assert!(
            todo.contains(
                "`protx update_service <proTxHash> 198.51.100.7:9999 <operator BLS secret key>`"
            ),
            "{todo}"
        );
        assert!(
            todo.contains("changed from 192.0.2.10 to 198.51.100.7"),
            "{todo}"
        );
        assert!(notice.keeps.contains("BLS operator key"));
        // The same address (a move that kept the IPv4) needs nothing.
        let same = move_notice(
            &nt,
            &old,
            &placed(Some("192.0.2.10/24"), "2001:db8::9/64"),
            &BTreeMap::new(),
        );
        assert_eq!(same.todo, None);
    }

    #[test]
    fn a_moved_validator_names_its_sentry_and_new_peer_addresses() {
        let nt = node_type("polygon", "validator");
        let settings = BTreeMap::from([("sentry_heimdall_id".to_string(), "ab".repeat(20))]);
        let old = placed(Some("192.0.2.10/24"), "2001:db8::1/64");
        let new = placed(Some("203.0.113.5/24"), "2001:db8::2/64");
        let todo = move_notice(&nt, &old, &new, &settings).todo.unwrap();
        assert!(todo.contains(&"ab".repeat(20)), "{todo}");
        assert!(
            todo.contains("`<validator node id>@203.0.113.5:26656`"),
            "{todo}"
        );
        assert!(
            todo.contains("`enode://<validator enode key>@203.0.113.5:30303`"),
            "{todo}"
        );
        // A setting the node lacks stays a placeholder.
        let todo = move_notice(&nt, &old, &new, &BTreeMap::new()).todo.unwrap();
        assert!(todo.contains("<sentry_heimdall_id>"), "{todo}");
    }

    #[test]
    fn a_sentry_move_tells_what_its_validator_must_update() {
        let nt = node_type("polygon", "sentry");
        let todo = move_notice(
            &nt,
            &placed(Some("192.0.2.10/24"), "2001:db8::1/64"),
            &placed(None, "2001:db8::2/64"),
            &BTreeMap::new(),
        )
        .todo
        .unwrap();
        assert!(todo.contains("to <no IPv4>"), "{todo}");
        assert!(
            todo.contains("`<sentry node id>@<no IPv4>:26656`"),
            "{todo}"
        );
    }

    #[test]
    fn presearch_always_says_what_moved_and_full_nodes_need_nothing() {
        let old = placed(Some("192.0.2.10/24"), "2001:db8::1/64");
        let presearch = move_notice(
            &node_type("presearch", "node"),
            &old,
            &old,
            &BTreeMap::new(),
        );
        assert!(presearch.keeps.contains("PRESEARCH_BACKUP_PRI_KEY"));
        assert!(presearch.todo.unwrap().contains("move your PRE stake"));
        let new = placed(Some("203.0.113.5/24"), "2001:db8::2/64");
        for (chain, id) in [("dash", "full"), ("digibyte", "full"), ("polygon", "full")] {
            let notice = move_notice(&node_type(chain, id), &old, &new, &BTreeMap::new());
            assert_eq!(notice.todo, None, "{chain}/{id}");
            assert!(notice.keeps.contains("syncs the chain again"));
        }
    }

    #[test]
    fn a_presearch_node_with_its_keys_keeps_its_identity() {
        let nt = node_type("presearch", "node");
        let old = placed(Some("192.0.2.10/24"), "2001:db8::1/64");
        let new = placed(Some("203.0.113.5/24"), "2001:db8::2/64");
        let both: BTreeSet<String> = ["node_private_key", "node_public_key"]
            .map(str::to_owned)
            .into();
        let notice = move_notice_given(&nt, &old, &new, &BTreeMap::new(), &both);
        assert!(
            notice.keeps.contains("kept its identity"),
            "{}",
            notice.keeps
        );
        let todo = notice.todo.unwrap();
        assert!(todo.contains("nothing to do"), "{todo}");
        assert!(!todo.contains("move your PRE stake"), "{todo}");
        // One key alone restores nothing (the flist wants both): a new identity.
        let one: BTreeSet<String> = ["node_private_key".to_owned()].into();
        let notice = move_notice_given(&nt, &old, &new, &BTreeMap::new(), &one);
        assert!(notice.todo.unwrap().contains("move your PRE stake"));
        assert!(notice.keeps.contains("not its identity"));
    }

    #[test]
    fn given_must_name_settings_of_the_node_type() {
        let nt = node_type("presearch", "node");
        let raw = RawOnMove {
            keeps: "k".into(),
            when: When::Always,
            notice: None,
            given: Some(RawGiven {
                settings: vec!["node_secret".into()],
                keeps: "k".into(),
                notice: None,
            }),
        };
        let e = OnMove::parse(raw, &nt.ports, &nt.settings).unwrap_err();
        assert!(e.contains("\"node_secret\""), "{e}");
    }

    #[test]
    fn templates_refuse_unknown_names_and_secrets() {
        let nt = node_type("polygon", "validator");
        let parse = |t: &str| Template::parse(t, &nt.ports, &nt.settings);
        assert!(parse("at {new.ipv4}:{port.bor-p2p}").is_ok());
        let e = parse("key {setting.eth_private_key}").unwrap_err();
        assert!(e.contains("secret setting"), "{e}");
        let e = parse("{port.rpc}").unwrap_err();
        assert!(e.contains("no port is called \"rpc\""), "{e}");
        let e = parse("{new.ip}").unwrap_err();
        assert!(e.contains("use old.ipv4"), "{e}");
        assert!(parse("open { never closed").is_err());
        assert!(parse("stray } brace").is_err());
    }
}
