//! The text of a document as a list of shared chunks, each with its length and hash, so that an edit costs O(chunk + chunks) and a copy is cheap.
//!
//! The server keeps the master text and one shadow per view; with the chunk list and each chunk behind `Arc`, a shadow that equals the master shares all of it.

use std::sync::Arc;

use crate::delta::{byte_offset, Delta, Op};
use crate::hash::Poly;
use crate::Error;

/// Chunks are rebuilt around an edit and split to at most this many bytes.
/// Chunk size trades the rehash of one chunk per edit against the fold over all chunks per edit; 512 measured best on the traces.
const CHUNK_MAX: usize = 512;
/// A rebuilt run shorter than this absorbs its right neighbour, so edits do not leave slivers behind.
const CHUNK_MIN: usize = 128;

#[derive(Debug, Clone)]
struct Chunk {
    text: String,
    chars: usize,
    poly: Poly,
}

impl Chunk {
    fn new(text: String) -> Chunk {
        let (poly, chars) = Poly::of_counted(&text);
        Chunk { text, chars, poly }
    }
}

/// A document text: chunked, hashed, cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Text {
    /// Shared as a whole too: a copy of a text costs one reference count, and only the first edit after a copy
    /// copies the chunk list (copy on write).
    chunks: Arc<Vec<Arc<Chunk>>>,
    chars: usize,
    bytes: usize,
    /// The whole text's hash value (the wire form).
    hash: u64,
}

impl Text {
    /// Builds a text from a string.
    pub fn new(text: &str) -> Text {
        let mut result = Text {
            chunks: Arc::new(chunked(text)),
            chars: text.chars().count(),
            bytes: text.len(),
            hash: 0,
        };
        result.refresh();
        result
    }

    /// Length in code points.
    pub fn len(&self) -> usize {
        self.chars
    }

    pub fn is_empty(&self) -> bool {
        self.chars == 0
    }

    /// Length in UTF-8 bytes.
    pub fn len_bytes(&self) -> usize {
        self.bytes
    }

    /// The shadow hash (PROTOCOL.md §1).
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Code points `start..end` (clamped to the text) as a string; costs O(chunks + end - start).
    pub fn slice(&self, start: usize, end: usize) -> String {
        let end = end.min(self.chars);
        let mut out = String::new();
        let mut at = 0;
        for chunk in self.chunks.iter() {
            if at >= end {
                break;
            }
            let next = at + chunk.chars;
            if next > start {
                let from = byte_offset(&chunk.text, start.saturating_sub(at));
                let to = byte_offset(&chunk.text, end.min(next) - at);
                out.push_str(&chunk.text[from..to]);
            }
            at = next;
        }
        out
    }

    /// Replaces `del` code points at `pos` with `ins`.
    pub fn splice(&mut self, pos: usize, del: usize, ins: &str) -> Result<(), Error> {
        self.splice_unrefreshed(pos, del, ins)?;
        self.refresh();
        Ok(())
    }

    /// Applies a delta whose base is this text.
    pub fn apply(&mut self, delta: &Delta) -> Result<(), Error> {
        delta.check_base(self.chars)?;
        let mut pos = 0;
        for op in delta.ops() {
            match op {
                Op::Retain(n) => pos += n,
                Op::Delete(n) => self.splice_unrefreshed(pos, *n, "")?,
                Op::Insert(text) => {
                    self.splice_unrefreshed(pos, 0, text)?;
                    pos += text.chars().count();
                }
            }
        }
        self.refresh();
        Ok(())
    }

