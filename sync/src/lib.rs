//! Orrery's differential synchronization engine: Neil Fraser's guaranteed-delivery DiffSync for plain text, with strict deltas, a shadow hash in every message, resync that keeps local edits, and concurrent edits merged by transformation rather than fuzzy patching.
//! `PROTOCOL.md` beside this crate is the normative description; the TypeScript twin in `web/src/sync/` implements the same and `vectors/` checks that both agree.
//! This crate is pure: no I/O, no clocks of its own (callers pass the time), no async runtime, and it depends on nothing else of Orrery's.
//! The local hub owns one [`Document`] per open file and feeds it the messages of every [`Client`].

mod client;
mod delta;
mod dmp;
mod error;
mod hash;
mod history;
mod server;
mod text;
pub mod trace;
mod varint;
pub mod wire;

pub use client::{Client, ClientEvent};
pub use delta::{Delta, Op};
pub use dmp::diff;
pub use error::Error;
pub use hash::hash;
pub use history::{Author, HistoryEntry};
pub use server::{Document, Outcome, ResyncReason, Stats};
pub use text::Text;
pub use wire::{ClientMessage, Failure, ServerMessage};

/// The bounds every document and message is held to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest document, in UTF-8 bytes; larger files must be opened read-only by the caller.
    pub max_document_bytes: usize,
    /// Largest encoded message, in bytes.
    pub max_message_bytes: usize,
    /// Most unacknowledged edits a view or client keeps; past it the view is resynced.
    pub max_stack: usize,
    /// Time budget of one diff on the server, in milliseconds (a timed-out diff is correct, only larger).
    pub diff_timeout_ms: u32,
    /// How many recent master changes the server keeps to catch views up without diffing.
    pub max_log: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_document_bytes: 8 << 20,
            max_message_bytes: 16 << 20,
            max_stack: 1024,
            diff_timeout_ms: 150,
            max_log: 1024,
        }
    }
}
