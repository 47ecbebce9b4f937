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
    /// `objective = "…"`, `latency = "…"`: the default of every operation of the plugin.
    pub objective: Objective,
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
    "objective",
    "latency",
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
                "objective" | "latency" => out.objective.parse(key, meta)?,
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

/// An objective declared in code: `objective = "99.9%"` (in millionths) and
/// `latency = "250ms"` (in nanoseconds).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Objective {
    pub success_ppm: Option<u32>,
    pub latency_nanos: Option<u64>,
}

impl Objective {
    /// This objective, each part not declared taken from `outer`.
    pub fn or(self, outer: Objective) -> Objective {
        Objective {
            success_ppm: self.success_ppm.or(outer.success_ppm),
            latency_nanos: self.latency_nanos.or(outer.latency_nanos),
        }
    }

    /// Reads `objective` or `latency` of an attribute into `self`.
    fn parse(&mut self, key: &str, meta: &ParseNestedMeta<'_>) -> syn::Result<()> {
        let lit = string_value(meta, key)?;
        let text = lit.value();
        let error = |message: String| syn::Error::new(lit.span(), message);
        match key {
            "objective" => self.success_ppm = Some(parse_percent(&text).map_err(error)?),
            _ => self.latency_nanos = Some(parse_latency(&text).map_err(error)?),
        }
        Ok(())
    }
}

/// Parses `objective = "99.9%"` into millionths.
///
/// # Errors
/// A message naming what is wrong: not a percentage, not above 0 and below 100, or more
/// than four decimals.
fn parse_percent(text: &str) -> Result<u32, String> {
    let wrong = || {
        format!(
            "an objective is a percentage above 0 and below 100, with at most 4 decimals, \
             like \"99.9%\"; found {text:?}"
        )
    };
    let number = text.trim().strip_suffix('%').ok_or_else(wrong)?.trim_end();
    let (whole, decimals) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty()
        || decimals.len() > 4
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !decimals.bytes().all(|b| b.is_ascii_digit())
        || whole.len() > 3
    {
        return Err(wrong());
    }
    let whole: u32 = whole.parse().map_err(|_| wrong())?;
    let mut fraction: u32 = 0;
    for (i, b) in decimals.bytes().enumerate() {
        fraction += u32::from(b - b'0') * 10u32.pow(3 - i as u32);
    }
    let ppm = whole * 10_000 + fraction;
    if ppm == 0 || ppm >= 1_000_000 {
        return Err(wrong());
    }
    Ok(ppm)
}

/// Parses `latency = "250ms"` (units `ns`, `us`, `µs`, `ms`, `s`; decimals allowed) into
/// nanoseconds.
///
/// # Errors
/// A message naming what is wrong: no unit, not a number, not above 0, or more than an
/// hour.
fn parse_latency(text: &str) -> Result<u64, String> {
    let wrong = || {
        format!(
            "a latency objective is a positive duration with its unit (ns, us, ms, s) of at \
             most an hour, like \"250ms\"; found {text:?}"
        )
    };
    let units = [
        ("ns", 1.0),
        ("us", 1e3),
        ("µs", 1e3),
        ("ms", 1e6),
        ("s", 1e9),
    ];
    parse_nanos(text, &units, 3_600e9).ok_or_else(wrong)
}

/// A positive number with one of `units` (name, nanoseconds per unit) after it, in
/// nanoseconds, at most `max`: `None` for anything else.
fn parse_nanos(text: &str, units: &[(&str, f64)], max: f64) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let (_, nanos_per) = units.iter().find(|(u, _)| *u == unit.trim())?;
    if number.is_empty() || number.matches('.').count() > 1 || number.ends_with('.') {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let nanos = (value * nanos_per).round();
    (1.0..=max).contains(&nanos).then_some(nanos as u64)
}

/// `breaker(...)`: a circuit breaker's settings, each `None` when not given (the
/// runtime's defaults apply: 50 % over 10 s with 20 calls, open 30 s, one probe).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Breaker {
    /// `failure_ratio = "50%"`, in millionths.
    pub failure_ppm: Option<u32>,
    /// `window = "10s"`, in nanoseconds.
    pub window_nanos: Option<u64>,
    /// `min_calls = 20`.
    pub min_calls: Option<u32>,
    /// `consecutive = 5`: the consecutive-failures rule instead of the ratio.
    pub consecutive: Option<u32>,
    /// `open_for = "30s"`, in nanoseconds.
    pub open_nanos: Option<u64>,
    /// `probes = 1`.
    pub probes: Option<u32>,
}

