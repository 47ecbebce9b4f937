//! [`Endpoints`], the configuration of the routes and of the server, and the standalone
//! server built from it: its own thread and current-thread tokio runtime, hyper's HTTP/1
//! with header limits and a header timeout, a cap on connections, and a graceful stop.
//! The server takes the routes' [`Router`]; nothing below this file knows of the server.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{Semaphore, oneshot, watch};
use tower::ServiceExt as _;

use super::auth::{AuthScope, BearerToken};
use super::connection::{
    ConnectionState, ConnectionTimeouts, Connections, TrackedBody, Verdict, WatchedIo,
};
use super::response::ServeError;
use super::routes::Routes;
use super::scrape::SharedRegistry;

/// Limits of the standalone server, which parses the requests.
#[derive(Clone, Copy, Debug)]
struct ServerLimits {
    max_header_bytes: usize,
    max_headers: usize,
    header_read_timeout: Duration,
    write_timeout: Duration,
    idle_timeout: Duration,
    max_connections: usize,
    shutdown_grace: Duration,
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
#[derive(Clone)]
pub struct Endpoints {
    routes: Routes,
    limits: ServerLimits,
}

// The fields as they read when `Endpoints` held them itself, routes and limits alike.
impl fmt::Debug for Endpoints {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let routes = &self.routes;
        let mut s = f.debug_struct("Endpoints");
        s.field("registry", &routes.registry);
        #[cfg(feature = "prometheus")]
        s.field("exporter", &routes.exporter);
        s.field("process_metrics", &routes.process_metrics)
            .field("auth", &routes.auth)
            .field("request_timeout", &routes.request_timeout)
            .field("body_limit", &routes.body_limit)
            .field("trace_link", &routes.trace_link)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Default for Endpoints {
    fn default() -> Self {
        Endpoints::new()
    }
}

impl Endpoints {
    /// The endpoints of the process-wide [`registry()`](crate::registry()): no auth, a
    /// request timeout of 10 s, a body limit of 16 KiB (the routes take no body), and for
    /// [`serve`](Endpoints::serve): headers of at most 16 KiB and 64 fields, read within
    /// 5 s of their first byte; a write timeout of 10 s; idle connections closed after
    /// 60 s; at most 256 connections, the one idle longest closed to make room for a new
    /// one; and 5 s for requests in progress to finish at shutdown. With the `process`
    /// feature, `/metrics` includes the `process_*` families.
    pub fn new() -> Endpoints {
        Endpoints {
            routes: Routes::new(),
            limits: ServerLimits {
                max_header_bytes: 16 * 1024,
                max_headers: 64,
                header_read_timeout: Duration::from_secs(5),
                write_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(60),
                max_connections: 256,
                shutdown_grace: Duration::from_secs(5),
            },
        }
    }

    /// Reports on `registry` instead of the process-wide one, e.g. an isolated
    /// [`Registry::from_descriptors`](crate::Registry::from_descriptors) in tests.
    pub fn registry(mut self, registry: impl Into<SharedRegistry>) -> Endpoints {
        self.routes.registry = registry.into();
        self
    }

    /// `/metrics` starts with the host's own metrics, rendered by the Prometheus
    /// recorder [`plugobs::prometheus::install`](crate::prometheus::install) installed,
    /// followed by plugobs' families (which that recorder does not hold, so each family
    /// appears once). The recorder renders the Prometheus text format only, so `/metrics`
    /// answers in that format whatever the `Accept` header asks.
    #[cfg(feature = "prometheus")]
    pub fn exporter(mut self, exporter: crate::prometheus::PrometheusExporter) -> Endpoints {
        self.routes.exporter = Some(exporter);
        self
    }

    /// Whether `/metrics` includes the standard `process_*` families (default: yes, with
    /// the `process` feature). Turn it off when the host already records them into its
    /// recorder, so they do not appear twice.
    pub fn process_metrics(mut self, on: bool) -> Endpoints {
        self.routes.process_metrics = on && cfg!(feature = "process");
        self
    }

    /// Requires `Authorization: Bearer <token>` on the routes of `scope`.
    pub fn bearer_token(mut self, token: BearerToken, scope: AuthScope) -> Endpoints {
        self.routes.auth = Some((token, scope));
        self
    }

    /// How long a request may take once its headers are read (default 10 s): `408` after.
    pub fn request_timeout(mut self, timeout: Duration) -> Endpoints {
        self.routes.request_timeout = timeout;
        self
    }

    /// A link to a trace, for the exemplars `/plugins` and the status page show (feature
    /// `exemplars`): `template` with `{trace_id}` (and `{span_id}`) replaced by the
    /// exemplar's hex ids, e.g. `http://jaeger:16686/trace/{trace_id}` or a Tempo
    /// explore URL. Without one, exemplars show their trace id alone.
    ///
    /// ```
    /// let endpoints = plugobs::http::Endpoints::new()
    ///     .trace_link("http://localhost:16686/trace/{trace_id}");
    /// # let _ = endpoints;
    /// ```
    pub fn trace_link(mut self, template: impl Into<String>) -> Endpoints {
        self.routes.trace_link = Some(template.into().into());
        self
    }

