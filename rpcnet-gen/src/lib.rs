//! rpcnet-gen: service definitions (`*.rpc.rs`, or `.proto` files) to typed rpcnet stubs.
//!
//! The pipeline is one module per job: [`parse`] (syn -> [`ast`]), [`check`](mod@check)
//! (ast -> checked [`model`], or diagnostics with locations), [`emit`] (model -> Rust tokens
//! formatted with prettyplease, in either [`Layout`], and `.proto` text), and [`output`]
//! (atomic writes and `--check`). A `.proto` input goes through [`proto_input`] instead of
//! parse and check: protox compiles it, prost-build emits its messages, and its services are
//! mapped into the same model and emitted by the same [`emit::service`]. Everything is
//! produced in memory first, so a rejected definition writes nothing.
//!
//! Use from a `build.rs` (then `rpcnet::include_stubs!("api")` in the crate's source):
//!
//! ```no_run
//! let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
//! let config = rpcnet_gen::Config {
//!     out_dir: out_dir.clone(),
//!     proto_out: out_dir,
//!     layout: rpcnet_gen::Layout::SingleFile,
//!     ..rpcnet_gen::Config::new("proto/api.rpc.rs")
//! };
//! let generated = rpcnet_gen::generate(&config)?;
//! rpcnet_gen::write(&generated)?;
//! # Ok::<(), rpcnet_gen::Error>(())
//! ```
//!
//! The same for `.proto` files with include paths (`rpcnet::include_stubs!("test")`; the stem
//! is the input's):
//!
//! ```no_run
//! let out_dir = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
//! let config = rpcnet_gen::Config {
//!     out_dir,
//!     includes: vec!["proto".into()],
//!     extra_inputs: vec!["proto/grpc/testing/other.proto".into()],
//!     layout: rpcnet_gen::Layout::SingleFile,
//!     ..rpcnet_gen::Config::new("proto/grpc/testing/test.proto")
//! };
//! rpcnet_gen::write(&rpcnet_gen::generate(&config)?)?;
//! # Ok::<(), rpcnet_gen::Error>(())
//! ```

pub mod ast;
pub mod check;
pub mod diagnostic;
pub mod emit;
#[doc(hidden)]
pub mod fuzzing;
pub mod model;
pub mod names;
pub mod output;
pub mod parse;
pub mod proto_input;

use std::fmt;
use std::path::{Path, PathBuf};

pub use diagnostic::{Diagnostic, Loc};
pub use output::{check, write, Stale, StaleReason, WriteSummary};

/// Default directory for the Rust modules (`--out-dir`).
pub const DEFAULT_OUT_DIR: &str = "generated/src";
/// Default directory for the `.proto` file (`--proto-out`).
pub const DEFAULT_PROTO_OUT: &str = "proto";

/// What to generate from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The definition file: `proto/connection_swap.rpc.rs`, or a `.proto` file (selected by its
    /// extension). Its path, as given, is named in the `@generated` line of every output, so
    /// pass a path relative to the workspace root.
    pub input: PathBuf,
    /// `.proto` input only: more files generated into the same output, after the input (each
    /// must have the input's package; the output is still named after the input).
    pub extra_inputs: Vec<PathBuf>,
    /// `.proto` input only: the directories imports are looked up in, in order (protoc's
    /// `-I`); every input must lie under one. Empty means the input's own directory.
    pub includes: Vec<PathBuf>,
    /// Where the Rust goes: `<stem>/mod.rs` and `<stem>/<service>/mod.rs`, or `<stem>.rs`,
    /// depending on [`layout`](Config::layout).
    pub out_dir: PathBuf,
    /// Where `<stem>.proto` goes (unused for `.proto` input, which exports no `.proto`).
    pub proto_out: PathBuf,
    /// The protobuf package; overrides `#![rpcnet(package = "...")]` and the file stem. Only
    /// for `.rpc.rs` input: a `.proto` file's package is part of its wire paths.
    pub package: Option<String>,
    /// How the Rust is split into files.
    pub layout: Layout,
}

impl Config {
    /// A config for `input` with the default output directories, no package override, no extra
    /// inputs or include paths, and the [`Layout::Modules`] layout.
    pub fn new(input: impl Into<PathBuf>) -> Config {
        Config {
            input: input.into(),
            extra_inputs: Vec::new(),
            includes: Vec::new(),
            out_dir: PathBuf::from(DEFAULT_OUT_DIR),
            proto_out: PathBuf::from(DEFAULT_PROTO_OUT),
            package: None,
            layout: Layout::Modules,
        }
    }
}

/// How the generated Rust is split into files. Both layouts emit the same items: the messages,
/// and beside them one module per service that refers to them as `super::Msg`. In a module
/// named `<stem>` (`mod <stem>;`, or `mod <stem> { rpcnet::include_stubs!("<stem>"); }`),
/// either gives the paths `<stem>::Msg` and `<stem>::<service>::<Service>Client`. The `.proto`
/// does not depend on the layout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Layout {
    /// `<stem>/mod.rs` (the messages and `pub mod <service>;`) and one
    /// `<stem>/<service>/mod.rs` per service, each opening with `//!` docs: a module tree to
    /// commit into a crate's `src/` and declare with `mod <stem>;`. The command's layout.
    #[default]
    Modules,
    /// One file, `<stem>.rs`: the messages, then each service as an inline
    /// `pub mod <service> { ... }`. It opens with plain `//` comments and no inner attributes,
    /// so it is valid inside `include!` (which rejects `//!` docs, E0753): the layout for a
    /// `build.rs` writing into `OUT_DIR`, included with `rpcnet::include_stubs!("<stem>")`
    /// inside a module the includer declares and documents.
    SingleFile,
}

