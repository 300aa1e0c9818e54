//! Live documents: one `orrery_sync::Document` per open file, one sync view per editor, presence beside the text,
//! every applied change appended to the file's history before it is acknowledged, the text written to disk
//! atomically shortly after each change, and changes made on disk by anything else merged in as edits by "disk".

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use notify::{RecursiveMode, Watcher};
use orrery_sync::wire::{decode_client_with, encode_server};
use orrery_sync::{Author, ClientMessage, Delta, Document, HistoryEntry, Limits, ServerMessage};
use tokio::sync::{mpsc, Mutex, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::warn;

use crate::history::{self, History};
use crate::protocol::{
    kind, ErrorCode, Frame, HistoryRequest, HistoryResponse, Notice, PeerPresence, Presence,
    Presences,
};
use crate::{atomic, paths, ChannelSink, Config, Error};

/// Who is behind a connection.
#[derive(Debug, Clone)]
pub struct Peer {
    pub connection: u64,
    pub name: String,
    pub color: String,
}

/// Every open document of the project.
pub struct Documents {
    root: PathBuf,
    save_delay: Duration,
    max_document_bytes: usize,
    max_read_only_bytes: usize,
    open: Mutex<HashMap<PathBuf, Arc<Handle>>>,
    watcher: std::sync::Mutex<Option<notify::RecommendedWatcher>>,
    watched: std::sync::Mutex<std::collections::HashSet<PathBuf>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl std::fmt::Debug for Documents {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Documents")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

/// One open document.
struct Handle {
    path: PathBuf,
    state: Mutex<State>,
    save: Notify,
}

struct State {
    document: Document,
    limits: Limits,
    read_only: bool,
    history: History,
    /// Per sync client id: the channel it edits through.
    editors: HashMap<u64, Editor>,
    /// The text last known to be on disk, the base for merging a change made there.
    disk_text: String,
    dirty: bool,
    saving: bool,
    recheck: bool,
    closed: bool,
}

impl State {
    /// The name an editor's changes are recorded under.
    fn editor_name(&self, client: u64) -> String {
        self.editors
            .get(&client)
            .map_or_else(String::new, |editor| editor.peer.name.clone())
    }
}

struct Editor {
    sink: ChannelSink,
    peer: Peer,
    presence: Option<Presence>,
}

/// One editor's channel on a document.
pub struct DocumentChannel {
    documents: Arc<Documents>,
    handle: Arc<Handle>,
    client: u64,
    sink: ChannelSink,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

/// What a client is told about a document when it opens it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenStatus {
    /// Too large to edit: the text can be read, edits are refused.
    pub read_only: bool,
    /// Not on disk, and empty with nothing waiting to be saved.
    pub missing: bool,
}

fn sync_error(error: &orrery_sync::Error) -> Error {
    Error::new(ErrorCode::Sync, error.to_string())
}

impl Documents {
    /// Starts the registry and its disk watcher.
    pub fn start(
        root: PathBuf,
        config: &Config,
        shutdown: CancellationToken,
    ) -> Result<Arc<Documents>, Error> {
        let documents = Arc::new(Documents {
            root,
            save_delay: config.save_delay,
            max_document_bytes: config.max_document_bytes,
            max_read_only_bytes: config
                .max_read_only_bytes
                .min(crate::protocol::MAX_FRAME - (1 << 20)),
            open: Mutex::new(HashMap::new()),
            watcher: std::sync::Mutex::new(None),
            watched: std::sync::Mutex::new(Default::default()),
            shutdown,
            tasks: TaskTracker::new(),
        });
        let (events_tx, mut events_rx) = mpsc::unbounded_channel::<PathBuf>();
        let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
            if let Ok(event) = event {
                // Reads (ours included: checking the file opens it) are no change; passing them on would make every
                // check trigger the next one, and an open document would keep a core busy.
                if matches!(event.kind, notify::EventKind::Access(_)) {
                    return;
                }
                for path in event.paths {
                    let _ = events_tx.send(path);
                }
            }
        })
        .map_err(|error| Error::internal(format!("cannot watch files: {error}")))?;
        if let Ok(mut slot) = documents.watcher.lock() {
            *slot = Some(watcher);
        }
        let weak = Arc::downgrade(&documents);
        documents.tasks.spawn(async move {
            while let Some(path) = events_rx.recv().await {
                let Some(documents) = weak.upgrade() else {
                    return;
                };
                let handle = documents.open.lock().await.get(&path).cloned();
                if let Some(handle) = handle {
                    documents.check_disk(&handle).await;
                }
            }
        });
        Ok(documents)
    }

    fn limits(&self, read_only: bool) -> Limits {
        let max_document_bytes = if read_only {
            self.max_read_only_bytes
        } else {
            self.max_document_bytes
        };
        Limits {
            max_document_bytes,
            max_message_bytes: crate::protocol::MAX_FRAME,
            ..Limits::default()
        }
    }

    /// Opens `relative` for the sync client `client`; returns the channel and what the client is told about the file.
    ///
    /// A path that is not on disk opens as an empty document (an edit creates the file, as an editor's "save" would),
    /// but the client is told it is missing, so it never shows "saved" for a file that is not there.
    pub async fn open(
        self: &Arc<Self>,
        relative: &str,
        client: u64,
        sink: ChannelSink,
        peer: Peer,
    ) -> Result<(DocumentChannel, OpenStatus), Error> {
        let path = paths::resolve(&self.root, relative)?;
        if path.starts_with(self.root.join(".orrery")) {
            return Err(Error::new(
                ErrorCode::Refused,
                "the .orrery folder holds history and cannot be edited",
            ));
        }
        let mut open = self.open.lock().await;
        let handle = match open.get(&path) {
            Some(handle) => handle.clone(),
            None => {
                let handle = Arc::new(self.load(&path).await?);
                open.insert(path.clone(), handle.clone());
                self.watch(&path);
                let documents = self.clone();
                let saver = handle.clone();
                self.tasks
                    .spawn(async move { documents.saver(saver).await });
                handle
            }
        };
        let status = {
            let mut state = handle.state.lock().await;
            if let Some(previous) = state.editors.insert(
                client,
                Editor {
                    sink: sink.clone(),
                    peer,
                    presence: None,
                },
            ) {
                // The same editor reconnected before its old channel noticed: the old channel goes quiet.
                let _ = previous.sink.try_send(
                    kind::NOTICE,
                    notice_body("this editor was reopened elsewhere", None),
                );
            }
            // Empty, nothing to save, and nothing on disk: the file does not exist (yet, or any more).
            let missing = state.document.text_ref().is_empty()
                && !state.dirty
                && !state.saving
                && tokio::fs::symlink_metadata(&handle.path).await.is_err();
            OpenStatus {
                read_only: state.read_only,
                missing,
            }
        };
        drop(open);
        Ok((
            DocumentChannel {
                documents: self.clone(),
                handle,
                client,
                sink,
            },
            status,
        ))
    }

    /// Reads a file and its history into a live document.
    async fn load(&self, path: &Path) -> Result<Handle, Error> {
        let relative = paths::relative(&self.root, path);
        atomic::sweep(path);
        let bytes = match tokio::fs::read(path).await {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(error) => return Err(Error::io(&relative, &error)),
        };
        if path.is_dir() {
            return Err(Error::new(
                ErrorCode::Refused,
                format!("{relative} is a directory"),
            ));
        }
        if bytes.len() > self.max_read_only_bytes {
            return Err(Error::new(
                ErrorCode::TooLargeToEdit,
                format!(
                    "{relative} is {} MB; files up to {} MB open in the editor (read-only above {} MB). Download it instead.",
                    bytes.len() >> 20,
                    self.max_read_only_bytes >> 20,
                    self.max_document_bytes >> 20
                ),
            ));
        }
        let read_only = bytes.len() > self.max_document_bytes;
        let disk_text = match String::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => text,
            _ => {
                return Err(Error::new(
                    ErrorCode::Binary,
                    format!("{relative} is not a text file (it is not UTF-8, or holds NUL bytes); download it instead"),
                ))
            }
        };
        let limits = self.limits(read_only);
        // Replaying a long log is disk work: off the async threads.
        let (mut history, replayed) = {
            let (root, name, limits) = (self.root.clone(), relative.clone(), limits.clone());
            tokio::task::spawn_blocking(move || History::open(&root, &name, limits))
                .await
                .map_err(|error| Error::internal(format!("reading the history failed: {error}")))?
                .map_err(|error| Error::io(&format!("history of {relative}"), &error))?
        };
        let disk_hash = orrery_sync::hash(&disk_text);
        let mut dirty = false;
        let master = match replayed.text {
            None => {
                // First sight of this file: its text is version 1, by "disk".
                if !disk_text.is_empty() {
                    let entry = HistoryEntry {
                        time_ms: now_ms(),
                        author: Author::Disk,
                        delta: Delta::normalize(vec![orrery_sync::Op::Insert(disk_text.clone())]),
                    };
                    history
                        .append_change(&entry, "disk")
                        .map_err(|error| Error::io("history", &error))?;
                }
                history
                    .append_saved(disk_hash)
                    .map_err(|error| Error::io("history", &error))?;
                disk_text.clone()
            }
            Some(text) if replayed.recent_saves.contains(&disk_hash) => {
                // The disk holds what we last saved, or the save before it if a crash cut the last one short: the
                // log may be ahead of it (acknowledged edits not saved before a crash), and is the truth. Anything
                // else on disk was written by someone else, and comes in below as their edit.
                dirty = text != disk_text;
                text
            }
            Some(text) => {
                // The file changed while no hub had it open: that change comes in as an edit by "disk".
                if text != disk_text {
                    let delta = history::change(&text, &disk_text, &limits)
                        .map_err(|error| sync_error(&error))?;
                    let entry = HistoryEntry {
                        time_ms: now_ms(),
                        author: Author::Disk,
                        delta,
                    };
                    history
                        .append_change(&entry, "disk")
                        .map_err(|error| Error::io("history", &error))?;
                }
                history
                    .append_saved(disk_hash)
                    .map_err(|error| Error::io("history", &error))?;
                disk_text.clone()
            }
        };
        let document = Document::restore(&master, replayed.applied, limits.clone())
            .map_err(|error| sync_error(&error))?;
        Ok(Handle {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                document,
                limits,
                read_only,
                history,
                editors: HashMap::new(),
                disk_text,
                dirty,
                saving: false,
                recheck: false,
                closed: false,
            }),
            save: Notify::new(),
        })
    }

    fn watch(&self, path: &Path) {
        let Some(directory) = path.parent() else {
            return;
        };
        let Ok(mut watched) = self.watched.lock() else {
            return;
        };
        if watched.contains(directory) {
            return;
        }
        if let Ok(mut watcher) = self.watcher.lock() {
            if let Some(watcher) = watcher.as_mut() {
                match watcher.watch(directory, RecursiveMode::NonRecursive) {
                    Ok(()) => {
                        watched.insert(directory.to_path_buf());
                    }
                    Err(error) => {
                        warn!(%error, directory = %directory.display(), "cannot watch for changes on disk")
                    }
                }
            }
        }
    }

    /// Writes a document shortly after each change, until it closes or the hub stops.
    async fn saver(self: Arc<Self>, handle: Arc<Handle>) {
        loop {
            tokio::select! {
                () = handle.save.notified() => {}
                () = self.shutdown.cancelled() => return,
            }
            tokio::select! {
                () = tokio::time::sleep(self.save_delay) => {}
                () = self.shutdown.cancelled() => return,
            }
            self.save(&handle).await;
            if handle.state.lock().await.closed {
                return;
            }
        }
    }

    /// Writes the master text to disk atomically if it changed since the last save.
    async fn save(&self, handle: &Arc<Handle>) {
        let text = {
            let mut state = handle.state.lock().await;
            if !state.dirty || state.saving {
                return;
            }
            let hash = state.document.text_ref().hash();
            // Recorded before the file is replaced: a crash between the two must not make our own save look like
            // someone else's change to the file (which would undo acknowledged edits when the log is replayed).
            if let Err(error) = state.history.append_saved(hash) {
                warn!(%error, "cannot record a save in the history; not saving");
                return;
            }
            state.dirty = false;
            state.saving = true;
            state.document.text()
        };
        let path = handle.path.clone();
        let written = {
            let text = text.clone();
            tokio::task::spawn_blocking(move || atomic::write(&path, text.as_bytes())).await
        };
        let recheck = {
            let mut state = handle.state.lock().await;
            state.saving = false;
            match written {
                Ok(Ok(())) => state.disk_text = text,
                Ok(Err(error)) => {
                    warn!(%error, path = %handle.path.display(), "saving failed; will retry");
                    state.dirty = true;
                    let message = format!("could not save {}: {error}", handle.path.display());
                    for editor in state.editors.values() {
                        let _ = editor
                            .sink
                            .try_send(kind::NOTICE, notice_body(&message, None));
                    }
                }
                Err(_) => state.dirty = true,
            }
            std::mem::take(&mut state.recheck)
        };
        if recheck {
            self.check_disk(handle).await;
        }
    }

    /// A change on disk by anything else enters the document as an edit by "disk", merged with unsaved edits.
    async fn check_disk(&self, handle: &Arc<Handle>) {
        let mut state = handle.state.lock().await;
        if state.saving {
            state.recheck = true;
            return;
        }
        let Ok(bytes) = tokio::fs::read(&handle.path).await else {
            return;
        };
        if bytes.len() > state.limits.max_document_bytes {
            return;
        }
        let Ok(on_disk) = String::from_utf8(bytes) else {
            return;
        };
        if on_disk == state.disk_text {
            return;
        }
        let master = state.document.text();
        let limits = state.limits.clone();
        let merged = (|| -> Result<Delta, orrery_sync::Error> {
            let disk_change = history::change(&state.disk_text, &on_disk, &limits)?;
            let local_change = history::change(&state.disk_text, &master, &limits)?;
            disk_change.transform(&local_change, true)
        })();
        state.disk_text = on_disk.clone();
        let delta = match merged {
            Ok(delta) => delta,
            Err(error) => {
                warn!(%error, "cannot merge a change made on disk");
                return;
            }
        };
        match state.document.edit(Author::Disk, &delta, now_ms()) {
            Ok(outcome) => {
                for entry in &outcome.history {
                    if let Err(error) = state.history.append_change(entry, "disk") {
                        warn!(%error, "cannot append to the history");
                    }
                }
                nudge(&state, &outcome.nudge);
                if state.document.text() != on_disk {
                    // Unsaved edits were merged with the disk's change: the merge must reach the disk too.
                    state.dirty = true;
                    handle.save.notify_one();
                }
            }
            Err(error) => warn!(%error, "cannot apply a change made on disk"),
        }
    }

    /// Saves every document and stops their tasks.
    pub async fn shutdown(&self) {
        let handles: Vec<Arc<Handle>> = self.open.lock().await.values().cloned().collect();
        for handle in handles {
            handle.state.lock().await.closed = true;
            self.save(&handle).await;
        }
        self.tasks.close();
        if let Ok(mut watcher) = self.watcher.lock() {
            watcher.take();
        }
    }
}