/// The most probes a half-open breaker lets through (the runtime's
/// `BreakerSettings::MAX_PROBES`).
const MAX_PROBES: u32 = 1_000;

impl Breaker {
    const KEYS: &'static [&'static str] = &[
        "failure_ratio",
        "window",
        "min_calls",
        "consecutive",
        "open_for",
        "probes",
    ];

    /// `breaker` alone, or `breaker(key = value, ...)`.
    fn parse(meta: &ParseNestedMeta<'_>) -> syn::Result<Breaker> {
        let mut out = Breaker::default();
        if meta.input.peek(Token![=]) {
            return Err(meta
                .error("write `breaker` alone or `breaker(consecutive = 5, open_for = \"30s\")`"));
        }
        if !meta.input.peek(syn::token::Paren) {
            return Ok(out);
        }
        let mut seen = Seen::default();
        let mut ratio_key = None;
        let mut consecutive_key = None;
        let mut found = Errors::default();
        meta.parse_nested_meta(|inner| {
            let entry = seen
                .check(&inner, "instrumented(breaker(...))", Self::KEYS)
                .and_then(|key| {
                    match key.as_str() {
                        "failure_ratio" => {
                            let lit = string_value(&inner, "failure_ratio")?;
                            out.failure_ppm = Some(
                                parse_ratio(&lit.value())
                                    .map_err(|m| syn::Error::new(lit.span(), m))?,
                            );
                            ratio_key = Some(inner.path.clone());
                        }
                        "window" | "open_for" => {
                            let lit = string_value(&inner, &key)?;
                            let nanos = parse_duration(&lit.value(), &key)
                                .map_err(|m| syn::Error::new(lit.span(), m))?;
                            if key == "window" {
                                out.window_nanos = Some(nanos);
                                ratio_key = Some(inner.path.clone());
                            } else {
                                out.open_nanos = Some(nanos);
                            }
                        }
                        "min_calls" => {
                            out.min_calls = Some(int_value(&inner, "min_calls", 0, u32::MAX)?);
                            ratio_key = Some(inner.path.clone());
                        }
                        "consecutive" => {
                            out.consecutive = Some(int_value(&inner, "consecutive", 1, u32::MAX)?);
                            consecutive_key = Some(inner.path.clone());
                        }
                        _ => out.probes = Some(int_value(&inner, "probes", 1, MAX_PROBES)?),
                    }
                    Ok(())
                });
            if let Err(e) = entry {
                found.push(e);
                skip_entry(&inner)?;
            }
            Ok(())
        })?;
        if let Some(e) = found.into_error() {
            return Err(e);
        }
        if let (Some(ratio), Some(_)) = (ratio_key, consecutive_key) {
            return Err(syn::Error::new_spanned(
                ratio,
                "`consecutive` trips the breaker after N failures in a row and replaces the \
                 ratio rule: drop `failure_ratio`, `window` and `min_calls`, or `consecutive`",
            ));
        }
        Ok(out)
    }
}

/// Parses `failure_ratio = "50%"` into millionths: above 0 and at most 100 %.
fn parse_ratio(text: &str) -> Result<u32, String> {
    let wrong = || {
        format!(
            "`failure_ratio` is a percentage above 0 and at most 100, with at most 4 \
             decimals, like \"50%\"; found {text:?}"
        )
    };
    if text.trim() == "100%" {
        return Ok(1_000_000);
    }
    parse_percent(text).map_err(|_| wrong())
}

/// Parses a breaker duration (`window`, `open_for`): like a latency objective, up to a day.
fn parse_duration(text: &str, key: &str) -> Result<u64, String> {
    let units = [
        ("ms", 1e6),
        ("s", 1e9),
        ("m", 60e9),
        ("min", 60e9),
        ("h", 3_600e9),
    ];
    parse_nanos(text, &units, 86_400e9).ok_or_else(|| {
        format!(
            "`{key}` is a positive duration with its unit (ms, s, m, h) of at most a day, \
             like \"30s\"; found {text:?}"
        )
    })
}

