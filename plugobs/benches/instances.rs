//! Per-call cost of finding the instance a call runs on (configured instances, issues 13
//! and 24).
//!
//! `cargo bench -p plugobs --all-features --bench instances`
//!
//! One instrumented `&self` method, the same body everywhere, called:
//!
//! - bare: not instrumented (the baseline);
//! - (a) on a value the host built, of a plugin never loaded by name: today's path, one
//!   load and one branch to find no instance table in use;
//! - (b) on a value the host built, of a plugin that has 8 instances loaded by name: the
//!   lookup misses (the call counts under the default instance);
//! - (d) on the one registry-loaded instance of a plugin: the reference of the lookup's
//!   cost for the variants below;
//! - (c), (e), (f) on 8, 64 and 256 registry-loaded instances of one plugin, round-robin;
//! - (g) on the last-loaded of those 256 instances alone;
//! - (h) on each of those 256 in turn, `N / 256` calls each: every instance's own cost,
//!   without (f)'s switch of instance (and of cache lines) at every call; the table gives
//!   the mean over instances, and a line after it each instance's median over rounds,
//!   paired with (d): the slowest and the fastest instance;
//! - bare ×8: the bare method on 8 values round-robin, the baseline of (c)'s indexing.
//!
//! Same harness as `overhead`: every variant runs interleaved, round-robin, in one
//! process; each round times one batch of `N` calls per variant; the report is the median
//! ns/call per variant over the rounds, and the paired differences (variant − bare,
//! variant − (a), and for the loaded instances variant − (d), of the same round). Then the
//! allocations during 1M calls of (c), counted by a global allocator on this thread: none
//! per call (only a latency outlier's first histogram chunk, once per range); the bench
//! fails past 32 per instance.
//!
//! Overrides: `PLUGOBS_BENCH_ROUNDS` (default 51), `PLUGOBS_BENCH_N` (calls per batch,
//! default 200000).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use common::subjects::{BenchError, body};
use common::{Interference, env_usize, median, quantile};
use plugobs::{Loaded, Plugin, Registry};

// ---------------------------------------------------------------------------------------
// Allocations counted on the measuring thread only, while `COUNTING` is on.
// ---------------------------------------------------------------------------------------

struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THIS_THREAD: Cell<bool> = const { Cell::new(false) };
}

fn count_one() {
    if COUNTING.load(Relaxed) && THIS_THREAD.with(Cell::get) {
        ALLOCATIONS.fetch_add(1, Relaxed);
    }
}

// SAFETY: every call is forwarded unchanged to `System`; only a counter is updated.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

// ---------------------------------------------------------------------------------------
// The subjects: one plugin per case, so that each has its own instance table.
// ---------------------------------------------------------------------------------------

/// The trait the plugins are loaded as; the bench calls their inherent method directly.
pub trait Parse: Send + Sync {}

/// Not instrumented.
struct Bare {
    _seed: u64,
}

impl Bare {
    #[inline(never)]
    fn parse(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }
}

macro_rules! subject {
    ($ty:ident) => {
        #[plugobs::plugin(kind = "bench", provides = dyn Parse)]
        #[derive(Default)]
        pub struct $ty {
            _seed: u64,
        }

        impl Parse for $ty {}

        #[plugobs::instrumented]
        impl $ty {
            #[inline(never)]
            pub fn parse(&self, x: u64) -> Result<u64, BenchError> {
                body(x)
            }
        }
    };
}

subject!(NeverNamed); // (a)
subject!(ScannedMiss); // (b)
subject!(EightNamed); // (c)
subject!(OneNamed); // (d)
subject!(SixtyFourNamed); // (e)
subject!(ManyNamed); // (f) and (g)

const INSTANCES: usize = 8;
const SIXTY_FOUR: usize = 64;
/// As many as one plugin can have live (`MAX_LIVE_INSTANCES`).
const MANY: usize = 256;

/// What the variants call: host-built values and handles of loaded instances, alive for
/// the whole process.
struct Subjects {
    bare: Bare,
    bare8: [Bare; INSTANCES],
    never_named: NeverNamed,
    scanned_miss: ScannedMiss,
    eight: Vec<Loaded<dyn Parse>>,
    one: Loaded<dyn Parse>,
    sixty_four: Vec<Loaded<dyn Parse>>,
    /// In load order: the last one is (g)'s.
    many: Vec<Loaded<dyn Parse>>,
    /// Keeps (b)'s 8 instances loaded.
    _scanned_loaded: Vec<Loaded<dyn Parse>>,
}

