//! Typed errors of the runtime.
//!
//! Every failure plugobs can report is a variant here; nothing in the runtime panics or
//! silently drops a problem.

use std::fmt;
use std::time::SystemTime;

use crate::model::location::SourceLocation;
use crate::model::state::Stage;

/// An error returned by a plugin's constructor or lifecycle hook, captured by plugobs.
///
/// It keeps the error's `Display` text, the Rust type name of the error (reported as
/// `error.type` on spans) and the [`FailureReason`]: returned, panicked, cancelled, or a
/// configuration that did not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookError {
    message: String,
    error_type: &'static str,
    reason: FailureReason,
    blocked_runtime: bool,
}

impl HookError {
    /// Captures an error value returned by a hook.
    ///
    /// ```
    /// let err = plugobs_runtime::HookError::from_error(&std::fmt::Error);
    /// assert_eq!(err.message(), "an error occurred when formatting an argument");
    /// assert_eq!(err.error_type(), "core::fmt::Error");
    /// ```
    pub fn from_error<E: fmt::Display + ?Sized>(error: &E) -> Self {
        HookError {
            message: error.to_string(),
            error_type: std::any::type_name::<E>(),
            reason: FailureReason::Error,
            blocked_runtime: false,
        }
    }

    /// Captures a panic payload caught while running a hook.
    pub fn from_panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
            (*s).to_owned()
        } else if let Some(s) = payload.downcast_ref::<String>() {
            s.clone()
        } else {
            "panic with a non-string payload".to_owned()
        };
        HookError {
            message,
            error_type: "panic",
            reason: FailureReason::Panic,
            blocked_runtime: false,
        }
    }

    /// A hook future that was dropped before it completed.
    pub(crate) fn cancelled() -> Self {
        HookError {
            message: "the hook's future was dropped before it completed".to_owned(),
            error_type: "cancelled",
            reason: FailureReason::Cancelled,
            blocked_runtime: false,
        }
    }

    /// The instance's configuration did not fit its constructor's type.
    pub(crate) fn config(error: &crate::model::config::InstanceConfigError) -> Self {
        HookError {
            message: error.to_string(),
            error_type: "config",
            reason: FailureReason::Config,
            blocked_runtime: false,
        }
    }

    /// A stop hook that could not run: a health check that outlived its timeout still
    /// holds the instance, and the hook takes `&mut self`.
    pub(crate) fn health_check_running() -> Self {
        HookError {
            message: "a health check of this instance is still running past its timeout, and \
                      the stop hook needs the instance to itself; the instance is released \
                      when the check returns"
                .to_owned(),
            error_type: "health_check_running",
            reason: FailureReason::Error,
            blocked_runtime: false,
        }
    }

    /// A blocking lifecycle method refused to wait for an async hook, because the calling
    /// thread runs a current-thread tokio runtime that could never drive it: the hook's
    /// future is dropped unpolled (reason `cancelled`).
    #[cfg(feature = "tokio")]
    pub(crate) fn blocked_runtime() -> Self {
        HookError {
            message: "the hook is async and this thread runs a current-thread tokio runtime, \
                      which cannot drive it while a blocking plugobs call waits (it would hang); \
                      await the `_async` method instead (`load_async`, `load_all_async`, \
                      `stop_async`), or use a multi-thread runtime"
                .to_owned(),
            error_type: "blocked_runtime",
            reason: FailureReason::Cancelled,
            blocked_runtime: true,
        }
    }

    /// Whether a blocking method (`load`, `load_all`, `stop`) refused to run this async
    /// hook because the calling thread runs a current-thread tokio runtime, which cannot
    /// make progress while the call blocks (feature `tokio`). The hook did not run; its
    /// reason is [`FailureReason::Cancelled`]. Await the `_async` form instead.
    pub fn is_blocked_runtime(&self) -> bool {
        self.blocked_runtime
    }

    /// The error's `Display` text, or the panic message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The Rust type name of the error, `"panic"` for a panic, `"cancelled"` for a
    /// dropped future, `"blocked_runtime"` for a hook refused by
    /// [`is_blocked_runtime`](Self::is_blocked_runtime).
    pub fn error_type(&self) -> &'static str {
        self.error_type
    }

    /// Whether the hook panicked rather than returning an error.
    pub fn panicked(&self) -> bool {
        self.reason == FailureReason::Panic
    }

    /// The bounded `reason` label for this failure: `error`, `panic`, `cancelled` or
    /// `config`.
    pub fn reason(&self) -> FailureReason {
        self.reason
    }
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.panicked() {
            write!(f, "panicked: {}", self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

impl std::error::Error for HookError {}

/// Why a load, start or stop failed: the bounded `reason` label of
/// `plugobs_plugin_load_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum FailureReason {
    /// The constructor or hook returned `Err`.
    Error,
    /// The constructor or hook panicked.
    Panic,
    /// An async hook's future was dropped before it completed.
    Cancelled,
    /// The instance's configuration did not deserialize into the type its constructor
    /// takes (see [`crate::model::config`]).
    Config,
}

impl FailureReason {
    /// Every reason, in label order.
    pub const ALL: [FailureReason; 4] = [
        FailureReason::Error,
        FailureReason::Panic,
        FailureReason::Cancelled,
        FailureReason::Config,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Error => "error",
            FailureReason::Panic => "panic",
            FailureReason::Cancelled => "cancelled",
            FailureReason::Config => "config",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed lifecycle step of one plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LifecycleError {
    /// The plugin's registered name.
    pub plugin: &'static str,
    /// The instance's name: the plugin's name for its default instance (see
    /// [`crate::model::instance`]).
    pub instance: &'static str,
    /// The step that failed.
    pub stage: Stage,
    /// What the constructor or hook reported.
    pub error: HookError,
}

impl fmt::Display for LifecycleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.instance == self.plugin {
            write!(
                f,
                "plugin `{}` failed to {}: {}",
                self.plugin,
                self.stage.as_str(),
                self.error
            )
        } else {
            write!(
                f,
                "instance `{}` of plugin `{}` failed to {}: {}",
                self.instance,
                self.plugin,
                self.stage.as_str(),
                self.error
            )
        }
    }
}

impl std::error::Error for LifecycleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// A problem with the set of registered plugins, or a lookup that found nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two plugin definitions use the same name. Neither is loadable until one is renamed
    /// (`#[plugin(name = "...")]`).
    DuplicateName {
        /// The shared name.
        name: &'static str,
        /// Where the first definition is.
        first: SourceLocation,
        /// Where the second definition is.
        second: SourceLocation,
    },
    /// Plugins the host expected but that are not registered. Usually the crate defining
    /// them was never linked: `inventory` keeps only crates the binary references, so add
    /// `use plugin_crate as _;` to the host.
    Missing {
        /// The expected names that were not found, in the order they were asked for.
        names: Vec<String>,
    },
    /// No plugin has this name.
    UnknownPlugin {
        /// The name that was asked for.
        name: String,
    },
    /// The plugin exists but does not declare `provides = dyn Trait` for the requested
    /// trait.
    DoesNotProvide {
        /// The plugin's name.
        plugin: &'static str,
        /// The requested trait object type.
        requested: &'static str,
    },
    /// Several problems at once.
    Many(Vec<RegistryError>),
    /// An instance name that is empty, too long or holds a character outside the bounded
    /// set (see [`InstanceName`](crate::model::instance::InstanceName)).
    InvalidInstanceName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        error: crate::model::instance::InstanceNameError,
    },
    /// An instance name already taken in this registry: by a configured instance of
    /// another plugin, by a plugin's default instance (which holds the plugin's name), or
    /// by an instance of the same plugin that is still loaded.
    InstanceTaken {
        /// The name.
        instance: String,
        /// The plugin whose instance holds it.
        by: &'static str,
        /// Whether that instance is loaded now (else the name is another plugin's).
        live: bool,
    },
    /// More instances of one plugin than plugobs keeps (see
    /// [`MAX_LIVE_INSTANCES`](crate::model::instance::MAX_LIVE_INSTANCES) and
    /// [`MAX_INSTANCE_NAMES`](crate::model::instance::MAX_INSTANCE_NAMES)).
    TooManyInstances {
        /// The plugin.
        plugin: &'static str,
        /// The limit reached.
        limit: usize,
        /// `"live instances"` or `"names"`.
        what: &'static str,
    },
    /// A sampling rate out of range: one call in `every` is timed, `every` from 1 to
    /// [`MAX_SAMPLE`](crate::sampling::MAX_SAMPLE).
    InvalidSampling {
        /// The rate given.
        every: u32,
    },
    /// Circuit breaker settings out of range (see
    /// [`BreakerSettings::validate`](crate::breaker::BreakerSettings::validate)).
    InvalidBreaker {
        /// What is out of range.
        message: String,
    },
    /// Two different functions record under one (plugin, operation) pair, so their calls
    /// would be summed into one series: the same method name on two types under one
    /// plugin, say. Name one apart with `#[instrumented(name = "...")]`. Found once both
    /// have been called.
    MergedOperation {
        /// The plugin.
        plugin: &'static str,
        /// The operation name they share.
        operation: &'static str,
        /// Where each function is defined, in the order they were first called.
        places: Vec<SourceLocation>,
    },
    /// A section of instances (see
    /// [`Registry::load_instances`](crate::Registry::load_instances)) that is not a map
    /// of instance names to tables, or an entry without a string `type` naming its
    /// plugin.
    InvalidSection {
        /// The instance name, or empty for the section as a whole.
        instance: String,
        /// What is wrong.
        message: String,
    },
    /// A name given at run time ([`PluginSpec`](crate::PluginSpec),
    /// [`RuntimePlugin::operation`](crate::RuntimePlugin::operation)) that `#[plugin]` or
    /// `#[instrumented]` would refuse: a plugin or operation name that breaks the rules of
    /// [`name_rules`](crate::__private::name_rules), or an empty kind or version.
    InvalidName {
        /// What the name is: `"plugin"`, `"kind"`, `"version"` or `"operation"`.
        what: &'static str,
        /// The name as given.
        name: String,
        /// The rule it breaks.
        error: crate::model::name_rules::NameError,
    },
    /// A plugin registered at run time declared more operations than plugobs keeps for
    /// one plugin ([`MAX_RUNTIME_OPERATIONS`](crate::MAX_RUNTIME_OPERATIONS)).
    TooManyOperations {
        /// The plugin.
        plugin: &'static str,
        /// The limit reached.
        limit: usize,
    },
    /// A plugin registered at run time cannot be unregistered while instances of it are
    /// live: stop them first.
    PluginInUse {
        /// The plugin.
        plugin: &'static str,
        /// How many of its instances are live.
        live: usize,
    },
    /// The plugin registered at run time was unregistered: it can no longer be loaded nor
    /// given operations.
    Unregistered {
        /// The plugin.
        plugin: &'static str,
    },
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::DuplicateName {
                name,
                first,
                second,
            } => write!(
                f,
                "two plugins are named `{name}`: one defined at {first}, one at {second}; \
                 give one of them another name with #[plugin(name = \"...\")]"
            ),
            RegistryError::Missing { names } => write!(
                f,
                "expected plugins are not registered: {}; if they live in another crate, \
                 make sure the host references it (`use that_crate as _;`)",
                names.join(", ")
            ),
            RegistryError::UnknownPlugin { name } => write!(f, "no plugin is named `{name}`"),
            RegistryError::DoesNotProvide { plugin, requested } => write!(
                f,
                "plugin `{plugin}` does not provide `{requested}`; declare it with \
                 #[plugin(provides = {requested})]"
            ),
            RegistryError::InvalidInstanceName { name, error } => {
                write!(f, "invalid instance name {name:?}: {error}")
            }
            RegistryError::InstanceTaken {
                instance,
                by,
                live: true,
            } => write!(
                f,
                "instance `{instance}` of plugin `{by}` is already loaded; stop it before \
                 loading it again"
            ),
            RegistryError::InstanceTaken {
                instance,
                by,
                live: false,
            } if instance == by => write!(
                f,
                "the instance name `{instance}` is taken: it names the default instance of \
                 plugin `{by}`"
            ),
            RegistryError::InstanceTaken { instance, by, .. } => write!(
                f,
                "the instance name `{instance}` is taken by an instance of plugin `{by}`; \
                 instance names are unique in a registry"
            ),
            RegistryError::TooManyInstances {
                plugin,
                limit,
                what,
            } => write!(
                f,
                "plugin `{plugin}` reached the limit of {limit} instance {what}"
            ),
            RegistryError::InvalidSampling { every } => write!(
                f,
                "sampling rate {every} is out of range: time one call in 1 to {} calls",
                crate::model::sampling::MAX_SAMPLE
            ),
            RegistryError::InvalidBreaker { message } => {
                write!(f, "invalid circuit breaker settings: {message}")
            }
            RegistryError::MergedOperation {
                plugin,
                operation,
                places,
            } => {
                write!(
                    f,
                    "operation `{operation}` of plugin `{plugin}` is recorded by {} functions, \
                     so their calls are summed into one series: ",
                    places.len()
                )?;
                for (i, place) in places.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{place}")?;
                }
                f.write_str("; name them apart with #[instrumented(name = \"...\")]")
            }
            RegistryError::InvalidSection { instance, message } if instance.is_empty() => {
                write!(f, "invalid section of instances: {message}")
            }
            RegistryError::InvalidSection { instance, message } => {
                write!(f, "invalid instance `{instance}`: {message}")
            }
            RegistryError::InvalidName { what, name, error } => {
                let rule = match error {
                    crate::model::name_rules::NameError::Empty => "it is empty".to_owned(),
                    crate::model::name_rules::NameError::TooLong { len } => format!(
                        "it is {len} bytes long, more than {}",
                        crate::model::name_rules::MAX_LEN
                    ),
                    crate::model::name_rules::NameError::InvalidCharacter { index } => format!(
                        "the character at byte {index} is not an ASCII letter, digit, `_`, `-` or `.`"
                    ),
                };
                write!(f, "invalid {what} name {name:?}: {rule}")
            }
            RegistryError::TooManyOperations { plugin, limit } => write!(
                f,
                "plugin `{plugin}` reached the limit of {limit} operations"
            ),
            RegistryError::PluginInUse { plugin, live } => write!(
                f,
                "plugin `{plugin}` has {live} live instance(s): stop them before unregistering it"
            ),
            RegistryError::Unregistered { plugin } => {
                write!(f, "plugin `{plugin}` was unregistered")
            }
            RegistryError::Many(errors) => {
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for RegistryError {}

/// Why loading one plugin failed: it could not be found, or a lifecycle step failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The lookup failed.
    Registry(RegistryError),
    /// The constructor or start hook failed.
    Lifecycle(LifecycleError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Registry(e) => e.fmt(f),
            LoadError::Lifecycle(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Registry(e) => Some(e),
            LoadError::Lifecycle(e) => Some(e),
        }
    }
}

