#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! Deterministic simulation of many clients and one server over a lossy network, replayable from a printed seed.
//!
//! Each run prints `seed=…`; `SIM_SEED=<seed> cargo test -p orrery-sync --test simulation -- --nocapture` replays one.
//! The network loses, duplicates and delays messages; clients reconnect; the server forgets views and restarts from
//! its saved text. At quiescence every client's text must equal the server's, the server's history must replay to its
//! text, every acknowledged edit must be in the history or reported, and every token a client typed must be in the
//! final text exactly once unless its loss was reported.

use std::collections::{BTreeMap, BTreeSet};

use orrery_sync::trace::Trace;
use orrery_sync::wire::{decode_client, decode_server, encode_client, encode_server};
use orrery_sync::{
    Author, Client, ClientEvent, Delta, Document, HistoryEntry, Limits, ServerMessage, Stats,
};

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edits {
    /// Random splices of emoji, CRLF and accented filler, each insert carrying a unique token.
    Random,
    /// Edits taken from a recorded human trace, positions clamped to each client's text.
    Trace,
}

#[derive(Debug, Clone)]
struct Plan {
    clients: usize,
    ticks: u64,
    edits: Edits,
    loss: u64,
    duplication: u64,
    max_delay: u64,
    edit_percent: u64,
    /// Server limits; a short revision log forces the diff path for concurrent edits.
    limits: Limits,
}

#[derive(Debug)]
struct Packet {
    at: u64,
    to_server: bool,
    client: u64,
    bytes: Vec<u8>,
}

struct SimClient {
    client: Client,
    sent_at: u64,
    next_token: u64,
    typed_tokens: Vec<char>,
    reported: Vec<String>,
    trace_cursor: usize,
}

struct Sim {
    rng: Rng,
    plan: Plan,
    doc: Document,
    clients: Vec<SimClient>,
    network: Vec<Packet>,
    history: Vec<HistoryEntry>,
    initial_text: String,
    now: u64,
    lossy: bool,
    trace: Option<Trace>,
    /// Server counters summed over restarts.
    stats: Stats,
    resync_reasons: BTreeMap<String, u64>,
}

const FILLER: &[&str] = &["a", "b", "é", " ", "🍊", "\r\n", "\n", "x", "ü", "🌊", "z"];

impl Sim {
    fn new(seed: u64, plan: Plan, trace: Option<Trace>) -> Sim {
        let initial_text = "Hello, world!\r\nThis is the starting text 🍊.\n".to_string();
        let clients = (0..plan.clients)
            .map(|index| SimClient {
                client: Client::new(),
                sent_at: 0,
                next_token: 0,
                typed_tokens: Vec::new(),
                reported: Vec::new(),
                trace_cursor: index * 997,
            })
            .collect();
        Sim {
            rng: Rng(seed),
            doc: Document::new(&initial_text, plan.limits.clone()).expect("initial text fits"),
            plan,
            clients,
            network: Vec::new(),
            history: Vec::new(),
            initial_text,
            now: 0,
            lossy: true,
            trace,
            stats: Stats::default(),
            resync_reasons: BTreeMap::new(),
        }
    }

