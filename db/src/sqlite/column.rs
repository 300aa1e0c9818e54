//! How our types sit in SQLite columns: ids and token hashes as BLOBs, times as INTEGER milliseconds, enums as TEXT.
//! A stored value that does not read back becomes `Error::Corrupt` (through `From<rusqlite::Error>`).

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

use crate::{AccountId, HostId, HostState, PlacementRole, ProjectId, Role, Timestamp, TokenHash};

macro_rules! id_column {
    ($name:ident) => {
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(&self.as_bytes()[..]))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                $name::from_slice(value.as_blob()?).map_err(FromSqlError::other)
            }
        }
    };
}

id_column!(AccountId);
id_column!(ProjectId);
id_column!(HostId);

impl ToSql for TokenHash {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(&self.as_bytes()[..]))
    }
}

impl FromSql for TokenHash {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        TokenHash::from_slice(value.as_blob()?).map_err(FromSqlError::other)
    }
}

impl ToSql for Timestamp {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_millis()))
    }
}

impl FromSql for Timestamp {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_i64().map(Timestamp::from_millis)
    }
}

macro_rules! text_column {
    ($name:ident) => {
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                $name::parse_stored(value.as_str()?).map_err(FromSqlError::other)
            }
        }
    };
}

text_column!(Role);
text_column!(HostState);
text_column!(PlacementRole);

/// A counter (epoch, layout version) as SQLite's signed INTEGER; ours never pass `i64::MAX`, so a larger value is refused.
pub(super) fn counter(value: u64) -> rusqlite::Result<i64> {
    i64::try_from(value).map_err(|error| rusqlite::Error::ToSqlConversionFailure(Box::new(error)))
}

/// Reads a counter written by [`counter`]; a negative value is corruption.
pub(super) fn read_counter(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<u64> {
    let value: i64 = row.get(index)?;
    u64::try_from(value).map_err(|_| rusqlite::Error::IntegralValueOutOfRange(index, value))
}
