//! Attribute arguments, and the arguments of the custom-metric macros. Every key is checked against one list per attribute and one
//! "seen" set, so unknown and repeated keys are errors at the key's span. A mistake in one
//! argument is recorded and parsing goes on with the next, so every mistake is reported.

use proc_macro2::{Span, TokenStream, TokenTree};
use syn::meta::ParseNestedMeta;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, LitStr, Path, Token, Type, bracketed};

use crate::errors::Errors;

/// Keys already seen in one attribute.
#[derive(Default)]
struct Seen(Vec<String>);

impl Seen {
    /// Records `key`; an error at the key if it was seen before or is not in `allowed`.
    fn check(
        &mut self,
        meta: &ParseNestedMeta<'_>,
        attr: &str,
        allowed: &[&str],
    ) -> syn::Result<String> {
        let key = path_key(&meta.path);
        if !allowed.contains(&key.as_str()) {
            return Err(syn::Error::new_spanned(
                &meta.path,
                format!(
                    "unknown argument `{key}` for `#[{attr}]`; expected one of: {}",
                    allowed.join(", ")
                ),
            ));
        }
        if self.0.contains(&key) {
            return Err(syn::Error::new_spanned(
                &meta.path,
                format!("`{key}` is given twice in `#[{attr}]`; keep only one"),
            ));
        }
        self.0.push(key.clone());
        Ok(key)
    }
}

fn path_key(path: &Path) -> String {
    path.segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect::<Vec<_>>()
        .join("::")
}

/// Parses `key = value, key(...), key` with `handle` called for every allowed key. An
/// error in one entry is recorded in `errors` and parsing resumes at the next comma.
fn parse_entries(
    args: TokenStream,
    attr: &str,
    allowed: &[&str],
    errors: &mut Errors,
    mut handle: impl FnMut(&str, &ParseNestedMeta<'_>) -> syn::Result<()>,
) {
    let mut seen = Seen::default();
    let mut found = Errors::default();
    let parser = syn::meta::parser(|meta| {
        let entry = seen
            .check(&meta, attr, allowed)
            .and_then(|key| handle(&key, &meta));
        if let Err(e) = entry {
            found.push(e);
            skip_entry(&meta)?;
        }
        Ok(())
    });
    if let Err(e) = parser.parse2(args) {
        found.push(e);
    }
    if let Some(e) = found.into_error() {
        errors.push(e);
    }
}

/// Skips what is left of one `key ...` entry, up to the next top-level comma.
fn skip_entry(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    meta.input.step(|cursor| {
        let mut rest = *cursor;
        while let Some((tt, next)) = rest.token_tree() {
            if matches!(&tt, TokenTree::Punct(p) if p.as_char() == ',') {
                break;
            }
            rest = next;
        }
        Ok(((), rest))
    })
}

/// The arguments of `#[plugin(...)]`.
#[derive(Default)]
pub struct PluginArgs {
    pub name: Option<LitStr>,
    pub kind: Option<LitStr>,
    pub version: Option<LitStr>,
    pub description: Option<LitStr>,
    pub new: Option<Path>,
    pub provides: Vec<Type>,
    pub start: Option<Path>,
    pub stop: Option<Path>,
    pub health: Option<Path>,
    pub krate: Option<Path>,
}

const PLUGIN_KEYS: &[&str] = &[
    "name",
    "kind",
    "version",
    "description",
    "new",
    "provides",
    "start",
    "stop",
    "health",
    "crate",
];

impl PluginArgs {
    /// Every argument that parses; the others are errors in `errors`.
    pub fn parse(args: TokenStream, errors: &mut Errors) -> Self {
        let mut out = PluginArgs::default();
        parse_entries(args, "plugin", PLUGIN_KEYS, errors, |key, meta| {
            match key {
                "name" => out.name = Some(string_value(meta, "name")?),
                "kind" => out.kind = Some(string_value(meta, "kind")?),
                "version" => out.version = Some(string_value(meta, "version")?),
                "description" => out.description = Some(string_value(meta, "description")?),
                "new" => out.new = Some(path_value(meta, "new", "new = Self::create")?),
                "start" => out.start = Some(path_value(meta, "start", "start = Self::open")?),
                "stop" => out.stop = Some(path_value(meta, "stop", "stop = Self::close")?),
                "health" => out.health = Some(path_value(meta, "health", "health = Self::check")?),
                "crate" => out.krate = Some(path_value(meta, "crate", "crate = ::plugobs")?),
                "provides" => {
                    let input = meta.value()?;
                    if input.peek(syn::token::Bracket) {
                        let content;
                        bracketed!(content in input);
                        let list: Punctuated<Type, Token![,]> =
                            content.parse_terminated(Type::parse, Token![,])?;
                        out.provides.extend(list);
                    } else {
                        out.provides.push(input.parse()?);
                    }
                }
                _ => return Err(unhandled_key(meta)),
            }
            Ok(())
        });
        out
    }
}

/// `key = "string"`.
fn string_value(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<LitStr> {
    let input = meta.value().map_err(|_| {
        syn::Error::new_spanned(
            &meta.path,
            format!("`{key}` needs a value: `{key} = \"...\"`"),
        )
    })?;
    input.parse::<LitStr>().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("`{key}` takes a string literal: `{key} = \"...\"`"),
        )
    })
}

