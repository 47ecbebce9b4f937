//! The exporter bridge: publishes plugobs' own aggregates through the `metrics` facade.
//!
//! Nothing is sent to the recorder when an event happens. Events land in plugobs' atomic
//! aggregates; a *flush* reads them and publishes them to whatever recorder is current
//! (`metrics::with_recorder`).
//!
//! # Exact with every exporter
//!
//! Into the global recorder (the one an exporter's `install` sets), a flush sends each
//! counter as a *delta*: `Counter::increment` of what changed since that recorder last
//! received it. Gauges go with `Gauge::set`. The bridge registers each series' handle
//! once, the first time it sends it, and keeps it; it describes every name, with its
//! unit and help text, before the first value of each of its series. Exporters that treat
//! `Counter::absolute` loosely (metrics-exporter-opentelemetry adds it) therefore see the
//! same totals as those that honour it. The memory of what was sent belongs to the
//! registry and the recorder: the background flush and [`flush`] share it, so nothing is
//! sent twice. A recorder installed late gets the full totals as its first delta.
//!
//! A recorder set with `metrics::with_local_recorder` (a test's) may be gone by the next
//! flush, and a new one may sit at its address, so the bridge keeps nothing for it:
//! [`Registry::flush`] sends it the totals with `Counter::absolute` on fresh handles,
//! which the `metrics-util` debugging recorder and metrics-exporter-prometheus honour.
//! A [`Flusher`] you own sends deltas into a local recorder, with a memory as long-lived
//! as the flusher.
//!
//! Histograms go as the [`HistogramMode`] says: by default as cumulative bucket
//! counters, whose cost is per bucket, not per call.
//!
//! # The background flush
//!
//! A background thread, `plugobs-flush`, flushes the global registry into the global
//! recorder every [`flush_interval`] (1 s by default), skipping every plugin and
//! operation that did not change since its last flush. It starts only when there is
//! somewhere to publish: the first use of the registry, or the first call of an
//! operation, that finds a recorder other than the no-op one installed (and not one that
//! renders plugobs' families itself). A binary with no recorder gets no thread. A host
//! can start it at once ([`start_background_flush`]) or turn it off
//! ([`stop_background_flush`]) and call [`flush`] itself. [`flush`] publishes everything
//! at once, on the calling thread.
//!
//! A recorder that renders plugobs' families itself (the Prometheus path,
//! `plugobs::prometheus::install`) is left alone: see [`render_global_recorder_directly`].

use std::any::Any;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, Recorder, SharedString, Unit};

use crate::core::cells::HistogramSnapshot;
use crate::export::walk::{GroupKey, Series, Value};
use crate::model::error::NamespaceError;
use crate::model::names::{self, MetricDef, MetricType};
use crate::registry::{Registry, global};

const DEFAULT_NAMESPACE: &str = "plugobs";
static NAMESPACE: OnceLock<String> = OnceLock::new();
static FLUSH_INTERVAL_MS: AtomicU64 = AtomicU64::new(1000);
static HISTOGRAM_MODE: AtomicU8 = AtomicU8::new(HistogramMode::Buckets as u8);
/// The address of the global recorder when it renders plugobs' families itself; 0 if not.
static RENDERED_DIRECTLY: AtomicUsize = AtomicUsize::new(0);
/// The address of the global recorder once one other than the no-op one is installed.
static GLOBAL_RECORDER: AtomicUsize = AtomicUsize::new(0);

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

/// The background thread's state: `AUTO` until something starts it, `RUNNING`, or `OFF`
/// once the host turned it off.
const AUTO: u8 = 0;
const RUNNING: u8 = 1;
const OFF: u8 = 2;
/// Mirrors `Control::state`, read without the lock on every `registry()`.
static BACKGROUND: AtomicU8 = AtomicU8::new(AUTO);

struct Control {
    state: u8,
    /// Which thread is the current one: a thread whose number is not this one exits.
    generation: u64,
}

static CONTROL: Mutex<Control> = Mutex::new(Control {
    state: AUTO,
    generation: 0,
});
static WAKE: Condvar = Condvar::new();

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the background flusher if nothing decided about it yet and there is a recorder
/// to publish to, seen from this thread. Called on every use of the global registry and
/// on the first call of every operation: one atomic load once decided, otherwise a look
/// at the current recorder.
pub(crate) fn ensure_flusher() {
    if BACKGROUND.load(Ordering::Acquire) != AUTO {
        return;
    }
    if somewhere_to_publish() {
        // A failure was logged; `flush()` still works, and the next use tries again.
        let _ = start(false);
    }
}

