//! One plugin instance's live record: state, transition and failure counts, lifecycle
//! timings, health. What it keeps and how its state is derived is documented on
//! [`PluginRecord`].

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::core::cells::Histogram;
use crate::core::site::ResolvedSite;
use crate::core::snapshot::{Operation, OperationSnapshot};
use crate::model::descriptor::PluginDescriptor;
use crate::model::error::{Failure, FailureReason, HookError};
use crate::model::health::{CheckReason, Health, HealthStatus};
use crate::model::state::{PluginState, Stage};
use crate::record::health::HealthState;
use crate::record::history::{History, Sample};
use crate::record::timeline::Timeline;

const STATES: usize = PluginState::ALL.len();
const STAGES: usize = Stage::ALL.len();
const REASONS: usize = FailureReason::ALL.len();

#[derive(Default)]
pub(crate) struct Timings {
    pub(crate) load: Option<Duration>,
    pub(crate) start: Option<Duration>,
    pub(crate) stop: Option<Duration>,
    pub(crate) loaded_at: Option<SystemTime>,
    pub(crate) last_failure: Option<Failure>,
}

/// Where one live instance is in its lifecycle, as far as the plugin's state goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Live {
    /// Being constructed: not yet counted.
    Constructing,
    /// Constructed, its start hook not finished.
    Loaded,
    /// Started, not yet stopped or dropped.
    Running,
}

/// Whether a state-change event needs to name its plugin, or runs inside a lifecycle span
/// that already does (`plugin.name`, `plugin.kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Identity {
    /// Inside the step's span.
    InSpan,
    /// Outside any plugobs span: the event carries the plugin's fields itself.
    InEvent,
}

/// The plugin's live instances and how the last one ended; see the module docs.
#[derive(Debug)]
struct Instances {
    loaded: usize,
    running: usize,
    last_end: PluginState,
    /// The reported health status, which refines `Running`.
    health: HealthStatus,
}

impl Instances {
    fn state(&self) -> PluginState {
        if self.running > 0 {
            match self.health {
                HealthStatus::Degraded => PluginState::Degraded,
                HealthStatus::Unhealthy => PluginState::Unhealthy,
                HealthStatus::Healthy | HealthStatus::Unknown => PluginState::Running,
            }
        } else if self.loaded > 0 {
            PluginState::Loaded
        } else {
            self.last_end
        }
    }

    fn leave(&mut self, from: Live) {
        match from {
            Live::Constructing => {}
            Live::Loaded => self.loaded = self.loaded.saturating_sub(1),
            Live::Running => self.running = self.running.saturating_sub(1),
        }
    }
}

