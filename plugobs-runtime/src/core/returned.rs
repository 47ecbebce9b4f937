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
use crate::core::site::CallGuard;
use crate::model::descriptor::PluginDescriptor;
use crate::model::outcome::Outcome;

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
    /// False: the call goes on in the future.
    fn __plugobs_is_value(&self) -> bool {
        false
    }
    /// Wraps `ret` in a future of the same type that ends the call with the outcome
    /// `classify` gives its output when `ret` completes.
    fn __plugobs_end<C>(
        &self,
        ret: Self::Ret,
        guard: CallGuard,
        key: usize,
        span: &Span,
        cpu: Cpu,
        classify: C,
    ) -> Self::Ret
    where
        C: Fn(&Span, &Self::Output) -> Outcome + Send + 'static;
}

/// Middle priority: any other future, which cannot be measured until it completes.
pub trait ViaFuture {
    /// The function's return type.
    type Ret;
    /// False: [`ViaFuture::__plugobs_end`] refuses it.
    fn __plugobs_is_value(&self) -> bool {
        false
    }
    /// Refused at compile time: `Self::Ret` does not implement [`UnwrappableFuture`].
    fn __plugobs_end<C>(
        &self,
        ret: Self::Ret,
        guard: CallGuard,
        key: usize,
        span: &Span,
        cpu: Cpu,
        classify: C,
    ) -> Self::Ret
    where
        Self::Ret: UnwrappableFuture,
        C: Fn(&Span, &Self::Ret) -> Outcome;
}

/// Lowest priority: a value; the call ends with `done` at once.
pub trait ViaValue {
    /// The function's return type.
    type Ret;
    /// True: generated code ends the call where it is, without calling
    /// [`ViaValue::__plugobs_end`].
    #[inline(always)]
    fn __plugobs_is_value(&self) -> bool {
        true
    }
    /// Ends the call with the outcome `classify` gives `ret`, and gives `ret` back.
    fn __plugobs_end<C>(
        &self,
        ret: Self::Ret,
        guard: CallGuard,
        key: usize,
        span: &Span,
        cpu: Cpu,
        classify: C,
    ) -> Self::Ret
    where
        C: Fn(&Span, &Self::Ret) -> Outcome;
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
                classify: C,
            ) -> Self::Ret
            where
                C: Fn(&Span, &T) -> Outcome + Send + 'static,
            {
                match cpu {
                    None => Box::pin(guard.continue_in(key, span.clone(), ret, classify)),
                    Some((site, descriptor)) => Box::pin(guard.continue_in(
                        key,
                        span.clone(),
                        CpuFuture::new(site, descriptor, ret),
                        classify,
                    )),
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
        classify: C,
    ) -> F
    where
        F: UnwrappableFuture,
        C: Fn(&Span, &F) -> Outcome,
    {
        let outcome = classify(span, &ret);
        crate::core::call::finish(guard, span, outcome);
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
        classify: C,
    ) -> R
    where
        C: Fn(&Span, &R) -> Outcome,
    {
        let outcome = classify(span, &ret);
        crate::core::call::finish(guard, span, outcome);
        ret
    }
}
