//! Lock-free aggregates whose memory follows use: the log-linear latency histogram with
//! buckets allocated on first touch, and the per-thread shards an operation records into.
//!
//! Values are nanoseconds. Below 32 ns every value has its own bucket; above, each power of
//! two is split into 32 equal sub-buckets, so a bucket's midpoint is within 1/64 (≈ 1.6 %)
//! of any value in it. Values of 2^41 ns (≈ 36 minutes) and more share the last bucket.
//!
//! Memory: buckets live in chunks of 16 (half a power of two, 128 bytes), chunks in pages
//! of 16 chunks; both are allocated the first time a value falls into them. A histogram
//! that has seen nothing costs five pointers; one whose values span a few powers of two
//! costs a page and a few chunks. A [`Shard`] adds five counters and a pointer for its
//! error counters (allocated on the first error). An operation allocates a shard only for
//! a thread that calls it.
//!
//! Not public API: generated code reaches the hot path through `site`, readers through
//! `snapshot`.

use crate::core::sync::{
    AtomicU32, AtomicU64, AtomicUsize,
    Ordering::{self, Acquire, Relaxed, Release},
};
use once_cell::race::OnceBox;

use crate::core::breaker::{Breaker, Counts};
use crate::model::breaker::BreakerSettings;

const SUB_BITS: u32 = 5;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// The largest exponent with its own group of sub-buckets.
const MAX_EXP: u32 = 40;
/// Number of buckets of a histogram.
pub(crate) const BUCKETS: usize = ((MAX_EXP - SUB_BITS + 2) as usize) * SUB_COUNT as usize;

const CHUNK_BITS: usize = 4;
const CHUNK: usize = 1 << CHUNK_BITS;
const CHUNKS: usize = BUCKETS / CHUNK;
const PAGE_BITS: usize = 4;
const PAGE: usize = 1 << PAGE_BITS;
const PAGES: usize = CHUNKS.div_ceil(PAGE);

/// The bucket index of a value in nanoseconds.
#[inline(always)]
pub(crate) fn bucket_index(nanos: u64) -> usize {
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
pub(crate) fn bucket_lower(index: usize) -> u64 {
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
pub(crate) fn bucket_width(index: usize) -> u64 {
    let index = index.min(BUCKETS - 1) as u64;
    if index < SUB_COUNT {
        return 1;
    }
    let exp = (index / SUB_COUNT) as u32 + SUB_BITS - 1;
    1 << (exp - SUB_BITS)
}

/// The value (ns) that stands for bucket `index`: its midpoint.
pub(crate) fn bucket_value(index: usize) -> f64 {
    bucket_lower(index) as f64 + (bucket_width(index) as f64 - 1.0) / 2.0
}

type Chunk = [AtomicU64; CHUNK];
type Page = [OnceBox<Chunk>; PAGE];

/// Histogram buckets allocated on first touch, a chunk of 16 at a time. The first page
/// (values below about 4 µs, where fast operations fall) is inline, so those values take
/// one pointer hop; the others take two.
#[derive(Default)]
pub(crate) struct LazyBuckets {
    first: Page,
    pages: [OnceBox<Page>; PAGES - 1],
}

impl LazyBuckets {
    /// The cell of bucket `index`, allocating its page and chunk on first touch.
    #[inline(always)]
    fn cell(&self, index: usize) -> &AtomicU64 {
        let chunk = index >> CHUNK_BITS;
        let page = match chunk >> PAGE_BITS {
            0 => &self.first,
            p => {
                let page_slot = &self.pages[(p - 1).min(PAGES - 2)];
                match page_slot.get() {
                    Some(page) => page,
                    None => claim(page_slot),
                }
            }
        };
        let chunk_slot = &page[chunk & (PAGE - 1)];
        let chunk = match chunk_slot.get() {
            Some(chunk) => chunk,
            None => claim(chunk_slot),
        };
        &chunk[index & (CHUNK - 1)]
    }

    /// Calls `f(bucket, count)` for every non-zero bucket, in bucket order.
    fn for_each_nonzero(&self, mut f: impl FnMut(usize, u64)) {
        let pages = std::iter::once(Some(&self.first)).chain(self.pages.iter().map(|p| p.get()));
        for (p, page) in pages.enumerate() {
            let Some(page) = page else { continue };
            for (c, chunk) in page.iter().enumerate() {
                let Some(chunk) = chunk.get() else { continue };
                let base = ((p << PAGE_BITS) + c) << CHUNK_BITS;
                for (i, cell) in chunk.iter().enumerate() {
                    let n = cell.load(Relaxed);
                    if n > 0 {
                        f(base + i, n);
                    }
                }
            }
        }
    }

    /// Bytes allocated for pages and chunks.
    fn allocated_bytes(&self) -> usize {
        let chunks = |page: &Page| page.iter().filter(|c| c.get().is_some()).count();
        chunks(&self.first) * size_of::<Chunk>()
            + self
                .pages
                .iter()
                .filter_map(OnceBox::get)
                .map(|page| size_of::<Page>() + chunks(page) * size_of::<Chunk>())
                .sum::<usize>()
    }
}

#[cold]
#[inline(never)]
fn claim<T: Default>(slot: &OnceBox<T>) -> &T {
    // plugobs' memory, not the running plugin's.
    crate::core::running::outside(|| slot.get_or_init(Box::default))
}

/// A histogram written by many threads with atomic adds: lifecycle durations.
#[derive(Default)]
pub(crate) struct Histogram {
    buckets: LazyBuckets,
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl std::fmt::Debug for Histogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.count.load(Relaxed))
            .finish()
    }
}

