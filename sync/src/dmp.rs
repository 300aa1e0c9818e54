//! The only door to diff-match-patch: a bounded character diff in code points (Compat mode), turned into our deltas.
//!
//! Untrusted text never reaches `patch_from_text` or `diff_from_delta` (they can panic), and we do not fuzzy-patch at all
//! (see `server.rs` for why). The call runs under `catch_unwind` as a last line of defence: a panic inside the library
//! becomes an error, never a dead server.

use std::panic::{catch_unwind, AssertUnwindSafe};

use diff_match_patch_rs::{Compat, DiffMatchPatch, Ops};

use crate::delta::{Delta, Op};
use crate::grapheme::is_boundary;
use crate::Error;

/// How far a pure insertion or deletion may slide to reach cluster boundaries before it is widened instead.
const MAX_SLIDE: usize = 8;

fn engine(timeout_ms: u32) -> DiffMatchPatch {
    let mut dmp = DiffMatchPatch::new();
    dmp.set_timeout(Some(timeout_ms));
    dmp
}

fn guarded<T>(work: impl FnOnce() -> Result<T, diff_match_patch_rs::Error>) -> Result<T, Error> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(Error::Diff(format!("{error:?}"))),
        Err(_) => Err(Error::Diff("diff-match-patch panicked".into())),
    }
}

/// The delta from `old` to `new`, by a character diff bounded by `timeout_ms` (a timed-out diff is still correct, only larger).
pub fn diff(old: &str, new: &str, timeout_ms: u32) -> Result<Delta, Error> {
    if old == new {
        return Ok(Delta::identity(old.chars().count()));
    }
    let diffs = guarded(|| engine(timeout_ms).diff_main::<Compat>(old, new))?;
    let delta = Delta::normalize(
        diffs
            .iter()
            .map(|diff| match diff.op() {
                Ops::Equal => Op::Retain(diff.size()),
                Ops::Delete => Op::Delete(diff.size()),
                Ops::Insert => Op::Insert(diff.data().iter().collect()),
            })
            .collect(),
    );
    let old: Vec<char> = old.chars().collect();
    let new: Vec<char> = new.chars().collect();
    Ok(align(&old, &new, &delta))
}

/// A changed stretch: `old[old_start..old_end]` became `new[new_start..new_end]`.
#[derive(Debug, Clone, Copy)]
struct Region {
    old_start: usize,
    old_end: usize,
    new_start: usize,
    new_end: usize,
}

/// Rewrites a diff so that every change starts and ends on grapheme cluster boundaries of both texts (PROTOCOL.md §2,
/// "Clusters"): diff-match-patch cuts between code points, so it may insert half a flag next to an equal half. A pure
/// insertion or deletion first slides along equal text (at most `MAX_SLIDE` places, nearest first, left before right);
/// otherwise the change widens to whole clusters, merging with its neighbours when it reaches them.
fn align(old: &[char], new: &[char], delta: &Delta) -> Delta {
    let mut regions: Vec<Region> = Vec::new();
    let (mut at_old, mut at_new) = (0, 0);
    for op in delta.ops() {
        let (old_len, new_len) = match op {
            Op::Retain(n) => {
                at_old += n;
                at_new += n;
                continue;
            }
            Op::Delete(n) => (*n, 0),
            Op::Insert(text) => (0, text.chars().count()),
        };
        match regions.last_mut() {
            Some(region) if region.old_end == at_old && region.new_end == at_new => {
                region.old_end += old_len;
                region.new_end += new_len;
            }
            _ => regions.push(Region {
                old_start: at_old,
                old_end: at_old + old_len,
                new_start: at_new,
                new_end: at_new + new_len,
            }),
        }
        at_old += old_len;
        at_new += new_len;
    }
    let aligned = |region: &Region| {
        is_boundary(old, region.old_start)
            && is_boundary(old, region.old_end)
            && is_boundary(new, region.new_start)
            && is_boundary(new, region.new_end)
    };
    let mut out: Vec<Region> = Vec::with_capacity(regions.len());
    let mut index = 0;
    while index < regions.len() {
        let mut region = regions[index];
        index += 1;
        if aligned(&region) {
            out.push(region);
            continue;
        }
        let floor = out.last().map_or(0, |previous| previous.old_end);
        let ceiling = regions.get(index).map_or(old.len(), |next| next.old_start);
        if let Some(slid) = slide(old, new, region, floor, ceiling, &aligned) {
            out.push(slid);
            continue;
        }
        // Widen to whole clusters; the text outside a change is equal in both, so both sides move together.
        loop {
            while !(is_boundary(old, region.old_start) && is_boundary(new, region.new_start)) {
                region.old_start -= 1;
                region.new_start -= 1;
            }
            while !(is_boundary(old, region.old_end) && is_boundary(new, region.new_end)) {
                region.old_end += 1;
                region.new_end += 1;
            }
            if let Some(previous) = out
                .last()
                .copied()
                .filter(|p| p.old_end >= region.old_start)
            {
                out.pop();
                region.old_start = previous.old_start;
                region.new_start = previous.new_start;
                continue;
            }
            if let Some(next) = regions
                .get(index)
                .copied()
                .filter(|n| n.old_start <= region.old_end)
            {
                index += 1;
                region.old_end = next.old_end;
                region.new_end = next.new_end;
                continue;
            }
            break;
        }
        out.push(region);
    }
    let mut ops = Vec::with_capacity(out.len() * 3 + 1);
    let mut at = 0;
    for region in &out {
        ops.push(Op::Retain(region.old_start - at));
        ops.push(Op::Delete(region.old_end - region.old_start));
        ops.push(Op::Insert(
            new[region.new_start..region.new_end].iter().collect(),
        ));
        at = region.old_end;
    }
    ops.push(Op::Retain(old.len() - at));
    Delta::normalize(ops)
}

