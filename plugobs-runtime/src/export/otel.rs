//! OpenTelemetry metrics: plugobs' own aggregates reported through an OpenTelemetry
//! [`MeterProvider`], read at collection time (feature `otel`).
//!
//! [`register`] creates one instrument per plugobs metric on a meter named `plugobs` and
//! from then on, each time a reader of the provider collects (a `PeriodicReader`'s tick,
//! a `force_flush`, a pull exporter's scrape), plugobs walks its aggregates once and
//! reports them. Nothing is recorded on a plugin call: a call only updates plugobs' own
//! cells, as it does without this feature.
//!
//! # What arrives
//!
//! | plugobs metric | OpenTelemetry instrument | values |
//! |---|---|---|
//! | counter (`…_total`) | `u64` observable counter (monotonic cumulative sum) | exact totals |
//! | counter of seconds (`plugin_cpu_seconds_total`) | `f64` observable counter, unit `s` | seconds |
//! | gauge | `f64` observable gauge | the current value |
//! | histogram (`…_duration_seconds`) | `f64` explicit-bucket histogram, unit `s` | exact count, exact bucket counts at plugobs' bounds, sum |
//!
//! * **Names** are exactly plugobs' exported names, namespace included
//!   (`plugobs_plugin_operation_duration_seconds`, `plugobs_plugin_operations_total`), so a
//!   dashboard written for the Prometheus path reads the same names through a Collector
//!   (its Prometheus exporter does not add `_total` or a unit suffix to a name that
//!   already ends with one). The names are fixed when [`register`] runs: set a namespace
//!   with [`set_namespace`](crate::set_namespace) before it.
//! * **Descriptions** are the help texts of [`names`](crate::names), **units** are UCUM:
//!   `s` for seconds, `By` for bytes, `%` for percent, `1` for counts; a metric without a
//!   unit has none.
//! * **Attributes** are the metric's labels, in its label order: `plugin`, `kind`,
//!   `instance`, then `operation`, `outcome`, `error_kind`, `state`…; see
//!   `docs/metrics.md`. A plugin's custom metrics arrive the same way, with their labels.
//! * **Histograms**: one OpenTelemetry histogram per series (e.g. one per plugin instance
//!   and operation for the operation latency), not one series per bucket: its explicit
//!   bounds are the metric's recommended buckets ([`names::OPERATION_BUCKETS`] …), its
//!   count and bucket counts are exactly those of plugobs' Prometheus output (a
//!   log-linear bucket counts under the first bound at or above its midpoint), its sum
//!   is plugobs' exact sum up to the `f64` rounding of the SDK's additions, and its min
//!   and max are within plugobs' bucket precision (about 1.6 %).
//! * **Temporality**: values are cumulative since plugobs started counting; an exporter
//!   asking for delta temporality gets the SDK's deltas of them.
//!
//! [`names::OPERATION_BUCKETS`]: crate::names::OPERATION_BUCKETS
//!
//! # How it is read, and why this way
//!
//! `opentelemetry_sdk` 0.33 has no public producer interface: the metric data types
//! (`ResourceMetrics`, `Metric`, `HistogramDataPoint`) have crate-private fields and no
//! constructors, so neither a custom `MetricReader` nor an exporter wrapper can add
//! pre-aggregated points. What the SDK offers for values computed elsewhere is the
//! observable instruments, whose callbacks run at collection time, before the SDK reads
//! its aggregators:
//!
//! * counters and gauges are observable instruments reporting plugobs' exact current
//!   values: a collection costs one observation per series;
//! * the OpenTelemetry API has no observable histogram, so each histogram metric is a
//!   synchronous histogram created with plugobs' bounds, and the collection replays into
//!   it what plugobs counted since the previous collection: for each of plugobs'
//!   log-linear buckets that gained `n` values, `n` measurements of one value chosen
//!   inside that bucket (and inside the OpenTelemetry bucket its midpoint falls in),
//!   chosen so the replayed values add up to plugobs' exact sum. This costs one SDK
//!   `record` per call made since the previous collection (a few tens of nanoseconds
//!   each, see the README), spent by the thread that collects, never by a plugin call.
//!   The first collection replays everything counted before [`register`].
//!
//! The walk happens once per collection: the first plugobs callback a collection runs
//! walks the registry (the same walk the Prometheus renderer and the `metrics` bridge
//! use), and every instrument's callback reports its part of it.
//!
//! # Cardinality limit
//!
//! The SDK keeps at most **2000** attribute sets per instrument and per reader (its
//! `DEFAULT_CARDINALITY_LIMIT`); measurements for further sets go to one overflow point
//! with the attribute `otel.metric.overflow = true`. plugobs' instruments have one
//! attribute set per series, e.g. `plugobs_plugin_operation_duration_seconds` one per
//! (plugin instance, operation) and `plugobs_plugin_operations_total` four per
//! operation (one per outcome), so a registry with more than 500 instrumented
//! operations needs a higher limit. Raise it with a view when building the provider:
//!
//! ```
//! use opentelemetry_sdk::metrics::{Instrument, SdkMeterProvider, Stream};
//!
//! let provider = SdkMeterProvider::builder()
//!     .with_view(|i: &Instrument| {
//!         // plugobs' instruments are on the meter named "plugobs".
//!         (i.scope().name() == plugobs_runtime::otel::METER_NAME)
//!             .then(|| Stream::builder().with_cardinality_limit(20_000).build().ok())
//!             .flatten()
//!     })
//!     .build();
//! # drop(provider);
//! ```
//!
//! # Example
//!
//! ```
//! use opentelemetry::metrics::MeterProvider as _;
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//!
//! // Any reader or exporter: a PeriodicReader with opentelemetry-otlp's MetricExporter
//! // pushes to a Collector (see tests/tests/otel_metrics.rs for one checked end to end).
//! let provider = SdkMeterProvider::builder().build();
//! plugobs_runtime::otel::register(plugobs_runtime::registry(), &provider);
//! // ... plugin calls; each collection of `provider` reports plugobs' totals.
//! provider.shutdown().ok();
//! ```

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex};

