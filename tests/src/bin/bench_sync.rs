//! The sync benchmark behind `tests/bench/run sync`: replays editing traces through our differential-sync server, and through yrs, and sets them beside the JavaScript diff-match-patch figures that `tests/bench/js/bench.js` measured just before; it depends on `orrery-sync` and `yrs`, never on the servers.
//!
//! Usage: `bench_sync --js-results FILE [--k 1,10,100] TRACE.json.gz...`
//! Ends with the `BENCH sync.*` lines, for the trace named automerge-paper (else the first) at k = 10.

#[path = "../bench/sync/js_results.rs"]
mod js_results;
#[path = "../bench/sync/ours.rs"]
mod ours;
#[path = "../bench/sync/yrs_peer.rs"]
mod yrs_peer;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use orrery_sync::trace::Trace;
use orrery_sync::wire::ClientMessage;

use js_results::{JsResults, JsRun};
use ours::{OneCharMessage, OursRun};
use yrs_peer::YrsRun;

/// The k whose figures the BENCH lines report.
const BENCH_K: usize = 10;

/// The trace the BENCH lines report, when it is among those replayed.
const BENCH_TRACE: &str = "automerge-paper";

/// Our channel framing around a sync message: one byte of frame type, then the channel id as a varint (one byte for small ids).
const FRAME_TYPE_BYTES: usize = 1;
const CHANNEL_ID: u64 = 1;

/// Edits per second, NaN when nothing was timed.
pub fn rate(edits: usize, time: Duration) -> f64 {
    if time.is_zero() {
        return f64::NAN;
    }
    edits as f64 / time.as_secs_f64()
}

/// The code-point index where two texts first differ.
pub fn first_difference(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

/// Bytes of an unsigned LEB128 varint.
fn varint_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// A WebSocket client-to-server frame header: 2 bytes, the extended length if any, and the 4-byte mask (RFC 6455 §5.2).
fn websocket_client_header(payload: usize) -> usize {
    let extended = match payload {
        0..=125 => 0,
        126..=65535 => 2,
        _ => 8,
    };
    2 + extended + 4
}

#[derive(Debug)]
struct Args {
    js_results: PathBuf,
    ks: Vec<usize>,
    traces: Vec<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut js_results = None;
    let mut ks = vec![1, 10, 100];
    let mut traces = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--js-results" => {
                js_results = Some(PathBuf::from(
                    args.next()
                        .ok_or_else(|| anyhow!("--js-results needs a file"))?,
                ))
            }
            "--k" => {
                let list = args.next().ok_or_else(|| anyhow!("--k needs a list"))?;
                ks = list
                    .split(',')
                    .map(|k| match k.trim().parse::<usize>() {
                        Ok(k) if k >= 1 => Ok(k),
                        _ => Err(anyhow!("bad k {k:?} in --k {list}")),
                    })
                    .collect::<Result<_>>()?;
            }
            "--trace" => traces.push(PathBuf::from(
                args.next().ok_or_else(|| anyhow!("--trace needs a file"))?,
            )),
            flag if flag.starts_with("--") => bail!("unknown option {flag}"),
            _ => traces.push(PathBuf::from(arg)),
        }
    }
    let js_results = js_results.ok_or_else(|| {
        anyhow!("--js-results is required (tests/bench/run sync measures them with node first)")
    })?;
    if traces.is_empty() {
        bail!("no trace given");
    }
    Ok(Args {
        js_results,
        ks,
        traces,
    })
}

fn trace_name(path: &Path) -> String {
    let file = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.strip_suffix(".json.gz")
        .or_else(|| file.strip_suffix(".gz"))
        .unwrap_or(&file)
        .to_string()
}

/// The three replays of one trace at one k.
#[derive(Debug)]
struct Row {
    trace: String,
    k: usize,
    ours: Result<OursRun, String>,
    yrs: Result<YrsRun, String>,
    js: Option<JsRun>,
}

impl Row {
    fn ours_rate(&self) -> f64 {
        self.ours.as_ref().map_or(f64::NAN, OursRun::rate)
    }

    fn js_rate(&self) -> f64 {
        self.js.as_ref().map_or(f64::NAN, JsRun::rate)
    }

    fn yrs_rate(&self) -> f64 {
        self.yrs.as_ref().map_or(f64::NAN, YrsRun::sync_rate)
    }

    /// Every reason this row did not converge; empty if every replay ended with endContent everywhere.
    fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        match &self.ours {
            Ok(run) => problems.extend(run.problems.iter().map(|p| format!("ours: {p}"))),
            Err(error) => problems.push(format!("ours: replay failed: {error}")),
        }
        match &self.js {
            Some(run) => problems.extend(run.problems.iter().map(|p| format!("js: {p}"))),
            None => problems.push("js: no JavaScript result for this trace and k".to_string()),
        }
        match &self.yrs {
            Ok(run) => problems.extend(run.problems.iter().map(|p| format!("yrs: {p}"))),
            Err(error) => problems.push(format!("yrs: replay failed: {error}")),
        }
        problems
    }
}

