//! What [`Registry::history`](crate::Registry::history) returns: an instance's recent
//! past, one point per [`HISTORY_INTERVAL`] (the last [`HISTORY_POINTS`]), as plain data:
//! its health at each point and, per operation, the calls, errors by kind, p50 and p99 of
//! the interval that ends there. The points are taken by the background thread
//! ([`keep_history`](crate::bridge::keep_history)) or by
//! [`Registry::record_history`](crate::Registry::record_history), never on the call path.
//!
//! Memory, per instance, whatever the uptime: 24 bytes per point for its time and
//! status; per operation, 48 bytes per point plus 24 per error kind seen in that
//! interval, and its totals at the last point (its latency histogram, 12 bytes per
//! bucket it touched). An operation with one error kind keeps at most about 6.5 KiB
//! plus that histogram.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::model::health::HealthStatus;

/// How often a history point is taken.
pub const HISTORY_INTERVAL: Duration = Duration::from_secs(10);

/// How many points an instance keeps: 90 × 10 s, the last 15 minutes.
pub const HISTORY_POINTS: usize = 90;

/// One instance's recent past: its health at each point and, per operation, what the
/// operation did in the interval that ends there.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct InstanceHistory {
    /// The plugin's name.
    pub name: &'static str,
    /// The instance's name (the plugin's name for its default instance).
    pub instance: &'static str,
    /// The plugin's kind.
    pub kind: &'static str,
    /// The interval the points are taken at.
    #[cfg_attr(feature = "serde", serde(with = "crate::model::fmt::serde::seconds"))]
    pub interval: Duration,
    /// When each point was taken and the instance's reported health then, oldest first.
    pub health: Vec<HealthPoint>,
    /// Per operation this instance called, ordered by name.
    pub operations: Vec<OperationHistory>,
}

/// An instance's health at one point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HealthPoint {
    /// When the point was taken.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::unix_seconds")
    )]
    pub at: SystemTime,
    /// The reported status then.
    pub status: HealthStatus,
}

/// One operation's recent past.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OperationHistory {
    /// The operation's name.
    pub name: &'static str,
    /// One point per interval since the operation was first called (at most
    /// [`HISTORY_POINTS`]), oldest first.
    pub points: Vec<OperationPoint>,
}

/// What an operation did in the interval that ends at `at`: since the point before. The
/// history's first point only marks where it starts (what happened before it is not an
/// interval's), so an operation's points begin with the second one, or with the first
/// after its first call.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OperationPoint {
    /// When the point was taken: the end of its interval.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::unix_seconds")
    )]
    pub at: SystemTime,
    /// Calls that finished in the interval.
    pub calls: u64,
    /// Of those, calls that returned an error or panicked.
    pub errors: u64,
    /// Errors by `error_kind` (panics as `panic`), ordered by kind.
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    /// The median latency of the interval's calls, within about 1.6 %.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub p50: Option<Duration>,
    /// The 99th percentile latency of the interval's calls, within about 1.6 %.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub p99: Option<Duration>,
}

impl OperationPoint {
    /// Errors over calls in the interval; `None` without calls.
    pub fn error_ratio(&self) -> Option<f64> {
        (self.calls > 0).then(|| self.errors as f64 / self.calls as f64)
    }
}

impl Default for HealthPoint {
    fn default() -> Self {
        HealthPoint {
            at: SystemTime::UNIX_EPOCH,
            status: HealthStatus::Unknown,
        }
    }
}
