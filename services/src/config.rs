//! Parsers for the durations and counts given in environment variables and flags.

use std::time::Duration;

/// Seconds, possibly fractional (`"15"`, `"1.5"`), as in `CONNECTION_SWAP_FAILURE_AFTER_SECS`.
pub fn parse_secs(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("expected a number of seconds, found {text:?}"))?;
    Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("expected a non-negative number of seconds, found {text:?}"))
}

/// Whole milliseconds greater than zero, as in `CONNECTION_SWAP_TOKEN_INTERVAL_MS`.
pub fn parse_millis(text: &str) -> Result<Duration, String> {
    match text.trim().parse::<u64>() {
        Ok(0) => Err("expected at least 1 millisecond, found 0".to_owned()),
        Ok(ms) => Ok(Duration::from_millis(ms)),
        Err(_) => Err(format!(
            "expected a whole number of milliseconds, found {text:?}"
        )),
    }
}

/// A whole number of at least 1, as in `CONNECTION_SWAP_MAX_SESSIONS_PER_CONNECTION`.
pub fn parse_count(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => Err("expected at least 1, found 0".to_owned()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a whole number, found {text:?}")),
    }
}

/// Formats a duration the way the logs and the summary show it: `15s`, `1.5s`, `0.25s`.
pub fn display_secs(duration: Duration) -> String {
    format!("{}s", duration.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_accept_fractions_and_reject_nonsense() {
        assert_eq!(parse_secs("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_secs(" 1.5 "), Ok(Duration::from_millis(1500)));
        assert!(parse_secs("-1").is_err());
        assert!(parse_secs("soon").is_err());
        assert!(parse_secs("inf").is_err());
    }

    #[test]
    fn millis_must_be_positive_integers() {
        assert_eq!(parse_millis("150"), Ok(Duration::from_millis(150)));
        assert!(parse_millis("0").is_err());
        assert!(parse_millis("1.5").is_err());
    }

    #[test]
    fn counts_must_be_positive_integers() {
        assert_eq!(parse_count(" 64 "), Ok(64));
        assert!(parse_count("0").is_err());
        assert!(parse_count("-1").is_err());
        assert!(parse_count("many").is_err());
    }

    #[test]
    fn durations_display_in_seconds() {
        assert_eq!(display_secs(Duration::from_secs(15)), "15s");
        assert_eq!(display_secs(Duration::from_millis(1500)), "1.5s");
    }
}
