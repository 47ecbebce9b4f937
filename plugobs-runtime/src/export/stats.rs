//! Snapshots of the registry for humans (`Display`, an aligned table) and machines
//! (`serde::Serialize` behind the `serde` feature). Built from records; no exporter needed.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime};

use crate::core::snapshot::OperationSnapshot;
use crate::model::discovery::DiscoveryReason;
use crate::model::health::HealthStatus;
use crate::model::state::PluginState;
use crate::model::stats::{
    CustomStats, DirectoryStats, HealthCounts, OperationStats, PluginHealth, PluginStats,
    RegistryStats, RoundStats,
};
use crate::record::plugin_record::PluginRecord;
use crate::registry::Registry;

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
            sampled: s.is_sampled().then_some(s.sample),
            timed_calls: s.latency.count(),
            objective: s.objective.success(),
            latency_objective: s.objective.latency,
            error_budget_left: s.budget_left(),
            breaker: s.breaker,
            latency_by_decade: by_decade(&s.latency),
            exemplar: slowest_recent(s),
        }
    }
}

/// The slowest exemplar of an operation younger than the exemplars' `max_age`.
fn slowest_recent(s: &OperationSnapshot) -> Option<crate::model::exemplar::SlowExemplar> {
    #[cfg(feature = "exemplars")]
    {
        let now = crate::core::exemplar::now_unix_nanos();
        s.exemplars
            .iter()
            .map(|(_, e)| e)
            .filter(|e| crate::core::exemplar::is_fresh(e, now))
            .max_by_key(|e| (e.value_nanos, e.unix_nanos))
            .map(Into::into)
    }
    #[cfg(not(feature = "exemplars"))]
    {
        let _ = s;
        None
    }
}

/// Calls by latency decade, from 1 µs (below 10 µs) to 10 s (10 s and more).
fn by_decade(latency: &crate::core::snapshot::HistogramSnapshot) -> [u64; 8] {
    const BOUNDS: [u64; 7] = [
        10_000,
        100_000,
        1_000_000,
        10_000_000,
        100_000_000,
        1_000_000_000,
        10_000_000_000,
    ];
    let mut decades = [0u64; 8];
    for (lower, upper, n) in latency.buckets() {
        let mid = lower / 2 + upper / 2;
        decades[BOUNDS.iter().take_while(|&&b| mid >= b).count()] += n;
    }
    decades
}

impl PluginStats {
    /// A snapshot of one instance's record and its operations.
    pub fn of(record: &PluginRecord) -> PluginStats {
        let d = record.descriptor();
        let slot = record.slot();
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
        let busy_ratio = crate::telemetry::busy::ratio(record);
        let t = record.timings();
        let bytes = record.running().bytes();
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
                let cpu = crate::core::cpu::of(d, slot);
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
            custom: CustomStats::of(d, slot),
            background_cpu: record.running().background_cpu().map(Duration::from_nanos),
            allocated_bytes: bytes.map(|(a, _)| a),
            freed_bytes: bytes.map(|(_, f)| f),
            history: record.history(),
            unregistered: record.is_unregistered(),
        }
    }
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
        // An unused default instance's row is kept when it has figures of its own (custom
        // metrics, CPU, allocations recorded outside any instance's scope).
        let plugins: Vec<PluginStats> = self
            .instances_with(|r| {
                crate::registry::default_in_use(r) || crate::registry::has_own_figures(r)
            })
            .iter()
            .map(|r| PluginStats::of(r))
            .collect();
        // Then the plugins unregistered since they were registered at run time: their
        // final figures, each saying so (not in the totals, as not in the exposition).
        let mut gone = Vec::new();
        for record in self.unregistered() {
            gone.push(PluginStats::of(&record));
            gone.extend(
                record
                    .configured_instances()
                    .iter()
                    .map(|r| PluginStats::of(r)),
            );
        }
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
            health_rounds: {
                let rounds = self.health_rounds.snapshot();
                RoundStats {
                    rounds: rounds.count(),
                    overruns: self
                        .health_overruns
                        .load(std::sync::atomic::Ordering::Relaxed),
                    max: rounds.max_nanos().map(|n| Duration::from_nanos(n as u64)),
                }
            },
            plugins: plugins.into_iter().chain(gone).collect(),
            directories: self
                .directories()
                .into_iter()
                .map(|d| DirectoryStats {
                    source: d.source,
                    discoveries: d.durations.snapshot().count(),
                    last_duration: Duration::from_nanos(
                        d.last_nanos.load(std::sync::atomic::Ordering::Relaxed),
                    ),
                    plugins: d.plugins.load(std::sync::atomic::Ordering::Relaxed),
                    failures: DiscoveryReason::ALL
                        .iter()
                        .map(|r| (r.as_str(), d.failures(*r)))
                        .filter(|(_, n)| *n > 0)
                        .collect(),
                })
                .collect(),
        }
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
    d.map(crate::model::fmt::duration)
        .unwrap_or_else(|| "-".to_owned())
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
        write!(
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
            crate::model::fmt::duration(self.discovery_duration),
        )?;
        // Only once a monitor ran: a host without one sees no line about it.
        let rounds = &self.health_rounds;
        if rounds.rounds > 0 {
            write!(
                f,
                " | health rounds: {} (overran: {}, longest: {})",
                rounds.rounds,
                rounds.overruns,
                rounds
                    .max
                    .map_or_else(|| "-".to_owned(), crate::model::fmt::duration)
            )?;
        }
        writeln!(f)?;
        for d in &self.directories {
            let failures: Vec<String> =
                d.failures.iter().map(|(r, n)| format!("{r}={n}")).collect();
            writeln!(
                f,
                "directory {}: {} plugins in {} | failed files: {}",
                d.source,
                d.plugins,
                crate::model::fmt::duration(d.last_duration),
                if failures.is_empty() {
                    "0".to_owned()
                } else {
                    failures.join(" ")
                }
            )?;
        }
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
                if p.unregistered {
                    format!("{} (unregistered)", p.state.as_str())
                } else {
                    p.state.as_str().to_owned()
                },
                p.health.status.as_str().to_owned(),
                opt(p.load_duration),
                opt(p.start_duration),
                p.loaded_at
                    .map(|t| {
                        format!(
                            "{} ago",
                            crate::model::fmt::duration(now.duration_since(t).unwrap_or_default())
                        )
                    })
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
        // A breaker column only when an operation has a breaker.
        let breakers = self
            .plugins
            .iter()
            .any(|p| p.operations.iter().any(|o| o.breaker.is_some()));
        if breakers {
            ops[0].push("BREAKER".to_owned());
        }
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
                if breakers {
                    let breaker = o.breaker.map_or_else(
                        || "-".to_owned(),
                        |b| match (b.trips, b.rejected) {
                            (0, 0) => b.state.to_string(),
                            (trips, rejected) => format!(
                                "{} ({trips} trip{}, {rejected} rejected)",
                                b.state,
                                if trips == 1 { "" } else { "s" }
                            ),
                        },
                    );
                    if let Some(row) = ops.last_mut() {
                        row.push(breaker);
                    }
                }
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
                    .map(|t| {
                        format!(
                            "{} ago",
                            crate::model::fmt::duration(now.duration_since(t).unwrap_or_default())
                        )
                    })
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
            let cpu = if p.operations.iter().any(|o| o.cpu.is_some()) || p.background_cpu.is_some()
            {
                crate::model::fmt::duration(
                    p.operations
                        .iter()
                        .filter_map(|o| o.cpu)
                        .chain(p.background_cpu)
                        .sum(),
                )
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
