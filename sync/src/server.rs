//! The server side of DiffSync (PROTOCOL.md §5): one master text per document and one view per connected client.
//!
//! The fast path (nobody else changed the master since this client's shadow) applies the client's delta exactly and
//! catches other views up from a log of recent master changes, so its cost follows the edit, not the document.
//! Real concurrency transforms the client's delta past the master's changes since its shadow, taken from that log or,
//! when the log no longer reaches back, from a bounded diff. We do not fuzzy-patch: the simulation showed
//! diff-match-patch's fuzzy deletion silently removing text another client had inserted inside the deleted range.
//! The one edit the server refuses is one that would push the document over its size limit; it is reported to the client.

use std::collections::{HashMap, VecDeque};

use crate::delta::Delta;
use crate::dmp;
use crate::history::{Author, HistoryEntry};
use crate::merge::{merge, person_first, Runs};
use crate::text::Text;
use crate::wire::{ClientMessage, Failure, ServerMessage};
use crate::{Error, Limits};

/// Why the server answered with the whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResyncReason {
    /// The client asked (first contact, or it found an inconsistency).
    Requested,
    /// No view for this client (new client, forgotten view, restarted server).
    UnknownView,
    /// The client acknowledged a server version we cannot roll back to.
    VersionMismatch,
    /// The client's edits skip a version.
    VersionGap,
    /// A client delta does not fit the view's shadow.
    BadDelta(Error),
    /// The shadows' hashes differ after applying the client's edits.
    HashMismatch,
    /// Too many unacknowledged server edits.
    StackTooLong,
}

/// What handling one message did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The message to send back to the client, if any (none for a stale message).
    pub reply: Option<ServerMessage>,
    /// Other clients to send a Nudge: the master changed under them.
    pub nudge: Vec<u64>,
    /// Changes applied to the master, in order, to append to the document's history.
    pub history: Vec<HistoryEntry>,
    /// Client edits that could not be applied (also listed in the reply).
    pub failures: Vec<Failure>,
    /// Set when the reply is a Resync.
    pub resync: Option<ResyncReason>,
}

/// Counters a caller exports as metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub edits_applied: u64,
    pub fast_path: u64,
    /// Client edits transformed past concurrent master changes.
    pub transformed: u64,
    /// Times the master's changes since a shadow had to be found by diffing (the log no longer covered them).
    pub diffed: u64,
    /// Client edits the server refused (they would push the document over its size limit); each is reported.
    pub failures: u64,
    pub resyncs: u64,
}

/// `shadow` plus `to_master` equals the master text at revision `rev`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SyncPoint {
    to_master: Delta,
    rev: u64,
}

impl SyncPoint {
    fn at(rev: u64, len: usize) -> SyncPoint {
        SyncPoint {
            to_master: Delta::identity(len),
            rev,
        }
    }
}

#[derive(Debug, Clone)]
struct View {
    shadow: Text,
    shadow_n: u64,
    shadow_m: u64,
    /// How the shadow relates to the master, when known exactly.
    shadow_rev: Option<SyncPoint>,
    /// What the client typed into the shadow recently (the run rule of PROTOCOL.md §2).
    own: Runs,
    backup: Text,
    backup_m: u64,
    backup_rev: Option<SyncPoint>,
    backup_own: Runs,
    /// Unacknowledged server edits; `stack[i]` has version `stack_first_m + i`.
    stack: VecDeque<Delta>,
    stack_first_m: u64,
    last_seq: u64,
    /// The reply to `last_seq` (a Reply or the Resync that made this view), sent again if that message arrives again
    /// (a retransmission or a network duplicate) rather than processing it twice: a second pass would roll the shadow
    /// back under a client that has moved on, or hand out a second Resync after the client renumbered its edits.
    last_reply: Option<ServerMessage>,
    nudged: bool,
}

/// One document's master text and its views.
#[derive(Debug, Clone)]
pub struct Document {
    master: Text,
    rev: u64,
    /// `log[i]` turns master revision `log_start + i` into the next one.
    log: VecDeque<Delta>,
    log_start: u64,
    views: HashMap<u64, View>,
    /// Per client id, the next client version expected: every lower one is in the master.
    applied_n: HashMap<u64, u64>,
    limits: Limits,
    stats: Stats,
}

impl Document {
    /// A document holding `text`.
    pub fn new(text: &str, limits: Limits) -> Result<Document, Error> {
        Document::restore(text, std::iter::empty(), limits)
    }

