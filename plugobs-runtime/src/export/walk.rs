//! What plugobs exports, walked once: every series of a registry as (metric, labels,
//! value), in groups that can be skipped when unchanged. The bridge to the `metrics`
//! facade and the Prometheus renderer both consume this walk, so the list of series and
//! their labels is written in one place.

use crate::core::custom::CustomKind;
use crate::core::snapshot::{HistogramSnapshot, OperationSnapshot};
use crate::health::{CheckReason, HealthStatus};
use crate::model::breaker::BreakerState;
use crate::model::discovery::DiscoveryReason;
use crate::model::error::FailureReason;
use crate::model::names::{self, MetricDef};
use crate::model::state::{PluginState, Stage};
use crate::record::plugin_record::PluginRecord;
use crate::registry::Registry;

/// A series' value.
pub(crate) enum Value<'a> {
    Counter(u64),
    /// A counter of seconds, given in nanoseconds (`metrics` counters are integers: the
    /// bridge publishes it as a gauge of seconds).
    CounterSeconds(u64),
    Gauge(f64),
    Histogram(&'a HistogramSnapshot),
}

/// One series: a metric of the closed list, its label pairs (in the metric's label
/// order) and its value.
pub(crate) struct Series<'a> {
    pub(crate) def: &'static MetricDef,
    pub(crate) labels: &'a [(&'static str, &'static str)],
    pub(crate) value: Value<'a>,
    /// A histogram's exemplars (operation latency, feature `exemplars`), by bucket
    /// position (`+Inf` last); empty for every other series.
    pub(crate) exemplars: &'a [(usize, crate::model::exemplar::Exemplar)],
}

/// A group of series that changes together: the registry's own, one plugin's lifecycle,
/// or one operation. Identified by the record's address and the operation name (`""`
/// for the registry and lifecycle groups).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct GroupKey(pub(crate) usize, pub(crate) &'static str);

