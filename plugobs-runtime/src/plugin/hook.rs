//! Calling constructors and lifecycle hooks, sync or async, with panics caught.
//!
//! Hooks may be plain functions or `async`; plugobs never picks an async runtime for the
//! host. An async hook yields a [`HookCall::Pending`] future that the `*_async` lifecycle
//! methods await on the host's runtime, and that the blocking methods drive on the calling
//! thread with a minimal parking executor ([`block_on`]).

use std::fmt::Display;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::model::config::InstanceConfig;
use crate::model::error::HookError;

/// The boxed future of an async hook: a lifecycle hook's result by default, or a health
/// hook's [`Health`](crate::Health).
pub type HookFuture<'a, T = Result<(), HookError>> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The result of calling a hook: finished (sync hook), or a future to await (async hook).
/// Lifecycle hooks (constructors aside) give a `HookCall<'_>` of their result; health
/// hooks a [`HealthCall`](crate::plugin::adapters::HealthCall), a `HookCall` of
/// their [`Health`](crate::Health).
pub enum HookCall<'a, T = Result<(), HookError>> {
    /// The hook ran to completion.
    Done(T),
    /// The hook is async; await this.
    Pending(HookFuture<'a, T>),
}

impl<T: std::fmt::Debug> std::fmt::Debug for HookCall<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookCall::Done(r) => f.debug_tuple("Done").field(r).finish(),
            HookCall::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

impl<'a, T> HookCall<'a, T> {
    /// Drives the hook to its end on this thread with [`block_on`] (no runtime checks);
    /// a panic inside the future becomes an error.
    pub(crate) fn block_caught(self) -> Result<T, HookError> {
        match self {
            HookCall::Done(r) => Ok(r),
            HookCall::Pending(fut) => block_on(CatchUnwind(fut)),
        }
    }
}

impl<'a> HookCall<'a> {
    /// A hook that did nothing and succeeded.
    pub fn done() -> Self {
        HookCall::Done(Ok(()))
    }

    /// Waits for the hook on the current thread; panics inside the future become errors.
    ///
    /// With the `tokio` feature, an async hook is refused inside a current-thread tokio
    /// runtime instead of hanging, and waited for in `block_in_place` inside a multi-thread
    /// one.
    pub fn wait(self) -> Result<(), HookError> {
        match self {
            HookCall::Done(r) => r,
            HookCall::Pending(fut) => wait_blocking(async { CatchUnwind(fut).await? }),
        }
    }

    /// Awaits the hook; panics inside the future become errors.
    pub async fn finish(self) -> Result<(), HookError> {
        match self {
            HookCall::Done(r) => r,
            HookCall::Pending(fut) => CatchUnwind(fut).await?,
        }
    }
}

/// Calls `f` (which starts a hook), turning a panic into a [`HookError`].
pub(crate) fn call_catching<'a>(f: impl FnOnce() -> HookCall<'a>) -> HookCall<'a> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(call) => call,
        Err(payload) => HookCall::Done(Err(HookError::from_panic(&*payload))),
    }
}

/// Polls a hook future, turning a panic into a [`HookError`].
struct CatchUnwind<'a, T>(HookFuture<'a, T>);

impl<T> Future for CatchUnwind<'_, T> {
    type Output = Result<T, HookError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = &mut self.0;
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(poll) => poll.map(Ok),
            Err(payload) => Poll::Ready(Err(HookError::from_panic(&*payload))),
        }
    }
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives a future to completion on the current thread, parking between polls.
///
/// This is what the blocking lifecycle methods use for async hooks. Hooks that need a
/// specific runtime's reactor (tokio I/O or timers, say) must be run with the `*_async`
/// methods from inside that runtime instead.
///
///
/// # Blocking inside an async runtime
///
/// A hook that needs its runtime's reactor (tokio's timers or I/O, even
/// `tokio::task::yield_now`) only makes progress while that runtime runs. Inside a
/// current-thread tokio runtime (what `#[tokio::test]` gives), the thread a blocking
/// method would park is the only one that can run it, so waiting would hang forever. With
/// the `tokio` feature, the blocking methods look at the calling thread first
/// (`tokio::runtime::Handle::try_current()` and its flavor):
///
/// - no runtime: the hook is driven here, as without the feature;
/// - a current-thread runtime: an async hook is refused, without being polled, with a
///   [`HookError`] whose [`is_blocked_runtime`](HookError::is_blocked_runtime) is true
///   (reason `cancelled`); sync hooks still run. Await the `*_async` methods there;
/// - a multi-thread runtime: the hook is driven inside `tokio::task::block_in_place`, so
///   the worker's other tasks move to another thread and the runtime keeps running.
///
/// This also refuses a blocking call from `spawn_blocking` inside a current-thread runtime,
/// which could have worked: tokio does not say whether this thread is the one driving it.
/// Without the feature nothing can be detected; a blocking wait that sees no progress for
/// ten seconds logs a warning saying why it may never finish.
///
/// ```
/// assert_eq!(plugobs_runtime::block_on(async { 40 + 2 }), 42);
/// ```
pub fn block_on<F: Future>(fut: F) -> F::Output {
    drive(fut, None)
}

