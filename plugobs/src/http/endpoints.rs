//! [`Endpoints`]: what the routes serve and how they are protected, and the [`Router`]
//! built from it.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::auth::{self, AuthScope, BearerToken};
use super::error::HttpError;
use super::routes;
use super::serve::{self, ListenAddr, ServerHandle};
use super::{ServeError, scrape};
use crate::Registry;

/// The registry the endpoints report on: the process-wide one, or one the host owns.
///
/// Made with `From`: `&'static Registry`, `Arc<Registry>` or `Registry`.
#[derive(Clone, Debug)]
pub struct SharedRegistry(Source);

#[derive(Clone, Debug)]
enum Source {
    Global,
    Static(&'static Registry),
    Shared(Arc<Registry>),
}

impl SharedRegistry {
    /// The process-wide [`registry()`](crate::registry()).
    pub fn global() -> SharedRegistry {
        SharedRegistry(Source::Global)
    }

    pub(crate) fn get(&self) -> &Registry {
        match &self.0 {
            Source::Global => crate::registry(),
            Source::Static(r) => r,
            Source::Shared(r) => r,
        }
    }
}

impl From<&'static Registry> for SharedRegistry {
    fn from(r: &'static Registry) -> Self {
        SharedRegistry(Source::Static(r))
    }
}

impl From<Arc<Registry>> for SharedRegistry {
    fn from(r: Arc<Registry>) -> Self {
        SharedRegistry(Source::Shared(r))
    }
}

impl From<Registry> for SharedRegistry {
    fn from(r: Registry) -> Self {
        SharedRegistry(Source::Shared(Arc::new(r)))
    }
}

/// Limits of the standalone server, which parses the requests.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ServerLimits {
    pub(crate) max_header_bytes: usize,
    pub(crate) max_headers: usize,
    pub(crate) header_read_timeout: Duration,
    pub(crate) max_connections: usize,
    pub(crate) shutdown_grace: Duration,
}

/// The endpoints, configured: which registry, which exporter, which auth, which limits.
/// [`router`](Endpoints::router) mounts them in an axum app; [`serve`](Endpoints::serve)
/// runs them on a server of their own.
///
/// ```
/// use std::time::Duration;
/// use plugobs::http::{AuthScope, BearerToken, Endpoints};
///
/// let token = BearerToken::new(std::env::var("METRICS_TOKEN").unwrap_or("t0ken".into()))?;
/// let app: axum::Router = Endpoints::new()
///     .bearer_token(token, AuthScope::AllButProbes)
///     .request_timeout(Duration::from_secs(5))
///     .router();
/// # Ok::<(), plugobs::http::TokenError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Endpoints {
    pub(crate) registry: SharedRegistry,
    #[cfg(feature = "prometheus")]
    pub(crate) exporter: Option<crate::prometheus::PrometheusExporter>,
    pub(crate) process_metrics: bool,
    auth: Option<(BearerToken, AuthScope)>,
    request_timeout: Duration,
    body_limit: usize,
    pub(crate) limits: ServerLimits,
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints::new()
    }
}

impl Endpoints {
    /// The endpoints of the process-wide [`registry()`](crate::registry()): no auth, a
    /// request timeout of 10 s, a body limit of 16 KiB (the routes take no body), and for
    /// [`serve`](Endpoints::serve) headers of at most 16 KiB and 64 fields, read within
    /// 5 s, at most 256 connections, and 5 s for requests in progress to finish at
    /// shutdown. With the `process` feature, `/metrics` includes the `process_*` families.
    pub fn new() -> Endpoints {
        Endpoints {
            registry: SharedRegistry::global(),
            #[cfg(feature = "prometheus")]
            exporter: None,
            process_metrics: cfg!(feature = "process"),
            auth: None,
            request_timeout: Duration::from_secs(10),
            body_limit: 16 * 1024,
            limits: ServerLimits {
                max_header_bytes: 16 * 1024,
                max_headers: 64,
                header_read_timeout: Duration::from_secs(5),
                max_connections: 256,
                shutdown_grace: Duration::from_secs(5),
            },
        }
    }

    /// Reports on `registry` instead of the process-wide one, e.g. an isolated
    /// [`Registry::from_descriptors`] in tests.
    pub fn registry(mut self, registry: impl Into<SharedRegistry>) -> Endpoints {
        self.registry = registry.into();
        self
    }

    /// `/metrics` starts with the host's own metrics, rendered by the Prometheus
    /// recorder [`plugobs::prometheus::install`](crate::prometheus::install) installed,
    /// followed by plugobs' families (which that recorder does not hold, so each family
    /// appears once). The recorder renders the Prometheus text format only, so `/metrics`
    /// answers in that format whatever the `Accept` header asks.
    #[cfg(feature = "prometheus")]
    pub fn exporter(mut self, exporter: crate::prometheus::PrometheusExporter) -> Endpoints {
        self.exporter = Some(exporter);
        self
    }

