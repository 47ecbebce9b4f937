//! What health monitoring costs for 1 000 plugins, each with a health hook and a running
//! instance: threads, memory, wall and CPU time per round. Prints its measurements (run
//! with `--nocapture`); asserts only what holds on any machine: the thread count and that
//! every plugin was checked in every round.
//!
//! ```text
//! cargo test -p plugobs-tests --release --test health_cost -- --nocapture
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plugobs::health::ManualClock;
use plugobs::{Health, HealthMonitor, HealthStatus, Plugin, PluginDescriptor, Registry};

const PLUGINS: usize = 1000;
const ROUNDS: u64 = 100;

pub trait Probe: Send + Sync {}

static CHECKS: AtomicU64 = AtomicU64::new(0);

/// One plugin type; the 1 000 plugins are 1 000 descriptors of it with their own names.
#[plugobs::plugin(kind = "probe", provides = dyn Probe, health = Self::check)]
#[derive(Default)]
pub struct Echo;

impl Probe for Echo {}

impl Echo {
    fn check(&self) -> Health {
        CHECKS.fetch_add(1, Ordering::Relaxed);
        Health::healthy().with_detail("pool", "4/10")
    }
}

/// `(field, value)` from `/proc/self/status` (Linux), e.g. `VmRSS` in kB.
fn proc_status(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time of the whole process (user + system), from `/proc/self/stat` (Linux).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

#[test]
fn one_thousand_plugins() {
    let base = Echo::DESCRIPTOR;
    let descriptors: Vec<&'static PluginDescriptor> = (0..PLUGINS)
        .map(|i| {
            &*Box::leak(Box::new(PluginDescriptor {
                name: Box::leak(format!("probe_{i:04}").into_boxed_str()),
                ..*base
            }))
        })
        .collect();
    let registry: &'static Registry = Box::leak(Box::new(
        Registry::from_descriptors(descriptors.clone()).unwrap(),
    ));
    let rss_before = proc_status("VmRSS:");
    let loaded: Vec<_> = descriptors
        .iter()
        .map(|d| registry.load::<dyn Probe>(d.name).unwrap())
        .collect();
    let rss_loaded = proc_status("VmRSS:");
    let threads_before = proc_status("Threads:");

    // Rounds 10 s apart (the monitor's default interval) on a manual clock, so the policy
    // keeps the samples of a 60 s window as it would in a service.
    let clock = Arc::new(ManualClock::new());
    let monitor = HealthMonitor::builder()
        .timeout(Duration::from_secs(10))
        .clock(clock.clone())
        .manual(registry);
    let mut walls = Vec::new();
    let cpu_before = process_cpu();
    let mut rss_first = None;
    for round in 0..ROUNDS {
        if round == 10 {
            rss_first = proc_status("VmRSS:");
        }
        clock.advance(Duration::from_secs(10));
        let began = Instant::now();
        let report = monitor.tick();
        walls.push(began.elapsed());
        assert_eq!(report.checks.len(), PLUGINS);
        assert!(
            report
                .checks
                .iter()
                .all(|c| c.status == HealthStatus::Healthy)
        );
    }
    let cpu = process_cpu()
        .zip(cpu_before)
        .map(|(after, before)| after.saturating_sub(before));
    let rss_after = proc_status("VmRSS:");
    let threads_after = proc_status("Threads:");
    let check_threads = plugobs::health::check_threads();
    assert_eq!(CHECKS.load(Ordering::Relaxed), PLUGINS as u64 * ROUNDS);
    assert!(check_threads.alive <= 8, "{check_threads:?}");

    walls.sort();
    let mean = walls.iter().sum::<Duration>() / walls.len() as u32;
    println!("health monitoring, {PLUGINS} plugins with a hook, {ROUNDS} rounds:");
    println!(
        "  wall per round: mean {mean:?}, median {:?}, max {:?}",
        walls[walls.len() / 2],
        walls[walls.len() - 1]
    );
    if let Some(cpu) = cpu {
        println!(
            "  process CPU per round (caller + workers): {:?}",
            cpu / ROUNDS as u32
        );
    }
    println!(
        "  check threads: {} alive, {} started in all (limit 8 + one per timed-out check); \
         process threads {:?} -> {:?}",
        check_threads.alive, check_threads.started, threads_before, threads_after
    );
    if let (Some(before), Some(loaded_kb), Some(ten), Some(after)) =
        (rss_before, rss_loaded, rss_first, rss_after)
    {
        println!(
            "  RSS: +{} kB for loading {PLUGINS} plugins; +{} kB over the first 10 rounds \
             (worker threads, health state, the policy's samples of a 60 s window); \
             +{} kB over the {} rounds after (steady state)",
            loaded_kb.saturating_sub(before),
            ten.saturating_sub(loaded_kb),
            after.saturating_sub(ten),
            ROUNDS - 10
        );
    }
    drop(loaded);
}
