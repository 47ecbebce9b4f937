//! A plugin described at run time: [`PluginSpec`], its hooks as closures, and the
//! instance they make, seen by the lifecycle like an instance of a `#[plugin]` type.

use std::any::Any;
use std::fmt::Display;
use std::sync::Arc;

use crate::model::error::HookError;
use crate::model::health::Health;
use crate::plugin::adapters::HealthCall;
use crate::plugin::hook::HookCall;
use crate::plugin::traits::{HealthTarget, Instance};

/// What an instance of a plugin registered at run time is, seen through
/// [`Loaded`](crate::Loaded): the value its load closure returned, erased; get it back as
/// your type with [`Loaded::value`](crate::Loaded::value).
pub type RuntimeValue = dyn Any + Send + Sync;

type LoadFn = dyn Fn() -> Result<Box<RuntimeValue>, HookError> + Send + Sync;
type HookFn = dyn Fn() -> Result<(), HookError> + Send + Sync;
type HealthFn = dyn Fn() -> Health + Send + Sync;

/// A plugin found at run time, described for [`Registry::register`](crate::Registry::register):
/// its name, kind and version (the labels a `#[plugin]` gets from its attribute), where it
/// came from, and its lifecycle hooks as closures.
///
/// Names are checked as `#[plugin]` checks them: the name by the rules of plugin and
/// instance names, the kind and version non-empty.
///
/// ```
/// use plugobs_runtime::{Health, PluginSpec, Registry};
///
/// let registry = Registry::from_descriptors([]).unwrap();
/// let geoip = registry.register(
///     PluginSpec::new("geoip", "enricher")
///         .version("1.2.0")
///         .source("/plugins/geoip.wasm")
///         .load(|| Ok::<_, std::io::Error>(String::from("a loaded module")))
///         .start(|| Ok::<_, std::io::Error>(()))
///         .health(Health::healthy),
/// )?;
/// let enrich = geoip.operation("enrich")?;
/// let loaded = geoip.load()?;
/// assert_eq!(loaded.value::<String>().unwrap(), "a loaded module");
/// enrich.call(|| Ok::<_, std::io::Error>(()))?;
/// loaded.stop()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PluginSpec {
    pub(crate) name: String,
    pub(crate) kind: String,
    pub(crate) version: String,
    pub(crate) description: String,
    pub(crate) source: Option<String>,
    pub(crate) operations: Vec<String>,
    pub(crate) hooks: RuntimeHooks,
}

/// The closures of a run-time plugin, shared by its instances.
pub(crate) struct RuntimeHooks {
    pub(crate) load: Option<Box<LoadFn>>,
    pub(crate) start: Option<Box<HookFn>>,
    pub(crate) stop: Option<Box<HookFn>>,
    pub(crate) health: Option<Box<HealthFn>>,
}

impl std::fmt::Debug for PluginSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginSpec")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("source", &self.source)
            .field("operations", &self.operations)
            .finish_non_exhaustive()
    }
}

