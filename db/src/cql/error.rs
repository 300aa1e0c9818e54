//! Every error the `scylla` driver returns becomes one of ours here, and only here, in words an operator can act on:
//! an unreachable cluster, too few live replicas and timeouts are `Unavailable` (retrying later may work); a row that
//! does not read back is `Corrupt`; anything else is `Backend`.

use scylla::errors::{
    ConnectionPoolError, DbError, DeserializationError, ExecutionError, IntoRowsResultError,
    MaybeFirstRowError, MetadataError, NewSessionError, PrepareError, RequestAttemptError,
    RowsError, SchemaAgreementError, UseKeyspaceError,
};
use scylla::statement::Consistency;

use crate::Error;

/// What an error message needs to know about the connection to name things: the contact points and the local datacenter.
#[derive(Debug, Clone)]
pub(super) struct Place {
    pub contact_points: String,
    pub local_datacenter: String,
}

/// Cassandra's spelling of a consistency level, as an operator reads it in cassandra.yaml and nodetool.
pub(super) fn consistency_name(consistency: Consistency) -> &'static str {
    match consistency {
        Consistency::Any => "ANY",
        Consistency::One => "ONE",
        Consistency::Two => "TWO",
        Consistency::Three => "THREE",
        Consistency::Quorum => "QUORUM",
        Consistency::All => "ALL",
        Consistency::LocalQuorum => "LOCAL_QUORUM",
        Consistency::EachQuorum => "EACH_QUORUM",
        Consistency::LocalOne => "LOCAL_ONE",
        Consistency::Serial => "SERIAL",
        Consistency::LocalSerial => "LOCAL_SERIAL",
    }
}

fn replicas(count: i32) -> String {
    if count == 1 {
        "1 replica".to_string()
    } else {
        format!("{count} replicas")
    }
}

fn unavailable(message: String, source: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Unavailable {
        message,
        source: Some(Box::new(source)),
    }
}

impl Place {
    /// Where a consistency level counts its replicas: the local datacenter for LOCAL_*, the whole cluster otherwise.
    fn scope(&self, consistency: Consistency) -> String {
        match consistency {
            Consistency::LocalQuorum | Consistency::LocalOne | Consistency::LocalSerial => {
                format!("in {}", self.local_datacenter)
            }
            Consistency::EachQuorum => "in each datacenter".to_string(),
            _ => "across the cluster".to_string(),
        }
    }

    /// The session could not be made: nothing answered at the contact points, or not in time.
    pub fn connect_error(&self, error: NewSessionError) -> Error {
        match error {
            NewSessionError::IllegalConfig(_) => {
                Error::backend("the Cassandra driver refused its configuration", error)
            }
            other => unavailable(
                format!(
                    "cannot reach the Cassandra cluster at {}: {other}",
                    self.contact_points
                ),
                other,
            ),
        }
    }

    pub fn execution_error(&self, error: ExecutionError) -> Error {
        match error {
            ExecutionError::EmptyPlan => Error::Unavailable {
                message: format!(
                    "no node of datacenter {} is up (contact points {})",
                    self.local_datacenter, self.contact_points
                ),
                source: Some(Box::new(error)),
            },
            ExecutionError::ConnectionPoolError(pool) => self.pool_error(pool),
            ExecutionError::RequestTimeout(limit) => unavailable(
                format!(
                    "Cassandra at {} did not answer within {} ms",
                    self.contact_points,
                    limit.as_millis()
                ),
                error,
            ),
            ExecutionError::LastAttemptError(attempt) => self.attempt_error(attempt),
            ExecutionError::PrepareError(prepare) => self.prepare_error(prepare),
            ExecutionError::SchemaAgreementError(agreement) => self.agreement_error(agreement),
            other => Error::backend(format!("Cassandra: {other}"), other),
        }
    }

    /// The session could not switch to the keyspace it just created or found.
    pub fn use_keyspace_error(&self, keyspace: &str, error: UseKeyspaceError) -> Error {
        match error {
            UseKeyspaceError::RequestError(attempt) => self.attempt_error(attempt),
            UseKeyspaceError::RequestTimeout(limit) => unavailable(
                format!(
                    "Cassandra at {} did not switch to keyspace {keyspace} within {} ms",
                    self.contact_points,
                    limit.as_millis()
                ),
                error,
            ),
            other => Error::backend(format!("cannot use keyspace {keyspace}: {other}"), other),
        }
    }