/// Slides a pure insertion or deletion along equal text, between `floor` and `ceiling` of the old text, to the nearest
/// place where `aligned` holds.
fn slide(
    old: &[char],
    new: &[char],
    region: Region,
    floor: usize,
    ceiling: usize,
    aligned: &impl Fn(&Region) -> bool,
) -> Option<Region> {
    let inserts = region.old_start == region.old_end;
    let deletes = region.new_start == region.new_end;
    if !inserts && !deletes {
        return None;
    }
    // One step left or right, if the text moved over equals the text moved into.
    let step = |region: Region, left: bool| -> Option<Region> {
        let (text, start, end) = if inserts {
            (new, region.new_start, region.new_end)
        } else {
            (old, region.old_start, region.old_end)
        };
        if left {
            (region.old_start > floor && start > 0 && text[start - 1] == text[end - 1]).then(|| {
                Region {
                    old_start: region.old_start - 1,
                    old_end: region.old_end - 1,
                    new_start: region.new_start - 1,
                    new_end: region.new_end - 1,
                }
            })
        } else {
            (region.old_end < ceiling && end < text.len() && text[start] == text[end]).then(|| {
                Region {
                    old_start: region.old_start + 1,
                    old_end: region.old_end + 1,
                    new_start: region.new_start + 1,
                    new_end: region.new_end + 1,
                }
            })
        }
    };
    let (mut left, mut right) = (Some(region), Some(region));
    for _ in 0..MAX_SLIDE {
        left = left.and_then(|region| step(region, true));
        if let Some(found) = left.filter(|region| aligned(region)) {
            return Some(found);
        }
        right = right.and_then(|region| step(region, false));
        if let Some(found) = right.filter(|region| aligned(region)) {
            return Some(found);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diffs_change_whole_clusters() {
        // A code point diff inserts "🇮🇫" inside the French flag; aligned, a Finnish flag goes in front of it.
        let delta = diff("🇫🇷", "🇫🇮🇫🇷", 150).unwrap_or_default();
        assert_eq!(delta.ops(), &[Op::Insert("🇫🇮".into()), Op::Retain(2)]);
        // A new accent on the e replaces the whole letter rather than adding a lone mark.
        let delta = diff("xe", "xe\u{301}", 150).unwrap_or_default();
        assert_eq!(
            delta.ops(),
            &[Op::Retain(1), Op::Delete(1), Op::Insert("e\u{301}".into())]
        );
        for (old, new) in [
            ("a\r\nb", "a\rb\nb"),
            ("👩👧", "👩\u{200d}👧x"),
            ("🇫🇷🇩🇪", "🇩🇪🇫🇷"),
        ] {
            let delta = diff(old, new, 150).unwrap_or_default();
            assert_eq!(delta.apply_str(old).as_deref(), Ok(new));
        }
    }

    #[test]
    fn diff_is_in_code_points_and_round_trips() {
        let old = "🍊, aah orange is the new black!";
        let new = "Aah orange!🌊is the new 🌊";
        let delta = diff(old, new, 150).unwrap_or_default();
        assert_eq!(delta.apply_str(old).as_deref(), Ok(new));
    }
}
