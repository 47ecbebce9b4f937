//! Recognising async bodies, as tracing-attributes does: `async fn`; a function returning
//! `impl Future` whose body ends in an `async move` block; and async-trait's
//! `Box::pin(async move { … })` body, whichever attribute order the user wrote. A function
//! whose signature returns a future (`impl Future<Output = T>` or
//! `Pin<Box<dyn Future<Output = T> + ..>>`) with any other body is measured as the future
//! it returns, too.

use syn::visit_mut::VisitMut;
use syn::{
    Block, Expr, GenericArgument, PathArguments, ReturnType, Signature, Stmt, Type, TypeParamBound,
};

/// The shape of a function body.
pub enum Shape {
    /// A plain function: the call is the body.
    Sync,
    /// `async fn`: the call is the future.
    AsyncFn,
    /// The tail expression is an async block (possibly inside `Box::pin(...)`); the call is
    /// that future. [`tail_async_mut`] finds the block.
    TailAsync,
    /// The signature returns a future and the body computes it some other way (it
    /// delegates); the call is the returned future, wrapped.
    ReturnedFuture {
        /// `Pin<Box<dyn Future ..>>`, or `impl Future + Unpin`: wrap in `Box::pin`.
        boxed: bool,
    },
}

/// Whether an `async fn` body may suspend: it holds an `.await` of its own, or a macro
/// that might expand to one (any but the standard [`LOCAL_MACROS`](crate::exits::LOCAL_MACROS)
/// whose arguments do not). A body that cannot completes in its first poll, so it is
/// measured like a sync body inside the function's own future, with no second future
/// around it.
pub fn may_await(block: &Block) -> bool {
    struct Finder(bool);
    impl<'ast> syn::visit::Visit<'ast> for Finder {
        fn visit_expr(&mut self, expr: &'ast Expr) {
            match expr {
                Expr::Await(_) => self.0 = true,
                // Their awaits are their own futures'.
                Expr::Closure(_) | Expr::Async(_) | Expr::Const(_) => {}
                other => syn::visit::visit_expr(self, other),
            }
        }
        fn visit_item(&mut self, _: &'ast syn::Item) {}
        fn visit_macro(&mut self, mac: &'ast syn::Macro) {
            if !crate::exits::is_local_macro(mac) || mentions_await(&mac.tokens) {
                self.0 = true;
            }
        }
    }
    fn mentions_await(tokens: &proc_macro2::TokenStream) -> bool {
        tokens.clone().into_iter().any(|tt| match tt {
            proc_macro2::TokenTree::Ident(i) => i == "await",
            proc_macro2::TokenTree::Group(g) => mentions_await(&g.stream()),
            _ => false,
        })
    }
    let mut finder = Finder(false);
    syn::visit::Visit::visit_block(&mut finder, block);
    finder.0
}

pub fn shape(sig: &Signature, block: &Block) -> Shape {
    if sig.asyncness.is_some() {
        return Shape::AsyncFn;
    }
    let tail_async = match block.stmts.last() {
        Some(Stmt::Expr(Expr::Async(_), None)) => true,
        Some(Stmt::Expr(Expr::Call(call), None))
            if is_box_pin(&call.func) && call.args.len() == 1 =>
        {
            matches!(call.args.first(), Some(Expr::Async(_)))
        }
        _ => false,
    };
    if tail_async {
        return Shape::TailAsync;
    }
    match &sig.output {
        ReturnType::Type(_, ty) => match returned_future(ty) {
            Some(boxed) => Shape::ReturnedFuture { boxed },
            None => Shape::Sync,
        },
        ReturnType::Default => Shape::Sync,
    }
}

/// Whether `ty` is a future: `Some(true)` when the wrapper must be boxed
/// (`Pin<Box<dyn Future<..>>>`, `impl Future<..> + Unpin`), `Some(false)` for
/// `impl Future<..>`.
fn returned_future(ty: &Type) -> Option<bool> {
    match ty {
        // An `async` block is not `Unpin`; boxed, it is.
        Type::ImplTrait(t) => has_future_bound(t.bounds.iter()).then(|| has_unpin_bound(&t.bounds)),
        Type::Paren(p) => returned_future(&p.elem),
        Type::Group(g) => returned_future(&g.elem),
        Type::Path(p) => {
            let pin = p.path.segments.last().filter(|s| s.ident == "Pin")?;
            let boxed = single_type_argument(&pin.arguments)?;
            let Type::Path(b) = boxed else { return None };
            let box_seg = b.path.segments.last().filter(|s| s.ident == "Box")?;
            match single_type_argument(&box_seg.arguments)? {
                Type::TraitObject(t) => has_future_bound(t.bounds.iter()).then_some(true),
                _ => None,
            }
        }
        _ => None,
    }
}

fn single_type_argument(args: &PathArguments) -> Option<&Type> {
    match args {
        PathArguments::AngleBracketed(a) => a.args.iter().find_map(|a| match a {
            GenericArgument::Type(t) => Some(t),
            _ => None,
        }),
        _ => None,
    }
}

fn has_unpin_bound(bounds: &syn::punctuated::Punctuated<TypeParamBound, syn::Token![+]>) -> bool {
    bounds.iter().any(|b| {
        matches!(b, TypeParamBound::Trait(t)
            if t.path.segments.last().is_some_and(|s| s.ident == "Unpin"))
    })
}

fn has_future_bound<'a>(mut bounds: impl Iterator<Item = &'a TypeParamBound>) -> bool {
    bounds.any(|b| {
        matches!(b, TypeParamBound::Trait(t)
            if t.path.segments.last().is_some_and(|s| s.ident == "Future"))
    })
}

