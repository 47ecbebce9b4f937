//! A timed call against its floor (issue 24): what the caller of an instrumented operation
//! pays above two raw clock reads and the stores into one thread's cells, written by hand
//! here; the same for an `async fn` that completes at once, without an `.await` (measured
//! inside its own future) and after awaiting a ready future (its body in a future of its
//! own, watched); and sampled timing (`sample = 4, 16, 64`), whose counts are checked
//! exact after the run.
//!
//! `cargo bench -p plugobs --bench clock_floor`
//!
//! Same harness as `overhead`: every variant runs interleaved, round-robin, in one process
//! (no recorder installed); each round times one batch of `N` calls per variant; the
//! report is the median ns/call per variant over the rounds and its overhead over the bare
//! call of the same kind. Then each variant on 1 and on 2 threads at once, as calls per
//! second, and the ratio. The verdicts are informational; the bench exits 1 only when a
//! count is wrong.
//!
//! Overrides: `PLUGOBS_BENCH_ROUNDS` (default 31), `PLUGOBS_BENCH_N` (default 200000).

mod common;

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::Release};
use std::sync::{Barrier, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use common::subjects::{BenchError, BenchPlugin, body};
use common::{env_usize, median};
use plugobs::{Plugin, Registry};

#[inline(never)]
fn bare(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[inline(never)]
async fn bare_async(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[inline(never)]
async fn bare_awaiting(x: u64) -> Result<u64, BenchError> {
    std::future::ready(()).await;
    body(x)
}

// ---------------------------------------------------------------------------------------
// The floor: two raw TSC reads and owner-only stores into this thread's cells — started,
// a log2 bucket, the sum, finished (Release) — with nothing else: no instance, no
// in-flight, no outcome, no lazy bucket, no shard lookup beyond a thread-local.
// ---------------------------------------------------------------------------------------

struct FloorCells {
    started: AtomicU64,
    finished: AtomicU64,
    sum: AtomicU64,
    buckets: [AtomicU64; 64],
}

thread_local! {
    static FLOOR: &'static FloorCells = Box::leak(Box::new(FloorCells {
        started: AtomicU64::new(0),
        finished: AtomicU64::new(0),
        sum: AtomicU64::new(0),
        buckets: std::array::from_fn(|_| AtomicU64::new(0)),
    }));
}

fn clock() -> &'static quanta::Clock {
    static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
    CLOCK.get_or_init(quanta::Clock::new)
}

#[inline(always)]
fn bump(cell: &AtomicU64, n: u64, order: std::sync::atomic::Ordering) {
    cell.store(cell.load(Relaxed).wrapping_add(n), order);
}

#[inline(never)]
fn floor(x: u64) -> Result<u64, BenchError> {
    let cells = FLOOR.with(|c| *c);
    let clock = clock();
    bump(&cells.started, 1, Relaxed);
    let start = clock.raw();
    let out = body(x);
    let nanos = clock.delta_as_nanos(start, clock.raw());
    bump(
        &cells.buckets[63 - (nanos | 1).leading_zeros() as usize],
        1,
        Relaxed,
    );
    bump(&cells.sum, nanos, Relaxed);
    bump(&cells.finished, 1, Release);
    out
}

// ---------------------------------------------------------------------------------------
// plugobs: async, and sampled.
// ---------------------------------------------------------------------------------------

#[plugobs::plugin(kind = "bench")]
#[derive(Default)]
pub struct AsyncBench;

#[plugobs::instrumented]
impl AsyncBench {
    #[inline(never)]
    pub async fn parse(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }

    /// The same body after awaiting a ready future: a body that may suspend runs in a
    /// future of its own, watched by the call's.
    #[inline(never)]
    pub async fn parse_awaiting(&self, x: u64) -> Result<u64, BenchError> {
        std::future::ready(()).await;
        body(x)
    }
}

#[plugobs::plugin(kind = "bench")]
#[derive(Default)]
pub struct SampledBench;

