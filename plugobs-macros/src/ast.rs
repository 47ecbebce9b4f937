//! Borrowed models of the items the attributes are put on. They keep the `syn` originals
//! so every error can point at the exact token.

use syn::{Attribute, Expr, ExprLit, Ident, ItemStruct, Lit, Meta};

/// A `#[plugin]` struct.
pub struct PluginStruct<'a> {
    pub item: &'a ItemStruct,
    pub ident: &'a Ident,
}

impl<'a> PluginStruct<'a> {
    pub fn from_item(item: &'a ItemStruct) -> Self {
        PluginStruct {
            item,
            ident: &item.ident,
        }
    }

    /// The first non-empty line of the doc comment.
    pub fn doc_summary(&self) -> Option<String> {
        doc_lines(&self.item.attrs)
            .into_iter()
            .map(|l| l.trim().to_owned())
            .find(|l| !l.is_empty())
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
