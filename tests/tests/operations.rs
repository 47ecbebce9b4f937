//! Per-operation counters, latency, in-flight and error kinds: exact values in `stats()`
//! and in the exporter, under threads, panics, cancelled futures and late recorders.

mod common;

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::sync::{Arc, Barrier};
use std::task::{Context, Waker};

use common::capture;
use plugobs::{Plugin, Registry};

#[derive(Debug, PartialEq, plugobs::ErrorKind)]
pub enum StoreError {
    NotFound,
    Timeout { after_ms: u64 },
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

pub trait Store: Send + Sync {
    fn get(&self, key: &str) -> Result<u32, StoreError>;
}

fn behave(key: &str) -> Result<u32, StoreError> {
    match key {
        "missing" => Err(StoreError::NotFound),
        "slow" => Err(StoreError::Timeout { after_ms: 5 }),
        "boom" => panic!("store exploded on {key}"),
        _ => Ok(key.len() as u32),
    }
}

fn isolated<P: Plugin>() -> Registry {
    Registry::from_descriptors([P::DESCRIPTOR]).unwrap()
}

fn op_labels<'a>(plugin: &'a str, op: &'a str) -> [(&'a str, &'a str); 4] {
    [
        ("plugin", plugin),
        ("kind", "store"),
        ("instance", plugin),
        ("operation", op),
    ]
}

fn with<'a>(
    base: [(&'a str, &'a str); 4],
    key: &'a str,
    value: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut v = base.to_vec();
    v.push((key, value));
    v
}

/// `plugobs_plugin_operations_total{outcome}` of one operation.
fn outcome(published: &common::Published, base: [(&str, &str); 4], outcome: &str) -> Option<u64> {
    published.counter(
        "plugobs_plugin_operations_total",
        &with(base, "outcome", outcome),
    )
}

/// `plugobs_plugin_errors_total{error_kind}` of one operation.
fn error_kind(published: &common::Published, base: [(&str, &str); 4], kind: &str) -> Option<u64> {
    published.counter(
        "plugobs_plugin_errors_total",
        &with(base, "error_kind", kind),
    )
}

#[plugobs::plugin(kind = "store", provides = dyn Store)]
#[derive(Default)]
pub struct OutcomeStore;

#[plugobs::instrumented]
impl Store for OutcomeStore {
    fn get(&self, key: &str) -> Result<u32, StoreError> {
        behave(key)
    }
}

#[test]
fn ok_error_and_panic_outcomes_with_error_kinds() {
    let registry = isolated::<OutcomeStore>();
    let published = capture(|| {
        let store = registry.load::<dyn Store>("outcome_store").unwrap();
        for key in ["a", "bb", "ccc"] {
            assert_eq!(store.get(key), Ok(key.len() as u32));
        }
        assert_eq!(store.get("missing"), Err(StoreError::NotFound));
        assert_eq!(store.get("missing"), Err(StoreError::NotFound));
        assert_eq!(store.get("slow"), Err(StoreError::Timeout { after_ms: 5 }));
        // The panic is resumed unchanged.
        let payload = catch_unwind(AssertUnwindSafe(|| store.get("boom"))).unwrap_err();
        assert_eq!(
            payload.downcast_ref::<String>().map(String::as_str),
            Some("store exploded on boom")
        );
        registry.flush();
    });
    let base = op_labels("outcome_store", "get");
    assert_eq!(outcome(&published, base, "ok"), Some(3));
    assert_eq!(outcome(&published, base, "error"), Some(3));
    assert_eq!(outcome(&published, base, "panic"), Some(1));
    assert_eq!(outcome(&published, base, "cancelled"), Some(0));
    assert_eq!(error_kind(&published, base, "not_found"), Some(2));
    assert_eq!(error_kind(&published, base, "timeout"), Some(1));
    assert_eq!(error_kind(&published, base, "error"), None);
    assert_eq!(
        published.gauge("plugobs_plugin_operations_in_flight", &base),
        Some(0.0)
    );
    assert_eq!(
        published
            .histogram("plugobs_plugin_operation_duration_seconds", &base)
            .map(Vec::len),
        Some(7)
    );

    let stats = registry.stats();
    let get = &stats.plugins[0].operations[0];
    assert_eq!(get.name, "get");
    assert_eq!(
        (
            get.calls,
            get.ok,
            get.errors,
            get.panics,
            get.cancelled,
            get.in_flight
        ),
        (7, 3, 3, 1, 0, 0)
    );
    assert_eq!(get.errors_by_kind.get("not_found"), Some(&2));
    assert_eq!(get.errors_by_kind.get("timeout"), Some(&1));
    assert!(get.p50.is_some() && get.p99 >= get.p50 && get.max >= get.p99);
    assert_eq!(stats.total_calls, 7);
    assert_eq!(stats.total_errors, 4);
}

/// An error type without `ErrorKind` counts as `error`.
#[plugobs::plugin(kind = "store")]
#[derive(Default)]
pub struct PlainErrors;

#[plugobs::instrumented]
impl PlainErrors {
    fn parse(&self, s: &str) -> Result<u32, std::num::ParseIntError> {
        s.parse()
    }
}

