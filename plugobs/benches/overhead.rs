//! Per-call overhead of a plugobs operation against a bare function and the alternatives a
//! user would otherwise write: hand-cached `metrics` handles, `#[autometrics]` and
//! `#[tracing::instrument]`. Plus the background cost of forwarding to Prometheus.
//!
//! `cargo bench -p plugobs --bench overhead`
//!
//! A hand-written harness (no criterion): every variant of a phase runs interleaved,
//! round-robin, in one process; each round times one batch of `N` calls per variant; the
//! report is the median ns/call per variant over the rounds. The global `metrics` recorder
//! and the global `tracing` subscriber can each be installed only once per process, so the
//! measurement has three phases, each with its own bare baseline:
//!
//! 1. no recorder, no subscriber: bare, plugobs
//! 2. Prometheus recorder installed: bare, plugobs, hand-cached handles, autometrics
//! 3. Prometheus recorder and an INFO `fmt` subscriber (writing to `io::sink`): bare,
//!    plugobs (its DEBUG operation span filtered out by level), `#[tracing::instrument]`
//!    at INFO (span created)
//!
//! Then: the cost of one `plugobs::flush()` forwarding 1M calls to the exporter, and the
//! memory the exporter holds for them until a scrape.
//!
//! Overrides: `PLUGOBS_BENCH_ROUNDS` (default 31), `PLUGOBS_BENCH_N` (calls per batch,
//! default 200000), `PLUGOBS_BENCH_M` (calls before the timed flush, default 1000000).
//! The verdicts are informational; the bench always exits 0.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use common::subjects::{BenchError, BenchPlugin, HandCached, body};
use common::{Interference, env_usize, median, mib, ms, quantile, rss_bytes, verdict};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

// ---------------------------------------------------------------------------------------
// Heap bytes allocated and freed, counted only while `COUNTING` is on (off during the timed
// phases, where it costs one relaxed load per allocation), to see what the exporter takes
// to hold samples between scrapes independently of what the allocator keeps resident. Gross
// allocations, not live bytes: the exporter frees drained sample blocks later, through
// crossbeam-epoch's deferred destruction, so frees land in whatever call comes next.
// ---------------------------------------------------------------------------------------

struct CountingAlloc;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATED: AtomicI64 = AtomicI64::new(0);
static FREED: AtomicI64 = AtomicI64::new(0);

fn count(delta: i64) {
    if COUNTING.load(Relaxed) {
        if delta >= 0 {
            ALLOCATED.fetch_add(delta, Relaxed);
        } else {
            FREED.fetch_add(-delta, Relaxed);
        }
    }
}

// SAFETY: every call is forwarded unchanged to `System`; only a counter is updated.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(layout.size() as i64);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as i64 - layout.size() as i64);
        }
        p
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// Heap bytes (allocated, freed) while counting was on.
fn heap_counts() -> (i64, i64) {
    (ALLOCATED.load(Relaxed), FREED.load(Relaxed))
}

// ---------------------------------------------------------------------------------------
// The function under test, and its variants. Every variant's method is `#[inline(never)]`
// and runs the same `#[inline(always)]` body, so each call is one real call in every case.
// ---------------------------------------------------------------------------------------

/// 1. The baseline: not instrumented.
struct Bare;

impl Bare {
    #[inline(never)]
    fn parse(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }
}

// 2, 3, 7: `BenchPlugin::parse`; 4: `HandCached::parse` (both in `common::subjects`).

/// 5. `#[autometrics]` (metrics 0.24 backend).
struct Auto;

#[autometrics::autometrics]
impl Auto {
    #[inline(never)]
    fn parse(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }
}

/// 6. `#[tracing::instrument]` with its span at INFO, so it is created under an INFO filter.
struct Traced;

impl Traced {
    #[inline(never)]
    #[tracing::instrument(level = "info", skip(self))]
    fn parse(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }
}

static BARE: Bare = Bare;
static PLUGIN: BenchPlugin = BenchPlugin;
static AUTO: Auto = Auto;
static TRACED: Traced = Traced;
static HAND: OnceLock<HandCached> = OnceLock::new();

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
    batch(n, |x| BARE.parse(x))
}
fn run_plugobs(n: u64) -> f64 {
    batch(n, |x| PLUGIN.parse(x))
}
fn run_hand(n: u64) -> f64 {
    let hand = HAND.get().expect("hand-cached handles resolved in phase 2");
    batch(n, |x| hand.parse(x))
}
fn run_auto(n: u64) -> f64 {
    batch(n, |x| AUTO.parse(x))
}
fn run_traced(n: u64) -> f64 {
    batch(n, |x| TRACED.parse(x))
}

