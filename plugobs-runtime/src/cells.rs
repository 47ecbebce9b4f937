//! Lock-free aggregates: the log-linear latency histogram, and the per-thread sharded,
//! cache-padded cells an operation records into.
//!
//! Values are nanoseconds. Below 32 ns every value has its own bucket; above, each power of
//! two is split into 32 equal sub-buckets, so a bucket's midpoint is within 1/64 (≈ 1.6 %)
//! of any value in it. Values of 2^41 ns (≈ 36 minutes) and more share the last bucket.
//! All updates are relaxed atomic adds: counts are exact under any number of threads.

use std::sync::atomic::{
    AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::sync::{Mutex, OnceLock};

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
        f.debug_struct("HistogramCells")
            .field("count", &self.count.load(Relaxed))
            .finish()
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
        HistogramSnapshot {
            buckets: vec![0; BUCKETS],
            count: 0,
            sum_nanos: 0,
        }
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

impl HistogramSnapshot {
    /// A snapshot from bucket counts alone; the sum is estimated from bucket midpoints.
    pub fn from_buckets(buckets: Vec<u64>) -> Self {
        let count = buckets.iter().sum();
        let sum_nanos = buckets
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (bucket_value(i) * *n as f64) as u64)
            .sum();
        HistogramSnapshot {
            buckets,
            count,
            sum_nanos,
        }
    }
}

/// Number of error-kind slots per operation; further distinct kinds are counted under
/// [`OVERFLOW_KIND`].
pub const ERROR_KIND_SLOTS: usize = 16;
/// The `error_kind` label for kinds beyond [`ERROR_KIND_SLOTS`] distinct ones.
pub const OVERFLOW_KIND: &str = "other";

/// One thread-shard of an operation's cells, on its own cache lines.
#[repr(align(128))]
pub struct Shard {
    pub(crate) started: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) errors: [AtomicU64; ERROR_KIND_SLOTS + 1],
    pub(crate) buckets: Box<[AtomicU64]>,
}

impl Shard {
    fn new() -> Self {
        Shard {
            started: AtomicU64::new(0),
            panicked: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            errors: Default::default(),
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

/// Totals of an operation's cells, summed over shards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationTotals {
    /// Calls that finished, whatever the outcome (the histogram's count).
    pub finished: u64,
    /// Calls that started (read after `finished`, so `started >= finished`).
    pub started: u64,
    /// Calls that returned an error, per error-kind slot (the last is the overflow).
    pub errors: [u64; ERROR_KIND_SLOTS + 1],
    /// Calls that panicked.
    pub panicked: u64,
    /// Futures dropped before they finished.
    pub cancelled: u64,
    /// Latency histogram over every finished call.
    pub latency: HistogramSnapshot,
}

impl OperationTotals {
    /// Calls that returned an error of any kind.
    pub fn error_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    /// Calls that finished normally and were not errors.
    pub fn ok(&self) -> u64 {
        self.finished
            .saturating_sub(self.error_total())
            .saturating_sub(self.panicked)
            .saturating_sub(self.cancelled)
    }

    /// Calls in progress.
    pub fn in_flight(&self) -> u64 {
        self.started.saturating_sub(self.finished)
    }
}

/// How many threads get a shard of their own in each operation (allocated on the thread's
/// first call of that operation). Threads beyond share [`shard_count`] atomic shards.
pub const EXCLUSIVE_SHARDS: usize = 64;

/// The cells of one operation.
///
/// Each of the first [`EXCLUSIVE_SHARDS`] threads of the process writes only its own
/// shard, allocated on its first call: a single writer, so a counter update is a plain
/// load and store (no locked instruction) and no two threads share a cache line. Later
/// threads share a small power-of-two set of shards updated with atomic adds.
pub struct ShardedCells {
    exclusive: Box<[OnceLock<Box<Shard>>]>,
    shared: Box<[Shard]>,
    mask: usize,
}

impl std::fmt::Debug for ShardedCells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedCells")
            .field(
                "exclusive",
                &self.exclusive.iter().filter(|s| s.get().is_some()).count(),
            )
            .field("shared", &self.shared.len())
            .finish()
    }
}

/// The shared shard count: the machine's parallelism rounded up to a power of two,
/// 2 ..= 16.
pub fn shard_count() -> usize {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .next_power_of_two()
        .clamp(2, 16)
}

/// The shard a thread writes to, and whether it is the only writer.
#[derive(Clone, Copy)]
pub struct ShardRef<'a> {
    shard: &'a Shard,
    exclusive: bool,
}

