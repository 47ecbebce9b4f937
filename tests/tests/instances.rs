//! A plugin's state is derived from its live instances: it is never reported stopped
//! while one of its instances still runs. And `loaded_at` only ever means a constructed
//! instance.

mod common;

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use common::capture;
use plugobs::{FailureReason, Plugin, PluginState, Registry, Stage};

pub trait Reader: Send + Sync {
    fn read(&self) -> &'static str;
}

pub trait Writer: Send + Sync {
    fn write(&mut self, line: &'static str);
}

#[derive(Debug)]
pub struct TestError(&'static str);
impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

fn isolated<P: Plugin>() -> Registry {
    Registry::from_descriptors([P::DESCRIPTOR]).unwrap()
}

/// One plugin, loaded both as a reader and as a writer.
#[plugobs::plugin(kind = "store", provides = [dyn Reader, dyn Writer], start = Self::open, stop = Self::close)]
#[derive(Default)]
pub struct MemoryStore {
    last: &'static str,
}
impl MemoryStore {
    fn open(&mut self) {}
    fn close(&mut self) {}
}
impl Reader for MemoryStore {
    fn read(&self) -> &'static str {
        self.last
    }
}
impl Writer for MemoryStore {
    fn write(&mut self, line: &'static str) {
        self.last = line;
    }
}

fn transitions(published: &common::Published, from: &str, to: &str) -> Option<u64> {
    published.counter(
        "plugobs_plugin_state_transitions_total",
        &[
            ("plugin", "memory_store"),
            ("kind", "store"),
            ("instance", "memory_store"),
            ("from", from),
            ("to", to),
        ],
    )
}

fn plugins_in(published: &common::Published, state: &str) -> Option<f64> {
    published.gauge("plugobs_plugins", &[("state", state)])
}

#[test]
fn stopping_one_of_two_instances_leaves_the_plugin_running() {
    let registry = isolated::<MemoryStore>();
    let record = registry.get("memory_store").unwrap();

    let reader = registry.load::<dyn Reader>("memory_store").unwrap();
    let mut writer = registry.load::<dyn Writer>("memory_store").unwrap();
    // `&mut` access: `get_mut` (no health hook, so the instance is never shared).
    writer.get_mut().unwrap().write("still serving");
    assert_eq!(record.running_instances(), 2);
    assert_eq!(record.state(), PluginState::Running);

    let published = capture(|| {
        reader.stop().unwrap();
        registry.flush();
    });
    assert_eq!(record.running_instances(), 1);
    assert_eq!(record.live_instances(), 1);
    assert_eq!(record.state(), PluginState::Running);
    assert_eq!(registry.stats().plugins[0].state, PluginState::Running);
    assert_eq!(
        registry.stats().by_state[&PluginState::Running],
        1,
        "stats count the plugin as running"
    );
    assert_eq!(plugins_in(&published, "running"), Some(1.0));
    assert_eq!(plugins_in(&published, "stopped"), Some(0.0));
    // Both instances went registered/loaded → running once, as one plugin.
    assert_eq!(transitions(&published, "registered", "loaded"), Some(1));
    assert_eq!(transitions(&published, "loaded", "running"), Some(1));
    assert_eq!(transitions(&published, "running", "stopped"), None);
    // The stop was still timed.
    assert_eq!(
        published
            .histogram(
                "plugobs_plugin_stop_duration_seconds",
                &[
                    ("plugin", "memory_store"),
                    ("kind", "store"),
                    ("instance", "memory_store")
                ]
            )
            .map(Vec::len),
        Some(1)
    );

    let published = capture(|| {
        writer.stop().unwrap();
        registry.flush();
    });
    assert_eq!(record.running_instances(), 0);
    assert_eq!(record.live_instances(), 0);
    assert_eq!(record.state(), PluginState::Stopped);
    assert_eq!(registry.stats().plugins[0].state, PluginState::Stopped);
    assert_eq!(plugins_in(&published, "running"), Some(0.0));
    assert_eq!(plugins_in(&published, "stopped"), Some(1.0));
    assert_eq!(transitions(&published, "running", "stopped"), Some(1));
    // Each flush publishes the samples recorded since the previous one: this stop's.
    assert_eq!(
        published
            .histogram(
                "plugobs_plugin_stop_duration_seconds",
                &[
                    ("plugin", "memory_store"),
                    ("kind", "store"),
                    ("instance", "memory_store")
                ]
            )
            .map(Vec::len),
        Some(1)
    );
}

#[test]
fn dropping_one_of_two_instances_leaves_the_plugin_running() {
    let registry = isolated::<MemoryStore>();
    let record = registry.get("memory_store").unwrap();
    let reader = registry.load::<dyn Reader>("memory_store").unwrap();
    let writer = registry.load::<dyn Writer>("memory_store").unwrap();
    drop(writer);
    assert_eq!(record.state(), PluginState::Running);
    assert_eq!(record.running_instances(), 1);
    assert_eq!(reader.read(), "");
    drop(reader);
    assert_eq!(record.state(), PluginState::Stopped);
    assert_eq!(
        record.transitions(PluginState::Running, PluginState::Stopped),
        1
    );
}

#[test]
fn a_restarted_plugin_runs_again() {
    let registry = isolated::<MemoryStore>();
    let record = registry.get("memory_store").unwrap();
    registry
        .load::<dyn Reader>("memory_store")
        .unwrap()
        .stop()
        .unwrap();
    assert_eq!(record.state(), PluginState::Stopped);
    let again = registry.load::<dyn Writer>("memory_store").unwrap();
    assert_eq!(record.state(), PluginState::Running);
    assert_eq!(
        record.transitions(PluginState::Stopped, PluginState::Loaded),
        1
    );
    assert_eq!(
        record.transitions(PluginState::Loaded, PluginState::Running),
        2
    );
    again.stop().unwrap();
    assert_eq!(record.state(), PluginState::Stopped);
    assert_eq!(
        record.transitions(PluginState::Running, PluginState::Stopped),
        2
    );
}

static REFUSE_START: AtomicBool = AtomicBool::new(false);

/// Its start hook fails on demand.
#[plugobs::plugin(kind = "store", provides = dyn Reader, start = Self::open)]
#[derive(Default)]
pub struct FlakyStore;
impl FlakyStore {
    fn open(&mut self) -> Result<(), TestError> {
        if REFUSE_START.load(Ordering::Relaxed) {
            Err(TestError("disk full"))
        } else {
            Ok(())
        }
    }
}
impl Reader for FlakyStore {
    fn read(&self) -> &'static str {
        "flaky"
    }
}

