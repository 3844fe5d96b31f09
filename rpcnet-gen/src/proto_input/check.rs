//! The rules rpcnet adds to what protox checks: one package per output, and Rust names for the
//! stubs that neither clash with each other nor with what the generated code already defines.
//!
//! Each problem is located through the descriptors' source info (protobuf's paths: field 2 of a
//! file is its package, 3 its imports, 6 its services; field 2 of a service its methods).

use std::collections::{HashMap, HashSet};

use protox::prost_reflect::prost_types::{FileDescriptorProto, FileDescriptorSet};

use super::Reported;
use crate::diagnostic::{Diagnostic, Loc};
use crate::model;
use crate::names;

/// `FileDescriptorProto` field numbers used in source-info paths.
const FILE_PACKAGE: i32 = 2;
const FILE_DEPENDENCY: i32 = 3;
const FILE_SERVICE: i32 = 6;
/// `ServiceDescriptorProto.method` and `name`; `MethodDescriptorProto.name` is also field 1.
const SERVICE_METHOD: i32 = 2;
const NAME: i32 = 1;

/// The input's package, when every file of the set has it. One output is one Rust module of
/// messages, so a file of another package (an import, or an extra input) is reported where it
/// enters: at its `import` line, else at its `package` line.
pub(super) fn one_package(
    fds: &FileDescriptorSet,
    input_name: &str,
) -> Result<String, Vec<Reported>> {
    let by_name: HashMap<&str, &FileDescriptorProto> =
        fds.file.iter().map(|f| (f.name(), f)).collect();
    let package = by_name
        .get(input_name)
        .map(|f| f.package().to_owned())
        .unwrap_or_default();
    let mut reported = Vec::new();
    let mut imported = HashSet::new();
    for file in &fds.file {
        for (index, dependency) in file.dependency.iter().enumerate() {
            imported.insert(dependency.as_str());
            let Some(other) = by_name.get(dependency.as_str()) else {
                continue;
            };
            if other.package() != package {
                let message = if other.package() == "google.protobuf" {
                    format!(
                        "`{dependency}` is a protobuf well-known type, which rpcnet-gen does not \
                         support yet (the runtime's `rpcnet::codegen` has no prost-types)"
                    )
                } else {
                    other_package(dependency, other.package(), &package)
                };
                let loc = location(file, &[FILE_DEPENDENCY, index as i32]);
                reported.push((file.name().to_owned(), Diagnostic::new(loc, message)));
            }
        }
    }
    for file in &fds.file {
        if file.package() != package && !imported.contains(file.name()) {
            let loc = location(file, &[FILE_PACKAGE]);
            let message = other_package(file.name(), file.package(), &package);
            reported.push((file.name().to_owned(), Diagnostic::new(loc, message)));
        }
    }
    if reported.is_empty() {
        Ok(package)
    } else {
        Err(reported)
    }
}

fn other_package(file: &str, theirs: &str, ours: &str) -> String {
    let show = |p: &str| {
        if p.is_empty() {
            "no package".to_owned()
        } else {
            format!("package `{p}`")
        }
    };
    format!(
        "`{file}` has {}, but the input has {}: rpcnet-gen generates one package per output, \
         so give each package its own run",
        show(theirs),
        show(ours)
    )
}

/// Problems with the Rust names of `services` (as mapped from prost-build): module names that
/// are keywords, shared with another service or with a module prost-build declared
/// (`prost_modules`), and method names the generated client already uses or that two RPCs share.
pub(super) fn services(
    fds: &FileDescriptorSet,
    services: &[model::Service],
    prost_modules: &[String],
) -> Vec<Reported> {
    let mut reported = Vec::new();
    let mut modules: HashMap<&str, &str> = HashMap::new();
    for service in services {
        // Every service came from the set; one that is not found has nothing to locate.
        let Some((file, index)) = find_service(fds, &service.wire_name) else {
            continue;
        };
        let at = |path: &[i32]| {
            let mut full = vec![FILE_SERVICE, index as i32];
            full.extend_from_slice(path);
            (file.name().to_owned(), location(file, &full))
        };
        let mut error = |(name, loc): (String, Loc), message: String| {
            reported.push((name, Diagnostic::new(loc, message)));
        };
        let (text, module) = (service.wire_name.as_str(), service.module.as_str());
        if names::is_unmappable_keyword(module) {
            error(
                at(&[NAME]),
                format!(
                    "service `{text}` would get module `{module}`, a Rust keyword that cannot be \
                     used as a module name"
                ),
            );
        }
        if let Some(other) = modules.insert(module, text) {
            error(
                at(&[NAME]),
                format!(
                    "services `{other}` and `{text}` both get module `{module}` (the Rust name \
                     in lowercase)"
                ),
            );
        }
        if prost_modules.iter().any(|m| m == module) {
            error(
                at(&[NAME]),
                format!(
                    "service `{text}` gets module `{module}`, which prost-build already declares \
                     for the nested types of a message"
                ),
            );
        }
        let mut methods: HashMap<&str, &str> = HashMap::new();
        for method in &service.methods {
            let index = file.service[index]
                .method
                .iter()
                .position(|m| m.name() == method.wire_name)
                .unwrap_or(0);
            let here = || at(&[SERVICE_METHOD, index as i32, NAME]);
            let (wire, name) = (method.wire_name.as_str(), method.name.as_str());
            if names::RESERVED_METHOD_NAMES.contains(&name) {
                error(
                    here(),
                    format!(
                        "method `{wire}` becomes Rust method `{name}`, which the generated client \
                         already has: rename the RPC"
                    ),
                );
            }
            if let Some(other) = methods.insert(name, wire) {
                error(
                    here(),
                    format!(
                        "methods `{other}` and `{wire}` collide after case conversion: both \
                         become Rust method `{name}`"
                    ),
                );
            }
        }
    }
    reported
}

/// The file declaring the service with protobuf name `name`, and its index there.
fn find_service<'a>(
    fds: &'a FileDescriptorSet,
    name: &str,
) -> Option<(&'a FileDescriptorProto, usize)> {
    fds.file.iter().find_map(|file| {
        let index = file.service.iter().position(|s| s.name() == name)?;
        Some((file, index))
    })
}

/// Where the element at source-info `path` is, or the start of the file without source info.
/// protobuf spans are `[line, column, end_column]` or `[line, column, end_line, end_column]`,
/// all 0-based.
fn location(file: &FileDescriptorProto, path: &[i32]) -> Loc {
    let span = file
        .source_code_info
        .as_ref()
        .and_then(|info| info.location.iter().find(|l| l.path == path))
        .map(|l| l.span.as_slice());
    let number = |n: &i32| usize::try_from(*n).unwrap_or(0);
    match span {
        Some([line, column, end_column]) => Loc {
            line: number(line) + 1,
            column: number(column),
            end_line: number(line) + 1,
            end_column: number(end_column),
        },
        Some([line, column, end_line, end_column]) => Loc {
            line: number(line) + 1,
            column: number(column),
            end_line: number(end_line) + 1,
            end_column: number(end_column),
        },
        _ => Loc::file_start(),
    }
}
