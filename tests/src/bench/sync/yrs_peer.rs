//! The yrs peer: the same trace typed into a yrs `Text`, one transaction per edit, with each sync window's update encoded and applied to a second document.

use std::time::{Duration, Instant};

use crate::{first_difference, rate};
use anyhow::{bail, Context, Result};
use orrery_sync::trace::Trace;
use yrs::updates::decoder::Decode;
use yrs::{Doc, GetString, OffsetKind, Options, Text, Transact, Update};

/// What one yrs replay measured.
#[derive(Debug, Clone)]
pub struct YrsRun {
    pub edits: usize,
    pub syncs: usize,
    /// The editing document's transactions: the splices and the commit.
    pub local: Duration,
    /// Encoding each transaction's update, and merging a window's updates into one.
    pub encode: Duration,
    /// Decoding a window's update and applying it to the second document, commit included.
    pub remote: Duration,
    /// Bytes of all window updates.
    pub update_bytes: usize,
    /// Why the replay did not end with both documents holding endContent; empty if it did.
    pub problems: Vec<String>,
}

impl YrsRun {
    pub fn local_rate(&self) -> f64 {
        rate(self.edits, self.local)
    }

    /// The rate the ratio uses: an edit counts once it is in the second document (local apply + encode + remote apply).
    pub fn sync_rate(&self) -> f64 {
        rate(self.edits, self.local + self.encode + self.remote)
    }

    /// Decoding and applying the updates on the second document alone: the part a relaying server would do.
    pub fn remote_rate(&self) -> f64 {
        rate(self.edits, self.remote)
    }
}

fn new_doc(client_id: u64) -> Doc {
    // The traces count code points; UTF-16 offsets equal them for text without astral characters,
    // and `Utf16Positions` converts where a trace has some.
    Doc::with_options(Options {
        offset_kind: OffsetKind::Utf16,
        ..Options::with_client_id(yrs::ClientID::new(client_id))
    })
}

/// Converts the trace's code-point positions to UTF-16 offsets, by keeping a copy of the text; only used (untimed) for traces with astral characters.
struct Utf16Positions {
    text: Vec<char>,
}

impl Utf16Positions {
    fn units(&self, from: usize, to: usize) -> u32 {
        self.text[from..to]
            .iter()
            .map(|c| c.len_utf16() as u32)
            .sum()
    }

    /// (UTF-16 position, UTF-16 deleted length) of a code-point splice, and applies it to the copy.
    fn splice(&mut self, pos: usize, del: usize, ins: &str) -> Result<(u32, u32)> {
        if pos + del > self.text.len() {
            bail!(
                "splice ({pos}, {del}) past the end ({} code points)",
                self.text.len()
            );
        }
        let converted = (self.units(0, pos), self.units(pos, pos + del));
        self.text.splice(pos..pos + del, ins.chars());
        Ok(converted)
    }
}

fn has_astral(text: &str) -> bool {
    text.chars().any(|c| c.len_utf16() > 1)
}

pub fn replay(trace: &Trace, k: usize) -> Result<YrsRun> {
    let local = new_doc(1);
    let remote = new_doc(2);
    let local_text = local.get_or_insert_text("text");
    let remote_text = remote.get_or_insert_text("text");

    let astral = has_astral(&trace.start_content)
        || trace
            .txns
            .iter()
            .any(|txn| txn.iter().any(|(_, _, ins)| has_astral(ins)));
    let mut positions = astral.then(|| Utf16Positions {
        text: trace.start_content.chars().collect(),
    });

    // The start content reaches both documents before the clock runs.
    if !trace.start_content.is_empty() {
        let update = {
            let mut txn = local.transact_mut();
            local_text.insert(&mut txn, 0, &trace.start_content);
            txn.encode_update_v1()
        };
        let mut txn = remote.transact_mut();
        txn.apply_update(Update::decode_v1(&update)?)?;
    }

    let mut run = YrsRun {
        edits: trace.txns.len(),
        syncs: 0,
        local: Duration::ZERO,
        encode: Duration::ZERO,
        remote: Duration::ZERO,
        update_bytes: 0,
        problems: Vec::new(),
    };
    let mut window: Vec<Vec<u8>> = Vec::with_capacity(k);
    let mut splices: Vec<(u32, u32, &str)> = Vec::new();
    for (index, txn_patches) in trace.txns.iter().enumerate() {
        splices.clear();
        for (pos, del, ins) in txn_patches {
            let (pos, del) = match positions.as_mut() {
                Some(positions) => positions.splice(*pos, *del, ins)?,
                None => (u32::try_from(*pos)?, u32::try_from(*del)?),
            };
            splices.push((pos, del, ins.as_str()));
        }

        let started = Instant::now();
        let mut txn = local.transact_mut();
        for &(pos, del, ins) in &splices {
            if del > 0 {
                local_text.remove_range(&mut txn, pos, del);
            }
            if !ins.is_empty() {
                local_text.insert(&mut txn, pos, ins);
            }
        }
        let applied = Instant::now();
        let update = txn.encode_update_v1();
        let encoded = Instant::now();
        drop(txn);
        let committed = Instant::now();
        run.local += (applied - started) + (committed - encoded);
        run.encode += encoded - applied;
        window.push(update);

        if (index + 1) % k == 0 || index + 1 == trace.txns.len() {
            sync_window(&mut window, &remote, &mut run)
                .with_context(|| format!("yrs sync after edit {index}"))?;
        }
    }

    let local_final = local_text.get_string(&local.transact());
    let remote_final = remote_text.get_string(&remote.transact());
    for (who, text) in [("local", &local_final), ("remote", &remote_final)] {
        if *text != trace.end_content {
            run.problems.push(format!(
                "yrs {who} document ({} code points) differs from endContent ({} code points) at code point {}",
                text.chars().count(),
                trace.end_content.chars().count(),
                first_difference(text, &trace.end_content)
            ));
        }
    }
    Ok(run)
}

fn sync_window(window: &mut Vec<Vec<u8>>, remote: &Doc, run: &mut YrsRun) -> Result<()> {
    let started = Instant::now();
    let update = if window.len() == 1 {
        window.pop().unwrap_or_default()
    } else {
        yrs::merge_updates_v1(window.drain(..))?
    };
    let merged = Instant::now();
    {
        let mut txn = remote.transact_mut();
        txn.apply_update(Update::decode_v1(&update)?)?;
    }
    let applied = Instant::now();
    run.encode += merged - started;
    run.remote += applied - merged;
    run.update_bytes += update.len();
    run.syncs += 1;
    window.clear();
    Ok(())
}