    /// A document restarted from its saved text and the saved [`Document::applied_versions`].
    pub fn restore(
        text: &str,
        applied: impl IntoIterator<Item = (u64, u64)>,
        limits: Limits,
    ) -> Result<Document, Error> {
        if text.len() > limits.max_document_bytes {
            return Err(Error::DocumentTooLarge {
                size: text.len() as u64,
                limit: limits.max_document_bytes as u64,
            });
        }
        Ok(Document {
            master: Text::new(text),
            rev: 0,
            log: VecDeque::new(),
            log_start: 0,
            views: HashMap::new(),
            applied_n: applied.into_iter().collect(),
            limits,
            stats: Stats::default(),
        })
    }

    /// The master text.
    pub fn text(&self) -> String {
        self.master.to_string()
    }

    /// The master text, without copying it out.
    pub fn text_ref(&self) -> &Text {
        &self.master
    }

    /// Per client id, the next version expected from it; save these with the text, atomically.
    pub fn applied_versions(&self) -> Vec<(u64, u64)> {
        let mut versions: Vec<(u64, u64)> =
            self.applied_n.iter().map(|(id, n)| (*id, *n)).collect();
        versions.sort_unstable();
        versions
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The clients that currently have a view.
    pub fn clients(&self) -> impl Iterator<Item = u64> + '_ {
        self.views.keys().copied()
    }

    /// Drops a client's view (it disconnected for good, or timed out); its next message gets a Resync.
    pub fn forget_view(&mut self, client: u64) {
        self.views.remove(&client);
    }

    /// Applies a change that did not come from a sync client (the file changed on disk, a revert) and returns who to nudge.
    pub fn edit(&mut self, author: Author, delta: &Delta, now_ms: u64) -> Result<Outcome, Error> {
        delta.check_base(self.master.len())?;
        self.check_size(delta)?;
        let mut outcome = Outcome::default();
        if delta.is_identity() {
            return Ok(outcome);
        }
        self.master.apply(delta)?;
        self.commit(delta.clone());
        outcome.history.push(HistoryEntry {
            time_ms: now_ms,
            author,
            delta: delta.clone(),
        });
        outcome.nudge = self.nudge_others(None);
        Ok(outcome)
    }

