//! What an instance's record keeps over time: samples of its operation totals, read as a
//! window by the health policy (error ratio and p99 over the policy's window) and by
//! utilization (the busy ratio over the last minute). One history per instance record,
//! since both readers sum over the instance's operations.
//!
//! # Memory
//!
//! A history keeps at most [`MAX_SAMPLES`] samples. A reading closer than 1/32 of the
//! longest window asked of it to the sample before the newest replaces the newest one, and samples older than that
//! window (but the one that starts it) are dropped, so a steady reader keeps about 33.
//! A sample is 40 bytes plus the instance's merged latency histogram, which holds only
//! the buckets its calls touched (a few hundred bytes for a plugin whose latencies span
//! a decade), so a record's history stays under 64 × (40 B + its histogram) whatever the
//! traffic or the uptime.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::core::snapshot::HistogramSnapshot;

/// Samples kept per record at most.
pub(crate) const MAX_SAMPLES: usize = 64;
/// The finest spacing of kept samples, as a fraction of the longest window.
const GRANULARITY: u32 = 32;

/// An instance's operation totals at one moment.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    pub(crate) at: Instant,
    /// Finished calls.
    pub(crate) calls: u64,
    /// Errors and panics.
    pub(crate) failed: u64,
    /// The exact sum of the finished calls' latencies, in nanoseconds.
    pub(crate) busy_nanos: u64,
    pub(crate) latency: HistogramSnapshot,
}

impl Sample {
    pub(crate) fn zero(at: Instant) -> Sample {
        Sample {
            at,
            calls: 0,
            failed: 0,
            busy_nanos: 0,
            latency: HistogramSnapshot::default(),
        }
    }
}

/// The samples of one instance, oldest first.
#[derive(Debug, Default)]
pub(crate) struct History {
    samples: VecDeque<Sample>,
    /// The longest window asked of this history so far.
    longest: Duration,
}

impl History {
    /// Keeps `current` for later readers of windows up to `window` long, and returns the
    /// sample that starts the window ending at `current.at`: the newest one at least
    /// `window` older, if the history reaches that far back.
    ///
    /// A sample older than the newest one kept (another reader's clock ran ahead) is
    /// judged against the history but not kept.
    pub(crate) fn window(&mut self, current: Sample, window: Duration) -> Option<&Sample> {
        self.longest = self.longest.max(window);
        let spacing = self.longest / GRANULARITY;
        let now = current.at;
        let in_order = self.samples.back().is_none_or(|last| last.at <= now);
        if in_order {
            // The newest sample moves with the readings until it is `spacing` after the
            // one before it; then it stays, and the next reading adds one.
            let len = self.samples.len();
            if len >= 2 && now.saturating_duration_since(self.samples[len - 2].at) < spacing {
                self.samples.pop_back();
            }
            self.samples.push_back(current);
            let keep_from = now.checked_sub(self.longest);
            while self.samples.len() > MAX_SAMPLES
                || (self.samples.len() >= 2 && keep_from.is_some_and(|s| self.samples[1].at <= s))
            {
                self.samples.pop_front();
            }
        }
        let start = now.checked_sub(window)?;
        self.samples.iter().rev().find(|s| s.at <= start)
    }

    /// How many samples are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.samples.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(t0: Instant, secs: u64, calls: u64) -> Sample {
        Sample {
            calls,
            ..Sample::zero(t0 + Duration::from_secs(secs))
        }
    }

    #[test]
    fn the_window_starts_at_the_newest_sample_at_least_a_window_old() {
        let t0 = Instant::now();
        let mut h = History::default();
        let w = Duration::from_secs(60);
        assert!(h.window(at(t0, 0, 0), w).is_none());
        assert!(h.window(at(t0, 30, 10), w).is_none());
        assert_eq!(h.window(at(t0, 60, 20), w).map(|s| s.calls), Some(0));
        assert_eq!(h.window(at(t0, 95, 30), w).map(|s| s.calls), Some(10));
        // The sample at 0 s no longer starts any window of 60 s: dropped.
        assert_eq!(h.len(), 3);
    }

    #[test]
    fn memory_is_bounded_whatever_the_reading_rate() {
        let t0 = Instant::now();
        let mut h = History::default();
        let w = Duration::from_secs(60);
        for ms in 0..100_000u64 {
            let s = Sample {
                calls: ms,
                ..Sample::zero(t0 + Duration::from_millis(ms * 10))
            };
            let _ = h.window(s, w);
        }
        // 1 000 s of readings every 10 ms: about 33 samples span the window.
        assert!(h.len() <= 34, "{}", h.len());
        assert!(h.len() >= 32, "{}", h.len());
    }

    #[test]
    fn a_sample_from_behind_the_newest_is_judged_but_not_kept() {
        let t0 = Instant::now();
        let mut h = History::default();
        let w = Duration::from_secs(10);
        let _ = h.window(at(t0, 0, 0), w);
        let _ = h.window(at(t0, 100, 50), w);
        assert_eq!(h.window(at(t0, 20, 5), w).map(|s| s.calls), Some(0));
        assert_eq!(h.len(), 2);
    }
}
