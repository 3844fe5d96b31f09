//! What the client observed: a tracker fed with every event, and the summary printed at the end
//! (a human-readable block plus one machine-checkable `summary:` line).

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use crate::tokens::token_text;

/// How one received token compares with what was due.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    /// The next sequence number, with the right text.
    Ok,
    /// Sequence numbers were skipped.
    Gap { expected: u64 },
    /// A sequence number already received.
    Repeat { expected: u64 },
    /// The right position but not the text the token function gives.
    WrongText { expected: String },
}

/// Follows a client's stream(s) event by event.
#[derive(Debug)]
pub struct Tracker {
    prompt: String,
    last_sequence: u64,
    first_sequence: Option<u64>,
    tokens: u64,
    last_token_at: Option<Instant>,
    longest_gap: Duration,
    longest_gap_before: u64,
    per_worker: Vec<(String, u64)>,
    timeline: Vec<Segment>,
    swaps: u64,
    swap_pending: bool,
    contiguous: bool,
    text_ok: bool,
    connection_ids: Vec<String>,
    /// False after a reconnect until the next assignment names the new connection.
    on_known_connection: bool,
    reconnects: u64,
}

/// A run of consecutive tokens from one worker assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub worker: String,
    pub first: u64,
    pub last: u64,
}

/// Everything the client reports at the end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// The director's ids of the client's connections, in order (one per QUIC connection).
    pub connection_ids: Vec<String>,
    /// QUIC handshakes the client made.
    pub quic_connections: u64,
    /// Worker failures after which another worker took over the same stream.
    pub swaps: u64,
    /// Times the client lost its stream to the director and opened a new one.
    pub reconnects: u64,
    pub tokens: u64,
    pub first_sequence: Option<u64>,
    pub last_sequence: u64,
    /// Every sequence number from the first to the last arrived once, in order.
    pub contiguous: bool,
    /// Every token's text matched the token function.
    pub text_ok: bool,
    /// Tokens per worker, in order of first appearance.
    pub per_worker: Vec<(String, u64)>,
    /// The longest time between two consecutive tokens.
    pub longest_gap: Duration,
    /// The sequence number of the token that ended the longest gap.
    pub longest_gap_before: u64,
    pub timeline: Vec<Segment>,
}

impl Tracker {
    /// A tracker for a generation of `prompt` starting at sequence 1.
    pub fn new(prompt: &str) -> Self {
        Tracker {
            prompt: prompt.to_owned(),
            last_sequence: 0,
            first_sequence: None,
            tokens: 0,
            last_token_at: None,
            longest_gap: Duration::ZERO,
            longest_gap_before: 0,
            per_worker: Vec::new(),
            timeline: Vec::new(),
            swaps: 0,
            swap_pending: false,
            contiguous: true,
            text_ok: true,
            connection_ids: Vec::new(),
            on_known_connection: false,
            reconnects: 0,
        }
    }

    /// The last sequence number received: where the next worker must resume.
    pub fn last_sequence(&self) -> u64 {
        self.last_sequence
    }

    /// Tokens received so far.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// A worker was assigned to the stream on connection `connection_id`.
    pub fn on_assigned(&mut self, connection_id: &str, worker: &str) {
        if self.swap_pending {
            self.swaps += 1;
            self.swap_pending = false;
        }
        if !self.on_known_connection
            || self.connection_ids.last().map(String::as_str) != Some(connection_id)
        {
            self.connection_ids.push(connection_id.to_owned());
            self.on_known_connection = true;
        }
        self.timeline.push(Segment {
            worker: worker.to_owned(),
            first: 0,
            last: 0,
        });
    }

    /// A token arrived at `at`.
    pub fn on_token(&mut self, sequence: u64, text: &str, worker: &str, at: Instant) -> TokenCheck {
        // Saturating: the sequence numbers come from the network.
        let expected = self.last_sequence.saturating_add(1);
        let check = if sequence > expected {
            TokenCheck::Gap { expected }
        } else if sequence < expected {
            TokenCheck::Repeat { expected }
        } else {
            let due = token_text(&self.prompt, sequence);
            if text == due {
                TokenCheck::Ok
            } else {
                TokenCheck::WrongText { expected: due }
            }
        };
        match check {
            TokenCheck::Ok => {}
            TokenCheck::WrongText { .. } => self.text_ok = false,
            TokenCheck::Gap { .. } | TokenCheck::Repeat { .. } => self.contiguous = false,
        }
        if let Some(previous) = self.last_token_at {
            let gap = at.saturating_duration_since(previous);
            if gap > self.longest_gap {
                self.longest_gap = gap;
                self.longest_gap_before = sequence;
            }
        }
        self.last_token_at = Some(at);
        self.first_sequence.get_or_insert(sequence);
        self.last_sequence = self.last_sequence.max(sequence);
        self.tokens += 1;
        match self.per_worker.iter_mut().find(|(w, _)| w == worker) {
            Some((_, count)) => *count += 1,
            None => self.per_worker.push((worker.to_owned(), 1)),
        }
        match self.timeline.last_mut() {
            Some(segment) if segment.worker == worker => {
                if segment.first == 0 {
                    segment.first = sequence;
                }
                segment.last = sequence;
            }
            _ => self.timeline.push(Segment {
                worker: worker.to_owned(),
                first: sequence,
                last: sequence,
            }),
        }
        check
    }