static SUBJECTS: OnceLock<Subjects> = OnceLock::new();

fn subjects() -> &'static Subjects {
    SUBJECTS.get().expect("set up in main")
}

fn set_up(registry: &'static Registry) -> Subjects {
    let load = |plugin: &str, name: String| {
        registry
            .load_instance::<dyn Parse>(plugin, &name, ())
            .unwrap_or_else(|e| panic!("{e}"))
    };
    let scanned_loaded = (0..INSTANCES)
        .map(|i| load("scanned_miss", format!("miss-{i}")))
        .collect();
    let eight = (0..INSTANCES)
        .map(|i| load("eight_named", format!("eight-{i}")))
        .collect();
    let sixty_four = (0..SIXTY_FOUR)
        .map(|i| load("sixty_four_named", format!("sixty-four-{i}")))
        .collect();
    let many = (0..MANY)
        .map(|i| load("many_named", format!("many-{i}")))
        .collect();
    Subjects {
        bare: Bare { _seed: 1 },
        bare8: std::array::from_fn(|i| Bare { _seed: i as u64 }),
        never_named: NeverNamed::default(),
        scanned_miss: ScannedMiss::default(),
        eight,
        one: load("one_named", "one-0".to_owned()),
        sixty_four,
        many,
        _scanned_loaded: scanned_loaded,
    }
}

/// Times `n` calls of `f` with black-boxed inputs and results; ns per call.
#[inline(never)]
fn batch(n: u64, f: impl Fn(u64) -> Result<u64, BenchError>) -> f64 {
    let start = Instant::now();
    for i in 0..n {
        let _ = black_box(f(black_box(i)));
    }
    start.elapsed().as_nanos() as f64 / n as f64
}

fn run_bare(n: u64) -> f64 {
    let s = &subjects().bare;
    batch(n, |x| s.parse(x))
}
fn run_bare8(n: u64) -> f64 {
    let s = &subjects().bare8;
    batch(n, |x| s[x as usize % INSTANCES].parse(x))
}
fn run_a(n: u64) -> f64 {
    let s = &subjects().never_named;
    batch(n, |x| s.parse(x))
}
fn run_b(n: u64) -> f64 {
    let s = &subjects().scanned_miss;
    batch(n, |x| s.parse(x))
}
/// The values of `loaded`, in load order.
fn values<T: Plugin, const N: usize>(loaded: &'static [Loaded<dyn Parse>]) -> [&'static T; N] {
    std::array::from_fn(|i| {
        loaded[i]
            .downcast_ref::<T>()
            .unwrap_or_else(|| panic!("a {}", std::any::type_name::<T>()))
    })
}
fn eight() -> [&'static EightNamed; INSTANCES] {
    values(&subjects().eight)
}
fn run_c(n: u64) -> f64 {
    let s = eight();
    batch(n, |x| s[x as usize % INSTANCES].parse(x))
}
fn run_d(n: u64) -> f64 {
    let s = subjects()
        .one
        .downcast_ref::<OneNamed>()
        .expect("a OneNamed");
    batch(n, |x| s.parse(x))
}
fn run_e(n: u64) -> f64 {
    let s: [&SixtyFourNamed; SIXTY_FOUR] = values(&subjects().sixty_four);
    batch(n, |x| s[x as usize % SIXTY_FOUR].parse(x))
}
fn run_f(n: u64) -> f64 {
    let s: [&ManyNamed; MANY] = values(&subjects().many);
    batch(n, |x| s[x as usize % MANY].parse(x))
}
fn run_g(n: u64) -> f64 {
    let s: [&ManyNamed; MANY] = values(&subjects().many);
    let last = s[MANY - 1];
    batch(n, |x| last.parse(x))
}
/// ns/call of each of the 256 instances, called `n / 256` times in a row, in load order.
fn each_in_turn(n: u64) -> [f64; MANY] {
    let s: [&ManyNamed; MANY] = values(&subjects().many);
    let per = n / MANY as u64;
    std::array::from_fn(|i| batch(per, |x| s[i].parse(x)))
}
/// (h)'s ns/call per instance, one row per batch (the warm-up's first).
static EACH: Mutex<Vec<[f64; MANY]>> = Mutex::new(Vec::new());
fn run_h(n: u64) -> f64 {
    let each = each_in_turn(n);
    EACH.lock().unwrap_or_else(|e| e.into_inner()).push(each);
    each.iter().sum::<f64>() / MANY as f64
}

