//! The adapters `#[plugin]` expands a user's hooks to, one family for every kind of hook:
//! the receiver a hook takes ([`ByMut`], [`ByRef`], [`NoReceiver`]), whether it is sync
//! or async ([`SyncHook`], [`AsyncHook`]), and what it may return — all turned into the one call
//! shape, [`HookCall`]. Each kind keeps its own trait only so that a wrong hook gets a
//! message naming that kind (`#[diagnostic::on_unimplemented]` cannot vary by a type
//! parameter).

use std::fmt::Display;
use std::future::Future;

use crate::model::error::HookError;
use crate::model::health::Health;
use crate::plugin::hook::HookCall;

/// Marker: a hook taking `&mut self`.
pub struct ByMut;
/// Marker: a hook taking `&self`.
pub struct ByRef;
/// Marker: a hook taking no receiver.
pub struct NoReceiver;
/// Marker: a hook that returns its value.
pub struct SyncHook;
/// Marker: an async hook (returns a future of its value).
pub struct AsyncHook;

/// What calling a plugin's health hook gives: `None` for a plugin without one.
pub type HealthCall<'a> = Option<HookCall<'a, Health>>;

// ---- start and stop hooks

/// A function usable as a lifecycle hook of plugin `T`: it takes `&mut T` or `&T` and
/// nothing else.
#[diagnostic::on_unimplemented(
    message = "a plugobs start or stop hook takes `&mut self` or `&self` and nothing else",
    label = "this hook takes other arguments",
    note = "write the hook as `fn name(&mut self)` or `fn name(&self)`, sync or `async`, returning `()` or `Result<(), E>` where `E: Display`; keep what it needs in the plugin's fields"
)]
pub trait HookFn<'a, T: 'a, Receiver> {
    /// What the hook returns.
    type Output;
    /// Calls the hook on `plugin`.
    fn call_hook(self, plugin: &'a mut T) -> Self::Output;
}

impl<'a, T: 'a, F, R> HookFn<'a, T, ByMut> for F
where
    F: FnOnce(&'a mut T) -> R,
{
    type Output = R;
    fn call_hook(self, plugin: &'a mut T) -> R {
        self(plugin)
    }
}

impl<'a, T: 'a, F, R> HookFn<'a, T, ByRef> for F
where
    F: FnOnce(&'a T) -> R,
{
    type Output = R;
    fn call_hook(self, plugin: &'a mut T) -> R {
        self(plugin)
    }
}

/// Calls the hook `hook` on `plugin`; called by generated code.
pub fn run_hook<'a, T, Receiver, M, F>(plugin: &'a mut T, hook: F) -> HookCall<'a>
where
    F: HookFn<'a, T, Receiver>,
    F::Output: IntoHookCall<'a, M>,
{
    into_hook_call(hook.call_hook(plugin))
}

/// What a lifecycle hook may return. Generated code calls [`into_hook_call`].
#[diagnostic::on_unimplemented(
    message = "a plugobs lifecycle hook cannot return `{Self}`",
    label = "this hook returns `{Self}`",
    note = "write the hook as `fn(&mut self)` or `async fn(&mut self)` returning `()` or `Result<(), E>` where `E: Display`"
)]
pub trait IntoHookCall<'a, M> {
    /// Converts the hook's return value.
    fn into_hook_call(self) -> HookCall<'a>;
}

/// A hook's final output: `()` or `Result<(), E>`.
pub trait HookOutput {
    /// Converts to the captured result.
    fn into_result(self) -> Result<(), HookError>;
}

impl HookOutput for () {
    fn into_result(self) -> Result<(), HookError> {
        Ok(())
    }
}

impl<E: Display> HookOutput for Result<(), E> {
    fn into_result(self) -> Result<(), HookError> {
        self.map_err(|e| HookError::from_error(&e))
    }
}

impl<'a> IntoHookCall<'a, SyncHook> for () {
    fn into_hook_call(self) -> HookCall<'a> {
        HookCall::done()
    }
}

impl<'a, E: Display> IntoHookCall<'a, SyncHook> for Result<(), E> {
    fn into_hook_call(self) -> HookCall<'a> {
        HookCall::Done(self.into_result())
    }
}

impl<'a, F> IntoHookCall<'a, AsyncHook> for F
where
    F: Future + Send + 'a,
    F::Output: HookOutput,
{
    fn into_hook_call(self) -> HookCall<'a> {
        HookCall::Pending(Box::pin(async move { self.await.into_result() }))
    }
}

/// Converts a hook's return value; called by generated code.
pub fn into_hook_call<'a, M, T: IntoHookCall<'a, M>>(value: T) -> HookCall<'a> {
    value.into_hook_call()
}

// ---- health hooks

#[diagnostic::on_unimplemented(
    message = "a plugobs health hook cannot return `{Self}`",
    label = "this health hook returns `{Self}`",
    note = "write the health hook as `fn(&self) -> plugobs::Health` or `async fn(&self) -> plugobs::Health`"
)]
pub trait IntoHealthCall<'a, M> {
    /// Converts the hook's return value.
    fn into_health_call(self) -> HealthCall<'a>;
}

impl<'a> IntoHealthCall<'a, SyncHook> for Health {
    fn into_health_call(self) -> HealthCall<'a> {
        Some(HookCall::Done(self))
    }
}

impl<'a, F> IntoHealthCall<'a, AsyncHook> for F
where
    F: Future<Output = Health> + Send + 'a,
{
    fn into_health_call(self) -> HealthCall<'a> {
        Some(HookCall::Pending(Box::pin(self)))
    }
}

/// Converts a health hook's return value; called by generated code.
pub fn into_health_call<'a, M, T: IntoHealthCall<'a, M>>(value: T) -> HealthCall<'a> {
    value.into_health_call()
}

/// A function usable as the health hook of plugin `T`: it takes `&T` (or nothing) and
/// returns [`Health`], sync or async.
#[diagnostic::on_unimplemented(
    message = "a plugobs health hook takes `&self` and nothing else",
    label = "this health hook has another signature",
    note = "write the health hook as `fn check(&self) -> plugobs::Health` or `async fn check(&self) -> plugobs::Health`; keep what it needs in the plugin's fields (behind a lock or an atomic: the instance is shared with the checker)"
)]
pub trait HealthFn<'a, T: 'a, Receiver> {
    /// What the hook returns.
    type Output;
    /// Calls the hook on `plugin`.
    fn call_health(self, plugin: &'a T) -> Self::Output;
}

impl<'a, T: 'a, F, R> HealthFn<'a, T, ByRef> for F
where
    F: FnOnce(&'a T) -> R,
{
    type Output = R;
    fn call_health(self, plugin: &'a T) -> R {
        self(plugin)
    }
}

impl<'a, T: 'a, F, R> HealthFn<'a, T, NoReceiver> for F
where
    F: FnOnce() -> R,
{
    type Output = R;
    fn call_health(self, _plugin: &'a T) -> R {
        self()
    }
}

/// Calls the health hook `hook` on `plugin`; called by generated code.
pub fn run_health<'a, T, Receiver, M, F>(plugin: &'a T, hook: F) -> HealthCall<'a>
where
    F: HealthFn<'a, T, Receiver>,
    F::Output: IntoHealthCall<'a, M>,
{
    into_health_call(hook.call_health(plugin))
}
