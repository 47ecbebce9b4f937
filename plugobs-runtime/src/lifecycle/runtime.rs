//! The second front end: plugins registered at run time ([`Registry::register`]) and
//! found in a directory ([`Registry::discover`]), loaded, started, stopped and checked by
//! the same lifecycle as a `#[plugin]`, their operations recorded by the same call sites.
//!
//! A registration leaks its plugin's descriptor and record (a few hundred bytes), and each
//! declared operation its call site: what leaks is bounded by the registrations and the
//! operations declared (at most [`MAX_RUNTIME_OPERATIONS`] per plugin), never by calls.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::core::runtime_site::{self, OperationHandle};
use crate::lifecycle::{Drive, Loaded};
use crate::model::config::InstanceConfig;
use crate::model::descriptor::{PluginDescriptor, SourceLocation};
use crate::model::discovery::{DiscoveryFailure, DiscoveryReason, FileError};
use crate::model::error::{HookError, LoadError, RegistryError};
use crate::model::name_rules::{self, NameError};
use crate::plugin::hook::block_on;
use crate::plugin::runtime::{PluginSpec, RuntimeHooks, RuntimeInstance, RuntimeValue};
use crate::plugin::traits::Instance;
use crate::record::plugin_record::PluginRecord;
use crate::registry::Registry;

/// The most operations one plugin registered at run time may declare
/// ([`RegistryError::TooManyOperations`] beyond).
pub const MAX_RUNTIME_OPERATIONS: usize = 64;

/// A plugin registered at run time, from [`Registry::register`] or
/// [`Registry::discover`]: declare its operations, load (and start) instances of it, and
/// unregister it. Cloning gives another handle to the same plugin.
#[derive(Clone)]
pub struct RuntimePlugin<'r> {
    registry: &'r Registry,
    record: Arc<PluginRecord>,
    shared: Arc<Shared>,
}

/// What every handle to one run-time plugin shares.
struct Shared {
    hooks: Arc<RuntimeHooks>,
    operations: Mutex<Vec<OperationHandle>>,
}

impl std::fmt::Debug for RuntimePlugin<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuntimePlugin")
            .field("name", &self.name())
            .field("operations", &self.operations())
            .finish_non_exhaustive()
    }
}

/// `name` checked as `#[plugin]` checks what it is (`what`): a plugin or operation name
/// by the rules of names, a kind or version non-empty.
fn check_name(what: &'static str, name: &str) -> Result<(), RegistryError> {
    let checked = match what {
        "kind" | "version" if name.trim().is_empty() => Err(NameError::Empty),
        "kind" | "version" => Ok(()),
        _ => name_rules::check(name),
    };
    checked.map_err(|error| RegistryError::InvalidName {
        what,
        name: name.to_owned(),
        error,
    })
}

/// What constructs an instance of a run-time plugin: its load hook (a plugin registered
/// at run time takes no configuration).
fn make(
    hooks: Arc<RuntimeHooks>,
) -> impl FnOnce(Option<InstanceConfig>) -> Result<Box<dyn Instance<RuntimeValue>>, HookError> {
    move |config| {
        InstanceConfig::expect_empty(config.as_ref()).map_err(|e| HookError::config(&e))?;
        RuntimeInstance::construct(&hooks).map(|i| Box::new(i) as Box<dyn Instance<_>>)
    }
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_owned().into_boxed_str())
}

