//! The exporter bridge: publishes plugobs' own aggregates through the `metrics` facade.
//!
//! Nothing is sent to the recorder when an event happens. Events land in plugobs' atomic
//! aggregates; a *flush* reads them and publishes them to whatever recorder is current
//! (`metrics::with_recorder`): counters with `Counter::absolute` (the exact total since
//! process start) and gauges with `Gauge::set`. Histograms go as the
//! [`HistogramMode`] says — by default as cumulative bucket counters, whose cost is per
//! bucket, not per call. Handles are resolved per flush, never per event, so a recorder
//! installed after the first event still receives everything.
//!
//! A background thread, `plugobs-flush`, flushes the global registry into the global
//! recorder every [`flush_interval`] (1 s by default), skipping every plugin and
//! operation that did not change since its last flush. [`flush`] publishes everything
//! at once, on the calling thread, which is how tests publish into a thread-local
//! `DebuggingRecorder`.
//!
//! A recorder that renders plugobs' families itself (the Prometheus path,
//! `plugobs::prometheus::install`) is left alone: see [`render_global_recorder_directly`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, Recorder, SharedString};

use crate::core::cells::HistogramSnapshot;
use crate::export::walk::{GroupKey, Series, Value};
use crate::model::error::NamespaceError;
use crate::model::names::{self, MetricDef, MetricType};
use crate::registry::{Registry, global};

const DEFAULT_NAMESPACE: &str = "plugobs";
static NAMESPACE: OnceLock<String> = OnceLock::new();
static FLUSH_INTERVAL_MS: AtomicU64 = AtomicU64::new(1000);
static FLUSHER_STARTED: AtomicBool = AtomicBool::new(false);
static DESCRIBED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
static HISTOGRAM_MODE: AtomicU8 = AtomicU8::new(HistogramMode::Buckets as u8);
/// The address of the global recorder when it renders plugobs' families itself; 0 if not.
static RENDERED_DIRECTLY: AtomicUsize = AtomicUsize::new(0);

/// How the bridge forwards a histogram to a `metrics` recorder.
///
/// plugobs keeps exact log-linear histograms itself; what a recorder receives is a
/// choice between fidelity to the recorder's own histogram type and a cost that does not
/// grow with traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(u8)]
pub enum HistogramMode {
    /// The default. Cumulative counters `{name}_bucket{le="…"}` for the metric's
    /// recommended bounds (see [`names`]) and `+Inf`, a `{name}_count` counter and a
    /// `{name}_sum` gauge in seconds: what a Prometheus histogram is made of. Cost per
    /// flush: one update per bucket, whatever the call rate; memory in the recorder: a
    /// few counters per series. Works with every recorder; a StatsD or OpenTelemetry
    /// back end sees counters, not its own histogram type.
    #[default]
    Buckets,
    /// Only `{name}_count` (counter) and `{name}_sum` (gauge, seconds): the cheapest,
    /// enough for rates and means, no quantiles.
    CountAndSum,
    /// Every new call as a histogram value (`Histogram::record_many` of each bucket's
    /// midpoint, within 1.6 %), for recorders that aggregate values themselves (an
    /// OpenTelemetry SDK). The recorder's histogram type is used, but its memory and
    /// work grow with the call rate — metrics-exporter-prometheus stores every value
    /// until it renders, a StatsD exporter sends each one on the wire.
    Samples,
}

/// Sets how histograms are forwarded to `metrics` recorders (default
/// [`HistogramMode::Buckets`]). Takes effect at the next flush.
///
/// ```
/// use plugobs_runtime::bridge::{self, HistogramMode};
/// bridge::set_histogram_mode(HistogramMode::CountAndSum);
/// assert_eq!(bridge::histogram_mode(), HistogramMode::CountAndSum);
/// bridge::set_histogram_mode(HistogramMode::Buckets);
/// ```
pub fn set_histogram_mode(mode: HistogramMode) {
    HISTOGRAM_MODE.store(mode as u8, Ordering::Relaxed);
}

/// How histograms are forwarded; see [`set_histogram_mode`].
pub fn histogram_mode() -> HistogramMode {
    match HISTOGRAM_MODE.load(Ordering::Relaxed) {
        x if x == HistogramMode::CountAndSum as u8 => HistogramMode::CountAndSum,
        x if x == HistogramMode::Samples as u8 => HistogramMode::Samples,
        _ => HistogramMode::Buckets,
    }
}

/// Declares that the global `metrics` recorder renders plugobs' families itself, straight
/// from plugobs' aggregates (the Prometheus path, `plugobs::prometheus::install`, calls
/// this): from now on the bridge publishes nothing to it, so nothing appears twice and
/// no per-call state is stored in it. Recorders installed with
/// `metrics::with_local_recorder` still receive flushes.
pub fn render_global_recorder_directly() {
    // A fresh thread has no local recorder: what it sees is the global one.
    let id = std::thread::scope(|s| {
        s.spawn(|| metrics::with_recorder(recorder_id))
            .join()
            .unwrap_or(0)
    });
    RENDERED_DIRECTLY.store(id, Ordering::Release);
}

