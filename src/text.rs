//! Small text helpers every layer may use: quoting bytes, printing and reading durations,
//! shortening long descriptions. They know nothing of transcripts; the transcript format is
//! built on top of them.

use std::fmt::Write as _;
use std::time::Duration;

/// Quotes bytes as a Rust-style string literal: printable ASCII as is, `\n`, `\r`, `\t`,
/// `\0`, `\\`, `\"`, and `\xNN` for every other byte, so any bytes round-trip.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0 => out.push_str("\\0"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
    out
}

/// `text` for HTML, SVG or XML: markup characters as entities, control characters other than
/// tab and line ends as character references.
pub(crate) fn escape_markup(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r') => {
                out.push_str(&format!("&#{};", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// Quotes bytes like [`quote`], eliding the middle of anything longer than 120 bytes, for
/// messages meant to be read rather than parsed.
pub fn quote_short(bytes: &[u8]) -> String {
    const EDGE: usize = 50;
    if bytes.len() <= 120 {
        return quote(bytes);
    }
    let head = quote(&bytes[..EDGE]);
    let tail = quote(&bytes[bytes.len() - EDGE..]);
    format!(
        "{}...({} bytes)...{}",
        &head[..head.len() - 1],
        bytes.len() - 2 * EDGE,
        &tail[1..]
    )
}

/// Cuts the middle out of a long description, for messages.
pub fn shorten(text: &str) -> String {
    const EDGE: usize = 60;
    let count = text.chars().count();
    if count <= 2 * EDGE + 20 {
        return text.to_string();
    }
    let head: String = text.chars().take(EDGE).collect();
    let tail: String = text.chars().skip(count - EDGE).collect();
    format!("{head}...({} characters)...{tail}", count - 2 * EDGE)
}

/// Formats a duration in the largest unit that states it exactly: `2s`, `1500ms`, `20us`,
/// `7ns`. [`parse_duration`] reads every output back.
pub fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        "0s".to_string()
    } else if nanos % 1_000_000_000 == 0 {
        format!("{}s", nanos / 1_000_000_000)
    } else if nanos % 1_000_000 == 0 {
        format!("{}ms", nanos / 1_000_000)
    } else if nanos % 1_000 == 0 {
        format!("{}us", nanos / 1_000)
    } else {
        format!("{nanos}ns")
    }
}

/// Formats a duration for people: `1.25 s`, `340 ms`, `12 us`, rounded to three digits.
pub fn human_duration(d: Duration) -> String {
    let nanos = d.as_nanos() as f64;
    if nanos >= 1e9 {
        format!("{:.3} s", nanos / 1e9)
    } else if nanos >= 1e6 {
        format!("{:.3} ms", nanos / 1e6)
    } else if nanos >= 1e3 {
        format!("{:.3} us", nanos / 1e3)
    } else {
        format!("{nanos} ns")
    }
}

/// Why a duration could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a number followed by a unit.
    #[error("expected a number and a unit: ns, us, ms, s, m or h (like 10ms, 1.5s, 2m)")]
    Malformed,
    /// More fractional digits than a nanosecond can hold.
    #[error("more precise than a nanosecond")]
    TooPrecise,
    /// Larger than a `Duration` can hold.
    #[error("duration too long")]
    TooLong,
}

/// Reads a duration: a whole or decimal number and a unit, `ns`, `us`, `ms`, `s`, `m` or
/// `h` (`10ms`, `1.5s`, `2m`, `1h`). The value must be a whole number of nanoseconds.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or(DurationError::Malformed)?;
    let (number, unit) = text.split_at(split);
    let unit_nanos: u128 = match unit {
        "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(DurationError::Malformed),
    };
    let (whole, fraction) = match number.split_once('.') {
        Some((w, f)) => (w, f),
        None => (number, ""),
    };
    if whole.is_empty() || (number.contains('.') && fraction.is_empty()) {
        return Err(DurationError::Malformed);
    }
    if !whole.bytes().all(|b| b.is_ascii_digit()) || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DurationError::Malformed);
    }
    // Digits beyond what a u128 of nanoseconds can hold are too long, not malformed.
    let whole: u128 = whole.parse().map_err(|_| DurationError::TooLong)?;
    let mut nanos = whole
        .checked_mul(unit_nanos)
        .ok_or(DurationError::TooLong)?;
    if !fraction.is_empty() {
        if fraction.len() > 30 {
            return Err(DurationError::TooPrecise);
        }
        let digits: u128 = fraction.parse().map_err(|_| DurationError::Malformed)?;
        let scale = 10u128.pow(fraction.len() as u32);
        let scaled = digits
            .checked_mul(unit_nanos)
            .ok_or(DurationError::TooPrecise)?;
        if scaled % scale != 0 {
            return Err(DurationError::TooPrecise);
        }
        nanos = nanos
            .checked_add(scaled / scale)
            .ok_or(DurationError::TooLong)?;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| DurationError::TooLong)?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// Longest inline diff shown: past it the rest is counted, not printed.
