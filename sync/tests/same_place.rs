#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

//! Two or three people typing at the same place at the same time (PROTOCOL.md §2, "Merges as people mean them").
//!
//! Every client starts with its cursor at the same spot and types a run of keystrokes there, each keystroke its own
//! splice at the cursor and, whenever nothing is in flight, its own message; replies cross, the network delays,
//! reorders, loses and duplicates messages. Cursors follow remote changes as CodeMirror maps them: a cursor stays before
//! text inserted exactly at it (an editor that moved it past would make its user type after the other person's run,
//! and no merge rule can undo that). At quiescence the text must be the
//! starting text with each person's run inserted whole at that spot, in some order: nothing lost, nothing doubled, no
//! run interleaved with another, and no grapheme cluster (emoji with joiners, flags, combining marks) cut.
//! Each run prints `seed=…`; `SIM_SEED=<seed> cargo test --release -p orrery-sync --test same_place -- --nocapture` replays one.

use orrery_sync::wire::{decode_client, decode_server, encode_client, encode_server};
use orrery_sync::{Client, ClientEvent, Delta, Document, Limits, Op, ServerMessage};
use unicode_segmentation::UnicodeSegmentation;

#[path = "support/rng.rs"]
mod rng;
use rng::Rng;

/// What people type: single letters and whole grapheme clusters (an editor inserts an emoji or a flag in one go).
const CLUSTERS: &[&str] = &[
    "a",
    "b",
    "c",
    "x",
    "y",
    " ",
    "é",                      // precomposed
    "e\u{301}",               // e + combining acute
    "n\u{303}\u{323}",        // n + two combining marks
    "👩\u{200d}👩\u{200d}👧", // family: three emoji joined by ZWJ
    "🇫🇷",                     // France: two regional indicators
    "🇩🇪",
    "👍🏽",                       // emoji + skin tone modifier
    "1\u{fe0f}\u{20e3}",        // keycap one
    "\u{1112}\u{1161}\u{11ab}", // Hangul syllable as L V T jamo
    "\r\n",
];

const START: &str = "Before 🇫🇷 e\u{301}\r\nHere:[] after 👩\u{200d}👩\u{200d}👧\n";
/// The spot where everyone types: between the brackets.
fn spot() -> usize {
    START
        .find("[]")
        .map(|byte| START[..byte].chars().count() + 1)
        .expect("spot")
}

#[derive(Clone, Copy, Debug)]
struct Plan {
    clients: usize,
    keystrokes: usize,
    loss: u64,
    duplication: u64,
    max_delay: u64,
    /// Type each cluster one code point at a time (an input method that sends code points), not in one go.
    code_points: bool,
    /// Type each keystroke in front of the previous one (the cursor stays put): runs typed backwards. The cursor
    /// then stays with the person's own text after it (it moves past remote text inserted exactly at it); a cursor
    /// that stayed before such text would make the person type in front of the other run, as they would see it.
    backward: bool,
    /// Percent chance per tick that the server forgets a client's view (its next message gets a Resync).
    forget: u64,
    /// Server log length; 0 forces the diff path for every concurrent edit.
    max_log: usize,
}

struct Person {
    client: Client,
    cursor: usize,
    /// The keystrokes still to type, in order.
    to_type: Vec<String>,
    typed: String,
    sent_at: u64,
}

struct Packet {
    at: u64,
    to_server: bool,
    client: usize,
    bytes: Vec<u8>,
}

/// Maps a cursor through a delta, keeping it before text inserted exactly at it, or with `after`, past it.
fn map_cursor(delta: &Delta, position: usize, after: bool) -> usize {
    let (mut base, mut out) = (0, 0);
    for op in delta.ops() {
        match op {
            Op::Retain(n) => {
                if position < base + n {
                    return out + position - base;
                }
                base += n;
                out += n;
            }
            Op::Delete(n) => {
                if position < base + n {
                    return out;
                }
                base += n;
            }
            Op::Insert(text) => {
                if position == base && !after {
                    return out;
                }
                out += text.chars().count();
            }
        }
    }
    out
}

