//! The reservation builder: one blockchain node spec -> one zos deployment.
//!
//! Every random-looking value (wireguard key, mycelium key and seed, subnet,
//! listen port) is derived from a caller-supplied 32-byte seed, so rebuilding
//! the same spec with the same seed gives a byte-identical deployment and
//! hence the same deployment hash (what makes retries idempotent).

use std::collections::BTreeMap;

use base64::Engine as _;
use sha2::{Digest, Sha512};

use super::{
    ComputeCapacity, Deployment, Interface, MachineMycelium, MachineNetwork, Mount, Network,
    NetworkMycelium, PublicIp, SignatureRequest, SignatureRequirement, Workload, WorkloadData,
    Zmachine, Zmount,
};

/// zos refuses workload names longer than this.
pub const MAX_NAME_LEN: usize = 36;
/// TFChain caps `deployment_data` (our metadata) at this many bytes.
pub const MAX_METADATA_LEN: usize = 512;
/// zos refuses smaller machines.
pub const MIN_MEMORY_MIB: u64 = 250;
/// Private range of the deployment's network; the machine's subnet is a /24 in it.
const IP_RANGE: &str = "10.20.0.0/16";
/// Longest suffix appended to the base name ("_disk"), so names stay <= 36.
const LONGEST_SUFFIX: usize = 5;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// What one blockchain node needs, as the service describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadSpec {
    pub name: String,
    pub flist: String,
    pub entrypoint: String,
    pub cpu: u32,
    pub memory_mib: u64,
    pub disk_gib: u64,
    pub public_ipv4: bool,
    /// Environment of the machine, secret settings included.
    pub env: BTreeMap<String, String>,
    /// Put into env as `SSH_KEY`, which official images read.
    pub ssh_key: Option<String>,
}

/// Why a spec cannot become a deployment zos would accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("the deployment name has no usable characters")]
    EmptyName,
    #[error("the image (flist) is empty")]
    EmptyFlist,
    #[error("{0} vCPU is not possible (1 to 255)")]
    Cpu(u32),
    #[error("{0} MiB of memory is below the grid minimum of {MIN_MEMORY_MIB} MiB")]
    MemoryTooSmall(u64),
    #[error("the requested size does not fit in 64 bits of bytes")]
    TooLarge,
    #[error("the deployment metadata is {0} bytes, above the {MAX_METADATA_LEN}-byte limit")]
    MetadataTooLong(usize),
}

/// Maps a name onto `^[a-zA-Z0-9_]+$`, at most 36 characters.
pub fn sanitize_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_LEN)
        .collect()
}