const DIFF_LIMIT: usize = 400;

/// Where two byte strings first differ (the shorter one's length when one starts the other).
pub(crate) fn first_difference(a: &[u8], b: &[u8]) -> usize {
    a.iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .unwrap_or(a.len().min(b.len()))
}

/// Expected and received bytes side by side (both elided in the middle when long), where
/// they first differ, and an inline diff of their quoted forms in which runs of changes are
/// grouped (`[-removed-]{+added+}`) and the whole is cut at a few hundred characters.
pub fn side_by_side(expected: &[u8], received: &[u8]) -> String {
    let first = first_difference(expected, received);
    format!(
        "    expected: {}\n    received: {}\n    first difference at byte {first}\n    diff:     {}",
        quote_short(expected),
        quote_short(received),
        inline_diff(&quote(expected), &quote(received))
    )
}

/// An inline diff of two texts, runs of equal tags grouped, cut at `DIFF_LIMIT`
/// characters.
pub fn inline_diff(expected: &str, received: &str) -> String {
    let diff = similar::TextDiff::from_chars(expected, received);
    let mut out = String::new();
    let mut shown = 0usize;
    let mut hidden = 0usize;
    let mut run: Option<(similar::ChangeTag, String)> = None;
    let mut flush = |run: &mut Option<(similar::ChangeTag, String)>, out: &mut String| {
        let Some((tag, text)) = run.take() else {
            return;
        };
        let piece = match tag {
            similar::ChangeTag::Equal => text,
            similar::ChangeTag::Delete => format!("[-{text}-]"),
            similar::ChangeTag::Insert => format!("{{+{text}+}}"),
        };
        let len = piece.chars().count();
        if shown + len <= DIFF_LIMIT {
            out.push_str(&piece);
            shown += len;
        } else {
            let room = DIFF_LIMIT.saturating_sub(shown);
            out.extend(piece.chars().take(room));
            shown = DIFF_LIMIT;
            hidden += len - room;
        }
    };
    for change in diff.iter_all_changes() {
        let tag = change.tag();
        match &mut run {
            Some((t, text)) if *t == tag => text.push_str(change.value()),
            _ => {
                flush(&mut run, &mut out);
                run = Some((tag, change.value().to_string()));
            }
        }
    }
    flush(&mut run, &mut out);
    if hidden > 0 {
        let _ = write!(out, "...({hidden} more characters)");
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn diffs_group_runs_and_stay_short() {
        let d = inline_diff("\"error: max\"", "\"hello\"");
        assert!(
            d.starts_with("\"[-error: max-]{+hello+}\"") || d.contains("[-"),
            "{d}"
        );
        assert!(!d.contains("[-e-][-r-]"), "runs are grouped: {d}");
        let big_a = "a".repeat(100_000);
        let big_b = "b".repeat(100_000);
        let d = inline_diff(&big_a, &big_b);
        assert!(d.len() < 500, "{} characters", d.len());
        assert!(d.contains("more characters"));
        let s = side_by_side(b"hello", b"help!");
        assert!(s.contains("first difference at byte 3"), "{s}");
    }

    use super::*;

    #[test]
    fn durations_read_every_unit_and_decimals() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("10ms"), Ok(ms(10)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("2m"), Ok(ms(120_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse_duration("7ns"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse_duration("0.5us"), Ok(Duration::from_nanos(500)));
        assert_eq!(parse_duration("1.5ns"), Err(DurationError::TooPrecise));
        assert_eq!(parse_duration("1."), Err(DurationError::Malformed));
        assert_eq!(parse_duration(".5s"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("5"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("5d"), Err(DurationError::Malformed));
        assert_eq!(parse_duration("1.2.3s"), Err(DurationError::Malformed));
        assert_eq!(
            parse_duration("18446744073709551615s"),
            Ok(Duration::from_secs(u64::MAX))
        );
        assert_eq!(
            parse_duration("18446744073709551616s"),
            Err(DurationError::TooLong)
        );
        assert_eq!(
            parse_duration("99999999999999999999999999999999999999999h"),
            Err(DurationError::TooLong)
        );
    }

    #[test]
    fn formatted_durations_read_back() {
        for nanos in [0u64, 7, 1_000, 1_500_000, 2_000_000_000, 61_000_000_001] {
            let d = Duration::from_nanos(nanos);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
    }

    #[test]
    fn quoting_round_trips_every_byte_class() {
        assert_eq!(quote(b"a\n\"\\\x00\xff"), "\"a\\n\\\"\\\\\\0\\xff\"");
        let long = vec![b'x'; 300];
        let short = quote_short(&long);
        assert!(short.contains("...(200 bytes)..."), "{short}");
    }

    #[test]
    fn shorten_keeps_both_ends() {
        let text = "a".repeat(100) + &"b".repeat(100);
        let s = shorten(&text);
        assert!(s.starts_with("aaa") && s.ends_with("bbb") && s.contains("(80 characters)"));
        assert_eq!(shorten("short"), "short");
    }
}