/// The type of the value a call produces: the return type of a sync function or an
/// `async fn`, the `Output` of a returned future. `None` when it is not written.
pub fn call_output<'a>(sig: &'a Signature, shape: &Shape) -> Option<&'a Type> {
    let ReturnType::Type(_, ty) = &sig.output else {
        return None;
    };
    match shape {
        Shape::Sync | Shape::AsyncFn => Some(ty),
        Shape::TailAsync | Shape::ReturnedFuture { .. } => find_output(ty),
    }
}

/// Whether `ty` is written as a `Result`: a path whose last segment ends in `Result`.
pub fn is_result(ty: &Type) -> bool {
    match ty {
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| s.ident.to_string().ends_with("Result")),
        Type::Paren(p) => is_result(&p.elem),
        Type::Group(g) => is_result(&g.elem),
        _ => false,
    }
}

fn is_box_pin(func: &Expr) -> bool {
    let Expr::Path(p) = func else { return false };
    let segs: Vec<String> = p
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    segs.len() >= 2 && segs[segs.len() - 2] == "Box" && segs[segs.len() - 1] == "pin"
}

/// The tail async block of a `TailAsync` body.
pub fn tail_async_mut(block: &mut Block) -> Option<&mut Expr> {
    match block.stmts.last_mut() {
        Some(Stmt::Expr(e @ Expr::Async(_), None)) => Some(e),
        Some(Stmt::Expr(Expr::Call(call), None)) => call
            .args
            .first_mut()
            .filter(|e| matches!(e, Expr::Async(_))),
        _ => None,
    }
}

/// `impl Trait` becomes `_`, so the type can be written as a hint.
struct EraseImpl;

impl VisitMut for EraseImpl {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::ImplTrait(t) = ty {
            let span = t.impl_token.span;
            *ty = syn::parse_quote_spanned!(span=> _);
        } else {
            syn::visit_mut::visit_type_mut(self, ty);
        }
    }
}

fn erased(ty: &Type) -> Type {
    let mut ty = ty.clone();
    EraseImpl.visit_type_mut(&mut ty);
    ty
}

/// The type a sync function or `async fn` produces, as a hint: `()` when none is written.
pub fn output_hint(output: &ReturnType) -> Type {
    match output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => erased(ty),
    }
}

/// `T` from `impl Future<Output = T>` or `Pin<Box<dyn Future<Output = T> + ..>>`;
/// `_` when it cannot be found.
pub fn future_output_hint(output: &ReturnType) -> Type {
    match output {
        ReturnType::Type(_, ty) => find_output(ty)
            .map(erased)
            .unwrap_or_else(|| syn::parse_quote!(_)),
        ReturnType::Default => syn::parse_quote!(_),
    }
}

fn find_output(ty: &Type) -> Option<&Type> {
    match ty {
        Type::ImplTrait(t) => bounds_output(t.bounds.iter()),
        Type::TraitObject(t) => bounds_output(t.bounds.iter()),
        Type::Paren(p) => find_output(&p.elem),
        Type::Group(g) => find_output(&g.elem),
        Type::Path(p) => {
            let last = p.path.segments.last()?;
            match &last.arguments {
                PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                    GenericArgument::Type(t) => find_output(t),
                    _ => None,
                }),
                _ => None,
            }
        }
        _ => None,
    }
}

fn bounds_output<'a>(mut bounds: impl Iterator<Item = &'a TypeParamBound>) -> Option<&'a Type> {
    bounds.find_map(|b| match b {
        TypeParamBound::Trait(t) => {
            let last = t.path.segments.last()?;
            if last.ident != "Future" {
                return None;
            }
            match &last.arguments {
                PathArguments::AngleBracketed(args) => args.args.iter().find_map(|a| match a {
                    GenericArgument::AssocType(at) if at.ident == "Output" => Some(&at.ty),
                    _ => None,
                }),
                _ => None,
            }
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::may_await;

    fn awaits(body: &str) -> bool {
        may_await(&syn::parse_str(body).unwrap())
    }

    #[test]
    fn finds_suspension_points() {
        assert!(!awaits("{ let x = parse(s)?; Ok(x + 1) }"));
        assert!(!awaits("{ println!(\"{}\", 1); vec![1] }"));
        assert!(!awaits("{ let f = async { g().await }; f }"));
        assert!(!awaits("{ let f = async move || g().await; f }"));
        assert!(!awaits("{ async fn inner() { g().await } inner() }"));
        assert!(!awaits("{ todo!() }"));
        assert!(awaits("{ g().await }"));
        assert!(awaits("{ if a { g().await? } else { 1 } }"));
        assert!(awaits("{ let x = [h().await]; x }"));
        assert!(awaits("{ tokio::select! { _ = a => 1 } }"));
        assert!(awaits("{ join!(a, b) }"));
        assert!(awaits("{ dbg!(g().await) }"));
    }
}
