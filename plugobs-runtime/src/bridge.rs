//! The exporter bridge: publishes plugobs' own aggregates through the `metrics` facade.
//!
//! Nothing is sent to the recorder when an event happens. Events land in plugobs' atomic
//! aggregates; a *flush* reads them and publishes them to whatever recorder is current
//! (`metrics::with_recorder`): counters with `Counter::absolute` (the exact total since
//! process start), gauges with `Gauge::set`, and histograms with `Histogram::record_many`
//! of each bucket's new values (bucket midpoints, within 1.6 %). Handles are resolved per
//! flush, never per event, so a recorder installed after the first event still receives
//! everything: on its first flush it gets the whole history, then every flush the delta.
//!
//! A background thread, `plugobs-flush`, flushes the global registry every
//! [`flush_interval`] (1 s by default); [`flush`] does it synchronously on the calling
//! thread, which is how tests publish into a thread-local `DebuggingRecorder`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, Recorder, SharedString};

use crate::cells::{ExportCursors, HistogramSnapshot, bucket_value};
use crate::error::{ConfigError, FailureReason};
use crate::names::{self, MetricDef, MetricType};
use crate::outcome::Outcome;
use crate::record::PluginRecord;
use crate::registry::{Registry, global};
use crate::site::ResolvedSite;
use crate::state::{PluginState, Stage};

const DEFAULT_NAMESPACE: &str = "plugobs";
static NAMESPACE: OnceLock<String> = OnceLock::new();
static FLUSH_INTERVAL_MS: AtomicU64 = AtomicU64::new(1000);
static FLUSHER_STARTED: AtomicBool = AtomicBool::new(false);
static DESCRIBED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
const METADATA: Metadata<'static> = Metadata::new("plugobs", Level::INFO, Some("plugobs"));

/// Sets the metric namespace (default `plugobs`): `myapp` gives `myapp_plugin_info`.
///
/// Must be called before the first flush, once.
///
/// # Errors
/// [`ConfigError::InvalidNamespace`] unless it matches `[a-zA-Z_][a-zA-Z0-9_]*`;
/// [`ConfigError::AlreadySet`] once names have been used.
pub fn set_namespace(namespace: &str) -> Result<(), ConfigError> {
    let valid = namespace
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && namespace
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(ConfigError::InvalidNamespace {
            namespace: namespace.to_owned(),
        });
    }
    NAMESPACE
        .set(namespace.to_owned())
        .map_err(|_| ConfigError::AlreadySet {
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
/// use plugobs_runtime::{bridge, names};
/// assert_eq!(bridge::full_name(&names::PLUGINS), "plugobs_plugins");
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
            loop {
                std::thread::sleep(flush_interval());
                flush();
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
            MetricType::Counter => recorder.describe_counter(name, def.unit, help),
            MetricType::Gauge => recorder.describe_gauge(name, def.unit, help),
            MetricType::Histogram => recorder.describe_histogram(name, def.unit, help),
        }
    }
}

/// One flush into one recorder.
pub(crate) struct Publisher<'a> {
    recorder: &'a dyn Recorder,
    id: usize,
}

impl<'a> Publisher<'a> {
    fn new(recorder: &'a dyn Recorder) -> Self {
        describe(recorder);
        Publisher {
            recorder,
            id: recorder_id(recorder),
        }
    }

    fn key(def: &MetricDef, labels: Vec<Label>) -> Key {
        Key::from_parts(full_name(def), labels)
    }

    pub(crate) fn counter(&self, def: &MetricDef, labels: Vec<Label>, total: u64) {
        self.recorder
            .register_counter(&Self::key(def, labels), &METADATA)
            .absolute(total);
    }

    pub(crate) fn gauge(&self, def: &MetricDef, labels: Vec<Label>, value: f64) {
        self.recorder
            .register_gauge(&Self::key(def, labels), &METADATA)
            .set(value);
    }

    /// Sends the values of `current` not yet sent to this recorder, in seconds.
    pub(crate) fn histogram(
        &self,
        def: &MetricDef,
        labels: Vec<Label>,
        cursors: &ExportCursors,
        current: &HistogramSnapshot,
    ) {
        let handle = self
            .recorder
            .register_histogram(&Self::key(def, labels), &METADATA);
        cursors.forward(self.id, current, |bucket, n| {
            handle.record_many(
                bucket_value(bucket) / 1e9,
                usize::try_from(n).unwrap_or(usize::MAX),
            );
        });
    }
}

