//! What a benchmark run was asked to do: the options every layer reads (a leaf: it imports
//! nothing of the crate but the peer kinds).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::peers::Kind;

/// Everything a benchmark run was asked to do.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Options {
    pub scenarios: Vec<u8>,
    pub rounds: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Short runs that only check that every call succeeds.
    pub quick: bool,
    /// Peers to run (default: each scenario's own list).
    pub kinds: Option<Vec<Kind>>,
    /// Scenario 1 concurrency levels (default 1, 16, 64, 128).
    pub concurrency: Option<Vec<usize>>,
    /// Connections held open in scenario 6.
    pub connections: usize,
    /// Free text stored with the results (the loss script names its loss rate here).
    pub label: Option<String>,
    /// Evaluates the packet-loss goals on scenario 7 (set by `bench/loss.sh` at 3 %).
    pub loss_goals: bool,
    /// The packet loss, percent, that `bench/loss.sh` applies around this run (scenario 7).
    #[serde(default)]
    pub loss: Option<f64>,
    pub json: PathBuf,
    pub certs: PathBuf,
}
