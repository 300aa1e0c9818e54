//! One terminal's output on its way to its viewers: the ring of recent output, each viewer's place in it and its
//! credit, the PTY size (the smallest of the viewers'), and the emulator that snapshots come from.
//!
//! The PTY reader only appends; one pump task per viewer sends that viewer what it has credit for, and waits (on the
//! viewer's own connection queue, never on the reader or another viewer) when the connection is slow. A viewer the
//! ring has moved past is sent a snapshot once it has credit again, instead of the output it missed.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::sync::{watch, Notify};

use super::screen::Screen;
use crate::protocol::{kind, Exited, Frame, TerminalSize};
use crate::ChannelSink;

/// Output a viewer may have unacknowledged before sending to it stops.
pub(crate) const WINDOW: usize = 256 << 10;
/// How far behind the newest output a viewer may fall (beyond what it has unacknowledged) before it is sent a snapshot
/// instead of the output it missed: what is left to show after a Ctrl-C is at most this plus [`WINDOW`].
const MAX_LAG: usize = 256 << 10;
/// Recent output kept for viewers that are behind.
const RING: usize = MAX_LAG + (64 << 10);
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
    wake: Arc<Notify>,
}

/// Everything the reader, the pumps and the viewers' handlers share.
#[derive(Debug)]
struct Shared {
    ring: VecDeque<u8>,
    /// Stream position of `ring[0]`.
    ring_start: u64,
    viewers: HashMap<u64, Viewer>,
    size: TerminalSize,
    exited: Option<Exited>,
    /// Output or a viewer coming or going: what idle culling measures from.
    last_activity: Instant,
}

impl Shared {
    fn end(&self) -> u64 {
        self.ring_start + self.ring.len() as u64
    }

    fn copy(&self, from: u64, len: usize) -> Vec<u8> {
        let offset = (from - self.ring_start) as usize;
        let (first, second) = self.ring.as_slices();
        let mut out = Vec::with_capacity(len);
        if offset < first.len() {
            let take = len.min(first.len() - offset);
            out.extend_from_slice(&first[offset..offset + take]);
            out.extend_from_slice(&second[..len - take]);
        } else {
            let offset = offset - first.len();
            out.extend_from_slice(&second[offset..offset + len]);
        }
        out
    }
}

/// What a viewer's pump does next.
#[derive(Debug)]
pub(crate) enum Step {
    Send(Frame),
    Snapshot,
    Exited(Exited),
    Wait,
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
                ring: VecDeque::new(),
                ring_start: 0,
                viewers: HashMap::new(),
                size,
                exited: None,
                last_activity: Instant::now(),
            }),
            screen: Mutex::new(Screen::new(size, SCROLLBACK)),
            pty_size,
        };
        (stream, receiver)
    }

    /// Takes output from the PTY.
    pub(crate) fn output(&self, bytes: &[u8]) {
        {
            let mut shared = lock(&self.shared);
            shared.ring.extend(bytes);
            if shared.ring.len() > RING {
                let excess = shared.ring.len() - RING;
                shared.ring.drain(..excess);
                shared.ring_start += excess as u64;
            }
            shared.last_activity = Instant::now();
            for viewer in shared.viewers.values() {
                viewer.wake.notify_one();
            }
        }
        lock(&self.screen).feed(bytes);
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
                wake: wake.clone(),
            },
        );
        shared.last_activity = Instant::now();
        self.fit(&mut screen, &mut shared);
        wake.notify_one();
        wake
    }

    /// Removes a viewer; the others may now get a larger size.
    pub(crate) fn remove_viewer(&self, id: u64) {
        let mut screen = lock(&self.screen);
        let mut shared = lock(&self.shared);
        if shared.viewers.remove(&id).is_some() {
            shared.last_activity = Instant::now();
            self.fit(&mut screen, &mut shared);
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
        let ring_start = shared.ring_start;
        let end = shared.end();
        let exited = shared.exited.clone();
        let Some(viewer) = shared.viewers.get_mut(&id) else {
            return Step::Gone;
        };
        let lapped = viewer.cursor < ring_start || viewer.cursor + (MAX_LAG as u64) < end;
        if viewer.fresh || lapped {
            // A viewer left behind gets its snapshot once it has caught up on what it was sent.
            if viewer.unacked > WINDOW / 2 {
                return Step::Wait;
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
        Step::Send(Frame::new(channel, kind::OUTPUT, shared.copy(from, len)))
    }

    /// A snapshot for viewer `id`: the size it is for, and the bytes. The viewer continues from the output after it.
    pub(crate) fn snapshot(&self, id: u64) -> Option<(TerminalSize, Vec<u8>)> {
        let mut screen = lock(&self.screen);
        let bytes = screen.snapshot();
        let position = screen.position();
        let size = screen.size();
        let mut shared = lock(&self.shared);
        let viewer = shared.viewers.get_mut(&id)?;
        viewer.fresh = false;
        viewer.cursor = position;
        viewer.unacked += bytes.len();
        if viewer.pending_size.is_some_and(|(at, _)| at <= position) {
            viewer.pending_size = None;
        }
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