fn run(seed: u64, plan: Plan) -> (String, Vec<String>) {
    let mut rng = Rng(seed);
    let limits = Limits {
        max_log: plan.max_log,
        ..Limits::default()
    };
    let mut doc = Document::new(START, limits.clone()).expect("fits");
    let mut people: Vec<Person> = (0..plan.clients)
        .map(|_| {
            let keystrokes = (0..plan.keystrokes)
                .flat_map(|_| {
                    let cluster = CLUSTERS[rng.below(CLUSTERS.len())];
                    if plan.code_points {
                        cluster.chars().map(String::from).collect::<Vec<_>>()
                    } else {
                        vec![cluster.to_owned()]
                    }
                })
                .rev()
                .collect();
            Person {
                client: Client::with_limits(limits.clone()),
                cursor: spot(),
                to_type: keystrokes,
                typed: String::new(),
                sent_at: 0,
            }
        })
        .collect();
    // Everyone opens the document first, on a quiet network.
    for (index, person) in people.iter_mut().enumerate() {
        let request = person.client.poll().expect("asks for the text");
        let reply = doc.receive(index as u64, request, 0).expect("handled");
        person
            .client
            .receive(reply.reply.expect("a resync"))
            .expect("applied");
        assert_eq!(person.client.text(), START);
    }
    let mut network: Vec<Packet> = Vec::new();
    let mut now = 0;
    let mut quiet_rounds = 0;
    while quiet_rounds < 400 {
        now += 1;
        let typing = people.iter().any(|person| !person.to_type.is_empty());
        let lossy = typing;
        for person in people.iter_mut() {
            if !person.to_type.is_empty() && rng.chance(60) {
                let keystroke = person.to_type.pop().expect("not empty");
                person
                    .client
                    .splice(person.cursor, 0, &keystroke)
                    .expect("cursor in range");
                if plan.backward {
                    person.typed.insert_str(0, &keystroke);
                } else {
                    person.cursor += keystroke.chars().count();
                    person.typed.push_str(&keystroke);
                }
            }
        }
        for (index, person) in people.iter_mut().enumerate() {
            let message = match person.client.poll() {
                Some(message) => Some(message),
                None if person.client.in_flight() && now - person.sent_at > 12 => {
                    person.client.retransmit()
                }
                None if !typing && !person.client.in_flight() => {
                    person.client.request_sync();
                    person.client.poll()
                }
                None => None,
            };
            if let Some(message) = message {
                person.sent_at = now;
                send(
                    &mut network,
                    &mut rng,
                    plan,
                    lossy,
                    now,
                    true,
                    index,
                    encode_client(&message),
                );
            }
        }
        let mut due = Vec::new();
        let mut index = 0;
        while index < network.len() {
            if network[index].at <= now {
                due.push(network.swap_remove(index));
            } else {
                index += 1;
            }
        }
        for i in (1..due.len()).rev() {
            due.swap(i, rng.below(i + 1));
        }
        for packet in due {
            if packet.to_server {
                let message = decode_client(&packet.bytes).expect("decodes");
                let outcome = doc
                    .receive(packet.client as u64, message, now)
                    .expect("handled");
                if let Some(reply) = outcome.reply {
                    send(
                        &mut network,
                        &mut rng,
                        plan,
                        lossy,
                        now,
                        false,
                        packet.client,
                        encode_server(&reply),
                    );
                }
                for other in outcome.nudge {
                    let nudge = encode_server(&ServerMessage::Nudge);
                    send(
                        &mut network,
                        &mut rng,
                        plan,
                        lossy,
                        now,
                        false,
                        other as usize,
                        nudge,
                    );
                }
            } else {
                let person = &mut people[packet.client];
                let message = decode_server(&packet.bytes).expect("decodes");
                for event in person.client.receive(message).expect("handled") {
                    match event {
                        ClientEvent::Changed { delta } => {
                            person.cursor = map_cursor(&delta, person.cursor, plan.backward);
                        }
                        ClientEvent::Failed { dropped, .. } => {
                            panic!("seed={seed}: {dropped:?} refused")
                        }
                        ClientEvent::ServerError { code, message } => {
                            panic!("seed={seed}: error {code}: {message}")
                        }
                        ClientEvent::ResyncNeeded { .. } => {}
                    }
                }
            }
        }
        if typing && plan.forget > 0 && rng.chance(plan.forget) {
            doc.forget_view(rng.below(people.len()) as u64);
        }
        let settled = !typing
            && network.is_empty()
            && people.iter().all(|person| {
                !person.client.in_flight()
                    && !person.client.has_unacknowledged()
                    && person.client.text() == doc.text()
            });
        quiet_rounds = if settled {
            quiet_rounds + 100
        } else if typing {
            0
        } else {
            quiet_rounds + 1
        };
    }
    for (index, person) in people.iter().enumerate() {
        assert_eq!(
            person.client.text(),
            doc.text(),
            "seed={seed}: client {index} diverged"
        );
    }
    (
        doc.text(),
        people.into_iter().map(|person| person.typed).collect(),
    )
}

