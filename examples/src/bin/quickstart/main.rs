//! plugobs quick start: a log pipeline whose plugins are observable.
//!
//! Six plugins of two kinds: sinks (`dyn Sink`) and enrichers (`dyn Enricher`). Four are
//! defined in this binary (`sinks`, `enrichers`), two in another crate
//! (`plugobs-example-plugins`), which also defines the traits. One start hook is
//! `async`, one fails, one constructor reads the environment and returns a `Result`.
//!
//! The host installs a `tracing` subscriber and a Prometheus recorder, checks that every
//! plugin it ships is linked in, loads and starts them, pushes a few lines through them,
//! stops one, and prints `plugobs::registry().stats()` and the Prometheus exposition.
//!
//! ```text
//! cargo run -p plugobs-examples --bin quickstart
//! ```
//!
//! Logs go to stderr, the report to stdout. Per-operation metrics (calls, latency and
//! errors of `write` and `enrich`) come with `#[plugobs::instrumented]` in a later plugobs
//! release; the plugin impls mark where it goes.

mod enrichers;
mod sinks;

use std::error::Error;

use metrics_exporter_prometheus::PrometheusHandle;
use plugobs::{LoadReport, Loaded};
// Plugins in another crate register themselves at link time, but only if the linker
// keeps that crate, and it drops a crate nothing references. Using its traits below
// keeps this one; `use ... as _;` says so explicitly for crates that only hold plugins.
use plugobs_example_plugins as _;
use plugobs_example_plugins::{Enricher, Sink};

/// Every plugin this binary ships: checked at start-up, so a plugin crate that was
/// dropped at link time is an error rather than a silently smaller registry.
const EXPECTED_PLUGINS: &[&str] = &[
    // defined in this binary
    "stdout_sink",
    "webhook_sink",
    "kafka_sink",
    "env_enricher",
    // defined in plugobs-example-plugins
    "geo_ip_enricher",
    "s3_sink",
];

/// Log lines to push through the pipeline. The last one has no `ip=` field, which the
/// GeoIP enricher refuses.
const LINES: &[&str] = &[
    "GET /health ip=10.0.4.2 status=200",
    "POST /login ip=81.2.69.160 status=401",
    "GET /orders/42 ip=89.160.20.112 status=200",
    "cron: rotated 3 files",
];

fn main() -> Result<(), Box<dyn Error>> {
    // 1. Logs. plugobs emits `tracing` spans (`plugin.discover`, `plugin.load`,
    //    `plugin.start`, `plugin.stop`) and an event for every state change and failure.
    tracing_subscriber::fmt()
        .compact()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();

    // 2. Metrics. plugobs publishes through the `metrics` facade, so any exporter works.
    //    `plugobs::prometheus::builder()` is a `PrometheusBuilder` with plugobs' histogram
    //    buckets; a service would call `.install()` to serve `/metrics` over HTTP, here
    //    we keep the recorder in-process and render it at the end.
    let prometheus: PrometheusHandle = plugobs::prometheus::builder()?.install_recorder()?;

    // 3. Discovery. The first call builds the registry from every linked `#[plugin]`
    //    (timed as `plugobs_discovery_duration_seconds`). Fail fast if one is missing.
    let registry = plugobs::registry();
    registry.check()?; // two plugins with one name
    registry.expect_plugins(EXPECTED_PLUGINS)?; // a plugin crate the linker dropped

    // 4. Load and start every plugin that provides each trait. Each one is constructed,
    //    then its start hook runs (async ones too), timed and spanned. A failure does not
    //    stop the others: it is counted, logged, and listed in the report.
    println!("== load ==");
    let mut sinks = loaded("sinks", registry.load_all::<dyn Sink>());
    let enrichers = loaded("enrichers", registry.load_all::<dyn Enricher>());

    // 5. Use them. `Loaded<dyn Sink>` derefs to `dyn Sink`.
    println!("\n== pipeline ==");
    for &line in LINES {
        let mut line = line.to_owned();
        for enricher in &enrichers {
            match enricher.enrich(&line) {
                Ok(enriched) => line = enriched,
                Err(e) => println!("  {} skipped a line: {e}", enricher.name()),
            }
        }
        for sink in &sinks {
            if let Err(e) = sink.write(&line) {
                println!("  {} could not write: {e}", sink.name());
            }
        }
    }

    // 6. Stop one plugin: its stop hook (here: upload the buffered batch) runs timed and
    //    spanned, and the plugin moves to `stopped`. Dropping a `Loaded` without `stop`
    //    skips the hook.
    if let Some(i) = sinks.iter().position(|s| s.name() == "s3_sink") {
        match sinks.remove(i).stop() {
            Ok(()) => println!("  stopped s3_sink"),
            Err(e) => println!("  {e}"),
        }
    }

    // 7. Publish now. A background thread does this every second; an explicit flush
    //    makes the exposition below complete.
    plugobs::flush();

    // 8. Report. `stats()` needs no exporter: it reads plugobs' own records. With the
    //    `serde` feature it is also `Serialize`, e.g. for a `/plugins` endpoint.
    println!("\n== plugobs::registry().stats() ==");
    print!("{}", registry.stats());
    println!("\n== prometheus exposition ==");
    print!("{}", prometheus.render());
    Ok(())
}

/// Prints what a `load_all` loaded and what failed, and keeps the loaded plugins.
fn loaded<S: ?Sized>(what: &str, report: LoadReport<S>) -> Vec<Loaded<S>> {
    let names: Vec<&str> = report.loaded.iter().map(|p| p.name()).collect();
    println!("{what}: {} loaded: {}", names.len(), names.join(", "));
    for failure in &report.failures {
        // e.g. "plugin `kafka_sink` failed to start: cannot reach 127.0.0.1:9092: ..."
        println!("  {failure}");
    }
    report.loaded
}
