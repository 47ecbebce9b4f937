//! `#[instrumented]`: one static call site per operation, the call guard around the body,
//! outcome classification, and a span per call.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, Ident, ImplItem, Item, Signature};

use crate::args::{InstrumentedArgs, Place, private_path};
use crate::ast::{Function, InstrumentedFn, InstrumentedImpl, Target, is_instrumented_attr};
use crate::asyncness::{self, Shape};
use crate::errors::Errors;
use crate::fallback;
use crate::valid;

/// Entry point: parse -> validate -> expand.
pub fn entry(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        // A syntax error in the item: rustc reports it in the user's own code, once, so
        // emit the item as written (as tracing-attributes does) and add nothing.
        Err(_) => return fallback::strip_method_attributes(input),
    };
    let mut errors = Errors::default();
    match &item {
        Item::Impl(imp) => {
            let args = InstrumentedArgs::parse(args, Place::Impl, &mut errors);
            let model = InstrumentedImpl::from_syn(imp, &args, &mut errors);
            valid::instrumented_impl(&model, &mut errors);
            match errors.into_error() {
                None => expand_impl(&model),
                Some(e) => fallback::with_item(e, fallback::strip_method_attributes(input)),
            }
        }
        Item::Fn(f) => {
            let args = InstrumentedArgs::parse(args, Place::Function, &mut errors);
            let model = InstrumentedFn::from_syn(f, &args);
            valid::instrumented_fn(&model, &mut errors);
            match errors.into_error() {
                None => expand_fn(&model),
                Some(e) => fallback::with_item(e, input),
            }
        }
        other => fallback::with_item(valid::not_instrumentable(other), input),
    }
}

/// What every instrumented function of one attribute shares.
struct Ctx {
    /// `::plugobs::__private`.
    p: TokenStream,
    /// An expression of type `&'static PluginDescriptor`.
    descriptor: TokenStream,
}