/// The live record of one instance of a registered plugin.
///
/// One plugin instance's live record: state, transition and failure counts, lifecycle
/// timings, health.
///
/// Every plugin has the record of its *default instance*, named after the plugin: what
/// [`Registry::get`](crate::Registry::get) returns, what loading without an instance name
/// ([`Registry::load`](crate::Registry::load)) and calls on values the host built itself
/// count under. Each instance loaded by name ([`Registry::load_instance`](crate::Registry::load_instance))
/// has a record of its own, listed by [`PluginRecord::configured_instances`] of the
/// default one; everything below holds per record, and each record's series carry its
/// [`instance`](PluginRecord::instance) label. The operations of all a plugin's instances
/// are kept together, each instance with its own counts.
///
/// Records are written by the lifecycle and read by stats and the bridge. Counters are
/// atomics; the few timestamps sit behind a mutex that is only taken on lifecycle steps.
///
/// # One state per instance, derived from its live values
///
/// A plugin's default instance can be loaded more than once (as two trait objects it
/// provides, or twice as one), and each [`Loaded`](crate::Loaded) value has its own
/// lifecycle; an instance loaded by name has at most one live value at a time. The
/// record's [`state`](PluginRecord::state) — what `stats()` and `plugobs_plugins{state}`
/// report — is derived from its live values:
///
/// - `Running` while at least one value is started and not yet stopped or dropped — or
///   `Degraded` / `Unhealthy` while the instance's reported health says so (see
///   [`health`](crate::health)); a health change moves it between the three, counted and
///   logged like every transition, and once no value runs its health is unknown again;
/// - otherwise `Loaded` while at least one value is constructed and starting;
/// - otherwise how the last value ended: `Stopped` (stopped or dropped) or `Failed` (its
///   constructor or a hook failed); `Registered` before any value existed.
///
/// So an instance is never reported stopped (or failed) while a value of it still runs:
/// stopping one of two running values leaves it `Running`, and a failed second load of a
/// running plugin is counted in `plugobs_plugin_load_failures_total` and shown as its
/// last failure, but does not move it to `Failed`. A state transition is counted (and
/// logged) when this derived state changes, and also when a value ends while no other
/// one is live (so a second failed load of a failed plugin counts `failed → failed`).
pub struct PluginRecord {
    descriptor: &'static PluginDescriptor,
    /// The `instance` label: the plugin's name for its default instance.
    instance: &'static str,
    /// The instance's slot in its plugin's operation cells (0 for the default instance).
    slot: usize,
    /// The records of the instances loaded by name, ordered by name (on the default
    /// record only).
    configured: Mutex<Vec<Arc<PluginRecord>>>,
    /// A named instance is being loaded or is live: its name cannot be loaded again
    /// until it ends.
    claimed: AtomicBool,
    /// A plugin registered at run time, unregistered since: its series end.
    unregistered: AtomicBool,
    state: AtomicU8,
    instances: Mutex<Instances>,
    transitions: [[AtomicU64; STATES]; STATES],
    failures: [[AtomicU64; REASONS]; STAGES],
    durations: [Histogram; STAGES],
    timings: Mutex<Timings>,
    /// Bumped on every lifecycle event, so exporters can skip an unchanged plugin.
    generation: AtomicU64,
    /// Its plugin's instrumented operations, by name, shared by all its instances; each
    /// groups the call sites recorded under that name.
    operations: Arc<Mutex<Vec<Operation>>>,
    /// Its health: checked instances, last result, counters.
    health: HealthState,
    /// Samples of its operation totals over time, for the policy and the busy ratio.
    history: Mutex<History>,
    /// Its recent past for people: a point per history interval.
    timeline: Mutex<Timeline>,
}

