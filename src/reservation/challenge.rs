//! What gets signed: the zos deployment challenge, its MD5, and ed25519
//! signing and verification over it.
//!
//! The concatenation order follows zos (`tfgrid-v3.md`, "The challenge"):
//! any deviation makes real nodes reject our signatures, so the order below is
//! pinned by a fixed test vector.

use std::fmt::Write as _;

use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};
use md5::{Digest, Md5};

use super::{Deployment, Network, Signature, Workload, WorkloadData, Zmachine};

/// The only signature type this module produces and checks.
const ED25519: &str = "ed25519";

/// Why a deployment's signature is not acceptable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("twin {0} has not signed this deployment")]
    Missing(u32),
    #[error("unsupported signature type {0:?}")]
    UnsupportedType(String),
    #[error("the signature is not 64 bytes of hex")]
    Malformed,
    #[error("the signature does not match the deployment")]
    Invalid,
}

/// The string zos hashes: fields concatenated with no separators.
pub fn challenge(d: &Deployment) -> String {
    let mut out = String::new();
    // `contract_id` is deliberately absent: it is set after signing.
    push(&mut out, d.version);
    push(&mut out, d.twin_id);
    out.push_str(&d.metadata);
    out.push_str(&d.description);
    push(&mut out, d.expiration);
    for w in &d.workloads {
        workload(&mut out, w);
    }
    let req = &d.signature_requirement;
    for r in &req.requests {
        push(&mut out, r.twin_id);
        push(&mut out, r.required);
        push(&mut out, r.weight);
    }
    push(&mut out, req.weight_required);
    out.push_str(&req.signature_style);
    out
}

/// MD5 of [`challenge`]: the 16 bytes that are signed.
pub fn challenge_hash(d: &Deployment) -> [u8; 16] {
    Md5::digest(challenge(d).as_bytes()).into()
}

/// The on-chain `deployment_hash`: its 32 ASCII bytes are this string.
pub fn deployment_hash_hex(d: &Deployment) -> String {
    hex::encode(challenge_hash(d))
}

/// [`deployment_hash_hex`] as the 32 bytes the chain stores.
pub fn deployment_hash_ascii(d: &Deployment) -> [u8; 32] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut ascii = [0u8; 32];
    for (pair, byte) in ascii.chunks_exact_mut(2).zip(challenge_hash(d)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
    ascii
}

/// Signs `d` as `twin_id`, replacing an earlier signature of that twin.
pub fn sign(d: &mut Deployment, twin_id: u32, key: &SigningKey) {
    let signature = hex::encode(key.sign(&challenge_hash(d)).to_bytes());
    let sigs = &mut d.signature_requirement.signatures;
    sigs.retain(|s| s.twin_id != twin_id);
    sigs.push(Signature {
        twin_id,
        signature,
        signature_type: ED25519.to_string(),
    });
}

/// Checks that `twin_id` signed exactly this deployment with `key`.
pub fn verify(d: &Deployment, twin_id: u32, key: &VerifyingKey) -> Result<(), SignatureError> {
    let sig = d
        .signature_requirement
        .signatures
        .iter()
        .find(|s| s.twin_id == twin_id)
        .ok_or(SignatureError::Missing(twin_id))?;
    if sig.signature_type != ED25519 {
        return Err(SignatureError::UnsupportedType(sig.signature_type.clone()));
    }
    let bytes: [u8; 64] = hex::decode(&sig.signature)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SignatureError::Malformed)?;
    let signature = ed25519_dalek::Signature::from_bytes(&bytes);
    key.verify(&challenge_hash(d), &signature)
        .map_err(|_| SignatureError::Invalid)
}

/// Appends a number or boolean the way Go's `%d` / `%t` print it.
fn push(out: &mut String, v: impl std::fmt::Display) {
    // Writing to a String cannot fail.
    let _ = write!(out, "{v}");
}

fn workload(out: &mut String, w: &Workload) {
    push(out, w.version);
    out.push_str(&w.name);
    out.push_str(w.data.type_name());
    out.push_str(&w.metadata);
    out.push_str(&w.description);
    match &w.data {
        WorkloadData::Zmachine(z) => zmachine(out, z),
        WorkloadData::Network(n) => network(out, n),
        WorkloadData::Zmount(m) => push(out, m.size),
        WorkloadData::Ip(ip) => {
            push(out, ip.v4);
            push(out, ip.v6);
        }
    }
}

fn zmachine(out: &mut String, z: &Zmachine) {
    out.push_str(&z.flist);
    let n = &z.network;
    out.push_str(&n.public_ip);
    push(out, n.planetary);
    for i in &n.interfaces {
        out.push_str(&i.network);
        out.push_str(&i.ip);
    }
    if let Some(m) = &n.mycelium {
        out.push_str(&m.network);
        // zos holds the seed as bytes and prints them with %x: lowercase.
        out.push_str(&m.hex_seed.to_ascii_lowercase());
    }
    push(out, z.size);
    push(out, z.compute_capacity.cpu);
    push(out, z.compute_capacity.memory);
    for m in &z.mounts {
        out.push_str(&m.name);
        out.push_str(&m.mountpoint);
    }
    out.push_str(&z.entrypoint);
    // BTreeMap iterates sorted by key, as zos requires.
    for (k, v) in &z.env {
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    for g in &z.gpu {
        out.push_str(g);
    }
}

fn network(out: &mut String, n: &Network) {
    out.push_str(&n.ip_range);
    out.push_str(&n.subnet);
    out.push_str(&n.wireguard_private_key);
    push(out, n.wireguard_listen_port);
    for p in &n.peers {
        out.push_str(&p.wireguard_public_key);
        out.push_str(&p.endpoint);
        out.push_str(&p.subnet);
        for ip in &p.allowed_ips {
            out.push_str(ip);
        }
    }
    if let Some(m) = &n.mycelium {
        out.push_str(&m.hex_key.to_ascii_lowercase());
        for p in m.peers.iter().flatten() {
            out.push_str(p);
        }
    }
}
