//! Exemplars on the hot path (feature `exemplars`): a timed call that ends inside a span
//! with an OpenTelemetry context may leave its trace id and span id as the exemplar of
//! the Prometheus bucket of `plugobs_plugin_operation_duration_seconds` it landed in.
//!
//! Each operation site has a small table, allocated on its first exemplar: per bucket of
//! [`OPERATION_BUCKETS`](crate::model::names::OPERATION_BUCKETS) and `+Inf`, when it was
//! last claimed (a TSC reading, shared by the site's instances), and per instance that
//! kept one, a lane of one slot per bucket, a cache line each, holding the trace id, span
//! id, value and wall-clock time of its exemplar, all atomics written under the slot's
//! sequence number (a seqlock whose writer never waits: it skips). One instance's calls
//! never replace another's exemplars; the instances of a site share its budget of one
//! new exemplar per bucket per interval.
//!
//! What a timed call pays at its end, after its bucket and sum are counted:
//!
//! - feature off: nothing (the call is not compiled in);
//! - feature on, exemplars not enabled ([`enable`] never called, or [`disable`]d): one
//!   relaxed load of a global flag and a branch;
//! - enabled, the bucket's slot claimed less than [`interval`] ago (almost every call):
//!   the flag, a search of the value among the 16 bucket bounds, one load of the table's
//!   pointer, one load of the slot's claim time, a multiply and shift (TSC ticks to
//!   nanoseconds) and a compare;
//! - enabled, the slot due: a look for the span context. First OpenTelemetry's current
//!   `Context` (a thread-local read, no lock: `tracing-opentelemetry` attaches a span's
//!   context to it while the span is entered, its default "context activation"). With a
//!   valid, sampled context: a compare-and-swap that claims the slot for the interval (a
//!   thread that loses the race does nothing more), a wall-clock read and six relaxed
//!   stores between a compare-and-swap and a store of the slot's sequence number — at
//!   most once per bucket per interval. Without one, once any call in the process found
//!   one attached (the layer attaches them): nothing more, and the slot stays due (so a
//!   later call inside a span can still be kept). Until then, a second thread-local read
//!   asks whether a `tracing` span is current: if not, nothing more; if so (a layer
//!   without context activation, or no OpenTelemetry layer at all), the slot is claimed
//!   first, then the span's context is asked of `tracing-opentelemetry`'s
//!   `OpenTelemetrySpanExt::context`, which takes `tracing-subscriber`'s lock on that
//!   span's extensions (a `RwLock` write) and builds the OpenTelemetry span if it was not
//!   built yet — so that lock is taken at most once per bucket per interval.
//!
//! The first exemplar of a site allocates its table (about 200 bytes), and the first of
//! each instance its lane (about 1 KiB), once in the process's life. plugobs itself never
//! waits on a lock here, and allocates nothing per call.
//!
//! A call whose trace is not sampled keeps nothing (its trace would not be found). The
//! span id is that of the span current when the call ends: the operation's own span for
//! an async call (its polls run inside it), the caller's span for a sync call (the body's
//! span is exited just before the call is counted); the trace id is the same either way.
//! So an async call outside any host span, whose own span the OpenTelemetry layer
//! records as a root, keeps that root's trace.
//!
//! Readers ([`read`]) copy each slot under its sequence number and retry a slot being
//! written; exemplars older than [`max_age`] are left out when rendered.

// std's atomics, not `core::sync`'s: the seqlock is not among the loom models.
use std::sync::atomic::{
    AtomicBool, AtomicU64,
    Ordering::{Acquire, Relaxed, Release},
};
use std::time::Duration;

use once_cell::race::OnceBox;

use crate::core::per_instance::PerInstance;
use crate::model::exemplar::Exemplar;
use crate::model::names::OPERATION_BUCKETS;

/// Slots of a table: one per bucket bound of the operation histogram, and `+Inf`.
pub(crate) const SLOTS: usize = OPERATION_BUCKETS.len() + 1;

/// The operation histogram's bounds in nanoseconds.
const BOUNDS_NANOS: [u64; SLOTS - 1] = {
    let mut out = [0u64; SLOTS - 1];
    let mut i = 0;
    while i < out.len() {
        out[i] = (OPERATION_BUCKETS[i] * 1e9 + 0.5) as u64;
        i += 1;
    }
    out
};

/// The default of [`interval`]: 10 s.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// The default of [`max_age`]: 5 minutes.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

