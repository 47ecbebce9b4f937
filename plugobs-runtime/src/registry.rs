//! Discovery and queries: the set of registered plugins and their records.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use crate::core::cells::Histogram;
use crate::core::site;
use crate::model::breaker::{BreakerOverride, BreakerSettings};
use crate::model::descriptor::PluginDescriptor;
use crate::model::discovery::DiscoveryReason;
use crate::model::error::RegistryError;
use crate::model::instance::InstanceName;
use crate::model::policy::HealthPolicies;
use crate::record::plugin_record::PluginRecord;

/// The plugins known to a host, each with its live [`PluginRecord`].
///
/// The process-wide registry is [`registry()`](crate::registry()), built from everything `#[plugin]`
/// registered in the binary. Tests can build an isolated one from an explicit list with
/// [`Registry::from_descriptors`].
pub struct Registry {
    /// The plugins linked in, ordered by name; fixed once discovered.
    records: Vec<Arc<PluginRecord>>,
    by_name: BTreeMap<&'static str, usize>,
    /// The plugins registered at run time: an append-only list of leaked records (one
    /// per registration, so bounded by registrations), and the names of those still
    /// registered. Read by queries, never by a call.
    runtime: RwLock<RuntimeRecords>,
    /// Each directory discovered at run time, as configured, in the order first seen.
    sources: Mutex<Vec<&'static DirectorySource>>,
    problems: Vec<RegistryError>,
    discovery_time: Duration,
    pub(crate) discovery: Histogram,
    /// How long the health monitor's rounds over this registry took.
    pub(crate) health_rounds: Histogram,
    /// How many of those rounds took longer than their monitor's interval.
    pub(crate) health_overruns: std::sync::atomic::AtomicU64,
    /// How many entries of the process-wide site list are attached to records.
    attached: Mutex<usize>,
    /// The health policy of every plugin, and of those set one by one.
    pub(crate) policies: Mutex<HealthPolicies>,
    /// Serializes claiming instance names, so a name is checked and taken at once.
    naming: Mutex<()>,
    /// What the exporter glue keeps per registry (the bridge's memory of what the global
    /// recorder was sent). Opaque here: its type belongs to the layer that uses it.
    pub(crate) export_memory: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field(
                "plugins",
                &self
                    .records_arc()
                    .map(|r| r.descriptor().name)
                    .collect::<Vec<_>>(),
            )
            .field("problems", &self.problems)
            .finish()
    }
}

static GLOBAL: OnceLock<Registry> = OnceLock::new();

/// The plugins registered at run time.
#[derive(Default)]
struct RuntimeRecords {
    /// Every registration, in order; an unregistered record stays (its record says so).
    all: Vec<&'static Arc<PluginRecord>>,
    /// The registered ones, by name.
    by_name: BTreeMap<&'static str, &'static Arc<PluginRecord>>,
}

/// What one directory of plugins found at run time records: how long each discovery of
/// it took and its files that failed, by reason.
#[derive(Debug)]
pub(crate) struct DirectorySource {
    /// The directory as the host configured it: the `source` label.
    pub(crate) source: &'static str,
    pub(crate) durations: Histogram,
    pub(crate) failures: [AtomicU64; DiscoveryReason::ALL.len()],
    /// How many plugins its last discovery registered.
    pub(crate) plugins: AtomicU64,
    /// Its last discovery's duration, in nanoseconds.
    pub(crate) last_nanos: AtomicU64,
}

impl DirectorySource {
    /// How many files failed for `reason`.
    pub(crate) fn failures(&self, reason: DiscoveryReason) -> u64 {
        self.failures[reason.index()].load(Relaxed)
    }
}

/// The global registry, built on first use; see `crate::registry`.
pub(crate) fn global() -> &'static Registry {
    GLOBAL.get_or_init(|| Registry::discover_linked(linked_descriptors()))
}