/// Starts the background flush thread now, whether or not a recorder is installed yet
/// (it publishes to whichever global recorder is current at each flush). Does nothing if
/// it runs already; restarts it after [`stop_background_flush`].
///
/// # Errors
/// The error of [`std::thread::Builder::spawn`] when the thread cannot be started; call
/// [`flush`] yourself then.
///
/// ```
/// plugobs_runtime::bridge::start_background_flush().unwrap();
/// assert!(plugobs_runtime::bridge::background_flush_running());
/// ```
pub fn start_background_flush() -> std::io::Result<()> {
    start(true)
}

fn start(asked: bool) -> std::io::Result<()> {
    let mut control = lock(&CONTROL);
    if control.state == RUNNING || (control.state == OFF && !asked) {
        return Ok(());
    }
    control.generation += 1;
    let generation = control.generation;
    let spawned = std::thread::Builder::new()
        .name("plugobs-flush".to_owned())
        .spawn(move || background(generation));
    match spawned {
        Ok(_) => {
            control.state = RUNNING;
            BACKGROUND.store(RUNNING, Ordering::Release);
            Ok(())
        }
        Err(error) => {
            tracing::error!(%error, "plugobs could not start its flush thread; call plugobs::flush() yourself");
            Err(error)
        }
    }
}

/// Stops the background flush thread (it exits at once, without another flush) and keeps
/// it from starting again by itself: from now on the host publishes with [`flush`], or
/// calls [`start_background_flush`].
///
/// ```
/// use plugobs_runtime::bridge;
/// bridge::stop_background_flush();
/// assert!(!bridge::background_flush_running());
/// bridge::flush(); // by hand
/// ```
pub fn stop_background_flush() {
    let mut control = lock(&CONTROL);
    control.state = OFF;
    BACKGROUND.store(OFF, Ordering::Release);
    WAKE.notify_all();
}

/// Whether the background flush thread runs.
pub fn background_flush_running() -> bool {
    BACKGROUND.load(Ordering::Acquire) == RUNNING
}

/// Whether the background thread keeps the global registry's history.
static HISTORY: AtomicBool = AtomicBool::new(false);

/// Keeps the history of the process-wide registry ([`Registry::history`], the status
/// page's sparklines): the background thread takes a point every
/// [`HISTORY_INTERVAL`](crate::model::history::HISTORY_INTERVAL), and is started for it
/// (it also publishes to a recorder when one is installed). The HTTP endpoints call this;
/// a host that reads `history()` itself can too. A thread turned off with
/// [`stop_background_flush`] stays off: take points with [`Registry::record_history`]
/// then.
///
/// # Errors
/// The error of [`std::thread::Builder::spawn`] when the thread cannot be started.
///
/// ```
/// plugobs_runtime::bridge::keep_history().unwrap();
/// ```
pub fn keep_history() -> std::io::Result<()> {
    HISTORY.store(true, Ordering::Release);
    // A thread already waiting for a long flush interval takes the first point now.
    {
        let _control = lock(&CONTROL);
        WAKE.notify_all();
    }
    start(false)
}

fn background(generation: u64) {
    use crate::model::history::HISTORY_INTERVAL;
    use std::time::Instant;

    let mut flusher = Flusher::new();
    let mut next_flush = Instant::now() + flush_interval();
    // The first point right away, so a page opened soon after the start has one.
    let mut next_point = Instant::now();
    loop {
        // Woken for whichever is due first: the flush, or the history's next point (a
        // flush interval of an hour must not make the history hourly).
        let history = HISTORY.load(Ordering::Acquire);
        let due = if history {
            next_flush.min(next_point)
        } else {
            next_flush
        };
        {
            let control = lock(&CONTROL);
            let current = |c: &mut Control| c.state == RUNNING && c.generation == generation;
            let wait = due.saturating_duration_since(Instant::now());
            let (mut control, _) = WAKE
                .wait_timeout_while(control, wait, |c| current(c))
                .unwrap_or_else(|e| e.into_inner());
            if !current(&mut control) {
                return;
            }
        }
        let now = Instant::now();
        if now >= next_flush {
            if somewhere_to_publish() {
                flusher.flush(global());
            }
            next_flush = Instant::now() + flush_interval();
        }
        if history && now >= next_point {
            global().record_history(std::time::SystemTime::now());
            next_point += HISTORY_INTERVAL;
            // Behind by more than an interval (a suspended process): no burst of points.
            if let Some(floor) = Instant::now().checked_sub(HISTORY_INTERVAL) {
                next_point = next_point.max(floor);
            }
        }
    }
}

