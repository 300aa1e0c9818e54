//! The server-side emulator of one terminal: it remembers the screen and scrollback so that a viewer that attaches,
//! or that fell too far behind, can be sent a snapshot instead of the whole history.
//!
//! vt100 parses line-heavy output far slower than a PTY produces it (a few MB/s for `yes`), so output reaches it in
//! large batches (the stream queues it), and the middle of a long run of plain lines is left out when the rest of the
//! run scrolls it out of the screen and the scrollback anyway. [`skip_range`] states when that is exact; a test
//! checks it against parsing everything.

use std::num::NonZeroU16;

use crate::protocol::TerminalSize;

/// The largest snapshot with scrollback; well under the protocol's frame limit.
const MAX_SNAPSHOT: usize = 8 << 20;

/// A terminal's size as vt100 wants it; zero becomes one.
fn dimensions(size: TerminalSize) -> (NonZeroU16, NonZeroU16) {
    (
        NonZeroU16::new(size.rows).unwrap_or(NonZeroU16::MIN),
        NonZeroU16::new(size.cols).unwrap_or(NonZeroU16::MIN),
    )
}

/// The emulator.
pub(crate) struct Screen {
    parser: vt100::Parser,
    /// Output bytes taken so far: the stream position that a snapshot stands for.
    position: u64,
    /// Rows of scrollback the primary screen keeps (the alternate screen keeps none).
    scrollback: usize,
    /// The parsed output ends inside a run of plain bytes that has left any escape sequence behind, so the next batch
    /// may start skipping at once.
    settled: bool,
    /// Output bytes actually parsed, the rest having been skipped.
    parsed: u64,
}

impl std::fmt::Debug for Screen {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Screen")
            .field("size", &self.size())
            .field("position", &self.position)
            .finish()
    }
}

impl Screen {
    pub(crate) fn new(size: TerminalSize, scrollback: usize) -> Screen {
        let (rows, cols) = dimensions(size);
        Screen {
            parser: vt100::Parser::new(rows, cols, scrollback),
            position: 0,
            scrollback,
            settled: false,
            parsed: 0,
        }
    }

    /// Output bytes taken so far.
    pub(crate) fn position(&self) -> u64 {
        self.position
    }

    pub(crate) fn size(&self) -> TerminalSize {
        let (rows, cols) = self.parser.screen().size();
        TerminalSize {
            rows: rows.get(),
            cols: cols.get(),
        }
    }

    /// Takes a batch of output. The larger the batch, the more of it can be skipped.
    pub(crate) fn feed(&mut self, bytes: &[u8]) {
        self.position += bytes.len() as u64;
        self.parse(bytes);
    }

    /// Resizes; output taken so far was parsed at the old size.
    pub(crate) fn resize(&mut self, size: TerminalSize) {
        let (rows, cols) = dimensions(size);
        self.parser.set_size(rows, cols);
    }

    /// Bytes that, written to a fresh terminal of this size, reproduce the screen, the scrollback, the cursor and the
    /// input modes as of [`Screen::position`]. They start with a full reset, so they may also be written to a terminal
    /// that showed something else.
    pub(crate) fn snapshot(&mut self) -> Vec<u8> {
        let snapshot = self.write_snapshot(true);
        // A huge screen full of colour changes could pass the frame limit with its scrollback; not without it.
        if snapshot.len() > MAX_SNAPSHOT {
            return self.write_snapshot(false);
        }
        snapshot
    }

    fn write_snapshot(&mut self, with_scrollback: bool) -> Vec<u8> {
        let mut out = String::from("\x1bc");
        let alternate = self.parser.screen().alternate_screen();
        if alternate {
            // The primary screen is behind the alternate one: draw it from a copy switched back, then switch over.
            let (rows, cols) = self.parser.screen().size();
            let mut primary = vt100::Parser::new(rows, cols, 0);
            *primary.screen_mut() = self.parser.screen().clone();
            primary.process(b"\x1b[?1049l");
            write_primary(primary.screen_mut(), with_scrollback, &mut out);
            out.push_str("\x1b[?1049h");
            out.push_str(&self.parser.screen().contents_formatted());
        } else {
            write_primary(self.parser.screen_mut(), with_scrollback, &mut out);
        }
        out.push_str(&self.parser.screen().input_mode_formatted());
        out.into_bytes()
    }