impl Registry {
    /// Builds a registry from an explicit list of descriptors, e.g.
    /// `[<MyPlugin as plugobs::Plugin>::DESCRIPTOR]`, for isolated tests and embedding.
    ///
    /// # Errors
    /// [`RegistryError::DuplicateName`] (or [`RegistryError::Many`]) when two descriptors
    /// share a name.
    pub fn from_descriptors(
        descriptors: impl IntoIterator<Item = &'static PluginDescriptor>,
    ) -> Result<Registry, RegistryError> {
        let registry = Registry::discover_linked(descriptors);
        match registry.check() {
            Ok(()) => Ok(registry),
            Err(e) => Err(e),
        }
    }

    fn discover_linked(
        descriptors: impl IntoIterator<Item = &'static PluginDescriptor>,
    ) -> Registry {
        let span = tracing::info_span!("plugin.discover");
        let _entered = span.enter();
        let began = Instant::now();

        let mut seen: BTreeMap<&'static str, Vec<&'static PluginDescriptor>> = BTreeMap::new();
        for d in descriptors {
            let same = seen.entry(d.name).or_default();
            // The same descriptor submitted twice is one plugin, not a conflict.
            if !same.iter().any(|s| std::ptr::eq(*s, d)) {
                same.push(d);
            }
        }
        let mut records = Vec::with_capacity(seen.len());
        let mut by_name = BTreeMap::new();
        let mut problems = Vec::new();
        for (name, mut defs) in seen {
            if defs.len() == 1 {
                by_name.insert(name, records.len());
                records.push(Arc::new(PluginRecord::new(defs[0])));
            } else {
                defs.sort_by_key(|d| (d.location.file, d.location.line));
                for other in &defs[1..] {
                    let problem = RegistryError::DuplicateName {
                        name,
                        first: defs[0].location,
                        second: other.location,
                    };
                    tracing::error!(plugin.name = name, error = %problem, "duplicate plugin name");
                    problems.push(problem);
                }
            }
        }

        let discovery_time = began.elapsed();
        let discovery = Histogram::default();
        discovery.record(u64::try_from(discovery_time.as_nanos()).unwrap_or(u64::MAX));
        tracing::info!(
            plugins = records.len(),
            duration_seconds = discovery_time.as_secs_f64(),
            "plugins discovered"
        );
        Registry {
            records,
            by_name,
            runtime: RwLock::new(RuntimeRecords::default()),
            sources: Mutex::new(Vec::new()),
            problems,
            discovery_time,
            discovery,
            health_rounds: Histogram::default(),
            health_overruns: std::sync::atomic::AtomicU64::new(0),
            attached: Mutex::new(0),
            policies: Mutex::new(HealthPolicies::default()),
            naming: Mutex::new(()),
            export_memory: Mutex::new(None),
        }
    }

