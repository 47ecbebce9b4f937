//! Plugins registered at run time (`Registry::register`) and found in a directory
//! (`Registry::discover`): calls through an `OperationHandle` counted exactly as an
//! instrumented method's, names checked as the macros check them, discovery failures by
//! reason under the directory's `source` label, unregistering, and the same stats, JSON
//! and exposition as a plugin linked in.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Waker};

use plugobs::discovery::{DiscoveryFailure, DiscoveryReason, FileError};
use plugobs::exposition::{Format, render};
use plugobs::instance::InstanceNameError;
use plugobs::{
    Health, HealthStatus, MAX_RUNTIME_OPERATIONS, Outcome, Plugin, PluginSpec, PluginState,
    Registry, RegistryError,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::{Context as LayerContext, SubscriberExt};

#[derive(Debug, plugobs::ErrorKind)]
pub enum EnrichError {
    Timeout,
    Refused,
}

impl std::fmt::Display for EnrichError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// A registry of its own for each test, `'static` so handles and servers can share it.
fn leaked(descriptors: &[&'static plugobs::PluginDescriptor]) -> &'static Registry {
    Box::leak(Box::new(
        Registry::from_descriptors(descriptors.iter().copied()).unwrap(),
    ))
}

/// Call `i` of a mix: 1 in 10 a timeout, 1 in 10 refused, 1 in 10 a panic, else ok.
fn mixed(i: u32) -> Result<u32, EnrichError> {
    match i % 10 {
        0 => Err(EnrichError::Timeout),
        1 => Err(EnrichError::Refused),
        2 => panic!("call {i} panicked"),
        _ => Ok(i),
    }
}

const THREADS: u32 = 4;
const CALLS: u32 = 1000;

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload().downcast_ref::<String>();
            let expected = payload.is_some_and(|p| {
                (p.starts_with("call ") && p.ends_with(" panicked"))
                    || p.starts_with("the loader exploded")
            });
            if !expected {
                default(info);
            }
        }));
    });
}

#[test]
fn calls_through_a_handle_are_counted_exactly_under_threads() {
    quiet_panics();
    let registry = leaked(&[]);
    let plugin = registry
        .register(
            PluginSpec::new("rt_threads", "enricher")
                .version("1.2.0")
                .source("/plugins/rt_threads.wasm"),
        )
        .unwrap();
    let enrich = plugin.operation("enrich").unwrap();
    let published = common::capture(|| {
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    for i in 0..CALLS {
                        let _ = std::panic::catch_unwind(|| enrich.call(|| mixed(i)));
                    }
                });
            }
        });
        registry.flush();
    });
    let labels = |outcome: &'static str| {
        [
            ("plugin", "rt_threads"),
            ("kind", "enricher"),
            ("instance", "rt_threads"),
            ("operation", "enrich"),
            ("outcome", outcome),
        ]
    };
    let ops = "plugobs_plugin_operations_total";
    assert_eq!(published.counter(ops, &labels("ok")), Some(4 * 700));
    assert_eq!(published.counter(ops, &labels("error")), Some(4 * 200));
    assert_eq!(published.counter(ops, &labels("panic")), Some(4 * 100));
    assert_eq!(published.counter(ops, &labels("cancelled")), Some(0));
    let kind = |k: &'static str| {
        [
            ("plugin", "rt_threads"),
            ("kind", "enricher"),
            ("instance", "rt_threads"),
            ("operation", "enrich"),
            ("error_kind", k),
        ]
    };
    let errors = "plugobs_plugin_errors_total";
    assert_eq!(published.counter(errors, &kind("timeout")), Some(400));
    assert_eq!(published.counter(errors, &kind("refused")), Some(400));
    let id = [
        ("plugin", "rt_threads"),
        ("kind", "enricher"),
        ("instance", "rt_threads"),
        ("operation", "enrich"),
    ];
    assert_eq!(
        published.gauge("plugobs_plugin_operations_in_flight", &id),
        Some(0.0)
    );
    assert_eq!(
        published.gauge(
            "plugobs_plugin_info",
            &[
                ("plugin", "rt_threads"),
                ("kind", "enricher"),
                ("version", "1.2.0")
            ]
        ),
        Some(1.0)
    );
    let stats = registry.stats();
    let row = &stats.plugins[0];
    assert_eq!(
        (row.name, row.kind, row.version),
        ("rt_threads", "enricher", "1.2.0")
    );
    let op = &row.operations[0];
    assert_eq!(
        (
            op.name,
            op.calls,
            op.ok,
            op.errors,
            op.panics,
            op.cancelled,
            op.in_flight
        ),
        ("enrich", 4000, 2800, 800, 400, 0, 0)
    );
    assert_eq!(op.timed_calls, 4000);
    assert_eq!(
        op.errors_by_kind,
        BTreeMap::from([("refused", 400), ("timeout", 400)])
    );
    assert_eq!(
        plugin.record().descriptor().location.file,
        "/plugins/rt_threads.wasm"
    );
}

