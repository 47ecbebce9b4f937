//! plugobs quick start: a log pipeline whose plugins are observable.
//!
//! Six plugins of two kinds: sinks (`dyn Sink`) and enrichers (`dyn Enricher`). Four are
//! defined in this binary (`sinks`, `enrichers`), two in another crate
//! (`plugobs-example-plugins`), which also defines the traits. One start hook is
//! `async`, one fails, one constructor reads the environment and returns a `Result`, and
//! one plugin, `kafka_sink`, runs as several *configured instances* read from
//! `pipeline.toml` (shipped next to this file): two clusters with their own counts, and
//! a third whose table does not fit its configuration type.
//! Every plugin's trait impl carries `#[plugobs::instrumented]`, so each `enrich` and
//! `write` is an operation with calls by outcome, latency, in-flight calls and errors
//! by kind (from `#[derive(plugobs::ErrorKind)]` on the error enums).
//!
//! The host installs a `tracing` subscriber and a Prometheus recorder, checks that every
//! plugin it ships is linked in, loads and starts them and the configured sink instances,
//! pushes 400 log lines through them (some of which fail, in several ways), stops one,
//! and prints the Prometheus exposition and `plugobs::registry().stats()`.
//!
//! ```text
//! cargo run -p plugobs-examples --bin quickstart
//! ```
//!
//! Logs go to stderr, the report to stdout. Everything is simulated and deterministic:
//! the counts are the same on every run, only the durations change.

mod enrichers;
mod sinks;

use std::collections::BTreeMap;
use std::error::Error;

use std::time::Duration;

use plugobs::{CheckOptions, HealthPolicy, LoadReport, Loaded};
// Plugins in another crate register themselves at link time, but only if the linker
// keeps that crate, and it drops a crate nothing references. Using its traits below
// keeps this one; `use ... as _;` says so explicitly for crates that only hold plugins.
use plugobs_example_plugins as _;
use plugobs_example_plugins::{Enricher, Sink};

/// Opt-in memory attribution: every allocation made while a plugin's operation or hook
/// runs is counted as that plugin's (plugobs_plugin_allocated_bytes_total and
/// plugobs_plugin_freed_bytes_total).
#[global_allocator]
static ALLOC: plugobs::alloc::Attributed<std::alloc::System> =
    plugobs::alloc::Attributed::new(std::alloc::System);

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

/// The pipeline's configuration: one table per sink instance (`[sinks.<name>]`, with the
/// plugin in `type`). Compiled in, so the quick start runs from any directory.
const PIPELINE: &str = include_str!("pipeline.toml");

/// How many log lines go through the pipeline.
const LINES: usize = 400;

/// The `i`-th log line of a deterministic, somewhat realistic access log. Among 400:
/// 16 cron lines without an `ip=` field and 10 with `ip=-` (both refused by the GeoIP
/// enricher, as `missing_field` and `malformed`), 8 with a body too large for the webhook
/// (`rejected`), and 4 server errors (`status=503`, printed by `stdout_sink`).
fn log_line(i: usize) -> String {
    const REQUESTS: [&str; 5] = [
        "GET /health",
        "GET /orders/42",
        "POST /login",
        "GET /search?q=rust",
        "POST /cart",
    ];
    const IPS: [&str; 4] = ["10.0.4.2", "81.2.69.160", "89.160.20.112", "203.0.113.7"];
    if i % 25 == 24 {
        return format!("cron job=rotate-logs files={}", i % 7);
    }
    let ip = if i % 40 == 7 { "-" } else { IPS[i % IPS.len()] };
    let status = match i {
        _ if i % 97 == 50 => 503,
        _ if i % 9 == 4 => 404,
        _ => 200,
    };
    let mut line = format!(
        "{} ip={ip} status={status} ms={}",
        REQUESTS[i % REQUESTS.len()],
        3 + (i * 37) % 120
    );
    if i % 50 == 13 {
        line.push_str(" body=");
        line.extend(std::iter::repeat_n('x', 1500));
    }
    line
}

