//! The only door to diff-match-patch: a bounded character diff in code points (Compat mode), turned into our deltas.
//!
//! Untrusted text never reaches `patch_from_text` or `diff_from_delta` (they can panic), and we do not fuzzy-patch at all
//! (see `server.rs` for why). The call runs under `catch_unwind` as a last line of defence: a panic inside the library
//! becomes an error, never a dead server.

use std::panic::{catch_unwind, AssertUnwindSafe};

use diff_match_patch_rs::{Compat, DiffMatchPatch, Ops};

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
}
