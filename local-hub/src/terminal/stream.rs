//! One terminal's output on its way to its viewers: the ring of recent output, each viewer's place in it and its
//! credit, the PTY size (the smallest of the viewers'), and the emulator that snapshots come from.
//!
//! The PTY reader appends; one pump task per viewer sends that viewer what it has credit for, and waits (on the
//! viewer's own connection queue, never on the reader or another viewer) when the connection is slow. The reader is
//! paced by the fastest viewer: it waits while every viewer is more than [`PACE`] behind, but for no longer than
//! [`STALL_LIMIT`], so a terminal keeps running when its only viewer went silent. A viewer that falls more than
//! [`MAX_LAG`] behind is sent a snapshot once it has credit again, instead of the output it missed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};

use super::screen::Screen;
use crate::protocol::{kind, Exited, Frame, TerminalSize};
use crate::ChannelSink;

/// Output a viewer may have unacknowledged before sending to it stops.
pub(crate) const WINDOW: usize = 256 << 10;
/// The PTY is read only while some viewer has less than this left to send: the fastest viewer sets the pace, and
/// what is left to show after a Ctrl-C is at most this plus [`WINDOW`] and a chunk.
const PACE: usize = 128 << 10;
/// How long every viewer may hold the PTY back before it is read regardless (they get snapshots later).
const STALL_LIMIT: Duration = Duration::from_secs(1);
/// How far behind the newest output a viewer may fall (beyond what it has unacknowledged) before it is sent a snapshot
/// instead of the output it missed.
const MAX_LAG: usize = 512 << 10;
/// Recent output kept for viewers that are behind.
const RING: usize = MAX_LAG + (64 << 10);
/// Output is handed to the emulator in batches this large (the larger, the more of a flood it can skip), parsed on a
/// blocking thread so the reader goes on reading.
const BACKLOG_BATCH: usize = 2 << 20;
/// While this much waits for an emulator busy parsing, the reader waits too: output the emulator cannot skip (colours,
/// cursor motion) is read no faster than it can be parsed.
const BACKLOG_LIMIT: usize = 4 * BACKLOG_BATCH;
/// A viewer that keeps falling behind is resynced at most this often.
const RESYNC_INTERVAL: Duration = Duration::from_millis(200);
/// The largest output frame.
const MAX_FRAME: usize = 64 << 10;
/// With little credit left, wait for this much rather than send a sliver.
const MIN_FRAME: usize = 16 << 10;
/// Rows of scrollback the emulator keeps for snapshots.
pub(crate) const SCROLLBACK: usize = 1000;
/// Sizes beyond these are clamped: they bound the emulator's memory.
const MAX_ROWS: u16 = 500;
const MAX_COLS: u16 = 1000;

/// A viewer's size as a preference: none when it reported a zero dimension.
pub(crate) fn preference(size: TerminalSize) -> Option<TerminalSize> {
    (size.rows > 0 && size.cols > 0).then_some(TerminalSize {
        rows: size.rows.min(MAX_ROWS),
        cols: size.cols.min(MAX_COLS),
    })
}

/// What one viewer has been sent and may be sent.
#[derive(Debug)]
struct Viewer {
    size: Option<TerminalSize>,
    /// Stream position of the next output byte to send it.
    cursor: u64,
    /// Bytes sent and not yet acknowledged.
    unacked: usize,
    /// A size change to announce once `cursor` reaches its position.
    pending_size: Option<(u64, TerminalSize)>,
    /// It has not been sent a snapshot since it attached.
    fresh: bool,
    /// When it was last sent a snapshot.
    resynced: Option<Instant>,
    wake: Arc<Notify>,
}

/// The last [`RING`] bytes of output, by stream position.
#[derive(Debug, Default)]
struct Ring {
    /// Position `p` is at `buffer[p % RING]`; grows to RING, then wraps.
    buffer: Vec<u8>,
    /// Output bytes taken so far.
    end: u64,
}

impl Ring {
    /// The oldest position still held.
    fn start(&self) -> u64 {
        self.end.saturating_sub(RING as u64)
    }

    fn push(&mut self, bytes: &[u8]) {
        let kept = &bytes[bytes.len().saturating_sub(RING)..];
        self.end += (bytes.len() - kept.len()) as u64;
        let at = (self.end % RING as u64) as usize;
        if self.buffer.len() < RING && at + kept.len() > self.buffer.len() {
            self.buffer.resize((at + kept.len()).min(RING), 0);
        }
        let first = kept.len().min(RING - at);
        self.buffer[at..at + first].copy_from_slice(&kept[..first]);
        self.buffer[..kept.len() - first].copy_from_slice(&kept[first..]);
        self.end += kept.len() as u64;
    }

