//! Error reports on a `.rpc.rs` file: a location, a message, and their `path:line:col` rendering.

use std::fmt;

/// A position range in the input file, taken from a `proc_macro2` span.
///
/// Lines are 1-based and columns 0-based character counts, as `proc_macro2` reports them;
/// rendering adds one to the column so editors can jump to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Loc {
    /// First line of the range (1-based).
    pub line: usize,
    /// Column of the first character (0-based, in characters).
    pub column: usize,
    /// Last line of the range (1-based).
    pub end_line: usize,
    /// Column just past the last character (0-based, in characters).
    pub end_column: usize,
}

impl Loc {
    /// The range a span covers (needs proc-macro2's `span-locations` feature).
    pub fn from_span(span: proc_macro2::Span) -> Loc {
        let start = span.start();
        let end = span.end();
        Loc {
            line: start.line,
            column: start.column,
            end_line: end.line,
            end_column: end.column,
        }
    }

    /// The range of anything syn can give a span for.
    pub fn of(node: &impl syn::spanned::Spanned) -> Loc {
        Loc::from_span(node.span())
    }

    /// The range from the start of `self` to the end of `other`.
    pub fn to(self, other: Loc) -> Loc {
        Loc {
            end_line: other.end_line,
            end_column: other.end_column,
            ..self
        }
    }

    /// The start of the file, for errors about the file as a whole.
    pub fn file_start() -> Loc {
        Loc {
            line: 1,
            column: 0,
            end_line: 1,
            end_column: 0,
        }
    }
}

/// One rejected construct: where it is and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the problem is.
    pub loc: Loc,
    /// What is wrong, as a full sentence fragment without a trailing period.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at `loc`.
    pub fn new(loc: Loc, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            loc,
            message: message.into(),
        }
    }

    /// Renders `path:line:col: error: message`, then the source line and a caret line under the
    /// offending range.
    pub fn render(&self, path: &str, source: &str) -> String {
        let Loc {
            line,
            column,
            end_line,
            end_column,
        } = self.loc;
        let mut out = format!("{path}:{line}:{}: error: {}\n", column + 1, self.message);
        let Some(text) = source.lines().nth(line.saturating_sub(1)) else {
            return out;
        };
        let text = text.trim_end();
        let gutter = line.to_string();
        let pad = " ".repeat(gutter.len());
        // The caret line copies tabs from the source line so the caret stays aligned.
        let prefix: String = text
            .chars()
            .take(column)
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let line_chars = text.chars().count();
        let end = if end_line == line {
            end_column.min(line_chars)
        } else {
            line_chars
        };
        let width = end.saturating_sub(column).max(1);
        out.push_str(&format!("{gutter} | {text}\n"));
        out.push_str(&format!("{pad} | {prefix}{}\n", "^".repeat(width)));
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: error: {}",
            self.loc.line,
            self.loc.column + 1,
            self.message
        )
    }
}

/// Converts a syn parse error (possibly several combined) into diagnostics.
pub fn from_syn(error: syn::Error) -> Vec<Diagnostic> {
    error
        .into_iter()
        .map(|e| Diagnostic::new(Loc::from_span(e.span()), e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_range() {
        let d = Diagnostic::new(
            Loc {
                line: 2,
                column: 4,
                end_line: 2,
                end_column: 7,
            },
            "bad thing",
        );
        let text = d.render("a.rpc.rs", "x\n    foo bar\n");
        assert_eq!(
            text,
            "a.rpc.rs:2:5: error: bad thing\n2 |     foo bar\n  |     ^^^\n"
        );
    }

    #[test]
    fn keeps_tabs_for_alignment() {
        let d = Diagnostic::new(
            Loc {
                line: 1,
                column: 1,
                end_line: 3,
                end_column: 0,
            },
            "m",
        );
        let text = d.render("f", "\tab\n");
        assert_eq!(text, "f:1:2: error: m\n1 | \tab\n  | \t^^\n");
    }

    #[test]
    fn survives_out_of_range_lines() {
        let d = Diagnostic::new(
            Loc {
                line: 9,
                column: 0,
                end_line: 9,
                end_column: 0,
            },
            "m",
        );
        assert_eq!(d.render("f", "one line"), "f:9:1: error: m\n");
    }
}