fn notice_body(message: &str, dropped: Option<String>) -> Vec<u8> {
    serde_json::to_vec(&Notice {
        message: message.to_owned(),
        dropped,
    })
    .unwrap_or_default()
}

/// Tells each client whose shadow fell behind the master to sync; never waits on a slow connection.
fn nudge(state: &State, clients: &[u64]) {
    let bytes = encode_server(&ServerMessage::Nudge);
    for client in clients {
        if let Some(editor) = state.editors.get(client) {
            if editor
                .sink
                .try_send(kind::SYNC_REPLY, bytes.clone())
                .is_err()
            {
                let sink = editor.sink.clone();
                let bytes = bytes.clone();
                tokio::spawn(async move { sink.send(kind::SYNC_REPLY, bytes).await });
            }
        }
    }
}

fn broadcast_presences(state: &State) {
    let peers: Vec<PeerPresence> = state
        .editors
        .values()
        .filter_map(|editor| {
            editor.presence.as_ref().map(|presence| PeerPresence {
                connection: editor.peer.connection,
                name: editor.peer.name.clone(),
                color: editor.peer.color.clone(),
                cursor: presence.cursor,
                anchor: presence.anchor,
            })
        })
        .collect();
    let body = serde_json::to_vec(&Presences { peers }).unwrap_or_default();
    for editor in state.editors.values() {
        if editor.sink.try_send(kind::PRESENCES, body.clone()).is_err() {
            let sink = editor.sink.clone();
            let body = body.clone();
            tokio::spawn(async move { sink.send(kind::PRESENCES, body).await });
        }
    }
}

