//! Observable plugin systems by annotation.
//!
//! Put `#[plugobs::plugin]` on a plugin struct; link it into a host; the host calls
//! [`registry()`] to load and start every plugin, with load and start timing, state
//! transitions, failures, `tracing` spans and metrics through whatever `metrics` exporter
//! it installed — Prometheus, StatsD, OpenTelemetry or a test recorder.
//!
//! # Quick start
//!
//! ```
//! use std::fmt;
//!
//! pub trait Sink: Send + Sync {
//!     fn write(&self, line: &str) -> Result<(), SinkError>;
//! }
//! #[derive(Debug)]
//! pub struct SinkError;
//! impl fmt::Display for SinkError {
//!     fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str("sink error") }
//! }
//!
//! /// Writes lines to standard output.
//! #[plugobs::plugin(kind = "sink", provides = dyn Sink, start = Self::open)]
//! #[derive(Default)]
//! pub struct StdoutSink { opened: bool }
//!
//! impl StdoutSink {
//!     fn open(&mut self) -> Result<(), std::io::Error> {
//!         self.opened = true;
//!         Ok(())
//!     }
//! }
//!
//! impl Sink for StdoutSink {
//!     fn write(&self, line: &str) -> Result<(), SinkError> {
//!         println!("{line}");
//!         Ok(())
//!     }
//! }
//!
//! // In the host: install any `metrics` exporter first, then
//! let report = plugobs::registry().load_all::<dyn Sink>();
//! assert!(report.is_complete());
//! for sink in &report.loaded {
//!     sink.write("hello").unwrap();
//! }
//! let stats = plugobs::registry().stats();
//! let sink = stats.plugins.iter().find(|p| p.name == "stdout_sink").unwrap();
//! assert_eq!(sink.state, plugobs::PluginState::Running);
//! println!("{stats}");
//! ```
//!
//! # `#[plugin]`
//!
//! ```text
//! #[plugobs::plugin(
//!     name = "file_sink",        // default: the type name in snake_case
//!     kind = "sink",             // default: "plugin"
//!     version = "0.3.1",         // default: the defining crate's version
//!     description = "...",       // default: first line of the doc comment
//!     new = Self::create,        // fn() -> Self or fn() -> Result<Self, E>; default: Default;
//!                                // or (feature `serde`) fn(Config) -> …, Config: Deserialize
//!     provides = dyn Sink,       // or [dyn Sink, dyn Flush]: load it as these trait objects
//!     start = Self::open,        // fn(&mut self) or fn(&self), sync or async,
//!                                // returning () or Result<(), E>
//!     stop = Self::close,        // likewise
//!     health = Self::check,      // fn(&self) -> plugobs::Health, or async
//!     objective = "99.9%",       // every operation's success objective (see `objective`)
//!     latency = "250ms",         // every operation's p99 objective
//!     crate = ::plugobs,         // where generated code finds plugobs, if renamed
//! )]
//! ```
//!
//! The struct must be `Send + Sync + 'static` and not generic. Errors only need
//! `Display`.
//!
//! # `#[instrumented]`
//!
//! On an impl block (inherent or trait impl), every method becomes an *operation* of the
//! plugin `Self`: each call is counted by outcome (`ok`, `error`, `panic`, `cancelled`),
//! timed into a latency histogram, tracked in flight, and runs inside a span named after
//! the operation (DEBUG by default) carrying `plugin.name` and `plugin.kind`.
//!
//! ```
//! #[derive(Debug, PartialEq, plugobs::ErrorKind)]
//! pub enum FetchError { Timeout, Refused }
//!
//! impl std::fmt::Display for FetchError {
//!     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
//!         write!(f, "{self:?}")
//!     }
//! }
//!
//! #[plugobs::plugin(kind = "source")]
//! #[derive(Default)]
//! pub struct HttpSource;
//!
//! #[plugobs::instrumented]
//! impl HttpSource {
//!     fn fetch(&self, url: &str) -> Result<usize, FetchError> {
//!         if url.is_empty() { Err(FetchError::Refused) } else { Ok(url.len()) }
//!     }
//!
//!     #[instrumented(name = "fetch_all", level = "info", fields(count = urls.len()), err)]
//!     async fn fetch_many(&self, urls: &[&str]) -> Result<usize, FetchError> {
//!         urls.iter().map(|u| self.fetch(u)).sum()
//!     }
//!
//!     #[instrumented(skip)]
//!     fn helper(&self) {}
//! }
//!
//! let source = HttpSource;
//! assert!(source.fetch("").is_err());
//! assert_eq!(plugobs::block_on(source.fetch_many(&["a", "bc"])), Ok(3));
//! let stats = plugobs::registry().stats();
//! let ops = &stats.plugins.iter().find(|p| p.name == "http_source").unwrap().operations;
//! let fetch = ops.iter().find(|o| o.name == "fetch").unwrap();
//! assert_eq!((fetch.calls, fetch.errors), (3, 1));
//! assert_eq!(fetch.errors_by_kind.get("refused"), Some(&1));
//! ```
//!
//! | option | where | meaning |
//! |---|---|---|
//! | `name = "…"` | method, function | operation name (default: the function's name) |
//! | `level = "…"` | impl, method, function | span level: `trace`, `debug` (default), `info`, `warn`, `error` |
//! | `fields(arg, key = expr)` | method, function | record these on the span (`Debug`); nothing is recorded otherwise |
//! | `err` | impl, method, function | also emit an ERROR event with the error's `Display` |
//! | `cpu` | impl, method, function | also count each call's thread CPU time ([`cpu`]) |
//! | `objective = "99%"` | impl, method, function | the share of calls that should succeed ([`objective`]) |
//! | `latency = "250ms"` | impl, method, function | the latency its p99 should stay under ([`objective`]) |
//! | `skip` | method in an instrumented impl | leave this method alone |
//! | `value` | method, function | a returned future is a value (`JoinHandle`): the call ends when the function returns |
//! | `plugin = Type` | impl, function | the plugin, when it is not `Self` (required on free functions) |
//! | `crate = path` | impl, function | where generated code finds plugobs |
//!
//! Any body that compiles without the attribute compiles with it (returned borrows of
//! `self`, early `return`, `?`, `impl Trait` returns). Async code is measured as the
//! future, timed over its polls: `async fn`, and any function whose signature returns
//! `impl Future<Output = T>` or `Pin<Box<dyn Future<Output = T> + ..>>` (a trailing
//! `async move` block, a delegating body, or `async-trait` with `#[instrumented]` above or
//! below `#[async_trait]`). Any other function is measured by the type of what it returns:
//! a boxed `dyn Future` under any name (`BoxFuture`, `type Future = ...`) as the future;
//! another future is a compile error unless `value` says the call ends when it returns;
//! anything else as a value. A `Result::Err` is an error whose `error_kind` label comes
//! from [`ErrorKind`] (derive it on an enum for snake_case variant names); other errors
//! are `error`. A panic is recorded and resumed unchanged; a future dropped before it
//! finished is `cancelled`. `const fn` cannot be instrumented; `err` needs a return type
//! written as a `Result` (`Result<T, E>`, `io::Result<T>`, ...), and on an impl applies
//! only to the methods that have one. The README lists every supported and refused shape.
//!
//! The hot path is one `static` site per operation, resolved on first call, then a TSC
//! clock read and a relaxed atomic add into this thread's cache-padded shard on entry, and
//! a clock read and one or two atomic adds on exit: no lock, no hash, no allocation.
//!
//! # Reaching a plugin's own methods
//!
//! A [`Loaded<dyn Trait>`](Loaded) derefs to the trait object. To call what the trait does
//! not offer — the plugin's inherent methods, instrumented or not — downcast it to the
//! plugin's type with [`Loaded::downcast_ref`] (or [`Loaded::downcast_mut`]):
//!
//! ```
//! pub trait Cache: Send + Sync {
//!     fn get(&self, key: &str) -> Option<String>;
//! }
//!
//! #[plugobs::plugin(kind = "cache", provides = dyn Cache)]
//! #[derive(Default)]
//! pub struct LruCache { hits: u64 }
//!
//! impl Cache for LruCache {
//!     fn get(&self, _key: &str) -> Option<String> { None }
//! }
//!
//! #[plugobs::instrumented]
//! impl LruCache {
//!     fn capacity(&self) -> usize { 128 }
//! }
//!
//! use plugobs::{Plugin, Registry};
//! let registry = Registry::from_descriptors([LruCache::DESCRIPTOR]).unwrap();
//! let cache = registry.load::<dyn Cache>("lru_cache").unwrap();
//! assert_eq!(cache.get("k"), None); // through the trait
//! let lru: &LruCache = cache.downcast_ref::<LruCache>().unwrap();
//! assert_eq!(lru.capacity(), 128); // the plugin's own method
//! assert_eq!(lru.hits, 0);
//! ```
//!
//! # Health
//!
//! `health = Self::check` names a hook `fn(&self) -> Health` (or `async fn`). A round,
//! [`Registry::check_health`], runs every running plugin's hook on a worker thread with a
//! timeout (a panic or a timeout is `Unhealthy`, a hook that never returns blocks nothing
//! and is not called again until it returns) and judges the [`HealthPolicy`] over the
//! plugin's own operations (error ratio and p99 over the last minute, with a minimum call
//! count); the worse of both is the plugin's status, which moves it between `running`,
//! `degraded` and `unhealthy`. [`HealthMonitor`] runs rounds on an interval on its own
//! thread, with failure and recovery thresholds and change subscribers;
//! [`Registry::readiness`] is what a readiness probe serves.
//!
//! ```
//! use plugobs::{Health, HealthStatus, Plugin, Registry};
//!
//! pub trait Store: Send + Sync {}
//!
//! #[plugobs::plugin(kind = "store", provides = dyn Store, health = Self::check)]
//! #[derive(Default)]
//! pub struct Postgres { replicas_up: std::sync::atomic::AtomicU32 }
//! impl Store for Postgres {}
//!
//! impl Postgres {
//!     fn check(&self) -> Health {
//!         match self.replicas_up.load(std::sync::atomic::Ordering::Relaxed) {
//!             0 => Health::degraded("no replica: reads go to the primary")
//!                 .with_detail("replicas", "0/2"),
//!             _ => Health::healthy(),
//!         }
//!     }
//! }
//!
//! let registry = Registry::from_descriptors([Postgres::DESCRIPTOR]).unwrap();
//! let _store = registry.load::<dyn Store>("postgres").unwrap();
//! let report = registry.check_health();
//! assert_eq!(report.get("postgres").unwrap().status, HealthStatus::Degraded);
//! assert_eq!(registry.get("postgres").unwrap().state(), plugobs::PluginState::Degraded);
//! assert!(registry.readiness().ready); // degraded still serves
//! ```
//!
//! # Configured instances
//!
//! One plugin can run as several instances, each built from its own configuration and
//! counted apart: every per-plugin series carries an `instance` label (the plugin's name
//! for a plugin loaded the old way). With the `serde` feature a constructor takes any
//! `serde::Deserialize` configuration, and [`Registry::load_instance`] (or
//! [`Registry::load_instances`] for a whole `[sinks.<name>]` section) loads an instance
//! by name from a value of any serde format. See [`instance`] and [`config`].
//!
//! ```
//! # #[cfg(feature = "serde")]
//! # fn main() {
//! use std::collections::BTreeMap;
//!
//! pub trait Sink: Send + Sync {
//!     fn write(&self, line: &str);
//! }
//!
//! #[derive(serde::Deserialize)]
//! #[serde(deny_unknown_fields)]
//! pub struct KafkaConfig {
//!     port: u16,
//! }
//!
//! #[plugobs::plugin(kind = "sink", provides = dyn Sink, new = Self::from_config)]
//! pub struct KafkaSink {
//!     port: u16,
//! }
//!
//! impl KafkaSink {
//!     fn from_config(cfg: KafkaConfig) -> Self {
//!         KafkaSink { port: cfg.port }
//!     }
//! }
//!
//! #[plugobs::instrumented]
//! impl Sink for KafkaSink {
//!     fn write(&self, _line: &str) {}
//! }
//!
//! let registry = plugobs::Registry::from_descriptors([
//!     <KafkaSink as plugobs::Plugin>::DESCRIPTOR,
//! ])
//! .unwrap();
//! let eu = registry
//!     .load_instance::<dyn Sink>("kafka_sink", "kafka-eu", BTreeMap::from([("port", 9092)]))
//!     .unwrap();
//! eu.write("hello");
//! // A configuration that does not fit fails that instance, naming the field.
//! let err = registry
//!     .load_instance::<dyn Sink>("kafka_sink", "kafka-us", BTreeMap::from([("port", 70_000)]))
//!     .unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "instance `kafka-us` of plugin `kafka_sink` failed to load: \
//!      at `port`: invalid value: integer `70000`, expected u16"
//! );
//! let stats = registry.stats();
//! let rows: Vec<(&str, usize)> = stats
//!     .plugins
//!     .iter()
//!     .map(|p| (p.instance, p.operations.iter().map(|o| o.calls as usize).sum()))
//!     .collect();
//! assert_eq!(rows, [("kafka-eu", 1), ("kafka-us", 0)]);
//! # }
//! # #[cfg(not(feature = "serde"))]
//! # fn main() {}
//! ```
//!
//! # Plugins found at run time
//!
//! A plugin the host was not built with — a WebAssembly module, a subprocess — is
//! registered at run time with a [`PluginSpec`] (its hooks as closures), and its
//! operations declared at run time; from then on it is observed as a `#[plugin]` is.
//! [`Registry::discover`] does this for every file of a directory, timed per directory
//! (`plugobs_discovery_duration_seconds{source}`), each file that fails counted by
//! reason (`plugobs_discovery_failures_total{source,reason}`).
//!
//! ```
//! use plugobs::{Health, PluginSpec, Registry};
//!
//! #[derive(Debug, plugobs::ErrorKind)]
//! enum CallError { Trap }
//!
//! let registry = Registry::from_descriptors([]).unwrap(); // or plugobs::registry()
//! let geoip = registry.register(
//!     PluginSpec::new("geoip", "enricher")
//!         .version("1.2.0")
//!         .source("/plugins/geoip.wasm")
//!         .load(|| Ok::<_, std::io::Error>(vec![1u8, 2, 3])) // an instance's value
//!         .health(Health::healthy),
//! )?;
//! let enrich = geoip.operation("enrich")?;
//! let instance = geoip.load()?;                       // timed, counted, spanned
//! let bytes = instance.value::<Vec<u8>>().unwrap();
//! let n = enrich.call(|| bytes.first().copied().ok_or(CallError::Trap)).unwrap();
//! assert_eq!(n, 1);
//! assert!(enrich.call(|| Err::<u8, _>(CallError::Trap)).is_err()); // error_kind="trap"
//!
//! let stats = registry.stats();
//! let op = &stats.plugins[0].operations[0];
//! assert_eq!((op.calls, op.errors), (2, 1));
//! instance.stop()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The linker pitfall
//!
//! Registration happens at link time through `inventory`. A crate that only defines
//! plugins and that nothing in the host references is dropped by the linker, and its
//! plugins silently vanish. Reference each plugin crate from the host:
//!
//! ```ignore
//! use my_plugins as _;
//! ```
//!
//! and check at start-up that the plugins you ship are there:
//!
//! ```
//! let missing = plugobs::registry().expect_plugins(&["file_sink"]);
//! assert!(missing.is_err()); // nothing called file_sink is linked into this doctest
//! ```
//!
//! # Metrics
//!
//! The closed list of metric names is [`names::ALL`]; the exporter sees them with the
//! `plugobs_` prefix. plugobs records into its own atomic aggregates and a background
//! thread publishes them to the current `metrics` recorder every second ([`bridge`]);
//! [`flush`] publishes at once. A recorder installed after the first call still gets
//! everything. In tests, publish into a thread-local recorder:
//!
//! ```
//! # #[plugobs::plugin] #[derive(Default)] pub struct Echo;
//! # #[plugobs::instrumented] impl Echo { fn echo(&self, s: &str) -> usize { s.len() } }
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, || {
//!     Echo.echo("hi");
//!     plugobs::flush();
//! });
//! let ok = snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
//!     let key = key.key();
//!     (key.name() == "plugobs_plugin_operations_total"
//!         && key.labels().any(|l| l.key() == "outcome" && l.value() == "ok"))
//!     .then_some(value)
//! });
//! assert_eq!(ok, Some(DebugValue::Counter(1)));
//! ```
//!
//! # A plugin's own telemetry
//!
//! [`counter!`], [`gauge!`] and [`histogram!`] record a plugin's own numbers from any of
//! its code — operations, hooks, helpers, background threads — with its `plugin` and
//! `kind` labels. `counter!(Plugin, "name")` is exported as
//! `plugobs_custom_name_total`, gauges and histograms as `plugobs_custom_name` (see
//! [`custom`]); the name is checked at compile time (snake_case, no `_total`, `_sum`, …
//! suffix). Extra labels are `"key" => value` with `&'static str` values, at most 16 sets
//! per metric (then `other`). Each call site is a `static` resolved once: recording is an
//! atomic add, no hashing, no allocation. [`Plugin::span`] gives a span with the plugin's
//! identity for its own threads and tasks; [`Plugin::stats`] reads its own figures.
//!
//! ```
//! use plugobs::Plugin as _;
//!
//! #[plugobs::plugin(kind = "cache")]
//! #[derive(Default)]
//! pub struct PageCache;
//!
//! #[plugobs::instrumented]
//! impl PageCache {
//!     fn get(&self, key: u32) -> Option<u32> {
//!         let found = key % 2 == 0;
//!         let result = if found { "hit" } else { "miss" };
//!         plugobs::counter!(Self, "lookups", "result" => result).increment(1);
//!         plugobs::gauge!(Self, "entries").set(128.0);
//!         plugobs::histogram!(Self, "key_bits").record(f64::from(32 - key.leading_zeros()));
//!         found.then_some(key)
//!     }
//! }
//!
//! let cache = PageCache;
//! cache.get(2);
//! cache.get(3);
//! std::thread::spawn({
//!     let span = PageCache::span(); // events in there carry plugin.name, plugin.kind
//!     move || span.in_scope(|| tracing::info!("evicting"))
//! })
//! .join()
//! .unwrap();
//! let stats = PageCache::stats().unwrap();
//! assert_eq!(stats.operations[0].calls, 2);
//! let own: Vec<String> = stats.custom.iter().map(|c| c.to_string()).collect();
//! // By name; a histogram's p50 is its bucket's midpoint, within 1.6 %.
//! assert_eq!(
//!     own,
//!     [
//!         "entries = 128",
//!         "key_bits: n=2 sum=4 p50=1.996",
//!         "lookups{result=hit} = 1",
//!         "lookups{result=miss} = 1",
//!     ]
//! );
//! ```
//!
//! Who spends what: `plugobs_plugin_busy_ratio` (the share of the last minute spent
//! inside the plugin's operations, from their exact latency sums; above 1 when calls
//! overlap; see [`busy`]), `#[instrumented(cpu)]` for thread CPU time per operation
//! ([`cpu`]), and the [`alloc::Attributed`] global allocator for bytes allocated and
//! freed per instance.
//!
//! # Which instance: calls, hooks and work off the call path
//!
//! Everything a plugin records of its own — custom metrics, CPU time, allocated and freed
//! bytes — carries the `instance` of the instance whose work recorded it: inside an
//! operation call on an instance loaded by name (see [`instance`]), inside its
//! constructor and hooks, that instance; elsewhere the plugin's default instance, so a
//! plugin loaded only the default way has the series it always had. Its operation spans
//! carry `plugin.instance` too.
//!
//! A plugin's own threads and tasks run outside any call: a [`Scope`] says whose work
//! they are. Take it in a method (`self.scope()`, with [`PluginExt`]) and run the work
//! in it: [`Scope::run`] for a closure or a thread's body, [`AttributeExt::attributed`]
//! for a future, [`attribute`] for short. Entering and leaving a scope is two
//! thread-local writes.
//!
//! ```
//! use plugobs::{AttributeExt as _, Plugin as _, PluginExt as _};
//!
//! #[plugobs::plugin(kind = "sink")]
//! #[derive(Default)]
//! pub struct Uploader;
//!
//! #[plugobs::instrumented]
//! impl Uploader {
//!     fn upload(&self, batch: &[u8]) -> std::thread::JoinHandle<usize> {
//!         let scope = self.scope(); // this instance (here, the default one)
//!         let span = self.span(); // plugin.task with plugin.name, .kind, .instance
//!         let batch = batch.to_vec();
//!         std::thread::spawn(move || {
//!             let _span = span.entered();
//!             scope.run(|| {
//!                 plugobs::counter!(Uploader, "batches_sent").increment(1);
//!                 batch.len()
//!             })
//!         })
//!     }
//! }
//!
//! impl Uploader {
//!     async fn flush(&self) -> usize {
//!         async { vec![0u8; 1024].len() }.attributed(self).await
//!     }
//! }
//!
//! let uploader = Uploader;
//! assert_eq!(uploader.upload(b"abc").join().unwrap(), 3);
//! assert_eq!(plugobs::block_on(uploader.flush()), 1024);
//! let stats = Uploader::stats().unwrap();
//! assert_eq!(stats.custom[0].to_string(), "batches_sent = 1");
//! ```
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `serde` | configured instances: constructors taking a `serde::Deserialize` configuration, [`Registry::load_instance`] and [`Registry::load_instances`] (see [`config`]); `Serialize` for [`RegistryStats`], [`Health`], [`HealthReport`], [`Readiness`] and everything in them |
//! | `prometheus` | [`prometheus::install`]: a metrics-exporter-prometheus recorder whose `render()` also renders plugobs' families straight from its aggregates |
//! | `http` | [`http`]: `/metrics`, `/healthz`, `/readyz`, `/plugins` and a status page, as an axum `Router` to mount or a standalone server ([`http::serve`]); turns on `serde` and `process` |
//! | `otel` | [`otel::register`]: plugobs' exact counters, gauges and histograms (its own bucket bounds, one histogram per series) reported through an OpenTelemetry `MeterProvider` at collection time |
//! | `exemplars` | [`exemplars`]: trace ids of `tracing-opentelemetry` spans kept as exemplars of the latency buckets (at most one per bucket per interval, no lock and no allocation on the caller), carried by the OpenMetrics exposition and shown on `/plugins` and the status page |
//! | `process` | the standard `process_*` families on `/metrics`, read by `metrics-process` at scrape time |
//! | `tokio` | blocking `load`/`load_all`/`stop` inside a tokio runtime never hang on an async hook: refused with a typed error ([`HookError::is_blocked_runtime`]) in a current-thread runtime, run in `block_in_place` in a multi-thread one |
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use plugobs_macros::{ErrorKind, counter, gauge, histogram, instrumented, plugin};

pub use plugobs_runtime::{
    AttributeExt, AttributedFuture, BreakerOpen, Entered, Objective, PluginExt, Scope, attribute,
    breaker,
};
pub use plugobs_runtime::{
    CheckOptions, CheckReason, ErrorKind, Failure, FailureReason, Health, HealthChange,
    HealthCounts, HealthMonitor, HealthPolicy, HealthReport, HealthStatus, HookError,
    InstanceFailure, InstanceReport, LifecycleError, LoadError, LoadReport, Loaded, NamespaceError,
    NotReady, OperationStats, Plugin, PluginCheck, PluginDescriptor, PluginHealth, PluginRecord,
    PluginState, PluginStats, Readiness, Registry, RegistryError, RegistryStats, RoundStats,
    SourceLocation, Stage, alloc, block_on, bridge, busy, config, cpu, custom, exemplars,
    exposition, flush, health, history, instance, names, objective, registry, sampling,
    set_namespace,
};
/// Plugins found at run time: registered with a [`PluginSpec`], found in a directory
/// ([`Registry::discover`]), their operations recorded through [`OperationHandle`]s.
pub use plugobs_runtime::{
    DirectoryStats, MAX_RUNTIME_OPERATIONS, OperationHandle, Outcome, PluginSpec, RuntimeCall,
    RuntimePlugin, RuntimeValue, discovery,
};

#[cfg(feature = "otel")]
pub use plugobs_runtime::otel;

#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "prometheus")]
pub mod prometheus;

#[doc(hidden)]
pub use plugobs_runtime::__private;
