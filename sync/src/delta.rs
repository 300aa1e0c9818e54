//! Deltas: canonical edit scripts over code points, with apply, compose, transform and a strict binary codec.

use crate::varint::{put_varint, Reader};
use crate::Error;

/// One step of a delta. Lengths count Unicode code points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Keep the next n code points.
    Retain(usize),
    /// Drop the next n code points.
    Delete(usize),
    /// Insert this text.
    Insert(String),
}

impl Op {
    /// The op's length in code points (an insert counts what it inserts).
    pub fn len(&self) -> usize {
        match self {
            Op::Retain(n) | Op::Delete(n) => *n,
            Op::Insert(text) => text.chars().count(),
        }
    }

    /// True for a zero-length op, which canonical deltas never contain.
    pub fn is_empty(&self) -> bool {
        match self {
            Op::Retain(n) | Op::Delete(n) => *n == 0,
            Op::Insert(text) => text.is_empty(),
        }
    }
}

/// A canonical delta (see `PROTOCOL.md` §2): no empty ops, no two adjacent ops of one kind, deletes before inserts, explicit trailing retain.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delta {
    ops: Vec<Op>,
}

impl Delta {
    /// The delta that changes nothing in a text of `len` code points.
    pub fn identity(len: usize) -> Delta {
        Delta::normalize(vec![Op::Retain(len)])
    }

    /// Replace `del` code points at `pos` by `ins`, in a text of `len` code points.
    pub fn splice(len: usize, pos: usize, del: usize, ins: &str) -> Result<Delta, Error> {
        let end = pos
            .checked_add(del)
            .filter(|end| *end <= len)
            .ok_or(Error::OutOfRange {
                pos: pos as u64,
                del: del as u64,
                len: len as u64,
            })?;
        Ok(Delta::normalize(vec![
            Op::Retain(pos),
            Op::Delete(del),
            Op::Insert(ins.to_owned()),
            Op::Retain(len - end),
        ]))
    }

    /// Builds the canonical delta that does what `ops` do.
    pub fn normalize(ops: Vec<Op>) -> Delta {
        let mut out: Vec<Op> = Vec::with_capacity(ops.len());
        let mut deleted = 0;
        let mut inserted = String::new();
        fn flush(out: &mut Vec<Op>, deleted: &mut usize, inserted: &mut String) {
            if *deleted > 0 {
                out.push(Op::Delete(std::mem::take(deleted)));
            }
            if !inserted.is_empty() {
                out.push(Op::Insert(std::mem::take(inserted)));
            }
        }
        for op in ops {
            match op {
                Op::Retain(0) | Op::Delete(0) => {}
                Op::Insert(text) if text.is_empty() => {}
                Op::Retain(n) => {
                    flush(&mut out, &mut deleted, &mut inserted);
                    match out.last_mut() {
                        Some(Op::Retain(m)) => *m += n,
                        _ => out.push(Op::Retain(n)),
                    }
                }
                Op::Delete(n) => deleted += n,
                Op::Insert(text) => inserted.push_str(&text),
            }
        }
        flush(&mut out, &mut deleted, &mut inserted);
        Delta { ops: out }
    }

    pub fn ops(&self) -> &[Op] {
        &self.ops
    }

    /// True when the delta changes nothing.
    pub fn is_identity(&self) -> bool {
        self.ops.iter().all(|op| matches!(op, Op::Retain(_)))
    }