impl DocumentChannel {
    /// Called once the client has its Opened: it learns who else is here.
    pub async fn start(&self) {
        broadcast_presences(&*self.handle.state.lock().await);
    }

    fn owns(&self, state: &State) -> bool {
        state.editors.get(&self.client).is_some_and(|editor| {
            editor.sink.connection == self.sink.connection
                && editor.sink.channel == self.sink.channel
        })
    }

    pub async fn handle(&mut self, frame: &Frame) -> Result<(), Error> {
        match frame.kind {
            kind::SYNC => self.sync(frame).await,
            kind::PRESENCE => {
                let presence: Presence = frame.parse()?;
                let mut state = self.handle.state.lock().await;
                if !self.owns(&state) {
                    return Err(Error::new(
                        ErrorCode::ChannelInUse,
                        "this editor was reopened on another channel",
                    ));
                }
                if let Some(editor) = state.editors.get_mut(&self.client) {
                    editor.presence = Some(presence);
                }
                broadcast_presences(&state);
                Ok(())
            }
            kind::HISTORY => self.history(frame.parse()?).await,
            other => Err(Error::new(
                ErrorCode::UnknownChannel,
                format!("a document channel does not take kind 0x{other:02x}"),
            )),
        }
    }

    async fn sync(&mut self, frame: &Frame) -> Result<(), Error> {
        let mut state = self.handle.state.lock().await;
        if !self.owns(&state) {
            return Err(Error::new(
                ErrorCode::ChannelInUse,
                "this editor was reopened on another channel",
            ));
        }
        let message = match decode_client_with(&frame.body, &state.limits) {
            Ok(message) => message,
            Err(error) => {
                let reply = ServerMessage::Error {
                    code: error.code(),
                    message: error.to_string(),
                };
                self.sink
                    .send(kind::SYNC_REPLY, encode_server(&reply))
                    .await;
                return Err(sync_error(&error));
            }
        };
        if state.read_only {
            if let ClientMessage::Sync { edits, .. } = &message {
                if edits.iter().any(|delta| !delta.is_identity()) {
                    return Err(Error::new(
                        ErrorCode::TooLargeToEdit,
                        "this file is too large to edit: it is open read-only",
                    ));
                }
            }
        }
        let outcome = state
            .document
            .receive(self.client, message, now_ms())
            .map_err(|error| sync_error(&error))?;
        let name = state.editor_name(self.client);
        for entry in &outcome.history {
            // Written before the reply goes out: an acknowledged edit is never only in memory.
            state
                .history
                .append_change(entry, &name)
                .map_err(|error| Error::io("history", &error))?;
        }
        if !outcome.history.is_empty() {
            state.dirty = true;
            self.handle.save.notify_one();
        }
        if let Some(reply) = &outcome.reply {
            self.sink.send(kind::SYNC_REPLY, encode_server(reply)).await;
        }
        nudge(&state, &outcome.nudge);
        for failure in outcome.failures {
            let message = "an edit was not applied: the document is at its size limit";
            self.sink
                .send(kind::NOTICE, notice_body(message, Some(failure.dropped)))
                .await;
        }
        Ok(())
    }

