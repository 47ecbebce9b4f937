//! HTTP (feature `http`): `/metrics`, probes, `/plugins` and a status page.
//!
//! | route | answers |
//! |---|---|
//! | `GET /metrics` | plugobs' families, the standard `process_*` families (feature `process`) and, when built [from a `PrometheusExporter`](Endpoints::exporter), the host's own metrics: Prometheus text, or OpenMetrics when the `Accept` header prefers it |
//! | `GET /healthz` | `200 ok`: the process answers |
//! | `GET /readyz` | `200` when every started plugin is ready, else `503`; JSON either way |
//! | `GET /plugins` | the [`RegistryStats`](crate::RegistryStats) as JSON: in `plugins`, one [`PluginStats`](crate::PluginStats) per instance, grouped by plugin |
//! | `GET /plugins/{name}` | the plugin `name` and its instances as JSON (below); for the name of a configured instance, its plugin with that instance alone; `404` for any other name |
//! | `GET /` | a self-contained HTML status page, instances grouped under their plugin: no external asset, no JavaScript |
//!
//! # Plugins and their instances
//!
//! A plugin runs as one or more instances: its default instance (named after the
//! plugin; what [`load`](crate::Registry::load) and calls on values the host built count
//! under) and the instances loaded by name with a configuration
//! ([`load_instance`](crate::Registry::load_instance)). Each entry of `/plugins`'s
//! `plugins` is one instance, with `name` (its plugin) and `instance` (the `instance`
//! label of its series); a plugin's entries are together, its default instance first.
//!
//! `/plugins/{name}` answers the plugin and the list of its instances, each the same
//! object as its entry in `/plugins` (state, health, timings, failures and the last one
//! with its stage, reason and message, operations with their counts and latencies):
//!
//! ```text
//! {"name": "kafka_sink", "kind": "sink", "version": "1.4.0",
//!  "instances": [
//!    {"name": "kafka_sink", "instance": "kafka-eu", "kind": "sink", "version": "1.4.0",
//!     "state": "running", "health": {"status": "healthy", …}, "failures": 0,
//!     "last_failure": null, "operations": [{"name": "send", "calls": 3, "ok": 3, …}], …},
//!    {"name": "kafka_sink", "instance": "kafka-us", …, "state": "failed", "failures": 1,
//!     "last_failure": {"stage": "load", "reason": "config",
//!                      "message": "at `port`: invalid type: string \"x\", expected u16", …}, …}
//!  ]}
//! ```
//!
//! The name of a configured instance resolves to its plugin with that one instance:
//! `/plugins/kafka-us` is the body above with `instances` holding `kafka-us` alone.
//! Plugin names and instance names never collide (an instance cannot take a plugin's
//! name or another instance's), so a name is never both. Any other name is `404`
//! `` {"status": 404, "error": "no plugin named `nope`"} ``.
//!
//! The status page groups the rows the same way: one `<tbody id="plugin-{name}">` per
//! plugin, one `<tr id="instance-{instance}">` per instance in it (the default instance
//! reads `default`), each with its state, health, last failure and operations.
//!
//! # Mounting
//!
//! Two ways to mount it. In a host that already runs axum, nest the [`Router`] as a
//! service under a prefix: every path under it is the endpoints', `/ops` and `/ops/` both
//! the page. (`merge`, or `nest` into a `Router` of any state type, works too; `nest`
//! flattens the routes, so `/ops/` is then the host's 404.)
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let app = axum::Router::new().nest_service("/ops", plugobs::http::router());
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! axum::serve(listener, app).await
//! # }
//! ```
//!
//! In a host with no async runtime, [`serve`] starts a thread with its own runtime and
//! returns a handle that shuts the server down gracefully when dropped:
//!
//! ```
//! let server = plugobs::http::serve(0).unwrap(); // 127.0.0.1, a free port
//! println!("status page on http://{}/", server.local_addr());
//! server.shutdown().unwrap();
//! ```
//!
//! [`Endpoints`] configures either: another registry, the host's Prometheus exporter,
//! bearer-token auth, limits and timeouts.
//!
//! # Protection
//!
//! - **Auth**: [`Endpoints::bearer_token`] requires `Authorization: Bearer <token>` on
//!   every path, or on every path but the probes' `/healthz` and `/readyz`
//!   ([`AuthScope`]); a missing or wrong token is `401` with `WWW-Authenticate: Bearer`,
//!   decided before routing and before the body limit, so a client without the token
//!   learns nothing of which routes, methods or limits exist (an unknown path, a wrong
//!   method, an oversized body are all `401` to it). The comparison takes a time that
//!   depends only on the expected token's length, never on where a wrong one differs,
//!   and the token is never logged or printed (its `Debug` is redacted).
//! - **Errors**: an unknown path is `404`, a wrong method `405` (with `Allow`), a body
//!   over the limit `413`, a request that takes longer than the timeout `408`, a panic
//!   `500` (never a dropped server); each has the JSON body `{"status": 404, "error":
//!   "…"}`. `400` (a malformed request) and `431` (headers over the limits) are answered
//!   by hyper's parser before there is a request to route: a status line with
//!   `content-length: 0` and no body, and the connection is closed.
//! - **Limits**: the router carries the body limit (16 KiB) and the request timeout
//!   (10 s) as tower layers. The rest are limits of the server that holds the
//!   connections, which [`serve`] sets (each a setter of [`Endpoints`]): headers of at
//!   most 16 KiB and 64 fields, sent within 5 s of their first byte
//!   ([`header_read_timeout`](Endpoints::header_read_timeout)); a write timeout of 10 s
//!   ([`write_timeout`](Endpoints::write_timeout)): a client that stops reading is cut
//!   once nothing has gone out for that long; idle connections closed after 60 s
//!   ([`idle_timeout`](Endpoints::idle_timeout)); and at most 256 connections
//!   ([`max_connections`](Endpoints::max_connections)), the one idle longest closed when
//!   a new client needs its place. So no client can pin a connection or memory, or
//!   starve good requests with idle or unread connections. A host that mounts the router
//!   keeps its own server's limits.
//!
//! # Readiness
//!
//! `/readyz` answers [`Registry::readiness`](crate::Registry::readiness): 200 when every
//! started plugin (one with a running instance) is healthy or degraded, 503 otherwise,
//! with the plugins that are not and why, e.g.
//! `{"ready":false,"not_ready":[{"plugin":"kafka_sink","instance":"kafka-eu","kind":"sink","status":"unhealthy","message":"broker unreachable"}]}`.
//! A started plugin no health round has judged yet is not ready ("not checked yet"): run
//! a [`HealthMonitor`](crate::HealthMonitor), or
//! [`check_health`](crate::Registry::check_health) once after loading.
//!
//! # Screenshot
//!
//! The page renders in any browser; a PNG of it from the command line:
//!
//! ```text
//! chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
//!     --window-size=1400,900 --screenshot=status.png http://127.0.0.1:9464/
//! ```

mod auth;
mod chart;
mod connection;
mod page;
#[cfg(feature = "process")]
mod process;
mod readiness;
mod response;
mod routes;
mod scrape;
mod serve;

pub use auth::{AuthScope, BearerToken, TokenError};
pub use response::{HttpError, ServeError};
pub use routes::router;
pub use scrape::SharedRegistry;
pub use serve::{Endpoints, ListenAddr, ServerHandle, serve};

/// Re-exported so a host can name the router type without depending on axum.
pub use axum::Router;
