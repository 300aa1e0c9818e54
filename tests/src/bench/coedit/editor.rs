//! One simulated editor: an `orrery_sync` client of one document over a [`Link`], as the browser's editor drives it
//! (send as soon as there is an edit and nothing in flight; on a Nudge, sync), that types an editing trace into its
//! own part of the document and notes when the other editors' keystrokes reach its text.
//!
//! How a keystroke is timed. The document starts as a skeleton: one separator per editor (`separator`), each
//! followed by that editor's part. An editor types its trace into its part only, at the trace's own positions counted
//! from the start of its part, and it finds that start again after every remote change by mapping it through the
//! change (a separator is never edited, so no remote insertion lands exactly there). Every keystroke also replaces a
//! stamp at the head of the part, `\u{E000}<editor>:<keystroke>\u{E001}` (private-use characters, which no trace
//! holds), in the same local change, so the stamp travels in the same sync message as the keystroke's own edit. A
//! receiver looks for stamps in the text each remote change inserts: seeing keystroke k of editor e means every
//! keystroke of e up to k is in its text now (one editor's changes reach a view in order), so each of them is timed
//! from the instant it was typed to that instant. Nothing is sampled or estimated: every keystroke is timed at every
//! other editor, and a keystroke never seen by some editor is counted as missing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use orrery_local_hub::protocol::{kind, Frame, CONTROL};
use orrery_sync::trace::Trace;
use orrery_sync::wire::{decode_server, encode_client, ServerMessage};
use orrery_sync::{Client, ClientEvent, Delta, Op};
use tokio::sync::watch;

use crate::link::Link;

const STAMP_OPEN: char = '\u{E000}';
const STAMP_CLOSE: char = '\u{E001}';

/// How long opening and the first sync may take.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The text that starts editor `index`'s part of the document.
pub fn separator(index: usize) -> String {
    format!("\n\u{E002}{index}\u{E003}")
}

/// The stamp of keystroke `keystroke` of editor `index`.
pub fn stamp(index: usize, keystroke: u64) -> String {
    format!("{STAMP_OPEN}{index}:{keystroke}{STAMP_CLOSE}")
}

/// The document before anyone types: every editor's separator, then its trace's start content.
pub fn skeleton(traces: &[Arc<Trace>]) -> String {
    traces
        .iter()
        .enumerate()
        .map(|(index, trace)| separator(index) + &trace.start_content)
        .collect()
}

/// The document once editor `index` typed `typed[index]` keystrokes of its trace, for every editor.
pub fn expected_text(traces: &[Arc<Trace>], typed: &[u64]) -> Result<String> {
    let mut document = String::new();
    for (index, trace) in traces.iter().enumerate() {
        document.push_str(&separator(index));
        let keystrokes = typed.get(index).copied().unwrap_or(0);
        if keystrokes > 0 {
            document.push_str(&stamp(index, keystrokes));
        }
        let mut part = orrery_sync::Text::new(&trace.start_content);
        for txn in trace.txns.iter().take(keystrokes as usize) {
            for (pos, del, ins) in txn {
                part.splice(*pos, *del, ins)?;
            }
        }
        document.push_str(&part.to_string());
    }
    Ok(document)
}

/// Where position `position` of a text is after `delta` changed it: text inserted exactly there goes before it, and a
/// position in a deleted range goes to where the range was, before what replaced it.
pub fn map_position(delta: &Delta, position: usize) -> usize {
    let (mut old, mut new) = (0, 0);
    for op in delta.ops() {
        match op {
            Op::Retain(n) => {
                if position < old + n {
                    return new + (position - old);
                }
                old += n;
                new += n;
            }
            Op::Delete(n) => {
                if position < old + n {
                    return new;
                }
                old += n;
            }
            Op::Insert(text) => new += text.chars().count(),
        }
    }
    new + position.saturating_sub(old)
}

/// Every well-formed stamp in `text`: (editor, keystroke).
pub fn stamps(text: &str) -> impl Iterator<Item = (usize, u64)> + '_ {
    text.split(STAMP_OPEN).skip(1).filter_map(|after| {
        let (inside, _) = after.split_once(STAMP_CLOSE)?;
        let (editor, keystroke) = inside.split_once(':')?;
        Some((editor.parse().ok()?, keystroke.parse().ok()?))
    })
}

/// How an editor types, if it does.
#[derive(Debug, Clone, Copy)]
pub struct Typing {
    /// Time between keystrokes.
    pub interval: Duration,
    /// When the first keystroke comes after the start (editors are spread over one interval).
    pub offset: Duration,
    pub keystrokes: u64,
}

/// What the run's conductor tells every editor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Connected; keep syncing, do not type yet.
    Ready,
    /// Type, on the schedule that starts at this instant.
    Go(Instant),
    /// Stop and report.
    Finish,
}

