//! The shared test vectors in `sync/vectors/`: the Rust engine writes them, and both engines must reproduce them.
//!
//! `UPDATE_VECTORS=1 cargo test -p orrery-sync --test vectors` rewrites the files; without it the test fails when the
//! engine no longer produces what the files say (a wire or behaviour change that the TypeScript twin would not see).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;

use orrery_sync::trace::Trace;
use orrery_sync::wire::{decode_client, decode_server, encode_client, encode_server};
use orrery_sync::{
    hash, Client, ClientEvent, ClientMessage, Delta, Document, Failure, Limits, Op, ServerMessage,
};
use serde_json::{json, Value};

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Writes the file when asked, else checks it says exactly what the engine produces now.
fn check_or_write(name: &str, value: &Value) {
    let path = vectors_dir().join(name);
    let text = serde_json::to_string_pretty(value).expect("json") + "\n";
    if std::env::var("UPDATE_VECTORS").is_ok() {
        std::fs::create_dir_all(vectors_dir()).expect("vectors dir");
        std::fs::write(&path, text).expect("write vectors");
        return;
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run UPDATE_VECTORS=1 cargo test -p orrery-sync --test vectors",
            path.display()
        )
    });
    assert!(
        stored == text,
        "{} no longer matches the engine; if the change is intended, run UPDATE_VECTORS=1 cargo test -p orrery-sync --test vectors and update the TypeScript twin",
        path.display()
    );
}

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

const PIECES: &[&str] = &[
    "a",
    "Z",
    " ",
    "é",
    "🍊",
    "🌊",
    "\r\n",
    "\n",
    "\u{0}",
    "\u{10FFFF}",
    "ß",
    "中",
    "\u{F0001}",
    "\t",
];

/// Grapheme clusters people type, and pieces of them: joiners, marks, modifiers and lone regional indicators.
const CLUSTER_PIECES: &[&str] = &[
    "a",
    "x",
    " ",
    "\r\n",
    "\r",
    "\n",
    "e\u{301}",
    "\u{301}",
    "n\u{303}\u{323}",
    "👩\u{200d}👩\u{200d}👧",
    "\u{200d}",
    "👩",
    "👧",
    "🇫🇷",
    "🇩🇪",
    "🇫",
    "👍🏽",
    "🏽",
    "1\u{fe0f}\u{20e3}",
    "\u{1112}\u{1161}\u{11ab}",
    "\u{1161}",
    "\u{915}\u{94d}\u{937}", // Devanagari conjunct (GB9c)
    "\u{600}1",              // Arabic number sign: a prepended mark
    "\u{f0001}",
];

fn cluster_text(rng: &mut Rng, max_pieces: usize) -> String {
    (0..rng.below(max_pieces + 1))
        .map(|_| CLUSTER_PIECES[rng.below(CLUSTER_PIECES.len())])
        .collect()
}

fn random_text(rng: &mut Rng, max_pieces: usize) -> String {
    (0..rng.below(max_pieces + 1))
        .map(|_| PIECES[rng.below(PIECES.len())])
        .collect()
}

fn random_delta(rng: &mut Rng, len: usize) -> Delta {
    let mut ops = Vec::new();
    let mut left = len;
    for _ in 0..rng.below(6) {
        match rng.below(3) {
            0 => {
                let n = rng.below(left + 1);
                ops.push(Op::Retain(n));
                left -= n;
            }
            1 => {
                let n = rng.below(left.min(4) + 1);
                ops.push(Op::Delete(n));
                left -= n;
            }
            _ => ops.push(Op::Insert(random_text(rng, 3))),
        }
    }
    ops.push(Op::Retain(left));
    Delta::normalize(ops)
}

#[test]
fn hashes() {
    let mut rng = Rng(1);
    let mut texts: Vec<String> = [
        "",
        "a",
        "ab",
        "ba",
        "\u{0}",
        "🍊",
        "\r\n",
        "Hello, world!",
        "🍊, aah orange is the new black!",
    ]
    .iter()
    .map(|text| text.to_string())
    .collect();
    texts.push("x".repeat(5000));
    texts.push("🌊é\r\n".repeat(700));
    for _ in 0..40 {
        texts.push(random_text(&mut rng, 30));
    }
    let vectors: Vec<Value> = texts
        .iter()
        .map(|text| json!({"text": text, "hash": format!("{:016x}", hash(text))}))
        .collect();
    check_or_write("hashes.json", &Value::Array(vectors));
}

