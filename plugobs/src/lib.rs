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
//! assert_eq!(stats.plugins[0].name, "stdout_sink");
//! assert_eq!(stats.plugins[0].state, plugobs::PluginState::Running);
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
//!     new = Self::create,        // fn() -> Self or fn() -> Result<Self, E>; default: Default
//!     provides = dyn Sink,       // or [dyn Sink, dyn Flush]: load it as these trait objects
//!     start = Self::open,        // fn(&mut self) or async, returning () or Result<(), E>
//!     stop = Self::close,        // likewise
//!     crate = ::plugobs,         // where generated code finds plugobs, if renamed
//! )]
//! ```
//!
//! The struct must be `Send + Sync + 'static` and not generic. Errors only need
//! `Display`.
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
//! [`flush`] publishes at once.
//!
//! # Feature flags
//!
//! | feature | what it adds |
//! |---|---|
//! | `serde` | `Serialize` for [`RegistryStats`] and everything in it |
//! | `prometheus` | [`prometheus::builder`]: a `PrometheusBuilder` with plugobs' recommended buckets |
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub use plugobs_macros::{ErrorKind, instrumented, plugin};

pub use plugobs_runtime::{
    ConfigError, ErrorKind, Failure, FailureReason, HealthCounts, HookError, LifecycleError,
    LoadError, LoadReport, Loaded, OperationStats, Plugin, PluginDescriptor, PluginRecord,
    PluginState, PluginStats, Registry, RegistryError, RegistryStats, SourceLocation, Stage,
    block_on, bridge, flush, names, registry, set_namespace,
};

#[cfg(feature = "prometheus")]
pub mod prometheus;

#[doc(hidden)]
pub use plugobs_runtime::__private;