    /// Every registered plugin, ordered by name: those linked in and those registered at
    /// run time (not those unregistered since; see [`Registry::unregistered`]).
    pub fn plugins(&self) -> impl ExactSizeIterator<Item = &PluginRecord> + '_ {
        self.records_arc().map(|r| &**r)
    }

    /// The records of every registered plugin, ordered by name.
    pub(crate) fn records_arc(&self) -> std::vec::IntoIter<&Arc<PluginRecord>> {
        let runtime = self.runtime.read().unwrap_or_else(|e| e.into_inner());
        if runtime.by_name.is_empty() {
            return self.records.iter().collect::<Vec<_>>().into_iter();
        }
        let mut all: Vec<&Arc<PluginRecord>> = self.records.iter().collect();
        all.extend(runtime.by_name.values().copied());
        all.sort_by_key(|r| r.descriptor().name);
        all.into_iter()
    }

    /// The plugins registered at run time and unregistered since, in the order they were
    /// registered: each record is kept, with its final figures, and says so
    /// ([`PluginRecord::is_unregistered`]). Their series are no longer exported.
    pub fn unregistered(&self) -> Vec<Arc<PluginRecord>> {
        let runtime = self.runtime.read().unwrap_or_else(|e| e.into_inner());
        runtime
            .all
            .iter()
            .filter(|r| r.is_unregistered())
            .map(|r| Arc::clone(r))
            .collect()
    }

    /// The registered plugin named `name`, linked in or registered at run time.
    fn find(&self, name: &str) -> Option<&Arc<PluginRecord>> {
        if let Some(&i) = self.by_name.get(name) {
            return Some(&self.records[i]);
        }
        let runtime = self.runtime.read().unwrap_or_else(|e| e.into_inner());
        runtime.by_name.get(name).copied()
    }

    pub(crate) fn lookup_arc(&self, name: &str) -> Result<&Arc<PluginRecord>, RegistryError> {
        match self.find(name) {
            Some(record) => Ok(record),
            None => Err(self
                .duplicated(name)
                .unwrap_or_else(|| RegistryError::UnknownPlugin {
                    name: name.to_owned(),
                })),
        }
    }

    /// The [`RegistryError::DuplicateName`] for `name` (or [`RegistryError::Many`] when it
    /// is defined more than twice), if two plugins share it.
    fn duplicated(&self, name: &str) -> Option<RegistryError> {
        let mut found: Vec<RegistryError> = self
            .problems
            .iter()
            .filter(|p| matches!(p, RegistryError::DuplicateName { name: n, .. } if *n == name))
            .cloned()
            .collect();
        match found.len() {
            0 => None,
            1 => found.pop(),
            _ => Some(RegistryError::Many(found)),
        }
    }

    /// Attaches the operation sites resolved since the last call to their plugins'
    /// records: a cost per new site, nothing when there is none.
    pub(crate) fn attach_sites(&self) {
        let mut attached = self.attached.lock().unwrap_or_else(|e| e.into_inner());
        *attached = site::sites_since(*attached, |site| {
            let d = site.descriptor();
            if let Some(&i) = self.by_name.get(d.name)
                && std::ptr::eq(self.records[i].descriptor(), d)
            {
                self.records[i].attach(site);
                return;
            }
            // A run-time plugin's site, also once it was unregistered (its final counts).
            let runtime = self.runtime.read().unwrap_or_else(|e| e.into_inner());
            if let Some(record) = runtime
                .all
                .iter()
                .rev()
                .find(|r| std::ptr::eq(r.descriptor(), d))
            {
                record.attach(site);
            }
        });
    }

    /// Bytes allocated for the operation cells of this registry's plugins: what
    /// recording costs in memory, which follows the operations and threads that actually
    /// recorded and the latency range they saw.
    pub fn operation_memory(&self) -> usize {
        self.attach_sites();
        self.plugins()
            .map(|r| {
                r.with_operations(|ops| ops.iter().map(|o| o.allocated_bytes()).sum::<usize>())
            })
            .sum()
    }

    /// The plugin with this name; `None` when no plugin, or more than one, has it (see
    /// [`Registry::lookup`] to tell those apart).
    pub fn get(&self, name: &str) -> Option<&PluginRecord> {
        self.find(name).map(|r| &**r)
    }

    /// The plugin with this name, or why there is none.
    ///
    /// ```
    /// use plugobs_runtime::RegistryError;
    ///
    /// let err = plugobs_runtime::registry().lookup("no_such_plugin").unwrap_err();
    /// assert!(matches!(err, RegistryError::UnknownPlugin { .. }));
    /// ```
    ///
    /// # Errors
    /// [`RegistryError::DuplicateName`] (or [`RegistryError::Many`] for three or more
    /// definitions) when several plugins share the name, naming where each is defined;
    /// [`RegistryError::UnknownPlugin`] when none has it.
    pub fn lookup(&self, name: &str) -> Result<&PluginRecord, RegistryError> {
        self.lookup_arc(name).map(|r| &**r)
    }

    /// The record of every instance, grouped by plugin (ordered by name): a plugin's
    /// default instance first, then its instances loaded by name, ordered by name.
    ///
    /// A plugin's default instance is left out when the plugin has instances loaded by
    /// name and its default instance was never used: never loaded and never called.
    pub fn instances(&self) -> Vec<Arc<PluginRecord>> {
        self.instances_with(default_in_use)
    }

    /// As [`Registry::instances`], keeping an unused default instance when `keep` says so.
    pub(crate) fn instances_with(
        &self,
        keep: impl Fn(&PluginRecord) -> bool,
    ) -> Vec<Arc<PluginRecord>> {
        let mut all = Vec::with_capacity(self.records.len());
        for record in self.records_arc() {
            let configured = record.configured_instances();
            if configured.is_empty() || keep(record) {
                all.push(Arc::clone(record));
            }
            all.extend(configured);
        }
        all
    }

    /// Takes a point of every instance's history ([`PluginRecord::history`]), as of
    /// `at`: what each operation did since the previous point, and each instance's
    /// health now. The background thread does this every
    /// [`HISTORY_INTERVAL`](crate::model::history::HISTORY_INTERVAL) for the process-wide
    /// registry once the history is wanted (the HTTP endpoints want it, or
    /// `plugobs::bridge::keep_history()`); call it yourself for a registry of your own,
    /// on a timer, or with a test's clock.
    ///
    /// ```
    /// use std::time::SystemTime;
    /// let registry = plugobs_runtime::Registry::from_descriptors([]).unwrap();
    /// registry.record_history(SystemTime::now());
    /// assert!(registry.history("no_such_plugin").is_err());
    /// ```
    pub fn record_history(&self, at: std::time::SystemTime) {
        self.attach_sites();
        for record in self.instances() {
            record.record_history(at);
        }
    }

    /// The recent past of the plugin (or configured instance) `name`: one entry per
    /// instance, as [`Registry::instances`] orders them; a configured instance's name
    /// gives that instance alone.
    ///
    /// # Errors
    /// As [`Registry::lookup`], when `name` is neither a plugin nor an instance.
    pub fn history(
        &self,
        name: &str,
    ) -> Result<Vec<crate::model::history::InstanceHistory>, RegistryError> {
        if let Some(record) = self.instance(name).filter(|r| !r.is_default_instance()) {
            return Ok(vec![record.history()]);
        }
        let plugin = self.lookup(name)?.descriptor().name;
        Ok(self
            .instances()
            .iter()
            .filter(|r| r.descriptor().name == plugin)
            .map(|r| r.history())
            .collect())
    }

    /// The instance named `name`: a configured instance, or the default instance of the
    /// plugin `name`.
    ///
    /// ```
    /// assert!(plugobs_runtime::registry().instance("no_such_instance").is_none());
    /// ```
    pub fn instance(&self, name: &str) -> Option<Arc<PluginRecord>> {
        if let Some(record) = self.find(name) {
            return Some(Arc::clone(record));
        }
        self.records_arc().find_map(|r| {
            r.configured_instances()
                .into_iter()
                .find(|c| c.instance() == name)
        })
    }

    /// Times one call in `every` of each operation of `plugin`, on all its instances but
    /// those with a setting of their own; `None` goes back to each operation's own
    /// `sample = N` (see [`sampling`](crate::sampling)). Applies from the next call.
    ///
    /// ```
    /// # let registry = plugobs_runtime::registry();
    /// # let Some(plugin) = registry.plugins().next().map(|p| p.descriptor().name) else { return Ok(()) };
    /// registry.set_sampling(plugin, Some(16))?; // one call in 16 timed
    /// registry.set_sampling(plugin, None)?;     // back to the operations' own
    /// assert!(registry.set_sampling(plugin, Some(0)).is_err());
    /// # Ok::<(), plugobs_runtime::RegistryError>(())
    /// ```
    ///
    /// # Errors
    /// [`RegistryError::InvalidSampling`] for a rate of 0 or above
    /// [`MAX_SAMPLE`](crate::sampling::MAX_SAMPLE); what [`Registry::lookup`] returns for
    /// an unknown plugin.
    pub fn set_sampling(&self, plugin: &str, every: Option<u32>) -> Result<(), RegistryError> {
        let every = check_sampling(every)?;
        let d = self.lookup(plugin)?.descriptor();
        crate::core::plugin_cells::of(d).sampling.set_plugin(every);
        site::apply_sampling(Some(d));
        Ok(())
    }

    /// As [`Registry::set_sampling`], for the instance `instance` of `plugin` alone
    /// (loaded or not yet: the setting waits for it); `None` goes back to the plugin's.
    ///
    /// # Errors
    /// As [`Registry::set_sampling`], and [`RegistryError::InvalidInstanceName`] for a
    /// name no instance can have, [`RegistryError::TooManyInstances`] when the plugin
    /// has used up its instance names.
    pub fn set_instance_sampling(
        &self,
        plugin: &str,
        instance: &str,
        every: Option<u32>,
    ) -> Result<(), RegistryError> {
        let every = check_sampling(every)?;
        let (d, cells, slot) = self.instance_slot(plugin, instance)?;
        cells.sampling.set_instance(slot, every);
        site::apply_sampling(Some(d));
        Ok(())
    }

    /// Times one call in `every` of each operation, in the whole process, that neither
    /// declares `sample = N` nor has a setting of its plugin or instance; `None`: every
    /// call (the default). Applies from the next call.
    ///
    /// # Errors
    /// [`RegistryError::InvalidSampling`] for a rate of 0 or above
    /// [`MAX_SAMPLE`](crate::sampling::MAX_SAMPLE).
    pub fn set_default_sampling(every: Option<u32>) -> Result<(), RegistryError> {
        crate::core::sampling::set_default(check_sampling(every)?);
        site::apply_sampling(None);
        Ok(())
    }

    /// Changes the circuit breakers of every operation of `plugin` that declares one
    /// (`#[instrumented(breaker)]`), on all its instances but those with a setting of
    /// their own: `Some(settings)` replaces the declared settings, `None` turns them off
    /// (calls always go through; the breaker series end). A breaker keeps its state;
    /// one turned back on starts closed. See [`breaker`](crate::breaker).
    ///
    /// ```
    /// use std::time::Duration;
    /// use plugobs_runtime::breaker::{BreakerSettings, Trip};
    /// # let registry = plugobs_runtime::registry();
    /// # let Some(plugin) = registry.plugins().next().map(|p| p.descriptor().name) else { return Ok(()) };
    /// registry.set_breaker(plugin, Some(BreakerSettings {
    ///     trip: Trip::Consecutive(5),
    ///     open_for: Duration::from_secs(10),
    ///     probes: 2,
    /// }))?;
    /// registry.set_breaker(plugin, None)?; // off
    /// # Ok::<(), plugobs_runtime::RegistryError>(())
    /// ```
    ///
    /// # Errors
    /// [`RegistryError::InvalidBreaker`] for settings out of range; what
    /// [`Registry::lookup`] returns for an unknown plugin.
    pub fn set_breaker(
        &self,
        plugin: &str,
        settings: Option<BreakerSettings>,
    ) -> Result<(), RegistryError> {
        check_breaker(settings)?;
        let d = self.lookup(plugin)?.descriptor();
        crate::core::plugin_cells::of(d)
            .breakers
            .set_plugin(BreakerOverride::replace(settings));
        site::apply_breakers(d);
        Ok(())
    }

    /// As [`Registry::set_breaker`], for the instance `instance` of `plugin` alone (loaded
    /// or not yet: the setting waits for it).
    ///
    /// # Errors
    /// As [`Registry::set_breaker`], and [`RegistryError::InvalidInstanceName`] for a name
    /// no instance can have, [`RegistryError::TooManyInstances`] when the plugin has used
    /// up its instance names.
    pub fn set_instance_breaker(
        &self,
        plugin: &str,
        instance: &str,
        settings: Option<BreakerSettings>,
    ) -> Result<(), RegistryError> {
        check_breaker(settings)?;
        let (d, cells, slot) = self.instance_slot(plugin, instance)?;
        cells
            .breakers
            .set_instance(slot, BreakerOverride::replace(settings));
        site::apply_breakers(d);
        Ok(())
    }

    /// Applies an instance's configured breaker settings (its section's `breaker` value).
    #[cfg(feature = "serde")]
    pub(crate) fn configure_instance_breaker(
        &self,
        plugin: &str,
        instance: &str,
        settings: BreakerOverride,
    ) -> Result<(), RegistryError> {
        // Checked on the defaults: the override's own values must be in range.
        if let Some(Err(message)) = settings
            .apply(BreakerSettings::DEFAULT)
            .map(|s| s.validate())
        {
            return Err(RegistryError::InvalidBreaker { message });
        }
        let (d, cells, slot) = self.instance_slot(plugin, instance)?;
        cells.breakers.set_instance(slot, settings);
        site::apply_breakers(d);
        Ok(())
    }

    /// The plugin `plugin`, its run-time cells, and the slot of its instance `instance`
    /// (0 for the default instance, named after the plugin), claimed on first use: where
    /// the host's per-instance settings go.
    fn instance_slot(
        &self,
        plugin: &str,
        instance: &str,
    ) -> Result<
        (
            &'static PluginDescriptor,
            &'static crate::core::plugin_cells::PluginCells,
            usize,
        ),
        RegistryError,
    > {
        let d = self.lookup(plugin)?.descriptor();
        let valid =
            InstanceName::new(instance).map_err(|error| RegistryError::InvalidInstanceName {
                name: instance.to_owned(),
                error,
            })?;
        let cells = crate::core::plugin_cells::of(d);
        let slot = if valid.as_str() == d.name {
            0
        } else {
            cells.instances.slot_for(valid.as_str())?
        };
        Ok((d, cells, slot))
    }

    /// Checks `name` and claims the record of the instance `name` of `plugin` for a
    /// load: created on first use, reused when that instance was loaded before and has
    /// ended (its series go on).
    pub(crate) fn claim_instance(
        &self,
        plugin: &Arc<PluginRecord>,
        name: &str,
    ) -> Result<Arc<PluginRecord>, RegistryError> {
        let valid =
            InstanceName::new(name).map_err(|error| RegistryError::InvalidInstanceName {
                name: name.to_owned(),
                error,
            })?;
        let name = valid.as_str();
        let _naming = self.naming.lock().unwrap_or_else(|e| e.into_inner());
        // Every plugin's default instance holds the plugin's name (also one taken twice).
        let plugin_named = self.find(name).map(|r| r.descriptor().name).or_else(|| {
            self.problems.iter().find_map(|p| match p {
                RegistryError::DuplicateName { name: n, .. } if *n == name => Some(*n),
                _ => None,
            })
        });
        if let Some(by) = plugin_named {
            return Err(RegistryError::InstanceTaken {
                instance: name.to_owned(),
                by,
                live: false,
            });
        }
        for other in self.records_arc() {
            if Arc::ptr_eq(other, plugin) {
                continue;
            }
            if other
                .configured_instances()
                .iter()
                .any(|c| c.instance() == name)
            {
                return Err(RegistryError::InstanceTaken {
                    instance: name.to_owned(),
                    by: other.descriptor().name,
                    live: false,
                });
            }
        }
        let table = &crate::core::plugin_cells::of(plugin.descriptor()).instances;
        let slot = table.slot_for(name)?;
        let record = plugin.configured_instance(name, || {
            Arc::new(PluginRecord::new_instance(plugin, table.name(slot), slot))
        });
        if !record.claim() {
            return Err(RegistryError::InstanceTaken {
                instance: name.to_owned(),
                by: plugin.descriptor().name,
                live: true,
            });
        }
        Ok(record)
    }

    /// The plugins of one kind, ordered by name.
    pub fn by_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a PluginRecord> + 'a {
        self.plugins().filter(move |r| r.descriptor().kind == kind)
    }

    /// How many plugins are registered: linked in, and registered at run time (not
    /// those unregistered since).
    pub fn len(&self) -> usize {
        let runtime = self.runtime.read().unwrap_or_else(|e| e.into_inner());
        self.records.len() + runtime.by_name.len()
    }

    /// Whether no plugin is registered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How long the discovery of the plugins linked in took.
    pub fn discovery_duration(&self) -> Duration {
        self.discovery_time
    }

    /// Registers the run-time plugin `descriptor` (leaked by the caller, once per
    /// registration) with a record of its own. Its name must be free: no plugin linked in
    /// nor registered at run time has it, and no configured instance is named so.
    pub(crate) fn add_runtime(
        &self,
        descriptor: &'static PluginDescriptor,
    ) -> Result<&'static Arc<PluginRecord>, RegistryError> {
        let name = descriptor.name;
        let _naming = self.naming.lock().unwrap_or_else(|e| e.into_inner());
        let taken = self
            .find(name)
            .map(|r| r.descriptor().location)
            .or_else(|| {
                self.problems.iter().find_map(|p| match p {
                    RegistryError::DuplicateName { name: n, first, .. } if *n == name => {
                        Some(*first)
                    }
                    _ => None,
                })
            });
        if let Some(first) = taken {
            return Err(RegistryError::DuplicateName {
                name,
                first,
                second: descriptor.location,
            });
        }
        for other in self.records_arc() {
            if other
                .configured_instances()
                .iter()
                .any(|c| c.instance() == name)
            {
                return Err(RegistryError::InstanceTaken {
                    instance: name.to_owned(),
                    by: other.descriptor().name,
                    live: false,
                });
            }
        }
        let record: &'static Arc<PluginRecord> =
            Box::leak(Box::new(Arc::new(PluginRecord::new(descriptor))));
        let mut runtime = self.runtime.write().unwrap_or_else(|e| e.into_inner());
        runtime.all.push(record);
        runtime.by_name.insert(name, record);
        Ok(record)
    }

    /// Unregisters the run-time plugin of `record`: its name is free again, its series
    /// are no longer exported, and its record says so. Refused while an instance of it is
    /// live.
    pub(crate) fn remove_runtime(&self, record: &Arc<PluginRecord>) -> Result<(), RegistryError> {
        let d = record.descriptor();
        let _naming = self.naming.lock().unwrap_or_else(|e| e.into_inner());
        if record.is_unregistered() {
            return Err(RegistryError::Unregistered { plugin: d.name });
        }
        let live = record.live_instances()
            + record
                .configured_instances()
                .iter()
                .map(|c| c.live_instances())
                .sum::<usize>();
        if live > 0 {
            return Err(RegistryError::PluginInUse {
                plugin: d.name,
                live,
            });
        }
        let mut runtime = self.runtime.write().unwrap_or_else(|e| e.into_inner());
        if runtime
            .by_name
            .get(d.name)
            .is_some_and(|r| Arc::ptr_eq(r, record))
        {
            runtime.by_name.remove(d.name);
        }
        record.mark_unregistered();
        for instance in record.configured_instances() {
            instance.mark_unregistered();
        }
        Ok(())
    }

    /// The record of the directory `source` (as configured), created on first use.
    pub(crate) fn directory(&self, source: &str) -> &'static DirectorySource {
        let mut sources = self.sources.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = sources.iter().find(|s| s.source == source) {
            return found;
        }
        let created: &'static DirectorySource = Box::leak(Box::new(DirectorySource {
            source: Box::leak(source.to_owned().into_boxed_str()),
            durations: Histogram::default(),
            failures: Default::default(),
            plugins: AtomicU64::new(0),
            last_nanos: AtomicU64::new(0),
        }));
        sources.push(created);
        created
    }

    /// Every directory discovered at run time, in the order first seen.
    pub(crate) fn directories(&self) -> Vec<&'static DirectorySource> {
        self.sources
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The problems found: at discovery, two plugins with one name
    /// ([`RegistryError::DuplicateName`]); once their functions have been called, two
    /// different functions recording under one (plugin, operation) pair, whose calls are
    /// summed into one series ([`RegistryError::MergedOperation`], also logged as a WARN
    /// event when the second is first called).
    ///
    /// # Errors
    /// The problem, or [`RegistryError::Many`] when there are several.
    pub fn check(&self) -> Result<(), RegistryError> {
        self.attach_sites();
        let mut problems = self.problems.clone();
        for record in self.plugins() {
            record.with_operations(|ops| {
                for op in ops {
                    let places = op.places();
                    if places.len() > 1 {
                        problems.push(RegistryError::MergedOperation {
                            plugin: record.descriptor().name,
                            operation: op.name(),
                            places,
                        });
                    }
                }
            });
        }
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(RegistryError::Many(problems)),
        }
    }

    /// Checks that every name in `names` is registered, once.
    ///
    /// `inventory` only sees crates the final binary links, and the linker drops a crate
    /// nothing references. A plugin crate the host only depends on in `Cargo.toml` can
    /// therefore vanish without a sound; call this at start-up with the plugins you ship,
    /// and reference each plugin crate from the host (`use my_plugins as _;`).
    ///
    /// # Errors
    /// [`RegistryError::Missing`] with the missing names, in the order given;
    /// [`RegistryError::DuplicateName`] for an expected name that two plugins share (they
    /// are left out of the registry); [`RegistryError::Many`] when there are several of
    /// these problems (the missing names first, then the duplicates in the order given).
    pub fn expect_plugins(&self, names: &[&str]) -> Result<(), RegistryError> {
        let mut missing = Vec::new();
        let mut duplicated = Vec::new();
        for name in names {
            match self.lookup_arc(name) {
                Ok(_) => {}
                Err(RegistryError::UnknownPlugin { name }) => missing.push(name),
                Err(RegistryError::Many(all)) => duplicated.extend(all),
                Err(other) => duplicated.push(other),
            }
        }
        let mut problems = Vec::new();
        if !missing.is_empty() {
            tracing::error!(missing = ?missing, "expected plugins are not registered");
            problems.push(RegistryError::Missing { names: missing });
        }
        for problem in &duplicated {
            tracing::error!(error = %problem, "an expected plugin name is taken twice");
        }
        problems.extend(duplicated);
        match problems.len() {
            0 => Ok(()),
            1 => Err(problems.remove(0)),
            _ => Err(RegistryError::Many(problems)),
        }
    }
}

