//! Load, start and stop, with the exact metrics each publishes.

mod common;

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Waker};

use common::{capture, close};
use plugobs::{FailureReason, Plugin, PluginState, Registry, Stage};

pub trait Greeter: Send + Sync {
    fn greet(&self) -> String;
}

#[derive(Debug)]
pub struct TestError(&'static str);
impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn isolated<P: Plugin>() -> Registry {
    Registry::from_descriptors([P::DESCRIPTOR]).unwrap()
}

/// Starts cleanly.
#[plugobs::plugin(kind = "greeter", provides = dyn Greeter, start = Self::open, stop = Self::close)]
#[derive(Default)]
pub struct CleanGreeter {
    open: bool,
}
impl CleanGreeter {
    fn open(&mut self) -> Result<(), TestError> {
        self.open = true;
        Ok(())
    }
    fn close(&mut self) {
        self.open = false;
    }
}
impl Greeter for CleanGreeter {
    fn greet(&self) -> String {
        format!("hello (open: {})", self.open)
    }
}

#[test]
fn clean_load_and_start() {
    let registry = isolated::<CleanGreeter>();
    let mut report = None;
    let published = capture(|| {
        report = Some(registry.load_all::<dyn Greeter>());
        registry.flush();
    });
    let report = report.unwrap();
    assert!(report.is_complete());
    assert_eq!(report.loaded.len(), 1);
    assert_eq!(report.loaded[0].greet(), "hello (open: true)");
    assert_eq!(report.loaded[0].name(), "clean_greeter");

    let pk = [
        ("plugin", "clean_greeter"),
        ("kind", "greeter"),
        ("instance", "clean_greeter"),
    ];
    assert_eq!(
        published.gauge(
            "plugobs_plugin_info",
            &[
                ("plugin", "clean_greeter"),
                ("kind", "greeter"),
                ("version", VERSION)
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        published.gauge("plugobs_plugins", &[("state", "running")]),
        Some(1.0)
    );
    assert_eq!(
        published.gauge("plugobs_plugins", &[("state", "failed")]),
        Some(0.0)
    );
    assert_eq!(
        published.gauge("plugobs_plugins", &[("state", "registered")]),
        Some(0.0)
    );
    assert_eq!(
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", "clean_greeter"),
                ("kind", "greeter"),
                ("instance", "clean_greeter"),
                ("from", "registered"),
                ("to", "loaded")
            ]
        ),
        Some(1)
    );
    assert_eq!(
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", "clean_greeter"),
                ("kind", "greeter"),
                ("instance", "clean_greeter"),
                ("from", "loaded"),
                ("to", "running")
            ]
        ),
        Some(1)
    );
    // `config` only fails a load: there is no such start failure to publish.
    for (stage, reasons) in [
        ("load", &["error", "panic", "cancelled", "config"][..]),
        ("start", &["error", "panic", "cancelled"][..]),
    ] {
        for &reason in reasons {
            assert_eq!(
                published.counter(
                    "plugobs_plugin_load_failures_total",
                    &[
                        ("plugin", "clean_greeter"),
                        ("kind", "greeter"),
                        ("instance", "clean_greeter"),
                        ("stage", stage),
                        ("reason", reason)
                    ]
                ),
                Some(0),
                "{stage} {reason}"
            );
        }
    }
    assert_eq!(
        published.counter(
            "plugobs_plugin_load_failures_total",
            &[
                ("plugin", "clean_greeter"),
                ("kind", "greeter"),
                ("instance", "clean_greeter"),
                ("stage", "start"),
                ("reason", "config")
            ]
        ),
        None
    );
    let stats = registry.stats();
    let p = &stats.plugins[0];
    assert_eq!(p.state, PluginState::Running);
    assert_eq!(p.failures, 0);
    assert_eq!(p.last_failure, None);
    assert!(p.loaded_at.is_some());

    let load = published
        .histogram("plugobs_plugin_load_duration_seconds", &pk)
        .unwrap();
    assert_eq!(load.len(), 1);
    assert!(
        close(load[0], p.load_duration.unwrap().as_secs_f64()),
        "{load:?} vs {:?}",
        p.load_duration
    );
    let start = published
        .histogram("plugobs_plugin_start_duration_seconds", &pk)
        .unwrap();
    assert_eq!(start.len(), 1);
    assert!(close(start[0], p.start_duration.unwrap().as_secs_f64()));
    assert_eq!(
        published.histogram("plugobs_plugin_stop_duration_seconds", &pk),
        None
    );
    assert_eq!(
        published
            .histogram("plugobs_discovery_duration_seconds", &[])
            .map(Vec::len),
        Some(1)
    );
}

