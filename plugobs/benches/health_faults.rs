//! `cargo bench -p plugobs --bench health_faults`: health monitoring under faults, over
//! minutes. 1 000 plugins with a health hook and a running instance, of which
//! `PLUGOBS_BENCH_HUNG` (default 50) have hooks that never return and 10 hooks that
//! panic; the default health policy; operations called all along on a thread of their
//! own. Rounds every second (`PLUGOBS_BENCH_SECONDS`, default 300, of them), each a
//! `HealthMonitor::tick` of a manual monitor with the monitor's defaults (timeout 2 s,
//! thresholds 3 and 2), so this thread knows when each round starts.
//! `PLUGOBS_BENCH_CALLS=0` calls no operation.
//!
//! Printed, and compared with the goals of issue 20:
//! - RSS growth from the end of the first minute to the end (goal ≤ 256 KiB);
//! - per round, how late the last healthy check started after the round began (goal
//!   within 50 ms), as the median and the worst round;
//! - rounds that took longer than the interval (goal none);
//! - the process's threads at most, against hung hooks + the pool's 8 workers + 4 (the
//!   main thread, the caller, and slack).
//!
//! Informational: the bench always exits 0.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use plugobs::{Health, HealthMonitor, Plugin, PluginDescriptor, Registry};

/// Counts live heap bytes and blocks, to tell memory the process holds (a leak) apart from
/// RSS the allocator keeps (fragmentation).
struct Counting;

static LIVE_BYTES: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
static LIVE_BLOCKS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE_BYTES.fetch_add(layout.size() as i64, Relaxed);
        LIVE_BLOCKS.fetch_add(1, Relaxed);
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as i64, Relaxed);
        LIVE_BLOCKS.fetch_sub(1, Relaxed);
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const PLUGINS: usize = 1000;
const PANICKING: usize = 10;
const INTERVAL: Duration = Duration::from_secs(1);

pub trait Probe: Send + Sync {}

/// Nanoseconds since `EPOCH` of the latest start of a healthy check in this round.
static LATEST_HEALTHY_START: AtomicU64 = AtomicU64::new(0);
static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();

fn since_epoch() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

#[plugobs::plugin(kind = "probe", provides = dyn Probe, health = Self::check)]
#[derive(Default)]
pub struct Steady;

impl Probe for Steady {}

impl Steady {
    fn check(&self) -> Health {
        LATEST_HEALTHY_START.fetch_max(since_epoch(), Relaxed);
        Health::healthy()
    }
}

#[plugobs::instrumented]
impl Steady {
    fn work(&self, n: u64) -> Result<u64, std::fmt::Error> {
        if n % 97 == 0 {
            Err(std::fmt::Error)
        } else {
            Ok(n.wrapping_mul(31))
        }
    }
}

/// Never returns until the bench ends.
static GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

#[plugobs::plugin(kind = "probe", provides = dyn Probe, health = Self::check)]
#[derive(Default)]
pub struct Hung;

impl Probe for Hung {}

impl Hung {
    fn check(&self) -> Health {
        let mut open = GATE.0.lock().unwrap_or_else(|e| e.into_inner());
        while !*open {
            open = GATE.1.wait(open).unwrap_or_else(|e| e.into_inner());
        }
        Health::healthy()
    }
}

#[plugobs::plugin(kind = "probe", provides = dyn Probe, health = Self::check)]
#[derive(Default)]
pub struct Panicky;

impl Probe for Panicky {}

impl Panicky {
    fn check(&self) -> Health {
        panic!("the probe exploded")
    }
}

fn proc_status(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn named(
    base: &'static PluginDescriptor,
    prefix: &str,
    n: usize,
) -> Vec<&'static PluginDescriptor> {
    (0..n)
        .map(|i| {
            &*Box::leak(Box::new(PluginDescriptor {
                name: Box::leak(format!("{prefix}_{i:04}").into_boxed_str()),
                ..*base
            }))
        })
        .collect()
}

