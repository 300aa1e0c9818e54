//! Grapheme cluster boundaries as merges see them (PROTOCOL.md §2, "Clusters").
//!
//! A boundary is an extended grapheme cluster boundary (UAX #29) of a window of the text: at most `WINDOW` code points
//! either side of the position, the window's ends counting as text ends. The window keeps every check O(1) on any
//! text and is part of the protocol, so both engines answer the same even for a cluster longer than the window.

use unicode_segmentation::UnicodeSegmentation;

use crate::text::Text;

/// Code points of context on each side of a position.
pub const WINDOW: usize = 32;

/// Anything a window can be cut from: a document text or a string's code points.
pub(crate) trait CodePoints {
    fn code_points(&self) -> usize;
    /// Code points `start..end` as a string.
    fn window(&self, start: usize, end: usize) -> String;
}

impl CodePoints for Text {
    fn code_points(&self) -> usize {
        self.len()
    }

    fn window(&self, start: usize, end: usize) -> String {
        self.slice(start, end)
    }
}

impl CodePoints for [char] {
    fn code_points(&self) -> usize {
        self.len()
    }

    fn window(&self, start: usize, end: usize) -> String {
        self[start..end].iter().collect()
    }
}

/// The cluster boundaries of a string, in code points, 0 and its length included.
pub fn boundaries(text: &str) -> Vec<usize> {
    let mut out = vec![0];
    let mut at = 0;
    for cluster in text.graphemes(true) {
        at += cluster.chars().count();
        out.push(at);
    }
    out
}

/// The window around `pos` and the boundaries in it, as absolute positions.
fn around<T: CodePoints + ?Sized>(text: &T, pos: usize) -> Vec<usize> {
    let start = pos.saturating_sub(WINDOW);
    let end = (pos + WINDOW).min(text.code_points());
    boundaries(&text.window(start, end))
        .into_iter()
        .map(|offset| start + offset)
        .collect()
}

/// True when `pos` is a cluster boundary of `text` as merges see it (through the window); for the shared vectors.
pub fn boundary_at(text: &Text, pos: usize) -> bool {
    is_boundary(text, pos)
}

/// True when `pos` is a cluster boundary of `text` (both ends are).
pub(crate) fn is_boundary<T: CodePoints + ?Sized>(text: &T, pos: usize) -> bool {
    pos == 0 || pos >= text.code_points() || around(text, pos).contains(&pos)
}

/// The first boundary at or after `pos`: the end of the cluster `pos` is inside, or `pos` itself.
pub(crate) fn cluster_end<T: CodePoints + ?Sized>(text: &T, pos: usize) -> usize {
    if is_boundary(text, pos) {
        return pos.min(text.code_points());
    }
    around(text, pos)
        .into_iter()
        .find(|boundary| *boundary >= pos)
        .unwrap_or(text.code_points())
}

/// The last boundary at or before `pos`: the start of the cluster `pos` is inside, or `pos` itself.
pub(crate) fn cluster_start<T: CodePoints + ?Sized>(text: &T, pos: usize) -> usize {
    if is_boundary(text, pos) {
        return pos.min(text.code_points());
    }
    around(text, pos)
        .into_iter()
        .rev()
        .find(|boundary| *boundary <= pos)
        .unwrap_or(0)
}

/// True when `piece`, inserted at `gap` of `text`, would continue the cluster before the gap (it starts with a
/// combining mark, a joiner, a modifier, the second half of a flag…) rather than start a cluster of its own.
pub(crate) fn continues(text: &Text, gap: usize, piece: &str) -> bool {
    if gap == 0 || piece.is_empty() {
        return false;
    }
    let start = gap.saturating_sub(WINDOW);
    let mut window = text.slice(start, gap);
    window.extend(piece.chars().take(WINDOW));
    !boundaries(&window).contains(&(gap - start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clusters_are_extended_grapheme_clusters() {
        assert_eq!(
            boundaries("a👩\u{200d}👩\u{200d}👧🇫🇷e\u{301}\r\n"),
            vec![0, 1, 6, 8, 10, 12]
        );
        let text = Text::new("x🇫🇷🇩🇪e\u{301}");
        assert!(is_boundary(&text, 3));
        assert!(!is_boundary(&text, 2));
        assert_eq!(cluster_end(&text, 2), 3);
        assert_eq!(cluster_start(&text, 6), 5);
        assert!(continues(&text, 5, "\u{301}"));
        assert!(!continues(&text, 5, "b"));
        assert!(continues(&Text::new("👩"), 1, "\u{200d}👧"));
    }

    #[test]
    fn a_window_bounds_the_context() {
        // 40 regional indicators: pairs from the text's start, but a window decides by its own start.
        let flags: String = "🇫🇷".repeat(20);
        let text = Text::new(&flags);
        assert!(is_boundary(&text, 2));
        assert_eq!(
            is_boundary(&text, 36),
            boundaries(&flags.chars().skip(4).collect::<String>()).contains(&32)
        );
    }
}