impl Histogram {
    /// Records one value.
    pub(crate) fn record(&self, nanos: u64) {
        self.buckets.cell(bucket_index(nanos)).fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
        self.count.fetch_add(1, Release);
    }

    /// Values recorded so far.
    pub(crate) fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    /// A copy of the current contents.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let count = self.count.load(Acquire);
        let mut buckets = Vec::new();
        self.buckets
            .for_each_nonzero(|i, n| buckets.push((i as u32, n)));
        // The bucket sum is the snapshot's count: a value recorded while this reads may
        // be in a bucket and not yet in `count`, never the other way round.
        let _ = count;
        HistogramSnapshot::from_parts(buckets, self.sum_nanos.load(Relaxed))
    }
}

/// The most `le` bounds a [`BoundedHistogram`] takes.
const MAX_BOUNDS: usize = 15;

/// A histogram of durations counted straight into fixed upper bounds (a metric's `le`
/// bounds, in seconds): its memory is fixed when it is made, whatever values it sees,
/// where a [`Histogram`]'s follows the range of values seen. For durations whose only
/// readers are the exported buckets (health checks, one per plugin): 18 counters, no
/// allocation ever.
pub(crate) struct BoundedHistogram {
    bounds: &'static [f64],
    /// `counts[i]` counts values in `(bounds[i - 1], bounds[i]]`; the last used one, values
    /// above every bound.
    counts: [AtomicU64; MAX_BOUNDS + 1],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl std::fmt::Debug for BoundedHistogram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoundedHistogram")
            .field("bounds", &self.bounds)
            .field("count", &self.count.load(Relaxed))
            .finish()
    }
}

impl BoundedHistogram {
    /// A histogram over `bounds` (seconds, increasing, at most 15, each at least 4 %
    /// above the one before, so that each interval holds a log-linear bucket of its own).
    pub(crate) fn new(bounds: &'static [f64]) -> Self {
        debug_assert!(bounds.len() <= MAX_BOUNDS);
        debug_assert!(bounds.windows(2).all(|w| w[1] >= w[0] * 1.04));
        BoundedHistogram {
            bounds: &bounds[..bounds.len().min(MAX_BOUNDS)],
            counts: Default::default(),
            count: AtomicU64::new(0),
            sum_nanos: AtomicU64::new(0),
        }
    }

    /// Records one value.
    pub(crate) fn record(&self, nanos: u64) {
        let seconds = nanos as f64 / 1e9;
        let i = self.bounds.partition_point(|&bound| bound < seconds);
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(nanos, Relaxed);
        self.count.fetch_add(1, Release);
    }

    /// A copy of the current contents, each interval's count in one log-linear bucket
    /// that lies inside the interval (its midpoint at or below the interval's bound), so
    /// [`HistogramSnapshot::cumulative`] over the same bounds gives the exact counts. Its
    /// quantiles are only as fine as the bounds; its count and sum are exact.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let mut buckets = Vec::new();
        for (i, cell) in self.counts[..=self.bounds.len()].iter().enumerate() {
            let n = cell.load(Relaxed);
            if n == 0 {
                continue;
            }
            // Above every bound: twice the last one stands for them.
            let bound = self
                .bounds
                .get(i)
                .copied()
                .unwrap_or_else(|| self.bounds.last().copied().unwrap_or(0.0) * 2.0);
            let bound_nanos = bound * 1e9;
            let mut index = bucket_index(bound_nanos as u64);
            if index > 0 && bucket_value(index) > bound_nanos {
                index -= 1;
            }
            buckets.push((index as u32, n));
        }
        HistogramSnapshot::from_parts(buckets, self.sum_nanos.load(Relaxed))
    }
}

