//! Enforces the runtime's layering invariants (ARCHITECTURE.md): the call core and the pure
//! wire modules import no I/O crate, and the drivers reach the wire only through `transport`.

use std::path::Path;

const SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src");

/// Crates a sans-IO module must not name.
const IO_CRATES: &[&str] = &[
    "tokio",
    "quinn",
    "h3",
    "hyper",
    "hyper_util",
    "h2",
    "tokio_rustls",
];
/// Crates only the transport layer and connection set-up may name.
const TRANSPORT_CRATES: &[&str] = &["quinn", "h3", "hyper", "hyper_util", "h2", "tokio_rustls"];

/// The crate paths `source` names: `use x::`, `x::` in expressions, `::x::`.
fn named_crates<'a>(source: &str, candidates: &[&'a str]) -> Vec<&'a str> {
    let mut found = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or_default();
        for krate in candidates {
            let named = code.match_indices(&format!("{krate}::")).any(|(at, _)| {
                // A whole path segment (not `my_h3::`), and not our own `transport::h3::`.
                let before = &code[..at];
                let ours = before.ends_with("transport::") || before.ends_with("self::");
                let glued = before
                    .chars()
                    .last()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_');
                !ours && !glued
            });
            if named && !found.contains(krate) {
                found.push(*krate);
            }
        }
    }
    found
}

fn check(relative: &str, forbidden: &[&str]) {
    let path = Path::new(SRC).join(relative);
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let found = named_crates(&source, forbidden);
    assert!(
        found.is_empty(),
        "{relative} must not name {found:?} (see ARCHITECTURE.md, rpcnet invariants)"
    );
}

#[test]
fn the_call_core_and_wire_modules_are_sans_io() {
    for file in std::fs::read_dir(Path::new(SRC).join("call_core")).expect("call_core/") {
        let name = file.expect("entry").file_name();
        check(&format!("call_core/{}", name.to_string_lossy()), IO_CRATES);
    }
    for file in [
        "alert.rs",
        "codec.rs",
        "status.rs",
        "metadata.rs",
        "timeout.rs",
        "fuzzing.rs",
    ] {
        check(file, IO_CRATES);
    }
}

#[test]
fn the_drivers_reach_the_wire_only_through_transport() {
    for file in [
        "streaming.rs",
        "server/call.rs",
        "server/routing.rs",
        "client/mod.rs",
        "context.rs",
        "error.rs",
        "status.rs",
    ] {
        check(file, TRANSPORT_CRATES);
    }
}

#[test]
fn the_check_finds_what_it_forbids() {
    assert_eq!(named_crates("use tokio::sync::mpsc;", IO_CRATES), ["tokio"]);
    assert_eq!(
        named_crates("let x = ::h3::client::builder();", IO_CRATES),
        ["h3"]
    );
    assert_eq!(
        named_crates("fn f(e: &hyper::Error) {}", IO_CRATES),
        ["hyper"]
    );
    assert!(named_crates("use crate::transport::h3::ResetOnDrop;", IO_CRATES).is_empty());
    assert!(named_crates("// tokio::spawn is not used here", IO_CRATES).is_empty());
    assert!(named_crates("let my_h3::x = 1;", IO_CRATES).is_empty());
}