    /// The ring (nodes and their datacenters) could not be read again.
    pub fn metadata_error(&self, error: MetadataError) -> Error {
        unavailable(
            format!(
                "cannot read the Cassandra cluster's nodes from {}: {error}",
                self.contact_points
            ),
            error,
        )
    }

    pub fn prepare_error(&self, error: PrepareError) -> Error {
        match error {
            PrepareError::ConnectionPoolError(pool) => self.pool_error(pool),
            PrepareError::AllAttemptsFailed { first_attempt } => self.attempt_error(first_attempt),
            other => Error::backend(format!("Cassandra: {other}"), other),
        }
    }

    pub fn agreement_error(&self, error: SchemaAgreementError) -> Error {
        match error {
            SchemaAgreementError::ConnectionPoolError(pool) => self.pool_error(pool),
            SchemaAgreementError::RequestError(attempt) => self.attempt_error(attempt),
            SchemaAgreementError::Timeout(limit) => unavailable(
                format!(
                    "the Cassandra nodes did not agree on the schema within {} s; is a node down?",
                    limit.as_secs()
                ),
                error,
            ),
            other => Error::backend(format!("Cassandra: {other}"), other),
        }
    }

    fn pool_error(&self, error: ConnectionPoolError) -> Error {
        unavailable(
            format!(
                "no connection to the Cassandra cluster at {} ({error})",
                self.contact_points
            ),
            error,
        )
    }

    fn attempt_error(&self, error: RequestAttemptError) -> Error {
        match &error {
            RequestAttemptError::DbError(database, _) => match database {
                DbError::Unavailable {
                    consistency,
                    required,
                    alive,
                } => {
                    let alive = match alive {
                        1 => "1 is alive".to_string(),
                        count => format!("{count} are alive"),
                    };
                    let message = format!(
                        "{} needs {} {}, {alive}",
                        consistency_name(*consistency),
                        replicas(*required),
                        self.scope(*consistency),
                    );
                    unavailable(message, error)
                }
                DbError::ReadTimeout {
                    consistency,
                    received,
                    required,
                    ..
                } => {
                    let message = format!(
                        "a read at {} timed out: {} of the {} needed {} answered in time",
                        consistency_name(*consistency),
                        received,
                        replicas(*required),
                        self.scope(*consistency),
                    );
                    unavailable(message, error)
                }
                DbError::WriteTimeout {
                    consistency,
                    received,
                    required,
                    write_type,
                } => {
                    let message = format!(
                        "a write ({write_type}) at {} timed out: {} of the {} needed {} acknowledged it in time, so it may or may not have been applied",
                        consistency_name(*consistency),
                        received,
                        replicas(*required),
                        self.scope(*consistency),
                    );
                    unavailable(message, error)
                }
                DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::RateLimitReached { .. } => {
                    unavailable(format!("Cassandra is busy: {database}"), error)
                }
                _ => Error::backend(format!("Cassandra: {error}"), error),
            },
            RequestAttemptError::BrokenConnectionError(_)
            | RequestAttemptError::UnableToAllocStreamId => unavailable(
                format!(
                    "the connection to the Cassandra cluster at {} broke: {error}",
                    self.contact_points
                ),
                error,
            ),
            _ => Error::backend(format!("Cassandra: {error}"), error),
        }
    }
}

/// A result that should have had rows did not; our statements always select, so this is a driver or schema mismatch.
pub(super) fn rows_error(error: IntoRowsResultError) -> Error {
    Error::backend(format!("Cassandra returned no rows: {error}"), error)
}

/// A row whose columns do not have the types this code reads: the tables were changed by hand or by another program.
pub(super) fn typed_rows_error(error: RowsError) -> Error {
    Error::Corrupt(format!(
        "a Cassandra row does not have the expected columns: {error}"
    ))
}

pub(super) fn first_row_error(error: MaybeFirstRowError) -> Error {
    Error::Corrupt(format!("a Cassandra row cannot be read: {error}"))
}

/// One row of a page that does not read back as the columns asked for.
pub(super) fn row_error(error: DeserializationError) -> Error {
    Error::Corrupt(format!("a Cassandra row cannot be read: {error}"))
}