/// The `plugin` and `kind` labels of a record.
pub(crate) fn plugin_labels(record: &PluginRecord) -> Vec<Label> {
    let d = record.descriptor();
    vec![Label::new("plugin", d.name), Label::new("kind", d.kind)]
}

fn with_label(mut labels: Vec<Label>, key: &'static str, value: &'static str) -> Vec<Label> {
    labels.push(Label::new(key, value));
    labels
}

fn publish_lifecycle(p: &Publisher<'_>, record: &PluginRecord) {
    let d = record.descriptor();
    let base = plugin_labels(record);
    p.gauge(
        &names::PLUGIN_INFO,
        with_label(base.clone(), "version", d.version),
        1.0,
    );
    for (stage, def) in [
        (Stage::Load, &names::LOAD_DURATION),
        (Stage::Start, &names::START_DURATION),
        (Stage::Stop, &names::STOP_DURATION),
    ] {
        let snapshot = record.durations(stage).snapshot();
        if snapshot.count() > 0 {
            p.histogram(
                def,
                base.clone(),
                &record.duration_cursors[stage.index()],
                &snapshot,
            );
        }
    }
    for stage in Stage::ALL {
        for reason in FailureReason::ALL {
            let n = record.failures(stage, reason);
            // Load and start failures are always published (as 0 until they happen) so
            // alerts on them work from the start; stop failures once they happen.
            if n > 0 || stage != Stage::Stop {
                let labels = with_label(
                    with_label(base.clone(), "stage", stage.as_str()),
                    "reason",
                    reason.as_str(),
                );
                p.counter(&names::LOAD_FAILURES, labels, n);
            }
        }
    }
    for from in PluginState::ALL {
        for to in PluginState::ALL {
            let n = record.transitions(from, to);
            if n > 0 {
                let labels = with_label(
                    with_label(base.clone(), "from", from.as_str()),
                    "to",
                    to.as_str(),
                );
                p.counter(&names::STATE_TRANSITIONS, labels, n);
            }
        }
    }
}

fn publish_operations(p: &Publisher<'_>, sites: &[&'static ResolvedSite]) {
    let Some(first) = sites.first() else { return };
    let d = first.descriptor();
    let base = vec![
        Label::new("plugin", d.name),
        Label::new("kind", d.kind),
        Label::new("operation", first.operation()),
    ];
    let mut outcomes = [0u64; 4];
    let mut in_flight = 0u64;
    let mut kinds: BTreeMap<&'static str, u64> = BTreeMap::new();
    for site in sites {
        let t = site.totals();
        outcomes[0] += t.ok();
        outcomes[1] += t.error_total();
        outcomes[2] += t.panicked;
        outcomes[3] += t.cancelled;
        in_flight += t.in_flight();
        for (slot, n) in t.errors.iter().enumerate() {
            if let Some(kind) = site.kind_label(slot).filter(|_| *n > 0) {
                *kinds.entry(kind).or_insert(0) += n;
            }
        }
        p.histogram(
            &names::OPERATION_DURATION,
            base.clone(),
            &site.latency_cursors,
            &t.latency,
        );
    }
    for (label, n) in Outcome::LABELS.iter().zip(outcomes) {
        p.counter(
            &names::OPERATIONS,
            with_label(base.clone(), "outcome", label),
            n,
        );
    }
    for (kind, n) in kinds {
        p.counter(
            &names::ERRORS,
            with_label(base.clone(), "error_kind", kind),
            n,
        );
    }
    p.gauge(&names::OPERATIONS_IN_FLIGHT, base, in_flight as f64);
}

impl Registry {
    /// Publishes this registry's aggregates to the current recorder, on this thread.
    ///
    /// Inside `metrics::with_local_recorder` this publishes to the local recorder, which
    /// is how tests observe an isolated registry.
    pub fn flush(&self) {
        metrics::with_recorder(|recorder| {
            let p = Publisher::new(recorder);
            p.histogram(
                &names::DISCOVERY_DURATION,
                vec![],
                &self.discovery_cursors,
                &self.discovery.snapshot(),
            );
            let mut by_state = [0usize; PluginState::ALL.len()];
            for record in self.plugins() {
                by_state[record.state().index()] += 1;
                publish_lifecycle(&p, record);
            }
            for (state, n) in PluginState::ALL.iter().zip(by_state) {
                p.gauge(
                    &names::PLUGINS,
                    vec![Label::new("state", state.as_str())],
                    n as f64,
                );
            }
            for sites in self.operation_sites().values() {
                publish_operations(&p, sites);
            }
        });
    }
}
