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
}
