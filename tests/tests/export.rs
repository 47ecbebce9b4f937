//! The export paths that cost per series, not per call: the direct Prometheus /
//! OpenMetrics rendering, the bridge's histogram modes, and the incremental flush.

use std::sync::{Arc, Mutex};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use plugobs::bridge::{self, Flusher, HistogramMode};
use plugobs::exposition::{self, Format};
use plugobs::{Plugin, Registry};

/// The histogram mode is process-wide: tests that depend on it run one at a time.
static MODE: Mutex<()> = Mutex::new(());

#[derive(Debug, plugobs::ErrorKind)]
pub enum ParseError {
    Empty,
    Garbled,
}

#[plugobs::plugin(kind = "parser", version = "2.1.0")]
#[derive(Default)]
pub struct CsvParser;

#[plugobs::instrumented]
impl CsvParser {
    fn parse(&self, line: &str) -> Result<usize, ParseError> {
        match line {
            "" => Err(ParseError::Empty),
            "?" => Err(ParseError::Garbled),
            _ => Ok(line.split(',').count()),
        }
    }
}

/// A plugin per test: call sites are per function, so tests that share a plugin would
/// see each other's calls.
macro_rules! parser {
    ($name:ident) => {
        #[plugobs::plugin(kind = "parser")]
        #[derive(Default)]
        pub struct $name;

        #[plugobs::instrumented]
        impl $name {
            fn parse(&self, line: &str) -> Result<usize, ParseError> {
                if line.is_empty() {
                    Err(ParseError::Empty)
                } else {
                    Ok(1)
                }
            }
        }
    };
}

