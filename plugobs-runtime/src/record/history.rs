//! What an instance's record keeps over time: samples of its operation totals, read as a
//! window by the health policy (error ratio and p99 over the policy's window) and by
//! utilization (the busy ratio over the last minute). One history per instance record,
//! since both readers sum over the instance's operations.
//!
//! # Memory
//!
//! A history keeps at most [`MAX_SAMPLES`] samples. A reading less than 1/32 of the
//! longest window asked of it after the sample before the newest replaces the newest
//! one, and so does a reading that finds the totals unchanged since the two newest
//! samples (a run of equal totals is kept as its first and its last sample); samples
//! older than that window (but the one that starts it) are dropped. So a window starts
//! within 1/32 of its length of where it should, and a history read many times per
//! 1/32 of its window keeps about 33 samples, one read every second for a minute's
//! window (the health monitor at 1 s) about 60, an idle instance's two or three.
//!
//! A sample keeps four totals and what the instance's latency histogram *gained* since
//! the sample before it: 12 bytes per bucket touched in that interval, not per bucket
//! ever touched, so the history's size follows the spread of recent latencies and does
//! not creep up as rare outliers accumulate over the uptime. The history also holds the
//! cumulative histogram at its two newest samples. A window's latency histogram is the
//! sum of the gains after its baseline: exact, no value from before the window in it.

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

/// A kept sample: the totals at one moment, and what the latency histogram gained since
/// the kept sample before it (the oldest kept sample's is dropped: nothing reads it).
#[derive(Debug)]
struct Kept {
    at: Instant,
    calls: u64,
    failed: u64,
    busy_nanos: u64,
    latency_count: u64,
    gained: HistogramSnapshot,
}

impl Kept {
    fn same_totals(&self, other: &Kept) -> bool {
        self.calls == other.calls
            && self.failed == other.failed
            && self.busy_nanos == other.busy_nanos
            && self.latency_count == other.latency_count
    }

    fn holds(&self, sample: &Sample) -> bool {
        self.calls == sample.calls
            && self.failed == sample.failed
            && self.busy_nanos == sample.busy_nanos
            && self.latency_count == sample.latency.count()
    }
}

/// Where a window starts: the totals there, the instant they stand for, and (when asked)
/// the latency histogram of the calls that finished since.
#[derive(Debug)]
pub(crate) struct Baseline {
    pub(crate) at: Instant,
    pub(crate) calls: u64,
    pub(crate) failed: u64,
    pub(crate) busy_nanos: u64,
    /// What the latency histogram gained from the baseline to the reading.
    pub(crate) latency: Option<HistogramSnapshot>,
}

/// The samples of one instance, oldest first.
#[derive(Debug, Default)]
pub(crate) struct History {
    samples: VecDeque<Kept>,
    /// The latency histogram at the newest kept sample, and at the one before it (the
    /// newest one's gain is counted from there, again each time the newest one moves).
    newest_latency: HistogramSnapshot,
    before_newest: HistogramSnapshot,
    /// The longest window asked of this history so far.
    longest: Duration,
}

impl History {
    /// Keeps `current` for later readers of windows up to `window` long, and returns
    /// where the window ending at `current.at` starts: at the newest sample at least
    /// `window` older, if the history reaches that far back. Its instant is the window's
    /// own start when the totals held unchanged from that sample to past the start (the
    /// sample after it has the same totals), else the sample's. With `latency`, the
    /// baseline carries the latency histogram of the calls since.
    ///
    /// A sample older than the newest one kept (another reader's clock ran ahead) is
    /// judged against the history but not kept.
    pub(crate) fn window(
        &mut self,
        current: &Sample,
        window: Duration,
        latency: bool,
    ) -> Option<Baseline> {
        self.longest = self.longest.max(window);
        let now = current.at;
        let in_order = self.samples.back().is_none_or(|last| last.at <= now);
        if in_order {
            self.keep(current);
        }
        let start = now.checked_sub(window)?;
        let i = self.samples.iter().rposition(|s| s.at <= start)?;
        let base = &self.samples[i];
        let held = self
            .samples
            .get(i + 1)
            .is_some_and(|next| next.same_totals(base));
        let latency = latency.then(|| {
            let mut gained = HistogramSnapshot::default();
            for kept in self.samples.iter().skip(i + 1) {
                gained.merge(&kept.gained);
            }
            if in_order {
                // `current` is the newest kept sample: the gains after the baseline are
                // exactly what the window's calls added.
                gained
            } else {
                let at_base = self.newest_latency.since(&gained);
                current.latency.since(&at_base)
            }
        });
        Some(Baseline {
            at: if held { start } else { base.at },
            calls: base.calls,
            failed: base.failed,
            busy_nanos: base.busy_nanos,
            latency,
        })
    }

