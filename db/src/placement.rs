//! Placements: which hosts hold a copy of a project, kept in both directions (project → hosts, host → projects).
//! Rendezvous hashing says where a project should be; a placement records where it is.

use serde::{Deserialize, Serialize};

use crate::{Error, HostId, ProjectId, Result, Timestamp};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub project: ProjectId,
    pub host: HostId,
    pub role: PlacementRole,
    pub updated: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlacementRole {
    /// The copy that should run the project while its host is healthy (the lease decides who actually runs it).
    Primary,
    /// A standby copy that receives snapshots and takes over when the primary's host dies.
    Replica,
}

impl PlacementRole {
    pub const fn as_str(self) -> &'static str {
        match self {
            PlacementRole::Primary => "primary",
            PlacementRole::Replica => "replica",
        }
    }

    pub fn parse_stored(text: &str) -> Result<Self> {
        match text {
            "primary" => Ok(PlacementRole::Primary),
            "replica" => Ok(PlacementRole::Replica),
            other => Err(Error::Corrupt(format!("unknown placement role {other:?}"))),
        }
    }
}