impl From<RegistryError> for LoadError {
    fn from(e: RegistryError) -> Self {
        LoadError::Registry(e)
    }
}

impl From<LifecycleError> for LoadError {
    fn from(e: LifecycleError) -> Self {
        LoadError::Lifecycle(e)
    }
}

/// A namespace that [`set_namespace`](crate::set_namespace) could not take.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NamespaceError {
    /// The namespace is not a valid Prometheus name prefix.
    InvalidNamespace {
        /// What was given.
        namespace: String,
    },
    /// The namespace was already fixed (set before, or used by a flush).
    AlreadySet {
        /// The namespace in use.
        namespace: String,
    },
}

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamespaceError::InvalidNamespace { namespace } => write!(
                f,
                "`{namespace}` is not a valid metric namespace; use letters, digits and `_`, not starting with a digit"
            ),
            NamespaceError::AlreadySet { namespace } => write!(
                f,
                "the metric namespace is already `{namespace}`; set it once, before the first flush"
            ),
        }
    }
}

impl std::error::Error for NamespaceError {}

/// The most recent failure of a plugin.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Failure {
    /// The step that failed.
    pub stage: Stage,
    /// Error, panic or cancelled.
    pub reason: FailureReason,
    /// The error's message.
    pub message: String,
    /// The error's Rust type name (`"panic"` for panics).
    pub error_type: &'static str,
    /// When it happened.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::unix_seconds")
    )]
    pub at: SystemTime,
}
