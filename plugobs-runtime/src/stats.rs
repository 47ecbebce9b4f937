//! Snapshots of the registry for humans (`Display`, an aligned table) and machines
//! (`serde::Serialize` behind the `serde` feature). Built from records; no exporter needed.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::custom::CustomStats;
use crate::health::HealthStatus;
use crate::record::{Failure, PluginRecord};
use crate::registry::Registry;
use crate::snapshot::OperationSnapshot;
use crate::state::PluginState;

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
        serde(serialize_with = "crate::health::details_map")
    )]
    pub details: Vec<(String, String)>,
    /// When a round last judged the plugin.
    #[cfg_attr(feature = "serde", serde(with = "opt_unix_seconds"))]
    pub checked_at: Option<SystemTime>,
    /// How long its last health hook took.
    #[cfg_attr(feature = "serde", serde(with = "opt_seconds"))]
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
    #[cfg_attr(feature = "serde", serde(with = "opt_seconds"))]
    pub mean: Option<Duration>,
    /// Median latency.
    #[cfg_attr(feature = "serde", serde(with = "opt_seconds"))]
    pub p50: Option<Duration>,
    /// 90th percentile latency.
    #[cfg_attr(feature = "serde", serde(with = "opt_seconds"))]
    pub p90: Option<Duration>,
    /// 99th percentile latency.
    #[cfg_attr(feature = "serde", serde(with = "opt_seconds"))]
    pub p99: Option<Duration>,
    /// Largest latency.
    #[cfg_attr(feature = "serde", serde(with = "opt_seconds"))]
    pub max: Option<Duration>,
    /// Thread CPU time of every call, for an operation marked `#[instrumented(cpu)]`.
    #[cfg_attr(feature = "serde", serde(with = "opt_seconds"))]
    pub cpu: Option<Duration>,
}

fn nanos(v: Option<f64>) -> Option<Duration> {
    v.map(|n| Duration::from_nanos(n.round() as u64))
}

impl From<&OperationSnapshot> for OperationStats {
    fn from(s: &OperationSnapshot) -> Self {
        OperationStats {
            name: s.operation,
            calls: s.calls,
            ok: s.ok,
            errors: s.errors,
            errors_by_kind: s.errors_by_kind.iter().copied().collect(),
            panics: s.panics,
            cancelled: s.cancelled,
            in_flight: s.in_flight(),
            mean: nanos(s.latency.mean_nanos()),
            p50: nanos(s.latency.quantile_nanos(0.5)),
            p90: nanos(s.latency.quantile_nanos(0.9)),
            p99: nanos(s.latency.quantile_nanos(0.99)),
            max: nanos(s.latency.max_nanos()),
            cpu: None,
        }
    }
}

/// A point-in-time view of one plugin instance: the plugin's default instance, or one
/// loaded by name (see [`crate::instance`]).
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
    #[cfg_attr(feature = "serde", serde(with = "opt_seconds"))]
    pub load_duration: Option<Duration>,
    /// How long the last start hook took.
    #[cfg_attr(feature = "serde", serde(with = "opt_seconds"))]
    pub start_duration: Option<Duration>,
    /// When the last instance was constructed.
    #[cfg_attr(feature = "serde", serde(with = "opt_unix_seconds"))]
    pub loaded_at: Option<SystemTime>,
    /// Failed loads, starts and stops.
    pub failures: u64,
    /// The most recent failure.
    pub last_failure: Option<Failure>,
    /// Its instrumented operations, ordered by name.
    pub operations: Vec<OperationStats>,
    /// Share of wall time spent inside its operations over the last minute (see
    /// [`busy`](crate::busy)); above 1 when calls overlap.
    pub busy_ratio: f64,
    /// Its own metrics (`plugobs::counter!` and the like), by name, one entry per series;
    /// they are the plugin's, shown with its default instance (empty for the others).
    pub custom: Vec<CustomStats>,
    /// Heap bytes allocated by its operations and hooks, with the
    /// [`Attributed`](crate::alloc::Attributed) global allocator installed; the plugin's,
    /// shown with its default instance.
    pub allocated_bytes: Option<u64>,
    /// Heap bytes freed by its operations and hooks, likewise.
    pub freed_bytes: Option<u64>,
}

