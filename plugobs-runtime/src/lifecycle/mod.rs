//! Load, start and stop: timed, spanned, counted, with panics and cancellation caught.
//!
//! *Load* constructs an instance through the registered constructor, *start* runs its
//! start hook, *stop* its stop hook. Each step runs inside a `plugin.load|start|stop` span,
//! is timed into the step's duration histogram, and moves its instance on: `Loaded`,
//! `Running` or `Stopped` on success, `Failed` on an error, a panic, or (for an async
//! hook) a future dropped before it finished. The plugin's state, with its counted
//! transitions, is derived from its live instances (see [`record`](crate::record::plugin_record)): it is
//! never `Stopped` while one of its instances runs. A failing plugin never keeps the
//! others from loading.
//!
//! Each step is written once, as an async function. The `*_async` methods await it, and
//! an async hook in it, on the caller's runtime; the blocking methods drive it with
//! [`block_on`], which runs an async hook on the calling thread.

use std::ops::Deref;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::core::bindings::InstanceTable;
use crate::model::config::InstanceConfig;
use crate::model::error::{HookError, LifecycleError, LoadError, RegistryError};
use crate::model::state::{PluginState, Stage};
use crate::plugin::hook::{HookCall, block_on, call_catching};
use crate::plugin::traits::{Factory, Instance, Plugin};
use crate::record::plugin_record::{Identity, Live, PluginRecord};
use crate::registry::Registry;

pub mod runtime;

/// One running lifecycle step. Dropping it unfinished (a cancelled future) records the
/// step as failed with reason `cancelled`.
struct Step<'r> {
    record: &'r PluginRecord,
    stage: Stage,
    span: tracing::Span,
    began: Instant,
    finished: bool,
}

impl<'r> Step<'r> {
    fn begin(record: &'r PluginRecord, stage: Stage) -> Self {
        let d = record.descriptor();
        // Span names must be literals (tracing's callsites are static): one per stage.
        macro_rules! step_span {
            ($name:literal) => {
                tracing::info_span!(
                    $name,
                    plugin.name = d.name,
                    plugin.kind = d.kind,
                    plugin.instance = record.instance(),
                    error.type = tracing::field::Empty,
                    otel.status_code = tracing::field::Empty,
                )
            };
        }
        let span = match stage {
            Stage::Load => step_span!("plugin.load"),
            Stage::Start => step_span!("plugin.start"),
            Stage::Stop => step_span!("plugin.stop"),
        };
        Step {
            record,
            stage,
            span,
            began: Instant::now(),
            finished: false,
        }
    }

    fn finish(self, result: Result<(), HookError>) -> Result<(), LifecycleError> {
        match result {
            Ok(()) => {
                self.succeed();
                Ok(())
            }
            Err(error) => Err(self.fail(error)),
        }
    }

    fn succeed(mut self) {
        self.finished = true;
        let elapsed = self.began.elapsed();
        let record = self.record;
        record.record_duration(self.stage, elapsed);
        let _entered = self.span.enter();
        let verb = match self.stage {
            Stage::Load => {
                record.instance_loaded();
                "loaded"
            }
            Stage::Start => {
                record.instance_started();
                "started"
            }
            Stage::Stop => {
                record.instance_ended(Live::Running, PluginState::Stopped, Identity::InSpan);
                "stopped"
            }
        };
        tracing::info!(
            stage = self.stage.as_str(),
            duration_seconds = elapsed.as_secs_f64(),
            "plugin {verb}"
        );
    }

