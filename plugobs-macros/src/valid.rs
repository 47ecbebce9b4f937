//! Every cross-check, with all errors collected and spanned on the offending token.

use syn::{LitStr, Type};

use crate::args::{Place, PluginArgs};
use crate::ast::{
    CustomMetric, ErrOption, Function, InstrumentedFn, InstrumentedImpl, PluginStruct, Target,
};
use crate::asyncness::Shape;
use crate::errors::Errors;

/// `key = "..."` with nothing but spaces in it; `instead` says what to write.
fn non_empty(errors: &mut Errors, lit: Option<&LitStr>, key: &str, instead: &str) {
    if let Some(lit) = lit {
        if lit.value().trim().is_empty() {
            errors.push(syn::Error::new(
                lit.span(),
                format!("`{key}` cannot be empty: {instead}"),
            ));
        }
    }
}

pub fn plugin(args: &PluginArgs, item: &PluginStruct<'_>, errors: &mut Errors) {
    let generics = &item.item.generics;
    if !generics.params.is_empty() || generics.where_clause.is_some() {
        errors.push(syn::Error::new_spanned(
            generics,
            "a plugin cannot be generic: the registry needs one concrete type per plugin; \
             register a concrete wrapper instead, e.g. `struct U8Sink(Sink<u8>);`",
        ));
    }
    // The name's rules (non-empty, length, characters) are the runtime's `name_rules`,
    // the rules of instance names too: the expansion asserts them in a `const` item
    // (`expand::plugin::name_assertion`).
    non_empty(
        errors,
        args.kind.as_ref(),
        "kind",
        "write what the plugin is, e.g. `kind = \"sink\"`, or leave `kind` out for \"plugin\"",
    );
    non_empty(
        errors,
        args.version.as_ref(),
        "version",
        "write one, e.g. `version = \"1.2.0\"`, or leave `version` out for the crate's version",
    );
    for ty in &args.provides {
        if !matches!(ty, Type::TraitObject(t) if t.dyn_token.is_some()) {
            errors.push(syn::Error::new_spanned(
                ty,
                "`provides` takes trait object types: `provides = dyn Sink` or `provides = [dyn Sink, dyn Source]`",
            ));
        }
    }
}

/// Every check on an instrumented impl block and its methods.
pub fn instrumented_impl(model: &InstrumentedImpl<'_>, errors: &mut Errors) {
    for attr in &model.repeated_on_impl {
        errors.push(syn::Error::new_spanned(
            attr,
            "`#[instrumented]` is given twice on this impl block; keep one",
        ));
    }
    for attr in &model.repeated {
        errors.push(syn::Error::new_spanned(
            attr,
            "`#[instrumented]` is given twice on this method; keep one",
        ));
    }
    for (_, f) in &model.methods {
        function(f, &model.target, errors);
    }
}

/// Every check on an instrumented free function.
pub fn instrumented_fn(model: &InstrumentedFn<'_>, errors: &mut Errors) {
    let what = match model.item.sig.receiver() {
        Some(_) => "method",
        None => "function",
    };
    for attr in &model.repeated {
        errors.push(syn::Error::new_spanned(
            attr,
            format!("`#[instrumented]` is given twice on this {what}; keep one"),
        ));
    }
    function(&model.function, &model.target, errors);
}