/// Publishes every aggregate of the global registry to the current recorder, now, on this
/// thread. See [`Registry::flush`].
pub fn flush() {
    global().flush();
}

/// Whether the recorder seen from this thread is worth a flush: not `metrics`' no-op one,
/// and not one that renders plugobs' families itself.
fn somewhere_to_publish() -> bool {
    metrics::with_recorder(|recorder| {
        !is_noop(recorder) && !rendered_directly(recorder_id(recorder))
    })
}

/// The identity of a recorder: its address.
fn recorder_id(recorder: &dyn Recorder) -> usize {
    (recorder as *const dyn Recorder).cast::<()>() as usize
}

/// Whether `recorder` is `metrics`' no-op recorder, which is what `with_recorder` gives
/// when none is installed. It is the only recorder of no size: every real one holds its
/// storage or a handle to it.
fn is_noop(recorder: &dyn Recorder) -> bool {
    std::mem::size_of_val(recorder) == 0
}

/// The address of the global recorder, if one other than the no-op one is installed.
/// Found once from a fresh thread, which has no local recorder; the global recorder,
/// once set, is never replaced.
fn global_recorder_id() -> Option<usize> {
    let known = GLOBAL_RECORDER.load(Ordering::Acquire);
    if known != 0 {
        return Some(known);
    }
    let found = std::thread::scope(|s| {
        s.spawn(|| metrics::with_recorder(|r| (!is_noop(r)).then(|| recorder_id(r))))
            .join()
            .ok()
            .flatten()
    });
    if let Some(id) = found {
        GLOBAL_RECORDER.store(id, Ordering::Release);
    }
    found
}

/// A flush with a memory: each [`Flusher::flush`] publishes only the plugins and
/// operations that changed since its previous flush (everything the first time, and
/// when the recorder changed), at a cost of one load per thread shard for an unchanged
/// operation, and sends counters as deltas of what this flusher sent before. The
/// background thread flushes the global registry with one.
///
/// Into the global recorder, every flusher shares the registry's one memory, so a
/// flusher of your own never sends what the background thread already sent. Into a
/// local recorder, the memory is the flusher's own: keep one flusher per recorder,
/// dropped with it (recorders are told apart by address, and a new recorder at a dropped
/// one's address would be taken for it).
///
/// ```
/// let mut flusher = plugobs_runtime::bridge::Flusher::new();
/// flusher.flush(plugobs_runtime::registry()); // everything
/// flusher.flush(plugobs_runtime::registry()); // only what changed since
/// ```
#[derive(Default)]
pub struct Flusher {
    memory: Sent,
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("series", &self.memory.len())
            .finish_non_exhaustive()
    }
}

impl Flusher {
    /// A flusher that has published nothing yet.
    pub fn new() -> Self {
        Flusher::default()
    }

    /// Publishes what changed in `registry` since this flusher's last flush to the current
    /// recorder, on this thread.
    pub fn flush(&mut self, registry: &Registry) {
        registry.publish(Some(&mut self.memory));
    }
}

/// What one registry sent one recorder: the handle of every series, registered once,
/// with the totals it was last given, and the fingerprint of every group.
#[derive(Default)]
struct Sent {
    recorder: usize,
    /// By a hash of (metric, form, labels); the entries compare them in full.
    series: HashMap<u64, Vec<Kept>>,
    seen: HashMap<GroupKey, u64>,
}

/// How a series is sent: a plain value, or a histogram as counters or as samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Form {
    Value,
    HistogramCounts,
    HistogramSamples,
}

struct Kept {
    def: usize,
    form: Form,
    labels: Box<[(&'static str, &'static str)]>,
    handle: Handle,
}

