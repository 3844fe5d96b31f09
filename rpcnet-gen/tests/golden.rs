//! Golden tests: every case folder's generated files (and error text) compared byte for byte.
//!
//! Valid cases live in `tests/golden/<case>/`: `input.rpc.rs`, the generator's output under
//! `expected/`, and `prost_build.rs`, what prost-build makes of the exported `.proto` (compiled
//! with protox, so every exported schema is also checked to be valid protobuf). Each valid case
//! is also generated in the single-file layout (`Layout::SingleFile`), whose `<stem>.rs` lives
//! in `expected_single_file/` (its `.proto` must equal the other layout's). Error cases
//! live in `tests/golden/errors/<case>/`: `input.rpc.rs` and `expected.txt`.
//!
//! `.proto` input has the same two kinds. Valid cases live in `tests/golden/proto/<case>/`:
//! `input.proto`, any other `*.proto` beside it (extra inputs, in name order), an optional
//! `include/` directory (a second include path after the case folder), and `expected/` and
//! `expected_single_file/` (no `.proto` is exported and no prost-build oracle is needed: the
//! messages are prost-build's). Error cases live in `tests/golden/proto_errors/<case>/`:
//! `input.proto`, any files it imports, and `expected.txt`.
//!
//! `UPDATE_GOLDEN=1 cargo test -p rpcnet-gen --test golden` rewrites the expected files. CI
//! never sets it, so a stale golden file fails there with a diff.

use std::fs;
use std::path::{Path, PathBuf};

use rpcnet_gen::{Config, Error, Generated, GeneratedFile, Layout};

const GOLDEN: &str = "tests/golden";
const ERRORS: &str = "tests/golden/errors";
const PROTO: &str = "tests/golden/proto";
const PROTO_ERRORS: &str = "tests/golden/proto_errors";

fn update() -> bool {
    std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1")
}

/// Case folders under `dir` (those holding a file named `input`), sorted.
fn cases(dir: &str, input: &str) -> Vec<String> {
    let mut out: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.path().join(input).is_file())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// A readable unified diff, or `None` when equal.
fn diff(expected: &str, actual: &str, name: &str) -> Option<String> {
    if expected == actual {
        return None;
    }
    let diff = similar::TextDiff::from_lines(expected, actual);
    Some(format!(
        "{}",
        diff.unified_diff()
            .context_radius(3)
            .header(&format!("{name} (expected)"), &format!("{name} (actual)"))
    ))
}

/// Compares `actual` with the golden file at `path` (or rewrites it under `UPDATE_GOLDEN=1`).
fn compare(path: &Path, actual: &str, failures: &mut Vec<String>) {
    if update() {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        }
        if fs::read_to_string(path).ok().as_deref() != Some(actual) {
            fs::write(path, actual).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        }
        return;
    }
    let name = path.display().to_string();
    match fs::read_to_string(path) {
        Ok(expected) => {
            if let Some(d) = diff(&expected, actual, &name) {
                failures.push(d);
            }
        }
        Err(e) => failures.push(format!(
            "{name}: cannot read golden file ({e}); run with UPDATE_GOLDEN=1 to create it"
        )),
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The config of a valid case in `layout`: the Rust goes to `expected/` ([`Layout::Modules`])
/// or `expected_single_file/` ([`Layout::SingleFile`]), the `.proto` to `expected/` for both.
fn valid_config(case: &str, layout: Layout) -> Config {
    let dir = PathBuf::from(GOLDEN).join(case);
    let rust = match layout {
        Layout::Modules => "expected",
        Layout::SingleFile => "expected_single_file",
    };
    Config {
        out_dir: dir.join(rust),
        proto_out: dir.join("expected"),
        layout,
        ..Config::new(dir.join("input.rpc.rs"))
    }
}

/// The config of a valid `.proto` case in `layout`: `input.proto` first, the other `.proto`
/// files of the folder as extra inputs, the folder and its `include/` as include paths.
fn proto_config(dir: &Path, layout: Layout) -> Config {
    let rust = match layout {
        Layout::Modules => "expected",
        Layout::SingleFile => "expected_single_file",
    };
    let mut extra_inputs: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|e| e == "proto"))
                .filter(|p| !p.ends_with("input.proto"))
                .collect()
        })
        .unwrap_or_default();
    extra_inputs.sort();
    let mut includes = vec![dir.to_path_buf()];
    if dir.join("include").is_dir() {
        includes.push(dir.join("include"));
    }
    Config {
        extra_inputs,
        includes,
        out_dir: dir.join(rust),
        proto_out: dir.join("unused"),
        layout,
        ..Config::new(dir.join("input.proto"))
    }
}