    /// Keeps `current`, newer than every kept sample.
    fn keep(&mut self, current: &Sample) {
        let spacing = self.longest / GRANULARITY;
        let now = current.at;
        // The newest sample moves with the readings until it is `spacing` after the one
        // before it; then it stays, and the next reading adds one. Unchanged totals
        // extend a run: its last sample moves with the readings.
        let len = self.samples.len();
        let close = len >= 2 && now.saturating_duration_since(self.samples[len - 2].at) < spacing;
        let run = len >= 2
            && self.samples[len - 1].same_totals(&self.samples[len - 2])
            && self.samples[len - 1].holds(current);
        if close || run {
            let _ = self.samples.pop_back();
        } else {
            self.before_newest = std::mem::take(&mut self.newest_latency);
        }
        self.samples.push_back(Kept {
            at: now,
            calls: current.calls,
            failed: current.failed,
            busy_nanos: current.busy_nanos,
            latency_count: current.latency.count(),
            gained: current.latency.since(&self.before_newest),
        });
        self.newest_latency = current.latency.clone();
        let keep_from = now.checked_sub(self.longest);
        let mut dropped = false;
        while self.samples.len() > MAX_SAMPLES
            || (self.samples.len() >= 2 && keep_from.is_some_and(|s| self.samples[1].at <= s))
        {
            let _ = self.samples.pop_front();
            dropped = true;
        }
        if dropped && self.samples.len() >= 2 {
            // Only a baseline now: its gain is never read again.
            self.samples[0].gained = HistogramSnapshot::default();
        }
    }

