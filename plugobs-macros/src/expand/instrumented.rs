//! `#[instrumented]`: one static call site per operation, the call guard around the body,
//! outcome classification, and a span per call.

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, Ident, ImplItem, ImplItemFn, Item, ItemFn, ItemImpl, Signature};

use crate::args::{Field, InstrumentedArgs, Place, crate_path};
use crate::asyncness::{self, Shape};
use crate::fallback;
use crate::valid::{self, Errors};

/// Entry point: parse -> validate -> expand.
pub fn entry(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => {
            let e = syn::Error::new(
                e.span(),
                format!(
                    "{e}; `#[instrumented]` goes on an impl block, a method with a body, or a function"
                ),
            );
            return fallback::with_item(e, input);
        }
    };
    let result = match item {
        Item::Impl(imp) => {
            // On error, emit the impl without the method-level attributes, which mean
            // nothing outside an instrumented impl and would add a second error.
            let mut stripped = imp.clone();
            for item in &mut stripped.items {
                if let ImplItem::Fn(method) = item {
                    method.attrs.retain(|a| !is_instrumented_attr(a));
                }
            }
            return expand_impl(args, imp)
                .unwrap_or_else(|e| fallback::with_item(e, quote!(#stripped)));
        }
        Item::Fn(f) => expand_function(args, f),
        other => Err(valid::not_instrumentable(&other)),
    };
    result.unwrap_or_else(|e| fallback::with_item(e, input))
}

/// What every instrumented function of one attribute shares.
struct Ctx {
    /// `::plugobs::__private`.
    p: TokenStream,
    /// An expression of type `&'static PluginDescriptor`.
    descriptor: TokenStream,
}

/// The options of one function.
struct FnOptions<'a> {
    name: String,
    /// Where `err` errors point: the return type.
    output_span: Span,
    level: TokenStream,
    err: bool,
    fields: &'a [Field],
}

fn is_instrumented_attr(attr: &syn::Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "instrumented")
}

fn attr_args(attr: &syn::Attribute) -> syn::Result<TokenStream> {
    match &attr.meta {
        syn::Meta::Path(_) => Ok(TokenStream::new()),
        syn::Meta::List(list) => Ok(list.tokens.clone()),
        syn::Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            "write `#[instrumented]` or `#[instrumented(option, ...)]`",
        )),
    }
}