enum Handle {
    /// A counter and the total it was brought to.
    Counter(metrics::Counter, u64),
    Gauge(metrics::Gauge),
    /// `_count` and `_sum`, and `_bucket` once the mode asks for buckets.
    Counts {
        count: metrics::Counter,
        sent: u64,
        sum: metrics::Gauge,
        buckets: Option<Buckets>,
    },
    Samples(metrics::Histogram, HistogramSnapshot),
}

/// The `_bucket` counters of one histogram series: one per bound, then `+Inf`, with the
/// cumulative counts they were brought to.
struct Buckets {
    counters: Vec<metrics::Counter>,
    sent: Vec<u64>,
}

fn labels(pairs: &[(&'static str, &'static str)]) -> Vec<Label> {
    pairs.iter().map(|&(k, v)| Label::new(k, v)).collect()
}

fn key(name: String, pairs: &[(&'static str, &'static str)], extra: Option<Label>) -> Key {
    let mut l = labels(pairs);
    l.extend(extra);
    Key::from_parts(name, l)
}

/// Brings a counter that was given `sent` to `total`. A total below what was sent is a
/// counter that started again (an instance reloaded): everything it holds is new.
fn advance(counter: &metrics::Counter, sent: &mut u64, total: u64, first: bool) {
    let delta = total.checked_sub(*sent).unwrap_or(total);
    // The first time, even a zero: the series exists from its first flush.
    if delta > 0 || first {
        counter.increment(delta);
    }
    *sent = total;
}

fn histogram_form(mode: HistogramMode) -> Form {
    match mode {
        HistogramMode::Samples => Form::HistogramSamples,
        HistogramMode::Buckets | HistogramMode::CountAndSum => Form::HistogramCounts,
    }
}

/// Tells `recorder` what the series of `def` sent in `form` are: before each series'
/// first value.
fn describe(recorder: &dyn Recorder, def: &MetricDef, form: Form) {
    let name = full_name(def);
    let help = SharedString::from(def.help);
    match (form, def.kind) {
        // `metrics` counters are integers: a counter of seconds goes as a gauge.
        (_, MetricType::Counter) if def.unit == Some(Unit::Seconds) => {
            recorder.describe_gauge(name.into(), def.unit, help)
        }
        (_, MetricType::Counter) => recorder.describe_counter(name.into(), def.unit, help),
        (_, MetricType::Gauge) => recorder.describe_gauge(name.into(), def.unit, help),
        (Form::HistogramSamples, MetricType::Histogram) | (Form::Value, MetricType::Histogram) => {
            recorder.describe_histogram(name.into(), def.unit, help)
        }
        (Form::HistogramCounts, MetricType::Histogram) => {
            let part = |what: &str| SharedString::from(format!("{} ({what})", def.help));
            describe_buckets(recorder, def);
            recorder.describe_counter(
                format!("{name}_count").into(),
                Some(Unit::Count),
                part("number of observations"),
            );
            recorder.describe_gauge(
                format!("{name}_sum").into(),
                Some(Unit::Seconds),
                part("sum of the observations"),
            );
        }
    }
}

/// Describes a histogram's `{name}_bucket` counters.
fn describe_buckets(recorder: &dyn Recorder, def: &MetricDef) {
    recorder.describe_counter(
        format!("{}_bucket", full_name(def)).into(),
        Some(Unit::Count),
        SharedString::from(format!(
            "{} (observations at most `le` seconds, cumulative)",
            def.help
        )),
    );
}

impl Sent {
    fn len(&self) -> usize {
        self.series.values().map(Vec::len).sum()
    }

    /// One flush into `recorder`: every series, or with `changed_only` those of the
    /// groups whose fingerprint moved since the last one.
    fn publish(
        &mut self,
        registry: &Registry,
        recorder: &dyn Recorder,
        mode: HistogramMode,
        changed_only: bool,
    ) {
        let id = recorder_id(recorder);
        if self.recorder != id {
            // Another recorder: what the old one holds means nothing to it.
            *self = Sent {
                recorder: id,
                ..Sent::default()
            };
        }
        let mut seen = std::mem::take(&mut self.seen);
        let mut include =
            |key, fingerprint| seen.insert(key, fingerprint) != Some(fingerprint) || !changed_only;
        registry.walk_series(&mut include, &mut |series| {
            self.send(recorder, mode, series)
        });
        self.seen = seen;
    }