    /// `len` bytes from position `from`, which the ring must still hold.
    fn copy(&self, from: u64, len: usize) -> Vec<u8> {
        let at = (from % RING as u64) as usize;
        let first = len.min(RING - at);
        let mut out = Vec::with_capacity(len);
        out.extend_from_slice(&self.buffer[at..at + first]);
        out.extend_from_slice(&self.buffer[..len - first]);
        out
    }
}

/// Everything the reader, the pumps and the viewers' handlers share.
#[derive(Debug)]
struct Shared {
    ring: Ring,
    /// Output not yet handed to the emulator: the reader never waits for the emulator's lock.
    backlog: Vec<u8>,
    /// The emulator's last batch, emptied, to take the next one without growing a fresh buffer.
    spare: Vec<u8>,
    /// Since when every viewer has been too far behind for the PTY to be read.
    stalled: Option<Instant>,
    viewers: HashMap<u64, Viewer>,
    size: TerminalSize,
    exited: Option<Exited>,
    /// Output or a viewer coming or going: what idle culling measures from.
    last_activity: Instant,
}

impl Shared {
    fn end(&self) -> u64 {
        self.ring.end
    }
}

/// What a viewer's pump does next.
#[derive(Debug)]
pub(crate) enum Step {
    Send(Frame),
    Snapshot,
    Exited(Exited),
    Wait,
    WaitUntil(Instant),
    Gone,
}

