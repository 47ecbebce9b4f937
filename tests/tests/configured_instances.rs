//! Configured instances (issue 13): several instances of one plugin, each built from its
//! own typed configuration and loaded under its own name, counted, stopped, checked and
//! failed apart, with exact series per instance.
//!
//! Operation cells and instance tables are process-wide, per plugin: every test here uses
//! a plugin of its own, so tests running in parallel never share a count.

mod common;

use std::fmt;

use common::{Published, capture};
use plugobs::instance::InstanceNameError;
use plugobs::{
    FailureReason, Health, HealthStatus, LifecycleError, LoadError, Plugin, PluginState, Registry,
    RegistryError, Stage,
};
use serde::Deserialize;
use serde_json::json;

pub trait Sink: Send + Sync {
    fn send(&self, n: u32) -> Result<u32, SinkError>;
}

#[derive(Debug, PartialEq, plugobs::ErrorKind)]
pub enum SinkError {
    Full,
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("full")
    }
}

/// Every fifth value (0, 5, 10, …) is refused.
fn send(n: u32) -> Result<u32, SinkError> {
    if n % 5 == 0 {
        Err(SinkError::Full)
    } else {
        Ok(n)
    }
}

fn yes() -> bool {
    true
}

/// A typed instance configuration, strict about unknown fields.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    pub brokers: Vec<String>,
    /// What the health hook reports.
    #[serde(default = "yes")]
    pub healthy: bool,
    #[serde(default)]
    pub tls: Tls,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub enabled: bool,
}

impl SinkConfig {
    fn with_brokers(brokers: &[&str]) -> SinkConfig {
        SinkConfig {
            brokers: brokers.iter().map(|b| (*b).to_owned()).collect(),
            healthy: true,
            tls: Tls::default(),
        }
    }
}

/// A sink plugin built from a [`SinkConfig`], whose health hook reads the configuration.
// rustfmt re-indents the attribute's arguments on every run: kept as written.
#[rustfmt::skip]
macro_rules! config_sink {
    ($ty:ident, $name:tt) => {
        #[plugobs::plugin(
            name = $name,
            kind = "sink",
            new = Self::from_config,
            provides = dyn Sink,
            health = Self::check
        )]
        pub struct $ty {
            pub cfg: SinkConfig,
        }

        impl $ty {
            pub fn from_config(cfg: SinkConfig) -> Self {
                $ty { cfg }
            }

            fn check(&self) -> Health {
                if self.cfg.healthy {
                    Health::healthy()
                } else {
                    Health::unhealthy("configured unhealthy")
                }
            }
        }

        #[plugobs::instrumented]
        impl Sink for $ty {
            fn send(&self, n: u32) -> Result<u32, SinkError> {
                send(n)
            }
        }
    };
}

fn isolated<P: Plugin>() -> Registry {
    Registry::from_descriptors([P::DESCRIPTOR]).unwrap()
}

fn brokers(list: &[&str]) -> serde_json::Value {
    json!({ "brokers": list })
}

/// `plugobs_plugin_operations_total` of `send` on one instance.
fn ops(published: &Published, plugin: &str, instance: &str, outcome: &str) -> Option<u64> {
    published.counter(
        "plugobs_plugin_operations_total",
        &[
            ("plugin", plugin),
            ("kind", "sink"),
            ("instance", instance),
            ("operation", "send"),
            ("outcome", outcome),
        ],
    )
}

/// `plugobs_plugin_errors_total{error_kind="full"}` of `send` on one instance.
fn full_errors(published: &Published, plugin: &str, instance: &str) -> Option<u64> {
    published.counter(
        "plugobs_plugin_errors_total",
        &[
            ("plugin", plugin),
            ("kind", "sink"),
            ("instance", instance),
            ("operation", "send"),
            ("error_kind", "full"),
        ],
    )
}

fn up(published: &Published, plugin: &str, instance: &str) -> Option<f64> {
    published.gauge(
        "plugobs_plugin_up",
        &[("plugin", plugin), ("kind", "sink"), ("instance", instance)],
    )
}

fn health(published: &Published, plugin: &str, instance: &str, status: &str) -> Option<f64> {
    published.gauge(
        "plugobs_plugin_health",
        &[
            ("plugin", plugin),
            ("kind", "sink"),
            ("instance", instance),
            ("status", status),
        ],
    )
}

fn plugins_in(published: &Published, state: &str) -> Option<f64> {
    published.gauge("plugobs_plugins", &[("state", state)])
}

fn load_failures(published: &Published, plugin: &str, instance: &str, reason: &str) -> Option<u64> {
    published.counter(
        "plugobs_plugin_load_failures_total",
        &[
            ("plugin", plugin),
            ("kind", "sink"),
            ("instance", instance),
            ("stage", "load"),
            ("reason", reason),
        ],
    )
}