fn check_valid(case: &str, failures: &mut Vec<String>) {
    let Some(modules) = check_layout(case, &valid_config(case, Layout::Modules), failures) else {
        return;
    };
    let Some(proto) = proto_of(&modules) else {
        failures.push(format!("{case}: no .proto generated"));
        return;
    };
    if let Some(single) = check_layout(case, &valid_config(case, Layout::SingleFile), failures) {
        if proto_of(&single) != Some(proto) {
            failures.push(format!("{case}: the .proto depends on the layout"));
        }
        for file in single.files.iter().filter(|f| f.path != proto.path) {
            if let Some(problem) = include_problem(&file.contents) {
                failures.push(format!("{}: {problem}", file.path.display()));
            }
        }
    }
    match prost_build_output(&proto.path, &proto.contents) {
        Ok(code) => compare(
            &PathBuf::from(GOLDEN).join(case).join("prost_build.rs"),
            &code,
            failures,
        ),
        Err(e) => failures.push(format!("{case}: the exported .proto does not compile: {e}")),
    }
}

/// Checks a valid `.proto` case in both layouts; the single-file output must suit `include!`.
fn check_valid_proto(case: &str, failures: &mut Vec<String>) {
    let dir = PathBuf::from(PROTO).join(case);
    let name = format!("proto/{case}");
    if let Some(modules) = check_layout(&name, &proto_config(&dir, Layout::Modules), failures) {
        if let Some(proto) = proto_of(&modules) {
            failures.push(format!(
                "{}: .proto input exports a .proto",
                proto.path.display()
            ));
        }
    }
    let single = proto_config(&dir, Layout::SingleFile);
    if let Some(single) = check_layout(&name, &single, failures) {
        for file in &single.files {
            if let Some(problem) = include_problem(&file.contents) {
                failures.push(format!("{}: {problem}", file.path.display()));
            }
        }
    }
}

/// Generates `case` with `config` (twice: the output must be deterministic), compares every
/// file with its golden file, and checks that nothing else sits in the layout's Rust directory.
fn check_layout(case: &str, config: &Config, failures: &mut Vec<String>) -> Option<Generated> {
    let layout = config.layout;
    let generated = match rpcnet_gen::generate(config) {
        Ok(g) => g,
        Err(e) => {
            failures.push(format!("{case} ({layout:?}): generation failed:\n{e}"));
            return None;
        }
    };
    match rpcnet_gen::generate(config) {
        Ok(again) if again == generated => {}
        _ => failures.push(format!(
            "{case} ({layout:?}): a second run gave different output"
        )),
    }
    for file in &generated.files {
        compare(&file.path, &file.contents, failures);
    }
    // Nothing else may sit in the Rust directory: a leftover file would hide a missing output.
    let mut on_disk = Vec::new();
    files_under(&config.out_dir, &mut on_disk);
    for path in on_disk {
        if !generated.files.iter().any(|f| f.path == path) {
            if update() {
                let _ = fs::remove_file(&path);
            } else {
                failures.push(format!(
                    "{}: not generated any more (UPDATE_GOLDEN=1 removes it)",
                    path.display()
                ));
            }
        }
    }
    Some(generated)
}

fn proto_of(generated: &Generated) -> Option<&GeneratedFile> {
    generated
        .files
        .iter()
        .find(|f| f.path.extension().is_some_and(|e| e == "proto"))
}