impl Registry {
    /// Walks every series. Before building a plugin's lifecycle group or an operation's
    /// group, asks `want(key, fingerprint)`; a `false` skips the group (the fingerprint
    /// changes whenever something in the group does). The registry's own group is always
    /// emitted.
    pub(crate) fn walk_series(
        &self,
        want: &mut dyn FnMut(GroupKey, u64) -> bool,
        emit: &mut dyn FnMut(Series<'_>),
    ) {
        self.attach_sites();
        let discovery = self.discovery.snapshot();
        emit(Series {
            def: &names::DISCOVERY_DURATION,
            labels: &[],
            value: Value::Histogram(&discovery),
            exemplars: &[],
        });
        // Each directory discovered at run time: its own discovery series, by `source`.
        for dir in self.directories() {
            let source = [("source", dir.source)];
            let durations = dir.durations.snapshot();
            emit(Series {
                def: &names::DISCOVERY_DURATION,
                labels: &source,
                value: Value::Histogram(&durations),
                exemplars: &[],
            });
            for reason in DiscoveryReason::ALL {
                emit(Series {
                    def: &names::DISCOVERY_FAILURES,
                    labels: &[("source", dir.source), ("reason", reason.as_str())],
                    value: Value::Counter(dir.failures(reason)),
                    exemplars: &[],
                });
            }
        }
        let rounds = self.health_rounds.snapshot();
        emit(Series {
            def: &names::HEALTH_ROUND_DURATION,
            labels: &[],
            value: Value::Histogram(&rounds),
            exemplars: &[],
        });
        emit(Series {
            def: &names::HEALTH_ROUND_OVERRUNS,
            labels: &[],
            value: Value::Counter(
                self.health_overruns
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
            exemplars: &[],
        });
        let instances = self.instances();
        let mut by_state = [0usize; PluginState::ALL.len()];
        for record in &instances {
            by_state[record.state().index()] += 1;
        }
        for (state, n) in PluginState::ALL.iter().zip(by_state) {
            emit(Series {
                def: &names::PLUGINS,
                labels: &[("state", state.as_str())],
                value: Value::Gauge(n as f64),
                exemplars: &[],
            });
        }
        for plugin in self.plugins() {
            let address = std::ptr::from_ref(plugin) as usize;
            let d = plugin.descriptor();
            // Registration facts never change: a group whose fingerprint stays 0. No
            // operation is named with a NUL, so the key is the plugin's own.
            if want(GroupKey(address, "\0info"), 0) {
                emit(Series {
                    def: &names::PLUGIN_INFO,
                    labels: &[("plugin", d.name), ("kind", d.kind), ("version", d.version)],
                    value: Value::Gauge(1.0),
                    exemplars: &[],
                });
            }
        }
        // CPU time, allocations and custom metrics: each instance's own (the default
        // instance's when it has some, even if it was never loaded).
        for record in self.instances_with(crate::registry::has_own_figures) {
            let record = &*record;
            let address = std::ptr::from_ref(record) as usize;
            let d = record.descriptor();
            let cpu = crate::core::cpu::of(d, record.slot());
            let bytes = record.running().bytes();
            let fingerprint = cpu
                .iter()
                .map(|(_, n)| *n)
                .chain(bytes.map_or([0, 0], |(a, f)| [a, f]))
                .fold(0u64, |acc, n| acc.rotate_left(7).wrapping_add(n));
            if want(GroupKey(address, "\0resources"), fingerprint) {
                resources(record, &cpu, bytes, emit);
            }
            for metric in crate::telemetry::custom::of(d, record.slot()) {
                // A metric's address is unique, so its key cannot be a plugin's or an operation's.
                let key = GroupKey(std::ptr::from_ref(metric) as usize, "");
                if want(key, metric.fingerprint()) {
                    custom(metric, emit);
                }
            }
        }
        for record in &instances {
            let record = &**record;
            let address = std::ptr::from_ref(record) as usize;
            let slot = record.slot();
            if want(GroupKey(address, ""), record.generation()) {
                lifecycle(record, emit);
            }
            record.with_operations(|ops| {
                for op in ops {
                    if op.called_by(slot)
                        && want(GroupKey(address, op.name()), op.fingerprint(slot))
                    {
                        operation(record, &op.snapshot(slot), emit);
                    }
                }
            });
            // Utilization: its own group, skipped while it did not change.
            let busy = crate::telemetry::busy::ratio(record);
            if want(GroupKey(address, "\0busy"), busy.to_bits()) {
                emit(Series {
                    def: &names::BUSY_RATIO,
                    labels: &identity(record),
                    value: Value::Gauge(busy),
                    exemplars: &[],
                });
            }
        }
    }
}

impl Registry {
    /// Every operation, on every instance, that times only some calls: its labels and
    /// one call in how many is timed.
    pub(crate) fn sampled_operations(&self) -> Vec<([(&'static str, &'static str); 4], u32)> {
        let mut out = Vec::new();
        for record in self.instances() {
            let [plugin, kind, instance] = identity(&record);
            record.with_operations(|ops| {
                for op in ops {
                    let s = op.snapshot(record.slot());
                    if s.is_sampled() && op.called_by(record.slot()) {
                        out.push((
                            [plugin, kind, instance, ("operation", s.operation)],
                            s.sample,
                        ));
                    }
                }
            });
        }
        out
    }
}

/// The `plugin`, `kind` and `instance` labels of a record's series.
fn identity(record: &PluginRecord) -> [(&'static str, &'static str); 3] {
    let d = record.descriptor();
    [
        ("plugin", d.name),
        ("kind", d.kind),
        ("instance", record.instance()),
    ]
}

fn lifecycle(record: &PluginRecord, emit: &mut dyn FnMut(Series<'_>)) {
    let id = identity(record);
    let [plugin, kind, instance] = id;
    for (stage, def) in [
        (Stage::Load, &names::LOAD_DURATION),
        (Stage::Start, &names::START_DURATION),
        (Stage::Stop, &names::STOP_DURATION),
    ] {
        let snapshot = record.durations(stage).snapshot();
        if snapshot.count() > 0 {
            emit(Series {
                def,
                labels: &id,
                value: Value::Histogram(&snapshot),
                exemplars: &[],
            });
        }
    }
    for stage in Stage::ALL {
        for reason in FailureReason::ALL {
            let n = record.failures(stage, reason);
            // Load and start failures are always exported (as 0 until they happen) so
            // alerts on them work from the start; stop failures once they happen.
            // `config` only fails a load.
            let possible =
                stage != Stage::Stop && (reason != FailureReason::Config || stage == Stage::Load);
            if n > 0 || possible {
                emit(Series {
                    def: &names::LOAD_FAILURES,
                    labels: &[
                        plugin,
                        kind,
                        instance,
                        ("stage", stage.as_str()),
                        ("reason", reason.as_str()),
                    ],
                    value: Value::Counter(n),
                    exemplars: &[],
                });
            }
        }
    }
    health(record, emit);
    for from in PluginState::ALL {
        for to in PluginState::ALL {
            let n = record.transitions(from, to);
            if n > 0 {
                emit(Series {
                    def: &names::STATE_TRANSITIONS,
                    labels: &[
                        plugin,
                        kind,
                        instance,
                        ("from", from.as_str()),
                        ("to", to.as_str()),
                    ],
                    value: Value::Counter(n),
                    exemplars: &[],
                });
            }
        }
    }
}

/// The health series of one plugin: its status as a state set, `up`, failed checks by
/// reason (always, 0 until they happen), and once checked, the check latency and the time
/// of the last check.
fn health(record: &PluginRecord, emit: &mut dyn FnMut(Series<'_>)) {
    let id = identity(record);
    let [plugin, kind, instance] = id;
    let (status, checked_at) = {
        let inner = record.health_state().lock();
        (inner.reported.status, inner.checked_at)
    };
    for s in HealthStatus::ALL {
        emit(Series {
            def: &names::HEALTH,
            labels: &[plugin, kind, instance, ("status", s.as_str())],
            value: Value::Gauge(if s == status { 1.0 } else { 0.0 }),
            exemplars: &[],
        });
    }
    let up = record.running_instances() > 0 && status != HealthStatus::Unhealthy;
    emit(Series {
        def: &names::UP,
        labels: &id,
        value: Value::Gauge(if up { 1.0 } else { 0.0 }),
        exemplars: &[],
    });
    for reason in CheckReason::ALL {
        emit(Series {
            def: &names::HEALTH_CHECK_FAILURES,
            labels: &[plugin, kind, instance, ("reason", reason.as_str())],
            value: Value::Counter(record.health_check_failures(reason)),
            exemplars: &[],
        });
    }
    let durations = record.health_state().durations().snapshot();
    if durations.count() > 0 {
        emit(Series {
            def: &names::HEALTH_CHECK_DURATION,
            labels: &id,
            value: Value::Histogram(&durations),
            exemplars: &[],
        });
    }
    if let Some(at) = checked_at {
        let seconds = crate::model::fmt::unix_seconds(at);
        emit(Series {
            def: &names::HEALTH_LAST_CHECK,
            labels: &id,
            value: Value::Gauge(seconds),
            exemplars: &[],
        });
    }
}

fn operation(record: &PluginRecord, s: &OperationSnapshot, emit: &mut dyn FnMut(Series<'_>)) {
    let [plugin, kind, instance] = identity(record);
    let base = [plugin, kind, instance, ("operation", s.operation)];
    for (outcome, n) in s.outcomes() {
        emit(Series {
            def: &names::OPERATIONS,
            labels: &[base[0], base[1], base[2], base[3], ("outcome", outcome)],
            value: Value::Counter(n),
            exemplars: &[],
        });
    }
    for &(error_kind, n) in &s.errors_by_kind {
        emit(Series {
            def: &names::ERRORS,
            labels: &[
                base[0],
                base[1],
                base[2],
                base[3],
                ("error_kind", error_kind),
            ],
            value: Value::Counter(n),
            exemplars: &[],
        });
    }
    emit(Series {
        def: &names::OPERATION_DURATION,
        labels: &base,
        value: Value::Histogram(&s.latency),
        exemplars: &s.exemplars,
    });
    emit(Series {
        def: &names::OPERATIONS_IN_FLIGHT,
        labels: &base,
        value: Value::Gauge(s.in_flight() as f64),
        exemplars: &[],
    });
    if let Some(b) = &s.breaker {
        for state in BreakerState::ALL {
            emit(Series {
                def: &names::BREAKER_STATE,
                labels: &[
                    base[0],
                    base[1],
                    base[2],
                    base[3],
                    ("state", state.as_str()),
                ],
                value: Value::Gauge(if state == b.state { 1.0 } else { 0.0 }),
                exemplars: &[],
            });
        }
        emit(Series {
            def: &names::BREAKER_TRIPS,
            labels: &base,
            value: Value::Counter(b.trips),
            exemplars: &[],
        });
    }
    let objectives = [
        ("success", s.objective.success()),
        ("latency", s.objective.latency.map(|d| d.as_secs_f64())),
    ];
    for (objective, value) in objectives {
        if let Some(value) = value {
            emit(Series {
                def: &names::OPERATION_OBJECTIVE,
                labels: &[base[0], base[1], base[2], base[3], ("objective", objective)],
                value: Value::Gauge(value),
                exemplars: &[],
            });
        }
    }
}

/// The series of one custom metric of a plugin (see [`crate::core::custom`]).
fn custom(metric: &crate::core::custom::CustomMetric, emit: &mut dyn FnMut(Series<'_>)) {
    let Some(def) = metric.def() else { return };
    for series in metric.each_series() {
        let histogram;
        let value = match metric.kind() {
            CustomKind::Counter => Value::Counter(series.raw()),
            CustomKind::Gauge => Value::Gauge(f64::from_bits(series.raw())),
            CustomKind::Histogram => {
                histogram = series.histogram().unwrap_or_default();
                Value::Histogram(&histogram)
            }
        };
        emit(Series {
            def,
            labels: series.labels(),
            value,
            exemplars: &[],
        });
    }
}

/// A plugin's CPU time and allocations, where they are measured.
fn resources(
    record: &PluginRecord,
    cpu: &[(&'static str, u64)],
    bytes: Option<(u64, u64)>,
    emit: &mut dyn FnMut(Series<'_>),
) {
    let id = identity(record);
    let [plugin, kind, instance] = id;
    for &(operation, nanos) in cpu {
        emit(Series {
            def: &names::CPU_SECONDS,
            labels: &[plugin, kind, instance, ("operation", operation)],
            value: Value::CounterSeconds(nanos),
            exemplars: &[],
        });
    }
    if let Some((allocated, freed)) = bytes {
        emit(Series {
            def: &names::ALLOCATED_BYTES,
            labels: &id,
            value: Value::Counter(allocated),
            exemplars: &[],
        });
        emit(Series {
            def: &names::FREED_BYTES,
            labels: &id,
            value: Value::Counter(freed),
            exemplars: &[],
        });
    }
}
