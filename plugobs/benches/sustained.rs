//! `cargo bench -p plugobs --all-features --bench sustained`: the whole cost of calling
//! an instrumented operation as fast as possible for a sustained period, counted on every
//! thread of the process, and the memory at the end.
//!
//! Set-ups, each in a fresh child process (the global recorder can be installed once):
//!
//! - `direct`: the README's set-up, `plugobs::prometheus::install()`, rendered every
//!   `PLUGOBS_RENDER_SECS` (default 5) on a `render` thread, as a scrape would;
//! - `direct/sample16`: the same with `Registry::set_default_sampling(Some(16))`: one
//!   call in 16 timed (every call still counted: checked at the end of every run);
//! - `recorder/buckets` and `recorder/samples`: metrics-exporter-prometheus installed
//!   with `install_recorder()` (the bridge path), its `run_upkeep()` every second on an
//!   `upkeep` thread and a render as above, with the bridge forwarding histograms as
//!   bucket counters (today's default) or as per-call samples (the previous behaviour);
//! - `dogstatsd/buckets` and `dogstatsd/samples`: metrics-exporter-dogstatsd sending UDP
//!   to a local socket that counts the bytes, flat out and paced at 100 k calls/s.
//!
//! Printed per run: calls/s; CPU per call of the callers, of plugobs' flush thread, of
//! the upkeep and render threads, and of everything else in the process (the exporter's
//! own threads); RSS growth at the end; bytes/s on the wire for DogStatsD.
//! `PLUGOBS_SUSTAINED_SECS` (default 10) sets the duration, `PLUGOBS_SUSTAINED_ONLY` a
//! comma-separated subset of set-up names.

#![allow(clippy::result_unit_err)]

mod common;

use std::hint::black_box;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::{env_usize, mib, process_ticks, rss_bytes, thread_cpu_seconds};
use plugobs::bridge::HistogramMode;

#[plugobs::plugin(kind = "bench")]
#[derive(Default)]
pub struct Hot;

#[plugobs::instrumented]
impl Hot {
    pub fn call(&self, x: u64) -> Result<u64, ()> {
        if x == u64::MAX {
            Err(())
        } else {
            Ok(x.wrapping_mul(7))
        }
    }
}

/// CPU seconds used so far by the calling thread.
fn own_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/thread-self/stat") else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

/// A named helper thread running `f` every `every` until `stop`.
fn periodic(
    name: &str,
    every: Duration,
    stop: Arc<AtomicBool>,
    mut f: impl FnMut() + Send + 'static,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            // Sleeps until the next run (in steps of at most 250 ms, to notice `stop`), so
            // the thread's CPU time is `f`'s, not polling.
            let mut next = Instant::now() + every;
            while !stop.load(Ordering::Relaxed) {
                match next.checked_duration_since(Instant::now()) {
                    Some(wait) => std::thread::sleep(wait.min(Duration::from_millis(250))),
                    None => {
                        f();
                        next += every;
                    }
                }
            }
        })
        .expect("spawn helper thread")
}

