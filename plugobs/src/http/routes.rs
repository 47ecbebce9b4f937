//! The routes: what they serve and how they are protected ([`Routes`]), the [`Router`]
//! built from that, and the handlers, one per route.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::ACCEPT;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::auth::{self, AuthScope, BearerToken};
use super::response::{HTML, HttpError, TEXT, body, json, json_errors};
use super::scrape::{Scraper, SharedRegistry};
use super::{page, readiness};
use crate::{PluginStats, RegistryStats};

/// The endpoints of the process-wide [`registry()`](crate::registry()), with the
/// defaults of [`Endpoints::new`](super::Endpoints::new), as an axum [`Router`] to nest or
/// merge.
///
/// ```
/// // Every path under /ops is the endpoints', /ops and /ops/ both the page.
/// let app: axum::Router = axum::Router::new().nest_service("/ops", plugobs::http::router());
/// ```
pub fn router<S>() -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    Routes::new().router()
}

/// What the routes serve and how they are protected: the part of
/// [`Endpoints`](super::Endpoints) the [`Router`] is built from (the server's limits
/// are the rest).
#[derive(Clone, Debug)]
pub(crate) struct Routes {
    pub(crate) registry: SharedRegistry,
    #[cfg(feature = "prometheus")]
    pub(crate) exporter: Option<crate::prometheus::PrometheusExporter>,
    pub(crate) process_metrics: bool,
    pub(crate) auth: Option<(BearerToken, AuthScope)>,
    pub(crate) request_timeout: Duration,
    pub(crate) body_limit: usize,
    pub(crate) trace_link: Option<Arc<str>>,
}

impl Routes {
    /// The defaults of [`Endpoints::new`](super::Endpoints::new): the process-wide
    /// registry, no exporter, the `process_*` families with the `process` feature, no
    /// auth, a request timeout of 10 s and a body limit of 16 KiB.
    pub(crate) fn new() -> Routes {
        Routes {
            registry: SharedRegistry::global(),
            #[cfg(feature = "prometheus")]
            exporter: None,
            process_metrics: cfg!(feature = "process"),
            auth: None,
            request_timeout: Duration::from_secs(10),
            body_limit: 16 * 1024,
            trace_link: None,
        }
    }

    /// The routes as an axum [`Router`], with its state applied. The body limit, the
    /// timeout, panic catching and the auth are layers of this router.
    pub(crate) fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let state = Arc::new(Scraper::new(
            self.registry.clone(),
            #[cfg(feature = "prometheus")]
            self.exporter.clone(),
            self.process_metrics,
            self.trace_link.clone(),
        ));
        // The page's sparklines and `/plugins/{name}/history` read the history, which the
        // background thread keeps for the process-wide registry once it is wanted. (A
        // registry of the host's own takes its points with `Registry::record_history`.)
        if self.registry.is_global() {
            if let Err(error) = plugobs_runtime::bridge::keep_history() {
                tracing::warn!(%error, "plugobs keeps no history: its thread did not start");
            }
        }
        let [healthz_path, readyz_path] = auth::PROBES;
        let routes = Router::new()
            .route(healthz_path, get(healthz))
            .route(readyz_path, get(readyz))
            .route("/", get(page))
            .route("/metrics", get(metrics))
            .route("/plugins", get(plugins))
            .route("/plugins/{name}", get(plugin))
            .route("/plugins/{name}/history", get(history))
            .fallback(no_route)
            .method_not_allowed_fallback(method_not_allowed)
            .layer(RequestBodyLimitLayer::new(self.body_limit));
        // Outside the routing and the body limit: without the token, every path is 401.
        let routes = match &self.auth {
            Some(guard) => routes.layer(axum::middleware::from_fn_with_state(
                guard.clone(),
                auth::require_token,
            )),
            None => routes,
        };
        let timeout = self.request_timeout;
        routes
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                timeout,
            ))
            .layer(axum::middleware::map_response(json_errors))
            .layer(CatchPanicLayer::custom(|_| {
                axum::response::IntoResponse::into_response(HttpError::Internal)
            }))
            .with_state(state)
    }
}

type Ctx = State<Arc<Scraper>>;

/// `GET /metrics`.
async fn metrics(State(scraper): Ctx, headers: HeaderMap) -> Response {
    let accept = headers.get(ACCEPT).and_then(|v| v.to_str().ok());
    let format = scraper.format(accept);
    body(
        StatusCode::OK,
        format.content_type(),
        scraper.render(format),
    )
}

/// `GET /healthz`: the process answers.
async fn healthz() -> Response {
    body(StatusCode::OK, TEXT, "ok\n".to_owned())
}

/// `GET /readyz`: 200 or 503, with the plugins that are not ready.
async fn readyz(State(scraper): Ctx) -> Response {
    let (status, readiness) = readiness::readiness(scraper.registry());
    json(status, &readiness)
}

/// `GET /plugins`: the registry's stats, one entry per instance, grouped by plugin.
async fn plugins(State(scraper): Ctx) -> Response {
    json(StatusCode::OK, &scraper.stats())
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
async fn plugin(State(scraper): Ctx, name: Result<Path<String>, PathRejection>) -> Response {
    let Ok(Path(name)) = name else {
        return HttpError::BadRequest("the plugin name is not valid UTF-8").into_response();
    };
    let stats = scraper.stats();
    match PluginView::find(&stats, &name) {
        Some(view) => json(StatusCode::OK, &view),
        None => HttpError::UnknownPlugin(name).into_response(),
    }
}

/// The body of `GET /plugins/{name}/history`: the recent past of a plugin's instances,
/// or of one configured instance.
#[derive(Debug, Serialize)]
struct HistoryView {
    name: String,
    instances: Vec<plugobs_runtime::history::InstanceHistory>,
}

/// `GET /plugins/{name}/history`: a point per history interval, the last 15 minutes.
async fn history(State(scraper): Ctx, name: Result<Path<String>, PathRejection>) -> Response {
    let Ok(Path(name)) = name else {
        return HttpError::BadRequest("the plugin name is not valid UTF-8").into_response();
    };
    match scraper.registry().history(&name) {
        Ok(instances) => json(StatusCode::OK, &HistoryView { name, instances }),
        Err(_) => HttpError::UnknownPlugin(name).into_response(),
    }
}

/// `GET /`: the status page; `?refresh=N` (5 to 3600 seconds) makes it reload itself.
async fn page(State(scraper): Ctx, RawQuery(query): RawQuery) -> Response {
    let refresh = query.as_deref().and_then(page::refresh_seconds);
    let registry = scraper.registry();
    body(
        StatusCode::OK,
        HTML,
        page::render(&scraper.stats(), registry, refresh),
    )
}

/// Any other path.
async fn no_route() -> HttpError {
    HttpError::NoRoute
}

/// A route's path with a method it does not have.
async fn method_not_allowed() -> HttpError {
    HttpError::MethodNotAllowed
}
