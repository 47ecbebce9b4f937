//! The closed list of metrics plugobs emits: names, types, labels, units, help text and
//! recommended histogram buckets.
//!
//! This file is the single place the list lives in code. The repository's metric
//! reference, `docs/metrics.md`, is generated from it by [`reference_markdown`]
//! (`cargo run -p plugobs-examples --bin metrics-reference > docs/metrics.md`), a test
//! fails when the checked-in file is stale, and another asserts that every entry of
//! [`ALL`] is emitted. Names are given without the namespace; the exporter sees
//! `{namespace}_{name}` with the namespace `plugobs` unless
//! [`set_namespace`](crate::set_namespace) changed it.

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

/// Recommended buckets for health checks, 1 ms … 10 s.
pub const HEALTH_CHECK_BUCKETS: &[f64] = &[
    0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const PK: &[&str] = &["plugin", "kind", "instance"];

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
    help: "Number of plugin instances in each lifecycle state.",
    buckets: &[],
};
/// `plugobs_discovery_duration_seconds`: how long building the registry took (no
/// label), and each discovery of a directory (`source`: the directory as configured).
pub const DISCOVERY_DURATION: MetricDef = MetricDef {
    name: "discovery_duration_seconds",
    kind: MetricType::Histogram,
    labels: &["source"],
    unit: Some(Unit::Seconds),
    help: "Time to discover plugins: the plugins linked in at build time (no source label), or one directory of plugins found at run time (source: the directory as configured).",
    buckets: LOAD_BUCKETS,
};
/// `plugobs_discovery_failures_total`: files of a discovered directory that did not
/// become plugins.
pub const DISCOVERY_FAILURES: MetricDef = MetricDef {
    name: "discovery_failures_total",
    kind: MetricType::Counter,
    labels: &["source", "reason"],
    unit: None,
    help: "Files of a discovered directory that did not become plugins, by reason (io, invalid, error, panic, refused).",
    buckets: &[],
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
    labels: &["plugin", "kind", "instance", "stage", "reason"],
    unit: None,
    help: "Plugin lifecycle steps that failed, by stage (load, start, stop) and reason (error, panic, cancelled, config).",
    buckets: &[],
};
/// `plugobs_plugin_state_transitions_total`: every lifecycle transition.
pub const STATE_TRANSITIONS: MetricDef = MetricDef {
    name: "plugin_state_transitions_total",
    kind: MetricType::Counter,
    labels: &["plugin", "kind", "instance", "from", "to"],
    unit: None,
    help: "Plugin lifecycle state transitions.",
    buckets: &[],
};

/// `plugobs_plugin_operations_total`: finished calls by outcome.
pub const OPERATIONS: MetricDef = MetricDef {
    name: "plugin_operations_total",
    kind: MetricType::Counter,
    labels: &["plugin", "kind", "instance", "operation", "outcome"],
    unit: None,
    help: "Finished plugin operation calls, by outcome (ok, error, panic, cancelled), and calls a circuit breaker rejected without calling the plugin (rejected: operations with a breaker only).",
    buckets: &[],
};
/// `plugobs_plugin_operation_duration_seconds`: call latency, every outcome.
pub const OPERATION_DURATION: MetricDef = MetricDef {
    name: "plugin_operation_duration_seconds",
    kind: MetricType::Histogram,
    labels: &["plugin", "kind", "instance", "operation"],
    unit: Some(Unit::Seconds),
    help: "Latency of plugin operation calls, whatever their outcome.",
    buckets: OPERATION_BUCKETS,
};
/// `plugobs_plugin_operations_in_flight`: calls in progress.
pub const OPERATIONS_IN_FLIGHT: MetricDef = MetricDef {
    name: "plugin_operations_in_flight",
    kind: MetricType::Gauge,
    labels: &["plugin", "kind", "instance", "operation"],
    unit: None,
    help: "Plugin operation calls in progress.",
    buckets: &[],
};
/// `plugobs_plugin_errors_total`: calls that returned an error, by bounded kind.
pub const ERRORS: MetricDef = MetricDef {
    name: "plugin_errors_total",
    kind: MetricType::Counter,
    labels: &["plugin", "kind", "instance", "operation", "error_kind"],
    unit: None,
    help: "Plugin operation calls that returned an error, by error kind.",
    buckets: &[],
};