    /// The largest request body accepted, in bytes (default 16 KiB): `413` above.
    pub fn body_limit(mut self, bytes: usize) -> Endpoints {
        self.routes.body_limit = bytes;
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
    /// head (request line and headers), from its first byte to its last (default 5 s);
    /// the connection is closed after, with no answer.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Endpoints {
        self.limits.header_read_timeout = timeout;
        self
    }

    /// [`serve`](Endpoints::serve) only: how long a write to a client may make no
    /// progress (default 10 s): a client that stops reading its responses has its
    /// connection closed once no byte has gone out for this long, whatever was left to
    /// send. A slow reader that keeps reading is not cut.
    ///
    /// ```
    /// use std::time::Duration;
    /// use plugobs::http::Endpoints;
    ///
    /// let server = Endpoints::new()
    ///     .write_timeout(Duration::from_secs(5))
    ///     .idle_timeout(Duration::from_secs(30))
    ///     .max_connections(64)
    ///     .serve(0)?;
    /// server.shutdown()?;
    /// # Ok::<(), plugobs::http::ServeError>(())
    /// ```
    pub fn write_timeout(mut self, timeout: Duration) -> Endpoints {
        self.limits.write_timeout = timeout;
        self
    }

    /// [`serve`](Endpoints::serve) only: how long a connection may stay open with no
    /// request in progress and no byte of a next one (default 60 s): a keep-alive
    /// connection, or one that never sent anything, is closed after.
    pub fn idle_timeout(mut self, timeout: Duration) -> Endpoints {
        self.limits.idle_timeout = timeout;
        self
    }

    /// [`serve`](Endpoints::serve) only: the most connections open at once (default
    /// 256). When a new client connects at the cap, the connection idle longest (no
    /// request in progress, nothing left to write) is closed to make room; when none is
    /// idle, the new client waits (in the listen backlog) until one ends, which the
    /// timeouts bound.
    pub fn max_connections(mut self, count: usize) -> Endpoints {
        let most = tokio::sync::Semaphore::MAX_PERMITS.min(u32::MAX as usize);
        self.limits.max_connections = count.clamp(1, most);
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
        self.routes.router()
    }

