//! Datacenters: named groups of hosts. Each datacenter holds its own replicas of every project (DESIGN.md §6).
//! On the CQL backend a datacenter's name must also be a datacenter of the Cassandra cluster, so names follow Cassandra's habits.

use crate::{Error, Result, Timestamp};

/// Longest datacenter name accepted.
pub const MAX_DATACENTER_NAME_CHARS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datacenter {
    pub name: String,
    pub created: Timestamp,
}

/// A datacenter name: 1 to 64 ASCII letters, digits, `-`, `_` or `.`, e.g. `dc1` or `eu-west`.
pub(crate) fn valid_datacenter_name(name: &str) -> Result<String> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_DATACENTER_NAME_CHARS
        && name
            .chars()
            .all(|character| character.is_ascii_alphanumeric() || "-_.".contains(character));
    if !well_formed {
        return Err(Error::Invalid(format!(
            "{name:?} is not a datacenter name: use 1 to {MAX_DATACENTER_NAME_CHARS} ASCII letters, digits, '-', '_' or '.'"
        )));
    }
    Ok(name.to_string())
}