/// A point-in-time copy of a latency histogram: its non-empty buckets, count and exact sum.
///
/// Quantiles come from the log-linear buckets and are within about 1.6 % of the true
/// value; the count and the sum (hence the mean) are exact.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistogramSnapshot {
    /// Non-empty buckets as (bucket index, count), by increasing index.
    buckets: Vec<(u32, u64)>,
    count: u64,
    sum_nanos: u64,
}

impl HistogramSnapshot {
    fn from_parts(buckets: Vec<(u32, u64)>, sum_nanos: u64) -> Self {
        let count = buckets.iter().map(|(_, n)| n).sum();
        HistogramSnapshot {
            buckets,
            count,
            sum_nanos,
        }
    }

    /// Adds `other` into this snapshot.
    pub(crate) fn merge(&mut self, other: &HistogramSnapshot) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = other.clone();
            return;
        }
        let mut merged = Vec::with_capacity(self.buckets.len() + other.buckets.len());
        let (mut a, mut b) = (
            self.buckets.iter().peekable(),
            other.buckets.iter().peekable(),
        );
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&(i, n)), Some(&&(j, m))) => {
                    if i == j {
                        merged.push((i, n + m));
                        a.next();
                        b.next();
                    } else if i < j {
                        merged.push((i, n));
                        a.next();
                    } else {
                        merged.push((j, m));
                        b.next();
                    }
                }
                (Some(&&x), None) => {
                    merged.push(x);
                    a.next();
                }
                (None, Some(&&y)) => {
                    merged.push(y);
                    b.next();
                }
                (None, None) => break,
            }
        }
        self.buckets = merged;
        self.count += other.count;
        self.sum_nanos = self.sum_nanos.wrapping_add(other.sum_nanos);
    }

    /// The number of values recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The exact sum of the values, in nanoseconds.
    pub fn sum_nanos(&self) -> u64 {
        self.sum_nanos
    }

    /// The non-empty buckets as `(lower bound ns, upper bound ns exclusive, count)`, by
    /// increasing bound.
    pub fn buckets(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.buckets.iter().map(|&(i, n)| {
            let i = i as usize;
            let lower = bucket_lower(i);
            (lower, lower.saturating_add(bucket_width(i)), n)
        })
    }

    /// The exact mean in nanoseconds (sum / count), `None` when empty.
    pub fn mean_nanos(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum_nanos as f64 / self.count as f64)
    }

    /// The quantile `q` (0.0 ..= 1.0) in nanoseconds, within about 1.6 %; `None` when
    /// empty.
    pub fn quantile_nanos(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let q = q.clamp(0.0, 1.0);
        let rank = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for &(i, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(bucket_value(i as usize));
            }
        }
        self.max_nanos()
    }

    /// The largest value in nanoseconds (the midpoint of the highest non-empty bucket),
    /// `None` when empty.
    pub fn max_nanos(&self) -> Option<f64> {
        self.buckets.last().map(|&(i, _)| bucket_value(i as usize))
    }

    /// What was recorded since `earlier` (a previous snapshot of the same histogram): the
    /// per-bucket differences; the sum is the difference of the sums.
    pub(crate) fn since(&self, earlier: &HistogramSnapshot) -> HistogramSnapshot {
        let mut buckets = Vec::new();
        let mut before = earlier.buckets.iter().peekable();
        for &(i, n) in &self.buckets {
            while before.next_if(|&&(j, _)| j < i).is_some() {}
            let old = before.next_if(|&&(j, _)| j == i).map_or(0, |&(_, m)| m);
            if n > old {
                buckets.push((i, n - old));
            }
        }
        HistogramSnapshot::from_parts(buckets, self.sum_nanos.saturating_sub(earlier.sum_nanos))
    }

    /// The values recorded since `earlier` (a previous snapshot of the same histogram), as
    /// (bucket midpoint ns, new count) per bucket that grew.
    pub(crate) fn new_since(&self, earlier: &HistogramSnapshot) -> Vec<(f64, u64)> {
        let mut out = Vec::new();
        let mut before = earlier.buckets.iter().peekable();
        for &(i, n) in &self.buckets {
            while before.next_if(|&&(j, _)| j < i).is_some() {}
            let old = before.next_if(|&&(j, _)| j == i).map_or(0, |&(_, m)| m);
            if n > old {
                out.push((bucket_value(i as usize), n - old));
            }
        }
        out
    }

    /// Cumulative counts for the upper bounds `bounds_seconds` (increasing), as in a
    /// Prometheus histogram's `le` buckets. A log-linear bucket counts under the first
    /// bound at or above its midpoint, so a value is placed within about 1.6 % of its
    /// bound; the counts are exact. The `+Inf` bucket is [`count`](Self::count).
    pub fn cumulative(&self, bounds_seconds: &[f64]) -> Vec<u64> {
        let mut out = vec![0u64; bounds_seconds.len()];
        let mut b = 0;
        let mut running = 0u64;
        for &(i, n) in &self.buckets {
            let value = bucket_value(i as usize) / 1e9;
            while b < bounds_seconds.len() && bounds_seconds[b] < value {
                out[b] = running;
                b += 1;
            }
            running += n;
        }
        for slot in &mut out[b..] {
            *slot = running;
        }
        out
    }
}

