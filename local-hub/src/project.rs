//! The project channel: the project as a whole, live. On open it sends PEOPLE (who is connected and what each looks
//! at) and TERMINALS (the running terminals, who opened each and who watches it), then each again whenever it changes,
//! gathered over [`GATHER`] so a burst of changes is one message; the client tells what its user looks at with FOCUS.
//! Each channel sends from a task of its own, so a slow client only delays its own updates (and only ever gets the
//! latest state).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::presence::Presence;
use crate::protocol::{kind, ErrorCode, Focus, Frame, TerminalList};
use crate::terminal::Terminals;
use crate::{ChannelSink, Error};

/// How long changes are gathered before they are sent.
const GATHER: Duration = Duration::from_millis(50);

/// One client's project channel.
#[derive(Debug)]
pub struct ProjectChannel {
    presence: Arc<Presence>,
    connection: u64,
    sender: JoinHandle<()>,
}

impl ProjectChannel {
    /// Starts sending PEOPLE and TERMINALS on `sink`.
    pub fn open(presence: Arc<Presence>, terminals: Arc<Terminals>, sink: ChannelSink) -> Self {
        let connection = sink.connection;
        let sender = tokio::spawn(send_changes(presence.clone(), terminals, sink));
        ProjectChannel {
            presence,
            connection,
            sender,
        }
    }

    pub async fn handle(&mut self, frame: &Frame) -> Result<(), Error> {
        match frame.kind {
            kind::FOCUS => self
                .presence
                .focus(self.connection, frame.parse::<Focus>()?),
            other => Err(Error::new(
                ErrorCode::UnknownChannel,
                format!("a project channel takes FOCUS, not kind 0x{other:02x}"),
            )),
        }
    }
}

impl Drop for ProjectChannel {
    fn drop(&mut self) {
        self.sender.abort();
    }
}

/// Sends the current lists, then each again after it changed, skipping a list equal to the one last sent.
async fn send_changes(presence: Arc<Presence>, terminals: Arc<Terminals>, sink: ChannelSink) {
    let mut people_changes = presence.subscribe();
    let mut terminal_changes = terminals.subscribe();
    let mut sent_people = Vec::new();
    let mut sent_terminals = Vec::new();
    let mut first = true;
    loop {
        if !first {
            let woken = tokio::select! {
                changed = people_changes.changed() => changed,
                changed = terminal_changes.changed() => changed,
            };
            if woken.is_err() {
                return;
            }
            tokio::time::sleep(GATHER).await;
        }
        first = false;
        people_changes.borrow_and_update();
        terminal_changes.borrow_and_update();
        let people = serde_json::to_vec(&presence.people()).unwrap_or_default();
        if people != sent_people {
            if !sink.send(kind::PEOPLE, people.clone()).await {
                return;
            }
            sent_people = people;
        }
        let list = TerminalList {
            terminals: terminals.list(),
        };
        let list = serde_json::to_vec(&list).unwrap_or_default();
        if list != sent_terminals {
            if !sink.send(kind::TERMINALS, list.clone()).await {
                return;
            }
            sent_terminals = list;
        }
    }
}