    fn fail(mut self, error: HookError) -> LifecycleError {
        self.finished = true;
        let elapsed = self.began.elapsed();
        let record = self.record;
        let d = record.descriptor();
        record.record_duration(self.stage, elapsed);
        let _entered = self.span.enter();
        self.span.record("error.type", error.error_type());
        self.span.record("otel.status_code", "ERROR");
        record.record_failure(self.stage, &error);
        tracing::error!(
            stage = self.stage.as_str(),
            reason = error.reason().as_str(),
            error.message = error.message(),
            duration_seconds = elapsed.as_secs_f64(),
            "plugin failed to {}",
            self.stage.as_str()
        );
        LifecycleError {
            plugin: d.name,
            instance: record.instance(),
            stage: self.stage,
            error,
        }
    }
}

impl Drop for Step<'_> {
    fn drop(&mut self) {
        if !self.finished {
            let step = Step {
                record: self.record,
                stage: self.stage,
                span: self.span.clone(),
                began: self.began,
                finished: false,
            };
            self.finished = true;
            // The failure is reported through metrics, the record and the log; nobody is
            // left to receive the returned error.
            let _ = step.fail(HookError::cancelled());
        }
    }
}

/// A started plugin instance, used as the trait object `S` through `Deref`.
///
/// Stop it with [`Loaded::stop`] (or [`Loaded::stop_async`]) to run its stop hook.
/// Dropping it drops the instance without running the hook; the instance then ends as
/// `Stopped` and, if it has a stop hook, a warning says the hook did not run.
///
/// # Shared with the health checker
///
/// The instance of a plugin with a health hook (`health = path`) is shared, once started,
/// with the threads that run its checks: [`Loaded::get_mut`] and [`Loaded::downcast_mut`]
/// return `None` for it (use interior mutability, as for any shared service). Stopping
/// it never waits on a check beyond what its stop hook needs: without a stop hook it
/// stops at once (a check in flight keeps the instance until it returns, then drops it,
/// and its result is discarded); a stop hook takes `&mut self`, so it first waits for a
/// check in flight, at most until that check's own timeout. A check that outlived its
/// timeout still holds the instance: the stop then fails (the hook does not run) and the
/// instance is released when the check returns.
pub struct Loaded<S: ?Sized + 'static> {
    record: Arc<PluginRecord>,
    instance: Arc<dyn Instance<S>>,
    stop_begun: bool,
    /// Where the value of an instance loaded by name is bound, so its calls find it.
    binding: Option<(&'static InstanceTable, usize)>,
}

impl<S: ?Sized + 'static> Drop for Loaded<S> {
    /// Dropped without `stop()`: the instance is gone, so it ends as `Stopped`, and the
    /// log says its stop hook did not run.
    fn drop(&mut self) {
        if let Some((table, key)) = self.binding.take() {
            table.unbind(key);
        }
        self.record
            .health_state()
            .unregister(Arc::as_ptr(&self.instance).cast::<()>());
        if !self.stop_begun {
            let d = self.record.descriptor();
            if d.has_stop {
                tracing::warn!(
                    plugin.name = d.name,
                    plugin.kind = d.kind,
                    "plugin instance dropped without stop(); its stop hook did not run"
                );
            }
            self.record
                .instance_ended(Live::Running, PluginState::Stopped, Identity::InEvent);
        }
    }
}

impl<S: ?Sized + 'static> std::fmt::Debug for Loaded<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("plugin", &self.name())
            .field("instance", &self.instance())
            .finish_non_exhaustive()
    }
}

impl<S: ?Sized + 'static> Deref for Loaded<S> {
    type Target = S;
    fn deref(&self) -> &S {
        self.instance.get()
    }
}

