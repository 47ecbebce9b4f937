//! OpenTelemetry metrics: plugobs' own aggregates reported through an OpenTelemetry
//! [`MeterProvider`], read at collection time (feature `otel`).
//!
//! [`register`] creates one instrument per plugobs metric on a meter named
//! [`METER_NAME`] (`plugobs`) and from then on, each time a reader of the provider
//! collects (a `PeriodicReader`'s tick or `force_flush`, a `ManualReader`'s `collect`),
//! plugobs walks its aggregates once and reports them. Nothing is recorded on a plugin
//! call: a call only updates plugobs' own cells, as it does without this feature.
//!
//! # What arrives
//!
//! | plugobs metric | OpenTelemetry instrument | values |
//! |---|---|---|
//! | counter (`…_total`) | `u64` observable counter (monotonic sum) | exact totals |
//! | counter of seconds (`plugin_cpu_seconds_total`) | `f64` observable counter, unit `s` | seconds |
//! | gauge | `f64` observable gauge | the current value |
//! | histogram (`…_duration_seconds`, custom histograms) | `f64` explicit-bucket histogram | exact count and bucket counts at plugobs' bounds, the sum |
//!
//! * **Names** are exactly plugobs' exported names, namespace included
//!   (`plugobs_plugin_operation_duration_seconds`, `plugobs_plugin_operations_total`), the
//!   names of the Prometheus path. They are fixed when [`register`] runs: set a namespace
//!   with [`set_namespace`](crate::set_namespace) before it.
//! * **Descriptions** are the help texts of [`names`](crate::names); **units** are UCUM:
//!   `s` for seconds, `By` for bytes; a metric without a unit (a count, a ratio, a custom
//!   metric) has none.
//! * **Attributes** are the metric's labels: `plugin`, `kind`, `instance`, then
//!   `operation`, `outcome`, `error_kind`, `state`… (see `docs/metrics.md`). A plugin's
//!   custom metrics arrive the same way, with their own labels.
//! * **Histograms**: one OpenTelemetry histogram point per series (one per plugin
//!   instance and operation for the operation latency), not one series per bucket. Its
//!   explicit bounds are the metric's recommended buckets
//!   ([`OPERATION_BUCKETS`](crate::names::OPERATION_BUCKETS) …), its count and bucket
//!   counts are exactly those of plugobs' Prometheus output (a log-linear bucket counts
//!   under the first bound at or above its midpoint), its sum is plugobs' exact sum up to
//!   the `f64` rounding of the SDK's additions, its min and max are within plugobs'
//!   bucket precision (about 1.6 %).
//! * **Temporality**: cumulative since plugobs started counting; a reader asking for
//!   delta temporality gets the SDK's deltas of them (the calls since its previous
//!   collection).
//!
//! # How it is read, and why this way
//!
//! `opentelemetry_sdk` 0.33 has no public producer interface: its metric data types
//! (`ResourceMetrics`, `Metric`, `HistogramDataPoint`) have crate-private fields and no
//! constructors, so neither a custom `MetricReader` nor an exporter wrapper can add
//! pre-aggregated points. What it offers for values computed elsewhere is the observable
//! instruments, whose callbacks run at collection time, before the SDK reads its
//! aggregators:
//!
//! * counters and gauges are observable instruments reporting plugobs' exact current
//!   values: a collection costs one observation per series;
//! * the OpenTelemetry API has no observable histogram, so each histogram metric is a
//!   synchronous histogram created with plugobs' bounds, into which the collection
//!   replays what plugobs counted since the previous collection: for each of plugobs'
//!   log-linear buckets that gained `n` values, `n` measurements of one value inside that
//!   bucket (and inside the OpenTelemetry bucket its midpoint counts under), the values
//!   chosen so they add up to the sum plugobs counted. The replay goes through a handle
//!   bound to the series' attributes (the SDK's `experimental_metrics_bound_instruments`,
//!   which this feature turns on), so a replayed value costs a lock and a bucket search
//!   (about 60 ns measured), no attribute lookup. That is the one cost that grows with
//!   the calls: one `record` per call made since the previous collection, spent by the
//!   thread that collects, never by a plugin call. The first collection replays every
//!   call counted before [`register`].
//!
//! A collection walks the registry once (the walk the Prometheus renderer and the
//! `metrics` bridge use): the first plugobs callback the collection runs walks, every
//! instrument's callback then reports its part. Measured for 400 operations (4108
//! points), a collection with no new calls costs about 12 ms on a loaded 2-core machine,
//! about 1.7× the Prometheus text rendering of the same registry.
//!
//! A custom metric (`plugobs::counter!` …) first used after [`register`] gets its
//! instrument when a collection first meets it: the SDK cannot create an instrument while
//! it collects, so a short-lived thread creates it once that collection is over, and it
//! is reported from the next collection on, with its totals since its first use.
//! [`Registration::refresh`] creates such instruments at once.
//!
//! plugobs' totals only grow; should a series' totals ever go back, its counters report
//! the lower value while its histogram keeps what was replayed (a synchronous histogram
//! cannot be reset).
//!
//! # Cardinality limit
//!
//! The SDK keeps at most **2000** attribute sets per instrument and per reader (its
//! `DEFAULT_CARDINALITY_LIMIT`); measurements for further sets are folded into one point
//! with the attribute `otel.metric.overflow = true`. plugobs' instruments have one
//! attribute set per series: `plugobs_plugin_operation_duration_seconds` one per plugin
//! instance and operation, `plugobs_plugin_operations_total` four per operation (one per
//! outcome), so more than 500 instrumented operations (instances × operations) need a
//! higher limit. Raise it with a view when building the provider (here for plugobs'
//! instruments only):
//!
//! ```
//! use opentelemetry_sdk::metrics::{Instrument, SdkMeterProvider, Stream};
//!
//! let provider = SdkMeterProvider::builder()
//!     .with_view(|i: &Instrument| {
//!         if i.scope().name() == plugobs_runtime::otel::METER_NAME {
//!             Stream::builder().with_cardinality_limit(20_000).build().ok()
//!         } else {
//!             None
//!         }
//!     })
//!     .build();
//! # drop(provider);
//! ```
//!
//! # Example
//!
//! ```
//! use opentelemetry_sdk::metrics::SdkMeterProvider;
//!
//! // Any readers and exporters: a PeriodicReader with opentelemetry-otlp's
//! // MetricExporter pushes to a Collector (tests/tests/otel_metrics.rs checks one end to
//! // end against a receiver that decodes the OTLP requests).
//! let provider = SdkMeterProvider::builder().build();
//! let registration = plugobs_runtime::otel::register(plugobs_runtime::registry(), &provider);
//! // ... plugin calls; each collection of `provider` reports plugobs' totals.
//! registration.refresh(); // only to have custom metrics used since reported at once
//! provider.shutdown().ok();
//! ```