#[allow(clippy::too_many_arguments)]
fn send(
    network: &mut Vec<Packet>,
    rng: &mut Rng,
    plan: Plan,
    lossy: bool,
    now: u64,
    to_server: bool,
    client: usize,
    bytes: Vec<u8>,
) {
    if lossy && rng.chance(plan.loss) {
        return;
    }
    let copies = if lossy && rng.chance(plan.duplication) {
        2
    } else {
        1
    };
    for _ in 0..copies {
        network.push(Packet {
            at: now + 1 + rng.below(plan.max_delay as usize) as u64,
            to_server,
            client,
            bytes: bytes.clone(),
        });
    }
}

/// What the diff paths promise (a resync, or a revision log that no longer reaches back, learn the other side's changes
/// from a diff, which cannot tell two equal clusters apart): the text around the spot is intact and the spot holds
/// exactly the clusters people typed, none lost, doubled or cut. Returns whether the runs also stayed whole.
fn check_clusters(seed: u64, plan: Plan, text: &str, runs: &[String]) -> bool {
    let chars: Vec<char> = START.chars().collect();
    let before: String = chars[..spot()].iter().collect();
    let after: String = chars[spot()..].iter().collect();
    let middle = text
        .strip_prefix(&before)
        .and_then(|rest| rest.strip_suffix(&after))
        .unwrap_or_else(|| {
            panic!("seed={seed} {plan:?}: the text around the spot changed: {text:?}")
        });
    let mut found: Vec<&str> = middle.graphemes(true).collect();
    let mut typed: Vec<&str> = runs.iter().flat_map(|run| run.graphemes(true)).collect();
    found.sort_unstable();
    typed.sort_unstable();
    assert_eq!(
        found, typed,
        "seed={seed} {plan:?}: clusters were lost, doubled or cut: {middle:?} from {runs:?}"
    );
    permutations(runs.len()).iter().any(|order| {
        order
            .iter()
            .map(|index| runs[*index].as_str())
            .collect::<String>()
            == middle
    })
}

/// The final text must be the start with every run inserted whole at the spot, in some order, and every cluster of
/// the start and of each run must still be a cluster of the final text.
fn check(seed: u64, plan: Plan, text: &str, runs: &[String]) {
    let chars: Vec<char> = START.chars().collect();
    let before: String = chars[..spot()].iter().collect();
    let after: String = chars[spot()..].iter().collect();
    let shown = |runs: &[String]| {
        runs.iter()
            .map(|run| format!("{run:?}"))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let middle = text
        .strip_prefix(&before)
        .and_then(|rest| rest.strip_suffix(&after))
        .unwrap_or_else(|| {
            panic!("seed={seed} {plan:?}: the text around the spot changed: {text:?}")
        });
    let orders = permutations(runs.len());
    let order = orders.iter().find(|order| {
        order
            .iter()
            .map(|index| runs[*index].as_str())
            .collect::<String>()
            == middle
    });
    assert!(
        order.is_some(),
        "seed={seed} {plan:?}: the runs {} were lost, doubled or interleaved: the spot holds {middle:?}",
        shown(runs)
    );
    // Whole runs of whole clusters: each run's clusters, in order, must be clusters of the result.
    let expected: Vec<&str> = START[..before.len()]
        .graphemes(true)
        .chain(
            order
                .into_iter()
                .flatten()
                .flat_map(|index| runs[*index].graphemes(true)),
        )
        .chain(after.graphemes(true))
        .collect();
    let actual: Vec<&str> = text.graphemes(true).collect();
    assert_eq!(
        actual, expected,
        "seed={seed} {plan:?}: a grapheme cluster was cut"
    );
}

fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for rest in permutations(n - 1) {
        for slot in 0..=rest.len() {
            let mut order = rest.clone();
            order.insert(slot, n - 1);
            out.push(order);
        }
    }
    out
}

fn seeds(count: u64, first: u64) -> Vec<u64> {
    match std::env::var("SIM_SEED") {
        Ok(seed) => vec![seed.parse().expect("SIM_SEED is a number")],
        Err(_) => (first..first + count).collect(),
    }
}

fn plan(clients: usize) -> Plan {
    Plan {
        clients,
        keystrokes: 12,
        loss: 10,
        duplication: 10,
        max_delay: 6,
        code_points: false,
        backward: false,
        forget: 0,
        max_log: Limits::default().max_log,
    }
}

fn trials(first_seed: u64, count: u64, plan: Plan) {
    for seed in seeds(count, first_seed) {
        let (text, runs) = run(seed, plan);
        check(seed, plan, &text, &runs);
        println!("seed={seed} {plan:?}: {:?}", &text);
    }
}

/// Trials on a diff path: clusters always whole; returns how many trials kept every run whole too.
fn diff_trials(first_seed: u64, count: u64, plan: Plan) -> usize {
    let mut whole = 0;
    for seed in seeds(count, first_seed) {
        let (text, runs) = run(seed, plan);
        let kept = check_clusters(seed, plan, &text, &runs);
        println!("seed={seed} {plan:?} runs whole: {kept}: {text:?}");
        whole += usize::from(kept);
    }
    whole
}