/// Per plugin instance: how many calls failed during the pipeline, and the first error's
/// message.
#[derive(Default)]
struct Failures(BTreeMap<&'static str, (usize, String)>);

impl Failures {
    fn add(&mut self, plugin: &'static str, error: &dyn std::fmt::Display) {
        self.0
            .entry(plugin)
            .or_insert_with(|| (0, error.to_string()))
            .0 += 1;
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    // 1. Logs. plugobs emits `tracing` spans (`plugin.discover`, `plugin.load`,
    //    `plugin.start`, `plugin.stop`) and an event for every state change and failure.
    tracing_subscriber::fmt()
        .compact()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();

    // 2. Metrics. `plugobs::prometheus::install()` installs metrics-exporter-prometheus
    //    as the global `metrics` recorder (for the host's own metrics) and returns an
    //    exporter whose `render()` appends plugobs' families, rendered straight from its
    //    aggregates: exact buckets, nothing stored per call. A service serves `render()`
    //    as `/metrics`; here we render it once at the end. Any other `metrics` exporter
    //    works too, through the bridge.
    let prometheus = plugobs::prometheus::install()?;

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

    // 4b. Configured instances: one plugin, several instances, each built from its own
    //     table of pipeline.toml (`type` names the plugin, the rest deserializes into its
    //     config type). Each has its own state, health, failures and operation counts,
    //     and every series carries `instance="<name>"`. A table that does not fit fails
    //     its instance with the reason `config`, naming the field; the others load.
    let pipeline: toml::Table = toml::from_str(PIPELINE)?;
    let configured = registry.load_instances::<dyn Sink>(&pipeline["sinks"]);
    let names: Vec<&str> = configured.loaded.iter().map(|s| s.instance()).collect();
    println!(
        "configured sinks: {} loaded: {}",
        names.len(),
        names.join(", ")
    );
    for failure in &configured.failures {
        // "instance `kafka-ap` of plugin `kafka_sink` failed to load: at `max_message_bytes`: ..."
        println!("  {failure}");
    }
    sinks.extend(configured.loaded);

    // 5. Use them. `Loaded<dyn Sink>` derefs to `dyn Sink`. Every `enrich` and `write`
    //    is an operation; failures are counted by plugobs with their `error_kind`. Only
    //    `stdout_sink` prints (server errors); the host prints a summary.
    println!("\n== pipeline ==");
    let (mut not_enriched, mut not_written) = (Failures::default(), Failures::default());
    for i in 0..LINES {
        let mut line = log_line(i);
        for enricher in &enrichers {
            match enricher.enrich(&line) {
                Ok(enriched) => line = enriched,
                Err(e) => not_enriched.add(enricher.name(), &e), // pass the line on as is
            }
        }
        for sink in &sinks {
            if let Err(e) = sink.write(&line) {
                not_written.add(sink.instance(), &e);
            }
        }
    }
    println!(
        "{LINES} lines through {} enrichers and {} sinks:",
        enrichers.len(),
        sinks.len()
    );
    for (what, failures) in [
        ("not enriched", &not_enriched),
        ("not written", &not_written),
    ] {
        for (plugin, (n, first)) in &failures.0 {
            println!("  {plugin}: {n} lines {what}, first: {first}");
        }
    }

    // 6. Stop one plugin: its stop hook (here: upload the buffered batch) runs timed and
    //    spanned, and the plugin moves to `stopped`. Dropping a `Loaded` without `stop`
    //    skips the hook.
    if let Some(i) = sinks.iter().position(|s| s.name() == "s3_sink") {
        match sinks.remove(i).stop() {
            Ok(()) => println!("stopped s3_sink: its stop hook uploaded the last batch"),
            Err(e) => println!("{e}"),
        }
    }

    // 7. Health. One round: every running plugin's health hook runs on a worker thread,
    //    timed, with a timeout; the policy over each plugin's own operations (error ratio
    //    and p99 over the last minute) is judged too, and the worse of both is its status.
    //    Here `webhook_sink`'s hook says degraded, `env_enricher`'s hangs (unhealthy,
    //    timed out; it is not checked again while it hangs), and `geo_ip_enricher`, whose
    //    policy is stricter than the default, is degraded by its own error ratio. A
    //    service runs `plugobs::HealthMonitor` instead: the same rounds on an interval,
    //    on its own thread, with failure and recovery thresholds and change subscribers.
    registry.set_plugin_health_policy(
        "geo_ip_enricher",
        HealthPolicy::default().error_ratio(Some(0.05), Some(0.5)),
    )?;
    let report = registry.check_health_with(&CheckOptions {
        timeout: Duration::from_millis(100),
        ..CheckOptions::default()
    });
    println!("\n== health ==");
    for check in &report.checks {
        println!("  {}: {}", check.instance, check.result);
    }
    let readiness = registry.readiness();
    println!(
        "ready: {} (not ready: {})",
        readiness.ready,
        readiness
            .not_ready
            .iter()
            .map(|n| format!("{}: {}", n.instance, n.message))
            .collect::<Vec<_>>()
            .join(", ")
    );

    // 8. Nothing to publish: plugobs counts into its own atomics, and `render()` reads
    //    them. (With another exporter, a background thread forwards them every second
    //    and `plugobs::flush()` does it at once.)

    // 9. Report: the Prometheus exposition, as `/metrics` would serve it, then
    //    `stats()`, last so it is what the terminal shows. `stats()` needs no exporter:
    //    it reads plugobs' own aggregates. With the `serde` feature it is also
    //    `Serialize`, e.g. for a `/plugins` endpoint.
    println!("\n== prometheus exposition ==");
    println!("{}", prometheus.render().trim_end());
    println!("\n== plugobs::registry().stats() ==");
    print!("{}", registry.stats());

    // 9. Serve it: with QUICKSTART_SERVE=9464 (a port on 127.0.0.1), `/metrics`,
    //    `/readyz`, `/plugins` and the status page `/` stay up until Ctrl-C.
    if let Ok(port) = std::env::var("QUICKSTART_SERVE") {
        let port: u16 = port.parse()?;
        let server = plugobs::http::Endpoints::new()
            .exporter(prometheus.clone())
            .serve(port)?;
        eprintln!(
            "serving on http://{}/ (Ctrl-C to stop)",
            server.local_addr()
        );
        // Traffic goes on while it serves, so the page's sparklines (a point every
        // 10 s) have something to draw: 20 lines a second, and for one minute in five
        // twice as many, as a burst would come.
        let mut i = LINES;
        for second in 0u64.. {
            let lines = if second % 300 >= 240 { 40 } else { 20 };
            for _ in 0..lines {
                let mut line = log_line(i);
                i += 1;
                for enricher in &enrichers {
                    if let Ok(enriched) = enricher.enrich(&line) {
                        line = enriched;
                    }
                }
                for sink in &sinks {
                    let _ = sink.write(&line);
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        drop(server);
    }
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
