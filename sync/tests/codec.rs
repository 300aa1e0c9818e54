//! Property tests of the delta codec and algebra: round trips, strict lengths, and no panic on arbitrary bytes.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use orrery_sync::wire::{decode_client, decode_server, encode_client, encode_server};
use orrery_sync::{ClientMessage, Delta, Failure, Op, ServerMessage, Text};
use proptest::prelude::*;

fn text_strategy() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("a"),
            Just("b"),
            Just("é"),
            Just("🍊"),
            Just("\r\n"),
            Just(" "),
            Just("\u{0}")
        ],
        0..40,
    )
    .prop_map(|parts| parts.concat())
}

/// A random delta against a base of `len` code points.
fn delta_strategy(len: usize) -> impl Strategy<Value = Delta> {
    proptest::collection::vec((0usize..4, 0usize..6, text_strategy()), 0..8).prop_map(
        move |steps| {
            let mut ops = Vec::new();
            let mut left = len;
            for (kind, count, text) in steps {
                let count = count.min(left);
                match kind {
                    0 => {
                        ops.push(Op::Retain(count));
                        left -= count;
                    }
                    1 => {
                        ops.push(Op::Delete(count));
                        left -= count;
                    }
                    _ => ops.push(Op::Insert(text)),
                }
            }
            ops.push(Op::Retain(left));
            Delta::normalize(ops)
        },
    )
}

fn text_and_two_deltas() -> impl Strategy<Value = (String, Delta, Delta)> {
    text_strategy().prop_flat_map(|text| {
        let len = text.chars().count();
        (Just(text), delta_strategy(len), delta_strategy(len))
    })
}

/// A text, a delta on it, and a delta on the result.
fn composable() -> impl Strategy<Value = (String, Delta, Delta)> {
    text_strategy().prop_flat_map(|text| {
        let len = text.chars().count();
        (Just(text), delta_strategy(len)).prop_flat_map(|(text, first)| {
            let middle_len = first.target_len();
            (Just(text), Just(first), delta_strategy(middle_len))
        })
    })
}

proptest! {
    #[test]
    fn delta_bytes_round_trip((text, delta, _) in text_and_two_deltas()) {
        let mut bytes = Vec::new();
        delta.encode(&mut bytes);
        let decoded = Delta::decode(&bytes, 1 << 20).expect("own encoding decodes");
        prop_assert_eq!(&decoded, &delta);
        prop_assert_eq!(decoded.apply_str(&text), delta.apply_str(&text));
    }

    #[test]
    fn apply_to_text_matches_apply_to_string((text, delta, _) in text_and_two_deltas()) {
        let mut chunked = Text::new(&text);
        chunked.apply(&delta).expect("delta fits");
        let expected = delta.apply_str(&text).expect("delta fits");
        prop_assert_eq!(chunked.hash(), orrery_sync::hash(&expected));
        prop_assert_eq!(chunked.to_string(), expected);
    }

    #[test]
    fn compose_is_sequential_application((text, first, second) in composable()) {
        let middle = first.apply_str(&text).expect("fits");
        let composed = first.compose(&second).expect("lengths agree");
        prop_assert_eq!(composed.apply_str(&text).expect("fits"), second.apply_str(&middle).expect("fits"));
    }

    #[test]
    fn transform_converges((text, a, b) in text_and_two_deltas()) {
        let a_after_b = a.transform(&b, true).expect("same base");
        let b_after_a = b.transform(&a, false).expect("same base");
        let one = a_after_b.apply_str(&b.apply_str(&text).expect("fits")).expect("fits");
        let two = b_after_a.apply_str(&a.apply_str(&text).expect("fits")).expect("fits");
        prop_assert_eq!(one, two);
    }

    #[test]
    fn a_delta_for_another_length_is_rejected((text, delta, _) in text_and_two_deltas()) {
        let longer = format!("{text}x");
        prop_assert!(delta.apply_str(&longer).is_err());
        prop_assert!(Text::new(&longer).apply(&delta).is_err());
    }

    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Delta::decode(&bytes, 1 << 20);
        let _ = decode_client(&bytes);
        let _ = decode_server(&bytes);
    }

    #[test]
    fn messages_round_trip((_, a, b) in text_and_two_deltas(), seq in 0u64..1 << 53, hash in any::<u64>(), dropped in text_strategy()) {
        let client = ClientMessage::Sync { seq, m_ack: seq / 3, n_first: seq / 5, edits: vec![a.clone(), b.clone()], hash };
        prop_assert_eq!(decode_client(&encode_client(&client)), Ok(client));
        let server = ServerMessage::Reply { seq, n_ack: 1, m_first: 2, edits: vec![b, a], hash, failures: vec![Failure { n: 3, dropped }] };
        prop_assert_eq!(decode_server(&encode_server(&server)), Ok(server));
    }
}