/// The lifecycle error of a load that failed there (panics on any other outcome).
fn lifecycle_error<S: ?Sized>(result: Result<plugobs::Loaded<S>, LoadError>) -> LifecycleError {
    match result {
        Err(LoadError::Lifecycle(e)) => e,
        Err(LoadError::Registry(e)) => panic!("expected a lifecycle error, got {e:?}"),
        Ok(_) => panic!("expected a lifecycle error, the load succeeded"),
    }
}

/// The registry error of a load that failed there (panics on any other outcome).
fn registry_error<S: ?Sized>(result: Result<plugobs::Loaded<S>, LoadError>) -> RegistryError {
    match result {
        Err(LoadError::Registry(e)) => e,
        Err(LoadError::Lifecycle(e)) => panic!("expected a registry error, got {e:?}"),
        Ok(_) => panic!("expected a registry error, the load succeeded"),
    }
}

// ---------------------------------------------------------------------------------------
// 1. Two instances, called from several threads: exact counts per instance

config_sink!(ThreadedSink, "threaded_sink");

#[test]
fn two_instances_called_from_four_threads_count_apart_exactly() {
    const THREADS: u32 = 4;
    const EU_CALLS: u32 = 1000;
    const US_CALLS: u32 = 600;
    let registry = isolated::<ThreadedSink>();
    let eu = registry
        .load_instance::<dyn Sink>("threaded_sink", "kafka-eu", brokers(&["eu-1:9092"]))
        .unwrap();
    let us = registry
        .load_instance::<dyn Sink>("threaded_sink", "kafka-us", brokers(&["us-1:9092"]))
        .unwrap();
    assert_eq!((eu.name(), eu.instance()), ("threaded_sink", "kafka-eu"));
    assert_eq!((us.name(), us.instance()), ("threaded_sink", "kafka-us"));
    assert_eq!(
        eu.downcast_ref::<ThreadedSink>().unwrap().cfg.brokers,
        ["eu-1:9092"]
    );
    assert_eq!(
        us.downcast_ref::<ThreadedSink>().unwrap().cfg.brokers,
        ["us-1:9092"]
    );

    std::thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                for n in 0..EU_CALLS {
                    assert_eq!(eu.send(n), send(n));
                }
            });
            s.spawn(|| {
                for n in 0..US_CALLS {
                    assert_eq!(us.send(n), send(n));
                }
            });
        }
    });

    let published = capture(|| registry.flush());
    // Every fifth call is an error.
    let (eu_err, us_err) = (THREADS * EU_CALLS / 5, THREADS * US_CALLS / 5);
    let (eu_ok, us_ok) = (THREADS * EU_CALLS - eu_err, THREADS * US_CALLS - us_err);
    let p = "threaded_sink";
    assert_eq!(ops(&published, p, "kafka-eu", "ok"), Some(u64::from(eu_ok)));
    assert_eq!(
        ops(&published, p, "kafka-eu", "error"),
        Some(u64::from(eu_err))
    );
    assert_eq!(ops(&published, p, "kafka-eu", "panic"), Some(0));
    assert_eq!(ops(&published, p, "kafka-us", "ok"), Some(u64::from(us_ok)));
    assert_eq!(
        ops(&published, p, "kafka-us", "error"),
        Some(u64::from(us_err))
    );
    assert_eq!(
        full_errors(&published, p, "kafka-eu"),
        Some(u64::from(eu_err))
    );
    assert_eq!(
        full_errors(&published, p, "kafka-us"),
        Some(u64::from(us_err))
    );
    // The default instance was never loaded nor called: it has no series.
    assert_eq!(ops(&published, p, "threaded_sink", "ok"), None);
    assert_eq!(up(&published, p, "threaded_sink"), None);
    assert_eq!(up(&published, p, "kafka-eu"), Some(1.0));
    assert_eq!(up(&published, p, "kafka-us"), Some(1.0));
    assert_eq!(
        published
            .histogram(
                "plugobs_plugin_operation_duration_seconds",
                &[
                    ("plugin", p),
                    ("kind", "sink"),
                    ("instance", "kafka-eu"),
                    ("operation", "send")
                ]
            )
            .map(Vec::len),
        Some((THREADS * EU_CALLS) as usize)
    );

    let stats = registry.stats();
    let rows: Vec<_> = stats
        .plugins
        .iter()
        .map(|r| {
            let send = &r.operations[0];
            (
                r.name,
                r.instance,
                send.name,
                send.calls,
                send.ok,
                send.errors,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                p,
                "kafka-eu",
                "send",
                u64::from(THREADS * EU_CALLS),
                u64::from(eu_ok),
                u64::from(eu_err)
            ),
            (
                p,
                "kafka-us",
                "send",
                u64::from(THREADS * US_CALLS),
                u64::from(us_ok),
                u64::from(us_err)
            ),
        ]
    );
    assert_eq!(
        stats.total_calls,
        u64::from(THREADS * (EU_CALLS + US_CALLS))
    );
    assert_eq!(stats.total, 1, "one registered plugin");
    eu.stop().unwrap();
    us.stop().unwrap();
}

