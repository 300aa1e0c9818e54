//! Merges as people mean them (PROTOCOL.md §2, "Merging"): the transform of one side's delta past the other's,
//! with ties ordered so that runs typed at one place stay whole and positions never land inside a grapheme cluster.
//!
//! Every merge has an `a` side, whose change is applied onto the other side's text (the client's edit onto the master
//! on the server, the server's edit onto the editor's text on a client), and a `b` side, which carries the text a
//! person is typing into. `Runs` remembers what that person typed recently, so a keystroke that continues their own
//! run stays attached to it (Fugue's and RGA's left origin), whatever arrived concurrently at the same place.

use std::collections::BTreeSet;

use crate::delta::{Delta, Op, Tie, Trail};
use crate::grapheme::{cluster_end, cluster_start, continues, is_boundary};
use crate::text::Text;
use crate::Error;

/// Most runs remembered per person; the oldest is forgotten first.
pub const MAX_RUNS: usize = 8;

/// Adjustment rounds a merge makes at most to keep positions out of clusters.
const MAX_ROUNDS: usize = 4;

/// The run rule (PROTOCOL.md §2): at a tie, a person's insertion goes right after its left origin, before what
/// others inserted at that spot concurrently, unless it was typed in front of that person's own recent text (its right
/// origin is theirs and its left origin is not): then it stays attached to that text and goes after the others.
/// `position` reads an origin in the coordinates `runs` are kept in.
pub fn person_first(
    runs: &Runs,
    left: Option<crate::delta::Origin>,
    right: Option<crate::delta::Origin>,
    position: impl Fn(crate::delta::Origin) -> usize,
) -> bool {
    let own = |origin: Option<crate::delta::Origin>| {
        origin.is_some_and(|origin| runs.contains(position(origin)))
    };
    own(left) || !own(right)
}

/// The stretches of a text that one person inserted, most recent first (PROTOCOL.md §2, "Own runs").
#[derive(Debug, Default)]
pub struct Runs {
    ranges: Vec<(usize, usize)>,
    /// Reused by `map`, so following a keystroke allocates nothing (it runs for every edit on the fast path).
    scratch: Vec<(usize, usize)>,
}

impl Clone for Runs {
    fn clone(&self) -> Runs {
        Runs {
            ranges: self.ranges.clone(),
            scratch: Vec::new(),
        }
    }

    fn clone_from(&mut self, source: &Runs) {
        self.ranges.clone_from(&source.ranges);
    }
}

impl Runs {
    /// True when the character at `pos` is one the person typed.
    pub fn contains(&self, pos: usize) -> bool {
        self.ranges
            .iter()
            .any(|(start, end)| *start <= pos && pos < *end)
    }

    /// Follows the text through `delta`; with `own`, the person made it and its insertions join their runs.
    pub fn map(&mut self, delta: &Delta, own: bool) {
        if delta.is_identity() && !own {
            return;
        }
        let mut mapped = std::mem::take(&mut self.scratch);
        mapped.clear();
        for (start, end) in &self.ranges {
            map_range(delta, *start, *end, &mut mapped);
        }
        if own {
            let mut at = 0;
            for op in delta.ops() {
                match op {
                    Op::Retain(n) => at += n,
                    Op::Delete(_) => {}
                    Op::Insert(text) => {
                        let (mut start, mut end) = (at, at + text.chars().count());
                        at = end;
                        mapped.retain(|(other_start, other_end)| {
                            let touches = *other_end >= start && *other_start <= end;
                            if touches {
                                start = start.min(*other_start);
                                end = end.max(*other_end);
                            }
                            !touches
                        });
                        mapped.insert(0, (start, end));
                    }
                }
            }
        }
        mapped.truncate(MAX_RUNS);
        self.scratch = std::mem::replace(&mut self.ranges, mapped);
    }
}