    fn send(&mut self, to_server: bool, client: u64, bytes: Vec<u8>) {
        if self.lossy && self.rng.chance(self.plan.loss) {
            return;
        }
        let copies = if self.lossy && self.rng.chance(self.plan.duplication) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if self.lossy {
                1 + self.rng.below(self.plan.max_delay as usize) as u64
            } else {
                1
            };
            self.network.push(Packet {
                at: self.now + delay,
                to_server,
                client,
                bytes: bytes.clone(),
            });
        }
    }

    fn client_edit(&mut self, index: usize) {
        let edits = self.plan.edits;
        let rng = &mut self.rng;
        let sim_client = &mut self.clients[index];
        let text: Vec<char> = sim_client.client.text().chars().collect();
        let len = text.len();
        let (pos, del, ins) = match edits {
            Edits::Random => {
                let pos = rng.below(len + 1);
                // Deletions skip tokens, so a token can only vanish through a reported failure.
                let mut del = if rng.chance(40) {
                    rng.below(6).min(len - pos)
                } else {
                    0
                };
                if let Some(offset) = text[pos..pos + del].iter().position(|c| is_token(*c)) {
                    del = offset;
                }
                let mut ins = String::new();
                for _ in 0..rng.below(4) {
                    ins.push_str(FILLER[rng.below(FILLER.len())]);
                }
                if rng.chance(70) {
                    let token = token(index, sim_client.next_token);
                    sim_client.next_token += 1;
                    ins.push(token);
                    sim_client.typed_tokens.push(token);
                }
                (pos, del, ins)
            }
            Edits::Trace => {
                let Some(trace) = &self.trace else { return };
                let txn = &trace.txns[sim_client.trace_cursor % trace.txns.len()];
                sim_client.trace_cursor += 1;
                let Some((pos, del, ins)) = txn.first() else {
                    return;
                };
                let pos = (*pos).min(len);
                (pos, (*del).min(len - pos), ins.clone())
            }
        };
        sim_client
            .client
            .splice(pos, del, &ins)
            .expect("sim splices are in range");
    }

    fn poll_clients(&mut self) {
        for index in 0..self.clients.len() {
            let message = self.clients[index].client.poll();
            if let Some(message) = message {
                self.clients[index].sent_at = self.now;
                self.send(true, index as u64, encode_client(&message));
            } else if self.clients[index].client.in_flight()
                && self.now - self.clients[index].sent_at > 12
            {
                if let Some(message) = self.clients[index].client.retransmit() {
                    self.clients[index].sent_at = self.now;
                    self.send(true, index as u64, encode_client(&message));
                }
            }
        }
    }

    fn deliver(&mut self) {
        let mut due: Vec<Packet> = Vec::new();
        let mut index = 0;
        while index < self.network.len() {
            if self.network[index].at <= self.now {
                due.push(self.network.swap_remove(index));
            } else {
                index += 1;
            }
        }
        // swap_remove scrambles order; a seeded shuffle makes the reordering deliberate and replayable.
        for i in (1..due.len()).rev() {
            let j = self.rng.below(i + 1);
            due.swap(i, j);
        }
        let watch = std::env::var("SIM_WATCH").ok();
        for packet in due {
            if let Some(token) = &watch {
                let before: Vec<bool> = self
                    .clients
                    .iter()
                    .map(|c| c.client.text().contains(token.as_str()))
                    .collect();
                let server_before = self.doc.text().contains(token.as_str());
                let description = if packet.to_server {
                    format!("{:?}", decode_client(&packet.bytes))
                } else {
                    format!("{:?}", decode_server(&packet.bytes))
                };
                self.deliver_one(packet);
                let after: Vec<bool> = self
                    .clients
                    .iter()
                    .map(|c| c.client.text().contains(token.as_str()))
                    .collect();
                let server_after = self.doc.text().contains(token.as_str());
                if server_before && !server_after {
                    println!("server lost it; server text now: {:?}", self.doc.text());
                }
                if before != after || server_before != server_after {
                    println!("t={} server {server_before}->{server_after} clients {before:?}->{after:?} after {}", self.now, description.chars().take(400).collect::<String>());
                }
            } else {
                self.deliver_one(packet);
            }
        }
    }

    fn deliver_one(&mut self, packet: Packet) {
        {
            if packet.to_server {
                let message = decode_client(&packet.bytes).expect("client messages decode");
                let outcome = self
                    .doc
                    .receive(packet.client, message, self.now)
                    .expect("server handles every message");
                self.history.extend(outcome.history);
                if let Some(reason) = &outcome.resync {
                    *self
                        .resync_reasons
                        .entry(format!("{reason:?}"))
                        .or_default() += 1;
                }
                if let Some(reply) = outcome.reply {
                    self.send(false, packet.client, encode_server(&reply));
                }
                for other in outcome.nudge {
                    self.send(false, other, encode_server(&ServerMessage::Nudge));
                }
            } else {
                let message = decode_server(&packet.bytes).expect("server messages decode");
                let sim_client = &mut self.clients[packet.client as usize];
                for event in sim_client
                    .client
                    .receive(message)
                    .expect("client handles every message")
                {
                    match event {
                        ClientEvent::Failed { dropped, .. } => sim_client.reported.push(dropped),
                        ClientEvent::ServerError { code, message } => {
                            panic!("server error {code}: {message}")
                        }
                        ClientEvent::Changed { .. } | ClientEvent::ResyncNeeded { .. } => {}
                    }
                }
            }
        }
    }

    fn disturb(&mut self) {
        if self.rng.chance(2) {
            // A client's connection drops: whatever was on the wire for it is gone; it sends again.
            let client = self.rng.below(self.clients.len()) as u64;
            self.network.retain(|packet| packet.client != client);
            self.clients[client as usize].sent_at = 0;
        }
        if self.rng.chance(1) {
            let client = self.rng.below(self.clients.len()) as u64;
            self.doc.forget_view(client);
        }
        if self.rng.chance(1) {
            // The server process dies and restarts from what it saved: the text and the applied versions.
            self.add_stats();
            let saved_text = self.doc.text();
            let saved_versions = self.doc.applied_versions();
            self.doc = Document::restore(&saved_text, saved_versions, Limits::default())
                .expect("saved text fits");
            self.network.clear();
            for sim_client in &mut self.clients {
                sim_client.sent_at = 0;
            }
        }
    }

    fn run(&mut self) {
        for _ in 0..self.plan.ticks {
            self.now += 1;
            for index in 0..self.clients.len() {
                if self.rng.chance(self.plan.edit_percent) {
                    self.client_edit(index);
                }
                if self.rng.chance(5) {
                    self.clients[index].client.request_sync();
                }
            }
            self.poll_clients();
            self.deliver();
            self.disturb();
        }
        // Quiescence: the network heals, nobody types, everyone syncs until nothing changes.
        self.lossy = false;
        for _ in 0..400 {
            self.now += 1;
            for sim_client in &mut self.clients {
                if !sim_client.client.in_flight() {
                    sim_client.client.request_sync();
                }
            }
            self.poll_clients();
            self.deliver();
            let server = self.doc.text();
            if self.network.is_empty()
                && self.clients.iter().all(|c| {
                    !c.client.in_flight()
                        && !c.client.has_unacknowledged()
                        && c.client.text() == server
                })
            {
                return;
            }
        }
    }

    fn add_stats(&mut self) {
        let stats = self.doc.stats();
        self.stats.edits_applied += stats.edits_applied;
        self.stats.fast_path += stats.fast_path;
        self.stats.transformed += stats.transformed;
        self.stats.diffed += stats.diffed;
        self.stats.failures += stats.failures;
        self.stats.resyncs += stats.resyncs;
    }

    fn check(&mut self, seed: u64) {
        self.add_stats();
        let server = self.doc.text();
        for (index, sim_client) in self.clients.iter().enumerate() {
            assert!(
                sim_client.client.is_synced(),
                "seed={seed}: client {index} never synced"
            );
            assert_eq!(
                sim_client.client.text(),
                server,
                "seed={seed}: client {index} diverged from the server"
            );
            assert!(
                !sim_client.client.has_unacknowledged(),
                "seed={seed}: client {index} still has unacknowledged edits"
            );
        }
        // The history is the record of every applied change: it must replay to the server's text.
        let mut replay = self.initial_text.clone();
        let mut applied: BTreeSet<(u64, u64)> = BTreeSet::new();
        for entry in &self.history {
            replay = entry.delta.apply_str(&replay).unwrap_or_else(|error| {
                panic!("seed={seed}: history entry does not apply: {error}")
            });
            if let Author::Client { id, version } = entry.author {
                applied.insert((id, version));
            }
        }
        assert_eq!(
            replay, server,
            "seed={seed}: history does not replay to the server text"
        );
        if self.plan.edits == Edits::Random {
            let reported: String = self
                .clients
                .iter()
                .flat_map(|c| c.reported.iter().map(String::as_str))
                .collect();
            let mut counts: BTreeMap<char, usize> = BTreeMap::new();
            for c in server.chars().filter(|c| is_token(*c)) {
                *counts.entry(c).or_default() += 1;
            }
            for sim_client in &self.clients {
                for token in &sim_client.typed_tokens {
                    let count = counts.get(token).copied().unwrap_or(0);
                    assert!(
                        count <= 1,
                        "seed={seed}: token {token:?} appears {count} times: text was duplicated"
                    );
                    assert!(
                        count == 1 || reported.contains(*token),
                        "seed={seed}: token {token:?} vanished without a reported failure"
                    );
                }
            }
        }
        let stats = self.stats;
        let reported: usize = self.clients.iter().map(|c| c.reported.len()).sum();
        println!(
            "seed={seed} clients={} edits={:?} history={} distinct_client_edits={} resyncs={:?} stats={stats:?} reported={reported} final_len={}",
            self.clients.len(),
            self.plan.edits,
            self.history.len(),
            applied.len(),
            self.resync_reasons,
            server.chars().count()
        );
    }
}

