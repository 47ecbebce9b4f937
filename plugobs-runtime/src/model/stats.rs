//! What `stats()` returns: point-in-time views of a registry, a plugin instance and its
//! operations, as plain data. They are built from the records in
//! [`export::stats`](crate::export::stats), which also prints them as tables.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use crate::model::error::Failure;
use crate::model::health::HealthStatus;
use crate::model::state::PluginState;

/// Health counts over all plugins, by reported status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HealthCounts {
    /// Plugins reported healthy.
    pub healthy: usize,
    /// Plugins reported degraded.
    pub degraded: usize,
    /// Plugins reported unhealthy.
    pub unhealthy: usize,
    /// Plugins never checked, or not running.
    pub unknown: usize,
}

/// A plugin's health in a stats snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PluginHealth {
    /// The reported status (after the monitor's thresholds).
    pub status: HealthStatus,
    /// Why.
    pub message: String,
    /// Key/value details from the hook and the policy; serialized as a map.
    #[cfg_attr(
        feature = "serde",
        serde(serialize_with = "crate::model::health::details_map")
    )]
    pub details: Vec<(String, String)>,
    /// When a round last judged the plugin.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_unix_seconds")
    )]
    pub checked_at: Option<SystemTime>,
    /// How long its last health hook took.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub check_duration: Option<Duration>,
}

/// A point-in-time view of one operation of a plugin, from plugobs' own aggregates.
///
/// Percentiles come from the log-linear histogram: within about 1.6 % of the true value;
/// the mean is exact.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OperationStats {
    /// The operation's name.
    pub name: &'static str,
    /// Finished calls, whatever the outcome.
    pub calls: u64,
    /// Calls that returned normally and were not errors.
    pub ok: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// Errors by `error_kind`.
    pub errors_by_kind: BTreeMap<&'static str, u64>,
    /// Calls that panicked.
    pub panics: u64,
    /// Futures dropped before they finished.
    pub cancelled: u64,
    /// Calls in progress.
    pub in_flight: u64,
    /// Mean latency.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub mean: Option<Duration>,
    /// Median latency.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub p50: Option<Duration>,
    /// 90th percentile latency.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub p90: Option<Duration>,
    /// 99th percentile latency.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub p99: Option<Duration>,
    /// Largest latency.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub max: Option<Duration>,
    /// Thread CPU time of every call, for an operation marked `#[instrumented(cpu)]`.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub cpu: Option<Duration>,
    /// One call in how many is timed, when sampled (see
    /// [`sampling`](crate::model::sampling)); `None` when every call is.
    pub sampled: Option<u32>,
    /// Calls that were timed: `calls` unless sampled. The latency figures (mean,
    /// percentiles, max) are theirs.
    pub timed_calls: u64,
    /// The share of calls that should succeed, declared in code
    /// (`#[instrumented(objective = "99.9%")]`, or the plugin's); see
    /// [`objective`](crate::model::objective).
    pub objective: Option<f64>,
    /// The latency its p99 should stay under, declared in code (`latency = "250ms"`).
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub latency_objective: Option<Duration>,
    /// The share of its error budget left, over every call so far: 1 with no failure,
    /// 0 when errors and panics reached what `objective` allows (0.1 % of the calls for
    /// 99.9 %), below 0 past it. `None` without an objective or before the first call.
    pub error_budget_left: Option<f64>,
    /// Its circuit breaker, when it declares one (`#[instrumented(breaker)]`) and the
    /// host did not turn it off: state, trips, and the calls it rejected (which are not
    /// in `calls`). See [`breaker`](crate::breaker).
    pub breaker: Option<crate::model::breaker::BreakerSnapshot>,
    /// Calls by latency decade: below 10 µs, below 100 µs, 1 ms, 10 ms, 100 ms, 1 s,
    /// 10 s, and 10 s or more (each call counted by its bucket's midpoint, within 1.6 %):
    /// the status page draws it. Not serialized (the percentiles above say it in brief).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub latency_by_decade: [u64; 8],
    /// The slowest exemplar its latency buckets keep that is younger than the exemplars'
    /// `max_age` (feature `exemplars`, see [`crate::exemplars`]): a trace to open when its
    /// p99 jumps. `None` without one.
    pub exemplar: Option<crate::model::exemplar::SlowExemplar>,
}