#[test]
fn a_failed_second_instance_does_not_mark_a_running_plugin_failed() {
    let registry = isolated::<FlakyStore>();
    let record = registry.get("flaky_store").unwrap();
    let first = registry.load::<dyn Reader>("flaky_store").unwrap();
    REFUSE_START.store(true, Ordering::Relaxed);
    let err = registry.load::<dyn Reader>("flaky_store").unwrap_err();
    REFUSE_START.store(false, Ordering::Relaxed);
    assert_eq!(
        err.to_string(),
        "plugin `flaky_store` failed to start: disk full"
    );
    // The failure is counted and shown, but the plugin still serves.
    assert_eq!(record.failures(Stage::Start, FailureReason::Error), 1);
    assert_eq!(record.state(), PluginState::Running);
    assert_eq!(record.running_instances(), 1);
    let stats = registry.stats();
    assert_eq!(stats.plugins[0].state, PluginState::Running);
    assert_eq!(stats.plugins[0].failures, 1);
    assert_eq!(
        stats.plugins[0].last_failure.as_ref().unwrap().message,
        "disk full"
    );
    assert_eq!(
        record.transitions(PluginState::Running, PluginState::Failed),
        0
    );
    first.stop().unwrap();
    // The last instance to end stopped cleanly.
    assert_eq!(record.state(), PluginState::Stopped);
}

/// Its constructor fails.
#[plugobs::plugin(kind = "store", provides = dyn Reader, new = Self::try_new)]
pub struct UnconfiguredStore;
impl UnconfiguredStore {
    fn try_new() -> Result<Self, TestError> {
        Err(TestError("no path configured"))
    }
}
impl Reader for UnconfiguredStore {
    fn read(&self) -> &'static str {
        unreachable!()
    }
}

#[test]
fn loaded_at_is_unset_when_the_constructor_failed() {
    let registry = isolated::<UnconfiguredStore>();
    let report = registry.load_all::<dyn Reader>();
    assert_eq!(report.failures.len(), 1);
    let stats = registry.stats();
    let p = &stats.plugins[0];
    assert_eq!(p.state, PluginState::Failed);
    assert_eq!(p.loaded_at, None);
    // The failed construction was still timed.
    assert!(p.load_duration.is_some());
    assert!(!stats.to_string().contains("ago"), "{stats}");
    // A second failure counts failed → failed and still sets no load time.
    assert!(registry.load::<dyn Reader>("unconfigured_store").is_err());
    let record = registry.get("unconfigured_store").unwrap();
    assert_eq!(
        record.transitions(PluginState::Registered, PluginState::Failed),
        1
    );
    assert_eq!(
        record.transitions(PluginState::Failed, PluginState::Failed),
        1
    );
    assert_eq!(registry.stats().plugins[0].loaded_at, None);
}

#[test]
fn loaded_at_is_set_when_the_constructor_succeeded() {
    let registry = isolated::<MemoryStore>();
    assert_eq!(registry.stats().plugins[0].loaded_at, None);
    let before = std::time::SystemTime::now();
    let reader = registry.load::<dyn Reader>("memory_store").unwrap();
    let loaded_at = registry.stats().plugins[0].loaded_at.unwrap();
    assert!(loaded_at >= before);
    assert!(loaded_at <= std::time::SystemTime::now());
    reader.stop().unwrap();
}
