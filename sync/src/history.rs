//! History entries: every change applied to a master text, with its time and author, in a compact binary form that the local hub appends to a per-document log.

use serde::{Deserialize, Serialize};

use crate::delta::Delta;
use crate::varint::{put_varint, Reader};
use crate::{Error, Limits};

/// Who made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Author {
    /// A client, by its client id, with the client's version number of the edit.
    Client { id: u64, version: u64 },
    /// The file changed on disk (a shell command, `git pull`).
    Disk,
    /// The server itself (e.g. a revert).
    Server,
}

/// One applied change: `delta` turned the master text before it into the master text after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// Milliseconds since the Unix epoch, as given by the caller.
    pub time_ms: u64,
    pub author: Author,
    pub delta: Delta,
}

impl HistoryEntry {
    /// Appends the binary form: author tag, author fields, time, length-prefixed delta.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self.author {
            Author::Client { id, version } => {
                out.push(0);
                put_varint(out, id);
                put_varint(out, version);
            }
            Author::Disk => out.push(1),
            Author::Server => out.push(2),
        }
        put_varint(out, self.time_ms);
        self.delta.encode_prefixed(out);
    }

    /// Decodes one entry from the front of `bytes`, returning it and the bytes it used.
    pub fn decode(bytes: &[u8], limits: &Limits) -> Result<(HistoryEntry, usize), Error> {
        let mut reader = Reader::new(bytes);
        let author = match reader.byte()? {
            0 => Author::Client {
                id: reader.varint()?,
                version: reader.varint()?,
            },
            1 => Author::Disk,
            2 => Author::Server,
            other => return Err(Error::UnknownMessage(other)),
        };
        let time_ms = reader.varint()?;
        let len = reader.count()?;
        let delta = Delta::decode(reader.take(len)?, limits.max_document_bytes)?;
        Ok((
            HistoryEntry {
                time_ms,
                author,
                delta,
            },
            bytes.len() - reader.remaining(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip() {
        let entry = HistoryEntry {
            time_ms: 1_763_769_600_000,
            author: Author::Client { id: 9, version: 41 },
            delta: Delta::splice(3, 1, 1, "🍊").unwrap_or_default(),
        };
        let mut bytes = Vec::new();
        entry.encode(&mut bytes);
        bytes.extend_from_slice(b"next");
        let decoded = HistoryEntry::decode(&bytes, &Limits::default());
        assert_eq!(decoded, Ok((entry, bytes.len() - 4)));
    }
}
