//! async-trait impls, with `#[instrumented]` above or below `#[async_trait]`: the future is
//! timed, not the boxing.

use std::time::Duration;

use plugobs::{Plugin, Registry};

#[derive(Debug, plugobs::ErrorKind)]
pub enum FetchError {
    Refused,
}

#[async_trait::async_trait]
pub trait Fetch: Send + Sync {
    async fn fetch(&self, ms: u64) -> Result<u64, FetchError>;
}

#[plugobs::plugin(kind = "fetch", provides = dyn Fetch)]
#[derive(Default)]
pub struct InstrumentedBelow;

#[async_trait::async_trait]
#[plugobs::instrumented]
impl Fetch for InstrumentedBelow {
    async fn fetch(&self, ms: u64) -> Result<u64, FetchError> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if ms == 0 {
            Err(FetchError::Refused)
        } else {
            Ok(ms)
        }
    }
}

#[plugobs::plugin(kind = "fetch", provides = dyn Fetch)]
#[derive(Default)]
pub struct InstrumentedAbove;

#[plugobs::instrumented]
#[async_trait::async_trait]
impl Fetch for InstrumentedAbove {
    async fn fetch(&self, ms: u64) -> Result<u64, FetchError> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        if ms == 0 {
            Err(FetchError::Refused)
        } else {
            Ok(ms)
        }
    }
}

async fn check<P: Plugin>(name: &str) {
    let registry = Registry::from_descriptors([P::DESCRIPTOR]).unwrap();
    let fetch = registry.load_async::<dyn Fetch>(name).await.unwrap();
    assert_eq!(fetch.fetch(25).await.ok(), Some(25));
    assert!(fetch.fetch(0).await.is_err());
    // Created but never awaited: a boxed future that is dropped is a cancelled call only
    // if it was polled; never polled, it was never entered.
    drop(fetch.fetch(5));
    let stats = registry.stats();
    let op = &stats.plugins[0].operations[0];
    assert_eq!(op.name, "fetch");
    assert_eq!(
        (op.calls, op.ok, op.errors, op.cancelled, op.in_flight),
        (2, 1, 1, 0, 0)
    );
    assert_eq!(op.errors_by_kind.get("refused"), Some(&1));
    // The 25 ms sleep is inside the timed future.
    assert!(op.max.unwrap() >= Duration::from_millis(24), "{:?}", op.max);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_below_async_trait() {
    check::<InstrumentedBelow>("instrumented_below").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instrumented_above_async_trait() {
    check::<InstrumentedAbove>("instrumented_above").await;
}