#[test]
fn an_outcome_given_by_hand_and_a_classifier() {
    let registry = leaked(&[]);
    let plugin = registry
        .register(PluginSpec::new("rt_manual", "sink"))
        .unwrap();
    let write = plugin.operation("write").unwrap();
    write.enter().finish(Outcome::Ok);
    write.enter().finish(Outcome::Error("full"));
    drop(write.enter()); // not finished, not unwinding: cancelled
    let n = write.call_with(
        || 7,
        |n| {
            if *n > 5 {
                Outcome::Error("big")
            } else {
                Outcome::Ok
            }
        },
    );
    assert_eq!(n, 7);
    let op = registry.stats().plugins[0].operations[0].clone();
    assert_eq!(
        (op.calls, op.ok, op.errors, op.cancelled, op.in_flight),
        (4, 1, 2, 1, 0)
    );
    assert_eq!(op.errors_by_kind, BTreeMap::from([("big", 1), ("full", 1)]));
}

#[test]
fn an_async_call_dropped_before_it_finishes_is_cancelled() {
    let registry = leaked(&[]);
    let plugin = registry
        .register(PluginSpec::new("rt_async", "source"))
        .unwrap();
    let fetch = plugin.operation("fetch").unwrap();

    let done: Result<u8, EnrichError> = plugobs::block_on(fetch.call_async(async { Ok(1) }));
    assert_eq!(done.unwrap(), 1);
    let failed = plugobs::block_on(fetch.call_async(async { Err::<u8, _>(EnrichError::Timeout) }));
    assert!(failed.is_err());

    // As an `async fn`: a call starts at its first poll, so one never polled is no call.
    drop(fetch.call_async(async { Ok::<u8, EnrichError>(9) }));
    // And it can move to another thread, as a tokio task.
    fn assert_send<T: Send>(_: &T) {}
    assert_send(&fetch.call_async(async { Ok::<u8, EnrichError>(9) }));

    let in_flight = || registry.stats().plugins[0].operations[0].in_flight;
    {
        let pending = fetch.call_async(std::future::pending::<Result<u8, EnrichError>>());
        let mut pending = pin!(pending);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(pending.as_mut().poll(&mut cx).is_pending());
        assert_eq!(in_flight(), 1);
    }
    let op = registry.stats().plugins[0].operations[0].clone();
    assert_eq!(
        (op.calls, op.ok, op.errors, op.cancelled, op.in_flight),
        (3, 1, 1, 1, 0)
    );
    assert_eq!(op.errors_by_kind, BTreeMap::from([("timeout", 1)]));
}

#[plugobs::plugin(kind = "enricher", version = "1.2.0")]
#[derive(Default)]
pub struct LinkedTwin;

#[plugobs::instrumented]
impl LinkedTwin {
    fn enrich(&self, i: u32) -> Result<u32, EnrichError> {
        mixed(i)
    }
}

