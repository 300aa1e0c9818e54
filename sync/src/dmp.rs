//! The only door to diff-match-patch: diffs become our deltas, deltas become patches, and fuzzy application reports what it dropped.
//!
//! Untrusted text never reaches `patch_from_text` or `diff_from_delta` (they can panic); we build `Diff`s from our own deltas.
//! Every call runs under `catch_unwind` as a last line of defence: a panic inside the library becomes an error, never a dead server.

use std::panic::{catch_unwind, AssertUnwindSafe};

use diff_match_patch_rs::dmp::Diff;
use diff_match_patch_rs::{Compat, DiffMatchPatch, Ops, PatchInput};

use crate::delta::{Delta, Op};
use crate::Error;

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
    Ok(Delta::normalize(
        diffs
            .iter()
            .map(|diff| match diff.op() {
                Ops::Equal => Op::Retain(diff.size()),
                Ops::Delete => Op::Delete(diff.size()),
                Ops::Insert => Op::Insert(diff.data().iter().collect()),
            })
            .collect(),
    ))
}

/// What a fuzzy patch did: the new text, and the text of every hunk that could not be placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FuzzyResult {
    pub text: String,
    pub dropped: Vec<String>,
}

/// Applies `delta` (made against `base`) onto `target`, which may have drifted from `base`, by diff-match-patch's fuzzy patch.
pub fn fuzzy_apply(base: &str, delta: &Delta, target: &str, timeout_ms: u32) -> Result<FuzzyResult, Error> {
    delta.check_base(base.chars().count())?;
    let chars: Vec<char> = base.chars().collect();
    let mut diffs: Vec<Diff<char>> = Vec::with_capacity(delta.ops().len());
    let mut pos = 0;
    for op in delta.ops() {
        match op {
            Op::Retain(n) => {
                diffs.push(Diff::equal(&chars[pos..pos + n]));
                pos += n;
            }
            Op::Delete(n) => {
                diffs.push(Diff::delete(&chars[pos..pos + n]));
                pos += n;
            }
            Op::Insert(text) => diffs.push(Diff::insert(&text.chars().collect::<Vec<_>>())),
        }
    }
    let dmp = engine(timeout_ms);
    let patches = guarded(|| dmp.patch_make::<Compat>(PatchInput::new_text_diffs(base, &diffs)))?;
    let (text, applied) = guarded(|| dmp.patch_apply(&patches, target))?;
    let dropped = patches
        .iter()
        .zip(&applied)
        .filter(|(_, applied)| !**applied)
        .map(|(patch, _)| {
            let mut lost = String::new();
            for diff in patch.diffs() {
                if diff.op() == Ops::Insert {
                    lost.extend(diff.data().iter());
                }
            }
            lost
        })
        .collect();
    Ok(FuzzyResult { text, dropped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_is_in_code_points_and_round_trips() {
        let old = "🍊, aah orange is the new black!";
        let new = "Aah orange!🌊is the new 🌊";
        let delta = diff(old, new, 150).unwrap_or_default();
        assert_eq!(delta.apply_str(old).as_deref(), Ok(new));
    }

    #[test]
    fn fuzzy_apply_lands_an_edit_on_a_drifted_text() {
        let base = "The quick brown fox jumps over the lazy dog.";
        let delta = Delta::splice(base.chars().count(), 10, 5, "red").unwrap_or_default();
        let target = "Look: The quick brown fox jumps over the lazy dog.";
        let result = fuzzy_apply(base, &delta, target, 150);
        assert_eq!(
            result,
            Ok(FuzzyResult { text: "Look: The quick red fox jumps over the lazy dog.".into(), dropped: vec![] })
        );
    }

    #[test]
    fn fuzzy_apply_reports_a_hunk_it_cannot_place() {
        let base = "alpha beta gamma delta epsilon";
        let delta = Delta::splice(base.chars().count(), 11, 5, "GAMMA").unwrap_or_default();
        let target = "something else entirely, with no shared context at all";
        let result = fuzzy_apply(base, &delta, target, 150).unwrap_or_else(|_| FuzzyResult { text: String::new(), dropped: vec![] });
        assert_eq!(result.text, target);
        assert_eq!(result.dropped, vec!["GAMMA".to_string()]);
    }
}
