//! What the catalog states about each chain and the software it runs, and
//! the checks that keep those statements consistent: a chain's documented
//! minimum machine (and a role's, where it needs more), the image an flist
//! is made from, the upstream clients and their versions, and the node type
//! another one cannot work without.
//!
//! Pure data; `catalog.rs` calls [`check_node_facts`] while it checks the
//! rest, so every problem carries the catalog's file and line.

use std::cmp::Ordering;
use std::fmt;

use serde::Deserialize;

use super::Resources;
use crate::diagnostics::Diagnostics;

/// The least machine a chain's own documentation says a node needs, and
/// where it says so. The catalog refuses a node type below it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Minimum {
    pub cpu: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    /// The document the figures come from (file or page, and what it says).
    pub source: String,
}

impl Minimum {
    /// Each figure of `r` below this minimum, as "cpu 2 < 4".
    fn shortfalls(&self, r: &Resources) -> Vec<String> {
        let mut out = Vec::new();
        if r.cpu < self.cpu {
            out.push(format!("cpu {} < {}", r.cpu, self.cpu));
        }
        if r.memory_mib < self.memory_mib {
            out.push(format!("memory_mib {} < {}", r.memory_mib, self.memory_mib));
        }
        if r.disk_gib < self.disk_gib {
            out.push(format!("disk_gib {} < {}", r.disk_gib, self.disk_gib));
        }
        out
    }
}

/// What a node type's flist is made from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Image {
    /// An flist ThreeFold publishes itself (its dashboard deploys it).
    Official,
    /// Converted by the operator from these upstream Docker images
    /// (docs/catalog.md), e.g. `dashpay/dashd:23`.
    Docker { from: Vec<String> },
    /// No upstream image exists: the operator builds one from these
    /// releases (docs/catalog.md).
    Build { from: Vec<String> },
}

impl Image {
    /// Whether the flist exists only once the operator made it.
    pub fn operator_made(&self) -> bool {
        !matches!(self, Image::Official)
    }

    /// The upstream images or releases the operator starts from.
    pub fn sources(&self) -> &[String] {
        match self {
            Image::Official => &[],
            Image::Docker { from } | Image::Build { from } => from,
        }
    }
}

/// An upstream client the image runs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub name: String,
    pub version: Version,
    /// The oldest version the network still accepts, where it refuses
    /// older ones (e.g. after a chain split).
    #[serde(default)]
    pub min_version: Option<Version>,
}

impl Client {
    /// Whether `running` is one the network still accepts.
    pub fn accepts(&self, running: &Version) -> bool {
        self.min_version.as_ref().is_none_or(|min| running >= min)
    }
}

/// A dotted release number (`9.26.5`, `23`), compared part by part as
/// numbers, a missing part counting as 0 (`23` = `23.0.0`).
#[derive(Clone, Debug, Eq)]
pub struct Version {
    parts: Vec<u64>,
    text: String,
}

impl Version {
    /// A version from `9.26.5`, `v9.26.5` or `23`; anything else is refused
    /// with what was expected.
    pub fn parse(text: &str) -> Result<Version, String> {
        let trimmed = text.trim();
        let digits = trimmed.strip_prefix('v').unwrap_or(trimmed);
        let parts: Result<Vec<u64>, _> = digits.split('.').map(str::parse::<u64>).collect();
        match parts {
            Ok(parts) if !parts.is_empty() && parts.len() <= 4 => Ok(Version {
                parts,
                text: digits.to_owned(),
            }),
            _ => Err(format!(
                "version {text:?} must be 1 to 4 numbers joined by dots, like \"9.26.5\""
            )),
        }
    }

    fn part(&self, i: usize) -> u64 {
        self.parts.get(i).copied().unwrap_or(0)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Version::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.parts.len().max(other.parts.len());
        (0..n)
            .map(|i| self.part(i).cmp(&other.part(i)))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Another node type of the same chain this one cannot work without, and
/// the settings through which the user points at the one they run. A
/// validator and sentry must be separate machines, so a validator is its
/// own deployment that names its sentry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    pub node_type: String,
    pub settings: Vec<String>,
}

/// The parts of a node type these checks read.
pub(super) struct Facts<'a> {
    pub resources: &'a Resources,
    pub minimum: Option<&'a Minimum>,
    pub image: &'a Image,
    pub flist: &'a str,
    pub clients: &'a [Client],
    pub disk_mount: &'a str,
    pub requires: Option<&'a Requires>,
    pub settings: &'a [String],
}