/// Whether a plugin's default instance was ever used: loaded, failed or called.
pub(crate) fn default_in_use(record: &PluginRecord) -> bool {
    record.state() != crate::model::state::PluginState::Registered
        || record.total_failures() > 0
        || record.with_operations(|ops| ops.iter().any(|o| o.called_by(0)))
}

/// Checks breaker settings.
fn check_breaker(settings: Option<BreakerSettings>) -> Result<(), RegistryError> {
    match settings.map(|s| s.validate()) {
        Some(Err(message)) => Err(RegistryError::InvalidBreaker { message }),
        _ => Ok(()),
    }
}

/// A sampling rate, checked: 1 ..= [`MAX_SAMPLE`](crate::sampling::MAX_SAMPLE).
fn check_sampling(every: Option<u32>) -> Result<Option<u32>, RegistryError> {
    match every {
        Some(n) if n == 0 || n > crate::model::sampling::MAX_SAMPLE => {
            Err(RegistryError::InvalidSampling { every: n })
        }
        other => Ok(other),
    }
}

/// Whether instance `record` recorded anything of its own — custom metrics, CPU time,
/// allocated or freed bytes. A default instance never loaded nor called keeps its row and
/// its series when it has (work done outside any instance's scope, say).
pub(crate) fn has_own_figures(record: &PluginRecord) -> bool {
    let d = record.descriptor();
    let slot = record.slot();
    crate::telemetry::custom::of(d, slot)
        .iter()
        .any(|m| m.each_series().next().is_some())
        || !crate::core::cpu::of(d, slot).is_empty()
        || record
            .running()
            .bytes()
            .is_some_and(|(a, f)| a > 0 || f > 0)
}

/// Every descriptor linked into this binary, in `inventory`'s (unspecified) order.
pub(crate) fn linked_descriptors() -> impl Iterator<Item = &'static PluginDescriptor> {
    inventory::iter::<crate::model::descriptor::Registration>
        .into_iter()
        .map(|r| r.0)
}
