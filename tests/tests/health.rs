//! Health: hooks, rounds, thresholds, the operation policy, the monitor, its subscribers,
//! metrics, stats and readiness. Deterministic: rounds are manual ticks and the policy's
//! window runs on a `ManualClock`; the only real waits are check timeouts (a hung hook
//! must be waited for) and they are bounded.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use plugobs::health::ManualClock;
use plugobs::{
    CheckOptions, CheckReason, Health, HealthMonitor, HealthPolicy, HealthStatus, Plugin,
    PluginState, Registry,
};
use tracing_subscriber::layer::SubscriberExt;

pub trait Service: Send + Sync {
    fn call(&self, fail: bool) -> Result<(), ServiceError>;
}

#[derive(Debug, plugobs::ErrorKind)]
pub enum ServiceError {
    Refused,
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

fn leak(registry: Registry) -> &'static Registry {
    Box::leak(Box::new(registry))
}

/// Waits until `done` holds, at most 10 s.
fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A count of entries into a hook that a test can wait on, woken by each entry (no
/// polling); a wait gives up after 10 s so a regression fails instead of hanging.
struct Entries(Mutex<usize>, Condvar);

impl Entries {
    const fn new() -> Entries {
        Entries(Mutex::new(0), Condvar::new())
    }
    fn enter(&self) {
        *self.0.lock().unwrap() += 1;
        self.1.notify_all();
    }
    fn count(&self) -> usize {
        *self.0.lock().unwrap()
    }
    fn wait_for(&self, what: &str, n: usize) {
        let (count, timeout) = self
            .1
            .wait_timeout_while(self.0.lock().unwrap(), Duration::from_secs(10), |c| *c < n)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "timed out waiting for {what}: {}",
            *count
        );
        assert_eq!(*count, n, "{what}");
    }
}

/// A gate a hung hook waits on; opened at the end of its test so the thread ends.
struct Gate(Mutex<bool>, Condvar);

impl Gate {
    const fn new() -> Gate {
        Gate(Mutex::new(false), Condvar::new())
    }
    fn wait(&self) {
        let mut open = self.0.lock().unwrap();
        while !*open {
            open = self.1.wait(open).unwrap();
        }
    }
    fn open(&self) {
        *self.0.lock().unwrap() = true;
        self.1.notify_all();
    }
}

// ---------------------------------------------------------------------------------------
// Thresholds, lifecycle transitions, subscribers, exact metrics

static FLAKY: AtomicU8 = AtomicU8::new(0); // 0 healthy, 1 unhealthy, 2 degraded

#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Flaky;

impl Flaky {
    fn check(&self) -> Health {
        match FLAKY.load(Ordering::SeqCst) {
            0 => Health::healthy(),
            1 => Health::unhealthy("connection refused").with_detail("endpoint", "db:5432"),
            _ => Health::degraded("serving from cache").with_detail("pool", "4/10"),
        }
    }
}

impl Service for Flaky {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn thresholds_flip_after_n_failures_and_recover_after_m_successes() {
    let registry = leak(Registry::from_descriptors([Flaky::DESCRIPTOR]).unwrap());
    let mut flaky = registry.load::<dyn Service>("flaky").unwrap();
    assert!(
        flaky.get_mut().is_none() && flaky.downcast_mut::<Flaky>().is_none(),
        "shared with the health checker"
    );
    assert!(flaky.downcast_ref::<Flaky>().is_some());
    let record = registry.get("flaky").unwrap();
    let monitor = HealthMonitor::builder()
        .timeout(Duration::from_secs(5))
        .failure_threshold(3)
        .recovery_threshold(2)
        .manual(registry);
    let changes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&changes);
    monitor.on_change(move |c| {
        seen.lock()
            .unwrap()
            .push((c.plugin, c.from, c.to, c.health.message.clone()))
    });
    let status = || record.health().status;

    assert_eq!(status(), HealthStatus::Unknown);
    monitor.tick();
    assert_eq!(status(), HealthStatus::Healthy);
    assert_eq!(record.state(), PluginState::Running);

    FLAKY.store(1, Ordering::SeqCst);
    for round in 1..=2 {
        let report = monitor.tick();
        let check = report.get("flaky").unwrap();
        assert_eq!(
            check.result.status,
            HealthStatus::Unhealthy,
            "round {round}"
        );
        assert_eq!(check.failure, Some(CheckReason::Unhealthy));
        assert_eq!(
            status(),
            HealthStatus::Healthy,
            "N-1 failures keep the status"
        );
    }
    monitor.tick();
    assert_eq!(status(), HealthStatus::Unhealthy, "N failures flip it");
    assert_eq!(record.state(), PluginState::Unhealthy);
    assert_eq!(record.health().message, "connection refused");
    assert_eq!(record.health().detail("endpoint"), Some("db:5432"));