    /// Serves the routes on their own thread and current-thread tokio runtime, on `addr`
    /// (a port alone is `127.0.0.1:port`; port 0 picks a free one), until the returned
    /// handle is shut down or dropped.
    ///
    /// # Errors
    /// [`ServeError::Bind`] when the address cannot be bound, [`ServeError::Runtime`]
    /// when the thread or its runtime cannot be started.
    pub fn serve(&self, addr: impl Into<ListenAddr>) -> Result<ServerHandle, ServeError> {
        start(self.router(), addr.into(), self.limits)
    }
}

/// Serves the endpoints of the process-wide [`registry()`](crate::registry()) on their own
/// thread and tokio runtime, with the defaults of [`Endpoints::new`]. A port alone binds
/// `127.0.0.1`; give a [`SocketAddr`](std::net::SocketAddr) for anything else.
///
/// # Errors
/// [`ServeError::Bind`] when the address cannot be bound, [`ServeError::Runtime`] when
/// the thread or its runtime cannot be started.
pub fn serve(addr: impl Into<ListenAddr>) -> Result<ServerHandle, ServeError> {
    Endpoints::new().serve(addr)
}

/// Where [`serve`] listens. A port alone is `127.0.0.1:port`, so nothing is
/// reachable from another host unless an address says so.
///
/// ```
/// use plugobs::http::ListenAddr;
///
/// assert_eq!(ListenAddr::from(9464).addr().to_string(), "127.0.0.1:9464");
/// assert_eq!(ListenAddr::from(([0, 0, 0, 0], 9464)).addr().to_string(), "0.0.0.0:9464");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListenAddr(SocketAddr);

impl ListenAddr {
    /// The socket address.
    pub fn addr(self) -> SocketAddr {
        self.0
    }
}

impl From<u16> for ListenAddr {
    fn from(port: u16) -> Self {
        ListenAddr(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))
    }
}

impl From<SocketAddr> for ListenAddr {
    fn from(addr: SocketAddr) -> Self {
        ListenAddr(addr)
    }
}

impl<I: Into<IpAddr>> From<(I, u16)> for ListenAddr {
    fn from((ip, port): (I, u16)) -> Self {
        ListenAddr(SocketAddr::new(ip.into(), port))
    }
}

/// A running standalone server. [`shutdown`](ServerHandle::shutdown), or dropping the
/// handle, stops accepting, lets requests in progress finish (for the shutdown grace of
/// [`Endpoints`], 5 s by default), and joins the server's thread.
#[derive(Debug)]
#[must_use = "dropping the handle shuts the server down"]
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ServerHandle {
    /// The address it listens on, with the port the system chose for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server gracefully and waits for its thread.
    ///
    /// # Errors
    /// [`ServeError::Panicked`] if the server's thread panicked (a bug).
    pub fn shutdown(mut self) -> Result<(), ServeError> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> Result<(), ServeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| ServeError::Panicked),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Binds on the calling thread (so a bind error is returned), then serves on a new one.
fn start(
    router: Router,
    addr: ListenAddr,
    limits: ServerLimits,
) -> Result<ServerHandle, ServeError> {
    let addr = addr.addr();
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(ServeError::Runtime)?;
    let local = listener.local_addr().map_err(ServeError::Runtime)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(ServeError::Runtime)?;
    let (stop, stopped) = oneshot::channel();
    let thread = std::thread::Builder::new()
        .name("plugobs-http".to_owned())
        .spawn(move || runtime.block_on(run(listener, router, limits, stopped)))
        .map_err(ServeError::Runtime)?;
    tracing::info!(addr = %local, "plugobs HTTP endpoints listening");
    Ok(ServerHandle {
        addr: local,
        stop: Some(stop),
        thread: Some(thread),
    })
}

async fn run(
    listener: std::net::TcpListener,
    router: Router,
    limits: ServerLimits,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(error) => {
            tracing::error!(%error, "plugobs HTTP endpoints cannot listen");
            return;
        }
    };
    let mut http = hyper::server::conn::http1::Builder::new();
    // The header read timeout is the connections' own (hyper's would run from the moment
    // a connection waits for a request, idle time included).
    http.timer(TokioTimer::new())
        .header_read_timeout(None)
        .max_header_size(limits.max_header_bytes)
        .max_buf_size(limits.max_header_bytes.max(8 * 1024))
        .max_headers(limits.max_headers);
    let timeouts = ConnectionTimeouts {
        idle: limits.idle_timeout,
        header_read: limits.header_read_timeout,
    };
    let connections = Connections::new();
    let (stopping, stopped) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let stream = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before accept: wait a
                    // little rather than spin.
                    tracing::warn!(%error, "plugobs HTTP endpoints: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // At the cap, the connection idle longest makes room; with none idle, the new
        // one waits for a connection to finish (each is bounded by the timeouts).
        let permit = loop {
            if let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
                break Some(permit);
            }
            connections.evict_longest_idle();
            tokio::select! {
                _ = &mut stop => break None,
                permit = Arc::clone(&slots).acquire_owned() => break permit.ok(),
                () = connections.some_became_idle() => {}
            }
        };
        let Some(permit) = permit else { break };
        let _ = stream.set_nodelay(true);
        let registered = connections.register();
        let state = Arc::clone(registered.state());
        let io = WatchedIo::new(stream, Arc::clone(&state), limits.write_timeout);
        let service = TrackedService {
            router: router.clone(),
            state: Arc::clone(&state),
        };
        let connection = http.serve_connection(TokioIo::new(io), service);
        let stopped = stopped.clone();
        tokio::spawn(async move {
            watch_connection(connection, &state, timeouts, stopped).await;
            drop(registered);
            drop(permit);
        });
    }
    drop(listener);
    let _ = stopping.send(true);
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    tokio::select! {
        _ = slots.acquire_many(all) => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {
            tracing::warn!("plugobs HTTP endpoints: requests still running at shutdown were cut");
        }
    }
}

/// Drives one connection until it ends, closing it when its [`Verdict`] says so: idle
/// too long, its request's head too slow, evicted to make room, or the server stopping.
/// (A write that makes no progress fails in its IO, which ends the connection.)
async fn watch_connection<C>(
    connection: hyper::server::conn::http1::Connection<C, TrackedService>,
    state: &ConnectionState,
    timeouts: ConnectionTimeouts,
    mut stopped: watch::Receiver<bool>,
) where
    C: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let mut connection = std::pin::pin!(connection);
    let mut stopping = *stopped.borrow();
    let mut draining = false;
    loop {
        let deadline = match state.verdict(&timeouts, stopping) {
            // Dropping the connection closes it; nothing was in progress.
            Verdict::Close => return,
            Verdict::Drain => {
                if !draining {
                    draining = true;
                    connection.as_mut().graceful_shutdown();
                }
                None
            }
            Verdict::Wait(deadline) => deadline,
        };
        tokio::select! {
            // Errors are the client's: a reset, a malformed request (hyper answered 400
            // or 431), a write that made no progress.
            _ = connection.as_mut() => return,
            () = state.changed() => {}
            changed = stopped.changed(), if !stopping => {
                stopping = changed.is_err() || *stopped.borrow();
            }
            () = sleep_until_some(deadline) => {}
        }
    }
}

async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// The router as a hyper service that marks each request on its connection, from its
/// head until its response body is written.
#[derive(Clone)]
struct TrackedService {
    router: Router,
    state: Arc<ConnectionState>,
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for TrackedService {
    type Response = hyper::Response<TrackedBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        let guard = self.state.request_started();
        let answer = self.router.clone().oneshot(request);
        Box::pin(async move {
            let response = answer.await?;
            Ok(response.map(|body| TrackedBody::new(body, guard)))
        })
    }
}
