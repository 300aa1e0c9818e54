//! Our engine: a typing `Client` replays the trace against a `Document`, syncing every k edits over encoded bytes; only the server's work is timed.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use orrery_sync::trace::{Trace, Txn};
use orrery_sync::wire::{self, ClientMessage};
use orrery_sync::{Client, ClientEvent, Document, Limits, Stats};

use crate::{first_difference, rate};

/// The client id the typing client has on the server.
const CLIENT_ID: u64 = 1;

/// How many message round trips one sync may take before the replay gives up: a sync is one Sync and its Reply, plus an acknowledgement if the reply carried server edits.
const MAX_ROUNDS_PER_SYNC: usize = 4;

/// What one replay measured.
#[derive(Debug, Clone)]
pub struct OursRun {
    pub edits: usize,
    /// Sync exchanges (every k edits, and the last partial window), not counting the connecting resync.
    pub syncs: usize,
    /// Client messages sent, the connecting ResyncRequest included.
    pub messages: usize,
    /// Decoding the client message bytes, `Document::receive`, encoding the reply: summed over every message.
    pub server: Duration,
    /// The whole replay, client included.
    pub wall: Duration,
    pub up_bytes: usize,
    pub down_bytes: usize,
    /// The server's counters at the end (fast and fuzzy path edits, resyncs).
    pub stats: Stats,
    /// Why the replay did not end with client, server and endContent identical; empty if it did.
    pub problems: Vec<String>,
    /// The message of the middle one-character edit, measured when k = 1.
    pub one_char: Option<OneCharMessage>,
}

impl OursRun {
    pub fn rate(&self) -> f64 {
        rate(self.edits, self.server)
    }
}

/// A client connected to a document, and the exchange of encoded messages between them.
struct Session {
    client: Client,
    document: Document,
    clock: Instant,
    server: Duration,
    messages: usize,
    up_bytes: usize,
    down_bytes: usize,
    /// Anything the client reported that a clean single-client replay should never see.
    problems: Vec<String>,
    /// Set once the connecting resync is done.
    connected: bool,
}

impl Session {
    fn connect(start_content: &str) -> Result<Session> {
        let mut session = Session {
            client: Client::new(),
            document: Document::new(start_content, Limits::default())?,
            clock: Instant::now(),
            server: Duration::ZERO,
            messages: 0,
            up_bytes: 0,
            down_bytes: 0,
            problems: Vec::new(),
            connected: false,
        };
        let Some(first) = session.client.poll() else {
            bail!("a fresh client has nothing to send; it should ask for a resync");
        };
        if !matches!(first, ClientMessage::ResyncRequest { .. }) {
            bail!("a fresh client's first message is {first:?}, not a ResyncRequest");
        }
        session.exchange(first)?;
        session.flush()?;
        session.connected = true;
        if session.client.text() != start_content {
            bail!("after connecting, the client does not hold the start content");
        }
        Ok(session)
    }

    /// Sends one client message through the codec to the server and hands the reply back; the server's part alone is timed.
    fn exchange(&mut self, message: ClientMessage) -> Result<()> {
        let bytes = wire::encode_client(&message);
        let now_ms = self.clock.elapsed().as_millis() as u64;

        let started = Instant::now();
        let decoded = wire::decode_client(&bytes)?;
        let outcome = self.document.receive(CLIENT_ID, decoded, now_ms)?;
        let reply = outcome.reply.as_ref().map(wire::encode_server);
        let resync = outcome.resync.clone();
        let failures = outcome.failures.len();
        drop(outcome);
        self.server += started.elapsed();

        // A single client typing alone never needs a resync, once connected, nor loses an edit.
        if let (Some(reason), true) = (resync, self.connected) {
            self.problems
                .push(format!("the server resynced the client: {reason:?}"));
        }
        if failures > 0 {
            self.problems
                .push(format!("the server could not apply {failures} edit(s)"));
        }

        self.messages += 1;
        self.up_bytes += bytes.len();
        let Some(reply) = reply else {
            bail!("the server did not reply to {message:?}");
        };
        self.down_bytes += reply.len();
        let events = self.client.receive(wire::decode_server(&reply)?)?;
        for event in events {
            match event {
                // The connecting resync may bring the start content as a change.
                ClientEvent::Changed { .. } if !self.connected => {}
                event => self.problems.push(format!("client event: {event:?}")),
            }
        }
        Ok(())
    }

    /// Sends whatever the client has to send, until it is idle.
    fn flush(&mut self) -> Result<()> {
        for _ in 0..MAX_ROUNDS_PER_SYNC {
            match self.client.poll() {
                Some(message) => self.exchange(message)?,
                None => return Ok(()),
            }
        }
        bail!("the client still had a message to send after {MAX_ROUNDS_PER_SYNC} round trips")
    }

    fn splice_txn(&mut self, txn: &Txn) -> Result<()> {
        for (pos, del, ins) in txn {
            self.client.splice(*pos, *del, ins)?;
        }
        Ok(())
    }
}

