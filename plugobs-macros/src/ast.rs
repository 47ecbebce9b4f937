//! Borrowed models of the items the macros are put on. They keep the `syn` originals
//! so every error can point at the exact token, and hold each function's options already
//! merged (method over impl over default).
//!
//! An item of the wrong kind (`#[plugin]` on an enum, `#[instrumented]` on a struct,
//! `derive(ErrorKind)` on a union) has no model: its `from_syn` is where it is refused.

use proc_macro2::TokenStream;
use syn::spanned::Spanned;
use syn::{
    Attribute, Block, Data, DataEnum, DeriveInput, Expr, ExprLit, Ident, ImplItem, Item, ItemFn,
    ItemImpl, ItemStruct, Lit, LitStr, Meta, Path, Signature, Type,
};

use crate::args::{CustomArgs, Field, InstrumentedArgs, Level, Objective, Place};
use crate::asyncness::{self, Shape};
use crate::errors::Errors;

/// A `#[plugin]` struct.
pub struct PluginStruct<'a> {
    pub item: &'a ItemStruct,
    pub ident: &'a Ident,
}

impl<'a> PluginStruct<'a> {
    /// The model of `item`; an error at the item's keyword if it is not a struct.
    pub fn from_syn(item: &'a Item) -> syn::Result<Self> {
        let (span, what) = match item {
            Item::Struct(item) => {
                return Ok(PluginStruct {
                    item,
                    ident: &item.ident,
                });
            }
            Item::Enum(e) => (e.enum_token.span(), "an enum"),
            Item::Fn(f) => (f.sig.fn_token.span(), "a function"),
            Item::Trait(t) => (t.trait_token.span(), "a trait"),
            Item::Impl(i) => (i.impl_token.span(), "an impl block"),
            Item::Union(u) => (u.union_token.span(), "a union"),
            Item::Type(t) => (t.type_token.span(), "a type alias"),
            other => (other.span(), "this item"),
        };
        Err(syn::Error::new(
            span,
            format!(
                "`#[plugin]` goes on a struct, not on {what}; define a struct for the plugin, \
                 e.g. `#[plugin] struct MyPlugin {{ .. }}`"
            ),
        ))
    }

    /// The first non-empty line of the doc comment.
    pub fn doc_summary(&self) -> Option<String> {
        doc_lines(&self.item.attrs)
            .into_iter()
            .map(|l| l.trim().to_owned())
            .find(|l| !l.is_empty())
    }
}

/// Where generated code finds the plugin and plugobs: shared by every function of one
/// attribute.
pub struct Target<'a> {
    /// `plugin = Type`; `Self` when absent.
    pub plugin: Option<&'a Type>,
    /// `crate = path`; `::plugobs` when absent.
    pub krate: Option<&'a Path>,
}

/// Whether a function emits an ERROR event for its `Err`.
pub enum ErrOption {
    /// No `err`.
    Off,
    /// `err` on the function itself: it must return a `Result`.
    OnFunction(Ident),
    /// `err` on the impl: applies when the function returns a `Result`.
    FromImpl,
}

/// One function to instrument, with its options merged.
pub struct Function<'a> {
    pub sig: &'a Signature,
    pub block: &'a Block,
    pub place: Place,
    /// The `operation` label and span name.
    pub name: String,
    pub level: Level,
    pub err: ErrOption,
    /// `cpu`, on the function or its impl: thread CPU time is measured.
    pub cpu: bool,
    /// `objective`/`latency` of the function, else of its impl (the plugin's apply at
    /// run time to what neither declares).
    pub objective: Objective,
    /// `sample = N` of the function, else of its impl.
    pub sample: Option<u32>,
    /// `breaker(...)` of the function, else of its impl, with the key's span.
    pub breaker: Option<(crate::args::Breaker, proc_macro2::Span)>,
    pub fields: Vec<Field>,
    pub skip: Option<Ident>,
    /// `value`: what the function returns is measured as a value even when it is a future
    /// (the call ends when the function returns).
    pub value: Option<Ident>,
    pub shape: Shape,
}

impl Function<'_> {
    /// Whether the `err` event is generated.
    pub fn emits_err(&self) -> bool {
        match self.err {
            ErrOption::Off => false,
            ErrOption::OnFunction(_) => true,
            ErrOption::FromImpl => self.returns_result(),
        }
    }

    /// Whether the value the call produces (a future's output for async shapes) is
    /// written as a `Result`: a path type whose last segment ends in `Result`
    /// (`Result<T, E>`, `io::Result<T>`, `fmt::Result`, `ParseResult<T>`).
    pub fn returns_result(&self) -> bool {
        asyncness::call_output(self.sig, &self.shape).is_some_and(asyncness::is_result)
    }
}

