//! Runs protox over the input set and turns its error (which carries a file and a span) into a
//! located diagnostic.

use std::path::{Path, PathBuf};

use miette::Diagnostic as _;
use protox::file::{
    ChainFileResolver, File, FileResolver, GoogleFileResolver, IncludeFileResolver,
};
use protox::prost_reflect::prost_types::FileDescriptorSet;

use super::{Files, Reported};
use crate::diagnostic::{Diagnostic, Loc};
use crate::Config;

/// Compiles `config.input` (served from `files.input_source`) and `config.extra_inputs` with
/// every file they import, dependencies first, with source info for locations and comments.
pub(super) fn compile(
    config: &Config,
    files: &Files<'_>,
) -> Result<FileDescriptorSet, Vec<Reported>> {
    let mut resolver = ChainFileResolver::new();
    if let Some(name) = &files.input_name {
        resolver.add(Given {
            path: config.input.clone(),
            name: name.clone(),
            source: files.input_source.to_owned(),
        });
    }
    for dir in files.includes {
        resolver.add(IncludeFileResolver::new(dir.clone()));
    }
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(true);
    let inputs = std::iter::once(&config.input).chain(&config.extra_inputs);
    compiler
        .open_files(inputs)
        .map_err(|e| vec![diagnostic(&e, files)])?;
    Ok(compiler.file_descriptor_set())
}

/// The input, served from memory so its text is read once (and can be given without a file).
struct Given {
    path: PathBuf,
    name: String,
    source: String,
}

impl FileResolver for Given {
    fn resolve_path(&self, path: &Path) -> Option<String> {
        (path == self.path).then(|| self.name.clone())
    }

    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        if name == self.name {
            File::from_source(name, &self.source)
        } else {
            Err(protox::Error::file_not_found(name))
        }
    }
}

/// protox's error at its first labelled span, in the file it names (the input when it names
/// none, as for a file outside every include path).
fn diagnostic(error: &protox::Error, files: &Files<'_>) -> Reported {
    let name = error.file().unwrap_or_default().to_owned();
    let source = files.source(&name);
    let span = error.labels().and_then(|mut labels| labels.next());
    let loc = span
        .map(|s| loc_of_bytes(&source, s.offset(), s.len()))
        .unwrap_or_else(Loc::file_start);
    let mut message = error.to_string();
    if let Some(help) = error.help() {
        message.push_str(&format!(" ({help})"));
    }
    (name, Diagnostic::new(loc, message))
}

/// The location of `len` bytes at byte `offset` of `source`, in 1-based lines and 0-based
/// character columns like every other diagnostic. Offsets past the end clamp to it.
pub(super) fn loc_of_bytes(source: &str, offset: usize, len: usize) -> Loc {
    let position = |at: usize| {
        let mut at = at.min(source.len());
        while !source.is_char_boundary(at) {
            at -= 1;
        }
        let before = &source[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (
            before.matches('\n').count() + 1,
            before[line_start..].chars().count(),
        )
    };
    let (line, column) = position(offset);
    let (end_line, end_column) = position(offset.saturating_add(len));
    Loc {
        line,
        column,
        end_line,
        end_column,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_offsets_become_lines_and_character_columns() {
        let source = "ab\ncdé f\n";
        let loc = loc_of_bytes(source, 8, 1);
        assert_eq!(
            (loc.line, loc.column, loc.end_line, loc.end_column),
            (2, 4, 2, 5)
        );
        assert_eq!(loc_of_bytes(source, 0, 0).line, 1);
        // Past the end, and inside a multi-byte character: clamped, no panic.
        assert_eq!(loc_of_bytes(source, 999, 5).line, 3);
        assert_eq!(loc_of_bytes(source, 6, 0).column, 2);
    }
}