/// What an editor shows the conductor while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    pub typed: u64,
    /// Nothing in flight, nothing unacknowledged, and the client holds the document.
    pub idle: bool,
    /// The hash of the editor's text.
    pub hash: u64,
}

/// Messages and events, summed over editors for the report.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub syncs_sent: u64,
    pub bytes_up: u64,
    pub replies: u64,
    pub nudges: u64,
    pub bytes_down: u64,
    /// Times the client found it had to fetch the whole text again.
    pub resyncs: u64,
}

impl std::ops::AddAssign for Counters {
    fn add_assign(&mut self, other: Counters) {
        self.syncs_sent += other.syncs_sent;
        self.bytes_up += other.bytes_up;
        self.replies += other.replies;
        self.nudges += other.nudges;
        self.bytes_down += other.bytes_down;
        self.resyncs += other.resyncs;
    }
}

/// What an editor hands back at the end.
#[derive(Debug)]
pub struct Report {
    pub index: usize,
    /// `typed_at[k - 1]`: when keystroke k was typed.
    pub typed_at: Vec<Instant>,
    /// How late each keystroke was typed against its schedule (this process keeping up, or not).
    pub typing_lag: Vec<Duration>,
    /// Per editor: (keystroke, when first seen), keystrokes increasing.
    pub seen: Vec<Vec<(u64, Instant)>>,
    pub text: String,
    pub counters: Counters,
    /// Anything a clean run never shows: refused edits, resyncs, notices, errors.
    pub problems: Vec<String>,
}

#[derive(Debug)]
pub struct Editor {
    pub index: usize,
    link: Link,
    channel: u32,
    client: Client,
    trace: Arc<Trace>,
    /// Where this editor's part starts in its text: just after its separator.
    region: usize,
    /// The length of the stamp at the head of the part.
    stamp_chars: usize,
    typed_at: Vec<Instant>,
    typing_lag: Vec<Duration>,
    seen: Vec<Vec<(u64, Instant)>>,
    counters: Counters,
    problems: Vec<String>,
}

impl Editor {
    /// Opens `path` over `link` as sync client `client_id`, and waits until the client holds the document.
    pub async fn open(
        mut link: Link,
        project: &str,
        path: &str,
        index: usize,
        client_id: u64,
        trace: Arc<Trace>,
        editors: usize,
    ) -> Result<Editor> {
        let channel = link.open_document(project, path, client_id).await?;
        let mut editor = Editor {
            index,
            link,
            channel,
            client: Client::new(),
            trace,
            region: 0,
            stamp_chars: 0,
            typed_at: Vec::new(),
            typing_lag: Vec::new(),
            seen: vec![Vec::new(); editors],
            counters: Counters::default(),
            problems: Vec::new(),
        };
        editor.settle().await?;
        Ok(editor)
    }

    /// Syncs until the client holds the document and has nothing unacknowledged.
    async fn settle(&mut self) -> Result<()> {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        loop {
            self.pump().await?;
            if self.client.is_synced()
                && !self.client.in_flight()
                && !self.client.has_unacknowledged()
            {
                return Ok(());
            }
            let frame = tokio::time::timeout_at(deadline, self.link.recv())
                .await
                .map_err(|_| {
                    anyhow!(
                        "editor {} did not sync within {SETTLE_TIMEOUT:?}",
                        self.index
                    )
                })??
                .ok_or_else(|| anyhow!("the connection of editor {} closed", self.index))?;
            self.handle(frame)?;
        }
    }

    /// Writes the skeleton into the empty document.
    pub async fn write_skeleton(&mut self, skeleton: &str) -> Result<()> {
        if !self.client.text_ref().is_empty() {
            bail!("the benchmark's document is not empty to start with");
        }
        self.client.splice(0, 0, skeleton)?;
        self.settle().await
    }

    /// Finds this editor's part in the document.
    pub fn locate(&mut self) -> Result<()> {
        let text = self.client.text();
        let separator = separator(self.index);
        let at = text
            .find(&separator)
            .ok_or_else(|| anyhow!("editor {}'s separator is not in the document", self.index))?;
        self.region = text[..at].chars().count() + separator.chars().count();
        Ok(())
    }

    fn status(&self) -> Status {
        Status {
            typed: self.typed_at.len() as u64,
            idle: self.client.is_synced()
                && !self.client.in_flight()
                && !self.client.has_unacknowledged(),
            hash: self.client.text_ref().hash(),
        }
    }