use opentelemetry::metrics::{AsyncInstrument, Histogram, Meter, MeterProvider};
use opentelemetry::{InstrumentationScope, KeyValue};

use crate::core::snapshot::HistogramSnapshot;
use crate::export::bridge::full_name;
use crate::export::walk::{Series, Value};
use crate::model::names::{self, MetricDef, MetricType};
use crate::registry::Registry;

/// The name of the meter (instrumentation scope) plugobs' instruments are created on;
/// match it in a view to configure them all.
pub const METER_NAME: &str = "plugobs";

/// Creates plugobs' instruments on `provider` and reports `registry`'s aggregates at
/// every collection of its readers, for as long as the provider lives.
///
/// `registry` is anything that derefs to a [`Registry`] and can be kept: the global
/// [`registry()`](crate::registry), a leaked or an `Arc`'d one. Call it once per
/// provider and registry: registering twice reports every series twice.
///
/// The instruments are those of every metric of the closed list and every custom metric
/// the registry's plugins declare when this runs.
pub fn register<R, P>(registry: R, provider: &P)
where
    R: Deref<Target = Registry> + Send + Sync + 'static,
    P: MeterProvider + ?Sized,
{
    let scope = InstrumentationScope::builder(METER_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let meter = provider.meter_with_scope(scope);
    // Every metric that can appear: the closed list, then the custom metrics seen by one
    // walk (it also attaches the registry's call sites).
    let mut defs: Vec<&'static MetricDef> = names::ALL.iter().collect();
    registry.walk_series(&mut |_, _| true, &mut |s: Series<'_>| {
        if !defs.iter().any(|d| d.name == s.def.name) {
            defs.push(s.def);
        }
    });
    let shared = Arc::new(Shared {
        registry,
        state: Mutex::new(State::default()),
    });
    let mut slots = Vec::with_capacity(defs.len());
    let mut by_name = HashMap::with_capacity(defs.len());
    for (index, def) in defs.iter().enumerate() {
        by_name.insert(def.name, index);
        slots.push(Slot::new(def, index, &meter, &shared));
    }
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    state.points = vec![Vec::new(); slots.len()];
    state.fresh = vec![false; slots.len()];
    state.slots = slots;
    state.by_name = by_name;
}

/// What the callbacks share: the registry and the state of the last walk.
struct Shared<R> {
    registry: R,
    state: Mutex<State>,
}

/// An observed value of a counter or gauge.
#[derive(Clone, Copy)]
enum Number {
    U64(u64),
    F64(f64),
}

#[derive(Default)]
struct State {
    /// The instrument of each metric, by slot.
    slots: Vec<Slot>,
    /// Slot of each metric name.
    by_name: HashMap<&'static str, usize>,
    /// The last walk's points of each observable slot.
    points: Vec<Vec<(Vec<KeyValue>, Number)>>,
    /// Whether a slot's points are from a walk its callback has not reported yet: a
    /// callback finding its slot already reported starts a new collection's walk.
    fresh: Vec<bool>,
    /// What was replayed so far into each histogram series, by (slot, labels).
    replayed: HashMap<SeriesKey, HistogramSnapshot>,
}

