//! One plugin's live record: state, transition and failure counts, lifecycle timings.
//!
//! Records are written by the lifecycle and read by stats and the bridge. Counters are
//! atomics; the few timestamps sit behind a mutex that is only taken on lifecycle steps.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use crate::cells::Histogram;
use crate::descriptor::PluginDescriptor;
use crate::error::{FailureReason, HookError};
use crate::site::ResolvedSite;
use crate::snapshot::Operation;
use crate::state::{PluginState, Stage};

const STATES: usize = PluginState::ALL.len();
const STAGES: usize = Stage::ALL.len();
const REASONS: usize = FailureReason::ALL.len();

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
    #[cfg_attr(feature = "serde", serde(with = "crate::stats::unix_seconds"))]
    pub at: SystemTime,
}

#[derive(Default)]
pub(crate) struct Timings {
    pub(crate) load: Option<Duration>,
    pub(crate) start: Option<Duration>,
    pub(crate) stop: Option<Duration>,
    pub(crate) loaded_at: Option<SystemTime>,
    pub(crate) last_failure: Option<Failure>,
}

/// The live record of one registered plugin.
pub struct PluginRecord {
    descriptor: &'static PluginDescriptor,
    state: AtomicU8,
    transitions: [[AtomicU64; STATES]; STATES],
    failures: [[AtomicU64; REASONS]; STAGES],
    durations: [Histogram; STAGES],
    timings: Mutex<Timings>,
    /// Bumped on every lifecycle event, so exporters can skip an unchanged plugin.
    generation: AtomicU64,
    /// Its instrumented operations, by name; each groups the call sites recorded under
    /// that name.
    operations: Mutex<Vec<Operation>>,
}

impl std::fmt::Debug for PluginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginRecord")
            .field("name", &self.descriptor.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl PluginRecord {
    pub(crate) fn new(descriptor: &'static PluginDescriptor) -> Self {
        PluginRecord {
            descriptor,
            state: AtomicU8::new(PluginState::Registered.index() as u8),
            transitions: Default::default(),
            failures: Default::default(),
            durations: Default::default(),
            timings: Mutex::new(Timings::default()),
            generation: AtomicU64::new(0),
            operations: Mutex::new(Vec::new()),
        }
    }

    /// The static metadata.
    pub fn descriptor(&self) -> &'static PluginDescriptor {
        self.descriptor
    }

    /// The current state.
    pub fn state(&self) -> PluginState {
        PluginState::from_index(self.state.load(Relaxed) as usize)
    }

    /// Moves to `to`, counting and logging the transition. Returns the previous state.
    pub(crate) fn transition(&self, to: PluginState) -> PluginState {
        let from = PluginState::from_index(self.state.swap(to.index() as u8, Relaxed) as usize);
        self.generation.fetch_add(1, Relaxed);
        self.transitions[from.index()][to.index()].fetch_add(1, Relaxed);
        tracing::info!(
            plugin.name = self.descriptor.name,
            plugin.kind = self.descriptor.kind,
            from = from.as_str(),
            to = to.as_str(),
            "plugin state changed"
        );
        from
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
            Ok(i) => ops[i].add_site(site),
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
            Stage::Load => {
                t.load = Some(elapsed);
                t.loaded_at = Some(SystemTime::now());
            }
            Stage::Start => t.start = Some(elapsed),
            Stage::Stop => t.stop = Some(elapsed),
        }
    }

    /// Records a failure of `stage` and moves to `Failed`.
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
        self.transition(PluginState::Failed);
    }
}