#[test]
fn names_are_checked_as_the_macros_check_them_and_taken_once() {
    let registry = leaked(&[LinkedTwin::DESCRIPTOR]);
    let invalid = |what, name: &str, error| RegistryError::InvalidName {
        what,
        name: name.to_owned(),
        error,
    };
    use plugobs::__private::NameError;
    let long = "a".repeat(65);
    let cases: Vec<(PluginSpec, RegistryError)> = vec![
        (
            PluginSpec::new("geo ip", "enricher"),
            invalid("plugin", "geo ip", NameError::InvalidCharacter { index: 3 }),
        ),
        (
            PluginSpec::new("", "enricher"),
            invalid("plugin", "", NameError::Empty),
        ),
        (
            PluginSpec::new(long.clone(), "enricher"),
            invalid("plugin", &long, NameError::TooLong { len: 65 }),
        ),
        (
            PluginSpec::new("geoip", "  "),
            invalid("kind", "  ", NameError::Empty),
        ),
        (
            PluginSpec::new("geoip", "enricher").version(""),
            invalid("version", "", NameError::Empty),
        ),
        (
            PluginSpec::new("geoip", "enricher").operation("en/rich"),
            invalid(
                "operation",
                "en/rich",
                NameError::InvalidCharacter { index: 2 },
            ),
        ),
        (
            PluginSpec::new("linked_twin", "enricher"),
            RegistryError::DuplicateName {
                name: "linked_twin",
                first: LinkedTwin::DESCRIPTOR.location,
                second: plugobs::SourceLocation {
                    module_path: "run time",
                    file: "(registered at run time)",
                    line: 0,
                },
            },
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(registry.register(spec).unwrap_err(), want);
    }
    assert_eq!(
        registry.len(),
        1,
        "nothing refused was registered: {:?}",
        registry
            .plugins()
            .map(|p| p.descriptor().name)
            .collect::<Vec<_>>()
    );

    let first = registry
        .register(PluginSpec::new("geoip", "enricher").source("/a/geoip.wasm"))
        .unwrap();
    let again = registry
        .register(PluginSpec::new("geoip", "enricher").source("/b/geoip.wasm"))
        .unwrap_err();
    assert_eq!(
        again.to_string(),
        "two plugins are named `geoip`: one defined at /a/geoip.wasm:0, one at /b/geoip.wasm:0; give one of them another name with #[plugin(name = \"...\")]"
    );
    // An instance name is a plugin name too.
    assert_eq!(
        first.load_instance("linked_twin").unwrap_err(),
        plugobs::LoadError::Registry(RegistryError::InstanceTaken {
            instance: "linked_twin".into(),
            by: "linked_twin",
            live: false
        })
    );
    assert_eq!(
        first.load_instance("bad name").unwrap_err(),
        plugobs::LoadError::Registry(RegistryError::InvalidInstanceName {
            name: "bad name".into(),
            error: InstanceNameError::InvalidCharacter {
                index: 3,
                character: ' '
            }
        })
    );

    // The same operation twice is one; the cap is typed.
    let a = first.operation("lookup").unwrap();
    let b = first.operation("lookup").unwrap();
    assert_eq!(
        (a.name(), b.name(), first.operations().len()),
        ("lookup", "lookup", 1)
    );
    for i in 1..MAX_RUNTIME_OPERATIONS {
        first.operation(&format!("op{i}")).unwrap();
    }
    assert_eq!(
        first.operation("one_more").unwrap_err(),
        RegistryError::TooManyOperations {
            plugin: "geoip",
            limit: 64
        }
    );
    let many = (0..=MAX_RUNTIME_OPERATIONS).fold(PluginSpec::new("many_ops", "x"), |s, i| {
        s.operation(format!("op{i}"))
    });
    assert_eq!(
        registry.register(many).unwrap_err(),
        RegistryError::TooManyOperations {
            plugin: "many_ops",
            limit: 64
        }
    );
}

type TraceFields = BTreeMap<String, String>;

/// Every span and event: (name or message, fields).
#[derive(Clone, Default)]
struct Traces(Arc<Mutex<Vec<(String, TraceFields)>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);
impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> Layer<S> for Traces {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: LayerContext<'_, S>) {
        let mut fields = BTreeMap::new();
        attrs.record(&mut Fields(&mut fields));
        fields.insert("#id".into(), id.into_u64().to_string());
        let name = attrs.metadata().name().to_owned();
        self.0.lock().unwrap().push((name, fields));
    }
    fn on_record(&self, id: &Id, values: &Record<'_>, _: LayerContext<'_, S>) {
        let mut all = self.0.lock().unwrap();
        let id = id.into_u64().to_string();
        if let Some((_, fields)) = all
            .iter_mut()
            .rev()
            .find(|(_, f)| f.get("#id") == Some(&id))
        {
            values.record(&mut Fields(fields));
        }
    }
    fn on_event(&self, event: &tracing::Event<'_>, _: LayerContext<'_, S>) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        fields.insert("#level".into(), event.metadata().level().to_string());
        let message = fields.remove("message").unwrap_or_default();
        self.0.lock().unwrap().push((message, fields));
    }
}