    fn splice_unrefreshed(&mut self, pos: usize, del: usize, ins: &str) -> Result<(), Error> {
        let end = pos
            .checked_add(del)
            .filter(|end| *end <= self.chars)
            .ok_or(Error::OutOfRange {
                pos: pos as u64,
                del: del as u64,
                len: self.chars as u64,
            })?;
        if del == 0 && ins.is_empty() {
            return Ok(());
        }
        // Find the first chunk touched (the one holding `pos`, or the last one when appending) and the last one.
        let mut start_index = 0;
        let mut start_chars = 0;
        while start_index + 1 < self.chunks.len()
            && start_chars + self.chunks[start_index].chars <= pos
        {
            start_chars += self.chunks[start_index].chars;
            start_index += 1;
        }
        let mut end_index = start_index;
        let mut end_chars = start_chars;
        while end_index + 1 < self.chunks.len() && end_chars + self.chunks[end_index].chars < end {
            end_chars += self.chunks[end_index].chars;
            end_index += 1;
        }
        let mut rebuilt = String::with_capacity(ins.len() + 2 * CHUNK_MAX);
        if let Some(first) = self.chunks.get(start_index) {
            rebuilt.push_str(&first.text[..byte_offset(&first.text, pos - start_chars)]);
        }
        rebuilt.push_str(ins);
        if let Some(last) = self.chunks.get(end_index) {
            rebuilt.push_str(&last.text[byte_offset(&last.text, end - end_chars)..]);
        }
        let mut replace_end = (end_index + 1).min(self.chunks.len());
        if rebuilt.len() < CHUNK_MIN {
            if let Some(next) = self.chunks.get(replace_end) {
                rebuilt.push_str(&next.text);
                replace_end += 1;
            }
        }
        let removed_bytes: usize = self.chunks[start_index..replace_end]
            .iter()
            .map(|chunk| chunk.text.len())
            .sum();
        let removed_chars: usize = self.chunks[start_index..replace_end]
            .iter()
            .map(|chunk| chunk.chars)
            .sum();
        let pieces = chunked(&rebuilt);
        self.chars =
            self.chars - removed_chars + pieces.iter().map(|chunk| chunk.chars).sum::<usize>();
        self.bytes = self.bytes - removed_bytes + rebuilt.len();
        Arc::make_mut(&mut self.chunks).splice(start_index..replace_end, pieces);
        Ok(())
    }

    /// Recomputes the whole-text hash from the chunk hashes (lengths are kept up to date by each splice).
    fn refresh(&mut self) {
        let (h1, h2) = self.chunks.iter().fold((0, 0), |(h1, h2), chunk| {
            Poly::concat_value(h1, h2, chunk.poly)
        });
        self.hash = Poly::pack(h1, h2);
    }
}

impl std::fmt::Display for Text {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for chunk in self.chunks.iter() {
            formatter.write_str(&chunk.text)?;
        }
        Ok(())
    }
}

impl PartialEq for Text {
    fn eq(&self, other: &Text) -> bool {
        self.chars == other.chars
            && self.hash == other.hash
            && self.to_string() == other.to_string()
    }
}

impl Eq for Text {}

/// Splits a string into equal chunks of at most `CHUNK_MAX` bytes, on code point boundaries.
/// Equal, so that an edit that overflows a full chunk leaves two half chunks rather than a full one and a sliver.
fn chunked(text: &str) -> Vec<Arc<Chunk>> {
    let count = text.len().div_ceil(CHUNK_MAX);
    let mut chunks = Vec::with_capacity(count);
    let mut rest = text;
    for left in (1..=count).rev() {
        if rest.is_empty() {
            break;
        }
        let mut split = rest.len().div_ceil(left).min(rest.len());
        while !rest.is_char_boundary(split) {
            split += 1;
        }
        chunks.push(Arc::new(Chunk::new(rest[..split].to_owned())));
        rest = &rest[split..];
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::hash;

    #[test]
    fn splices_keep_text_length_and_hash_right() {
        let mut reference = String::new();
        let mut text = Text::new("");
        let mut seed: u64 = 7;
        for step in 0..3000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = reference.chars().count();
            let pos = (seed >> 33) as usize % (len + 1);
            let del = if step % 3 == 0 {
                ((seed >> 20) as usize % 40).min(len - pos)
            } else {
                0
            };
            let ins = match step % 5 {
                0 => "🍊\r\n".repeat((seed >> 40) as usize % 90),
                _ => "xé".repeat((seed >> 45) as usize % 5),
            };
            let start = byte_offset(&reference, pos);
            let end = byte_offset(&reference, pos + del);
            reference.replace_range(start..end, &ins);
            assert!(text.splice(pos, del, &ins).is_ok());
            assert_eq!(text.len(), reference.chars().count());
        }
        assert_eq!(text.to_string(), reference);
        assert_eq!(text.hash(), hash(&reference));
        assert_eq!(text.len_bytes(), reference.len());
    }

    #[test]
    fn splice_out_of_range_is_an_error() {
        let mut text = Text::new("abc");
        assert!(matches!(
            text.splice(2, 2, ""),
            Err(Error::OutOfRange { .. })
        ));
        assert_eq!(text.to_string(), "abc");
    }
}