/// A token is one code point from a private-use plane: unique per client and edit, astral (two UTF-16 units in the
/// TypeScript twin), and impossible for a diff to split.
fn token(client: usize, serial: u64) -> char {
    char::from_u32(0xF0000 + (client as u32) * 1200 + serial as u32)
        .expect("private-use code point")
}

fn is_token(c: char) -> bool {
    ('\u{F0000}'..='\u{FFFFD}').contains(&c)
}

fn seeds(default: &[u64]) -> Vec<u64> {
    match std::env::var("SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIM_SEED is a number")],
        Err(_) => default.to_vec(),
    }
}

fn plan(clients: usize, edits: Edits, ticks: u64, edit_percent: u64) -> Plan {
    Plan {
        clients,
        ticks,
        edits,
        loss: 20,
        duplication: 20,
        max_delay: 6,
        edit_percent,
        limits: Limits::default(),
    }
}

fn automerge_trace() -> Trace {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/editing-traces/automerge-paper.json.gz"
    );
    let bytes = std::fs::read(path).expect("the editing traces are in tests/data/editing-traces");
    Trace::parse_gz(&bytes).expect("the trace parses")
}

#[test]
fn two_clients_random_edits() {
    for seed in seeds(&[1, 2, 3, 4, 5, 6, 7, 8]) {
        let mut sim = Sim::new(seed, plan(2, Edits::Random, 400, 30), None);
        sim.run();
        sim.check(seed);
    }
}