    /// Whether `/metrics` includes the standard `process_*` families (default: yes, with
    /// the `process` feature). Turn it off when the host already records them into its
    /// recorder, so they do not appear twice.
    pub fn process_metrics(mut self, on: bool) -> Endpoints {
        self.process_metrics = on && cfg!(feature = "process");
        self
    }

    /// Requires `Authorization: Bearer <token>` on the routes of `scope`.
    pub fn bearer_token(mut self, token: BearerToken, scope: AuthScope) -> Endpoints {
        self.auth = Some((token, scope));
        self
    }

    /// How long a request may take once its headers are read (default 10 s): `408` after.
    pub fn request_timeout(mut self, timeout: Duration) -> Endpoints {
        self.request_timeout = timeout;
        self
    }

    /// The largest request body accepted, in bytes (default 16 KiB): `413` above.
    pub fn body_limit(mut self, bytes: usize) -> Endpoints {
        self.body_limit = bytes;
        self
    }

    /// [`serve`](Endpoints::serve) only: the largest request head (request line and
    /// headers) accepted, in bytes (default 16 KiB): `431` above.
    pub fn max_header_bytes(mut self, bytes: usize) -> Endpoints {
        self.limits.max_header_bytes = bytes;
        self
    }

    /// [`serve`](Endpoints::serve) only: the most header fields accepted (default 64):
    /// `431` above.
    pub fn max_headers(mut self, count: usize) -> Endpoints {
        self.limits.max_headers = count;
        self
    }

    /// [`serve`](Endpoints::serve) only: how long a client may take to send a request's
    /// headers before its connection is closed (default 5 s).
    pub fn header_read_timeout(mut self, timeout: Duration) -> Endpoints {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// [`serve`](Endpoints::serve) only: the most connections open at once (default
    /// 256); further clients wait in the listen backlog.
    pub fn max_connections(mut self, count: usize) -> Endpoints {
        self.limits.max_connections = count.clamp(1, tokio::sync::Semaphore::MAX_PERMITS);
        self
    }

    /// [`serve`](Endpoints::serve) only: how long shutdown waits for requests in
    /// progress (default 5 s) before closing their connections.
    pub fn shutdown_grace(mut self, grace: Duration) -> Endpoints {
        self.limits.shutdown_grace = grace;
        self
    }

    /// The routes as an axum [`Router`], with its state applied, to `nest` or `merge`
    /// into an app of any state type. The body limit, the timeout, panic catching and
    /// the auth are layers of this router; header limits are the server's.
    pub fn router<S>(&self) -> Router<S>
    where
        S: Clone + Send + Sync + 'static,
    {
        let state = Arc::new(scrape::Scraper::new(self));
        let mut probes = Router::new()
            .route("/healthz", get(routes::healthz))
            .route("/readyz", get(routes::readyz));
        let mut views = Router::new()
            .route("/", get(routes::page))
            .route("/metrics", get(routes::metrics))
            .route("/plugins", get(routes::plugins))
            .route("/plugins/{name}", get(routes::plugin));
        if let Some((token, scope)) = &self.auth {
            let layer = axum::middleware::from_fn_with_state(token.clone(), auth::require_token);
            if *scope == AuthScope::AllRoutes {
                probes = probes.route_layer(layer.clone());
            }
            views = views.route_layer(layer);
        }
        let timeout = self.request_timeout;
        probes
            .merge(views)
            .fallback(routes::no_route)
            .method_not_allowed_fallback(routes::method_not_allowed)
            .layer(RequestBodyLimitLayer::new(self.body_limit))
            .layer(TimeoutLayer::with_status_code(
                StatusCode::REQUEST_TIMEOUT,
                timeout,
            ))
            .layer(axum::middleware::map_response(routes::json_errors))
            .layer(CatchPanicLayer::custom(|_| {
                axum::response::IntoResponse::into_response(HttpError::Internal)
            }))
            .with_state(state)
    }

    /// Serves the routes on their own thread and current-thread tokio runtime, on `addr`
    /// (a port alone is `127.0.0.1:port`; port 0 picks a free one), until the returned
    /// handle is shut down or dropped.
    ///
    /// # Errors
    /// [`ServeError::Bind`] when the address cannot be bound, [`ServeError::Runtime`]
    /// when the thread or its runtime cannot be started.
    pub fn serve(&self, addr: impl Into<ListenAddr>) -> Result<ServerHandle, ServeError> {
        serve::start(self.router(), addr.into(), self.limits)
    }
}