    fn send(&mut self, recorder: &dyn Recorder, mode: HistogramMode, series: Series<'_>) {
        let form = match series.value {
            Value::Histogram(_) => histogram_form(mode),
            _ => Form::Value,
        };
        let def = std::ptr::from_ref(series.def) as usize;
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (def, form, series.labels).hash(&mut hasher);
        let entries = self.series.entry(hasher.finish()).or_default();
        let found = entries
            .iter()
            .position(|k| k.def == def && k.form == form && *k.labels == *series.labels);
        let (kept, first) = match found {
            Some(i) => (&mut entries[i], false),
            None => {
                // Described again before each new series' registration, not only once
                // per name: metrics-exporter-opentelemetry takes a name's description at
                // its first registration and forgets it, so a later series of the same
                // name would be a second stream without help or unit.
                describe(recorder, series.def, form);
                entries.push(Kept {
                    def,
                    form,
                    labels: series.labels.into(),
                    handle: register(recorder, &series, form),
                });
                let last = entries.len() - 1;
                (&mut entries[last], true)
            }
        };
        update(recorder, &mut kept.handle, &series, mode, first);
    }
}

/// The handle of a series, registered the first time it is sent.
fn register(recorder: &dyn Recorder, series: &Series<'_>, form: Form) -> Handle {
    let name = full_name(series.def);
    match (&series.value, form) {
        (Value::Counter(_), _) => Handle::Counter(
            recorder.register_counter(&key(name, series.labels, None), &METADATA),
            0,
        ),
        (Value::CounterSeconds(_) | Value::Gauge(_), _) => {
            Handle::Gauge(recorder.register_gauge(&key(name, series.labels, None), &METADATA))
        }
        (Value::Histogram(_), Form::HistogramSamples) => Handle::Samples(
            recorder.register_histogram(&key(name, series.labels, None), &METADATA),
            HistogramSnapshot::default(),
        ),
        (Value::Histogram(_), _) => Handle::Counts {
            count: recorder.register_counter(
                &key(format!("{name}_count"), series.labels, None),
                &METADATA,
            ),
            sent: 0,
            sum: recorder
                .register_gauge(&key(format!("{name}_sum"), series.labels, None), &METADATA),
            buckets: None,
        },
    }
}

fn register_buckets(recorder: &dyn Recorder, series: &Series<'_>) -> Buckets {
    let name = format!("{}_bucket", full_name(series.def));
    let bounds = series.def.buckets.iter().map(|b| b.to_string());
    let counters: Vec<metrics::Counter> = bounds
        .chain(std::iter::once("+Inf".to_owned()))
        .map(|le| {
            let k = key(name.clone(), series.labels, Some(Label::new("le", le)));
            // Each bucket is a series of its own: described before it (see `Sent::send`).
            describe_buckets(recorder, series.def);
            recorder.register_counter(&k, &METADATA)
        })
        .collect();
    let sent = vec![0; counters.len()];
    Buckets { counters, sent }
}

/// Sends a series' value through its kept handle: the delta of a counter, the value of a
/// gauge, a histogram as the mode says.
fn update(
    recorder: &dyn Recorder,
    handle: &mut Handle,
    series: &Series<'_>,
    mode: HistogramMode,
    first: bool,
) {
    match (handle, &series.value) {
        (Handle::Counter(counter, sent), Value::Counter(n)) => advance(counter, sent, *n, first),
        (Handle::Gauge(gauge), Value::CounterSeconds(nanos)) => gauge.set(*nanos as f64 / 1e9),
        (Handle::Gauge(gauge), Value::Gauge(v)) => gauge.set(*v),
        (
            Handle::Counts {
                count,
                sent,
                sum,
                buckets,
            },
            Value::Histogram(h),
        ) => {
            if mode == HistogramMode::Buckets {
                let new = buckets.is_none();
                let buckets = buckets.get_or_insert_with(|| register_buckets(recorder, series));
                let cumulative = h.cumulative(series.def.buckets);
                let totals = cumulative.iter().copied().chain([h.count()]);
                for ((counter, sent), total) in
                    buckets.counters.iter().zip(&mut buckets.sent).zip(totals)
                {
                    advance(counter, sent, total, new);
                }
            }
            advance(count, sent, h.count(), first);
            sum.set(h.sum_nanos() as f64 / 1e9);
        }
        (Handle::Samples(histogram, sent), Value::Histogram(h)) => {
            if h.count() < sent.count() {
                // Started again: everything it holds is new.
                *sent = HistogramSnapshot::default();
            }
            for (value, n) in h.new_since(sent) {
                histogram.record_many(value / 1e9, usize::try_from(n).unwrap_or(usize::MAX));
            }
            *sent = (*h).clone();
        }
        // A series keeps its kind: the walk gives every metric one value type.
        _ => {}
    }
}

