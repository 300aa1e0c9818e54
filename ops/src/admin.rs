//! `orrery admin`: the datacenters and hosts an operator registers, on whichever metadata store the hubs use.
//!
//! Every command opens the store named by `--db` (a SQLite file, or `cql://…` for Cassandra), does one thing, prints
//! what it did, and exits non-zero with the store's own message when that is refused (an unknown datacenter, a host that
//! still holds copies of projects). On Cassandra, `dc add` first extends the keyspace's replication to the datacenter,
//! so a name the cluster does not know is refused before anything is written.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use orrery_db::{Db, Host, HostId, HostState, NewHost, Store, SystemClock};

use crate::USAGE;

/// One admin command, as given.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AdminArgs {
    pub db: Option<String>,
    pub action: Action,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    DcAdd(String),
    DcList,
    HostAdd {
        datacenter: String,
        address: String,
        weight: u32,
    },
    HostList,
    HostDrain(String),
    HostActivate(String),
    HostRemove(String),
}

fn text(value: OsString) -> Result<String> {
    value
        .into_string()
        .map_err(|raw| anyhow!("argument {raw:?} is not valid UTF-8"))
}

pub(crate) fn parse(args: &mut impl Iterator<Item = OsString>) -> Result<AdminArgs> {
    let mut words = Vec::new();
    let mut db = None;
    let (mut datacenter, mut address, mut weight) = (None, None, None);
    while let Some(word) = args.next() {
        let word = text(word)?;
        let mut value = |flag: &str| -> Result<String> {
            text(
                args.next()
                    .ok_or_else(|| anyhow!("`{flag}` needs a value\n\n{USAGE}"))?,
            )
        };
        match word.as_str() {
            "--db" => db = Some(value("--db")?),
            "--dc" => datacenter = Some(value("--dc")?),
            "--address" => address = Some(value("--address")?),
            "--weight" => {
                let given = value("--weight")?;
                weight = Some(given.parse::<u32>().map_err(|_| {
                    anyhow!("`--weight` takes a whole number of at least 1, got {given:?}")
                })?);
            }
            flag if flag.starts_with("--") => bail!("unknown option `{flag}` for admin\n\n{USAGE}"),
            _ => words.push(word),
        }
    }
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let host_flags = datacenter.is_some() || address.is_some() || weight.is_some();
    let action = match words.as_slice() {
        ["dc", "add", name] => Action::DcAdd(name.to_string()),
        ["dc", "list"] => Action::DcList,
        ["host", "add"] => Action::HostAdd {
            datacenter: datacenter
                .take()
                .ok_or_else(|| anyhow!("`host add` needs --dc NAME\n\n{USAGE}"))?,
            address: address
                .take()
                .ok_or_else(|| anyhow!("`host add` needs --address HOST:PORT\n\n{USAGE}"))?,
            weight: weight.take().unwrap_or(1),
        },
        ["host", "list"] => Action::HostList,
        ["host", "drain", host] => Action::HostDrain(host.to_string()),
        ["host", "activate", host] => Action::HostActivate(host.to_string()),
        ["host", "remove", host] => Action::HostRemove(host.to_string()),
        [] => bail!("admin needs a command\n\n{USAGE}"),
        other => bail!("unknown admin command `{}`\n\n{USAGE}", other.join(" ")),
    };
    if host_flags && !matches!(action, Action::HostAdd { .. }) {
        bail!("--dc, --address and --weight belong to `host add`\n\n{USAGE}");
    }
    Ok(AdminArgs { db, action })
}

pub(crate) fn admin(args: AdminArgs) -> Result<()> {
    // Warnings only: the data directory's repairs, and the driver's complaints.
    crate::init_logging("warn");
    let spec = match args.db {
        Some(spec) => spec,
        None => {
            // `orrery up`'s own database, in its layout (repaired first, as `orrery up` would).
            let data = crate::up::default_data();
            orrery_hub::DataDir::prepare(&data)
                .with_context(|| format!("preparing the data directory {}", data.display()))?
                .database()
                .to_string_lossy()
                .into_owned()
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let db = Db::open(&spec, Arc::new(SystemClock))
            .await
            .with_context(|| format!("opening the metadata store {spec}"))?;
        run(&db, args.action).await
    })
}