    /// The length of the text this delta applies to.
    pub fn base_len(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Retain(n) | Op::Delete(n) => *n,
                Op::Insert(_) => 0,
            })
            .sum()
    }

    /// The length of the text this delta produces.
    pub fn target_len(&self) -> usize {
        self.ops
            .iter()
            .map(|op| match op {
                Op::Retain(n) => *n,
                Op::Delete(_) => 0,
                Op::Insert(text) => text.chars().count(),
            })
            .sum()
    }

    /// Fails unless the delta applies to a text of `len` code points.
    pub fn check_base(&self, len: usize) -> Result<(), Error> {
        let base = self.base_len();
        if base != len {
            return Err(Error::LengthMismatch {
                delta: base as u64,
                text: len as u64,
            });
        }
        Ok(())
    }

    /// Applies the delta to a string.
    pub fn apply_str(&self, text: &str) -> Result<String, Error> {
        self.check_base(text.chars().count())?;
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        for op in &self.ops {
            match op {
                Op::Retain(n) => {
                    let split = byte_offset(rest, *n);
                    out.push_str(&rest[..split]);
                    rest = &rest[split..];
                }
                Op::Delete(n) => rest = &rest[byte_offset(rest, *n)..],
                Op::Insert(inserted) => out.push_str(inserted),
            }
        }
        Ok(out)
    }

    /// The delta that does `self` then `next`.
    pub fn compose(&self, next: &Delta) -> Result<Delta, Error> {
        let mismatch = || Error::LengthMismatch {
            delta: next.base_len() as u64,
            text: self.target_len() as u64,
        };
        let mut a = Stream::new(&self.ops);
        let mut b = Stream::new(&next.ops);
        let mut out = Vec::new();
        loop {
            match (a.peek(), b.peek()) {
                (Some(Op::Delete(_)), _) => out.extend(a.next_whole()),
                (_, Some(Op::Insert(_))) => out.extend(b.next_whole()),
                (None, None) => break,
                (None, Some(_)) | (Some(_), None) => return Err(mismatch()),
                (Some(_), Some(_)) => {
                    let k = a.head_len().min(b.head_len());
                    match (a.take(k), b.take(k)) {
                        (Op::Retain(_), Op::Retain(_)) => out.push(Op::Retain(k)),
                        (Op::Retain(_), Op::Delete(_)) => out.push(Op::Delete(k)),
                        (Op::Insert(text), Op::Retain(_)) => out.push(Op::Insert(text)),
                        _ => {}
                    }
                }
            }
        }
        Ok(Delta::normalize(out))
    }

    /// Rewrites `self` (made against the same base as `other`) to apply after `other`.
    /// When both insert at one position, `self_first` puts `self`'s text first.
    pub fn transform(&self, other: &Delta, self_first: bool) -> Result<Delta, Error> {
        self.transform_with(other, |_| self_first, None)
    }

    /// `transform` with the order of every tie (both insert at one base position) decided by `self_first`, and,
    /// when asked, a trail of where the result inserts and deletes in `other`'s result and in the base.
    pub(crate) fn transform_with(
        &self,
        other: &Delta,
        mut self_first: impl FnMut(&Tie) -> bool,
        mut trail: Option<&mut Trail>,
    ) -> Result<Delta, Error> {
        let mismatch = || Error::LengthMismatch {
            delta: self.base_len() as u64,
            text: other.base_len() as u64,
        };
        let mut a = Stream::new(&self.ops);
        let mut b = Stream::new(&other.ops);
        let mut out = Vec::new();
        // Positions: in the base, in `other`'s result (where the output applies) and in each side's own result.
        let (mut base, mut at, mut a_out) = (0, 0, 0);
        let (mut a_origin, mut b_origin): (Option<Origin>, Option<Origin>) = (None, None);
        loop {
            let b_inserts = matches!(b.peek(), Some(Op::Insert(_)));
            if let Some(Op::Insert(text)) = a.peek() {
                let first = match b.peek() {
                    Some(Op::Insert(theirs)) => {
                        // Canonical deltas keep the base character after an insertion (or end there).
                        let right = |out: usize, inserted: &str| {
                            (base < self.base_len()).then(|| Origin {
                                base,
                                out: out + inserted.chars().count(),
                            })
                        };
                        self_first(&Tie {
                            gap: base,
                            a: text,
                            b: theirs,
                            a_left: a_origin,
                            b_left: b_origin,
                            a_right: right(a_out, text),
                            b_right: right(at, theirs),
                        })
                    }
                    _ => true,
                };
                if first {
                    let len = a.head_len();
                    if let Some(trail) = trail.as_deref_mut() {
                        trail.inserts.push(Placed {
                            at,
                            base,
                            len,
                            tie: b_inserts,
                        });
                    }
                    a_out += len;
                    out.extend(a.next_whole());
                    continue;
                }
            }
            if b_inserts {
                let len = b.head_len();
                b.next_whole();
                at += len;
                out.push(Op::Retain(len));
                continue;
            }
            match (a.peek(), b.peek()) {
                (None, None) => break,
                (None, Some(_)) | (Some(_), None) => return Err(mismatch()),
                (Some(_), Some(_)) => {
                    let k = a.head_len().min(b.head_len());
                    match (a.take(k), b.take(k)) {
                        (Op::Retain(_), Op::Retain(_)) => {
                            out.push(Op::Retain(k));
                            a_origin = Some(Origin::last(base, a_out, k));
                            b_origin = Some(Origin::last(base, at, k));
                            a_out += k;
                            at += k;
                        }
                        (Op::Delete(_), Op::Retain(_)) => {
                            out.push(Op::Delete(k));
                            if let Some(trail) = trail.as_deref_mut() {
                                trail.deletes.push(Placed {
                                    at,
                                    base,
                                    len: k,
                                    tie: false,
                                });
                            }
                            b_origin = Some(Origin::last(base, at, k));
                            at += k;
                        }
                        (Op::Retain(_), Op::Delete(_)) => {
                            a_origin = Some(Origin::last(base, a_out, k));
                            a_out += k;
                        }
                        _ => {}
                    }
                    base += k;
                }
            }
        }
        Ok(Delta::normalize(out))
    }

    /// Appends the binary form (PROTOCOL.md §2), without the length prefix.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for op in &self.ops {
            match op {
                Op::Retain(n) => put_varint(out, (*n as u64) << 2),
                Op::Delete(n) => put_varint(out, ((*n as u64) << 2) | 1),
                Op::Insert(text) => {
                    put_varint(out, ((text.len() as u64) << 2) | 2);
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
    }

    /// Appends the binary form with its byte-length prefix, as messages carry it.
    pub fn encode_prefixed(&self, out: &mut Vec<u8>) {
        let mut body = Vec::new();
        self.encode(&mut body);
        put_varint(out, body.len() as u64);
        out.extend_from_slice(&body);
    }

    /// Decodes a whole byte slice as one delta, rejecting anything non-canonical or whose texts exceed `limit` code points.
    pub fn decode(bytes: &[u8], limit: usize) -> Result<Delta, Error> {
        let mut reader = Reader::new(bytes);
        let mut ops: Vec<Op> = Vec::new();
        let (mut base, mut target) = (0usize, 0usize);
        while !reader.is_empty() {
            let header = reader.varint()?;
            let value = (header >> 2) as usize;
            if header & 3 == 3 {
                return Err(Error::BadOp("op kind 3"));
            }
            if value == 0 {
                return Err(Error::BadOp("zero length"));
            }
            let op = match header & 3 {
                0 => Op::Retain(value),
                1 => Op::Delete(value),
                2 => {
                    let bytes = reader.take(value)?;
                    Op::Insert(
                        std::str::from_utf8(bytes)
                            .map_err(|_| Error::BadUtf8)?
                            .to_owned(),
                    )
                }
                _ => Op::Delete(value),
            };
            match (ops.last(), &op) {
                (Some(Op::Retain(_)), Op::Retain(_))
                | (Some(Op::Delete(_)), Op::Delete(_))
                | (Some(Op::Insert(_)), Op::Insert(_)) => {
                    return Err(Error::NonCanonical("adjacent ops of one kind"))
                }
                (Some(Op::Insert(_)), Op::Delete(_)) => {
                    return Err(Error::NonCanonical("insert before delete"))
                }
                _ => {}
            }
            match &op {
                Op::Retain(n) => {
                    base = base.saturating_add(*n);
                    target = target.saturating_add(*n);
                }
                Op::Delete(n) => base = base.saturating_add(*n),
                Op::Insert(text) => target = target.saturating_add(text.chars().count()),
            }
            let size = base.max(target);
            if size > limit {
                return Err(Error::DocumentTooLarge {
                    size: size as u64,
                    limit: limit as u64,
                });
            }
            ops.push(op);
        }
        Ok(Delta { ops })
    }
}

