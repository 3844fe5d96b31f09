//! The driver: turns the command line into scenarios and cases, runs every case for every peer
//! in alternation over several rounds (each run = a fresh server child + a client child), and
//! hands the outcomes to `report`.

use std::path::Path;

use crate::children::{run_client, ServerChild};
use crate::load::{Mode, RunResult, Workload};
use crate::options::Options;
use crate::peers::{Certs, Kind};
use crate::report::{self, CaseReport, Report};

/// Scenario numbers `--all` runs. Scenario 7 (packet loss) is `bench/loss.sh`, which runs it
/// in a network namespace with a loss rule (`--scenario 7 --loss P`).
pub const ALL_SCENARIOS: [u8; 6] = [1, 2, 3, 4, 5, 6];

/// Scenario numbers `--quick` runs: scenario 7 too, without loss, so CI exercises the
/// `Auto` client and its transport check.
pub const QUICK_SCENARIOS: [u8; 7] = [1, 2, 3, 4, 5, 6, 7];

/// Concurrency of the packet-loss scenario (7).
const LOSS_CONCURRENCY: usize = 16;

/// Concurrency levels of scenario 1.
const UNARY_CONCURRENCY: [usize; 4] = [1, 16, 64, 128];
/// Message size of scenario 1, bytes.
const SMALL_MESSAGE: usize = 64;
/// Concurrency of the payload sweep (scenario 2).
const SWEEP_CONCURRENCY: usize = 32;
/// Message sizes of the payload sweep, bytes.
const SWEEP_SIZES: [usize; 3] = [4 * 1024, 64 * 1024, 1024 * 1024];
/// Message sizes of the streaming scenario, bytes.
const STREAM_SIZES: [usize; 2] = [64, 16 * 1024];
/// Fractions of the measured maximum offered in scenario 4.
const RATE_FRACTIONS: [f64; 2] = [0.5, 0.8];
/// Closed-loop concurrency whose throughput is "the measured maximum" for scenario 4.
const MAX_RATE_CONCURRENCY: usize = 64;
/// Rounds of the memory scenario at most: each opens a thousand connections, and the figure
/// hardly moves between rounds.
const MEMORY_MAX_ROUNDS: usize = 3;

/// One case of a scenario: one workload shape, run for each of `kinds`.
#[derive(Clone, Debug)]
struct Case {
    scenario: u8,
    name: String,
    mode: Mode,
    size: usize,
    concurrency: usize,
    /// Fraction of the measured maximum (scenario 4); the rate is resolved when it runs.
    rate_fraction: Option<f64>,
    connections: usize,
    kinds: Vec<Kind>,
}