    /// Parses `bytes`, leaving out what [`skip_range`] allows.
    fn parse(&mut self, bytes: &[u8]) {
        let (rows, _) = self.parser.screen().size();
        // The primary screen's scrollback even while the alternate screen shows: the run may switch back... it cannot
        // (a switch is an escape), but a batch may, so this stays the larger of the two.
        let keep_lines = usize::from(rows.get()) + self.scrollback + 2;
        let mut parsed = 0;
        let mut index = 0;
        while index < bytes.len() {
            if !is_plain(bytes[index]) {
                index += 1;
                continue;
            }
            let start = index;
            let end = bytes[start..]
                .iter()
                .position(|&byte| !is_plain(byte))
                .map_or(bytes.len(), |at| start + at);
            let run = &bytes[start..end];
            let settled = start == 0 && self.settled;
            if let Some((from, to)) = skip_range(run, settled, usize::from(rows.get()), keep_lines)
            {
                self.process(&bytes[parsed..start + from]);
                parsed = start + from;
                if self.cursor_on_fresh_row() {
                    parsed = start + to;
                }
            }
            if end == bytes.len() {
                self.settled = settled || settles(run).is_some();
            }
            index = end;
        }
        if bytes.last().is_some_and(|&byte| !is_plain(byte)) {
            self.settled = false;
        }
        self.process(&bytes[parsed..]);
    }

    fn process(&mut self, bytes: &[u8]) {
        self.parsed += bytes.len() as u64;
        self.parser.process(bytes);
    }

    /// True when the cursor is at the start of an empty row: after a line feed, that means the line feed scrolled.
    fn cursor_on_fresh_row(&self) -> bool {
        let screen = self.parser.screen();
        let (row, col) = screen.cursor_position();
        let (_, cols) = screen.size();
        col == 0
            && (0..cols.get()).all(|col| {
                screen
                    .cell(row, col)
                    .is_none_or(|cell| !cell.has_contents())
            })
    }
}

/// Writes the primary screen: its scrollback a page at a time, each page scrolled off the top with line feeds, then
/// the visible screen with its cursor and colours. A row that continues a wrapped one is written without moving the
/// cursor, so the terminal marks it wrapped too (except across a page boundary).
fn write_primary(screen: &mut vt100::Screen, with_scrollback: bool, out: &mut String) {
    let (rows, cols) = screen.size();
    let (rows, cols) = (usize::from(rows.get()), cols.get());
    let history = if with_scrollback {
        screen.scrollback_len()
    } else {
        0
    };
    let mut pushed = 0;
    while pushed < history {
        let remaining = history - pushed;
        let page = remaining.min(rows);
        // Viewed from `remaining` rows up, the top of the view is the oldest row not yet written.
        screen.set_scrollback(remaining);
        out.push_str("\x1b[m\x1b[H\x1b[2J");
        let continues: Vec<bool> = (0..page)
            .map(|index| {
                let above = index
                    .checked_sub(1)
                    .and_then(|above| u16::try_from(above).ok());
                above.is_some_and(|above| {
                    screen.row_wrapped(above)
                        && screen
                            .cell(above, cols - 1)
                            .is_some_and(|cell| cell.has_contents() || cell.is_wide_continuation())
                })
            })
            .collect();
        for (index, row) in screen.rows_formatted(0, cols).take(page).enumerate() {
            if continues[index] {
                out.push_str("\x1b[m");
            } else {
                out.push_str(&format!("\x1b[{};1H\x1b[m", index + 1));
            }
            out.push_str(&row);
        }
        out.push_str(&format!("\x1b[m\x1b[{rows};1H"));
        out.push_str(&"\n".repeat(page));
        pushed += page;
    }
    screen.set_scrollback(0);
    out.push_str(&screen.contents_formatted());
}

/// Bytes that change no terminal state but the cells they write and the cursor: printable text, UTF-8, tab, line
/// feed, carriage return and backspace. Escape, the other C0 controls, and 0x9C (which ends a DCS string) are not.
fn is_plain(byte: u8) -> bool {
    matches!(byte, b'\t' | b'\n' | b'\r' | 0x08 | 0x20..=0x9b | 0x9d..=0xff)
}

