//! Time and size values as nginx writes them ("75s", "500ms", "1m", "8k", "1g").
//!
//! Shared by every front-end so that "1m" means one minute or one MiB the same way everywhere.

use std::time::Duration;

/// Parses an nginx time: a sequence of `<number><unit>` with units ms, s, m, h, d, w, M, y
/// ("1h 30m" and "1h30m" both work); a bare number is seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let expected =
        || format!("expected a time such as \"75s\", \"500ms\" or \"1h 30m\", found {text:?}");
    // Spaces may only separate "<number><unit>" groups ("1h 30m"), never split a number.
    let trimmed = text.trim();
    let split_number = trimmed
        .as_bytes()
        .windows(2)
        .any(|w| w[0].is_ascii_digit() && w[1].is_ascii_whitespace());
    if split_number {
        return Err(expected());
    }
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.is_empty() {
        return Err(expected());
    }
    let bytes = compact.as_bytes();
    let mut total_ms: u128 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(expected());
        }
        let number: u128 = compact[start..i].parse().map_err(|_| expected())?;
        let unit_start = i;
        while i < bytes.len() && bytes[i].is_ascii_alphabetic() {
            i += 1;
        }
        let unit_ms: u128 = match &compact[unit_start..i] {
            "" => {
                if i != bytes.len() {
                    return Err(expected());
                }
                1000
            }
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "M" => 30 * 86_400_000,
            "y" => 365 * 86_400_000,
            _ => return Err(expected()),
        };
        total_ms = number
            .checked_mul(unit_ms)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(expected)?;
    }
    let ms = u64::try_from(total_ms).map_err(|_| expected())?;
    Ok(Duration::from_millis(ms))
}

/// Parses an nginx size: a number with an optional k/K, m/M or g/G suffix (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let expected =
        || format!("expected a size such as \"512\", \"8k\", \"1m\" or \"1g\", found {text:?}");
    let t = text.trim();
    let (digits, multiplier) = match t.as_bytes().last() {
        Some(b'k' | b'K') => (&t[..t.len() - 1], 1024u64),
        Some(b'm' | b'M') => (&t[..t.len() - 1], 1024 * 1024),
        Some(b'g' | b'G') => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        _ => (t, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(expected());
    }
    let n: u64 = digits.parse().map_err(|_| expected())?;
    n.checked_mul(multiplier).ok_or_else(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("75s"), Ok(Duration::from_secs(75)));
        assert_eq!(parse_duration("75"), Ok(Duration::from_secs(75)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("10x").is_err());
        assert!(parse_duration("10 20").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("99999999999999999999999999999y").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("8k"), Ok(8192));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert!(parse_size("k").is_err());
        assert!(parse_size("1.5m").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999999999g").is_err());
    }
}
