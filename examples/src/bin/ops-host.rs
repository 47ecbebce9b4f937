//! The host that the Prometheus end-to-end test (`scripts/e2e-prometheus.sh`) scrapes:
//! sinks that keep writing until the process is killed, serving plugobs' endpoints on the
//! port given as the first argument.
//!
//! - `broken_sink` fails its start hook: `PlugobsPluginLoadFailed`;
//! - `sick_sink`'s health hook says unhealthy: `PlugobsPluginUnhealthy`;
//! - `flaky_sink` fails every other write: `PlugobsOperationErrorRatioHigh`;
//! - `steady_sink` is fine: no alert names it;
//! - `tripped_sink`'s destination is down: three failed writes in a row open the circuit
//!   breaker of `write` for an hour, and every later write is rejected at once:
//!   `PlugobsCircuitBreakerOpen`;
//! - `kafka_sink` has two configured instances (two clusters): `us` runs, `eu` is given a
//!   configuration its constructor refuses (reason `config`): `PlugobsPluginLoadFailed`
//!   for instance `eu` only.
//!
//! - `echo_sink` is found at run time in `examples/ops-plugins` (a manifest naming its
//!   kind, version and operation), loaded and called like the others: fine, no alert
//!   names it; `notes.plugin` there is no manifest, a failed file of the discovery
//!   (`plugobs_discovery_failures_total{source,reason="invalid"}`).
//!
//! The first four are loaded the old way, without an instance name: their `instance`
//! label is their plugin name.
//!
//! With `--no-flaky` after the port, `flaky_sink` never fails: the end-to-end test runs
//! two hosts, one of each, and checks that the error-ratio alert names the right one.
//!
//! ```text
//! cargo run -p plugobs-examples --bin ops-host -- 9464 [--no-flaky]
//! ```

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub trait Sink: Send + Sync {
    fn write(&self, n: u64) -> Result<(), SinkError>;
}

#[derive(Debug, plugobs::ErrorKind)]
pub enum SinkError {
    Rejected,
    Unavailable,
}

impl From<plugobs::BreakerOpen> for SinkError {
    fn from(_: plugobs::BreakerOpen) -> Self {
        SinkError::Unavailable
    }
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

/// Whether `flaky_sink` fails every other write (`--no-flaky` clears it).
static FLAKY: AtomicBool = AtomicBool::new(true);

#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Default)]
pub struct FlakySink {
    writes: AtomicU64,
}

#[plugobs::instrumented]
impl Sink for FlakySink {
    fn write(&self, _: u64) -> Result<(), SinkError> {
        if FLAKY.load(Ordering::Relaxed) && self.writes.fetch_add(1, Ordering::Relaxed) % 2 == 0 {
            Err(SinkError::Rejected)
        } else {
            Ok(())
        }
    }
}

#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Default)]
pub struct SteadySink;

#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Default)]
pub struct TrippedSink;

#[plugobs::instrumented(breaker(consecutive = 3, open_for = "1h"))]
impl Sink for TrippedSink {
    fn write(&self, _: u64) -> Result<(), SinkError> {
        Err(SinkError::Rejected)
    }
}

/// One configured instance per cluster.
#[plugobs::plugin(kind = "sink", provides = dyn Sink, new = Self::from_config)]
pub struct KafkaSink {
    brokers: Vec<String>,
}

/// A `kafka_sink` instance's configuration.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    brokers: Vec<String>,
}

impl KafkaSink {
    fn from_config(config: KafkaConfig) -> Result<Self, String> {
        if config.brokers.is_empty() {
            return Err("no brokers".to_owned());
        }
        Ok(KafkaSink {
            brokers: config.brokers,
        })
    }
}

#[plugobs::instrumented]
impl Sink for KafkaSink {
    fn write(&self, n: u64) -> Result<(), SinkError> {
        std::hint::black_box((n, self.brokers.len()));
        Ok(())
    }
}

// `cpu`: its writes' thread CPU time, as plugobs_plugin_cpu_seconds_total; its objectives
// declared in code, as plugobs_operation_objective (the rules' burn-rate and slow alerts
// use them instead of their settings).
#[plugobs::instrumented(cpu, objective = "99.5%", latency = "100ms")]
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
        .ok_or("usage: ops-host PORT [--no-flaky]")?
        .parse()?;
    match std::env::args().nth(2).as_deref() {
        None => {}
        Some("--no-flaky") => FLAKY.store(false, Ordering::Relaxed),
        Some(other) => return Err(format!("unexpected argument `{other}`").into()),
    }
    let exporter = plugobs::prometheus::install()?;
    let registry = plugobs::registry();
    // One instance started and stopped first, so the stop histogram has a value.
    registry.load::<dyn Sink>("steady_sink")?.stop()?;
    // The default instances of the plugins loaded without a name (not `load_all`: it
    // would load kafka_sink's default instance too, with no configuration).
    let mut sinks = Vec::new();
    for plugin in [
        "broken_sink",
        "flaky_sink",
        "sick_sink",
        "steady_sink",
        "tripped_sink",
    ] {
        match registry.load::<dyn Sink>(plugin) {
            Ok(sink) => sinks.push(sink),
            Err(e) => eprintln!("{e}"),
        }
    }
    // Two instances of kafka_sink; `eu`'s brokers are not a list of strings.
    for (instance, config) in [
        ("eu", serde_json::json!({ "brokers": 9092 })),
        (
            "us",
            serde_json::json!({ "brokers": ["us-1:9092", "us-2:9092"] }),
        ),
    ] {
        match registry.load_instance::<dyn Sink>("kafka_sink", instance, config) {
            Ok(sink) => sinks.push(sink),
            Err(e) => eprintln!("{e}"),
        }
    }
    // A plugin found at run time: a manifest of `key: value` lines.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ops-plugins");
    let found = registry.discover(&dir, |path, bytes| {
        let text = String::from_utf8_lossy(bytes);
        let field = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
                .map(str::trim)
        };
        let (Some(kind), Some(operation)) = (field("kind"), field("operation")) else {
            return Err(plugobs::discovery::FileError::invalid(
                "no `kind:` and `operation:` lines",
            ));
        };
        let name = path.file_stem().unwrap_or_default().to_string_lossy();
        Ok(Some(
            plugobs::PluginSpec::new(name, kind)
                .version(field("version").unwrap_or("0.0.0"))
                .source(path)
                .operation(operation),
        ))
    });
    for failure in &found.failures {
        eprintln!("{failure}");
    }
    let mut found_writes = Vec::new();
    for plugin in &found.plugins {
        let loaded = plugin.load()?;
        for operation in plugin.operations() {
            found_writes.push(plugin.operation(operation)?);
        }
        std::mem::forget(loaded); // runs until the process is killed
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
        for sink in &sinks {
            let _ = sink.write(n);
        }
        for write in &found_writes {
            let _ = write.call(|| Ok::<_, SinkError>(()));
        }
        n += 1;
        std::thread::sleep(Duration::from_millis(2));
    }
}