/// Its constructor fails.
#[plugobs::plugin(kind = "greeter", provides = dyn Greeter, new = Self::try_new)]
pub struct BrokenConfig;
impl BrokenConfig {
    fn try_new() -> Result<Self, TestError> {
        Err(TestError("missing api key"))
    }
}
impl Greeter for BrokenConfig {
    fn greet(&self) -> String {
        unreachable!()
    }
}

#[test]
fn constructor_returning_err() {
    let registry = isolated::<BrokenConfig>();
    let mut report = None;
    let published = capture(|| {
        report = Some(registry.load_all::<dyn Greeter>());
        registry.flush();
    });
    let report = report.unwrap();
    assert_eq!(report.loaded.len(), 0);
    assert_eq!(report.failures.len(), 1);
    let failure = &report.failures[0];
    assert_eq!(failure.plugin, "broken_config");
    assert_eq!(failure.stage, Stage::Load);
    assert_eq!(failure.error.message(), "missing api key");
    assert_eq!(failure.error.reason(), FailureReason::Error);
    assert!(
        failure.error.error_type().ends_with("TestError"),
        "{}",
        failure.error.error_type()
    );
    assert_eq!(
        failure.to_string(),
        "plugin `broken_config` failed to load: missing api key"
    );

    let labels = |stage, reason| {
        [
            ("plugin", "broken_config"),
            ("kind", "greeter"),
            ("instance", "broken_config"),
            ("stage", stage),
            ("reason", reason),
        ]
    };
    assert_eq!(
        published.counter(
            "plugobs_plugin_load_failures_total",
            &labels("load", "error")
        ),
        Some(1)
    );
    assert_eq!(
        published.counter(
            "plugobs_plugin_load_failures_total",
            &labels("load", "panic")
        ),
        Some(0)
    );
    assert_eq!(
        published.counter(
            "plugobs_plugin_load_failures_total",
            &labels("start", "error")
        ),
        Some(0)
    );
    assert_eq!(
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", "broken_config"),
                ("kind", "greeter"),
                ("instance", "broken_config"),
                ("from", "registered"),
                ("to", "failed")
            ]
        ),
        Some(1)
    );
    assert_eq!(
        published.gauge("plugobs_plugins", &[("state", "failed")]),
        Some(1.0)
    );
    assert_eq!(
        published
            .histogram(
                "plugobs_plugin_load_duration_seconds",
                &[
                    ("plugin", "broken_config"),
                    ("kind", "greeter"),
                    ("instance", "broken_config")
                ]
            )
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        published.histogram(
            "plugobs_plugin_start_duration_seconds",
            &[
                ("plugin", "broken_config"),
                ("kind", "greeter"),
                ("instance", "broken_config")
            ]
        ),
        None
    );

    let stats = registry.stats();
    assert_eq!(stats.total_errors, 1);
    let last = stats.plugins[0].last_failure.as_ref().unwrap();
    assert_eq!(
        (last.stage, last.reason, last.message.as_str()),
        (Stage::Load, FailureReason::Error, "missing api key")
    );
}

/// Its constructor panics.
#[plugobs::plugin(kind = "greeter", provides = dyn Greeter, new = Self::explode)]
pub struct PanickyConstructor;
impl PanickyConstructor {
    fn explode() -> Self {
        panic!("constructor exploded")
    }
}
impl Greeter for PanickyConstructor {
    fn greet(&self) -> String {
        unreachable!()
    }
}

#[test]
fn constructor_that_panics() {
    let registry = isolated::<PanickyConstructor>();
    let mut report = None;
    let published = capture(|| {
        report = Some(registry.load_all::<dyn Greeter>());
        registry.flush();
    });
    let report = report.unwrap();
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].error.reason(), FailureReason::Panic);
    assert_eq!(report.failures[0].error.message(), "constructor exploded");
    assert_eq!(
        published.counter(
            "plugobs_plugin_load_failures_total",
            &[
                ("plugin", "panicky_constructor"),
                ("kind", "greeter"),
                ("instance", "panicky_constructor"),
                ("stage", "load"),
                ("reason", "panic")
            ]
        ),
        Some(1)
    );
    assert_eq!(
        published.counter(
            "plugobs_plugin_load_failures_total",
            &[
                ("plugin", "panicky_constructor"),
                ("kind", "greeter"),
                ("instance", "panicky_constructor"),
                ("stage", "load"),
                ("reason", "error")
            ]
        ),
        Some(0)
    );
    assert_eq!(
        registry.get("panicky_constructor").unwrap().state(),
        PluginState::Failed
    );
}