    /// How many samples are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.samples.len()
    }

    /// Buckets held over every kept sample's gain.
    #[cfg(test)]
    pub(crate) fn gained_buckets(&self) -> usize {
        self.samples
            .iter()
            .map(|s| s.gained.buckets().count())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cells::Histogram;

    fn at(t0: Instant, secs: u64, calls: u64) -> Sample {
        Sample {
            calls,
            ..Sample::zero(t0 + Duration::from_secs(secs))
        }
    }

    fn calls(b: Option<Baseline>) -> Option<u64> {
        b.map(|b| b.calls)
    }

    #[test]
    fn the_window_starts_at_the_newest_sample_at_least_a_window_old() {
        let t0 = Instant::now();
        let mut h = History::default();
        let w = Duration::from_secs(60);
        assert!(h.window(&at(t0, 0, 0), w, false).is_none());
        assert!(h.window(&at(t0, 30, 10), w, false).is_none());
        assert_eq!(calls(h.window(&at(t0, 60, 20), w, false)), Some(0));
        assert_eq!(calls(h.window(&at(t0, 95, 30), w, false)), Some(10));
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
            let _ = h.window(&s, w, false);
        }
        // 1 000 s of readings every 10 ms: about 33 samples span the window.
        assert!(h.len() <= 34, "{}", h.len());
        assert!(h.len() >= 32, "{}", h.len());
    }

    #[test]
    fn an_idle_instance_keeps_a_run_as_its_first_and_last_sample() {
        let t0 = Instant::now();
        let mut h = History::default();
        let w = Duration::from_secs(60);
        // Ten idle minutes, read every second: the run is two samples.
        for secs in 0..=600 {
            let _ = h.window(&at(t0, secs, 5), w, false);
        }
        assert_eq!(h.len(), 2);
        // Then busy: a sample per spacing again.
        for secs in 601..=630 {
            let _ = h.window(&at(t0, secs, 5 + secs - 600), w, false);
        }
        // The window of 60 s ending at 630 s starts inside the run: the run's totals, at
        // the window's own start (570 s), not at the run's first sample (0 s).
        let base = h.window(&at(t0, 630, 35), w, false).unwrap();
        assert_eq!(base.calls, 5);
        assert_eq!(base.at, t0 + Duration::from_secs(570));
        // Ending at 700 s, the window starts at the first busy sample at or before 640 s.
        let base = h.window(&at(t0, 700, 35), w, false).unwrap();
        assert_eq!(base.calls, 35);
        assert!(
            base.at <= t0 + Duration::from_secs(640),
            "{:?}",
            base.at - t0
        );
        assert!(h.len() <= 34, "{}", h.len());
    }

    #[test]
    fn a_sample_from_behind_the_newest_is_judged_but_not_kept() {
        let t0 = Instant::now();
        let mut h = History::default();
        let w = Duration::from_secs(10);
        let _ = h.window(&at(t0, 0, 0), w, false);
        let _ = h.window(&at(t0, 100, 50), w, false);
        assert_eq!(calls(h.window(&at(t0, 20, 5), w, false)), Some(0));
        assert_eq!(h.len(), 2);
    }

    /// A reading every second for `seconds`, each second's calls taking `latency(s)` ns;
    /// returns the cumulative histogram and the history.
    fn traffic(
        t0: Instant,
        seconds: u64,
        w: Duration,
        latency: impl Fn(u64) -> Vec<u64>,
    ) -> (Histogram, History) {
        let live = Histogram::default();
        let mut h = History::default();
        let mut n = 0;
        for sec in 0..=seconds {
            for v in latency(sec) {
                live.record(v);
                n += 1;
            }
            let sample = Sample {
                calls: n,
                latency: live.snapshot(),
                ..Sample::zero(t0 + Duration::from_secs(sec))
            };
            let _ = h.window(&sample, w, false);
        }
        (live, h)
    }

    #[test]
    fn the_windows_latency_is_exactly_what_its_calls_added() {
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        // Minute one at 1 µs, then 30 s at 1 ms, then 60 s at 10 µs.
        let speed = |s: u64| match s {
            0..=60 => vec![1_000; 10],
            61..=90 => vec![1_000_000; 10],
            _ => vec![10_000; 10],
        };
        let (live, mut h) = traffic(t0, 150, w, speed);
        let now = Sample {
            calls: live.count(),
            latency: live.snapshot(),
            ..Sample::zero(t0 + Duration::from_secs(150))
        };
        let base = h.window(&now, w, true).unwrap();
        let latency = base.latency.unwrap();
        // The window (90 s, 150 s] holds the 10 µs calls only, plus those of the second
        // its baseline sample stands for; never a 1 ms call from before it.
        let baseline_at = base.at.duration_since(t0).as_secs();
        assert!((88..=90).contains(&baseline_at), "{baseline_at}");
        assert_eq!(latency.count(), (150 - baseline_at) * 10);
        assert_eq!(latency.sum_nanos(), (150 - baseline_at) * 10 * 10_000);
        // Read by a reader whose clock is behind (judged, not kept): the same rule.
        let behind = Sample {
            calls: live.count(),
            latency: live.snapshot(),
            ..Sample::zero(t0 + Duration::from_secs(149))
        };
        let base = h.window(&behind, Duration::from_secs(30), true).unwrap();
        assert_eq!(
            base.latency.unwrap().count(),
            live.count() - base.calls,
            "the calls after the baseline"
        );
    }

    #[test]
    fn the_history_keeps_what_each_interval_touched_not_every_bucket_ever_seen() {
        let t0 = Instant::now();
        let w = Duration::from_secs(60);
        // Ten minutes whose latencies drift over 600 distinct buckets: a copy of the
        // cumulative histogram per sample would hold ~600 buckets each by the end.
        let (_, h) = traffic(t0, 600, w, |s| vec![100_000 + s * 4_000]);
        // A reading a second, a minute's window: a sample per second.
        assert!((60..=MAX_SAMPLES).contains(&h.len()), "{}", h.len());
        // One bucket per sample (the second it stands for), none for the baseline.
        assert!(h.gained_buckets() <= h.len(), "{}", h.gained_buckets());
    }
}
