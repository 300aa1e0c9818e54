//! The cluster's datacenters and the keyspace's replication: choosing the local datacenter on connect, creating the
//! keyspace, and extending it to a new datacenter for `orrery admin dc add`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use scylla::client::session::Session;
use scylla::statement::prepared::PreparedStatement;

use super::error::Place;
use super::{CqlOptions, CqlStore, Preparer};
use crate::datacenter::valid_datacenter_name;
use crate::{Error, Result};

/// More copies per datacenter than this buys little and costs every write.
const MAX_DEFAULT_FACTOR: u32 = 3;

const SELECT_REPLICATION: &str =
    "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?";

pub(super) struct Statements {
    replication: PreparedStatement,
}

impl Statements {
    pub(super) async fn prepare(preparer: &Preparer<'_>) -> Result<Self> {
        Ok(Statements {
            replication: preparer.idempotent(SELECT_REPLICATION).await?,
        })
    }
}

/// Datacenter → nodes in it, as the driver last saw the ring (system.local and system.peers of its control node).
fn node_counts(session: &Session) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for node in session.get_cluster_state().get_nodes_info() {
        if let Some(datacenter) = &node.datacenter {
            *counts.entry(datacenter.clone()).or_insert(0) += 1;
        }
    }
    counts
}

fn names(datacenters: &BTreeMap<String, usize>) -> String {
    let names: Vec<&str> = datacenters.keys().map(String::as_str).collect();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

/// "the Cassandra cluster has no datacenter named X (it has: dc1, dc2)" followed by what to do.
fn unknown_datacenter(name: &str, known: &BTreeMap<String, usize>, advice: &str) -> Error {
    Error::NotFound(format!(
        "the Cassandra cluster has no datacenter named {name} (it has: {}); {advice}",
        names(known)
    ))
}

/// The datacenter whose nodes will coordinate: the one the options name, which must exist, else the contact point's.
pub(super) async fn local_datacenter(
    session: &Session,
    options: &CqlOptions,
    place: &Place,
) -> Result<String> {
    let known = node_counts(session);
    if let Some(name) = &options.local_datacenter {
        if known.contains_key(name) {
            return Ok(name.clone());
        }
        return Err(unknown_datacenter(
            name,
            &known,
            "fix dc= in the metadata store's URL",
        ));
    }
    for contact_point in &options.contact_points {
        let Ok(addresses) = tokio::net::lookup_host(contact_point.as_str()).await else {
            continue;
        };
        let addresses: Vec<SocketAddr> = addresses.collect();
        let cluster = session.get_cluster_state();
        let found = cluster.get_nodes_info().iter().find(|node| {
            addresses.iter().any(|address| {
                node.address.ip() == address.ip() && node.address.port() == address.port()
            })
        });
        if let Some(datacenter) = found.and_then(|node| node.datacenter.clone()) {
            return Ok(datacenter);
        }
    }
    // The contact point is known to the cluster by another address (NAT, a proxy): ask whichever node answers.
    let answer = session
        .query_unpaged("SELECT data_center FROM system.local", ())
        .await
        .map_err(|error| place.execution_error(error))?
        .into_rows_result()
        .map_err(super::error::rows_error)?
        .maybe_first_row::<(Option<String>,)>()
        .map_err(super::error::first_row_error)?;
    answer.and_then(|(datacenter,)| datacenter).ok_or_else(|| Error::Backend {
        message: format!(
            "the Cassandra node at {} does not say which datacenter it is in; name it with dc= in the URL",
            place.contact_points
        ),
        source: None,
    })
}

/// The replication map CQL takes, e.g. `{'class': 'NetworkTopologyStrategy', 'dc1': 3}`.
/// Names were checked as datacenter names (letters, digits, `-_.`), so they need no escaping inside quotes.
fn replication_map(factors: &BTreeMap<String, u32>) -> String {
    let mut map = String::from("{'class': 'NetworkTopologyStrategy'");
    for (datacenter, factor) in factors {
        map.push_str(&format!(", '{datacenter}': {factor}"));
    }
    map.push('}');
    map
}

fn default_factor(nodes: usize) -> u32 {
    u32::try_from(nodes)
        .unwrap_or(u32::MAX)
        .clamp(1, MAX_DEFAULT_FACTOR)
}

/// Reads a keyspace's replication from system_schema, or `None` when the keyspace does not exist.
async fn stored_replication(
    session: &Session,
    place: &Place,
    statement: Option<&PreparedStatement>,
    keyspace: &str,
) -> Result<Option<BTreeMap<String, u32>>> {
    let result = match statement {
        Some(statement) => session.execute_unpaged(statement, (keyspace,)).await,
        None => session.query_unpaged(SELECT_REPLICATION, (keyspace,)).await,
    }
    .map_err(|error| place.execution_error(error))?;
    let row = result
        .into_rows_result()
        .map_err(super::error::rows_error)?
        .maybe_first_row::<(BTreeMap<String, String>,)>()
        .map_err(super::error::first_row_error)?;
    let Some((options,)) = row else {
        return Ok(None);
    };
    let class = options.get("class").map(String::as_str).unwrap_or("");
    if !class.ends_with("NetworkTopologyStrategy") {
        return Err(Error::Conflict(format!(
            "keyspace {keyspace} uses {class}, but Orrery needs NetworkTopologyStrategy to place copies per datacenter: ALTER KEYSPACE it"
        )));
    }
    let mut factors = BTreeMap::new();
    for (datacenter, value) in options.iter().filter(|(name, _)| *name != "class") {
        // Cassandra writes a transient replication factor as "3/1": all replicas count here.
        let total = value.split('/').next().unwrap_or(value);
        let factor = total.parse::<u32>().map_err(|_| {
            Error::Corrupt(format!(
                "keyspace {keyspace} has replication factor {value:?} for {datacenter}"
            ))
        })?;
        factors.insert(datacenter.clone(), factor);
    }
    Ok(Some(factors))
}

/// Creates the keyspace when missing: the replication the options give, or every datacenter with min(3, its nodes).
/// An existing keyspace is left as it is.
pub(super) async fn ensure_keyspace(
    session: &Session,
    options: &CqlOptions,
    place: &Place,
) -> Result<()> {
    if stored_replication(session, place, None, &options.keyspace)
        .await?
        .is_some()
    {
        return Ok(());
    }
    let known = node_counts(session);
    let factors = match &options.replication {
        Some(factors) => {
            for datacenter in factors.keys() {
                if !known.contains_key(datacenter) {
                    return Err(unknown_datacenter(
                        datacenter,
                        &known,
                        "fix replication= in the metadata store's URL",
                    ));
                }
            }
            factors.clone()
        }
        None => known
            .iter()
            .map(|(datacenter, nodes)| (datacenter.clone(), default_factor(*nodes)))
            .collect(),
    };
    if factors.is_empty() {
        return Err(Error::Backend {
            message: format!(
                "the Cassandra cluster at {} reports no datacenters, so keyspace {} cannot be replicated anywhere",
                place.contact_points, options.keyspace
            ),
            source: None,
        });
    }
    let create = format!(
        "CREATE KEYSPACE IF NOT EXISTS {} WITH replication = {}",
        options.keyspace,
        replication_map(&factors)
    );
    session
        .query_unpaged(create, ())
        .await
        .map(drop)
        .map_err(|error| place.execution_error(error))
}

impl CqlStore {
    /// Datacenter → number of nodes in it (live or down), as the cluster reports it now.
    pub async fn cluster_datacenters(&self) -> Result<BTreeMap<String, usize>> {
        let inner = &self.inner;
        inner
            .session
            .refresh_metadata()
            .await
            .map_err(|error| inner.place.metadata_error(error))?;
        Ok(node_counts(&inner.session))
    }

    /// The keyspace's replication factor per datacenter, as stored now.
    pub async fn replication(&self) -> Result<BTreeMap<String, u32>> {
        let inner = &self.inner;
        stored_replication(
            &inner.session,
            &inner.place,
            Some(&inner.statements.replication.replication),
            &inner.options.keyspace,
        )
        .await?
        .ok_or_else(|| {
            Error::NotFound(format!(
                "keyspace {} (it was dropped while Orrery was using it)",
                inner.options.keyspace
            ))
        })
    }

    /// Adds `datacenter` to the keyspace's replication with factor min(3, its nodes), keeping every other datacenter's
    /// factor; nothing changes when it is there already. Returns the replication now in force.
    ///
    /// `NotFound` when the cluster has no such datacenter: its Cassandra nodes must join first.
    ///
    /// Only new writes reach the new datacenter from then on; the data written before gets there when an operator runs
    /// `nodetool rebuild -- SOURCE_DC` on each of its nodes. Until then its LOCAL_QUORUM reads can miss older rows.
    pub async fn extend_replication(&self, datacenter: &str) -> Result<BTreeMap<String, u32>> {
        let datacenter = valid_datacenter_name(datacenter)?;
        let known = self.cluster_datacenters().await?;
        let Some(nodes) = known.get(&datacenter) else {
            return Err(unknown_datacenter(
                &datacenter,
                &known,
                &format!(
                    "start its nodes with dc={datacenter} in cassandra-rackdc.properties first"
                ),
            ));
        };
        let mut factors = self.replication().await?;
        if factors.contains_key(&datacenter) {
            return Ok(factors);
        }
        factors.insert(datacenter, default_factor(*nodes));
        let inner = &self.inner;
        let alter = format!(
            "ALTER KEYSPACE {} WITH replication = {}",
            inner.options.keyspace,
            replication_map(&factors)
        );
        inner
            .session
            .query_unpaged(alter, ())
            .await
            .map_err(|error| inner.place.execution_error(error))?;
        self.replication().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_replication_map_is_cql() {
        let factors = BTreeMap::from([("dc1".to_string(), 3), ("eu-west".to_string(), 2)]);
        assert_eq!(
            replication_map(&factors),
            "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'eu-west': 2}"
        );
    }

    #[test]
    fn default_factors_stop_at_three() {
        assert_eq!(
            [1, 2, 3, 4, 40].map(default_factor),
            [1, 2, 3, 3, 3],
            "one copy per node, at most three"
        );
    }
}