// ---------------------------------------------------------------------------------------
// The harness.
// ---------------------------------------------------------------------------------------

struct Variant {
    name: &'static str,
    run: fn(u64) -> f64,
}

const VARIANTS: [Variant; 10] = [
    Variant {
        name: "bare",
        run: run_bare,
    },
    Variant {
        name: "bare x8 round-robin",
        run: run_bare8,
    },
    Variant {
        name: "(a) host-built, plugin never loaded by name",
        run: run_a,
    },
    Variant {
        name: "(b) host-built, plugin with 8 named (miss)",
        run: run_b,
    },
    Variant {
        name: "(d) 1 loaded instance",
        run: run_d,
    },
    Variant {
        name: "(c) 8 loaded instances, round-robin",
        run: run_c,
    },
    Variant {
        name: "(e) 64 loaded instances, round-robin",
        run: run_e,
    },
    Variant {
        name: "(f) 256 loaded instances, round-robin",
        run: run_f,
    },
    Variant {
        name: "(g) the last-loaded of 256, alone",
        run: run_g,
    },
    Variant {
        name: "(h) each of the 256 in turn (mean)",
        run: run_h,
    },
];
const BARE: usize = 0;
const A: usize = 2;
/// (d), the one loaded instance: the loaded variants after it are paired against it.
const D: usize = 4;

/// ns/call per round, per variant, in variant order.
fn measure(rounds: usize, n: u64) -> Vec<Vec<f64>> {
    for v in &VARIANTS {
        black_box((v.run)(n / 4));
    }
    let mut out = vec![Vec::with_capacity(rounds); VARIANTS.len()];
    for round in 0..rounds {
        for k in 0..VARIANTS.len() {
            let i = (round + k) % VARIANTS.len();
            out[i].push((VARIANTS[i].run)(n));
        }
    }
    out
}

/// Median over rounds of (`m` − `base` of the same round).
fn paired(m: &[f64], base: &[f64]) -> f64 {
    let mut d: Vec<f64> = m.iter().zip(base).map(|(v, b)| v - b).collect();
    median(&mut d)
}

/// Heap allocations on this thread during `calls` calls of (c).
fn allocations(calls: u64) -> u64 {
    let s = eight();
    THIS_THREAD.with(|t| t.set(true));
    ALLOCATIONS.store(0, Relaxed);
    COUNTING.store(true, Relaxed);
    for x in 0..calls {
        let _ = black_box(s[x as usize % INSTANCES].parse(black_box(x)));
    }
    COUNTING.store(false, Relaxed);
    THIS_THREAD.with(|t| t.set(false));
    ALLOCATIONS.load(Relaxed)
}

