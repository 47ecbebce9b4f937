//! Multi-thread scaling of a plugobs operation (Prometheus recorder installed) against
//! hand-cached `metrics` handles: throughput from 1 and from 2 threads.
//!
//! `cargo bench -p plugobs --bench scaling`
//!
//! Each round, for each variant and each thread count (interleaved, the order rotating every
//! round), fresh threads — all started after 64 others have come and gone — wait on a barrier, each makes `N` calls, and the wall time from the
//! barrier to the last thread's end is measured. The report is the median throughput over
//! the rounds. The target (informational; the bench always exits 0): 2 threads give at
//! least 1.8x the throughput of 1 thread.
//!
//! Overrides: `PLUGOBS_BENCH_ROUNDS` (default 15), `PLUGOBS_BENCH_N` (calls per thread per
//! round, default 2000000).

mod common;

use std::hint::black_box;
use std::sync::{Barrier, OnceLock};
use std::time::{Duration, Instant};

use common::subjects::{BenchPlugin, HandCached};
use common::{Interference, env_usize, median, thread_cpu_seconds, verdict};
use metrics_exporter_prometheus::PrometheusBuilder;

static PLUGIN: BenchPlugin = BenchPlugin;
static HAND: OnceLock<HandCached> = OnceLock::new();

fn calls_plugobs(n: u64) {
    for i in 0..n {
        let _ = black_box(PLUGIN.parse(black_box(i)));
    }
}

fn calls_hand(n: u64) {
    let hand = HAND.get().expect("handles resolved");
    for i in 0..n {
        let _ = black_box(hand.parse(black_box(i)));
    }
}

/// Wall time of `threads` fresh threads each running `work(n)`, from a common start.
fn wall(threads: usize, n: u64, work: fn(u64)) -> Duration {
    let barrier = Barrier::new(threads + 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    work(n);
                    Instant::now()
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let end = handles
            .into_iter()
            .map(|h| h.join().expect("bench thread"))
            .max()
            .expect("threads");
        end.duration_since(start)
    })
}

struct Case {
    name: &'static str,
    threads: usize,
    work: fn(u64),
    /// calls/s per round
    samples: Vec<f64>,
}

fn cases(rounds: usize) -> Vec<Case> {
    let mut cases = Vec::new();
    for (name, work) in [
        ("plugobs, prometheus", calls_plugobs as fn(u64)),
        (
            "hand-cached metrics handles, prometheus",
            calls_hand as fn(u64),
        ),
    ] {
        for threads in [1, 2] {
            cases.push(Case {
                name,
                threads,
                work,
                samples: Vec::with_capacity(rounds),
            });
        }
    }
    cases
}

/// Runs every case once per round, the starting case rotating; `between` runs untimed
/// after the warm-up and after each round.
fn measure(cases: &mut [Case], rounds: usize, n: u64, mut between: impl FnMut()) {
    for c in cases.iter() {
        black_box(wall(c.threads, n / 10, c.work));
    }
    between();
    for round in 0..rounds {
        let k = cases.len();
        for j in 0..k {
            let c = &mut cases[(round + j) % k];
            let t = wall(c.threads, n, c.work);
            c.samples
                .push((c.threads as u64 * n) as f64 / t.as_secs_f64());
        }
        between();
    }
}

fn report(title: &str, cases: &[Case]) {
    println!();
    println!("{title}");
    println!(
        "{:<42} {:>7} {:>16} {:>16} {:>16}",
        "variant", "threads", "median calls/s", "min calls/s", "max calls/s"
    );
    println!("{}", "-".repeat(101));
    for c in cases {
        let mut s = c.samples.clone();
        let med = median(&mut s);
        println!(
            "{:<42} {:>7} {:>16.3e} {:>16.3e} {:>16.3e}",
            c.name,
            c.threads,
            med,
            s.first().copied().unwrap_or(0.0),
            s.last().copied().unwrap_or(0.0)
        );
    }
    println!(
        "scaling, 2 threads / 1 thread: median throughput (target >= 1.8x for plugobs); \
         best round / best round for reference"
    );
    let best = |c: &Case| c.samples.iter().copied().fold(0.0, f64::max);
    for pair in cases.chunks(2) {
        let one = median(&mut pair[0].samples.clone());
        let two = median(&mut pair[1].samples.clone());
        let ratio = two / one;
        let tag = if pair[0].name.starts_with("plugobs") {
            verdict(ratio >= 1.8)
        } else {
            "(comparison)"
        };
        println!(
            "  {:<40} {:>8.2}x {tag:<13} best {:.2}x",
            pair[0].name,
            ratio,
            best(&pair[1]) / best(&pair[0])
        );
    }
}

fn main() {
    let rounds = env_usize("PLUGOBS_BENCH_ROUNDS", 11);
    let n = env_usize("PLUGOBS_BENCH_N", 2_000_000) as u64;
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "plugobs scaling bench: {rounds} rounds, {n} calls per thread per round, \
         {cores} cores available; Prometheus recorder installed"
    );
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("install the Prometheus recorder");
    let _ = plugobs::registry();
    HAND.get_or_init(HandCached::new);

    // 64 threads come and go first, so every measured thread is started after them: an
    // exiting thread gives its shard index back and a later one adopts it, so measured
    // threads still write single-writer shards (before index reuse they fell onto the
    // shared atomic shards). Each round below also starts fresh threads.
    std::thread::scope(|s| {
        for _ in 0..64 {
            s.spawn(|| calls_plugobs(10));
        }
    });

    // A: as shipped, the background flusher forwarding every second.
    let started = Instant::now();
    let interference = Interference::start();
    let cpu0 = thread_cpu_seconds("plugobs-flush").unwrap_or(0.0);
    let mut a = cases(rounds);
    // Drain the exporter's histogram samples after each round, as a host's scrape would.
    measure(&mut a, rounds, n, || handle.run_upkeep());
    let cpu1 = thread_cpu_seconds("plugobs-flush").unwrap_or(0.0);
    let took = started.elapsed().as_secs_f64();
    let interference_a = interference.report();
    report(
        "A. background flusher on (default 1 s interval), as shipped",
        &a,
    );
    let plugobs_calls: f64 = a
        .iter()
        .filter(|c| c.name.starts_with("plugobs"))
        // The rounds plus the warm-up (n / 10 per thread).
        .map(|c| (c.threads as u64 * (n * rounds as u64 + n / 10)) as f64)
        .sum();
    println!(
        "plugobs-flush thread CPU during A: {:.2} s of {took:.1} s wall ({:.0} % of one core), \
         for ~{:.0}M plugobs calls = {:.1} ms per 1M calls",
        cpu1 - cpu0,
        (cpu1 - cpu0) / took * 100.0,
        plugobs_calls / 1e6,
        (cpu1 - cpu0) * 1e3 / (plugobs_calls / 1e6)
    );
    println!("{interference_a}");

    // B: the flusher parked, flushing between rounds (untimed): the hot path alone.
    plugobs::bridge::set_flush_interval(Duration::from_secs(3600));
    std::thread::sleep(Duration::from_millis(1100));
    let interference = Interference::start();
    let mut b = cases(rounds);
    measure(&mut b, rounds, n, || {
        plugobs::flush();
        handle.run_upkeep();
    });
    report(
        "B. background flusher parked, flush between rounds (hot path alone)",
        &b,
    );
    println!("{}", interference.report());
    println!();
    println!("measured in {:.1} s", started.elapsed().as_secs_f64());
}
