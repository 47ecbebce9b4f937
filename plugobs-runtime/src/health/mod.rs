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
//! it `Unhealthy("timed out after …")` and moves on. The worker stays with the hung
//! check — a thread cannot be killed — and the pool grows by one thread for it, so the
//! other checks keep their parallelism. While that check runs, the plugin is not checked
//! again: every later round reports it unhealthy ("still running") without starting a
//! second check, so hung checks never pile up: at most one thread per plugin.

mod check;
mod clock;
mod monitor;
mod policy;
mod readiness;
pub(crate) mod state;
mod workers;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use check::{CheckOptions, CheckReason, HealthReport, PluginCheck};
pub use clock::{Clock, ManualClock, SystemClock};
pub use monitor::{HealthChange, HealthMonitor, HealthMonitorBuilder};
pub(crate) use policy::HealthPolicies;
pub use policy::HealthPolicy;
pub use readiness::{NotReady, Readiness};

/// The threads that run health checks, process-wide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckThreads {
    /// Threads alive (running a check or idle).
    pub alive: usize,
    /// Threads held by checks a round gave up on (timed out, not yet returned).
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

/// How healthy a plugin is, from best to worst: `Healthy`, `Unknown`, `Degraded`,
/// `Unhealthy` (see [`HealthStatus::severity`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum HealthStatus {
    /// Serving normally.
    Healthy,
    /// Serving, with reduced quality (a fallback, a slow dependency, many errors).
    Degraded,
    /// Not serving.
    Unhealthy,
    /// Not checked yet, or not running.
    #[default]
    Unknown,
}

impl HealthStatus {
    /// Every status, in label order.
    pub const ALL: [HealthStatus; 4] = [
        HealthStatus::Healthy,
        HealthStatus::Degraded,
        HealthStatus::Unhealthy,
        HealthStatus::Unknown,
    ];

    /// The label value: `healthy`, `degraded`, `unhealthy` or `unknown`.
    ///
    /// ```
    /// assert_eq!(plugobs_runtime::HealthStatus::Degraded.as_str(), "degraded");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
            HealthStatus::Unknown => "unknown",
        }
    }

    /// How bad the status is: healthy 0, unknown 1, degraded 2, unhealthy 3. The worse of
    /// two statuses is the one with the higher severity.
    ///
    /// ```
    /// use plugobs_runtime::HealthStatus;
    /// assert_eq!(HealthStatus::Degraded.worst(HealthStatus::Healthy), HealthStatus::Degraded);
    /// assert_eq!(HealthStatus::Unknown.worst(HealthStatus::Unhealthy), HealthStatus::Unhealthy);
    /// ```
    pub fn severity(self) -> u8 {
        match self {
            HealthStatus::Healthy => 0,
            HealthStatus::Unknown => 1,
            HealthStatus::Degraded => 2,
            HealthStatus::Unhealthy => 3,
        }
    }

    /// The worse of `self` and `other`.
    pub fn worst(self, other: HealthStatus) -> HealthStatus {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    /// Whether a plugin with this status serves requests: healthy or degraded.
    pub fn is_serving(self) -> bool {
        matches!(self, HealthStatus::Healthy | HealthStatus::Degraded)
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a health hook returns: a status, a message saying why, and key/value details.
///
/// ```
/// use plugobs_runtime::{Health, HealthStatus};
///
/// let health = Health::degraded("serving from cache").with_detail("pool", "4/10");
/// assert_eq!(health.status, HealthStatus::Degraded);
/// assert_eq!(health.message, "serving from cache");
/// assert_eq!(health.detail("pool"), Some("4/10"));
/// assert_eq!(health.to_string(), "degraded: serving from cache (pool=4/10)");
/// assert_eq!(Health::healthy().to_string(), "healthy");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Why; empty when there is nothing to say.
    pub message: String,
    /// Key/value details, in the order they were added (e.g. `"pool" => "4/10"`);
    /// serialized as a map.
    #[cfg_attr(feature = "serde", serde(serialize_with = "details_map"))]
    pub details: Vec<(String, String)>,
}

/// Serializes details as a map, in their order (a key given twice appears twice).
#[cfg(feature = "serde")]
pub(crate) fn details_map<S: serde::Serializer>(
    details: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(details.len()))?;
    for (k, v) in details {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

impl Health {
    /// A status with a message and no details.
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Health {
        Health {
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Healthy, with no message.
    pub fn healthy() -> Health {
        Health::new(HealthStatus::Healthy, "")
    }

    /// Degraded, and why.
    pub fn degraded(message: impl Into<String>) -> Health {
        Health::new(HealthStatus::Degraded, message)
    }

    /// Unhealthy, and why.
    pub fn unhealthy(message: impl Into<String>) -> Health {
        Health::new(HealthStatus::Unhealthy, message)
    }

    /// Unknown, and why.
    pub fn unknown(message: impl Into<String>) -> Health {
        Health::new(HealthStatus::Unknown, message)
    }

    /// Adds a detail (a key given twice keeps both, in order).
    #[must_use]
    pub fn with_detail(mut self, key: impl Into<String>, value: impl ToString) -> Health {
        self.details.push((key.into(), value.to_string()));
        self
    }

    /// The first detail with this key.
    pub fn detail(&self, key: &str) -> Option<&str> {
        self.details
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The worse of two healths: the worse status, with its message and details; when
    /// both have the same status, the messages are joined with `"; "` and the details
    /// concatenated.
    ///
    /// ```
    /// use plugobs_runtime::Health;
    /// let hook = Health::degraded("using cache");
    /// let policy = Health::degraded("error ratio 0.42 > 0.25 over 60s (1204 calls)");
    /// assert_eq!(
    ///     hook.combine(policy).message,
    ///     "using cache; error ratio 0.42 > 0.25 over 60s (1204 calls)"
    /// );
    /// ```
    #[must_use]
    pub fn combine(self, other: Health) -> Health {
        match self.status.severity().cmp(&other.status.severity()) {
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Less => other,
            std::cmp::Ordering::Equal => {
                let message = match (self.message.is_empty(), other.message.is_empty()) {
                    (_, true) => self.message,
                    (true, false) => other.message,
                    (false, false) => format!("{}; {}", self.message, other.message),
                };
                let mut details = self.details;
                details.extend(other.details);
                Health {
                    status: self.status,
                    message,
                    details,
                }
            }
        }
    }
}

impl From<HealthStatus> for Health {
    fn from(status: HealthStatus) -> Health {
        Health::new(status, "")
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.status.as_str())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if !self.details.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in self.details.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// The boxed future of an async health hook.
pub type HealthFuture<'a> = Pin<Box<dyn Future<Output = Health> + Send + 'a>>;

/// The result of calling a health hook: finished (sync hook), a future (async hook), or
/// no hook at all.
pub enum HealthCall<'a> {
    /// The plugin has no health hook.
    NoHook,
    /// The hook returned.
    Done(Health),
    /// The hook is async; drive this.
    Pending(HealthFuture<'a>),
}

impl fmt::Debug for HealthCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthCall::NoHook => f.write_str("NoHook"),
            HealthCall::Done(h) => f.debug_tuple("Done").field(h).finish(),
            HealthCall::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// Marker: a sync health hook.
pub struct SyncHealth;
/// Marker: an async health hook.
pub struct AsyncHealth;

/// What a health hook may return: a [`Health`] or a future of one. Generated code calls
/// [`into_health_call`].
#[diagnostic::on_unimplemented(
    message = "a plugobs health hook cannot return `{Self}`",
    label = "this health hook returns `{Self}`",
    note = "write the health hook as `fn(&self) -> plugobs::Health` or `async fn(&self) -> plugobs::Health`"
)]
pub trait IntoHealthCall<'a, M> {
    /// Converts the hook's return value.
    fn into_health_call(self) -> HealthCall<'a>;
}

impl<'a> IntoHealthCall<'a, SyncHealth> for Health {
    fn into_health_call(self) -> HealthCall<'a> {
        HealthCall::Done(self)
    }
}

impl<'a, F> IntoHealthCall<'a, AsyncHealth> for F
where
    F: Future<Output = Health> + Send + 'a,
{
    fn into_health_call(self) -> HealthCall<'a> {
        HealthCall::Pending(Box::pin(self))
    }
}

/// Converts a health hook's return value; called by generated code.
pub fn into_health_call<'a, M, T: IntoHealthCall<'a, M>>(value: T) -> HealthCall<'a> {
    value.into_health_call()
}