/// The pieces of `start..end` that survive `delta`, split where someone else's text was inserted inside.
fn map_range(delta: &Delta, start: usize, end: usize, out: &mut Vec<(usize, usize)>) {
    let (mut base, mut at) = (0, 0);
    let mut piece: Option<(usize, usize)> = None;
    for op in delta.ops() {
        if base >= end {
            break;
        }
        match op {
            Op::Retain(n) => {
                let (from, to) = (start.max(base), end.min(base + n));
                if from < to {
                    let (piece_start, piece_end) = (at + from - base, at + to - base);
                    piece = match piece {
                        Some((open, close)) if close == piece_start => Some((open, piece_end)),
                        Some(done) => {
                            out.push(done);
                            Some((piece_start, piece_end))
                        }
                        None => Some((piece_start, piece_end)),
                    };
                }
                base += n;
                at += n;
            }
            Op::Delete(n) => base += n,
            Op::Insert(text) => at += text.chars().count(),
        }
    }
    out.extend(piece);
}

/// A merge's two results: `a` applies to the `b` side's text, `b` to the `a` side's; both end at the same text.
#[derive(Debug)]
pub struct Merged {
    pub a: Delta,
    pub b: Delta,
}

/// One maximal run of non-retain ops of a delta: delete `del` at `pos` of the base, then insert `ins`.
#[derive(Debug, Clone)]
struct Splice {
    pos: usize,
    del: usize,
    ins: String,
}

fn splices(delta: &Delta) -> Vec<Splice> {
    let mut out: Vec<Splice> = Vec::new();
    let mut base = 0;
    let mut open = false;
    for op in delta.ops() {
        match op {
            Op::Retain(n) => {
                base += n;
                open = false;
            }
            Op::Delete(_) | Op::Insert(_) if !open => {
                out.push(Splice {
                    pos: base,
                    del: 0,
                    ins: String::new(),
                });
                open = true;
                record(out.last_mut(), op, &mut base);
            }
            _ => record(out.last_mut(), op, &mut base),
        }
    }
    out
}

fn record(splice: Option<&mut Splice>, op: &Op, base: &mut usize) {
    if let Some(splice) = splice {
        match op {
            Op::Delete(n) => {
                splice.del += n;
                *base += n;
            }
            Op::Insert(text) => splice.ins.push_str(text),
            Op::Retain(_) => {}
        }
    }
}

fn rebuild(splices: &[Splice], base_len: usize) -> Delta {
    let mut ops = Vec::with_capacity(splices.len() * 3 + 1);
    let mut at = 0;
    for splice in splices {
        ops.push(Op::Retain(splice.pos - at));
        ops.push(Op::Delete(splice.del));
        ops.push(Op::Insert(splice.ins.clone()));
        at = splice.pos + splice.del;
    }
    ops.push(Op::Retain(base_len - at));
    Delta::normalize(ops)
}

/// Where base position `gap` is in the delta's result, before anything the delta inserts at that gap.
fn out_before(splices: &[Splice], gap: usize) -> usize {
    let mut out = gap;
    for splice in splices {
        out -= splice.del.min(gap.saturating_sub(splice.pos));
        if splice.pos + splice.del < gap {
            out += splice.ins.chars().count();
        }
    }
    out
}

/// What one round found wrong and how to mend it.
enum Mend {
    /// Flip the order of the tie at this base gap.
    Flip(usize),
    /// Replace `a` by `adjusted`; `shift` turns `a`'s result into `adjusted`'s.
    Adjust { adjusted: Delta, shift: Delta },
}

