//! `cargo bench -p plugobs --bench scale`: what plugobs costs outside the caller, at
//! scale. 10 plugins × 100 instrumented operations (1 000 operations); for 1, 16 and 64
//! threads, each thread calls every operation 10 times. Printed per thread count:
//!
//! - RSS growth of the process (all of it, and anonymous memory only: the first call of
//!   each of 1 000 functions also faults in its code pages), and plugobs' own cell memory
//!   (`Registry::operation_memory`) per (operation, thread) touched;
//! - a full `flush()` into metrics-exporter-prometheus (installed with
//!   `install_recorder`, the bridge path), an idle incremental flush (a
//!   `bridge::Flusher` after nothing changed, what the background thread does every
//!   second), a busy one (every operation called once since);
//! - `registry().stats()` and the direct Prometheus rendering (`exposition::render`);
//! - one point of the history (`Registry::record_history`), what the background thread
//!   takes every 10 s once the HTTP endpoints (or `bridge::keep_history`) want it.
//!
//! Each thread count runs in a fresh child process, so RSS and thread indices start
//! clean. Targets (issue "Costs that follow use"): 1 000 ops × 64 threads ≤ 64 MiB and
//! × 1 thread ≤ 2 MiB; idle flush of 1 000 ops × 64 threads ≤ 1 ms; `stats()` ≤ 1 ms with
//! 1 thread, ≤ 5 ms with 64.

#![allow(clippy::result_unit_err)]

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use common::{median, mib, ms, rss_anon_bytes, rss_bytes};

macro_rules! plugin_with_ops {
    ($ty:ident, [$($op:ident),*]) => {
        #[plugobs::plugin(kind = "probe")]
        #[derive(Default)]
        pub struct $ty;

        #[plugobs::instrumented]
        impl $ty {
            $(
                pub fn $op(&self, x: u64) -> Result<u64, ()> {
                    if x == u64::MAX { Err(()) } else { Ok(x.wrapping_mul(3)) }
                }
            )*
        }

        impl $ty {
            const OPS: &'static [fn(&$ty, u64) -> Result<u64, ()>] = &[$($ty::$op),*];
        }
    };
}

/// Every probe plugin gets the same operations: the list is written once.
macro_rules! plugins_with_ops {
    ([$($ty:ident),*], $ops:tt) => {
        $(plugin_with_ops!($ty, $ops);)*
    };
}

plugins_with_ops!(
    [
        Probe00, Probe01, Probe02, Probe03, Probe04, Probe05, Probe06, Probe07, Probe08, Probe09
    ],
    [
        op000, op001, op002, op003, op004, op005, op006, op007, op008, op009, op010, op011, op012,
        op013, op014, op015, op016, op017, op018, op019, op020, op021, op022, op023, op024, op025,
        op026, op027, op028, op029, op030, op031, op032, op033, op034, op035, op036, op037, op038,
        op039, op040, op041, op042, op043, op044, op045, op046, op047, op048, op049, op050, op051,
        op052, op053, op054, op055, op056, op057, op058, op059, op060, op061, op062, op063, op064,
        op065, op066, op067, op068, op069, op070, op071, op072, op073, op074, op075, op076, op077,
        op078, op079, op080, op081, op082, op083, op084, op085, op086, op087, op088, op089, op090,
        op091, op092, op093, op094, op095, op096, op097, op098, op099
    ]
);

const OPERATIONS: usize = 1_000;

fn call_everything(rounds: u64) {
    for op in Probe00::OPS {
        for i in 0..rounds {
            let _ = black_box(op(&Probe00, black_box(i)));
        }
    }
    for op in Probe01::OPS {
        for i in 0..rounds {
            let _ = black_box(op(&Probe01, black_box(i)));
        }
    }
    for op in Probe02::OPS {
        for i in 0..rounds {
            let _ = black_box(op(&Probe02, black_box(i)));
        }
    }
    for op in Probe03::OPS {
        for i in 0..rounds {
            let _ = black_box(op(&Probe03, black_box(i)));
        }
    }
    for op in Probe04::OPS {
        for i in 0..rounds {
            let _ = black_box(op(&Probe04, black_box(i)));
        }
    }
    for op in Probe05::OPS {
        for i in 0..rounds {
            let _ = black_box(op(&Probe05, black_box(i)));
        }
    }
    for op in Probe06::OPS {
        for i in 0..rounds {
            let _ = black_box(op(&Probe06, black_box(i)));
        }
    }
    for op in Probe07::OPS {
        for i in 0..rounds {
            let _ = black_box(op(&Probe07, black_box(i)));
        }
    }
    for op in Probe08::OPS {
        for i in 0..rounds {
            let _ = black_box(op(&Probe08, black_box(i)));
        }
    }
    for op in Probe09::OPS {
        for i in 0..rounds {
            let _ = black_box(op(&Probe09, black_box(i)));
        }
    }
}

