//! Procedural macros of [plugobs](https://docs.rs/plugobs). Use them through the `plugobs`
//! crate, which re-exports them and the runtime they expand to.
//!
//! Each macro runs the same stages: parse its arguments (`args`), model the item it is
//! put on (`ast`, whose `from_syn` constructors refuse an item of the wrong kind), check
//! everything (`valid`, all errors collected and spanned on the offending token), then
//! generate code (`expand`, which cannot fail). Every entry point in `expand` is
//! `match try_expand(..) { Ok(expanded) => expanded, Err(error) => fallback::..(error, ..) }`:
//! on an error the user's item is emitted next to the error with stubs that keep the rest
//! of the crate compiling (`fallback`), so one mistake gives one message.
#![deny(missing_docs)]

mod args;
mod ast;
mod asyncness;
mod errors;
mod exits;
mod expand;
mod fallback;
mod valid;

use proc_macro::TokenStream;

/// Registers a struct as a plugin. See the `plugobs` crate for the full documentation.
#[proc_macro_attribute]
pub fn plugin(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::plugin::entry(args.into(), input.into()).into()
}

/// Makes every call of a plugin's methods an observed operation. See the `plugobs` crate
/// for the full documentation.
#[proc_macro_attribute]
pub fn instrumented(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::instrumented::entry(args.into(), input.into()).into()
}

/// Derives `plugobs::ErrorKind` for an enum: each variant's name in snake_case is its
/// `error_kind` label. `#[plugobs(crate = path)]` names plugobs if it is renamed.
#[proc_macro_derive(ErrorKind, attributes(plugobs))]
pub fn derive_error_kind(input: TokenStream) -> TokenStream {
    expand::error_kind::entry(input.into()).into()
}

/// A plugin's own counter: `counter!(Plugin, "name" [, "key" => value]*)`, exported as
/// `plugobs_custom_name_total` with the plugin's `plugin` and `kind` labels; label values
/// are `&'static str`. If plugobs is renamed, start with `crate = path;`. See the
/// `plugobs` crate for the full documentation.
#[proc_macro]
pub fn counter(input: TokenStream) -> TokenStream {
    expand::custom::entry(ast::MetricKind::Counter, input.into()).into()
}

/// A plugin's own gauge: `gauge!(Plugin, "name" [, "key" => value]*)`. See the `plugobs`
/// crate for the full documentation.
#[proc_macro]
pub fn gauge(input: TokenStream) -> TokenStream {
    expand::custom::entry(ast::MetricKind::Gauge, input.into()).into()
}

/// A plugin's own histogram: `histogram!(Plugin, "name" [, "key" => value]*)`. See the
/// `plugobs` crate for the full documentation.
#[proc_macro]
pub fn histogram(input: TokenStream) -> TokenStream {
    expand::custom::entry(ast::MetricKind::Histogram, input.into()).into()
}