impl Registry {
    /// Registers a plugin found at run time, described by `spec`: from now on it is in
    /// [`plugins`](Registry::plugins), `stats()`, the exposition, the health monitor and
    /// the HTTP endpoints like a plugin linked in, and its operations are declared with
    /// [`RuntimePlugin::operation`].
    ///
    /// Its descriptor and record are leaked (once per registration; an unregistered
    /// plugin's record stays, saying so).
    ///
    /// # Errors
    /// [`RegistryError::InvalidName`] for a name, kind, version or operation name
    /// `#[plugin]` or `#[instrumented]` would refuse; [`RegistryError::DuplicateName`]
    /// when a plugin (linked in or registered at run time) has the name;
    /// [`RegistryError::InstanceTaken`] when a configured instance has it;
    /// [`RegistryError::TooManyOperations`] for more than [`MAX_RUNTIME_OPERATIONS`].
    pub fn register(&self, spec: PluginSpec) -> Result<RuntimePlugin<'_>, RegistryError> {
        check_name("plugin", &spec.name)?;
        check_name("kind", &spec.kind)?;
        check_name("version", &spec.version)?;
        let mut operations: Vec<&str> = Vec::new();
        for op in &spec.operations {
            check_name("operation", op)?;
            if !operations.contains(&op.as_str()) {
                operations.push(op);
            }
        }
        let name = leak(&spec.name);
        if operations.len() > MAX_RUNTIME_OPERATIONS {
            return Err(RegistryError::TooManyOperations {
                plugin: name,
                limit: MAX_RUNTIME_OPERATIONS,
            });
        }
        let descriptor: &'static PluginDescriptor = Box::leak(Box::new(PluginDescriptor {
            name,
            kind: leak(&spec.kind),
            version: leak(&spec.version),
            description: leak(&spec.description),
            type_name: "plugobs::RuntimePlugin",
            location: SourceLocation {
                module_path: "run time",
                file: spec
                    .source
                    .as_deref()
                    .map_or("(registered at run time)", leak),
                line: 0,
            },
            provides: &[],
            has_stop: spec.hooks.stop.is_some(),
            objective: crate::model::objective::Objective::NONE,
            upcalls: crate::model::descriptor::runtime_upcalls(),
        }));
        let record = Arc::clone(self.add_runtime(descriptor)?);
        let plugin = RuntimePlugin {
            registry: self,
            record,
            shared: Arc::new(Shared {
                hooks: Arc::new(spec.hooks),
                operations: Mutex::new(Vec::new()),
            }),
        };
        for op in operations {
            plugin.operation(op)?;
        }
        tracing::info!(
            plugin.name = descriptor.name,
            plugin.kind = descriptor.kind,
            version = descriptor.version,
            source = descriptor.location.file,
            "plugin registered at run time"
        );
        Ok(plugin)
    }

    /// Discovers the plugins of the directory `dir`: reads each entry (in name order),
    /// hands its path and bytes to `loader`, and registers the [`PluginSpec`] it returns
    /// (`Ok(None)`: not a plugin file, skipped). A file that cannot be read, that the
    /// loader refuses or panics on, or whose plugin the registry refuses, is a
    /// [`DiscoveryFailure`] with a bounded [`DiscoveryReason`], logged at WARN and
    /// counted in `plugobs_discovery_failures_total{source,reason}`; it never stops the
    /// others.
    ///
    /// Timed into `plugobs_discovery_duration_seconds{source}`, where `source` is `dir` as
    /// given (one series per configured directory, not per file), inside a
    /// `plugin.discover` span with the fields `directory` and `plugin_count`; logs
    /// `Scanning directory: <dir>` at DEBUG.
    ///
    /// ```
    /// use plugobs_runtime::{PluginSpec, Registry, discovery::FileError};
    ///
    /// let dir = std::env::temp_dir().join(format!("plugobs-doc-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir).unwrap();
    /// std::fs::write(dir.join("hello.plugin"), "hello").unwrap();
    /// std::fs::write(dir.join("broken.plugin"), "").unwrap();
    ///
    /// let registry = Registry::from_descriptors([]).unwrap();
    /// let report = registry.discover(&dir, |path, bytes| {
    ///     if bytes.is_empty() {
    ///         return Err(FileError::invalid("empty file"));
    ///     }
    ///     let name = path.file_stem().unwrap().to_string_lossy();
    ///     Ok(Some(PluginSpec::new(name, "greeter").source(path)))
    /// });
    /// assert_eq!(report.plugins.len(), 1);
    /// assert_eq!(report.failures[0].message, "empty file");
    /// assert!(registry.get("hello").is_some());
    /// # std::fs::remove_dir_all(&dir).unwrap();
    /// ```
    pub fn discover<F>(&self, dir: impl AsRef<Path>, mut loader: F) -> DiscoveryReport<'_>
    where
        F: FnMut(&Path, &[u8]) -> Result<Option<PluginSpec>, FileError>,
    {
        let dir = dir.as_ref();
        let source_name = dir.display().to_string();
        let source = self.directory(&source_name);
        let span = tracing::info_span!(
            "plugin.discover",
            directory = source.source,
            plugin_count = tracing::field::Empty
        );
        let _entered = span.enter();
        let began = Instant::now();
        tracing::debug!("Scanning directory: {}", source.source);

        let mut report = DiscoveryReport {
            source: source.source,
            duration: Duration::ZERO,
            plugins: Vec::new(),
            failures: Vec::new(),
            skipped: 0,
        };
        let fail = |report: &mut DiscoveryReport<'_>, path: PathBuf, error: FileError| {
            source.failures[error.reason().index()].fetch_add(1, Relaxed);
            tracing::warn!(
                path = %path.display(),
                reason = error.reason().as_str(),
                error = error.message(),
                "plugin file failed to load"
            );
            report.failures.push(DiscoveryFailure {
                path,
                reason: error.reason(),
                message: error.message().to_owned(),
            });
        };
        match std::fs::read_dir(dir) {
            Err(e) => fail(&mut report, dir.to_path_buf(), FileError::io(&e)),
            Ok(entries) => {
                let mut paths = Vec::new();
                for entry in entries {
                    match entry {
                        Ok(entry) => paths.push(entry.path()),
                        Err(e) => fail(&mut report, dir.to_path_buf(), FileError::io(&e)),
                    }
                }
                paths.sort();
                for path in paths {
                    let bytes = match std::fs::read(&path) {
                        Ok(bytes) => bytes,
                        Err(e) => {
                            fail(&mut report, path, FileError::io(&e));
                            continue;
                        }
                    };
                    let spec = match catch_unwind(AssertUnwindSafe(|| loader(&path, &bytes))) {
                        Ok(Ok(Some(spec))) => spec,
                        Ok(Ok(None)) => {
                            report.skipped += 1;
                            continue;
                        }
                        Ok(Err(e)) => {
                            fail(&mut report, path, e);
                            continue;
                        }
                        Err(payload) => {
                            let e = HookError::from_panic(&*payload);
                            fail(
                                &mut report,
                                path,
                                FileError::new(DiscoveryReason::Panic, e.message()),
                            );
                            continue;
                        }
                    };
                    match self.register(spec) {
                        Ok(plugin) => report.plugins.push(plugin),
                        Err(e) => fail(
                            &mut report,
                            path,
                            FileError::new(DiscoveryReason::Refused, e),
                        ),
                    }
                }
            }
        }
        report.duration = began.elapsed();
        let nanos = u64::try_from(report.duration.as_nanos()).unwrap_or(u64::MAX);
        source.durations.record(nanos);
        source.last_nanos.store(nanos, Relaxed);
        source.plugins.store(report.plugins.len() as u64, Relaxed);
        span.record("plugin_count", report.plugins.len());
        tracing::info!(
            plugins = report.plugins.len(),
            failures = report.failures.len(),
            duration_seconds = report.duration.as_secs_f64(),
            "directory discovered"
        );
        report
    }
}