#[test]
fn two_people_typing_clusters_at_one_spot_keep_their_runs_whole() {
    trials(1000, 60, plan(2));
}

#[test]
fn three_people_typing_at_one_spot_keep_their_runs_whole() {
    trials(2000, 30, plan(3));
}

#[test]
fn clusters_typed_one_code_point_at_a_time_are_not_cut() {
    trials(
        3000,
        40,
        Plan {
            code_points: true,
            ..plan(2)
        },
    );
}

#[test]
fn runs_typed_backwards_stay_whole() {
    trials(
        4000,
        40,
        Plan {
            backward: true,
            ..plan(2)
        },
    );
}

#[test]
fn long_runs_keep_whole() {
    trials(
        8000,
        10,
        Plan {
            keystrokes: 80,
            ..plan(2)
        },
    );
}

#[test]
fn a_perfect_network_keeps_runs_whole() {
    trials(
        5000,
        30,
        Plan {
            loss: 0,
            duplication: 0,
            max_delay: 3,
            ..plan(2)
        },
    );
}

#[test]
fn forgotten_views_resync_without_losing_or_cutting_anything() {
    let whole = diff_trials(
        6000,
        40,
        Plan {
            forget: 3,
            ..plan(2)
        },
    );
    println!("{whole} of 40 trials with resyncs kept every run whole");
}

#[test]
fn the_diff_path_loses_and_cuts_nothing() {
    let whole = diff_trials(
        7000,
        40,
        Plan {
            max_log: 0,
            ..plan(2)
        },
    );
    println!("{whole} of 40 trials on the diff path kept every run whole");
}

/// One client's message and its reply, delivered at once; `cursor` follows the remote changes.
fn cycle(doc: &mut Document, person: &mut Client, id: u64, cursor: &mut usize) {
    if let Some(message) = person.poll() {
        let outcome = doc.receive(id, message, 0).expect("handled");
        for event in person
            .receive(outcome.reply.expect("a reply"))
            .expect("applied")
        {
            if let ClientEvent::Changed { delta } = event {
                *cursor = map_cursor(&delta, *cursor, false);
            }
        }
    }
}

/// The case: one person's flag (or family, or accented letter) arrives as separate code points, one message
/// each, while another person types a letter at the same spot; the letter used to land inside the cluster.
#[test]
fn a_letter_typed_at_the_same_spot_never_lands_inside_anothers_cluster() {
    for (name, pieces) in [
        ("flag", vec!["🇫", "🇷"]),
        ("family", vec!["👩", "\u{200d}", "👩", "\u{200d}", "👧"]),
        ("accent", vec!["e", "\u{301}"]),
        ("keycap", vec!["1", "\u{fe0f}", "\u{20e3}"]),
    ] {
        let mut doc = Document::new("[]", Limits::default()).expect("fits");
        let (mut one, mut two) = (Client::new(), Client::new());
        let (mut at_one, mut at_two) = (1, 1);
        cycle(&mut doc, &mut one, 1, &mut at_one);
        cycle(&mut doc, &mut two, 2, &mut at_two);
        (at_one, at_two) = (1, 1); // both hold "[]" now, cursors between the brackets
                                   // Person one sends the first code point; person two, who has not seen it, types x at the same spot.
        one.splice(at_one, 0, pieces[0]).expect("in range");
        at_one += pieces[0].chars().count();
        cycle(&mut doc, &mut one, 1, &mut at_one);
        two.splice(at_two, 0, "x").expect("in range");
        at_two += 1;
        cycle(&mut doc, &mut two, 2, &mut at_two);
        // Then one sends the rest of its cluster at its cursor, each code point its own message; the first of them
        // was typed against a text without the x, so it crosses person two's letter on the server.
        for piece in &pieces[1..] {
            one.splice(at_one, 0, piece).expect("in range");
            at_one += piece.chars().count();
            cycle(&mut doc, &mut one, 1, &mut at_one);
        }
        for _ in 0..3 {
            one.request_sync();
            two.request_sync();
            cycle(&mut doc, &mut one, 1, &mut at_one);
            cycle(&mut doc, &mut two, 2, &mut at_two);
        }
        let cluster: String = pieces.concat();
        assert_eq!(one.text(), doc.text());
        assert_eq!(two.text(), doc.text());
        assert!(
            doc.text() == format!("[{cluster}x]") || doc.text() == format!("[x{cluster}]"),
            "{name}: the letter went inside the cluster: {:?}",
            doc.text()
        );
    }
}
