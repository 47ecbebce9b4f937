//! Capturing what plugobs publishes, with a thread-local `DebuggingRecorder` so tests run
//! in parallel.
#![allow(dead_code)]

use std::collections::BTreeMap;

use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

type Labels = Vec<(String, String)>;

/// Everything one flush published.
#[derive(Debug, Default)]
pub struct Published {
    pub counters: BTreeMap<(String, Labels), u64>,
    pub gauges: BTreeMap<(String, Labels), f64>,
    pub histograms: BTreeMap<(String, Labels), Vec<f64>>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut l: Labels = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    l.sort();
    l
}

impl Published {
    pub fn counter(&self, name: &str, pairs: &[(&str, &str)]) -> Option<u64> {
        self.counters
            .get(&(name.to_owned(), labels(pairs)))
            .copied()
    }
    pub fn gauge(&self, name: &str, pairs: &[(&str, &str)]) -> Option<f64> {
        self.gauges.get(&(name.to_owned(), labels(pairs))).copied()
    }
    pub fn histogram(&self, name: &str, pairs: &[(&str, &str)]) -> Option<&Vec<f64>> {
        self.histograms.get(&(name.to_owned(), labels(pairs)))
    }
    /// Every (kind, name, label keys) published, for the closed-list test.
    pub fn shapes(&self) -> Vec<(MetricKind, String, Vec<String>)> {
        let keys = |l: &Labels| l.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>();
        let mut out = Vec::new();
        out.extend(
            self.counters
                .keys()
                .map(|(n, l)| (MetricKind::Counter, n.clone(), keys(l))),
        );
        out.extend(
            self.gauges
                .keys()
                .map(|(n, l)| (MetricKind::Gauge, n.clone(), keys(l))),
        );
        out.extend(
            self.histograms
                .keys()
                .map(|(n, l)| (MetricKind::Histogram, n.clone(), keys(l))),
        );
        out
    }
}

/// Runs `f` with a fresh local recorder installed on this thread and returns what was
/// published into it. Histograms are forwarded as samples
/// ([`HistogramMode::Samples`](plugobs::bridge::HistogramMode)), so their values can be
/// checked one by one; the test binary `export` covers the default bucket mode.
pub fn capture(f: impl FnOnce()) -> Published {
    plugobs::bridge::set_histogram_mode(plugobs::bridge::HistogramMode::Samples);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, f);
    let mut out = Published::default();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let (kind, key) = key.into_parts();
        let name = key.name().to_owned();
        let mut l: Labels = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        l.sort();
        match (kind, value) {
            (MetricKind::Counter, DebugValue::Counter(v)) => {
                out.counters.insert((name, l), v);
            }
            (MetricKind::Gauge, DebugValue::Gauge(v)) => {
                out.gauges.insert((name, l), v.into_inner());
            }
            (MetricKind::Histogram, DebugValue::Histogram(v)) => {
                out.histograms
                    .insert((name, l), v.into_iter().map(|x| x.into_inner()).collect());
            }
            other => panic!("unexpected metric value {other:?}"),
        }
    }
    out
}

/// Whether `a` is within 2 % of `b`.
pub fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 0.02 * b.abs().max(1e-9)
}