#[test]
fn ten_clients_random_edits() {
    for seed in seeds(&[11, 12, 13, 14]) {
        let mut sim = Sim::new(seed, plan(10, Edits::Random, 300, 10), None);
        sim.run();
        sim.check(seed);
    }
}

#[test]
fn fifty_clients_random_edits() {
    for seed in seeds(&[21, 22]) {
        let mut sim = Sim::new(seed, plan(50, Edits::Random, 200, 3), None);
        sim.run();
        sim.check(seed);
    }
}

#[test]
fn ten_clients_with_a_short_log_take_the_diff_path() {
    for seed in seeds(&[61, 62, 63]) {
        let mut plan = plan(10, Edits::Random, 300, 10);
        plan.limits.max_log = 0;
        let mut sim = Sim::new(seed, plan, None);
        sim.run();
        sim.check(seed);
        assert!(
            sim.stats.diffed > 0,
            "seed={seed}: the short log never forced a diff"
        );
    }
}

#[test]
fn an_edit_past_the_size_limit_is_refused_reported_and_reverted() {
    let limits = Limits {
        max_document_bytes: 64,
        ..Limits::default()
    };
    let mut doc = Document::new("small text", limits).expect("fits");
    let mut client = Client::new();
    let request = client.poll().expect("first message asks for the text");
    let resync = doc
        .receive(7, request, 0)
        .expect("handled")
        .reply
        .expect("a resync");
    client.receive(resync).expect("applied");
    client
        .splice(5, 0, &"x".repeat(100))
        .expect("the client accepts it locally");
    let sync = client.poll().expect("a sync with the edit");
    let outcome = doc.receive(7, sync, 1).expect("handled");
    assert_eq!(
        doc.text(),
        "small text",
        "the master must not grow past its limit"
    );
    assert_eq!(outcome.failures.len(), 1);
    assert_eq!(doc.stats().failures, 1);
    let events = client
        .receive(outcome.reply.expect("a reply"))
        .expect("applied");
    assert!(events
        .iter()
        .any(|event| matches!(event, ClientEvent::Failed { dropped, .. } if dropped.len() == 100)));
    assert_eq!(
        client.text(),
        "small text",
        "the refused edit is reverted on the client, and the user was told"
    );
}

