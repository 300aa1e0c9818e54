//! The shadow hash: two polynomial hashes over code points, composable so a chunked text keeps it up to date in O(edit).
//!
//! FNV-1a was the obvious pick, but it is sequential: every message would rehash the whole document.
//! A polynomial hash satisfies `h(a ++ b) = h(a) * B^len(b) + h(b)`, so each chunk of a text carries its own hash and
//! the document hash is a fold over chunks. Two 31-bit moduli keep the JavaScript twin in exact double arithmetic.

const P1: u64 = 2_147_483_647;
const B1: u64 = 911_382_323;
const P2: u64 = 2_147_483_629;
const B2: u64 = 972_663_749;

/// The hash of a run of code points: the two residues and the two powers `B^len` needed to append it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poly {
    h1: u64,
    h2: u64,
    pow1: u64,
    pow2: u64,
}

impl Default for Poly {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Poly {
    /// The hash of the empty text.
    pub const EMPTY: Poly = Poly {
        h1: 0,
        h2: 0,
        pow1: 1,
        pow2: 1,
    };

    /// Hashes a string's code points.
    pub fn of(text: &str) -> Poly {
        Poly::of_counted(text).0
    }

    /// Hashes a string's code points and counts them. The powers `B^len` are raised once at the end rather than
    /// multiplied per character, which halves the work on the server's hottest loop.
    pub fn of_counted(text: &str) -> (Poly, usize) {
        // Four code points per step: `h * B^4 + (a B^3 + b B^2 + c B + d)`, so the dependency chain through `h`
        // is one multiply and one reduction per four characters instead of per character.
        const B1_2: u64 = B1 * B1 % P1;
        const B1_3: u64 = B1_2 * B1 % P1;
        const B1_4: u64 = B1_3 * B1 % P1;
        const B2_2: u64 = B2 * B2 % P2;
        const B2_3: u64 = B2_2 * B2 % P2;
        const B2_4: u64 = B2_3 * B2 % P2;
        let (mut h1, mut h2, mut count) = (0u64, 0u64, 0usize);
        let mut buffer = [0u64; 4];
        let mut filled = 0;
        for c in text.chars() {
            buffer[filled] = c as u64 + 1;
            filled += 1;
            if filled == 4 {
                let [a, b, c, d] = buffer;
                h1 = mod1(h1 * B1_4 + mod1(a * B1_3 + b * B1_2 + c * B1 + d));
                h2 = mod2(h2 * B2_4 + mod2(a * B2_3 + b * B2_2 + c * B2 + d));
                filled = 0;
                count += 4;
            }
        }
        for v in &buffer[..filled] {
            h1 = mod1(h1 * B1 + v);
            h2 = mod2(h2 * B2 + v);
        }
        count += filled;
        let poly = Poly {
            h1,
            h2,
            pow1: power(B1, count as u64, mod1),
            pow2: power(B2, count as u64, mod2),
        };
        (poly, count)
    }

    /// The 64-bit value of `self ++ other`, without the powers a further concatenation would need.
    pub fn concat_value(h1: u64, h2: u64, other: Poly) -> (u64, u64) {
        (
            mod1(h1 * other.pow1 + other.h1),
            mod2(h2 * other.pow2 + other.h2),
        )
    }

    /// Packs the two residues into the wire value.
    pub fn pack(h1: u64, h2: u64) -> u64 {
        (h1 << 32) | h2
    }

    /// The 64-bit value sent on the wire.
    pub fn value(self) -> u64 {
        (self.h1 << 32) | self.h2
    }
}

/// Character-at-a-time hashing and full concatenation: the reference the fast paths are checked against.
#[cfg(test)]
impl Poly {
    /// Appends one code point.
    #[inline]
    pub fn push(&mut self, c: char) {
        let v = c as u64 + 1;
        self.h1 = mod1(self.h1 * B1 + v);
        self.h2 = mod2(self.h2 * B2 + v);
        self.pow1 = mod1(self.pow1 * B1);
        self.pow2 = mod2(self.pow2 * B2);
    }
    /// The hash of `self ++ other`.
    pub fn concat(self, other: Poly) -> Poly {
        Poly {
            h1: mod1(self.h1 * other.pow1 + other.h1),
            h2: mod2(self.h2 * other.pow2 + other.h2),
            pow1: mod1(self.pow1 * other.pow1),
            pow2: mod2(self.pow2 * other.pow2),
        }
    }
}

/// `base^exponent` under the given reduction.
fn power(base: u64, mut exponent: u64, reduce: fn(u64) -> u64) -> u64 {
    let (mut result, mut square) = (1u64, base);
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = reduce(result * square);
        }
        square = reduce(square * square);
        exponent >>= 1;
    }
    result
}

/// `x mod (2^31 - 1)` for `x < 2^63`, by folding the high bits (a Mersenne prime needs no division).
#[inline]
fn mod1(x: u64) -> u64 {
    let r = (x & P1) + (x >> 31);
    let r = (r & P1) + (r >> 31);
    if r >= P1 {
        r - P1
    } else {
        r
    }
}

/// `x mod (2^31 - 19)` for `x < 2^63`: `2^31` is congruent to 19.
#[inline]
fn mod2(x: u64) -> u64 {
    const LOW: u64 = (1 << 31) - 1;
    let r = (x & LOW) + 19 * (x >> 31);
    let mut r = (r & LOW) + 19 * (r >> 31);
    while r >= P2 {
        r -= P2;
    }
    r
}

/// The 64-bit shadow hash of a text.
pub fn hash(text: &str) -> u64 {
    Poly::of(text).value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_hashes_to_zero() {
        assert_eq!(hash(""), 0);
    }

    #[test]
    fn concatenation_matches_direct_hash() {
        let a = "héllo 🍊 wörld\r\n";
        let b = "more 🌊 text";
        assert_eq!(
            Poly::of(a).concat(Poly::of(b)),
            Poly::of(&format!("{a}{b}"))
        );
    }

    #[test]
    fn fast_reductions_match_division() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..100_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let value = x >> 1;
            assert_eq!(mod1(value), value % P1);
            assert_eq!(mod2(value), value % P2);
        }
        for value in [0, P1, P2, P1 * P1, P2 * P2 + P2, (1 << 63) - 1] {
            assert_eq!(mod1(value), value % P1);
            assert_eq!(mod2(value), value % P2);
        }
    }

    #[test]
    fn counted_hash_matches_pushing_one_by_one() {
        let text = "🍊 abc\r\n".repeat(50);
        let mut pushed = Poly::EMPTY;
        for c in text.chars() {
            pushed.push(c);
        }
        assert_eq!(Poly::of_counted(&text), (pushed, text.chars().count()));
    }

    #[test]
    fn one_character_changes_the_hash() {
        assert_ne!(hash("abc"), hash("abd"));
        assert_ne!(hash("ab"), hash("ba"));
        assert_ne!(hash("a"), hash("a\0"));
    }
}