/// Number of error-kind slots per operation; further distinct kinds are counted under
/// [`OVERFLOW_KIND`].
pub(crate) const ERROR_KIND_SLOTS: usize = 16;
/// The `error_kind` label for kinds beyond [`ERROR_KIND_SLOTS`] distinct ones.
pub(crate) const OVERFLOW_KIND: &str = "other";

type ErrorCells = [AtomicU64; ERROR_KIND_SLOTS + 1];

/// One thread's (or one shared group of threads') cells of an operation.
#[derive(Default)]
pub(crate) struct Shard {
    started: AtomicU64,
    /// Written last by a call, with Release: whoever reads it with Acquire also sees the
    /// call's outcome counter, its bucket and its sum.
    finished: AtomicU64,
    panicked: AtomicU64,
    cancelled: AtomicU64,
    /// Calls its breaker rejected (they never started).
    rejected: AtomicU64,
    sum_nanos: AtomicU64,
    /// Sampled timing: the calls still to go untimed before the next timed one.
    countdown: AtomicU32,
    errors: OnceBox<ErrorCells>,
    buckets: LazyBuckets,
}

impl Shard {
    fn allocated_bytes(&self) -> usize {
        size_of::<Shard>()
            + self.errors.get().map_or(0, |_| size_of::<ErrorCells>())
            + self.buckets.allocated_bytes()
    }
}

/// Set once any operation's cells time only some of their calls: until then readers need
/// not look for sampled operations.
static SAMPLED_SOMEWHERE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Whether any operation was ever sampled (see [`OperationCells::set_sample`]).
pub(crate) fn any_sampled() -> bool {
    SAMPLED_SOMEWHERE.load(std::sync::atomic::Ordering::Relaxed)
}

/// The shard a thread writes to, and whether it is the only writer.
#[derive(Clone, Copy)]
pub(crate) struct ShardRef<'a> {
    shard: &'a Shard,
    /// Whether this thread is the shard's only writer. A word, not a `bool`: a guard
    /// holding this is copied as words, and a byte stored then read back within a word
    /// stalls the store-to-load forwarding (measured: a few ns per call).
    exclusive: usize,
}

impl<'a> ShardRef<'a> {
    /// The shard `shard`, whose only writer this thread is if `exclusive`.
    #[inline(always)]
    pub(crate) fn new(shard: &'a Shard, exclusive: bool) -> Self {
        ShardRef {
            shard,
            exclusive: exclusive as usize,
        }
    }

