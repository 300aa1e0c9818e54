//! Where the CQL backend connects and how it lays out its keyspace: [`CqlOptions`], usually parsed from a `cql://` URL.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::datacenter::valid_datacenter_name;
use crate::{Error, Result};

/// The native-protocol port a contact point uses when the URL names none.
pub const DEFAULT_PORT: u16 = 9042;
/// The keyspace a URL without one names.
pub const DEFAULT_KEYSPACE: &str = "orrery";
/// How long one request may take before the store calls the cluster unavailable.
/// Above Cassandra's own 10 s read and write timeouts (ops/cassandra), so the server's more precise timeout errors win.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(12);
/// Largest replication factor a URL may ask of one datacenter; more copies than this is a typo, not a plan.
pub const MAX_REPLICATION_FACTOR: u32 = 16;

/// The URL form every parse error shows.
const EXPECTED: &str =
    "expected cql://HOST[:PORT][,HOST[:PORT]...]/KEYSPACE[?dc=LOCAL_DC&replication=DC:FACTOR,...], e.g. cql://127.0.0.1:9042/orrery?dc=dc1";

/// How to reach the cluster and what keyspace to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CqlOptions {
    /// Nodes to make the first connection to, as `host:port` (`[v6]:port` for IPv6); the driver discovers the rest.
    pub contact_points: Vec<String>,
    /// The keyspace holding Orrery's tables; created on connect when missing.
    pub keyspace: String,
    /// The datacenter whose nodes coordinate this process's requests (and so what LOCAL_QUORUM means);
    /// `None`: the datacenter of the contact point.
    pub local_datacenter: Option<String>,
    /// Replication factor per datacenter for a keyspace created on connect; `None`: every datacenter of the cluster with
    /// min(3, its nodes). Ignored when the keyspace exists: change it with [`super::CqlStore::extend_replication`].
    pub replication: Option<BTreeMap<String, u32>>,
    /// Longest a single request (and the first connection) may take.
    pub request_timeout: Duration,
}