#[plugobs::instrumented]
impl SampledBench {
    #[instrumented(sample = 4)]
    #[inline(never)]
    pub fn parse4(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }

    #[instrumented(sample = 16)]
    #[inline(never)]
    pub fn parse16(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }

    #[instrumented(sample = 64)]
    #[inline(never)]
    pub fn parse64(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }
}

/// The same body behind a closed circuit breaker, either rule: the body fails one call in
/// 64, which never trips either (a million failures in a row; 50 % of the calls).
#[plugobs::plugin(kind = "bench")]
#[derive(Default)]
pub struct GuardedBench;

#[plugobs::instrumented]
impl GuardedBench {
    #[instrumented(breaker(consecutive = 1000000))]
    #[inline(never)]
    pub fn consecutive(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }

    #[instrumented(breaker)]
    #[inline(never)]
    pub fn ratio(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }
}

/// Polls a future that completes at once, with a no-op waker.
#[inline(always)]
fn poll_once<F: Future>(fut: F) -> F::Output {
    let mut cx = Context::from_waker(Waker::noop());
    match pin!(fut).poll(&mut cx) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("completes at once"),
    }
}

type Variant = (&'static str, &'static str, fn(u64) -> u64);

fn variants() -> Vec<Variant> {
    fn ok(r: Result<u64, BenchError>) -> u64 {
        r.unwrap_or(0)
    }
    vec![
        ("bare", "bare", |x| ok(bare(black_box(x)))),
        ("floor (hand-written)", "bare", |x| ok(floor(black_box(x)))),
        ("plugobs", "bare", |x| ok(BenchPlugin.parse(black_box(x)))),
        ("plugobs, closed breaker (consecutive)", "bare", |x| {
            ok(GuardedBench.consecutive(black_box(x)))
        }),
        ("plugobs, closed breaker (ratio)", "bare", |x| {
            ok(GuardedBench.ratio(black_box(x)))
        }),
        ("plugobs sample = 4", "bare", |x| {
            ok(SampledBench.parse4(black_box(x)))
        }),
        ("plugobs sample = 16", "bare", |x| {
            ok(SampledBench.parse16(black_box(x)))
        }),
        ("plugobs sample = 64", "bare", |x| {
            ok(SampledBench.parse64(black_box(x)))
        }),
        ("bare async fn, one poll", "bare async fn, one poll", |x| {
            ok(poll_once(bare_async(black_box(x))))
        }),
        (
            "plugobs async fn, one poll",
            "bare async fn, one poll",
            |x| ok(poll_once(AsyncBench.parse(black_box(x)))),
        ),
        (
            "bare async fn, .await ready",
            "bare async fn, .await ready",
            |x| ok(poll_once(bare_awaiting(black_box(x)))),
        ),
        (
            "plugobs async fn, .await ready",
            "bare async fn, .await ready",
            |x| ok(poll_once(AsyncBench.parse_awaiting(black_box(x)))),
        ),
    ]
}

fn run(f: fn(u64) -> u64, n: usize, offset: u64) {
    let mut acc = 0u64;
    for i in 0..n as u64 {
        acc = acc.wrapping_add(f(offset + i));
    }
    black_box(acc);
}

thread_local! {
    static OFFSET: Cell<u64> = const { Cell::new(1) };
}