/// `key = some::path`.
fn path_value(meta: &ParseNestedMeta<'_>, key: &str, example: &str) -> syn::Result<Path> {
    let input = meta.value().map_err(|_| {
        syn::Error::new_spanned(&meta.path, format!("`{key}` needs a path: `{example}`"))
    })?;
    input.parse::<Path>().map_err(|e| {
        syn::Error::new(
            e.span(),
            format!("`{key}` takes a path to a function: `{example}`"),
        )
    })
}

/// A key passed the allow-list but has no arm: a bug in this crate, reported as a
/// compile error rather than a panic.
fn unhandled_key(meta: &ParseNestedMeta<'_>) -> syn::Error {
    meta.error("plugobs does not handle this argument (this is a plugobs bug)")
}

/// The crate path generated code uses: `crate = path`, or `::plugobs`.
pub fn crate_path(krate: Option<&Path>) -> TokenStream {
    match krate {
        Some(p) => quote::quote!(#p),
        None => {
            let plugobs = Ident::new("plugobs", Span::call_site());
            quote::quote!(::#plugobs)
        }
    }
}

/// `crate_path(krate)::__private`, where generated code finds the runtime.
pub fn private_path(krate: Option<&Path>) -> TokenStream {
    let k = crate_path(krate);
    quote::quote!(#k::__private)
}

/// A span level, from `level = "..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl Level {
    const NAMES: [(&'static str, Level); 5] = [
        ("trace", Level::Trace),
        ("debug", Level::Debug),
        ("info", Level::Info),
        ("warn", Level::Warn),
        ("error", Level::Error),
    ];

    fn parse(lit: &LitStr) -> syn::Result<Self> {
        let value = lit.value().to_ascii_lowercase();
        Self::NAMES
            .iter()
            .find(|(name, _)| *name == value)
            .map(|(_, level)| *level)
            .ok_or_else(|| {
                syn::Error::new(
                    lit.span(),
                    format!(
                        "unknown level {:?}; use one of \"trace\", \"debug\", \"info\", \"warn\", \"error\"",
                        lit.value()
                    ),
                )
            })
    }

    /// The name of the `tracing::Level` constant.
    pub fn constant(self) -> Ident {
        let name = match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
        };
        Ident::new(name, Span::call_site())
    }
}

/// One `fields(...)` entry: a bare argument name, or `name = expr`.
#[derive(Clone)]
pub struct Field {
    pub name: Ident,
    pub value: Option<syn::Expr>,
}

/// Where an `#[instrumented]` attribute sits; decides which keys it accepts.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// On an impl block.
    Impl,
    /// On a method inside an `#[instrumented]` impl block.
    MethodInImpl,
    /// On a free function, or a method whose impl block is not instrumented.
    Function,
}

impl Place {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Place::Impl => &["level", "err", "cpu", "plugin", "crate"],
            Place::MethodInImpl => &["name", "level", "fields", "err", "cpu", "skip", "value"],
            Place::Function => &[
                "name", "level", "fields", "err", "cpu", "skip", "value", "plugin", "crate",
            ],
        }
    }
}

/// The arguments of `#[instrumented(...)]`.
#[derive(Default)]
pub struct InstrumentedArgs {
    pub name: Option<LitStr>,
    pub level: Option<Level>,
    pub fields: Vec<Field>,
    pub err: Option<Ident>,
    /// `cpu`: measure the thread CPU time of each call.
    pub cpu: Option<Ident>,
    pub skip: Option<Ident>,
    /// `value`: a returned future is a value to the caller; the call ends when it returns.
    pub value: Option<Ident>,
    pub plugin: Option<Type>,
    pub krate: Option<Path>,
}

