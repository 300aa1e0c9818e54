//! Identifiers: 128-bit random UUIDs (version 4), one newtype per entity so an account id is never passed as a project id.
//! Random rather than sequential because several hubs create rows at once with no coordinator, and because Cassandra spreads random partition keys evenly; 122 random bits make a collision practically impossible.
//! They print and parse as the usual hyphenated lowercase form, which is also their JSON form.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Error;

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new random id.
            pub fn random() -> Self {
                $name(Uuid::new_v4())
            }

            pub const fn from_uuid(uuid: Uuid) -> Self {
                $name(uuid)
            }

            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }

            /// The 16 bytes, big-endian, as stored.
            pub const fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }

            /// From 16 stored bytes; anything else is corruption.
            pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
                Uuid::from_slice(bytes).map($name).map_err(|_| {
                    Error::Corrupt(format!(
                        "a stored {} id has {} bytes, not 16",
                        $what,
                        bytes.len()
                    ))
                })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(formatter)
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(text: &str) -> Result<Self, Error> {
                Uuid::parse_str(text)
                    .map($name)
                    .map_err(|_| Error::Invalid(format!("{text:?} is not a valid {} id", $what)))
            }
        }
    };
}

define_id!(
    /// An account (a person who signs in).
    AccountId,
    "account"
);
define_id!(
    /// A project (a workspace with files, terminals and collaborators).
    ProjectId,
    "project"
);
define_id!(
    /// A compute host that stores and runs projects.
    HostId,
    "host"
);