pub use crate::hook_signature::ByRef;
/// Marker: a health hook taking nothing (a free function checking a shared resource).
pub struct NoReceiver;

/// A function usable as the health hook of plugin `T`: it takes `&T` (or nothing) and
/// returns [`Health`], sync or async.
#[diagnostic::on_unimplemented(
    message = "a plugobs health hook takes `&self` and nothing else",
    label = "this health hook has another signature",
    note = "write the health hook as `fn check(&self) -> plugobs::Health` or `async fn check(&self) -> plugobs::Health`; keep what it needs in the plugin's fields (behind a lock or an atomic: the instance is shared with the checker)"
)]
pub trait HealthFn<'a, T: 'a, Receiver> {
    /// What the hook returns.
    type Output;
    /// Calls the hook on `plugin`.
    fn call_health(self, plugin: &'a T) -> Self::Output;
}

impl<'a, T: 'a, F, R> HealthFn<'a, T, ByRef> for F
where
    F: FnOnce(&'a T) -> R,
{
    type Output = R;
    fn call_health(self, plugin: &'a T) -> R {
        self(plugin)
    }
}

impl<'a, T: 'a, F, R> HealthFn<'a, T, NoReceiver> for F
where
    F: FnOnce() -> R,
{
    type Output = R;
    fn call_health(self, _plugin: &'a T) -> R {
        self()
    }
}

/// Calls the health hook `hook` on `plugin`; called by generated code.
pub fn run_health<'a, T, Receiver, M, F>(plugin: &'a T, hook: F) -> HealthCall<'a>
where
    F: HealthFn<'a, T, Receiver>,
    F::Output: IntoHealthCall<'a, M>,
{
    into_health_call(hook.call_health(plugin))
}

/// `60s`, `1.5s`, `250ms`: a threshold or window as written in messages.
pub(crate) fn fmt_duration(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) && d.subsec_nanos() % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}
