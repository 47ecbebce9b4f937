//! metrics-exporter-opentelemetry installed as the global recorder, into an
//! OpenTelemetry SDK meter provider whose periodic reader exports to the SDK's in-memory
//! exporter, with cumulative temporality; each observation is a forced export.
//!
//! This exporter does not support `Counter::absolute` (its documentation says so: each
//! new handle starts from 0 and adds the whole value), so only counter deltas sent with
//! `increment` reach the SDK's sums correctly. It also keeps a name's description only
//! until the first `register_*` of that name: a family of several series is exported as
//! one stream (with its help and unit) only if the name is described before each new
//! series' handle is registered; otherwise the SDK exports a second stream of the same
//! name with an empty description, which the scenario reports.

use std::collections::BTreeMap;

use metrics_exporter_opentelemetry::Recorder;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData};
use opentelemetry_sdk::metrics::{
    InMemoryMetricExporter, InMemoryMetricExporterBuilder, SdkMeterProvider, Temporality,
};

use super::{Exporter, Observed, SeriesKey, normalize};

#[derive(Default)]
pub struct OpenTelemetry {
    exporter: Option<InMemoryMetricExporter>,
    provider: Option<SdkMeterProvider>,
}

fn attributes<'a>(kvs: impl Iterator<Item = &'a opentelemetry::KeyValue>) -> Vec<(String, String)> {
    normalize(
        kvs.map(|kv| (kv.key.as_str().to_owned(), kv.value.as_str().into_owned()))
            .collect(),
    )
}

impl Exporter for OpenTelemetry {
    fn install(&mut self) {
        let exporter = InMemoryMetricExporterBuilder::new()
            .with_temporality(Temporality::Cumulative)
            .build();
        let in_memory = exporter.clone();
        let (provider, recorder) = Recorder::builder("plugobs-tests")
            .with_meter_provider(move |builder| builder.with_periodic_exporter(in_memory))
            .build();
        metrics::set_global_recorder(recorder).expect("install the OpenTelemetry recorder");
        self.exporter = Some(exporter);
        self.provider = Some(provider);
    }

    fn keeps_units(&self) -> bool {
        true
    }

    fn observe(&mut self, flush: usize) -> Observed {
        let exporter = self.exporter.as_ref().expect("installed");
        exporter.reset();
        // Collects and exports synchronously: what the SDK holds now.
        self.provider
            .as_ref()
            .expect("installed")
            .force_flush()
            .expect("force an export");
        let exports = exporter.get_finished_metrics().expect("finished metrics");
        let last = exports
            .last()
            .unwrap_or_else(|| panic!("flush {flush}: the forced export exported nothing"));
        let mut observed = Observed::default();
        let mut described = BTreeMap::new();
        let mut streams: BTreeMap<SeriesKey, usize> = BTreeMap::new();
        for scope in last.scope_metrics() {
            for metric in scope.metrics() {
                let name = metric.name().to_owned();
                let description = (metric.unit().to_owned(), metric.description().to_owned());
                if let Some(before) = described.insert(name.clone(), description.clone()) {
                    if before != description {
                        observed.problems.push(format!(
                            "{name} exported as two streams, described {before:?} and \
                             {description:?}"
                        ));
                    }
                }
                match metric.data() {
                    AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                        for point in sum.data_points() {
                            let key = (name.clone(), attributes(point.attributes()));
                            *streams.entry(key.clone()).or_default() += 1;
                            *observed.counters.entry(key).or_default() += point.value();
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Gauge(gauge)) => {
                        for point in gauge.data_points() {
                            let key = (name.clone(), attributes(point.attributes()));
                            observed.gauges.insert(key, point.value());
                        }
                    }
                    AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
                        for point in histogram.data_points() {
                            let key = (name.clone(), attributes(point.attributes()));
                            *streams.entry(key.clone()).or_default() += 1;
                            let entry = observed.histograms.entry(key).or_default();
                            entry.0 += point.count();
                            entry.1 += point.sum();
                        }
                    }
                    other => observed
                        .problems
                        .push(format!("{name} exported as {other:?}")),
                }
            }
        }
        for ((name, labels), n) in streams {
            if n > 1 {
                observed
                    .problems
                    .push(format!("{name}{labels:?} is in {n} sums of one export"));
            }
        }
        observed.described = Some(described);
        observed
    }
}