    /// The serving worker failed; the next assignment is a swap.
    pub fn on_worker_failed(&mut self) {
        self.swap_pending = true;
    }

    /// The stream to the director was lost; the next assignment comes on a new stream (and
    /// possibly a new connection), so it is not a swap.
    pub fn on_reconnect(&mut self) {
        self.reconnects += 1;
        self.swap_pending = false;
        self.on_known_connection = false;
    }

    /// The summary, given the number of QUIC connections the client opened.
    pub fn finish(self, quic_connections: u64) -> Summary {
        let span_ok = match self.first_sequence {
            Some(first) => {
                let span = self
                    .last_sequence
                    .checked_sub(first)
                    .and_then(|d| d.checked_add(1));
                span == Some(self.tokens)
            }
            None => true,
        };
        Summary {
            connection_ids: self.connection_ids,
            quic_connections,
            swaps: self.swaps,
            reconnects: self.reconnects,
            tokens: self.tokens,
            first_sequence: self.first_sequence,
            last_sequence: self.last_sequence,
            contiguous: self.contiguous && span_ok && self.first_sequence.unwrap_or(1) == 1,
            text_ok: self.text_ok,
            per_worker: self.per_worker,
            longest_gap: self.longest_gap,
            longest_gap_before: self.longest_gap_before,
            timeline: self.timeline.into_iter().filter(|s| s.first != 0).collect(),
        }
    }
}

impl Summary {
    /// The heading line of the human-readable block.
    pub const HEADING: &'static str = "=== connection-swap client summary ===";

    /// The prefix of the machine-checkable line.
    pub const LINE_PREFIX: &'static str = "summary: ";

    /// One line of `key=value` pairs, values without spaces, e.g.
    /// `summary: connection_id=conn-1 quic_connections=1 swaps=4 ...`.
    pub fn machine_line(&self) -> String {
        let join = |items: Vec<String>| {
            if items.is_empty() {
                "-".to_owned()
            } else {
                items.join(",")
            }
        };
        format!(
            "{}connection_id={} quic_connections={} swaps={} reconnects={} tokens={} first_seq={} last_seq={} contiguous={} text_ok={} longest_gap_ms={} per_worker={} timeline={}",
            Self::LINE_PREFIX,
            join(self.connection_ids.clone()),
            self.quic_connections,
            self.swaps,
            self.reconnects,
            self.tokens,
            self.first_sequence.unwrap_or(0),
            self.last_sequence,
            self.contiguous,
            self.text_ok,
            self.longest_gap.as_millis(),
            join(self.per_worker.iter().map(|(w, n)| format!("{w}:{n}")).collect()),
            join(
                self.timeline
                    .iter()
                    .map(|s| format!("{}:{}-{}", s.worker, s.first, s.last))
                    .collect()
            ),
        )
    }

    /// Whether the run met the guarantees: contiguous sequence with the right texts.
    pub fn is_sound(&self) -> bool {
        self.contiguous && self.text_ok
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_worker: Vec<String> = self
            .per_worker
            .iter()
            .map(|(w, n)| format!("{w}: {n}"))
            .collect();
        let timeline: Vec<String> = self
            .timeline
            .iter()
            .map(|s| format!("{} {}-{}", s.worker, s.first, s.last))
            .collect();
        writeln!(f, "{}", Self::HEADING)?;
        writeln!(f, "connection id:      {}", self.connection_ids.join(", "))?;
        writeln!(f, "QUIC connections:   {}", self.quic_connections)?;
        writeln!(f, "swaps:              {}", self.swaps)?;
        if self.reconnects > 0 {
            writeln!(f, "reconnects:         {}", self.reconnects)?;
        }
        writeln!(
            f,
            "tokens:             {} ({})",
            self.tokens,
            per_worker.join(", ")
        )?;
        writeln!(
            f,
            "sequence:           {}..={}, {}, {}",
            self.first_sequence.unwrap_or(0),
            self.last_sequence,
            if self.contiguous {
                "contiguous"
            } else {
                "NOT contiguous"
            },
            if self.text_ok {
                "token text verified"
            } else {
                "WRONG token text"
            }
        )?;
        writeln!(
            f,
            "longest token gap:  {} ms (before seq {})",
            self.longest_gap.as_millis(),
            self.longest_gap_before
        )?;
        writeln!(f, "timeline:           {}", timeline.join(" | "))?;
        write!(f, "{}", self.machine_line())
    }
}