/// Runs every requested scenario and returns the report (already printed as it went).
pub fn run(options: &Options) -> anyhow::Result<Report> {
    let exe = std::env::current_exe()?;
    let mut report = Report::new(options.clone());
    for &scenario in &options.scenarios {
        if scenario == 5 {
            if options
                .kinds
                .as_ref()
                .is_some_and(|kinds| !kinds.contains(&Kind::Director))
            {
                let why = "scenario 5 runs the director: --kinds leaves it out".to_string();
                eprintln!("{why}");
                report.skipped.push(why);
                continue;
            }
            let swap = crate::swap::run(&exe, options);
            swap.print();
            report.swap = Some(swap);
            continue;
        }
        let cases = cases(scenario, options)?;
        let start = report.cases.len();
        for case in &cases {
            for &kind in &case.kinds {
                report.cases.push(CaseReport::new(
                    case.scenario,
                    &case.name,
                    kind,
                    case.mode,
                    case.size,
                    case.concurrency,
                    case.connections,
                ));
            }
        }
        let rounds = if scenario == 6 {
            options.rounds.min(MEMORY_MAX_ROUNDS)
        } else {
            options.rounds
        };
        for round in 0..rounds {
            for case in &cases {
                let rate = match case.rate_fraction {
                    None => None,
                    Some(fraction) => match max_rate(&exe, options, &mut report) {
                        Ok(max) => Some(fraction * max),
                        Err(error) => {
                            for entry in report.cases[start..]
                                .iter_mut()
                                .filter(|c| c.name == case.name)
                            {
                                entry.push(Err(format!("{error:#}")));
                            }
                            continue;
                        }
                    },
                };
                // Rotate the order every round so no peer always runs first (or last).
                let n = case.kinds.len();
                for i in 0..n {
                    let kind = case.kinds[(i + round) % n];
                    let outcome = run_once(&exe, options, case, kind, rate);
                    let entry = report.cases[start..]
                        .iter_mut()
                        .find(|c| c.name == case.name && c.kind == kind)
                        .expect("every case and kind has an entry");
                    entry.offered_rate = rate;
                    eprintln!(
                        "[scenario {} {} {} round {}/{}] {}",
                        case.scenario,
                        case.name,
                        kind,
                        round + 1,
                        rounds,
                        report::one_line(&outcome)
                    );
                    entry.push(outcome);
                }
            }
        }
        for case in &mut report.cases[start..] {
            case.summarise();
        }
        report::print_scenario(&report, scenario);
    }
    report.evaluate_goals();
    Ok(report)
}

/// The cases of one scenario.
fn cases(scenario: u8, options: &Options) -> anyhow::Result<Vec<Case>> {
    let kinds = |default: &[Kind]| -> Vec<Kind> {
        match &options.kinds {
            Some(only) => default
                .iter()
                .copied()
                .filter(|k| only.contains(k))
                .collect(),
            None => default.to_vec(),
        }
    };
    let base = Case {
        scenario,
        name: String::new(),
        mode: Mode::Unary,
        size: SMALL_MESSAGE,
        concurrency: 1,
        rate_fraction: None,
        connections: 1,
        kinds: kinds(&[Kind::Rpcnet, Kind::RpcnetH2, Kind::Tonic, Kind::Quinn]),
    };
    let cases = match scenario {
        1 => options
            .concurrency
            .clone()
            .unwrap_or_else(|| UNARY_CONCURRENCY.to_vec())
            .into_iter()
            .map(|concurrency| Case {
                name: format!("c={concurrency}"),
                concurrency,
                ..base.clone()
            })
            .collect(),
        2 => SWEEP_SIZES
            .iter()
            .map(|&size| Case {
                name: report::size_name(size),
                size,
                concurrency: SWEEP_CONCURRENCY,
                ..base.clone()
            })
            .collect(),
        3 => STREAM_SIZES
            .iter()
            .map(|&size| Case {
                name: report::size_name(size),
                mode: Mode::Stream,
                size,
                kinds: kinds(&[Kind::Rpcnet, Kind::RpcnetH2, Kind::Tonic]),
                ..base.clone()
            })
            .collect(),
        // Quick mode offers only the lower rate: it checks that calls succeed, and 80 % of a
        // half-second maximum on a busy machine can be more than either peer can serve.
        4 => (if options.quick {
            &RATE_FRACTIONS[..1]
        } else {
            &RATE_FRACTIONS[..]
        })
        .iter()
        .map(|&fraction| Case {
            name: format!("{:.0}% of max", fraction * 100.0),
            mode: Mode::Rate,
            rate_fraction: Some(fraction),
            kinds: kinds(&[Kind::Rpcnet, Kind::Tonic]),
            ..base.clone()
        })
        .collect(),
        6 => vec![Case {
            name: format!("{} conns", options.connections),
            mode: Mode::Hold,
            connections: options.connections,
            kinds: kinds(&[Kind::Director, Kind::Rpcnet, Kind::Tonic]),
            ..base.clone()
        }],
        // Scenario 1 at c=16 under the loss `bench/loss.sh` sets up around this process; quick
        // mode runs it without loss, only to check that every peer's calls succeed.
        7 if options.loss.is_none() && !options.quick => anyhow::bail!(
            "scenario 7 (packet loss) needs root and a network namespace: run bench/loss.sh"
        ),
        7 => vec![Case {
            name: format!("c={LOSS_CONCURRENCY}"),
            concurrency: LOSS_CONCURRENCY,
            kinds: kinds(&[Kind::Rpcnet, Kind::RpcnetH2, Kind::RpcnetAuto, Kind::Tonic]),
            ..base.clone()
        }],
        other => anyhow::bail!("there is no scenario {other} (1-7)"),
    };
    Ok(cases)
}