/// Replays the whole trace, syncing every k edits; at k = 1 it also measures the one-character message (`middle_one_char_edit`) on the way.
pub fn replay(trace: &Trace, k: usize) -> Result<OursRun> {
    let mut session = Session::connect(&trace.start_content)?;
    let mut syncs = 0;
    let probe = if k == 1 {
        middle_one_char_edit(trace)
    } else {
        None
    };
    let mut one_char = None;
    // The text's length as the trace says it should be, to spot the first sync after which client or server diverge.
    let mut expected_len = trace.start_content.chars().count();
    let mut diverged = false;
    for (index, txn) in trace.txns.iter().enumerate() {
        let sync_now = (index + 1) % k == 0 || index + 1 == trace.txns.len();
        let step = session
            .splice_txn(txn)
            .with_context(|| format!("client splice of edit {index}"))
            .and_then(|()| {
                if probe == Some(index) {
                    one_char = Some(send_probe(&mut session, trace, index, expected_len)?);
                }
                if sync_now {
                    session
                        .flush()
                        .with_context(|| format!("sync after edit {index}"))?;
                    syncs += 1;
                }
                Ok(())
            });
        if let Err(error) = step {
            let seen = session.problems.iter().take(3).cloned().collect::<Vec<_>>();
            if seen.is_empty() {
                return Err(error);
            }
            return Err(error.context(format!("after: {}", seen.join("; "))));
        }
        for (_, del, ins) in txn {
            expected_len = expected_len + ins.chars().count() - del;
        }
        if !sync_now || diverged {
            continue;
        }
        let lengths = (
            session.client.text_ref().len(),
            session.document.text_ref().len(),
        );
        if lengths != (expected_len, expected_len) {
            diverged = true;
            session.problems.push(format!(
                "after the sync at edit {index} the client has {} code points and the server {}, the trace {expected_len}",
                lengths.0, lengths.1
            ));
        }
    }

    let mut problems = std::mem::take(&mut session.problems);
    let client_text = session.client.text();
    let server_text = session.document.text();
    for (who, text) in [("client", &client_text), ("server", &server_text)] {
        if *text != trace.end_content {
            problems.push(format!(
                "{who} text ({} code points) differs from endContent ({} code points) at code point {}",
                text.chars().count(),
                trace.end_content.chars().count(),
                first_difference(text, &trace.end_content)
            ));
        }
    }
    Ok(OursRun {
        edits: trace.txns.len(),
        syncs,
        messages: session.messages,
        server: session.server,
        wall: session.clock.elapsed(),
        up_bytes: session.up_bytes,
        down_bytes: session.down_bytes,
        stats: session.document.stats(),
        problems,
        one_char,
    })
}

/// A one-character edit of the trace and the size of the Sync message that carries it alone.
#[derive(Debug, Clone)]
pub struct OneCharMessage {
    /// Index of the edit in the trace.
    pub index: usize,
    pub pos: usize,
    /// The inserted character, or None for a one-character delete.
    pub inserted: Option<char>,
    /// Length of the document before the edit, in code points.
    pub doc_len: usize,
    /// The Sync message and its encoded size.
    pub message: ClientMessage,
    pub message_bytes: usize,
}

/// The one-character edit nearest the middle of the trace, typed inserts preferred over deletes.
fn middle_one_char_edit(trace: &Trace) -> Option<usize> {
    let middle = trace.txns.len() / 2;
    let is_insert = |txn: &Txn| matches!(txn.as_slice(), [(_, 0, ins)] if ins.chars().count() == 1);
    let is_delete = |txn: &Txn| matches!(txn.as_slice(), [(_, 1, ins)] if ins.is_empty());
    let nearest = |wanted: &dyn Fn(&Txn) -> bool| {
        let after = (middle..trace.txns.len()).find(|&i| wanted(&trace.txns[i]));
        let before = (0..middle).rev().find(|&i| wanted(&trace.txns[i]));
        match (before, after) {
            (Some(b), Some(a)) => Some(if middle - b < a - middle { b } else { a }),
            (b, a) => a.or(b),
        }
    };
    nearest(&is_insert).or_else(|| nearest(&is_delete))
}

/// Sends the client's message right after the one-character edit `index`, measuring it; `doc_len` is the text's length before the edit.
fn send_probe(
    session: &mut Session,
    trace: &Trace,
    index: usize,
    doc_len: usize,
) -> Result<OneCharMessage> {
    let Some(message) = session.client.poll() else {
        bail!("the client has nothing to send after the one-character edit {index}");
    };
    if !matches!(message, ClientMessage::Sync { .. }) {
        bail!("after the one-character edit {index} the client sends {message:?}, not a Sync");
    }
    let message_bytes = wire::encode_client(&message).len();
    session.exchange(message.clone())?;
    let (pos, _, ins) = &trace.txns[index][0];
    Ok(OneCharMessage {
        index,
        pos: *pos,
        inserted: ins.chars().next(),
        doc_len,
        message,
        message_bytes,
    })
}

/// Replays the trace syncing after every edit up to the middle one-character edit, and measures the Sync message that edit produces; for when no k = 1 replay of the trace measured it.
pub fn one_char_message(trace: &Trace) -> Result<OneCharMessage> {
    let Some(index) = middle_one_char_edit(trace) else {
        bail!("the trace has no one-character edit");
    };
    let mut session = Session::connect(&trace.start_content)?;
    for (i, txn) in trace.txns[..index].iter().enumerate() {
        session
            .splice_txn(txn)
            .with_context(|| format!("client splice of edit {i}"))?;
        session
            .flush()
            .with_context(|| format!("sync after edit {i}"))?;
    }
    let doc_len = session.client.text_ref().len();
    session.splice_txn(&trace.txns[index])?;
    send_probe(&mut session, trace, index, doc_len)
}