    FLAKY.store(0, Ordering::SeqCst);
    monitor.tick();
    assert_eq!(
        status(),
        HealthStatus::Unhealthy,
        "M-1 successes keep it unhealthy"
    );
    monitor.tick();
    assert_eq!(status(), HealthStatus::Healthy, "M successes recover it");
    assert_eq!(record.state(), PluginState::Running);

    FLAKY.store(2, Ordering::SeqCst);
    monitor.tick();
    assert_eq!(
        status(),
        HealthStatus::Degraded,
        "degraded is reported at once"
    );
    assert_eq!(record.state(), PluginState::Degraded);

    assert_eq!(
        record.transitions(PluginState::Running, PluginState::Unhealthy),
        1
    );
    assert_eq!(
        record.transitions(PluginState::Unhealthy, PluginState::Running),
        1
    );
    assert_eq!(
        record.transitions(PluginState::Running, PluginState::Degraded),
        1
    );
    assert_eq!(record.health_check_failures(CheckReason::Unhealthy), 3);
    assert_eq!(record.health_check_failures(CheckReason::Timeout), 0);
    assert_eq!(
        *changes.lock().unwrap(),
        vec![
            (
                "flaky",
                HealthStatus::Unknown,
                HealthStatus::Healthy,
                String::new()
            ),
            (
                "flaky",
                HealthStatus::Healthy,
                HealthStatus::Unhealthy,
                "connection refused".to_owned()
            ),
            (
                "flaky",
                HealthStatus::Unhealthy,
                HealthStatus::Healthy,
                String::new()
            ),
            (
                "flaky",
                HealthStatus::Healthy,
                HealthStatus::Degraded,
                "serving from cache".to_owned()
            ),
        ]
    );

    // Exact metric values through a local DebuggingRecorder.
    let published = common::capture(|| registry.flush());
    let pk = [
        ("plugin", "flaky"),
        ("kind", "service"),
        ("instance", "flaky"),
    ];
    for (s, want) in [
        ("healthy", 0.0),
        ("degraded", 1.0),
        ("unhealthy", 0.0),
        ("unknown", 0.0),
    ] {
        assert_eq!(
            published.gauge(
                "plugobs_plugin_health",
                &[pk[0], pk[1], pk[2], ("status", s)]
            ),
            Some(want),
            "{s}"
        );
    }
    assert_eq!(published.gauge("plugobs_plugin_up", &pk), Some(1.0));
    for (reason, want) in [("unhealthy", 3), ("timeout", 0), ("panic", 0)] {
        assert_eq!(
            published.counter(
                "plugobs_plugin_health_check_failures_total",
                &[pk[0], pk[1], pk[2], ("reason", reason)]
            ),
            Some(want),
            "{reason}"
        );
    }
    assert_eq!(
        published
            .histogram("plugobs_plugin_health_check_duration_seconds", &pk)
            .map(Vec::len),
        Some(7)
    );
    let last = published
        .gauge("plugobs_plugin_health_last_check_timestamp_seconds", &pk)
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(last <= now && last > now - 60.0, "{last} vs {now}");
    for (from, to, want) in [
        ("running", "unhealthy", 1),
        ("unhealthy", "running", 1),
        ("running", "degraded", 1),
    ] {
        assert_eq!(
            published.counter(
                "plugobs_plugin_state_transitions_total",
                &[pk[0], pk[1], pk[2], ("from", from), ("to", to)]
            ),
            Some(want),
            "{from} -> {to}"
        );
    }
    assert_eq!(
        published.gauge("plugobs_plugins", &[("state", "degraded")]),
        Some(1.0)
    );

    // Stats and readiness.
    let stats = registry.stats();
    let p = &stats.plugins[0];
    assert_eq!(p.health.status, HealthStatus::Degraded);
    assert_eq!(p.health.message, "serving from cache");
    assert_eq!(
        p.health.details,
        vec![("pool".to_owned(), "4/10".to_owned())]
    );
    assert!(p.health.checked_at.is_some() && p.health.check_duration.is_some());
    let json = serde_json::to_value(&stats).unwrap();
    assert_eq!(json["plugins"][0]["health"]["status"], "degraded");
    assert_eq!(json["plugins"][0]["health"]["details"]["pool"], "4/10");
    assert_eq!(
        serde_json::to_value(record.health()).unwrap(),
        serde_json::json!({
            "status": "degraded",
            "message": "serving from cache",
            "details": { "pool": "4/10" }
        })
    );
    assert_eq!((stats.health.degraded, stats.health.unknown), (1, 0));
    assert!(registry.readiness().ready, "degraded is ready");

    // Stopped: unknown again, not up, no longer in readiness.
    flaky.stop().unwrap();
    assert_eq!(status(), HealthStatus::Unknown);
    assert_eq!(record.state(), PluginState::Stopped);
    assert_eq!(
        record.transitions(PluginState::Degraded, PluginState::Stopped),
        1
    );
    let published = common::capture(|| registry.flush());
    assert_eq!(published.gauge("plugobs_plugin_up", &pk), Some(0.0));
}

