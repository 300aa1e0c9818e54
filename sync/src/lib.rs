//! Orrery's differential synchronization engine: Neil Fraser's guaranteed-delivery DiffSync for plain text, with strict deltas, a shadow hash in every message, resync that keeps local edits, and concurrent edits merged by transformation rather than fuzzy patching.
//! `PROTOCOL.md` beside this crate is the normative description; the TypeScript twin in `web/src/sync/` implements the same and `vectors/` checks that both agree.
//! This crate is pure: no I/O, no clocks of its own (callers pass the time), no async runtime, and it depends on nothing else of Orrery's.
//! The local hub owns one [`Document`] per open file and feeds it the messages of every [`Client`].
//!
//! ```
//! use orrery_sync::{wire, Client, Document, Limits};
//! # fn main() -> Result<(), orrery_sync::Error> {
//! let (client_id, now_ms) = (1, 0);
//! let mut document = Document::new("hello", Limits::default())?;
//! let mut client = Client::new();
//! let exchange = |client: &mut Client, document: &mut Document| -> Result<(), orrery_sync::Error> {
//!     // The first message asks for the whole text; later ones carry edits. The caller owns the channel.
//!     while let Some(message) = client.poll() {
//!         let bytes = wire::encode_client(&message);
//!         let outcome = document.receive(client_id, wire::decode_client(&bytes)?, now_ms)?;
//!         // outcome.history: changes to log; outcome.nudge: other clients to nudge; outcome.failures: refused edits.
//!         if let Some(reply) = outcome.reply {
//!             for event in client.receive(wire::decode_server(&wire::encode_server(&reply))?)? {
//!                 // ClientEvent::Changed: map cursors through the delta; Failed: tell the user what was dropped.
//!                 let _ = event;
//!             }
//!         }
//!     }
//!     Ok(())
//! };
//! exchange(&mut client, &mut document)?; // the client now holds "hello"
//! client.splice(0, 0, "draft: ")?; // positions and lengths in Unicode code points
//! exchange(&mut client, &mut document)?;
//! assert_eq!(document.text(), "draft: hello");
//! assert_eq!(client.text(), "draft: hello");
//! # Ok(())
//! # }
//! ```

mod client;
mod delta;
mod dmp;
mod error;
pub mod grapheme;
mod hash;
mod history;
mod merge;
mod server;
mod text;
#[cfg(feature = "test-support")]
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