/// Where a side's text sat before an insertion: its left origin, the last base character that side kept before it
/// (Fugue's and RGA's left origin), at `base` in the base and at `out` in that side's own result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Origin {
    pub base: usize,
    pub out: usize,
}

impl Origin {
    /// The origin after keeping `k` characters from `base` (at `out` in the side's result).
    fn last(base: usize, out: usize, k: usize) -> Origin {
        Origin {
            base: base + k - 1,
            out: out + k - 1,
        }
    }
}

/// Both sides insert at one base position: `a` (the delta being transformed) and `b` (the one it goes after), each
/// between its left origin and its right origin (the base character after the gap, when the side keeps one).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tie<'t> {
    pub gap: usize,
    pub a: &'t str,
    pub b: &'t str,
    pub a_left: Option<Origin>,
    pub b_left: Option<Origin>,
    pub a_right: Option<Origin>,
    pub b_right: Option<Origin>,
}

impl<'t> Tie<'t> {
    /// The same tie seen from the other side.
    pub fn swapped(&self) -> Tie<'t> {
        Tie {
            gap: self.gap,
            a: self.b,
            b: self.a,
            a_left: self.b_left,
            b_left: self.a_left,
            a_right: self.b_right,
            b_right: self.a_right,
        }
    }
}

/// An insertion or a deleted stretch of a transformed delta: at `at` in the text it applies to, from `base` in the
/// base, `len` code points; `tie` when the other side inserted at the same base position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placed {
    pub at: usize,
    pub base: usize,
    pub len: usize,
    pub tie: bool,
}