/// How long a blocking wait for a hook may see no progress before it logs a warning.
const SLOW_HOOK: Duration = Duration::from_secs(10);

/// Polls `fut` on this thread until it is ready, parking in between. With `warn_after`,
/// logs one warning once the future has been pending that long.
fn drive<F: Future>(fut: F, warn_after: Option<Duration>) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let began = Instant::now();
    let mut warn_after = warn_after;
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        match warn_after {
            None => std::thread::park(),
            Some(limit) => {
                let waited = began.elapsed();
                if waited < limit {
                    std::thread::park_timeout(limit - waited);
                } else {
                    tracing::warn!(
                        waited_seconds = waited.as_secs_f64(),
                        "an async lifecycle hook is still pending in a blocking plugobs call; \
                         if this thread runs an async runtime (a current-thread tokio runtime, \
                         say), the hook can never finish: await the `_async` method instead, or \
                         enable plugobs' `tokio` feature to get an error"
                    );
                    warn_after = None;
                }
            }
        }
    }
}

/// Waits for a hook's future on this thread, as [`HookCall::wait`] describes.
fn wait_blocking<F: Future<Output = Result<(), HookError>>>(fut: F) -> Result<(), HookError> {
    #[cfg(feature = "tokio")]
    {
        use tokio::runtime::{Handle, RuntimeFlavor};
        if let Ok(handle) = Handle::try_current() {
            return match handle.runtime_flavor() {
                RuntimeFlavor::CurrentThread => Err(HookError::blocked_runtime()),
                // `block_in_place` refuses (panics, before running anything) only where
                // blocking is not allowed at all, e.g. a `LocalSet` off the runtime's
                // threads; that is reported as the hook's failure, never unwound further.
                _ => catch_unwind(AssertUnwindSafe(|| {
                    tokio::task::block_in_place(|| drive(fut, Some(SLOW_HOOK)))
                }))
                .unwrap_or_else(|payload| Err(HookError::from_panic(&*payload))),
            };
        }
    }
    drive(fut, Some(SLOW_HOOK))
}

/// Marker: a constructor returning `Self`.
pub struct Infallible;
/// Marker: a constructor returning `Result<Self, E>`.
pub struct Fallible;

/// What a constructor (`new = path`) may return for plugin `T`.
#[diagnostic::on_unimplemented(
    message = "a plugobs constructor for `{T}` cannot return `{Self}`",
    label = "this constructor returns `{Self}`",
    note = "`new = path` must name a `fn() -> {T}` or a `fn() -> Result<{T}, E>` where `E: Display`, or with plugobs' `serde` feature the same taking the instance's configuration, `fn(Config) -> …` where `Config: serde::Deserialize`"
)]
pub trait IntoInstance<T, M> {
    /// Converts the constructor's return value.
    fn into_instance(self) -> Result<T, HookError>;
}

impl<T> IntoInstance<T, Infallible> for T {
    fn into_instance(self) -> Result<T, HookError> {
        Ok(self)
    }
}

impl<T, E: Display> IntoInstance<T, Fallible> for Result<T, E> {
    fn into_instance(self) -> Result<T, HookError> {
        self.map_err(|e| HookError::from_error(&e))
    }
}

/// Converts a constructor's return value; called by generated code.
pub fn into_instance<T, M, V: IntoInstance<T, M>>(value: V) -> Result<T, HookError> {
    value.into_instance()
}

/// A plugin type plugobs can construct without `new = path`: any `T: Default`.
#[diagnostic::on_unimplemented(
    message = "plugobs cannot construct `{Self}`: it has no `new = ...` and does not implement `Default`",
    label = "this plugin has no constructor",
    note = "derive or implement `Default` for `{Self}`, or name a constructor with `#[plugin(new = path)]`"
)]
pub trait DefaultConstructor: Sized {
    /// Builds the default value.
    fn construct_default() -> Self;
}

impl<T: Default> DefaultConstructor for T {
    fn construct_default() -> Self {
        T::default()
    }
}

/// Constructs `T` with `Default`; called by generated code. A plugin without
/// `new = path` takes no configuration, so it accepts only an empty one.
pub fn default_instance<T: DefaultConstructor>(
    config: Option<InstanceConfig>,
) -> Result<T, HookError> {
    InstanceConfig::expect_empty(config.as_ref()).map_err(|e| HookError::config(&e))?;
    Ok(T::construct_default())
}

/// Marker: a constructor that takes no configuration.
pub struct NoConfig;
/// Marker: a constructor that takes its instance's configuration, of type `C`.
pub struct WithConfig<C>(std::marker::PhantomData<C>);

/// How many arguments `new = path` takes, and of which type: [`NoConfig`] for `fn()`,
/// [`WithConfig<C>`] for `fn(C)`. Implemented for every such function whatever `C`, so
/// that the marker is known before `C` is checked: a `C` without `Deserialize` is then
/// reported as such, at the constructor's path, and a constructor returning the wrong
/// type as that ([`IntoInstance`]).
pub trait Arity<A> {}