/// `plugobs_plugin_health`: a state set, one series per status, 1 for the current one.
pub const HEALTH: MetricDef = MetricDef {
    name: "plugin_health",
    kind: MetricType::Gauge,
    labels: &["plugin", "kind", "instance", "status"],
    unit: None,
    help: "Plugin health as a state set: 1 for the reported status (healthy, degraded, unhealthy, unknown), 0 for the others.",
    buckets: &[],
};
/// `plugobs_plugin_up`: 1 when running and not unhealthy.
pub const UP: MetricDef = MetricDef {
    name: "plugin_up",
    kind: MetricType::Gauge,
    labels: PK,
    unit: None,
    help: "1 when the plugin runs and is healthy, degraded or not yet checked; 0 when it is unhealthy or not running.",
    buckets: &[],
};
/// `plugobs_plugin_health_check_duration_seconds`: how long health hooks took.
pub const HEALTH_CHECK_DURATION: MetricDef = MetricDef {
    name: "plugin_health_check_duration_seconds",
    kind: MetricType::Histogram,
    labels: PK,
    unit: Some(Unit::Seconds),
    help: "Time a plugin's health hook took (checks that timed out are recorded when they return).",
    buckets: HEALTH_CHECK_BUCKETS,
};
/// `plugobs_plugin_health_check_failures_total`: failed checks by reason.
pub const HEALTH_CHECK_FAILURES: MetricDef = MetricDef {
    name: "plugin_health_check_failures_total",
    kind: MetricType::Counter,
    labels: &["plugin", "kind", "instance", "reason"],
    unit: None,
    help: "Health checks that failed, by reason (unhealthy, timeout, panic).",
    buckets: &[],
};
/// `plugobs_plugin_health_last_check_timestamp_seconds`: when a round last judged it.
pub const HEALTH_LAST_CHECK: MetricDef = MetricDef {
    name: "plugin_health_last_check_timestamp_seconds",
    kind: MetricType::Gauge,
    labels: PK,
    unit: Some(Unit::Seconds),
    help: "Unix time of the last health round that judged the plugin.",
    buckets: &[],
};

/// `plugobs_health_round_duration_seconds`: how long the health monitor's rounds took.
pub const HEALTH_ROUND_DURATION: MetricDef = MetricDef {
    name: "health_round_duration_seconds",
    kind: MetricType::Histogram,
    labels: &[],
    unit: Some(Unit::Seconds),
    help: "Time one round of the health monitor took, from its start until every check returned or timed out; a round longer than the monitor's interval overran it.",
    buckets: HEALTH_CHECK_BUCKETS,
};

/// `plugobs_health_round_overruns_total`: monitor rounds longer than the interval.
pub const HEALTH_ROUND_OVERRUNS: MetricDef = MetricDef {
    name: "health_round_overruns_total",
    kind: MetricType::Counter,
    labels: &[],
    unit: None,
    help: "Rounds of the health monitor that took longer than its interval (the next round started late).",
    buckets: &[],
};

/// `plugobs_plugin_busy_ratio`: share of wall time inside operations, last minute.
pub const BUSY_RATIO: MetricDef = MetricDef {
    name: "plugin_busy_ratio",
    kind: MetricType::Gauge,
    labels: PK,
    unit: None,
    help: "Share of wall time the plugin spent inside its operations over the last minute (sum of call latencies / wall time); above 1 when calls overlap.",
    buckets: &[],
};

