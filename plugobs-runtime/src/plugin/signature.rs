//! Checking a start or stop hook's signature where `#[plugin(start = ..., stop = ...)]`
//! names it: `fn(&mut self)` or `fn(&self)`, sync or async.

use crate::plugin::hook::{HookCall, IntoHookCall, into_hook_call};

/// Marker: a hook taking `&mut self`.
pub struct ByMut;
/// Marker: a hook taking `&self`.
pub struct ByRef;

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