// ---------------------------------------------------------------------------------------
// The operation policy

#[plugobs::plugin(kind = "service", provides = dyn Service)]
#[derive(Default)]
pub struct Busy;

#[plugobs::instrumented]
impl Service for Busy {
    fn call(&self, fail: bool) -> Result<(), ServiceError> {
        if fail {
            Err(ServiceError::Refused)
        } else {
            Ok(())
        }
    }
}

#[test]
fn the_policy_needs_a_minimum_fires_above_its_threshold_and_clears_when_the_window_moves_on() {
    let registry = leak(Registry::from_descriptors([Busy::DESCRIPTOR]).unwrap());
    let busy = registry.load::<dyn Service>("busy").unwrap();
    let record = registry.get("busy").unwrap();
    let clock = Arc::new(ManualClock::new());
    let monitor = HealthMonitor::builder()
        .failure_threshold(1)
        .recovery_threshold(1)
        .clock(clock.clone())
        .manual(registry);
    let calls = |ok: usize, failed: usize| {
        for _ in 0..ok {
            busy.call(false).unwrap();
        }
        for _ in 0..failed {
            busy.call(true).unwrap_err();
        }
    };

    // No hook: a plugin that was never called is healthy by the policy, not unknown.
    monitor.tick();
    assert_eq!(record.health(), Health::healthy());

    calls(0, 19);
    monitor.tick();
    assert_eq!(
        record.health(),
        Health::healthy(),
        "19 calls < min_calls 20"
    );

    calls(11, 0);
    monitor.tick();
    let health = record.health();
    assert_eq!(health.status, HealthStatus::Unhealthy);
    assert_eq!(health.message, "error ratio 0.63 > 0.5 over 60s (30 calls)");
    assert_eq!(health.detail("error_ratio"), Some("0.63"));
    assert_eq!(record.state(), PluginState::Unhealthy);
    assert!(!registry.readiness().ready);

    clock.advance(Duration::from_secs(61));
    monitor.tick();
    assert_eq!(
        record.health(),
        Health::healthy(),
        "no call in the last 60s"
    );
    assert_eq!(record.state(), PluginState::Running);

    calls(14, 6);
    clock.advance(Duration::from_secs(1));
    monitor.tick();
    let health = record.health();
    assert_eq!(health.status, HealthStatus::Degraded);
    assert_eq!(
        health.message,
        "error ratio 0.30 > 0.25 over 60s (20 calls)"
    );

    // A policy of its own for this plugin: the same window passes a looser threshold.
    registry
        .set_plugin_health_policy("busy", HealthPolicy::default().error_ratio(Some(0.5), None))
        .unwrap();
    monitor.tick();
    assert_eq!(record.health().status, HealthStatus::Healthy);
    registry
        .set_plugin_health_policy("busy", HealthPolicy::disabled())
        .unwrap();
    calls(0, 100);
    monitor.tick();
    assert_eq!(record.health().status, HealthStatus::Healthy, "disabled");
    assert_eq!(record.health_check_failures(CheckReason::Unhealthy), 1);
}

#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Slow;

impl Slow {
    async fn check(&self) -> Health {
        Health::degraded("replica lag").with_detail("lag", "3s")
    }
}

#[plugobs::instrumented]
impl Service for Slow {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        std::thread::sleep(Duration::from_millis(3));
        Ok(())
    }
}

#[test]
fn p99_over_its_threshold_makes_the_plugin_worse_than_its_async_hook_says() {
    let registry = leak(Registry::from_descriptors([Slow::DESCRIPTOR]).unwrap());
    registry.set_health_policy(HealthPolicy::default().p99(None, Some(Duration::from_millis(2))));
    let slow = registry.load::<dyn Service>("slow").unwrap();
    for _ in 0..20 {
        slow.call(false).unwrap();
    }
    let report = registry.check_health();
    let check = report.get("slow").unwrap();
    assert_eq!(
        check.result.status,
        HealthStatus::Unhealthy,
        "{:?}",
        check.result
    );
    assert!(
        check.result.message.starts_with("p99 ")
            && check.result.message.ends_with(" > 2ms over 60s (20 calls)"),
        "{}",
        check.result.message
    );
    assert!(check.duration.is_some());

    // Within the threshold: the hook's degraded status and details, as the hook said.
    registry.set_health_policy(HealthPolicy::default());
    let report = registry.check_health();
    let check = report.get("slow").unwrap();
    assert_eq!(
        check.result,
        Health::degraded("replica lag").with_detail("lag", "3s")
    );
}

// ---------------------------------------------------------------------------------------
// A hook that panics

#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Exploding;

impl Exploding {
    fn check(&self) -> Health {
        panic!("disk on fire")
    }
}