#[test]
fn deltas() {
    let mut rng = Rng(2);
    let mut valid = Vec::new();
    for _ in 0..60 {
        let base = random_text(&mut rng, 12);
        let delta = random_delta(&mut rng, base.chars().count());
        let mut bytes = Vec::new();
        delta.encode(&mut bytes);
        valid.push(json!({"base": base, "ops": delta, "hex": hex(&bytes), "result": delta.apply_str(&base).expect("fits")}));
    }
    let invalid_cases: &[(&str, usize)] = &[
        ("03", 1),                 // op kind 3
        ("00", 1),                 // zero-length retain
        ("02", 0),                 // zero-length insert
        ("0404", 2),               // two retains
        ("0505", 2),               // two deletes
        ("066106 62", 0),          // two inserts
        ("066105", 1),             // insert before delete
        ("06ff", 0),               // invalid UTF-8
        ("0aed", 0),               // truncated insert
        ("0ae0b880", 0),           // surrogate (0xD800) in UTF-8
        ("8000", 1),               // overlong varint
        ("80", 1),                 // unterminated varint
        ("ffffffffffffffff01", 1), // varint too long
        ("08", 1),                 // retain 2 on a text of 1
        ("04", 2),                 // retain 1 on a text of 2
        ("8080808004", 1),         // document too large
    ];
    let limits = Limits::default();
    let mut invalid = Vec::new();
    for (hex_text, base_len) in invalid_cases {
        let hex_text = hex_text.replace(' ', "");
        let bytes = unhex(&hex_text);
        let error = match Delta::decode(&bytes, limits.max_document_bytes) {
            Ok(delta) => delta
                .check_base(*base_len)
                .expect_err("every invalid case must be rejected"),
            Err(error) => error,
        };
        invalid.push(json!({"hex": hex_text, "base_len": base_len, "error": error.kind()}));
    }
    check_or_write("deltas.json", &json!({"valid": valid, "invalid": invalid}));
}

#[test]
fn compose_and_transform() {
    let mut rng = Rng(3);
    let mut compose = Vec::new();
    let mut transform = Vec::new();
    for _ in 0..60 {
        let base = random_text(&mut rng, 10);
        let len = base.chars().count();
        let a = random_delta(&mut rng, len);
        let b_after = random_delta(&mut rng, a.target_len());
        compose.push(json!({"base": base, "a": a, "b": b_after, "composed": a.compose(&b_after).expect("fits")}));
        let b = random_delta(&mut rng, len);
        transform.push(json!({
            "base": base,
            "a": a,
            "b": b,
            "a_after_b_a_first": a.transform(&b, true).expect("same base"),
            "b_after_a_b_second": b.transform(&a, false).expect("same base"),
            "result": a.transform(&b, true).expect("same base").apply_str(&b.apply_str(&base).expect("fits")).expect("fits"),
        }));
    }
    check_or_write("compose.json", &Value::Array(compose));
    check_or_write("transform.json", &Value::Array(transform));
}