impl PluginSpec {
    /// A plugin named `name` of kind `kind` (the `plugin` and `kind` labels), version
    /// `0.0.0` until [`version`](Self::version) says otherwise, with no hooks: loading it
    /// makes an instance whose value is `()`.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        PluginSpec {
            name: name.into(),
            kind: kind.into(),
            version: "0.0.0".to_owned(),
            description: String::new(),
            source: None,
            operations: Vec::new(),
            hooks: RuntimeHooks {
                load: None,
                start: None,
                stop: None,
                health: None,
            },
        }
    }

    /// Its version: the `version` label of `plugobs_plugin_info`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// A one-line description.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Where it came from (a file, a URL): shown where a `#[plugin]` shows its source
    /// file ([`PluginDescriptor::location`](crate::PluginDescriptor::location)`.file`).
    pub fn source(mut self, source: impl AsRef<std::path::Path>) -> Self {
        self.source = Some(source.as_ref().display().to_string());
        self
    }

    /// Declares an operation now, as [`RuntimePlugin::operation`](crate::RuntimePlugin::operation)
    /// does after registration (a loader that knows a module's exports names them here).
    pub fn operation(mut self, name: impl Into<String>) -> Self {
        self.operations.push(name.into());
        self
    }

    /// The load hook: makes an instance's value (a module instantiated, a connection
    /// opened), timed as the `load` step. An `Err` or a panic fails the load.
    pub fn load<T, E, F>(mut self, load: F) -> Self
    where
        T: Send + Sync + 'static,
        E: Display,
        F: Fn() -> Result<T, E> + Send + Sync + 'static,
    {
        self.hooks.load = Some(Box::new(move || {
            load()
                .map(|v| Box::new(v) as Box<RuntimeValue>)
                .map_err(|e| HookError::from_error(&e))
        }));
        self
    }

    /// The start hook, run after each load, timed as the `start` step.
    pub fn start<E, F>(mut self, start: F) -> Self
    where
        E: Display,
        F: Fn() -> Result<(), E> + Send + Sync + 'static,
    {
        self.hooks.start = Some(Box::new(move || {
            start().map_err(|e| HookError::from_error(&e))
        }));
        self
    }

    /// The stop hook, run by [`Loaded::stop`](crate::Loaded::stop), timed as the `stop`
    /// step.
    pub fn stop<E, F>(mut self, stop: F) -> Self
    where
        E: Display,
        F: Fn() -> Result<(), E> + Send + Sync + 'static,
    {
        self.hooks.stop = Some(Box::new(move || {
            stop().map_err(|e| HookError::from_error(&e))
        }));
        self
    }

    /// The health hook, run by health checks and the monitor on a running instance,
    /// timed, with a panic or a timeout turned into `Unhealthy`, as a `#[plugin]`'s.
    pub fn health<F>(mut self, health: F) -> Self
    where
        F: Fn() -> Health + Send + Sync + 'static,
    {
        self.hooks.health = Some(Box::new(health));
        self
    }
}

/// One instance of a run-time plugin: the value its load hook made, and its hooks.
pub(crate) struct RuntimeInstance {
    value: Box<RuntimeValue>,
    hooks: Arc<RuntimeHooks>,
}

impl RuntimeInstance {
    /// Runs the load hook (the caller catches a panic).
    pub(crate) fn construct(hooks: &Arc<RuntimeHooks>) -> Result<Self, HookError> {
        let value = match &hooks.load {
            Some(load) => load()?,
            None => Box::new(()),
        };
        Ok(RuntimeInstance {
            value,
            hooks: Arc::clone(hooks),
        })
    }
}

fn run(hook: Option<&HookFn>) -> HookCall<'static> {
    match hook {
        Some(hook) => HookCall::Done(hook()),
        None => HookCall::done(),
    }
}

impl Instance<RuntimeValue> for RuntimeInstance {
    fn get(&self) -> &RuntimeValue {
        &*self.value
    }
    fn get_mut(&mut self) -> &mut RuntimeValue {
        &mut *self.value
    }
    fn start(&mut self) -> HookCall<'_> {
        run(self.hooks.start.as_deref())
    }
    fn stop(&mut self) -> HookCall<'_> {
        run(self.hooks.stop.as_deref())
    }
    fn as_any(&self) -> &dyn Any {
        &*self.value
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        &mut *self.value
    }
    fn health_target(self: Arc<Self>) -> Option<Arc<dyn HealthTarget>> {
        if self.hooks.health.is_some() {
            Some(self as Arc<dyn HealthTarget>)
        } else {
            None
        }
    }
}

impl HealthTarget for RuntimeInstance {
    fn check_health(&self) -> HealthCall<'_> {
        self.hooks
            .health
            .as_ref()
            .map(|health| HookCall::Done(health()))
    }
}