fn rendered_directly(id: usize) -> bool {
    id != 0 && RENDERED_DIRECTLY.load(Ordering::Acquire) == id
}
const METADATA: Metadata<'static> = Metadata::new("plugobs", Level::INFO, Some("plugobs"));

/// Sets the metric namespace (default `plugobs`): `myapp` gives `myapp_plugin_info`.
///
/// Must be called before the first flush, once.
///
/// # Errors
/// [`NamespaceError::InvalidNamespace`] unless it matches `[a-zA-Z_][a-zA-Z0-9_]*`;
/// [`NamespaceError::AlreadySet`] once names have been used.
pub fn set_namespace(namespace: &str) -> Result<(), NamespaceError> {
    let valid = namespace
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(NamespaceError::InvalidNamespace {
            namespace: namespace.to_owned(),
        });
    }
    NAMESPACE
        .set(namespace.to_owned())
        .map_err(|_| NamespaceError::AlreadySet {
            namespace: self::namespace().to_owned(),
        })
}

/// The metric namespace in use.
pub fn namespace() -> &'static str {
    NAMESPACE.get_or_init(|| DEFAULT_NAMESPACE.to_owned())
}

/// The full exported name of a metric, e.g. `plugobs_plugin_info`.
///
/// ```
/// use plugobs_runtime::{__private::full_name, names};
/// assert_eq!(full_name(&names::PLUGINS), "plugobs_plugins");
/// ```
pub fn full_name(def: &MetricDef) -> String {
    format!("{}_{}", namespace(), def.name)
}

/// Sets how often the background thread flushes (at least 10 ms).
pub fn set_flush_interval(interval: Duration) {
    let ms = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(10);
    FLUSH_INTERVAL_MS.store(ms, Ordering::Relaxed);
}

/// How often the background thread flushes.
pub fn flush_interval() -> Duration {
    Duration::from_millis(FLUSH_INTERVAL_MS.load(Ordering::Relaxed))
}

/// Starts the background flusher once per process. Called on first use of the global
/// registry.
pub(crate) fn ensure_flusher() {
    if FLUSHER_STARTED.swap(true, Ordering::AcqRel) {
        return;
    }
    let spawned = std::thread::Builder::new()
        .name("plugobs-flush".to_owned())
        .spawn(|| {
            let mut flusher = Flusher::new();
            loop {
                std::thread::sleep(flush_interval());
                flusher.flush(global());
            }
        });
    if let Err(error) = spawned {
        FLUSHER_STARTED.store(false, Ordering::Release);
        tracing::error!(%error, "plugobs could not start its flush thread; call plugobs::flush() yourself");
    }
}

/// Publishes every aggregate of the global registry to the current recorder, now, on this
/// thread.
pub fn flush() {
    global().flush();
}

/// The identity of a recorder: its address.
fn recorder_id(recorder: &dyn Recorder) -> usize {
    (recorder as *const dyn Recorder).cast::<()>() as usize
}

fn describe(recorder: &dyn Recorder) {
    let id = recorder_id(recorder);
    let mut described = DESCRIBED.lock().unwrap_or_else(|e| e.into_inner());
    if described.contains(&id) {
        return;
    }
    described.push(id);
    for def in names::ALL {
        let name = full_name(def).into();
        let help = SharedString::from(def.help);
        match def.kind {
            // Published as a gauge: `metrics` counters are integers.
            MetricType::Counter if def.unit == Some(metrics::Unit::Seconds) => {
                recorder.describe_gauge(name, def.unit, help)
            }
            MetricType::Counter => recorder.describe_counter(name, def.unit, help),
            MetricType::Gauge => recorder.describe_gauge(name, def.unit, help),
            MetricType::Histogram => recorder.describe_histogram(name, def.unit, help),
        }
    }
}

/// A flush that remembers what it published: each [`Flusher::flush`] publishes only the
/// plugins and operations that changed since its previous flush into the same recorder
/// (everything when the recorder changed), at a cost of one load per thread shard for
/// an unchanged operation. The background thread flushes the global registry with one.
///
/// Use it with a recorder that outlives it (the global one): recorders are told apart
/// by address, and a new recorder at a dropped one's address would be taken for it.
///
/// ```
/// let mut flusher = plugobs_runtime::bridge::Flusher::new();
/// flusher.flush(plugobs_runtime::registry()); // everything
/// flusher.flush(plugobs_runtime::registry()); // only what changed since
/// ```
#[derive(Debug, Default)]
pub struct Flusher {
    recorder: usize,
    seen: HashMap<GroupKey, u64>,
}

impl Flusher {
    /// A flusher that has published nothing yet.
    pub fn new() -> Self {
        Flusher::default()
    }

