//! Runtime of [plugobs](https://docs.rs/plugobs): the plugin registry, the lifecycle,
//! plugobs' own aggregates and the bridge to the `metrics` facade.
//!
//! Users depend on the `plugobs` crate, which re-exports what is public here together with
//! the `#[plugin]` and `#[instrumented]` macros.
//!
//! # The house
//!
//! The sources are in folders by layer; a file imports only its own layer and the layers
//! below it, never a higher one, and no files import each other in a circle (the
//! repository's architecture test, `tests/tests/architecture.rs`, holds this):
//!
//! | layer | holds |
//! |---|---|
//! | `model/` | plain data and words: states, stages, outcomes, errors, metric names, instance names, health values, policy settings, descriptor data, stats data, `fmt` |
//! | `core/` | the hot path: sync, thread indices, cells and the histogram, call sites, the per-plugin cells (instance bindings, allocation slot, CPU counters, custom metrics), the plugin running on a thread, operation snapshots |
//! | `plugin/` | what generated code implements and calls: [`Plugin`], factories, `provides`, the hook adapters |
//! | `record/` | one instance's live record, its health state and its history |
//! | `telemetry/` | reading a plugin's own telemetry: its custom metrics for stats and export, the attributing allocator, utilization |
//! | `registry.rs` | discovery (link time; the records of plugins registered at run time, append-only) and queries |
//! | `lifecycle/`, `health/` | load, start, stop, and the run-time front end (`register`, `discover`, operation handles); checks, workers, the policy, the monitor, readiness |
//! | `export/` | the one walk of every series, the bridge, the Prometheus/OpenMetrics text, `stats()` and its tables |
//! | `lib.rs` | these docs, the public re-exports, and `__private` for generated code |
//!
//! A lower layer that must reach a higher one at run time does it through the
//! descriptor's upcalls (`model/descriptor.rs`), which the crate root fills.
#![deny(missing_docs)]
// `unsafe` is denied everywhere but in `telemetry::alloc`, whose `GlobalAlloc` impl needs it.
#![deny(unsafe_code)]

mod core;
mod export;
pub mod health;
mod lifecycle;
#[cfg(all(test, loom))]
mod loom_tests;
mod model;
mod plugin;
mod record;
mod registry;
mod telemetry;

pub use crate::export::exposition;
#[cfg(feature = "otel")]
pub use crate::export::otel;
pub use crate::model::objective::Objective;
pub use crate::model::{config, history, instance, names, objective, sampling};
pub use crate::telemetry::scope::{
    AttributeExt, AttributedFuture, Entered, PluginExt, Scope, attribute,
};
pub use crate::telemetry::{alloc, busy};

#[doc = include_str!("model/breaker.md")]
///
/// [`ManualClock`](breaker::ManualClock) moves every breaker's clock by hand, for tests.
pub mod breaker {
    pub use crate::core::breaker::ManualClock;
    pub use crate::model::breaker::{
        BreakerOpen, BreakerOverride, BreakerSettings, BreakerSnapshot, BreakerState, Trip,
    };
}
pub use crate::model::breaker::BreakerOpen;

/// Publishing plugobs' aggregates through the `metrics` facade: the namespace, the flush
/// interval, the histogram mode and the background [`Flusher`](bridge::Flusher); see
/// [`flush`] for what is sent.
pub mod bridge {
    pub use crate::export::bridge::{
        Flusher, HistogramMode, background_flush_running, flush, flush_interval, histogram_mode,
        keep_history, namespace, set_flush_interval, set_histogram_mode, set_namespace,
        start_background_flush, stop_background_flush,
    };
}

/// A plugin's own metrics: the handles `plugobs::counter!`, `plugobs::gauge!` and
/// `plugobs::histogram!` return, their limits, and what `stats()` shows of them.
///
/// A custom metric named `cache_hits` of plugin `lru_cache` (kind `cache`) is exported as
/// `{namespace}_custom_cache_hits_total{plugin="lru_cache",kind="cache",instance="lru_cache"}`,
/// its `instance` label that of the instance whose work recorded it (inside a call, hook
/// or [`Scope`] of an instance loaded by name, that instance; elsewhere the default one).
/// Each metric keeps at most [`MAX_LABEL_SETS`](custom::MAX_LABEL_SETS) sets of extra
/// label values; further ones are counted under [`OVERFLOW_LABEL`](custom::OVERFLOW_LABEL).
pub mod custom {
    pub use crate::core::custom::{
        CUSTOM_BUCKETS, Counter, CustomStats, CustomValue, Gauge, Histogram, MAX_LABEL_SETS,
        OVERFLOW_LABEL,
    };
}

