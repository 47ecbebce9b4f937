//! A plugin's own metrics: counters, gauges and histograms recorded from any code of a
//! plugin with `plugobs::counter!`, `plugobs::gauge!` and `plugobs::histogram!`.
//!
//! # Names
//!
//! A custom metric named `cache_hits` of plugin `lru_cache` (kind `cache`) is exported as
//! `{namespace}_custom_cache_hits_total{plugin="lru_cache",kind="cache",instance="lru_cache"}`
//! (counters get `_total`; gauges and histograms keep the name). Its `instance` label is
//! the instance whose work recorded it: inside a call on an instance loaded by name (or
//! its hooks, or work attributed to it with [`Scope`](crate::Scope)), that instance's
//! name; anywhere else the plugin's default instance (see [`crate::instance`]), so a
//! plugin loaded only the default way has one series per label set. No name of the closed list
//! ([`crate::names::ALL`]) starts with `custom_`, so a custom metric can never collide
//! with one of plugobs' own. A literal name is checked when the macro expands: snake_case
//! (`[a-z][a-z0-9_]*`, no `__`, no trailing `_`), not ending in a suffix the exporters
//! add (`_total`, `_bucket`, `_sum`, `_count`, `_created`, `_info`), and no extra label
//! named like one plugobs sets (`plugin`, `kind`, `operation`, `instance`, `le`,
//! `quantile`). Two plugins may use the same name with the same type and label
//! keys (their series differ by `plugin`); a name used again with another type or other
//! label keys is not exported (a warning says so) but still counted in `stats()`.
//!
//! # Labels
//!
//! Every series carries the plugin's `plugin` and `kind` labels. Extra labels are
//! `key => value` pairs with literal keys and `&'static str` values; each metric keeps at
//! most [`MAX_LABEL_SETS`] distinct sets of values, and the calls with any further set are
//! counted under one series whose every extra label is [`OVERFLOW_LABEL`], with a warning
//! the first time.
//!
//! # Cost
//!
//! Each macro call site holds one `static` [`CustomSite`] that resolves, once, to its
//! metric. After that, recording is an acquire load, a scan of the metric's label sets by
//! pointer (one comparison when there are no extra labels) and one relaxed atomic add (a
//! counter), a store (a gauge's `set`) or a bucket add (a histogram): no hashing, no
//! allocation, no lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use crate::core::cells::{Histogram as Cells, HistogramSnapshot};
use crate::core::per_instance::PerInstance;
use crate::core::running::{self, Running};
use crate::model::descriptor::PluginDescriptor;
use crate::model::names::{MetricDef, MetricType};
pub use crate::model::stats::{CustomStats, CustomValue};

/// The most distinct sets of extra label values a custom metric keeps; further ones are
/// counted under [`OVERFLOW_LABEL`].
pub const MAX_LABEL_SETS: usize = 16;
/// The value every extra label takes in the overflow series of a custom metric.
pub const OVERFLOW_LABEL: &str = "other";
/// Bounds of the exported buckets of custom histograms, in the metric's own unit.
pub const CUSTOM_BUCKETS: &[f64] = &[
    0.001, 0.01, 0.1, 1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
];

/// The type of a custom metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum CustomKind {
    /// A monotonic counter.
    Counter,
    /// A gauge.
    Gauge,
    /// A histogram of values in the metric's own unit.
    Histogram,
}

/// One custom metric of one instance of a plugin: its series, one per set of extra label
/// values. The default instance's holds the other instances'.
pub struct CustomMetric {
    descriptor: &'static PluginDescriptor,
    /// The instance's slot (0: the default instance) and name.
    pub(crate) slot: usize,
    instance: &'static str,
    pub(crate) name: &'static str,
    pub(crate) kind: CustomKind,
    pub(crate) keys: &'static [&'static str],
    /// `None` when the name is taken by another type or other label keys.
    def: Option<&'static MetricDef>,
    sets: [OnceLock<&'static CustomSeries>; MAX_LABEL_SETS],
    overflow: OnceLock<&'static CustomSeries>,
    /// The same metric of each instance loaded by name (on the default instance's only).
    instances: PerInstance<&'static CustomMetric>,
}

impl std::fmt::Debug for CustomMetric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomMetric")
            .field("plugin", &self.descriptor.name)
            .field("instance", &self.instance)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// One series of a custom metric: its label values and its value.
pub struct CustomSeries {
    values: &'static [&'static str],
    /// `plugin`, `kind`, `instance`, then the extra labels.
    labels: &'static [(&'static str, &'static str)],
    count: AtomicU64,
    histogram: Option<Cells>,
}

impl std::fmt::Debug for CustomSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CustomSeries")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// Every exported custom metric: its name as written, its definition, type and keys.
type Interned = (
    &'static str,
    &'static MetricDef,
    CustomKind,
    &'static [&'static str],
);
static DEFS: Mutex<Vec<Interned>> = Mutex::new(Vec::new());

