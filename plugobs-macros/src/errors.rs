//! Collecting errors, so one run of a macro reports every mistake it can see.

/// Every error found so far, combined with `syn::Error::combine`.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    /// Adds an error.
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(e) => e.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// The combined error, if anything went wrong.
    pub fn into_error(self) -> Option<syn::Error> {
        self.0
    }

    /// Every error so far with `last` after them: for a mistake that ends the checks.
    pub fn into_error_with(self, last: syn::Error) -> syn::Error {
        match self.0 {
            Some(mut e) => {
                e.combine(last);
                e
            }
            None => last,
        }
    }

    /// `Err` with the combined error if anything went wrong: how a `try_expand` stops
    /// before generating code.
    pub fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
