//! What a plugin's own telemetry costs per call: custom counters, gauges and histograms
//! (`plugobs::counter!` …), an operation with `#[instrumented(cpu)]` against one without,
//! an allocation through `plugobs::alloc::Attributed` outside and inside a plugin
//! against the system allocator called directly, and entering and leaving an attribution
//! scope (`plugobs::Scope`) around a closure and a future's poll.
//!
//! `cargo bench -p plugobs --bench own_telemetry`
//!
//! Same harness as `overhead`: variants interleaved round-robin in one process, each round
//! times a batch of `N` calls per variant, the report is the median ns per call.
//! Overrides: `PLUGOBS_BENCH_ROUNDS` (default 31), `PLUGOBS_BENCH_N` (default 200000).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::time::Instant;

use common::{env_usize, median};

#[global_allocator]
static ALLOC: plugobs::alloc::Attributed<System> = plugobs::alloc::Attributed::new(System);

#[plugobs::plugin(kind = "bench")]
#[derive(Default)]
pub struct OwnPlugin;

const RESULTS: [&str; 4] = ["hit", "miss", "stale", "error"];

#[plugobs::instrumented]
impl OwnPlugin {
    fn plain(&self, x: u64) -> u64 {
        black_box(x).wrapping_add(1)
    }

    #[instrumented(cpu)]
    fn with_cpu(&self, x: u64) -> u64 {
        black_box(x).wrapping_add(1)
    }

    /// Allocates and frees `n` blocks of `size` bytes, as code of this plugin.
    #[instrumented(skip)]
    fn churn_inside(&self, n: usize, layout: Layout) {
        self.inside(n, layout);
    }

    fn inside(&self, n: usize, layout: Layout) {
        churn(&ALLOC, n, layout);
    }
}

fn churn(a: &impl GlobalAlloc, n: usize, layout: Layout) {
    for _ in 0..n {
        // SAFETY: a non-zero-sized layout; the block is freed with the same layout by the
        // allocator that returned it.
        unsafe {
            let p = a.alloc(layout);
            black_box(p);
            if !p.is_null() {
                a.dealloc(p, layout);
            }
        }
    }
}

/// One measured variant: runs its batch of `N` calls.
type Variant<'a> = Box<dyn Fn() + 'a>;

fn main() {
    let rounds = env_usize("PLUGOBS_BENCH_ROUNDS", 31);
    let n = env_usize("PLUGOBS_BENCH_N", 200_000);
    let plugin = OwnPlugin;
    let layout = Layout::from_size_align(64, 8).expect("a valid layout");
    let variants: Vec<(&str, Variant<'_>)> = vec![
        (
            "bare body",
            Box::new(|| {
                for i in 0..n as u64 {
                    black_box(black_box(i).wrapping_add(1));
                }
            }),
        ),
        (
            "counter!(P, \"c\").increment(1)",
            Box::new(|| {
                for _ in 0..n {
                    plugobs::counter!(OwnPlugin, "c").increment(1);
                }
            }),
        ),
        (
            "counter!(P, \"c\", \"result\" => r) (4 values)",
            Box::new(|| {
                for i in 0..n {
                    let r = RESULTS[i & 3];
                    plugobs::counter!(OwnPlugin, "cl", "result" => r).increment(1);
                }
            }),
        ),
        (
            "gauge!(P, \"g\").set(v)",
            Box::new(|| {
                for i in 0..n {
                    plugobs::gauge!(OwnPlugin, "g").set(i as f64);
                }
            }),
        ),
        (
            "histogram!(P, \"h\").record(v)",
            Box::new(|| {
                for i in 0..n {
                    plugobs::histogram!(OwnPlugin, "h").record((i & 1023) as f64);
                }
            }),
        ),
        (
            "operation",
            Box::new(|| {
                for i in 0..n as u64 {
                    black_box(plugin.plain(i));
                }
            }),
        ),
        (
            "operation with cpu",
            Box::new(|| {
                for i in 0..n as u64 {
                    black_box(plugin.with_cpu(i));
                }
            }),
        ),
        (
            "Scope::run around a bare body",
            Box::new(|| {
                let scope = plugobs::Scope::of(&plugin);
                for i in 0..n as u64 {
                    scope.run(|| black_box(black_box(i).wrapping_add(1)));
                }
            }),
        ),
        (
            "a ready future's poll, .attributed(scope)",
            Box::new(|| {
                use plugobs::AttributeExt as _;
                let scope = plugobs::Scope::of(&plugin);
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                for i in 0..n as u64 {
                    let fut = std::pin::pin!(std::future::ready(i).attributed(scope));
                    let _ = black_box(std::future::Future::poll(fut, &mut cx));
                }
            }),
        ),
        (
            "a ready future's poll, bare",
            Box::new(|| {
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                for i in 0..n as u64 {
                    let fut = std::pin::pin!(std::future::ready(i));
                    let _ = black_box(std::future::Future::poll(fut, &mut cx));
                }
            }),
        ),
        (
            "alloc+free 64 B, System directly",
            Box::new(|| churn(&System, n, layout)),
        ),
        (
            "alloc+free 64 B, Attributed, outside plugins",
            Box::new(|| churn(&ALLOC, n, layout)),
        ),
        (
            "alloc+free 64 B, Attributed, inside a plugin",
            Box::new(|| plugin.churn_inside(n, layout)),
        ),
    ];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in variants.iter().enumerate() {
            let start = Instant::now();
            f();
            samples[i].push(start.elapsed().as_nanos() as f64 / n as f64);
        }
    }
    println!("median ns per call over {rounds} rounds of {n}:");
    for ((name, _), s) in variants.iter().zip(&mut samples) {
        println!("  {name:<50} {:>8.2}", median(s));
    }
}
