//! Load, start and stop: timed, spanned, counted, with panics and cancellation caught.
//!
//! *Load* constructs an instance through the registered constructor, *start* runs its
//! start hook, *stop* its stop hook. Each step runs inside a `plugin.load|start|stop` span,
//! is timed into the step's duration histogram, and moves its instance on: `Loaded`,
//! `Running` or `Stopped` on success, `Failed` on an error, a panic, or (for an async
//! hook) a future dropped before it finished. The plugin's state, with its counted
//! transitions, is derived from its live instances (see [`record`](crate::record)): it is
//! never `Stopped` while one of its instances runs. A failing plugin never keeps the
//! others from loading.
//!
//! Each step is written once, as an async function. The `*_async` methods await it, and
//! an async hook in it, on the caller's runtime; the blocking methods drive it with
//! [`block_on`], which runs an async hook on the calling thread.

use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Instrument;

use crate::descriptor::{Factory, Instance, Plugin, PluginDescriptor};
use crate::error::{HookError, LifecycleError, LoadError, RegistryError};
use crate::hook::{HookCall, block_on, call_catching};
use crate::record::{Identity, Live, PluginRecord};
use crate::registry::Registry;
use crate::state::{PluginState, Stage};

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
/// return `None` for it (use interior mutability, as for any shared service), and its
/// stop hook, which takes `&mut self`, first waits for a check in flight. A check that
/// outlived its timeout still holds the instance: the stop then fails (the hook does not
/// run) and the instance is released when the check returns.
pub struct Loaded<S: ?Sized + 'static> {
    record: Arc<PluginRecord>,
    instance: Arc<dyn Instance<S>>,
    stop_begun: bool,
}

impl<S: ?Sized + 'static> Drop for Loaded<S> {
    /// Dropped without `stop()`: the instance is gone, so it ends as `Stopped`, and the
    /// log says its stop hook did not run.
    fn drop(&mut self) {
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

    /// The plugin's live record.
    pub fn record(&self) -> &PluginRecord {
        &self.record
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
        // No new health check of this instance; wait for one in flight.
        let health = self.record.health_state();
        health.unregister(Arc::as_ptr(&self.instance).cast::<()>());
        if Arc::get_mut(&mut self.instance).is_none() {
            health.wait_idle(Duration::from_millis(100));
        }
        let call = match Arc::get_mut(&mut self.instance) {
            Some(instance) => step.span.in_scope(|| {
                crate::alloc::within(descriptor, || call_catching(|| instance.stop()))
            }),
            None => HookCall::Done(Err(HookError::health_check_running())),
        };
        let result = drive.hook(descriptor, &step.span, call).await;
        step.finish(result)
    }
}

/// The outcome of loading every plugin that provides one trait.
#[derive(Debug)]
pub struct LoadReport<S: ?Sized + 'static> {
    /// The started instances, ordered by plugin name.
    pub loaded: Vec<Loaded<S>>,
    /// The plugins that failed to load or start, ordered by plugin name.
    pub failures: Vec<LifecycleError>,
}

impl<S: ?Sized + 'static> LoadReport<S> {
    /// Whether every plugin loaded and started.
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
    /// Drives a hook's call, its allocations counted as the plugin's (see [`crate::alloc`]).
    async fn hook(
        self,
        descriptor: &'static PluginDescriptor,
        span: &tracing::Span,
        call: HookCall<'_>,
    ) -> Result<(), HookError> {
        match self {
            Drive::Await => {
                crate::alloc::Within::new(descriptor, call.finish())
                    .instrument(span.clone())
                    .await
            }
            Drive::Block => span.in_scope(|| crate::alloc::within(descriptor, || call.wait())),
        }
    }
}

fn construct<S: ?Sized + 'static>(
    record: &PluginRecord,
    factory: &Factory<S>,
) -> Result<Box<dyn Instance<S>>, LifecycleError> {
    let step = Step::begin(record, Stage::Load);
    let built = step.span.in_scope(|| {
        crate::alloc::within(record.descriptor(), || {
            std::panic::catch_unwind(factory.0).unwrap_or_else(|p| Err(HookError::from_panic(&*p)))
        })
    });
    match built {
        Ok(instance) => {
            step.succeed();
            Ok(instance)
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

    /// The one load of one plugin: construct, then start.
    async fn load_one<S: ?Sized + 'static>(
        record: Arc<PluginRecord>,
        factory: &'static Factory<S>,
        drive: Drive,
    ) -> Result<Loaded<S>, LifecycleError> {
        let mut instance = construct(&record, factory)?;
        let step = Step::begin(&record, Stage::Start);
        let call = step.span.in_scope(|| {
            crate::alloc::within(record.descriptor(), || call_catching(|| instance.start()))
        });
        let result = drive.hook(record.descriptor(), &step.span, call).await;
        let instance: Arc<dyn Instance<S>> = Arc::from(instance);
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
        })
    }

    async fn load_with<S: ?Sized + 'static>(
        &self,
        name: &str,
        drive: Drive,
    ) -> Result<Loaded<S>, LoadError> {
        let (record, factory) = self.provider::<S>(name)?;
        Ok(Self::load_one(record, factory, drive).await?)
    }

    async fn load_all_with<S: ?Sized + 'static>(&self, drive: Drive) -> LoadReport<S> {
        let mut report = LoadReport {
            loaded: Vec::new(),
            failures: Vec::new(),
        };
        for (record, factory) in self.providers::<S>() {
            match Self::load_one(record, factory, drive).await {
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