/// `key = N`: an integer from `min` to `max`.
fn int_value(meta: &ParseNestedMeta<'_>, key: &str, min: u32, max: u32) -> syn::Result<u32> {
    let input = meta.value().map_err(|_| {
        syn::Error::new_spanned(&meta.path, format!("`{key}` needs a value: `{key} = 5`"))
    })?;
    let lit: syn::LitInt = input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), format!("`{key}` takes an integer: `{key} = 5`")))?;
    match lit.base10_parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(syn::Error::new(
            lit.span(),
            format!("`{key}` is an integer from {min} to {max}; found {lit}"),
        )),
    }
}

/// The largest `sample = N` (the runtime's `sampling::MAX_SAMPLE`).
const MAX_SAMPLE: u32 = 1 << 20;

/// `sample = N`: an integer from 1 to [`MAX_SAMPLE`].
fn sample_value(meta: &ParseNestedMeta<'_>) -> syn::Result<u32> {
    let input = meta.value().map_err(|_| {
        syn::Error::new_spanned(&meta.path, "`sample` needs a value: `sample = 16`")
    })?;
    let lit: syn::LitInt = input.parse().map_err(|e| {
        syn::Error::new(
            e.span(),
            "`sample` takes an integer: one call in N is timed, `sample = 16`",
        )
    })?;
    match lit.base10_parse::<u32>() {
        Ok(n) if (1..=MAX_SAMPLE).contains(&n) => Ok(n),
        _ => Err(syn::Error::new(
            lit.span(),
            format!("`sample` is one call in N timed, N from 1 to {MAX_SAMPLE}; found {lit}"),
        )),
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
            Place::Impl => &[
                "level",
                "err",
                "cpu",
                "objective",
                "latency",
                "sample",
                "breaker",
                "plugin",
                "crate",
            ],
            Place::MethodInImpl => &[
                "name",
                "level",
                "fields",
                "err",
                "cpu",
                "objective",
                "latency",
                "sample",
                "breaker",
                "skip",
                "value",
            ],
            Place::Function => &[
                "name",
                "level",
                "fields",
                "err",
                "cpu",
                "objective",
                "latency",
                "sample",
                "breaker",
                "skip",
                "value",
                "plugin",
                "crate",
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
    /// `objective = "…"`, `latency = "…"`.
    pub objective: Objective,
    /// `sample = N`: time one call in N.
    pub sample: Option<u32>,
    /// `breaker` or `breaker(...)`: a circuit breaker (its settings, and the key's span).
    pub breaker: Option<(Breaker, Span)>,
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
                "objective" | "latency" => out.objective.parse(key, meta)?,
                "sample" => out.sample = Some(sample_value(meta)?),
                "breaker" => {
                    out.breaker = Some((Breaker::parse(meta)?, meta.path.segments[0].ident.span()));
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_parse_to_millionths_or_say_why_not() {
        assert_eq!(parse_percent("99.9%"), Ok(999_000));
        assert_eq!(parse_percent("99.95%"), Ok(999_500));
        assert_eq!(parse_percent("99.9999%"), Ok(999_999));
        assert_eq!(parse_percent("95%"), Ok(950_000));
        assert_eq!(parse_percent(" 0.5 %"), Ok(5_000));
        for bad in [
            "99.9",
            "100%",
            "0%",
            "99.99999%",
            "-1%",
            "abc%",
            ".5%",
            "1000%",
            "99,9%",
        ] {
            assert!(parse_percent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn latencies_parse_with_their_unit_or_say_why_not() {
        assert_eq!(parse_latency("250ms"), Ok(250_000_000));
        assert_eq!(parse_latency("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_latency("800us"), Ok(800_000));
        assert_eq!(parse_latency("800µs"), Ok(800_000));
        assert_eq!(parse_latency("20 ns"), Ok(20));
        for bad in ["250", "0ms", "ms", "-1ms", "1.2.3s", "2h", "3601s", "5.ms"] {
            assert!(parse_latency(bad).is_err(), "{bad}");
        }
    }
}