    async fn history(&mut self, request: HistoryRequest) -> Result<(), Error> {
        let mut state = self.handle.state.lock().await;
        let response = match request {
            HistoryRequest::List => HistoryResponse::List {
                versions: state.history.versions().to_vec(),
            },
            HistoryRequest::Fetch { version } => {
                check_version(&state, version)?;
                let text = text_at(&state.history, version).await?;
                HistoryResponse::Fetch { version, text }
            }
            HistoryRequest::Revert { version } => {
                if state.read_only {
                    return Err(Error::new(
                        ErrorCode::TooLargeToEdit,
                        "this file is open read-only",
                    ));
                }
                check_version(&state, version)?;
                let old = text_at(&state.history, version).await?;
                let delta = history::change(&state.document.text(), &old, &state.limits)
                    .map_err(|error| sync_error(&error))?;
                let outcome = state
                    .document
                    .edit(Author::Server, &delta, now_ms())
                    .map_err(|error| sync_error(&error))?;
                let name = state.editor_name(self.client);
                for entry in &outcome.history {
                    state
                        .history
                        .append_change(entry, &format!("{name} (revert to version {version})"))
                        .map_err(|error| Error::io("history", &error))?;
                }
                if !outcome.history.is_empty() {
                    state.dirty = true;
                    self.handle.save.notify_one();
                }
                nudge(&state, &outcome.nudge);
                HistoryResponse::Revert {
                    version,
                    new_version: state.history.current(),
                }
            }
        };
        drop(state);
        self.sink.json(kind::HISTORY_REPLY, &response).await;
        Ok(())
    }

