//! Attribute arguments. Every key is checked against one list per attribute and one
//! "seen" set, so unknown and repeated keys are errors at the key's span.

use proc_macro2::{Span, TokenStream};
use syn::meta::ParseNestedMeta;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Ident, LitStr, Path, Token, Type, bracketed};

/// Keys already seen in one attribute.
#[derive(Default)]
pub struct Seen(Vec<String>);

impl Seen {
    /// Records `key`; an error at the key if it was seen before or is not in `allowed`.
    pub fn check(
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
    "crate",
];

impl PluginArgs {
    pub fn parse(args: TokenStream) -> syn::Result<Self> {
        let mut out = PluginArgs::default();
        let mut seen = Seen::default();
        let parser = syn::meta::parser(|meta| {
            let key = seen.check(&meta, "plugin", PLUGIN_KEYS)?;
            match key.as_str() {
                "name" => out.name = Some(string_value(&meta, "name")?),
                "kind" => out.kind = Some(string_value(&meta, "kind")?),
                "version" => out.version = Some(string_value(&meta, "version")?),
                "description" => out.description = Some(string_value(&meta, "description")?),
                "new" => out.new = Some(path_value(&meta, "new", "new = Self::create")?),
                "start" => out.start = Some(path_value(&meta, "start", "start = Self::open")?),
                "stop" => out.stop = Some(path_value(&meta, "stop", "stop = Self::close")?),
                "crate" => out.krate = Some(path_value(&meta, "crate", "crate = ::plugobs")?),
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
                _ => unreachable_key(&meta)?,
            }
            Ok(())
        });
        parser.parse2(args)?;
        Ok(out)
    }
}

use syn::parse::Parse;

/// `key = "string"`.
pub fn string_value(meta: &ParseNestedMeta<'_>, key: &str) -> syn::Result<LitStr> {
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
pub fn path_value(meta: &ParseNestedMeta<'_>, key: &str, example: &str) -> syn::Result<Path> {
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
pub fn unreachable_key(meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
    Err(meta.error("plugobs does not handle this argument (this is a plugobs bug)"))
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

/// One `fields(...)` entry: a bare argument name, or `name = expr`.
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

/// The arguments of `#[instrumented(...)]`.
#[derive(Default)]
pub struct InstrumentedArgs {
    pub name: Option<LitStr>,
    pub level: Option<LitStr>,
    pub fields: Vec<Field>,
    pub err: Option<Ident>,
    pub skip: Option<Ident>,
    pub plugin: Option<Type>,
    pub krate: Option<Path>,
}

impl Place {
    fn keys(self) -> &'static [&'static str] {
        match self {
            Place::Impl => &["level", "err", "plugin", "crate"],
            Place::MethodInImpl => &["name", "level", "fields", "err", "skip"],
            Place::Function => &["name", "level", "fields", "err", "skip", "plugin", "crate"],
        }
    }
}

impl InstrumentedArgs {
    pub fn parse(args: TokenStream, place: Place) -> syn::Result<Self> {
        let mut out = InstrumentedArgs::default();
        let mut seen = Seen::default();
        let parser = syn::meta::parser(|meta| {
            let key = seen.check(&meta, "instrumented", place.keys())?;
            match key.as_str() {
                "name" => out.name = Some(string_value(&meta, "name")?),
                "level" => out.level = Some(string_value(&meta, "level")?),
                "err" => out.err = Some(flag(&meta, "err")?),
                "skip" => out.skip = Some(flag(&meta, "skip")?),
                "plugin" => {
                    let input = meta.value().map_err(|_| {
                        syn::Error::new_spanned(
                            &meta.path,
                            "`plugin` needs a type: `plugin = MyPlugin`",
                        )
                    })?;
                    out.plugin = Some(input.parse()?);
                }
                "crate" => out.krate = Some(path_value(&meta, "crate", "crate = ::plugobs")?),
                "fields" => {
                    let mut names: Vec<String> = Vec::new();
                    meta.parse_nested_meta(|field| {
                        let name = field.path.get_ident().cloned().ok_or_else(|| {
                            syn::Error::new_spanned(&field.path, "a field name is a plain identifier: `fields(user_id, len = line.len())`")
                        })?;
                        if names.contains(&name.to_string()) {
                            return Err(syn::Error::new(name.span(), format!("field `{name}` is given twice; keep only one")));
                        }
                        names.push(name.to_string());
                        let value = if field.input.peek(Token![=]) { Some(field.value()?.parse()?) } else { None };
                        out.fields.push(Field { name, value });
                        Ok(())
                    })?;
                }
                _ => unreachable_key(&meta)?,
            }
            Ok(())
        });
        parser.parse2(args)?;
        Ok(out)
    }
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
