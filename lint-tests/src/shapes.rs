//! `#[instrumented]` on every body and signature shape, `derive(ErrorKind)` and the
//! custom-metric macros.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A boxed future that is `Send`, as `futures::future::BoxFuture`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A boxed future, as `futures::future::LocalBoxFuture`.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// An error with a kind per variant.
#[derive(Debug, PartialEq, Eq, plugobs::ErrorKind)]
pub enum ShapeError {
    /// Too big.
    TooBig,
    /// Not a number.
    Parse(String),
    /// Its circuit breaker is open.
    Unavailable,
}

impl From<plugobs::BreakerOpen> for ShapeError {
    fn from(_: plugobs::BreakerOpen) -> Self {
        Self::Unavailable
    }
}

impl std::fmt::Display for ShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl std::error::Error for ShapeError {}

fn parse(s: &str) -> Result<u32, ShapeError> {
    s.parse().map_err(|_| ShapeError::Parse(s.to_owned()))
}

/// A plugin whose operations have circuit breakers, on every shape a breaker takes.
#[plugobs::plugin(kind = "shapes")]
#[derive(Debug, Default)]
pub struct Guarded(pub u32);

#[plugobs::instrumented(breaker(consecutive = 3, open_for = "10s"), err)]
impl Guarded {
    /// Sync, with an early return.
    pub fn write(&self, s: &str) -> Result<u32, ShapeError> {
        if s.is_empty() {
            return Err(ShapeError::TooBig);
        }
        parse(s).map(|n| n + self.0)
    }

    /// `async fn` that cannot suspend.
    pub async fn ready(&self, s: &str) -> Result<u32, ShapeError> {
        let n = parse(s)?;
        Ok(n + self.0)
    }

    /// `async fn` that awaits.
    #[instrumented(breaker(failure_ratio = "50%", window = "30s", min_calls = 10, probes = 2))]
    pub async fn awaiting(&self, s: String) -> Result<u32, ShapeError> {
        std::future::ready(()).await;
        parse(&s)
    }

    /// A tail `async move` block.
    pub fn tail(&self, s: String) -> impl Future<Output = Result<u32, ShapeError>> + '_ {
        async move { parse(&s).map(|n| n + self.0) }
    }
}

/// A plugin whose methods take every shape.
#[plugobs::plugin(kind = "shapes", objective = "99.5%", latency = "1s")]
#[derive(Debug, Default)]
pub struct Shapes(pub u32);

#[plugobs::instrumented]
impl Shapes {
    /// One line.
    pub fn id(&self) -> u32 {
        self.0
    }

    /// One line, as written (rustfmt would spread it over three).
    #[rustfmt::skip]
    pub fn one_line(&self) -> u32 { self.0 }

    /// One line, a `Result`.
    #[rustfmt::skip]
    pub fn one_line_result(&self, s: &str) -> Result<u32, ShapeError> { parse(s) }

    /// Several statements.
    pub fn multi_line(&self, x: u32) -> u32 {
        let doubled = x * 2;
        let more = doubled + self.0;
        more + 1
    }

    /// No return value.
    pub fn unit(&self) {}

    /// Always panics: `todo!`.
    pub fn todo(&self) -> u32 {
        todo!()
    }

    /// Always panics: `unimplemented!`.
    pub fn unimplemented(&self) -> u32 {
        unimplemented!()
    }

    /// Always panics: `panic!`.
    pub fn panics(&self) -> u32 {
        panic!("always")
    }

    /// Always panics, with no return type.
    pub fn panics_unit(&self) {
        panic!("always")
    }

    /// Never returns.
    pub fn spins(&self) -> u32 {
        loop {
            std::thread::park();
        }
    }

    /// Never returns, as its signature says.
    pub fn never(&self) -> ! {
        panic!("never")
    }

    /// `?` and `return`.
    pub fn fallible(&self, s: &str) -> Result<u32, ShapeError> {
        let n = parse(s)?;
        if n > 100 {
            return Err(ShapeError::TooBig);
        }
        Ok(n + self.0)
    }

    /// `?` only, one line.
    pub fn just_try(&self, s: &str) -> Result<u32, ShapeError> {
        Ok(parse(s)? + 1)
    }

    /// Options.
    #[instrumented(name = "renamed", level = "info", fields(x, doubled = x * 2), err, cpu)]
    pub fn options(&self, x: u32) -> Result<u32, ShapeError> {
        if x == 0 {
            Err(ShapeError::TooBig)
        } else {
            Ok(x)
        }
    }

    /// Objectives and sampled timing.
    #[instrumented(objective = "99.9%", latency = "250ms", sample = 16, err)]
    pub fn sampled(&self, x: u32) -> Result<u32, ShapeError> {
        if x == 0 {
            Err(ShapeError::TooBig)
        } else {
            Ok(x)
        }
    }

    /// The same, `async fn`.
    #[instrumented(objective = "99%", sample = 4, err)]
    pub async fn sampled_async(&self, x: u32) -> Result<u32, ShapeError> {
        if x == 0 {
            Err(ShapeError::TooBig)
        } else {
            Ok(x)
        }
    }

    /// Left alone.
    #[instrumented(skip)]
    pub fn skipped(&self) -> u32 {
        7
    }

    /// `async fn`.
    pub async fn async_fn(&self, s: &str) -> Result<u32, ShapeError> {
        let n = parse(s)?;
        Ok(n + self.0)
    }

    /// `async fn`, one line.
    pub async fn async_id(&self) -> u32 {
        self.0
    }

    /// `async fn` that always panics.
    pub async fn async_todo(&self) -> u32 {
        todo!()
    }