/// A point-in-time view of one plugin instance: the plugin's default instance, or one
/// loaded by name (see [`crate::model::instance`]).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PluginStats {
    /// The plugin's registered name.
    pub name: &'static str,
    /// The instance's name: the `instance` label; the plugin's name for its default
    /// instance.
    pub instance: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Version.
    pub version: &'static str,
    /// Lifecycle state.
    pub state: PluginState,
    /// Health: status, message, details, last check.
    pub health: PluginHealth,
    /// How long the last construction took.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub load_duration: Option<Duration>,
    /// How long the last start hook took.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub start_duration: Option<Duration>,
    /// When the last instance was constructed.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_unix_seconds")
    )]
    pub loaded_at: Option<SystemTime>,
    /// Failed loads, starts and stops.
    pub failures: u64,
    /// The most recent failure.
    pub last_failure: Option<Failure>,
    /// Its instrumented operations, ordered by name.
    pub operations: Vec<OperationStats>,
    /// Share of wall time spent inside its operations over the last minute (see
    /// [`busy`](crate::telemetry::busy)); above 1 when calls overlap.
    pub busy_ratio: f64,
    /// Its own metrics (`plugobs::counter!` and the like), by name, one entry per series:
    /// those recorded by this instance's work (its calls, hooks and
    /// [`Scope`](crate::Scope)s; for the default instance, also any work of the plugin
    /// outside an instance's).
    pub custom: Vec<CustomStats>,
    /// Thread CPU time of work attributed to this instance off its calls with
    /// [`Scope::with_cpu`](crate::Scope::with_cpu); `None` while there was none.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub background_cpu: Option<Duration>,
    /// Heap bytes allocated by this instance's code (its calls, hooks and scopes), with
    /// the [`Attributed`](crate::telemetry::alloc::Attributed) global allocator installed.
    pub allocated_bytes: Option<u64>,
    /// Heap bytes freed by this instance's code, whoever allocated them (see
    /// [`alloc`](crate::telemetry::alloc#what-freed-means): allocated − freed is not
    /// what it holds).
    pub freed_bytes: Option<u64>,
    /// Its recent past, a point per [`HISTORY_INTERVAL`](crate::model::history::HISTORY_INTERVAL)
    /// (empty while nothing keeps the history: see [`Registry::record_history`](crate::Registry::record_history)).
    /// Not serialized with the stats: `/plugins/{name}/history` serves it.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub history: crate::model::history::InstanceHistory,
    /// A plugin registered at run time and unregistered since: these are its final
    /// figures, and its series are no longer exported. Serialized only when true.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "std::ops::Not::not"))]
    pub unregistered: bool,
}

/// One directory of plugins discovered at run time, in [`RegistryStats`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct DirectoryStats {
    /// The directory as configured: the `source` label.
    pub source: &'static str,
    /// How many times it was discovered.
    pub discoveries: u64,
    /// How long its last discovery took.
    #[cfg_attr(feature = "serde", serde(with = "crate::model::fmt::serde::seconds"))]
    pub last_duration: Duration,
    /// How many plugins its last discovery registered.
    pub plugins: u64,
    /// Its files that did not become plugins, over every discovery, by reason (those
    /// with at least one).
    pub failures: BTreeMap<&'static str, u64>,
}

/// The health monitor's rounds over a registry, in [`RegistryStats`]: what
/// `plugobs_health_round_duration_seconds` and `plugobs_health_round_overruns_total`
/// export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RoundStats {
    /// Rounds a [`HealthMonitor`](crate::HealthMonitor) completed over this registry (a
    /// round cancelled by a stop is not one).
    pub rounds: u64,
    /// Those that took longer than their monitor's interval.
    pub overruns: u64,
    /// The longest round, within about 1.6 %.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub max: Option<Duration>,
}

/// A point-in-time view of a whole registry: `registry().stats()`.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RegistryStats {
    /// How many plugins are registered.
    pub total: usize,
    /// Plugins per kind.
    pub by_kind: BTreeMap<&'static str, usize>,
    /// Instances per state (what `plugobs_plugins{state}` counts); every state is
    /// present, possibly with 0.
    pub by_state: BTreeMap<PluginState, usize>,
    /// Health counts, over instances.
    pub health: HealthCounts,
    /// Failed lifecycle steps plus operation errors and panics, over all plugins.
    pub total_errors: u64,
    /// Finished operation calls over all plugins.
    pub total_calls: u64,
    /// How long discovery took.
    #[cfg_attr(feature = "serde", serde(with = "crate::model::fmt::serde::seconds"))]
    pub discovery_duration: Duration,
    /// The health monitor's rounds.
    pub health_rounds: RoundStats,
    /// One entry per instance ([`Registry::instances`](crate::Registry::instances)), grouped by plugin (ordered by
    /// name): a plugin's default instance first, then its instances loaded by name.
    pub plugins: Vec<PluginStats>,
    /// The directories discovered at run time, in the order first discovered; not
    /// serialized while there is none.
    #[cfg_attr(feature = "serde", serde(skip_serializing_if = "Vec::is_empty"))]
    pub directories: Vec<DirectoryStats>,
}

/// A custom metric's value in [`stats()`](crate::Registry::stats).
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "snake_case"))]
pub enum CustomValue {
    /// A counter's total.
    Counter {
        /// The total.
        value: u64,
    },
    /// A gauge's value.
    Gauge {
        /// The value.
        value: f64,
    },
    /// A histogram's count, sum and mean.
    Histogram {
        /// Values recorded.
        count: u64,
        /// Their exact sum (to 10⁻⁹ units).
        sum: f64,
        /// The median, within about 1.6 %.
        p50: Option<f64>,
        /// The 99th percentile, within about 1.6 %.
        p99: Option<f64>,
    },
}

/// One series of a plugin's custom metric, as `stats()` shows it.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct CustomStats {
    /// The name as written, e.g. `cache_hits`.
    pub name: &'static str,
    /// Its extra labels.
    pub labels: Vec<(&'static str, &'static str)>,
    /// Its value.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub value: CustomValue,
}