/// CPU time, opt-in per operation (`#[instrumented(cpu)]`): the thread CPU time each call
/// spends, exported as `plugobs_plugin_cpu_seconds_total{plugin,kind,instance,operation}`.
///
/// A sync call reads the calling thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`, through
/// rustix's safe `clock_gettime`) when its body starts and when it ends, also when it
/// panics; an async call does so around each poll, so time spent waiting between polls is
/// not counted. The clock is read by a system call (the vDSO does not serve CPU clocks),
/// which is the cost of this option: see the README for measurements. On platforms other
/// than Linux and Android nothing is measured and the series stays 0.
///
/// Each call's CPU time counts for the instance the call runs on. Work attributed to an
/// instance off its calls with [`Scope::with_cpu`] is counted under the operation
/// [`BACKGROUND_OPERATION`](cpu::BACKGROUND_OPERATION).
pub mod cpu {
    pub use crate::core::cpu::{BACKGROUND_OPERATION, thread_cpu_nanos};
}

/// Exemplars: from a slow latency bucket to the trace that landed in it.
///
/// With the feature `exemplars` and [`enable`](exemplars::enable)d, a timed call that
/// ends inside a `tracing` span with a sampled OpenTelemetry context (a
/// `tracing-opentelemetry` layer installed) may keep its trace id and span id as the
/// exemplar of the `plugobs_plugin_operation_duration_seconds` bucket it landed in: at
/// most one per bucket per [`interval`](exemplars::interval) (10 s), taken with no lock
/// and no allocation on the caller. The OpenMetrics exposition carries them on the
/// `_bucket` lines, until they are older than [`max_age`](exemplars::max_age) (5
/// minutes); the Prometheus text format carries none. `stats()` shows each operation's
/// slowest recent one. What a call pays, case by case, is in the README's "Exemplars".
///
/// Without the feature, only the data types are here, and calls keep nothing.
pub mod exemplars {
    #[cfg(feature = "exemplars")]
    pub use crate::core::exemplar::{
        DEFAULT_INTERVAL, DEFAULT_MAX_AGE, disable, enable, interval, is_enabled, max_age,
        set_interval, set_max_age,
    };
    pub use crate::model::exemplar::{Exemplar, SlowExemplar};
}

pub use crate::core::runtime_site::{OperationHandle, RuntimeCall};
pub use crate::export::bridge::{flush, set_namespace};
pub use crate::health::{
    CheckOptions, CheckReason, Health, HealthChange, HealthMonitor, HealthPolicy, HealthReport,
    HealthStatus, NotReady, PluginCheck, Readiness,
};
pub use crate::lifecycle::runtime::{MAX_RUNTIME_OPERATIONS, RuntimePlugin};
pub use crate::lifecycle::{InstanceFailure, InstanceReport, LoadReport, Loaded};
pub use crate::model::outcome::Outcome;
pub use crate::plugin::runtime::{PluginSpec, RuntimeValue};

/// Discovery of a directory of plugins at run time ([`Registry::discover`]): what it
/// reports, and why a file did not become a plugin.
pub mod discovery {
    pub use crate::lifecycle::runtime::DiscoveryReport;
    pub use crate::model::discovery::{DiscoveryFailure, DiscoveryReason, FileError};
}
pub use crate::model::descriptor::{PluginDescriptor, SourceLocation};
pub use crate::model::error::{
    Failure, FailureReason, HookError, LifecycleError, LoadError, NamespaceError, RegistryError,
};
pub use crate::model::outcome::ErrorKind;
pub use crate::model::state::{PluginState, Stage};
pub use crate::model::stats::{
    DirectoryStats, HealthCounts, OperationStats, PluginHealth, PluginStats, RegistryStats,
    RoundStats,
};
pub use crate::plugin::hook::block_on;
pub use crate::plugin::traits::Plugin;
pub use crate::record::plugin_record::PluginRecord;
pub use crate::registry::Registry;