// ---------------------------------------------------------------------------------------
// 2. One instance stopped, or unhealthy, while the other runs

config_sink!(StopSink, "stop_sink");

#[test]
fn one_instance_stopped_while_the_other_runs() {
    let registry = isolated::<StopSink>();
    let a = registry
        .load_instance::<dyn Sink>("stop_sink", "stop-a", brokers(&["a:1"]))
        .unwrap();
    let b = registry
        .load_instance::<dyn Sink>("stop_sink", "stop-b", brokers(&["b:1"]))
        .unwrap();
    for n in 1..=3 {
        a.send(n).unwrap();
        b.send(n).unwrap();
    }
    a.stop().unwrap();
    b.send(4).unwrap();

    let record_a = registry.instance("stop-a").unwrap();
    let record_b = registry.instance("stop-b").unwrap();
    assert_eq!(record_a.state(), PluginState::Stopped);
    assert_eq!(record_b.state(), PluginState::Running);
    assert_eq!(
        (record_a.instance(), record_a.is_default_instance()),
        ("stop-a", false)
    );
    assert_eq!(
        registry.get("stop_sink").unwrap().state(),
        PluginState::Registered,
        "the default instance was never loaded"
    );

    let published = capture(|| registry.flush());
    let p = "stop_sink";
    assert_eq!(up(&published, p, "stop-a"), Some(0.0));
    assert_eq!(up(&published, p, "stop-b"), Some(1.0));
    assert_eq!(up(&published, p, "stop_sink"), None);
    assert_eq!(plugins_in(&published, "running"), Some(1.0));
    assert_eq!(plugins_in(&published, "stopped"), Some(1.0));
    assert_eq!(plugins_in(&published, "registered"), Some(0.0));
    assert_eq!(plugins_in(&published, "failed"), Some(0.0));
    assert_eq!(ops(&published, p, "stop-a", "ok"), Some(3));
    assert_eq!(ops(&published, p, "stop-b", "ok"), Some(4));
    assert_eq!(
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", p),
                ("kind", "sink"),
                ("instance", "stop-a"),
                ("from", "running"),
                ("to", "stopped")
            ]
        ),
        Some(1)
    );
    assert_eq!(
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", p),
                ("kind", "sink"),
                ("instance", "stop-b"),
                ("from", "running"),
                ("to", "stopped")
            ]
        ),
        None
    );

    let stats = registry.stats();
    let states: Vec<_> = stats
        .plugins
        .iter()
        .map(|r| (r.instance, r.state))
        .collect();
    assert_eq!(
        states,
        [
            ("stop-a", PluginState::Stopped),
            ("stop-b", PluginState::Running)
        ]
    );
    assert_eq!(stats.by_state.get(&PluginState::Running), Some(&1));
    assert_eq!(stats.by_state.get(&PluginState::Stopped), Some(&1));
    b.stop().unwrap();
}

config_sink!(HealthSink, "health_sink");

#[test]
fn one_instance_unhealthy_while_the_other_runs_healthy() {
    let registry = isolated::<HealthSink>();
    let well = registry
        .load_instance::<dyn Sink>("health_sink", "well", brokers(&["w:1"]))
        .unwrap();
    let sick = registry
        .load_instance::<dyn Sink>(
            "health_sink",
            "sick",
            json!({ "brokers": ["s:1"], "healthy": false }),
        )
        .unwrap();

    let report = registry.check_health();
    let seen: Vec<_> = report
        .checks
        .iter()
        .map(|c| (c.plugin, c.instance, c.status))
        .collect();
    assert_eq!(
        seen,
        [
            ("health_sink", "sick", HealthStatus::Unhealthy),
            ("health_sink", "well", HealthStatus::Healthy),
        ]
    );
    let sick_check = report.get("sick").unwrap();
    assert_eq!(sick_check.result.message, "configured unhealthy");
    assert_eq!(sick_check.previous, HealthStatus::Unknown);
    assert_eq!(report.get("well").unwrap().status, HealthStatus::Healthy);
    assert!(
        report.get("health_sink").is_none(),
        "the default instance does not run"
    );

    let record_well = registry.instance("well").unwrap();
    let record_sick = registry.instance("sick").unwrap();
    assert_eq!(record_well.health().status, HealthStatus::Healthy);
    assert_eq!(record_sick.health().status, HealthStatus::Unhealthy);
    // The unhealthy instance's state is its own; the other still runs.
    assert_eq!(record_well.state(), PluginState::Running);
    assert_eq!(record_sick.state(), PluginState::Unhealthy);

    let published = capture(|| registry.flush());
    let p = "health_sink";
    assert_eq!(up(&published, p, "well"), Some(1.0));
    assert_eq!(up(&published, p, "sick"), Some(0.0));
    for (status, well_v, sick_v) in [
        ("healthy", 1.0, 0.0),
        ("degraded", 0.0, 0.0),
        ("unhealthy", 0.0, 1.0),
        ("unknown", 0.0, 0.0),
    ] {
        assert_eq!(
            health(&published, p, "well", status),
            Some(well_v),
            "{status}"
        );
        assert_eq!(
            health(&published, p, "sick", status),
            Some(sick_v),
            "{status}"
        );
        assert_eq!(health(&published, p, "health_sink", status), None);
    }
    assert_eq!(plugins_in(&published, "running"), Some(1.0));
    assert_eq!(plugins_in(&published, "unhealthy"), Some(1.0));
    assert_eq!(plugins_in(&published, "registered"), Some(0.0));
    assert_eq!(
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", p),
                ("kind", "sink"),
                ("instance", "sick"),
                ("from", "running"),
                ("to", "unhealthy")
            ]
        ),
        Some(1)
    );
    assert_eq!(
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", p),
                ("kind", "sink"),
                ("instance", "well"),
                ("from", "running"),
                ("to", "unhealthy")
            ]
        ),
        None
    );

    let stats = registry.stats();
    assert_eq!(
        (
            stats.health.healthy,
            stats.health.unhealthy,
            stats.health.unknown
        ),
        (1, 1, 0)
    );
    well.stop().unwrap();
    sick.stop().unwrap();
}