#[test]
fn ten_clients_trace_edits() {
    let trace = automerge_trace();
    for seed in seeds(&[31, 32]) {
        let mut sim = Sim::new(seed, plan(10, Edits::Trace, 300, 40), Some(trace.clone()));
        sim.run();
        sim.check(seed);
    }
}

#[test]
fn fifty_clients_trace_edits() {
    let trace = automerge_trace();
    for seed in seeds(&[41]) {
        let mut sim = Sim::new(seed, plan(50, Edits::Trace, 150, 10), Some(trace.clone()));
        sim.run();
        sim.check(seed);
    }
}

/// One client types a whole recorded trace through loss, duplication, reconnects and server restarts: the result must be exactly the trace's final text.
#[test]
fn one_client_replays_a_trace_exactly_through_a_lossy_network() {
    let trace = automerge_trace();
    let txns = &trace.txns[..20_000];
    let mut expected = trace.start_content.clone();
    for txn in txns {
        for (pos, del, ins) in txn {
            expected = Delta::splice(expected.chars().count(), *pos, *del, ins)
                .and_then(|delta| delta.apply_str(&expected))
                .expect("trace edits are in range");
        }
    }
    for seed in seeds(&[51, 52]) {
        let mut sim = Sim::new(seed, plan(1, Edits::Trace, 0, 0), None);
        sim.doc = Document::new(&trace.start_content, Limits::default()).expect("fits");
        sim.initial_text = trace.start_content.clone();
        let mut cursor = 0;
        while cursor < txns.len() {
            sim.now += 1;
            for _ in 0..1 + sim.rng.below(20) {
                if let Some(txn) = txns.get(cursor) {
                    for (pos, del, ins) in txn {
                        sim.clients[0]
                            .client
                            .splice(*pos, *del, ins)
                            .expect("trace edits are in range");
                    }
                    cursor += 1;
                }
            }
            sim.poll_clients();
            sim.deliver();
            sim.disturb();
        }
        sim.run();
        sim.check(seed);
        assert_eq!(
            sim.doc.text(),
            expected,
            "seed={seed}: the replayed trace differs from the recorded one"
        );
        assert_eq!(
            sim.doc.stats().failures,
            0,
            "seed={seed}: a single typist's edits must all be applied"
        );
    }
}

#[test]
fn tokens_are_distinct_astral_code_points() {
    // The checker itself must be able to tell tokens apart.
    assert_ne!(token(0, 1), token(1, 0));
    assert!(is_token(token(49, 1199)));
    assert!(token(3, 5).len_utf16() == 2);
    assert!(!is_token('🍊'));
}