impl PluginStats {
    /// A snapshot of one instance's record and its operations.
    pub fn of(record: &PluginRecord) -> PluginStats {
        let d = record.descriptor();
        let default = record.is_default_instance();
        let health = {
            let h = record.health_state().lock();
            PluginHealth {
                status: h.reported.status,
                message: h.reported.message.clone(),
                details: h.reported.details.clone(),
                checked_at: h.checked_at,
                check_duration: h.last_duration,
            }
        };
        // Before `timings()` is held: the ratio reads when the plugin was loaded.
        let busy_ratio = crate::busy::ratio(record);
        let t = record.timings();
        let bytes = if default {
            crate::alloc::bytes_of(d)
        } else {
            None
        };
        PluginStats {
            name: d.name,
            instance: record.instance(),
            kind: d.kind,
            version: d.version,
            state: record.state(),
            health,
            load_duration: t.load,
            start_duration: t.start,
            loaded_at: t.loaded_at,
            failures: record.total_failures(),
            last_failure: t.last_failure.clone(),
            operations: {
                let cpu = if default {
                    crate::cpu::of(d)
                } else {
                    Vec::new()
                };
                record
                    .operation_snapshots()
                    .iter()
                    .map(|o| {
                        let mut stats = OperationStats::from(o);
                        stats.cpu = cpu
                            .iter()
                            .find(|(name, _)| *name == stats.name)
                            .map(|(_, n)| Duration::from_nanos(*n));
                        stats
                    })
                    .collect()
            },
            busy_ratio,
            custom: if default {
                CustomStats::of(d)
            } else {
                Vec::new()
            },
            allocated_bytes: bytes.map(|(a, _)| a),
            freed_bytes: bytes.map(|(_, f)| f),
        }
    }
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
    #[cfg_attr(feature = "serde", serde(with = "seconds"))]
    pub discovery_duration: Duration,
    /// One entry per instance ([`Registry::instances`]), grouped by plugin (ordered by
    /// name): a plugin's default instance first, then its instances loaded by name.
    pub plugins: Vec<PluginStats>,
}

impl Registry {
    /// A snapshot of every plugin instance's state, timings and failures.
    ///
    /// ```
    /// let stats = plugobs_runtime::registry().stats();
    /// assert_eq!(stats.total, plugobs_runtime::registry().len());
    /// println!("{stats}");
    /// ```
    pub fn stats(&self) -> RegistryStats {
        self.attach_sites();
        // A plugin's own figures (custom metrics, CPU, allocations) are shown with its
        // default instance, so that row is kept when it has them.
        let plugins: Vec<PluginStats> = self
            .instances_with(|r| {
                crate::registry::default_in_use(r) || crate::registry::has_plugin_figures(r)
            })
            .iter()
            .map(|r| PluginStats::of(r))
            .collect();
        let mut by_kind = BTreeMap::new();
        for record in self.plugins() {
            *by_kind.entry(record.descriptor().kind).or_insert(0) += 1;
        }
        let mut by_state: BTreeMap<PluginState, usize> =
            PluginState::ALL.iter().map(|s| (*s, 0)).collect();
        let mut health = HealthCounts::default();
        for p in &plugins {
            *by_state.entry(p.state).or_insert(0) += 1;
            match p.health.status {
                HealthStatus::Healthy => health.healthy += 1,
                HealthStatus::Degraded => health.degraded += 1,
                HealthStatus::Unhealthy => health.unhealthy += 1,
                HealthStatus::Unknown => health.unknown += 1,
            }
        }
        RegistryStats {
            total: self.len(),
            by_kind,
            by_state,
            health,
            total_errors: plugins
                .iter()
                .map(|p| {
                    p.failures
                        + p.operations
                            .iter()
                            .map(|o| o.errors + o.panics)
                            .sum::<u64>()
                })
                .sum(),
            total_calls: plugins
                .iter()
                .flat_map(|p| &p.operations)
                .map(|o| o.calls)
                .sum(),
            discovery_duration: self.discovery_duration(),
            plugins,
        }
    }
}

/// Formats a duration with three significant figures and a unit.
pub(crate) fn human(d: Duration) -> String {
    human_duration(d)
}

