//! `#[instrumented]`: one static call site per operation, the call guard around the body,
//! outcome classification, and a span per call.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, Ident, ImplItem, Item, Signature};

use crate::args::{InstrumentedArgs, Objective, private_path};
use crate::ast::{
    Function, Instrumentable, InstrumentedFn, InstrumentedImpl, Target, is_instrumented_attr,
};
use crate::asyncness::{self, Shape};
use crate::errors::Errors;
use crate::exits;
use crate::fallback;
use crate::valid;

/// Entry point: parse -> model -> validate -> expand.
pub fn entry(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        // A syntax error in the item: rustc reports it in the user's own code, once, so
        // emit the item as written (as tracing-attributes does) and add nothing.
        Err(_) => return fallback::strip_method_attributes(input),
    };
    match try_expand(args, &item) {
        Ok(expanded) => expanded,
        Err(error) => fallback::instrumented(error, &item, input),
    }
}

fn try_expand(args: TokenStream, item: &Item) -> syn::Result<TokenStream> {
    let target = Instrumentable::from_syn(item)?;
    let mut errors = Errors::default();
    let args = InstrumentedArgs::parse(args, target.place(), &mut errors);
    match target {
        Instrumentable::Impl(imp) => {
            let model = InstrumentedImpl::from_syn(imp, &args, &mut errors);
            valid::instrumented_impl(&model, &mut errors);
            errors.finish()?;
            Ok(expand_impl(&model))
        }
        Instrumentable::Fn(f) => {
            let model = InstrumentedFn::from_syn(f, &args);
            valid::instrumented_fn(&model, &mut errors);
            errors.finish()?;
            Ok(expand_fn(&model))
        }
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

/// The user's block as the tail of a block of the generated body: their statements with
/// their spans, inside braces at their braces' place but resolved at the macro's own site.
/// With the user's plain spans, rustc would take them for braces the user wrote around a
/// block's return value (`unused_braces` on a one-line body, a lint about code the user
/// cannot change); braces from an expansion are not linted, and errors still point at the
/// user's braces.
fn user_block(block: &Block) -> TokenStream {
    let stmts = &block.stmts;
    let mut group = Group::new(Delimiter::Brace, quote!(#(#stmts)*));
    group.set_span(
        block
            .brace_token
            .span
            .join()
            .resolved_at(Span::mixed_site()),
    );
    TokenTree::Group(group).into()
}

fn output_span(sig: &Signature) -> Span {
    match &sig.output {
        syn::ReturnType::Type(_, ty) => ty.span(),
        syn::ReturnType::Default => sig.ident.span(),
    }
}

/// `-> !`.
fn returns_never(sig: &Signature) -> bool {
    matches!(&sig.output, syn::ReturnType::Type(_, ty) if matches!(**ty, syn::Type::Never(_)))
}

fn hygienic(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// The generated locals, with mixed-site hygiene so user code can neither see nor shadow
/// them.
struct Locals {
    site: Ident,
    callsite: Ident,
    span: Ident,
    ret: Ident,
    guard: Ident,
    outcome: Ident,
    entered: Ident,
    future: Ident,
    key: Ident,
}

impl Locals {
    fn new() -> Self {
        Locals {
            site: hygienic("__PLUGOBS_SITE"),
            callsite: hygienic("__PLUGOBS_CALLSITE"),
            span: hygienic("__plugobs_span"),
            ret: hygienic("__plugobs_ret"),
            guard: hygienic("__plugobs_guard"),
            outcome: hygienic("__plugobs_outcome"),
            entered: hygienic("__plugobs_entered"),
            future: hygienic("__plugobs_future"),
            key: hygienic("__plugobs_key"),
        }
    }
}

/// What every shape shares: the statics, the span, and what ends the call.
struct Parts {
    /// The operation's `static` call site, and its span's callsite.
    statics: TokenStream,
    /// `let span = ...;`
    make_span: TokenStream,
    /// Classifies the return value, ends the call, marks the span, emits the `err` event.
    finish: TokenStream,
    /// `|span, &value| -> Outcome`: classifies a future's output (or a returned value)
    /// and emits the `err` event, for the runtime to end the call with.
    classify: TokenStream,
}

fn parts(f: &Function<'_>, ctx: &Ctx, locals: &Locals) -> Parts {
    let p = &ctx.p;
    let d = &ctx.descriptor;
    let Locals {
        site,
        callsite,
        span,
        ret,
        guard,
        outcome,
        key,
        ..
    } = locals;
    let name = &f.name;
    let level = f.level.constant();
    let level = quote!(#p::tracing::Level::#level);
    // Without `fields(...)` the span's callsite is two statics and one runtime call; with
    // them, `tracing::span!` records the extra fields.
    let (span_statics, make_span) = if f.fields.is_empty() {
        let meta = hygienic("__PLUGOBS_META");
        (
            quote! {
                static #callsite: #p::DefaultCallsite = #p::DefaultCallsite::new(&#meta);
                static #meta: #p::tracing::Metadata<'static> = #p::operation_metadata(
                    #name,
                    ::core::module_path!(),
                    #level,
                    ::core::file!(),
                    ::core::line!(),
                    &#callsite,
                );
            },
            quote!(let #span = #p::operation_span(&#callsite, #level, &#site, #d, #key);),
        )
    } else {
        let fields = f.fields.iter().map(|field| {
            let key = &field.name;
            match &field.value {
                Some(v) => quote!(#key = #p::tracing::field::debug(&(#v))),
                None => quote!(#key = #p::tracing::field::debug(&#key)),
            }
        });
        (
            TokenStream::new(),
            quote! {
                let #span = #p::tracing::span!(
                    #level,
                    #name,
                    plugin.name = (#d).name,
                    plugin.kind = (#d).kind,
                    plugin.instance = #site.instance_name(#d, #key),
                    #(#fields,)*
                    error.type = #p::tracing::field::Empty,
                    otel.status_code = #p::tracing::field::Empty,
                );
            },
        )
    };
    // `span_ref` and `ret_ref` are expressions of type `&Span` and `&Ret`.
    // The `err` event of a call that returned `ret_ref`, in the span `span_ref`.
    let err_event = |span_ref: TokenStream, ret_ref: TokenStream| {
        f.emits_err().then(|| {
            let e = hygienic("__plugobs_err");
            let as_err =
                quote_spanned!(output_span(f.sig)=> #p::ErrDisplay::__plugobs_err(#ret_ref));
            quote! {
                if let #p::Some(#e) = #as_err {
                    #p::tracing::event!(
                        parent: #span_ref,
                        #p::tracing::Level::ERROR,
                        error = %#e,
                        "plugin operation failed"
                    );
                }
            }
        })
    };
    let finish_with = |span_ref: TokenStream, ret_ref: TokenStream| {
        let err_event = err_event(span_ref.clone(), ret_ref.clone());
        quote! {
            // A body that always panics makes this, the first statement after it,
            // unreachable: the lint is the generated code's, not the user's (whose own
            // unreachable code, inside the body, is still reported).
            #[allow(unreachable_code, clippy::needless_borrow)]
            let #outcome = {
                #[allow(unused_imports)]
                use #p::{ViaAny as _, ViaErrorKind as _, ViaResult as _};
                (&&&#p::Probe(#ret_ref)).__plugobs_outcome()
            };
            #p::finish_in_place(&#guard, #span_ref, #outcome);
            ::core::mem::forget(#guard);
            #err_event
        }
    };
    // What a future's output (or a returned value) is, as the closure the runtime calls
    // with the span and the value by reference when the call ends there (`WatchedCall`,
    // `Returned`): the outcome, and the `err` event.
    let span_ref = hygienic("__plugobs_span_ref");
    let ret_ref = hygienic("__plugobs_ret_ref");
    let classify = {
        let err_event = err_event(quote!(#span_ref), quote!(#ret_ref));
        quote! {
            |#span_ref: &#p::tracing::Span, #ret_ref| -> #p::Outcome {
                #[allow(unreachable_code, clippy::needless_borrow)]
                let #outcome = {
                    #[allow(unused_imports)]
                    use #p::{ViaAny as _, ViaErrorKind as _, ViaResult as _};
                    (&&&#p::Probe(#ret_ref)).__plugobs_outcome()
                };
                #err_event
                #outcome
            }
        }
    };
    // Where the function is defined: two functions recording under one operation name
    // are told apart by it (`Registry::check`). `line!()` spanned at the function's name.
    let line = quote_spanned!(f.sig.ident.span()=> ::core::line!());
    let location = quote! {
        #p::SourceLocation {
            module_path: ::core::module_path!(),
            file: ::core::file!(),
            line: #line,
        }
    };
    // With an objective or a sampling rate of its own (or its impl's), the site carries it.
    let site_new = if f.objective == Objective::default() && f.sample.is_none() {
        quote!(#p::OperationSite::new(#name, #location))
    } else {
        let objective = super::objective(p, f.objective);
        let sample = f.sample.unwrap_or(0);
        quote!(#p::OperationSite::with_options(#name, #location, #objective, #sample))
    };
    let site_new = match f.breaker {
        Some((breaker, _)) => {
            let settings = super::breaker(p, breaker);
            quote!(#site_new.with_breaker(#settings))
        }
        None => site_new,
    };
    let cpu_static = f.cpu.then(|| {
        let cpu = hygienic("__PLUGOBS_CPU");
        quote!(static #cpu: #p::CpuSite = #p::CpuSite::new(#name);)
    });
    Parts {
        statics: quote! {
            static #site: #p::OperationSite = #site_new;
            #cpu_static
            #span_statics
        },
        make_span,
        finish: finish_with(quote!(&#span), quote!(&#ret)),
        classify,
    }
}

/// The pattern and the expression of a rejected call: `Err(open)` and
/// `plugobs::__private::reject(open)`, spanned at the function's return type, so an
/// operation whose return type cannot carry the rejection gets its compile error there.
fn rejection(sig: &syn::Signature, p: &TokenStream) -> (TokenStream, TokenStream) {
    let at = output_span(sig).resolved_at(Span::mixed_site());
    let open = syn::Ident::new("__plugobs_open", at);
    // The path to plugobs too, so that the whole call is at the return type.
    let p = respan(p.clone(), at);
    (
        quote_spanned!(at=> #p::Err(#open)),
        quote_spanned!(at=> #p::reject(#open)),
    )
}

/// `tokens`, every token at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let proc_macro2::TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = proc_macro2::TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// The new body of an instrumented function. The user's body runs unchanged: as a block
/// (or, when it may `return` or `?` out, an `FnOnce` closure) for a sync body, inside its
/// own future for async shapes.
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
        key,
        outcome,
        ..
    } = &locals;
    let Parts {
        statics,
        make_span,
        finish,
        classify,
    } = parts(f, ctx, &locals);
    // The receiver's address, which tells a call which instance it runs on (see
    // `plugobs::instance`): for `&self` and `&mut self` (or `self: &Self`); 0 without.
    let key_expr = match sig.receiver() {
        Some(r)
            if match &r.kind {
                syn::ReceiverKind::Reference(..) => true,
                syn::ReceiverKind::Typed(_, ty) => matches!(**ty, syn::Type::Reference(_)),
                _ => false,
            } =>
        {
            let this = &r.self_token;
            quote!(#p::key_of(#this))
        }
        _ => quote!(0usize),
    };
    let statics = quote! {
        #statics
        let #key: usize = #key_expr;
    };
    let block = f.block;
    // Awaits the call's future `fut`, then ends the call: the tail of every async shape.
    let cpu = hygienic("__PLUGOBS_CPU");
    let watch = |fut: TokenStream, hint: &syn::Type| {
        // `cpu`: the thread CPU time of each poll.
        let fut = if f.cpu {
            quote!(#p::CpuFuture::new(&#cpu, #d, #fut))
        } else {
            fut
        };
        if f.breaker.is_some() {
            // Rejected: the error, at once; the body's future is dropped unpolled.
            let (rejected, reject) = rejection(sig, p);
            return quote! {
                match #site.enter_async_breaker::<#hint, _, _>(
                    #d,
                    #key,
                    #span,
                    #fut,
                    #classify,
                ) {
                    #p::Ok(__plugobs_call) => __plugobs_call.await,
                    #rejected => #reject,
                }
            };
        }
        quote! {
            #site
                .enter_async::<#hint, _, _>(
                    #d,
                    #key,
                    #span,
                    #fut,
                    #classify,
                )
                .await
        }
    };
    // Runs the sync body producing `hint`, with the span entered (and with `cpu`, the
    // thread's CPU time measured until the timer drops, also on a panic). A body that may
    // leave early runs as a closure whose own tokens are at the user's braces, so that
    // lints on closures (clippy's `needless_return`) still see the user's body; any other
    // body is the user's block, its braces resolved at the macro's site (`user_block`).
    let cpu_timer_local = hygienic("__plugobs_cpu_timer");
    let cpu_timer = f
        .cpu
        .then(|| quote!(let #cpu_timer_local = #p::CpuTimer::start(&#cpu, #d);));
    let run = |hint: &syn::Type| {
        if exits::may_exit_early(block) {
            let at = block.brace_token.span.open();
            let body_fn = hygienic("__plugobs_body");
            let closure = quote_spanned!(at=> move || -> #hint);
            quote! {{
                let #entered = #span.enter();
                #cpu_timer
                let #body_fn = #closure #block;
                #p::call_once::<#hint, _>(#body_fn)
            }}
        } else {
            let body = user_block(block);
            quote! {{
                let #entered = #span.enter();
                #cpu_timer
                #body
            }}
        }
    };
    // A breaker: the call is let through or rejected before the body runs; a sync body
    // (or an `async fn` that cannot suspend) then ends like a value.
    if f.breaker.is_some()
        && (matches!(f.shape, Shape::Sync)
            || matches!(f.shape, Shape::AsyncFn if !asyncness::may_await(block)))
    {
        let hint = asyncness::output_hint(&sig.output);
        let run = run(&hint);
        let (rejected, reject) = rejection(sig, p);
        let breaker_call = hygienic("__plugobs_breaker");
        return quote! {{
            #statics
            #make_span
            // The guard is declared last, so on a panic it records first and the breaker
            // then reads counts that hold this call.
            let (#breaker_call, #guard) = match #p::OperationSite::enter_breaker(&#site, #d, #key) {
                #p::Ok(__plugobs_call) => __plugobs_call,
                #rejected => return #reject,
            };
            let #ret: #hint = #run;
            #finish
            #breaker_call.end(#outcome);
            #ret
        }};
    }
    match f.shape {
        // It never returns: the call ends in a panic, which the guard records as it drops
        // (or the process ends).
        Shape::Sync if returns_never(sig) => {
            let never_body = user_block(block);
            quote! {{
                #statics
                #make_span
                let #guard = #p::enter(&#site, #d, #key);
                let #entered = #span.enter();
                #never_body
            }}
        }
        // Nothing written, or `value`: the call ends when the body returns.
        Shape::Sync if f.value.is_some() || matches!(sig.output, syn::ReturnType::Default) => {
            let hint = asyncness::output_hint(&sig.output);
            let run = run(&hint);
            quote! {{
                #statics
                #make_span
                let #guard = #p::enter(&#site, #d, #key);
                let #ret: #hint = #run;
                #finish
                #ret
            }}
        }
        // What the body returns decides, by its type (`core::returned`): a boxed future
        // goes on being measured until it completes, another future is a compile error at
        // the return type, a value ends the call.
        Shape::Sync => {
            let hint = asyncness::output_hint(&sig.output);
            let run = run(&hint);
            let cpu_arg = if f.cpu {
                quote!(#p::Some((&#cpu, #d)))
            } else {
                quote!(#p::None)
            };
            // At the return type, so that a future plugobs cannot wrap is reported there;
            // resolved at the macro's site, so that no user lint sees it as user code.
            let at = output_span(sig).resolved_at(Span::mixed_site());
            let end = quote_spanned! {at=>
                (&&&#p::returned(&#ret)).__plugobs_end(
                    #ret,
                    #guard,
                    #key,
                    &#span,
                    #cpu_arg,
                    #classify,
                )
            };
            // A value (known from its type, so the branch folds away) ends the call here,
            // its guard used where it was made: handing the guard to `__plugobs_end`
            // moved it through the stack on every call (about 4 ns).
            let is_value = quote_spanned! {at=>
                (&&&#p::returned(&#ret)).__plugobs_is_value()
            };
            quote! {{
                #statics
                #make_span
                let #guard = #p::enter(&#site, #d, #key);
                let #ret: #hint = #run;
                #[allow(unreachable_code, clippy::needless_borrow)]
                {
                    #[allow(unused_imports)]
                    use #p::{ViaBoxedFuture as _, ViaFuture as _, ViaValue as _};
                    if #is_value {
                        #finish
                        #ret
                    } else {
                        #end
                    }
                }
            }}
        }
        // An `async fn` that cannot suspend completes in its first poll: the call is that
        // poll, measured like a sync body, with no second future around it (which cost
        // ~1.5 ns per call, and the call's own future more).
        Shape::AsyncFn if !asyncness::may_await(block) => {
            let hint = asyncness::output_hint(&sig.output);
            let run = run(&hint);
            quote! {{
                #statics
                #make_span
                let #guard = #p::enter(&#site, #d, #key);
                let #ret: #hint = #run;
                #finish
                #ret
            }}
        }
        Shape::AsyncFn => {
            let hint = asyncness::output_hint(&sig.output);
            let watch = watch(quote!(async move #block), &hint);
            quote! {{
                #statics
                #make_span
                #watch
            }}
        }
        Shape::TailAsync => {
            let hint = asyncness::future_output_hint(&sig.output);
            let mut block = block.clone();
            if let Some(tail) = asyncness::tail_async_mut(&mut block) {
                let watch = watch(quote!(#tail), &hint);
                *tail = syn::Expr::Verbatim(quote! {
                    async move {
                        #make_span
                        #watch
                    }
                });
            }
            let stmts = &block.stmts;
            quote! {{
                #statics
                #(#stmts)*
            }}
        }
        Shape::ReturnedFuture { boxed } => {
            let returned = asyncness::output_hint(&sig.output);
            let hint = asyncness::future_output_hint(&sig.output);
            let run = run(&returned);
            let watch = watch(quote!(#future), &hint);
            let watched = quote!(async move { #watch });
            let watched = if boxed {
                quote!(::std::boxed::Box::pin(#watched))
            } else {
                watched
            };
            quote! {{
                #statics
                #make_span
                let #future: #returned = #run;
                #watched
            }}
        }
    }
}