    /// Syncs, types on its schedule when told to go, and reports when told to finish.
    pub async fn run(
        mut self,
        typing: Option<Typing>,
        mut control: watch::Receiver<Phase>,
        status: watch::Sender<Status>,
    ) -> Result<Report> {
        let mut schedule: Option<(Instant, Typing)> = None;
        let far = tokio::time::Instant::now() + Duration::from_secs(86_400);
        let mut heartbeat =
            tokio::time::interval(self.link.heartbeat().unwrap_or(Duration::from_secs(86_400)));
        heartbeat.tick().await;
        loop {
            status.send_if_modified(|shown| {
                let now = self.status();
                std::mem::replace(shown, now) != now
            });
            let next_keystroke = schedule.and_then(|(start, typing)| {
                let typed = self.typed_at.len() as u64;
                (typed < typing.keystrokes)
                    .then(|| start + typing.offset + typing.interval * typed as u32)
            });
            tokio::select! {
                frame = self.link.recv() => match frame? {
                    Some(frame) => self.handle(frame)?,
                    None => bail!("the connection of editor {} closed", self.index),
                },
                _ = tokio::time::sleep_until(next_keystroke.map_or(far, tokio::time::Instant::from_std)), if next_keystroke.is_some() => {
                    if let Some(scheduled) = next_keystroke {
                        self.keystroke(scheduled)?;
                    }
                }
                changed = control.changed() => {
                    if changed.is_err() {
                        bail!("the conductor went away");
                    }
                    let phase = *control.borrow_and_update();
                    match phase {
                        Phase::Ready => {}
                        Phase::Go(start) => schedule = typing.map(|typing| (start, typing)),
                        Phase::Finish => break,
                    }
                }
                _ = heartbeat.tick() => self.link.ping().await?,
            }
            self.pump().await?;
        }
        let Editor {
            index,
            link,
            client,
            typed_at,
            typing_lag,
            seen,
            counters,
            problems,
            ..
        } = self;
        link.close().await;
        Ok(Report {
            index,
            typed_at,
            typing_lag,
            seen,
            text: client.text(),
            counters,
            problems,
        })
    }

    /// Types the next keystroke of the trace, and stamps it.
    fn keystroke(&mut self, scheduled: Instant) -> Result<()> {
        let typed = Instant::now();
        let number = self.typed_at.len();
        let txn = self
            .trace
            .txns
            .get(number)
            .ok_or_else(|| anyhow!("editor {} ran out of trace", self.index))?;
        let start = self.region + self.stamp_chars;
        for (pos, del, ins) in txn {
            self.client.splice(start + pos, *del, ins)?;
        }
        let stamp = stamp(self.index, number as u64 + 1);
        self.client.splice(self.region, self.stamp_chars, &stamp)?;
        self.stamp_chars = stamp.chars().count();
        self.typed_at.push(typed);
        self.typing_lag
            .push(typed.saturating_duration_since(scheduled));
        Ok(())
    }

    /// Sends the client's next message, if it has one and nothing is in flight.
    async fn pump(&mut self) -> Result<()> {
        if let Some(message) = self.client.poll() {
            let body = encode_client(&message);
            self.counters.syncs_sent += 1;
            self.counters.bytes_up += body.len() as u64;
            self.link
                .send(&Frame::new(self.channel, kind::SYNC, body))
                .await?;
        }
        Ok(())
    }

    fn handle(&mut self, frame: Frame) -> Result<()> {
        if frame.channel == CONTROL {
            match frame.kind {
                kind::ERROR => self.problems.push(format!(
                    "error on the connection: {}",
                    String::from_utf8_lossy(&frame.body)
                )),
                kind::CLOSE => bail!(
                    "the hub closed editor {}'s channel: {}",
                    self.index,
                    String::from_utf8_lossy(&frame.body)
                ),
                _ => {}
            }
            return Ok(());
        }
        if frame.channel != self.channel {
            return Ok(());
        }
        match frame.kind {
            kind::SYNC_REPLY => {
                self.counters.bytes_down += frame.body.len() as u64;
                let message = decode_server(&frame.body)?;
                match message {
                    ServerMessage::Nudge => self.counters.nudges += 1,
                    ServerMessage::Reply { .. } => self.counters.replies += 1,
                    ServerMessage::Resync { .. } | ServerMessage::Error { .. } => {}
                }
                let now = Instant::now();
                for event in self.client.receive(message)? {
                    match event {
                        ClientEvent::Changed { delta } => {
                            self.region = map_position(&delta, self.region);
                            self.observe(&delta, now);
                        }
                        ClientEvent::ResyncNeeded { reason } => {
                            self.counters.resyncs += 1;
                            self.problems.push(format!("resync: {reason}"));
                        }
                        ClientEvent::Failed { n, dropped } => self
                            .problems
                            .push(format!("edit {n} refused; dropped {dropped:?}")),
                        ClientEvent::ServerError { code, message } => {
                            self.problems.push(format!("sync error {code}: {message}"))
                        }
                    }
                }
            }
            kind::NOTICE | kind::ERROR => self.problems.push(format!(
                "{} on the document: {}",
                if frame.kind == kind::NOTICE {
                    "notice"
                } else {
                    "error"
                },
                String::from_utf8_lossy(&frame.body)
            )),
            kind::CLOSE => bail!("editor {}'s document channel was closed", self.index),
            _ => {}
        }
        Ok(())
    }

