//! Health: what a plugin's health hook returns ([`Health`]), one round of checks
//! ([`Registry::check_health`](crate::Registry::check_health)), the policy over a plugin's
//! own operations ([`HealthPolicy`]), the background [`HealthMonitor`] and readiness.
//!
//! | concept | file |
//! |---|---|
//! | [`Health`], [`HealthStatus`], what a hook may return | `mod.rs` |
//! | the time source of rounds and windows, [`Clock`] | `clock.rs` |
//! | the threads checks run on; how a hung check is contained | `workers.rs` |
//! | one plugin's health record: last result, counters, thresholds | `state.rs` |
//! | one round of checks | `check.rs` |
//! | health from operations: error ratio and p99 over a window | `policy.rs` |
//! | the monitor thread and its subscribers | `monitor.rs` |
//! | readiness for a probe endpoint | `readiness.rs` |
//!
//! # How a hung check is contained
//!
//! Every check runs on a worker thread of a small pool, never on the caller's thread: the
//! caller (a round) waits at most the check's timeout after the check began, then reports
//! it `Unhealthy("timed out after …")` and moves on. A check still running 10 ms after
//! it began stops counting against the pool's parallelism: the pool grows by one thread
//! for it at once, so a hung hook delays no other check, not even by its timeout. The
//! worker stays with the hung check — a thread cannot be killed — and the surplus
//! threads exit as soon as the hung checks return. While that check runs, the plugin is not checked
//! again: every later round reports it unhealthy ("still running") without starting a
//! second check, so hung checks never pile up: at most one thread per plugin.

pub(crate) mod check;
pub(crate) mod clock;
pub(crate) mod monitor;
pub(crate) mod policy;
pub(crate) mod readiness;

pub(crate) mod workers;

pub use crate::model::health::{CheckReason, Health, HealthStatus};
pub use crate::model::policy::HealthPolicy;
pub use check::{CheckOptions, HealthReport, PluginCheck};
pub use clock::{Clock, ManualClock, SystemClock};
pub use monitor::{HealthChange, HealthMonitor, HealthMonitorBuilder};
pub use readiness::{NotReady, Readiness};

/// The threads that run health checks, process-wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckThreads {
    /// Threads alive (running a check or idle).
    pub alive: usize,
    /// Threads held by slow checks: running for more than 10 ms, or timed out, and not
    /// returned yet. The pool holds at most 8 threads more than this.
    pub held_by_timed_out_checks: usize,
    /// Threads started since the process began.
    pub started: u64,
}

/// The health check threads right now; see the [module docs](self) for how they grow.
///
/// ```
/// let threads = plugobs_runtime::health::check_threads();
/// assert!(threads.held_by_timed_out_checks <= threads.alive);
/// ```
pub fn check_threads() -> CheckThreads {
    let (alive, held, started) = workers::threads();
    CheckThreads {
        alive,
        held_by_timed_out_checks: held,
        started,
    }
}
