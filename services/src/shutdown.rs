//! When a role stops: on Ctrl-C, on SIGTERM, or - for processes started by the demo and the
//! end-to-end tests - when the parent closes their stdin, so that no child outlives its parent
//! even if the parent is killed without a chance to clean up.

use std::io::Read;

use tokio::sync::oneshot;

/// Set to `1` to stop when stdin reaches end-of-file (the parent exited or let go of us).
pub const EXIT_WITH_PARENT_ENV: &str = "CONNECTION_SWAP_EXIT_WITH_PARENT";

/// Why a role was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// Ctrl-C (SIGINT).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// The parent closed our stdin.
    ParentGone,
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StopReason::Interrupt => "interrupted (Ctrl-C)",
            StopReason::Terminate => "terminated (SIGTERM)",
            StopReason::ParentGone => "parent process closed stdin",
        })
    }
}

/// Resolves at the first stop request. Call it once per process; each call watches anew.
pub async fn requested() -> StopReason {
    tokio::select! {
        result = tokio::signal::ctrl_c() => match result {
            Ok(()) => StopReason::Interrupt,
            // No signal handler could be installed: only the other triggers remain.
            Err(_) => std::future::pending().await,
        },
        reason = terminate() => reason,
        reason = parent_gone() => reason,
    }
}

#[cfg(unix)]
async fn terminate() -> StopReason {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut stream) => {
            stream.recv().await;
            StopReason::Terminate
        }
        Err(_) => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn terminate() -> StopReason {
    std::future::pending().await
}

/// Resolves when stdin reaches end-of-file, if [`EXIT_WITH_PARENT_ENV`] is `1`; never otherwise.
async fn parent_gone() -> StopReason {
    if !std::env::var(EXIT_WITH_PARENT_ENV).is_ok_and(|v| v == "1") {
        return std::future::pending().await;
    }
    let (tx, rx) = oneshot::channel::<()>();
    // A detached OS thread, not tokio's stdin: a blocking read cannot be cancelled, and tokio
    // would wait for it when the runtime shuts down.
    let spawned = std::thread::Builder::new()
        .name("stdin-watch".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut buf = [0u8; 256];
            while matches!(stdin.read(&mut buf), Ok(n) if n > 0) {}
            let _ = tx.send(());
        });
    if spawned.is_err() {
        tracing::warn!("cannot watch stdin; the process will not stop with its parent");
    }
    match rx.await {
        Ok(()) => StopReason::ParentGone,
        Err(_) => std::future::pending().await,
    }
}
