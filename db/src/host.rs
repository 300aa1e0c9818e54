//! Hosts: the compute machines that store and run projects, each in one datacenter, with a capacity weight for placement.
//! A draining host keeps serving what it has while the reconciler moves its replicas away; an admin removes it once it holds none.

use serde::{Deserialize, Serialize};

use crate::datacenter::valid_datacenter_name;
use crate::validate::single_line;
use crate::{Error, HostId, Result, Timestamp};

/// Longest host address accepted.
pub const MAX_ADDRESS_CHARS: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub id: HostId,
    pub datacenter: String,
    /// How hubs and other hosts reach it over the overlay, e.g. `127.0.0.2:7100`.
    pub address: String,
    /// Relative capacity: a host of weight 2 gets about twice the projects of a host of weight 1 in its datacenter.
    pub weight: u32,
    pub state: HostState,
    pub created: Timestamp,
}

/// What a `host add` supplies.
#[derive(Debug, Clone)]
pub struct NewHost {
    pub datacenter: String,
    pub address: String,
    pub weight: u32,
}

impl NewHost {
    pub(crate) fn into_host(self, created: Timestamp) -> Result<Host> {
        Ok(Host {
            id: HostId::random(),
            datacenter: valid_datacenter_name(&self.datacenter)?,
            address: valid_address(&self.address)?,
            weight: valid_weight(self.weight)?,
            state: HostState::Active,
            created,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HostState {
    /// Takes new placements.
    Active,
    /// Takes no new placements; its replicas are being moved away.
    Draining,
}

impl HostState {
    pub const fn as_str(self) -> &'static str {
        match self {
            HostState::Active => "active",
            HostState::Draining => "draining",
        }
    }

    pub fn parse_stored(text: &str) -> Result<Self> {
        match text {
            "active" => Ok(HostState::Active),
            "draining" => Ok(HostState::Draining),
            other => Err(Error::Corrupt(format!("unknown host state {other:?}"))),
        }
    }
}

pub(crate) fn valid_address(address: &str) -> Result<String> {
    let address = single_line("a host address", address, MAX_ADDRESS_CHARS)?;
    if address.chars().any(char::is_whitespace) {
        return Err(Error::Invalid(format!(
            "host address {address:?} must not contain spaces"
        )));
    }
    Ok(address)
}

pub(crate) fn valid_weight(weight: u32) -> Result<u32> {
    if weight == 0 {
        return Err(Error::Invalid(
            "a host's capacity weight must be at least 1 (drain the host instead of giving it weight 0)".into(),
        ));
    }
    Ok(weight)
}

pub(crate) fn host_not_found(host: HostId) -> Error {
    Error::NotFound(format!("host {host}"))
}