// ---------------------------------------------------------------------------------------
// 3. Bad configurations fail only their instance, with the exact message

config_sink!(StrictSink, "strict_sink");

#[test]
fn bad_configs_fail_only_their_instance_with_the_exact_message() {
    let registry = isolated::<StrictSink>();
    let p = "strict_sink";
    let good = registry
        .load_instance::<dyn Sink>(p, "good", brokers(&["g:1"]))
        .unwrap();

    let cases = [
        (
            "wrong-type",
            json!({ "brokers": "eu-1:9092" }),
            "at `brokers`: invalid type: string \"eu-1:9092\", expected a sequence",
        ),
        (
            "nested-type",
            json!({ "brokers": [], "tls": { "enabled": 1 } }),
            "at `tls.enabled`: invalid type: integer `1`, expected a boolean",
        ),
        (
            "missing",
            json!({ "healthy": true }),
            "missing field `brokers`",
        ),
        (
            "unknown",
            json!({ "brokers": [], "acks": 1 }),
            "at `acks`: unknown field `acks`, expected one of `brokers`, `healthy`, `tls`",
        ),
    ];
    for (instance, config, message) in &cases {
        let e = lifecycle_error(registry.load_instance::<dyn Sink>(p, instance, config));
        assert_eq!(
            (e.plugin, e.instance, e.stage, e.error.reason()),
            (p, *instance, Stage::Load, FailureReason::Config),
            "{instance}"
        );
        assert_eq!(e.error.message(), *message);
        assert_eq!(
            e.to_string(),
            format!("instance `{instance}` of plugin `{p}` failed to load: {message}")
        );
        let record = registry.instance(instance).unwrap();
        assert_eq!(record.state(), PluginState::Failed, "{instance}");
        assert_eq!(record.failures(Stage::Load, FailureReason::Config), 1);
        assert_eq!(record.total_failures(), 1);
    }
    // The good instance runs on.
    assert_eq!(good.send(1), Ok(1));

    let published = capture(|| registry.flush());
    for (instance, _, _) in &cases {
        assert_eq!(
            load_failures(&published, p, instance, "config"),
            Some(1),
            "{instance}"
        );
        assert_eq!(load_failures(&published, p, instance, "error"), Some(0));
        assert_eq!(up(&published, p, instance), Some(0.0));
    }
    assert_eq!(load_failures(&published, p, "good", "config"), Some(0));
    assert_eq!(up(&published, p, "good"), Some(1.0));
    assert_eq!(ops(&published, p, "good", "ok"), Some(1));
    assert_eq!(plugins_in(&published, "failed"), Some(4.0));
    assert_eq!(plugins_in(&published, "running"), Some(1.0));

    // A failed instance loads again under its name once its configuration is fixed; its
    // failure count stays.
    let fixed = registry
        .load_instance::<dyn Sink>(p, "missing", brokers(&["m:1"]))
        .unwrap();
    assert_eq!(fixed.instance(), "missing");
    let record = registry.instance("missing").unwrap();
    assert_eq!(record.state(), PluginState::Running);
    assert_eq!(record.failures(Stage::Load, FailureReason::Config), 1);
    fixed.stop().unwrap();
    good.stop().unwrap();
}

config_sink!(SectionSink, "section_sink");

/// A plugin of another trait, to name as the `type` of a sink.
pub trait Source: Send + Sync {}

#[plugobs::plugin(kind = "source", provides = dyn Source)]
#[derive(Default)]
pub struct SectionSource;
impl Source for SectionSource {}

