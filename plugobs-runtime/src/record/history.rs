//! What an instance's record keeps over time: samples of its operation totals, read as a
//! window by the health policy (error ratio, p99) and by utilization (busy ratio).

use std::time::Instant;

use crate::core::snapshot::HistogramSnapshot;

/// A plugin's operation totals at one moment.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    pub(crate) at: Instant,
    pub(crate) calls: u64,
    pub(crate) failed: u64,
    pub(crate) latency: HistogramSnapshot,
}

impl Sample {
    pub(crate) fn zero(at: Instant) -> Sample {
        Sample {
            at,
            calls: 0,
            failed: 0,
            latency: HistogramSnapshot::default(),
        }
    }
}