impl<S: ?Sized + 'static> Loaded<S> {
    /// The plugin's registered name.
    pub fn name(&self) -> &'static str {
        self.record.descriptor().name
    }

    /// The instance's name: the plugin's name for its default instance (see
    /// [`crate::model::instance`]).
    pub fn instance(&self) -> &'static str {
        self.record.instance()
    }

    /// The instance's live record.
    pub fn record(&self) -> &PluginRecord {
        &self.record
    }

    /// The key that finds this instance for a call of an operation declared at run time
    /// ([`OperationHandle::on`](crate::OperationHandle::on)): its value's address.
    pub fn key(&self) -> usize {
        Arc::as_ptr(&self.instance).cast::<()>() as usize
    }

    /// The instance as its concrete plugin type `T`, to reach what the trait object `S`
    /// does not offer (the plugin's inherent methods, instrumented or not); `None` when
    /// the instance is not a `T`.
    ///
    /// The `plugobs` crate documentation shows it with a `#[plugin]` (section *Reaching a
    /// plugin's own methods*).
    pub fn downcast_ref<T: Plugin>(&self) -> Option<&T> {
        self.instance.as_any().downcast_ref::<T>()
    }

    /// As [`Loaded::downcast_ref`], mutably; also `None` while the instance is shared
    /// with the health checker (its plugin has a health hook: see the
    /// [type docs](Loaded#shared-with-the-health-checker)).
    pub fn downcast_mut<T: Plugin>(&mut self) -> Option<&mut T> {
        Arc::get_mut(&mut self.instance)?
            .as_any_mut()
            .downcast_mut::<T>()
    }

    /// The instance as `&mut S`; `None` while it is shared with the health checker (its
    /// plugin has a health hook: see the [type docs](Loaded#shared-with-the-health-checker)).
    pub fn get_mut(&mut self) -> Option<&mut S> {
        Arc::get_mut(&mut self.instance).map(|i| i.get_mut())
    }

    /// Runs the stop hook (an async one on this thread) and drops the instance.
    ///
    /// # Errors
    /// The hook's error or panic; the instance then ends as `Failed` (and so does the
    /// plugin, unless another of its instances runs). With the `tokio` feature, an async
    /// stop hook called on a current-thread tokio runtime's thread is refused
    /// ([`HookError::is_blocked_runtime`]): use [`Loaded::stop_async`] there.
    pub fn stop(self) -> Result<(), LifecycleError> {
        block_on(self.stop_with(Drive::Block))
    }

    /// Runs the stop hook, awaiting an async one on the caller's runtime.
    ///
    /// # Errors
    /// The hook's error or panic; the instance then ends as `Failed` (and so does the
    /// plugin, unless another of its instances runs).
    pub async fn stop_async(self) -> Result<(), LifecycleError> {
        self.stop_with(Drive::Await).await
    }

    /// The one stop: [`Loaded::stop`] drives it on this thread, [`Loaded::stop_async`]
    /// awaits it.
    async fn stop_with(mut self, drive: Drive) -> Result<(), LifecycleError> {
        self.stop_begun = true;
        let step = Step::begin(&self.record, Stage::Stop);
        let descriptor = self.record.descriptor();
        // No new health check of this instance (a queued one is skipped). With no stop
        // hook there is nothing to wait for: a check in flight keeps the instance until
        // it returns, then drops it, and its result is discarded. A stop hook takes
        // `&mut self`, so it waits for a check in flight, at most until that check's
        // own timeout.
        let health = self.record.health_state();
        health.unregister(Arc::as_ptr(&self.instance).cast::<()>());
        let call = if !descriptor.has_stop {
            HookCall::done()
        } else {
            if Arc::get_mut(&mut self.instance).is_none() {
                health.wait_idle(Duration::from_millis(100));
            }
            match Arc::get_mut(&mut self.instance) {
                Some(instance) => step.span.in_scope(|| {
                    crate::core::plugin_cells::within(self.record.running(), || {
                        call_catching(|| instance.stop())
                    })
                }),
                None => HookCall::Done(Err(HookError::health_check_running())),
            }
        };
        let result = drive.hook(self.record.running(), &step.span, call).await;
        step.finish(result)
    }
}