/// What [`Registry::discover`] found in one directory.
#[derive(Debug)]
pub struct DiscoveryReport<'r> {
    /// The directory as given: the `source` label.
    pub source: &'static str,
    /// How long the discovery took.
    pub duration: Duration,
    /// The plugins registered, in file name order.
    pub plugins: Vec<RuntimePlugin<'r>>,
    /// The files that did not become plugins, in file name order.
    pub failures: Vec<DiscoveryFailure>,
    /// The files the loader passed over (`Ok(None)`).
    pub skipped: usize,
}

impl Loaded<RuntimeValue> {
    /// The value the load hook of this run-time plugin's instance returned, if it is a
    /// `T`.
    ///
    /// ```
    /// # let registry = plugobs_runtime::Registry::from_descriptors([]).unwrap();
    /// let plugin = registry.register(
    ///     plugobs_runtime::PluginSpec::new("doc_value", "source").load(|| Ok::<_, String>(7u32)),
    /// )?;
    /// let loaded = plugin.load()?;
    /// assert_eq!(loaded.value::<u32>(), Some(&7));
    /// assert_eq!(loaded.value::<String>(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn value<T: 'static>(&self) -> Option<&T> {
        self.instance.get().downcast_ref::<T>()
    }
}

impl<'r> RuntimePlugin<'r> {
    /// The plugin's name.
    pub fn name(&self) -> &'static str {
        self.record.descriptor().name
    }

    /// The record of its default instance, as [`Registry::get`] gives it.
    pub fn record(&self) -> &PluginRecord {
        &self.record
    }

    /// The names of its declared operations, in the order declared.
    pub fn operations(&self) -> Vec<&'static str> {
        self.lock_operations().iter().map(|o| o.name()).collect()
    }

    fn lock_operations(&self) -> std::sync::MutexGuard<'_, Vec<OperationHandle>> {
        self.shared
            .operations
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// The operation `name`, declared on first use (the same handle after that): calls
    /// through it are recorded as calls of an `#[instrumented]` method named `name`.
    ///
    /// # Errors
    /// [`RegistryError::InvalidName`] for a name `#[instrumented(name = "...")]` would
    /// refuse, [`RegistryError::TooManyOperations`] past
    /// [`MAX_RUNTIME_OPERATIONS`], [`RegistryError::Unregistered`] once unregistered.
    pub fn operation(&self, name: &str) -> Result<OperationHandle, RegistryError> {
        let plugin = self.name();
        if self.record.is_unregistered() {
            return Err(RegistryError::Unregistered { plugin });
        }
        check_name("operation", name)?;
        let mut ops = self.lock_operations();
        if let Some(op) = ops.iter().find(|o| o.name() == name) {
            return Ok(*op);
        }
        if ops.len() >= MAX_RUNTIME_OPERATIONS {
            return Err(RegistryError::TooManyOperations {
                plugin,
                limit: MAX_RUNTIME_OPERATIONS,
            });
        }
        let op = OperationHandle::new(runtime_site::declare(self.record.descriptor(), leak(name)));
        ops.push(op);
        Ok(op)
    }

    fn check_registered(&self) -> Result<(), LoadError> {
        if self.record.is_unregistered() {
            return Err(LoadError::Registry(RegistryError::Unregistered {
                plugin: self.name(),
            }));
        }
        Ok(())
    }

    /// Loads and starts an instance (its default one): runs the load hook then the start
    /// hook, timed, spanned and counted as a `#[plugin]`'s
    /// ([`Registry::load`](crate::Registry::load)).
    ///
    /// # Errors
    /// [`LoadError::Lifecycle`] when the load or start hook failed or panicked;
    /// [`RegistryError::Unregistered`] once unregistered.
    pub fn load(&self) -> Result<Loaded<RuntimeValue>, LoadError> {
        self.check_registered()?;
        let record = Arc::clone(&self.record);
        Ok(block_on(Registry::load_one(
            record,
            make(Arc::clone(&self.shared.hooks)),
            Ok(None),
            Drive::Block,
        ))?)
    }

    /// Loads and starts the instance named `instance`, whose series carry
    /// `instance="<instance>"`; calls count under it through
    /// [`OperationHandle::on`]`(loaded.key())`.
    ///
    /// # Errors
    /// As [`RuntimePlugin::load`], and what
    /// [`Registry::load_instance_without_config`](crate::Registry::load_instance_without_config)
    /// returns for the name.
    pub fn load_instance(&self, instance: &str) -> Result<Loaded<RuntimeValue>, LoadError> {
        self.check_registered()?;
        let record = self.registry.claim_instance(&self.record, instance)?;
        Ok(block_on(Registry::load_one(
            record,
            make(Arc::clone(&self.shared.hooks)),
            Ok(None),
            Drive::Block,
        ))?)
    }

    /// Unregisters the plugin: its name is free again, its series are no longer
    /// exported (they end), and its record stays, with its final figures, listed by
    /// [`Registry::unregistered`] and in `stats()` as unregistered.
    ///
    /// # Errors
    /// [`RegistryError::PluginInUse`] while an instance of it is live (stop it first),
    /// [`RegistryError::Unregistered`] when it already was.
    pub fn unregister(&self) -> Result<(), RegistryError> {
        self.registry.remove_runtime(&self.record)?;
        let d = self.record.descriptor();
        tracing::info!(
            plugin.name = d.name,
            plugin.kind = d.kind,
            "plugin unregistered"
        );
        Ok(())
    }
}
