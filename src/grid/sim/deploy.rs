//! How the simulation reads a deployment the way a zos node would: what it
//! asks for, whether it is well formed, and the pending-reservation guard
//! that keeps an abandoned deploy from leaking capacity.

use std::sync::{Arc, Mutex, PoisonError};

use super::Inner;
use super::state::Resources;
use crate::grid::{Capacity, GridError};
use crate::reservation::{Deployment, WorkloadData};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const MIN_MEMORY: u64 = 250 * MIB;
const MAX_NAME_LEN: usize = 36;
const MAX_METADATA_LEN: usize = 512;

/// What a deployment takes from a node, read from its workloads.
#[derive(Debug)]
pub(super) struct Requirement {
    pub res: Resources,
    pub ipv4: usize,
    pub ipv6: bool,
    /// The machine's mycelium seed (hex), if it joins mycelium.
    pub mycelium_seed: Option<String>,
}

/// Checks the rules a zos node enforces and sums the resources.
pub(super) fn requirement(d: &Deployment) -> Result<Requirement, String> {
    if d.metadata.len() > MAX_METADATA_LEN {
        return Err(format!("metadata is longer than {MAX_METADATA_LEN} bytes"));
    }
    let mut req = Requirement {
        res: Resources::default(),
        ipv4: 0,
        ipv6: false,
        mycelium_seed: None,
    };
    let mut machines = 0;
    let mut disk_bytes = 0u64;
    for w in &d.workloads {
        let name_ok = !w.name.is_empty()
            && w.name.len() <= MAX_NAME_LEN
            && w.name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(format!("invalid workload name {:?}", w.name));
        }
        match &w.data {
            WorkloadData::Zmachine(z) => {
                machines += 1;
                if z.compute_capacity.memory < MIN_MEMORY {
                    return Err(format!("{}: memory below 250 MiB", w.name));
                }
                if z.network.interfaces.len() != 1 {
                    return Err(format!("{}: exactly one interface is required", w.name));
                }
                req.res.cpu += u64::from(z.compute_capacity.cpu);
                req.res.memory_mib += z.compute_capacity.memory.div_ceil(MIB);
                disk_bytes = disk_bytes.saturating_add(z.size);
                if let Some(m) = &z.network.mycelium {
                    req.mycelium_seed = Some(m.hex_seed.clone());
                }
            }
            WorkloadData::Zmount(m) => disk_bytes = disk_bytes.saturating_add(m.size),
            WorkloadData::Ip(ip) => {
                req.ipv4 += usize::from(ip.v4);
                req.ipv6 |= ip.v6;
            }
            WorkloadData::Network(_) => {}
        }
    }
    if machines == 0 {
        return Err("the deployment has no zmachine".to_string());
    }
    req.res.disk_gib = disk_bytes.div_ceil(GIB);
    Ok(req)
}

impl Requirement {
    /// The deployment must ask for what the caller said it needs: a mismatch
    /// is an integration bug better caught here than billed wrongly later.
    pub fn check_matches(&self, need: &Capacity) -> Result<(), GridError> {
        let asked = Resources::from_capacity(need);
        if asked != self.res || need.public_ipv4 != (self.ipv4 > 0) {
            return Err(GridError::Rejected(format!(
                "the deployment asks for {:?} with {} public IPv4, the request said {:?}",
                self.res, self.ipv4, need
            )));
        }
        Ok(())
    }
}

/// Holds a pending reservation; if the deploy future is dropped (caller
/// timeout, shutdown) before it finishes, the reservation is released.
pub(super) struct PendingGuard {
    inner: Arc<Mutex<Inner>>,
    id: Option<u64>,
}

impl PendingGuard {
    pub fn new(inner: Arc<Mutex<Inner>>, id: u64) -> PendingGuard {
        PendingGuard {
            inner,
            id: Some(id),
        }
    }

    /// Hands the reservation over to the caller, who now settles it.
    pub fn disarm(mut self) -> u64 {
        self.id.take().unwrap_or_default()
    }
}

impl Drop for PendingGuard {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            // Never panic in drop: a poisoned lock still holds valid counters.
            let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            inner.state.release(id);
        }
    }
}
