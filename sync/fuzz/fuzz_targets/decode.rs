//! Fuzzes every decoder that takes bytes from the network or the disk: client and server messages, deltas and
//! history entries. Whatever decodes must re-encode to the same bytes and apply without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orrery_sync::wire::{decode_client, decode_server, encode_client, encode_server};
use orrery_sync::{Delta, HistoryEntry, Limits, Text};

fuzz_target!(|bytes: &[u8]| {
    let limits = Limits::default();
    if let Ok(message) = decode_client(bytes) {
        assert_eq!(encode_client(&message), bytes);
    }
    if let Ok(message) = decode_server(bytes) {
        assert_eq!(encode_server(&message), bytes);
    }
    if let Ok(delta) = Delta::decode(bytes, 1 << 16) {
        let mut encoded = Vec::new();
        delta.encode(&mut encoded);
        assert_eq!(encoded, bytes);
        let base = "x".repeat(delta.base_len());
        let expected = delta.apply_str(&base).expect("a decoded delta applies to a text of its base length");
        let mut text = Text::new(&base);
        text.apply(&delta).expect("and to a chunked text");
        assert_eq!(text.to_string(), expected);
    }
    let _ = HistoryEntry::decode(bytes, &limits);
});
