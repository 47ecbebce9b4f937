//! `exporter_dogstatsd` with histograms forwarded as samples
//! (`HistogramMode::Samples`): each operation's latency goes on the wire as DogStatsD
//! distribution values, exactly one per call (summing to plugobs' `_sum` within 2 %),
//! and the counters and gauges stay exact.
//!
//! One test in this binary: the global recorder and the global registry are per process.

mod exporter_common;

use plugobs::bridge::HistogramMode;

#[test]
fn the_dogstatsd_wire_carries_one_distribution_value_per_call() {
    exporter_common::run(
        HistogramMode::Samples,
        &mut exporter_common::dogstatsd::DogStatsD::listen(),
    );
}