/// Builds the unsigned deployment for `spec`, owned by `twin_id`.
pub fn build_deployment(
    twin_id: u32,
    spec: &WorkloadSpec,
    seed: &[u8; 32],
) -> Result<Deployment, BuildError> {
    let mut base = sanitize_name(&spec.name);
    base.truncate(MAX_NAME_LEN - LONGEST_SUFFIX);
    if base.is_empty() {
        return Err(BuildError::EmptyName);
    }
    if spec.flist.trim().is_empty() {
        return Err(BuildError::EmptyFlist);
    }
    if spec.cpu == 0 || spec.cpu > 255 {
        return Err(BuildError::Cpu(spec.cpu));
    }
    if spec.memory_mib < MIN_MEMORY_MIB {
        return Err(BuildError::MemoryTooSmall(spec.memory_mib));
    }
    let memory = spec
        .memory_mib
        .checked_mul(MIB)
        .ok_or(BuildError::TooLarge)?;
    let disk = spec.disk_gib.checked_mul(GIB).ok_or(BuildError::TooLarge)?;

    // The base name is sanitised to [a-zA-Z0-9_], so it needs no JSON escaping;
    // a fixed layout keeps rebuilds byte-identical.
    let metadata =
        format!(r#"{{"version":3,"type":"vm","name":"{base}","projectName":"jukebox/{base}"}}"#);
    if metadata.len() > MAX_METADATA_LEN {
        return Err(BuildError::MetadataTooLong(metadata.len()));
    }

    let net_name = format!("{base}_net");
    let disk_name = format!("{base}_disk");
    let ip_name = format!("{base}_ip");
    let keys = Keys::derive(seed);

    let mut env = spec.env.clone();
    if let Some(key) = &spec.ssh_key {
        env.insert("SSH_KEY".to_string(), key.clone());
    }
    let mut mounts = Vec::new();
    let mut extra = Vec::new();
    if disk > 0 {
        mounts.push(Mount {
            name: disk_name.clone(),
            mountpoint: "/data".to_string(),
        });
        extra.push(workload(
            disk_name,
            WorkloadData::Zmount(Zmount { size: disk }),
        ));
    }
    // Every node gets a public IPv6 (blockchain nodes work over IPv6 on the
    // grid); a public IPv4 only when the node type needs it or the user paid.
    let ip = PublicIp {
        v4: spec.public_ipv4,
        v6: true,
    };
    extra.push(workload(ip_name.clone(), WorkloadData::Ip(ip)));

    let network = Network {
        ip_range: IP_RANGE.to_string(),
        subnet: format!("10.20.{}.0/24", keys.subnet_octet),
        wireguard_private_key: keys.wireguard_private_key,
        wireguard_listen_port: keys.listen_port,
        peers: Vec::new(),
        mycelium: Some(NetworkMycelium {
            hex_key: keys.mycelium_key_hex,
            peers: None,
        }),
    };
    let machine = Zmachine {
        flist: spec.flist.clone(),
        network: MachineNetwork {
            public_ip: ip_name,
            planetary: true,
            mycelium: Some(MachineMycelium {
                network: net_name.clone(),
                hex_seed: keys.mycelium_seed_hex,
            }),
            interfaces: vec![Interface {
                network: net_name.clone(),
                ip: format!("10.20.{}.2", keys.subnet_octet),
            }],
        },
        size: 0,
        compute_capacity: ComputeCapacity {
            cpu: spec.cpu,
            memory,
        },
        mounts,
        entrypoint: spec.entrypoint.clone(),
        env,
        corex: false,
        gpu: Vec::new(),
    };

    // zos needs the network and disks before the machine that uses them.
    let mut workloads = vec![workload(net_name, WorkloadData::Network(network))];
    let (disks, ips): (Vec<_>, Vec<_>) = extra
        .into_iter()
        .partition(|w| matches!(w.data, WorkloadData::Zmount(_)));
    workloads.extend(disks);
    workloads.extend(ips);
    workloads.push(workload(base, WorkloadData::Zmachine(machine)));

    Ok(Deployment {
        version: 0,
        twin_id,
        contract_id: 0,
        metadata,
        description: String::new(),
        expiration: 0,
        signature_requirement: SignatureRequirement {
            requests: vec![SignatureRequest {
                twin_id,
                required: false,
                weight: 1,
            }],
            weight_required: 1,
            signatures: Vec::new(),
            signature_style: String::new(),
        },
        workloads,
    })
}

fn workload(name: String, data: WorkloadData) -> Workload {
    Workload {
        version: 0,
        name,
        data,
        metadata: String::new(),
        description: String::new(),
    }
}

/// Network secrets and numbers derived from the deployment seed.
struct Keys {
    wireguard_private_key: String,
    listen_port: u16,
    subnet_octet: u8,
    mycelium_key_hex: String,
    mycelium_seed_hex: String,
}

impl Keys {
    fn derive(seed: &[u8; 32]) -> Keys {
        let mut wg = [0u8; 32];
        wg.copy_from_slice(&derive(seed, "wireguard")[..32]);
        // Curve25519 clamping, as `wg genkey` does.
        wg[0] &= 248;
        wg[31] &= 127;
        wg[31] |= 64;
        let numbers = derive(seed, "numbers");
        Keys {
            wireguard_private_key: base64::engine::general_purpose::STANDARD.encode(wg),
            // 3000..=9999: clear of well-known ports and of zos' own range.
            listen_port: 3000 + u16::from_be_bytes([numbers[0], numbers[1]]) % 7000,
            // 2..=254: .0 and .1 are kept free, as the grid clients do.
            subnet_octet: 2 + numbers[2] % 253,
            mycelium_key_hex: hex::encode(&derive(seed, "mycelium-key")[..32]),
            mycelium_seed_hex: hex::encode(&derive(seed, "mycelium-seed")[..6]),
        }
    }
}

/// Domain-separated SHA-512 of the seed: independent values per label.
fn derive(seed: &[u8; 32], label: &str) -> [u8; 64] {
    let mut h = Sha512::new();
    h.update(b"jukebox/reservation/v1/");
    h.update(label.as_bytes());
    h.update([0u8]);
    h.update(seed);
    h.finalize().into()
}