/// Its async start hook fails.
#[plugobs::plugin(kind = "greeter", provides = dyn Greeter, start = Self::connect)]
#[derive(Default)]
pub struct UnreachableUpstream;
impl UnreachableUpstream {
    async fn connect(&mut self) -> Result<(), TestError> {
        tokio::task::yield_now().await;
        Err(TestError("connection refused"))
    }
}
impl Greeter for UnreachableUpstream {
    fn greet(&self) -> String {
        unreachable!()
    }
}

fn assert_start_failed(published: &common::Published, registry: &Registry) {
    assert_eq!(
        published.counter(
            "plugobs_plugin_load_failures_total",
            &[
                ("plugin", "unreachable_upstream"),
                ("kind", "greeter"),
                ("instance", "unreachable_upstream"),
                ("stage", "start"),
                ("reason", "error")
            ]
        ),
        Some(1)
    );
    let t = |from, to| {
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", "unreachable_upstream"),
                ("kind", "greeter"),
                ("instance", "unreachable_upstream"),
                ("from", from),
                ("to", to),
            ],
        )
    };
    assert_eq!(t("registered", "loaded"), Some(1));
    assert_eq!(t("loaded", "failed"), Some(1));
    assert_eq!(t("loaded", "running"), None);
    let pk = [
        ("plugin", "unreachable_upstream"),
        ("kind", "greeter"),
        ("instance", "unreachable_upstream"),
    ];
    assert_eq!(
        published
            .histogram("plugobs_plugin_start_duration_seconds", &pk)
            .map(Vec::len),
        Some(1)
    );
    let stats = registry.stats();
    assert_eq!(stats.plugins[0].state, PluginState::Failed);
    assert_eq!(
        stats.plugins[0].last_failure.as_ref().unwrap().message,
        "connection refused"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn failing_async_start_hook_awaited_on_the_hosts_runtime() {
    let registry = isolated::<UnreachableUpstream>();
    let report = registry.load_all_async::<dyn Greeter>().await;
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].stage, Stage::Start);
    assert_eq!(report.failures[0].error.message(), "connection refused");
    let published = capture(|| registry.flush());
    assert_start_failed(&published, &registry);
}

#[test]
fn failing_async_start_hook_driven_by_the_blocking_loader() {
    let registry = isolated::<UnreachableUpstream>();
    // tokio::task::yield_now only needs a waker, so the built-in executor can drive it.
    let published = capture(|| {
        let report = registry.load_all::<dyn Greeter>();
        assert_eq!(report.failures.len(), 1);
        registry.flush();
    });
    assert_start_failed(&published, &registry);
}

/// Its start hook never finishes.
#[plugobs::plugin(kind = "greeter", provides = dyn Greeter, start = Self::hang)]
#[derive(Default)]
pub struct HangingStart;
impl HangingStart {
    async fn hang(&mut self) {
        std::future::pending::<()>().await;
    }
}
impl Greeter for HangingStart {
    fn greet(&self) -> String {
        unreachable!()
    }
}

#[test]
fn a_start_future_dropped_midway_is_a_cancelled_failure() {
    let registry = isolated::<HangingStart>();
    let published = capture(|| {
        {
            let mut fut = pin!(registry.load_async::<dyn Greeter>("hanging_start"));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
        }
        registry.flush();
    });
    assert_eq!(
        published.counter(
            "plugobs_plugin_load_failures_total",
            &[
                ("plugin", "hanging_start"),
                ("kind", "greeter"),
                ("instance", "hanging_start"),
                ("stage", "start"),
                ("reason", "cancelled")
            ]
        ),
        Some(1)
    );
    let record = registry.get("hanging_start").unwrap();
    assert_eq!(record.state(), PluginState::Failed);
    assert_eq!(record.failures(Stage::Start, FailureReason::Cancelled), 1);
}