/// Diffs the resync merge and the diff path depend on: both engines must find the same delta for the same texts,
/// emoji and CRLF included (the TypeScript diff works in UTF-16 and must map back to code points exactly).
#[test]
fn diffs() {
    let mut rng = Rng(5);
    let mut pairs: Vec<(String, String)> = vec![
        ("a😀b".into(), "a😁b".into()),
        (
            "🍊, aah orange is the new black!".into(),
            "Aah orange!🌊is the new 🌊".into(),
        ),
        (
            "line one\r\nline two\r\n".into(),
            "line one\nline 2\r\n".into(),
        ),
        ("".into(), "🍊".into()),
        ("🍊".into(), "".into()),
        (
            "The quick brown fox".into(),
            "The quick brown fox jumps".into(),
        ),
        // Clusters: a diff that cut between code points would insert half a flag or a lone mark.
        ("🇫🇷".into(), "🇫🇮🇫🇷".into()),
        ("xe".into(), "xe\u{301}".into()),
        ("👩👧".into(), "👩\u{200d}👧".into()),
        ("a\r\nb".into(), "a\rX\nb".into()),
        ("👍 ok".into(), "👍🏽 ok".into()),
        ("🇩🇪🇫🇷🇩🇪".into(), "🇩🇪🇩🇪".into()),
        ("n\u{303}\u{323}a".into(), "n\u{323}a".into()),
    ];
    for round in 0..120 {
        let old = if round < 80 {
            random_text(&mut rng, 20)
        } else {
            cluster_text(&mut rng, 12)
        };
        let delta = random_delta(&mut rng, old.chars().count());
        let new = delta.apply_str(&old).expect("fits");
        pairs.push((old, new));
    }
    let vectors: Vec<Value> = pairs
        .into_iter()
        .map(|(old, new)| {
            let delta = orrery_sync::diff(&old, &new, 1000).expect("diffs");
            assert_eq!(delta.apply_str(&old).as_deref(), Ok(new.as_str()));
            json!({"old": old, "new": new, "delta": delta})
        })
        .collect();
    check_or_write("diffs.json", &Value::Array(vectors));
}

#[test]
fn messages() {
    let delta = Delta::splice(10, 4, 1, "🍊").expect("in range");
    let client = vec![
        ClientMessage::ResyncRequest { seq: 1 },
        ClientMessage::Sync {
            seq: 300,
            m_ack: 2,
            n_first: 7,
            edits: vec![],
            hash: 0,
        },
        ClientMessage::Sync {
            seq: 3,
            m_ack: 0,
            n_first: 1 << 40,
            edits: vec![delta.clone(), Delta::identity(11)],
            hash: 0xfedc_ba98_7654_3210,
        },
    ];
    let server = vec![
        ServerMessage::Nudge,
        ServerMessage::Reply {
            seq: 3,
            n_ack: 9,
            m_first: 2,
            edits: vec![delta],
            hash: 42,
            failures: vec![],
        },
        ServerMessage::Reply {
            seq: 4,
            n_ack: 9,
            m_first: 3,
            edits: vec![],
            hash: 1,
            failures: vec![Failure {
                n: 8,
                dropped: "lost 🍊\r\n".into(),
            }],
        },
        ServerMessage::Resync {
            seq: 5,
            n: 9,
            m: 3,
            text: "whole text é\r\n".into(),
            hash: hash("whole text é\r\n"),
        },
        ServerMessage::Error {
            code: 5,
            message: "delta covers 3 code points but the text has 4".into(),
        },
    ];
    let mut valid = Vec::new();
    for message in &client {
        valid.push(
            json!({"direction": "client", "message": message, "hex": hex(&encode_client(message))}),
        );
    }
    for message in &server {
        valid.push(
            json!({"direction": "server", "message": message, "hex": hex(&encode_server(message))}),
        );
    }
    let invalid_cases: &[(&str, &str)] = &[
        ("client", ""),
        ("client", "7f"),
        ("client", "0105ff"),
        ("client", "02010101"),
        ("client", "0201010101"),
        ("client", "02010101010300000000000000000000"),
        ("server", "81010101ff03"),
        ("server", "82010101ffff"),
        ("server", "8300"),
        ("server", "0101"),
    ];
    let mut invalid = Vec::new();
    for (direction, hex_text) in invalid_cases {
        let bytes = unhex(hex_text);
        let error = if *direction == "client" {
            decode_client(&bytes).expect_err("invalid client message")
        } else {
            decode_server(&bytes).expect_err("invalid server message")
        };
        invalid.push(json!({"direction": direction, "hex": hex_text, "error": error.kind()}));
    }
    check_or_write(
        "messages.json",
        &json!({"valid": valid, "invalid": invalid}),
    );
}

