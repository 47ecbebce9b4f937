//! `cargo bench -p plugobs --bench bridge`: what one flush of the bridge costs, per
//! histogram mode, per recorder, with calls since the previous flush and without.
//!
//! 4 plugins × 25 instrumented operations (100 operation series) on the global registry,
//! the background flusher held off (1 h). Two ways of flushing, each inside
//! `metrics::with_local_recorder`:
//!
//! - *kept*: a `plugobs::bridge::Flusher` per recorder, what the background thread does
//!   into the global recorder: handles registered once and kept, counters as deltas,
//!   only the groups that changed since its previous flush;
//! - *stateless*: `plugobs::flush()`, what a local (test) recorder gets: every series,
//!   totals with `absolute` on handles registered anew.
//!
//! Into one of:
//!
//! - a no-op recorder (`metrics::NoopRecorder`): the baseline, the cost of walking the
//!   aggregates and building keys with nothing stored;
//! - a counting recorder, which only counts the handle operations (increments, absolute
//!   values, gauge sets, histogram values): how many updates a flush makes;
//! - metrics-util's `DebuggingRecorder`;
//! - metrics-exporter-prometheus's `PrometheusRecorder` (`build_recorder`, never rendered
//!   here: the storing side only);
//! - metrics-exporter-dogstatsd's recorder (its forwarder thread sends to a local UDP
//!   socket nobody reads, every second, outside the timed flushes);
//! - metrics-exporter-opentelemetry's recorder on an SDK meter provider whose periodic
//!   reader (60 s) exports to the SDK's in-memory exporter: aggregation in the SDK, not
//!   collected while the bench runs.
//!
//! Every recorder is built before the first flush and kept until the end, so no two are
//! ever at the same address. Per mode (`Buckets`, `CountAndSum`, `Samples`): 3 warm-up
//! rounds, then `PLUGOBS_BENCH_ROUNDS` (default 51) rounds, each calling every one of the
//! 100 operations 10 times (not timed), then timing one *busy* flush into each recorder
//! in turn (each sees those 1 000 new calls) and then one *idle* flush into each (nothing
//! called since its previous flush). Round-robin, so the machine's drift is shared, and
//! which recorder flushes first after the calls rotates.
//! Printed: the median µs per flush, ns per operation series (÷ 100), and the ratio to
//! the no-op recorder's median in the same mode and scenario, measured in the same run.
//!
//! Informational: the bench always exits 0.

#![allow(clippy::result_unit_err)]

use std::hint::black_box;
use std::net::UdpSocket;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata,
    NoopRecorder, Recorder, SharedString, Unit,
};
use plugobs::bridge::{self, Flusher, HistogramMode};

mod common;
use common::median;

macro_rules! plugin_with_ops {
    ($ty:ident, [$($op:ident),*]) => {
        #[plugobs::plugin(kind = "probe")]
        #[derive(Default)]
        pub struct $ty;

        #[plugobs::instrumented]
        impl $ty {
            $(
                pub fn $op(&self, x: u64) -> Result<u64, ()> {
                    if x % 16 == 15 { Err(()) } else { Ok(x.wrapping_mul(3)) }
                }
            )*
        }

        impl $ty {
            const OPS: &'static [fn(&$ty, u64) -> Result<u64, ()>] = &[$($ty::$op),*];
        }
    };
}

macro_rules! plugins_with_ops {
    ([$($ty:ident),*], $ops:tt) => {
        $(plugin_with_ops!($ty, $ops);)*
    };
}

plugins_with_ops!(
    [Flushed0, Flushed1, Flushed2, Flushed3],
    [
        op00, op01, op02, op03, op04, op05, op06, op07, op08, op09, op10, op11, op12, op13, op14,
        op15, op16, op17, op18, op19, op20, op21, op22, op23, op24
    ]
);

const OPERATIONS: usize = 100;
const CALLS_PER_OPERATION: u64 = 10;

fn call_everything() {
    for i in 0..CALLS_PER_OPERATION {
        for op in Flushed0::OPS {
            let _ = black_box(op(&Flushed0, black_box(i)));
        }
        for op in Flushed1::OPS {
            let _ = black_box(op(&Flushed1, black_box(i)));
        }
        for op in Flushed2::OPS {
            let _ = black_box(op(&Flushed2, black_box(i)));
        }
        for op in Flushed3::OPS {
            let _ = black_box(op(&Flushed3, black_box(i)));
        }
    }
}

/// Counts every operation on the handles it hands out.
#[derive(Default)]
struct Counting {
    updates: Arc<Updates>,
}

#[derive(Default)]
struct Updates(AtomicU64);

impl CounterFn for Updates {
    fn increment(&self, _: u64) {
        self.0.fetch_add(1, Relaxed);
    }
    fn absolute(&self, _: u64) {
        self.0.fetch_add(1, Relaxed);
    }
}

impl GaugeFn for Updates {
    fn increment(&self, _: f64) {
        self.0.fetch_add(1, Relaxed);
    }
    fn decrement(&self, _: f64) {
        self.0.fetch_add(1, Relaxed);
    }
    fn set(&self, _: f64) {
        self.0.fetch_add(1, Relaxed);
    }
}

impl HistogramFn for Updates {
    fn record(&self, _: f64) {
        self.0.fetch_add(1, Relaxed);
    }
    fn record_many(&self, _: f64, count: usize) {
        self.0.fetch_add(count as u64, Relaxed);
    }
}

impl Recorder for Counting {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::clone(&self.updates))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(Arc::clone(&self.updates))
    }
    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::clone(&self.updates))
    }
}