#[test]
fn stop_runs_the_hook_and_is_timed() {
    let registry = isolated::<CleanGreeter>();
    let published = capture(|| {
        let loaded = registry.load::<dyn Greeter>("clean_greeter").unwrap();
        loaded.stop().unwrap();
        registry.flush();
    });
    let pk = [
        ("plugin", "clean_greeter"),
        ("kind", "greeter"),
        ("instance", "clean_greeter"),
    ];
    assert_eq!(
        published
            .histogram("plugobs_plugin_stop_duration_seconds", &pk)
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", "clean_greeter"),
                ("kind", "greeter"),
                ("instance", "clean_greeter"),
                ("from", "running"),
                ("to", "stopped")
            ]
        ),
        Some(1)
    );
    assert_eq!(
        published.gauge("plugobs_plugins", &[("state", "stopped")]),
        Some(1.0)
    );
    assert_eq!(
        published.gauge("plugobs_plugins", &[("state", "running")]),
        Some(0.0)
    );
    assert_eq!(
        registry.get("clean_greeter").unwrap().state(),
        PluginState::Stopped
    );
}

/// Its stop hook panics.
#[plugobs::plugin(kind = "greeter", provides = dyn Greeter, stop = Self::crash)]
#[derive(Default)]
pub struct CrashOnStop;
impl CrashOnStop {
    fn crash(&mut self) -> Result<(), TestError> {
        panic!("stop exploded")
    }
}
impl Greeter for CrashOnStop {
    fn greet(&self) -> String {
        "crash".into()
    }
}

#[test]
fn a_panicking_stop_hook_is_a_failure_not_a_crash() {
    let registry = isolated::<CrashOnStop>();
    let published = capture(|| {
        let loaded = registry.load::<dyn Greeter>("crash_on_stop").unwrap();
        let err = loaded.stop().unwrap_err();
        assert_eq!(err.stage, Stage::Stop);
        assert!(err.error.panicked());
        registry.flush();
    });
    assert_eq!(
        published.counter(
            "plugobs_plugin_load_failures_total",
            &[
                ("plugin", "crash_on_stop"),
                ("kind", "greeter"),
                ("instance", "crash_on_stop"),
                ("stage", "stop"),
                ("reason", "panic")
            ]
        ),
        Some(1)
    );
    assert_eq!(
        registry.get("crash_on_stop").unwrap().state(),
        PluginState::Failed
    );
}

#[test]
fn a_recorder_installed_after_the_events_still_receives_them() {
    let registry = isolated::<CleanGreeter>();
    // Load with no recorder at all, and flush into nothing.
    let _loaded = registry.load::<dyn Greeter>("clean_greeter").unwrap();
    registry.flush();
    let published = capture(|| registry.flush());
    assert_eq!(
        published
            .histogram(
                "plugobs_plugin_load_duration_seconds",
                &[
                    ("plugin", "clean_greeter"),
                    ("kind", "greeter"),
                    ("instance", "clean_greeter")
                ]
            )
            .map(Vec::len),
        Some(1)
    );
    // A second flush into the same recorder sends no duplicate samples.
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        registry.flush();
        registry.flush();
    });
    let samples: usize = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(k, ..)| k.key().name() == "plugobs_plugin_load_duration_seconds")
        .map(|(.., v)| match v {
            metrics_util::debugging::DebugValue::Histogram(h) => h.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(samples, 1);
}

/// Dropped without `stop()`.
#[plugobs::plugin(kind = "greeter", provides = dyn Greeter, stop = Self::close)]
#[derive(Default)]
pub struct DroppedGreeter;
impl DroppedGreeter {
    fn close(&mut self) {}
}
impl Greeter for DroppedGreeter {
    fn greet(&self) -> String {
        "bye".into()
    }
}

#[test]
fn dropping_a_loaded_plugin_marks_it_stopped_without_a_stop_duration() {
    let registry = isolated::<DroppedGreeter>();
    let published = capture(|| {
        drop(registry.load::<dyn Greeter>("dropped_greeter").unwrap());
        registry.flush();
    });
    assert_eq!(
        registry.get("dropped_greeter").unwrap().state(),
        PluginState::Stopped
    );
    assert_eq!(
        published.counter(
            "plugobs_plugin_state_transitions_total",
            &[
                ("plugin", "dropped_greeter"),
                ("kind", "greeter"),
                ("instance", "dropped_greeter"),
                ("from", "running"),
                ("to", "stopped")
            ]
        ),
        Some(1)
    );
    assert_eq!(
        published.histogram(
            "plugobs_plugin_stop_duration_seconds",
            &[
                ("plugin", "dropped_greeter"),
                ("kind", "greeter"),
                ("instance", "dropped_greeter")
            ]
        ),
        None
    );
}