/// The output side of one terminal.
#[derive(Debug)]
pub(crate) struct Stream {
    shared: Mutex<Shared>,
    /// Locked before `shared` when both are needed, never after.
    screen: Mutex<Screen>,
    /// The PTY size, for the task that writes to the PTY.
    pty_size: watch::Sender<TerminalSize>,
    /// Told when a viewer moves on, comes or goes, or the emulator has parsed: the reader may be waiting for room.
    progress: Notify,
    /// A batch is being parsed.
    parsing: AtomicBool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind, still usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Stream {
    pub(crate) fn new(size: TerminalSize) -> (Stream, watch::Receiver<TerminalSize>) {
        let (pty_size, receiver) = watch::channel(size);
        let stream = Stream {
            shared: Mutex::new(Shared {
                ring: Ring::default(),
                backlog: Vec::new(),
                spare: Vec::new(),
                stalled: None,
                viewers: HashMap::new(),
                size,
                exited: None,
                last_activity: Instant::now(),
            }),
            screen: Mutex::new(Screen::new(size, SCROLLBACK)),
            pty_size,
            progress: Notify::new(),
            parsing: AtomicBool::new(false),
        };
        (stream, receiver)
    }

    /// Takes output from the PTY.
    pub(crate) fn output(self: &Arc<Self>, bytes: &[u8]) {
        let backlog = {
            let mut shared = lock(&self.shared);
            shared.ring.push(bytes);
            shared.backlog.extend_from_slice(bytes);
            shared.last_activity = Instant::now();
            for viewer in shared.viewers.values() {
                viewer.wake.notify_one();
            }
            shared.backlog.len()
        };
        if backlog >= BACKLOG_BATCH && !self.parsing.swap(true, Ordering::AcqRel) {
            let stream = self.clone();
            tokio::task::spawn_blocking(move || loop {
                stream.catch_up(&mut lock(&stream.screen));
                stream.progress.notify_one();
                let shared = lock(&stream.shared);
                // Decided under the lock the reader appends under, so no batch is left without a parser.
                if shared.backlog.len() < BACKLOG_BATCH {
                    stream.parsing.store(false, Ordering::Release);
                    return;
                }
            });
        }
    }

    /// Hands the backlog to the emulator, which parses it; the emulator is then at the end of the output.
    fn catch_up(&self, screen: &mut Screen) {
        let (mut batch, streaming) = {
            let mut shared = lock(&self.shared);
            // While output streams, two batch-sized buffers take turns; otherwise none is kept.
            let streaming = shared.backlog.len() >= BACKLOG_BATCH / 2;
            let next = if streaming {
                std::mem::take(&mut shared.spare)
            } else {
                shared.spare = Vec::new();
                Vec::new()
            };
            (std::mem::replace(&mut shared.backlog, next), streaming)
        };
        screen.feed(&batch);
        if streaming && batch.capacity() <= 2 * BACKLOG_BATCH {
            batch.clear();
            lock(&self.shared).spare = batch;
        }
    }

    /// Waits until the PTY may be read: no viewer, some viewer close enough to the newest output, or every viewer
    /// behind for longer than [`STALL_LIMIT`].
    pub(crate) async fn room(&self) {
        loop {
            let progress = self.progress.notified();
            let stalled = {
                let mut shared = lock(&self.shared);
                let end = shared.end();
                if shared.backlog.len() >= BACKLOG_LIMIT {
                    // The emulator is behind; it tells `progress` when it has parsed.
                    None
                } else {
                    let keeping_up = shared.viewers.is_empty()
                        || shared.exited.is_some()
                        || shared
                            .viewers
                            .values()
                            .any(|viewer| viewer.cursor + PACE as u64 > end);
                    if keeping_up {
                        shared.stalled = None;
                        return;
                    }
                    Some(*shared.stalled.get_or_insert_with(Instant::now))
                }
            };
            let Some(stalled) = stalled else {
                progress.await;
                continue;
            };
            let limit = stalled + STALL_LIMIT;
            if Instant::now() >= limit {
                return;
            }
            tokio::select! {
                () = progress => {}
                () = tokio::time::sleep_until(limit.into()) => return,
            }
        }
    }

    /// Adds a viewer; it will be sent the size and a snapshot first.
    pub(crate) fn add_viewer(&self, id: u64, size: TerminalSize) -> Arc<Notify> {
        let wake = Arc::new(Notify::new());
        let mut screen = lock(&self.screen);
        let mut shared = lock(&self.shared);
        let cursor = shared.end();
        shared.viewers.insert(
            id,
            Viewer {
                size: preference(size),
                cursor,
                unacked: 0,
                pending_size: None,
                fresh: true,
                resynced: None,
                wake: wake.clone(),
            },
        );
        shared.last_activity = Instant::now();
        self.fit(&mut screen, &mut shared);
        wake.notify_one();
        self.progress.notify_one();
        wake
    }

    /// Removes a viewer; the others may now get a larger size.
    pub(crate) fn remove_viewer(&self, id: u64) {
        let mut screen = lock(&self.screen);
        let mut shared = lock(&self.shared);
        if shared.viewers.remove(&id).is_some() {
            shared.last_activity = Instant::now();
            self.fit(&mut screen, &mut shared);
            self.progress.notify_one();
        }
    }

    /// A viewer's new size.
    pub(crate) fn resize_viewer(&self, id: u64, size: TerminalSize) {
        let mut screen = lock(&self.screen);
        let mut shared = lock(&self.shared);
        if let Some(viewer) = shared.viewers.get_mut(&id) {
            viewer.size = preference(size);
            self.fit(&mut screen, &mut shared);
        }
    }

    /// A viewer returns credit.
    pub(crate) fn ack(&self, id: u64, bytes: u64) {
        let mut shared = lock(&self.shared);
        if let Some(viewer) = shared.viewers.get_mut(&id) {
            let bytes = usize::try_from(bytes).unwrap_or(usize::MAX);
            viewer.unacked = viewer.unacked.saturating_sub(bytes);
            viewer.wake.notify_one();
        }
    }

    /// Sizes the PTY and the emulator to the smallest of the viewers' sizes, and tells every viewer when it changed.
    fn fit(&self, screen: &mut Screen, shared: &mut Shared) {
        let smallest = shared
            .viewers
            .values()
            .filter_map(|viewer| viewer.size)
            .reduce(|a, b| TerminalSize {
                rows: a.rows.min(b.rows),
                cols: a.cols.min(b.cols),
            });
        let Some(size) = smallest else {
            return;
        };
        if size == shared.size {
            return;
        }
        // Output taken so far was written for the old size.
        let backlog = std::mem::take(&mut shared.backlog);
        screen.feed(&backlog);
        screen.resize(size);
        shared.size = size;
        let position = screen.position();
        for viewer in shared.viewers.values_mut() {
            viewer.pending_size = Some((position, size));
            viewer.wake.notify_one();
        }
        self.pty_size.send_replace(size);
    }

    /// The shell ended: viewers get the rest of the output, then this.
    pub(crate) fn exited(&self, exited: Exited) {
        let mut shared = lock(&self.shared);
        shared.exited = Some(exited);
        for viewer in shared.viewers.values() {
            viewer.wake.notify_one();
        }
        self.progress.notify_one();
    }

    /// How long since output or a viewer came or went, when no viewer is attached.
    pub(crate) fn unwatched_for(&self) -> Option<std::time::Duration> {
        let shared = lock(&self.shared);
        shared
            .viewers
            .is_empty()
            .then(|| shared.last_activity.elapsed())
    }

    /// What viewer `id` should be sent next.
    pub(crate) fn next(&self, id: u64, channel: u32) -> Step {
        let mut shared = lock(&self.shared);
        let ring_start = shared.ring.start();
        let end = shared.end();
        let exited = shared.exited.clone();
        let Some(viewer) = shared.viewers.get_mut(&id) else {
            return Step::Gone;
        };
        let lapped = viewer.cursor < ring_start || viewer.cursor + (MAX_LAG as u64) < end;
        if viewer.fresh || lapped {
            // A viewer left behind gets its snapshot once it has caught up on what it was sent, and not more often
            // than every RESYNC_INTERVAL.
            if viewer.unacked > WINDOW / 2 {
                return Step::Wait;
            }
            if let Some(resynced) = viewer.resynced {
                if resynced.elapsed() < RESYNC_INTERVAL {
                    return Step::WaitUntil(resynced + RESYNC_INTERVAL);
                }
            }
            return Step::Snapshot;
        }
        if let Some((position, size)) = viewer.pending_size {
            if viewer.cursor >= position {
                viewer.pending_size = None;
                return Step::Send(Frame::json(channel, kind::SIZE, &size));
            }
        }
        let limit = viewer
            .pending_size
            .map_or(end, |(position, _)| position.min(end));
        let available = usize::try_from(limit - viewer.cursor).unwrap_or(usize::MAX);
        if available == 0 {
            return match exited {
                Some(exited) => Step::Exited(exited),
                None => Step::Wait,
            };
        }
        let credit = WINDOW.saturating_sub(viewer.unacked);
        let len = available.min(credit).min(MAX_FRAME);
        if len == 0 || (len < MIN_FRAME && len < available) {
            return Step::Wait;
        }
        let from = viewer.cursor;
        viewer.cursor += len as u64;
        viewer.unacked += len;
        self.progress.notify_one();
        Step::Send(Frame::new(
            channel,
            kind::OUTPUT,
            shared.ring.copy(from, len),
        ))
    }

    /// A snapshot for viewer `id`: the size it is for, and the bytes. The viewer continues from the output after it.
    pub(crate) fn snapshot(&self, id: u64) -> Option<(TerminalSize, Vec<u8>)> {
        let mut screen = lock(&self.screen);
        // The reader goes on appending while the snapshot is made; the viewer continues from here.
        self.catch_up(&mut screen);
        let position = screen.position();
        let size = screen.size();
        let bytes = screen.snapshot();
        drop(screen);
        let mut shared = lock(&self.shared);
        let viewer = shared.viewers.get_mut(&id)?;
        viewer.resynced = Some(Instant::now());
        viewer.fresh = false;
        viewer.cursor = position;
        viewer.unacked += bytes.len();
        if viewer.pending_size.is_some_and(|(at, _)| at <= position) {
            viewer.pending_size = None;
        }
        self.progress.notify_one();
        Some((size, bytes))
    }
}

/// Sends viewer `id` everything it should get, in order, until it detaches, its connection closes, or the shell
/// has exited and it has been told.
pub(crate) async fn pump(stream: Arc<Stream>, id: u64, sink: ChannelSink, wake: Arc<Notify>) {
    loop {
        let delivered = match stream.next(id, sink.channel) {
            Step::Wait => {
                wake.notified().await;
                true
            }
            Step::WaitUntil(until) => {
                let _ = tokio::time::timeout_at(until.into(), wake.notified()).await;
                true
            }
            Step::Gone => return,
            Step::Send(frame) => sink.send(frame.kind, frame.body).await,
            Step::Snapshot => match stream.snapshot(id) {
                Some((size, bytes)) => {
                    sink.json(kind::SIZE, &size).await && sink.send(kind::SNAPSHOT, bytes).await
                }
                None => return,
            },
            Step::Exited(exited) => {
                let _ = sink.json(kind::EXITED, &exited).await;
                return;
            }
        };
        if !delivered {
            stream.remove_viewer(id);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ring_keeps_the_latest_output_by_position() {
        let mut ring = Ring::default();
        let mut all = Vec::new();
        let mut seed = 7u64;
        for round in 0..400 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Mostly chunks, now and then one larger than the whole ring.
            let len = if round % 97 == 0 {
                RING + 1234
            } else {
                (seed >> 40) as usize % 70_000
            };
            let bytes: Vec<u8> = (0..len).map(|index| (index as u64 ^ seed) as u8).collect();
            ring.push(&bytes);
            all.extend_from_slice(&bytes);
            assert_eq!(ring.end, all.len() as u64);
            assert_eq!(ring.start(), all.len().saturating_sub(RING) as u64);
            let from = ring.start() + (seed >> 20) % (ring.end - ring.start() + 1);
            let take = ((seed >> 8) % (ring.end - from + 1)) as usize;
            assert_eq!(
                ring.copy(from, take),
                all[from as usize..from as usize + take]
            );
        }
    }
}