fn rounds() -> usize {
    std::env::var("PLUGOBS_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(51)
}

/// How a flush is made.
#[derive(Clone, Copy, PartialEq)]
enum Path {
    Kept,
    Stateless,
}

/// One flush into `recorder`, timed, in µs.
fn timed_flush(recorder: &dyn Recorder, path: Path, flusher: &mut Flusher) -> f64 {
    metrics::with_local_recorder(recorder, || {
        let t = Instant::now();
        match path {
            Path::Kept => flusher.flush(plugobs::registry()),
            Path::Stateless => plugobs::flush(),
        }
        t.elapsed().as_secs_f64() * 1e6
    })
}

struct Measured {
    busy: f64,
    idle: f64,
}

/// Every recorder, round-robin: per round, the calls once, then a busy flush into each
/// recorder (each sees the same new calls: its previous flush was before them), then an
/// idle flush into each. Medians per recorder.
fn measure(recorders: &[(&str, &dyn Recorder)], path: Path, rounds: usize) -> Vec<Measured> {
    let mut flushers: Vec<Flusher> = recorders.iter().map(|_| Flusher::new()).collect();
    for _ in 0..3 {
        call_everything();
        for ((_, recorder), flusher) in recorders.iter().zip(&mut flushers) {
            timed_flush(*recorder, path, flusher);
        }
    }
    let mut busy = vec![Vec::with_capacity(rounds); recorders.len()];
    let mut idle = vec![Vec::with_capacity(rounds); recorders.len()];
    let n = recorders.len();
    for round in 0..rounds {
        call_everything();
        // The first flush after the calls reads freshly written cells: which recorder
        // goes first rotates.
        for i in (0..n).map(|k| (k + round) % n) {
            busy[i].push(timed_flush(recorders[i].1, path, &mut flushers[i]));
        }
        for i in (0..n).map(|k| (k + round) % n) {
            idle[i].push(timed_flush(recorders[i].1, path, &mut flushers[i]));
        }
    }
    busy.iter_mut()
        .zip(idle.iter_mut())
        .map(|(b, i)| Measured {
            busy: median(b),
            idle: median(i),
        })
        .collect()
}

fn main() {
    // Before the first use of the global registry, which starts the flusher.
    bridge::set_flush_interval(Duration::from_secs(3600));
    let _ = plugobs::registry();
    let rounds = rounds();

    let noop = NoopRecorder;
    let counting = Counting::default();
    let debugging = metrics_util::debugging::DebuggingRecorder::new();
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let sink = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP sink");
    let dogstatsd = metrics_exporter_dogstatsd::DogStatsDBuilder::default()
        .with_remote_address(sink.local_addr().expect("address").to_string())
        .expect("remote address")
        .with_telemetry(false)
        .with_flush_interval(Duration::from_secs(1))
        .build()
        .expect("build the DogStatsD recorder");
    let (_provider, opentelemetry) = metrics_exporter_opentelemetry::Recorder::builder("bench")
        .with_meter_provider(|b| {
            b.with_periodic_exporter(opentelemetry_sdk::metrics::InMemoryMetricExporter::default())
        })
        .build();
    let recorders: [(&str, &dyn Recorder); 6] = [
        ("no-op (baseline)", &noop),
        ("counting", &counting),
        ("metrics-util Debugging", &debugging),
        ("prometheus recorder", &prometheus),
        ("dogstatsd", &dogstatsd),
        ("opentelemetry (SDK)", &opentelemetry),
    ];

    println!(
        "bridge flush cost: {OPERATIONS} operation series (4 plugins x 25), \
         {CALLS_PER_OPERATION} calls per operation before each busy flush (not timed); \
         medians of {rounds} rounds"
    );
    for mode in [
        HistogramMode::Buckets,
        HistogramMode::CountAndSum,
        HistogramMode::Samples,
    ] {
        bridge::set_histogram_mode(mode);
        for path in [Path::Kept, Path::Stateless] {
            println!();
            println!(
                "mode {mode:?}, {}",
                match path {
                    Path::Kept => "kept handles, deltas, changed groups only (a Flusher)",
                    Path::Stateless => "stateless: plugobs::flush() into a local recorder",
                }
            );
            println!(
                "{:<24} | {:>11} | {:>10} | {:>8} | {:>11} | {:>10} | {:>8}",
                "recorder", "busy µs", "ns/series", "× no-op", "idle µs", "ns/series", "× no-op"
            );
            let measured = measure(&recorders, path, rounds);
            let base = &measured[0];
            for ((name, _), m) in recorders.iter().zip(&measured) {
                println!(
                    "{name:<24} | {:>11.1} | {:>10.0} | {:>8.2} | {:>11.1} | {:>10.0} | {:>8.2}",
                    m.busy,
                    m.busy * 1e3 / OPERATIONS as f64,
                    m.busy / base.busy,
                    m.idle,
                    m.idle * 1e3 / OPERATIONS as f64,
                    m.idle / base.idle,
                );
            }
            // Updates one flush makes in this mode, busy and idle.
            let mut flusher = Flusher::new();
            timed_flush(&counting, path, &mut flusher);
            let before = counting.updates.0.load(Relaxed);
            call_everything();
            timed_flush(&counting, path, &mut flusher);
            let busy_updates = counting.updates.0.load(Relaxed) - before;
            let before = counting.updates.0.load(Relaxed);
            timed_flush(&counting, path, &mut flusher);
            let idle_updates = counting.updates.0.load(Relaxed) - before;
            println!(
                "handle updates per flush: busy {busy_updates}, idle {idle_updates} \
                 ({:.1} and {:.1} per operation series)",
                busy_updates as f64 / OPERATIONS as f64,
                idle_updates as f64 / OPERATIONS as f64,
            );
        }
    }
    drop(sink);
}
