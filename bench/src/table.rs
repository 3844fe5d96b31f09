//! Markdown tables with aligned columns, so printed results can be pasted into BENCHMARKS.md
//! (a leaf: it imports nothing of the crate).

use std::fmt::Write as _;

/// Renders a Markdown table with aligned columns.
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let columns = headers.len();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut out = String::from("|");
        for (i, width) in widths.iter().enumerate() {
            let cell = cells.get(i).map(String::as_str).unwrap_or("");
            let pad = width.saturating_sub(cell.chars().count());
            let _ = write!(out, " {cell}{} |", " ".repeat(pad));
        }
        out.push('\n');
        out
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    out.push_str(&line(widths.iter().map(|w| "-".repeat(*w)).collect()));
    for row in rows {
        out.push_str(&line(row.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_tables_are_aligned() {
        let table = markdown_table(&["a", "bb"], &[vec!["xyz".to_string(), "1".to_string()]]);
        assert_eq!(table, "| a   | bb |\n| --- | -- |\n| xyz | 1  |\n");
    }
}
