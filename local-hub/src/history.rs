//! Per-document history kept inside the project (`.orrery/history/`): an append-only log of every change applied to
//! the master text, with its author's name, and markers of what was saved to disk.
//!
//! A record is `u32 LE length` + `u8 type` + body. Type 1, a change: `varint name length`, the author's name, then an
//! `orrery_sync::HistoryEntry`. Type 2, a save: the shadow hash (u64 LE) of the text about to be written to disk.
//! Version v is the text after the first v changes, replayed from the empty text. A record cut short by a crash is
//! dropped when the log is opened. The log is written before a change is acknowledged, so an acknowledged edit
//! survives `kill -9`.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use orrery_sync::{Author, Delta, HistoryEntry, Limits};

use crate::protocol::{read_varint, write_varint, Version};

const CHANGE: u8 = 1;
const SAVED: u8 = 2;

/// What replaying a log found.
#[derive(Debug, Default)]
pub struct Replayed {
    /// The text after every change, if there was any.
    pub text: Option<String>,
    /// The hash of the last text saved to disk.
    /// The hashes of the last two texts a save began to write. A save is recorded before the file is replaced, so
    /// after a crash the file holds one of these two unless something else changed it.
    pub recent_saves: Vec<u64>,
    /// Per sync client, the next version expected (every lower one is in `text`).
    pub applied: Vec<(u64, u64)>,
}

/// An open history log.
#[derive(Debug)]
pub struct History {
    file: File,
    path: PathBuf,
    versions: Vec<Version>,
    limits: Limits,
}

/// The log file for a document at `relative` (inside the project).
fn log_path(root: &Path, relative: &str) -> PathBuf {
    let escaped: String = relative
        .chars()
        .map(|c| match c {
            '%' => "%25".to_string(),
            '/' => "%2F".to_string(),
            c => c.to_string(),
        })
        .collect();
    root.join(".orrery")
        .join("history")
        .join(format!("{escaped}.log"))
}

