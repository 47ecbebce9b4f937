//! Any body that compiles without `#[instrumented]` compiles with it and is measured
//! right, including shapes that once failed to compile or were measured wrong: borrows
//! returned from the body, early exits hidden in a macro, a method that returns a future
//! it did not write as `async` (delegating), `err` on an impl that mixes `Result` and
//! other returns, and a function that never returns.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use plugobs::{OperationStats, Plugin, Registry};

#[derive(Debug, PartialEq, plugobs::ErrorKind)]
pub enum GetError {
    Missing,
}

impl std::fmt::Display for GetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[plugobs::plugin(kind = "shapes")]
#[derive(Default)]
pub struct Delegating {
    values: Vec<u32>,
    name: String,
}

/// Leaves the function early, as `anyhow::bail!` does: the macro cannot be seen into.
macro_rules! bail {
    ($e:expr) => {
        return Err($e)
    };
}

async fn sleepy(ms: u64) -> u32 {
    tokio::time::sleep(Duration::from_millis(ms)).await;
    7
}

// `err` on the impl applies to the methods that return a `Result` and leaves the others.
#[plugobs::instrumented(err)]
impl Delegating {
    async fn get(&self, n: u32) -> Result<u32, GetError> {
        tokio::task::yield_now().await;
        self.values
            .get(n as usize)
            .copied()
            .ok_or(GetError::Missing)
    }

    fn get_later(&self, n: u32) -> impl Future<Output = Result<u32, GetError>> + '_ {
        self.get(n)
    }

    fn get_boxed(
        &self,
        n: u32,
    ) -> Pin<Box<dyn Future<Output = Result<u32, GetError>> + Send + '_>> {
        Box::pin(self.get(n))
    }

    fn get_unpin(&self, n: u32) -> impl Future<Output = Result<u32, GetError>> + Unpin + '_ {
        Box::pin(self.get(n))
    }

    fn slow(&self, ms: u64) -> impl Future<Output = u32> {
        sleepy(ms)
    }

    fn values_mut(&mut self) -> &mut Vec<u32> {
        &mut self.values
    }

    fn name<'a>(&'a self) -> &'a str {
        &self.name
    }

    fn name_elided(&self) -> &str {
        &self.name
    }

    fn first_mut<'a>(&self, values: &'a mut [u32]) -> Option<&'a mut u32> {
        values.first_mut()
    }

    fn position(&self, wanted: u32) -> Option<usize> {
        for (i, v) in self.values.iter().enumerate() {
            if *v == wanted {
                return Some(i);
            }
        }
        None
    }

    fn checked(&self, n: u32) -> Result<u32, GetError> {
        let i = self.position(n).ok_or(GetError::Missing)?;
        Ok(i as u32)
    }

    fn bails(&self, n: u32) -> Result<u32, GetError> {
        if n > 1 {
            bail!(GetError::Missing);
        }
        Ok(n)
    }

    fn iter(&self) -> impl Iterator<Item = &u32> + '_ {
        self.values.iter()
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn never(&self) -> ! {
        panic!("{} never returns", self.name)
    }
}

fn op<'a>(stats: &'a [OperationStats], name: &str) -> &'a OperationStats {
    stats
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no operation {name}"))
}

#[tokio::test]
async fn borrows_returned_futures_and_err_on_a_mixed_impl() {
    let registry = Registry::from_descriptors([Delegating::DESCRIPTOR]).unwrap();
    let mut d = Delegating {
        values: vec![10, 20],
        name: "delegating".into(),
    };

    d.values_mut().push(30);
    assert_eq!(d.name(), "delegating");
    assert_eq!(d.name_elided(), "delegating");
    let mut scratch = [1, 2];
    *d.first_mut(&mut scratch).unwrap() = 5;
    assert_eq!(scratch, [5, 2]);
    assert_eq!(d.position(30), Some(2));
    assert_eq!(d.position(99), None);
    assert_eq!(d.checked(20), Ok(1));
    assert_eq!(d.checked(99), Err(GetError::Missing));
    assert_eq!(d.bails(1), Ok(1));
    assert_eq!(d.bails(2), Err(GetError::Missing));
    assert_eq!(d.iter().sum::<u32>(), 60);
    assert_eq!(d.len(), 3);
    let never = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| d.never()));
    assert!(never.is_err());

    // A delegating future: measured as the future, outcome from its output.
    assert_eq!(d.get_later(0).await, Ok(10));
    assert_eq!(d.get_later(9).await, Err(GetError::Missing));
    assert_eq!(d.get_boxed(1).await, Ok(20));
    assert_eq!(d.get_boxed(9).await, Err(GetError::Missing));
    assert_eq!(d.get_unpin(2).await, Ok(30));
    // Timed over its polls.
    assert_eq!(d.slow(20).await, 7);
    // Dropped before it completes: cancelled.
    let timed_out = tokio::time::timeout(Duration::from_millis(5), d.slow(10_000)).await;
    assert!(timed_out.is_err());

    let stats = registry.stats();
    let ops = &stats.plugins[0].operations;
    let counts = |name| {
        let o = op(ops, name);
        (o.calls, o.ok, o.errors, o.cancelled, o.in_flight)
    };
    assert_eq!(counts("get_later"), (2, 1, 1, 0, 0));
    assert_eq!(op(ops, "get_later").errors_by_kind.get("missing"), Some(&1));
    assert_eq!(counts("get_boxed"), (2, 1, 1, 0, 0));
    assert_eq!(counts("get_unpin"), (1, 1, 0, 0, 0));
    assert_eq!(counts("get"), (5, 3, 2, 0, 0));
    assert_eq!(counts("slow"), (2, 1, 0, 1, 0));
    let slow_max = op(ops, "slow").max.unwrap();
    assert!(slow_max >= Duration::from_millis(19), "{slow_max:?}");
    assert_eq!(counts("values_mut"), (1, 1, 0, 0, 0));
    assert_eq!(counts("name"), (1, 1, 0, 0, 0));
    assert_eq!(counts("name_elided"), (1, 1, 0, 0, 0));
    assert_eq!(counts("first_mut"), (1, 1, 0, 0, 0));
    // `checked` calls `position` once per call.
    assert_eq!(counts("position"), (4, 4, 0, 0, 0));
    assert_eq!(counts("checked"), (2, 1, 1, 0, 0));
    assert_eq!(counts("bails"), (2, 1, 1, 0, 0));
    assert_eq!(counts("iter"), (1, 1, 0, 0, 0));
    assert_eq!(counts("len"), (1, 1, 0, 0, 0));
    let never = op(ops, "never");
    assert_eq!((never.calls, never.ok, never.panics), (1, 0, 1));
}
