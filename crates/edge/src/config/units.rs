//! Human-friendly durations ("2.5s", "500ms", "1m") and sizes ("16KiB", "1GB") for the config.
//!
//! Written here rather than taken from `humantime`/`bytesize` because the config reference
//! promises decimal values such as `first_byte = "2.5s"` (humantime rejects fractions) and
//! we want one error wording for both kinds of value.

use std::time::Duration;

/// Parses a duration such as `"2.5s"`, `"500ms"`, `"1m"`, `"1h"`, `"250us"`.
/// A bare number is not accepted: units are mandatory so `timeout = 5` is never ambiguous.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(|| format!("`{text}` has no unit (use ms, s, m, h or d, e.g. \"2.5s\")"))?;
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. \"2.5s\", \"500ms\")"))?;
    let secs = match unit.trim() {
        "us" | "µs" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" | "min" => value * 60.0,
        "h" => value * 3600.0,
        "d" => value * 86_400.0,
        other => {
            return Err(format!(
                "`{other}` is not a duration unit (use ms, s, m, h or d)"
            ))
        }
    };
    if !secs.is_finite() || secs > 365.0 * 86400.0 {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a size such as `"16KiB"`, `"1GB"`, `"512"` (bytes). Binary (KiB, MiB, GiB) and
/// decimal (KB, MB, GB) units are both accepted, case-insensitively.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a size (e.g. \"16KiB\", \"1GB\")"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        other => {
            return Err(format!(
                "`{other}` is not a size unit (use KiB, MiB, GiB, KB, ...)"
            ))
        }
    };
    let bytes = value * mult;
    if !bytes.is_finite() || bytes > u64::MAX as f64 {
        return Err(format!("`{text}` is out of range"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2.5s"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16KiB"), Ok(16384));
        assert_eq!(parse_size("1GB"), Ok(1_000_000_000));
        assert_eq!(parse_size("512"), Ok(512));
        assert!(parse_size("12 bananas").is_err());
    }
}
