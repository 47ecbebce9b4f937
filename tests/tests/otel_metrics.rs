//! plugobs' aggregates through an OpenTelemetry `MeterProvider` (feature `otel`): exact
//! cumulative counters, one histogram per operation with plugobs' bounds, units and
//! descriptions; collected in process with a `ManualReader`, and pushed with
//! `opentelemetry-otlp` (HTTP, protobuf) to a receiver on loopback that decodes what it
//! gets.
//!
//! (`tests/otel.rs` is about spans.)

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::time::Duration;

use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{
    InstrumentKind, ManualReader, PeriodicReader, Pipeline, SdkMeterProvider, Temporality,
};
use plugobs::exposition::{self, Format};
use plugobs::{Plugin, Registry, names};
use prost::Message as _;

#[derive(Debug, plugobs::ErrorKind)]
pub enum FetchError {
    NotFound,
}

/// A plugin per test: call sites are per function, so tests sharing one would see each
/// other's calls.
macro_rules! fetcher {
    ($name:ident) => {
        #[plugobs::plugin(kind = "fetcher")]
        #[derive(Default)]
        pub struct $name;

        #[plugobs::instrumented]
        impl $name {
            /// `""` is not found; `"slow"` takes at least 3 ms, so the calls spread over
            /// several buckets.
            fn fetch(&self, key: &str) -> Result<usize, FetchError> {
                match key {
                    "" => Err(FetchError::NotFound),
                    "slow" => {
                        std::thread::sleep(Duration::from_millis(3));
                        Ok(4)
                    }
                    _ => Ok(key.len()),
                }
            }
        }
    };
}

fetcher!(ManualFetcher);
fetcher!(OtlpFetcher);
fetcher!(DeltaFetcher);

/// A plugin with its own metrics, some first used after the registration.
#[plugobs::plugin(kind = "cache")]
#[derive(Default)]
pub struct OtelCache;

#[plugobs::instrumented]
impl OtelCache {
    fn get(&self, key: u32) -> bool {
        plugobs::counter!(Self, "otel_lookups").increment(1);
        if key == 0 {
            plugobs::counter!(Self, "otel_misses").increment(1);
        }
        key != 0
    }

    fn fill(&self, n: usize) {
        plugobs::histogram!(Self, "otel_batch_size").record(n as f64);
    }
}

/// A registry that lives as long as the provider's callbacks.
fn leaked(descriptor: &'static plugobs::PluginDescriptor) -> &'static Registry {
    Box::leak(Box::new(Registry::from_descriptors([descriptor]).unwrap()))
}

/// A `ManualReader` the test keeps a handle to after giving it to the provider.
#[derive(Debug, Clone)]
struct SharedReader(Arc<ManualReader>);

impl MetricReader for SharedReader {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.0.register_pipeline(pipeline)
    }
    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        self.0.collect(rm)
    }
    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }
    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }
    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.0.temporality(kind)
    }
}

type Attrs = Vec<(String, String)>;

/// One histogram point, as either path delivers it.
#[derive(Debug, Clone, PartialEq)]
struct Hist {
    count: u64,
    sum: f64,
    bounds: Vec<f64>,
    buckets: Vec<u64>,
}

/// What one collection delivered: per metric name, its unit, description and points.
#[derive(Debug, Default)]
struct Collected {
    meta: BTreeMap<String, (String, String)>,
    counters: BTreeMap<(String, Attrs), u64>,
    seconds: BTreeMap<(String, Attrs), f64>,
    gauges: BTreeMap<(String, Attrs), f64>,
    histograms: BTreeMap<(String, Attrs), Hist>,
}

fn sorted(mut a: Attrs) -> Attrs {
    a.sort();
    a
}