#[test]
fn a_toml_section_loads_every_instance_it_can_and_reports_the_others_exactly() {
    let registry =
        Registry::from_descriptors([SectionSink::DESCRIPTOR, SectionSource::DESCRIPTOR]).unwrap();
    // Written out of name order: the report is ordered by instance name.
    let file: toml::Table = toml::from_str(
        r#"
        [sinks.us]
        type = "section_sink"
        brokers = ["us-1:9092"]
        tls = { enabled = 1 }

        [sinks.eu]
        type = "section_sink"
        brokers = ["eu-1:9092"]
        tls = { enabled = true }

        [sinks.typo]
        type = "sektion_sink"
        brokers = []

        [sinks.untyped]
        brokers = []

        [sinks.numbered]
        type = 7

        [sinks."bad name"]
        type = "section_sink"
        brokers = []

        [sinks.asia]
        type = "section_sink"
        brokers = ["ap-1:9092"]
        acks = "all"

        [sinks.source]
        type = "section_source"

        [sinks.ca]
        type = "section_sink"
        brokers = ["ca-1:9092"]
        "#,
    )
    .unwrap();

    let report = registry.load_instances::<dyn Sink>(&file["sinks"]);
    let loaded: Vec<_> = report
        .loaded
        .iter()
        .map(|l| (l.name(), l.instance()))
        .collect();
    assert_eq!(loaded, [("section_sink", "ca"), ("section_sink", "eu")]);
    assert!(
        report.loaded[1]
            .downcast_ref::<SectionSink>()
            .unwrap()
            .cfg
            .tls
            .enabled
    );

    let failures: Vec<_> = report
        .failures
        .iter()
        .map(|f| (f.instance.as_str(), f.to_string()))
        .collect();
    assert_eq!(
        failures,
        [
            (
                "asia",
                "instance `asia` of plugin `section_sink` failed to load: at `acks`: unknown \
                 field `acks`, expected one of `brokers`, `healthy`, `tls`"
                    .to_owned()
            ),
            (
                "bad name",
                "invalid instance name \"bad name\": an instance name holds only ASCII \
                 letters, digits, '_', '-' and '.'; found ' ' at byte 3"
                    .to_owned()
            ),
            (
                "numbered",
                "invalid instance `numbered`: `type` must be a string: the name of a plugin"
                    .to_owned()
            ),
            (
                "source",
                "instance `source`: plugin `section_source` does not provide \
                 `dyn configured_instances::Sink`; declare it with #[plugin(provides = dyn \
                 configured_instances::Sink)]"
                    .to_owned()
            ),
            (
                "typo",
                "instance `typo`: no plugin is named `sektion_sink`".to_owned()
            ),
            (
                "untyped",
                "invalid instance `untyped`: no `type`: the name of the plugin to load".to_owned()
            ),
            (
                "us",
                "instance `us` of plugin `section_sink` failed to load: at `tls.enabled`: \
                 invalid type: integer `1`, expected a boolean"
                    .to_owned()
            ),
        ]
    );
    // The typed errors behind two of them.
    assert_eq!(
        report.failures[4].error,
        LoadError::Registry(RegistryError::UnknownPlugin {
            name: "sektion_sink".to_owned()
        })
    );
    assert_eq!(
        report.failures[5].error,
        LoadError::Registry(RegistryError::InvalidSection {
            instance: "untyped".to_owned(),
            message: "no `type`: the name of the plugin to load".to_owned()
        })
    );
    let LoadError::Lifecycle(us) = &report.failures[6].error else {
        panic!("{:?}", report.failures[6]);
    };
    assert_eq!(
        (us.plugin, us.instance, us.stage, us.error.reason()),
        ("section_sink", "us", Stage::Load, FailureReason::Config)
    );
    assert!(!report.is_complete());

    let published = capture(|| registry.flush());
    let p = "section_sink";
    assert_eq!(load_failures(&published, p, "us", "config"), Some(1));
    assert_eq!(load_failures(&published, p, "asia", "config"), Some(1));
    assert_eq!(load_failures(&published, p, "eu", "config"), Some(0));
    assert_eq!(up(&published, p, "eu"), Some(1.0));
    assert_eq!(up(&published, p, "ca"), Some(1.0));
    assert_eq!(up(&published, p, "us"), Some(0.0));
    // Entries that never reached a plugin have no record and no series.
    for name in ["typo", "untyped", "numbered", "bad name", "source"] {
        assert!(registry.instance(name).is_none(), "{name}");
    }
    assert_eq!(plugins_in(&published, "running"), Some(2.0));
    assert_eq!(plugins_in(&published, "failed"), Some(2.0));
    assert_eq!(report.stop_all(), []);
}

// ---------------------------------------------------------------------------------------
// 4. Instance names: taken, invalid, and reloaded

config_sink!(AlphaSink, "alpha_sink");
config_sink!(BetaSink, "beta_sink");