fn leak_str(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn intern_def(
    name: &'static str,
    kind: CustomKind,
    keys: &'static [&'static str],
    descriptor: &PluginDescriptor,
) -> Option<&'static MetricDef> {
    let mut defs = DEFS.lock().unwrap_or_else(|e| e.into_inner());
    let full = match kind {
        CustomKind::Counter => format!("custom_{name}_total"),
        _ => format!("custom_{name}"),
    };
    // By the name as written: a counter `x` (`custom_x_total`) and a gauge `x`
    // (`custom_x`) would be one OpenMetrics family.
    if let Some((_, def, k, ks)) = defs.iter().find(|(n, ..)| *n == name) {
        if *k == kind && *ks == keys {
            return Some(def);
        }
        tracing::warn!(
            plugin.name = descriptor.name,
            metric = name,
            "custom metric `{name}` is already used with another type or other label keys; \
             it is counted in stats() but not exported"
        );
        return None;
    }
    let mut labels = vec!["plugin", "kind", "instance"];
    labels.extend_from_slice(keys);
    let def: &'static MetricDef = Box::leak(Box::new(MetricDef {
        name: leak_str(full),
        kind: match kind {
            CustomKind::Counter => MetricType::Counter,
            CustomKind::Gauge => MetricType::Gauge,
            CustomKind::Histogram => MetricType::Histogram,
        },
        labels: Box::leak(labels.into_boxed_slice()),
        unit: None,
        help: leak_str(format!(
            "Custom {} `{name}` recorded by plugin code.",
            match kind {
                CustomKind::Counter => "counter",
                CustomKind::Gauge => "gauge",
                CustomKind::Histogram => "histogram",
            }
        )),
        buckets: CUSTOM_BUCKETS,
    }));
    defs.push((name, def, kind, keys));
    Some(def)
}

impl CustomMetric {
    /// A new metric `name` of `descriptor`'s default instance, exported unless the name
    /// is taken by another type or other label keys.
    pub(crate) fn new(
        descriptor: &'static PluginDescriptor,
        name: &'static str,
        kind: CustomKind,
        keys: &'static [&'static str],
    ) -> CustomMetric {
        CustomMetric {
            descriptor,
            slot: 0,
            instance: descriptor.name,
            name,
            kind,
            keys,
            def: intern_def(name, kind, keys, descriptor),
            sets: Default::default(),
            overflow: OnceLock::new(),
            instances: PerInstance::default(),
        }
    }

    /// This metric of the instance `running` (one of this plugin's loaded by name),
    /// made on first use and handed to `register` (which lists it with the plugin's).
    #[inline]
    pub(crate) fn of_instance(
        &'static self,
        running: &'static Running,
        register: impl FnOnce(&'static CustomMetric),
    ) -> &'static CustomMetric {
        self.instances
            .get_or_init(running.slot, || {
                let metric: &'static CustomMetric = Box::leak(Box::new(CustomMetric {
                    descriptor: self.descriptor,
                    slot: running.slot,
                    instance: running.name,
                    name: self.name,
                    kind: self.kind,
                    keys: self.keys,
                    def: self.def,
                    sets: Default::default(),
                    overflow: OnceLock::new(),
                    instances: PerInstance::default(),
                }));
                register(metric);
                metric
            })
            .copied()
            .unwrap_or(self)
    }

    /// The series for these extra label values (in the order of the keys).
    #[inline]
    pub fn series(&'static self, values: &[&'static str]) -> &'static CustomSeries {
        for slot in &self.sets {
            match slot.get() {
                Some(s) if same(s.values, values) => return s,
                Some(_) => continue,
                None => break,
            }
        }
        self.series_slow(values)
    }

    #[cold]
    #[inline(never)]
    fn series_slow(&'static self, values: &[&'static str]) -> &'static CustomSeries {
        // plugobs' memory, not the running plugin's.
        running::outside(|| self.series_made(values))
    }

    fn series_made(&'static self, values: &[&'static str]) -> &'static CustomSeries {
        for slot in &self.sets {
            let claimed = slot.get_or_init(|| self.new_series(values.to_vec()));
            if claimed.values == values {
                return claimed;
            }
        }
        self.overflow.get_or_init(|| {
            tracing::warn!(
                plugin.name = self.descriptor.name,
                metric = self.name,
                "more than {MAX_LABEL_SETS} label sets on custom metric `{}`; counting the \
                 others under `{OVERFLOW_LABEL}`",
                self.name
            );
            self.new_series(vec![OVERFLOW_LABEL; self.keys.len()])
        })
    }

    fn new_series(&self, values: Vec<&'static str>) -> &'static CustomSeries {
        // The instance whose work recorded it.
        let mut labels = vec![
            ("plugin", self.descriptor.name),
            ("kind", self.descriptor.kind),
            ("instance", self.instance),
        ];
        labels.extend(self.keys.iter().copied().zip(values.iter().copied()));
        Box::leak(Box::new(CustomSeries {
            values: Box::leak(values.into_boxed_slice()),
            labels: Box::leak(labels.into_boxed_slice()),
            count: AtomicU64::new(0),
            histogram: (self.kind == CustomKind::Histogram).then(Cells::default),
        }))
    }

    /// The metric's name as written, e.g. `cache_hits`.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The metric's type.
    pub fn kind(&self) -> CustomKind {
        self.kind
    }

    /// The exported definition, or `None` if the name is taken by another type.
    pub(crate) fn def(&self) -> Option<&'static MetricDef> {
        self.def
    }

    /// Every series recorded so far, in the order they were first used; the overflow
    /// series last.
    pub(crate) fn each_series(&self) -> impl Iterator<Item = &'static CustomSeries> + '_ {
        self.sets
            .iter()
            .map_while(|s| s.get().copied())
            .chain(self.overflow.get().copied())
    }

    /// Changes whenever a value of this metric does.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.each_series()
            .fold(0u64, |acc, s| acc.rotate_left(7).wrapping_add(s.raw()))
    }
}