#[test]
fn errors_without_a_kind_are_error() {
    let registry = isolated::<PlainErrors>();
    let published = capture(|| {
        let p = PlainErrors;
        assert!(p.parse("x").is_err());
        assert_eq!(p.parse("4"), Ok(4));
        registry.flush();
    });
    let base = op_labels("plain_errors", "parse");
    assert_eq!(error_kind(&published, base, "error"), Some(1));
    assert_eq!(outcome(&published, base, "ok"), Some(1));
}

#[plugobs::plugin(kind = "store")]
#[derive(Default)]
pub struct AsyncStore;

#[plugobs::instrumented]
impl AsyncStore {
    async fn fetch(&self, key: &str) -> Result<u32, StoreError> {
        tokio::task::yield_now().await;
        behave(key)
    }

    async fn hang(&self) {
        std::future::pending::<()>().await;
    }
}

#[test]
fn a_future_dropped_before_completion_is_cancelled_and_leaves_flight() {
    let registry = isolated::<AsyncStore>();
    let store = AsyncStore;
    {
        let mut fut = pin!(store.hang());
        let mut cx = Context::from_waker(Waker::noop());
        assert!(fut.as_mut().poll(&mut cx).is_pending());
        let stats = registry.stats();
        let hang = stats.plugins[0]
            .operations
            .iter()
            .find(|o| o.name == "hang")
            .unwrap();
        assert_eq!(hang.in_flight, 1);
        assert_eq!(hang.calls, 0);
    }
    let published = capture(|| registry.flush());
    let base = op_labels("async_store", "hang");
    assert_eq!(outcome(&published, base, "cancelled"), Some(1));
    assert_eq!(outcome(&published, base, "ok"), Some(0));
    assert_eq!(
        published.gauge("plugobs_plugin_operations_in_flight", &base),
        Some(0.0)
    );
    assert_eq!(
        published
            .histogram("plugobs_plugin_operation_duration_seconds", &base)
            .map(Vec::len),
        Some(1)
    );
}

#[plugobs::plugin(kind = "store")]
#[derive(Default)]
pub struct PanickyAsync;

#[plugobs::instrumented]
impl PanickyAsync {
    async fn explode(&self) -> u32 {
        tokio::task::yield_now().await;
        panic!("async boom")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_future_is_a_panic_even_when_the_runtime_catches_it() {
    let registry = isolated::<PanickyAsync>();
    let err = tokio::spawn(async { PanickyAsync.explode().await })
        .await
        .unwrap_err();
    assert!(err.is_panic());
    let stats = registry.stats();
    let op = &stats.plugins[0].operations[0];
    assert_eq!(
        (op.calls, op.panics, op.cancelled, op.in_flight),
        (1, 1, 0, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_on_a_multi_thread_runtime_are_exact() {
    let registry = isolated::<AsyncStore>();
    let store = Arc::new(AsyncStore);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = if i % 4 == 0 { "missing" } else { "ab" };
                store.fetch(key).await
            })
        })
        .collect();
    let mut errors = 0;
    for t in tasks {
        errors += u64::from(t.await.unwrap().is_err());
    }
    assert_eq!(errors, 50);
    let published = capture(|| registry.flush());
    let base = op_labels("async_store", "fetch");
    assert_eq!(outcome(&published, base, "ok"), Some(150));
    assert_eq!(error_kind(&published, base, "not_found"), Some(50));
    assert_eq!(
        published.gauge("plugobs_plugin_operations_in_flight", &base),
        Some(0.0)
    );
}

/// `async fn`s with no `.await`: each completes in its first poll and is measured inside
/// its own future (no second future around the body).
#[plugobs::plugin(kind = "store")]
#[derive(Default)]
pub struct ReadyStore;

#[plugobs::instrumented]
impl ReadyStore {
    async fn lookup(&self, key: &str) -> Result<u32, StoreError> {
        let n = behave(key)?;
        if n == 0 {
            return Ok(0);
        }
        Ok(n + 1)
    }

    async fn boom(&self, key: &str) -> u32 {
        if key.is_empty() {
            panic!("ready boom");
        }
        7
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fns_that_never_suspend_count_exactly_and_stay_send() {
    let registry = isolated::<ReadyStore>();
    let store = Arc::new(ReadyStore);
    // Spawned: the futures are `Send` (no guard is held across a suspension).
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let key = if i % 4 == 0 { "missing" } else { "ab" };
                store.lookup(key).await
            })
        })
        .collect();
    let mut errors = 0;
    for t in tasks {
        errors += u64::from(t.await.unwrap().is_err());
    }
    assert_eq!(errors, 50);
    let panicked = tokio::spawn(async { ReadyStore.boom("").await })
        .await
        .unwrap_err();
    assert!(panicked.is_panic());
    assert_eq!(ReadyStore.boom("x").await, 7);
    // Created and dropped unpolled: never started, so not counted at all.
    drop(ReadyStore.boom(""));
    let published = capture(|| registry.flush());
    let lookup = op_labels("ready_store", "lookup");
    assert_eq!(outcome(&published, lookup, "ok"), Some(150));
    assert_eq!(error_kind(&published, lookup, "not_found"), Some(50));
    let boom = op_labels("ready_store", "boom");
    assert_eq!(outcome(&published, boom, "panic"), Some(1));
    assert_eq!(outcome(&published, boom, "ok"), Some(1));
    assert_eq!(outcome(&published, boom, "cancelled"), Some(0));
    assert_eq!(
        published.gauge("plugobs_plugin_operations_in_flight", &boom),
        Some(0.0)
    );
}

