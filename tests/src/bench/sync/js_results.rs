//! The JavaScript reference's figures: `tests/bench/js/bench.js` measures them in node before this binary runs and writes them as JSON.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use serde_json::Value;

/// One JavaScript replay of a trace at one k.
#[derive(Debug, Clone)]
pub struct JsRun {
    pub trace: String,
    pub k: usize,
    /// Edits replayed: fewer than the trace holds when the run was capped.
    pub edits: usize,
    pub total_edits: usize,
    pub server_ns: f64,
    pub problems: Vec<String>,
}

impl JsRun {
    pub fn rate(&self) -> f64 {
        if self.server_ns <= 0.0 {
            return f64::NAN;
        }
        self.edits as f64 / (self.server_ns / 1e9)
    }

    pub fn capped(&self) -> bool {
        self.edits < self.total_edits
    }
}

/// Everything the JavaScript run wrote.
#[derive(Debug, Clone)]
pub struct JsResults {
    /// e.g. "node v20.20.2".
    pub runtime: String,
    /// e.g. "diff-match-patch 1.0.5".
    pub library: String,
    pub runs: Vec<JsRun>,
}

impl JsResults {
    pub fn load(path: &Path) -> Result<JsResults> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the JavaScript results {}", path.display()))?;
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("parsing the JavaScript results {}", path.display()))?;
        let runs = json["results"]
            .as_array()
            .ok_or_else(|| anyhow!("{}: no `results` array", path.display()))?
            .iter()
            .map(parse_run)
            .collect::<Result<Vec<_>>>()
            .with_context(|| format!("reading {}", path.display()))?;
        Ok(JsResults {
            runtime: json["runtime"].as_str().unwrap_or("node").to_string(),
            library: json["library"]
                .as_str()
                .unwrap_or("diff-match-patch")
                .to_string(),
            runs,
        })
    }

    pub fn find(&self, trace: &str, k: usize) -> Option<&JsRun> {
        self.runs
            .iter()
            .find(|run| run.trace == trace && run.k == k)
    }
}

fn parse_run(run: &Value) -> Result<JsRun> {
    let count = |field: &str| -> Result<usize> {
        run[field]
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| anyhow!("a result has no count `{field}`: {run}"))
    };
    Ok(JsRun {
        trace: run["trace"]
            .as_str()
            .ok_or_else(|| anyhow!("a result has no `trace`: {run}"))?
            .to_string(),
        k: count("k")?,
        edits: count("edits")?,
        total_edits: count("total_edits")?,
        server_ns: run["server_ns"]
            .as_f64()
            .ok_or_else(|| anyhow!("a result has no `server_ns`: {run}"))?,
        problems: run["problems"]
            .as_array()
            .map(|problems| {
                problems
                    .iter()
                    .map(|p| p.as_str().unwrap_or("?").to_string())
                    .collect()
            })
            .unwrap_or_default(),
    })
}
