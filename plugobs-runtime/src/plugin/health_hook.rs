//! Calling a plugin's health hook, sync or async, with or without a receiver: the adapters
//! `#[plugin(health = path)]` expands to.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::model::health::Health;

/// The boxed future of an async health hook.
pub type HealthFuture<'a> = Pin<Box<dyn Future<Output = Health> + Send + 'a>>;

/// The result of calling a health hook: finished (sync hook), a future (async hook), or
/// no hook at all.
pub enum HealthCall<'a> {
    /// The plugin has no health hook.
    NoHook,
    /// The hook returned.
    Done(Health),
    /// The hook is async; drive this.
    Pending(HealthFuture<'a>),
}

impl fmt::Debug for HealthCall<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthCall::NoHook => f.write_str("NoHook"),
            HealthCall::Done(h) => f.debug_tuple("Done").field(h).finish(),
            HealthCall::Pending(_) => f.write_str("Pending(..)"),
        }
    }
}

/// Marker: a sync health hook.
pub struct SyncHealth;
/// Marker: an async health hook.
pub struct AsyncHealth;

/// What a health hook may return: a [`Health`] or a future of one. Generated code calls
/// [`into_health_call`].
#[diagnostic::on_unimplemented(
    message = "a plugobs health hook cannot return `{Self}`",
    label = "this health hook returns `{Self}`",
    note = "write the health hook as `fn(&self) -> plugobs::Health` or `async fn(&self) -> plugobs::Health`"
)]
pub trait IntoHealthCall<'a, M> {
    /// Converts the hook's return value.
    fn into_health_call(self) -> HealthCall<'a>;
}

impl<'a> IntoHealthCall<'a, SyncHealth> for Health {
    fn into_health_call(self) -> HealthCall<'a> {
        HealthCall::Done(self)
    }
}

impl<'a, F> IntoHealthCall<'a, AsyncHealth> for F
where
    F: Future<Output = Health> + Send + 'a,
{
    fn into_health_call(self) -> HealthCall<'a> {
        HealthCall::Pending(Box::pin(self))
    }
}

/// Converts a health hook's return value; called by generated code.
pub fn into_health_call<'a, M, T: IntoHealthCall<'a, M>>(value: T) -> HealthCall<'a> {
    value.into_health_call()
}

pub use crate::plugin::signature::ByRef;
/// Marker: a health hook taking nothing (a free function checking a shared resource).
pub struct NoReceiver;

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
