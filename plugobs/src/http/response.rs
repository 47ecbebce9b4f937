//! Responses, the lowest layer: the content types, a body that is never cached, JSON
//! bodies, and the typed errors — what a request can be refused with (itself a JSON
//! response), and why a server cannot start.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The content type of every JSON body.
pub(crate) const JSON: &str = "application/json";
/// The content type of a plain-text body.
pub(crate) const TEXT: &str = "text/plain; charset=utf-8";
/// The content type of the status page.
pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// A body with its content type, never cached.
pub(crate) fn body(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// `value` as compact JSON and a newline.
pub(crate) fn json_body(value: &impl Serialize) -> String {
    match serde_json::to_string(value) {
        Ok(mut s) => {
            s.push('\n');
            s
        }
        // Our types serialize with string keys only; should that change, say so.
        Err(e) => format!("{{\"status\":500,\"error\":\"cannot serialize: {e}\"}}\n"),
    }
}

/// `value` as a JSON body with `status`, never cached.
pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Response {
    body(status, JSON, json_body(value))
}

/// Why a request was refused. Each is a response: its status and a JSON body
/// `{"status": 404, "error": "…"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// 400: a request the routes cannot read.
    BadRequest(&'static str),
    /// 401: no bearer token, or not the right one.
    Unauthorized(&'static str),
    /// 404: no route at this path.
    NoRoute,
    /// 404: no plugin and no configured instance with this name (a name more than one
    /// plugin has is left out of the registry).
    UnknownPlugin(String),
    /// 405: the route exists, not for this method.
    MethodNotAllowed,
    /// 408: the request took longer than the timeout.
    Timeout,
    /// 413: the body is larger than the limit.
    PayloadTooLarge,
    /// 431: the headers are larger than the limit.
    HeadersTooLarge,
    /// 500: a handler panicked (a bug: the server goes on).
    Internal,
}

impl HttpError {
    /// The response status.
    pub fn status(&self) -> StatusCode {
        match self {
            HttpError::BadRequest(_) => StatusCode::BAD_REQUEST,
            HttpError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            HttpError::NoRoute | HttpError::UnknownPlugin(_) => StatusCode::NOT_FOUND,
            HttpError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HttpError::Timeout => StatusCode::REQUEST_TIMEOUT,
            HttpError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HttpError::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HttpError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadRequest(why) | HttpError::Unauthorized(why) => f.write_str(why),
            HttpError::NoRoute => f.write_str("no such route"),
            HttpError::UnknownPlugin(name) => write!(f, "no plugin named `{name}`"),
            HttpError::MethodNotAllowed => f.write_str("method not allowed"),
            HttpError::Timeout => f.write_str("the request took too long"),
            HttpError::PayloadTooLarge => f.write_str("the request body is too large"),
            HttpError::HeadersTooLarge => f.write_str("the request headers are too large"),
            HttpError::Internal => f.write_str("internal error"),
        }
    }
}

impl std::error::Error for HttpError {}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = serde_json::json!({ "status": status.as_u16(), "error": self.to_string() });
        let mut response = json(status, &body);
        if matches!(self, HttpError::Unauthorized(_)) {
            let headers = response.headers_mut();
            headers.insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// Gives the 408 and 413 answered by tower-http's layers the JSON body of every error.
pub(crate) async fn json_errors<B>(response: Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let is_json = response
        .headers()
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == JSON.as_bytes());
    match response.status() {
        _ if is_json => response.map(axum::body::Body::new),
        StatusCode::PAYLOAD_TOO_LARGE => HttpError::PayloadTooLarge.into_response(),
        StatusCode::REQUEST_TIMEOUT => HttpError::Timeout.into_response(),
        _ => response.map(axum::body::Body::new),
    }
}

/// Why [`serve`](super::serve) could not start.
#[derive(Debug)]
#[non_exhaustive]
pub enum ServeError {
    /// The address could not be bound (in use, not local, no permission).
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: io::Error,
    },
    /// The server's thread or its tokio runtime could not be started.
    Runtime(io::Error),
    /// The server's thread panicked (a bug); reported by [`ServerHandle::shutdown`](super::ServerHandle::shutdown).
    Panicked,
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            ServeError::Runtime(e) => write!(f, "cannot start the HTTP server's runtime: {e}"),
            ServeError::Panicked => f.write_str("the HTTP server's thread panicked"),
        }
    }
}

impl std::error::Error for ServeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ServeError::Bind { source, .. } | ServeError::Runtime(source) => Some(source),
            ServeError::Panicked => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_layers_refusals_get_json_bodies() {
        for (status, error) in [
            (StatusCode::REQUEST_TIMEOUT, HttpError::Timeout),
            (StatusCode::PAYLOAD_TOO_LARGE, HttpError::PayloadTooLarge),
        ] {
            let plain = (status, "length limit exceeded").into_response();
            let response = json_errors(plain).await;
            assert_eq!(response.status(), status);
            assert_eq!(response.headers()[CONTENT_TYPE], JSON);
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            let want = format!("{{\"error\":\"{error}\",\"status\":{}}}\n", status.as_u16());
            assert_eq!(body, want.as_bytes());
        }
        let ok = (StatusCode::OK, "fine").into_response();
        let response = json_errors(ok).await;
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        assert_eq!(body, &b"fine"[..]);
    }
}
