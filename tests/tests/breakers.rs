//! Circuit breakers per operation (issue 25): tripping on consecutive failures and on a
//! failure ratio, rejection with the operation's own error type, half-open probes,
//! recovery, re-opening, the host's settings, exact counts under threads, and what the
//! exposition, `stats()` and the health round say.
//!
//! Every test reads the breakers' manual clock, which is process-wide: the tests take
//! turns (`SERIAL`), and each uses plugins of its own.

use std::future::Future;
use std::pin::pin;
use std::sync::{Barrier, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use plugobs::breaker::{BreakerSettings, BreakerSnapshot, BreakerState, ManualClock, Trip};
use plugobs::exposition::{self, Format};
use plugobs::{BreakerOpen, HealthStatus, OperationStats, Plugin, Registry, RegistryError};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> (MutexGuard<'static, ()>, ManualClock) {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    (guard, ManualClock::install())
}

#[derive(Debug, PartialEq, Eq, plugobs::ErrorKind)]
pub enum SinkError {
    Refused,
    Unavailable,
}

impl From<BreakerOpen> for SinkError {
    fn from(open: BreakerOpen) -> Self {
        assert_eq!(open.operation(), "write");
        SinkError::Unavailable
    }
}

pub trait Sink: Send + Sync {
    fn write(&self, fail: bool) -> Result<u32, SinkError>;
}

fn op(registry: &Registry) -> OperationStats {
    registry.stats().plugins[0].operations[0].clone()
}

fn breaker(registry: &Registry) -> BreakerSnapshot {
    op(registry).breaker.expect("a breaker")
}

/// Three failures in a row trip it; open 10 s; two probes.
#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Default)]
pub struct Flaky;

#[plugobs::instrumented(breaker(consecutive = 3, open_for = "10s", probes = 2))]
impl Sink for Flaky {
    fn write(&self, fail: bool) -> Result<u32, SinkError> {
        if fail { Err(SinkError::Refused) } else { Ok(1) }
    }
}

#[test]
fn consecutive_failures_trip_it_probes_close_it_and_a_failed_probe_opens_it_again() {
    let (_serial, clock) = serial();
    let registry = Registry::from_descriptors([Flaky::DESCRIPTOR]).unwrap();
    let sink = Flaky;
    // Two failures, a success (the count starts over), three failures: open.
    for fail in [true, true, false, true, true] {
        let _ = sink.write(fail);
    }
    assert_eq!(breaker(&registry).state, BreakerState::Closed);
    assert_eq!(sink.write(true), Err(SinkError::Refused));
    assert_eq!(
        breaker(&registry),
        BreakerSnapshot {
            state: BreakerState::Open,
            trips: 1,
            rejected: 0
        }
    );
    // Open: the plugin is not called; the rejection is not one of its errors.
    assert_eq!(sink.write(false), Err(SinkError::Unavailable));
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(sink.write(false), Err(SinkError::Unavailable));
    let stats = op(&registry);
    assert_eq!(
        (stats.calls, stats.ok, stats.errors, stats.in_flight),
        (6, 1, 5, 0)
    );
    assert_eq!(stats.breaker.unwrap().rejected, 2);
    // Half-open after 10 s: two probes, each a real call.
    clock.advance(Duration::from_millis(1));
    assert_eq!(sink.write(false), Ok(1));
    assert_eq!(breaker(&registry).state, BreakerState::HalfOpen);
    assert_eq!(sink.write(false), Ok(1));
    assert_eq!(breaker(&registry).state, BreakerState::Closed);
    assert_eq!(sink.write(false), Ok(1));
    // Trip again; after 10 s the first probe fails: open again, one more trip.
    for _ in 0..3 {
        let _ = sink.write(true);
    }
    clock.advance(Duration::from_secs(10));
    assert_eq!(sink.write(true), Err(SinkError::Refused));
    assert_eq!(sink.write(false), Err(SinkError::Unavailable));
    assert_eq!(
        breaker(&registry),
        BreakerSnapshot {
            state: BreakerState::Open,
            trips: 3,
            rejected: 3
        }
    );
    let stats = op(&registry);
    assert_eq!((stats.calls, stats.ok, stats.errors), (13, 4, 9));

    // The exposition: the state set, the trips, and the rejected calls as an outcome.
    let text = exposition::render(&registry, Format::Prometheus);
    let labels = r#"plugin="flaky",kind="sink",instance="flaky",operation="write""#;
    for line in [
        format!("plugobs_plugin_circuit_breaker_state{{{labels},state=\"closed\"}} 0"),
        format!("plugobs_plugin_circuit_breaker_state{{{labels},state=\"open\"}} 1"),
        format!("plugobs_plugin_circuit_breaker_state{{{labels},state=\"half_open\"}} 0"),
        format!("plugobs_plugin_circuit_breaker_trips_total{{{labels}}} 3"),
        format!("plugobs_plugin_operations_total{{{labels},outcome=\"rejected\"}} 3"),
        format!("plugobs_plugin_operations_total{{{labels},outcome=\"error\"}} 9"),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in\n{text}"
        );
    }
}