async fn run(db: &Db, action: Action) -> Result<()> {
    match action {
        Action::DcAdd(name) => {
            let before = replication(db).await?;
            let datacenter = db.register_datacenter(&name).await?;
            println!("datacenter {} added", datacenter.name);
            if let Some(replication) = replication(db).await? {
                println!(
                    "keyspace replication: {}",
                    describe_replication(&replication)
                );
                if before.is_some_and(|before| !before.contains_key(&datacenter.name)) {
                    println!(
                        "the keyspace now replicates to {0}: run `nodetool rebuild -- <a datacenter that has the data>` on each node of {0} to copy what exists",
                        datacenter.name
                    );
                }
            }
        }
        Action::DcList => {
            let datacenters = db.datacenters().await?;
            let hosts = db.hosts().await?;
            let replication = replication(db).await?;
            if datacenters.is_empty() {
                println!("no datacenters yet: add one with `orrery admin dc add NAME`");
            }
            for datacenter in datacenters {
                let count = hosts
                    .iter()
                    .filter(|host| host.datacenter == datacenter.name)
                    .count();
                let mut line = format!("{}\t{count} host(s)", datacenter.name);
                if let Some(replication) = &replication {
                    match replication.get(&datacenter.name) {
                        Some(factor) => line.push_str(&format!("\tmetadata replicas {factor}")),
                        None => line.push_str("\tmetadata NOT replicated here"),
                    }
                }
                println!("{line}");
            }
        }
        Action::HostAdd {
            datacenter,
            address,
            weight,
        } => {
            let host = db
                .add_host(NewHost {
                    datacenter,
                    address,
                    weight,
                })
                .await?;
            println!("host {} added", host.id);
            print_host(&host);
        }
        Action::HostList => {
            let hosts = db.hosts().await?;
            if hosts.is_empty() {
                println!("no hosts yet: add one with `orrery admin host add --dc NAME --address HOST:PORT`");
            }
            for host in hosts {
                print_host(&host);
            }
        }
        Action::HostDrain(which) => {
            let host = find_host(db, &which).await?;
            let host = db.set_host_state(host.id, HostState::Draining).await?;
            let copies = db.placements_on_host(host.id).await?.len();
            println!(
                "host {} is draining; it holds {copies} project copies",
                host.id
            );
        }
        Action::HostActivate(which) => {
            let host = find_host(db, &which).await?;
            let host = db.set_host_state(host.id, HostState::Active).await?;
            println!("host {} is active", host.id);
        }
        Action::HostRemove(which) => {
            let host = find_host(db, &which).await?;
            db.remove_host(host.id).await?;
            println!("host {} ({}) removed", host.id, host.address);
        }
    }
    Ok(())
}

/// The keyspace's replication on Cassandra; `None` on SQLite, which has no replicas.
async fn replication(db: &Db) -> Result<Option<BTreeMap<String, u32>>> {
    Ok(match db {
        Db::Cql(store) => Some(store.replication().await?),
        _ => None,
    })
}

fn describe_replication(replication: &BTreeMap<String, u32>) -> String {
    replication
        .iter()
        .map(|(datacenter, factor)| format!("{datacenter}: {factor}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_host(host: &Host) {
    println!(
        "{}\t{}\t{}\tweight {}\t{}",
        host.id,
        host.datacenter,
        host.address,
        host.weight,
        host.state.as_str()
    );
}

/// A host named by its id or, when that does not parse as one, by its address.
async fn find_host(db: &Db, which: &str) -> Result<Host> {
    if let Ok(id) = which.parse::<HostId>() {
        return Ok(db.host(id).await?);
    }
    let matching: Vec<Host> = db
        .hosts()
        .await?
        .into_iter()
        .filter(|host| host.address == which)
        .collect();
    match matching.as_slice() {
        [host] => Ok(host.clone()),
        [] => bail!("no host has the id or address {which:?}; `orrery admin host list` shows them"),
        several => bail!(
            "{} hosts have the address {which:?}; name one by its id: {}",
            several.len(),
            several
                .iter()
                .map(|host| host.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_strs(args: &[&str]) -> Result<AdminArgs> {
        parse(&mut args.iter().map(OsString::from))
    }

    #[test]
    fn commands_parse() {
        let parsed = parse_strs(&[
            "--db",
            "cql://127.0.0.1/orrery",
            "host",
            "add",
            "--dc",
            "dc1",
            "--address",
            "127.0.0.2:7100",
            "--weight",
            "3",
        ])
        .expect("host add");
        assert_eq!(parsed.db.as_deref(), Some("cql://127.0.0.1/orrery"));
        assert_eq!(
            parsed.action,
            Action::HostAdd {
                datacenter: "dc1".into(),
                address: "127.0.0.2:7100".into(),
                weight: 3
            }
        );
        assert_eq!(
            parse_strs(&["dc", "add", "eu-west"])
                .expect("dc add")
                .action,
            Action::DcAdd("eu-west".into())
        );
        assert_eq!(
            parse_strs(&["host", "drain", "127.0.0.2:7100"])
                .expect("drain")
                .action,
            Action::HostDrain("127.0.0.2:7100".into())
        );
    }

    #[test]
    fn bad_commands_are_refused_with_usage() {
        for args in [
            &[][..],
            &["dc"],
            &["dc", "add"],
            &["dc", "add", "a", "b"],
            &["host", "add", "--dc", "dc1"],
            &["host", "add", "--address", "x:1"],
            &[
                "host",
                "add",
                "--dc",
                "dc1",
                "--address",
                "x:1",
                "--weight",
                "heavy",
            ],
            &["host", "list", "--dc", "dc1"],
            &["host", "remove"],
            &["--db"],
            &["dc", "list", "--frobnicate"],
        ] {
            assert!(parse_strs(args).is_err(), "{args:?} must be refused");
        }
    }
}
