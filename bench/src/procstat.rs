//! What the kernel says about a process (CPU time, resident memory) and about the machine, read
//! from /proc. Parsing is split from reading so it can be tested on literal file contents.

use std::path::Path;

use anyhow::{anyhow, Context};
use serde::{Deserialize, Serialize};

/// CPU time (user + system) a process has used so far, in microseconds.
///
/// `/proc/<pid>/stat` counts in clock ticks (usually 10 ms), so a window should last seconds for
/// the difference of two readings to be precise; the total includes threads that have exited.
pub fn cpu_micros(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/stat");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let ticks = parse_cpu_ticks(&text).with_context(|| format!("parsing {path}"))?;
    Ok(ticks * 1_000_000 / clock_ticks_per_second())
}

/// Resident set size of a process, in bytes (`VmRSS` of `/proc/<pid>/status`).
pub fn rss_bytes(pid: u32) -> anyhow::Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    parse_vm_rss(&text).with_context(|| format!("parsing {path}"))
}

/// `utime + stime` from the text of a `/proc/<pid>/stat` file, in clock ticks.
///
/// The second field (the command name) is in parentheses and may itself hold spaces and
/// parentheses, so the fields are counted from the last `)`.
pub fn parse_cpu_ticks(stat: &str) -> anyhow::Result<u64> {
    let after_name = stat
        .rfind(')')
        .map(|at| &stat[at + 1..])
        .ok_or_else(|| anyhow!("no `)` closing the command name"))?;
    // Fields after the name start with field 3 (state); utime and stime are fields 14 and 15.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| -> anyhow::Result<u64> {
        let text = fields
            .get(number - 3)
            .ok_or_else(|| anyhow!("only {} fields after the name", fields.len()))?;
        text.parse()
            .with_context(|| format!("field {number} is {text:?}, not a number"))
    };
    Ok(field(14)? + field(15)?)
}

/// `VmRSS` from the text of a `/proc/<pid>/status` file, in bytes.
pub fn parse_vm_rss(status: &str) -> anyhow::Result<u64> {
    let line = status
        .lines()
        .find(|line| line.starts_with("VmRSS:"))
        .ok_or_else(|| anyhow!("no VmRSS line"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value: u64 = words
        .next()
        .ok_or_else(|| anyhow!("VmRSS has no value"))?
        .parse()
        .with_context(|| format!("VmRSS line {line:?}"))?;
    match words.next() {
        Some("kB") => Ok(value * 1024),
        other => Err(anyhow!("VmRSS unit is {other:?}, expected kB")),
    }
}

/// The kernel's clock tick rate (`sysconf(_SC_CLK_TCK)`, 100 on Linux in practice).
fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions; it returns -1 for an unknown name.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as u64
    } else {
        100
    }
}

/// The machine a run happened on, recorded with its results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    /// Processors available to this process.
    pub cpus: usize,
    /// `model name` of the first processor in /proc/cpuinfo.
    pub cpu_model: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
    /// Total memory from /proc/meminfo, in bytes.
    pub memory_bytes: u64,
}

impl Machine {
    /// Reads the description of this machine; fields that cannot be read say "unknown".
    pub fn current() -> Machine {
        let read = |path: &str| std::fs::read_to_string(Path::new(path)).unwrap_or_default();
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find(|line| line.starts_with("model name"))
            .and_then(|line| line.split_once(':'))
            .map(|(_, name)| name.trim().to_string())
            .unwrap_or_else(|| "unknown".to_string());
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
        let memory_bytes = read("/proc/meminfo")
            .lines()
            .find(|line| line.starts_with("MemTotal:"))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024);
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            kernel: if kernel.is_empty() {
                "unknown".to_string()
            } else {
                kernel
            },
            memory_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_utime_plus_stime_even_with_parentheses_in_the_name() {
        let stat = "4242 (tokio (rt) x) S 1 4242 4242 0 -1 4194560 1500 0 0 0 \
                    731 212 0 0 20 0 3 0 123456 1000000 2000 18446744073709551615";
        assert_eq!(parse_cpu_ticks(stat).unwrap(), 731 + 212);
    }

    #[test]
    fn truncated_stat_is_an_error() {
        assert!(parse_cpu_ticks("4242 (x) S 1 2").is_err());
        assert!(parse_cpu_ticks("no name at all").is_err());
    }

    #[test]
    fn vm_rss_is_read_in_bytes() {
        let status = "Name:\tserver\nVmPeak:\t  99999 kB\nVmRSS:\t   12345 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status).unwrap(), 12345 * 1024);
        assert!(parse_vm_rss("Name:\tx\n").is_err());
        assert!(parse_vm_rss("VmRSS:\t12 MB\n").is_err());
    }

    #[test]
    fn this_process_can_be_read() {
        let pid = std::process::id();
        cpu_micros(pid).unwrap();
        assert!(rss_bytes(pid).unwrap() > 0);
        assert!(Machine::current().cpus > 0);
    }
}