/// What `#[instrumented]` can go on: an impl block, or a function.
pub enum Instrumentable<'a> {
    Impl(&'a ItemImpl),
    Fn(&'a ItemFn),
}

impl<'a> Instrumentable<'a> {
    /// `item` as an impl block or a function; an error at the item's keyword for
    /// anything else.
    pub fn from_syn(item: &'a Item) -> syn::Result<Self> {
        let (span, what, hint) = match item {
            Item::Impl(imp) => return Ok(Instrumentable::Impl(imp)),
            Item::Fn(f) => return Ok(Instrumentable::Fn(f)),
            Item::Struct(s) => (
                s.struct_token.span(),
                "a struct",
                "put it on the struct's `impl` blocks",
            ),
            Item::Enum(e) => (
                e.enum_token.span(),
                "an enum",
                "put it on the enum's `impl` blocks",
            ),
            Item::Trait(t) => (
                t.trait_token.span(),
                "a trait definition",
                "put it on each plugin's `impl Trait for Plugin` block",
            ),
            other => (
                other.span(),
                "this item",
                "put it on an impl block or a function",
            ),
        };
        Err(syn::Error::new(
            span,
            format!("`#[instrumented]` cannot go on {what}; {hint}"),
        ))
    }

    /// Which keys the attribute accepts here.
    pub fn place(&self) -> Place {
        match self {
            Instrumentable::Impl(_) => Place::Impl,
            Instrumentable::Fn(_) => Place::Function,
        }
    }
}

/// An `#[instrumented]` impl block.
pub struct InstrumentedImpl<'a> {
    pub item: &'a ItemImpl,
    pub target: Target<'a>,
    /// Every method with its position in `item.items`, skipped ones included.
    pub methods: Vec<(usize, Function<'a>)>,
    /// A second `#[instrumented]` on the impl block itself.
    pub repeated_on_impl: Vec<&'a Attribute>,
    /// A second `#[instrumented]` on one method.
    pub repeated: Vec<&'a Attribute>,
}

/// An `#[instrumented]` free function (or a method of an impl that is not instrumented).
pub struct InstrumentedFn<'a> {
    pub item: &'a ItemFn,
    pub target: Target<'a>,
    pub function: Function<'a>,
    /// A second `#[instrumented]` on the function (the one being expanded is not among
    /// its attributes any more).
    pub repeated: Vec<&'a Attribute>,
}

/// Whether `attr` is `#[instrumented]` or `#[some::path::instrumented]`.
pub fn is_instrumented_attr(attr: &Attribute) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|s| s.ident == "instrumented")
}

fn attr_args(attr: &Attribute) -> syn::Result<TokenStream> {
    match &attr.meta {
        Meta::Path(_) => Ok(TokenStream::new()),
        Meta::List(list) => Ok(list.tokens.clone()),
        Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            "write `#[instrumented]` or `#[instrumented(option, ...)]`",
        )),
    }
}

fn function<'a>(
    sig: &'a Signature,
    block: &'a Block,
    own: &InstrumentedArgs,
    outer: Option<&InstrumentedArgs>,
    place: Place,
) -> Function<'a> {
    let name = own.name.as_ref().map(|n| n.value()).unwrap_or_else(|| {
        let s = sig.ident.to_string();
        s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
    });
    let err = match (&own.err, outer.and_then(|o| o.err.as_ref())) {
        (Some(err), _) => ErrOption::OnFunction(err.clone()),
        (None, Some(_)) => ErrOption::FromImpl,
        (None, None) => ErrOption::Off,
    };
    Function {
        sig,
        block,
        place,
        name,
        level: own
            .level
            .or(outer.and_then(|o| o.level))
            .unwrap_or(Level::Debug),
        err,
        cpu: own.cpu.is_some() || outer.is_some_and(|o| o.cpu.is_some()),
        objective: own
            .objective
            .or(outer.map(|o| o.objective).unwrap_or_default()),
        sample: own.sample.or(outer.and_then(|o| o.sample)),
        breaker: own.breaker.or(outer.and_then(|o| o.breaker)),
        fields: own.fields.clone(),
        skip: own.skip.clone(),
        value: own.value.clone(),
        shape: asyncness::shape(sig, block),
    }
}