/// `plugobs_plugin_cpu_seconds_total`: thread CPU time of `cpu` operations.
pub const CPU_SECONDS: MetricDef = MetricDef {
    name: "plugin_cpu_seconds_total",
    kind: MetricType::Counter,
    labels: &["plugin", "kind", "instance", "operation"],
    unit: Some(Unit::Seconds),
    help: "Thread CPU time spent in the instance's operations marked #[instrumented(cpu)], and in work attributed to it with Scope::with_cpu under operation \"(background)\" (opt-in).",
    buckets: &[],
};
/// `plugobs_plugin_allocated_bytes_total`: heap bytes allocated by the plugin's code.
pub const ALLOCATED_BYTES: MetricDef = MetricDef {
    name: "plugin_allocated_bytes_total",
    kind: MetricType::Counter,
    labels: PK,
    unit: Some(Unit::Bytes),
    help: "Heap bytes allocated by the instance's code: its operations, hooks and attributed work (opt-in: plugobs::alloc::Attributed global allocator).",
    buckets: &[],
};
/// `plugobs_plugin_freed_bytes_total`: heap bytes freed by the plugin's code.
pub const FREED_BYTES: MetricDef = MetricDef {
    name: "plugin_freed_bytes_total",
    kind: MetricType::Counter,
    labels: PK,
    unit: Some(Unit::Bytes),
    help: "Heap bytes freed by the instance's code, whoever allocated them (opt-in: plugobs::alloc::Attributed global allocator).",
    buckets: &[],
};
/// `plugobs_operation_objective`: the objectives an operation declares in code.
pub const OPERATION_OBJECTIVE: MetricDef = MetricDef {
    name: "operation_objective",
    kind: MetricType::Gauge,
    labels: &["plugin", "kind", "instance", "operation", "objective"],
    unit: None,
    help: "Objectives declared in code, per operation: objective=\"success\" is the share of calls that should succeed (0 to 1), objective=\"latency\" the seconds its p99 should stay under.",
    buckets: &[],
};
/// `plugobs_plugin_circuit_breaker_state`: each breaker's state, as a state set.
pub const BREAKER_STATE: MetricDef = MetricDef {
    name: "plugin_circuit_breaker_state",
    kind: MetricType::Gauge,
    labels: &["plugin", "kind", "instance", "operation", "state"],
    unit: None,
    help: "Circuit breaker of an operation with #[instrumented(breaker)], as a state set: 1 for its state (closed, open, half_open), 0 for the others.",
    buckets: &[],
};
/// `plugobs_plugin_circuit_breaker_trips_total`: times each breaker opened.
pub const BREAKER_TRIPS: MetricDef = MetricDef {
    name: "plugin_circuit_breaker_trips_total",
    kind: MetricType::Counter,
    labels: &["plugin", "kind", "instance", "operation"],
    unit: None,
    help: "Times the circuit breaker of an operation opened: tripped while closed, or opened again by a failed probe. Its rejected calls are plugin_operations_total{outcome=\"rejected\"}.",
    buckets: &[],
};

/// Every metric plugobs emits. A test asserts each one reaches the exporter.
pub const ALL: &[MetricDef] = &[
    PLUGIN_INFO,
    PLUGINS,
    DISCOVERY_DURATION,
    DISCOVERY_FAILURES,
    LOAD_DURATION,
    START_DURATION,
    STOP_DURATION,
    LOAD_FAILURES,
    STATE_TRANSITIONS,
    OPERATIONS,
    OPERATION_DURATION,
    OPERATIONS_IN_FLIGHT,
    ERRORS,
    HEALTH,
    UP,
    HEALTH_CHECK_DURATION,
    HEALTH_CHECK_FAILURES,
    HEALTH_LAST_CHECK,
    HEALTH_ROUND_DURATION,
    HEALTH_ROUND_OVERRUNS,
    BUSY_RATIO,
    CPU_SECONDS,
    ALLOCATED_BYTES,
    FREED_BYTES,
    OPERATION_OBJECTIVE,
    BREAKER_STATE,
    BREAKER_TRIPS,
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

impl MetricType {
    /// The type's name in the Prometheus exposition: `counter`, `gauge` or `histogram`.
    ///
    /// ```
    /// assert_eq!(plugobs_runtime::names::MetricType::Counter.as_str(), "counter");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
        }
    }
}

