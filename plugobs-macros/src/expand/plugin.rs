//! `#[plugin]`: the descriptor, the `Plugin` impl, one `Provides` impl per trait, and the
//! `inventory` submission.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Item, LitStr};

use crate::args::{PluginArgs, crate_path, private_path};
use crate::ast::{PluginStruct, snake_case};
use crate::errors::Errors;
use crate::fallback;
use crate::valid;

/// Entry point: parse -> model -> validate -> expand.
pub fn entry(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        // A syntax error in the item: rustc reports it in the user's own code.
        Err(_) => return input,
    };
    let mut errors = Errors::default();
    let args = PluginArgs::parse(args, &mut errors);
    match try_expand(&args, &item, errors) {
        Ok(expanded) => expanded,
        Err(error) => {
            let p = private_path(args.krate.as_ref());
            // A given name is checked even so, so its mistake shows with the others.
            let name = args
                .name
                .as_ref()
                .map(|name| name_assertion(&p, name, true));
            fallback::plugin(error, &item, &p, name)
        }
    }
}

/// `errors`: those of the arguments, reported with the item's own.
fn try_expand(args: &PluginArgs, item: &Item, mut errors: Errors) -> syn::Result<TokenStream> {
    let model = match PluginStruct::from_syn(item) {
        Ok(model) => model,
        Err(e) => return Err(errors.into_error_with(e)),
    };
    valid::plugin(args, &model, &mut errors);
    errors.finish()?;
    Ok(expand(args, &model))
}