/// Where a run of plain bytes has left behind any escape sequence the parser was in when it began: after its second
/// final byte. One final byte ends a CSI or an escape with intermediates; after a bare ESC the first may open a CSI or
/// a string (`[`, `]`, `P`), so the second ends that CSI or is inside a string, whose text changes nothing on screen.
fn settles(run: &[u8]) -> Option<usize> {
    run.iter()
        .enumerate()
        .filter(|(_, byte)| (0x40..=0x7e).contains(*byte))
        .nth(1)
        .map(|(index, _)| index + 1)
}

/// Within a run of plain bytes, a range `from..to` that may be left out without changing the final screen or
/// scrollback, if there is one.
///
/// `from` follows the point where the run [`settles`] (its start, when `settled`), then `rows + 1` line ends, so
/// the cursor has reached the bottom of its scroll region; the caller parses up to `from` and skips only when the
/// cursor then sits on an empty row, proof that the last line feed scrolled (a cursor stuck below a scroll region
/// sits on the row it just wrote). From there on every line feed in the run scrolls, in the real history and in the
/// shortened one alike, and nothing in the run changes the pen, modes, tab stops or character sets. `to` is a line
/// end with `keep_lines` (at least rows + scrollback + 1) line feeds after it, so everything the skipped lines wrote
/// has scrolled out of the scrollback by the end of the run, and both histories meet in the same state.
fn skip_range(run: &[u8], settled: bool, rows: usize, keep_lines: usize) -> Option<(usize, usize)> {
    let lines_from = if settled { 0 } else { settles(run)? };
    let mut line_ends = 0;
    let mut line_written = false;
    let mut from = None;
    for index in lines_from..run.len() {
        match run[index] {
            b'\n' => {
                let crlf = index > 0 && run[index - 1] == b'\r';
                if crlf {
                    line_ends += 1;
                }
                if crlf && line_ends > rows && line_written {
                    from = Some(index + 1);
                    break;
                }
                line_written = false;
            }
            b'\r' | b'\t' | 0x08 => {}
            _ => line_written = true,
        }
    }
    let from = from?;
    let mut line_feeds = 0;
    for index in (from..run.len()).rev() {
        if run[index] == b'\n' {
            if line_feeds >= keep_lines && run[index - 1] == b'\r' {
                return (index + 1 > from).then_some((from, index + 1));
            }
            line_feeds += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small seeded generator, so a failure replays.
    struct Random(u64);

    impl Random {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }
    }

    const SIZE: TerminalSize = TerminalSize { rows: 6, cols: 20 };
    const SCROLLBACK: usize = 30;

    /// Terminal output of every kind that matters here: plain floods, colours, cursor moves, clears, scroll regions,
    /// the alternate screen, wide characters, tabs and backspaces.
    fn output(random: &mut Random, pieces: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for _ in 0..pieces {
            match random.below(15) {
                0..=4 => {
                    for line in 0..random.below(200) {
                        let len = random.below(30) as usize;
                        let text: String = (0..len)
                            .map(|at| (b'a' + ((line as usize + at) % 26) as u8) as char)
                            .collect();
                        out.extend_from_slice(text.as_bytes());
                        out.extend_from_slice(b"\r\n");
                    }
                }
                5 => out.extend_from_slice(format!("\x1b[{}m", 30 + random.below(8)).as_bytes()),
                6 => out.extend_from_slice(b"\x1b[0m"),
                7 => out.extend_from_slice(
                    format!("\x1b[{};{}H", 1 + random.below(6), 1 + random.below(20)).as_bytes(),
                ),
                8 => out.extend_from_slice(if random.below(2) == 0 {
                    b"\x1b[2J"
                } else {
                    b"\x1b[K"
                }),
                9 => {
                    let top = 1 + random.below(3);
                    out.extend_from_slice(
                        format!("\x1b[{};{}r", top, top + 1 + random.below(3)).as_bytes(),
                    );
                }
                10 => out.extend_from_slice(b"\x1b[r"),
                11 => out.extend_from_slice(if random.below(2) == 0 {
                    b"\x1b[?1049h"
                } else {
                    b"\x1b[?1049l"
                }),
                12 => out.extend_from_slice("wide 漢字\tand\x08back ".as_bytes()),
                13 => {
                    for number in 0..random.below(300) {
                        out.extend_from_slice(format!("{number}\r\n").as_bytes());
                    }
                }
                _ => out.extend_from_slice(b"partial line without an end "),
            }
        }
        out
    }

    fn full_parse(bytes: &[u8]) -> vt100::Parser {
        let (rows, cols) = dimensions(SIZE);
        let mut parser = vt100::Parser::new(rows, cols, SCROLLBACK);
        parser.process(bytes);
        parser
    }

    /// Everything a viewer could see: every cell of the scrollback and the screen with its attributes, the screen
    /// with its wrapping as escape codes, the cursor and the modes.
    fn visible_state(screen: &mut vt100::Screen) -> Vec<String> {
        let mut state = Vec::new();
        for offset in (0..=screen.scrollback_len()).rev() {
            screen.set_scrollback(offset);
            for row in 0..SIZE.rows {
                let cells: Vec<String> = (0..SIZE.cols)
                    .map(|col| match screen.cell(row, col) {
                        Some(cell) => format!(
                            "{}{:?}{:?}{}{}{}{}{}",
                            cell.contents(),
                            cell.fgcolor(),
                            cell.bgcolor(),
                            cell.bold(),
                            cell.dim(),
                            cell.italic(),
                            cell.underline(),
                            cell.inverse()
                        ),
                        None => "none".into(),
                    })
                    .collect();
                state.push(cells.join(","));
            }
        }
        screen.set_scrollback(0);
        state.push(format!("{:?}", screen.cursor_position()));
        state.push(screen.state_formatted());
        state.push(screen.alternate_screen().to_string());
        state
    }

    #[test]
    fn skipping_plain_lines_changes_nothing_visible() {
        for seed in 1..=300u64 {
            let mut random = Random(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            let bytes = output(&mut random, 40);
            let mut expected = full_parse(&bytes);
            let mut screen = Screen::new(SIZE, SCROLLBACK);
            // Fed in uneven pieces, parsed in uneven batches.
            let mut at = 0;
            while at < bytes.len() {
                let batch = (1 + random.below(12_000) as usize).min(bytes.len() - at);
                screen.feed(&bytes[at..at + batch]);
                at += batch;
            }
            assert_eq!(
                visible_state(screen.parser.screen_mut()),
                visible_state(expected.screen_mut()),
                "seed {seed}: skipping changed the screen"
            );
        }
    }

    #[test]
    fn a_flood_of_plain_lines_is_mostly_skipped() {
        let mut screen = Screen::new(SIZE, SCROLLBACK);
        let bytes = b"y\r\n".repeat(100_000);
        let (from, to) = skip_range(
            &bytes,
            false,
            usize::from(SIZE.rows),
            usize::from(SIZE.rows) + SCROLLBACK + 2,
        )
        .expect("a flood of lines has a range to skip");
        assert!(
            to - from > bytes.len() - 200,
            "skipped only {} of {} bytes",
            to - from,
            bytes.len()
        );
        screen.feed(&bytes);
        assert_eq!(
            visible_state(screen.parser.screen_mut()),
            visible_state(full_parse(&bytes).screen_mut())
        );
    }

    #[test]
    fn a_flood_of_numbers_is_skipped_across_batches() {
        // `seq`: no letters, so only the escape before it shows the parser where it stands; batches start mid-flood.
        let mut bytes = b"$ seq 1 200000\x1b[?2004l\r\n".to_vec();
        for number in 1..=200_000 {
            bytes.extend_from_slice(format!("{number}\r\n").as_bytes());
        }
        let mut screen = Screen::new(SIZE, SCROLLBACK);
        for batch in bytes.chunks(64 << 10) {
            screen.feed(batch);
        }
        assert!(
            screen.parsed < bytes.len() as u64 / 10,
            "parsed {} of {} bytes",
            screen.parsed,
            bytes.len()
        );
        assert_eq!(
            visible_state(screen.parser.screen_mut()),
            visible_state(full_parse(&bytes).screen_mut())
        );
    }

    #[test]
    fn a_cursor_stuck_below_a_scroll_region_is_not_skipped() {
        // Scroll region rows 1-3, cursor on the last row: line feeds there do not scroll, each line overwrites the last.
        let mut bytes = b"\x1b[1;3r\x1b[6;1H".to_vec();
        for line in 0..400 {
            // Short lines, long ones, then short ones again: the last row ends up showing a bit of each.
            let text = match line {
                0..=99 => "a".to_string(),
                100..=299 => format!("long line {line:>9}"),
                _ => "b".to_string(),
            };
            bytes.extend_from_slice(text.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
        let mut expected = full_parse(&bytes);
        let mut screen = Screen::new(SIZE, SCROLLBACK);
        screen.feed(&bytes);
        assert_eq!(
            visible_state(screen.parser.screen_mut()),
            visible_state(expected.screen_mut())
        );
    }

    /// Writes `snapshot` into a fresh terminal of the same size.
    fn replay(snapshot: &[u8]) -> vt100::Parser {
        full_parse(snapshot)
    }

    #[test]
    fn a_snapshot_reproduces_screen_scrollback_cursor_and_modes() {
        for seed in 1..=200u64 {
            let mut random = Random(seed.wrapping_mul(0x2545_f491_4f6c_dd1d) | 1);
            let mut bytes = output(&mut random, 25);
            if seed % 3 == 0 {
                bytes.extend_from_slice(b"\x1b[?1h\x1b[?2004h\x1b[?25l");
            }
            let mut screen = Screen::new(SIZE, SCROLLBACK);
            screen.feed(&bytes);
            let snapshot = screen.snapshot();
            let mut copy = replay(&snapshot);
            assert_eq!(
                visible_state(copy.screen_mut()),
                visible_state(screen.parser.screen_mut()),
                "seed {seed}: the snapshot does not reproduce the terminal"
            );
        }
    }

    #[test]
    fn a_snapshot_of_the_alternate_screen_keeps_the_primary_behind_it() {
        let mut screen = Screen::new(SIZE, SCROLLBACK);
        let mut bytes = Vec::new();
        for line in 0..40 {
            bytes.extend_from_slice(format!("shell line {line}\r\n").as_bytes());
        }
        bytes.extend_from_slice(b"$ vim\x1b[?1049h\x1b[H\x1b[2J\x1b[7mediting\x1b[m");
        screen.feed(&bytes);
        let snapshot = screen.snapshot();
        let mut copy = replay(&snapshot);
        assert!(copy.screen().alternate_screen());
        assert_eq!(
            visible_state(copy.screen_mut()),
            visible_state(screen.parser.screen_mut())
        );
        // Leaving the editor shows the same shell screen on both.
        screen.feed(b"\x1b[?1049l");
        copy.process(b"\x1b[?1049l");
        assert_eq!(
            visible_state(copy.screen_mut()),
            visible_state(screen.parser.screen_mut())
        );
        assert!(copy.screen().contents().contains("$ vim"));
    }

    #[test]
    fn a_snapshot_too_large_for_a_frame_leaves_the_scrollback_out() {
        let size = TerminalSize {
            rows: 100,
            cols: 1000,
        };
        let mut screen = Screen::new(size, 1000);
        // Every cell its own colour, for 1100 rows of 1000 columns: far past the limit with scrollback.
        let mut bytes = Vec::new();
        for row in 0..1100 {
            for col in 0..1000 {
                bytes.extend_from_slice(format!("\x1b[38;5;{}mx", (row + col) % 256).as_bytes());
            }
        }
        screen.feed(&bytes);
        let snapshot = screen.snapshot();
        assert!(snapshot.len() <= MAX_SNAPSHOT, "{} bytes", snapshot.len());
        let (rows, cols) = dimensions(size);
        let mut copy = vt100::Parser::new(rows, cols, 1000);
        copy.process(&snapshot);
        assert_eq!(
            copy.screen().contents_formatted(),
            screen.parser.screen().contents_formatted(),
            "the screen itself is still exact"
        );
    }

    #[test]
    fn output_before_a_resize_is_parsed_at_the_old_size() {
        let mut screen = Screen::new(SIZE, SCROLLBACK);
        screen.feed(b"0123456789abcdefghij");
        screen.resize(TerminalSize { rows: 6, cols: 10 });
        assert_eq!(screen.size(), TerminalSize { rows: 6, cols: 10 });
        // At 20 columns the text fitted on one row; truncating to 10 keeps its first half there.
        assert_eq!(screen.parser.screen().contents(), "0123456789");
        assert_eq!(screen.position(), 20);
    }
}