#[test]
fn taken_and_invalid_instance_names_are_refused_exactly() {
    let registry =
        Registry::from_descriptors([AlphaSink::DESCRIPTOR, BetaSink::DESCRIPTOR]).unwrap();
    let one = registry
        .load_instance::<dyn Sink>("alpha_sink", "one", brokers(&[]))
        .unwrap();

    let cases: [(&str, &str, RegistryError, &str); 6] = [
        (
            "alpha_sink",
            "one",
            RegistryError::InstanceTaken {
                instance: "one".to_owned(),
                by: "alpha_sink",
                live: true,
            },
            "instance `one` of plugin `alpha_sink` is already loaded; stop it before loading \
             it again",
        ),
        (
            "beta_sink",
            "one",
            RegistryError::InstanceTaken {
                instance: "one".to_owned(),
                by: "alpha_sink",
                live: false,
            },
            "the instance name `one` is taken by an instance of plugin `alpha_sink`; instance \
             names are unique in a registry",
        ),
        (
            "alpha_sink",
            "beta_sink",
            RegistryError::InstanceTaken {
                instance: "beta_sink".to_owned(),
                by: "beta_sink",
                live: false,
            },
            "the instance name `beta_sink` is taken: it names the default instance of plugin \
             `beta_sink`",
        ),
        (
            "alpha_sink",
            "alpha_sink",
            RegistryError::InstanceTaken {
                instance: "alpha_sink".to_owned(),
                by: "alpha_sink",
                live: false,
            },
            "the instance name `alpha_sink` is taken: it names the default instance of plugin \
             `alpha_sink`",
        ),
        (
            "alpha_sink",
            "",
            RegistryError::InvalidInstanceName {
                name: String::new(),
                error: InstanceNameError::Empty,
            },
            "invalid instance name \"\": an instance name must not be empty",
        ),
        (
            "alpha_sink",
            "kafka eu",
            RegistryError::InvalidInstanceName {
                name: "kafka eu".to_owned(),
                error: InstanceNameError::InvalidCharacter {
                    character: ' ',
                    index: 5,
                },
            },
            "invalid instance name \"kafka eu\": an instance name holds only ASCII letters, \
             digits, '_', '-' and '.'; found ' ' at byte 5",
        ),
    ];
    for (plugin, instance, error, message) in cases {
        let e = registry_error(registry.load_instance::<dyn Sink>(plugin, instance, brokers(&[])));
        assert_eq!(e, error, "{plugin} / {instance:?}");
        assert_eq!(e.to_string(), message);
    }
    // None of the refusals touched a record: no failure, no new instance.
    let published = capture(|| registry.flush());
    assert_eq!(
        load_failures(&published, "alpha_sink", "one", "config"),
        Some(0)
    );
    assert_eq!(
        load_failures(&published, "alpha_sink", "one", "error"),
        Some(0)
    );
    assert_eq!(registry.get("alpha_sink").unwrap().total_failures(), 0);
    assert_eq!(registry.get("beta_sink").unwrap().total_failures(), 0);
    let names: Vec<_> = registry.instances().iter().map(|r| r.instance()).collect();
    assert_eq!(names, ["one", "beta_sink"]);
    assert_eq!(plugins_in(&published, "running"), Some(1.0));
    assert_eq!(plugins_in(&published, "registered"), Some(1.0));

    // Reloaded under its name after a stop: the same record, the counts go on.
    for n in 1..=3 {
        one.send(n).unwrap();
    }
    let record = registry.instance("one").unwrap();
    one.stop().unwrap();
    // The name stays this plugin's: another plugin still cannot take it.
    assert_eq!(
        registry_error(registry.load_instance::<dyn Sink>("beta_sink", "one", brokers(&[]))),
        RegistryError::InstanceTaken {
            instance: "one".to_owned(),
            by: "alpha_sink",
            live: false,
        }
    );
    let again = registry
        .load_instance::<dyn Sink>("alpha_sink", "one", brokers(&[]))
        .unwrap();
    assert!(std::sync::Arc::ptr_eq(
        &record,
        &registry.instance("one").unwrap()
    ));
    for n in 1..=2 {
        again.send(n).unwrap();
    }
    let published = capture(|| registry.flush());
    assert_eq!(ops(&published, "alpha_sink", "one", "ok"), Some(5));
    let transition = |from: &str, to: &str| {
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", "alpha_sink"),
                ("kind", "sink"),
                ("instance", "one"),
                ("from", from),
                ("to", to),
            ],
        )
    };
    assert_eq!(transition("running", "stopped"), Some(1));
    assert_eq!(transition("loaded", "running"), Some(2));
    assert_eq!(record.state(), PluginState::Running);
    assert_eq!(registry.stats().plugins[0].operations[0].calls, 5);
    again.stop().unwrap();
}