impl ShardRef<'_> {
    #[inline(always)]
    fn add(self, cell: &AtomicU64, order: std::sync::atomic::Ordering) {
        if self.exclusive {
            // Single writer: nobody else stores to this cell, readers only load.
            cell.store(cell.load(Relaxed).wrapping_add(1), order);
        } else {
            cell.fetch_add(1, order);
        }
    }

    /// One call started.
    #[inline(always)]
    pub fn started(self) {
        self.add(&self.shard.started, Relaxed);
    }

    /// One call returned an error of kind slot `slot`.
    #[inline(always)]
    pub fn error(self, slot: usize) {
        self.add(&self.shard.errors[slot.min(ERROR_KIND_SLOTS)], Relaxed);
    }

    /// One call panicked.
    #[inline(always)]
    pub fn panicked(self) {
        self.add(&self.shard.panicked, Relaxed);
    }

    /// One future was dropped before it finished.
    #[inline(always)]
    pub fn cancelled(self) {
        self.add(&self.shard.cancelled, Relaxed);
    }

    /// One call finished after `nanos`; recorded last, with Release, so whoever sees it in
    /// the histogram also sees its outcome counter.
    #[inline(always)]
    pub fn finished(self, nanos: u64) {
        self.add(&self.shard.buckets[bucket_index(nanos)], Release);
    }
}

impl ShardedCells {
    /// Cells with `shared` shared shards (rounded up to a power of two).
    pub fn new(shared: usize) -> Self {
        let n = shared.max(1).next_power_of_two();
        ShardedCells {
            exclusive: (0..EXCLUSIVE_SHARDS).map(|_| OnceLock::new()).collect(),
            shared: (0..n).map(|_| Shard::new()).collect(),
            mask: n - 1,
        }
    }

    /// The shard of the thread with index `thread_index` (unique per thread, never reused).
    #[inline(always)]
    pub fn shard(&self, thread_index: usize) -> ShardRef<'_> {
        match self.exclusive.get(thread_index) {
            Some(slot) => ShardRef {
                shard: match slot.get() {
                    Some(shard) => shard,
                    None => Self::claim(slot),
                },
                exclusive: true,
            },
            None => ShardRef {
                shard: &self.shared[thread_index & self.mask],
                exclusive: false,
            },
        }
    }

    #[cold]
    #[inline(never)]
    fn claim(slot: &OnceLock<Box<Shard>>) -> &Shard {
        slot.get_or_init(|| Box::new(Shard::new()))
    }

    fn all(&self) -> impl Iterator<Item = &Shard> {
        self.exclusive
            .iter()
            .filter_map(|s| s.get().map(|b| &**b))
            .chain(self.shared.iter())
    }

    /// Sums every shard.
    pub fn totals(&self) -> OperationTotals {
        let mut buckets = vec![0u64; BUCKETS];
        let mut errors = [0u64; ERROR_KIND_SLOTS + 1];
        let (mut panicked, mut cancelled) = (0, 0);
        for shard in self.all() {
            // Buckets first, with Acquire: a call records its outcome counter before its
            // bucket (Release), so every call seen here also has its outcome seen below,
            // and `ok()` never counts an error as ok.
            for (acc, cell) in buckets.iter_mut().zip(shard.buckets.iter()) {
                *acc += cell.load(Acquire);
            }
            for (acc, cell) in errors.iter_mut().zip(shard.errors.iter()) {
                *acc += cell.load(Relaxed);
            }
            panicked += shard.panicked.load(Relaxed);
            cancelled += shard.cancelled.load(Relaxed);
        }
        let latency = HistogramSnapshot::from_buckets(buckets);
        // Read `started` after the finished counts: both only grow, so started >= finished.
        let started = self.all().map(|s| s.started.load(Relaxed)).sum();
        OperationTotals {
            finished: latency.count,
            started,
            errors,
            panicked,
            cancelled,
            latency,
        }
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
    pub fn forward(
        &self,
        destination: usize,
        current: &HistogramSnapshot,
        mut emit: impl FnMut(usize, u64),
    ) {
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
                assert!(
                    bucket_lower(i) <= v && v < bucket_lower(i) + bucket_width(i),
                    "{v}"
                );
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
    fn exclusive_and_shared_shards_add_up_exactly() {
        let cells = std::sync::Arc::new(ShardedCells::new(2));
        // Indices 0..4 own a shard each; 100.. share two shards under atomic adds.
        let threads: Vec<_> = [0usize, 1, 2, 3, 100, 101, 102, 103]
            .into_iter()
            .map(|index| {
                let cells = cells.clone();
                std::thread::spawn(move || {
                    for i in 0..50_000u64 {
                        let shard = cells.shard(index);
                        shard.started();
                        if i % 5 == 0 {
                            shard.error(0);
                        }
                        shard.finished(i % 4096);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let t = cells.totals();
        assert_eq!(
            (t.started, t.finished, t.error_total(), t.ok()),
            (400_000, 400_000, 80_000, 320_000)
        );
        assert_eq!(t.in_flight(), 0);
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