#[plugobs::plugin(kind = "store")]
#[derive(Default)]
pub struct BlockingStore;

#[plugobs::instrumented]
impl BlockingStore {
    fn wait(&self, entered: &Barrier, release: &Barrier) {
        entered.wait();
        release.wait();
    }
}

#[test]
fn in_flight_counts_calls_in_progress() {
    let registry = isolated::<BlockingStore>();
    let (entered, release) = (Arc::new(Barrier::new(3)), Arc::new(Barrier::new(3)));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (e, r) = (entered.clone(), release.clone());
            std::thread::spawn(move || BlockingStore.wait(&e, &r))
        })
        .collect();
    entered.wait();
    let published = capture(|| registry.flush());
    let base = op_labels("blocking_store", "wait");
    assert_eq!(
        published.gauge("plugobs_plugin_operations_in_flight", &base),
        Some(2.0)
    );
    assert_eq!(registry.stats().plugins[0].operations[0].in_flight, 2);
    release.wait();
    for t in threads {
        t.join().unwrap();
    }
    let published = capture(|| registry.flush());
    assert_eq!(
        published.gauge("plugobs_plugin_operations_in_flight", &base),
        Some(0.0)
    );
    assert_eq!(outcome(&published, base, "ok"), Some(2));
}

#[plugobs::plugin(kind = "store")]
#[derive(Default)]
pub struct HotStore;

#[plugobs::instrumented]
impl HotStore {
    fn hit(&self, i: u32) -> Result<u32, StoreError> {
        if i % 10 == 0 {
            Err(StoreError::NotFound)
        } else {
            Ok(i)
        }
    }
}

#[test]
fn four_threads_of_250_000_calls_are_counted_exactly() {
    const THREADS: u32 = 4;
    const CALLS: u32 = 250_000;
    let registry = isolated::<HotStore>();
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            std::thread::spawn(|| {
                let store = HotStore;
                for i in 0..CALLS {
                    let _ = std::hint::black_box(store.hit(std::hint::black_box(i)));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total = u64::from(THREADS * CALLS);
    let errors = total / 10;
    let stats = registry.stats();
    let op = &stats.plugins[0].operations[0];
    assert_eq!(
        (op.calls, op.ok, op.errors, op.in_flight),
        (total, total - errors, errors, 0)
    );
    assert_eq!(op.errors_by_kind.get("not_found"), Some(&errors));

    let published = capture(|| registry.flush());
    let base = op_labels("hot_store", "hit");
    assert_eq!(outcome(&published, base, "ok"), Some(total - errors));
    assert_eq!(outcome(&published, base, "error"), Some(errors));
    assert_eq!(error_kind(&published, base, "not_found"), Some(errors));
    assert_eq!(
        published
            .histogram("plugobs_plugin_operation_duration_seconds", &base)
            .map(|h| h.len() as u64),
        Some(total)
    );
}

#[plugobs::plugin(kind = "store")]
#[derive(Default)]
pub struct LateStore;

#[plugobs::instrumented]
impl LateStore {
    fn touch(&self) {}
}

#[test]
fn a_recorder_installed_after_the_first_calls_receives_every_later_call() {
    let registry = isolated::<LateStore>();
    for _ in 0..5 {
        LateStore.touch();
    }
    registry.flush(); // into the no-op recorder
    let recorder = metrics_util::debugging::DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let base = op_labels("late_store", "touch");
    let samples = |snapshot: metrics_util::debugging::Snapshot| -> (Option<u64>, usize) {
        let mut ok = None;
        let mut n = 0;
        for (key, _, _, value) in snapshot.into_vec() {
            let name = key.key().name().to_owned();
            match value {
                metrics_util::debugging::DebugValue::Counter(v)
                    if name == "plugobs_plugin_operations_total"
                        && key.key().labels().any(|l| l.value() == "ok")
                        && key.key().labels().any(|l| l.value() == base[0].1) =>
                {
                    ok = Some(v);
                }
                metrics_util::debugging::DebugValue::Histogram(h)
                    if name == "plugobs_plugin_operation_duration_seconds"
                        && key.key().labels().any(|l| l.value() == base[0].1) =>
                {
                    n += h.len();
                }
                _ => {}
            }
        }
        (ok, n)
    };
    metrics::with_local_recorder(&recorder, || registry.flush());
    assert_eq!(samples(snapshotter.snapshot()), (Some(5), 5));
    for _ in 0..3 {
        LateStore.touch();
    }
    metrics::with_local_recorder(&recorder, || registry.flush());
    // The counter is the running total; the histogram gets only the 3 new samples.
    assert_eq!(samples(snapshotter.snapshot()), (Some(8), 3));
}