fn main() {
    let rounds = env_usize("PLUGOBS_BENCH_ROUNDS", 31);
    let n = env_usize("PLUGOBS_BENCH_N", 200_000);
    let variants = variants();
    // Warm up: every site resolved, every shard and bucket range touched.
    for (_, _, f) in &variants {
        run(*f, 10_000, 0);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (i, (_, _, f)) in variants.iter().enumerate() {
            let offset = OFFSET.with(|o| o.replace(o.get() + n as u64));
            let start = Instant::now();
            run(*f, n, offset);
            samples[i].push(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    let median_of = |name: &str| {
        variants
            .iter()
            .position(|(v, _, _)| *v == name)
            .map(|i| medians[i])
            .expect("a variant")
    };
    println!("median ns per call over {rounds} rounds of {n}, one thread:");
    println!("  {:<38} {:>9} {:>10}", "variant", "ns/call", "overhead");
    for ((name, base, _), m) in variants.iter().zip(&medians) {
        let overhead = m - median_of(base);
        println!("  {name:<38} {m:>9.2} {overhead:>+10.2}");
    }
    let bare = median_of("bare");
    let floor = median_of("floor (hand-written)") - bare;
    let unsampled = median_of("plugobs") - bare;
    let sync_async = median_of("plugobs async fn, one poll") - median_of("bare async fn, one poll");
    println!();
    println!("targets (informational)");
    println!(
        "  plugobs overhead / floor overhead      {:>8.3}   target <= 1.15",
        unsampled / floor
    );
    println!(
        "  async overhead - sync overhead         {:>+8.2} ns target <= 2 ns",
        sync_async - unsampled
    );
    println!(
        "  the same, awaiting a ready future      {:>+8.2} ns (a body that may suspend)",
        median_of("plugobs async fn, .await ready")
            - median_of("bare async fn, .await ready")
            - unsampled
    );
    for rule in ["consecutive", "ratio"] {
        println!(
            "  closed breaker ({rule:<11}) - plugobs  {:>+8.2} ns target <= 2 ns",
            median_of(&format!("plugobs, closed breaker ({rule})")) - median_of("plugobs")
        );
    }
    println!(
        "  sample = 16 overhead                   {:>8.2} ns target <= 8 ns",
        median_of("plugobs sample = 16") - bare
    );

    // 1 and 2 threads at once: calls per second of each variant.
    println!();
    println!("calls per second, 1 thread and 2 threads at once (best of 5):");
    for (name, _, f) in &variants {
        let one = best_of(5, || throughput(*f, n, 1));
        let two = best_of(5, || throughput(*f, n, 2));
        println!(
            "  {name:<38} {:>8.1} M/s {:>8.1} M/s  x{:.2}",
            one / 1e6,
            two / 1e6,
            two / one
        );
    }

    // Every call counted exactly, sampled or not.
    let registry = Registry::from_descriptors([
        SampledBench::DESCRIPTOR,
        BenchPlugin::DESCRIPTOR,
        GuardedBench::DESCRIPTOR,
        AsyncBench::DESCRIPTOR,
    ])
    .expect("bench plugins");
    let per_variant = 10_000 + (rounds * n) as u64 + 5 * (n as u64 + 2 * n as u64);
    let stats = registry.stats();
    let mut wrong = false;
    for p in &stats.plugins {
        for o in &p.operations {
            let expected_errors = o.calls / 64; // inputs are consecutive over each batch
            println!(
                "  {}/{}: {} calls ({} expected), {} errors (~{expected_errors}), {} timed{}",
                p.name,
                o.name,
                o.calls,
                per_variant,
                o.errors,
                o.timed_calls,
                o.sampled.map_or(String::new(), |s| format!(", 1 in {s}"))
            );
            if o.calls != per_variant
                || o.ok + o.errors != o.calls
                || o.in_flight != 0
                || o.breaker.is_some_and(|b| b.trips != 0 || b.rejected != 0)
            {
                wrong = true;
            }
        }
    }
    if wrong {
        eprintln!("a count is wrong");
        std::process::exit(1);
    }
    println!("counts exact: every variant's calls = {per_variant}");
}

fn best_of(k: usize, f: impl Fn() -> f64) -> f64 {
    (0..k).map(|_| f()).fold(0.0, f64::max)
}

/// Calls per second of `f` over `threads` threads each making `n` calls at once.
fn throughput(f: fn(u64) -> u64, n: usize, threads: usize) -> f64 {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let barrier = &barrier;
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    run(f, n, (t as u64) << 40);
                    start.elapsed()
                })
            })
            .collect();
        barrier.wait();
        let slowest = handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .max()
            .expect("threads");
        (threads * n) as f64 / slowest.as_secs_f64()
    })
}
