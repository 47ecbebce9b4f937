//! How a call ended, and the bounded `error_kind` of an error.
//!
//! Generated code classifies a return value with [`Probe`] and three traits tried in
//! order by method resolution ("autoref specialization", resolved at compile time):
//! a `Result` whose error implements [`ErrorKind`] gives that kind; any other `Result`
//! error gives `"error"`; any other value is `Ok`.

use std::fmt::Display;

/// A bounded classification of an error: the `error_kind` label.
///
/// Implement it by hand, or derive it for an enum with `#[derive(plugobs::ErrorKind)]`
/// (snake_case variant names). Return a small fixed set of `'static` strings: each distinct
/// value is a label value, and after 16 distinct kinds per operation the rest are counted
/// as `other`.
///
/// ```
/// use plugobs_runtime::ErrorKind;
///
/// enum FetchError { Timeout, Refused(String) }
///
/// impl ErrorKind for FetchError {
///     fn error_kind(&self) -> &'static str {
///         match self {
///             FetchError::Timeout => "timeout",
///             FetchError::Refused(_) => "refused",
///         }
///     }
/// }
/// assert_eq!(FetchError::Refused("x".into()).error_kind(), "refused");
/// ```
pub trait ErrorKind {
    /// The kind of this error.
    fn error_kind(&self) -> &'static str;
}

impl ErrorKind for std::io::Error {
    fn error_kind(&self) -> &'static str {
        use std::io::ErrorKind as K;
        match self.kind() {
            K::NotFound => "not_found",
            K::PermissionDenied => "permission_denied",
            K::ConnectionRefused => "connection_refused",
            K::ConnectionReset => "connection_reset",
            K::ConnectionAborted => "connection_aborted",
            K::NotConnected => "not_connected",
            K::AddrInUse => "addr_in_use",
            K::AddrNotAvailable => "addr_not_available",
            K::BrokenPipe => "broken_pipe",
            K::AlreadyExists => "already_exists",
            K::WouldBlock => "would_block",
            K::InvalidInput => "invalid_input",
            K::InvalidData => "invalid_data",
            K::TimedOut => "timed_out",
            K::WriteZero => "write_zero",
            K::Interrupted => "interrupted",
            K::Unsupported => "unsupported",
            K::UnexpectedEof => "unexpected_eof",
            K::OutOfMemory => "out_of_memory",
            _ => "other",
        }
    }
}

impl<E: ErrorKind + ?Sized> ErrorKind for Box<E> {
    fn error_kind(&self) -> &'static str {
        (**self).error_kind()
    }
}

impl<E: ErrorKind + ?Sized> ErrorKind for &E {
    fn error_kind(&self) -> &'static str {
        (**self).error_kind()
    }
}

/// How a call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Returned normally, not an error.
    Ok,
    /// Returned `Err`, of this kind.
    Error(&'static str),
    /// Panicked.
    Panic,
    /// A future dropped before it finished.
    Cancelled,
}

impl Outcome {
    /// The `outcome` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error(_) => "error",
            Outcome::Panic => "panic",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Wraps a return value for classification; see the module docs.
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// Highest priority: `Result<_, E>` with `E: ErrorKind`.
pub trait ViaErrorKind {
    /// Classifies.
    fn __plugobs_outcome(&self) -> Outcome;
}
/// Middle priority: any `Result`.
pub trait ViaResult {
    /// Classifies.
    fn __plugobs_outcome(&self) -> Outcome;
}
/// Lowest priority: anything.
pub trait ViaAny {
    /// Classifies.
    fn __plugobs_outcome(&self) -> Outcome;
}

impl<T, E: ErrorKind> ViaErrorKind for &&Probe<'_, Result<T, E>> {
    #[inline(always)]
    fn __plugobs_outcome(&self) -> Outcome {
        match self.0 {
            Ok(_) => Outcome::Ok,
            Err(e) => Outcome::Error(e.error_kind()),
        }
    }
}

impl<T, E> ViaResult for &Probe<'_, Result<T, E>> {
    #[inline(always)]
    fn __plugobs_outcome(&self) -> Outcome {
        match self.0 {
            Ok(_) => Outcome::Ok,
            Err(_) => Outcome::Error("error"),
        }
    }
}

impl<T: ?Sized> ViaAny for Probe<'_, T> {
    #[inline(always)]
    fn __plugobs_outcome(&self) -> Outcome {
        Outcome::Ok
    }
}

/// The error of a `Result` as `Display`, for `#[instrumented(err)]`.
#[diagnostic::on_unimplemented(
    message = "`#[instrumented(err)]` needs a `Result` whose error implements `Display`; `{Self}` is not one",
    label = "this function's return value is `{Self}`",
    note = "remove `err`, or return `Result<T, E>` with `E: Display`"
)]
pub trait ErrDisplay {
    /// The error, if this is an `Err`.
    fn __plugobs_err(&self) -> Option<&dyn Display>;
}

impl<T, E: Display> ErrDisplay for Result<T, E> {
    fn __plugobs_err(&self) -> Option<&dyn Display> {
        self.as_ref().err().map(|e| e as &dyn Display)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Kinded;
    impl ErrorKind for Kinded {
        fn error_kind(&self) -> &'static str {
            "kinded"
        }
    }

    #[test]
    #[allow(clippy::needless_borrow)] // the borrows are the dispatch
    fn classification_prefers_the_most_specific() {
        let a: Result<u8, Kinded> = Err(Kinded);
        let b: Result<u8, String> = Err("x".into());
        let c: Result<u8, String> = Ok(1);
        let d = 5u32;
        assert_eq!((&&&Probe(&a)).__plugobs_outcome(), Outcome::Error("kinded"));
        assert_eq!((&&&Probe(&b)).__plugobs_outcome(), Outcome::Error("error"));
        assert_eq!((&&&Probe(&c)).__plugobs_outcome(), Outcome::Ok);
        assert_eq!((&&&Probe(&d)).__plugobs_outcome(), Outcome::Ok);
        let io: Result<(), std::io::Error> = Err(std::io::ErrorKind::TimedOut.into());
        assert_eq!(
            (&&&Probe(&io)).__plugobs_outcome(),
            Outcome::Error("timed_out")
        );
    }
}
