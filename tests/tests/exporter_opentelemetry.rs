//! The bridge through metrics-exporter-opentelemetry installed as the global recorder,
//! into an OpenTelemetry SDK meter provider whose periodic reader exports to the SDK's
//! in-memory exporter, with cumulative temporality: after each of six flushes, with calls
//! before some and none before others, a forced export holds every counter series at
//! plugobs' exact total and every gauge at its value, one stream per series, each family
//! described (unit and help) as the closed list says. The exporter's own limits are in
//! `exporter_common/opentelemetry.rs`; the scenario in `exporter_common`.
//! `exporter_opentelemetry_samples` runs it with histograms as samples.
//!
//! One test in this binary: the global recorder and the global registry are per process.

mod exporter_common;

use plugobs::bridge::HistogramMode;

#[test]
fn the_opentelemetry_sdk_holds_exact_cumulative_sums_after_every_flush() {
    exporter_common::run(
        HistogramMode::Buckets,
        &mut exporter_common::opentelemetry::OpenTelemetry::default(),
    );
}