static ON: AtomicBool = AtomicBool::new(false);
static INTERVAL_NANOS: AtomicU64 = AtomicU64::new(DEFAULT_INTERVAL.as_nanos() as u64);
static MAX_AGE_NANOS: AtomicU64 = AtomicU64::new(DEFAULT_MAX_AGE.as_nanos() as u64);

/// Turns exemplars on: from now on, timed calls that end inside a span with a sampled
/// OpenTelemetry context leave exemplars (at most one per bucket per [`interval`]). Off
/// by default: until then a timed call pays one load of a flag for them.
///
/// Install a `tracing-opentelemetry` layer too, or no call has a context to keep.
///
/// ```
/// plugobs_runtime::exemplars::enable();
/// assert!(plugobs_runtime::exemplars::is_enabled());
/// plugobs_runtime::exemplars::disable();
/// assert!(!plugobs_runtime::exemplars::is_enabled());
/// ```
pub fn enable() {
    ON.store(true, Relaxed);
}

/// Turns exemplars off: calls keep none, those kept stay until they age out.
pub fn disable() {
    ON.store(false, Relaxed);
}

/// Whether [`enable`] was called (and [`disable`] not since).
pub fn is_enabled() -> bool {
    ON.load(Relaxed)
}

/// Each bucket of each operation keeps at most one new exemplar per `interval`
/// ([`DEFAULT_INTERVAL`] unless set). `Duration::ZERO` lets every due call replace the
/// last one (tests).
///
/// ```
/// use std::time::Duration;
/// plugobs_runtime::exemplars::set_interval(Duration::from_secs(30));
/// assert_eq!(plugobs_runtime::exemplars::interval(), Duration::from_secs(30));
/// # plugobs_runtime::exemplars::set_interval(plugobs_runtime::exemplars::DEFAULT_INTERVAL);
/// ```
pub fn set_interval(interval: Duration) {
    INTERVAL_NANOS.store(saturating_nanos(interval), Relaxed);
}

/// The interval set by [`set_interval`].
pub fn interval() -> Duration {
    Duration::from_nanos(INTERVAL_NANOS.load(Relaxed))
}

/// Exemplars older than `max_age` ([`DEFAULT_MAX_AGE`] unless set) are no longer
/// exposed: a bucket no call landed in lately shows none.
pub fn set_max_age(max_age: Duration) {
    MAX_AGE_NANOS.store(saturating_nanos(max_age), Relaxed);
}

/// The age set by [`set_max_age`].
pub fn max_age() -> Duration {
    Duration::from_nanos(MAX_AGE_NANOS.load(Relaxed))
}

fn saturating_nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The position of the bucket a value (ns) is exposed in: the first bound at or above
/// it, or [`SLOTS`]` - 1` for `+Inf`.
#[inline(always)]
pub(crate) fn slot_of(nanos: u64) -> usize {
    let mut i = 0;
    while i < BOUNDS_NANOS.len() && nanos > BOUNDS_NANOS[i] {
        i += 1;
    }
    i
}

/// One bucket's exemplar of one instance. A cache line: two are never written by one
/// store.
#[derive(Default)]
#[repr(align(64))]
struct Slot {
    /// Odd while a writer writes; 0: never written.
    seq: AtomicU64,
    trace_hi: AtomicU64,
    trace_lo: AtomicU64,
    span: AtomicU64,
    value: AtomicU64,
    unix: AtomicU64,
}

/// The exemplar slots of one operation site: when each bucket was last claimed (shared
/// by the site's instances: at most one exemplar per bucket per interval per site), and
/// each instance's own exemplars, so that one instance's calls never replace another's.
#[derive(Default)]
pub(crate) struct ExemplarTable {
    /// Per bucket, the TSC reading of its last claim; 0: never claimed.
    claimed: [AtomicU64; SLOTS],
    /// Per instance slot, its exemplars by bucket; allocated on its first.
    lanes: PerInstance<Box<[Slot; SLOTS]>>,
}

/// The table of one site: allocated on its first exemplar.
pub(crate) type Table = OnceBox<ExemplarTable>;

/// A timed call of `nanos` ended at the TSC reading `end`: keeps its span context as the
/// exemplar of its bucket if exemplars are on, the bucket is due and a context exists.
/// `instance` tells which instance slot the call ran on (asked only when keeping one).
#[inline(always)]
pub(crate) fn offer(
    table: &Table,
    clock: &quanta::Clock,
    nanos: u64,
    end: u64,
    instance: impl FnOnce() -> usize,
) {
    if !ON.load(Relaxed) {
        return;
    }
    let at = slot_of(nanos);
    if let Some(t) = table.get() {
        let last = t.claimed[at].load(Relaxed);
        if last != 0 && clock.delta_as_nanos(last, end) < INTERVAL_NANOS.load(Relaxed) {
            return;
        }
    }
    capture(table, clock, at, nanos, end, instance);
}