/// A directory of plugin files: `<name>.plug` holding `plugin <name> <ops>`; anything
/// else is refused, `boom` panics the loader, a `.txt` is passed over.
fn loader(path: &Path, bytes: &[u8]) -> Result<Option<PluginSpec>, FileError> {
    if path.extension().is_some_and(|e| e == "txt") {
        return Ok(None);
    }
    let text = std::str::from_utf8(bytes).map_err(FileError::invalid)?;
    if text == "boom" {
        panic!("the loader exploded on {}", path.display());
    }
    let mut words = text.split_whitespace();
    match (words.next(), words.next()) {
        (Some("plugin"), Some(name)) => {
            let spec = words.fold(PluginSpec::new(name, "filter").source(path), |s, op| {
                s.operation(op)
            });
            Ok(Some(spec))
        }
        _ => Err(FileError::invalid("not a plugin file")),
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("plugobs-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_directory_is_discovered_with_each_failure_by_reason_under_its_source() {
    quiet_panics();
    let dir = temp_dir("discover");
    std::fs::write(dir.join("a_upper.plug"), "plugin upper run").unwrap();
    std::fs::write(dir.join("b_garbage.plug"), "garbage").unwrap();
    std::fs::create_dir(dir.join("c_subdir")).unwrap();
    std::os::unix::fs::symlink(dir.join("missing"), dir.join("d_dangling.plug")).unwrap();
    std::fs::write(dir.join("e_boom.plug"), "boom").unwrap();
    std::fs::write(dir.join("f_again.plug"), "plugin upper").unwrap();
    std::fs::write(dir.join("g_bad_name.plug"), "plugin bad/name").unwrap();
    std::fs::write(dir.join("h_lower.plug"), "plugin lower run flush").unwrap();
    std::fs::write(dir.join("notes.txt"), "not a plugin").unwrap();

    let registry = leaked(&[]);
    let traces = Traces::default();
    let subscriber = tracing_subscriber::registry().with(traces.clone());
    let report = tracing::subscriber::with_default(subscriber, || registry.discover(&dir, loader));

    let source = dir.display().to_string();
    assert_eq!(report.source, source);
    assert_eq!(
        report.plugins.iter().map(|p| p.name()).collect::<Vec<_>>(),
        ["upper", "lower"]
    );
    assert_eq!(report.plugins[1].operations(), ["run", "flush"]);
    assert_eq!(report.skipped, 1);
    let failure = |file: &str, reason, message: &str| DiscoveryFailure {
        path: dir.join(file),
        reason,
        message: message.to_owned(),
    };
    assert_eq!(
        report.failures,
        [
            failure(
                "b_garbage.plug",
                DiscoveryReason::Invalid,
                "not a plugin file"
            ),
            failure(
                "c_subdir",
                DiscoveryReason::Io,
                "Is a directory (os error 21)"
            ),
            failure(
                "d_dangling.plug",
                DiscoveryReason::Io,
                "No such file or directory (os error 2)"
            ),
            failure(
                "e_boom.plug",
                DiscoveryReason::Panic,
                &format!(
                    "the loader exploded on {}",
                    dir.join("e_boom.plug").display()
                )
            ),
            failure(
                "f_again.plug",
                DiscoveryReason::Refused,
                &format!(
                    "two plugins are named `upper`: one defined at {0}:0, one at {1}:0; give one of them another name with #[plugin(name = \"...\")]",
                    dir.join("a_upper.plug").display(),
                    dir.join("f_again.plug").display()
                )
            ),
            failure(
                "g_bad_name.plug",
                DiscoveryReason::Refused,
                "invalid plugin name \"bad/name\": the character at byte 3 is not an ASCII letter, digit, `_`, `-` or `.`"
            ),
        ]
    );
    assert!(report.duration > std::time::Duration::ZERO);

    // The span, its fields, and the DEBUG line.
    let traces = traces.0.lock().unwrap().clone();
    let spans: Vec<_> = traces
        .iter()
        .filter(|(n, _)| n == "plugin.discover")
        .collect();
    assert_eq!(spans.len(), 1);
    assert_eq!(spans[0].1["directory"], source);
    assert_eq!(spans[0].1["plugin_count"], "2");
    let scanning = format!("Scanning directory: {source}");
    assert!(
        traces
            .iter()
            .any(|(m, f)| *m == scanning && f["#level"] == "DEBUG"),
        "{traces:#?}"
    );
    let warnings = traces
        .iter()
        .filter(|(m, f)| m == "plugin file failed to load" && f["#level"] == "WARN")
        .map(|(_, f)| f["reason"].clone())
        .collect::<Vec<_>>();
    assert_eq!(
        warnings,
        ["invalid", "io", "io", "panic", "refused", "refused"]
    );

    // The exposition: the directory's series beside the link-time one.
    let text = render(registry, Format::Prometheus);
    for want in [
        format!("plugobs_discovery_duration_seconds_count{{source=\"{source}\"}} 1"),
        "plugobs_discovery_duration_seconds_count 1".to_owned(),
        format!("plugobs_discovery_failures_total{{source=\"{source}\",reason=\"io\"}} 2"),
        format!("plugobs_discovery_failures_total{{source=\"{source}\",reason=\"invalid\"}} 1"),
        format!("plugobs_discovery_failures_total{{source=\"{source}\",reason=\"error\"}} 0"),
        format!("plugobs_discovery_failures_total{{source=\"{source}\",reason=\"panic\"}} 1"),
        format!("plugobs_discovery_failures_total{{source=\"{source}\",reason=\"refused\"}} 2"),
        "plugobs_plugin_info{plugin=\"lower\",kind=\"filter\",version=\"0.0.0\"} 1".to_owned(),
        "plugobs_plugins{state=\"registered\"} 2".to_owned(),
    ] {
        assert!(text.lines().any(|l| l == want), "no line {want}:\n{text}");
    }
    assert_eq!(
        text.matches("# TYPE plugobs_discovery_duration_seconds histogram")
            .count(),
        1
    );

    // A second discovery of the same directory: one more in the same series; the
    // plugins already there are refused (their names are taken).
    let again = registry.discover(&dir, loader);
    assert!(again.plugins.is_empty());
    let stats = registry.stats();
    assert_eq!(stats.directories.len(), 1);
    let d = &stats.directories[0];
    assert_eq!(
        (d.source, d.discoveries, d.plugins),
        (source.as_str(), 2, 0)
    );
    assert_eq!(
        d.failures,
        BTreeMap::from([("invalid", 2), ("io", 4), ("panic", 2), ("refused", 6)])
    );

    // A directory that cannot be read is one failure, under its own source.
    let missing = dir.join("no_such_dir");
    let report = registry.discover(&missing, loader);
    assert_eq!(
        report.failures,
        [DiscoveryFailure {
            path: missing.clone(),
            reason: DiscoveryReason::Io,
            message: "No such file or directory (os error 2)".into()
        }]
    );
    let text = render(registry, Format::Prometheus);
    let line = format!(
        "plugobs_discovery_failures_total{{source=\"{}\",reason=\"io\"}} 1",
        missing.display()
    );
    assert!(text.lines().any(|l| l == line), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn an_unregistered_plugin_s_series_end_and_its_record_says_so() {
    let registry = leaked(&[]);
    let plugin = registry
        .register(PluginSpec::new("rt_gone", "sink").stop(|| Ok::<_, std::io::Error>(())))
        .unwrap();
    let write = plugin.operation("write").unwrap();
    let loaded = plugin.load().unwrap();
    for i in 0..3 {
        let _ = write.call(|| {
            if i == 0 {
                Err(EnrichError::Refused)
            } else {
                Ok(i)
            }
        });
    }
    let text = render(registry, Format::Prometheus);
    let ok = "plugobs_plugin_operations_total{plugin=\"rt_gone\",kind=\"sink\",instance=\"rt_gone\",operation=\"write\",outcome=\"ok\"} 2";
    assert!(text.lines().any(|l| l == ok), "{text}");

    assert_eq!(
        plugin.unregister().unwrap_err(),
        RegistryError::PluginInUse {
            plugin: "rt_gone",
            live: 1
        }
    );
    loaded.stop().unwrap();
    plugin.unregister().unwrap();
    assert_eq!(
        plugin.unregister().unwrap_err(),
        RegistryError::Unregistered { plugin: "rt_gone" }
    );
    assert_eq!(
        plugin.load().unwrap_err(),
        plugobs::LoadError::Registry(RegistryError::Unregistered { plugin: "rt_gone" })
    );
    assert_eq!(
        plugin.operation("flush").unwrap_err(),
        RegistryError::Unregistered { plugin: "rt_gone" }
    );

    let text = render(registry, Format::Prometheus);
    assert!(!text.contains("rt_gone"), "{text}");
    assert!(registry.get("rt_gone").is_none());
    assert_eq!(registry.len(), 0);
    assert!(
        text.lines()
            .any(|l| l == "plugobs_plugins{state=\"stopped\"} 0")
    );

    let stats = registry.stats();
    assert_eq!(stats.total, 0);
    let row = &stats.plugins[0];
    assert_eq!(
        (
            row.name,
            row.state,
            row.unregistered,
            row.operations[0].calls
        ),
        ("rt_gone", PluginState::Stopped, true, 3)
    );
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["plugins"][0]["unregistered"], true);
    assert!(
        stats.to_string().contains("stopped (unregistered)"),
        "{stats}"
    );
    assert_eq!(registry.unregistered().len(), 1);

    // The name is free again: a new registration, new series.
    let back = registry
        .register(PluginSpec::new("rt_gone", "sink"))
        .unwrap();
    back.operation("write")
        .unwrap()
        .call(|| Ok::<_, EnrichError>(()))
        .unwrap();
    let text = render(registry, Format::Prometheus);
    let one = "plugobs_plugin_operations_total{plugin=\"rt_gone\",kind=\"sink\",instance=\"rt_gone\",operation=\"write\",outcome=\"ok\"} 1";
    assert!(text.lines().any(|l| l == one), "{text}");
}

/// The lines of `text` about `plugin`, renamed to `twin`, without the values that depend
/// on timing (buckets, sums, the busy ratio).
fn lines_of(text: &str, plugin: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| l.contains(&format!("plugin=\"{plugin}\"")))
        .filter(|l| !l.contains("_bucket{") && !l.contains("_sum{") && !l.contains("busy_ratio"))
        .map(|l| l.replace(plugin, "twin"))
        .collect()
}

#[test]
fn a_runtime_plugin_is_exported_exactly_as_a_linked_one() {
    quiet_panics();
    let registry = leaked(&[LinkedTwin::DESCRIPTOR]);
    let runtime = registry
        .register(PluginSpec::new("runtime_twin", "enricher").version("1.2.0"))
        .unwrap();
    let enrich = runtime.operation("enrich").unwrap();
    let linked = LinkedTwin;
    for i in 0..50 {
        let _ = std::panic::catch_unwind(|| linked.enrich(i));
        let _ = std::panic::catch_unwind(|| enrich.call(|| mixed(i)));
    }
    let text = render(registry, Format::Prometheus);
    let a = lines_of(&text, "linked_twin");
    let b = lines_of(&text, "runtime_twin");
    assert!(a.len() > 10, "{text}");
    assert_eq!(a, b);

    let stats = registry.stats();
    let twin = |name: &str| {
        let mut p = stats
            .plugins
            .iter()
            .find(|p| p.name == name)
            .unwrap()
            .clone();
        p.name = "twin";
        p.instance = "twin";
        for op in &mut p.operations {
            op.mean = None;
            op.p50 = None;
            op.p90 = None;
            op.p99 = None;
            op.max = None;
            op.latency_by_decade = [0; 8];
        }
        p.busy_ratio = 0.0;
        p.history.name = "twin";
        p.history.instance = "twin";
        p
    };
    assert_eq!(twin("linked_twin"), twin("runtime_twin"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runtime_plugin_is_served_like_a_linked_one() {
    let registry = leaked(&[]);
    let plugin = registry
        .register(
            PluginSpec::new("geoip", "enricher")
                .version("1.2.0")
                .source("/plugins/geoip.wasm")
                .load(|| Ok::<_, std::io::Error>(String::from("db")))
                .health(|| Health::degraded("stale database").with_detail("age_days", 9)),
        )
        .unwrap();
    let enrich = plugin.operation("enrich").unwrap();
    let loaded = plugin.load().unwrap();
    assert_eq!(loaded.value::<String>().map(String::as_str), Some("db"));
    let eu = plugin.load_instance("geoip-eu").unwrap();
    for i in 0..4 {
        enrich.call(|| Ok::<_, EnrichError>(i)).unwrap();
    }
    enrich
        .on(eu.key())
        .call(|| Err::<(), _>(EnrichError::Timeout))
        .unwrap_err();
    let report = registry.check_health();
    assert_eq!(report.checks.len(), 2);
    assert_eq!(
        registry.get("geoip").unwrap().health().status,
        HealthStatus::Degraded
    );

    let server = plugobs::http::Endpoints::new()
        .registry(registry)
        .process_metrics(false)
        .serve(0)
        .unwrap();
    let base = format!("http://{}", server.local_addr());
    let body = fetch(&format!("{base}/plugins")).await;
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["total"], 1);
    assert_eq!(json["by_kind"], serde_json::json!({"enricher": 1}));
    let rows = json["plugins"].as_array().unwrap();
    let summary: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["instance"].as_str().unwrap().to_owned(),
                r["state"].as_str().unwrap().to_owned(),
                r["health"]["status"].as_str().unwrap().to_owned(),
                r["operations"][0]["calls"].as_u64().unwrap(),
                r["operations"][0]["errors_by_kind"].clone(),
                r.get("unregistered").is_some(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "geoip".into(),
                "geoip".into(),
                "degraded".into(),
                "degraded".into(),
                4,
                serde_json::json!({}),
                false
            ),
            (
                "geoip".into(),
                "geoip-eu".into(),
                "degraded".into(),
                "degraded".into(),
                1,
                serde_json::json!({"timeout": 1}),
                false
            ),
        ]
    );
    assert_eq!(
        rows[0]["health"]["details"],
        serde_json::json!({"age_days": "9"})
    );

    let metrics = fetch(&format!("{base}/metrics")).await;
    for want in [
        "plugobs_plugin_info{plugin=\"geoip\",kind=\"enricher\",version=\"1.2.0\"} 1",
        "plugobs_plugin_operations_total{plugin=\"geoip\",kind=\"enricher\",instance=\"geoip\",operation=\"enrich\",outcome=\"ok\"} 4",
        "plugobs_plugin_errors_total{plugin=\"geoip\",kind=\"enricher\",instance=\"geoip-eu\",operation=\"enrich\",error_kind=\"timeout\"} 1",
        "plugobs_plugin_health{plugin=\"geoip\",kind=\"enricher\",instance=\"geoip\",status=\"degraded\"} 1",
        "plugobs_plugin_up{plugin=\"geoip\",kind=\"enricher\",instance=\"geoip-eu\"} 1",
        "plugobs_plugin_load_duration_seconds_count{plugin=\"geoip\",kind=\"enricher\",instance=\"geoip\"} 1",
        "plugobs_plugins{state=\"degraded\"} 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == want),
            "no line {want}:\n{metrics}"
        );
    }
    let page = fetch(&format!("{base}/")).await;
    assert!(page.contains("geoip-eu") && page.contains("stale database"));
    server.shutdown().unwrap();
    loaded.stop().unwrap();
    eu.stop().unwrap();
}

/// GET `url`'s body with a plain HTTP/1.1 request.
async fn fetch(url: &str) -> String {
    let url = url.strip_prefix("http://").unwrap();
    let (host, path) = url
        .split_once('/')
        .map_or((url, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let host = host.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(&host).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap();
        let response = String::from_utf8(response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            dechunk(body)
        } else {
            body.to_owned()
        }
    })
    .await
    .unwrap()
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        body = &rest[n + 2..];
    }
    out
}

