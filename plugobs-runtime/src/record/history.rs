//! What an instance's record keeps over time: samples of its operation totals, read as a
//! window by the health policy (error ratio, p99) and by utilization (busy ratio).

use std::time::Instant;

use crate::core::snapshot::HistogramSnapshot;
use crate::record::plugin_record::PluginRecord;

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

    pub(crate) fn of(record: &PluginRecord, at: Instant) -> Sample {
        record.with_operations(|ops| {
            let mut sample = Sample::zero(at);
            for op in ops {
                let s = op.snapshot(record.slot());
                sample.calls += s.calls;
                sample.failed += s.errors + s.panics;
                sample.latency.merge(&s.latency);
            }
            sample
        })
    }
}

