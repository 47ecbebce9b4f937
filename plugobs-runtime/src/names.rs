//! The closed list of metrics plugobs emits: names, types, labels, units, help text and
//! recommended histogram buckets.
//!
//! This file is the single place the list lives in code; it mirrors the table in
//! DESIGN.md and a test asserts that every entry of [`ALL`] is emitted. Names are given
//! without the namespace; the exporter sees `{namespace}_{name}` with the namespace
//! `plugobs` unless [`set_namespace`](crate::set_namespace) changed it.

use metrics::Unit;

/// The type of a metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricType {
    /// A monotonic counter (`_total`).
    Counter,
    /// A gauge.
    Gauge,
    /// A histogram (seconds).
    Histogram,
}

/// One metric of the closed list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MetricDef {
    /// Name without the namespace, e.g. `plugin_load_duration_seconds`.
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: MetricType,
    /// Label keys, in order.
    pub labels: &'static [&'static str],
    /// Unit, when it has one.
    pub unit: Option<Unit>,
    /// The help text exporters show.
    pub help: &'static str,
    /// Recommended bucket bounds in seconds, for histograms.
    pub buckets: &'static [f64],
}

/// Recommended buckets for operation latency, 10 µs … 1 s.
pub const OPERATION_BUCKETS: &[f64] = &[
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0,
];
/// Recommended buckets for load and discovery, 1 ms … 10 s.
pub const LOAD_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// Recommended buckets for start and stop, 10 ms … 30 s.
pub const START_BUCKETS: &[f64] = &[
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0,
];

const PK: &[&str] = &["plugin", "kind"];

/// `plugobs_plugin_info`: gauge (=1) per plugin with its version.
pub const PLUGIN_INFO: MetricDef = MetricDef {
    name: "plugin_info",
    kind: MetricType::Gauge,
    labels: &["plugin", "kind", "version"],
    unit: None,
    help: "Registered plugins, always 1, with their kind and version.",
    buckets: &[],
};
/// `plugobs_plugins`: how many plugins are in each state.
pub const PLUGINS: MetricDef = MetricDef {
    name: "plugins",
    kind: MetricType::Gauge,
    labels: &["state"],
    unit: None,
    help: "Number of plugins in each lifecycle state.",
    buckets: &[],
};
/// `plugobs_discovery_duration_seconds`: how long building the registry took.
pub const DISCOVERY_DURATION: MetricDef = MetricDef {
    name: "discovery_duration_seconds",
    kind: MetricType::Histogram,
    labels: &[],
    unit: Some(Unit::Seconds),
    help: "Time to discover the registered plugins and build the registry.",
    buckets: LOAD_BUCKETS,
};
/// `plugobs_plugin_load_duration_seconds`: constructor time.
pub const LOAD_DURATION: MetricDef = MetricDef {
    name: "plugin_load_duration_seconds",
    kind: MetricType::Histogram,
    labels: PK,
    unit: Some(Unit::Seconds),
    help: "Time to construct a plugin instance.",
    buckets: LOAD_BUCKETS,
};
/// `plugobs_plugin_start_duration_seconds`: start hook time.
pub const START_DURATION: MetricDef = MetricDef {
    name: "plugin_start_duration_seconds",
    kind: MetricType::Histogram,
    labels: PK,
    unit: Some(Unit::Seconds),
    help: "Time to run a plugin's start hook.",
    buckets: START_BUCKETS,
};
/// `plugobs_plugin_stop_duration_seconds`: stop hook time.
pub const STOP_DURATION: MetricDef = MetricDef {
    name: "plugin_stop_duration_seconds",
    kind: MetricType::Histogram,
    labels: PK,
    unit: Some(Unit::Seconds),
    help: "Time to run a plugin's stop hook.",
    buckets: START_BUCKETS,
};
/// `plugobs_plugin_load_failures_total`: failed constructors and hooks.
pub const LOAD_FAILURES: MetricDef = MetricDef {
    name: "plugin_load_failures_total",
    kind: MetricType::Counter,
    labels: &["plugin", "kind", "stage", "reason"],
    unit: None,
    help: "Plugin lifecycle steps that failed, by stage (load, start, stop) and reason (error, panic, cancelled).",
    buckets: &[],
};
/// `plugobs_plugin_state_transitions_total`: every lifecycle transition.
pub const STATE_TRANSITIONS: MetricDef = MetricDef {
    name: "plugin_state_transitions_total",
    kind: MetricType::Counter,
    labels: &["plugin", "kind", "from", "to"],
    unit: None,
    help: "Plugin lifecycle state transitions.",
    buckets: &[],
};

/// `plugobs_plugin_operations_total`: finished calls by outcome.
pub const OPERATIONS: MetricDef = MetricDef {
    name: "plugin_operations_total",
    kind: MetricType::Counter,
    labels: &["plugin", "kind", "operation", "outcome"],
    unit: None,
    help: "Finished plugin operation calls, by outcome (ok, error, panic, cancelled).",
    buckets: &[],
};
/// `plugobs_plugin_operation_duration_seconds`: call latency, every outcome.
pub const OPERATION_DURATION: MetricDef = MetricDef {
    name: "plugin_operation_duration_seconds",
    kind: MetricType::Histogram,
    labels: &["plugin", "kind", "operation"],
    unit: Some(Unit::Seconds),
    help: "Latency of plugin operation calls, whatever their outcome.",
    buckets: OPERATION_BUCKETS,
};
/// `plugobs_plugin_operations_in_flight`: calls in progress.
pub const OPERATIONS_IN_FLIGHT: MetricDef = MetricDef {
    name: "plugin_operations_in_flight",
    kind: MetricType::Gauge,
    labels: &["plugin", "kind", "operation"],
    unit: None,
    help: "Plugin operation calls in progress.",
    buckets: &[],
};
/// `plugobs_plugin_errors_total`: calls that returned an error, by bounded kind.
pub const ERRORS: MetricDef = MetricDef {
    name: "plugin_errors_total",
    kind: MetricType::Counter,
    labels: &["plugin", "kind", "operation", "error_kind"],
    unit: None,
    help: "Plugin operation calls that returned an error, by error kind.",
    buckets: &[],
};

/// The lifecycle metrics: registry, discovery, load, start, stop.
pub const LIFECYCLE: &[MetricDef] = &[
    PLUGIN_INFO,
    PLUGINS,
    DISCOVERY_DURATION,
    LOAD_DURATION,
    START_DURATION,
    STOP_DURATION,
    LOAD_FAILURES,
    STATE_TRANSITIONS,
];

/// The per-operation metrics of `#[instrumented]`.
pub const OPERATION: &[MetricDef] = &[OPERATIONS, OPERATION_DURATION, OPERATIONS_IN_FLIGHT, ERRORS];

/// Every metric plugobs emits. A test asserts each one reaches the exporter.
pub const ALL: &[MetricDef] = &[
    PLUGIN_INFO,
    PLUGINS,
    DISCOVERY_DURATION,
    LOAD_DURATION,
    START_DURATION,
    STOP_DURATION,
    LOAD_FAILURES,
    STATE_TRANSITIONS,
    OPERATIONS,
    OPERATION_DURATION,
    OPERATIONS_IN_FLIGHT,
    ERRORS,
];

/// Looks a metric up by its name without namespace.
///
/// ```
/// let def = plugobs_runtime::names::find("plugins").unwrap();
/// assert_eq!(def.labels, &["state"]);
/// ```
pub fn find(name: &str) -> Option<&'static MetricDef> {
    ALL.iter().find(|d| d.name == name)
}