impl<'a> InstrumentedImpl<'a> {
    /// The model of `item`; errors in the methods' own attributes go to `errors`.
    pub fn from_syn(item: &'a ItemImpl, args: &'a InstrumentedArgs, errors: &mut Errors) -> Self {
        let mut methods = Vec::new();
        let mut repeated = Vec::new();
        for (index, impl_item) in item.items.iter().enumerate() {
            let ImplItem::Fn(method) = impl_item else {
                continue;
            };
            let mut own_attrs = method.attrs.iter().filter(|a| is_instrumented_attr(a));
            let own = match own_attrs.next() {
                Some(attr) => match attr_args(attr) {
                    Ok(tokens) => InstrumentedArgs::parse(tokens, Place::MethodInImpl, errors),
                    Err(e) => {
                        errors.push(e);
                        InstrumentedArgs::default()
                    }
                },
                None => InstrumentedArgs::default(),
            };
            repeated.extend(own_attrs);
            let f = function(
                &method.sig,
                &method.block,
                &own,
                Some(args),
                Place::MethodInImpl,
            );
            methods.push((index, f));
        }
        InstrumentedImpl {
            item,
            target: Target {
                plugin: args.plugin.as_ref(),
                krate: args.krate.as_ref(),
            },
            methods,
            repeated_on_impl: item
                .attrs
                .iter()
                .filter(|a| is_instrumented_attr(a))
                .collect(),
            repeated,
        }
    }
}

impl<'a> InstrumentedFn<'a> {
    /// The model of `item` with its attribute's arguments.
    pub fn from_syn(item: &'a ItemFn, args: &'a InstrumentedArgs) -> Self {
        InstrumentedFn {
            item,
            target: Target {
                plugin: args.plugin.as_ref(),
                krate: args.krate.as_ref(),
            },
            function: function(&item.sig, &item.block, args, None, Place::Function),
            repeated: item
                .attrs
                .iter()
                .filter(|a| is_instrumented_attr(a))
                .collect(),
        }
    }
}

/// A `derive(ErrorKind)` enum.
pub struct ErrorKindEnum<'a> {
    pub input: &'a DeriveInput,
    pub data: &'a DataEnum,
}

impl<'a> ErrorKindEnum<'a> {
    /// The model of `input`; an error at the `struct` or `union` keyword if it is not an
    /// enum.
    pub fn from_syn(input: &'a DeriveInput) -> syn::Result<Self> {
        let (span, what) = match &input.data {
            Data::Enum(data) => return Ok(ErrorKindEnum { input, data }),
            Data::Struct(s) => (s.struct_token.span, "a struct"),
            Data::Union(u) => (u.union_token.span, "a union"),
        };
        Err(syn::Error::new(
            span,
            format!(
                "`#[derive(ErrorKind)]` names the variants of an enum, and this is {what}; \
                 implement `plugobs::ErrorKind` by hand and return one fixed kind, e.g. \
                 `fn error_kind(&self) -> &'static str {{ \"timeout\" }}`"
            ),
        ))
    }
}

/// Which custom-metric macro.
#[derive(Clone, Copy)]
pub enum MetricKind {
    Counter,
    Gauge,
    Histogram,
}

/// One extra label of a custom metric: `"key" => value`.
pub struct Label<'a> {
    pub key: &'a LitStr,
    pub value: &'a Expr,
}

/// One `counter!`, `gauge!` or `histogram!` call.
pub struct CustomMetric<'a> {
    pub kind: MetricKind,
    /// `crate = path;`; `::plugobs` when absent.
    pub krate: Option<&'a Path>,
    pub plugin: &'a Type,
    pub name: &'a LitStr,
    pub labels: Vec<Label<'a>>,
}

impl<'a> CustomMetric<'a> {
    /// The model of one call of the `kind` macro.
    pub fn from_syn(kind: MetricKind, args: &'a CustomArgs) -> Self {
        CustomMetric {
            kind,
            krate: args.krate.as_ref(),
            plugin: &args.plugin,
            name: &args.name,
            labels: args
                .labels
                .iter()
                .map(|(key, value)| Label { key, value })
                .collect(),
        }
    }
}

/// The text of every `#[doc = "..."]` attribute, in order.
pub fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .flat_map(|s| s.lines().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// `FileSink` -> `file_sink`, `HTTPServer` -> `http_server`.
pub fn snake_case(ident: &str) -> String {
    let ident = ident.strip_prefix("r#").unwrap_or(ident);
    let chars: Vec<char> = ident.chars().collect();
    let mut out = String::with_capacity(ident.len() + 4);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_uppercase() {
            let prev = i.checked_sub(1).map(|p| chars[p]);
            let next = chars.get(i + 1);
            let boundary = match prev {
                None | Some('_') => false,
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) => p.is_uppercase() && next.is_some_and(|n| n.is_lowercase()),
            };
            if boundary {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn snake_case() {
        assert_eq!(super::snake_case("FileSink"), "file_sink");
        assert_eq!(super::snake_case("HTTPServer"), "http_server");
        assert_eq!(super::snake_case("Geo2Ip"), "geo2_ip");
        assert_eq!(super::snake_case("already_snake"), "already_snake");
    }
}
