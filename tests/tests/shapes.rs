//! Every function shape `#[instrumented]` accepts, each checked for its recorded calls.

mod common;

use std::pin::Pin;
use std::sync::Arc;

use plugobs::{OperationStats, Plugin, Registry};

#[derive(Debug, PartialEq, plugobs::ErrorKind)]
pub enum ShapeError {
    TooBig,
    Parse(String),
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

#[plugobs::plugin(kind = "shapes")]
#[derive(Default)]
pub struct Shapes {
    counter: u32,
}

fn parse(s: &str) -> Result<u32, ShapeError> {
    s.parse().map_err(|_| ShapeError::Parse(s.to_owned()))
}

#[plugobs::instrumented]
impl Shapes {
    fn by_ref(&self, x: u32) -> u32 {
        x + self.counter
    }

    fn by_mut(&mut self) -> u32 {
        self.counter += 1;
        self.counter
    }

    fn by_value(self) -> u32 {
        self.counter
    }

    fn by_arc(self: Arc<Self>) -> u32 {
        self.counter
    }

    fn by_pin(self: Pin<&mut Self>) -> u32 {
        self.counter
    }

    fn generic<T>(&self, value: T) -> u64
    where
        T: Into<u64> + Copy,
    {
        value.into()
    }

    /// # Safety
    /// None needed; this only checks that `unsafe fn` keeps its signature.
    unsafe fn unsafe_op(&self, p: *const u32) -> u32 {
        // SAFETY: callers pass a valid pointer.
        unsafe { *p }
    }

    fn early_return(&self, s: &str) -> Result<u32, ShapeError> {
        let n = parse(s)?;
        if n > 100 {
            return Err(ShapeError::TooBig);
        }
        Ok(n)
    }

    fn borrowed<'a>(&self, s: &'a str) -> &'a str {
        s.trim()
    }

    fn elided(&self, s: &str) -> usize {
        s.len()
    }

    fn returns_impl(&self) -> impl std::fmt::Display {
        self.counter
    }

    #[instrumented(name = "renamed", level = "info", fields(x, doubled = x * 2), err)]
    fn options(&self, x: u32) -> Result<u32, ShapeError> {
        if x == 0 {
            Err(ShapeError::TooBig)
        } else {
            Ok(x)
        }
    }

    #[instrumented(skip)]
    fn skipped(&self) -> u32 {
        7
    }

    async fn async_fn(&self, s: &str) -> Result<u32, ShapeError> {
        tokio::task::yield_now().await;
        let n = parse(s)?;
        Ok(n)
    }

    fn impl_future(
        &self,
        s: String,
    ) -> impl std::future::Future<Output = Result<u32, ShapeError>> + '_ {
        let trimmed = s.trim().to_owned();
        async move {
            tokio::task::yield_now().await;
            parse(&trimmed).map(|n| n + self.counter)
        }
    }

    fn assoc_no_self() -> u32 {
        3
    }
}

// A single method, in an impl block that is not instrumented.
impl Shapes {
    #[plugobs::instrumented(name = "single")]
    fn single_method(&self) -> u32 {
        self.counter + 100
    }

    fn not_instrumented(&self) -> u32 {
        self.counter
    }
}

#[plugobs::instrumented(plugin = Shapes)]
fn free_function(a: u32, b: u32) -> u32 {
    a * b
}

fn op<'a>(stats: &'a [OperationStats], name: &str) -> &'a OperationStats {
    stats
        .iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("no operation {name}"))
}

#[tokio::test]
async fn every_shape_records_exactly_its_calls() {
    let registry = Registry::from_descriptors([Shapes::DESCRIPTOR]).unwrap();
    let mut s = Shapes::default();
    assert_eq!(s.by_ref(1), 1);
    assert_eq!(s.by_mut(), 1);
    assert_eq!(Shapes { counter: 4 }.by_value(), 4);
    assert_eq!(Arc::new(Shapes { counter: 5 }).by_arc(), 5);
    let mut pinned = Shapes { counter: 6 };
    assert_eq!(Pin::new(&mut pinned).by_pin(), 6);
    assert_eq!(s.generic(9u8), 9);
    let v = 11;
    // SAFETY: a valid pointer.
    assert_eq!(unsafe { s.unsafe_op(&v) }, 11);
    assert_eq!(s.early_return("5"), Ok(5));
    assert_eq!(s.early_return("500"), Err(ShapeError::TooBig));
    assert_eq!(s.early_return("x"), Err(ShapeError::Parse("x".into())));
    assert_eq!(s.borrowed("  a "), "a");
    assert_eq!(s.elided("abc"), 3);
    assert_eq!(s.returns_impl().to_string(), "1");
    assert_eq!(s.options(2), Ok(2));
    assert_eq!(s.options(0), Err(ShapeError::TooBig));
    assert_eq!(s.skipped(), 7);
    assert_eq!(s.async_fn("8").await, Ok(8));
    assert_eq!(s.async_fn("y").await, Err(ShapeError::Parse("y".into())));
    assert_eq!(s.impl_future(" 2 ".into()).await, Ok(3));
    assert_eq!(Shapes::assoc_no_self(), 3);
    assert_eq!(free_function(3, 4), 12);
    assert_eq!(s.single_method(), 101);
    assert_eq!(s.not_instrumented(), 1);

    let stats = registry.stats();
    let ops = &stats.plugins[0].operations;
    let calls = |name| op(ops, name).calls;
    for (name, n) in [
        ("by_ref", 1),
        ("by_mut", 1),
        ("by_value", 1),
        ("by_arc", 1),
        ("by_pin", 1),
        ("generic", 1),
        ("unsafe_op", 1),
        ("early_return", 3),
        ("borrowed", 1),
        ("elided", 1),
        ("returns_impl", 1),
        ("renamed", 2),
        ("async_fn", 2),
        ("impl_future", 1),
        ("assoc_no_self", 1),
        ("free_function", 1),
        ("single", 1),
    ] {
        assert_eq!(calls(name), n, "{name}");
    }
    assert!(
        ops.iter()
            .all(|o| o.name != "skipped" && o.name != "options")
    );
    let early = op(ops, "early_return");
    assert_eq!((early.ok, early.errors), (1, 2));
    assert_eq!(early.errors_by_kind.get("too_big"), Some(&1));
    assert_eq!(early.errors_by_kind.get("parse"), Some(&1));
    assert_eq!(op(ops, "async_fn").errors_by_kind.get("parse"), Some(&1));
    assert_eq!(op(ops, "renamed").errors, 1);
    assert!(
        ops.iter()
            .all(|o| o.in_flight == 0 && o.panics == 0 && o.cancelled == 0)
    );
}
