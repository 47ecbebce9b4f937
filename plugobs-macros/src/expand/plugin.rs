//! `#[plugin]`: the descriptor, the `Plugin` impl, one `Provides` impl per trait, and the
//! `inventory` submission.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Item, LitStr};

use crate::args::{PluginArgs, crate_path};
use crate::ast::{PluginStruct, snake_case};
use crate::fallback;
use crate::valid;

/// Entry point: parse -> validate -> expand.
pub fn entry(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input.clone()) {
        Ok(item) => item,
        Err(e) => return fallback::with_item(e, input),
    };
    let strukt = match &item {
        Item::Struct(s) => s,
        other => return fallback::with_item(not_a_struct(other), input),
    };
    let model = PluginStruct::from_item(strukt);
    let args = match PluginArgs::parse(args) {
        Ok(args) => args,
        Err(e) => return fallback::with_item(e, input),
    };
    if let Err(e) = valid::plugin(&args, &model) {
        return fallback::with_item(e, input);
    }
    expand(&args, &model)
}

fn not_a_struct(item: &Item) -> syn::Error {
    let (span, what) = match item {
        Item::Enum(e) => (e.enum_token.span(), "an enum"),
        Item::Fn(f) => (f.sig.fn_token.span(), "a function"),
        Item::Trait(t) => (t.trait_token.span(), "a trait"),
        Item::Impl(i) => (i.impl_token.span(), "an impl block"),
        Item::Union(u) => (u.union_token.span(), "a union"),
        Item::Type(t) => (t.type_token.span(), "a type alias"),
        other => (other.span(), "this item"),
    };
    syn::Error::new(
        span,
        format!(
            "`#[plugin]` goes on a struct, not on {what}; define a struct for the plugin, \
             e.g. `#[plugin] struct MyPlugin {{ .. }}`"
        ),
    )
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

    let construct = match &args.new {
        Some(path) => quote_spanned!(path.span()=> #p::into_instance::<Self, _, _>(#path())),
        None => quote_spanned!(span=> #p::default_instance::<Self>()),
    };
    let start = args.start.as_ref().map(|path| {
        quote_spanned! {path.span()=>
            fn start(&mut self) -> #p::HookCall<'_> {
                #p::into_hook_call(#path(self))
            }
        }
    });
    let stop = args.stop.as_ref().map(|path| {
        quote_spanned! {path.span()=>
            fn stop(&mut self) -> #p::HookCall<'_> {
                #p::into_hook_call(#path(self))
            }
        }
    });
    let has_stop = args.stop.is_some();

    let provides = args.provides.iter().map(|ty| {
        quote_spanned! {ty.span()=>
            #p::Provided {
                trait_name: ::core::stringify!(#ty),
                factory: &#p::Factory::<#ty>(#p::factory::<#ident, #ty>),
            }
        }
    });
    let provides_impls = args.provides.iter().enumerate().map(|(i, ty)| {
        // A type alias gives the trait object its `'static` default, as in `Provides<S>`.
        let alias = syn::Ident::new(&format!("__PlugobsProvided{i}"), ty.span());
        quote_spanned! {ty.span()=>
            type #alias = #ty;
            #[automatically_derived]
            impl #p::Provides<#alias> for #ident {
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

    quote! {
        #item

        const _: () = {
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
            };

            #[automatically_derived]
            impl #p::Plugin for #ident {
                const DESCRIPTOR: &'static #p::PluginDescriptor = &__PLUGOBS_DESCRIPTOR;

                fn construct() -> #p::Result<Self, #p::HookError> {
                    #construct
                }

                #start
                #stop
            }

            #(#provides_impls)*

            #p::inventory::submit! {
                #p::Registration(&__PLUGOBS_DESCRIPTOR)
            }
        };
    }
}