    /// The shard.
    #[inline(always)]
    pub(crate) fn shard(self) -> &'a Shard {
        self.shard
    }

    /// Whether this thread is the shard's only writer.
    #[inline(always)]
    pub(crate) fn is_exclusive(self) -> bool {
        self.exclusive != 0
    }

    #[inline(always)]
    fn add(self, cell: &AtomicU64, n: u64, order: Ordering) {
        if self.exclusive != 0 {
            // Single writer: nobody else stores to this cell, readers only load.
            cell.store(cell.load(Relaxed).wrapping_add(n), order);
        } else {
            cell.fetch_add(n, order);
        }
    }

    /// One call started.
    #[inline(always)]
    pub(crate) fn started(self) {
        self.add(&self.shard.started, 1, Relaxed);
    }

    /// One call returned an error of kind slot `slot`.
    #[inline]
    pub(crate) fn error(self, slot: usize) {
        let errors = match self.shard.errors.get() {
            Some(errors) => errors,
            None => claim(&self.shard.errors),
        };
        self.add(&errors[slot.min(ERROR_KIND_SLOTS)], 1, Relaxed);
    }

    /// One call panicked.
    #[inline]
    pub(crate) fn panicked(self) {
        self.add(&self.shard.panicked, 1, Relaxed);
    }

    /// One future was dropped before it finished.
    #[inline]
    pub(crate) fn cancelled(self) {
        self.add(&self.shard.cancelled, 1, Relaxed);
    }

    /// One call was rejected by the operation's breaker.
    #[inline]
    pub(crate) fn rejected(self) {
        self.add(&self.shard.rejected, 1, Release);
    }

    /// One call finished after `nanos`; `finished` is written last, with Release, so
    /// whoever sees the call counted also sees its outcome, bucket and sum. (The call
    /// sites do it in two steps, [`ShardRef::timed`] when the call was timed, then
    /// [`ShardRef::untimed_finished`]; the tests and loom models, in one.)
    #[cfg(any(test, loom))]
    #[inline(always)]
    pub(crate) fn finished(self, nanos: u64) {
        self.timed(nanos);
        self.untimed_finished();
    }

    /// A timed call's latency: its bucket and the sum (its `finished` comes after).
    #[inline(always)]
    pub(crate) fn timed(self, nanos: u64) {
        self.add(self.shard.buckets.cell(bucket_index(nanos)), 1, Relaxed);
        self.add(&self.shard.sum_nanos, nanos, Relaxed);
    }

    /// One call finished: written last, with Release (see [`ShardRef::finished`]).
    #[inline(always)]
    pub(crate) fn untimed_finished(self) {
        self.add(&self.shard.finished, 1, Release);
    }

    /// Whether this call, of an operation timing one call in `every`, is timed: a
    /// countdown in the shard (one load and one store while it runs), reset after each
    /// timed call to a random gap of mean `every` — a random number per timed call, not
    /// per call — so that a pattern in the calls (every 4th one slow) cannot line up with
    /// the sampling. `every` ≤ 1 times every call without touching the countdown.
    #[inline(always)]
    pub(crate) fn tick(self, every: u32) -> bool {
        if every <= 1 {
            return true;
        }
        let cell = &self.shard.countdown;
        match cell.load(Relaxed) {
            0 => {
                cell.store(random_gap(every), Relaxed);
                true
            }
            n => {
                // Racy in a shared shard (two threads may time one gap): which call is
                // timed is a statistic there, not a count.
                cell.store(n - 1, Relaxed);
                false
            }
        }
    }
}

/// A gap of untimed calls uniform in `0 ..= 2 × (every − 1)` (mean `every − 1`, so one
/// call in `every` is timed on average), from this thread's xorshift generator.
#[cold]
#[inline(never)]
fn random_gap(every: u32) -> u32 {
    thread_local! {
        static STATE: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    let x = STATE
        .try_with(|state| {
            let mut x = state.get();
            if x == 0 {
                // Seeded from the cell's address and the thread index: distinct per thread.
                x = (std::ptr::from_ref(state) as usize as u32)
                    ^ (crate::core::threads::index() as u32).wrapping_mul(0x9E37_79B9)
                    | 1;
            }
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            state.set(x);
            x
        })
        .unwrap_or(every);
    let span = 2 * (every - 1) + 1;
    x % span
}

/// How many threads get a shard of their own in each operation (allocated on the thread's
/// first call of that operation). Thread indices are reused when threads exit, so this
/// bounds *live* threads, not threads ever created; beyond it, threads share
/// [`shard_count`] atomic shards.
pub(crate) const EXCLUSIVE_SHARDS: usize = 64;

/// The shared shard count: the machine's parallelism rounded up to a power of two,
/// 2 ..= 16.
pub(crate) fn shard_count() -> usize {
    std::thread::available_parallelism()
        .map_or(4, |n| n.get())
        .next_power_of_two()
        .clamp(2, 16)
}

/// Totals of an operation's cells, summed over shards.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct OperationTotals {
    /// Calls that finished, whatever the outcome.
    pub(crate) finished: u64,
    /// Calls that started (read after `finished`, so `started >= finished`).
    pub(crate) started: u64,
    /// Calls that returned an error, per error-kind slot (the last is the overflow).
    pub(crate) errors: [u64; ERROR_KIND_SLOTS + 1],
    /// Calls that panicked.
    pub(crate) panicked: u64,
    /// Futures dropped before they finished.
    pub(crate) cancelled: u64,
    /// Calls the breaker rejected.
    pub(crate) rejected: u64,
    /// Latency histogram over every finished call.
    pub(crate) latency: HistogramSnapshot,
}