impl std::fmt::Debug for PluginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRecord")
            .field("name", &self.descriptor.name)
            .field("instance", &self.instance)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl PluginRecord {
    /// The record of a plugin's default instance.
    pub(crate) fn new(descriptor: &'static PluginDescriptor) -> Self {
        Self::with_instance(descriptor, descriptor.name, 0, Arc::default())
    }

    /// The record of the instance `instance` (slot `slot`) of the plugin whose default
    /// record is `default`.
    pub(crate) fn new_instance(
        default: &PluginRecord,
        instance: &'static str,
        slot: usize,
    ) -> Self {
        Self::with_instance(
            default.descriptor,
            instance,
            slot,
            Arc::clone(&default.operations),
        )
    }

    fn with_instance(
        descriptor: &'static PluginDescriptor,
        instance: &'static str,
        slot: usize,
        operations: Arc<Mutex<Vec<Operation>>>,
    ) -> Self {
        PluginRecord {
            descriptor,
            instance,
            slot,
            configured: Mutex::new(Vec::new()),
            claimed: AtomicBool::new(false),
            unregistered: AtomicBool::new(false),
            state: AtomicU8::new(PluginState::Registered.index() as u8),
            instances: Mutex::new(Instances {
                loaded: 0,
                running: 0,
                last_end: PluginState::Registered,
                health: HealthStatus::Unknown,
            }),
            transitions: Default::default(),
            failures: Default::default(),
            durations: Default::default(),
            timings: Mutex::new(Timings::default()),
            generation: AtomicU64::new(0),
            operations,
            health: HealthState::default(),
            history: Mutex::new(History::default()),
            timeline: Mutex::new(Timeline::default()),
        }
    }

    /// The static metadata.
    pub fn descriptor(&self) -> &'static PluginDescriptor {
        self.descriptor
    }

    /// The instance's name: its `instance` label. The plugin's name for its default
    /// instance.
    pub fn instance(&self) -> &'static str {
        self.instance
    }

    /// Whether this plugin was registered at run time and unregistered since
    /// ([`RuntimePlugin::unregister`](crate::RuntimePlugin::unregister)): its record is
    /// kept with its final figures, its series are no longer exported.
    pub fn is_unregistered(&self) -> bool {
        self.unregistered.load(Relaxed)
    }

    /// Marks the record unregistered.
    pub(crate) fn mark_unregistered(&self) {
        self.unregistered.store(true, Relaxed);
        self.generation.fetch_add(1, Relaxed);
    }

    /// Whether this is the plugin's default instance (see [`crate::model::instance`]).
    pub fn is_default_instance(&self) -> bool {
        self.slot == 0
    }

    /// The instance's slot in its plugin's operation cells.
    pub(crate) fn slot(&self) -> usize {
        self.slot
    }

    /// The instance as the code running on a thread sees it: who it is, the bytes its
    /// code allocated.
    pub(crate) fn running(&self) -> &'static crate::core::running::Running {
        crate::core::plugin_cells::of(self.descriptor())
            .instances
            .running(self.slot)
    }

    /// The records of the plugin's instances loaded by name, ordered by name; empty for
    /// a plugin never loaded by name, and on the record of a named instance itself.
    pub fn configured_instances(&self) -> Vec<Arc<PluginRecord>> {
        self.configured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The record of the configured instance `name`, added by `add` when missing.
    pub(crate) fn configured_instance(
        &self,
        name: &str,
        add: impl FnOnce() -> Arc<PluginRecord>,
    ) -> Arc<PluginRecord> {
        let mut all = self.configured.lock().unwrap_or_else(|e| e.into_inner());
        match all.binary_search_by(|r| r.instance.cmp(name)) {
            Ok(i) => Arc::clone(&all[i]),
            Err(i) => {
                let record = add();
                all.insert(i, Arc::clone(&record));
                record
            }
        }
    }

    /// Claims this named instance for a load; `false` while it is already claimed (being
    /// loaded, or live).
    pub(crate) fn claim(&self) -> bool {
        !self.claimed.swap(true, Relaxed)
    }

    /// Releases the claim without loading (the load did not get as far as constructing).
    pub(crate) fn release(&self) {
        self.claimed.store(false, Relaxed);
    }

    /// The snapshots of the operations this instance called, ordered by name.
    pub(crate) fn operation_snapshots(&self) -> Vec<OperationSnapshot> {
        self.with_operations(|ops| {
            ops.iter()
                .filter(|o| o.called_by(self.slot))
                .map(|o| o.snapshot(self.slot))
                .collect()
        })
    }

    /// Takes a point of this instance's history at `at` (see `record::timeline`).
    pub(crate) fn record_history(&self, at: SystemTime) {
        let status = self.health().status;
        let snapshots = self.operation_snapshots();
        self.timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(at, status, &snapshots);
    }

    /// This instance's recent past: a point per history interval, the last 15 minutes.
    pub fn history(&self) -> crate::model::history::InstanceHistory {
        let d = self.descriptor;
        self.timeline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .read(d.name, self.instance, d.kind)
    }

    /// The current state, derived from the instance's live values (see [`PluginRecord`]).
    pub fn state(&self) -> PluginState {
        PluginState::from_index(self.state.load(Relaxed) as usize)
    }

    /// How many instances of this plugin are started and not yet stopped or dropped.
    pub fn running_instances(&self) -> usize {
        self.instances().running
    }

    /// How many instances of this plugin are constructed and not yet ended: starting or
    /// running.
    pub fn live_instances(&self) -> usize {
        let i = self.instances();
        i.loaded + i.running
    }

    fn instances(&self) -> MutexGuard<'_, Instances> {
        // Plain counters, consistent even if a panic poisoned the lock.
        self.instances.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An instance was constructed.
    pub(crate) fn instance_loaded(&self) {
        self.timings().loaded_at = Some(SystemTime::now());
        self.settle(Identity::InSpan, None, |i| i.loaded += 1);
    }

    /// An instance's start hook finished.
    pub(crate) fn instance_started(&self) {
        self.settle(Identity::InSpan, None, |i| {
            i.leave(Live::Loaded);
            i.running += 1;
        });
    }

    /// An instance ended at `from`: stopped or dropped (`Stopped`), or failed (`Failed`).
    /// When no instance runs any more, the plugin's health is unknown again.
    pub(crate) fn instance_ended(&self, from: Live, end: PluginState, identity: Identity) {
        let mut none_running = false;
        let mut none_live = false;
        self.settle(identity, Some(end), |i| {
            i.leave(from);
            i.last_end = end;
            if i.running == 0 {
                i.health = HealthStatus::Unknown;
                none_running = true;
            }
            none_live = i.running == 0 && i.loaded == 0;
        });
        if none_live && !self.is_default_instance() {
            self.release();
        }
        if none_running {
            self.health.reset();
        }
    }

    /// The plugin's health record.
    pub(crate) fn health_state(&self) -> &HealthState {
        &self.health
    }

    /// The plugin's health as last reported (after the monitor's thresholds): `Unknown`
    /// until a round checked it, and again once no instance runs.
    pub fn health(&self) -> Health {
        self.health.lock().reported.clone()
    }

    /// How many health checks failed for `reason`.
    pub fn health_check_failures(&self, reason: CheckReason) -> u64 {
        self.health.failures(reason)
    }

    /// A round judged this plugin; `reported` is its status after the thresholds, which
    /// was `previous` before. A change of status moves the lifecycle state between
    /// `running`, `degraded` and `unhealthy` (counted and logged like every transition),
    /// with a WARN event when the plugin gets worse and an INFO one when it gets better.
    pub(crate) fn health_updated(&self, previous: HealthStatus, reported: &Health) {
        self.generation.fetch_add(1, Relaxed);
        let to = reported.status;
        if previous == to {
            return;
        }
        self.settle(Identity::InEvent, None, |i| {
            if i.running > 0 {
                i.health = to;
            }
        });
        let d = self.descriptor;
        // One event, at WARN when the instance got worse and INFO otherwise (tracing's
        // levels are part of each callsite, so the event is written once per level).
        macro_rules! changed {
            ($level:ident) => {
                tracing::$level!(
                    plugin.name = d.name,
                    plugin.kind = d.kind,
                    plugin.instance = self.instance,
                    from = previous.as_str(),
                    to = to.as_str(),
                    health.message = reported.message.as_str(),
                    "plugin health changed"
                )
            };
        }
        if to.severity() > previous.severity() && to != HealthStatus::Unknown {
            changed!(warn);
        } else {
            changed!(info);
        }
    }

    /// Applies one instance's change and moves the plugin to the state derived from its
    /// instances, counting and logging the transition; see the module docs.
    fn settle(
        &self,
        identity: Identity,
        end: Option<PluginState>,
        change: impl FnOnce(&mut Instances),
    ) {
        let mut instances = self.instances();
        let from = instances.state();
        change(&mut instances);
        let to = instances.state();
        let none_live = instances.loaded == 0 && instances.running == 0;
        if from == to && !(end.is_some() && none_live) {
            return;
        }
        self.state.store(to.index() as u8, Relaxed);
        self.generation.fetch_add(1, Relaxed);
        self.transitions[from.index()][to.index()].fetch_add(1, Relaxed);
        drop(instances);
        match identity {
            Identity::InSpan => tracing::info!(
                from = from.as_str(),
                to = to.as_str(),
                "plugin state changed"
            ),
            Identity::InEvent => tracing::info!(
                plugin.name = self.descriptor.name,
                plugin.kind = self.descriptor.kind,
                plugin.instance = self.instance,
                from = from.as_str(),
                to = to.as_str(),
                "plugin state changed"
            ),
        }
    }

    /// Marks the plugin changed for exporters (a health check returned late, say).
    pub(crate) fn touch(&self) {
        self.generation.fetch_add(1, Relaxed);
    }

    /// A number that changes on every lifecycle event of this plugin.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Relaxed)
    }

    /// How many times the plugin went from `from` to `to`.
    pub fn transitions(&self, from: PluginState, to: PluginState) -> u64 {
        self.transitions[from.index()][to.index()].load(Relaxed)
    }

    /// How many times `stage` failed for `reason`.
    pub fn failures(&self, stage: Stage, reason: FailureReason) -> u64 {
        self.failures[stage.index()][reason.index()].load(Relaxed)
    }

    /// All failures of every stage.
    pub fn total_failures(&self) -> u64 {
        self.failures
            .iter()
            .flatten()
            .map(|c| c.load(Relaxed))
            .sum()
    }

    /// The duration histogram of a stage.
    pub(crate) fn durations(&self, stage: Stage) -> &Histogram {
        &self.durations[stage.index()]
    }

    /// Adds a call site of one of this plugin's operations (grouped by operation name).
    pub(crate) fn attach(&self, site: &'static ResolvedSite) {
        let mut ops = self.operations.lock().unwrap_or_else(|e| e.into_inner());
        match ops.binary_search_by(|o| o.name().cmp(site.operation())) {
            Ok(i) => {
                if ops[i].add_site(site) {
                    let places = ops[i].places();
                    tracing::warn!(
                        plugin.name = self.descriptor().name,
                        operation = site.operation(),
                        places = %places.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                        "two functions record under one operation name: their calls are summed into one series (see Registry::check)"
                    );
                }
            }
            Err(i) => ops.insert(i, Operation::new(site)),
        }
    }

    /// Calls `f` with each of this plugin's operations, ordered by name.
    pub(crate) fn with_operations<T>(&self, f: impl FnOnce(&[Operation]) -> T) -> T {
        f(&self.operations.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn timings(&self) -> MutexGuard<'_, Timings> {
        // A poisoned lock only means a panic happened while a lifecycle step held it; the
        // data is plain values and still consistent.
        self.timings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that `stage` took `elapsed`.
    pub(crate) fn record_duration(&self, stage: Stage, elapsed: Duration) {
        self.durations[stage.index()].record(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
        self.generation.fetch_add(1, Relaxed);
        let mut t = self.timings();
        match stage {
            Stage::Load => t.load = Some(elapsed),
            Stage::Start => t.start = Some(elapsed),
            Stage::Stop => t.stop = Some(elapsed),
        }
    }

    /// Records a failure of `stage`; the instance it happened to has ended as `Failed`.
    pub(crate) fn record_failure(&self, stage: Stage, error: &HookError) {
        let reason = error.reason();
        self.failures[stage.index()][reason.index()].fetch_add(1, Relaxed);
        self.generation.fetch_add(1, Relaxed);
        self.timings().last_failure = Some(Failure {
            stage,
            reason,
            message: error.message().to_owned(),
            error_type: error.error_type(),
            at: SystemTime::now(),
        });
        let from = match stage {
            Stage::Load => Live::Constructing,
            Stage::Start => Live::Loaded,
            Stage::Stop => Live::Running,
        };
        self.instance_ended(from, PluginState::Failed, Identity::InSpan);
    }
}

impl PluginRecord {
    /// The samples of this instance's operation totals over time.
    pub(crate) fn samples(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The totals of this instance's operations at `at`: a sample of its history.
    pub(crate) fn sample(&self, at: std::time::Instant) -> Sample {
        self.with_operations(|ops| {
            let mut sample = Sample::zero(at);
            for op in ops {
                let s = op.snapshot(self.slot());
                sample.calls += s.calls;
                sample.failed += s.errors + s.panics;
                sample.busy_nanos = sample.busy_nanos.saturating_add(s.estimated_sum_nanos());
                sample.latency.merge(&s.latency);
            }
            sample
        })
    }
}