    /// Notes the stamps a remote change brought.
    fn observe(&mut self, delta: &Delta, now: Instant) {
        for op in delta.ops() {
            let Op::Insert(text) = op else { continue };
            for (editor, keystroke) in stamps(text) {
                if let Some(seen) = self.seen.get_mut(editor) {
                    if seen.last().is_none_or(|&(last, _)| keystroke > last) {
                        seen.push((keystroke, now));
                    }
                }
            }
        }
    }
}

/// Every (keystroke, receiver) delay of a run: from when the keystroke was typed to when the receiver first held it.
/// Returns the delays and how many pairs were never seen.
pub fn delays(reports: &[Report]) -> (Vec<Duration>, u64) {
    let mut delays = Vec::new();
    let mut missing = 0;
    for typist in reports {
        if typist.typed_at.is_empty() {
            continue;
        }
        for receiver in reports.iter().filter(|report| report.index != typist.index) {
            let seen = receiver
                .seen
                .get(typist.index)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let mut at = 0;
            for (number, typed) in typist.typed_at.iter().enumerate() {
                let keystroke = number as u64 + 1;
                while at < seen.len() && seen[at].0 < keystroke {
                    at += 1;
                }
                match seen.get(at) {
                    Some(&(_, when)) => delays.push(when.saturating_duration_since(*typed)),
                    None => missing += 1,
                }
            }
        }
    }
    delays.sort();
    (delays, missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_follow_changes() {
        let delta = Delta::splice(10, 2, 3, "abcd").unwrap();
        assert_eq!(map_position(&delta, 0), 0);
        assert_eq!(map_position(&delta, 1), 1);
        // In the replaced range: where it was, before the replacement.
        assert_eq!(map_position(&delta, 2), 2);
        assert_eq!(map_position(&delta, 3), 2);
        assert_eq!(map_position(&delta, 5), 6);
        assert_eq!(map_position(&delta, 10), 11);
        let append = Delta::splice(4, 4, 0, "xy").unwrap();
        assert_eq!(map_position(&append, 4), 6);
        assert_eq!(map_position(&append, 3), 3);
    }

    #[test]
    fn stamps_are_found_whole() {
        let text = format!(
            "ab{}c{}d\u{E000}9:x\u{E001}{}",
            stamp(3, 17),
            stamp(12, 1),
            "\u{E000}4:5"
        );
        assert_eq!(stamps(&text).collect::<Vec<_>>(), vec![(3, 17), (12, 1)]);
    }

    #[test]
    fn the_expected_text_replays_each_part() {
        let trace = |txns: Vec<Vec<(usize, usize, &str)>>| {
            Arc::new(Trace {
                start_content: String::new(),
                end_content: String::new(),
                txns: txns
                    .into_iter()
                    .map(|txn| {
                        txn.into_iter()
                            .map(|(p, d, i)| (p, d, i.to_owned()))
                            .collect()
                    })
                    .collect(),
            })
        };
        let traces = vec![
            trace(vec![vec![(0, 0, "hé")], vec![(1, 1, "a")]]),
            trace(vec![vec![(0, 0, "x")]]),
        ];
        assert_eq!(
            skeleton(&traces),
            format!("{}{}", separator(0), separator(1))
        );
        assert_eq!(
            expected_text(&traces, &[2, 0]).unwrap(),
            format!("{}{}ha{}", separator(0), stamp(0, 2), separator(1))
        );
    }

    fn report(index: usize, typed_at: Vec<Instant>, seen: Vec<Vec<(u64, Instant)>>) -> Report {
        Report {
            index,
            typed_at,
            typing_lag: Vec::new(),
            seen,
            text: String::new(),
            counters: Counters::default(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_later_stamp_times_every_keystroke_before_it() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let typist = report(0, vec![ms(0), ms(10), ms(20)], vec![Vec::new(); 2]);
        // Keystroke 2 was seen at 25 ms (so keystroke 1 too); keystroke 3 never.
        let receiver = report(1, Vec::new(), vec![vec![(2, ms(25))], Vec::new()]);
        let (delays, missing) = delays(&[typist, receiver]);
        assert_eq!(
            delays,
            vec![Duration::from_millis(15), Duration::from_millis(25)]
        );
        assert_eq!(missing, 1);
    }
}