/// The cells of one operation site: a shard per calling thread, allocated on the thread's
/// first call; threads beyond [`EXCLUSIVE_SHARDS`] live ones share a few atomic shards,
/// also allocated on first use.
pub(crate) struct OperationCells {
    /// Sampled timing: one call in this many is timed (1: every call); see
    /// [`ShardRef::tick`]. Set from the operation's and its plugin's settings
    /// ([`crate::core::sampling`]).
    pub(crate) sample: AtomicU32,
    /// The exclusive shard slots of the first [`SLOT_GROUP`] thread indices, inline: most
    /// processes' calling threads, found in one load.
    first: SlotGroup,
    /// The exclusive shard slots of the other indices, in groups of [`SLOT_GROUP`], each
    /// group allocated when one of its threads first calls.
    exclusive: [OnceBox<SlotGroup>; EXCLUSIVE_SHARDS / SLOT_GROUP - 1],
    shared: Box<[OnceBox<Shard>]>,
    mask: usize,
    /// One past the highest exclusive slot ever claimed: readers scan only below it.
    high_water: AtomicUsize,
    /// The circuit breaker of an operation that declares one (see
    /// [`crate::model::breaker`]).
    pub(crate) breaker: Option<Box<Breaker>>,
}

/// Exclusive shard slots are allocated this many at a time.
const SLOT_GROUP: usize = 8;
type SlotGroup = [OnceBox<Shard>; SLOT_GROUP];

impl std::fmt::Debug for OperationCells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationCells")
            .field("shards", &self.shards().count())
            .finish()
    }
}

impl OperationCells {
    /// Cells with `shared` shared shards (rounded up to a power of two), timing one call
    /// in `every`.
    pub(crate) fn with_sample(shared: usize, every: u32) -> Self {
        let cells = Self::new(shared);
        cells.set_sample(every);
        cells
    }

    /// These cells with a breaker of `settings` (`Some(None)`: declared, turned off by the
    /// host; `None`: none declared).
    pub(crate) fn with_breaker(mut self, settings: Option<Option<BreakerSettings>>) -> Self {
        self.breaker = settings.map(|s| Box::new(Breaker::new(s)));
        self
    }