#[test]
fn a_call_has_the_span_of_an_instrumented_method() {
    let registry = leaked(&[]);
    let plugin = registry
        .register(PluginSpec::new("rt_spans", "enricher"))
        .unwrap();
    let enrich = plugin.operation("enrich").unwrap();
    let eu = plugin.load_instance("rt_spans-eu").unwrap();
    let traces = Traces::default();
    let subscriber = tracing_subscriber::registry().with(traces.clone());
    tracing::subscriber::with_default(subscriber, || {
        enrich.call(|| Ok::<_, EnrichError>(1)).unwrap();
        enrich
            .on(eu.key())
            .call(|| Err::<(), _>(EnrichError::Timeout))
            .unwrap_err();
    });
    let spans: Vec<BTreeMap<String, String>> = traces
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(n, _)| n == "enrich")
        .map(|(_, f)| {
            let mut f = f.clone();
            f.remove("#id");
            f
        })
        .collect();
    let fields = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    assert_eq!(
        spans,
        [
            fields(&[
                ("plugin.name", "rt_spans"),
                ("plugin.kind", "enricher"),
                ("plugin.instance", "rt_spans"),
            ]),
            fields(&[
                ("plugin.name", "rt_spans"),
                ("plugin.kind", "enricher"),
                ("plugin.instance", "rt_spans-eu"),
                ("error.type", "timeout"),
                ("otel.status_code", "ERROR"),
            ]),
        ]
    );
    eu.stop().unwrap();
}