parser!(JsonParser);
parser!(XmlParser);
parser!(TomlParser);
parser!(YamlParser);
parser!(IniParser);

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn prometheus_text_has_exact_counts_and_one_header_per_family() {
    let registry = Registry::from_descriptors([CsvParser::DESCRIPTOR]).unwrap();
    for line in ["a,b", "a", "", "?", "", "x,y,z"] {
        let _ = CsvParser.parse(line);
    }
    let text = exposition::render(&registry, Format::Prometheus);
    let l = lines(&text);
    let base = r#"plugin="csv_parser",kind="parser",instance="csv_parser",operation="parse""#;
    for want in [
        format!(r#"plugobs_plugin_operations_total{{{base},outcome="ok"}} 3"#),
        format!(r#"plugobs_plugin_operations_total{{{base},outcome="error"}} 3"#),
        format!(r#"plugobs_plugin_operations_total{{{base},outcome="panic"}} 0"#),
        format!(r#"plugobs_plugin_errors_total{{{base},error_kind="empty"}} 2"#),
        format!(r#"plugobs_plugin_errors_total{{{base},error_kind="garbled"}} 1"#),
        format!(r#"plugobs_plugin_operations_in_flight{{{base}}} 0"#),
        format!(r#"plugobs_plugin_operation_duration_seconds_bucket{{{base},le="1"}} 6"#),
        format!(r#"plugobs_plugin_operation_duration_seconds_bucket{{{base},le="+Inf"}} 6"#),
        format!(r#"plugobs_plugin_operation_duration_seconds_count{{{base}}} 6"#),
        r#"plugobs_plugin_info{plugin="csv_parser",kind="parser",version="2.1.0"} 1"#.to_owned(),
        r#"plugobs_plugins{state="registered"} 1"#.to_owned(),
        "# TYPE plugobs_plugin_operation_duration_seconds histogram".to_owned(),
        "# TYPE plugobs_plugin_operations_total counter".to_owned(),
    ] {
        assert!(l.contains(&want.as_str()), "missing `{want}` in\n{text}");
    }
    // Cumulative buckets never decrease and end at the count.
    let buckets: Vec<u64> = l
        .iter()
        .filter(|x| x.starts_with("plugobs_plugin_operation_duration_seconds_bucket"))
        .map(|x| x.rsplit(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(buckets.len(), 17, "16 recommended bounds and +Inf");
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    // One HELP and one TYPE line per family.
    for family in ["plugobs_plugin_operations_total", "plugobs_plugin_info"] {
        let headers = l
            .iter()
            .filter(|x| x.starts_with(&format!("# TYPE {family} ")))
            .count();
        assert_eq!(headers, 1, "{family}");
    }
}

#[test]
fn openmetrics_names_counter_families_without_total_and_ends_with_eof() {
    let registry = Registry::from_descriptors([JsonParser::DESCRIPTOR]).unwrap();
    let _ = JsonParser.parse("{}");
    let text = exposition::render(&registry, Format::OpenMetrics);
    let l = lines(&text);
    assert!(
        l.contains(&"# TYPE plugobs_plugin_operations counter"),
        "{text}"
    );
    assert!(l.contains(&"# UNIT plugobs_plugin_operation_duration_seconds seconds"));
    assert!(l.contains(
        &r#"plugobs_plugin_operations_total{plugin="json_parser",kind="parser",instance="json_parser",operation="parse",outcome="ok"} 1"#
    ));
    assert_eq!(l.last(), Some(&"# EOF"));
    assert_eq!(
        Format::OpenMetrics.content_type(),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
}

/// One published series: name, label pairs, value.
type Published = (String, Vec<(String, String)>, DebugValue);

fn published(registry: &Registry) -> Vec<Published> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || registry.flush());
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key().clone();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            (key.name().to_owned(), labels, value)
        })
        .collect()
}

fn counter(all: &[Published], name: &str, le: Option<&str>) -> Option<u64> {
    all.iter().find_map(|(n, labels, v)| {
        let has_le = labels
            .iter()
            .find(|(k, _)| k == "le")
            .map(|(_, v)| v.as_str());
        match v {
            DebugValue::Counter(c) if n == name && has_le == le => Some(*c),
            _ => None,
        }
    })
}

#[test]
fn the_bridge_forwards_histograms_as_bucket_counters_by_default() {
    let _mode = MODE.lock().unwrap_or_else(|e| e.into_inner());
    bridge::set_histogram_mode(HistogramMode::default());
    let registry = Registry::from_descriptors([XmlParser::DESCRIPTOR]).unwrap();
    for _ in 0..5 {
        let _ = XmlParser.parse("a");
    }
    let all = published(&registry);
    let name = "plugobs_plugin_operation_duration_seconds";
    let calls = registry.stats().plugins[0].operations[0].calls;
    assert_eq!(calls, 5);
    assert_eq!(
        counter(&all, &format!("{name}_bucket"), Some("+Inf")),
        Some(calls)
    );
    assert_eq!(
        counter(&all, &format!("{name}_bucket"), Some("1")),
        Some(calls)
    );
    assert_eq!(counter(&all, &format!("{name}_count"), None), Some(calls));
    assert!(
        all.iter()
            .any(|(n, _, v)| n == &format!("{name}_sum") && matches!(v, DebugValue::Gauge(_)))
    );
    assert!(
        !all.iter()
            .any(|(_, _, v)| matches!(v, DebugValue::Histogram(_))),
        "no per-call samples in bucket mode"
    );
}

#[test]
fn count_and_sum_mode_sends_no_buckets() {
    let _mode = MODE.lock().unwrap_or_else(|e| e.into_inner());
    bridge::set_histogram_mode(HistogramMode::CountAndSum);
    let registry = Registry::from_descriptors([TomlParser::DESCRIPTOR]).unwrap();
    let _ = TomlParser.parse("x");
    let all = published(&registry);
    bridge::set_histogram_mode(HistogramMode::default());
    let name = "plugobs_plugin_operation_duration_seconds";
    let calls = registry.stats().plugins[0].operations[0].calls;
    assert_eq!(counter(&all, &format!("{name}_count"), None), Some(calls));
    assert!(!all.iter().any(|(n, _, _)| n.ends_with("_bucket")));
}

/// What a flush asks of a recorder, in order.
#[derive(Clone, Debug, PartialEq)]
enum Event {
    Describe(String, Option<Unit>),
    Register(String),
    Increment(String, u64),
    Absolute(String, u64),
    Set(String),
    Record(String),
}

/// Logs every description, registration and update it receives.
#[derive(Default)]
struct Wire(Arc<Mutex<Vec<Event>>>);

/// A handle of [`Wire`]: logs its updates under its key.
struct Logged(String, Arc<Mutex<Vec<Event>>>);

impl Logged {
    fn log(&self, event: fn(String) -> Event) {
        self.1.lock().unwrap().push(event(self.0.clone()));
    }
}

impl CounterFn for Logged {
    fn increment(&self, n: u64) {
        self.1
            .lock()
            .unwrap()
            .push(Event::Increment(self.0.clone(), n));
    }
    fn absolute(&self, n: u64) {
        self.1
            .lock()
            .unwrap()
            .push(Event::Absolute(self.0.clone(), n));
    }
}

impl GaugeFn for Logged {
    fn increment(&self, _: f64) {
        self.log(Event::Set);
    }
    fn decrement(&self, _: f64) {
        self.log(Event::Set);
    }
    fn set(&self, _: f64) {
        self.log(Event::Set);
    }
}

impl HistogramFn for Logged {
    fn record(&self, _: f64) {
        self.log(Event::Record);
    }
}

impl Wire {
    fn handle(&self, key: &Key) -> Arc<Logged> {
        let labels: Vec<String> = key
            .labels()
            .map(|l| format!("{}={}", l.key(), l.value()))
            .collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        self.0.lock().unwrap().push(Event::Register(name.clone()));
        Arc::new(Logged(name, self.0.clone()))
    }
    fn describe(&self, name: KeyName, unit: Option<Unit>) {
        let name = name.as_str().to_owned();
        self.0.lock().unwrap().push(Event::Describe(name, unit));
    }
    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Recorder for Wire {
    fn describe_counter(&self, name: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(name, unit)
    }
    fn describe_gauge(&self, name: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(name, unit)
    }
    fn describe_histogram(&self, name: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(name, unit)
    }
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.handle(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.handle(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.handle(key))
    }
}

fn updates(events: &[Event]) -> usize {
    events
        .iter()
        .filter(|e| !matches!(e, Event::Describe(..) | Event::Register(_)))
        .count()
}

/// The sum of the increments sent for `key` (`name{label=value,…}`).
fn increments(events: &[Event], key: &str) -> u64 {
    events
        .iter()
        .map(|e| match e {
            Event::Increment(k, n) if k == key => *n,
            _ => 0,
        })
        .sum()
}

#[test]
fn a_flusher_sends_deltas_through_handles_it_keeps() {
    let _mode = MODE.lock().unwrap_or_else(|e| e.into_inner());
    bridge::set_histogram_mode(HistogramMode::default());
    let registry = Registry::from_descriptors([IniParser::DESCRIPTOR]).unwrap();
    for line in ["a", "b,c", "d"] {
        let _ = IniParser.parse(line);
    }
    let recorder = Wire::default();
    let mut flusher = Flusher::new();
    let mut flush = || {
        metrics::with_local_recorder(&recorder, || flusher.flush(&registry));
        recorder.take()
    };
    let labels = "plugin=ini_parser,kind=parser,instance=ini_parser,operation=parse";
    let ok = format!("plugobs_plugin_operations_total{{{labels},outcome=ok}}");
    let error = format!("plugobs_plugin_operations_total{{{labels},outcome=error}}");
    let count = format!("plugobs_plugin_operation_duration_seconds_count{{{labels}}}");

    let first = flush();
    assert_eq!(increments(&first, &ok), 3);
    assert_eq!(increments(&first, &count), 3);
    assert!(!first.iter().any(|e| matches!(e, Event::Absolute(..))));
    // Every name is described before its first registration (and again before each new
    // series of it: an exporter may take the description at a name's first registration
    // only).
    let mut described = std::collections::HashSet::new();
    for event in &first {
        match event {
            Event::Describe(name, _) => {
                described.insert(name.clone());
            }
            Event::Register(key) => {
                let name = key.split('{').next().unwrap();
                assert!(
                    described.contains(name),
                    "{name} registered before described"
                );
            }
            _ => {}
        }
    }
    assert!(first.contains(&Event::Describe(
        "plugobs_plugin_operation_duration_seconds_sum".into(),
        Some(Unit::Seconds)
    )));

    // Nothing changed: no registration, no increment.
    let idle = flush();
    assert!(
        !idle.iter().any(|e| matches!(
            e,
            Event::Register(_) | Event::Describe(..) | Event::Increment(..)
        )),
        "{idle:?}"
    );

    for line in ["e", "f"] {
        let _ = IniParser.parse(line);
    }
    let _ = IniParser.parse("");
    let busy = flush();
    assert_eq!(increments(&busy, &ok), 2);
    assert_eq!(increments(&busy, &count), 3);
    // Only the counter of the new error kind is new; every other handle is kept.
    let registered: Vec<_> = busy
        .iter()
        .filter_map(|e| match e {
            Event::Register(k) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    let errors = format!("plugobs_plugin_errors_total{{{labels},error_kind=empty}}");
    assert_eq!(registered, [errors.as_str()], "{busy:?}");
    assert_eq!(increments(&busy, &errors), 1);
    assert_eq!(increments(&busy, &error), 1);
}

#[test]
fn an_incremental_flush_skips_what_did_not_change() {
    let _mode = MODE.lock().unwrap_or_else(|e| e.into_inner());
    bridge::set_histogram_mode(HistogramMode::default());
    let registry = Registry::from_descriptors([YamlParser::DESCRIPTOR]).unwrap();
    let _ = YamlParser.parse("a");
    let recorder = Wire::default();
    let mut flusher = Flusher::new();
    let mut flush = || {
        metrics::with_local_recorder(&recorder, || flusher.flush(&registry));
        updates(&recorder.take())
    };
    // Exact counts: the registry holds one plugin with one operation, called only with
    // inputs that succeed (so no `errors_total` series), and this recorder is local to the
    // thread, so nothing else in the process adds to them.
    let first = flush();
    let idle = flush();
    // The registry's own series, always sent: the discovery and health round histograms'
    // sums (their counts did not move, so no increment) and one `plugobs_plugins` gauge
    // per state.
    let registry_updates = 1 + 1 + 7;
    assert_eq!(idle, registry_updates);
    // The first flush sends everything, zeros included: the registry's series
    // (discovery and health rounds: 13 bounds + +Inf + count + sum each; the round
    // overruns counter), the plugin's (info, 7 load failure
    // counters by stage and reason, 4 health status gauges, up, 3 health check failure
    // counters, busy ratio) and its operation's group (4 outcomes, in flight, 16 bounds +
    // +Inf + count + sum).
    let plugin_series = 1 + 7 + 4 + 1 + 3 + 1;
    let operation_series = 4 + 1 + 19;
    assert_eq!(
        first,
        16 + 16 + 1 + 7 + plugin_series + operation_series,
        "first {first}"
    );
    let _ = YamlParser.parse("a,b");
    let busy = flush();
    // The operation's group again, only what moved: the `ok` outcome, in flight, the
    // buckets the call counts in (those at or above its duration, and +Inf), the count
    // and the sum; the plugin's own series did not change.
    assert!(busy > idle + 4, "busy {busy}, idle {idle}");
    assert!(
        busy <= idle + 1 + 1 + 17 + 1 + 1,
        "busy {busy}, idle {idle}"
    );
}
