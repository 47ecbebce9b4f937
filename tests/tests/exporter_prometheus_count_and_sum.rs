//! The bridge through metrics-exporter-prometheus's `install_recorder` in
//! `HistogramMode::CountAndSum`: the scenario of `exporter_prometheus.rs`, six flushes with calls
//! before some and none before others, exact after every one.
//!
//! One test in this binary: the global recorder and the global registry are per process.

mod exporter_common;

use plugobs::bridge::HistogramMode;

#[test]
fn the_prometheus_exporter_holds_exact_totals_after_every_flush_in_count_and_sum_mode() {
    exporter_common::run(
        HistogramMode::CountAndSum,
        &mut exporter_common::prometheus::Prometheus::default(),
    );
}
