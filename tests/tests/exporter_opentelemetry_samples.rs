//! `exporter_opentelemetry` with histograms forwarded as samples
//! (`HistogramMode::Samples`, the mode meant for a recorder that aggregates values
//! itself): the SDK's own histogram of each operation's latency counts exactly one value
//! per call (its sum within 2 % of plugobs' `_sum`), and the counters and gauges stay
//! exact.
//!
//! One test in this binary: the global recorder and the global registry are per process.

mod exporter_common;

use plugobs::bridge::HistogramMode;

#[test]
fn the_opentelemetry_sdk_histogram_counts_every_call() {
    exporter_common::run(
        HistogramMode::Samples,
        &mut exporter_common::opentelemetry::OpenTelemetry::default(),
    );
}