fn expand_impl(args: TokenStream, mut imp: ItemImpl) -> syn::Result<TokenStream> {
    let impl_args = InstrumentedArgs::parse(args, Place::Impl)?;
    let p = crate_path(impl_args.krate.as_ref());
    let p = quote!(#p::__private);
    let descriptor = match &impl_args.plugin {
        Some(ty) => quote_spanned!(ty.span()=> <#ty as #p::Plugin>::DESCRIPTOR),
        None => {
            let self_ty = &imp.self_ty;
            quote_spanned!(self_ty.span()=> <Self as #p::Plugin>::DESCRIPTOR)
        }
    };
    let ctx = Ctx { p, descriptor };
    let mut errors = Errors::default();
    for item in &mut imp.items {
        let ImplItem::Fn(method) = item else { continue };
        let mut method_args = InstrumentedArgs::default();
        let mut own = Vec::new();
        for attr in std::mem::take(&mut method.attrs) {
            if is_instrumented_attr(&attr) {
                own.push(attr);
            } else {
                method.attrs.push(attr);
            }
        }
        if own.len() > 1 {
            errors.push(syn::Error::new_spanned(
                &own[1],
                "`#[instrumented]` is given twice on this method; keep one",
            ));
            continue;
        }
        if let Some(attr) = own.first() {
            match attr_args(attr).and_then(|a| InstrumentedArgs::parse(a, Place::MethodInImpl)) {
                Ok(a) => method_args = a,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            }
        }
        if method_args.skip.is_some() {
            continue;
        }
        if let Err(e) = valid::function(&method.sig, &method_args, Place::MethodInImpl) {
            errors.push(e);
            continue;
        }
        let level = method_args.level.as_ref().or(impl_args.level.as_ref());
        let opts = FnOptions {
            name: op_name(&method_args, &method.sig),
            output_span: output_span(&method.sig),
            level: valid::level(level, &ctx.p)?,
            err: method_args.err.is_some() || impl_args.err.is_some(),
            fields: &method_args.fields,
        };
        instrument_method(method, &ctx, &opts);
    }
    errors.finish()?;
    Ok(quote!(#imp))
}

fn expand_function(args: TokenStream, mut f: ItemFn) -> syn::Result<TokenStream> {
    let fn_args = InstrumentedArgs::parse(args, Place::Function)?;
    valid::function(&f.sig, &fn_args, Place::Function)?;
    let p = crate_path(fn_args.krate.as_ref());
    let p = quote!(#p::__private);
    let descriptor = match &fn_args.plugin {
        Some(ty) => quote_spanned!(ty.span()=> <#ty as #p::Plugin>::DESCRIPTOR),
        None => quote_spanned!(f.sig.ident.span()=> <Self as #p::Plugin>::DESCRIPTOR),
    };
    let ctx = Ctx { p, descriptor };
    let opts = FnOptions {
        name: op_name(&fn_args, &f.sig),
        output_span: output_span(&f.sig),
        level: valid::level(fn_args.level.as_ref(), &ctx.p)?,
        err: fn_args.err.is_some(),
        fields: &fn_args.fields,
    };
    let block = instrument_block(&f.sig, (*f.block).clone(), &ctx, &opts);
    *f.block = block;
    Ok(quote!(#f))
}

fn output_span(sig: &Signature) -> Span {
    match &sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => sig.ident.span(),
    }
}

fn op_name(args: &InstrumentedArgs, sig: &Signature) -> String {
    args.name.as_ref().map(|n| n.value()).unwrap_or_else(|| {
        let s = sig.ident.to_string();
        s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
    })
}

fn instrument_method(method: &mut ImplItemFn, ctx: &Ctx, opts: &FnOptions<'_>) {
    let block = std::mem::replace(
        &mut method.block,
        Block {
            brace_token: Default::default(),
            stmts: vec![],
        },
    );
    method.block = instrument_block(&method.sig, block, ctx, opts);
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
        }
    }
}

/// The span, the outcome classification and the `err` event, shared by every shape.
struct Parts {
    site_static: TokenStream,
    make_span: TokenStream,
    classify_and_finish: TokenStream,
}

fn parts(ctx: &Ctx, opts: &FnOptions<'_>, locals: &Locals) -> Parts {
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
    let name = &opts.name;
    let level = &opts.level;
    let fields = opts.fields.iter().map(|f| {
        let key = &f.name;
        match &f.value {
            Some(v) => quote!(#key = #p::tracing::field::debug(&(#v))),
            None => quote!(#key = #p::tracing::field::debug(&#key)),
        }
    });
    let err_event = opts.err.then(|| {
        let e = hygienic("__plugobs_err");
        let as_err = quote_spanned!(opts.output_span=> #p::ErrDisplay::__plugobs_err(&#ret));
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
                #level,
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

fn instrument_block(sig: &Signature, mut block: Block, ctx: &Ctx, opts: &FnOptions<'_>) -> Block {
    let p = &ctx.p;
    let d = &ctx.descriptor;
    let locals = Locals::new();
    let Locals {
        site,
        span,
        ret,
        guard,
        entered,
        ..
    } = &locals;
    let Parts {
        site_static,
        make_span,
        classify_and_finish,
    } = parts(ctx, opts, &locals);
    let tokens = match asyncness::shape(sig, &block) {
        Shape::Sync => {
            let hint = asyncness::output_hint(&sig.output);
            let brace = block.brace_token;
            let body = quote_spanned!(brace.span.join()=> #block);
            quote! {{
                #site_static
                #make_span
                let #guard = #site.enter(#d);
                let #ret: #hint = {
                    let #entered = #span.enter();
                    #[allow(clippy::redundant_closure_call)]
                    (move || -> #hint #body)()
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
            if let Some(tail) = asyncness::tail_async_mut(&mut block) {
                let inner = tail.clone();
                let wrapped: syn::Expr = syn::parse_quote! {
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
                };
                *tail = wrapped;
            }
            let stmts = &block.stmts;
            quote! {{
                #site_static
                #(#stmts)*
            }}
        }
    };
    syn::parse2(tokens).unwrap_or_else(|e| Block {
        brace_token: Default::default(),
        stmts: vec![syn::Stmt::Expr(
            syn::Expr::Verbatim(e.to_compile_error()),
            None,
        )],
    })
}
