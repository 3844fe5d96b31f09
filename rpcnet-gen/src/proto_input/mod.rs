//! The `.proto` front end: protox compiles the files, prost-build emits the messages, and its
//! service hook maps each service into the [`model`](crate::model) for the shared emitter.
//!
//! The steps mirror the `.rpc.rs` pipeline: compile (protox: syntax, names, imports) -> check
//! (rpcnet's own rules, located through the descriptors' source info) -> emit (prost-build's
//! messages beside [`emit::service`]'s stubs, in either layout). Nothing
//! is written by prost-build or here; a rejected file set yields diagnostics and no output.

mod check;
mod compile;
mod services;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use protox::file::{FileResolver as _, IncludeFileResolver};
use quote::ToTokens as _;

use crate::diagnostic::{Diagnostic, Loc};
use crate::model::Schema;
use crate::{emit, names, Config, Diagnostics, Error, Generated, GeneratedFile};

/// Whether `path` names a `.proto` file, which selects this front end.
pub fn is_proto(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "proto")
}

/// One problem in one file of the set: the file's protox name (`grpc/testing/test.proto`) and
/// the diagnostic.
type Reported = (String, Diagnostic);

/// Generates the Rust for `config.input` (whose contents are `source`) and
/// `config.extra_inputs`, with their imports, in `config.layout`. No `.proto` is produced: the
/// input already is one.
pub fn generate(config: &Config, source: &str) -> Result<Generated, Error> {
    if let Some(package) = &config.package {
        return Err(Error::Unsupported {
            input: config.input.clone(),
            reason: format!(
                "a package override (`{package}`) applies to `.rpc.rs` input only: a `.proto` \
                 file names its own package, and its wire paths must stay as written"
            ),
        });
    }
    let includes = includes(config);
    let files = Files {
        input_name: input_name_of(&config.input, &includes),
        input_display: crate::display_path(&config.input),
        input_source: source,
        includes: &includes,
    };
    let Some(input_name) = files.input_name.clone() else {
        return Err(not_included(&config.input, &includes));
    };
    for extra in &config.extra_inputs {
        // Read errors name the file, as for the input; protox would only say "not found".
        std::fs::metadata(extra).map_err(|source| Error::Read {
            path: extra.clone(),
            source,
        })?;
        if input_name_of(extra, &includes).is_none() {
            return Err(not_included(extra, &includes));
        }
    }
    let fds = compile::compile(config, &files).map_err(|d| files.fail(d))?;
    let package = check::one_package(&fds, &input_name).map_err(|d| files.fail(d))?;
    let module = names::file_module_name(&crate::stem(&config.input));
    if !names::is_ascii_identifier(&module) || names::is_unmappable_keyword(&module) {
        return Err(files.fail(vec![(
            input_name,
            Diagnostic::new(
                Loc::file_start(),
                format!(
                    "the file name gives module name `{module}`, which is not a valid \
                     identifier; rename the file (like `my_api.proto`)"
                ),
            ),
        )]));
    }

    let collected = Rc::new(RefCell::new(Vec::new()));
    let messages = prost_messages(fds.clone(), &package, Rc::clone(&collected))?;
    let services = collected.take();
    let diags = check::services(&fds, &services, &prost_modules(&messages));
    if !diags.is_empty() {
        return Err(files.fail(diags));
    }

    let mut sources = vec![files.input_display.clone()];
    sources.extend(config.extra_inputs.iter().map(|p| crate::display_path(p)));
    let schema = Schema {
        source: sources.join(", "),
        package,
        module,
        docs: Vec::new(),
        types: Vec::new(),
        services,
    };
    let outputs = emit::rust(&schema, messages.into_token_stream(), config.layout)
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Generated {
        files: outputs
            .into_iter()
            .map(|o| GeneratedFile {
                path: config.out_dir.join(&o.relative),
                contents: o.contents,
            })
            .collect(),
        module_dir: config.out_dir.join(&schema.module),
    })
}

/// The include paths: as configured, or the input's directory when none are.
fn includes(config: &Config) -> Vec<PathBuf> {
    if !config.includes.is_empty() {
        return config.includes.clone();
    }
    match config.input.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => vec![dir.to_path_buf()],
        _ => vec![PathBuf::from(".")],
    }
}

