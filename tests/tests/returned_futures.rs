//! A method that returns a future without building it with `async` is measured by the
//! future's type, not by how the return type is spelled: a boxed future behind an
//! associated type (the tower `Service` shape) or a type alias is measured until it
//! completes, outcome from its output; a named future type is a compile error (ui test
//! `fail-named-future`) unless `#[instrumented(value)]` says it is a value.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use plugobs::{OperationStats, Plugin, Registry};

#[derive(Debug, PartialEq, plugobs::ErrorKind)]
pub enum CallError {
    Odd,
}

/// tower's `Service`, reduced to its shape.
pub trait Service {
    type Future: Future<Output = Result<u32, CallError>>;
    fn call(&self, x: u32) -> Self::Future;
}

/// Sleeps 5 ms, then fails for odd inputs.
async fn later(x: u32) -> Result<u32, CallError> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    if x % 2 == 1 {
        Err(CallError::Odd)
    } else {
        Ok(x)
    }
}

type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type LocalBoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

#[plugobs::plugin(kind = "service")]
#[derive(Default)]
pub struct Boxed;

#[plugobs::instrumented]
impl Service for Boxed {
    type Future = BoxFut<'static, Result<u32, CallError>>;

    fn call(&self, x: u32) -> Self::Future {
        Box::pin(later(x))
    }
}

#[plugobs::instrumented(cpu)]
impl Boxed {
    fn aliased(&self, x: u32) -> BoxFut<'_, Result<u32, CallError>> {
        Box::pin(later(x))
    }

    fn local(&self, x: u32) -> LocalBoxFut<'_, Result<u32, CallError>> {
        let not_send = std::rc::Rc::new(x);
        Box::pin(async move { later(*not_send).await })
    }

    fn panics_later(&self) -> BoxFut<'static, u32> {
        let fut = async { panic!("the future panics") };
        Box::pin(fut)
    }

    /// A handle to work the caller awaits later: a value, measured as the call.
    #[instrumented(value)]
    fn spawn(&self, x: u32) -> tokio::task::JoinHandle<Result<u32, CallError>> {
        tokio::spawn(later(x))
    }
}

/// A future written by hand, as tower services do.
pub struct Ready(Option<u32>);

impl Future for Ready {
    type Output = u32;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<u32> {
        Poll::Ready(self.0.take().unwrap_or(0))
    }
}

#[plugobs::instrumented]
impl Boxed {
    #[instrumented(value)]
    fn ready(&self, x: u32) -> Ready {
        Ready(Some(x))
    }
}

fn op<'a>(stats: &'a [OperationStats], name: &str) -> &'a OperationStats {
    stats
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no operation {name}"))
}

#[tokio::test]
async fn boxed_futures_are_measured_until_they_complete() {
    let registry = Registry::from_descriptors([Boxed::DESCRIPTOR]).unwrap();
    let s = Boxed;
    for x in 0..4 {
        let _ = s.call(x).await;
    }
    assert_eq!(s.aliased(2).await, Ok(2));
    assert_eq!(s.aliased(3).await, Err(CallError::Odd));
    assert_eq!(s.local(5).await, Err(CallError::Odd));
    // Built and dropped before it completes: cancelled, not ok.
    drop(s.call(8));
    let panicked = tokio::spawn(s.panics_later()).await;
    assert!(panicked.is_err());
    assert_eq!(s.spawn(3).await.unwrap(), Err(CallError::Odd));
    assert_eq!(s.ready(4).await, 4);

    let stats = registry.stats();
    let ops = &stats.plugins[0].operations;
    let counts = |name| {
        let o = op(ops, name);
        (o.calls, o.ok, o.errors, o.panics, o.cancelled, o.in_flight)
    };
    assert_eq!(counts("call"), (5, 2, 2, 0, 1, 0));
    assert_eq!(op(ops, "call").errors_by_kind.get("odd"), Some(&2));
    // Timed while the future ran (four sleeps of 5 ms, and one dropped at once), not while
    // it was built.
    let call_mean = op(ops, "call").mean.unwrap();
    assert!(call_mean >= Duration::from_millis(4), "{call_mean:?}");
    assert_eq!(counts("aliased"), (2, 1, 1, 0, 0, 0));
    assert!(op(ops, "aliased").mean.unwrap() >= Duration::from_millis(5));
    // `cpu` goes on over the polls.
    assert!(op(ops, "aliased").cpu.is_some());
    assert_eq!(counts("local"), (1, 0, 1, 0, 0, 0));
    assert_eq!(counts("panics_later"), (1, 0, 0, 1, 0, 0));
    // `value`: the call that returned the handle, whatever the task did.
    assert_eq!(counts("spawn"), (1, 1, 0, 0, 0, 0));
    assert!(op(ops, "spawn").max.unwrap() < Duration::from_millis(5));
    assert_eq!(counts("ready"), (1, 1, 0, 0, 0, 0));
}
