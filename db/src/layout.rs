//! Layout versions: the host sets an admin applies, numbered 1, 2, 3, …; placement hashes projects onto the newest one.
//! Publishing names the version it builds on, so two admins applying at once cannot both win: the second gets `Conflict`.

use std::collections::HashSet;

use crate::host::valid_weight;
use crate::{Error, HostId, Result, Timestamp};

/// One host as a layout version sees it; a copy, so later changes to the host do not rewrite history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutHost {
    pub host: HostId,
    pub datacenter: String,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub version: u64,
    /// Ordered by datacenter, then host id.
    pub hosts: Vec<LayoutHost>,
    pub created: Timestamp,
}

/// The version a publish on top of `base` creates.
pub(crate) fn next_version(base: Option<u64>) -> Result<u64> {
    match base {
        None => Ok(1),
        Some(version) => version
            .checked_add(1)
            .ok_or_else(|| Error::Invalid("layout version overflow".into())),
    }
}

/// Checks weights and duplicates, and puts the hosts in the documented order.
pub(crate) fn valid_layout_hosts(mut hosts: Vec<LayoutHost>) -> Result<Vec<LayoutHost>> {
    let mut seen = HashSet::new();
    for entry in &hosts {
        valid_weight(entry.weight)?;
        if !seen.insert(entry.host) {
            return Err(Error::Invalid(format!(
                "host {} appears twice in the layout",
                entry.host
            )));
        }
    }
    hosts.sort_by(|left, right| {
        (left.datacenter.as_str(), left.host).cmp(&(right.datacenter.as_str(), right.host))
    });
    Ok(hosts)
}

pub(crate) fn stale_base(base: Option<u64>, latest: Option<u64>) -> Error {
    let show = |version: Option<u64>| version.map_or("none".to_string(), |v| v.to_string());
    Error::Conflict(format!(
        "the layout was built on version {} but the newest is {}: reload it and apply again",
        show(base),
        show(latest)
    ))
}