fn main() {
    // Panicking hooks would print a backtrace each round.
    std::panic::set_hook(Box::new(|_| {}));
    let hung = usize::try_from(env("PLUGOBS_BENCH_HUNG", 50)).unwrap_or(50);
    let seconds = env("PLUGOBS_BENCH_SECONDS", 300);
    let healthy = PLUGINS - hung - PANICKING;
    let mut descriptors = named(Steady::DESCRIPTOR, "steady", healthy);
    descriptors.extend(named(Hung::DESCRIPTOR, "hung", hung));
    descriptors.extend(named(Panicky::DESCRIPTOR, "panicky", PANICKING));
    descriptors.push(Steady::DESCRIPTOR); // the plugin whose operation is called
    let registry: &'static Registry = Box::leak(Box::new(
        Registry::from_descriptors(descriptors.clone()).expect("distinct names"),
    ));
    let loaded: Vec<_> = descriptors
        .iter()
        .map(|d| registry.load::<dyn Probe>(d.name).expect("load"))
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    // `PLUGOBS_BENCH_CALLS=0` leaves operations uncalled, to tell their memory apart.
    let call = env("PLUGOBS_BENCH_CALLS", 1) != 0;
    let caller = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut n = 0u64;
            while call && !stop.load(Relaxed) {
                for _ in 0..1000 {
                    n += 1;
                    let _ = std::hint::black_box(Steady.work(n));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            n
        })
    };

    let monitor = HealthMonitor::builder().interval(INTERVAL).manual(registry);
    let began = Instant::now();
    let mut lateness = Vec::new();
    let mut overruns = Vec::new();
    let mut max_threads = 0u64;
    let mut rss_minute = None;
    let mut live_minute = (0, 0);
    let mut next = Instant::now();
    for round in 0..seconds {
        if round == 60 {
            rss_minute = proc_status("VmRSS:");
            live_minute = (LIVE_BYTES.load(Relaxed), LIVE_BLOCKS.load(Relaxed));
        }
        if round % 60 == 0 && std::env::var_os("PLUGOBS_BENCH_TRACE").is_some() {
            eprintln!(
                "round {round}: RSS {} KiB, live heap {} B in {} blocks",
                proc_status("VmRSS:").unwrap_or(0),
                LIVE_BYTES.load(Relaxed),
                LIVE_BLOCKS.load(Relaxed)
            );
        }
        let now = Instant::now();
        if now < next {
            std::thread::sleep(next - now);
        }
        next += INTERVAL;
        LATEST_HEALTHY_START.store(0, Relaxed);
        let start = since_epoch();
        let t = Instant::now();
        let report = monitor.tick();
        let took = t.elapsed();
        if took > INTERVAL {
            overruns.push((round, took));
        }
        let latest = LATEST_HEALTHY_START.load(Relaxed);
        lateness.push(Duration::from_nanos(latest.saturating_sub(start)));
        max_threads = max_threads.max(proc_status("Threads:").unwrap_or(0));
        assert_eq!(report.checks.len(), descriptors.len());
    }
    let rss_end = proc_status("VmRSS:");
    let live_end = (LIVE_BYTES.load(Relaxed), LIVE_BLOCKS.load(Relaxed));
    stop.store(true, Relaxed);
    let calls = caller.join().unwrap_or(0);
    // The first round starts every hung check and spawns a thread for each.
    let first = lateness.first().copied().unwrap_or_default();
    let mut later = lateness.split_off(1.min(lateness.len()));
    later.sort();
    let at = |q: f64| {
        later
            .get(((later.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or_default()
    };
    let (median, p99, worst) = (at(0.5), at(0.99), later.last().copied().unwrap_or_default());
    let growth = match (rss_minute, rss_end) {
        (Some(a), Some(b)) => format!("{} KiB", b as i64 - a as i64),
        _ => "n/a (runs shorter than a minute or no /proc)".to_owned(),
    };
    println!(
        "health under faults: {PLUGINS} plugins ({hung} hung, {PANICKING} panicking), \
         {seconds} rounds 1 s apart, {:.0} s, {calls} operation calls",
        began.elapsed().as_secs_f64()
    );
    println!("RSS growth after the first minute: {growth} (goal <= 256 KiB)");
    println!(
        "live heap growth after the first minute: {} B in {} blocks",
        live_end.0 - live_minute.0,
        live_end.1 - live_minute.1
    );
    println!(
        "latest healthy check's start after its round's: first round {first:?}; later rounds median {median:?}, p99 {p99:?}, worst {worst:?} (goal <= 50 ms)"
    );
    println!(
        "rounds longer than the interval: {} (goal 0){}",
        overruns.len(),
        if overruns.is_empty() {
            String::new()
        } else {
            format!(": {overruns:?}")
        }
    );
    println!(
        "threads at most: {max_threads} (goal <= hung + 8 workers + 4 = {})",
        hung + 8 + 4
    );
    let threads = plugobs::health::check_threads();
    println!(
        "check threads at the end: {} alive, {} held by slow or timed-out checks",
        threads.alive, threads.held_by_timed_out_checks
    );
    {
        let mut open = GATE.0.lock().unwrap_or_else(|e| e.into_inner());
        *open = true;
        GATE.1.notify_all();
    }
    drop(loaded);
}