use std::collections::{HashMap, HashSet};
use std::ops::Deref;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use opentelemetry::metrics::{AsyncInstrument, BoundHistogram, Histogram, Meter, MeterProvider};
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
/// The instruments are those of every metric of the closed list and of every custom
/// metric (`plugobs::counter!` …) already used. A custom metric first used later gets its
/// instrument when a collection first meets it, created on a short-lived thread once
/// that collection is over (the SDK cannot create an instrument during a collection), so
/// it is reported from the next collection on, with its totals since its first use;
/// [`Registration::refresh`] creates such instruments at once.
///
/// Dropping the returned [`Registration`] changes nothing: the reporting lasts as long
/// as the provider.
pub fn register<R, P>(registry: R, provider: &P) -> Registration
where
    R: Deref<Target = Registry> + Send + Sync + 'static,
    P: MeterProvider + ?Sized,
{
    let scope = InstrumentationScope::builder(METER_NAME)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    let shared = Arc::new(Shared {
        registry,
        meter: provider.meter_with_scope(scope),
        state: Mutex::new(State::default()),
        installed: Condvar::new(),
    });
    let mut defs: Vec<&'static MetricDef> = names::ALL.iter().collect();
    defs.extend(shared.custom_defs());
    let reserved = reserve(&mut shared.lock(), defs);
    install(&shared, reserved);
    Registration {
        shared: Box::new(shared),
    }
}