impl InstrumentedArgs {
    /// Every argument that parses; the others are errors in `errors`.
    pub fn parse(args: TokenStream, place: Place, errors: &mut Errors) -> Self {
        let mut out = InstrumentedArgs::default();
        parse_entries(args, "instrumented", place.keys(), errors, |key, meta| {
            match key {
                "name" => out.name = Some(string_value(meta, "name")?),
                "level" => out.level = Some(Level::parse(&string_value(meta, "level")?)?),
                "err" => out.err = Some(flag(meta, "err")?),
                "cpu" => out.cpu = Some(flag(meta, "cpu")?),
                "skip" => out.skip = Some(flag(meta, "skip")?),
                "value" => out.value = Some(flag(meta, "value")?),
                "plugin" => {
                    let input = meta.value().map_err(|_| {
                        syn::Error::new_spanned(
                            &meta.path,
                            "`plugin` needs a type: `plugin = MyPlugin`",
                        )
                    })?;
                    out.plugin = Some(input.parse()?);
                }
                "crate" => out.krate = Some(path_value(meta, "crate", "crate = ::plugobs")?),
                "fields" => out.fields = fields(meta)?,
                _ => return Err(unhandled_key(meta)),
            }
            Ok(())
        });
        out
    }
}

/// `fields(name, name = expr, ...)`.
fn fields(meta: &ParseNestedMeta<'_>) -> syn::Result<Vec<Field>> {
    let mut out: Vec<Field> = Vec::new();
    meta.parse_nested_meta(|field| {
        let name = field.path.get_ident().cloned().ok_or_else(|| {
            syn::Error::new_spanned(
                &field.path,
                "a field name is a plain identifier: `fields(user_id, len = line.len())`",
            )
        })?;
        if out.iter().any(|f| f.name == name) {
            return Err(syn::Error::new(
                name.span(),
                format!("field `{name}` is given twice; keep only one"),
            ));
        }
        let value = if field.input.peek(Token![=]) {
            Some(field.value()?.parse()?)
        } else {
            None
        };
        out.push(Field { name, value });
        Ok(())
    })?;
    Ok(out)
}

/// A bare `key` with no value.
fn flag(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<Ident> {
    if meta.input.peek(Token![=]) || meta.input.peek(syn::token::Paren) {
        return Err(meta.error(format!("`{key}` takes no value: write `{key}` alone")));
    }
    meta.path
        .get_ident()
        .cloned()
        .ok_or_else(|| syn::Error::new_spanned(&meta.path, format!("expected `{key}`")))
}

/// The `crate = path` of `#[plugobs(crate = path)]` helper attributes (on a derive input).
pub fn helper_crate(attrs: &[syn::Attribute], errors: &mut Errors) -> Option<Path> {
    let mut krate = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("plugobs")) {
        let tokens = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            other => {
                errors.push(syn::Error::new_spanned(
                    other,
                    "write `#[plugobs(crate = path)]`",
                ));
                continue;
            }
        };
        parse_entries(tokens, "plugobs", &["crate"], errors, |key, meta| {
            match key {
                "crate" => krate = Some(path_value(meta, "crate", "crate = ::plugobs")?),
                _ => return Err(unhandled_key(meta)),
            }
            Ok(())
        });
    }
    krate
}

/// The arguments of `counter!`, `gauge!` and `histogram!`:
/// `[crate = path;] Plugin, "name" (, "key" => value)* [,]`.
pub struct CustomArgs {
    pub krate: Option<Path>,
    pub plugin: Type,
    pub name: LitStr,
    pub labels: Vec<(LitStr, Expr)>,
}

impl Parse for CustomArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let krate = if input.peek(Token![crate]) && input.peek2(Token![=]) {
            input.parse::<Token![crate]>()?;
            input.parse::<Token![=]>()?;
            let path = input.parse::<Path>()?;
            input.parse::<Token![;]>()?;
            Some(path)
        } else {
            None
        };
        let plugin: Type = input.parse()?;
        input.parse::<Token![,]>()?;
        let name: LitStr = input.parse()?;
        let mut labels = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: LitStr = input.parse()?;
            input.parse::<Token![=>]>()?;
            let value: Expr = input.parse()?;
            labels.push((key, value));
        }
        Ok(CustomArgs {
            krate,
            plugin,
            name,
            labels,
        })
    }
}
