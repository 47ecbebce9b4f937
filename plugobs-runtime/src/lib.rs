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

pub mod alloc;
pub mod bridge;
pub mod busy;
mod call;
mod cells;
pub mod config;
pub mod cpu;
pub mod custom;
pub mod descriptor;
pub mod error;
mod export;
pub mod exposition;
pub mod health;
pub mod hook;
mod hook_signature;
pub mod instance;
pub mod lifecycle;
#[cfg(all(test, loom))]
mod loom_tests;
/// Rules stated once, shared by the runtime and the code the macros generate.
pub(crate) mod model {
    pub mod name_rules;
}
pub mod names;
pub mod outcome;
pub mod record;
pub mod registry;
mod site;
pub mod snapshot;
pub mod state;
pub mod stats;
mod sync;
mod threads;
mod unregistered;

pub use bridge::{flush, set_namespace};
pub use descriptor::{Plugin, PluginDescriptor, SourceLocation};
pub use error::{ConfigError, FailureReason, HookError, LifecycleError, LoadError, RegistryError};
pub use health::{
    CheckOptions, CheckReason, Health, HealthChange, HealthMonitor, HealthPolicy, HealthReport,
    HealthStatus, NotReady, PluginCheck, Readiness,
};
pub use hook::block_on;
pub use lifecycle::{InstanceFailure, InstanceReport, LoadReport, Loaded};
pub use outcome::ErrorKind;
pub use record::{Failure, PluginRecord};
pub use registry::Registry;
pub use state::{PluginState, Stage};
pub use stats::{HealthCounts, OperationStats, PluginHealth, PluginStats, RegistryStats};

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
    let registry = registry::global();
    bridge::ensure_flusher();
    registry
}

/// What generated code names. Not public API: no stability guarantees.
#[doc(hidden)]
pub mod __private {
    pub use crate::call::{
        Finish, OPERATION_FIELDS, call_once, enter, finish, operation_metadata, operation_span,
    };
    pub use crate::config::InstanceConfig;
    pub use crate::cpu::{CpuFuture, CpuSite, CpuTimer};
    pub use crate::custom::{Counter, CustomKind, CustomSite, Gauge, Histogram};
    pub use crate::descriptor::{
        Factory, Instance, Plugin, PluginDescriptor, Provided, Provides, Registration,
        SourceLocation, factory,
    };
    pub use crate::error::HookError;
    pub use crate::health::{HealthCall, into_health_call, run_health};
    pub use crate::hook::{HookCall, construct, default_instance, into_hook_call, into_instance};
    pub use crate::hook_signature::{ByMut, ByRef, HookFn, run_hook};
    pub use crate::instance::key_of;
    pub use crate::model::name_rules::{self, NameError};
    pub use crate::outcome::{
        ErrDisplay, ErrorKind, Outcome, Probe, ViaAny, ViaErrorKind, ViaResult,
    };
    pub use crate::site::{AsyncCall, CallGuard, OperationSite, PendingGuard, WatchedCall};
    pub use crate::unregistered::UNREGISTERED;
    pub use inventory;
    pub use std::option::Option::{self, None, Some};
    pub use std::result::Result::{self, Err, Ok};
    pub use tracing;
    pub use tracing::callsite::DefaultCallsite;
}