    /// Publishes what changed in `registry` since this flusher's last flush to the current
    /// recorder, on this thread.
    pub fn flush(&mut self, registry: &Registry) {
        registry.flush_changed(self);
    }
}

/// Per recorder and histogram series, the bucket counts already sent as samples
/// ([`HistogramMode::Samples`] only).
type SentSamples = HashMap<(usize, String), HistogramSnapshot>;
static SENT_SAMPLES: Mutex<Option<SentSamples>> = Mutex::new(None);

/// One flush into one recorder.
struct Publisher<'a> {
    recorder: &'a dyn Recorder,
    id: usize,
    mode: HistogramMode,
}

fn labels(pairs: &[(&'static str, &'static str)]) -> Vec<Label> {
    pairs.iter().map(|&(k, v)| Label::new(k, v)).collect()
}

impl Publisher<'_> {
    fn publish(&self, series: Series<'_>) {
        let name = full_name(series.def);
        match series.value {
            Value::Counter(n) => self
                .recorder
                .register_counter(&Key::from_parts(name, labels(series.labels)), &METADATA)
                .absolute(n),
            // `metrics` counters are integers: a counter of seconds goes as a gauge.
            Value::CounterSeconds(nanos) => self
                .recorder
                .register_gauge(&Key::from_parts(name, labels(series.labels)), &METADATA)
                .set(nanos as f64 / 1e9),
            Value::Gauge(v) => self
                .recorder
                .register_gauge(&Key::from_parts(name, labels(series.labels)), &METADATA)
                .set(v),
            Value::Histogram(h) => self.histogram(series.def, name, series.labels, h),
        }
    }

    fn histogram(
        &self,
        def: &MetricDef,
        name: String,
        pairs: &[(&'static str, &'static str)],
        h: &HistogramSnapshot,
    ) {
        let counter = |suffix: &str, extra: Option<Label>, n: u64| {
            let mut l = labels(pairs);
            l.extend(extra);
            self.recorder
                .register_counter(&Key::from_parts(format!("{name}{suffix}"), l), &METADATA)
                .absolute(n);
        };
        match self.mode {
            HistogramMode::Buckets | HistogramMode::CountAndSum => {
                if self.mode == HistogramMode::Buckets {
                    for (bound, n) in def.buckets.iter().zip(h.cumulative(def.buckets)) {
                        counter("_bucket", Some(Label::new("le", bound.to_string())), n);
                    }
                    counter("_bucket", Some(Label::new("le", "+Inf")), h.count());
                }
                counter("_count", None, h.count());
                self.recorder
                    .register_gauge(
                        &Key::from_parts(format!("{name}_sum"), labels(pairs)),
                        &METADATA,
                    )
                    .set(h.sum_nanos() as f64 / 1e9);
            }
            HistogramMode::Samples => {
                let key = Key::from_parts(name, labels(pairs));
                let handle = self.recorder.register_histogram(&key, &METADATA);
                let mut sent = SENT_SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
                let last = sent
                    .get_or_insert_with(HashMap::new)
                    .entry((self.id, key.to_string()))
                    .or_default();
                for (value, n) in h.new_since(last) {
                    handle.record_many(value / 1e9, usize::try_from(n).unwrap_or(usize::MAX));
                }
                *last = h.clone();
            }
        }
    }
}

impl Registry {
    /// Publishes this registry's aggregates to the current recorder, on this thread:
    /// every series, whether it changed or not.
    ///
    /// Inside `metrics::with_local_recorder` this publishes to the local recorder, which
    /// is how tests observe an isolated registry. A global recorder that renders
    /// plugobs' families itself receives nothing (see
    /// [`render_global_recorder_directly`]).
    pub fn flush(&self) {
        self.publish(None);
    }

    /// The background flush: only the plugins and operations that changed since the
    /// last one, all of them when the recorder changed.
    fn flush_changed(&self, state: &mut Flusher) {
        self.publish(Some(state));
    }

    /// One flush into the current recorder: every series, or with `changed_since` only
    /// those whose fingerprint differs from the last flush of that state (all of them
    /// when the recorder changed).
    fn publish(&self, mut changed_since: Option<&mut Flusher>) {
        metrics::with_recorder(|recorder| {
            let id = recorder_id(recorder);
            if rendered_directly(id) {
                return;
            }
            if let Some(state) = changed_since.as_deref_mut() {
                if state.recorder != id {
                    state.recorder = id;
                    state.seen.clear();
                }
            }
            describe(recorder);
            let p = Publisher {
                recorder,
                id,
                mode: histogram_mode(),
            };
            let mut include = |key, fingerprint| match changed_since.as_deref_mut() {
                Some(state) => state.seen.insert(key, fingerprint) != Some(fingerprint),
                None => true,
            };
            self.walk_series(&mut include, &mut |series| p.publish(series));
        });
    }
}