/// A series of a slot: the slot and the label pairs.
type SeriesKey = (usize, Vec<(&'static str, &'static str)>);

/// The instrument of one metric.
enum Slot {
    /// An observable instrument: reported from `State::points` by its callback. The
    /// handle is kept so the instrument lives as long as the registration.
    Observed(#[allow(dead_code)] Observed),
    /// A histogram, replayed into during the walk.
    Histogram(Histogram<f64>),
}

/// The handle of an observable instrument (kept, never read).
enum Observed {
    U64Counter(opentelemetry::metrics::ObservableCounter<u64>),
    F64Counter(opentelemetry::metrics::ObservableCounter<f64>),
    Gauge(opentelemetry::metrics::ObservableGauge<f64>),
}

/// The UCUM unit OpenTelemetry expects for a plugobs unit.
fn ucum(def: &MetricDef) -> Option<&'static str> {
    use metrics::Unit;
    def.unit.map(|u| match u {
        Unit::Seconds => "s",
        Unit::Milliseconds => "ms",
        Unit::Microseconds => "us",
        Unit::Nanoseconds => "ns",
        Unit::Bytes => "By",
        Unit::Percent => "%",
        Unit::Count => "1",
        other => other.as_str(),
    })
}

/// Whether a counter's values are seconds (given in nanoseconds by the walk).
fn counts_seconds(def: &MetricDef) -> bool {
    def.unit == Some(metrics::Unit::Seconds)
}

impl Slot {
    fn new<R>(def: &'static MetricDef, index: usize, meter: &Meter, shared: &Arc<Shared<R>>) -> Slot
    where
        R: Deref<Target = Registry> + Send + Sync + 'static,
    {
        let name = full_name(def);
        let unit = ucum(def);
        match def.kind {
            MetricType::Histogram => {
                let mut b = meter
                    .f64_histogram(name)
                    .with_description(def.help)
                    .with_boundaries(def.buckets.to_vec());
                if let Some(unit) = unit {
                    b = b.with_unit(unit);
                }
                Slot::Histogram(b.build())
            }
            MetricType::Counter if counts_seconds(def) => {
                let shared = Arc::clone(shared);
                let mut b = meter
                    .f64_observable_counter(name)
                    .with_description(def.help)
                    .with_callback(move |o| report(&shared, index, o, |n| n.as_f64()));
                if let Some(unit) = unit {
                    b = b.with_unit(unit);
                }
                Slot::Observed(Observed::F64Counter(b.build()))
            }
            MetricType::Counter => {
                let shared = Arc::clone(shared);
                let mut b = meter
                    .u64_observable_counter(name)
                    .with_description(def.help)
                    .with_callback(move |o| report(&shared, index, o, |n| n.as_u64()));
                if let Some(unit) = unit {
                    b = b.with_unit(unit);
                }
                Slot::Observed(Observed::U64Counter(b.build()))
            }
            MetricType::Gauge => {
                let shared = Arc::clone(shared);
                let mut b = meter
                    .f64_observable_gauge(name)
                    .with_description(def.help)
                    .with_callback(move |o| report(&shared, index, o, |n| n.as_f64()));
                if let Some(unit) = unit {
                    b = b.with_unit(unit);
                }
                Slot::Observed(Observed::Gauge(b.build()))
            }
        }
    }
}

impl Number {
    fn as_f64(self) -> f64 {
        match self {
            Number::U64(n) => n as f64,
            Number::F64(x) => x,
        }
    }

