//! Runtime of [plugobs](https://docs.rs/plugobs): the plugin registry, the lifecycle,
//! plugobs' own aggregates and the bridge to the `metrics` facade.
//!
//! Users depend on the `plugobs` crate, which re-exports everything here together with
//! the `#[plugin]` and `#[instrumented]` macros. Where to find things:
//!
//! | concept | module |
//! |---|---|
//! | the closed list of metric names | [`names`] |
//! | static plugin metadata, link-time registration | [`descriptor`] |
//! | states and steps | [`state`] |
//! | calling sync or async hooks | [`hook`] |
//! | health: hooks, rounds, the policy, the monitor, readiness | [`health`] |
//! | configured instances: names, and how a call finds its instance | [`instance`] |
//! | an instance's configuration, typed (feature `serde`) | [`config`] |
//! | one plugin instance's live record | [`record`] |
//! | discovery and queries | [`registry`](mod@registry) |
//! | load, start, stop | [`lifecycle`] |
//! | an operation's static call site, the hot path | `site` (internal) |
//! | per-thread indices, reused when threads exit | `threads` (internal) |
//! | lock-free sharded cells and the histogram | `cells` (internal) |
//! | outcomes and error kinds | [`outcome`] |
//! | a plugin's own counters, gauges and histograms | [`custom`] |
//! | utilization over the last minute | [`busy`] |
//! | bytes allocated and freed per plugin (opt-in global allocator) | [`alloc`] |
//! | thread CPU time per operation (opt-in) | [`cpu`] |
//! | one operation's totals, read by all of the below | [`snapshot`] |
//! | every exported series, walked once | `export` (internal) |
//! | publishing to the `metrics` facade | [`bridge`] |
//! | the Prometheus / OpenMetrics text | [`exposition`] |
//! | snapshots for people and programs | [`stats`] |
//! | typed errors | [`error`] |
#![deny(missing_docs)]
// `unsafe` is denied everywhere but in `alloc`, whose `GlobalAlloc` impl needs it.
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
pub mod registry;
mod telemetry;

pub use crate::core::snapshot;
pub use crate::export::{bridge, exposition};
pub use crate::model::{config, instance, names};
pub use crate::telemetry::{alloc, busy, cpu, custom};

pub use crate::export::bridge::{flush, set_namespace};
pub use crate::health::{
    CheckOptions, CheckReason, Health, HealthChange, HealthMonitor, HealthPolicy, HealthReport,
    HealthStatus, NotReady, PluginCheck, Readiness,
};
pub use crate::lifecycle::{InstanceFailure, InstanceReport, LoadReport, Loaded};
pub use crate::model::descriptor::{PluginDescriptor, SourceLocation};
pub use crate::model::error::Failure;
pub use crate::model::error::{
    ConfigError, FailureReason, HookError, LifecycleError, LoadError, RegistryError,
};
pub use crate::model::outcome::ErrorKind;
pub use crate::model::state::{PluginState, Stage};
pub use crate::model::stats::{
    HealthCounts, OperationStats, PluginHealth, PluginStats, RegistryStats,
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
/// fails with [`RegistryError::DuplicateName`], saying where both are defined. The first
/// call also starts the background flush thread that publishes to the installed `metrics`
/// recorder (see [`bridge`]).
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
    crate::export::bridge::ensure_flusher();
    registry
}

/// What generated code names. Not public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    // Not public API: used by generated code (every descriptor points here).
    /// The runtime's entry points that lower layers reach through every descriptor
    /// ([`Upcalls`](crate::model::descriptor::Upcalls)).
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
        Finish, OPERATION_FIELDS, call_once, enter, finish, operation_metadata, operation_span,
    };
    pub use crate::core::site::{AsyncCall, CallGuard, OperationSite, PendingGuard, WatchedCall};
    pub use crate::model::config::InstanceConfig;
    pub use crate::model::descriptor::{PluginDescriptor, Provided, Registration, SourceLocation};
    pub use crate::model::error::HookError;
    pub use crate::model::fmt;
    pub use crate::model::outcome::{
        ErrDisplay, ErrorKind, Outcome, Probe, ViaAny, ViaErrorKind, ViaResult,
    };
    pub use crate::plugin::health_hook::{HealthCall, into_health_call, run_health};
    pub use crate::plugin::hook::{
        HookCall, construct, default_instance, into_hook_call, into_instance,
    };
    pub use crate::plugin::signature::{ByMut, ByRef, HookFn, run_hook};
    pub use crate::plugin::traits::{Factory, Instance, Plugin, Provides, factory};
    pub use crate::plugin::unregistered::UNREGISTERED;
    pub use crate::telemetry::cpu::{CpuFuture, CpuSite, CpuTimer};
    pub use crate::telemetry::custom::{Counter, CustomKind, CustomSite, Gauge, Histogram};
    pub use inventory;
    pub use std::option::Option::{self, None, Some};
    pub use std::result::Result::{self, Err, Ok};
    pub use tracing;
    pub use tracing::callsite::DefaultCallsite;
}