/// Starts a fresh server of `kind`, runs one client against it, stops the server.
fn run_once(
    exe: &Path,
    options: &Options,
    case: &Case,
    kind: Kind,
    rate: Option<f64>,
) -> Result<RunResult, String> {
    let mut server = ServerChild::start(exe, kind, &options.certs).map_err(|e| format!("{e:#}"))?;
    let workload = Workload {
        mode: case.mode,
        kind,
        addr: server.addr,
        server_pid: server.pid(),
        certs: Certs::in_dir(&options.certs),
        size: case.size,
        concurrency: case.concurrency,
        rate: rate.unwrap_or(0.0),
        connections: case.connections,
        warmup: options.warmup,
        duration: options.duration,
    };
    let result = run_client(exe, &options.certs, &workload).map_err(|e| format!("{e:#}"));
    let alive = server.check_alive().map_err(|e| format!("{e:#}"));
    server.stop();
    let result = result?;
    alive?;
    Ok(result)
}

/// The measured maximum for scenario 4: the lower of rpcnet's and tonic's median requests/s
/// at c=64 (scenario 1 of this run, or a probe run when scenario 1 did not give one), so that
/// both peers are offered the same rate and both can serve it. A peer whose maximum cannot be
/// measured (its runs failed) is left out, so the other can still be measured; only when
/// neither has a maximum does scenario 4 fail.
fn max_rate(exe: &Path, options: &Options, report: &mut Report) -> anyhow::Result<f64> {
    if let Some(rate) = report.max_rate {
        return Ok(rate);
    }
    let mut maxima = Vec::new();
    let mut failures = Vec::new();
    for kind in [Kind::Rpcnet, Kind::Tonic] {
        let measured = report
            .cases
            .iter()
            .find(|c| c.scenario == 1 && c.kind == kind && c.concurrency == MAX_RATE_CONCURRENCY)
            .and_then(|c| c.summary.as_ref())
            .map(|s| s.requests_per_second.median);
        let rate = match measured {
            Some(rate) => rate,
            None => {
                let probe = Case {
                    scenario: 4,
                    name: "probe".to_string(),
                    mode: Mode::Unary,
                    size: SMALL_MESSAGE,
                    concurrency: MAX_RATE_CONCURRENCY,
                    rate_fraction: None,
                    connections: 1,
                    kinds: vec![kind],
                };
                let outcome = run_once(exe, options, &probe, kind, None);
                match outcome {
                    Ok(result) if result.errors == 0 && result.completed > 0 => {
                        result.completed as f64 / result.seconds
                    }
                    other => {
                        let why = report::one_line(&other);
                        eprintln!("scenario 4: no maximum for {kind}: {why}");
                        failures.push(format!("{kind}: {why}"));
                        continue;
                    }
                }
            }
        };
        eprintln!("scenario 4: {kind} maximum at c={MAX_RATE_CONCURRENCY} is {rate:.0} req/s");
        maxima.push(rate);
    }
    if maxima.is_empty() {
        anyhow::bail!(
            "no maximum rate could be measured ({})",
            failures.join("; ")
        );
    }
    let rate = maxima.into_iter().fold(f64::INFINITY, f64::min);
    report.max_rate = Some(rate);
    report.max_rate_note = failures;
    Ok(rate)
}