// ---------------------------------------------------------------------------------------
// 5. A value the host built counts under the default instance

config_sink!(HostSink, "host_sink");

#[test]
fn a_host_built_value_counts_under_the_default_instance() {
    let registry = isolated::<HostSink>();
    let loaded = registry
        .load_instance::<dyn Sink>("host_sink", "from-registry", brokers(&["r:1"]))
        .unwrap();
    // Built by the host, not through the registry.
    let host = HostSink::from_config(SinkConfig::with_brokers(&["h:1"]));
    let boxed: Box<dyn Sink> = Box::new(HostSink::from_config(SinkConfig::with_brokers(&[])));
    for n in 1..=3 {
        assert_eq!(host.send(n), Ok(n));
    }
    assert_eq!(boxed.send(1), Ok(1));
    for n in [1, 2, 3, 4, 6] {
        assert_eq!(loaded.send(n), Ok(n));
    }
    // Through the concrete type, the loaded value is still its instance.
    let concrete = loaded.downcast_ref::<HostSink>().unwrap();
    assert_eq!(concrete.send(7), Ok(7));

    let published = capture(|| registry.flush());
    assert_eq!(ops(&published, "host_sink", "host_sink", "ok"), Some(4));
    assert_eq!(ops(&published, "host_sink", "from-registry", "ok"), Some(6));
    let names: Vec<_> = registry.instances().iter().map(|r| r.instance()).collect();
    assert_eq!(
        names,
        ["host_sink", "from-registry"],
        "the default instance is listed once it was called"
    );
    let default = registry.get("host_sink").unwrap();
    assert!(default.is_default_instance());
    assert_eq!(default.state(), PluginState::Registered);
    loaded.stop().unwrap();
}

// ---------------------------------------------------------------------------------------
// 6. Constructors without configuration, and configurations through `load`

pub trait Plain: Send + Sync {
    fn value(&self) -> u32;
}

#[plugobs::plugin(kind = "sink", new = Self::new, provides = dyn Plain)]
pub struct NoConfigPlain;
impl NoConfigPlain {
    fn new() -> Self {
        NoConfigPlain
    }
}
impl Plain for NoConfigPlain {
    fn value(&self) -> u32 {
        0
    }
}

#[plugobs::plugin(kind = "sink", provides = dyn Plain)]
#[derive(Default)]
pub struct DefaultPlain;
impl Plain for DefaultPlain {
    fn value(&self) -> u32 {
        0
    }
}