/// What [`register`] set up: a handle to create the instruments of custom metrics first
/// used since.
pub struct Registration {
    shared: Box<dyn Refresh>,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration").finish_non_exhaustive()
    }
}

impl Registration {
    /// Creates now the instruments of the custom metrics used since [`register`] (or the
    /// previous refresh) that have none yet, and waits for those a collection has
    /// started creating; the next collection reports them all. Not needed for the
    /// closed list, whose instruments all exist from [`register`] on.
    pub fn refresh(&self) {
        self.shared.refresh();
    }
}

/// [`Registration`]'s view of the shared state, whatever the registry's type.
trait Refresh: Send + Sync {
    fn refresh(&self);
}

/// What the callbacks share: the registry, the meter (to create late instruments) and
/// the state of the last walk.
struct Shared<R> {
    registry: R,
    meter: Meter,
    state: Mutex<State>,
    /// Notified when late instruments are installed.
    installed: Condvar,
}

impl<R: Deref<Target = Registry>> Shared<R> {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The definitions of the custom metrics the registry's plugins have used.
    fn custom_defs(&self) -> Vec<&'static MetricDef> {
        self.registry
            .plugins()
            .flat_map(|p| crate::telemetry::custom::of(p.descriptor(), 0))
            .filter_map(|m| m.def())
            .collect()
    }
}

