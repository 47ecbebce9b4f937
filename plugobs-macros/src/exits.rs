//! Whether a function body can leave the function before its end: a `return`, a `?`, or
//! a macro that might expand to one. Such a body runs inside a closure so the call is
//! still recorded; any other body runs as a plain block, which costs less to compile.

use proc_macro2::{TokenStream, TokenTree};
use syn::visit::Visit;
use syn::{Block, Expr, ExprClosure, Item, Macro};

/// Standard macros that never leave the function (nor await) unless their arguments do.
pub const LOCAL_MACROS: &[&str] = &[
    "assert",
    "assert_eq",
    "assert_ne",
    "concat",
    "dbg",
    "debug_assert",
    "debug_assert_eq",
    "debug_assert_ne",
    "eprint",
    "eprintln",
    "format",
    "format_args",
    "matches",
    "panic",
    "print",
    "println",
    "stringify",
    "todo",
    "unimplemented",
    "unreachable",
    "vec",
    "write",
    "writeln",
];

/// Whether `block` may leave the function early.
pub fn may_exit_early(block: &Block) -> bool {
    let mut finder = Finder(false);
    finder.visit_block(block);
    finder.0
}

struct Finder(bool);

impl<'ast> Visit<'ast> for Finder {
    fn visit_expr(&mut self, expr: &'ast Expr) {
        match expr {
            Expr::Return(_) | Expr::Try(_) => self.0 = true,
            // Their `return` and `?` are their own.
            Expr::Closure(ExprClosure { .. }) | Expr::Async(_) | Expr::Const(_) => {}
            other => syn::visit::visit_expr(self, other),
        }
    }

    // A nested function's `return` is its own.
    fn visit_item(&mut self, _: &'ast Item) {}

    fn visit_macro(&mut self, mac: &'ast Macro) {
        if !is_local_macro(mac) || mentions_exit(&mac.tokens) {
            self.0 = true;
        }
    }
}

/// Whether `mac` is one of [`LOCAL_MACROS`] (by its name or `std::` path).
pub fn is_local_macro(mac: &Macro) -> bool {
    mac.path
        .get_ident()
        .is_some_and(|name| LOCAL_MACROS.contains(&name.to_string().as_str()))
        || mac.path.segments.len() == 2
            && mac.path.segments[0].ident == "std"
            && LOCAL_MACROS.contains(&mac.path.segments[1].ident.to_string().as_str())
}

/// Whether `tokens` hold a `return` or a `?`.
fn mentions_exit(tokens: &TokenStream) -> bool {
    tokens.clone().into_iter().any(|tt| match tt {
        TokenTree::Ident(i) => i == "return",
        TokenTree::Punct(p) => p.as_char() == '?',
        TokenTree::Group(g) => mentions_exit(&g.stream()),
        TokenTree::Literal(_) => false,
    })
}

#[cfg(test)]
mod tests {
    use super::may_exit_early;

    fn exits(body: &str) -> bool {
        may_exit_early(&syn::parse_str(body).unwrap())
    }

    #[test]
    fn finds_early_exits() {
        assert!(!exits("{ let x = 1; x + 2 }"));
        assert!(!exits("{ println!(\"{}\", 1); vec![1] }"));
        assert!(!exits("{ let f = || { return 1; }; f() }"));
        assert!(!exits("{ fn inner() -> u8 { return 1 } inner() }"));
        assert!(!exits("{ let f = async { x? }; f }"));
        assert!(exits("{ if a { return 1; } 2 }"));
        assert!(exits("{ let n = parse(s)?; n }"));
        assert!(exits("{ for x in v { if x { return Some(x); } } None }"));
        assert!(exits("{ anyhow::bail!(\"no\") }"));
        assert!(exits("{ ensure!(x) ; 1 }"));
        assert!(exits("{ assert!({ return 1; }); 2 }"));
    }
}