fn main() {
    let rounds = env_usize("PLUGOBS_BENCH_ROUNDS", 51);
    let n = env_usize("PLUGOBS_BENCH_N", 200_000) as u64;

    let registry: &'static Registry = Box::leak(Box::new(
        Registry::from_descriptors([
            NeverNamed::DESCRIPTOR,
            ScannedMiss::DESCRIPTOR,
            EightNamed::DESCRIPTOR,
            OneNamed::DESCRIPTOR,
            SixtyFourNamed::DESCRIPTOR,
            ManyNamed::DESCRIPTOR,
        ])
        .expect("distinct names"),
    ));
    if SUBJECTS.set(set_up(registry)).is_err() {
        unreachable!("set up once");
    }

    let interference = Interference::start();
    let samples = measure(rounds, n);
    let interference = interference.report();

    // The calls counted where they should.
    let stats = registry.stats();
    let calls_of = |instance: &str| {
        stats
            .plugins
            .iter()
            .find(|p| p.instance == instance)
            .and_then(|p| p.operations.first())
            .map_or(0, |o| o.calls)
    };
    // The warm-up batch, then one batch per round.
    let per_variant = n / 4 + rounds as u64 * n;
    assert_eq!(calls_of("never_named"), per_variant);
    assert_eq!(
        calls_of("scanned_miss"),
        per_variant,
        "(b) misses: default instance"
    );
    let eight_total: u64 = (0..INSTANCES)
        .map(|i| calls_of(&format!("eight-{i}")))
        .sum();
    assert_eq!(eight_total, per_variant);
    assert_eq!(
        calls_of("eight_named"),
        0,
        "(c) never counts as the default instance"
    );
    assert_eq!(calls_of("one-0"), per_variant);
    let sixty_four_total: u64 = (0..SIXTY_FOUR)
        .map(|i| calls_of(&format!("sixty-four-{i}")))
        .sum();
    assert_eq!(sixty_four_total, per_variant);
    let many_total: u64 = (0..MANY).map(|i| calls_of(&format!("many-{i}"))).sum();
    // (h) calls each instance n / 256 times per batch.
    let turns = (n / 4 / MANY as u64 + rounds as u64 * (n / MANY as u64)) * MANY as u64;
    assert_eq!(many_total, 2 * per_variant + turns, "(f), (g) and (h)");
    assert!(
        calls_of(&format!("many-{}", MANY - 1)) > per_variant,
        "(g) finds the last-loaded instance"
    );
    for plugin in ["sixty_four_named", "many_named"] {
        assert_eq!(calls_of(plugin), 0, "{plugin}: never the default instance");
    }

    println!();
    println!(
        "instance lookup cost: {rounds} rounds x {n} calls per variant (median ns/call over rounds)"
    );
    println!(
        "{:<46} {:>8} {:>8} {:>8} {:>9} {:>10} {:>10} {:>10}",
        "variant", "median", "p10", "p90", "x bare", "-bare", "-(a)", "-(d)"
    );
    println!("{}", "-".repeat(116));
    let bare_median = median(&mut samples[BARE].clone());
    for (i, v) in VARIANTS.iter().enumerate() {
        let mut s = samples[i].clone();
        let (med, p10, p90) = (median(&mut s), quantile(&mut s, 0.1), quantile(&mut s, 0.9));
        let over_bare = if i == BARE {
            "-".to_owned()
        } else {
            format!("{:+.2}", paired(&samples[i], &samples[BARE]))
        };
        let over_a = if i <= A {
            "-".to_owned()
        } else {
            format!("{:+.2}", paired(&samples[i], &samples[A]))
        };
        let over_d = if i <= D {
            "-".to_owned()
        } else {
            format!("{:+.2}", paired(&samples[i], &samples[D]))
        };
        println!(
            "{:<46} {:>8.2} {:>8.2} {:>8.2} {:>9.2} {:>10} {:>10} {:>10}",
            v.name,
            med,
            p10,
            p90,
            med / bare_median,
            over_bare,
            over_a,
            over_d
        );
    }
    println!(
        "(x bare = median / bare median; -bare, -(a) and -(d) = median over rounds of the \
         paired difference with bare, with (a) and with (d), the one loaded instance, of the \
         same round, ns/call)"
    );
    // (h) per instance: its median over rounds of (instance − (d)) of the same round.
    let each = EACH.lock().unwrap_or_else(|e| e.into_inner());
    let over_d: Vec<f64> = (0..MANY)
        .map(|i| {
            let own: Vec<f64> = each[1..].iter().map(|row| row[i]).collect();
            paired(&own, &samples[D])
        })
        .collect();
    let (slowest, fastest) = (0..MANY).fold((0, 0), |(hi, lo), i| {
        (
            if over_d[i] > over_d[hi] { i } else { hi },
            if over_d[i] < over_d[lo] { i } else { lo },
        )
    });
    println!(
        "(h) per instance, median over rounds of the paired difference with (d): slowest \
         {:+.2} ns/call (loaded no. {}), fastest {:+.2} (loaded no. {})",
        over_d[slowest],
        slowest + 1,
        over_d[fastest],
        fastest + 1
    );

    // No call allocates. A latency outlier (a preemption, an interrupt) landing in a
    // histogram range an instance never saw allocates that range's chunk once, as in the
    // `allocations` test: a few, bounded by the ranges, never one per call.
    let calls = 1_000_000;
    let allocs = allocations(calls);
    println!();
    println!(
        "allocations in {calls} calls of (c): {allocs} ({:.6} per call; latency chunks first \
         touched by outliers, once per range and instance)",
        allocs as f64 / calls as f64
    );
    println!("{interference}");
    assert!(
        allocs <= 32 * INSTANCES as u64,
        "(c) allocated {allocs} times in {calls} calls"
    );
}
