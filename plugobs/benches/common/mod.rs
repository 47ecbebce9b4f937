//! Shared bits of the hand-written bench harnesses (no criterion, to keep compile cost low).

#![allow(dead_code)]

use std::time::Duration;

pub mod subjects;

/// The median of `v` (sorted in place); 0 when empty.
pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The `q` quantile (nearest rank) of `v` (sorted in place); 0 when empty.
pub fn quantile(v: &mut [f64], q: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let i = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1;
    v[i]
}

/// Resident set size of this process, in bytes, from `/proc/self/statm` (Linux only).
pub fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Anonymous resident memory of this process (heap, stacks; not the binary's code pages),
/// in bytes, from `/proc/self/status` (Linux only).
pub fn rss_anon_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// `bytes` as signed MiB.
pub fn mib(bytes: i64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A duration in milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Reads an override from the environment (e.g. `PLUGOBS_BENCH_ROUNDS=11`).
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A comma-separated list from the environment (e.g. `PLUGOBS_SCALE_THREADS=1,64`).
pub fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// `PASS` or `MISS`.
pub fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

/// CPU time (user + system) used so far by this process's threads named `name`, from
/// `/proc/self/task/*/stat` (Linux only; assumes the usual 100 clock ticks per second).
pub fn thread_cpu_seconds(name: &str) -> Option<f64> {
    let mut ticks = 0u64;
    let mut found = false;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
        // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        ticks += fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        found = true;
    }
    found.then(|| ticks as f64 / 100.0)
}

/// CPU ticks (user + system) used by this process so far, from `/proc/self/stat`.
pub fn process_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Busy CPU ticks of the whole machine so far (all but idle and iowait), from `/proc/stat`.
fn machine_busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu = stat.lines().next()?;
    let v: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest is inside user)
    Some(v.iter().take(8).sum::<u64>() - v.get(3)? - v.get(4)?)
}

/// Measures how much CPU other processes used while a bench ran: a machine busy with
/// other work (a build, another bench) makes the numbers, especially 2-thread ones,
/// unreliable.
pub struct Interference {
    machine: u64,
    process: u64,
    start: std::time::Instant,
}

impl Interference {
    /// Starts measuring.
    pub fn start() -> Self {
        Interference {
            machine: machine_busy_ticks().unwrap_or(0),
            process: process_ticks().unwrap_or(0),
            start: std::time::Instant::now(),
        }
    }

    /// A one-line report: CPU used by other processes, in cores, since `start`.
    pub fn report(&self) -> String {
        let wall = self.start.elapsed().as_secs_f64();
        let machine = machine_busy_ticks()
            .unwrap_or(0)
            .saturating_sub(self.machine);
        let own = process_ticks().unwrap_or(0).saturating_sub(self.process);
        let foreign = machine.saturating_sub(own) as f64 / 100.0 / wall;
        let note = if foreign > 0.15 {
            "  WARNING: the machine was busy with other work; numbers are unreliable, rerun"
        } else {
            ""
        };
        format!(
            "other processes used {foreign:.2} cores on average during these {wall:.1} s \
             (this bench {:.2} cores){note}",
            own as f64 / 100.0 / wall
        )
    }
}
