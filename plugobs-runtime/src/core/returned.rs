//! What a sync-looking function returned, decided by its type: a boxed future is measured
//! until it completes, any other future is a compile error, anything else ends the call.
//!
//! `#[instrumented]` sees how a return type is spelled, not what it is: `-> Self::Future`,
//! `-> BoxFuture<'_, T>` or `-> Later` may all be futures. Generated code therefore hands
//! the value its body returned to [`Returned`], and method resolution picks one of three
//! traits by the value's type (autoref specialization, as [`Probe`] classifies outcomes):
//!
//! 1. [`ViaBoxedFuture`]: `Pin<Box<dyn Future<Output = T> + 'a>>`, with or without `Send`
//!    (`futures`' `BoxFuture` and `LocalBoxFuture`, by any alias or associated type). The
//!    call goes on inside a new box of the same type, until the future completes; its
//!    output is classified, and dropping it first counts as `cancelled`.
//! 2. [`ViaFuture`]: any other future. Its type is fixed by the signature, so plugobs cannot
//!    put its measurement inside; rather than time only the building of the future, this
//!    is a compile error naming the fixes ([`UnwrappableFuture`]).
//! 3. [`ViaValue`]: anything else; the call ends here.
//!
//! [`Probe`]: crate::model::outcome::Probe

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use tracing::Span;

use crate::core::cpu::{CpuFuture, CpuSite};
use crate::core::site::{CallGuard, PendingGuard};
use crate::model::descriptor::PluginDescriptor;

/// The type of a function's return value, for the traits of this module.
pub struct Returned<R>(PhantomData<fn() -> R>);

/// The [`Returned`] marker of `value`'s type.
#[inline(always)]
pub fn returned<R>(_value: &R) -> Returned<R> {
    Returned(PhantomData)
}

/// The `cpu` site of the operation, when it measures CPU time.
pub type Cpu = Option<(&'static CpuSite, &'static PluginDescriptor)>;

/// Highest priority: a boxed `dyn Future`, measured until it completes.
pub trait ViaBoxedFuture {
    /// The future's output.
    type Output;
    /// The function's return type.
    type Ret;
    /// Wraps `ret` in a future of the same type that ends the call with `done` when `ret`
    /// completes.
    fn __plugobs_end<C>(
        &self,
        ret: Self::Ret,
        guard: CallGuard,
        key: usize,
        span: &Span,
        cpu: Cpu,
        done: C,
    ) -> Self::Ret
    where
        C: FnOnce(PendingGuard, &Span, &Self::Output) + Send + 'static;
}

/// Middle priority: any other future, which cannot be measured until it completes.
pub trait ViaFuture {
    /// The function's return type.
    type Ret;
    /// Refused at compile time: `Self::Ret` does not implement [`UnwrappableFuture`].
    fn __plugobs_end<C>(
        &self,
        ret: Self::Ret,
        guard: CallGuard,
        key: usize,
        span: &Span,
        cpu: Cpu,
        done: C,
    ) -> Self::Ret
    where
        Self::Ret: UnwrappableFuture,
        C: FnOnce(CallGuard, &Span, &Self::Ret);
}

/// Lowest priority: a value; the call ends with `done` at once.
pub trait ViaValue {
    /// The function's return type.
    type Ret;
    /// Ends the call with `done` and gives `ret` back.
    fn __plugobs_end<C>(
        &self,
        ret: Self::Ret,
        guard: CallGuard,
        key: usize,
        span: &Span,
        cpu: Cpu,
        done: C,
    ) -> Self::Ret
    where
        C: FnOnce(CallGuard, &Span, &Self::Ret);
}

/// Implemented by nothing: the bound that turns a future plugobs cannot wrap into a
/// compile error with this message.
#[diagnostic::on_unimplemented(
    message = "`#[instrumented]` cannot measure the future `{Self}` until it completes",
    label = "this returns a future whose type plugobs cannot wrap",
    note = "the call would be timed while the future is built, not while it runs; so that it is measured until it completes, return `impl Future<Output = ...>` or a boxed future (`Pin<Box<dyn Future<Output = ...> + Send + '_>>`, `futures::future::BoxFuture`), also as an associated type (`type Future = BoxFuture<'static, ...>;`)",
    note = "if the future is a value to the caller (a `JoinHandle`, a future it keeps), write `#[instrumented(value)]` on the method to measure only the call that returns it"
)]
pub trait UnwrappableFuture {}

macro_rules! boxed_future {
    ($($bounds:tt)*) => {
        impl<'a, T: 'a> ViaBoxedFuture
            for &&Returned<Pin<Box<dyn Future<Output = T> $($bounds)* + 'a>>>
        {
            type Output = T;
            type Ret = Pin<Box<dyn Future<Output = T> $($bounds)* + 'a>>;

            #[inline]
            fn __plugobs_end<C>(
                &self,
                ret: Self::Ret,
                guard: CallGuard,
                key: usize,
                span: &Span,
                cpu: Cpu,
                done: C,
            ) -> Self::Ret
            where
                C: FnOnce(PendingGuard, &Span, &T) + Send + 'static,
            {
                let span = span.clone();
                match cpu {
                    None => {
                        let call = guard.continue_in(key, ret);
                        Box::pin(async move {
                            let (guard, out) =
                                tracing::Instrument::instrument(call, span.clone()).await;
                            done(guard, &span, &out);
                            out
                        })
                    }
                    Some((site, descriptor)) => {
                        let call = guard.continue_in(key, CpuFuture::new(site, descriptor, ret));
                        Box::pin(async move {
                            let (guard, out) =
                                tracing::Instrument::instrument(call, span.clone()).await;
                            done(guard, &span, &out);
                            out
                        })
                    }
                }
            }
        }
    };
}

boxed_future!();
boxed_future!(+ Send);

impl<F: Future> ViaFuture for &Returned<F> {
    type Ret = F;

    fn __plugobs_end<C>(
        &self,
        ret: F,
        guard: CallGuard,
        _key: usize,
        span: &Span,
        _cpu: Cpu,
        done: C,
    ) -> F
    where
        F: UnwrappableFuture,
        C: FnOnce(CallGuard, &Span, &F),
    {
        done(guard, span, &ret);
        ret
    }
}

impl<R> ViaValue for Returned<R> {
    type Ret = R;

    #[inline(always)]
    fn __plugobs_end<C>(
        &self,
        ret: R,
        guard: CallGuard,
        _key: usize,
        span: &Span,
        _cpu: Cpu,
        done: C,
    ) -> R
    where
        C: FnOnce(CallGuard, &Span, &R),
    {
        done(guard, span, &ret);
        ret
    }
}