    /// Handles one message from `client`.
    pub fn receive(
        &mut self,
        client: u64,
        message: ClientMessage,
        now_ms: u64,
    ) -> Result<Outcome, Error> {
        match message {
            ClientMessage::ResyncRequest { seq } => {
                if let Some(view) = self.views.get(&client) {
                    if seq < view.last_seq {
                        return Ok(Outcome::default());
                    }
                    if seq == view.last_seq {
                        return Ok(Outcome {
                            reply: view.last_reply.clone(),
                            ..Outcome::default()
                        });
                    }
                }
                Ok(self.resync(client, seq, ResyncReason::Requested, Outcome::default()))
            }
            ClientMessage::Sync {
                seq,
                m_ack,
                n_first,
                edits,
                hash,
            } => self.sync(client, seq, m_ack, n_first, &edits, hash, now_ms),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn sync(
        &mut self,
        client: u64,
        seq: u64,
        m_ack: u64,
        n_first: u64,
        edits: &[Delta],
        hash: u64,
        now_ms: u64,
    ) -> Result<Outcome, Error> {
        let mut outcome = Outcome::default();
        let Some(mut view) = self.views.remove(&client) else {
            return Ok(self.resync(client, seq, ResyncReason::UnknownView, outcome));
        };
        if seq < view.last_seq {
            self.views.insert(client, view);
            return Ok(outcome);
        }
        if seq == view.last_seq {
            outcome.reply = view.last_reply.clone();
            self.views.insert(client, view);
            return Ok(outcome);
        }
        view.last_seq = seq;
        view.nudged = false;
        if m_ack != view.shadow_m {
            if m_ack != view.backup_m {
                self.views.insert(client, view);
                return Ok(self.resync(client, seq, ResyncReason::VersionMismatch, outcome));
            }
            // Our last reply was lost: the client never saw the edits we stacked since the backup.
            view.shadow = view.backup.clone();
            view.shadow_m = view.backup_m;
            view.shadow_rev = view.backup_rev.clone();
            view.own.clone_from(&view.backup_own);
            view.stack.clear();
            view.stack_first_m = view.shadow_m;
        }
        while view.stack_first_m < m_ack && !view.stack.is_empty() {
            view.stack.pop_front();
            view.stack_first_m += 1;
        }
        if view.stack.is_empty() {
            view.stack_first_m = view.shadow_m;
        }
        // Check the edits on a copy of the shadow first: an edit reaches the master only once the client's hash
        // proves both sides agree on the text it was made against.
        let first_new = view
            .shadow_n
            .saturating_sub(n_first)
            .min(edits.len() as u64) as usize;
        if n_first + (first_new as u64) < view.shadow_n {
            self.views.insert(client, view);
            return Ok(self.resync(client, seq, ResyncReason::VersionGap, outcome));
        }
        if n_first > view.shadow_n {
            self.views.insert(client, view);
            return Ok(self.resync(client, seq, ResyncReason::VersionGap, outcome));
        }
        let new_edits = &edits[first_new..];
        let mut candidate = view.shadow.clone();
        for delta in new_edits {
            if let Err(error) = candidate.apply(delta) {
                self.views.insert(client, view);
                return Ok(self.resync(client, seq, ResyncReason::BadDelta(error), outcome));
            }
        }
        if candidate.hash() != hash {
            self.views.insert(client, view);
            return Ok(self.resync(client, seq, ResyncReason::HashMismatch, outcome));
        }
        let mut changed = false;
        // With a single edit the checked copy is the shadow after it: on the fast path it becomes the master as is.
        let single_result = (new_edits.len() == 1).then_some(&candidate);
        for delta in new_edits {
            let version = view.shadow_n;
            changed |= self.apply_client_edit(
                client,
                &mut view,
                version,
                delta,
                single_result,
                now_ms,
                &mut outcome,
            )?;
        }
        view.backup = view.shadow.clone();
        view.backup_m = view.shadow_m;
        view.backup_rev = view.shadow_rev.clone();
        view.backup_own.clone_from(&view.own);
        self.catch_up(&mut view)?;
        if view.stack.len() > self.limits.max_stack {
            self.views.insert(client, view);
            return Ok(self.resync(client, seq, ResyncReason::StackTooLong, outcome));
        }
        let reply = ServerMessage::Reply {
            seq,
            n_ack: view.shadow_n,
            m_first: view.stack_first_m,
            edits: view.stack.iter().cloned().collect(),
            hash: view.shadow.hash(),
            failures: outcome.failures.clone(),
        };
        view.last_reply = Some(reply.clone());
        outcome.reply = Some(reply);
        self.views.insert(client, view);
        if changed {
            outcome.nudge = self.nudge_others(Some(client));
        }
        Ok(outcome)
    }

    /// Applies one client edit to the view's shadow and to the master; returns whether the master changed.
    /// `result`, when given, is the shadow with `delta` applied.
    #[allow(clippy::too_many_arguments)]
    fn apply_client_edit(
        &mut self,
        client: u64,
        view: &mut View,
        version: u64,
        delta: &Delta,
        result: Option<&Text>,
        now_ms: u64,
        outcome: &mut Outcome,
    ) -> Result<bool, Error> {
        let author = Author::Client {
            id: client,
            version,
        };
        let mut changed = false;
        if self.check_size(delta).is_err() {
            // Too big to keep: dropped like a failed patch, so the client is told and the next reply reverts it there.
            self.record_failure(version, delta, outcome);
            view.shadow.apply(delta)?;
            view.own.map(delta, true);
            view.shadow_rev = None;
        } else {
            // Merge the client's edit with the master's changes since its shadow (PROTOCOL.md §2, "Merging"). The
            // log knows those changes exactly on the common path; otherwise a bounded diff of shadow and master finds
            // them. Unlike a fuzzy patch this never drops the edit and never deletes text another client inserted
            // concurrently inside a range this client deleted.
            let to_master = match self.to_master(view) {
                Some(change) => change,
                None => {
                    self.stats.diffed += 1;
                    dmp::diff(
                        &view.shadow.to_string(),
                        &self.master.to_string(),
                        self.limits.diff_timeout_ms,
                    )?
                }
            };
            let exact = to_master.is_identity();
            let (onto_master, still_behind) = if exact {
                (delta.clone(), Delta::identity(delta.target_len()))
            } else {
                // The client's keystroke goes right after the character it was typed after, before what others
                // inserted there concurrently, unless it was typed in front of the client's own recent text.
                let own = &view.own;
                let merged = merge(&view.shadow, &self.master, delta, &to_master, |tie| {
                    person_first(own, tie.a_left, tie.a_right, |origin| origin.base)
                })?;
                (merged.a, merged.b)
            };
            if exact {
                self.stats.fast_path += 1;
            } else {
                self.stats.transformed += 1;
            }
            match result {
                Some(shadow_after) if exact => self.master = shadow_after.clone(),
                _ => self.master.apply(&onto_master)?,
            }
            if !onto_master.is_identity() {
                self.commit(onto_master.clone());
                outcome.history.push(HistoryEntry {
                    time_ms: now_ms,
                    author,
                    delta: onto_master,
                });
                changed = true;
            }
            if exact {
                view.shadow = self.master.clone();
            } else {
                view.shadow.apply(delta)?;
            }
            view.own.map(delta, true);
            view.shadow_rev = Some(SyncPoint {
                to_master: still_behind,
                rev: self.rev,
            });
        }
        self.stats.edits_applied += 1;
        view.shadow_n += 1;
        self.applied_n.insert(client, view.shadow_n);
        Ok(changed)
    }

    fn record_failure(&mut self, version: u64, delta: &Delta, outcome: &mut Outcome) {
        self.stats.failures += 1;
        let dropped = delta
            .ops()
            .iter()
            .filter_map(|op| match op {
                crate::Op::Insert(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        outcome.failures.push(Failure {
            n: version,
            dropped,
        });
    }

    fn check_size(&self, delta: &Delta) -> Result<(), Error> {
        let inserted: usize = delta
            .ops()
            .iter()
            .map(|op| match op {
                crate::Op::Insert(text) => text.len(),
                _ => 0,
            })
            .sum();
        let size = self.master.len_bytes() + inserted;
        if size > self.limits.max_document_bytes {
            return Err(Error::DocumentTooLarge {
                size: size as u64,
                limit: self.limits.max_document_bytes as u64,
            });
        }
        Ok(())
    }

    /// Records a master change in the revision log.
    fn commit(&mut self, delta: Delta) {
        self.rev += 1;
        self.log.push_back(delta);
        while self.log.len() > self.limits.max_log {
            self.log.pop_front();
            self.log_start += 1;
        }
    }

    /// Brings the view's shadow up to the master, stacking the edits the client must apply.
    fn catch_up(&mut self, view: &mut View) -> Result<(), Error> {
        let change = match self.to_master(view) {
            Some(change) => change,
            None => dmp::diff(
                &view.shadow.to_string(),
                &self.master.to_string(),
                self.limits.diff_timeout_ms,
            )?,
        };
        if !change.is_identity() {
            view.own.map(&change, false);
            view.stack.push_back(change);
            view.shadow_m += 1;
        }
        view.shadow = self.master.clone();
        view.shadow_rev = Some(SyncPoint::at(self.rev, self.master.len()));
        Ok(())
    }

    /// The exact delta from the view's shadow to the current master, if the log still covers it.
    fn to_master(&self, view: &View) -> Option<Delta> {
        let point = view.shadow_rev.as_ref()?;
        if point.rev == self.rev {
            return Some(point.to_master.clone());
        }
        if point.rev < self.log_start {
            return None;
        }
        let mut change = point.to_master.clone();
        for delta in self.log.iter().skip((point.rev - self.log_start) as usize) {
            change = change.compose(delta).ok()?;
        }
        Some(change)
    }

    fn nudge_others(&mut self, except: Option<u64>) -> Vec<u64> {
        let rev = self.rev;
        let mut nudge: Vec<u64> = self
            .views
            .iter_mut()
            .filter(|(id, view)| {
                Some(**id) != except
                    && !view.nudged
                    && !view
                        .shadow_rev
                        .as_ref()
                        .is_some_and(|point| point.rev == rev && point.to_master.is_identity())
            })
            .map(|(id, view)| {
                view.nudged = true;
                *id
            })
            .collect();
        nudge.sort_unstable();
        nudge
    }

    /// Replaces the client's view with a fresh one on the master text and answers with the whole text.
    fn resync(
        &mut self,
        client: u64,
        seq: u64,
        reason: ResyncReason,
        mut outcome: Outcome,
    ) -> Outcome {
        self.stats.resyncs += 1;
        let m = self.views.get(&client).map_or(0, |view| view.shadow_m);
        let n = self.applied_n.get(&client).copied().unwrap_or(0);
        self.views.insert(
            client,
            View {
                shadow: self.master.clone(),
                shadow_n: n,
                shadow_m: m,
                shadow_rev: Some(SyncPoint::at(self.rev, self.master.len())),
                own: Runs::default(),
                backup: self.master.clone(),
                backup_m: m,
                backup_rev: Some(SyncPoint::at(self.rev, self.master.len())),
                backup_own: Runs::default(),
                stack: VecDeque::new(),
                stack_first_m: m,
                last_seq: seq,
                last_reply: None,
                nudged: false,
            },
        );
        let reply = ServerMessage::Resync {
            seq,
            n,
            m,
            text: self.master.to_string(),
            hash: self.master.hash(),
        };
        if let Some(view) = self.views.get_mut(&client) {
            view.last_reply = Some(reply.clone());
        }
        outcome.reply = Some(reply);
        outcome.resync = Some(reason);
        if !outcome.history.is_empty() {
            outcome.nudge = self.nudge_others(Some(client));
        }
        outcome
    }
}