/// Cluster boundaries as the merge sees them: both engines' segmenters (unicode-segmentation here, `Intl.Segmenter` in
/// TypeScript) must agree on every one, and on the windowed checks the merge makes.
#[test]
fn graphemes() {
    let mut rng = Rng(6);
    let mut texts: Vec<String> = CLUSTER_PIECES
        .iter()
        .map(|piece| piece.to_string())
        .collect();
    texts.push("🇫🇷".repeat(25));
    texts.push(format!("x{}", "🇫🇷".repeat(25)));
    texts.push(format!("e{}", "\u{301}".repeat(40)));
    for _ in 0..150 {
        texts.push(cluster_text(&mut rng, 14));
    }
    let vectors: Vec<Value> = texts
        .iter()
        .map(|text| {
            let doc = orrery_sync::Text::new(text);
            let windowed: Vec<usize> = (0..=doc.len())
                .filter(|pos| orrery_sync::grapheme::boundary_at(&doc, *pos))
                .collect();
            json!({"text": text, "boundaries": orrery_sync::grapheme::boundaries(text), "windowed": windowed})
        })
        .collect();
    check_or_write("graphemes.json", &Value::Array(vectors));
}

/// A recorded session of two clients and a server over a lossy, duplicating network, with a server restart in the
/// middle. Every step lists what the engine did; a twin replays the inputs and must produce the same bytes and texts.
#[test]
fn sessions() {
    record_session(
        "sessions.json",
        4,
        "Shared text 🍊\r\nsecond line\n",
        160,
        None,
    );
}

/// Two people typing whole clusters and single code points at one spot (PROTOCOL.md §2, "Merging"), their cursors
/// following remote changes: ties, the run rule and the cluster rules, recorded byte for byte like `sessions`.
#[test]
fn merges() {
    record_session("merges.json", 7, "Here:[] after 🇫🇷\r\n", 400, Some(6));
}

/// Where a person's cursor goes through a remote change: it stays before text inserted exactly at it.
fn map_cursor(delta: &Delta, position: usize) -> usize {
    let (mut base, mut out) = (0, 0);
    for op in delta.ops() {
        match op {
            Op::Retain(n) if position < base + n => return out + position - base,
            Op::Retain(n) => {
                base += n;
                out += n;
            }
            Op::Delete(n) if position < base + n => return out,
            Op::Delete(n) => base += n,
            Op::Insert(_) if position == base => return out,
            Op::Insert(text) => out += text.chars().count(),
        }
    }
    out
}