// ---------------------------------------------------------------------------------------
// The harness.
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Id {
    Bare,
    PlugobsNoRecorder,
    PlugobsPrometheus,
    HandCached,
    Autometrics,
    TracingInstrument,
    PlugobsPrometheusTracingInfo,
}

struct Variant {
    id: Id,
    name: &'static str,
    run: fn(u64) -> f64,
}

/// The samples of one variant in one phase.
struct Measured {
    id: Id,
    name: &'static str,
    phase: usize,
    /// ns/call per round, in round order.
    samples: Vec<f64>,
}

impl Measured {
    fn median(&self) -> f64 {
        median(&mut self.samples.clone())
    }
}

/// Runs every variant round-robin: `rounds` rounds, each timing one batch of `n` calls per
/// variant (the starting variant rotates each round). `between_rounds` runs untimed.
fn measure_phase(
    phase: usize,
    variants: &[Variant],
    rounds: usize,
    n: u64,
    mut between_rounds: impl FnMut(),
) -> Vec<Measured> {
    // Warm-up: resolve sites and handles, fault in pages, settle the clock.
    for v in variants {
        black_box((v.run)(n / 4));
    }
    between_rounds();
    let mut out: Vec<Measured> = variants
        .iter()
        .map(|v| Measured {
            id: v.id,
            name: v.name,
            phase,
            samples: Vec::with_capacity(rounds),
        })
        .collect();
    for round in 0..rounds {
        for k in 0..variants.len() {
            let i = (round + k) % variants.len();
            out[i].samples.push((variants[i].run)(n));
        }
        between_rounds();
    }
    out
}

fn find(all: &[Measured], phase: usize, id: Id) -> &Measured {
    all.iter()
        .find(|m| m.phase == phase && m.id == id)
        .expect("measured")
}

/// Median over rounds of (variant − same-round bare): the paired overhead.
fn paired_overhead(m: &Measured, bare: &Measured) -> f64 {
    let mut d: Vec<f64> = m
        .samples
        .iter()
        .zip(&bare.samples)
        .map(|(v, b)| v - b)
        .collect();
    median(&mut d)
}

fn print_table(all: &[Measured]) {
    println!();
    println!(
        "{:<48} {:>5} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "variant", "phase", "median", "p10", "p90", "overhead", "paired"
    );
    println!(
        "{:<48} {:>5} {:>9} {:>9} {:>9} {:>10} {:>10}",
        "", "", "ns/call", "ns/call", "ns/call", "ns/call", "ns/call"
    );
    println!("{}", "-".repeat(105));
    for m in all {
        let bare = find(all, m.phase, Id::Bare);
        let mut s = m.samples.clone();
        let (p10, p90) = (quantile(&mut s, 0.1), quantile(&mut s, 0.9));
        let (overhead, paired) = if m.id == Id::Bare {
            ("-".to_owned(), "-".to_owned())
        } else {
            (
                format!("{:+.1}", m.median() - bare.median()),
                format!("{:+.1}", paired_overhead(m, bare)),
            )
        };
        println!(
            "{:<48} {:>5} {:>9.1} {:>9.1} {:>9.1} {:>10} {:>10}",
            m.name,
            m.phase,
            m.median(),
            p10,
            p90,
            overhead,
            paired
        );
    }
    println!(
        "(overhead = median − same-phase bare median; paired = median over rounds of \
         (variant − bare of the same round))"
    );
}

fn overhead(all: &[Measured], phase: usize, id: Id) -> f64 {
    find(all, phase, id).median() - find(all, phase, Id::Bare).median()
}