/// Every check on one function.
fn function(f: &Function<'_>, target: &Target<'_>, errors: &mut Errors) {
    let sig = f.sig;
    if let Some(skip) = &f.skip {
        if f.place == Place::Function {
            errors.push(syn::Error::new(
                skip.span(),
                "`skip` only applies to a method inside an `#[instrumented]` impl block; \
                 remove the attribute to leave this function uninstrumented",
            ));
        }
        return;
    }
    if let Some(value) = &f.value {
        if !matches!(f.shape, Shape::Sync) {
            errors.push(syn::Error::new(
                value.span(),
                "`value` applies to a function returning a future it does not build with `async`; \
                 the future of this one is measured until it completes: remove `value`",
            ));
        }
    }
    if let Some(c) = &sig.constness {
        errors.push(syn::Error::new(
            c.span,
            "a `const fn` cannot be instrumented: timing it needs a clock at run time; remove `const`, \
             or leave it out with `#[instrumented(skip)]`",
        ));
    }
    if f.place == Place::Function && target.plugin.is_none() && sig.receiver().is_none() {
        errors.push(syn::Error::new(
            sig.ident.span(),
            "a function without `self` must name its plugin: `#[instrumented(plugin = MyPlugin)]` \
             (inside an impl of the plugin, `plugin = Self` works)",
        ));
    }
    if let Some(v) = &sig.variadic {
        errors.push(syn::Error::new_spanned(
            v.dots,
            "a variadic function cannot be instrumented",
        ));
    }
    if let ErrOption::OnFunction(err) = &f.err {
        if !f.returns_result() {
            let what = match f.shape {
                Shape::Sync => format!("`{}` does not return", sig.ident),
                Shape::AsyncFn | Shape::TailAsync | Shape::ReturnedFuture { .. } => {
                    format!("the future of `{}` does not resolve to", sig.ident)
                }
            };
            errors.push(syn::Error::new(
                err.span(),
                format!(
                    "`err` reports the `Err` of a `Result`, but {what} a `Result`; remove \
                     `err` here, or return `Result<T, E>` with `E: Display`"
                ),
            ));
        }
    }
    if let Some((_, at)) = &f.breaker {
        if matches!(f.shape, Shape::ReturnedFuture { .. }) || f.value.is_some() {
            errors.push(syn::Error::new(
                *at,
                format!(
                    "`breaker` rejects a call before the plugin's code runs, but `{}` builds \
                     the future it returns in its own code first; put the breaker on the \
                     function that does the work, or make this one `async fn`",
                    sig.ident
                ),
            ));
        } else if matches!(sig.output, syn::ReturnType::Default) {
            errors.push(syn::Error::new(
                *at,
                format!(
                    "`breaker` needs `{}` to return `Result<_, E>` with \
                     `E: From<plugobs::BreakerOpen>`: a rejected call returns that error",
                    sig.ident
                ),
            ));
        }
    }
    let arg_names: Vec<String> = sig
        .inputs
        .iter()
        .filter_map(|a| match a {
            syn::FnArg::Typed(t) => match &*t.pat {
                syn::Pat::Ident(i) => Some(i.ident.to_string()),
                _ => None,
            },
            syn::FnArg::Receiver(_) => Some("self".to_owned()),
        })
        .collect();
    for field in &f.fields {
        if field.value.is_none() && !arg_names.contains(&field.name.to_string()) {
            errors.push(syn::Error::new(
                field.name.span(),
                format!(
                    "`{}` is not an argument of `{}`; record an expression instead: `fields({} = expr)`",
                    field.name, sig.ident, field.name
                ),
            ));
        }
    }
}

/// Suffixes a custom metric's name may not end in: the exporter adds them. The one
/// statement of this rule: names are only checked here, when the macro expands.
const RESERVED_SUFFIXES: &[&str] = &["_total", "_bucket", "_sum", "_count", "_created", "_info"];
/// Label keys a custom metric may not use: plugobs sets them. The one statement of this
/// rule, as [`RESERVED_SUFFIXES`].
const RESERVED_LABELS: &[&str] = &["plugin", "kind", "operation", "instance", "le", "quantile"];

/// `[a-z][a-z0-9_]*`, without `__` and without a trailing `_`.
fn snake_case(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_lowercase()
        && b[b.len() - 1] != b'_'
        && !s.contains("__")
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

/// Every check on one custom-metric call: its name and its label keys.
pub fn custom(model: &CustomMetric<'_>, errors: &mut Errors) {
    let name = model.name.value();
    if !snake_case(&name) {
        errors.push(syn::Error::new(
            model.name.span(),
            format!(
                "metric name `{name}` is not snake_case: use lowercase letters, digits and single underscores, starting with a letter, e.g. \"cache_hits\""
            ),
        ));
    } else if let Some(suffix) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        errors.push(syn::Error::new(
            model.name.span(),
            format!(
                "metric name `{name}` ends in `{suffix}`, which the exporter adds itself: write \"{}\"",
                name.trim_end_matches(suffix)
            ),
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for label in &model.labels {
        let k = label.key.value();
        if !snake_case(&k) {
            errors.push(syn::Error::new(
                label.key.span(),
                format!("label key `{k}` is not snake_case"),
            ));
        } else if RESERVED_LABELS.contains(&k.as_str()) {
            errors.push(syn::Error::new(
                label.key.span(),
                format!("label key `{k}` is set by plugobs; choose another key"),
            ));
        } else if seen.contains(&k) {
            errors.push(syn::Error::new(
                label.key.span(),
                format!("label key `{k}` is given twice; keep only one"),
            ));
        }
        seen.push(k);
    }
}