fn child(setup: &str, threads: usize, rate: Option<u64>) {
    let seconds = env_usize("PLUGOBS_SUSTAINED_SECS", 10) as u64;
    let render_every = Duration::from_secs(env_usize("PLUGOBS_RENDER_SECS", 5) as u64);
    let stop = Arc::new(AtomicBool::new(false));
    let wire = Arc::new(AtomicU64::new(0));
    let mut helpers = Vec::new();
    match setup {
        "direct" | "direct/sample16" => {
            if setup == "direct/sample16" {
                plugobs::Registry::set_default_sampling(Some(16)).expect("a valid rate");
            }
            let exporter = plugobs::prometheus::install().expect("install");
            helpers.push(periodic("render", render_every, stop.clone(), move || {
                black_box(exporter.render().len());
            }));
        }
        "recorder/buckets" | "recorder/samples" => {
            plugobs::bridge::set_histogram_mode(if setup.ends_with("samples") {
                HistogramMode::Samples
            } else {
                HistogramMode::Buckets
            });
            let handle = plugobs::prometheus::builder()
                .expect("builder")
                .install_recorder()
                .expect("install_recorder");
            let upkeep = handle.clone();
            helpers.push(periodic(
                "upkeep",
                Duration::from_secs(1),
                stop.clone(),
                move || upkeep.run_upkeep(),
            ));
            helpers.push(periodic("render", render_every, stop.clone(), move || {
                black_box(handle.render().len());
            }));
        }
        "dogstatsd/buckets" | "dogstatsd/samples" => {
            plugobs::bridge::set_histogram_mode(if setup.ends_with("samples") {
                HistogramMode::Samples
            } else {
                HistogramMode::Buckets
            });
            let agent = UdpSocket::bind("127.0.0.1:0").expect("bind agent socket");
            agent
                .set_read_timeout(Some(Duration::from_millis(100)))
                .expect("timeout");
            let addr = agent.local_addr().expect("agent address");
            let (stop_agent, wire) = (stop.clone(), wire.clone());
            helpers.push(
                std::thread::Builder::new()
                    .name("agent".to_owned())
                    .spawn(move || {
                        let mut buf = vec![0u8; 65_536];
                        while !stop_agent.load(Ordering::Relaxed) {
                            if let Ok(n) = agent.recv(&mut buf) {
                                wire.fetch_add(n as u64, Ordering::Relaxed);
                            }
                        }
                    })
                    .expect("spawn agent"),
            );
            metrics_exporter_dogstatsd::DogStatsDBuilder::default()
                .with_remote_address(addr.to_string())
                .expect("address")
                .install()
                .expect("install dogstatsd");
        }
        other => panic!("unknown set-up {other}"),
    }
    let _registry = plugobs::registry(); // discovery; starts the flush thread
    let rss_before = rss_bytes().unwrap_or(0) as i64;
    let ticks_before = process_ticks().unwrap_or(0);
    let flush_before = thread_cpu_seconds("plugobs-flush").unwrap_or(0.0);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let barrier = Arc::new(Barrier::new(threads));
    let callers: Vec<_> = (0..threads)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::Builder::new()
                .name(format!("caller-{i}"))
                .spawn(move || {
                    barrier.wait();
                    let cpu_before = own_cpu_seconds();
                    let begun = Instant::now();
                    let per_thread = rate.map(|r| r as f64 / threads as f64);
                    let mut calls = 0u64;
                    while Instant::now() < deadline {
                        for x in 0..1_000u64 {
                            let _ = black_box(Hot.call(black_box(x)));
                        }
                        calls += 1_000;
                        if let Some(per_second) = per_thread {
                            let due = begun + Duration::from_secs_f64(calls as f64 / per_second);
                            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                                std::thread::sleep(wait);
                            }
                        }
                    }
                    (calls, own_cpu_seconds() - cpu_before)
                })
                .expect("spawn caller")
        })
        .collect();
    let (mut calls, mut caller_cpu) = (0u64, 0.0);
    for c in callers {
        let (n, cpu) = c.join().expect("caller");
        calls += n;
        caller_cpu += cpu;
    }
    let wall = started.elapsed().as_secs_f64();
    let flush_cpu = thread_cpu_seconds("plugobs-flush").unwrap_or(0.0) - flush_before;
    let upkeep_cpu = thread_cpu_seconds("upkeep").unwrap_or(0.0);
    let render_cpu = thread_cpu_seconds("render").unwrap_or(0.0);
    let agent_cpu = thread_cpu_seconds("agent").unwrap_or(0.0);
    let process_cpu = process_ticks().unwrap_or(0).saturating_sub(ticks_before) as f64 / 100.0;
    let rss_growth = rss_bytes().unwrap_or(0) as i64 - rss_before;
    let bytes = wire.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for h in helpers {
        let _ = h.join();
    }
    let other =
        (process_cpu - caller_cpu - flush_cpu - upkeep_cpu - render_cpu - agent_cpu).max(0.0);
    // Every call counted, sampled or not.
    let stats = plugobs::registry().stats();
    let op = stats
        .plugins
        .iter()
        .flat_map(|p| &p.operations)
        .find(|o| o.name == "call")
        .expect("the operation");
    assert_eq!(op.calls, calls, "{setup}: every call counted");
    let per_call = |cpu: f64| cpu * 1e9 / calls.max(1) as f64;
    println!(
        "{setup:<18} {threads:>2} {:>10} | {:>11.3e} | {:>7.1} | {:>7.2} | {:>7.2} | {:>7.2} | {:>7.2} | {:>9.1} | {:>10.0}",
        rate.map_or("flat out".to_owned(), |r| format!("{r}/s")),
        calls as f64 / wall,
        per_call(caller_cpu),
        per_call(flush_cpu),
        per_call(upkeep_cpu),
        per_call(render_cpu),
        per_call(other),
        mib(rss_growth),
        bytes as f64 / wall,
    );
}

fn main() {
    if let Ok(spec) = std::env::var("PLUGOBS_SUSTAINED_CHILD") {
        let mut parts = spec.split(' ');
        let setup = parts.next().expect("set-up");
        let threads = parts.next().and_then(|t| t.parse().ok()).expect("threads");
        let rate = parts.next().and_then(|r| r.parse().ok());
        child(setup, threads, rate);
        return;
    }
    let only: Option<Vec<String>> = std::env::var("PLUGOBS_SUSTAINED_ONLY")
        .ok()
        .map(|v| v.split(',').map(str::to_owned).collect());
    let runs: &[(&str, usize, Option<u64>)] = &[
        ("direct", 1, None),
        ("direct", 2, None),
        ("direct", 1, Some(1_000_000)),
        ("direct/sample16", 1, None),
        ("direct/sample16", 2, None),
        ("recorder/buckets", 1, None),
        ("recorder/buckets", 2, None),
        ("recorder/samples", 1, None),
        ("recorder/samples", 2, None),
        ("dogstatsd/buckets", 1, Some(100_000)),
        ("dogstatsd/buckets", 1, None),
        ("dogstatsd/samples", 1, Some(100_000)),
        ("dogstatsd/samples", 1, None),
    ];
    println!(
        "{} s per run; CPU in ns per call; RSS growth at the end",
        env_usize("PLUGOBS_SUSTAINED_SECS", 10)
    );
    println!(
        "set-up          thr       rate |     calls/s |  caller |   flush |  upkeep |  render |   other | RSS (MiB) | wire B/s"
    );
    let exe = std::env::current_exe().expect("own path");
    for &(setup, threads, rate) in runs {
        if only.as_ref().is_some_and(|o| !o.iter().any(|s| s == setup)) {
            continue;
        }
        let spec = match rate {
            Some(r) => format!("{setup} {threads} {r}"),
            None => format!("{setup} {threads}"),
        };
        let status = std::process::Command::new(&exe)
            .env("PLUGOBS_SUSTAINED_CHILD", spec)
            .status()
            .expect("run child");
        assert!(status.success(), "{setup} with {threads} threads failed");
    }
}