/// Checks one node type's facts against its chain (`chain_minimum`, the
/// ids of its sibling node types); `at` is `chain/type` for the messages.
pub(super) fn check_node_facts(
    file: &str,
    line: usize,
    at: &str,
    chain_minimum: &Minimum,
    siblings: &[String],
    facts: &Facts<'_>,
    diags: &mut Diagnostics,
) {
    for (whose, minimum) in [
        ("its chain's", Some(chain_minimum)),
        ("its own", facts.minimum),
    ] {
        let Some(minimum) = minimum else { continue };
        let short = minimum.shortfalls(facts.resources);
        if !short.is_empty() {
            diags.push(
                file,
                line,
                format!(
                    "{at}: resources are below {whose} documented minimum ({}; source: {})",
                    short.join(", "),
                    minimum.source
                ),
            );
        }
    }
    if let Some(own) = facts.minimum
        && !chain_minimum
            .shortfalls(&Resources {
                cpu: own.cpu,
                memory_mib: own.memory_mib,
                disk_gib: own.disk_gib,
            })
            .is_empty()
    {
        diags.push(
            file,
            line,
            format!("{at}: its minimum is below its chain's; a role may only ask for more"),
        );
    }
    if facts.minimum.is_some_and(|m| m.source.trim().is_empty()) {
        diags.push(file, line, format!("{at}: minimum needs a source"));
    }
    match facts.image {
        Image::Official
            if !facts
                .flist
                .starts_with("https://hub.grid.tf/tf-official-apps/") =>
        {
            diags.push(
                file,
                line,
                format!(
                    "{at}: an official image is one ThreeFold publishes under \
                     https://hub.grid.tf/tf-official-apps/; mark this flist kind: docker or build"
                ),
            );
        }
        Image::Docker { from } | Image::Build { from } if from.is_empty() => {
            diags.push(
                file,
                line,
                format!("{at}: image needs `from`: what the operator makes the flist from"),
            );
        }
        Image::Docker { from } => {
            for image in from {
                if !is_docker_reference(image) {
                    diags.push(
                        file,
                        line,
                        format!("{at}: {image:?} is not a Docker image name with a tag (name:tag)"),
                    );
                }
            }
        }
        Image::Build { from } => {
            for release in from {
                if !release.starts_with("https://") {
                    diags.push(
                        file,
                        line,
                        format!("{at}: build source {release:?} must be an https:// release page"),
                    );
                }
            }
        }
        Image::Official => {}
    }
    if facts.clients.is_empty() {
        diags.push(
            file,
            line,
            format!("{at}: clients must name the upstream client(s) the image runs"),
        );
    }
    for client in facts.clients {
        if client.name.trim().is_empty() {
            diags.push(file, line, format!("{at}: a client has no name"));
        }
        if let Some(min) = &client.min_version
            && client.version < *min
        {
            diags.push(
                file,
                line,
                format!(
                    "{at}: {} {} is older than its min_version {min}: the network would refuse it",
                    client.name, client.version
                ),
            );
        }
    }
    if !facts.disk_mount.starts_with('/') || facts.disk_mount.len() < 2 {
        diags.push(
            file,
            line,
            format!("{at}: disk_mount must be an absolute path other than /"),
        );
    }
    if let Some(requires) = facts.requires {
        let own = at.rsplit('/').next().unwrap_or(at);
        if requires.node_type == own || !siblings.contains(&requires.node_type) {
            diags.push(
                file,
                line,
                format!(
                    "{at}: requires {:?}, which must be another node type of the same chain",
                    requires.node_type
                ),
            );
        }
        if requires.settings.is_empty() {
            diags.push(
                file,
                line,
                format!("{at}: requires needs the settings that point at the required node"),
            );
        }
        for key in &requires.settings {
            if !facts.settings.contains(key) {
                diags.push(
                    file,
                    line,
                    format!(
                        "{at}: requires names setting {key:?}, which is not among its settings"
                    ),
                );
            }
        }
    }
}

/// `name:tag` with an optional registry and path (`example/client:1.2.3`):
/// a tag is required, as `latest` would change under the catalog's feet.
fn is_docker_reference(s: &str) -> bool {
    let Some((name, tag)) = s.rsplit_once(':') else {
        return false;
    };
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/".contains(c));
    let tag_ok = !tag.is_empty()
        && tag != "latest"
        && tag.len() <= 128
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    name_ok && tag_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(v("9.26.2") > v("9.26.1"));
        assert!(v("9.26.10") > v("9.26.9"));
        assert!(v("9.26") < v("9.26.2"));
        assert_eq!(v("23"), v("23.0.0"));
        assert_eq!(v("v9.26.5"), v("9.26.5"));
        assert_eq!(v("v9.26.5").to_string(), "9.26.5");
        for bad in ["", "9.x", "9..2", "1.2.3.4.5", "-1"] {
            assert!(Version::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_client_accepts_what_the_network_accepts() {
        let client = Client {
            name: "DigiByte Core".into(),
            version: v("9.26.5"),
            min_version: Some(v("9.26.2")),
        };
        assert!(client.accepts(&v("9.26.2")));
        assert!(client.accepts(&v("9.26.3")));
        assert!(!client.accepts(&v("8.22.2")));
        assert!(!client.accepts(&v("9.26.1")));
        let any = Client {
            min_version: None,
            ..client
        };
        assert!(any.accepts(&v("1")));
    }

    #[test]
    fn docker_references_need_a_pinned_tag() {
        assert!(is_docker_reference("dashpay/dashd:23"));
        assert!(is_docker_reference("0xpolygon/heimdall-v2:0.6.0"));
        assert!(!is_docker_reference("dashpay/dashd"));
        assert!(!is_docker_reference("dashpay/dashd:latest"));
        assert!(!is_docker_reference("Dashpay/Dashd:23"));
    }
}