    /// `-> impl Future`, ending in an `async move` block.
    pub fn impl_future(&self, s: String) -> impl Future<Output = Result<u32, ShapeError>> + '_ {
        let trimmed = s.trim().to_owned();
        async move { parse(&trimmed).map(|n| n + self.0) }
    }

    /// `-> impl Future`, delegating.
    pub fn delegating(&self) -> impl Future<Output = u32> + '_ {
        self.async_id()
    }

    /// A boxed future.
    pub fn boxed(&self) -> Pin<Box<dyn Future<Output = u32> + Send + '_>> {
        Box::pin(async move { self.0 })
    }

    /// A boxed future under an alias, built without `async` in the body: measured as
    /// the future (decided by its type).
    pub fn aliased_box(&self, s: String) -> BoxFuture<'_, Result<u32, ShapeError>> {
        let fut = async move { parse(&s).map(|n| n + self.0) };
        Box::pin(fut)
    }

    /// A boxed future without `Send`, one line.
    pub fn local_box(&self) -> LocalBoxFuture<'_, u32> {
        Box::pin(self.async_id())
    }

    /// A named future, declared a value.
    #[instrumented(value)]
    pub fn ready(&self) -> std::future::Ready<u32> {
        std::future::ready(self.0)
    }

    /// Generic, with `where`.
    pub fn generic<T>(&self, value: T) -> u64
    where
        T: Into<u64> + Copy,
    {
        value.into() + u64::from(self.0)
    }

    /// Generic over a lifetime used twice.
    pub fn borrowed<'a>(&self, s: &'a str) -> &'a str {
        s.trim()
    }

    /// `&mut self`.
    pub fn by_mut(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }

    /// `self`.
    pub fn by_value(self) -> u32 {
        self.0
    }

    /// `mut self`.
    pub fn by_mut_value(mut self) -> u32 {
        self.0 += 1;
        self.0
    }

    /// `self: Box<Self>`.
    pub fn by_box(self: Box<Self>) -> Box<Self> {
        self
    }

    /// `self: Arc<Self>`.
    pub fn by_arc(self: Arc<Self>) -> u32 {
        self.0
    }

    /// `self: Pin<&mut Self>`.
    pub fn by_pin(self: Pin<&mut Self>) -> u32 {
        self.0
    }

    /// No receiver.
    pub fn no_receiver() -> u32 {
        3
    }

    /// Custom metrics.
    pub fn lookup(&self, hit: bool) {
        let status = if hit { "hit" } else { "miss" };
        plugobs::counter!(Self, "lookups", "status" => status).increment(1);
        plugobs::gauge!(Self, "entries").set(f64::from(self.0));
        plugobs::histogram!(Self, "lookup_seconds").record(0.5);
    }
}

/// A method of its own, in an impl block that is not instrumented.
impl Shapes {
    /// One line.
    #[plugobs::instrumented(name = "single")]
    pub fn single(&self) -> u32 {
        self.0
    }

    /// Always panics.
    #[plugobs::instrumented]
    pub fn single_todo(&self) -> u32 {
        todo!()
    }
}

/// A free function.
#[plugobs::instrumented(plugin = Shapes)]
pub fn free_function(a: u32, b: u32) -> u32 {
    a * b
}

/// A free function on one line.
#[plugobs::instrumented(plugin = Shapes)]
#[rustfmt::skip]
pub fn free_one_line(a: u32) -> u32 { a + 1 }

/// A free function that always panics.
#[plugobs::instrumented(plugin = Shapes)]
pub fn free_todo() -> u32 {
    unimplemented!()
}

/// A free `async fn`.
#[plugobs::instrumented(plugin = Shapes)]
pub async fn free_async(a: u32) -> u32 {
    a
}

/// A trait implemented with async-trait.
#[async_trait::async_trait]
pub trait Fetch: Send + Sync {
    /// Fetches.
    async fn fetch(&self, key: &str) -> Result<usize, ShapeError>;
    /// Always panics.
    async fn todo(&self) -> usize;
}

/// `#[instrumented]` above `#[async_trait]`.
#[plugobs::plugin(provides = dyn Fetch)]
#[derive(Debug, Default)]
pub struct Above;

#[plugobs::instrumented]
#[async_trait::async_trait]
impl Fetch for Above {
    async fn fetch(&self, key: &str) -> Result<usize, ShapeError> {
        Ok(key.len())
    }

    async fn todo(&self) -> usize {
        todo!()
    }
}

/// `#[instrumented]` below `#[async_trait]`.
#[plugobs::plugin(provides = dyn Fetch)]
#[derive(Debug, Default)]
pub struct Below;

#[async_trait::async_trait]
#[plugobs::instrumented]
impl Fetch for Below {
    async fn fetch(&self, key: &str) -> Result<usize, ShapeError> {
        let n = parse(key)?;
        Ok(n as usize)
    }

    async fn todo(&self) -> usize {
        unimplemented!()
    }
}

/// A trait implemented by hand.
pub trait Transform {
    /// Transforms.
    fn apply(&self, x: u32) -> u32;
}

#[plugobs::instrumented]
impl Transform for Shapes {
    fn apply(&self, x: u32) -> u32 {
        x + self.0
    }
}

/// tower's `Service` shape: the future is an associated type.
pub trait Call {
    /// What a call returns.
    type Future: Future<Output = Result<u32, ShapeError>>;
    /// Starts a call.
    fn call(&self, s: String) -> Self::Future;
}

#[plugobs::instrumented]
impl Call for Shapes {
    type Future = BoxFuture<'static, Result<u32, ShapeError>>;

    fn call(&self, s: String) -> Self::Future {
        let base = self.0;
        Box::pin(async move { parse(&s).map(|n| n + base) })
    }
}