    fn as_u64(self) -> u64 {
        match self {
            Number::U64(n) => n,
            // Observable `u64` slots only get `U64`; a float would be a gauge's.
            Number::F64(x) => x as u64,
        }
    }
}

/// The callback of slot `index`: walks first when this slot's points were already
/// reported (a new collection began), then observes the slot's points.
fn report<R, T>(
    shared: &Shared<R>,
    index: usize,
    observer: &dyn AsyncInstrument<T>,
    convert: impl Fn(Number) -> T,
) where
    R: Deref<Target = Registry>,
{
    let mut state = shared.state.lock().unwrap_or_else(|e| e.into_inner());
    if !state.fresh.get(index).copied().unwrap_or(false) {
        walk(&shared.registry, &mut state);
    }
    let state = &mut *state;
    if let Some(fresh) = state.fresh.get_mut(index) {
        *fresh = false;
    }
    if let Some(points) = state.points.get(index) {
        for (attributes, value) in points {
            observer.observe(convert(*value), attributes);
        }
    }
}

/// One walk of the registry: the points of every observable slot, and the histograms'
/// new values replayed.
fn walk(registry: &Registry, state: &mut State) {
    let State {
        slots,
        by_name,
        points,
        fresh,
        replayed,
    } = state;
    for p in points.iter_mut() {
        p.clear();
    }
    registry.walk_series(&mut |_, _| true, &mut |s: Series<'_>| {
        let Some(&index) = by_name.get(s.def.name) else {
            return;
        };
        let attributes = || {
            s.labels
                .iter()
                .map(|&(k, v)| KeyValue::new(k, v))
                .collect::<Vec<_>>()
        };
        match (&slots[index], s.value) {
            (Slot::Histogram(h), Value::Histogram(now)) => {
                let key = (index, s.labels.to_vec());
                let before = replayed.get(&key);
                if before.is_some_and(|b| b == now) {
                    return;
                }
                replay(h, s.def.buckets, before, now, &attributes());
                replayed.insert(key, now.clone());
            }
            (Slot::Observed(_), value) => {
                let number = match value {
                    Value::Counter(n) => Number::U64(n),
                    Value::CounterSeconds(nanos) => Number::F64(nanos as f64 / 1e9),
                    Value::Gauge(x) => Number::F64(x),
                    Value::Histogram(_) => return,
                };
                if let Some(p) = points.get_mut(index) {
                    p.push((attributes(), number));
                }
            }
            (Slot::Histogram(_), _) => {}
        }
    });
    for f in fresh.iter_mut() {
        *f = true;
    }
}

/// The smallest `f64` above a finite `x >= 0`.
fn above(x: f64) -> f64 {
    if x <= 0.0 {
        f64::MIN_POSITIVE
    } else {
        f64::from_bits(x.to_bits() + 1)
    }
}

/// Records into `h` the values `now` has that `before` had not: for each log-linear
/// bucket that gained `n` values, `n` measurements of one value (in seconds) inside it
/// and inside the bound its midpoint counts under, chosen so the replayed values add up
/// to the sum they gained.
fn replay(
    h: &Histogram<f64>,
    bounds: &[f64],
    before: Option<&HistogramSnapshot>,
    now: &HistogramSnapshot,
    attributes: &[KeyValue],
) {
    // (lowest allowed value, highest allowed value, how many), in seconds.
    let mut gained: Vec<(f64, f64, u64)> = Vec::new();
    let mut old = before.into_iter().flat_map(|b| b.buckets()).peekable();
    for (lower, upper, n) in now.buckets() {
        while old.next_if(|&(l, _, _)| l < lower).is_some() {}
        let had = old
            .next_if(|&(l, _, _)| l == lower)
            .map_or(0, |(_, _, n)| n);
        let n = n.saturating_sub(had);
        if n == 0 {
            continue;
        }
        let width = upper.saturating_sub(lower).max(1);
        let mid = (lower as f64 + (width as f64 - 1.0) / 2.0) / 1e9;
        // Where plugobs counts the bucket: under the first bound at or above its midpoint.
        let k = bounds.partition_point(|&b| b < mid);
        let floor = if k > 0 { above(bounds[k - 1]) } else { 0.0 };
        let ceiling = bounds.get(k).copied().unwrap_or(f64::INFINITY);
        let lo = (lower as f64 / 1e9).max(floor);
        let hi = ((lower + (width - 1)) as f64 / 1e9).min(ceiling);
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (mid, mid) };
        gained.push((lo, hi, n));
    }
    if gained.is_empty() {
        return;
    }
    let sum = now
        .sum_nanos()
        .saturating_sub(before.map_or(0, HistogramSnapshot::sum_nanos)) as f64
        / 1e9;
    let least: f64 = gained.iter().map(|&(lo, _, n)| lo * n as f64).sum();
    let most: f64 = gained.iter().map(|&(_, hi, n)| hi * n as f64).sum();
    // The same fraction of each bucket's range: Σ n·(lo + t·(hi − lo)) = sum.
    let t = if most > least {
        ((sum - least) / (most - least)).clamp(0.0, 1.0)
    } else {
        0.0
    };
    for (lo, hi, n) in gained {
        let value = (lo + t * (hi - lo)).clamp(lo, hi);
        for _ in 0..n {
            h.record(value, attributes);
        }
    }
}