impl Service for Exploding {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn a_panicking_hook_is_unhealthy_with_the_panic_message() {
    let registry = leak(Registry::from_descriptors([Exploding::DESCRIPTOR]).unwrap());
    let _exploding = registry.load::<dyn Service>("exploding").unwrap();
    let report = registry.check_health();
    let check = report.get("exploding").unwrap();
    assert_eq!(
        check.result,
        Health::unhealthy("health check panicked: disk on fire")
    );
    assert_eq!(check.failure, Some(CheckReason::Panic));
    assert_eq!(
        (check.previous, check.status),
        (HealthStatus::Unknown, HealthStatus::Unhealthy)
    );
    let record = registry.get("exploding").unwrap();
    assert_eq!(record.health_check_failures(CheckReason::Panic), 1);
    assert_eq!(record.health_check_failures(CheckReason::Unhealthy), 0);
    let readiness = registry.readiness();
    assert!(!readiness.ready);
    assert_eq!(readiness.not_ready.len(), 1);
    assert_eq!(
        readiness.not_ready[0].message,
        "health check panicked: disk on fire"
    );
    let json = serde_json::to_value(&readiness).unwrap();
    assert_eq!(json["not_ready"][0]["status"], "unhealthy");
}

// ---------------------------------------------------------------------------------------
// A hook that hangs forever

static HUNG_GATE: Gate = Gate::new();
static HUNG_ENTERED: AtomicUsize = AtomicUsize::new(0);
static STEADY_CHECKS: AtomicUsize = AtomicUsize::new(0);

#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Hung;

impl Hung {
    fn check(&self) -> Health {
        HUNG_ENTERED.fetch_add(1, Ordering::SeqCst);
        HUNG_GATE.wait();
        Health::healthy()
    }
}

impl Service for Hung {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Steady;

impl Steady {
    fn check(&self) -> Health {
        STEADY_CHECKS.fetch_add(1, Ordering::SeqCst);
        Health::healthy()
    }
}

impl Service for Steady {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn a_hung_hook_blocks_nothing_and_is_never_checked_twice() {
    let registry =
        leak(Registry::from_descriptors([Hung::DESCRIPTOR, Steady::DESCRIPTOR]).unwrap());
    let report = registry.load_all::<dyn Service>();
    assert!(report.is_complete());
    let hung = registry.get("hung").unwrap();
    let options = CheckOptions {
        timeout: Duration::from_millis(50),
        ..CheckOptions::default()
    };

    // Manual rounds: each returns after the timeout, the others are checked every time,
    // and the hung hook is entered once.
    for round in 1..=3u64 {
        let began = Instant::now();
        let report = registry.check_health_with(&options);
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "the caller is not blocked"
        );
        let check = report.get("hung").unwrap();
        assert_eq!(check.result.status, HealthStatus::Unhealthy);
        assert_eq!(check.failure, Some(CheckReason::Timeout));
        if round == 1 {
            assert_eq!(check.result.message, "timed out after 50ms");
        } else {
            assert!(
                check
                    .result
                    .message
                    .starts_with("timed out after 50ms; still running after "),
                "{}",
                check.result.message
            );
        }
        assert_eq!(report.get("steady").unwrap().result, Health::healthy());
        assert_eq!(STEADY_CHECKS.load(Ordering::SeqCst), round as usize);
        assert_eq!(
            HUNG_ENTERED.load(Ordering::SeqCst),
            1,
            "no second check starts"
        );
        assert_eq!(hung.health_check_failures(CheckReason::Timeout), round);
    }
    let threads = plugobs::health::check_threads();
    assert!(threads.held_by_timed_out_checks >= 1, "{threads:?}");

    // The monitor thread keeps its schedule: a round every interval, the hung hook still
    // entered once.
    let monitor = HealthMonitor::builder()
        .interval(Duration::from_millis(100))
        .timeout(Duration::from_millis(50))
        .failure_threshold(1)
        .start(registry)
        .unwrap();
    let began = Instant::now();
    eventually("5 monitor rounds", || monitor.rounds() >= 5);
    let elapsed = began.elapsed();
    assert!(STEADY_CHECKS.load(Ordering::SeqCst) >= 3 + 5);
    assert_eq!(HUNG_ENTERED.load(Ordering::SeqCst), 1);
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?} for 5 rounds");
    assert!(monitor.stop());
    assert_eq!(hung.health().status, HealthStatus::Unhealthy);
    let readiness = registry.readiness();
    assert_eq!(readiness.not_ready.len(), 1);
    assert_eq!(readiness.not_ready[0].plugin, "hung");