/// Records two clients and a server over a lossy, duplicating network with a server restart at tick 99. With a
/// `spot`, both type clusters (or their code points) at cursors that start there; otherwise they edit anywhere.
fn record_session(name: &str, seed: u64, initial: &str, ticks: u64, spot: Option<usize>) {
    let mut rng = Rng(seed);
    let limits = Limits::default();
    let mut cursors = [spot.unwrap_or(0); 2];
    let mut doc = Document::new(initial, limits.clone()).expect("fits");
    let mut clients = [Client::new(), Client::new()];
    let mut wire: Vec<(bool, u64, Vec<u8>)> = Vec::new();
    let mut steps = Vec::new();
    for tick in 0..ticks {
        let index = rng.below(2);
        match rng.below(10) {
            0..=3 if spot.is_some() && !clients[index].is_synced() => {}
            0..=3 => {
                let len = clients[index].text_ref().len();
                let (pos, del, ins) = if spot.is_some() {
                    let cluster = CLUSTER_PIECES[rng.below(10)];
                    let ins = if rng.chance(30) {
                        cluster.chars().take(1).collect()
                    } else {
                        cluster.to_string()
                    };
                    let pos = cursors[index].min(len);
                    cursors[index] = pos + ins.chars().count();
                    (pos, 0, ins)
                } else {
                    let pos = rng.below(len + 1);
                    (
                        pos,
                        rng.below((len - pos).min(3) + 1),
                        random_text(&mut rng, 3),
                    )
                };
                clients[index].splice(pos, del, &ins).expect("in range");
                steps.push(json!({"step": "edit", "client": index, "pos": pos, "del": del, "ins": ins, "text": clients[index].text()}));
            }
            4..=5 => {
                let message = clients[index].poll();
                let bytes = message.as_ref().map(encode_client);
                steps.push(
                    json!({"step": "poll", "client": index, "hex": bytes.as_ref().map(|b| hex(b))}),
                );
                if let Some(bytes) = bytes {
                    if rng.below(5) > 0 {
                        wire.push((true, index as u64, bytes.clone()));
                    }
                    if rng.below(5) == 0 {
                        wire.push((true, index as u64, bytes));
                    }
                }
            }
            6..=8 if !wire.is_empty() => {
                let (to_server, client, bytes) = wire.remove(rng.below(wire.len()));
                if to_server {
                    let outcome = doc
                        .receive(client, decode_client(&bytes).expect("decodes"), tick)
                        .expect("handled");
                    let reply = outcome.reply.as_ref().map(encode_server);
                    steps.push(json!({
                        "step": "server_receive", "client": client, "hex": hex(&bytes),
                        "reply": reply.as_ref().map(|b| hex(b)), "nudge": outcome.nudge, "text": doc.text(),
                    }));
                    if let Some(reply) = reply {
                        wire.push((false, client, reply));
                    }
                    for other in outcome.nudge {
                        wire.push((false, other, encode_server(&ServerMessage::Nudge)));
                    }
                } else {
                    let was_synced = clients[client as usize].is_synced();
                    let events = clients[client as usize]
                        .receive(decode_server(&bytes).expect("decodes"))
                        .expect("handled");
                    for event in &events {
                        if let ClientEvent::Changed { delta } = event {
                            cursors[client as usize] = if was_synced {
                                map_cursor(delta, cursors[client as usize])
                            } else {
                                spot.unwrap_or(0)
                            };
                        }
                    }
                    let failed: Vec<String> = events
                        .iter()
                        .filter_map(|event| match event {
                            ClientEvent::Failed { dropped, .. } => Some(dropped.clone()),
                            _ => None,
                        })
                        .collect();
                    steps.push(json!({
                        "step": "client_receive", "client": client, "hex": hex(&bytes),
                        "text": clients[client as usize].text(), "synced": clients[client as usize].is_synced(), "failed": failed,
                    }));
                }
            }
            9 if tick == 99 => {
                doc = Document::restore(&doc.text(), doc.applied_versions(), limits.clone())
                    .expect("fits");
                wire.clear();
                steps.push(json!({"step": "server_restart"}));
            }
            9 => {
                steps.push(json!({"step": "retransmit", "client": index, "hex": clients[index].retransmit().map(|m| hex(&encode_client(&m)))}));
                if let Some(message) = clients[index].retransmit() {
                    wire.push((true, index as u64, encode_client(&message)));
                }
            }
            _ => {}
        }
    }
    check_or_write(name, &json!({"initial": initial, "steps": steps}));
}

/// Each editing trace replayed by one client syncing every 10 edits: checkpoints of the shadow's length and hash.
#[test]
fn traces() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/editing-traces");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("the editing traces are in tests/data/editing-traces")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json.gz"))
        .collect();
    names.sort();
    let mut result = serde_json::Map::new();
    for name in names {
        let trace =
            Trace::parse_gz(&std::fs::read(dir.join(&name)).expect("readable")).expect("parses");
        let mut doc = Document::new(&trace.start_content, Limits::default()).expect("fits");
        let mut client = Client::new();
        let mut checkpoints = Vec::new();
        let exchange = |client: &mut Client, doc: &mut Document| {
            while let Some(message) = client.poll() {
                let reply = doc
                    .receive(1, message, 0)
                    .expect("handled")
                    .reply
                    .expect("a reply");
                client.receive(reply).expect("handled");
            }
        };
        exchange(&mut client, &mut doc);
        for (index, txn) in trace.txns.iter().enumerate() {
            for (pos, del, ins) in txn {
                client
                    .splice(*pos, *del, ins)
                    .expect("trace edits are in range");
            }
            if (index + 1) % 10 == 0 || index + 1 == trace.txns.len() {
                exchange(&mut client, &mut doc);
            }
            if (index + 1) % 5000 == 0 || index + 1 == trace.txns.len() {
                let shadow = client.shadow();
                checkpoints.push(json!({"edit_index": index + 1, "length": shadow.len(), "hash": format!("{:016x}", shadow.hash())}));
            }
        }
        assert_eq!(
            client.text(),
            trace.end_content,
            "{name}: the replay must end with the trace's final text"
        );
        assert_eq!(
            doc.text(),
            trace.end_content,
            "{name}: the server must end with the trace's final text"
        );
        result.insert(name, Value::Array(checkpoints));
    }
    check_or_write("traces.json", &Value::Object(result));
}