/// What a transform placed where.
#[derive(Debug, Default)]
pub(crate) struct Trail {
    pub inserts: Vec<Placed>,
    pub deletes: Vec<Placed>,
}

/// The byte offset of the `chars`-th code point of `text`, or its length.
pub(crate) fn byte_offset(text: &str, chars: usize) -> usize {
    if chars == 0 {
        return 0;
    }
    text.char_indices()
        .nth(chars)
        .map_or(text.len(), |(index, _)| index)
}

/// Walks a delta's ops, splitting the head op when only part of it is taken.
struct Stream<'a> {
    ops: &'a [Op],
    head: Option<Op>,
}

impl<'a> Stream<'a> {
    fn new(ops: &'a [Op]) -> Self {
        let mut stream = Stream { ops, head: None };
        stream.refill();
        stream
    }

    fn refill(&mut self) {
        if self.head.is_none() {
            if let Some((first, rest)) = self.ops.split_first() {
                self.head = Some(first.clone());
                self.ops = rest;
            }
        }
    }

    fn peek(&self) -> Option<&Op> {
        self.head.as_ref()
    }

    fn head_len(&self) -> usize {
        self.head.as_ref().map_or(0, Op::len)
    }

    fn next_whole(&mut self) -> Option<Op> {
        let head = self.head.take();
        self.refill();
        head
    }

    /// Takes `k` code points (k <= head_len) off the head op.
    fn take(&mut self, k: usize) -> Op {
        let taken = match self.head.as_mut() {
            None => return Op::Retain(0),
            Some(Op::Retain(n)) => {
                *n -= k;
                Op::Retain(k)
            }
            Some(Op::Delete(n)) => {
                *n -= k;
                Op::Delete(k)
            }
            Some(Op::Insert(text)) => {
                let split = byte_offset(text, k);
                let rest = text.split_off(split);
                Op::Insert(std::mem::replace(text, rest))
            }
        };
        if self.head.as_ref().is_some_and(Op::is_empty) {
            self.head = None;
            self.refill();
        }
        taken
    }
}

