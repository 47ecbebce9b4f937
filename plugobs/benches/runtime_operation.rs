//! A call through a run-time operation handle (issue 27) against the same operation as an
//! `#[instrumented]` method: what a plugin registered at run time (a WebAssembly module,
//! say) pays per call above one whose code was linked in. Target: within 2 ns.
//!
//! `cargo bench -p plugobs --bench runtime_operation`
//!
//! Same harness as `clock_floor`: every variant runs interleaved, round-robin, in one
//! process (no recorder installed); each round times one batch of `N` calls per variant;
//! the report is the median ns/call per variant over the rounds, its overhead over the
//! bare call of the same kind, and the handle's cost minus the instrumented method's (the
//! sync call, the call with a classifier, and an `async` body polled once). The verdicts
//! are informational; the bench exits 1 only when a count is wrong.
//!
//! Overrides: `PLUGOBS_BENCH_ROUNDS` (default 31), `PLUGOBS_BENCH_N` (default 200000).

mod common;

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use common::subjects::{BenchError, BenchPlugin, body};
use common::{env_usize, median};
use plugobs::{OperationHandle, Outcome, PluginSpec};

#[inline(never)]
fn bare(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[inline(never)]
async fn bare_async(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[plugobs::plugin(kind = "bench")]
#[derive(Default)]
pub struct AsyncLinked;

#[plugobs::instrumented]
impl AsyncLinked {
    #[inline(never)]
    pub async fn parse(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }

    /// Awaits a ready future first: a body that could suspend, as the future a handle
    /// wraps could.
    #[inline(never)]
    pub async fn parse_awaiting(&self, x: u64) -> Result<u64, BenchError> {
        std::future::ready(()).await;
        body(x)
    }
}

/// The run-time plugin's operations, declared once.
struct Handles {
    parse: OperationHandle,
    classified: OperationHandle,
    parse_async: OperationHandle,
}

fn handles() -> &'static Handles {
    static HANDLES: OnceLock<Handles> = OnceLock::new();
    HANDLES.get_or_init(|| {
        let plugin = plugobs::registry()
            .register(PluginSpec::new("runtime_bench", "bench"))
            .expect("a free name");
        Handles {
            parse: plugin.operation("parse").expect("an operation"),
            classified: plugin.operation("classified").expect("an operation"),
            parse_async: plugin.operation("parse_async").expect("an operation"),
        }
    })
}

/// The instrumented method, called through a function of its own as the handle is.
#[inline(never)]
fn linked(x: u64) -> Result<u64, BenchError> {
    BenchPlugin.parse(x)
}

/// The instrumented `async fn`, polled once, in a function of its own.
#[inline(never)]
fn linked_async(x: u64) -> Result<u64, BenchError> {
    poll_once(AsyncLinked.parse(x))
}

/// The instrumented `async fn` that awaits, polled once.
#[inline(never)]
fn linked_awaiting(x: u64) -> Result<u64, BenchError> {
    poll_once(AsyncLinked.parse_awaiting(x))
}

/// A call through the handle, as a host calls a module's export.
#[inline(never)]
fn runtime(x: u64) -> Result<u64, BenchError> {
    handles().parse.call(|| body(x))
}

/// The same, its outcome given by a classifier instead of `ErrorKind`.
#[inline(never)]
fn runtime_classified(x: u64) -> Result<u64, BenchError> {
    handles().classified.call_with(
        || body(x),
        |r| match r {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Error("divisible"),
        },
    )
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

#[inline(never)]
fn runtime_async(x: u64) -> Result<u64, BenchError> {
    poll_once(handles().parse_async.call_async(async move { body(x) }))
}

type Variant = (&'static str, &'static str, fn(u64) -> u64);

fn variants() -> Vec<Variant> {
    fn ok(r: Result<u64, BenchError>) -> u64 {
        r.unwrap_or(0)
    }
    vec![
        ("bare", "bare", |x| ok(bare(black_box(x)))),
        ("instrumented method", "bare", |x| ok(linked(black_box(x)))),
        ("run-time handle", "bare", |x| ok(runtime(black_box(x)))),
        ("run-time handle, classifier", "bare", |x| {
            ok(runtime_classified(black_box(x)))
        }),
        ("bare async fn, one poll", "bare async fn, one poll", |x| {
            ok(poll_once(bare_async(black_box(x))))
        }),
        (
            "instrumented async fn, one poll",
            "bare async fn, one poll",
            |x| ok(linked_async(black_box(x))),
        ),
        (
            "instrumented async fn awaiting",
            "bare async fn, one poll",
            |x| ok(linked_awaiting(black_box(x))),
        ),
        (
            "run-time handle async, one poll",
            "bare async fn, one poll",
            |x| ok(runtime_async(black_box(x))),
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
    println!("  {:<34} {:>9} {:>10}", "variant", "ns/call", "overhead");
    for ((name, base, _), m) in variants.iter().zip(&medians) {
        let overhead = m - median_of(base);
        println!("  {name:<34} {m:>9.2} {overhead:>+10.2}");
    }
    println!();
    println!("targets (informational): a run-time handle within 2 ns of an instrumented method");
    for (handle, method) in [
        ("run-time handle", "instrumented method"),
        ("run-time handle, classifier", "instrumented method"),
        (
            "run-time handle async, one poll",
            "instrumented async fn, one poll",
        ),
        (
            "run-time handle async, one poll",
            "instrumented async fn awaiting",
        ),
    ] {
        let d = median_of(handle) - median_of(method);
        println!(
            "  {handle:<34} vs {method:<32} {d:>+8.2} ns  ({:.3}x its overhead) {}",
            (median_of(handle) - median_of("bare")) / (median_of(method) - median_of("bare")),
            common::verdict(d <= 2.0)
        );
    }

    // Every call counted exactly, through either front end.
    let per_variant = 10_000 + (rounds * n) as u64;
    let stats = plugobs::registry().stats();
    let mut wrong = false;
    for p in &stats.plugins {
        if !matches!(p.name, "bench_plugin" | "async_linked" | "runtime_bench") {
            continue;
        }
        for o in &p.operations {
            println!(
                "  {}/{}: {} calls ({per_variant} expected), {} errors, {} in flight",
                p.name, o.name, o.calls, o.errors, o.in_flight
            );
            if o.calls != per_variant || o.ok + o.errors != o.calls || o.in_flight != 0 {
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