/// A duration with three significant figures and a unit, as the stats table and the
/// status page show it.
///
/// ```
/// use std::time::Duration;
/// use plugobs_runtime::stats::human_duration;
/// assert_eq!(human_duration(Duration::from_nanos(1_234)), "1.23µs");
/// assert_eq!(human_duration(Duration::from_millis(250)), "250ms");
/// ```
pub fn human_duration(d: Duration) -> String {
    human_nanos(d.as_nanos() as f64)
}

pub(crate) fn human_nanos(ns: f64) -> String {
    let (v, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    if v < 10.0 {
        format!("{v:.2}{unit}")
    } else if v < 100.0 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// Writes rows as columns padded to their widest cell.
pub(crate) fn write_table(f: &mut fmt::Formatter<'_>, rows: &[Vec<String>]) -> fmt::Result {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(
                    ' ',
                    widths[c] - cell.chars().count() + 2,
                ));
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    Ok(())
}

fn opt(d: Option<Duration>) -> String {
    d.map(human).unwrap_or_else(|| "-".to_owned())
}

/// Blanks the plugin column (the first) of each row that repeats the plugin of the row
/// above, below the header, so a plugin's instances read as a group.
fn group_by_plugin(rows: &mut [Vec<String>]) {
    let mut last = String::new();
    for row in rows.iter_mut().skip(1) {
        let Some(plugin) = row.first_mut() else {
            continue;
        };
        if plugin.is_empty() {
            continue;
        }
        if *plugin == last {
            plugin.clear();
        } else {
            last.clone_from(plugin);
        }
    }
}