/// The outcome of loading several instances: every plugin that provides one trait
/// ([`Registry::load_all`], whose failures are [`LifecycleError`]s), or a section of
/// instances ([`Registry::load_instances`]: an [`InstanceReport`]). A failure never stops
/// the others.
#[derive(Debug)]
pub struct LoadReport<S: ?Sized + 'static, F = LifecycleError> {
    /// The started instances, ordered by plugin name (by instance name for a section).
    pub loaded: Vec<Loaded<S>>,
    /// What failed to load or start, in the same order.
    pub failures: Vec<F>,
}

/// The outcome of loading a section of instances ([`Registry::load_instances`]): each
/// failure names its instance.
pub type InstanceReport<S> = LoadReport<S, InstanceFailure>;

impl<S: ?Sized + 'static, F> LoadReport<S, F> {
    /// Whether everything loaded and started.
    pub fn is_complete(&self) -> bool {
        self.failures.is_empty()
    }

    /// Stops every loaded instance (running async stop hooks on this thread), in order,
    /// and returns the failures. Every instance is stopped even if some fail.
    pub fn stop_all(self) -> Vec<LifecycleError> {
        self.loaded
            .into_iter()
            .filter_map(|l| l.stop().err())
            .collect()
    }

    /// As [`LoadReport::stop_all`], awaiting async stop hooks on the caller's runtime, one
    /// instance after another.
    pub async fn stop_all_async(self) -> Vec<LifecycleError> {
        let mut failures = Vec::new();
        for loaded in self.loaded {
            if let Err(e) = loaded.stop_async().await {
                failures.push(e);
            }
        }
        failures
    }
}

/// One instance of a section that did not load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceFailure {
    /// The instance's name as written in the section (empty when the section as a whole
    /// is not a map).
    pub instance: String,
    /// Why.
    pub error: LoadError,
}

impl std::fmt::Display for InstanceFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.error {
            // These already name the instance.
            LoadError::Lifecycle(e) => e.fmt(f),
            LoadError::Registry(
                e @ (RegistryError::InvalidSection { .. }
                | RegistryError::InvalidInstanceName { .. }
                | RegistryError::InstanceTaken { .. }),
            ) => e.fmt(f),
            LoadError::Registry(e) => write!(f, "instance `{}`: {e}", self.instance),
        }
    }
}

impl std::error::Error for InstanceFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The host's configuration value, ready for the constructor; a value no configuration
/// can hold fails the instance with the reason `config`.
#[cfg(feature = "serde")]
fn instance_config(config: &impl serde::Serialize) -> Result<Option<InstanceConfig>, HookError> {
    InstanceConfig::from_value(config)
        .map(Some)
        .map_err(|e| HookError::config(&e))
}

/// How a lifecycle step waits for an async hook. Each step is written once, as an async
/// function; the blocking methods run it with [`block_on`] and [`Drive::Block`], so their
/// hooks are driven on the calling thread, while the `*_async` methods await them.
#[derive(Clone, Copy, Debug)]
enum Drive {
    /// Await the hook on the caller's runtime.
    Await,
    /// Drive the hook on this thread.
    Block,
}

impl Drive {
    /// Drives a hook's call, its allocations counted as the plugin's (see [`crate::telemetry::alloc`]).
    async fn hook(
        self,
        running: &'static crate::core::running::Running,
        span: &tracing::Span,
        call: HookCall<'_>,
    ) -> Result<(), HookError> {
        match self {
            Drive::Await => {
                crate::core::plugin_cells::Within::new(running, call.finish())
                    .instrument(span.clone())
                    .await
            }
            Drive::Block => {
                span.in_scope(|| crate::core::plugin_cells::within(running, || call.wait()))
            }
        }
    }
}

