//! What a plugin type implements: the [`Plugin`] trait (by `#[plugin]`), [`Provides`] for
//! each `provides = dyn Trait`, and the erased views the lifecycle and health checks use
//! ([`Instance`], [`HealthTarget`], [`Factory`]).

use std::any::Any;
use std::sync::Arc;

use crate::model::config::InstanceConfig;
use crate::model::descriptor::PluginDescriptor;
use crate::model::error::{HookError, RegistryError};
use crate::model::stats::PluginStats;
use crate::plugin::adapters::HealthCall;
use crate::plugin::hook::HookCall;

impl PluginDescriptor {
    /// The factory that constructs this plugin as the trait object `S`, if it declares
    /// `provides = S`.
    ///
    /// Each `provides` entry holds a [`Factory`] for its own trait object type, so the
    /// entry whose factory is a `Factory<S>` is the one for `S`.
    pub fn provided<S: ?Sized + 'static>(&self) -> Option<&'static Factory<S>> {
        self.provides
            .iter()
            .find_map(|p| p.factory.downcast_ref::<Factory<S>>())
    }
}

/// Constructs a plugin as an [`Instance`] of the trait object `S`, from its instance's
/// configuration, if any (see [`crate::model::config`]).
pub struct Factory<S: ?Sized + 'static>(pub Construct<S>);

/// The function a [`Factory`] holds: the instance's configuration in, the instance out.
pub type Construct<S> = fn(Option<InstanceConfig>) -> Result<Box<dyn Instance<S>>, HookError>;

/// The [`Factory`] function for plugin `T` as trait object `S`; named by generated code.
pub fn factory<T: Provides<S>, S: ?Sized + 'static>(
    config: Option<InstanceConfig>,
) -> Result<Box<dyn Instance<S>>, HookError> {
    T::construct(config).map(|t| Box::new(t) as Box<dyn Instance<S>>)
}

/// A plugin type. Implemented by `#[plugin]`; not meant to be implemented by hand.
///
/// The `diagnostic::on_unimplemented` message is what a user sees when `#[instrumented]`
/// is put on an impl of a type that has no `#[plugin]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a plugobs plugin",
    label = "`#[instrumented]` needs `{Self}` to be a plugin",
    note = "add `#[plugobs::plugin]` to the definition of `{Self}`, or name the plugin with `#[instrumented(plugin = Type)]`"
)]
pub trait Plugin: Send + Sync + Sized + 'static {
    /// The static metadata.
    const DESCRIPTOR: &'static PluginDescriptor;

    /// Runs the registered constructor (`new = path`, or `Default`) with the instance's
    /// configuration: `None` for a plugin loaded without one (see [`crate::model::config`]).
    fn construct(config: Option<InstanceConfig>) -> Result<Self, HookError>;

    /// Runs the start hook, if any.
    fn start(&mut self) -> HookCall<'_> {
        HookCall::done()
    }

    /// Runs the stop hook, if any.
    fn stop(&mut self) -> HookCall<'_> {
        HookCall::done()
    }

    /// Whether the plugin declares a health hook (`health = path`). A started instance of
    /// such a plugin is shared with the health checker (see [`Loaded`](crate::Loaded)).
    const HAS_HEALTH: bool = false;

    /// Runs the health hook, if any.
    fn health(&self) -> HealthCall<'_> {
        None
    }

    /// A span carrying the plugin's identity (`plugin.name`, `plugin.kind`,
    /// `plugin.instance`), named `plugin.task`, at INFO: enter it on the plugin's own
    /// threads, or attach it to its own futures with `tracing::Instrument::instrument`, so
    /// their events and spans are the plugin's too: `let span = Self::span();
    /// std::thread::spawn(move || { span.in_scope(|| tracing::info!("flushing")) })` (the
    /// `plugobs` crate's docs have a complete example).
    ///
    /// Its `plugin.instance` is the instance whose code calls it — inside a call, hook or
    /// [`Scope`](crate::Scope) of one of this plugin's instances, that one — else the
    /// default instance; `self.span()` ([`PluginExt`](crate::PluginExt)) names the
    /// instance of a value.
    fn span() -> tracing::Span {
        let d = Self::DESCRIPTOR;
        let instance = crate::core::running::current()
            .filter(|r| std::ptr::eq(r.descriptor, d))
            .map_or(d.name, |r| r.name);
        tracing::info_span!(
            "plugin.task",
            plugin.name = d.name,
            plugin.kind = d.kind,
            plugin.instance = instance
        )
    }

    /// This plugin's own figures — state, health, operations, custom metrics, busy ratio
    /// — read from the global registry without naming it: those of its default instance
    /// (see [`crate::model::instance`]); `registry().instances()` has every instance's record.
    ///
    /// # Errors
    /// What [`Registry::lookup`](crate::Registry::lookup) returns when the plugin's name
    /// is taken twice.
    fn stats() -> Result<PluginStats, RegistryError> {
        (Self::DESCRIPTOR.upcalls.stats)(Self::DESCRIPTOR)
    }
}

/// A started instance whose health can be checked, from any thread.
pub trait HealthTarget: Send + Sync {
    /// Runs the instance's health hook.
    fn check_health(&self) -> HealthCall<'_>;
}

impl<T: Plugin> HealthTarget for T {
    fn check_health(&self) -> HealthCall<'_> {
        Plugin::health(self)
    }
}

/// `T` can be used as the trait object `S` (`provides = dyn Trait`). Implemented by
/// `#[plugin]`.
pub trait Provides<S: ?Sized>: Plugin {
    /// Borrows the plugin as `S`.
    fn upcast(&self) -> &S;
    /// Mutably borrows the plugin as `S`.
    fn upcast_mut(&mut self) -> &mut S;
}

/// A loaded plugin instance seen as the trait object `S`, with its hooks.
pub trait Instance<S: ?Sized>: Send + Sync {
    /// Borrows the instance as `S`.
    fn get(&self) -> &S;
    /// Mutably borrows the instance as `S`.
    fn get_mut(&mut self) -> &mut S;
    /// Runs the start hook.
    fn start(&mut self) -> HookCall<'_>;
    /// Runs the stop hook.
    fn stop(&mut self) -> HookCall<'_>;
    /// Borrows the instance as its concrete plugin type, erased; see
    /// [`Loaded::downcast_ref`](crate::Loaded::downcast_ref).
    fn as_any(&self) -> &dyn Any;
    /// Mutably borrows the instance as its concrete plugin type, erased.
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// The instance as a health check target, when its plugin has a health hook.
    fn health_target(self: Arc<Self>) -> Option<Arc<dyn HealthTarget>>;
}

impl<T: Provides<S>, S: ?Sized> Instance<S> for T {
    fn get(&self) -> &S {
        self.upcast()
    }
    fn get_mut(&mut self) -> &mut S {
        self.upcast_mut()
    }
    fn start(&mut self) -> HookCall<'_> {
        Plugin::start(self)
    }
    fn stop(&mut self) -> HookCall<'_> {
        Plugin::stop(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn health_target(self: Arc<Self>) -> Option<Arc<dyn HealthTarget>> {
        if T::HAS_HEALTH {
            Some(self as Arc<dyn HealthTarget>)
        } else {
            None
        }
    }
}