impl fmt::Display for RegistryStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds: Vec<String> = self
            .by_kind
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect();
        let states: Vec<String> = self
            .by_state
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(s, n)| format!("{s}={n}"))
            .collect();
        writeln!(
            f,
            "plugins: {} ({}) | states: {} | health: healthy={} degraded={} unhealthy={} unknown={} | calls: {} | errors: {} | discovery: {}",
            self.total,
            kinds.join(" "),
            if states.is_empty() {
                "-".to_owned()
            } else {
                states.join(" ")
            },
            self.health.healthy,
            self.health.degraded,
            self.health.unhealthy,
            self.health.unknown,
            self.total_calls,
            self.total_errors,
            human(self.discovery_duration),
        )?;
        let now = SystemTime::now();
        let mut rows = vec![
            [
                "PLUGIN",
                "INSTANCE",
                "KIND",
                "VERSION",
                "STATE",
                "HEALTH",
                "LOAD",
                "START",
                "LOADED",
                "LAST FAILURE",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for p in &self.plugins {
            rows.push(vec![
                p.name.to_owned(),
                p.instance.to_owned(),
                p.kind.to_owned(),
                p.version.to_owned(),
                p.state.as_str().to_owned(),
                p.health.status.as_str().to_owned(),
                opt(p.load_duration),
                opt(p.start_duration),
                p.loaded_at
                    .map(|t| format!("{} ago", human(now.duration_since(t).unwrap_or_default())))
                    .unwrap_or_else(|| "-".to_owned()),
                p.last_failure
                    .as_ref()
                    .map(|e| format!("{} {}: {}", e.stage, e.reason, e.message))
                    .unwrap_or_else(|| "-".to_owned()),
            ]);
        }
        group_by_plugin(&mut rows);
        write_table(f, &rows)?;
        let mut ops = vec![
            [
                "PLUGIN",
                "INSTANCE",
                "OPERATION",
                "CALLS",
                "ERRORS",
                "PANICS",
                "CANCELLED",
                "IN-FLIGHT",
                "MEAN",
                "P50",
                "P90",
                "P99",
                "MAX",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for p in &self.plugins {
            for o in &p.operations {
                let errors = if o.errors_by_kind.is_empty() {
                    o.errors.to_string()
                } else {
                    let kinds: Vec<String> = o
                        .errors_by_kind
                        .iter()
                        .map(|(k, n)| format!("{k}={n}"))
                        .collect();
                    format!("{} ({})", o.errors, kinds.join(" "))
                };
                ops.push(vec![
                    p.name.to_owned(),
                    p.instance.to_owned(),
                    o.name.to_owned(),
                    o.calls.to_string(),
                    errors,
                    o.panics.to_string(),
                    o.cancelled.to_string(),
                    o.in_flight.to_string(),
                    opt(o.mean),
                    opt(o.p50),
                    opt(o.p90),
                    opt(o.p99),
                    opt(o.max),
                ]);
            }
        }
        if ops.len() > 1 {
            writeln!(f)?;
            group_by_plugin(&mut ops);
            write_table(f, &ops)?;
        }
        let mut health = vec![
            [
                "PLUGIN", "INSTANCE", "HEALTH", "CHECKED", "CHECK", "MESSAGE",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for p in self
            .plugins
            .iter()
            .filter(|p| p.health.checked_at.is_some())
        {
            let h = &p.health;
            let mut message = h.message.clone();
            if !h.details.is_empty() {
                let details: Vec<String> =
                    h.details.iter().map(|(k, v)| format!("{k}={v}")).collect();
                if !message.is_empty() {
                    message.push(' ');
                }
                message.push_str(&format!("({})", details.join(" ")));
            }
            health.push(vec![
                p.name.to_owned(),
                p.instance.to_owned(),
                h.status.as_str().to_owned(),
                h.checked_at
                    .map(|t| format!("{} ago", human(now.duration_since(t).unwrap_or_default())))
                    .unwrap_or_else(|| "-".to_owned()),
                opt(h.check_duration),
                if message.is_empty() {
                    "-".to_owned()
                } else {
                    message
                },
            ]);
        }
        if health.len() > 1 {
            writeln!(f)?;
            group_by_plugin(&mut health);
            write_table(f, &health)?;
        }
        let mut own = vec![
            [
                "PLUGIN",
                "INSTANCE",
                "BUSY",
                "CPU",
                "ALLOCATED",
                "METRIC",
                "VALUE",
            ]
            .map(String::from)
            .to_vec(),
        ];
        for p in self
            .plugins
            .iter()
            .filter(|p| !p.operations.is_empty() || !p.custom.is_empty())
        {
            let busy = format!("{:.2}%", p.busy_ratio * 100.0);
            let cpu = if p.operations.iter().any(|o| o.cpu.is_some()) {
                human(p.operations.iter().filter_map(|o| o.cpu).sum())
            } else {
                "-".to_owned()
            };
            let allocated = p
                .allocated_bytes
                .map_or_else(|| "-".to_owned(), |b| format!("{b} B"));
            let busy = [busy, cpu, allocated];
            if p.custom.is_empty() {
                let mut row = vec![p.name.to_owned(), p.instance.to_owned()];
                row.extend(busy.iter().cloned());
                row.extend(["-".to_owned(), "-".to_owned()]);
                own.push(row);
            }
            for (i, c) in p.custom.iter().enumerate() {
                let text = c.to_string();
                let (metric, value) = text
                    .split_once(" = ")
                    .or_else(|| text.split_once(": "))
                    .unwrap_or((&text, ""));
                let mut row = if i == 0 {
                    vec![p.name.to_owned(), p.instance.to_owned()]
                } else {
                    vec![String::new(), String::new()]
                };
                row.extend(
                    busy.iter()
                        .map(|b| if i == 0 { b.clone() } else { String::new() }),
                );
                row.extend([metric.to_owned(), value.to_owned()]);
                own.push(row);
            }
        }
        if own.len() > 1 {
            writeln!(f)?;
            group_by_plugin(&mut own);
            write_table(f, &own)?;
        }
        Ok(())
    }
}

#[cfg(feature = "serde")]
pub(crate) mod seconds {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

#[cfg(feature = "serde")]
pub(crate) mod opt_seconds {
    pub fn serialize<S: serde::Serializer>(
        d: &Option<std::time::Duration>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&d.as_secs_f64()),
            None => s.serialize_none(),
        }
    }
}

/// Serializes a `SystemTime` as seconds since the Unix epoch.
#[cfg(feature = "serde")]
pub(crate) mod unix_seconds {
    use std::time::{SystemTime, UNIX_EPOCH};

    pub fn secs(t: &SystemTime) -> f64 {
        t.duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    }

    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(secs(t))
    }
}

#[cfg(feature = "serde")]
mod opt_unix_seconds {
    pub fn serialize<S: serde::Serializer>(
        t: &Option<std::time::SystemTime>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_some(&super::unix_seconds::secs(t)),
            None => s.serialize_none(),
        }
    }
}