fn print_targets(all: &[Measured]) {
    let no_rec = overhead(all, 1, Id::PlugobsNoRecorder);
    let prom = overhead(all, 2, Id::PlugobsPrometheus);
    let hand = overhead(all, 2, Id::HandCached);
    let auto = overhead(all, 2, Id::Autometrics);
    let filtered = overhead(all, 3, Id::PlugobsPrometheusTracingInfo);
    let traced = overhead(all, 3, Id::TracingInstrument);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::INFINITY };
    println!();
    println!("targets (informational)");
    println!("{}", "-".repeat(105));
    let rows: [(String, String, String, bool); 5] = [
        (
            "plugobs+prometheus / hand-cached overhead".into(),
            format!("{:.3}", ratio(prom, hand)),
            "<= 0.30".into(),
            ratio(prom, hand) <= 0.3,
        ),
        (
            "plugobs+prometheus / autometrics overhead".into(),
            format!("{:.4} (1/{:.0})", ratio(prom, auto), ratio(auto, prom)),
            "<= 0.05 (1/20)".into(),
            ratio(prom, auto) <= 0.05,
        ),
        (
            "plugobs, no recorder: overhead".into(),
            format!("{no_rec:.1} ns"),
            "<= 35 ns".into(),
            no_rec <= 35.0,
        ),
        (
            "plugobs, prometheus: overhead".into(),
            format!("{prom:.1} ns"),
            "<= 35 ns".into(),
            prom <= 35.0,
        ),
        (
            "plugobs, prometheus + INFO subscriber (span off)".into(),
            format!("{filtered:.1} ns"),
            "<= 35 ns".into(),
            filtered <= 35.0,
        ),
    ];
    for (what, value, target, ok) in rows {
        println!(
            "{what:<50} {value:>18}   target {target:<16} {}",
            verdict(ok)
        );
    }
    println!(
        "for reference: hand-cached {hand:.1} ns, autometrics {auto:.1} ns, \
         #[tracing::instrument] at INFO {traced:.1} ns, filtered DEBUG span costs \
         {:+.1} ns over phase-2 plugobs",
        filtered - prom
    );
}

// ---------------------------------------------------------------------------------------
// Background cost: forwarding to the exporter, and what the exporter holds until a scrape.
// ---------------------------------------------------------------------------------------

fn background_cost(handle: &PrometheusHandle, m: u64) {
    println!();
    println!("background cost of forwarding (Prometheus recorder, PrometheusBuilder::new())");
    println!("{}", "-".repeat(105));
    // Park the background flusher: it wakes within its current 1 s sleep, flushes, then
    // sleeps for an hour, so only the flushes below forward anything.
    plugobs::bridge::set_flush_interval(Duration::from_secs(3600));
    std::thread::sleep(Duration::from_millis(1100));
    plugobs::flush();
    let _ = handle.render();

    let t = Instant::now();
    plugobs::flush();
    let empty_flush = t.elapsed();
    println!(
        "flush with nothing new                      {:>9.3} ms",
        ms(empty_flush)
    );

    println!(
        "{:>3} {:>9} {:>9} {:>10} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
        "rep",
        "calls ms",
        "flush ms",
        "render ms",
        "flush alloc",
        "flush free",
        "rendr alloc",
        "rendr free",
        "RSS before",
        "RSS+flush",
    );
    let mut flush_ms = Vec::new();
    let mut held = Vec::new();
    let mut first_rss = None;
    COUNTING.store(true, Relaxed);
    for rep in 0..3 {
        let t = Instant::now();
        for i in 0..m {
            let _ = black_box(PLUGIN.parse(black_box(i)));
        }
        let calls = t.elapsed();
        let (heap0, rss0) = (heap_counts(), rss_bytes().unwrap_or(0) as i64);
        let t = Instant::now();
        plugobs::flush();
        let flush = t.elapsed();
        let (heap1, rss1) = (heap_counts(), rss_bytes().unwrap_or(0) as i64);
        let t = Instant::now();
        let rendered = handle.render();
        let render = t.elapsed();
        let heap2 = heap_counts();
        black_box(&rendered);
        drop(rendered);
        println!(
            "{:>3} {:>9.1} {:>9.2} {:>10.2} {:>9.1}Mi {:>9.1}Mi {:>9.1}Mi {:>9.1}Mi {:>9.1}Mi {:>+9.1}Mi",
            rep,
            ms(calls),
            ms(flush),
            ms(render),
            mib(heap1.0 - heap0.0),
            mib(heap1.1 - heap0.1),
            mib(heap2.0 - heap1.0),
            mib(heap2.1 - heap1.1),
            mib(rss0),
            mib(rss1 - rss0),
        );
        flush_ms.push(ms(flush));
        held.push((heap1.0 - heap0.0) as f64);
        first_rss.get_or_insert(rss1 - rss0);
    }
    COUNTING.store(false, Relaxed);
    println!(
        "(alloc/free = heap bytes the bench's global allocator saw allocated/freed in that \
         call; the exporter frees drained blocks later via crossbeam-epoch; RSS from \
         /proc/self/statm, which the allocator's reuse of freed blocks hides after rep 0)"
    );
    let per_m = median(&mut flush_ms) * 1e6 / m as f64;
    let per_m_bytes = median(&mut held) * 1e6 / m as f64;
    println!(
        "flush: {per_m:.1} ms per 1M ops (median of 3) = {:.2} % of one core at 1M ops/s \
         (plus the exporter's own render/upkeep work on those samples, timed above)",
        per_m / 10.0
    );
    println!(
        "exporter memory between scrapes: {:.1} MiB allocated per 1M ops ({:.1} B/sample; \
         RSS grew {:+.1} MiB on the first flush), so at 1M ops/s it holds {:.1} MiB per second \
         since the last scrape: {:.0} MiB just before a scrape at a 15 s interval; render \
         drains it",
        mib(per_m_bytes as i64),
        per_m_bytes / 1e6,
        mib(first_rss.unwrap_or(0)),
        mib(per_m_bytes as i64),
        mib(per_m_bytes as i64) * 15.0,
    );
}