    /// The editor leaves: its presence goes; the last one out saves and closes the document.
    pub async fn close(self) {
        let mut open = self.documents.open.lock().await;
        let last = {
            let mut state = self.handle.state.lock().await;
            if self.owns(&state) {
                state.editors.remove(&self.client);
                broadcast_presences(&state);
            }
            let last = state.editors.is_empty();
            if last {
                state.closed = true;
            }
            last
        };
        if last {
            open.remove(&self.handle.path);
            drop(open);
            self.documents.save(&self.handle).await;
            // Wake the saver so it sees `closed` and ends.
            self.handle.save.notify_one();
        }
    }
}

/// Replays the log up to `version` off the async threads.
async fn text_at(history: &History, version: u64) -> Result<String, Error> {
    let reader = history.reader();
    tokio::task::spawn_blocking(move || reader.text_at(version))
        .await
        .map_err(|error| Error::internal(format!("reading the history failed: {error}")))?
        .map_err(|error| Error::io("history", &error))
}

fn check_version(state: &State, version: u64) -> Result<(), Error> {
    if version > state.history.current() {
        return Err(Error::new(
            ErrorCode::NotFound,
            format!(
                "there is no version {version}; the latest is {}",
                state.history.current()
            ),
        ));
    }
    Ok(())
}