fn per_sync(bytes: usize, syncs: usize) -> f64 {
    bytes as f64 / syncs.max(1) as f64
}

fn print_ours(trace: &str, k: usize, run: &Result<OursRun, String>) {
    match run {
        Ok(run) => println!(
            "ours {trace:<22} k={k:<3} {:>7} edits in {} syncs: server {:.3} s, {:.0} edits/s, wall {:.1} s, {:.1} B up / {:.1} B down per message; server {:?}",
            run.edits,
            run.syncs,
            run.server.as_secs_f64(),
            run.rate(),
            run.wall.as_secs_f64(),
            per_sync(run.up_bytes, run.messages),
            per_sync(run.down_bytes, run.messages),
            run.stats,
        ),
        Err(error) => println!("ours {trace:<22} k={k:<3} FAILED: {error}"),
    }
}

fn print_yrs(trace: &str, k: usize, run: &Result<YrsRun, String>) {
    match run {
        Ok(run) => println!(
            "yrs  {trace:<22} k={k:<3} {:>7} edits in {} syncs: local apply {:.3} s ({:.0} edits/s), encode+merge {:.3} s, remote decode+apply {:.3} s ({:.0} edits/s); sync to remote {:.0} edits/s, {:.1} B per update",
            run.edits,
            run.syncs,
            run.local.as_secs_f64(),
            run.local_rate(),
            run.encode.as_secs_f64(),
            run.remote.as_secs_f64(),
            run.remote_rate(),
            run.sync_rate(),
            per_sync(run.update_bytes, run.syncs),
        ),
        Err(error) => println!("yrs  {trace:<22} k={k:<3} FAILED: {error}"),
    }
}

fn load_trace(path: &Path) -> Result<Trace> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Trace::parse_gz(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Replays every trace at every k, printing each replay as it ends.
fn measure(args: &Args, js: &JsResults) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for path in &args.traces {
        let name = trace_name(path);
        let trace = load_trace(path)?;
        for &k in &args.ks {
            let ours = ours::replay(&trace, k).map_err(|error| format!("{error:#}"));
            print_ours(&name, k, &ours);
            let yrs = yrs_peer::replay(&trace, k).map_err(|error| format!("{error:#}"));
            print_yrs(&name, k, &yrs);
            rows.push(Row {
                trace: name.clone(),
                k,
                ours,
                yrs,
                js: js.find(&name, k).cloned(),
            });
        }
    }
    Ok(rows)
}

fn format_rate(rate: f64) -> String {
    if rate.is_finite() {
        format!("{rate:.0}")
    } else {
        "n/a".to_string()
    }
}

fn format_ratio(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{ratio:.2}")
    } else {
        "n/a".to_string()
    }
}

fn print_table(rows: &[Row], js: &JsResults) {
    println!();
    println!("== sync: server-side edits applied per second, one core ==");
    println!("ours: decode the client message bytes + Document::receive + encode the reply (the typing client's work is not timed)");
    println!(
        "js:   {} on {}, MobWrite-style server cycle: decode message, diff_fromDelta, patch_make, patch_apply, diff_main + diff_toDelta, encode reply",
        js.library, js.runtime
    );
    println!("yrs:  yrs 0.28 Text, one transaction per edit; 'local' = applying the edits to the typing doc; 'sync' = local + encoding/merging each window's update + decoding/applying it on a second doc (the ratio uses 'sync'); 'remote' = the second doc's decode+apply alone");
    println!(
        "{:<22} {:>4} {:>7} {:>12} {:>12} {:>12} {:>12} {:>13} {:>8} {:>9} {:>10}",
        "trace",
        "k",
        "edits",
        "ours/s",
        "js/s",
        "yrs local/s",
        "yrs sync/s",
        "yrs remote/s",
        "ours/js",
        "ours/yrs",
        "converged"
    );
    for row in rows {
        let js_note = match &row.js {
            Some(run) if run.capped() => format!(" (js: first {} edits only)", run.edits),
            _ => String::new(),
        };
        println!(
            "{:<22} {:>4} {:>7} {:>12} {:>12} {:>12} {:>12} {:>13} {:>8} {:>9} {:>10}{js_note}",
            row.trace,
            row.k,
            row.ours.as_ref().map_or(0, |run| run.edits),
            format_rate(row.ours_rate()),
            format_rate(row.js_rate()),
            format_rate(row.yrs.as_ref().map_or(f64::NAN, YrsRun::local_rate)),
            format_rate(row.yrs_rate()),
            format_rate(row.yrs.as_ref().map_or(f64::NAN, YrsRun::remote_rate)),
            format_ratio(row.ours_rate() / row.js_rate()),
            format_ratio(row.ours_rate() / row.yrs_rate()),
            if row.problems().is_empty() {
                "yes"
            } else {
                "NO"
            },
        );
    }
}

fn print_bytes(label: &str, bytes: usize) {
    println!("  {label:<78} {bytes:>3} B");
}

