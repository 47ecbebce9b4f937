//! The bridge through metrics-exporter-prometheus installed as the global recorder with
//! `install_recorder` (the exporter's own storage and rendering, not plugobs' direct
//! renderer `plugobs::prometheus::install`): after each of six flushes, with calls before
//! some and none before others, every rendered counter is plugobs' exact total and every
//! gauge its value. The scenario is in `exporter_common`.
//!
//! One test in this binary: the global recorder and the global registry are per process.

mod exporter_common;

use plugobs::bridge::HistogramMode;

#[test]
fn the_prometheus_exporter_holds_exact_totals_after_every_flush() {
    exporter_common::run(
        HistogramMode::Buckets,
        &mut exporter_common::prometheus::Prometheus::default(),
    );
}