/// The process-wide registry of every plugin linked into this binary.
///
/// Built on first use from `inventory`; that build is the *discovery* step, timed as
/// `plugobs_discovery_duration_seconds` inside a `plugin.discover` span. Plugins whose
/// name is taken twice are left out and reported by [`Registry::check`], and every lookup
/// of that name ([`Registry::lookup`], [`Registry::load`], [`Registry::expect_plugins`])
/// fails with [`RegistryError::DuplicateName`], saying where both are defined. A call
/// that finds a `metrics` recorder installed also starts the background flush thread
/// that publishes to it, once (see [`bridge`]); with no recorder, there is no thread.
///
/// A plugin defined in a crate the binary never references is not linked, so it is not
/// here: see [`Registry::expect_plugins`].
///
/// ```
/// let registry = plugobs_runtime::registry();
/// assert!(registry.check().is_ok());
/// ```
pub fn registry() -> &'static Registry {
    let registry = crate::registry::global();
    crate::model::descriptor::set_runtime_upcalls(&__private::UPCALLS);
    crate::export::bridge::ensure_flusher();
    registry
}

/// What generated code names (and the facade crate, for its Prometheus glue).
///
/// Not public API: used by generated code. No stability guarantees.
#[doc(hidden)]
pub mod __private {
    // Not public API: used by generated code (every descriptor points here).
    /// The runtime's entry points that lower layers reach through every descriptor
    /// (`model::descriptor::Upcalls`).
    pub static UPCALLS: crate::model::descriptor::Upcalls = crate::model::descriptor::Upcalls {
        stats: |descriptor| {
            let registry = crate::registry();
            registry.attach_sites();
            registry.lookup(descriptor.name).map(crate::PluginStats::of)
        },
        first_call: crate::export::bridge::ensure_flusher,
    };
    pub use crate::core::bindings::key_of;
    pub use crate::core::call::{
        OPERATION_FIELDS, call_once, enter, finish, finish_in_place, mark_span, operation_metadata,
        operation_span,
    };
    pub use crate::core::call::{Rejectable, reject};
    pub use crate::core::cpu::{CpuFuture, CpuSite, CpuTimer};
    pub use crate::core::custom::{Counter, CustomKind, Gauge, Histogram};
    pub use crate::core::custom_site::CustomSite;
    pub use crate::core::returned::{
        Cpu, Returned, UnwrappableFuture, ViaBoxedFuture, ViaFuture, ViaValue, returned,
    };
    pub use crate::core::site::{
        AsyncCall, BreakerCall, BreakerHook, CallEnd, CallGuard, OperationSite, WatchedCall,
    };
    pub use crate::export::bridge::{full_name, render_global_recorder_directly};
    pub use crate::model::breaker::{BreakerSettings, Trip};
    pub use crate::model::config::InstanceConfig;
    pub use crate::model::descriptor::{PluginDescriptor, Provided, Registration, SourceLocation};
    pub use crate::model::error::HookError;
    pub use crate::model::fmt;
    pub use crate::model::name_rules::{self, NameError};
    pub use crate::model::objective::Objective;
    pub use crate::model::outcome::{
        ErrDisplay, ErrorKind, Outcome, Probe, ViaAny, ViaErrorKind, ViaResult,
    };
    pub use crate::plugin::adapters::{
        ByMut, ByRef, HealthCall, HookFn, into_health_call, into_hook_call, run_health, run_hook,
    };
    pub use crate::plugin::hook::{HookCall, construct, default_instance, into_instance};
    pub use crate::plugin::traits::{Factory, Instance, Plugin, Provides, factory};
    pub use crate::plugin::unregistered::UNREGISTERED;
    pub use core::time::Duration;
    pub use inventory;
    pub use std::option::Option::{self, None, Some};
    pub use std::result::Result::{self, Err, Ok};
    pub use tracing;
    pub use tracing::callsite::DefaultCallsite;
}