/// Every file one definition produces, in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Generated {
    /// The files, in a fixed order: the messages module, the service modules and the `.proto`
    /// ([`Layout::Modules`]), or the single Rust file and the `.proto` ([`Layout::SingleFile`]);
    /// no `.proto` for `.proto` input.
    pub files: Vec<GeneratedFile>,
    /// The directory that holds only this definition's Rust modules (`<out_dir>/<stem>`); files
    /// in it that are no longer generated are stale. In the single-file layout nothing belongs
    /// there, so generated files left by the modules layout are stale (switching layouts does
    /// not leave a second copy of the stubs behind).
    pub module_dir: PathBuf,
}

/// One generated file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Where it goes (output directory joined with its relative path).
    pub path: PathBuf,
    /// Its full contents.
    pub contents: String,
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The definition file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An output file could not be written, compared or removed.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The config asks for something the input's kind does not support (a package override
    /// for a `.proto`, extra inputs or include paths for a `.rpc.rs`), or names a `.proto`
    /// outside every include path; nothing was written.
    #[error("{input}: {reason}")]
    Unsupported {
        /// The input.
        input: PathBuf,
        /// What does not apply, and why.
        reason: String,
    },
    /// The definition was rejected; nothing was written.
    #[error("{0}")]
    Definition(Diagnostics),
    /// The generator produced Rust that does not parse: a bug in rpcnet-gen.
    #[error("internal error in rpcnet-gen (please report): {0}")]
    Internal(String),
}

/// The rejected constructs of one definition file (or `.proto` file set), renderable as
/// compiler-style messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostics {
    /// The file, as given (with `/` separators); for a `.proto` set, the file of the first
    /// problem.
    pub path: String,
    /// The problems, sorted by location.
    pub diagnostics: Vec<Diagnostic>,
    /// Every problem rendered: `path:line:col: error: message`, the source line and a caret.
    pub rendered: String,
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rendered.trim_end())
    }
}

/// Reads `config.input` and generates every output file in memory.
pub fn generate(config: &Config) -> Result<Generated, Error> {
    let source = std::fs::read_to_string(&config.input).map_err(|source| Error::Read {
        path: config.input.clone(),
        source,
    })?;
    generate_from_source(config, &source)
}

/// Generates from `source` as if it were the contents of `config.input` (which is not read;
/// a `.proto` input's imports and extra inputs are).
pub fn generate_from_source(config: &Config, source: &str) -> Result<Generated, Error> {
    if proto_input::is_proto(&config.input) {
        return proto_input::generate(config, source);
    }
    if !config.extra_inputs.is_empty() || !config.includes.is_empty() {
        return Err(Error::Unsupported {
            input: config.input.clone(),
            reason: "extra inputs and include paths apply to `.proto` input only: a `.rpc.rs` \
                     definition is one self-contained file"
                .into(),
        });
    }
    let display = display_path(&config.input);
    let fail = |diagnostics: Vec<Diagnostic>| {
        let rendered = diagnostics
            .iter()
            .map(|d| d.render(&display, source))
            .collect::<Vec<_>>()
            .join("\n");
        Error::Definition(Diagnostics {
            path: display.clone(),
            diagnostics,
            rendered,
        })
    };
    let file = parse::parse(source).map_err(fail)?;
    let options = check::Options {
        source: display.clone(),
        stem: stem(&config.input),
        package: config.package.clone(),
    };
    let schema = check::check(&file, &options).map_err(fail)?;
    let outputs = emit::all(&schema, config.layout).map_err(|e| Error::Internal(e.to_string()))?;
    let files = outputs
        .into_iter()
        .map(|o| {
            let root = match o.root {
                emit::Root::Rust => &config.out_dir,
                emit::Root::Proto => &config.proto_out,
            };
            GeneratedFile {
                path: root.join(&o.relative),
                contents: o.contents,
            }
        })
        .collect();
    Ok(Generated {
        files,
        module_dir: config.out_dir.join(&schema.module),
    })
}

/// The input path as given, with `/` separators, for messages and `@generated` lines.
pub(crate) fn display_path(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// The file name without `.rpc.rs` (or `.rs`, or any extension: `test.proto` -> `test`).
pub(crate) fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for suffix in [".rpc.rs", ".rs"] {
        if let Some(stem) = name.strip_suffix(suffix) {
            return stem.to_string();
        }
    }
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems() {
        assert_eq!(
            stem(Path::new("proto/connection_swap.rpc.rs")),
            "connection_swap"
        );
        assert_eq!(stem(Path::new("a/b.rs")), "b");
        assert_eq!(stem(Path::new("a/b.txt")), "b");
    }

    #[test]
    fn display_paths_use_slashes() {
        assert_eq!(display_path(Path::new("a\\b.rpc.rs")), "a/b.rpc.rs");
    }
}