fn expand(args: &PluginArgs, model: &PluginStruct<'_>) -> TokenStream {
    let k = crate_path(args.krate.as_ref());
    let p = quote!(#k::__private);
    let item = model.item;
    let ident = model.ident;
    let span = ident.span();

    let name = args
        .name
        .clone()
        .unwrap_or_else(|| LitStr::new(&snake_case(&ident.to_string()), span));
    let name_check = name_assertion(&p, &name, args.name.is_some());
    let kind = args
        .kind
        .clone()
        .unwrap_or_else(|| LitStr::new("plugin", span));
    let version = match &args.version {
        Some(v) => quote!(#v),
        None => quote!(::core::env!("CARGO_PKG_VERSION")),
    };
    let description = args
        .description
        .clone()
        .unwrap_or_else(|| LitStr::new(&model.doc_summary().unwrap_or_default(), span));

    let config = syn::Ident::new("__plugobs_config", proc_macro2::Span::mixed_site());
    let construct = match &args.new {
        Some(path) => quote_spanned!(path.span()=> #p::construct::<Self, _, _, _>(#path, #config)),
        None => quote_spanned!(span=> #p::default_instance::<Self>(#config)),
    };
    let start = args.start.as_ref().map(|path| hook(&p, "start", path));
    let stop = args.stop.as_ref().map(|path| hook(&p, "stop", path));
    let has_stop = args.stop.is_some();
    let health = args.health.as_ref().map(|path| health_hook(&p, path));

    let provides = args.provides.iter().map(|ty| {
        // The plugin's name at `ty`: a missing trait impl is reported where the user
        // wrote `provides = dyn Trait`, not at the struct.
        let plugin = syn::Ident::new(&ident.to_string(), trait_name_span(ty));
        quote_spanned! {ty.span()=>
            #p::Provided {
                trait_name: ::core::stringify!(#ty),
                factory: &#p::Factory::<#ty>(#p::factory::<#plugin, #ty>),
            }
        }
    });
    let provides_impls = args.provides.iter().enumerate().map(|(i, ty)| {
        // A type alias gives the trait object its `'static` default, as in `Provides<S>`.
        let alias = syn::Ident::new(&format!("__PlugobsProvided{i}"), ty.span());
        // The coercions below need `#ident` to implement the trait. Stated as a bound of
        // the impl (with a binder, so it is not checked as a trivially false bound), a
        // missing trait impl is reported once, where the plugin is used as `#ty`, instead
        // of once per coercion.
        // The binder's lifetime is the macro's (resolved at its own site): the bounds do
        // not use it, and `unused_lifetimes` must not report it in the user's crate.
        let bounds = match ty {
            syn::Type::TraitObject(t) => {
                let bounds = &t.bounds;
                let lifetime = syn::Lifetime::new(
                    "'__plugobs",
                    ty.span().resolved_at(proc_macro2::Span::mixed_site()),
                );
                Some(quote_spanned!(ty.span()=> where for<#lifetime> #ident: #bounds))
            }
            _ => None,
        };
        quote_spanned! {ty.span()=>
            type #alias = #ty;
            #[automatically_derived]
            impl #p::Provides<#alias> for #ident #bounds {
                fn upcast(&self) -> &#alias {
                    self
                }
                fn upcast_mut(&mut self) -> &mut #alias {
                    self
                }
            }
        }
    });
    let line = quote_spanned!(span=> ::core::line!());
    let objective = super::objective(&p, args.objective);

    quote! {
        #item

        const _: () = {
            #name_check

            static __PLUGOBS_DESCRIPTOR: #p::PluginDescriptor = #p::PluginDescriptor {
                name: #name,
                kind: #kind,
                version: #version,
                description: #description,
                type_name: ::core::concat!(::core::module_path!(), "::", ::core::stringify!(#ident)),
                location: #p::SourceLocation {
                    module_path: ::core::module_path!(),
                    file: ::core::file!(),
                    line: #line,
                },
                provides: &[#(#provides),*],
                has_stop: #has_stop,
                objective: #objective,
                upcalls: &#p::UPCALLS,
            };

            #[automatically_derived]
            impl #p::Plugin for #ident {
                const DESCRIPTOR: &'static #p::PluginDescriptor = &__PLUGOBS_DESCRIPTOR;

                fn construct(#config: #p::Option<#p::InstanceConfig>) -> #p::Result<Self, #p::HookError> {
                    #construct
                }

                #start
                #stop
                #health
            }

            #(#provides_impls)*

            #p::inventory::submit! {
                #p::Registration(&__PLUGOBS_DESCRIPTOR)
            }
        };
    }
}

/// Where a plugin's missing impl of `ty` is reported: at the trait's name in
/// `dyn some::Trait + Send` (a span is one token here), else at the type's first token.
fn trait_name_span(ty: &syn::Type) -> proc_macro2::Span {
    let name = match ty {
        syn::Type::TraitObject(t) => t.bounds.iter().find_map(|b| match b {
            syn::TypeParamBound::Trait(t) => t.path.segments.last().map(|s| s.ident.span()),
            _ => None,
        }),
        _ => None,
    };
    name.unwrap_or_else(|| ty.span())
}

/// `const _: () = ...;` failing to compile, at `name`'s span, when `name` breaks the rules
/// of plugin and instance names. The rules are the runtime's (`name_rules::check`); this
/// crate only words the message. `given`: `name` was
/// written as `name = "..."` (else it is the struct's name in snake_case, spanned at the
/// struct's name).
pub fn name_assertion(p: &TokenStream, name: &LitStr, given: bool) -> TokenStream {
    let span = name.span();
    let max = "`plugobs::instance::InstanceName::MAX_LEN`";
    let chars = "ASCII letters, digits, `_`, `-` and `.`";
    let (empty, too_long, invalid) = if given {
        (
            "a plugin name cannot be empty: write one, e.g. `name = \"kafka_sink\"`, or leave \
             `name` out for the struct's name in snake_case"
                .to_owned(),
            format!(
                "this plugin name is too long: a plugin name is also its default instance's \
                 name, at most {max} bytes; write a shorter one"
            ),
            format!("a plugin name may use only {chars}: write e.g. `name = \"kafka-sink\"`"),
        )
    } else {
        let fix = "name the plugin with `#[plugin(name = \"...\")]`";
        (
            format!("this struct's name gives an empty plugin name: {fix}"),
            format!(
                "this struct's name in snake_case is too long for a plugin name (at most {max} \
                 bytes): {fix}"
            ),
            format!(
                "this struct's name in snake_case is not a plugin name, which may use only \
                 {chars}: {fix}"
            ),
        )
    };
    let [empty, too_long, invalid] = [empty, too_long, invalid].map(|m| LitStr::new(&m, span));
    quote_spanned! {span=>
        const _: () = match #p::name_rules::check(#name) {
            #p::Ok(()) => {}
            #p::Err(#p::NameError::Empty) => ::core::panic!(#empty),
            #p::Err(#p::NameError::TooLong { .. }) => ::core::panic!(#too_long),
            #p::Err(#p::NameError::InvalidCharacter { .. }) => ::core::panic!(#invalid),
        };
    }
}

/// `fn start(&mut self)` (or `stop`) calling the user's hook `path`; a hook with another
/// signature is reported at `path`.
fn hook(p: &TokenStream, which: &str, path: &syn::Path) -> TokenStream {
    let span = path.span();
    let method = syn::Ident::new(which, span);
    let p = respan(p.clone(), span);
    let call = quote_spanned!(span=> #p::run_hook(self, #path));
    quote! {
        fn #method(&mut self) -> #p::HookCall<'_> {
            #call
        }
    }
}

/// `fn health(&self)` calling the user's health hook `path` (`fn(&self) -> Health`, sync
/// or async); a hook with another signature is reported at `path`.
fn health_hook(p: &TokenStream, path: &syn::Path) -> TokenStream {
    let span = path.span();
    let p = respan(p.clone(), span);
    let call = quote_spanned!(span=> #p::run_health(self, #path));
    quote! {
        const HAS_HEALTH: bool = true;

        fn health(&self) -> #p::HealthCall<'_> {
            #call
        }
    }
}

/// `tokens` with every token at `span`, so an error about the whole expression they form
/// points at the user's tokens rather than at the attribute.
fn respan(tokens: TokenStream, span: proc_macro2::Span) -> TokenStream {
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