fn unit_word(unit: Option<Unit>) -> &'static str {
    match unit {
        Some(Unit::Seconds) => "seconds",
        Some(Unit::Bytes) => "bytes",
        Some(Unit::Count) => "count",
        Some(Unit::Percent) => "percent",
        Some(_) => "other",
        None => "—",
    }
}

/// The metric reference, as Markdown: one table row per entry of [`ALL`] (name with the
/// default `plugobs` namespace, type, unit, labels, help) and the recommended buckets of
/// each histogram.
///
/// The repository's `docs/metrics.md` is exactly this text; regenerate it with
/// `cargo run -p plugobs-examples --bin metrics-reference > docs/metrics.md`.
///
/// ```
/// let text = plugobs_runtime::names::reference_markdown();
/// assert!(text.contains("| `plugobs_plugins` | gauge | — | state |"));
/// ```
pub fn reference_markdown() -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    out.push_str(
        "<!-- Generated from plugobs-runtime/src/model/names.rs by \
         `cargo run -p plugobs-examples --bin metrics-reference > docs/metrics.md`. \
         Do not edit by hand: a test compares this file with the code. -->\n\n",
    );
    out.push_str("# plugobs metric reference\n\n");
    out.push_str(
        "Every metric plugobs emits (`plugobs::names::ALL`), with the default namespace \
         `plugobs` (`plugobs::set_namespace` changes the prefix). Labels are bounded by \
         construction: `plugin`, `kind` and `operation` come from code, `instance` from \
         the host's configuration (one value per configured instance, and the plugin's \
         name for its default instance: a plugin loaded without an instance name, or \
         called on a value the host built itself), `error_kind` from `ErrorKind` (at most \
         16 per operation, then `other`), the others from fixed sets. \
         `plugobs_plugin_info` describes the plugin type, so it has no `instance`; \
         `plugobs_plugins` counts instances. A plugin's own series — `plugobs_custom_*`, \
         CPU seconds, allocated and freed bytes — carry the instance whose work recorded \
         them: inside a call on an instance loaded by name, its hooks, or work attributed to \
         it with `plugobs::Scope`, that instance; anywhere else the default instance. Freed \
         bytes are those the instance's code freed, whoever allocated them. \
         `source` is a directory of plugins found at run time, as the host configured it \
         (`Registry::discover`: one value per configured directory, never per file); the \
         discovery of the plugins linked in at build time has no `source` label.\n\n",
    );
    out.push_str("| metric | type | unit | labels | help |\n|---|---|---|---|---|\n");
    for def in ALL {
        let labels = if def.labels.is_empty() {
            "—".to_owned()
        } else {
            def.labels.join(", ")
        };
        let _ = writeln!(
            out,
            "| `plugobs_{}` | {} | {} | {} | {} |",
            def.name,
            def.kind.as_str(),
            unit_word(def.unit),
            labels,
            def.help
        );
    }
    out.push_str(
        "\nA plugin's own metrics (`plugobs::counter!`, `gauge!`, `histogram!`) are exported \
         as `plugobs_custom_<name>` (counters: `plugobs_custom_<name>_total`) with the \
         plugin's `plugin`, `kind` and `instance` (its default instance) labels and their own extra labels (at most 16 sets of \
         values per metric, then `other`). No name above starts with `plugobs_custom_`, so \
         they cannot collide. Custom histograms use the buckets \
         0.001, 0.01, 0.1, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000 in their own unit.\n",
    );
    out.push_str("\n## Recommended histogram buckets (seconds)\n\n");
    out.push_str("| metric | buckets |\n|---|---|\n");
    for def in ALL.iter().filter(|d| d.kind == MetricType::Histogram) {
        let buckets: Vec<String> = def.buckets.iter().map(|b| b.to_string()).collect();
        let _ = writeln!(out, "| `plugobs_{}` | {} |", def.name, buckets.join(", "));
    }
    out
}
