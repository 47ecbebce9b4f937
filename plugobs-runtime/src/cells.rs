//! Lock-free aggregates: the log-linear latency histogram.
//!
//! Values are nanoseconds. Below 32 ns every value has its own bucket; above, each power of
//! two is split into 32 equal sub-buckets, so a bucket's midpoint is within 1/64 (≈ 1.6 %)
//! of any value in it. Values of 2^41 ns (≈ 36 minutes) and more share the last bucket.
//! All updates are relaxed atomic adds: counts are exact under any number of threads.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SUB_BITS: u32 = 5;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// The largest exponent with its own group of sub-buckets.
const MAX_EXP: u32 = 40;
/// Number of buckets of a histogram.
pub const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 2) as usize) * SUB_COUNT as usize;

/// The bucket index of a value in nanoseconds.
#[inline(always)]
pub fn bucket_index(nanos: u64) -> usize {
    if nanos < SUB_COUNT {
        return nanos as usize;
    }
    let exp = 63 - nanos.leading_zeros();
    if exp > MAX_EXP {
        return BUCKETS - 1;
    }
    let sub = (nanos >> (exp - SUB_BITS)) & (SUB_COUNT - 1);
    ((exp - SUB_BITS + 1) as usize) * SUB_COUNT as usize + sub as usize
}

/// The smallest value (ns) that falls into bucket `index`.
pub fn bucket_lower(index: usize) -> u64 {
    let index = index.min(BUCKETS - 1) as u64;
    if index < SUB_COUNT {
        return index;
    }
    let group = index / SUB_COUNT; // >= 1
    let sub = index % SUB_COUNT;
    let exp = group as u32 + SUB_BITS - 1;
    (SUB_COUNT + sub) << (exp - SUB_BITS)
}

/// The width (ns) of bucket `index`.
fn bucket_width(index: usize) -> u64 {
    let index = index.min(BUCKETS - 1) as u64;
    if index < SUB_COUNT {
        return 1;
    }
    let exp = (index / SUB_COUNT) as u32 + SUB_BITS - 1;
    1 << (exp - SUB_BITS)
}

/// The value (ns) that stands for bucket `index`: its midpoint.
pub fn bucket_value(index: usize) -> f64 {
    bucket_lower(index) as f64 + (bucket_width(index) as f64 - 1.0) / 2.0
}

/// An atomic log-linear histogram with its count and sum.
pub struct HistogramCells {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Default for HistogramCells {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for HistogramCells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistogramCells").field("count", &self.count.load(Relaxed)).finish()
    }
}

impl HistogramCells {
    /// An empty histogram.
    pub fn new() -> Self {
        HistogramCells {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one value.
    #[inline]
    pub fn record(&self, nanos: u64) {
        self.buckets[bucket_index(nanos)].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    /// Adds this histogram's current contents into `into`.
    pub fn add_to(&self, into: &mut HistogramSnapshot) {
        for (acc, cell) in into.buckets.iter_mut().zip(self.buckets.iter()) {
            *acc += cell.load(Relaxed);
        }
        into.count += self.count.load(Relaxed);
        into.sum_nanos += self.sum_nanos.load(Relaxed);
    }

    /// A copy of the current contents.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut s = HistogramSnapshot::empty();
        self.add_to(&mut s);
        s
    }
}

/// A point-in-time copy of one or several [`HistogramCells`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistogramSnapshot {
    pub(crate) buckets: Vec<u64>,
    pub(crate) count: u64,
    pub(crate) sum_nanos: u64,
}

impl HistogramSnapshot {
    /// A snapshot with no values.
    pub fn empty() -> Self {
        HistogramSnapshot { buckets: vec![0; BUCKETS], count: 0, sum_nanos: 0 }
    }

    /// The number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The per-bucket counts.
    pub fn buckets(&self) -> &[u64] {
        &self.buckets
    }

    /// The exact mean in nanoseconds, `None` when empty.
    pub fn mean_nanos(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_nanos as f64 / self.count as f64)
    }

    /// The quantile `q` (0.0 ..= 1.0) in nanoseconds, within about 1.6 %; `None` when
    /// empty.
    ///
    /// ```
    /// use plugobs_runtime::cells::HistogramCells;
    /// let h = HistogramCells::new();
    /// for v in 1..=1000u64 { h.record(v * 1000); }
    /// let p50 = h.snapshot().quantile_nanos(0.5).unwrap();
    /// assert!((p50 - 500_000.0).abs() / 500_000.0 < 0.02);
    /// ```
    pub fn quantile_nanos(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(bucket_value(i));
            }
        }
        self.max_nanos()
    }

    /// The largest value in nanoseconds (the midpoint of the highest non-empty bucket),
    /// `None` when empty.
    pub fn max_nanos(&self) -> Option<f64> {
        self.buckets.iter().rposition(|&n| n > 0).map(bucket_value)
    }
}

/// What part of a histogram was already forwarded, per destination.
///
/// A destination is a `metrics` recorder, identified by its address. Each destination
/// receives every value recorded after its first flush, and, on its first flush, every
/// value recorded before it, so a recorder installed late still gets a histogram whose
/// count matches the counters.
#[derive(Default)]
pub struct ExportCursors {
    sent: Mutex<Vec<(usize, Vec<u64>)>>,
}

impl std::fmt::Debug for ExportCursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExportCursors").finish_non_exhaustive()
    }
}

impl ExportCursors {
    /// Calls `emit(bucket, new_values)` for every bucket of `current` that grew since the
    /// last call for `destination`, and remembers `current` as sent.
    pub fn forward(&self, destination: usize, current: &HistogramSnapshot, mut emit: impl FnMut(usize, u64)) {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let pos = match sent.iter().position(|(d, _)| *d == destination) {
            Some(pos) => pos,
            None => {
                sent.push((destination, vec![0; BUCKETS]));
                sent.len() - 1
            }
        };
        let (_, last) = &mut sent[pos];
        for (i, (&now, before)) in current.buckets.iter().zip(last.iter_mut()).enumerate() {
            if now > *before {
                emit(i, now - *before);
                *before = now;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_monotonic_and_bounds_round_trip() {
        let mut last = 0;
        for v in (0..1_000_000u64).chain([1 << 39, (1 << 40) + 5, u64::MAX]) {
            let i = bucket_index(v);
            assert!(i >= last, "index went down at {v}");
            assert!(i < BUCKETS);
            last = i;
            if v < 1 << 41 {
                assert!(bucket_lower(i) <= v && v < bucket_lower(i) + bucket_width(i), "{v}");
            }
        }
        assert_eq!(bucket_index(u64::MAX), BUCKETS - 1);
        assert_eq!(bucket_index(31), 31);
        assert_eq!(bucket_index(32), 32);
        assert_eq!(bucket_index(64), 64);
    }

    #[test]
    fn relative_error_is_bounded() {
        for v in [33u64, 1_000, 12_345, 999_999, 123_456_789, 9_876_543_210] {
            let mid = bucket_value(bucket_index(v));
            let err = (mid - v as f64).abs() / v as f64;
            assert!(err <= 1.0 / 64.0 + 1e-9, "{v}: {err}");
        }
    }

    #[test]
    fn snapshot_stats() {
        let h = HistogramCells::new();
        for v in [10u64, 20, 30] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 3);
        assert_eq!(s.mean_nanos(), Some(20.0));
        assert_eq!(s.quantile_nanos(0.5), Some(20.0));
        assert_eq!(s.max_nanos(), Some(30.0));
        assert_eq!(HistogramSnapshot::empty().quantile_nanos(0.5), None);
    }
}