/// Per local recorder and histogram series, the bucket counts already sent as samples
/// ([`HistogramMode::Samples`] only).
type SentSamples = HashMap<(usize, String), HistogramSnapshot>;
static SENT_SAMPLES: Mutex<Option<SentSamples>> = Mutex::new(None);

/// One flush into a local recorder, with nothing kept: totals with `absolute`.
struct Totals<'a> {
    recorder: &'a dyn Recorder,
    id: usize,
    mode: HistogramMode,
}

impl Totals<'_> {
    fn publish(&self, series: Series<'_>) {
        let name = full_name(series.def);
        let k = || key(name.clone(), series.labels, None);
        match series.value {
            Value::Counter(n) => self.recorder.register_counter(&k(), &METADATA).absolute(n),
            Value::CounterSeconds(nanos) => self
                .recorder
                .register_gauge(&k(), &METADATA)
                .set(nanos as f64 / 1e9),
            Value::Gauge(v) => self.recorder.register_gauge(&k(), &METADATA).set(v),
            Value::Histogram(h) => self.histogram(series.def, &name, series.labels, h),
        }
    }

    fn histogram(
        &self,
        def: &MetricDef,
        name: &str,
        pairs: &[(&'static str, &'static str)],
        h: &HistogramSnapshot,
    ) {
        let counter = |suffix: &str, extra: Option<Label>, n: u64| {
            self.recorder
                .register_counter(&key(format!("{name}{suffix}"), pairs, extra), &METADATA)
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
                    .register_gauge(&key(format!("{name}_sum"), pairs, None), &METADATA)
                    .set(h.sum_nanos() as f64 / 1e9);
            }
            HistogramMode::Samples => {
                let key = key(name.to_owned(), pairs, None);
                let handle = self.recorder.register_histogram(&key, &METADATA);
                let mut sent = lock(&SENT_SAMPLES);
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
    /// Into the global recorder, counters go as deltas of what it already received from
    /// this registry (the background flush included), through handles kept from the
    /// first flush. Inside `metrics::with_local_recorder` this publishes to the local
    /// recorder, which is how tests observe an isolated registry: totals with
    /// `Counter::absolute`, nothing kept (see the [module](crate::bridge) docs). A global
    /// recorder that renders plugobs' families itself receives nothing (see
    /// [`render_global_recorder_directly`]).
    pub fn flush(&self) {
        self.publish(None);
    }

    /// One flush into the current recorder: every series, or with a flusher's memory
    /// only those of the groups that changed since its last flush.
    fn publish(&self, own: Option<&mut Sent>) {
        metrics::with_recorder(|recorder| {
            let id = recorder_id(recorder);
            if rendered_directly(id) {
                return;
            }
            let mode = histogram_mode();
            if global_recorder_id() == Some(id) {
                // The registry's own memory, shared by every flush of it into the global
                // recorder: taken out while it is used, so nothing can panic with it.
                let changed_only = own.is_some();
                let mut slot = lock(&self.export_memory);
                let mut memory = match slot.take().map(|m| m.downcast::<Sent>()) {
                    Some(Ok(memory)) => memory,
                    _ => Box::default(),
                };
                memory.publish(self, recorder, mode, changed_only);
                *slot = Some(memory as Box<dyn Any + Send>);
            } else if let Some(memory) = own {
                memory.publish(self, recorder, mode, true);
            } else {
                let totals = Totals { recorder, id, mode };
                for def in names::ALL {
                    let form = match def.kind {
                        MetricType::Histogram => histogram_form(mode),
                        _ => Form::Value,
                    };
                    describe(recorder, def, form);
                }
                self.walk_series(&mut |_, _| true, &mut |series| totals.publish(series));
            }
        });
    }
}
