//! The `rpcnet-gen` command: parses flags, then calls the library to generate, write or check.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser;

/// Generates rpcnet client/server stubs and a `.proto` file from a `*.rpc.rs` definition, or
/// stubs and messages from `.proto` files.
///
/// Writes `<out-dir>/<stem>/mod.rs` (messages), `<out-dir>/<stem>/<service>/mod.rs` (one per
/// service, the name in lowercase) and `<proto-out>/<stem>.proto`; with `--layout single-file`,
/// `<out-dir>/<stem>.rs` instead of the module tree. `.proto` input (compiled with protox, its
/// messages by prost-build) exports no `.proto`. Nothing is written if the definition has
/// errors; unchanged files are left alone.
#[derive(Parser, Debug)]
#[command(name = "rpcnet-gen", version)]
struct Args {
    /// The definition file, e.g. `proto/connection_swap.rpc.rs` or `proto/test.proto` (named in
    /// every output's `@generated` line as given, so use a path relative to the workspace
    /// root). Several `.proto` files of one package may be given: they share one output, named
    /// after the first.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// `.proto` input: a directory imports are looked up in (repeatable, searched in order;
    /// every input must lie under one). Default: the first input's directory.
    #[arg(short = 'I', long = "include", value_name = "DIR")]
    includes: Vec<PathBuf>,
    /// Directory for the Rust modules.
    #[arg(long, default_value = rpcnet_gen::DEFAULT_OUT_DIR)]
    out_dir: PathBuf,
    /// Directory for the `.proto` file (unused for `.proto` input).
    #[arg(long, default_value = rpcnet_gen::DEFAULT_PROTO_OUT)]
    proto_out: PathBuf,
    /// Protobuf package for the wire paths; overrides `#![rpcnet(package = "...")]` in the file,
    /// which itself defaults to the file stem.
    #[arg(long)]
    package: Option<String>,
    /// How the Rust is split into files.
    #[arg(long, value_enum, default_value_t = LayoutArg::Modules)]
    layout: LayoutArg,
    /// Write nothing; exit 1 listing the files that are missing or out of date.
    #[arg(long)]
    check: bool,
}

/// `--layout`: the command-line spelling of [`rpcnet_gen::Layout`].
#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LayoutArg {
    /// `<stem>/mod.rs` and `<stem>/<service>/mod.rs`, for `mod <stem>;` in a crate's sources.
    Modules,
    /// One `<stem>.rs`, valid inside `include!` (what a build.rs writes into OUT_DIR).
    SingleFile,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rpcnet-gen: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let regenerate = regenerate_command(&args);
    let mut inputs = args.inputs.into_iter();
    let config = rpcnet_gen::Config {
        input: inputs.next().context("no input file given")?,
        extra_inputs: inputs.collect(),
        includes: args.includes,
        out_dir: args.out_dir,
        proto_out: args.proto_out,
        package: args.package,
        layout: match args.layout {
            LayoutArg::Modules => rpcnet_gen::Layout::Modules,
            LayoutArg::SingleFile => rpcnet_gen::Layout::SingleFile,
        },
    };
    let generated = match rpcnet_gen::generate(&config) {
        Ok(generated) => generated,
        Err(rpcnet_gen::Error::Definition(diags)) => {
            eprintln!("{}", diags.rendered.trim_end());
            let n = diags.diagnostics.len();
            let plural = if n == 1 { "" } else { "s" };
            eprintln!(
                "rpcnet-gen: {n} error{plural} in {}; nothing written",
                diags.path
            );
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    if args.check {
        let stale = rpcnet_gen::check(&generated).context("checking generated files")?;
        if stale.is_empty() {
            println!(
                "rpcnet-gen: {} generated files are up to date",
                generated.files.len()
            );
            return Ok(ExitCode::SUCCESS);
        }
        eprintln!("rpcnet-gen: generated files are stale (regenerate with `{regenerate}`):");
        for s in stale {
            eprintln!("  {} ({})", s.path.display(), s.reason);
        }
        return Ok(ExitCode::FAILURE);
    }
    let summary = rpcnet_gen::write(&generated).context("writing generated files")?;
    for path in &summary.written {
        println!("wrote {}", path.display());
    }
    for path in &summary.removed {
        println!("removed {}", path.display());
    }
    println!(
        "rpcnet-gen: {} written, {} unchanged, {} removed",
        summary.written.len(),
        summary.unchanged.len(),
        summary.removed.len()
    );
    Ok(ExitCode::SUCCESS)
}

/// The command that rewrites what `--check` found stale: this run's inputs and include paths
/// (the output flags are the caller's own, so they are left to it).
fn regenerate_command(args: &Args) -> String {
    let mut command = String::from("cargo run -p rpcnet-gen --");
    for dir in &args.includes {
        command.push_str(&format!(" -I {}", dir.display()));
    }
    for input in &args.inputs {
        command.push_str(&format!(" {}", input.display()));
    }
    command
}