impl Collected {
    fn from_sdk(rm: &ResourceMetrics) -> Collected {
        let mut c = Collected::default();
        for sm in rm.scope_metrics() {
            assert_eq!(sm.scope().name(), plugobs::otel::METER_NAME);
            for m in sm.metrics() {
                let name = m.name().to_string();
                c.meta.insert(
                    name.clone(),
                    (m.unit().to_string(), m.description().to_string()),
                );
                let attrs = |it: &mut dyn Iterator<Item = &opentelemetry::KeyValue>| {
                    sorted(
                        it.map(|kv| (kv.key.to_string(), kv.value.to_string()))
                            .collect(),
                    )
                };
                match m.data() {
                    AggregatedMetrics::U64(MetricData::Sum(s)) => {
                        assert!(s.is_monotonic(), "{name}");
                        assert_eq!(s.temporality(), Temporality::Cumulative);
                        for p in s.data_points() {
                            let key = (name.clone(), attrs(&mut p.attributes()));
                            c.counters.insert(key, p.value());
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Sum(s)) => {
                        for p in s.data_points() {
                            let key = (name.clone(), attrs(&mut p.attributes()));
                            c.seconds.insert(key, p.value());
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Gauge(g)) => {
                        for p in g.data_points() {
                            let key = (name.clone(), attrs(&mut p.attributes()));
                            c.gauges.insert(key, p.value());
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                        assert_eq!(h.temporality(), Temporality::Cumulative);
                        for p in h.data_points() {
                            let key = (name.clone(), attrs(&mut p.attributes()));
                            let hist = Hist {
                                count: p.count(),
                                sum: p.sum(),
                                bounds: p.bounds().collect(),
                                buckets: p.bucket_counts().collect(),
                            };
                            c.histograms.insert(key, hist);
                        }
                    }
                    other => panic!("{name}: unexpected data {other:?}"),
                }
            }
        }
        c
    }

    fn from_otlp(req: &ExportMetricsServiceRequest) -> Collected {
        let mut c = Collected::default();
        let attrs = |kvs: &[opentelemetry_proto::tonic::common::v1::KeyValue]| {
            sorted(
                kvs.iter()
                    .map(|kv| {
                        let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                            Some(any_value::Value::StringValue(s)) => s.clone(),
                            other => panic!("{}: not a string: {other:?}", kv.key),
                        };
                        (kv.key.clone(), v)
                    })
                    .collect(),
            )
        };
        for rm in &req.resource_metrics {
            for sm in &rm.scope_metrics {
                let scope = sm.scope.as_ref().map(|s| s.name.as_str());
                assert_eq!(scope, Some(plugobs::otel::METER_NAME));
                for m in &sm.metrics {
                    let name = m.name.clone();
                    c.meta
                        .insert(name.clone(), (m.unit.clone(), m.description.clone()));
                    match m.data.as_ref() {
                        Some(metric::Data::Sum(s)) => {
                            assert!(s.is_monotonic, "{name}");
                            for p in &s.data_points {
                                let key = (name.clone(), attrs(&p.attributes));
                                match p.value {
                                    Some(number_data_point::Value::AsInt(n)) => {
                                        c.counters.insert(key, n as u64);
                                    }
                                    Some(number_data_point::Value::AsDouble(x)) => {
                                        c.seconds.insert(key, x);
                                    }
                                    None => panic!("{name}: no value"),
                                }
                            }
                        }
                        Some(metric::Data::Gauge(g)) => {
                            for p in &g.data_points {
                                let key = (name.clone(), attrs(&p.attributes));
                                let x = match p.value {
                                    Some(number_data_point::Value::AsDouble(x)) => x,
                                    other => panic!("{name}: {other:?}"),
                                };
                                c.gauges.insert(key, x);
                            }
                        }
                        Some(metric::Data::Histogram(h)) => {
                            // AGGREGATION_TEMPORALITY_CUMULATIVE
                            assert_eq!(h.aggregation_temporality, 2, "{name}");
                            for p in &h.data_points {
                                let key = (name.clone(), attrs(&p.attributes));
                                let hist = Hist {
                                    count: p.count,
                                    sum: p.sum.unwrap_or(f64::NAN),
                                    bounds: p.explicit_bounds.clone(),
                                    buckets: p.bucket_counts.clone(),
                                };
                                c.histograms.insert(key, hist);
                            }
                        }
                        other => panic!("{name}: unexpected data {other:?}"),
                    }
                }
            }
        }
        c
    }

    fn counter(&self, name: &str, pairs: &[(&str, &str)]) -> Option<u64> {
        self.counters.get(&key(name, pairs)).copied()
    }

    fn histogram(&self, name: &str, pairs: &[(&str, &str)]) -> Option<&Hist> {
        self.histograms.get(&key(name, pairs))
    }
}

fn key(name: &str, pairs: &[(&str, &str)]) -> (String, Attrs) {
    let attrs = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (name.to_string(), sorted(attrs))
}

/// The operation's histogram as the Prometheus renderer gives it at this moment:
/// per-bucket (not cumulative) counts at plugobs' bounds, then the `+Inf` bucket; count;
/// sum.
fn prometheus_histogram(registry: &Registry, plugin: &str) -> Hist {
    let text = exposition::render(registry, Format::Prometheus);
    let name = "plugobs_plugin_operation_duration_seconds";
    let labels =
        format!(r#"plugin="{plugin}",kind="fetcher",instance="{plugin}",operation="fetch""#);
    let value = |line: &str| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
    let mut cumulative = Vec::new();
    let (mut count, mut sum) = (None, None);
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(&format!("{name}_bucket{{{labels},le=\"")) {
            let le = rest.split('"').next().unwrap();
            cumulative.push((le.to_string(), value(line) as u64));
        } else if line.starts_with(&format!("{name}_count{{{labels}}}")) {
            count = Some(value(line) as u64);
        } else if line.starts_with(&format!("{name}_sum{{{labels}}}")) {
            sum = Some(value(line));
        }
    }
    let bounds: Vec<f64> = cumulative
        .iter()
        .filter(|(le, _)| le != "+Inf")
        .map(|(le, _)| le.parse().unwrap())
        .collect();
    let mut buckets = Vec::new();
    let mut before = 0;
    for (_, n) in &cumulative {
        buckets.push(n - before);
        before = *n;
    }
    Hist {
        count: count.unwrap(),
        sum: sum.unwrap(),
        bounds,
        buckets,
    }
}

/// The OpenTelemetry histogram equals the Prometheus one: exact counts and bounds, the
/// sum up to the `f64` rounding of the SDK's additions (the Prometheus text prints the
/// exact sum in nanoseconds divided once).
fn assert_same_histogram(otel: &Hist, prometheus: &Hist) {
    assert_eq!(otel.bounds, prometheus.bounds);
    assert_eq!(otel.bounds, names::OPERATION_BUCKETS);
    assert_eq!(otel.buckets, prometheus.buckets);
    assert_eq!(otel.count, prometheus.count);
    assert_eq!(otel.buckets.iter().sum::<u64>(), otel.count);
    let tolerance = 1e-9 * prometheus.sum.max(1e-3);
    assert!(
        (otel.sum - prometheus.sum).abs() <= tolerance,
        "sum {} vs {}",
        otel.sum,
        prometheus.sum
    );
}

fn fetch_labels(plugin: &'static str) -> [(&'static str, &'static str); 4] {
    [
        ("plugin", plugin),
        ("kind", "fetcher"),
        ("instance", plugin),
        ("operation", "fetch"),
    ]
}

fn with(
    base: &[(&'static str, &'static str)],
    extra: (&'static str, &'static str),
) -> Vec<(&'static str, &'static str)> {
    let mut v = base.to_vec();
    v.push(extra);
    v
}

const OPERATIONS: &str = "plugobs_plugin_operations_total";
const ERRORS: &str = "plugobs_plugin_errors_total";
const DURATION: &str = "plugobs_plugin_operation_duration_seconds";
const IN_FLIGHT: &str = "plugobs_plugin_operations_in_flight";

#[test]
fn collections_report_exact_cumulative_values_with_plugobs_bounds() {
    let registry = leaked(ManualFetcher::DESCRIPTOR);
    let reader = SharedReader(Arc::new(ManualReader::builder().build()));
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .build();
    plugobs::otel::register(registry, &provider);
    let collect = || {
        let mut rm = ResourceMetrics::default();
        reader.collect(&mut rm).unwrap();
        Collected::from_sdk(&rm)
    };
    let base = fetch_labels("manual_fetcher");
    let ok = with(&base, ("outcome", "ok"));
    let error = with(&base, ("outcome", "error"));
    let not_found = with(&base, ("error_kind", "not_found"));

    // Before any call: no operation series yet (plugobs exports an operation once called).
    let c0 = collect();
    assert_eq!(c0.counter(OPERATIONS, &ok), None);

    let p = ManualFetcher;
    for k in ["a", "bb", "", "slow", "ccc"] {
        let _ = p.fetch(k);
    }
    let c1 = collect();
    assert_eq!(c1.counter(OPERATIONS, &ok), Some(4));
    assert_eq!(c1.counter(OPERATIONS, &error), Some(1));
    assert_eq!(
        c1.counter(OPERATIONS, &with(&base, ("outcome", "panic"))),
        Some(0)
    );
    assert_eq!(c1.counter(ERRORS, &not_found), Some(1));
    assert_eq!(c1.gauges.get(&key(IN_FLIGHT, &base)), Some(&0.0));
    let h1 = c1
        .histogram(DURATION, &base)
        .expect("one histogram for the operation");
    assert_eq!(h1.count, 5);
    assert!(h1.sum >= 0.003, "the slow call alone took 3 ms: {}", h1.sum);
    assert_same_histogram(h1, &prometheus_histogram(registry, "manual_fetcher"));

    // One histogram metric per operation series, no per-bucket series.
    let duration_points: Vec<_> = c1
        .histograms
        .keys()
        .filter(|(name, _)| name == DURATION)
        .collect();
    assert_eq!(duration_points.len(), 1, "{duration_points:?}");
    assert!(
        c1.meta.keys().all(|n| !n.ends_with("_bucket")),
        "{:?}",
        c1.meta.keys()
    );

    // Units and descriptions.
    assert_eq!(
        c1.meta[DURATION],
        ("s".to_string(), names::OPERATION_DURATION.help.to_string())
    );
    assert_eq!(
        c1.meta[OPERATIONS],
        (String::new(), names::OPERATIONS.help.to_string())
    );
    for (name, (_, description)) in &c1.meta {
        assert!(!description.is_empty(), "{name} has no description");
    }
    assert_eq!(c1.meta["plugobs_discovery_duration_seconds"].0, "s");

    // No calls: the same cumulative values, nothing replayed twice.
    let c2 = collect();
    assert_eq!(c2.counter(OPERATIONS, &ok), Some(4));
    assert_eq!(c2.counter(OPERATIONS, &error), Some(1));
    assert_eq!(c2.histogram(DURATION, &base), Some(h1));

    // More calls, then two collections.
    for k in ["", "", "slow", "dd"] {
        let _ = p.fetch(k);
    }
    let c3 = collect();
    assert_eq!(c3.counter(OPERATIONS, &ok), Some(6));
    assert_eq!(c3.counter(OPERATIONS, &error), Some(3));
    assert_eq!(c3.counter(ERRORS, &not_found), Some(3));
    let h3 = c3.histogram(DURATION, &base).unwrap();
    assert_eq!(h3.count, 9);
    assert_same_histogram(h3, &prometheus_histogram(registry, "manual_fetcher"));
    let c4 = collect();
    assert_eq!(c4.counter(OPERATIONS, &ok), Some(6));
    assert_eq!(c4.histogram(DURATION, &base), Some(h3));

    provider.shutdown().unwrap();
}

/// A reader asking for delta temporality gets the SDK's deltas of plugobs' totals: the
/// calls since the previous collection.
#[test]
fn a_delta_reader_gets_the_calls_since_the_previous_collection() {
    let registry = leaked(DeltaFetcher::DESCRIPTOR);
    let reader = SharedReader(Arc::new(
        ManualReader::builder()
            .with_temporality(Temporality::Delta)
            .build(),
    ));
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .build();
    let _registration = plugobs::otel::register(registry, &provider);
    let deltas = || {
        let mut rm = ResourceMetrics::default();
        reader.collect(&mut rm).unwrap();
        let mut ok = None;
        let mut count = None;
        for m in rm.scope_metrics().flat_map(|s| s.metrics()) {
            match m.data() {
                AggregatedMetrics::U64(MetricData::Sum(s)) if m.name() == OPERATIONS => {
                    assert_eq!(s.temporality(), Temporality::Delta);
                    ok = s
                        .data_points()
                        .find(|p| {
                            p.attributes()
                                .any(|kv| kv.key.as_str() == "outcome" && kv.value.as_str() == "ok")
                        })
                        .map(|p| p.value());
                }
                AggregatedMetrics::F64(MetricData::Histogram(h)) if m.name() == DURATION => {
                    assert_eq!(h.temporality(), Temporality::Delta);
                    count = Some(h.data_points().map(|p| p.count()).sum::<u64>());
                }
                _ => {}
            }
        }
        (ok, count)
    };
    let p = DeltaFetcher;
    for k in ["a", "b", ""] {
        let _ = p.fetch(k);
    }
    assert_eq!(deltas(), (Some(2), Some(3)));
    for k in ["c", "d", "e", "f"] {
        let _ = p.fetch(k);
    }
    assert_eq!(deltas(), (Some(4), Some(4)));
    // No calls: a delta of 0 for the counter, no histogram point.
    let (ok, count) = deltas();
    assert_eq!(ok, Some(0));
    assert!(count.unwrap_or(0) == 0, "{count:?}");
    provider.shutdown().unwrap();
}

#[test]
fn custom_metrics_arrive_also_when_first_used_after_the_registration() {
    let registry = leaked(OtelCache::DESCRIPTOR);
    let cache = OtelCache;
    cache.get(1);
    let reader = SharedReader(Arc::new(ManualReader::builder().build()));
    let provider = SdkMeterProvider::builder()
        .with_reader(reader.clone())
        .build();
    let registration = plugobs::otel::register(registry, &provider);
    let collect = || {
        let mut rm = ResourceMetrics::default();
        reader.collect(&mut rm).unwrap();
        Collected::from_sdk(&rm)
    };
    let id = [
        ("plugin", "otel_cache"),
        ("kind", "cache"),
        ("instance", "otel_cache"),
    ];
    let c1 = collect();
    assert_eq!(
        c1.counter("plugobs_custom_otel_lookups_total", &id),
        Some(1)
    );
    assert_eq!(
        c1.meta["plugobs_custom_otel_lookups_total"].1,
        "Custom counter `otel_lookups` recorded by plugin code."
    );

    // First uses after the registration: met by the next collection, which has their
    // instruments created once it is over; `refresh` waits for that.
    cache.get(0);
    cache.fill(3);
    cache.fill(30);
    let c2 = collect();
    assert_eq!(
        c2.counter("plugobs_custom_otel_lookups_total", &id),
        Some(2)
    );
    registration.refresh();
    let c3 = collect();
    assert_eq!(
        c3.counter("plugobs_custom_otel_lookups_total", &id),
        Some(2)
    );
    assert_eq!(c3.counter("plugobs_custom_otel_misses_total", &id), Some(1));
    let h = c3
        .histogram("plugobs_custom_otel_batch_size", &id)
        .expect("the custom histogram");
    assert_eq!(h.bounds, plugobs::custom::CUSTOM_BUCKETS);
    assert_eq!(h.count, 2);
    assert!((h.sum - 33.0).abs() < 1e-9, "{}", h.sum);
    // 3 in (2, 5], 30 in (25, 50].
    let mut want = vec![0u64; plugobs::custom::CUSTOM_BUCKETS.len() + 1];
    want[5] = 1;
    want[8] = 1;
    assert_eq!(h.buckets, want);
    // Nothing new: the same values.
    registration.refresh();
    let c4 = collect();
    assert_eq!(c4.histogram("plugobs_custom_otel_batch_size", &id), Some(h));
    provider.shutdown().unwrap();
}

/// A loopback OTLP/HTTP receiver: answers every `POST /v1/metrics` with 200 and sends the
/// decoded request down the channel.
fn receiver() -> (String, mpsc::Receiver<ExportMetricsServiceRequest>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}/v1/metrics", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut writer = stream.try_clone().unwrap();
                let mut reader = BufReader::new(stream);
                // Keep-alive: requests one after another on the connection.
                loop {
                    let mut request_line = String::new();
                    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
                        return;
                    }
                    assert!(
                        request_line.starts_with("POST /v1/metrics "),
                        "{request_line}"
                    );
                    let mut length = 0usize;
                    loop {
                        let mut header = String::new();
                        reader.read_line(&mut header).unwrap();
                        let header = header.trim_end();
                        if header.is_empty() {
                            break;
                        }
                        let (name, value) = header.split_once(':').unwrap();
                        match name.to_ascii_lowercase().as_str() {
                            "content-length" => length = value.trim().parse().unwrap(),
                            "content-type" => {
                                assert_eq!(value.trim(), "application/x-protobuf")
                            }
                            "content-encoding" => panic!("compressed: {value}"),
                            _ => {}
                        }
                    }
                    let mut body = vec![0; length];
                    reader.read_exact(&mut body).unwrap();
                    let request = ExportMetricsServiceRequest::decode(body.as_slice()).unwrap();
                    writer
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
                        )
                        .unwrap();
                    // The test may be done with the receiver (the shutdown's last export).
                    let _ = tx.send(request);
                }
            });
        }
    });
    (endpoint, rx)
}