/// A file's protox name: its path below the first include path that holds it.
fn input_name_of(input: &Path, includes: &[PathBuf]) -> Option<String> {
    includes
        .iter()
        .find_map(|dir| IncludeFileResolver::new(dir.clone()).resolve_path(input))
}

/// The error for an input outside every include path, which protox could not name.
fn not_included(input: &Path, includes: &[PathBuf]) -> Error {
    let dirs: Vec<String> = includes.iter().map(|i| crate::display_path(i)).collect();
    Error::Unsupported {
        input: input.to_path_buf(),
        reason: format!(
            "the file is not under any include path ({}): add its directory to the include \
             paths",
            dirs.join(", ")
        ),
    }
}

/// Runs prost-build on the whole set (every file has `package`), collecting the services
/// through its [`ServiceGenerator`](prost_build::ServiceGenerator) hook, and returns the
/// package's messages and enums parsed back as a file.
fn prost_messages(
    fds: protox::prost_reflect::prost_types::FileDescriptorSet,
    package: &str,
    services: Rc<RefCell<Vec<crate::model::Service>>>,
) -> Result<syn::File, Error> {
    let module = prost_build::Module::from_protobuf_package_name(package);
    let requests = fds
        .file
        .into_iter()
        .map(|file| (module.clone(), file))
        .collect();
    let mut prost = prost_build::Config::new();
    prost
        .prost_path(emit::messages::PROST_PATH)
        .service_generator(Box::new(services::Collect(services)))
        .format(false);
    // prost-build asserts on descriptors protox has already validated; a panic there is a bug,
    // reported as one instead of unwinding through the caller.
    let generated =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prost.generate(requests)))
            .map_err(|_| {
                Error::Internal("prost-build panicked on a validated descriptor set".into())
            })?
            .map_err(|e| Error::Internal(format!("prost-build: {e}")))?;
    let code = generated.get(&module).map(String::as_str).unwrap_or("");
    syn::parse_file(code).map_err(|e| Error::Internal(format!("prost-build output: {e}")))
}

/// The modules prost-build declared beside the messages (one per message with nested types or
/// oneofs), which a service module must not share a name with.
fn prost_modules(messages: &syn::File) -> Vec<String> {
    messages
        .items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) => Some(m.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// Where the files of a set live, to name them in messages and show their source lines.
struct Files<'a> {
    /// The input's protox name, if an include path holds it.
    input_name: Option<String>,
    /// The input path as given, with `/` separators.
    input_display: String,
    /// The input's contents (it is not read again).
    input_source: &'a str,
    /// The include paths, in search order.
    includes: &'a [PathBuf],
}

impl Files<'_> {
    /// How a file is named in messages: the input as given, another file by its path through
    /// the first include path holding it, a built-in file (`google/protobuf/...`) by its name.
    /// An empty name means the input.
    fn display(&self, name: &str) -> String {
        if name.is_empty() || Some(name) == self.input_name.as_deref() {
            return self.input_display.clone();
        }
        self.on_disk(name)
            .map(|path| {
                let shown = crate::display_path(&path);
                shown.strip_prefix("./").map(str::to_owned).unwrap_or(shown)
            })
            .unwrap_or_else(|| name.to_owned())
    }

    /// A file's text, or nothing for a built-in or unreadable file (its messages then carry no
    /// source line).
    fn source(&self, name: &str) -> String {
        if name.is_empty() || Some(name) == self.input_name.as_deref() {
            return self.input_source.to_owned();
        }
        self.on_disk(name)
            .and_then(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default()
    }

    fn on_disk(&self, name: &str) -> Option<PathBuf> {
        self.includes
            .iter()
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    }

    /// The error for `reported`: sorted by file and location, each rendered against its own
    /// file's text.
    fn fail(&self, mut reported: Vec<Reported>) -> Error {
        reported.sort_by_key(|(name, d)| (self.display(name), d.loc));
        reported.dedup();
        let rendered = reported
            .iter()
            .map(|(name, d)| d.render(&self.display(name), &self.source(name)))
            .collect::<Vec<_>>()
            .join("\n");
        let path = reported
            .first()
            .map(|(name, _)| self.display(name))
            .unwrap_or_else(|| self.input_display.clone());
        Error::Definition(Diagnostics {
            path,
            diagnostics: reported.into_iter().map(|(_, d)| d).collect(),
            rendered,
        })
    }
}
