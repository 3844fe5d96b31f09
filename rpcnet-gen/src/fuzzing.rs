//! Property checks over definition files a user writes, shared by the proptest suite below and the cargo-fuzz targets in `fuzz/`.
//!
//! Not API. Each check panics when a property fails; a definition that is merely wrong (an
//! error with diagnostics) passes.

use std::path::Path;

use crate::{generate_from_source, Config, Error};

/// A `.rpc.rs` (`proto == false`) or `.proto` definition as a user may write it.
///
/// Checks: the generator answers with files or with a definition error, never a panic and
/// never an internal error (Rust it produced that does not parse); every output file lies
/// under the configured output directories; every diagnostic points
/// inside the source and renders with its path; a definition that generates does so again
/// byte for byte (deterministic output).
pub fn definition(source: &str, proto: bool) {
    let input = if proto {
        "fuzz/input.proto"
    } else {
        "fuzz/input.rpc.rs"
    };
    let config = Config::new(input);
    match generate_from_source(&config, source) {
        Ok(generated) => {
            assert!(!generated.files.is_empty());
            for file in &generated.files {
                // Whatever the definition names (a package of `../..`...), nothing is
                // written outside the configured directories.
                let inside = [&config.out_dir, &config.proto_out]
                    .iter()
                    .any(|dir| file.path.starts_with(dir) && !has_parent_step(&file.path));
                assert!(inside, "{:?} is outside the output directories", file.path);
                assert!(!file.contents.is_empty(), "{:?} is empty", file.path);
            }
            let again = generate_from_source(&config, source).expect("generated once");
            let pairs = generated.files.iter().zip(&again.files);
            assert_eq!(generated.files.len(), again.files.len());
            for (first, second) in pairs {
                assert_eq!(first.path, second.path);
                assert!(
                    first.contents == second.contents,
                    "{:?} differs",
                    first.path
                );
            }
        }
        Err(Error::Definition(diagnostics)) => {
            assert!(!diagnostics.diagnostics.is_empty());
            assert!(diagnostics.rendered.contains(&diagnostics.path));
            let lines = source.lines().count().max(1);
            for diagnostic in &diagnostics.diagnostics {
                let loc = diagnostic.loc;
                assert!(loc.line <= lines + 1, "{diagnostic:?} past line {lines}");
            }
        }
        Err(Error::Internal(bug)) => panic!("internal error on {source:?}: {bug}"),
        // An import that is not there, or similar: answered, not a panic.
        Err(Error::Read { .. } | Error::Unsupported { .. }) => {}
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn has_parent_step(path: &Path) -> bool {
    path.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RPC_RS: &str = include_str!("../tests/golden/streaming_kinds/input.rpc.rs");
    const PROTO: &str = include_str!("../tests/golden/proto/all_kinds/input.proto");

    /// A valid definition with one span replaced: most of the file still parses, so the
    /// checks after parsing are reached, not only the parser's error path.
    fn mutated(base: &'static str) -> impl Strategy<Value = String> {
        let len = base.len();
        (0..=len, 0usize..24, "[ -~\n]{0,12}").prop_map(move |(start, cut, insert)| {
            let mut start = start.min(len);
            while !base.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (start + cut).min(len);
            while !base.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}{insert}{}", &base[..start], &base[end..])
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn mutated_rpc_rs_definitions_are_answered(source in mutated(RPC_RS)) {
            definition(&source, false);
        }

        #[test]
        fn mutated_proto_definitions_are_answered(source in mutated(PROTO)) {
            definition(&source, true);
        }

        #[test]
        fn arbitrary_text_is_answered(source in ".{0,80}", proto in any::<bool>()) {
            definition(&source, proto);
        }
    }

    #[test]
    fn the_unmutated_bases_generate() {
        let config = Config::new("fuzz/input.rpc.rs");
        assert!(generate_from_source(&config, RPC_RS).is_ok());
        let config = Config::new("fuzz/input.proto");
        assert!(generate_from_source(&config, PROTO).is_ok());
    }
}