/// Field-by-field size of a Sync message, and the framing around it; returns the total.
fn print_message_breakdown(trace: &str, one: &OneCharMessage) -> usize {
    let sync = one.message_bytes;
    let channel = FRAME_TYPE_BYTES + varint_len(CHANNEL_ID);
    let websocket = websocket_client_header(sync + channel);
    let total = sync + channel + websocket;
    let edit = match one.inserted {
        Some(c) => format!("insert {c:?} at {}", one.pos),
        None => format!("delete at {}", one.pos),
    };
    println!();
    println!(
        "== bytes per sync message for a one-character edit: {trace} edit #{} ({edit}, document {} code points), synced alone ==",
        one.index, one.doc_len
    );
    if let ClientMessage::Sync {
        seq,
        m_ack,
        n_first,
        edits,
        ..
    } = &one.message
    {
        print_bytes("message type", 1);
        print_bytes(&format!("seq = {seq} (varint)"), varint_len(*seq));
        print_bytes(&format!("m_ack = {m_ack} (varint)"), varint_len(*m_ack));
        print_bytes(
            &format!("n_first = {n_first} (varint)"),
            varint_len(*n_first),
        );
        print_bytes(
            &format!("edit count = {} (varint)", edits.len()),
            varint_len(edits.len() as u64),
        );
        for delta in edits {
            let mut encoded = Vec::new();
            delta.encode(&mut encoded);
            print_bytes(
                "delta length prefix (varint)",
                varint_len(encoded.len() as u64),
            );
            print_bytes(&format!("delta {:?}", delta.ops()), encoded.len());
        }
        print_bytes("hash of the client shadow", 8);
    }
    print_bytes("= encoded Sync message", sync);
    print_bytes("+ channel frame type", FRAME_TYPE_BYTES);
    print_bytes(
        &format!("+ channel id = {CHANNEL_ID} (varint)"),
        varint_len(CHANNEL_ID),
    );
    print_bytes(
        &format!(
            "+ WebSocket client frame header (payload {} B: 2 B + {} B length + 4 B mask)",
            sync + channel,
            websocket - 6
        ),
        websocket,
    );
    print_bytes("= bytes on the wire", total);
    total
}

fn run() -> Result<bool> {
    let args = parse_args()?;
    let js = JsResults::load(&args.js_results)?;
    let bench_path = args
        .traces
        .iter()
        .find(|path| trace_name(path) == BENCH_TRACE)
        .unwrap_or(&args.traces[0])
        .clone();
    let bench_trace = trace_name(&bench_path);

    let rows = measure(&args, &js)?;
    print_table(&rows, &js);

    let mut converged = true;
    let mut failures = Vec::new();
    for row in &rows {
        for problem in row.problems() {
            failures.push(format!("{} k={}: {problem}", row.trace, row.k));
        }
    }
    // The k = 1 replay measured it on the way; without one, replay to the middle edit for it.
    let measured = rows
        .iter()
        .filter(|row| row.trace == bench_trace)
        .find_map(|row| row.ours.as_ref().ok()?.one_char.clone());
    let one_char = match measured {
        Some(one) => Ok(one),
        None => ours::one_char_message(&load_trace(&bench_path)?),
    };
    let msg_bytes = match &one_char {
        Ok(one) => print_message_breakdown(&bench_trace, one),
        Err(error) => {
            failures.push(format!(
                "{bench_trace}: measuring the one-character message failed: {error:#}"
            ));
            0
        }
    };
    if !failures.is_empty() {
        converged = false;
        println!();
        println!("FAILURE: {} replay problem(s):", failures.len());
        for failure in &failures {
            println!("  {failure}");
        }
    }
    let capped: Vec<&JsRun> = js.runs.iter().filter(|run| run.capped()).collect();
    for run in capped {
        println!(
            "note: the JavaScript replay of {} at k={} was capped to its first {} of {} edits (its rate is over those)",
            run.trace, run.k, run.edits, run.total_edits
        );
    }

    let bench = rows
        .iter()
        .find(|row| row.trace == bench_trace && row.k == BENCH_K);
    let (ours_rate, js_rate, yrs_rate) = bench.map_or((f64::NAN, f64::NAN, f64::NAN), |row| {
        (row.ours_rate(), row.js_rate(), row.yrs_rate())
    });
    if bench.is_none() {
        println!(
            "FAILURE: no replay of {bench_trace} at k={BENCH_K}; pass --k with {BENCH_K} in it"
        );
        converged = false;
    }
    println!();
    println!("figures below: {bench_trace} at k={BENCH_K}");
    println!("BENCH sync.apply_rate {} edits/s", format_rate(ours_rate));
    println!("BENCH sync.vs_js {} x", format_ratio(ours_rate / js_rate));
    println!("BENCH sync.vs_yrs {} x", format_ratio(ours_rate / yrs_rate));
    println!("BENCH sync.msg_bytes_1char {msg_bytes} B");
    println!("BENCH sync.converged {} bool", u8::from(converged));
    Ok(converged)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("bench_sync: {error:#}");
            ExitCode::from(2)
        }
    }
}