impl History {
    /// Opens (creating if needed) the log of `relative`, replays it, and drops a torn last record.
    pub fn open(
        root: &Path,
        relative: &str,
        limits: Limits,
    ) -> std::io::Result<(History, Replayed)> {
        let path = log_path(root, relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut history = History {
            file,
            path,
            versions: Vec::new(),
            limits,
        };
        let mut replayed = Replayed::default();
        let mut text = String::new();
        let mut applied = std::collections::BTreeMap::new();
        let mut good = 0;
        history.for_each_record(&bytes, &mut good, |record| match record {
            Record::Change { name, entry } => {
                text = entry
                    .delta
                    .apply_str(&text)
                    .map_err(|error| std::io::Error::other(error.to_string()))?;
                if let Author::Client { id, version } = entry.author {
                    applied.insert(id, version + 1);
                }
                replayed.text = Some(String::new());
                Ok(Some(Version {
                    version: 0,
                    time_ms: entry.time_ms,
                    author: name,
                }))
            }
            Record::Saved(hash) => {
                replayed.recent_saves.push(hash);
                if replayed.recent_saves.len() > 2 {
                    replayed.recent_saves.remove(0);
                }
                Ok(None)
            }
        })?;
        if good < bytes.len() {
            // A crash cut the last record short: it was never acknowledged, so it goes.
            history.file.set_len(good as u64)?;
            history.file.seek(SeekFrom::End(0))?;
        }
        if replayed.text.is_some() {
            replayed.text = Some(text);
        }
        replayed.applied = applied.into_iter().collect();
        Ok((history, replayed))
    }

    /// Walks complete records, collecting versions; `good` ends at the byte after the last complete record.
    fn for_each_record(
        &mut self,
        bytes: &[u8],
        good: &mut usize,
        mut visit: impl FnMut(Record) -> std::io::Result<Option<Version>>,
    ) -> std::io::Result<()> {
        let mut offset = 0;
        while offset + 5 <= bytes.len() {
            let length = u32::from_le_bytes([
                bytes[offset],
                bytes[offset + 1],
                bytes[offset + 2],
                bytes[offset + 3],
            ]) as usize;
            let Some(body) = bytes.get(offset + 4..offset + 4 + length) else {
                break;
            };
            let Some(record) = Record::decode(body, &self.limits) else {
                break;
            };
            if let Some(mut version) = visit(record)? {
                version.version = self.versions.len() as u64 + 1;
                self.versions.push(version);
            }
            offset += 4 + length;
            *good = offset;
        }
        Ok(())
    }

    /// Appends a change; returns the version it made.
    pub fn append_change(&mut self, entry: &HistoryEntry, name: &str) -> std::io::Result<u64> {
        let mut body = vec![CHANGE];
        write_varint(&mut body, name.len() as u64);
        body.extend_from_slice(name.as_bytes());
        entry.encode(&mut body);
        self.append(&body)?;
        self.versions.push(Version {
            version: self.versions.len() as u64 + 1,
            time_ms: entry.time_ms,
            author: name.to_owned(),
        });
        Ok(self.versions.len() as u64)
    }

    /// Records that a save of the text with this hash is about to replace the file (call it before writing).
    pub fn append_saved(&mut self, hash: u64) -> std::io::Result<()> {
        let mut body = vec![SAVED];
        body.extend_from_slice(&hash.to_le_bytes());
        self.append(&body)
    }

    fn append(&mut self, body: &[u8]) -> std::io::Result<()> {
        let mut record = Vec::with_capacity(body.len() + 4);
        record.extend_from_slice(&(body.len() as u32).to_le_bytes());
        record.extend_from_slice(body);
        // One write of the whole record: a crash leaves it whole or torn at the end, never interleaved.
        self.file.write_all(&record)
    }

    /// Every version, oldest first.
    pub fn versions(&self) -> &[Version] {
        &self.versions
    }

    /// The current version number (0 before any change).
    pub fn current(&self) -> u64 {
        self.versions.len() as u64
    }

    /// What a blocking task needs to replay this log.
    pub fn reader(&self) -> Reader {
        Reader {
            path: self.path.clone(),
            limits: self.limits.clone(),
        }
    }
}

/// Reads a history log without holding the `History` (for `spawn_blocking`).
#[derive(Debug, Clone)]
pub struct Reader {
    path: PathBuf,
    limits: Limits,
}

impl Reader {
    /// The text at `version`, replayed from the log.
    pub fn text_at(&self, version: u64) -> std::io::Result<String> {
        let bytes = std::fs::read(&self.path)?;
        let mut text = String::new();
        let mut seen = 0;
        let mut offset = 0;
        while seen < version && offset + 5 <= bytes.len() {
            let length = u32::from_le_bytes([
                bytes[offset],
                bytes[offset + 1],
                bytes[offset + 2],
                bytes[offset + 3],
            ]) as usize;
            let Some(body) = bytes.get(offset + 4..offset + 4 + length) else {
                break;
            };
            if let Some(Record::Change { entry, .. }) = Record::decode(body, &self.limits) {
                text = entry
                    .delta
                    .apply_str(&text)
                    .map_err(|error| std::io::Error::other(error.to_string()))?;
                seen += 1;
            }
            offset += 4 + length;
        }
        Ok(text)
    }
}

enum Record {
    Change { name: String, entry: HistoryEntry },
    Saved(u64),
}

impl Record {
    fn decode(body: &[u8], limits: &Limits) -> Option<Record> {
        let (&kind, rest) = body.split_first()?;
        match kind {
            CHANGE => {
                let (name_length, rest) = read_varint(rest)?;
                let name_length = usize::try_from(name_length).ok()?;
                let name = std::str::from_utf8(rest.get(..name_length)?)
                    .ok()?
                    .to_owned();
                let (entry, _) = HistoryEntry::decode(rest.get(name_length..)?, limits).ok()?;
                Some(Record::Change { name, entry })
            }
            SAVED => Some(Record::Saved(u64::from_le_bytes(
                rest.get(..8)?.try_into().ok()?,
            ))),
            _ => None,
        }
    }
}

/// The delta that makes `from` into `to`, for disk changes and reverts.
pub fn change(from: &str, to: &str, limits: &Limits) -> Result<Delta, orrery_sync::Error> {
    orrery_sync::diff(from, to, limits.diff_timeout_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(delta: Delta, id: u64, version: u64) -> HistoryEntry {
        HistoryEntry {
            time_ms: 5,
            author: Author::Client { id, version },
            delta,
        }
    }

    #[test]
    fn replays_versions_and_drops_a_torn_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let limits = Limits::default();
        {
            let (mut history, replayed) =
                History::open(dir.path(), "a/b.txt", limits.clone()).expect("open");
            assert!(replayed.text.is_none());
            history
                .append_change(
                    &entry(Delta::splice(0, 0, 0, "hello").expect("splice"), 7, 0),
                    "ann",
                )
                .expect("append");
            history.append_saved(42).expect("append");
            history
                .append_change(
                    &entry(Delta::splice(5, 5, 0, " world").expect("splice"), 7, 1),
                    "ann",
                )
                .expect("append");
        }
        let path = log_path(dir.path(), "a/b.txt");
        let mut bytes = std::fs::read(&path).expect("read");
        let whole = bytes.len();
        bytes.extend_from_slice(&[200, 0, 0, 0, CHANGE, 1]);
        std::fs::write(&path, &bytes).expect("write");
        let (history, replayed) = History::open(dir.path(), "a/b.txt", limits).expect("reopen");
        assert_eq!(replayed.text.as_deref(), Some("hello world"));
        assert_eq!(replayed.recent_saves, vec![42]);
        assert_eq!(replayed.applied, vec![(7, 2)]);
        assert_eq!(history.versions().len(), 2);
        assert_eq!(history.reader().text_at(1).expect("v1"), "hello");
        assert_eq!(history.reader().text_at(0).expect("v0"), "");
        assert_eq!(
            std::fs::metadata(&path).expect("stat").len() as usize,
            whole
        );
    }
}