/// Merges `a` and `b`, both made against `base`; `b_text` is `b`'s result (the text `a` will be applied to).
/// `a_first` orders a tie neither side's clusters decide (the run rule of the caller).
pub fn merge(
    base: &Text,
    b_text: &Text,
    a: &Delta,
    b: &Delta,
    mut a_first: impl FnMut(&Tie) -> bool,
) -> Result<Merged, Error> {
    // Nothing to merge: the one change applies as it is.
    if b.is_identity() {
        a.check_base(b.base_len())?;
        return Ok(Merged {
            a: a.clone(),
            b: Delta::identity(a.target_len()),
        });
    }
    if a.is_identity() {
        b.check_base(a.base_len())?;
        return Ok(Merged {
            a: Delta::identity(b.target_len()),
            b: b.clone(),
        });
    }
    let mut flips: BTreeSet<usize> = BTreeSet::new();
    let mut decide = |tie: &Tie, flips: &BTreeSet<usize>| -> bool {
        // A piece that continues the cluster before the gap stays attached to it; then the caller's run rule.
        let first = if continues(base, tie.gap, tie.b) {
            false
        } else if continues(base, tie.gap, tie.a) {
            true
        } else {
            a_first(tie)
        };
        first != flips.contains(&tie.gap)
    };
    let mut current = a.clone();
    let mut shift = Delta::identity(a.target_len());
    for _ in 0..MAX_ROUNDS {
        let mut trail = Trail::default();
        current.transform_with(b, |tie| decide(tie, &flips), Some(&mut trail))?;
        match find_mend(base, b_text, &current, &trail, &flips)? {
            None => break,
            Some(Mend::Flip(gap)) => {
                flips.insert(gap);
            }
            Some(Mend::Adjust {
                adjusted,
                shift: step,
            }) => {
                shift = shift.compose(&step)?;
                current = adjusted;
            }
        }
    }
    let onto_b = current.transform_with(b, |tie| decide(tie, &flips), None)?;
    let onto_a = b.transform_with(&current, |tie| !decide(&tie.swapped(), &flips), None)?;
    Ok(Merged {
        a: onto_b,
        b: shift.compose(&onto_a)?,
    })
}

