//! Log output: a compact `tracing` formatter whose lines read like the connection-swap spec,
//! `<time> <LEVEL> <target>] <field>=<value>... <message>`.

use std::fmt::{self, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber: [`SpecFormat`] lines on stdout, filtered by `RUST_LOG`
/// (`info` when unset or unparsable). Calling it twice is harmless.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout)
        .event_format(SpecFormat)
        .try_init();
}

/// Formats one event as `<time> <LEVEL> <target>] <fields> <message>`.
///
/// Only the event's own fields are printed (no span context), in the order they were written,
/// so `info!(stream.id = 1, connection.id = %id, "client opened stream")` becomes
/// `2025-01-01T00:00:00.000Z  INFO connection_swap::director] stream.id=1 connection.id=conn-1 client opened stream`.
/// String fields are printed without quotes; `?`-recorded fields use their `Debug` form.
#[derive(Clone, Copy, Debug, Default)]
pub struct SpecFormat;

impl<S, N> FormatEvent<S, N> for SpecFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut fields = FieldCollector::default();
        event.record(&mut fields);
        writeln!(
            writer,
            "{} {:>5} {}]{}",
            UtcTimestamp::now(),
            meta.level(),
            meta.target(),
            fields.render()
        )
    }
}

/// Gathers an event's fields as text, keeping the message apart so it can go last.
#[derive(Default)]
struct FieldCollector {
    fields: Vec<(&'static str, String)>,
    message: Option<String>,
}

impl FieldCollector {
    /// ` name=value name=value message`, with a leading space when there is anything at all.
    fn render(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.fields {
            let _ = write!(out, " {name}={value}");
        }
        if let Some(message) = &self.message {
            out.push(' ');
            out.push_str(message);
        }
        out
    }

    fn push(&mut self, field: &Field, value: String) {
        // Events bridged from the `log` crate carry their origin as `log.*` fields: noise here.
        if field.name().starts_with("log.") {
            return;
        }
        if field.name() == "message" {
            self.message = Some(value);
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for FieldCollector {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, format!("{value:?}"));
    }
}

/// The current UTC time as `YYYY-MM-DDTHH:MM:SS.mmmZ` (millisecond precision, so gaps between
/// tokens can be read off the log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTimestamp {
    /// Milliseconds since the Unix epoch.
    pub unix_millis: u64,
}

impl UtcTimestamp {
    /// The time now (the epoch if the clock is set before 1970).
    pub fn now() -> Self {
        let unix_millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        UtcTimestamp { unix_millis }
    }
}

impl fmt::Display for UtcTimestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.unix_millis % 1000;
        let secs = self.unix_millis / 1000;
        let days = secs / 86_400;
        let rem = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        write!(
            f,
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
            rem / 3600,
            (rem % 3600) / 60,
            rem % 60
        )
    }
}

/// Converts days since 1970-01-01 to a (year, month, day) of the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`, restricted to dates after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| io::ErrorKind::Other)?
                .extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn capture(f: impl FnOnce()) -> String {
        let buf = Capture::default();
        let writer = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .event_format(SpecFormat)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let bytes = buf.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8(bytes).unwrap_or_default()
    }

    #[test]
    fn lines_read_like_the_spec() {
        let out = capture(|| {
            tracing::info!(
                target: "connection_swap::director",
                worker = "worker-a",
                stream.id = 1u64,
                connection.id = %"conn-1",
                prompt = "prompt-x",
                "client opened stream"
            );
        });
        let line = out.trim_end();
        let (_time, rest) = line.split_once(' ').unwrap_or_default();
        assert_eq!(
            rest,
            " INFO connection_swap::director] worker=worker-a stream.id=1 connection.id=conn-1 prompt=prompt-x client opened stream"
        );
    }

    #[test]
    fn debug_fields_keep_their_debug_form() {
        use crate::client_app::StreamEnd;
        let out = capture(|| {
            tracing::warn!(
                target: "worker",
                err = ?StreamEnd::StreamError("worker-a simulated failure".into()),
                "stream ended"
            );
        });
        assert!(
            out.contains(
                " WARN worker] err=StreamError(\"worker-a simulated failure\") stream ended"
            ),
            "{out}"
        );
    }

    #[test]
    fn timestamps_are_utc_with_milliseconds() {
        let at = UtcTimestamp {
            unix_millis: 1_700_000_000_123,
        };
        assert_eq!(at.to_string(), "2023-11-14T22:13:20.123Z");
        assert_eq!(
            UtcTimestamp { unix_millis: 0 }.to_string(),
            "1970-01-01T00:00:00.000Z"
        );
        // A leap day.
        assert_eq!(
            UtcTimestamp {
                unix_millis: 951_782_400_000
            }
            .to_string(),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