#[test]
fn a_constructor_without_configuration_refuses_a_non_empty_one() {
    let registry =
        Registry::from_descriptors([NoConfigPlain::DESCRIPTOR, DefaultPlain::DESCRIPTOR]).unwrap();
    for plugin in ["no_config_plain", "default_plain"] {
        let instance = format!("{plugin}-with-port");
        let e = lifecycle_error(registry.load_instance::<dyn Plain>(
            plugin,
            &instance,
            json!({ "port": 9092 }),
        ));
        assert_eq!(
            (e.plugin, e.instance, e.stage, e.error.reason()),
            (
                plugin,
                instance.as_str(),
                Stage::Load,
                FailureReason::Config
            )
        );
        assert_eq!(
            e.to_string(),
            format!(
                "instance `{instance}` of plugin `{plugin}` failed to load: this plugin's \
                 constructor takes no configuration; found `port` (name a constructor that \
                 takes one with `#[plugin(new = Self::from_config)]`)"
            )
        );
        // An empty configuration (an empty table) is fine.
        let empty = registry
            .load_instance::<dyn Plain>(plugin, &format!("{plugin}-empty"), toml::Table::new())
            .unwrap();
        assert_eq!(empty.value(), 0);
        empty.stop().unwrap();
    }
    // A failed instance keeps its name: another plugin cannot take it.
    assert_eq!(
        registry_error(registry.load_instance::<dyn Plain>(
            "default_plain",
            "no_config_plain-with-port",
            toml::Table::new()
        )),
        RegistryError::InstanceTaken {
            instance: "no_config_plain-with-port".to_owned(),
            by: "no_config_plain",
            live: false,
        }
    );
    let published = capture(|| registry.flush());
    for plugin in ["no_config_plain", "default_plain"] {
        assert_eq!(
            published.counter(
                "plugobs_plugin_load_failures_total",
                &[
                    ("plugin", plugin),
                    ("kind", "sink"),
                    ("instance", &format!("{plugin}-with-port")),
                    ("stage", "load"),
                    ("reason", "config"),
                ],
            ),
            Some(1)
        );
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LenientConfig {
    pub batch: u32,
    pub topic: String,
}

#[plugobs::plugin(kind = "sink", new = Self::from_config, provides = dyn Plain)]
pub struct LenientPlain {
    cfg: LenientConfig,
}
impl LenientPlain {
    fn from_config(cfg: LenientConfig) -> Self {
        LenientPlain { cfg }
    }
}
impl Plain for LenientPlain {
    fn value(&self) -> u32 {
        self.cfg.batch
    }
}

#[derive(Debug, Deserialize)]
pub struct RequiredConfig {
    pub brokers: Vec<String>,
}

#[plugobs::plugin(kind = "sink", new = Self::from_config, provides = dyn Plain)]
pub struct RequiredPlain {
    _cfg: RequiredConfig,
}
impl RequiredPlain {
    fn from_config(cfg: RequiredConfig) -> Result<Self, SinkError> {
        Ok(RequiredPlain { _cfg: cfg })
    }
}
impl Plain for RequiredPlain {
    fn value(&self) -> u32 {
        1
    }
}

#[test]
fn load_without_configuration_uses_an_empty_one() {
    let registry =
        Registry::from_descriptors([LenientPlain::DESCRIPTOR, RequiredPlain::DESCRIPTOR]).unwrap();
    // Every field has a default: the old `load` works.
    let lenient = registry.load::<dyn Plain>("lenient_plain").unwrap();
    assert_eq!(lenient.instance(), "lenient_plain");
    assert_eq!(lenient.value(), 0);
    assert_eq!(
        lenient.downcast_ref::<LenientPlain>().unwrap().cfg.topic,
        ""
    );
    // And a configured instance of it takes its fields.
    let configured = registry
        .load_instance::<dyn Plain>("lenient_plain", "big-batch", json!({ "batch": 500 }))
        .unwrap();
    assert_eq!(configured.value(), 500);

    // A required field: the old `load` fails with `missing field`, reason config.
    let e = lifecycle_error(registry.load::<dyn Plain>("required_plain"));
    assert_eq!(
        (e.plugin, e.instance, e.stage, e.error.reason()),
        (
            "required_plain",
            "required_plain",
            Stage::Load,
            FailureReason::Config
        )
    );
    assert_eq!(e.error.message(), "missing field `brokers`");
    assert_eq!(
        e.to_string(),
        "plugin `required_plain` failed to load: missing field `brokers`"
    );
    // `load_all` reports it the same way and loads the other.
    let report = registry.load_all::<dyn Plain>();
    assert_eq!(
        report
            .loaded
            .iter()
            .map(|l| l.instance())
            .collect::<Vec<_>>(),
        ["lenient_plain"]
    );
    assert_eq!(report.failures, [e]);

    let published = capture(|| registry.flush());
    assert_eq!(
        published.counter(
            "plugobs_plugin_load_failures_total",
            &[
                ("plugin", "required_plain"),
                ("kind", "sink"),
                ("instance", "required_plain"),
                ("stage", "load"),
                ("reason", "config"),
            ],
        ),
        Some(2)
    );
    assert_eq!(
        registry
            .get("required_plain")
            .unwrap()
            .failures(Stage::Load, FailureReason::Config),
        2
    );
    assert_eq!(report.stop_all(), []);
    lenient.stop().unwrap();
    configured.stop().unwrap();
}

config_sink!(ChurnSink, "churn_sink");

/// Named instances loaded and stopped over and over on one thread — their bindings freed
/// and reused — while two threads call a steady instance of the same plugin: every call
/// is counted under the instance it ran on, none under another or the default instance.
#[test]
fn instances_coming_and_going_never_move_a_call_to_another_instance() {
    const CALLS: u64 = 20_000;
    const ROUNDS: u64 = 200;
    let registry = isolated::<ChurnSink>();
    let steady = registry
        .load_instance::<dyn Sink>("churn_sink", "steady", brokers(&["s:1"]))
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..CALLS {
                    steady.send(1).unwrap();
                }
            });
        }
        s.spawn(|| {
            for round in 0..ROUNDS {
                let name = format!("churn-{}", round % 4);
                let value = registry
                    .load_instance::<dyn Sink>("churn_sink", &name, brokers(&["c:1"]))
                    .unwrap();
                for _ in 0..10 {
                    value.send(1).unwrap();
                }
                // Every other value is stopped, the others dropped: both unbind it.
                if round % 2 == 0 {
                    value.stop().unwrap();
                }
            }
        });
    });

    let published = capture(|| registry.flush());
    let p = "churn_sink";
    assert_eq!(ops(&published, p, "steady", "ok"), Some(2 * CALLS));
    for i in 0..4 {
        let name = format!("churn-{i}");
        assert_eq!(
            ops(&published, p, &name, "ok"),
            Some(ROUNDS / 4 * 10),
            "{name}"
        );
        assert_eq!(
            registry.instance(&name).unwrap().state(),
            PluginState::Stopped,
            "{name}"
        );
    }
    assert_eq!(ops(&published, p, "churn_sink", "ok"), None);
    let names: Vec<&str> = registry.instances().iter().map(|r| r.instance()).collect();
    assert_eq!(
        names,
        ["churn-0", "churn-1", "churn-2", "churn-3", "steady"]
    );
}