/// Unbinds an instance's value when dropped before its handle took the binding.
struct Unbind(Option<(&'static InstanceTable, usize)>);

impl Drop for Unbind {
    fn drop(&mut self) {
        if let Some((table, key)) = self.0.take() {
            table.unbind(key);
        }
    }
}

/// The value of a constructed instance, and where it is bound for its calls to find it.
type Built<S> = (
    Arc<dyn Instance<S>>,
    Option<(&'static InstanceTable, usize)>,
);

/// Constructs an instance from its configuration. The value of an instance loaded by
/// name is bound to it at its final address, before its start hook runs.
fn construct<S: ?Sized + 'static>(
    record: &PluginRecord,
    make: impl FnOnce(Option<InstanceConfig>) -> Result<Box<dyn Instance<S>>, HookError>,
    config: Result<Option<InstanceConfig>, HookError>,
) -> Result<Built<S>, LifecycleError> {
    let step = Step::begin(record, Stage::Load);
    let built = step.span.in_scope(|| {
        let config = config?;
        let instance = crate::core::plugin_cells::within(record.running(), || {
            std::panic::catch_unwind(AssertUnwindSafe(|| make(config)))
                .unwrap_or_else(|p| Err(HookError::from_panic(&*p)))
        })?;
        let instance: Arc<dyn Instance<S>> = Arc::from(instance);
        if record.is_default_instance() {
            return Ok((instance, None));
        }
        let table = &crate::core::plugin_cells::of(record.descriptor()).instances;
        let key = Arc::as_ptr(&instance).cast::<()>() as usize;
        table
            .bind(key, record.slot())
            .map_err(|e| HookError::from_error(&e))?;
        Ok((instance, Some((table, key))))
    });
    match built {
        Ok(built) => {
            step.succeed();
            Ok(built)
        }
        Err(e) => Err(step.fail(e)),
    }
}

impl Registry {
    fn providers<S: ?Sized + 'static>(
        &self,
    ) -> impl Iterator<Item = (Arc<PluginRecord>, &'static Factory<S>)> + '_ {
        self.records_arc()
            .filter_map(|r| r.descriptor().provided::<S>().map(|f| (r.clone(), f)))
    }

    fn provider<S: ?Sized + 'static>(
        &self,
        name: &str,
    ) -> Result<(Arc<PluginRecord>, &'static Factory<S>), RegistryError> {
        let record = self.lookup_arc(name)?;
        let d = record.descriptor();
        let factory = d.provided::<S>().ok_or(RegistryError::DoesNotProvide {
            plugin: d.name,
            requested: std::any::type_name::<S>(),
        })?;
        Ok((record.clone(), factory))
    }

    /// The one load of one instance: construct, then start.
    async fn load_one<S: ?Sized + 'static>(
        record: Arc<PluginRecord>,
        make: impl FnOnce(Option<InstanceConfig>) -> Result<Box<dyn Instance<S>>, HookError>,
        config: Result<Option<InstanceConfig>, HookError>,
        drive: Drive,
    ) -> Result<Loaded<S>, LifecycleError> {
        let (mut instance, binding) = construct(&record, make, config)?;
        // Unbinds the value if the start fails, panics or is cancelled.
        let mut binding = Unbind(binding);
        let step = Step::begin(&record, Stage::Start);
        let call = step.span.in_scope(|| {
            crate::core::plugin_cells::within(record.running(), || {
                call_catching(|| match Arc::get_mut(&mut instance) {
                    Some(i) => i.start(),
                    // Just constructed: nothing else holds it.
                    None => HookCall::done(),
                })
            })
        });
        let result = drive.hook(record.running(), &step.span, call).await;
        if result.is_ok()
            && let Some(target) = Arc::clone(&instance).health_target()
        {
            record.health_state().register(target);
        }
        step.finish(result)?;
        Ok(Loaded {
            record,
            instance,
            stop_begun: false,
            binding: binding.0.take(),
        })
    }

    async fn load_with<S: ?Sized + 'static>(
        &self,
        name: &str,
        drive: Drive,
    ) -> Result<Loaded<S>, LoadError> {
        let (record, factory) = self.provider::<S>(name)?;
        Ok(Self::load_one(record, factory.0, Ok(None), drive).await?)
    }

    /// The one load of an instance by name: claim the name, then construct from the
    /// configuration and start.
    async fn load_instance_with<S: ?Sized + 'static>(
        &self,
        plugin: &str,
        instance: &str,
        config: Result<Option<InstanceConfig>, HookError>,
        drive: Drive,
    ) -> Result<Loaded<S>, LoadError> {
        let (plugin, factory) = self.provider::<S>(plugin)?;
        let record = self.claim_instance(&plugin, instance)?;
        Ok(Self::load_one(record, factory.0, config, drive).await?)
    }

    #[cfg(feature = "serde")]
    async fn load_instances_with<S: ?Sized + 'static>(
        &self,
        section: Result<InstanceConfig, crate::model::config::InstanceConfigError>,
        drive: Drive,
    ) -> InstanceReport<S> {
        let mut report = InstanceReport {
            loaded: Vec::new(),
            failures: Vec::new(),
        };
        let entries = section.map_err(|e| e.to_string()).and_then(|s| {
            s.into_entries()
                .ok_or_else(|| "expected a map of instance names to tables".to_owned())
        });
        let entries = match entries {
            Ok(entries) => entries,
            Err(message) => {
                report.failures.push(InstanceFailure {
                    instance: String::new(),
                    error: LoadError::Registry(RegistryError::InvalidSection {
                        instance: String::new(),
                        message,
                    }),
                });
                return report;
            }
        };
        for (instance, mut config) in entries {
            let invalid = |message: &str| RegistryError::InvalidSection {
                instance: instance.clone(),
                message: message.to_owned(),
            };
            let plugin = match config.take_str("type") {
                Some(Ok(plugin)) => Ok(plugin),
                Some(Err(())) => Err(invalid("`type` must be a string: the name of a plugin")),
                None => Err(invalid("no `type`: the name of the plugin to load")),
            };
            // `breaker`: the instance's circuit breaker settings, not the plugin's.
            let plugin = plugin.and_then(|plugin| match config.take("breaker") {
                None => Ok(plugin),
                Some(value) => crate::model::breaker::BreakerOverride::from_json(&value)
                    .map_err(|m| invalid(&format!("`breaker`: {m}")))
                    .and_then(|o| {
                        self.configure_instance_breaker(&plugin, &instance, o)
                            .map_err(|e| invalid(&format!("`breaker`: {e}")))
                    })
                    .map(|()| plugin),
            });
            let loaded = match plugin {
                Ok(plugin) => {
                    self.load_instance_with(&plugin, &instance, Ok(Some(config)), drive)
                        .await
                }
                Err(e) => Err(LoadError::Registry(e)),
            };
            match loaded {
                Ok(loaded) => report.loaded.push(loaded),
                Err(error) => report.failures.push(InstanceFailure { instance, error }),
            }
        }
        report
    }

    /// Loads and starts the instance `instance` of the plugin `plugin` as the trait
    /// object `S`, without a configuration: its constructor takes none, or (feature
    /// `serde`) it is built from an empty one (see [`crate::model::config`]).
    ///
    /// Every series of the instance carries `instance = "<instance>"`, and calls of its
    /// instrumented methods count under it (see [`crate::model::instance`]). An instance that
    /// ended can be loaded again under its name; its series go on.
    ///
    /// ```
    /// # trait Sink {}
    /// # fn host(registry: &plugobs_runtime::Registry) {
    /// if let Ok(sink) = registry.load_instance_without_config::<dyn Sink>("stdout_sink", "console") {
    ///     assert_eq!(sink.instance(), "console");
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Registry::load`], plus [`RegistryError::InvalidInstanceName`],
    /// [`RegistryError::InstanceTaken`] (the name is another plugin's, or this instance is
    /// loaded now) and [`RegistryError::TooManyInstances`].
    pub fn load_instance_without_config<S: ?Sized + 'static>(
        &self,
        plugin: &str,
        instance: &str,
    ) -> Result<Loaded<S>, LoadError> {
        block_on(self.load_instance_with(plugin, instance, Ok(None), Drive::Block))
    }

    /// As [`Registry::load_instance_without_config`], awaiting an async start hook on the caller's runtime.
    ///
    /// # Errors
    /// As [`Registry::load_instance_without_config`].
    pub async fn load_instance_without_config_async<S: ?Sized + 'static>(
        &self,
        plugin: &str,
        instance: &str,
    ) -> Result<Loaded<S>, LoadError> {
        self.load_instance_with(plugin, instance, Ok(None), Drive::Await)
            .await
    }

    /// Loads and starts the instance `instance` of the plugin `plugin` as the trait
    /// object `S`, constructed from `config`: any value a serde format produced (a
    /// `toml::Table`, a `serde_json::Value`) or any `Serialize` value. Feature `serde`.
    ///
    /// Every series of the instance carries `instance = "<instance>"`, and calls of its
    /// instrumented methods count under it (see [`crate::model::instance`]). A configuration
    /// that does not fit the constructor's type fails the instance at the `load` stage
    /// with the reason `config`, naming the field (see [`crate::model::config`]). An instance
    /// that ended can be loaded again under its name; its series go on.
    ///
    /// ```
    /// # #[derive(serde::Deserialize)]
    /// # struct Cfg { port: u16 }
    /// // In the plugin: #[plugin(new = Self::from_config, provides = dyn Sink)], with
    /// // fn from_config(cfg: Cfg) -> Result<Self, E>; in the host:
    /// # fn host(registry: &plugobs_runtime::Registry) {
    /// # trait Sink {}
    /// let config: toml::Table = toml::from_str("port = 9092").unwrap();
    /// match registry.load_instance::<dyn Sink>("kafka_sink", "kafka-eu", config) {
    ///     Ok(sink) => assert_eq!(sink.instance(), "kafka-eu"),
    ///     Err(e) => eprintln!("{e}"),
    /// }
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`Registry::load`], plus [`RegistryError::InvalidInstanceName`],
    /// [`RegistryError::InstanceTaken`] (the name is another plugin's, or this instance is
    /// loaded now) and [`RegistryError::TooManyInstances`]; a configuration that does
    /// not fit is a [`LoadError::Lifecycle`] whose error's reason is
    /// [`FailureReason::Config`](crate::FailureReason::Config).
    #[cfg(feature = "serde")]
    pub fn load_instance<S: ?Sized + 'static>(
        &self,
        plugin: &str,
        instance: &str,
        config: impl serde::Serialize,
    ) -> Result<Loaded<S>, LoadError> {
        let config = instance_config(&config);
        block_on(self.load_instance_with(plugin, instance, config, Drive::Block))
    }

    /// As [`Registry::load_instance`], awaiting an async start hook on the caller's
    /// runtime. Feature `serde`.
    ///
    /// # Errors
    /// As [`Registry::load_instance`].
    #[cfg(feature = "serde")]
    pub async fn load_instance_async<S: ?Sized + 'static>(
        &self,
        plugin: &str,
        instance: &str,
        config: impl serde::Serialize,
    ) -> Result<Loaded<S>, LoadError> {
        let config = instance_config(&config);
        self.load_instance_with(plugin, instance, config, Drive::Await)
            .await
    }

    /// Loads and starts every instance of a configuration section as `S`, in name
    /// order: the shape of Vector's `[sinks.<id>]`, one table per instance name, the
    /// plugin in its `type` field, its circuit breaker settings in an optional `breaker`
    /// field (see [`BreakerOverride`](crate::breaker::BreakerOverride)), and the rest its
    /// configuration. Feature `serde`.
    ///
    /// ```
    /// # fn host(registry: &plugobs_runtime::Registry) {
    /// # trait Sink {}
    /// let file: toml::Table = toml::from_str(r#"
    ///     [sinks.kafka-eu]
    ///     type = "kafka_sink"
    ///     brokers = ["eu-1:9092"]
    ///
    ///     [sinks.kafka-us]
    ///     type = "kafka_sink"
    ///     brokers = ["us-1:9092"]
    /// "#).unwrap();
    /// let report = registry.load_instances::<dyn Sink>(&file["sinks"]);
    /// for failure in &report.failures {
    ///     eprintln!("{failure}");
    /// }
    /// # }
    /// ```
    ///
    /// An instance that fails — a bad name, an unknown `type`, a configuration that does
    /// not fit, a failing constructor or start hook — is reported in
    /// [`InstanceReport::failures`] and does not stop the others.
    #[cfg(feature = "serde")]
    pub fn load_instances<S: ?Sized + 'static>(
        &self,
        section: impl serde::Serialize,
    ) -> InstanceReport<S> {
        let section = crate::model::config::InstanceConfig::from_value(&section);
        block_on(self.load_instances_with(section, Drive::Block))
    }

    /// As [`Registry::load_instances`], awaiting async start hooks on the caller's
    /// runtime, one instance after another. Feature `serde`.
    #[cfg(feature = "serde")]
    pub async fn load_instances_async<S: ?Sized + 'static>(
        &self,
        section: impl serde::Serialize,
    ) -> InstanceReport<S> {
        let section = crate::model::config::InstanceConfig::from_value(&section);
        self.load_instances_with(section, Drive::Await).await
    }

    async fn load_all_with<S: ?Sized + 'static>(&self, drive: Drive) -> LoadReport<S> {
        let mut report = LoadReport {
            loaded: Vec::new(),
            failures: Vec::new(),
        };
        for (record, factory) in self.providers::<S>() {
            match Self::load_one(record, factory.0, Ok(None), drive).await {
                Ok(loaded) => report.loaded.push(loaded),
                Err(e) => report.failures.push(e),
            }
        }
        report
    }

    /// Loads and starts the plugin `name` as the trait object `S`, driving an async start
    /// hook on this thread.
    ///
    /// # Errors
    /// [`LoadError::Registry`] when no plugin has this name
    /// ([`RegistryError::UnknownPlugin`]), two plugins share it
    /// ([`RegistryError::DuplicateName`], naming both definitions) or it does not provide
    /// `S` ([`RegistryError::DoesNotProvide`]); [`LoadError::Lifecycle`] when its
    /// constructor or start hook failed (with the `tokio` feature, also when its start
    /// hook is async and this thread runs a current-thread tokio runtime:
    /// [`HookError::is_blocked_runtime`]).
    pub fn load<S: ?Sized + 'static>(&self, name: &str) -> Result<Loaded<S>, LoadError> {
        block_on(self.load_with(name, Drive::Block))
    }

    /// Loads and starts the plugin `name` as `S`, awaiting an async start hook on the
    /// caller's runtime.
    ///
    /// # Errors
    /// As [`Registry::load`].
    pub async fn load_async<S: ?Sized + 'static>(
        &self,
        name: &str,
    ) -> Result<Loaded<S>, LoadError> {
        self.load_with(name, Drive::Await).await
    }

    /// Loads and starts every plugin that provides `S` (`#[plugin(provides = dyn S)]`),
    /// in name order. Async start hooks run on this thread. A failing plugin is reported
    /// in [`LoadReport::failures`] and does not stop the others.
    pub fn load_all<S: ?Sized + 'static>(&self) -> LoadReport<S> {
        block_on(self.load_all_with(Drive::Block))
    }

    /// As [`Registry::load_all`], awaiting async start hooks on the caller's runtime, one
    /// plugin after another.
    pub async fn load_all_async<S: ?Sized + 'static>(&self) -> LoadReport<S> {
        self.load_all_with(Drive::Await).await
    }
}
