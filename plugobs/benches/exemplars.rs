//! Exemplars on the hot path (issue 26): what a timed call pays for them, in each case
//! `core::exemplar` describes — exemplars off (the feature built in, not enabled), on with
//! no span current, on inside a span whose bucket was claimed less than the interval ago
//! (a call that does not take one), and on with every call due (a call that takes one).
//!
//! `cargo bench -p plugobs --features exemplars --bench exemplars`
//!
//! Same harness as `clock_floor`: every variant runs interleaved, round-robin, in one
//! process; each round times one batch of `N` calls per variant, after setting the
//! process-wide exemplar settings that variant needs; the report is the median ns/call
//! per variant over the rounds and its overhead over the bare call. The subscriber is
//! `tracing-opentelemetry`'s layer into an SDK tracer provider (exporting nowhere) with an
//! INFO filter, so the operation's own DEBUG span is off and only the host's span, entered
//! around a batch, gives calls a context. The bench exits 1 only when a count is wrong.
//!
//! Overrides: `PLUGOBS_BENCH_ROUNDS` (default 31), `PLUGOBS_BENCH_N` (default 200000).

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::subjects::{BenchError, body};
use common::{env_usize, median};
use opentelemetry::trace::TracerProvider as _;
use plugobs::exemplars;
use plugobs::{Plugin, Registry};
use tracing_subscriber::layer::SubscriberExt as _;

#[inline(never)]
fn bare(x: u64) -> Result<u64, BenchError> {
    body(x)
}

#[plugobs::plugin(kind = "bench")]
#[derive(Default)]
pub struct ExemplarBench;

#[plugobs::instrumented]
impl ExemplarBench {
    #[inline(never)]
    pub fn parse(&self, x: u64) -> Result<u64, BenchError> {
        body(x)
    }
}

/// Exemplars off: one load of the flag.
fn off() {
    exemplars::disable();
}

/// On, every call due (no interval).
fn every_call() {
    exemplars::enable();
    exemplars::set_interval(Duration::ZERO);
}

/// On, the default interval: after the first call of a batch, none is due.
fn interval() {
    exemplars::enable();
    exemplars::set_interval(exemplars::DEFAULT_INTERVAL);
}

/// (name, settings before each batch, whether the batch runs inside the host's span).
type Variant = (&'static str, fn(), bool, fn(u64) -> u64);

fn variants() -> Vec<Variant> {
    fn ok(r: Result<u64, BenchError>) -> u64 {
        r.unwrap_or(0)
    }
    fn plugobs(x: u64) -> u64 {
        ok(ExemplarBench.parse(black_box(x)))
    }
    vec![
        ("bare", off, false, |x| ok(bare(black_box(x)))),
        ("off, no span", off, false, plugobs),
        ("off, in a span", off, true, plugobs),
        ("on, no span current (due)", every_call, false, plugobs),
        ("on, in a span, not due", interval, true, plugobs),
        ("on, in a span, every call due", every_call, true, plugobs),
    ]
}

fn run(f: fn(u64) -> u64, n: usize, offset: u64) {
    let mut acc = 0u64;
    for i in 0..n as u64 {
        acc = acc.wrapping_add(f(offset + i));
    }
    black_box(acc);
}

fn main() {
    let rounds = env_usize("PLUGOBS_BENCH_ROUNDS", 31);
    let n = env_usize("PLUGOBS_BENCH_N", 200_000);
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
        .with(tracing_subscriber::filter::LevelFilter::INFO);
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let host = tracing::info_span!("host_request");

    let variants = variants();
    let batch = |(_, settings, in_span, f): &Variant, n: usize, offset: u64| {
        settings();
        if *in_span {
            host.in_scope(|| run(*f, n, offset));
        } else {
            run(*f, n, offset);
        }
    };
    for v in &variants {
        batch(v, 10_000, 0);
    }
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    let mut offset = 1u64;
    for _ in 0..rounds {
        for (i, v) in variants.iter().enumerate() {
            let start = Instant::now();
            batch(v, n, offset);
            samples[i].push(start.elapsed().as_nanos() as f64 / n as f64);
            offset += n as u64;
        }
    }
    let medians: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
    println!("median ns per call over {rounds} rounds of {n}, one thread:");
    println!(
        "  {:<32} {:>9} {:>10} {:>12}",
        "variant", "ns/call", "vs bare", "vs off"
    );
    let (bare, off) = (medians[0], medians[1]);
    for ((name, ..), m) in variants.iter().zip(&medians) {
        println!(
            "  {name:<32} {m:>9.2} {:>+10.2} {:>+12.2}",
            m - bare,
            m - off
        );
    }

    exemplars::disable();
    let registry = Registry::from_descriptors([ExemplarBench::DESCRIPTOR]).expect("bench plugin");
    let expected = (variants.len() as u64 - 1) * (10_000 + (rounds * n) as u64);
    let stats = registry.stats();
    let op = &stats.plugins[0].operations[0];
    println!(
        "  {}/{}: {} calls ({expected} expected); slowest recent exemplar: {:?}",
        stats.plugins[0].name,
        op.name,
        op.calls,
        op.exemplar.as_ref().map(|e| (&e.trace_id, e.latency))
    );
    if op.calls != expected || op.exemplar.is_none() {
        eprintln!("a count is wrong, or no exemplar was kept");
        std::process::exit(1);
    }
}