    /// Times one call in `every` from now on.
    pub(crate) fn set_sample(&self, every: u32) {
        if every > 1 {
            SAMPLED_SOMEWHERE.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.sample.store(every.max(1), Relaxed);
    }

    /// Cells with `shared` shared shards (rounded up to a power of two).
    pub(crate) fn new(shared: usize) -> Self {
        let n = shared.max(1).next_power_of_two();
        OperationCells {
            sample: AtomicU32::new(1),
            first: Default::default(),
            exclusive: Default::default(),
            shared: (0..n).map(|_| OnceBox::new()).collect(),
            mask: n - 1,
            high_water: AtomicUsize::new(0),
            breaker: None,
        }
    }

    /// The shard of the thread with index `thread_index` (see `crate::core::threads`).
    #[inline(always)]
    pub(crate) fn shard(&self, thread_index: usize) -> ShardRef<'_> {
        if let Some(slot) = self.first.get(thread_index) {
            return ShardRef {
                shard: match slot.get() {
                    Some(shard) => shard,
                    None => self.claim_exclusive(thread_index),
                },
                exclusive: 1,
            };
        }
        match self.exclusive.get(thread_index / SLOT_GROUP - 1) {
            Some(group) => {
                let shard = group
                    .get()
                    .and_then(|g| g[thread_index % SLOT_GROUP].get())
                    .unwrap_or_else(|| self.claim_exclusive(thread_index));
                ShardRef {
                    shard,
                    exclusive: 1,
                }
            }
            None => {
                let slot = &self.shared[thread_index & self.mask];
                ShardRef {
                    shard: match slot.get() {
                        Some(shard) => shard,
                        None => claim(slot),
                    },
                    exclusive: 0,
                }
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn claim_exclusive(&self, index: usize) -> &Shard {
        let group = match index / SLOT_GROUP {
            0 => &self.first,
            g => claim(&self.exclusive[g - 1]),
        };
        let shard = claim(&group[index % SLOT_GROUP]);
        self.high_water.fetch_max(index + 1, Release);
        shard
    }

    /// Whether `shard` is one of these cells' (feature `exemplars`: which instance a
    /// call that keeps an exemplar ran on).
    #[cfg(feature = "exemplars")]
    pub(crate) fn holds(&self, shard: &Shard) -> bool {
        self.shards().any(|s| std::ptr::eq(s, shard))
    }

    fn shards(&self) -> impl Iterator<Item = &Shard> {
        let high = self.high_water.load(Acquire).min(EXCLUSIVE_SHARDS);
        let groups = high.div_ceil(SLOT_GROUP);
        std::iter::once(&self.first)
            .take(groups)
            .chain(
                self.exclusive[..groups.saturating_sub(1)]
                    .iter()
                    .filter_map(OnceBox::get),
            )
            .flat_map(|group| group.iter())
            .chain(self.shared.iter())
            .filter_map(|s| s.get())
    }

    /// A number that changes whenever a call starts or finishes: compare two readings to
    /// learn, in one load per shard, whether anything happened in between.
    pub(crate) fn fingerprint(&self) -> u64 {
        self.shards().fold(0u64, |acc, s| {
            acc.wrapping_add(s.finished.load(Acquire))
                .wrapping_add(s.started.load(Relaxed).rotate_left(32))
        })
    }

    /// Calls rejected by the breaker, summed over shards.
    pub(crate) fn rejected(&self) -> u64 {
        self.shards().map(|s| s.rejected.load(Acquire)).sum()
    }

    /// Sums every shard.
    pub(crate) fn totals(&self) -> OperationTotals {
        sum_shards(|| self.shards())
    }

    /// Bytes allocated for this operation's cells.
    pub(crate) fn allocated_bytes(&self) -> usize {
        size_of::<Self>()
            + self.shared.len() * size_of::<OnceBox<Shard>>()
            + self.exclusive.iter().filter(|g| g.get().is_some()).count() * size_of::<SlotGroup>()
            + self.shards().map(Shard::allocated_bytes).sum::<usize>()
    }
}

impl Counts for OperationCells {
    /// Calls that ended and were not cancelled, and failures among them: the counters
    /// only, no histogram.
    fn decided(&self) -> (u64, u64) {
        let (mut ended, mut failed) = (0u64, 0u64);
        for shard in self.shards() {
            let finished = shard.finished.load(Acquire);
            let errors: u64 = shard
                .errors
                .get()
                .map_or(0, |e| e.iter().map(|c| c.load(Relaxed)).sum());
            let panicked = shard.panicked.load(Relaxed);
            ended += finished.saturating_sub(shard.cancelled.load(Relaxed));
            failed += errors + panicked;
        }
        (ended, failed)
    }
}

/// Sums shards: `finished` of each first, `started` of all after.
pub(crate) fn sum_shards<'a, I: Iterator<Item = &'a Shard>>(
    shards: impl Fn() -> I,
) -> OperationTotals {
    let mut t = OperationTotals::default();
    let mut finished = 0u64;
    for shard in shards() {
        // `finished` first, with Acquire: a call writes its outcome, bucket and sum
        // before it (Release), so every call counted here has its outcome counted
        // below, and an error is never read as ok.
        finished += shard.finished.load(Acquire);
        if let Some(errors) = shard.errors.get() {
            for (acc, cell) in t.errors.iter_mut().zip(errors.iter()) {
                *acc += cell.load(Relaxed);
            }
        }
        t.panicked += shard.panicked.load(Relaxed);
        t.cancelled += shard.cancelled.load(Relaxed);
        t.rejected += shard.rejected.load(Acquire);
        let mut buckets = Vec::new();
        shard
            .buckets
            .for_each_nonzero(|i, n| buckets.push((i as u32, n)));
        t.latency.merge(&HistogramSnapshot::from_parts(
            buckets,
            shard.sum_nanos.load(Relaxed),
        ));
    }
    t.finished = finished;
    // `started` after every `finished`: a call (even one that moved threads) starts
    // before it finishes, so started >= finished.
    t.started = shards().map(|s| s.started.load(Relaxed)).sum();
    t
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_bounded_histogram_gives_exact_counts_per_bound_and_never_allocates() {
        let bounds = crate::model::names::HEALTH_CHECK_BUCKETS;
        let h = BoundedHistogram::new(bounds);
        // (value ns, bucket it belongs to by the `le` rule): on a bound counts under it.
        let cases: &[(u64, usize)] = &[
            (0, 0),
            (1_000_000, 0),
            (1_000_001, 1),
            (2_500_000, 1),
            (7_000_000, 3),
            (999_999_999, 9),
            (1_000_000_000, 9),
            (10_000_000_000, 12),
            (10_000_000_001, 13),
            (u64::MAX / 2, 13),
        ];
        for (value, _) in cases {
            h.record(*value);
        }
        let mut expected = vec![0u64; bounds.len()];
        for (_, bucket) in cases {
            for n in expected.iter_mut().skip(*bucket) {
                *n += 1;
            }
        }
        let snapshot = h.snapshot();
        assert_eq!(snapshot.cumulative(bounds), expected);
        assert_eq!(snapshot.count(), cases.len() as u64);
        assert_eq!(
            snapshot.sum_nanos(),
            cases
                .iter()
                .map(|(v, _)| v)
                .fold(0u64, |a, v| a.wrapping_add(*v))
        );
    }

    #[test]
    fn since_is_what_was_recorded_in_between() {
        let h = Histogram::default();
        for v in [1_000, 2_000, 1_000_000] {
            h.record(v);
        }
        let earlier = h.snapshot();
        for v in [2_000, 5_000_000_000, 5_000_000_000] {
            h.record(v);
        }
        let window = h.snapshot().since(&earlier);
        assert_eq!(window.count(), 3);
        assert_eq!(window.sum_nanos(), 10_000_002_000);
        let p99 = window.quantile_nanos(0.99).unwrap();
        assert!((p99 - 5e9).abs() < 5e9 * 0.02, "{p99}");
        let p10 = window.quantile_nanos(0.1).unwrap();
        assert!((p10 - 2e3).abs() < 2e3 * 0.02, "{p10}");
        assert_eq!(h.snapshot().since(&h.snapshot()).count(), 0);
    }

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
        assert_eq!(CHUNKS * CHUNK, BUCKETS);
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
    fn every_bucket_is_reachable_through_pages_and_chunks() {
        let b = LazyBuckets::default();
        for i in 0..BUCKETS {
            b.cell(i).fetch_add(i as u64 + 1, Relaxed);
        }
        let mut seen = Vec::new();
        b.for_each_nonzero(|i, n| seen.push((i, n)));
        assert_eq!(seen.len(), BUCKETS);
        assert!(seen.iter().all(|&(i, n)| n == i as u64 + 1));
    }

    #[test]
    fn memory_follows_the_range_seen() {
        let cells = OperationCells::new(2);
        let empty = cells.allocated_bytes();
        let shard = cells.shard(0);
        for v in 20..60u64 {
            shard.started();
            shard.finished(v);
        }
        let used = cells.allocated_bytes() - empty;
        // One shard (the first slot group and the shard's first page inline), three
        // chunks (20..=31, 32..=47, 48..=63).
        assert_eq!(used, size_of::<Shard>() + 3 * size_of::<Chunk>());
        assert!(used < 1024, "{used} bytes for one (operation, thread)");
        // A thread past the first group allocates its group, then its shard.
        let before = cells.allocated_bytes();
        let late = cells.shard(SLOT_GROUP + 1);
        late.started();
        late.finished(20);
        assert_eq!(
            cells.allocated_bytes() - before,
            size_of::<SlotGroup>() + size_of::<Shard>() + size_of::<Chunk>()
        );
        assert_eq!(cells.totals().finished, 41);
    }

    #[test]
    fn exclusive_and_shared_shards_add_up_exactly() {
        let cells = std::sync::Arc::new(OperationCells::new(2));
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
            (t.started, t.finished, t.errors.iter().sum::<u64>()),
            (400_000, 400_000, 80_000)
        );
        assert_eq!(t.latency.count(), 400_000);
        let expected_sum: u64 = 8 * (0..50_000u64).map(|i| i % 4096).sum::<u64>();
        assert_eq!(t.latency.sum_nanos(), expected_sum);
    }

    #[test]
    fn snapshot_stats_and_cumulative_buckets() {
        let h = Histogram::default();
        for v in [10u64, 20, 30, 2_000_000_000] {
            h.record(v);
        }
        let s = h.snapshot();
        assert_eq!(s.count(), 4);
        assert_eq!(s.sum_nanos(), 2_000_000_060);
        assert_eq!(s.mean_nanos(), Some(2_000_000_060.0 / 4.0));
        assert_eq!(s.quantile_nanos(0.5), Some(20.0));
        assert_eq!(
            s.cumulative(&[1e-9 * 15.0, 1e-6, 1.0, 10.0]),
            vec![1, 3, 3, 4]
        );
        assert_eq!(HistogramSnapshot::default().quantile_nanos(0.5), None);
        let mut merged = s.clone();
        merged.merge(&s);
        assert_eq!(merged.count(), 8);
        assert_eq!(
            merged.buckets().map(|(_, _, n)| n).collect::<Vec<_>>(),
            [2, 2, 2, 2]
        );
    }
}