#[test]
fn otlp_export_to_a_loopback_receiver_decodes_exact_values() {
    let registry = leaked(OtlpFetcher::DESCRIPTOR);
    let (endpoint, requests) = receiver();
    let client = reqwest::blocking::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .build()
        .unwrap();
    // An interval no test waits for: every export here is a force_flush.
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder().with_reader(reader).build();
    plugobs::otel::register(registry, &provider);
    let export = || {
        provider.force_flush().unwrap();
        let request = requests
            .recv_timeout(Duration::from_secs(10))
            .expect("an OTLP request");
        Collected::from_otlp(&request)
    };
    let base = fetch_labels("otlp_fetcher");
    let ok = with(&base, ("outcome", "ok"));
    let error = with(&base, ("outcome", "error"));
    let p = OtlpFetcher;
    let mut report = Vec::new();

    for k in ["a", "", "slow"] {
        let _ = p.fetch(k);
    }
    let e1 = export();
    assert_eq!(e1.counter(OPERATIONS, &ok), Some(2));
    assert_eq!(e1.counter(OPERATIONS, &error), Some(1));
    let h1 = e1.histogram(DURATION, &base).unwrap().clone();
    assert_eq!(h1.count, 3);
    assert_same_histogram(&h1, &prometheus_histogram(registry, "otlp_fetcher"));
    assert_eq!(e1.meta[DURATION].0, "s");
    assert_eq!(e1.meta[DURATION].1, names::OPERATION_DURATION.help);
    report.push((
        "after 3 calls",
        e1.counter(OPERATIONS, &ok),
        e1.counter(OPERATIONS, &error),
        h1.clone(),
    ));

    // No calls: the same cumulative values.
    let e2 = export();
    assert_eq!(e2.counter(OPERATIONS, &ok), Some(2));
    assert_eq!(e2.counter(OPERATIONS, &error), Some(1));
    assert_eq!(e2.histogram(DURATION, &base), Some(&h1));
    report.push((
        "no calls",
        e2.counter(OPERATIONS, &ok),
        e2.counter(OPERATIONS, &error),
        h1.clone(),
    ));

    for k in ["slow", "", "b", "c", "slow"] {
        let _ = p.fetch(k);
    }
    let e3 = export();
    assert_eq!(e3.counter(OPERATIONS, &ok), Some(6));
    assert_eq!(e3.counter(OPERATIONS, &error), Some(2));
    assert_eq!(
        e3.counter(ERRORS, &with(&base, ("error_kind", "not_found"))),
        Some(2)
    );
    let h3 = e3.histogram(DURATION, &base).unwrap().clone();
    assert_eq!(h3.count, 8);
    assert_same_histogram(&h3, &prometheus_histogram(registry, "otlp_fetcher"));
    report.push((
        "after 5 more",
        e3.counter(OPERATIONS, &ok),
        e3.counter(OPERATIONS, &error),
        h3.clone(),
    ));

    // No calls again: cumulative values stand, nothing is added twice.
    let e4 = export();
    assert_eq!(e4.counter(OPERATIONS, &ok), Some(6));
    assert_eq!(e4.counter(OPERATIONS, &error), Some(2));
    assert_eq!(e4.histogram(DURATION, &base), Some(&h3));
    report.push((
        "no calls",
        e4.counter(OPERATIONS, &ok),
        e4.counter(OPERATIONS, &error),
        h3,
    ));

    for k in ["d", ""] {
        let _ = p.fetch(k);
    }
    let e5 = export();
    assert_eq!(e5.counter(OPERATIONS, &ok), Some(7));
    assert_eq!(e5.counter(OPERATIONS, &error), Some(3));
    assert_eq!(
        e5.counter(ERRORS, &with(&base, ("error_kind", "not_found"))),
        Some(3)
    );
    let h5 = e5.histogram(DURATION, &base).unwrap().clone();
    assert_eq!(h5.count, 10);
    assert_same_histogram(&h5, &prometheus_histogram(registry, "otlp_fetcher"));
    // Gauges arrive as gauges, with their exact values: nothing in flight, and the
    // registry's plugin counts by state (this registry loaded nothing).
    assert_eq!(e5.gauges.get(&key(IN_FLIGHT, &base)), Some(&0.0));
    assert_eq!(
        e5.gauges
            .get(&key("plugobs_plugins", &[("state", "running")])),
        Some(&0.0)
    );
    assert_eq!(e5.meta[IN_FLIGHT].1, names::OPERATIONS_IN_FLIGHT.help);
    report.push((
        "after 2 more",
        e5.counter(OPERATIONS, &ok),
        e5.counter(OPERATIONS, &error),
        h5,
    ));

    // What was decoded, for the record (`--nocapture`).
    for (when, ok, error, h) in report {
        println!(
            "{when}: ok={ok:?} error={error:?} duration count={} sum={:.6}s buckets={:?}",
            h.count, h.sum, h.buckets
        );
    }
    drop(requests);
    let _ = provider.shutdown();
}