impl<F: FnOnce() -> R, R> Arity<NoConfig> for F {}

impl<F: FnOnce(C) -> R, C, R> Arity<WithConfig<C>> for F {}

/// The argument a constructor of arity `Self` takes: `()` for [`NoConfig`], `C` for
/// [`WithConfig<C>`].
pub trait ArgValue {
    /// The constructor's argument.
    type Value;
}

impl ArgValue for NoConfig {
    type Value = ();
}

impl<C> ArgValue for WithConfig<C> {
    type Value = C;
}

/// What a constructor's argument is read from: nothing ([`NoConfig`], which accepts only
/// an empty configuration) or (feature `serde`) the instance's configuration.
#[diagnostic::on_unimplemented(
    message = "a plugobs constructor that takes an argument needs plugobs' `serde` feature",
    label = "this constructor takes an argument: its instance's configuration",
    note = "enable the feature (`plugobs = {{ version = \"..\", features = [\"serde\"] }}`), or name a constructor without arguments"
)]
pub trait ConfigArg: ArgValue {
    /// Reads the argument from the instance's configuration.
    fn decode(config: Option<InstanceConfig>) -> Result<Self::Value, HookError>;
}

impl ConfigArg for NoConfig {
    fn decode(config: Option<InstanceConfig>) -> Result<(), HookError> {
        InstanceConfig::expect_empty(config.as_ref()).map_err(|e| HookError::config(&e))
    }
}

#[cfg(feature = "serde")]
impl<C: serde::de::DeserializeOwned> ConfigArg for WithConfig<C> {
    fn decode(config: Option<InstanceConfig>) -> Result<C, HookError> {
        config
            .unwrap_or_else(InstanceConfig::empty)
            .decode::<C>()
            .map_err(|e| HookError::config(&e))
    }
}

/// What `new = path` may name for plugin `T`: a function taking nothing, or (feature
/// `serde`) the instance's configuration, and returning `T` or `Result<T, E>`. `A` is
/// its [`Arity`], `M` the [`IntoInstance`] marker of what it returns.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot construct the plugin `{T}`",
    label = "not a plugobs constructor",
    note = "`new = path` must name a `fn() -> {T}` or `fn() -> Result<{T}, E>` (`E: Display`), or, with plugobs' `serde` feature, a `fn(Config) -> {T}` or `fn(Config) -> Result<{T}, E>` taking the instance's configuration, where `Config: serde::Deserialize`"
)]
pub trait Constructor<T, A: ArgValue, M> {
    /// Runs the constructor with its argument.
    fn call(self, value: A::Value) -> Result<T, HookError>;
}

impl<T, F, R, M> Constructor<T, NoConfig, M> for F
where
    F: FnOnce() -> R,
    R: IntoInstance<T, M>,
{
    fn call(self, (): ()) -> Result<T, HookError> {
        self().into_instance()
    }
}

impl<T, F, C, R, M> Constructor<T, WithConfig<C>, M> for F
where
    F: FnOnce(C) -> R,
    R: IntoInstance<T, M>,
{
    fn call(self, value: C) -> Result<T, HookError> {
        self(value).into_instance()
    }
}

/// Runs the constructor `new` with the instance's configuration; called by generated
/// code.
pub fn construct<T, A, M, F>(new: F, config: Option<InstanceConfig>) -> Result<T, HookError>
where
    F: Arity<A> + Constructor<T, A, M>,
    A: ConfigArg,
{
    new.call(A::decode(config)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// Pending until another thread, started on the first poll, sets the flag after
    /// `delay` and wakes the waker.
    struct WokenLater {
        done: Arc<AtomicBool>,
        delay: Duration,
        started: bool,
    }

    impl Future for WokenLater {
        type Output = u32;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<u32> {
            if self.done.load(Ordering::Acquire) {
                return Poll::Ready(7);
            }
            if !self.started {
                self.started = true;
                let (done, delay, waker) = (self.done.clone(), self.delay, cx.waker().clone());
                std::thread::spawn(move || {
                    std::thread::sleep(delay);
                    done.store(true, Ordering::Release);
                    waker.wake();
                });
            }
            Poll::Pending
        }
    }

    #[test]
    fn a_wait_past_the_warning_limit_still_finishes() {
        let fut = WokenLater {
            done: Arc::new(AtomicBool::new(false)),
            delay: Duration::from_millis(30),
            started: false,
        };
        assert_eq!(drive(fut, Some(Duration::from_millis(1))), 7);
    }

    #[test]
    fn a_panicking_async_hook_is_an_error_not_an_unwind() {
        let call = HookCall::Pending(Box::pin(async { panic!("hook exploded") }));
        let err = call.wait().unwrap_err();
        assert!(err.panicked());
        assert_eq!(err.message(), "hook exploded");
    }
}