fn timed(mut f: impl FnMut()) -> f64 {
    let mut v: Vec<f64> = (0..7)
        .map(|_| {
            let t = Instant::now();
            f();
            ms(t.elapsed())
        })
        .collect();
    median(&mut v)
}

fn child(threads: usize) {
    let _handle = plugobs::prometheus::builder()
        .unwrap()
        .install_recorder()
        .unwrap();
    // No background flush while measuring: every flush below is on this thread.
    plugobs::bridge::set_flush_interval(Duration::from_secs(3600));
    let registry = plugobs::registry();
    let rss_before = rss_bytes().unwrap_or(0) as i64;
    let anon_before = rss_anon_bytes().unwrap_or(0) as i64;
    let memory_before = registry.operation_memory(); // NEW-API
    let barrier = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                barrier.wait();
                call_everything(10);
            });
        }
    });
    let rss_growth = rss_bytes().unwrap_or(0) as i64 - rss_before;
    let anon_growth = rss_anon_bytes().unwrap_or(0) as i64 - anon_before;
    let stats = registry.stats();
    assert_eq!(
        stats.total_calls,
        (OPERATIONS * threads * 10) as u64,
        "counts are exact"
    );
    let cells = registry.operation_memory() - memory_before; // NEW-API
    let per_pair = cells as f64 / (OPERATIONS * threads) as f64; // NEW-API

    let full_flush = timed(|| registry.flush());
    let mut flusher = plugobs::bridge::Flusher::new(); // NEW-API
    flusher.flush(registry); // NEW-API
    let idle_flush = timed(|| flusher.flush(registry)); // NEW-API
    let busy_flush = timed(|| {
        // NEW-API
        call_everything(1); // NEW-API
        flusher.flush(registry); // NEW-API
    }) - timed(|| call_everything(1)); // NEW-API
    let stats_ms = timed(|| {
        black_box(registry.stats());
    });
    let render = timed(|| {
        // NEW-API
        black_box(plugobs::exposition::render(
            registry,
            plugobs::exposition::Format::Prometheus,
        )); // NEW-API
    }); // NEW-API
    // One history point of every operation (what the background thread takes every
    // 10 s once the history is wanted), after a baseline point and one call of each.
    registry.record_history(std::time::SystemTime::now());
    call_everything(1);
    let history_point = timed(|| registry.record_history(std::time::SystemTime::now()));
    println!(
        "{threads:>7} | {:>9.1} MiB | {:>9.1} MiB | {:>8.2} MiB | {per_pair:>6.0} B | {full_flush:>8.2} ms | {idle_flush:>8.3} ms | {busy_flush:>8.3} ms | {stats_ms:>8.2} ms | {render:>8.2} ms | {history_point:>8.2} ms",
        mib(rss_growth),
        mib(anon_growth),
        mib(cells as i64),
    );
}

fn main() {
    if let Ok(threads) = std::env::var("PLUGOBS_SCALE_CHILD") {
        child(threads.parse().expect("thread count"));
        return;
    }
    println!("1 000 operations (10 plugins x 100), every thread calls each 10 times; medians of 7");
    println!(
        "threads | RSS growth    | anon growth   | cells        | /(op,thr) | full flush  | idle flush  | busy flush  | stats()     | render      | history point"
    );
    let exe = std::env::current_exe().expect("own path");
    for threads in common::env_list("PLUGOBS_SCALE_THREADS", &[1, 16, 64]) {
        let status = std::process::Command::new(&exe)
            .env("PLUGOBS_SCALE_CHILD", threads.to_string())
            .status()
            .expect("run child");
        assert!(status.success(), "child for {threads} threads failed");
    }
}