impl<R> Refresh for Arc<Shared<R>>
where
    R: Deref<Target = Registry> + Send + Sync + 'static,
{
    fn refresh(&self) {
        let defs = self.custom_defs();
        let reserved = reserve(&mut self.lock(), defs);
        install(self, reserved);
        let mut state = self.lock();
        while !state.creating.is_empty() {
            state = self
                .installed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// An observed value of a counter or gauge.
#[derive(Clone, Copy)]
enum Number {
    U64(u64),
    F64(f64),
}

/// A series of a slot: the slot and the label pairs.
type SeriesKey = (usize, Vec<(&'static str, &'static str)>);

/// What was replayed so far into one histogram series.
struct Replayed {
    snapshot: HistogramSnapshot,
    /// The series' histogram bound to its attributes: a replayed value costs no
    /// attribute lookup.
    bound: BoundHistogram<f64>,
    /// The last walk that met the series; series no walk meets any more are forgotten.
    walk: u64,
}

#[derive(Default)]
struct State {
    /// The instrument of each metric, by slot.
    slots: Vec<Slot>,
    /// Slot of each metric name whose instrument exists.
    by_name: HashMap<&'static str, usize>,
    /// Metric names whose instruments are being created.
    creating: HashSet<&'static str>,
    /// The last walk's points of each observable slot.
    points: Vec<Vec<(Vec<KeyValue>, Number)>>,
    /// Whether a slot's points are from a walk its callback has not reported yet: a
    /// callback finding its slot already reported starts a new collection's walk.
    fresh: Vec<bool>,
    /// What was replayed so far into each histogram series.
    replayed: HashMap<SeriesKey, Replayed>,
    /// Walks so far.
    walks: u64,
}

/// The instrument of one metric.
enum Slot {
    /// Being created.
    Creating,
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

/// Gives a slot to each of `defs` that has none and is not being created; they are then
/// being created, by whoever called this, with [`install`].
fn reserve(state: &mut State, defs: Vec<&'static MetricDef>) -> Vec<(usize, &'static MetricDef)> {
    let mut reserved = Vec::new();
    for def in defs {
        if state.by_name.contains_key(def.name) || !state.creating.insert(def.name) {
            continue;
        }
        let index = state.slots.len();
        state.slots.push(Slot::Creating);
        state.points.push(Vec::new());
        // Not from a walk yet: its callback's first run walks unless a walk came first.
        state.fresh.push(false);
        reserved.push((index, def));
    }
    reserved
}

/// Creates the instruments of reserved slots (without holding the state: creating an
/// instrument waits for a collection in progress), then installs them.
fn install<R>(shared: &Arc<Shared<R>>, reserved: Vec<(usize, &'static MetricDef)>)
where
    R: Deref<Target = Registry> + Send + Sync + 'static,
{
    if reserved.is_empty() {
        return;
    }
    let built: Vec<_> = reserved
        .into_iter()
        .map(|(index, def)| (index, def, Slot::new(def, index, shared)))
        .collect();
    let mut state = shared.lock();
    for (index, def, slot) in built {
        if let Some(s) = state.slots.get_mut(index) {
            *s = slot;
            state.by_name.insert(def.name, index);
        }
        state.creating.remove(def.name);
    }
    drop(state);
    shared.installed.notify_all();
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

impl Slot {
    fn new<R>(def: &'static MetricDef, index: usize, shared: &Arc<Shared<R>>) -> Slot
    where
        R: Deref<Target = Registry> + Send + Sync + 'static,
    {
        let meter = &shared.meter;
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
            // A counter of seconds: the walk gives nanoseconds, reported as seconds.
            MetricType::Counter if def.unit == Some(metrics::Unit::Seconds) => {
                let shared = Arc::clone(shared);
                let mut b = meter
                    .f64_observable_counter(name)
                    .with_description(def.help)
                    .with_callback(move |o| report(&shared, index, o, Number::as_f64));
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
                    .with_callback(move |o| report(&shared, index, o, Number::as_u64));
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
                    .with_callback(move |o| report(&shared, index, o, Number::as_f64));
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
    shared: &Arc<Shared<R>>,
    index: usize,
    observer: &dyn AsyncInstrument<T>,
    convert: fn(Number) -> T,
) where
    R: Deref<Target = Registry> + Send + Sync + 'static,
{
    let mut state = shared.lock();
    if !state.fresh.get(index).copied().unwrap_or(false) {
        let met = walk(&shared.registry, &mut state);
        let reserved = reserve(&mut state, met);
        if !reserved.is_empty() {
            // The SDK holds its pipeline while callbacks run: the instruments are created
            // once this collection is over. Should the thread not start, the names are
            // released for the next walk to try again.
            let late = Arc::clone(shared);
            let names: Vec<_> = reserved.iter().map(|(_, d)| d.name).collect();
            let spawned = std::thread::Builder::new()
                .name("plugobs-otel".into())
                .spawn(move || install(&late, reserved));
            if spawned.is_err() {
                for name in names {
                    state.creating.remove(name);
                }
            }
        }
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
/// new values replayed. Returns the metrics met that have no instrument yet.
fn walk(registry: &Registry, state: &mut State) -> Vec<&'static MetricDef> {
    let State {
        slots,
        by_name,
        creating,
        points,
        fresh,
        replayed,
        walks,
    } = state;
    *walks += 1;
    let walk = *walks;
    for p in points.iter_mut() {
        p.clear();
    }
    let mut unknown: Vec<&'static MetricDef> = Vec::new();
    registry.walk_series(&mut |_, _| true, &mut |s: Series<'_>| {
        let Some(&index) = by_name.get(s.def.name) else {
            if !creating.contains(s.def.name) && !unknown.iter().any(|d| d.name == s.def.name) {
                unknown.push(s.def);
            }
            return;
        };
        let attributes = || {
            s.labels
                .iter()
                .map(|&(k, v)| KeyValue::new(k, v))
                .collect::<Vec<_>>()
        };
        match (slots.get(index), s.value) {
            (Some(Slot::Histogram(h)), Value::Histogram(now)) => {
                let key = (index, s.labels.to_vec());
                match replayed.get_mut(&key) {
                    Some(r) => {
                        r.walk = walk;
                        if r.snapshot != *now {
                            replay(&r.bound, s.def.buckets, Some(&r.snapshot), now);
                            r.snapshot.clone_from(now);
                        }
                    }
                    None => {
                        let bound = h.bind(&attributes());
                        replay(&bound, s.def.buckets, None, now);
                        let snapshot = now.clone();
                        replayed.insert(
                            key,
                            Replayed {
                                snapshot,
                                bound,
                                walk,
                            },
                        );
                    }
                }
            }
            (Some(Slot::Observed(_)), value) => {
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
            _ => {}
        }
    });
    replayed.retain(|_, r| r.walk == walk);
    for f in fresh.iter_mut() {
        *f = true;
    }
    unknown
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
    h: &BoundHistogram<f64>,
    bounds: &[f64],
    before: Option<&HistogramSnapshot>,
    now: &HistogramSnapshot,
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
            h.record(value);
        }
    }
}