    // Once the hook returns, the plugin is checked again, and recovers.
    HUNG_GATE.open();
    eventually("the hung check to return", || {
        let report = registry.check_health_with(&options);
        report.get("hung").unwrap().result == Health::healthy()
    });
    assert_eq!(HUNG_ENTERED.load(Ordering::SeqCst), 2);
    for loaded in report.loaded {
        loaded.stop().unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Subscribers and stopping

static WOBBLY: AtomicU8 = AtomicU8::new(0);

#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Wobbly;

impl Wobbly {
    fn check(&self) -> Health {
        if WOBBLY.load(Ordering::SeqCst) == 0 {
            Health::healthy()
        } else {
            Health::unhealthy("wobbling")
        }
    }
}

impl Service for Wobbly {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn a_panicking_subscriber_is_contained_and_the_others_still_receive_the_change() {
    let registry = leak(Registry::from_descriptors([Wobbly::DESCRIPTOR]).unwrap());
    let _wobbly = registry.load::<dyn Service>("wobbly").unwrap();
    let monitor = HealthMonitor::builder()
        .failure_threshold(1)
        .manual(registry);
    let received = Arc::new(AtomicUsize::new(0));
    monitor.on_change(|_| panic!("alerting is down"));
    let r = Arc::clone(&received);
    monitor.on_change(move |c| {
        assert_eq!(c.plugin, "wobbly");
        r.fetch_add(1, Ordering::SeqCst);
    });
    monitor.tick(); // unknown -> healthy
    WOBBLY.store(1, Ordering::SeqCst);
    monitor.tick(); // healthy -> unhealthy
    monitor.tick(); // no change
    assert_eq!(received.load(Ordering::SeqCst), 2);
    assert_eq!(monitor.rounds(), 3);
}

static STUCK_GATE: Gate = Gate::new();
static STUCK_ENTERED: Entries = Entries::new();

#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Stuck;

impl Stuck {
    fn check(&self) -> Health {
        STUCK_ENTERED.enter();
        STUCK_GATE.wait();
        Health::healthy()
    }
}

impl Service for Stuck {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn a_monitor_dropped_mid_round_stops_within_one_interval() {
    let registry = leak(Registry::from_descriptors([Stuck::DESCRIPTOR]).unwrap());
    let stuck = registry.load::<dyn Service>("stuck").unwrap();
    // The hook stays stuck until the end of the test, so nothing but the stop can end the
    // round early: were the round to wait for the hook's timeout (the interval) instead,
    // `stop` would take about the whole interval. The interval is long next to the 20 ms
    // in which a round sees its stop flag.
    let interval = Duration::from_secs(3);
    let monitor = HealthMonitor::builder()
        .interval(interval)
        .timeout(Duration::from_secs(60)) // clamped to four fifths of the interval
        .start(registry)
        .unwrap();
    // The first round starts right away; its check enters the hook and hangs there.
    STUCK_ENTERED.wait_for("the first check to hang", 1);
    // The round now waits for the stuck hook; stop it mid-round.
    let began = Instant::now();
    assert!(
        monitor.stop(),
        "the monitor thread exited within one interval"
    );
    let took = began.elapsed();
    assert!(took <= interval, "{took:?}");
    // Wall time is the point here: the stop is prompt, not a wait for the hook's timeout.
    // Half the interval: generous for a loaded machine, and still short of the timeout.
    assert!(took < interval / 2, "{took:?}");
    // One round, one call of the hook: the stop ended the monitor before a second.
    assert_eq!(STUCK_ENTERED.count(), 1);

    // The stopped round did not happen: nothing applied, nothing counted.
    let record = registry.get("stuck").unwrap();
    assert_eq!(record.health_check_failures(CheckReason::Timeout), 0);
    assert_eq!(record.health().status, HealthStatus::Unknown);
    let readiness = registry.readiness();
    assert_eq!(readiness.not_ready[0].message, "not checked yet");

    // No stop hook: the instance stops at once, hung check or not; the check keeps the
    // instance until it returns.
    stuck.stop().unwrap();
    assert_eq!(record.state(), PluginState::Stopped);
    STUCK_GATE.open();
}

static SLOW_GATE: Gate = Gate::new();
static SLOW_ENTERED: AtomicUsize = AtomicUsize::new(0);

#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Deliberate;

impl Deliberate {
    fn check(&self) -> Health {
        SLOW_ENTERED.fetch_add(1, Ordering::SeqCst);
        SLOW_GATE.wait();
        Health::degraded("took its time")
    }
}

impl Service for Deliberate {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn a_round_leaves_a_check_running_within_its_timeout_to_the_round_that_started_it() {
    let registry = leak(Registry::from_descriptors([Deliberate::DESCRIPTOR]).unwrap());
    let _deliberate = registry.load::<dyn Service>("deliberate").unwrap();
    let record = registry.get("deliberate").unwrap();
    let options = CheckOptions {
        timeout: Duration::from_secs(30),
        ..CheckOptions::default()
    };
    let first_options = options.clone();
    let first = std::thread::spawn(move || registry.check_health_with(&first_options));
    eventually("the first round's check to start", || {
        SLOW_ENTERED.load(Ordering::SeqCst) == 1
    });
    // A second round meanwhile: no second call, no failure, the status as it stands.
    let second = registry.check_health_with(&options);
    let check = second.get("deliberate").unwrap();
    assert_eq!((check.status, check.failure), (HealthStatus::Unknown, None));
    assert_eq!(record.health_check_failures(CheckReason::Timeout), 0);
    SLOW_GATE.open();
    let first = first.join().unwrap();
    assert_eq!(
        first.get("deliberate").unwrap().result,
        Health::degraded("took its time")
    );
    assert_eq!(SLOW_ENTERED.load(Ordering::SeqCst), 1);
    assert_eq!(record.health().status, HealthStatus::Degraded);
}

static CLOSING_GATE: Gate = Gate::new();
static CLOSING_ENTERED: Entries = Entries::new();
/// Whether the check of `Closing` returned, read by its stop hook.
static CLOSING_CHECK_RETURNED: AtomicBool = AtomicBool::new(false);
static CLOSED_AFTER_THE_CHECK: AtomicBool = AtomicBool::new(false);
static CLOSED: AtomicUsize = AtomicUsize::new(0);

#[plugobs::plugin(kind = "service", provides = dyn Service, stop = Self::close, health = Self::check)]
#[derive(Default)]
pub struct Closing;

impl Closing {
    fn check(&self) -> Health {
        CLOSING_ENTERED.enter();
        CLOSING_GATE.wait();
        CLOSING_CHECK_RETURNED.store(true, Ordering::SeqCst);
        Health::healthy()
    }
    fn close(&mut self) {
        CLOSED_AFTER_THE_CHECK.store(
            CLOSING_CHECK_RETURNED.load(Ordering::SeqCst),
            Ordering::SeqCst,
        );
        CLOSED.fetch_add(1, Ordering::SeqCst);
    }
}

impl Service for Closing {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn stop_waits_for_a_check_in_flight_then_runs_its_hook() {
    let registry = leak(Registry::from_descriptors([Closing::DESCRIPTOR]).unwrap());
    let closing = registry.load::<dyn Service>("closing").unwrap();
    let round = std::thread::spawn(move || registry.check_health());
    // The check is in flight, held at the gate, before the stop is called.
    CLOSING_ENTERED.wait_for("the check to start", 1);
    // The gate opens only once the stop has begun (its `plugin.stop` span exists), so the
    // stop finds the check holding the instance and has to wait for it.
    let (stop_begun, begun) = mpsc::channel();
    let opener = std::thread::spawn(move || {
        begun
            .recv_timeout(Duration::from_secs(10))
            .expect("the stop to begin");
        assert!(!CLOSING_CHECK_RETURNED.load(Ordering::SeqCst));
        CLOSING_GATE.open();
    });
    let subscriber = tracing_subscriber::registry().with(OnSpan {
        name: "plugin.stop",
        seen: Mutex::new(Some(stop_begun)),
    });
    // The stop hook takes `&mut self`: it runs once the check has let go of the instance.
    tracing::subscriber::with_default(subscriber, || closing.stop()).unwrap();
    assert_eq!(CLOSED.load(Ordering::SeqCst), 1);
    assert!(CLOSED_AFTER_THE_CHECK.load(Ordering::SeqCst));
    opener.join().unwrap();
    // The round reports the check's result unless the stop ended first: a result for a
    // stopped instance is dropped.
    let report = round.join().unwrap();
    if let Some(check) = report.get("closing") {
        assert_eq!(check.result, Health::healthy());
    }
    // Stopped: no longer checked.
    assert!(registry.check_health().checks.is_empty());
    assert_eq!(CLOSING_ENTERED.count(), 1);
}

/// Sends once on `seen` when a span named `name` is created on the thread it is the
/// default subscriber of.
struct OnSpan {
    name: &'static str,
    seen: Mutex<Option<mpsc::Sender<()>>>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for OnSpan {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        _: &tracing::span::Id,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if attrs.metadata().name() == self.name
            && let Some(seen) = self.seen.lock().unwrap().take()
        {
            let _ = seen.send(());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Concurrent rounds, reasons before the threshold

static PACED_CHECKS: AtomicUsize = AtomicUsize::new(0);
static PACED_ENTERED: Entries = Entries::new();
static PACED_GATE: Gate = Gate::new();

/// Healthy; its second check waits at a gate, so another round finds it in flight.
#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Paced;

impl Paced {
    fn check(&self) -> Health {
        if PACED_CHECKS.fetch_add(1, Ordering::SeqCst) == 1 {
            PACED_ENTERED.enter();
            PACED_GATE.wait();
        }
        Health::healthy()
    }
}

impl Service for Paced {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn a_round_that_finds_a_check_in_flight_reports_the_status_as_it_stands() {
    let registry = leak(Registry::from_descriptors([Paced::DESCRIPTOR]).unwrap());
    let _paced = registry.load::<dyn Service>("paced").unwrap();
    let changes = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&changes);
    // Subscribed before the first round: no change can be missed.
    let monitor = HealthMonitor::builder()
        .timeout(Duration::from_secs(30))
        .on_change(move |c| seen.lock().unwrap().push((c.from, c.to)))
        .manual(registry);
    monitor.tick();
    assert_eq!(
        registry.get("paced").unwrap().health().status,
        HealthStatus::Healthy
    );
    // The monitor's second round: its check waits at the gate.
    let round = std::thread::scope(|s| {
        let second = s.spawn(|| monitor.tick());
        PACED_ENTERED.wait_for("the monitor's check to start", 1);
        // A probe's round meanwhile: the plugin stays healthy, nothing moves.
        for _ in 0..3 {
            let probe = registry.check_health();
            let check = probe.get("paced").unwrap();
            assert_eq!(
                (check.previous, check.status, check.failure),
                (HealthStatus::Healthy, HealthStatus::Healthy, None)
            );
            assert_eq!(check.result, Health::healthy());
            assert!(registry.readiness().ready);
        }
        PACED_GATE.open();
        second.join().unwrap()
    });
    assert_eq!(round.get("paced").unwrap().status, HealthStatus::Healthy);
    // One change in all: the first result. The probes flipped nothing.
    assert_eq!(
        *changes.lock().unwrap(),
        [(HealthStatus::Unknown, HealthStatus::Healthy)]
    );
    assert_eq!(PACED_CHECKS.load(Ordering::SeqCst), 2);
    assert_eq!(monitor.rounds(), 2);
    assert_eq!(monitor.overran_rounds(), 0);
    // The monitor's two rounds are timed; the probe's one-off rounds are not.
    let text = plugobs::exposition::render(registry, plugobs::exposition::Format::Prometheus);
    assert!(
        text.lines()
            .any(|l| l == "plugobs_health_round_duration_seconds_count 2"),
        "{text}"
    );
}

static LATE_GATE: Gate = Gate::new();

/// Its hook never returns within the test's timeout.
#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Late;

impl Late {
    fn check(&self) -> Health {
        LATE_GATE.wait();
        Health::healthy()
    }
}

impl Service for Late {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn readiness_says_why_before_the_failure_threshold() {
    let registry = leak(Registry::from_descriptors([Late::DESCRIPTOR]).unwrap());
    let _late = registry.load::<dyn Service>("late").unwrap();
    let monitor = HealthMonitor::builder()
        .timeout(Duration::from_millis(50))
        .failure_threshold(3)
        .manual(registry);
    monitor.tick();
    let readiness = registry.readiness();
    assert_eq!(readiness.not_ready.len(), 1);
    assert_eq!(readiness.not_ready[0].status, HealthStatus::Unknown);
    assert_eq!(
        readiness.not_ready[0].message,
        "timed out after 50ms (1 of 3 before unhealthy)"
    );
    let health = registry.get("late").unwrap().health();
    assert_eq!(
        health.message,
        "timed out after 50ms (1 of 3 before unhealthy)"
    );
    LATE_GATE.open();
}

static CLOGGED_GATE: Gate = Gate::new();
static CLOGGED_ENTERED: Entries = Entries::new();
static BRISK_ENTERED: Entries = Entries::new();

/// Its hook hangs until the end of its test.
#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Clogged;

impl Clogged {
    fn check(&self) -> Health {
        CLOGGED_ENTERED.enter();
        CLOGGED_GATE.wait();
        Health::healthy()
    }
}

impl Service for Clogged {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

/// Its hook returns at once.
#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Brisk;

impl Brisk {
    fn check(&self) -> Health {
        BRISK_ENTERED.enter();
        Health::healthy()
    }
}

impl Service for Brisk {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn hung_hooks_delay_no_other_check_not_even_by_their_timeout() {
    let registry =
        leak(Registry::from_descriptors([Clogged::DESCRIPTOR, Brisk::DESCRIPTOR]).unwrap());
    // Three times the pool's parallelism of hung hooks, queued before the brisk ones.
    let hung = 24;
    let names = |prefix: &'static str, n: usize| (0..n).map(move |i| format!("{prefix}-{i:02}"));
    let mut loaded = Vec::new();
    for name in names("clogged", hung) {
        loaded.push(
            registry
                .load_instance_without_config::<dyn Service>("clogged", &name)
                .unwrap(),
        );
    }
    for name in names("brisk", 16) {
        loaded.push(
            registry
                .load_instance_without_config::<dyn Service>("brisk", &name)
                .unwrap(),
        );
    }
    let options = CheckOptions {
        // Far longer than the waits below: were a hung check to hold its thread until its
        // timeout, the checks queued behind it could not start in time.
        timeout: Duration::from_secs(120),
        ..CheckOptions::default()
    };
    let round = std::thread::spawn(move || registry.check_health_with(&options));
    // Every hung check starts, and every brisk one, while the hung ones still hang.
    CLOGGED_ENTERED.wait_for("every hung check to start", hung);
    BRISK_ENTERED.wait_for("every brisk check to start", 16);
    CLOGGED_GATE.open();
    let report = round.join().unwrap();
    assert_eq!(report.checks.len(), hung + 16);
    assert!(
        report
            .checks
            .iter()
            .all(|c| c.result == Health::healthy() && c.failure.is_none()),
        "{report:?}"
    );
    for l in loaded {
        l.stop().unwrap();
    }
}

static HELD_GATE: Gate = Gate::new();
static HELD_ENTERED: Entries = Entries::new();

/// No stop hook; its health hook hangs until the test opens the gate.
#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Held;

impl Held {
    fn check(&self) -> Health {
        HELD_ENTERED.enter();
        HELD_GATE.wait();
        Health::unhealthy("came back too late")
    }
}

impl Service for Held {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn an_instance_without_a_stop_hook_stops_at_once_and_a_late_result_is_dropped() {
    let registry = leak(Registry::from_descriptors([Held::DESCRIPTOR]).unwrap());
    let held = registry.load::<dyn Service>("held").unwrap();
    let options = CheckOptions {
        timeout: Duration::from_secs(120),
        ..CheckOptions::default()
    };
    let round = std::thread::spawn(move || registry.check_health_with(&options));
    HELD_ENTERED.wait_for("the check to hang", 1);
    // The gate opens only after the stop returned: a stop that waited for the check
    // would wait for its 120 s timeout, and the bound below would fail it.
    let (stopped, done) = mpsc::channel();
    std::thread::spawn(move || stopped.send(held.stop()).unwrap());
    let stop = done
        .recv_timeout(Duration::from_secs(10))
        .expect("the stop to return");
    stop.unwrap();
    let record = registry.get("held").unwrap();
    assert_eq!(record.state(), PluginState::Stopped);
    HELD_GATE.open();
    // The check came back after the stop: its result is dropped, nothing is counted.
    let report = round.join().unwrap();
    assert!(report.get("held").is_none(), "{report:?}");
    assert_ne!(record.health().message, "came back too late");
    assert_eq!(record.health_check_failures(CheckReason::Unhealthy), 0);
}

/// The clock of the overrun test: its hook moves it on while the round runs.
static OVERRUN_CLOCK: std::sync::OnceLock<Arc<ManualClock>> = std::sync::OnceLock::new();
static OVERRUN_BY: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Its check takes `OVERRUN_BY` milliseconds of the monitor's clock.
#[plugobs::plugin(kind = "service", provides = dyn Service, health = Self::check)]
#[derive(Default)]
pub struct Lengthy;

impl Lengthy {
    fn check(&self) -> Health {
        let by = Duration::from_millis(OVERRUN_BY.load(Ordering::SeqCst));
        OVERRUN_CLOCK.get().unwrap().advance(by);
        Health::healthy()
    }
}

impl Service for Lengthy {
    fn call(&self, _fail: bool) -> Result<(), ServiceError> {
        Ok(())
    }
}

#[test]
fn a_round_longer_than_the_interval_is_counted_everywhere_the_monitor_reports() {
    let registry = leak(Registry::from_descriptors([Lengthy::DESCRIPTOR]).unwrap());
    let _lengthy = registry.load::<dyn Service>("lengthy").unwrap();
    let clock = Arc::clone(OVERRUN_CLOCK.get_or_init(|| Arc::new(ManualClock::new())));
    let monitor = HealthMonitor::builder()
        .interval(Duration::from_secs(1))
        .clock(clock)
        .manual(registry);
    let overruns = || {
        let text = plugobs::exposition::render(registry, plugobs::exposition::Format::Prometheus);
        text.lines()
            .find_map(|l| l.strip_prefix("plugobs_health_round_overruns_total "))
            .map(str::to_owned)
    };
    assert_eq!(overruns().as_deref(), Some("0"));
    assert_eq!(
        registry.stats().health_rounds,
        plugobs::RoundStats::default()
    );

    // Within the interval: timed, not an overrun.
    OVERRUN_BY.store(400, Ordering::SeqCst);
    monitor.tick();
    assert_eq!(monitor.overran_rounds(), 0);
    assert_eq!(overruns().as_deref(), Some("0"));
    // Longer than the interval: one overrun, in the monitor, the metric and the stats.
    OVERRUN_BY.store(2_500, Ordering::SeqCst);
    monitor.tick();
    assert_eq!(monitor.overran_rounds(), 1);
    assert_eq!(overruns().as_deref(), Some("1"));
    let rounds = registry.stats().health_rounds;
    assert_eq!((rounds.rounds, rounds.overruns), (2, 1));
    // The longest round, within the histogram's 1.6 %.
    let longest = rounds.max.unwrap().as_secs_f64();
    assert!((longest - 2.5).abs() < 2.5 * 0.016, "{longest}");
    let table = registry.stats().to_string();
    assert!(
        table.contains("| health rounds: 2 (overran: 1, longest: "),
        "{table}"
    );
    // The round duration histogram has both rounds, the long one above 2.5 s.
    let text = plugobs::exposition::render(registry, plugobs::exposition::Format::Prometheus);
    for line in [
        "plugobs_health_round_duration_seconds_count 2",
        "plugobs_health_round_duration_seconds_bucket{le=\"0.5\"} 1",
        "plugobs_health_round_duration_seconds_bucket{le=\"5\"} 2",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
}
