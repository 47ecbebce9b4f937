//! The bridge through metrics-exporter-dogstatsd installed as the global recorder,
//! sending to a UDP socket this test reads: after each of six flushes, with calls before
//! some and none before others, the sum of the counter deltas on the wire for every
//! series is plugobs' exact total, and the last gauge value its value. What the wire
//! carries in each histogram mode, and how the test knows a flush is all on the wire
//! without sleeping, is in `exporter_common/dogstatsd.rs`; the scenario in
//! `exporter_common`. `exporter_dogstatsd_samples` runs it with histograms as samples.
//!
//! One test in this binary: the global recorder and the global registry are per process.

mod exporter_common;

use plugobs::bridge::HistogramMode;

#[test]
fn the_dogstatsd_wire_sums_to_exact_totals_after_every_flush() {
    exporter_common::run(
        HistogramMode::Buckets,
        &mut exporter_common::dogstatsd::DogStatsD::listen(),
    );
}
