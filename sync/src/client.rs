//! The client side of DiffSync (PROTOCOL.md §4): an editor's text, its shadow, and the one message in flight.
//!
//! The client never diffs on the common path: local edits compose into `pending`, and server edits are
//! transformed past `pending` exactly, so a server edit can never fail to apply on the client.
//! Only a resync diffs, to learn what the server changed since the text our unacknowledged edits start from.

use crate::delta::Delta;
use crate::dmp;
use crate::merge::{merge, person_first, Runs};
use crate::text::Text;
use crate::wire::{ClientMessage, ServerMessage};
use crate::{Error, Limits};

/// What a received message did to the client, for the editor and the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    /// Remote changes reached the text; `delta` turns the previous text into the current one (map cursors through it).
    Changed { delta: Delta },
    /// The server refused our edit `n` (it would make the document too large); `dropped` is the text that did not make it. Show it to the user.
    Failed { n: u64, dropped: String },
    /// The client found an inconsistency and will ask for the whole text on its next send.
    ResyncNeeded { reason: String },
    /// The server refused a message.
    ServerError { code: u64, message: String },
}

/// One client's view of one document.
#[derive(Debug, Clone)]
pub struct Client {
    text: Text,
    shadow: Text,
    /// Turns `shadow` into `text`: the local edits not yet sent.
    pending: Delta,
    /// Sent, unacknowledged edits; `stack[i]` has version `stack_first_n + i`.
    stack: Vec<Delta>,
    stack_first_n: u64,
    /// The shadow before the first stack entry.
    stack_base: Text,
    /// What this client typed into `text` recently (the run rule of PROTOCOL.md §2).
    own: Runs,
    n: u64,
    m: u64,
    seq: u64,
    in_flight: Option<ClientMessage>,
    synced: bool,
    want_sync: bool,
    limits: Limits,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl Client {
    /// A client that has not seen the document yet: its first message asks for the whole text.
    pub fn new() -> Client {
        Client::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> Client {
        Client {
            text: Text::default(),
            shadow: Text::default(),
            pending: Delta::identity(0),
            stack: Vec::new(),
            stack_first_n: 0,
            stack_base: Text::default(),
            own: Runs::default(),
            n: 0,
            m: 0,
            seq: 0,
            in_flight: None,
            synced: false,
            want_sync: false,
            limits,
        }
    }

    /// The editor's text.
    pub fn text(&self) -> String {
        self.text.to_string()
    }

    /// The editor's text, without copying it out.
    pub fn text_ref(&self) -> &Text {
        &self.text
    }

    /// The shadow: the text both sides agreed on, plus our sent edits.
    pub fn shadow(&self) -> &Text {
        &self.shadow
    }

    /// True once the client holds the document (its first Resync arrived).
    pub fn is_synced(&self) -> bool {
        self.synced
    }

    /// True while a message awaits its reply.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// True when the client has local edits the server has not acknowledged.
    pub fn has_unacknowledged(&self) -> bool {
        !self.stack.is_empty() || !self.pending.is_identity()
    }

    /// The next client version; every version below it has been sent at least once.
    pub fn version(&self) -> u64 {
        self.n
    }

    /// The first version that the server has not acknowledged.
    pub fn acknowledged(&self) -> u64 {
        self.stack_first_n
    }

    /// A local edit: replace `del` code points at `pos` with `ins`.
    pub fn splice(&mut self, pos: usize, del: usize, ins: &str) -> Result<(), Error> {
        let delta = Delta::splice(self.text.len(), pos, del, ins)?;
        self.edit(&delta)
    }

    /// A local edit given as a delta against the current text.
    pub fn edit(&mut self, delta: &Delta) -> Result<(), Error> {
        delta.check_base(self.text.len())?;
        let new_bytes = self.text.len_bytes() as u64 + inserted_bytes(delta);
        if new_bytes > self.limits.max_document_bytes as u64 {
            return Err(Error::DocumentTooLarge {
                size: new_bytes,
                limit: self.limits.max_document_bytes as u64,
            });
        }
        self.pending = self.pending.compose(delta)?;
        self.text.apply(delta)?;
        self.own.map(delta, true);
        Ok(())
    }

    /// The message to send now, if any: nothing while a message is in flight.
    pub fn poll(&mut self) -> Option<ClientMessage> {
        if self.in_flight.is_some() {
            return None;
        }
        let message = if !self.synced {
            self.seq += 1;
            ClientMessage::ResyncRequest { seq: self.seq }
        } else {
            if !self.pending.is_identity() {
                let pending =
                    std::mem::replace(&mut self.pending, Delta::identity(self.text.len()));
                // `pending` was checked against the shadow's length when it was composed; should they ever disagree,
                // keep the edits (a resync merges them) rather than drop them.
                if self.shadow.apply(&pending).is_err() {
                    self.pending = pending;
                    return self.resync_now();
                }
                if self.stack.is_empty() {
                    self.stack_first_n = self.n;
                }
                self.stack.push(pending);
                self.n += 1;
            }
            if self.stack.is_empty() && !self.want_sync {
                return None;
            }
            if self.stack.len() > self.limits.max_stack {
                // Too many unacknowledged edits: fetch the whole text and merge them onto it instead.
                return self.resync_now();
            }
            self.seq += 1;
            ClientMessage::Sync {
                seq: self.seq,
                m_ack: self.m,
                n_first: if self.stack.is_empty() {
                    self.n
                } else {
                    self.stack_first_n
                },
                edits: self.stack.clone(),
                hash: self.shadow.hash(),
            }
        };
        self.want_sync = false;
        self.in_flight = Some(message.clone());
        Some(message)
    }

    fn resync_now(&mut self) -> Option<ClientMessage> {
        self.synced = false;
        self.poll()
    }

    /// Asks for a Sync on the next poll even without local edits (to fetch remote changes or acknowledge them).
    pub fn request_sync(&mut self) {
        self.want_sync = true;
    }

    /// The message in flight, to send again after a timeout or a reconnect.
    pub fn retransmit(&self) -> Option<ClientMessage> {
        self.in_flight.clone()
    }

    /// Forgets the message in flight (its connection is gone and the reply can never come); the next poll sends afresh.
    pub fn reset_in_flight(&mut self) {
        self.in_flight = None;
    }

    /// Handles a message from the server.
    pub fn receive(&mut self, message: ServerMessage) -> Result<Vec<ClientEvent>, Error> {
        match message {
            ServerMessage::Nudge => {
                if self.in_flight.is_none() {
                    self.want_sync = true;
                }
                Ok(Vec::new())
            }
            ServerMessage::Error { code, message } => {
                self.in_flight = None;
                self.synced = false;
                Ok(vec![ClientEvent::ServerError { code, message }])
            }
            ServerMessage::Reply {
                seq,
                n_ack,
                m_first,
                edits,
                hash,
                failures,
            } => {
                if !matches!(self.in_flight, Some(ClientMessage::Sync { seq: sent, .. }) if sent == seq)
                {
                    return Ok(Vec::new());
                }
                self.in_flight = None;
                let mut events: Vec<ClientEvent> = failures
                    .into_iter()
                    .map(|failure| ClientEvent::Failed {
                        n: failure.n,
                        dropped: failure.dropped,
                    })
                    .collect();
                match self.apply_reply(n_ack, m_first, &edits, hash) {
                    Ok(Some(delta)) => events.push(ClientEvent::Changed { delta }),
                    Ok(None) => {}
                    Err(reason) => {
                        self.synced = false;
                        events.push(ClientEvent::ResyncNeeded { reason });
                    }
                }
                Ok(events)
            }
            ServerMessage::Resync {
                seq,
                n,
                m,
                text,
                hash,
            } => {
                if !matches!(&self.in_flight, Some(message) if message_seq(message) == seq) {
                    return Ok(Vec::new());
                }
                self.in_flight = None;
                if crate::hash::hash(&text) != hash {
                    self.synced = false;
                    return Ok(vec![ClientEvent::ResyncNeeded {
                        reason: "resync text does not match its hash".into(),
                    }]);
                }
                self.apply_resync(n, m, text)
            }
        }
    }

    /// Applies a Reply on copies and commits only if all of it fits; `Err` carries why a resync is needed.
    fn apply_reply(
        &mut self,
        n_ack: u64,
        m_first: u64,
        edits: &[Delta],
        hash: u64,
    ) -> Result<Option<Delta>, String> {
        if n_ack != self.n {
            return Err(format!(
                "server acknowledged up to {n_ack}, we sent up to {}",
                self.n
            ));
        }
        let mut shadow = self.shadow.clone();
        let mut text = self.text.clone();
        let mut pending = self.pending.clone();
        let mut own = self.own.clone();
        let mut m = self.m;
        let mut change: Option<Delta> = None;
        for (index, delta) in edits.iter().enumerate() {
            let version = m_first + index as u64;
            if version < m {
                continue;
            }
            if version > m {
                return Err(format!("server edit {version} arrived before {m}"));
            }
            delta
                .check_base(shadow.len())
                .map_err(|error| error.to_string())?;
            // The server's edit goes onto our text, our unsent edits after it; where both insert at one spot ours
            // goes first (right after the character it was typed after) unless typed in front of our own text.
            let merged = merge(&shadow, &text, delta, &pending, |tie| {
                !person_first(&own, tie.b_left, tie.b_right, |origin| origin.out)
            })
            .map_err(|error| error.to_string())?;
            let for_text = merged.a;
            pending = merged.b;
            shadow.apply(delta).map_err(|error| error.to_string())?;
            text.apply(&for_text).map_err(|error| error.to_string())?;
            own.map(&for_text, false);
            change = Some(match change {
                None => for_text,
                Some(earlier) => earlier
                    .compose(&for_text)
                    .map_err(|error| error.to_string())?,
            });
            m += 1;
        }
        if m_first + edits.len() as u64 != m {
            return Err(format!(
                "server versions end at {}, ours at {m}",
                m_first + edits.len() as u64
            ));
        }
        if shadow.hash() != hash {
            return Err("shadow hash mismatch".into());
        }
        self.stack.clear();
        self.stack_first_n = self.n;
        self.stack_base = shadow.clone();
        self.shadow = shadow;
        self.text = text;
        self.pending = pending;
        self.own = own;
        self.m = m;
        Ok(change)
    }

    /// Takes the server's whole text and merges our unacknowledged edits onto it.
    ///
    /// Three-way: `base` is the text our unacknowledged edits start from; our changes (base to text) are known exactly,
    /// the server's (base to its text) come from a diff; our changes are transformed past the server's, so neither
    /// side's insertions can be lost and nothing is applied twice.
    fn apply_resync(
        &mut self,
        n: u64,
        m: u64,
        server_text: String,
    ) -> Result<Vec<ClientEvent>, Error> {
        let applied = n
            .saturating_sub(self.stack_first_n)
            .min(self.stack.len() as u64) as usize;
        let mut base = self.stack_base.clone();
        for delta in &self.stack[..applied] {
            base.apply(delta)?;
        }
        let mut local = Delta::identity(base.len());
        for delta in &self.stack[applied..] {
            local = local.compose(delta)?;
        }
        local = local.compose(&self.pending)?;
        let remote = dmp::diff(&base.to_string(), &server_text, self.limits.diff_timeout_ms)?;
        let own = &self.own;
        let merged = merge(&base, &self.text, &remote, &local, |tie| {
            !person_first(own, tie.b_left, tie.b_right, |origin| origin.out)
        })?;
        let (change, pending) = (merged.a, merged.b);
        let server = Text::new(&server_text);
        self.text.apply(&change)?;
        self.own.map(&change, false);
        self.pending = pending;
        self.shadow = server.clone();
        self.stack_base = server;
        self.stack.clear();
        self.stack_first_n = n;
        self.n = n;
        self.m = m;
        self.synced = true;
        self.want_sync = false;
        Ok(if change.is_identity() {
            Vec::new()
        } else {
            vec![ClientEvent::Changed { delta: change }]
        })
    }
}

fn message_seq(message: &ClientMessage) -> u64 {
    match message {
        ClientMessage::ResyncRequest { seq } | ClientMessage::Sync { seq, .. } => *seq,
    }
}

fn inserted_bytes(delta: &Delta) -> u64 {
    delta
        .ops()
        .iter()
        .map(|op| match op {
            crate::Op::Insert(text) => text.len() as u64,
            _ => 0,
        })
        .sum()
}
