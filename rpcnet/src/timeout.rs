//! The `grpc-timeout` header: parsing a deadline a peer sent, and encoding ours without shortening it.
//!
//! Grammar (gRPC PROTOCOL-HTTP2): 1 to 8 ASCII digits followed by one unit, `H` (hours),
//! `M` (minutes), `S` (seconds), `m` (milliseconds), `u` (microseconds) or `n` (nanoseconds).

use std::time::Duration;

/// Most digits the value may have; the protocol caps it so it fits comfortably in any integer.
const MAX_DIGITS: usize = 8;

/// Largest value expressible in [`MAX_DIGITS`] digits.
const MAX_VALUE: u64 = 99_999_999;

/// Units from most to least precise, with their length in nanoseconds. [`encode`] picks the
/// first one whose value fits in 8 digits.
const UNITS: [(char, u64); 6] = [
    ('n', 1),
    ('u', 1_000),
    ('m', 1_000_000),
    ('S', 1_000_000_000),
    ('M', 60 * 1_000_000_000),
    ('H', 3_600 * 1_000_000_000),
];

/// A `grpc-timeout` value that does not follow the protocol's grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid grpc-timeout {value:?}: {reason}")]
pub struct TimeoutError {
    /// The header value as received.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Parses a `grpc-timeout` value such as `"100m"` or `"5S"`.
///
/// Anything outside the grammar (empty, more than 8 digits, no unit, unknown unit, a sign,
/// whitespace) is an error naming the value.
pub fn parse(value: &str) -> Result<Duration, TimeoutError> {
    let error = |reason| TimeoutError {
        value: value.to_owned(),
        reason,
    };
    // Work on bytes: a multi-byte character then simply fails the digit or unit check.
    let Some((&unit, digits)) = value.as_bytes().split_last() else {
        return Err(error("empty value"));
    };
    if unit.is_ascii_digit() {
        return Err(error("missing unit (expected one of H, M, S, m, u, n)"));
    }
    if digits.is_empty() {
        return Err(error("missing digits before the unit"));
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(error("only ASCII digits may precede the unit"));
    }
    if digits.len() > MAX_DIGITS {
        return Err(error("more than 8 digits"));
    }
    let amount = digits.iter().fold(0u64, |acc, d| {
        acc.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    let duration = match unit {
        b'H' => Duration::from_secs(amount.saturating_mul(3_600)),
        b'M' => Duration::from_secs(amount.saturating_mul(60)),
        b'S' => Duration::from_secs(amount),
        b'm' => Duration::from_millis(amount),
        b'u' => Duration::from_micros(amount),
        b'n' => Duration::from_nanos(amount),
        _ => return Err(error("unknown unit (expected one of H, M, S, m, u, n)")),
    };
    Ok(duration)
}

/// Encodes `timeout` as a `grpc-timeout` value.
///
/// Uses the most precise unit whose value fits in 8 digits and rounds up, so the peer never
/// sees a shorter deadline than ours; zero is `"0n"`. A timeout beyond 99,999,999 hours (about
/// 11,000 years) is capped at `"99999999H"`, the longest the header can say.
pub fn encode(timeout: Duration) -> String {
    let nanos = timeout.as_nanos();
    for (unit, unit_nanos) in UNITS {
        let amount = nanos.div_ceil(u128::from(unit_nanos));
        if amount <= u128::from(MAX_VALUE) {
            return format!("{amount}{unit}");
        }
    }
    format!("{MAX_VALUE}H")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses() {
        assert_eq!(parse("2H"), Ok(Duration::from_secs(7_200)));
        assert_eq!(parse("3M"), Ok(Duration::from_secs(180)));
        assert_eq!(parse("5S"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("100m"), Ok(Duration::from_millis(100)));
        assert_eq!(parse("250u"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("7n"), Ok(Duration::from_nanos(7)));
        assert_eq!(parse("0n"), Ok(Duration::ZERO));
        assert_eq!(parse("00000001S"), Ok(Duration::from_secs(1)));
        assert_eq!(
            parse("99999999H"),
            Ok(Duration::from_secs(99_999_999 * 3_600))
        );
    }

    #[test]
    fn encode_literals() {
        assert_eq!(encode(Duration::ZERO), "0n");
        assert_eq!(encode(Duration::from_nanos(99_999_999)), "99999999n");
        assert_eq!(encode(Duration::from_nanos(100_000_000)), "100000u");
        // 100_000_001 ns needs rounding up to the next microsecond.
        assert_eq!(encode(Duration::from_nanos(100_000_001)), "100001u");
        assert_eq!(encode(Duration::from_secs(1)), "1000000u");
        assert_eq!(encode(Duration::from_secs(100)), "100000m");
        assert_eq!(encode(Duration::from_secs(200_000)), "200000S");
        assert_eq!(encode(Duration::from_secs(100_000_000)), "1666667M");
        assert_eq!(encode(Duration::from_secs(6_000_000_000)), "1666667H");
        assert_eq!(encode(Duration::MAX), "99999999H");
    }

    #[test]
    fn round_trip_never_shortens() {
        let samples = [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::from_nanos(123_456_789),
            Duration::from_micros(99_999_999),
            Duration::from_millis(100_000_001),
            Duration::new(1, 1),
            Duration::new(59, 999_999_999),
            Duration::from_secs(99_999_999),
            Duration::new(99_999_999 * 60 + 1, 0),
            Duration::from_secs(99_999_999 * 3_600),
        ];
        for timeout in samples {
            let encoded = encode(timeout);
            let parsed = parse(&encoded).unwrap();
            assert!(parsed >= timeout, "{timeout:?} -> {encoded} -> {parsed:?}");
            // Rounding up costs less than one unit. A coarser unit is only chosen when the
            // value exceeds 8 digits of a unit at most 1000 times finer, so the error stays
            // below 1000 / 10^8 of the timeout (or a single nanosecond for tiny values).
            assert!(
                parsed - timeout <= timeout / 100_000 + Duration::from_nanos(1),
                "{timeout:?} -> {encoded} -> {parsed:?}"
            );
        }
    }

    #[test]
    fn invalid_values_are_refused() {
        for value in [
            "",
            "1",
            "123456789S",
            "S",
            "5s",
            "5x",
            "-5S",
            "+5S",
            " 5S",
            "5S ",
            "5 S",
            "1.5S",
            "5SS",
            "5é",
            "٣S",
        ] {
            let error = parse(value).unwrap_err();
            assert_eq!(error.value, value);
            assert!(
                error
                    .to_string()
                    .starts_with(&format!("invalid grpc-timeout {value:?}: ")),
                "{error}"
            );
        }
        assert_eq!(parse("").unwrap_err().reason, "empty value");
        assert_eq!(
            parse("123456789S").unwrap_err().reason,
            "more than 8 digits"
        );
        assert_eq!(
            parse("12").unwrap_err().reason,
            "missing unit (expected one of H, M, S, m, u, n)"
        );
        assert_eq!(
            parse("5s").unwrap_err().reason,
            "unknown unit (expected one of H, M, S, m, u, n)"
        );
    }
}