/// The due path: claims the slot, looks for a context, writes the exemplar.
#[cold]
#[inline(never)]
fn capture(
    table: &Table,
    clock: &quanta::Clock,
    at: usize,
    nanos: u64,
    end: u64,
    instance: impl FnOnce() -> usize,
) {
    let t = match table.get() {
        Some(t) => t,
        None => crate::core::running::outside(|| table.get_or_init(Box::default)),
    };
    let claimed = &t.claimed[at];
    let last = claimed.load(Relaxed);
    if last != 0 && clock.delta_as_nanos(last, end) < INTERVAL_NANOS.load(Relaxed) {
        return;
    }
    let ids = match context::attached() {
        Some(ids) => claim(claimed, last, end).then_some(ids),
        // No context attached, in a process where the layer attaches them (some call
        // found one): nothing to keep, nothing claimed (a call inside a span may come
        // next). One thread-local read.
        None if context::activation_seen() => None,
        // Not yet seen: the layer may not attach contexts. No span current (a second
        // thread-local read): nothing, nothing claimed.
        None if !context::in_span() => None,
        // A span but no context attached: asked of the layer below once the slot is
        // claimed, so its lock is taken at most once per bucket per interval.
        None if claim(claimed, last, end) => context::of_current_span(),
        None => None,
    };
    let Some((trace_id, span_id)) = ids else {
        return;
    };
    // Slots are below MAX_INSTANCE_NAMES: a lane is always found.
    let Some(lane) = t.lanes.get_or_init(instance(), Box::default) else {
        return;
    };
    write(&lane[at], trace_id, span_id, nanos, now_unix_nanos());
}

/// Claims `slot` for this interval: one caller per bucket per interval goes on. A TSC
/// reading is never 0.
fn claim(claimed: &AtomicU64, last: u64, end: u64) -> bool {
    claimed
        .compare_exchange(last, end.max(1), Relaxed, Relaxed)
        .is_ok()
}

/// Writes an exemplar under the slot's sequence number; skips if another writer is in.
fn write(slot: &Slot, trace_id: u128, span_id: u64, nanos: u64, unix: u64) {
    let seq = slot.seq.load(Relaxed);
    if seq & 1 == 1
        || slot
            .seq
            .compare_exchange(seq, seq.wrapping_add(1), Relaxed, Relaxed)
            .is_err()
    {
        return;
    }
    std::sync::atomic::fence(Release);
    slot.trace_hi.store((trace_id >> 64) as u64, Relaxed);
    slot.trace_lo.store(trace_id as u64, Relaxed);
    slot.span.store(span_id, Relaxed);
    slot.value.store(nanos, Relaxed);
    slot.unix.store(unix, Relaxed);
    slot.seq.store(seq.wrapping_add(2), Release);
}

/// A consistent copy of a slot's exemplar, if it has one.
fn read_slot(slot: &Slot) -> Option<Exemplar> {
    for _ in 0..64 {
        let before = slot.seq.load(Acquire);
        if before == 0 {
            return None;
        }
        if before & 1 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let trace_id = (u128::from(slot.trace_hi.load(Relaxed)) << 64)
            | u128::from(slot.trace_lo.load(Relaxed));
        let exemplar = Exemplar {
            trace_id,
            span_id: slot.span.load(Relaxed),
            value_nanos: slot.value.load(Relaxed),
            unix_nanos: slot.unix.load(Relaxed),
        };
        std::sync::atomic::fence(Acquire);
        if slot.seq.load(Relaxed) == before {
            return Some(exemplar);
        }
    }
    None
}

/// The exemplars a site keeps for instance `instance`: (bucket position, exemplar), in
/// bucket order, whatever their age.
pub(crate) fn read(table: &Table, instance: usize) -> Vec<(usize, Exemplar)> {
    let Some(lane) = table.get().and_then(|t| t.lanes.get(instance)) else {
        return Vec::new();
    };
    lane.iter()
        .enumerate()
        .filter_map(|(at, slot)| Some((at, read_slot(slot)?)))
        .collect()
}

/// Merges `more` into `into` (both in bucket order): per bucket, the newer exemplar.
pub(crate) fn merge(into: &mut Vec<(usize, Exemplar)>, more: Vec<(usize, Exemplar)>) {
    for (at, e) in more {
        match into.binary_search_by_key(&at, |(a, _)| *a) {
            Ok(i) if into[i].1.unix_nanos < e.unix_nanos => into[i].1 = e,
            Ok(_) => {}
            Err(i) => into.insert(i, (at, e)),
        }
    }
}