impl Ctx {
    fn new(target: &Target<'_>, self_span: Span) -> Self {
        let p = private_path(target.krate);
        let descriptor = match target.plugin {
            Some(ty) => quote_spanned!(ty.span()=> <#ty as #p::Plugin>::DESCRIPTOR),
            None => quote_spanned!(self_span=> <Self as #p::Plugin>::DESCRIPTOR),
        };
        Ctx { p, descriptor }
    }
}

fn expand_impl(model: &InstrumentedImpl<'_>) -> TokenStream {
    let ctx = Ctx::new(&model.target, model.item.self_ty.span());
    let mut imp = model.item.clone();
    for (index, f) in &model.methods {
        let Some(ImplItem::Fn(method)) = imp.items.get_mut(*index) else {
            continue;
        };
        method.attrs.retain(|a| !is_instrumented_attr(a));
        if f.skip.is_none() {
            method.block = wrapped(&method.block, instrument_block(f, &ctx));
        }
    }
    quote!(#imp)
}

fn expand_fn(model: &InstrumentedFn<'_>) -> TokenStream {
    let ctx = Ctx::new(&model.target, model.item.sig.ident.span());
    let mut item = model.item.clone();
    *item.block = wrapped(&item.block, instrument_block(&model.function, &ctx));
    quote!(#item)
}

/// A block, with `original`'s braces, whose only content is `body`.
fn wrapped(original: &Block, body: TokenStream) -> Block {
    Block {
        brace_token: original.brace_token,
        stmts: vec![syn::Stmt::Expr(syn::Expr::Verbatim(body), None)],
    }
}

fn output_span(sig: &Signature) -> Span {
    match &sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => sig.ident.span(),
    }
}

fn hygienic(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The generated locals, with mixed-site hygiene so user code can neither see nor shadow
/// them.
struct Locals {
    site: Ident,
    span: Ident,
    ret: Ident,
    guard: Ident,
    outcome: Ident,
    entered: Ident,
    future: Ident,
}

impl Locals {
    fn new() -> Self {
        Locals {
            site: hygienic("__PLUGOBS_SITE"),
            span: hygienic("__plugobs_span"),
            ret: hygienic("__plugobs_ret"),
            guard: hygienic("__plugobs_guard"),
            outcome: hygienic("__plugobs_outcome"),
            entered: hygienic("__plugobs_entered"),
            future: hygienic("__plugobs_future"),
        }
    }
}

/// The span, the outcome classification and the `err` event, shared by every shape.
struct Parts {
    site_static: TokenStream,
    make_span: TokenStream,
    classify_and_finish: TokenStream,
}

fn parts(f: &Function<'_>, ctx: &Ctx, locals: &Locals) -> Parts {
    let p = &ctx.p;
    let d = &ctx.descriptor;
    let Locals {
        site,
        span,
        ret,
        guard,
        outcome,
        ..
    } = locals;
    let name = &f.name;
    let level = f.level.constant();
    let fields = f.fields.iter().map(|field| {
        let key = &field.name;
        match &field.value {
            Some(v) => quote!(#key = #p::tracing::field::debug(&(#v))),
            None => quote!(#key = #p::tracing::field::debug(&#key)),
        }
    });
    let err_event = f.emits_err().then(|| {
        let e = hygienic("__plugobs_err");
        let as_err = quote_spanned!(output_span(f.sig)=> #p::ErrDisplay::__plugobs_err(&#ret));
        quote! {
            if let #p::Some(#e) = #as_err {
                #p::tracing::event!(
                    parent: &#span,
                    #p::tracing::Level::ERROR,
                    error = %#e,
                    "plugin operation failed"
                );
            }
        }
    });
    Parts {
        site_static: quote! {
            static #site: #p::OperationSite = #p::OperationSite::new(#name);
        },
        make_span: quote! {
            let #span = #p::tracing::span!(
                #p::tracing::Level::#level,
                #name,
                plugin.name = (#d).name,
                plugin.kind = (#d).kind,
                #(#fields,)*
                error.type = #p::tracing::field::Empty,
                otel.status_code = #p::tracing::field::Empty,
            );
        },
        classify_and_finish: quote! {
            #[allow(clippy::needless_borrow)]
            let #outcome = {
                #[allow(unused_imports)]
                use #p::{ViaAny as _, ViaErrorKind as _, ViaResult as _};
                (&&&#p::Probe(&#ret)).__plugobs_outcome()
            };
            #guard.finish(#outcome);
            if let #p::Outcome::Error(kind) = #outcome {
                #span.record("error.type", kind);
                #span.record("otel.status_code", "ERROR");
            }
            #err_event
        },
    }
}

/// The new body of an instrumented function. The user's body runs unchanged: as an
/// `FnOnce` closure for a sync body (so `return` and `?` stay inside it), inside its own
/// future for async shapes.
fn instrument_block(f: &Function<'_>, ctx: &Ctx) -> TokenStream {
    let p = &ctx.p;
    let d = &ctx.descriptor;
    let sig = f.sig;
    let locals = Locals::new();
    let Locals {
        site,
        span,
        ret,
        guard,
        entered,
        future,
        ..
    } = &locals;
    let Parts {
        site_static,
        make_span,
        classify_and_finish,
    } = parts(f, ctx, &locals);
    let block = f.block;
    let body = quote_spanned!(block.brace_token.span.join()=> #block);
    match f.shape {
        Shape::Sync => {
            let hint = asyncness::output_hint(&sig.output);
            quote! {{
                #site_static
                #make_span
                let #guard = #site.enter(#d);
                let #ret = {
                    let #entered = #span.enter();
                    #p::call_once::<#hint, _>(move || -> #hint #body)
                };
                #classify_and_finish
                #ret
            }}
        }
        Shape::AsyncFn => {
            let hint = asyncness::output_hint(&sig.output);
            quote! {{
                #site_static
                #make_span
                let (#guard, #ret) = #p::tracing::Instrument::instrument(
                    #site.enter_async::<#hint, _>(#d, async move #block),
                    ::core::clone::Clone::clone(&#span),
                )
                .await;
                #classify_and_finish
                #ret
            }}
        }
        Shape::TailAsync => {
            let hint = asyncness::future_output_hint(&sig.output);
            let mut block = block.clone();
            if let Some(tail) = asyncness::tail_async_mut(&mut block) {
                let inner = tail.clone();
                *tail = syn::Expr::Verbatim(quote! {
                    async move {
                        #make_span
                        let (#guard, #ret) = #p::tracing::Instrument::instrument(
                            #site.enter_async::<#hint, _>(#d, #inner),
                            ::core::clone::Clone::clone(&#span),
                        )
                        .await;
                        #classify_and_finish
                        #ret
                    }
                });
            }
            let stmts = &block.stmts;
            quote! {{
                #site_static
                #(#stmts)*
            }}
        }
        Shape::ReturnedFuture { boxed } => {
            let returned = asyncness::output_hint(&sig.output);
            let hint = asyncness::future_output_hint(&sig.output);
            let watched = quote! {
                async move {
                    let (#guard, #ret) = #p::tracing::Instrument::instrument(
                        #site.enter_async::<#hint, _>(#d, #future),
                        ::core::clone::Clone::clone(&#span),
                    )
                    .await;
                    #classify_and_finish
                    #ret
                }
            };
            let watched = if boxed {
                quote!(::std::boxed::Box::pin(#watched))
            } else {
                watched
            };
            quote! {{
                #site_static
                #make_span
                let #future = {
                    let #entered = #span.enter();
                    #p::call_once::<#returned, _>(move || -> #returned #body)
                };
                #watched
            }}
        }
    }
}
