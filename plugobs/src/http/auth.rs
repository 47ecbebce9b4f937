//! Bearer-token auth: the token, which routes it guards, and the check, in constant time.

use std::fmt;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::{Choice, ConstantTimeEq};

use super::response::HttpError;

/// Which routes need the token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthScope {
    /// Every route, probes included.
    #[default]
    AllRoutes,
    /// Every route but `/healthz` and `/readyz`, so an orchestrator's probes need no
    /// secret.
    AllButProbes,
}

/// A secret that requests present as `Authorization: Bearer <token>`.
///
/// Its `Debug` and `Display` print `BearerToken(<redacted>)`, so it cannot leak into a
/// log by accident.
///
/// ```
/// use plugobs::http::BearerToken;
///
/// let token = BearerToken::new("s3cr3t-t0ken").unwrap();
/// assert_eq!(format!("{token:?}"), "BearerToken(<redacted>)");
/// assert!(BearerToken::new("two words").is_err());
/// ```
#[derive(Clone)]
pub struct BearerToken(Arc<[u8]>);

/// Why a string cannot be a bearer token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// The token is empty.
    Empty,
    /// The token is longer than [`BearerToken::MAX_LEN`] bytes.
    TooLong,
    /// The token has a character outside RFC 6750's `b64token` set (letters, digits and
    /// `-._~+/`, then `=` padding): a space, a control character, non-ASCII.
    InvalidCharacter,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TokenError::Empty => "a bearer token cannot be empty",
            TokenError::TooLong => "a bearer token can have at most 1024 bytes",
            TokenError::InvalidCharacter => {
                "a bearer token may only have letters, digits and -._~+/ (then = padding)"
            }
        })
    }
}

impl std::error::Error for TokenError {}

impl BearerToken {
    /// The longest token accepted, in bytes.
    pub const MAX_LEN: usize = 1024;

    /// A token made of RFC 6750 `b64token` characters.
    ///
    /// # Errors
    /// [`TokenError`] when `token` is empty, too long, or has another character.
    pub fn new(token: impl AsRef<str>) -> Result<BearerToken, TokenError> {
        let bytes = token.as_ref().as_bytes();
        if bytes.is_empty() {
            return Err(TokenError::Empty);
        }
        if bytes.len() > Self::MAX_LEN {
            return Err(TokenError::TooLong);
        }
        let body = bytes.iter().rposition(|b| *b != b'=').map_or(0, |i| i + 1);
        let valid = body > 0
            && bytes[..body]
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(b));
        if !valid {
            return Err(TokenError::InvalidCharacter);
        }
        Ok(BearerToken(Arc::from(bytes)))
    }

    /// Whether `presented` is this token, in a time that depends only on this token's
    /// length, never on where the two differ.
    pub(crate) fn matches(&self, presented: &[u8]) -> bool {
        let expected = &*self.0;
        let same_len = (expected.len() as u64).ct_eq(&(presented.len() as u64));
        let mut same_bytes = Choice::from(1);
        for (i, e) in expected.iter().enumerate() {
            let p = presented.get(i).copied().unwrap_or(0);
            same_bytes &= e.ct_eq(&p);
        }
        (same_len & same_bytes).into()
    }
}

impl fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BearerToken(<redacted>)")
    }
}

impl fmt::Display for BearerToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The paths [`AuthScope::AllButProbes`] leaves open, whatever the method.
pub(crate) const PROBES: [&str; 2] = ["/healthz", "/readyz"];

/// The middleware, outermost but for the timeout and panic catching: passes requests
/// with the token (and, under [`AuthScope::AllButProbes`], requests for a probe's
/// path), answers 401 to the others before anything else is decided, so a client
/// without the token learns nothing of which routes or methods exist or of the limits.
pub(crate) async fn require_token(
    State((token, scope)): State<(BearerToken, AuthScope)>,
    request: Request,
    next: Next,
) -> Response {
    if scope == AuthScope::AllButProbes && PROBES.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| bearer(v.as_bytes()));
    match presented {
        Some(p) if token.matches(p) => next.run(request).await,
        Some(_) => HttpError::Unauthorized("the bearer token is not valid").into_response(),
        None => HttpError::Unauthorized("a bearer token is required: Authorization: Bearer …")
            .into_response(),
    }
}

/// The credentials of `Bearer <credentials>`, the scheme in any case.
fn bearer(header: &[u8]) -> Option<&[u8]> {
    let (scheme, rest) = header.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") {
        return None;
    }
    let start = rest.iter().position(|b| *b != b' ')?;
    let end = rest.iter().rposition(|b| *b != b' ')? + 1;
    Some(&rest[start..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_same_bytes() {
        let t = BearerToken::new("abc123==").unwrap();
        assert!(t.matches(b"abc123=="));
        assert!(!t.matches(b"abc123="));
        assert!(!t.matches(b"abc123==="));
        assert!(!t.matches(b"abc124=="));
        assert!(!t.matches(b""));
    }

    #[test]
    fn parses_the_scheme_in_any_case() {
        assert_eq!(bearer(b"Bearer abc"), Some(&b"abc"[..]));
        assert_eq!(bearer(b"bEARER   abc "), Some(&b"abc"[..]));
        assert_eq!(bearer(b"Basic abc"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bear"), None);
    }

    #[test]
    fn refuses_tokens_that_cannot_travel_in_a_header() {
        assert!(matches!(BearerToken::new(""), Err(TokenError::Empty)));
        assert!(matches!(
            BearerToken::new("a b"),
            Err(TokenError::InvalidCharacter)
        ));
        assert!(matches!(
            BearerToken::new("==="),
            Err(TokenError::InvalidCharacter)
        ));
        assert!(matches!(
            BearerToken::new("a=b"),
            Err(TokenError::InvalidCharacter)
        ));
        assert!(matches!(
            BearerToken::new("é"),
            Err(TokenError::InvalidCharacter)
        ));
        assert!(matches!(
            BearerToken::new("a".repeat(1025)),
            Err(TokenError::TooLong)
        ));
    }
}