/// 50 % of at least 10 calls in a one-minute window.
#[plugobs::plugin(kind = "sink")]
#[derive(Default)]
pub struct Ratio;

#[plugobs::instrumented]
impl Ratio {
    #[instrumented(breaker(failure_ratio = "50%", window = "1m", min_calls = 10))]
    fn write(&self, fail: bool) -> Result<u32, SinkError> {
        if fail { Err(SinkError::Refused) } else { Ok(1) }
    }
}

#[test]
fn a_failure_ratio_trips_it_once_enough_calls_ended_in_the_window() {
    let (_serial, clock) = serial();
    let registry = Registry::from_descriptors([Ratio::DESCRIPTOR]).unwrap();
    let sink = Ratio;
    // 5 ok and 4 failures: 9 calls, under the minimum.
    for i in 0..9 {
        let _ = sink.write(i % 2 == 1 || i == 8);
    }
    assert_eq!(op(&registry).errors, 5);
    assert_eq!(breaker(&registry).state, BreakerState::Closed);
    // A minute later the window starts over: 1 failure of 1 call, under the minimum.
    clock.advance(Duration::from_secs(61));
    let _ = sink.write(true);
    assert_eq!(breaker(&registry).state, BreakerState::Closed);
    // Eight more calls in this window, 4 failing: 9 calls, 5 failures, still under 10.
    for i in 0..8 {
        let _ = sink.write(i % 2 == 0);
    }
    assert_eq!(breaker(&registry).state, BreakerState::Closed);
    // The tenth: 5 of 10 failed, 50 %.
    assert_eq!(sink.write(false), Ok(1));
    assert_eq!(breaker(&registry).state, BreakerState::Closed);
    assert_eq!(sink.write(true), Err(SinkError::Refused));
    assert_eq!(
        breaker(&registry),
        BreakerSnapshot {
            state: BreakerState::Open,
            trips: 1,
            rejected: 0
        }
    );
    // Default open_for: 30 s; one probe, which closes it.
    clock.advance(Duration::from_secs(29));
    assert_eq!(sink.write(false), Err(SinkError::Unavailable));
    clock.advance(Duration::from_secs(1));
    assert_eq!(sink.write(false), Ok(1));
    assert_eq!(breaker(&registry).state, BreakerState::Closed);
}

/// Trips after 50 failures in a row and stays open for an hour.
#[plugobs::plugin(kind = "sink")]
#[derive(Default)]
pub struct Crowded;

#[plugobs::instrumented(breaker(consecutive = 50, open_for = "1h"))]
impl Crowded {
    fn write(&self, fail: bool) -> Result<u32, SinkError> {
        if fail { Err(SinkError::Refused) } else { Ok(1) }
    }
}

