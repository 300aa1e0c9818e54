//! Who is in the project now: every connection that has a project, document or terminal channel open, who is behind it
//! (its Hello, as the hub vouched for it), since when, and what it looks at. The project channel (`project.rs`) sends
//! the list live; [`Presence::subscribe`] wakes on every change.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

use crate::protocol::{Focus, People, Person, Someone};
use crate::Error;

/// The most people a PEOPLE message lists (the earliest); a classroom fits, a benchmark's thousand clients do not need to.
const MAX_LISTED: usize = 500;
/// The longest path or terminal name a FOCUS may name, in bytes.
const MAX_FOCUS: usize = 4096;

/// Everyone connected to the project, by connection.
#[derive(Debug)]
pub struct Presence {
    connections: Mutex<BTreeMap<u64, Entry>>,
    changes: watch::Sender<u64>,
}

#[derive(Debug)]
struct Entry {
    who: Someone,
    since_ms: u64,
    /// Open channels that make the connection present (project, document, terminal).
    channels: usize,
    /// What the client said it looks at.
    focus: Option<Focus>,
    /// The documents it has open, oldest first, one entry per open channel.
    documents: Vec<String>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

impl Default for Presence {
    fn default() -> Self {
        Presence {
            connections: Mutex::new(BTreeMap::new()),
            changes: watch::channel(0).0,
        }
    }
}

impl Presence {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wakes on every change to [`Presence::people`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    fn changed(&self) {
        self.changes.send_modify(|version| *version += 1);
    }

    /// A connection said Hello; it is listed once it opens a channel that makes it present.
    pub fn joined(&self, connection: u64, who: Someone) {
        self.lock().insert(
            connection,
            Entry {
                who,
                since_ms: now_ms(),
                channels: 0,
                focus: None,
                documents: Vec::new(),
            },
        );
    }

    /// The connection is gone, with all its channels.
    pub fn left(&self, connection: u64) {
        let listed = self
            .lock()
            .remove(&connection)
            .is_some_and(|entry| entry.channels > 0);
        if listed {
            self.changed();
        }
    }

    /// The connection opened a project or terminal channel, or a document channel on `document`.
    pub fn opened(&self, connection: u64, document: Option<&str>) {
        if let Some(entry) = self.lock().get_mut(&connection) {
            entry.channels += 1;
            if let Some(document) = document {
                entry.documents.push(document.to_owned());
            }
        }
        self.changed();
    }

    /// The connection closed a channel it had opened (see [`Presence::opened`]).
    pub fn closed(&self, connection: u64, document: Option<&str>) {
        if let Some(entry) = self.lock().get_mut(&connection) {
            entry.channels = entry.channels.saturating_sub(1);
            if let Some(document) = document {
                if let Some(index) = entry.documents.iter().rposition(|open| open == document) {
                    entry.documents.remove(index);
                }
            }
        }
        self.changed();
    }

    /// The connection's user now looks at `focus`.
    pub fn focus(&self, connection: u64, focus: Focus) -> Result<(), Error> {
        let named = match &focus {
            Focus::Nothing => "",
            Focus::File { path } => path,
            Focus::Terminal { name } => name,
        };
        if named.len() > MAX_FOCUS || named.chars().any(char::is_control) {
            return Err(Error::malformed(format!(
                "a focus names a path or terminal of at most {MAX_FOCUS} bytes without control characters"
            )));
        }
        let changed = match self.lock().get_mut(&connection) {
            Some(entry) if entry.focus.as_ref() != Some(&focus) => {
                entry.focus = Some(focus);
                entry.channels > 0
            }
            _ => false,
        };
        if changed {
            self.changed();
        }
        Ok(())
    }

    /// Everyone present, earliest connection first.
    pub fn people(&self) -> People {
        let people = self
            .lock()
            .iter()
            .filter(|(_, entry)| entry.channels > 0)
            .take(MAX_LISTED)
            .map(|(connection, entry)| Person {
                connection: *connection,
                who: entry.who.clone(),
                focus: entry.focus.clone().unwrap_or_else(|| {
                    entry
                        .documents
                        .last()
                        .map_or(Focus::Nothing, |path| Focus::File { path: path.clone() })
                }),
                since_ms: entry.since_ms,
            })
            .collect();
        People { people }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone(name: &str) -> Someone {
        Someone {
            user: format!("id-{name}"),
            name: name.into(),
            color: "#268bd2".into(),
        }
    }

    #[test]
    fn people_are_listed_while_a_channel_is_open_and_look_at_their_last_document() {
        let presence = Presence::default();
        presence.joined(1, someone("Alice"));
        presence.joined(2, someone("Bob"));
        assert!(
            presence.people().people.is_empty(),
            "a bare Hello is no one yet"
        );
        presence.opened(1, Some("a.py"));
        presence.opened(1, Some("b.py"));
        presence.opened(2, None);
        let people = presence.people().people;
        assert_eq!(people.len(), 2);
        assert_eq!(people[0].who.name, "Alice");
        assert_eq!(
            people[0].focus,
            Focus::File {
                path: "b.py".into()
            }
        );
        assert_eq!(people[1].focus, Focus::Nothing);
        presence.closed(1, Some("b.py"));
        assert_eq!(
            presence.people().people[0].focus,
            Focus::File {
                path: "a.py".into()
            }
        );
        presence
            .focus(
                1,
                Focus::Terminal {
                    name: "terminal-1".into(),
                },
            )
            .unwrap();
        assert_eq!(
            presence.people().people[0].focus,
            Focus::Terminal {
                name: "terminal-1".into()
            }
        );
        presence.left(1);
        assert_eq!(presence.people().people.len(), 1);
        presence.closed(2, None);
        assert!(presence.people().people.is_empty());
    }

    #[test]
    fn changes_wake_subscribers_and_bad_focus_is_refused() {
        let presence = Presence::default();
        let mut changes = presence.subscribe();
        presence.joined(1, someone("Alice"));
        presence.opened(1, None);
        assert!(changes.has_changed().unwrap());
        changes.borrow_and_update();
        assert!(presence
            .focus(
                1,
                Focus::File {
                    path: "a\nb".into()
                }
            )
            .is_err());
        assert!(presence
            .focus(
                1,
                Focus::File {
                    path: "x".repeat(MAX_FOCUS + 1)
                }
            )
            .is_err());
        assert!(!changes.has_changed().unwrap());
    }
}
