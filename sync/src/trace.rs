//! Editing traces in the format of josephg/editing-traces (`{startContent, endContent, txns: [{time, patches: [[pos, del, ins]]}]}`), for tests and benchmarks.
//! Parsing works on bytes the caller read; this module does no I/O.
//! Test data, not part of the engine: it exists only with the `test-support` feature, which the tests and benchmarks
//! turn on, so the engine itself pulls in no decompressor.

use std::io::Read;

use serde::Deserialize;

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
#[error("bad editing trace: {0}")]
pub struct TraceError(String);

/// One recorded edit: patches applied in order, positions in code points.
pub type Txn = Vec<(usize, usize, String)>;

/// A whole trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub start_content: String,
    pub end_content: String,
    pub txns: Vec<Txn>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTrace {
    start_content: String,
    end_content: String,
    txns: Vec<RawTxn>,
}

#[derive(Deserialize)]
struct RawTxn {
    patches: Vec<(usize, usize, String)>,
}

impl Trace {
    /// Parses a gzipped trace.
    pub fn parse_gz(bytes: &[u8]) -> Result<Trace, TraceError> {
        let mut json = Vec::new();
        flate2::read::GzDecoder::new(bytes)
            .read_to_end(&mut json)
            .map_err(|error| TraceError(error.to_string()))?;
        Trace::parse_json(&json)
    }

    /// Parses a trace's JSON.
    pub fn parse_json(bytes: &[u8]) -> Result<Trace, TraceError> {
        let raw: RawTrace =
            serde_json::from_slice(bytes).map_err(|error| TraceError(error.to_string()))?;
        Ok(Trace {
            start_content: raw.start_content,
            end_content: raw.end_content,
            txns: raw.txns.into_iter().map(|txn| txn.patches).collect(),
        })
    }
}