#[test]
fn every_call_is_counted_exactly_under_four_threads() {
    let (_serial, _clock) = serial();
    const PER_THREAD: u64 = 20_000;
    let barrier = Barrier::new(4);
    // Each thread: 1000 successes, then failures only (a thread that starts late may see
    // the breaker already open).
    let seen: Vec<(u64, u64, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let (mut ok, mut refused, mut unavailable) = (0, 0, 0);
                    for i in 0..PER_THREAD {
                        match Crowded.write(i >= 1_000) {
                            Ok(_) => ok += 1,
                            Err(SinkError::Refused) => refused += 1,
                            Err(SinkError::Unavailable) => unavailable += 1,
                        }
                    }
                    (ok, refused, unavailable)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let (ok, refused, unavailable) = seen
        .iter()
        .fold((0, 0, 0), |a, s| (a.0 + s.0, a.1 + s.1, a.2 + s.2));
    let registry = Registry::from_descriptors([Crowded::DESCRIPTOR]).unwrap();
    let stats = op(&registry);
    let b = stats.breaker.unwrap();
    // Whatever the interleaving, what the callers saw is what was counted.
    assert_eq!(ok + refused + unavailable, 4 * PER_THREAD);
    assert_eq!(
        (stats.ok, stats.errors, b.rejected),
        (ok, refused, unavailable)
    );
    assert_eq!(stats.errors_by_kind.get("refused"), Some(&refused));
    assert_eq!(stats.calls + b.rejected, 4 * PER_THREAD);
    assert_eq!((b.state, b.trips), (BreakerState::Open, 1));
    // It trips at the 50th failure in a row; a success of another thread between two
    // failures starts the count over, so at least 50 calls failed.
    assert!((50..4 * PER_THREAD).contains(&refused), "{refused}");
}

/// Async, with a suspension point; one failure trips it.
#[plugobs::plugin(kind = "sink")]
#[derive(Default)]
pub struct AsyncSink;

#[plugobs::instrumented(breaker(consecutive = 1, open_for = "5s"))]
impl AsyncSink {
    async fn write(&self, fail: bool, hang: bool) -> Result<u32, SinkError> {
        if hang {
            std::future::pending::<()>().await;
        }
        std::future::ready(()).await;
        if fail { Err(SinkError::Refused) } else { Ok(1) }
    }
}

fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    pin!(fut).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn an_async_operation_is_rejected_at_once_and_a_cancelled_probe_gives_its_place_back() {
    let (_serial, clock) = serial();
    let registry = Registry::from_descriptors([AsyncSink::DESCRIPTOR]).unwrap();
    let sink = AsyncSink;
    assert_eq!(
        plugobs::block_on(sink.write(true, false)),
        Err(SinkError::Refused)
    );
    assert_eq!(
        poll_once(sink.write(false, false)),
        Poll::Ready(Err(SinkError::Unavailable))
    );
    clock.advance(Duration::from_secs(5));
    // The probe hangs and is dropped: cancelled, its place goes to the next call.
    assert!(poll_once(sink.write(false, true)).is_pending());
    assert_eq!(breaker(&registry).state, BreakerState::HalfOpen);
    assert_eq!(plugobs::block_on(sink.write(false, false)), Ok(1));
    let stats = op(&registry);
    assert_eq!(
        (stats.calls, stats.ok, stats.errors, stats.cancelled),
        (3, 1, 1, 1)
    );
    assert_eq!(
        stats.breaker,
        Some(BreakerSnapshot {
            state: BreakerState::Closed,
            trips: 1,
            rejected: 1
        })
    );
}

/// Loaded through the registry, for the health round and the host's settings.
#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Default)]
pub struct Guarded;

#[plugobs::instrumented(breaker(consecutive = 2))]
impl Sink for Guarded {
    fn write(&self, fail: bool) -> Result<u32, SinkError> {
        if fail { Err(SinkError::Refused) } else { Ok(1) }
    }
}

#[test]
fn an_open_breaker_degrades_its_instance_and_the_host_can_change_or_turn_it_off() {
    let (_serial, clock) = serial();
    let registry = Box::leak(Box::new(
        Registry::from_descriptors([Guarded::DESCRIPTOR]).unwrap(),
    ));
    let sink = registry.load::<dyn Sink>("guarded").unwrap();
    assert_eq!(
        registry
            .check_health()
            .get("guarded")
            .unwrap()
            .result
            .status,
        HealthStatus::Healthy
    );
    let _ = sink.write(true);
    let _ = sink.write(true);
    let report = registry.check_health();
    let check = report.get("guarded").unwrap();
    assert_eq!(check.result.status, HealthStatus::Degraded);
    assert_eq!(check.result.message, "circuit breaker of `write` is open");
    assert_eq!(
        check.result.details,
        vec![("breaker.write".to_owned(), "open".to_owned())]
    );

    // Out of range: a typed error.
    let bad = BreakerSettings {
        probes: 0,
        ..BreakerSettings::DEFAULT
    };
    assert_eq!(
        registry.set_breaker("guarded", Some(bad)),
        Err(RegistryError::InvalidBreaker {
            message: "probes is from 1 to 1000; found 0".to_owned()
        })
    );
    // Off: every call goes through, its series end.
    registry.set_breaker("guarded", None).unwrap();
    assert_eq!(sink.write(false), Ok(1));
    assert_eq!(op(registry).breaker, None);
    let text = exposition::render(registry, Format::Prometheus);
    assert!(!text.contains("circuit_breaker"), "{text}");
    assert_eq!(
        registry
            .check_health()
            .get("guarded")
            .unwrap()
            .result
            .status,
        HealthStatus::Healthy
    );
    // On again for this instance, closed, with its own settings: one failure trips it.
    registry
        .set_instance_breaker(
            "guarded",
            "guarded",
            Some(BreakerSettings {
                trip: Trip::Consecutive(1),
                open_for: Duration::from_secs(1),
                probes: 1,
            }),
        )
        .unwrap();
    assert_eq!(breaker(registry).state, BreakerState::Closed);
    let _ = sink.write(true);
    assert_eq!(sink.write(false), Err(SinkError::Unavailable));
    clock.advance(Duration::from_secs(1));
    assert_eq!(sink.write(false), Ok(1));
    assert_eq!(breaker(registry).state, BreakerState::Closed);
}

/// Configured instances, each with its own `breaker` table.
#[plugobs::plugin(kind = "sink", provides = dyn Sink)]
#[derive(Default)]
pub struct Configured;

#[plugobs::instrumented(breaker(consecutive = 3, open_for = "1m"))]
impl Sink for Configured {
    fn write(&self, fail: bool) -> Result<u32, SinkError> {
        if fail { Err(SinkError::Refused) } else { Ok(1) }
    }
}

#[test]
fn each_configured_instance_takes_its_breaker_settings_from_its_section() {
    let (_serial, clock) = serial();
    let registry = Box::leak(Box::new(
        Registry::from_descriptors([Configured::DESCRIPTOR]).unwrap(),
    ));
    let file: toml::Table = toml::from_str(
        r#"
        [declared]
        type = "configured"

        [eager]
        type = "configured"
        breaker = { consecutive = 1, open_for = "5s" }

        [off]
        type = "configured"
        breaker = false

        [bad]
        type = "configured"
        breaker = { probes = 0 }

        [typo]
        type = "configured"
        breaker = { consecutive = 2, timeout = "1s" }
        "#,
    )
    .unwrap();
    let report = registry.load_instances::<dyn Sink>(&file);
    let failures: Vec<(&str, String)> = report
        .failures
        .iter()
        .map(|f| (f.instance.as_str(), f.error.to_string()))
        .collect();
    assert_eq!(
        failures,
        [
            (
                "bad",
                "invalid instance `bad`: `breaker`: `probes` is an integer from 1 to 1000; found 0"
                    .to_owned()
            ),
            (
                "typo",
                "invalid instance `typo`: `breaker`: unknown key `timeout` in `breaker`; expected one \
                 of: consecutive, failure_ratio, window, min_calls, open_for, probes"
                    .to_owned()
            ),
        ]
    );
    let by_name = |name: &str| report.loaded.iter().find(|l| l.instance() == name).unwrap();
    // One failure trips `eager`; `declared` needs three; `off` never trips.
    for name in ["declared", "eager", "off"] {
        assert_eq!(by_name(name).write(true), Err(SinkError::Refused));
    }
    let state = |name: &str| {
        let stats = registry.stats();
        let p = stats.plugins.iter().find(|p| p.instance == name).unwrap();
        p.operations[0].breaker.map(|b| b.state)
    };
    assert_eq!(state("eager"), Some(BreakerState::Open));
    assert_eq!(state("declared"), Some(BreakerState::Closed));
    assert_eq!(state("off"), None);
    for _ in 0..5 {
        assert_eq!(by_name("off").write(true), Err(SinkError::Refused));
    }
    // `eager` probes after its own 5 s.
    clock.advance(Duration::from_secs(5));
    assert_eq!(by_name("eager").write(false), Ok(1));
    assert_eq!(state("eager"), Some(BreakerState::Closed));

    // `/plugins` serializes each breaker.
    let json = serde_json::to_value(registry.stats()).unwrap();
    let eager = json["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["instance"] == "eager")
        .unwrap();
    assert_eq!(
        eager["operations"][0]["breaker"],
        serde_json::json!({ "state": "closed", "trips": 1, "rejected": 0 })
    );
}