/// Whether an exemplar is recent enough to expose, at `now` (Unix nanoseconds).
pub(crate) fn is_fresh(e: &Exemplar, now_unix_nanos: u64) -> bool {
    !e.is_older_than(max_age(), now_unix_nanos)
}

/// Now, in nanoseconds since the Unix epoch.
pub(crate) fn now_unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, saturating_nanos)
}

/// The current span context's ids, if sampled.
mod context {
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

    use opentelemetry::trace::{SpanContext, TraceContextExt};
    use tracing_opentelemetry::OpenTelemetrySpanExt;

    /// The (trace id, span id) of the OpenTelemetry context attached to this thread, if
    /// valid and sampled: `tracing-opentelemetry` attaches a span's context while the span
    /// is entered (its default "context activation"). A thread-local read, no lock.
    pub(super) fn attached() -> Option<(u128, u64)> {
        let ids = opentelemetry::Context::map_current(|cx| ids(cx.span().span_context()));
        if ids.is_some() && !ACTIVATION_SEEN.load(Relaxed) {
            ACTIVATION_SEEN.store(true, Relaxed);
        }
        ids
    }

    /// Set once a context was found attached: the layer attaches them, so a call with
    /// none attached has none, and the layer need not be asked.
    static ACTIVATION_SEEN: AtomicBool = AtomicBool::new(false);

    /// Whether some call found a context attached to its thread.
    pub(super) fn activation_seen() -> bool {
        ACTIVATION_SEEN.load(Relaxed)
    }

    /// Whether a `tracing` span is current on this thread.
    pub(super) fn in_span() -> bool {
        // The dispatcher's current span, not `Span::current()`: no handle is cloned.
        tracing::dispatcher::has_been_set()
            && tracing::dispatcher::get_default(|d| d.current_span().id().is_some())
    }

    /// The ids of the current `tracing` span's OpenTelemetry context, asked of the layer
    /// (without context activation): `tracing-subscriber` locks the span's extensions.
    pub(super) fn of_current_span() -> Option<(u128, u64)> {
        ids(tracing::Span::current().context().span().span_context())
    }

    fn ids(sc: &SpanContext) -> Option<(u128, u64)> {
        (sc.is_valid() && sc.is_sampled()).then(|| {
            (
                u128::from_be_bytes(sc.trace_id().to_bytes()),
                u64::from_be_bytes(sc.span_id().to_bytes()),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_go_to_the_first_bound_at_or_above_them() {
        // (nanoseconds, bucket position): bounds 10 µs, 25 µs, … 1 s, then +Inf.
        let cases: &[(u64, usize)] = &[
            (0, 0),
            (10_000, 0),
            (10_001, 1),
            (25_000, 1),
            (4_300_000, 8),
            (1_000_000_000, 15),
            (1_000_000_001, 16),
            (u64::MAX, 16),
        ];
        for (nanos, expected) in cases {
            assert_eq!(slot_of(*nanos), *expected, "{nanos}");
        }
        assert_eq!(BOUNDS_NANOS[0], 10_000);
        assert_eq!(BOUNDS_NANOS[SLOTS - 2], 1_000_000_000);
    }

    #[test]
    fn a_written_slot_reads_back_and_a_busy_writer_is_skipped() {
        let slot = Slot::default();
        assert_eq!(read_slot(&slot), None);
        write(&slot, u128::MAX - 1, 7, 42, 1_000);
        let e = Exemplar {
            trace_id: u128::MAX - 1,
            span_id: 7,
            value_nanos: 42,
            unix_nanos: 1_000,
        };
        assert_eq!(read_slot(&slot), Some(e));
        // A writer in the middle (odd sequence): another one skips, readers give up.
        slot.seq.store(3, Relaxed);
        write(&slot, 1, 1, 1, 1);
        assert_eq!(slot.trace_lo.load(Relaxed), u64::MAX - 1);
        assert_eq!(read_slot(&slot), None);
    }

    #[test]
    fn merging_keeps_the_newer_per_bucket() {
        let e = |unix_nanos| Exemplar {
            trace_id: 1,
            span_id: 1,
            value_nanos: 1,
            unix_nanos,
        };
        let mut into = vec![(1, e(5)), (4, e(5))];
        merge(&mut into, vec![(0, e(1)), (1, e(9)), (4, e(2))]);
        assert_eq!(into, vec![(0, e(1)), (1, e(9)), (4, e(5))]);
    }
}