/// Reads a `summary:` line back into its fields (for tests and scripts); `None` if `line` is
/// not one.
pub fn parse_machine_line(line: &str) -> Option<BTreeMap<String, String>> {
    let start = line.find(Summary::LINE_PREFIX)?;
    let fields = &line[start + Summary::LINE_PREFIX.len()..];
    Some(
        fields
            .split_whitespace()
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(
        tracker: &mut Tracker,
        worker: &str,
        range: std::ops::RangeInclusive<u64>,
        t0: Instant,
    ) {
        for seq in range {
            let text = token_text("p", seq);
            let at = t0 + Duration::from_millis(seq * 100);
            assert_eq!(tracker.on_token(seq, &text, worker, at), TokenCheck::Ok);
        }
    }

    #[test]
    fn swaps_timeline_and_gaps() {
        let t0 = Instant::now();
        let mut t = Tracker::new("p");
        t.on_assigned("conn-1", "worker-a");
        feed(&mut t, "worker-a", 1..=3, t0);
        t.on_worker_failed();
        t.on_assigned("conn-1", "worker-b");
        let late = t0 + Duration::from_millis(4 * 100 + 900);
        assert_eq!(
            t.on_token(4, &token_text("p", 4), "worker-b", late),
            TokenCheck::Ok
        );
        t.on_worker_failed();
        t.on_assigned("conn-1", "worker-a");
        let s = t.finish(1);
        assert_eq!(s.swaps, 2);
        assert_eq!(s.connection_ids, ["conn-1"]);
        assert!(s.contiguous && s.text_ok);
        assert_eq!(s.longest_gap, Duration::from_millis(1000));
        assert_eq!(s.longest_gap_before, 4);
        assert_eq!(
            s.timeline,
            [
                Segment {
                    worker: "worker-a".into(),
                    first: 1,
                    last: 3
                },
                Segment {
                    worker: "worker-b".into(),
                    first: 4,
                    last: 4
                },
            ]
        );
        let line = s.machine_line();
        let fields = parse_machine_line(&line).unwrap_or_default();
        assert_eq!(fields.get("swaps").map(String::as_str), Some("2"));
        assert_eq!(
            fields.get("per_worker").map(String::as_str),
            Some("worker-a:3,worker-b:1")
        );
        assert_eq!(
            fields.get("timeline").map(String::as_str),
            Some("worker-a:1-3,worker-b:4-4")
        );
        assert_eq!(fields.get("contiguous").map(String::as_str), Some("true"));
    }

    #[test]
    fn gaps_repeats_and_wrong_text_are_caught() {
        let t0 = Instant::now();
        let mut t = Tracker::new("p");
        t.on_assigned("conn-1", "worker-a");
        feed(&mut t, "worker-a", 1..=2, t0);
        assert_eq!(
            t.on_token(2, &token_text("p", 2), "worker-a", t0),
            TokenCheck::Repeat { expected: 3 }
        );
        assert_eq!(
            t.on_token(5, &token_text("p", 5), "worker-a", t0),
            TokenCheck::Gap { expected: 3 }
        );
        assert!(matches!(
            t.on_token(6, "nope", "worker-a", t0),
            TokenCheck::WrongText { .. }
        ));
        let s = t.finish(1);
        assert!(!s.contiguous);
        assert!(!s.text_ok);
        assert!(!s.is_sound());
    }

    #[test]
    fn reconnects_count_connections_not_swaps() {
        let t0 = Instant::now();
        let mut t = Tracker::new("p");
        t.on_assigned("conn-1", "worker-a");
        feed(&mut t, "worker-a", 1..=2, t0);
        t.on_reconnect();
        t.on_assigned("conn-1", "worker-a");
        feed(&mut t, "worker-a", 3..=4, t0);
        let s = t.finish(2);
        assert_eq!(s.swaps, 0);
        assert_eq!(s.reconnects, 1);
        assert_eq!(s.connection_ids, ["conn-1", "conn-1"]);
        assert!(s.contiguous);
        assert!(s.to_string().starts_with(Summary::HEADING));
    }
}
