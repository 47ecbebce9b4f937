//! The handlers, one per route.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header::{ACCEPT, CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::HttpError;
use super::scrape::Scraper;
use super::{page, readiness};
use crate::{PluginStats, RegistryStats};

/// The content type of every JSON body.
pub(crate) const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

type Ctx = State<Arc<Scraper>>;

/// A body with its content type, never cached.
fn body(status: StatusCode, content_type: &'static str, body: String) -> Response {
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

fn json(status: StatusCode, value: &impl Serialize) -> Response {
    body(status, JSON, json_body(value))
}

/// `GET /metrics`.
pub(crate) async fn metrics(State(scraper): Ctx, headers: HeaderMap) -> Response {
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
    let format = scraper.format(accept);
    body(
        StatusCode::OK,
        format.content_type(),
        scraper.render(format),
    )
}

/// `GET /healthz`: the process answers.
pub(crate) async fn healthz() -> Response {
    body(StatusCode::OK, TEXT, "ok\n".to_owned())
}

/// `GET /readyz`: 200 or 503, with the plugins that are not ready.
pub(crate) async fn readyz(State(scraper): Ctx) -> Response {
    let (status, readiness) = readiness::readiness(scraper.registry());
    json(status, &readiness)
}

/// `GET /plugins`: the registry's stats, one entry per instance, grouped by plugin.
pub(crate) async fn plugins(State(scraper): Ctx) -> Response {
    json(StatusCode::OK, &scraper.registry().stats())
}

/// The body of `GET /plugins/{name}`: a plugin and the stats of its instances, each the
/// same object as that instance's entry in `GET /plugins`.
#[derive(Debug, Serialize)]
pub(crate) struct PluginView<'a> {
    pub(crate) name: &'static str,
    pub(crate) kind: &'static str,
    pub(crate) version: &'static str,
    pub(crate) instances: Vec<&'a PluginStats>,
}

impl<'a> PluginView<'a> {
    /// The plugin `name` with every instance of it in `stats`, or, when `name` is the
    /// name of a configured instance, its plugin with that one instance; `None` when
    /// neither a plugin nor an instance has the name.
    ///
    /// Plugin names and instance names never collide (a configured instance cannot take
    /// a plugin's name, nor another instance's), so which one `name` means is never in
    /// doubt.
    pub(crate) fn find(stats: &'a RegistryStats, name: &str) -> Option<PluginView<'a>> {
        let of_plugin: Vec<&PluginStats> =
            stats.plugins.iter().filter(|p| p.name == name).collect();
        let instances = if of_plugin.is_empty() {
            vec![stats.plugins.iter().find(|p| p.instance == name)?]
        } else {
            of_plugin
        };
        let first = instances[0];
        Some(PluginView {
            name: first.name,
            kind: first.kind,
            version: first.version,
            instances,
        })
    }
}

/// `GET /plugins/{name}`: a plugin and its instances, or a configured instance's plugin
/// with that instance alone.
pub(crate) async fn plugin(
    State(scraper): Ctx,
    name: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(name)) = name else {
        return HttpError::BadRequest("the plugin name is not valid UTF-8").into_response();
    };
    let stats = scraper.registry().stats();
    match PluginView::find(&stats, &name) {
        Some(view) => json(StatusCode::OK, &view),
        None => HttpError::UnknownPlugin(name).into_response(),
    }
}

/// `GET /`: the status page.
pub(crate) async fn page(State(scraper): Ctx) -> Response {
    let registry = scraper.registry();
    body(
        StatusCode::OK,
        HTML,
        page::render(&registry.stats(), registry),
    )
}

/// Any other path.
pub(crate) async fn no_route() -> HttpError {
    HttpError::NoRoute
}

/// A route's path with a method it does not have.
pub(crate) async fn method_not_allowed() -> HttpError {
    HttpError::MethodNotAllowed
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