#[inline(always)]
fn same(a: &[&'static str], b: &[&'static str]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| std::ptr::eq(*x, *y))
}

impl CustomSeries {
    /// `plugin`, `kind`, `instance`, then the extra labels.
    pub(crate) fn labels(&self) -> &'static [(&'static str, &'static str)] {
        self.labels
    }

    /// The extra label pairs only.
    pub fn extra_labels(&self) -> &'static [(&'static str, &'static str)] {
        &self.labels[3..]
    }

    /// A counter's total, a gauge's value as `f64` bits, a histogram's count.
    pub(crate) fn raw(&self) -> u64 {
        match &self.histogram {
            Some(h) => h.count(),
            None => self.count.load(Relaxed),
        }
    }

    /// A histogram's values (values are stored as billionths of the unit).
    pub(crate) fn histogram(&self) -> Option<HistogramSnapshot> {
        self.histogram.as_ref().map(Cells::snapshot)
    }
}

/// A counter of a plugin's own: `plugobs::counter!(Self, "cache_hits").increment(1)`.
#[derive(Clone, Copy, Debug)]
pub struct Counter(&'static CustomSeries);

impl Counter {
    /// The counter of these label values of `metric`; generated code calls this.
    #[inline(always)]
    pub fn of(metric: &'static CustomMetric, values: &[&'static str]) -> Self {
        Counter(metric.series(values))
    }
    /// Adds `n`.
    #[inline(always)]
    pub fn increment(self, n: u64) {
        self.0.count.fetch_add(n, Relaxed);
    }
    /// The total so far.
    pub fn get(self) -> u64 {
        self.0.count.load(Relaxed)
    }
}

/// A gauge of a plugin's own: `plugobs::gauge!(Self, "queue_depth").set(3.0)`.
#[derive(Clone, Copy, Debug)]
pub struct Gauge(&'static CustomSeries);

impl Gauge {
    /// The gauge of these label values of `metric`; generated code calls this.
    #[inline(always)]
    pub fn of(metric: &'static CustomMetric, values: &[&'static str]) -> Self {
        Gauge(metric.series(values))
    }
    /// Sets the value.
    #[inline(always)]
    pub fn set(self, value: f64) {
        self.0.count.store(value.to_bits(), Relaxed);
    }
    /// Adds `delta` (negative to subtract).
    #[inline]
    pub fn increment(self, delta: f64) {
        let _ = self.0.count.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + delta).to_bits())
        });
    }
    /// Subtracts `delta`.
    #[inline]
    pub fn decrement(self, delta: f64) {
        self.increment(-delta);
    }
    /// The current value.
    pub fn get(self) -> f64 {
        f64::from_bits(self.0.count.load(Relaxed))
    }
}

/// A histogram of a plugin's own: `plugobs::histogram!(Self, "batch_size").record(12.0)`.
///
/// Values are in the metric's own unit (seconds, items, bytes …), kept with a relative
/// error of about 1.6 % from 10⁻⁹ to about 2 000 units (larger values share the top
/// bucket; the sum stays exact to 10⁻⁹ units). Negative values and NaN count as 0.
#[derive(Clone, Copy, Debug)]
pub struct Histogram(&'static CustomSeries);

impl Histogram {
    /// The histogram of these label values of `metric`; generated code calls this.
    #[inline(always)]
    pub fn of(metric: &'static CustomMetric, values: &[&'static str]) -> Self {
        Histogram(metric.series(values))
    }
    /// Records one value.
    #[inline]
    pub fn record(self, value: f64) {
        // `as` saturates: negative and NaN become 0, huge values u64::MAX.
        let scaled = (value * 1e9) as u64;
        if let Some(h) = &self.0.histogram {
            h.record(scaled);
        }
    }
    /// Records a duration in seconds.
    #[inline]
    pub fn record_duration(self, d: Duration) {
        self.record(d.as_secs_f64());
    }
}

impl std::fmt::Display for CustomStats {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)?;
        if !self.labels.is_empty() {
            f.write_str("{")?;
            for (i, (k, v)) in self.labels.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str("}")?;
        }
        match &self.value {
            CustomValue::Counter { value } => write!(f, " = {value}"),
            CustomValue::Gauge { value } => write!(f, " = {value}"),
            CustomValue::Histogram {
                count, sum, p50, ..
            } => {
                write!(f, ": n={count} sum={sum}")?;
                if let Some(p50) = p50 {
                    write!(f, " p50={p50:.3}")?;
                }
                Ok(())
            }
        }
    }
}