/// JSON form used by the shared test vectors: `[["r", n], ["d", n], ["i", "text"]]`.
impl serde::Serialize for Delta {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.ops.len()))?;
        for op in &self.ops {
            match op {
                Op::Retain(n) => seq.serialize_element(&("r", n))?,
                Op::Delete(n) => seq.serialize_element(&("d", n))?,
                Op::Insert(text) => seq.serialize_element(&("i", text))?,
            }
        }
        seq.end()
    }
}

impl<'de> serde::Deserialize<'de> for Delta {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Delta, D::Error> {
        use serde::de::Error as _;
        let raw: Vec<(String, serde_json::Value)> = serde::Deserialize::deserialize(deserializer)?;
        let mut ops = Vec::with_capacity(raw.len());
        for (kind, value) in raw {
            let count = || {
                value
                    .as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| D::Error::custom("op length must be a number"))
            };
            ops.push(match kind.as_str() {
                "r" => Op::Retain(count()?),
                "d" => Op::Delete(count()?),
                "i" => Op::Insert(
                    value
                        .as_str()
                        .ok_or_else(|| D::Error::custom("insert must be a string"))?
                        .to_owned(),
                ),
                _ => return Err(D::Error::custom("op kind must be r, d or i")),
            });
        }
        let delta = Delta::normalize(ops.clone());
        if delta.ops != ops {
            return Err(D::Error::custom("delta is not canonical"));
        }
        Ok(delta)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_applies_in_code_points() {
        let delta = Delta::splice(4, 1, 2, "🌊").unwrap_or_default();
        assert_eq!(delta.apply_str("a🍊bc").as_deref(), Ok("a🌊c"));
    }

    #[test]
    fn normalize_puts_deletes_before_inserts() {
        let delta = Delta::normalize(vec![
            Op::Insert("x".into()),
            Op::Delete(2),
            Op::Insert("y".into()),
            Op::Retain(1),
        ]);
        assert_eq!(
            delta.ops(),
            &[Op::Delete(2), Op::Insert("xy".into()), Op::Retain(1)]
        );
    }

    #[test]
    fn compose_equals_sequential_application() {
        let text = "hello world";
        let a = Delta::splice(11, 5, 1, "_").unwrap_or_default();
        let b = Delta::splice(11, 0, 5, "HELLO🍊").unwrap_or_default();
        let composed = a.compose(&b).unwrap_or_default();
        let stepwise = b.apply_str(&a.apply_str(text).unwrap_or_default());
        assert_eq!(composed.apply_str(text), stepwise);
    }

    #[test]
    fn transform_converges_both_ways() {
        let text = "abcdef";
        let a = Delta::splice(6, 2, 2, "XY").unwrap_or_default();
        let b = Delta::splice(6, 3, 0, "12").unwrap_or_default();
        let a2 = a.transform(&b, true).unwrap_or_default();
        let b2 = b.transform(&a, false).unwrap_or_default();
        let via_b = a2.apply_str(&b.apply_str(text).unwrap_or_default());
        let via_a = b2.apply_str(&a.apply_str(text).unwrap_or_default());
        assert_eq!(via_a, via_b);
        // b's insert lands inside a's deleted range; a's insert comes after that range.
        assert_eq!(via_a.as_deref(), Ok("ab12XYef"));
    }

    #[test]
    fn decoder_rejects_non_canonical_deltas() {
        assert_eq!(
            Delta::decode(&[4, 4], 100),
            Err(Error::NonCanonical("adjacent ops of one kind"))
        );
        assert_eq!(
            Delta::decode(&[6, b'a', 5], 100),
            Err(Error::NonCanonical("insert before delete"))
        );
        assert_eq!(Delta::decode(&[3], 100), Err(Error::BadOp("op kind 3")));
        assert_eq!(Delta::decode(&[0], 100), Err(Error::BadOp("zero length")));
        assert_eq!(Delta::decode(&[6, 0xff], 100), Err(Error::BadUtf8));
        assert_eq!(Delta::decode(&[10, b'a'], 100), Err(Error::Truncated));
        assert!(matches!(
            Delta::decode(&[0x80, 0x80, 0x80, 0x04], 100),
            Err(Error::DocumentTooLarge { .. })
        ));
    }
}