/// Why `include!` would reject a file, judged by its opening: `include!` takes items only, so
/// the file must not open with `//!` docs (E0753) or other inner attributes. The compile test
/// proves the same by including the files; this names the line.
fn include_problem(contents: &str) -> Option<String> {
    if !contents.starts_with(rpcnet_gen::output::GENERATED_MARKER) {
        return Some("does not start with the @generated marker".to_owned());
    }
    let opening = contents.lines().enumerate().take_while(|(_, line)| {
        line.is_empty() || line.starts_with("//") || line.starts_with("#!")
    });
    for (index, line) in opening {
        if line.starts_with("//!") || line.starts_with("#!") {
            return Some(format!(
                "line {} is an inner doc or attribute, which include! rejects: {line}",
                index + 1
            ));
        }
    }
    None
}

/// Compiles `.proto` text with protox and returns prost-build's Rust for it.
fn prost_build_output(path: &Path, contents: &str) -> Result<String, String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let name = path
        .file_name()
        .ok_or("no file name")?
        .to_string_lossy()
        .into_owned();
    fs::write(work.path().join(&name), contents).map_err(|e| e.to_string())?;
    let fds = protox::compile([&name], [work.path()]).map_err(|e| format!("{e:?}"))?;
    let out = work.path().join("out");
    fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    prost_build::Config::new()
        .out_dir(&out)
        .compile_fds(fds)
        .map_err(|e| e.to_string())?;
    let mut files = Vec::new();
    files_under(&out, &mut files);
    files.sort();
    let mut code = String::new();
    for file in files {
        code.push_str(&fs::read_to_string(&file).map_err(|e| e.to_string())?);
    }
    Ok(code)
}

/// Generates an error case (`input` in `root/case`) in both layouts and compares the rendered
/// diagnostics with `expected.txt`.
fn check_error(root: &str, case: &str, input: &str, failures: &mut Vec<String>) {
    let dir = PathBuf::from(root).join(case);
    let work = match tempfile::tempdir() {
        Ok(w) => w,
        Err(e) => {
            failures.push(format!("{case}: tempdir: {e}"));
            return;
        }
    };
    let config = Config {
        out_dir: work.path().join("src"),
        proto_out: work.path().join("proto"),
        ..Config::new(dir.join(input))
    };
    let text = match rpcnet_gen::generate(&config) {
        Ok(_) => {
            failures.push(format!("{case}: expected errors, but generation succeeded"));
            return;
        }
        Err(Error::Definition(diags)) => diags.rendered,
        Err(e) => {
            failures.push(format!("{case}: expected definition errors, got: {e}"));
            return;
        }
    };
    compare(&dir.join("expected.txt"), &text, failures);
    // The layout only places the output: a rejected definition fails the same way in both.
    let single = Config {
        layout: Layout::SingleFile,
        ..config
    };
    match rpcnet_gen::generate(&single) {
        Err(Error::Definition(diags)) if diags.rendered == text => {}
        _ => failures.push(format!(
            "{case}: the single-file layout reports other errors than the modules layout"
        )),
    }
}

fn report(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} golden mismatch(es):\n\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Runs `check` on every case folder of `dir` holding `input` (at least `min` of them) and
/// reports all mismatches at once.
fn run_cases(dir: &str, input: &str, min: usize, check: impl Fn(&str, &mut Vec<String>)) {
    let cases = cases(dir, input);
    assert!(cases.len() >= min, "only {} cases in {dir}", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        check(case, &mut failures);
    }
    report(failures);
}

#[test]
fn valid_cases_match_golden_files() {
    run_cases(GOLDEN, "input.rpc.rs", 8, check_valid);
}

#[test]
fn error_cases_match_golden_files() {
    run_cases(ERRORS, "input.rpc.rs", 15, |case, failures| {
        check_error(ERRORS, case, "input.rpc.rs", failures)
    });
}

#[test]
fn valid_proto_cases_match_golden_files() {
    run_cases(PROTO, "input.proto", 3, check_valid_proto);
}

#[test]
fn proto_error_cases_match_golden_files() {
    run_cases(PROTO_ERRORS, "input.proto", 6, |case, failures| {
        check_error(PROTO_ERRORS, case, "input.proto", failures)
    });
}