impl CqlOptions {
    /// Options for these contact points with every other field at its default.
    pub fn new(contact_points: Vec<String>) -> Self {
        CqlOptions {
            contact_points,
            keyspace: DEFAULT_KEYSPACE.to_string(),
            local_datacenter: None,
            replication: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Parses `cql://HOST[:PORT][,HOST[:PORT]...]/KEYSPACE[?dc=LOCAL_DC&replication=dc1:3,dc2:2]`.
    /// The port defaults to 9042 and the keyspace to `orrery`; every malformed part is `Error::Invalid` showing the form.
    pub fn from_url(url: &str) -> Result<Self> {
        let rest = url
            .strip_prefix("cql://")
            .ok_or_else(|| invalid(url, "it does not start with cql://"))?;
        let (location, query) = match rest.split_once('?') {
            Some((location, query)) => (location, Some(query)),
            None => (rest, None),
        };
        let (hosts, keyspace) = match location.split_once('/') {
            Some((hosts, keyspace)) => (hosts, keyspace),
            None => (location, ""),
        };
        let mut options = CqlOptions::new(contact_points(url, hosts)?);
        if !keyspace.is_empty() {
            options.keyspace =
                valid_keyspace(keyspace).map_err(|_| invalid(url, &keyspace_rule(keyspace)))?;
        }
        if let Some(query) = query {
            options.read_query(url, query)?;
        }
        Ok(options)
    }

    fn read_query(&mut self, url: &str, query: &str) -> Result<()> {
        let mut seen_dc = false;
        let mut seen_replication = false;
        for pair in query.split('&') {
            let (name, value) = pair
                .split_once('=')
                .ok_or_else(|| invalid(url, &format!("{pair:?} is not NAME=VALUE")))?;
            match name {
                "dc" if !seen_dc => {
                    seen_dc = true;
                    self.local_datacenter = Some(
                        valid_datacenter_name(value)
                            .map_err(|error| invalid(url, &datacenter_message(error)))?,
                    );
                }
                "replication" if !seen_replication => {
                    seen_replication = true;
                    self.replication = Some(replication(url, value)?);
                }
                "dc" | "replication" => {
                    return Err(invalid(url, &format!("{name} is given twice")));
                }
                other => {
                    return Err(invalid(
                        url,
                        &format!("unknown parameter {other:?} (known: dc, replication)"),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn invalid(url: &str, why: &str) -> Error {
    Error::Invalid(format!("{url:?} is not a CQL URL: {why}; {EXPECTED}"))
}

fn datacenter_message(error: Error) -> String {
    match error {
        Error::Invalid(message) => message,
        other => other.to_string(),
    }
}

fn contact_points(url: &str, hosts: &str) -> Result<Vec<String>> {
    if hosts.is_empty() {
        return Err(invalid(url, "it names no host"));
    }
    hosts
        .split(',')
        .map(|host| contact_point(host).map_err(|why| invalid(url, &why)))
        .collect()
}

/// One `HOST[:PORT]` or `[V6]:PORT`, as `host:port` with the port filled in.
fn contact_point(text: &str) -> Result<String, String> {
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (address, after) = bracketed
            .split_once(']')
            .ok_or_else(|| format!("{text:?} opens [ without closing it"))?;
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{address:?} in brackets is not an IPv6 address"));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| format!("{text:?} has {after:?} after the address"))?,
            ),
        };
        (format!("[{address}]"), port)
    } else {
        let (host, port) = match text.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        let well_formed = !host.is_empty()
            && host
                .chars()
                .all(|character| character.is_ascii_alphanumeric() || "-.".contains(character));
        if !well_formed {
            return Err(format!(
                "{text:?} is not a host name or address (write IPv6 addresses in brackets)"
            ));
        }
        (host.to_string(), port)
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return Err(format!("{port:?} is not a port number (1 to 65535)")),
        },
    };
    Ok(format!("{host}:{port}"))
}

fn replication(url: &str, text: &str) -> Result<BTreeMap<String, u32>> {
    let mut factors = BTreeMap::new();
    for entry in text.split(',') {
        let (datacenter, factor) = entry.split_once(':').ok_or_else(|| {
            invalid(
                url,
                &format!("replication entry {entry:?} is not DC:FACTOR"),
            )
        })?;
        let datacenter = valid_datacenter_name(datacenter)
            .map_err(|error| invalid(url, &datacenter_message(error)))?;
        let factor = match factor.parse::<u32>() {
            Ok(factor) if (1..=MAX_REPLICATION_FACTOR).contains(&factor) => factor,
            _ => {
                return Err(invalid(
                    url,
                    &format!(
                        "replication factor {factor:?} for {datacenter} is not a number from 1 to {MAX_REPLICATION_FACTOR}"
                    ),
                ))
            }
        };
        if factors.insert(datacenter.clone(), factor).is_some() {
            return Err(invalid(
                url,
                &format!("replication names {datacenter} twice"),
            ));
        }
    }
    Ok(factors)
}

/// A keyspace name Cassandra accepts unquoted and that we never need to quote: `[a-z][a-z0-9_]{0,47}`.
pub(crate) fn valid_keyspace(name: &str) -> Result<String> {
    let mut characters = name.chars();
    let well_formed = name.len() <= 48
        && characters
            .next()
            .is_some_and(|first| first.is_ascii_lowercase())
        && characters.all(|character| {
            character.is_ascii_lowercase() || character.is_ascii_digit() || character == '_'
        });
    if !well_formed {
        return Err(Error::Invalid(keyspace_rule(name)));
    }
    Ok(name.to_string())
}

fn keyspace_rule(name: &str) -> String {
    format!(
        "keyspace {name:?} must be a lower-case letter followed by at most 47 lower-case letters, digits or '_'"
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn parse(url: &str) -> CqlOptions {
        CqlOptions::from_url(url).unwrap_or_else(|error| panic!("{url}: {error}"))
    }

    #[test]
    fn a_bare_host_gets_the_default_port_and_keyspace() {
        let options = parse("cql://127.0.0.1");
        assert_eq!(options.contact_points, vec!["127.0.0.1:9042"]);
        assert_eq!(options.keyspace, "orrery");
        assert_eq!(options.local_datacenter, None);
        assert_eq!(options.replication, None);
        assert_eq!(options.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(parse("cql://127.0.0.1/").keyspace, "orrery");
    }

    #[test]
    fn every_part_is_read() {
        let options = parse(
            "cql://db1.example.org,10.0.0.2:9043,[::1]:19042,[fe80::1]/metadata_2?dc=eu-west&replication=eu-west:3,us.east:2",
        );
        assert_eq!(
            options.contact_points,
            vec![
                "db1.example.org:9042",
                "10.0.0.2:9043",
                "[::1]:19042",
                "[fe80::1]:9042"
            ]
        );
        assert_eq!(options.keyspace, "metadata_2");
        assert_eq!(options.local_datacenter.as_deref(), Some("eu-west"));
        assert_eq!(
            options.replication,
            Some(BTreeMap::from([
                ("eu-west".to_string(), 3),
                ("us.east".to_string(), 2)
            ]))
        );
        assert_eq!(parse("cql://h/k?replication=dc1:1").local_datacenter, None);
    }

    #[test]
    fn malformed_urls_are_invalid_and_show_the_expected_form() {
        for url in [
            "",
            "127.0.0.1:9042/orrery",
            "cassandra://127.0.0.1/orrery",
            "cql://",
            "cql:///orrery",
            "cql://127.0.0.1,/orrery",
            "cql://127.0.0.1:/orrery",
            "cql://127.0.0.1:0/orrery",
            "cql://127.0.0.1:99999/orrery",
            "cql://127.0.0.1:port/orrery",
            "cql://::1/orrery",
            "cql://[::1/orrery",
            "cql://[not-v6]:9042/orrery",
            "cql://[::1]x/orrery",
            "cql://host name/orrery",
            "cql://127.0.0.1/Orrery",
            "cql://127.0.0.1/1orrery",
            "cql://127.0.0.1/orrery-db",
            "cql://127.0.0.1/orrery/extra",
            &format!("cql://127.0.0.1/{}", "k".repeat(49)),
            "cql://127.0.0.1/orrery?",
            "cql://127.0.0.1/orrery?dc",
            "cql://127.0.0.1/orrery?dc=",
            "cql://127.0.0.1/orrery?dc=eu west",
            "cql://127.0.0.1/orrery?dc=dc1&dc=dc2",
            "cql://127.0.0.1/orrery?datacenter=dc1",
            "cql://127.0.0.1/orrery?replication=",
            "cql://127.0.0.1/orrery?replication=dc1",
            "cql://127.0.0.1/orrery?replication=dc1:0",
            "cql://127.0.0.1/orrery?replication=dc1:x",
            "cql://127.0.0.1/orrery?replication=dc1:99",
            "cql://127.0.0.1/orrery?replication=dc1:3,dc1:2",
            "cql://127.0.0.1/orrery?replication=dc1:3,",
            "cql://127.0.0.1/orrery?replication=dc1:3&replication=dc2:1",
        ] {
            match CqlOptions::from_url(url) {
                Err(Error::Invalid(message)) => assert!(
                    message.contains("cql://HOST[:PORT]"),
                    "{url}: the message shows the expected form: {message}"
                ),
                other => panic!("{url}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn keyspace_names_are_cql_identifiers() {
        for good in ["orrery", "o", "orrery_test_0123456789ab", &"k".repeat(48)] {
            assert_eq!(valid_keyspace(good).expect(good), good);
        }
        for bad in [
            "",
            "_orrery",
            "9lives",
            "Orrery",
            "orrery-db",
            "orréry",
            &"k".repeat(49),
        ] {
            assert!(valid_keyspace(bad).is_err(), "{bad:?} must be refused");
        }
    }
}
