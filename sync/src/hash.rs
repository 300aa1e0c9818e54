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
        let mut poly = Poly::EMPTY;
        for c in text.chars() {
            poly.push(c);
        }
        poly
    }

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

    /// The 64-bit value sent on the wire.
    pub fn value(self) -> u64 {
        (self.h1 << 32) | self.h2
    }
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
    fn one_character_changes_the_hash() {
        assert_ne!(hash("abc"), hash("abd"));
        assert_ne!(hash("ab"), hash("ba"));
        assert_ne!(hash("a"), hash("a\0"));
    }
}