// ---------------------------------------------------------------------------------------

fn main() {
    let rounds = env_usize("PLUGOBS_BENCH_ROUNDS", 31);
    let n = env_usize("PLUGOBS_BENCH_N", 200_000) as u64;
    let m = env_usize("PLUGOBS_BENCH_M", 1_000_000) as u64;
    println!(
        "plugobs overhead bench: {rounds} rounds x {n} calls per variant, interleaved; \
         fn parse(&self, u64) -> Result<u64, BenchError>, Err when x % 64 == 0"
    );
    // Discovery and the flusher thread start here, outside any timing.
    let _ = plugobs::registry();
    let started = Instant::now();
    let interference = Interference::start();
    let mut all = Vec::new();

    // Phase 1: no recorder, no subscriber.
    all.extend(measure_phase(
        1,
        &[
            Variant {
                id: Id::Bare,
                name: "1 bare fn (baseline)",
                run: run_bare,
            },
            Variant {
                id: Id::PlugobsNoRecorder,
                name: "2 plugobs, no recorder",
                run: run_plugobs,
            },
        ],
        rounds,
        n,
        || {},
    ));

    // Phase 2: the Prometheus recorder.
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("install the Prometheus recorder");
    HAND.get_or_init(HandCached::new);
    all.extend(measure_phase(
        2,
        &[
            Variant {
                id: Id::Bare,
                name: "1 bare fn (baseline)",
                run: run_bare,
            },
            Variant {
                id: Id::PlugobsPrometheus,
                name: "3 plugobs, prometheus",
                run: run_plugobs,
            },
            Variant {
                id: Id::HandCached,
                name: "4 hand-cached metrics handles, prometheus",
                run: run_hand,
            },
            Variant {
                id: Id::Autometrics,
                name: "5 #[autometrics], prometheus",
                run: run_auto,
            },
        ],
        rounds,
        n,
        // What a host does periodically: drain histogram samples into the distributions.
        || handle.run_upkeep(),
    ));

    // Phase 3: the Prometheus recorder and an INFO subscriber.
    let subscriber = tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("install the subscriber");
    all.extend(measure_phase(
        3,
        &[
            Variant {
                id: Id::Bare,
                name: "1 bare fn (baseline)",
                run: run_bare,
            },
            Variant {
                id: Id::TracingInstrument,
                name: "6 #[tracing::instrument] INFO, fmt->sink",
                run: run_traced,
            },
            Variant {
                id: Id::PlugobsPrometheusTracingInfo,
                name: "7 plugobs, prometheus + INFO subscriber",
                run: run_plugobs,
            },
        ],
        rounds,
        n,
        || handle.run_upkeep(),
    ));
    let measured_in = started.elapsed();

    print_table(&all);
    print_targets(&all);
    println!("{}", interference.report());
    let interference = Interference::start();
    background_cost(&handle, m);
    println!("{}", interference.report());
    println!();
    println!(
        "interleaved phases took {:.1} s; whole bench {:.1} s",
        measured_in.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