/// The first position of the transformed `a` that lands inside a cluster of `b_text` although `a` put it on a
/// boundary of the base, and how to mend it: flip a tie, move an insertion past the next base cluster, or keep the
/// base cluster at the edge of a deletion.
fn find_mend(
    base: &Text,
    b_text: &Text,
    a: &Delta,
    trail: &Trail,
    flips: &BTreeSet<usize>,
) -> Result<Option<Mend>, Error> {
    for placed in &trail.inserts {
        if is_boundary(b_text, placed.at) || !is_boundary(base, placed.base) {
            continue;
        }
        if placed.tie && !flips.contains(&placed.base) {
            return Ok(Some(Mend::Flip(placed.base)));
        }
        let mut list = splices(a);
        let Some(index) = list
            .iter()
            .position(|splice| splice.pos + splice.del == placed.base && !splice.ins.is_empty())
        else {
            continue;
        };
        let gap = placed.base;
        let to = cluster_end(base, gap + 1);
        let blocked = list.get(index + 1).is_some_and(|next| next.pos <= to);
        if gap >= base.len() || blocked {
            continue;
        }
        let out = out_before(&list, gap);
        let inserted = std::mem::take(&mut list[index].ins);
        let moved_len = inserted.chars().count();
        list.insert(
            index + 1,
            Splice {
                pos: to,
                del: 0,
                ins: inserted,
            },
        );
        list.retain(|splice| splice.del > 0 || !splice.ins.is_empty());
        let target_len = a.target_len();
        // Move the base characters in front of the inserted text, not the text behind them, so the typist's cursor
        // (after what they typed) stays after it.
        let shift = Delta::normalize(vec![
            Op::Retain(out),
            Op::Insert(base.slice(gap, to)),
            Op::Retain(moved_len),
            Op::Delete(to - gap),
            Op::Retain(target_len - out - moved_len - (to - gap)),
        ]);
        return Ok(Some(Mend::Adjust {
            adjusted: rebuild(&list, base.len()),
            shift,
        }));
    }
    // Deleted stretches, joined where they touch in `b_text`.
    let mut runs: Vec<(usize, usize, usize, usize)> = Vec::new();
    for placed in &trail.deletes {
        match runs.last_mut() {
            Some(run) if run.1 == placed.at => {
                run.1 += placed.len;
                run.3 = placed.base + placed.len;
            }
            _ => runs.push((
                placed.at,
                placed.at + placed.len,
                placed.base,
                placed.base + placed.len,
            )),
        }
    }
    for (at_start, at_end, base_start, base_end) in runs {
        let bad_start = !is_boundary(b_text, at_start) && is_boundary(base, base_start);
        let bad_end = !is_boundary(b_text, at_end) && is_boundary(base, base_end);
        if !bad_start && !bad_end {
            continue;
        }
        let mut list = splices(a);
        // Keep the base cluster at the bad edge, so the cluster the other side changed survives whole.
        let (keep_from, keep_to) = if bad_end {
            (cluster_start(base, base_end - 1), base_end)
        } else {
            (base_start, cluster_end(base, base_start + 1))
        };
        let Some(index) = list
            .iter()
            .position(|splice| splice.pos <= keep_from && keep_to <= splice.pos + splice.del)
        else {
            continue;
        };
        let splice = list[index].clone();
        let out = out_before(&list, splice.pos);
        let mut replacement = Vec::new();
        if keep_from > splice.pos {
            replacement.push(Splice {
                pos: splice.pos,
                del: keep_from - splice.pos,
                ins: String::new(),
            });
        }
        replacement.push(Splice {
            pos: keep_to,
            del: splice.pos + splice.del - keep_to,
            ins: splice.ins,
        });
        list.splice(index..=index, replacement);
        list.retain(|splice| splice.del > 0 || !splice.ins.is_empty());
        let target_len = a.target_len();
        let shift = Delta::normalize(vec![
            Op::Retain(out),
            Op::Insert(base.slice(keep_from, keep_to)),
            Op::Retain(target_len - out),
        ]);
        return Ok(Some(Mend::Adjust {
            adjusted: rebuild(&list, base.len()),
            shift,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn merged(base: &str, a: &Delta, b: &Delta, a_first: bool) -> (String, String) {
        let base_text = Text::new(base);
        let b_text = Text::new(&b.apply_str(base).unwrap_or_default());
        let result = merge(&base_text, &b_text, a, b, |_| a_first).expect("merges");
        let via_b = result.a.apply_str(&b_text.to_string()).unwrap_or_default();
        let via_a = result
            .b
            .apply_str(&a.apply_str(base).unwrap_or_default())
            .unwrap_or_default();
        (via_b, via_a)
    }

    #[test]
    fn an_insertion_never_lands_inside_a_cluster_the_other_side_joined() {
        // b joins woman and girl with a ZWJ; a typed x between them: x goes after the family, on both sides.
        let a = Delta::splice(2, 1, 0, "x").unwrap_or_default();
        let b = Delta::splice(2, 1, 0, "\u{200d}").unwrap_or_default();
        for a_first in [true, false] {
            let (via_b, via_a) = merged("👩👧", &a, &b, a_first);
            assert_eq!(via_b, "👩\u{200d}👧x");
            assert_eq!(via_a, via_b);
        }
    }

    #[test]
    fn a_combining_mark_stays_on_its_letter() {
        // b accents the e; a typed x right after the e: the accent stays on the e whatever the run rule says.
        let a = Delta::splice(2, 2, 0, "x").unwrap_or_default();
        let b = Delta::splice(2, 2, 0, "\u{301}").unwrap_or_default();
        let (via_b, via_a) = merged("ae", &a, &b, true);
        assert_eq!(via_b, "ae\u{301}x");
        assert_eq!(via_a, via_b);
        // a deletes the e that b accented: the accent keeps its letter rather than landing on the a.
        let a = Delta::splice(2, 1, 1, "").unwrap_or_default();
        let (via_b, via_a) = merged("ae", &a, &b, true);
        assert_eq!(via_b, "ae\u{301}");
        assert_eq!(via_a, via_b);
    }

    #[test]
    fn runs_follow_the_text_and_split_around_foreign_text() {
        let mut runs = Runs::default();
        runs.map(&Delta::splice(3, 1, 0, "ab").unwrap_or_default(), true);
        assert!(runs.contains(1) && runs.contains(2) && !runs.contains(3));
        runs.map(&Delta::splice(5, 2, 0, "X").unwrap_or_default(), false);
        assert!(runs.contains(1) && !runs.contains(2) && runs.contains(3));
        runs.map(&Delta::splice(6, 4, 0, "c").unwrap_or_default(), true);
        assert!(runs.contains(3) && runs.contains(4));
        runs.map(&Delta::splice(7, 0, 7, "").unwrap_or_default(), false);
        assert!((0..7).all(|pos| !runs.contains(pos)));
    }
}
