//! The host that the Prometheus end-to-end test (`scripts/e2e-prometheus.sh`) scrapes:
//! four sinks that keep writing until the process is killed, serving plugobs' endpoints on
//! the port given as the first argument.
//!
//! - `broken_sink` fails its start hook: `PlugobsPluginLoadFailed`;
//! - `sick_sink`'s health hook says unhealthy: `PlugobsPluginUnhealthy`;
//! - `flaky_sink` fails every other write: `PlugobsOperationErrorRatioHigh`;
//! - `steady_sink` is fine: no alert names it.
//!
//! ```text
//! cargo run -p plugobs-examples --bin ops-host -- 9464
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub trait Sink: Send + Sync {
    fn write(&self, n: u64) -> Result<(), SinkError>;
}

#[derive(Debug, plugobs::ErrorKind)]
pub enum SinkError {
    Rejected,
}

#[plugobs::plugin(kind = "sink", provides = dyn Sink, start = Self::connect)]
#[derive(Default)]
pub struct BrokenSink;

impl BrokenSink {
    fn connect(&mut self) -> Result<(), String> {
        Err("cannot reach 127.0.0.1:9: connection refused".to_owned())
    }
}

#[plugobs::instrumented]
impl Sink for BrokenSink {
    fn write(&self, _: u64) -> Result<(), SinkError> {
        Ok(())
    }
}

#[plugobs::plugin(kind = "sink", provides = dyn Sink, health = Self::check)]
#[derive(Default)]
pub struct SickSink;

impl SickSink {
    fn check(&self) -> plugobs::Health {
        plugobs::Health::unhealthy("disk full").with_detail("free_bytes", 0)
    }
}

#[plugobs::instrumented]
impl Sink for SickSink {
    fn write(&self, _: u64) -> Result<(), SinkError> {
        Ok(())
    }
}

#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Default)]
pub struct FlakySink {
    writes: AtomicU64,
}

#[plugobs::instrumented]
impl Sink for FlakySink {
    fn write(&self, _: u64) -> Result<(), SinkError> {
        if self.writes.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
            Err(SinkError::Rejected)
        } else {
            Ok(())
        }
    }
}

#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Default)]
pub struct SteadySink;

// `cpu`: its writes' thread CPU time, as plugobs_plugin_cpu_seconds_total.
#[plugobs::instrumented(cpu)]
impl Sink for SteadySink {
    fn write(&self, n: u64) -> Result<(), SinkError> {
        std::hint::black_box(n);
        Ok(())
    }
}

/// Allocations attributed to plugins: plugobs_plugin_allocated_bytes_total and
/// plugobs_plugin_freed_bytes_total.
#[global_allocator]
static ALLOC: plugobs::alloc::Attributed<std::alloc::System> =
    plugobs::alloc::Attributed::new(std::alloc::System);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::args()
        .nth(1)
        .ok_or("usage: ops-host PORT")?
        .parse()?;
    let exporter = plugobs::prometheus::install()?;
    let registry = plugobs::registry();
    // One instance started and stopped first, so the stop histogram has a value.
    registry.load::<dyn Sink>("steady_sink")?.stop()?;
    let report = registry.load_all::<dyn Sink>();
    for failure in &report.failures {
        eprintln!("{failure}");
    }
    let _monitor = plugobs::HealthMonitor::builder()
        .interval(Duration::from_millis(500))
        .timeout(Duration::from_millis(250))
        .failure_threshold(1)
        .recovery_threshold(1)
        .start(registry)?;
    let server = plugobs::http::Endpoints::new()
        .exporter(exporter)
        .serve(port)?;
    eprintln!("ops-host serving on http://{}/", server.local_addr());
    let mut n = 0u64;
    loop {
        for sink in &report.loaded {
            let _ = sink.write(n);
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
}
