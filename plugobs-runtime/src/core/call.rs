//! What every `#[instrumented]` function does, written once: generated code calls these
//! functions, so each expansion carries only what depends on its own function (its call
//! site, its span's callsite, its body and the classification of its return type).
//!
//! Without debug assertions (an optimised build) they are `#[inline(always)]`, so the hot
//! path is what it was when the expansion held this code; with them (a debug build) they
//! are plain `#[inline]`, so each is compiled once per crate instead of once per
//! instrumented function.

use tracing::callsite::{Callsite, DefaultCallsite, Identifier};
use tracing::field::{Empty, FieldSet, Value};
use tracing::level_filters::{LevelFilter, STATIC_MAX_LEVEL};
use tracing::metadata::Kind;
use tracing::{Level, Metadata, Span};

pub use crate::core::site::mark_span;
use crate::core::site::{CallGuard, OperationSite};
use crate::model::breaker::BreakerOpen;
use crate::model::descriptor::PluginDescriptor;
use crate::model::outcome::Outcome;

/// The fields of an operation's span, in this order.
pub const OPERATION_FIELDS: [&str; 5] = [
    "plugin.name",
    "plugin.kind",
    "plugin.instance",
    "error.type",
    "otel.status_code",
];

/// The metadata of an operation's span with the fields [`OPERATION_FIELDS`]; generated
/// code puts it in a `static` next to the `callsite` that refers to it.
pub const fn operation_metadata(
    name: &'static str,
    module_path: &'static str,
    level: Level,
    file: &'static str,
    line: u32,
    callsite: &'static DefaultCallsite,
) -> Metadata<'static> {
    Metadata::new(
        name,
        module_path,
        level,
        Some(file),
        Some(line),
        Some(module_path),
        FieldSet::new(&OPERATION_FIELDS, Identifier(callsite)),
        Kind::SPAN,
    )
}

/// The span of one call of `site` on the receiver `key`, at `callsite` (whose metadata
/// came from [`operation_metadata`]), with the plugin's name and kind and the instance's
/// name; disabled (and nearly free) when no subscriber wants it. What `tracing::span!`
/// does, once for every operation.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub fn operation_span(
    callsite: &'static DefaultCallsite,
    level: Level,
    site: &'static OperationSite,
    descriptor: &'static PluginDescriptor,
    key: usize,
) -> Span {
    // `level` is the span's, a constant in generated code: with no subscriber at that
    // level this is one load and a compare, before the callsite is touched.
    if !(level <= STATIC_MAX_LEVEL && level <= LevelFilter::current()) {
        return Span::none();
    }
    enabled_span(callsite, site, descriptor, key)
}

/// The span of a call whose level a subscriber may want: asks the callsite's interest.
#[inline(never)]
fn enabled_span(
    callsite: &'static DefaultCallsite,
    site: &'static OperationSite,
    descriptor: &'static PluginDescriptor,
    key: usize,
) -> Span {
    let meta = callsite.metadata();
    let interest = callsite.interest();
    let enabled = !interest.is_never()
        && (interest.is_always() || tracing::dispatcher::get_default(|d| d.enabled(meta)));
    if !enabled {
        return Span::none();
    }
    new_span(meta, site, descriptor, key)
}

/// The span itself, for a subscriber that wants it: costs far more than the call.
#[inline]
fn new_span(
    meta: &'static Metadata<'static>,
    site: &'static OperationSite,
    descriptor: &'static PluginDescriptor,
    key: usize,
) -> Span {
    let fields = meta.fields();
    let mut names = fields.iter();
    let (Some(name), Some(kind), Some(instance), Some(error_type), Some(status)) = (
        names.next(),
        names.next(),
        names.next(),
        names.next(),
        names.next(),
    ) else {
        return Span::none();
    };
    let instance_name = site.instance_name(descriptor, key);
    // The subscriber's memory, not the plugin's whose code may be calling.
    crate::core::running::outside(|| {
        Span::new(
            meta,
            &fields.value_set(&[
                (&name, Some(&descriptor.name as &dyn Value)),
                (&kind, Some(&descriptor.kind as &dyn Value)),
                (&instance, Some(&instance_name as &dyn Value)),
                (&error_type, Some(&Empty as &dyn Value)),
                (&status, Some(&Empty as &dyn Value)),
            ]),
        )
    })
}

/// Starts a call of `site` on the receiver `key` ([`key_of`](crate::core::bindings::key_of), 0
/// without a receiver).
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub fn enter(
    site: &'static OperationSite,
    descriptor: &'static PluginDescriptor,
    key: usize,
) -> CallGuard {
    site.enter(descriptor, key)
}

/// Ends a call with `outcome` where its guard is; an error also marks its span. The
/// caller forgets the guard right after (generated code: `finish_in_place(&guard, …);
/// core::mem::forget(guard)`), which keeps the guard from being copied on every call.
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub fn finish_in_place(guard: &CallGuard, span: &Span, outcome: Outcome) {
    guard.end_in_place(outcome);
    mark_span(span, outcome);
}

/// Ends a call with `outcome`; an error also marks its span ([`mark_span`]).
#[cfg_attr(debug_assertions, inline)]
#[cfg_attr(not(debug_assertions), inline(always))]
pub fn finish(guard: CallGuard, span: &Span, outcome: Outcome) {
    guard.finish(outcome);
    mark_span(span, outcome);
}

/// Runs an instrumented function's body when it holds `return` or `?` (or a macro that
/// might): as a closure, so they end the body, not the function, and the outcome is still
/// recorded. `FnOnce` matters: a closure checked as `FnOnce` may return borrows of what it
/// captured (`&mut self.field`), which an `FnMut` closure may not.
#[inline(always)]
pub fn call_once<R, F: FnOnce() -> R>(body: F) -> R {
    body()
}

/// What an operation with a circuit breaker returns when its breaker rejects a call:
/// `Result<T, E>` with `E: From<BreakerOpen>`.
#[diagnostic::on_unimplemented(
    message = "`#[instrumented(breaker)]` needs the operation to return `Result<_, E>` with `E: From<plugobs::BreakerOpen>`; it returns `{Self}`",
    label = "a rejected call must return an error here",
    note = "while the breaker is open, calls return `Err(E::from(plugobs::BreakerOpen))` without calling the plugin"
)]
pub trait Rejectable {
    /// The rejected call's return value.
    fn rejected(open: BreakerOpen) -> Self;
}

impl<T, E: From<BreakerOpen>> Rejectable for Result<T, E> {
    #[cold]
    #[inline(never)]
    fn rejected(open: BreakerOpen) -> Self {
        Err(E::from(open))
    }
}

/// The return value of a call its breaker rejected.
#[inline(always)]
pub fn reject<R: Rejectable>(open: BreakerOpen) -> R {
    R::rejected(open)
}
