//! One round of health checks: [`Registry::check_health`].
//!
//! Every plugin with a running instance is looked at. A plugin with a health hook has it
//! run on a worker thread (see `workers.rs`), timed, inside a `plugin.health_check` span;
//! a panic becomes `Unhealthy` with the panic message, a hook still running after the
//! timeout becomes `Unhealthy("timed out after …")`, and a plugin whose previous check
//! has not returned is not checked again (reported as timed out, still running). The
//! policy over the plugin's own operations ([`HealthPolicy`](crate::HealthPolicy)) is
//! judged for every plugin, hook or not; the result is the worse of both. The failure and
//! recovery thresholds then decide the status the plugin reports, which moves its
//! lifecycle state between `running`, `degraded` and `unhealthy`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::health::workers;
use crate::model::error::HookError;
use crate::model::health::{CheckReason, Health, HealthStatus};
use crate::plugin::traits::HealthTarget;
use crate::record::health::Begin;
use crate::record::plugin_record::PluginRecord;
use crate::registry::Registry;

/// How a round checks.
///
/// The defaults judge a single round on its own (thresholds 1 and 1): what a one-off
/// [`Registry::check_health`] or a probe endpoint wants. A
/// [`HealthMonitor`](crate::HealthMonitor) smooths over rounds instead (3 and 2 by
/// default). Both write the same per-plugin state, so a host that runs a monitor and
/// also calls `check_health_with` should pass the monitor's thresholds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    /// How long a hook may run, from the moment it starts on its worker. Default 2 s.
    pub timeout: Duration,
    /// Consecutive unhealthy results before a plugin is reported unhealthy. Default 1.
    pub failure_threshold: u32,
    /// Consecutive better results before an unhealthy or degraded plugin is reported
    /// better. Default 1.
    pub recovery_threshold: u32,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: Duration::from_secs(2),
            failure_threshold: 1,
            recovery_threshold: 1,
        }
    }
}

/// One plugin's part of a round.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct PluginCheck {
    /// The plugin's name.
    pub plugin: &'static str,
    /// The instance's name (the plugin's name for its default instance).
    pub instance: &'static str,
    /// Its kind.
    pub kind: &'static str,
    /// This round's result: the worse of the hook's and the policy's.
    pub result: Health,
    /// The status the plugin reports after the thresholds.
    pub status: HealthStatus,
    /// The status it reported before this round.
    pub previous: HealthStatus,
    /// How long the hook took, when it ran and returned in time.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub duration: Option<Duration>,
    /// Why the check failed, if it did.
    pub failure: Option<CheckReason>,
}

/// The result of one round.
#[derive(Clone, Debug, Default, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HealthReport {
    /// One entry per running instance, grouped by plugin (ordered by name).
    pub checks: Vec<PluginCheck>,
}

impl HealthReport {
    /// The entry of the instance `name`: a configured instance, or the default instance
    /// of the plugin `name`.
    pub fn get(&self, name: &str) -> Option<&PluginCheck> {
        self.checks.iter().find(|c| c.instance == name)
    }
}

/// What happened to one hook.
enum HookEnd {
    Returned(Health),
    Absent,
    Panicked(String),
}

#[derive(Default)]
struct Slot {
    started: Option<Instant>,
    done: Option<(HookEnd, Duration)>,
    given_up: bool,
    /// Still running after `workers::SLOW`: its thread no longer counts against the
    /// pool's limit (see `workers.rs`).
    released: bool,
}

/// The round's slots, shared with the jobs on the workers.
struct RoundShared {
    slots: Mutex<Vec<Slot>>,
    finished: Condvar,
}

impl RoundShared {
    fn lock(&self) -> MutexGuard<'_, Vec<Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How one plugin's hook ended, as the round saw it.
enum Seen {
    Hook(HookEnd, Duration),
    NoHook,
    TimedOut,
    NotStarted,
    /// The previous check outlived its timeout and still runs.
    Busy(Instant),
    /// Another round's check of this plugin is running, within its timeout.
    InProgress,
}

impl Registry {
    /// Runs one round of health checks with [`CheckOptions::default`]; see
    /// [`Registry::check_health_with`].
    pub fn check_health(&self) -> HealthReport {
        self.check_health_with(&CheckOptions::default())
    }

    /// Runs one round of health checks: every plugin with a running instance, its health
    /// hook (if any) run on a worker thread with `options.timeout`, the health policy
    /// judged over its operations, the thresholds applied. Returns once every hook has
    /// returned or timed out: a hook that never returns costs this call at most the
    /// timeout, and is not called again until it returns. Rounds may run at once (a
    /// monitor and a probe endpoint, say): a plugin whose hook another round is running,
    /// within its timeout, is left to that round and reported as it stands.
    ///
    /// ```
    /// let report = plugobs_runtime::registry().check_health();
    /// assert!(report.checks.iter().all(|c| c.failure.is_none()));
    /// ```
    pub fn check_health_with(&self, options: &CheckOptions) -> HealthReport {
        self.round(options, Instant::now(), None)
    }

    /// One round at `now` (the policy's clock); `cancel` stops waiting for hooks.
    pub(crate) fn round(
        &self,
        options: &CheckOptions,
        now: Instant,
        cancel: Option<&AtomicBool>,
    ) -> HealthReport {
        self.attach_sites();
        let began = Instant::now();
        let timeout = options.timeout;
        let running: Vec<Arc<PluginRecord>> = self
            .instances()
            .into_iter()
            .filter(|r| r.running_instances() > 0)
            .collect();
        let shared = Arc::new(RoundShared {
            slots: Mutex::new((0..running.len()).map(|_| Slot::default()).collect()),
            finished: Condvar::new(),
        });
        let queue_bound = timeout.saturating_mul(
            u32::try_from(running.len().div_ceil(workers::PARALLEL).max(1)).unwrap_or(u32::MAX),
        );
        let mut seen: Vec<Option<Seen>> = Vec::with_capacity(running.len());
        let mut spans = Vec::with_capacity(running.len());
        for (i, record) in running.iter().enumerate() {
            let d = record.descriptor();
            let span = tracing::info_span!(
                "plugin.health_check",
                plugin.name = d.name,
                plugin.kind = d.kind,
                plugin.instance = record.instance(),
                health.status = tracing::field::Empty,
                error.type = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
            );
            let wait_until = began + queue_bound + timeout;
            match record.health_state().begin(began, wait_until) {
                Begin::NoHook => seen.push(Some(Seen::NoHook)),
                Begin::Busy(since) if began.saturating_duration_since(since) < timeout => {
                    seen.push(Some(Seen::InProgress));
                }
                Begin::Busy(since) => seen.push(Some(Seen::Busy(since))),
                Begin::Check(target) => {
                    let job = job(
                        i,
                        timeout,
                        target,
                        Arc::clone(record),
                        span.clone(),
                        &shared,
                    );
                    match workers::submit(job) {
                        Ok(()) => seen.push(None),
                        Err(error) => {
                            tracing::error!(%error, "plugobs could not start a health check thread");
                            seen.push(Some(Seen::NotStarted));
                        }
                    }
                }
            }
            spans.push(span);
        }
        wait(&shared, &mut seen, began, timeout, queue_bound, cancel);
        if cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
            // A cancelled round did not happen: its checks were cut short, not failed.
            // Nothing is applied or counted; a hook that is still running finishes on
            // its worker and its result is dropped.
            return HealthReport::default();
        }

        let policies = self.health_policies();
        let mut report = HealthReport::default();
        for ((record, seen), span) in running.iter().zip(seen).zip(spans) {
            let d = record.descriptor();
            if record.running_instances() == 0 {
                // Stopped during the round: its result, if any, is dropped.
                continue;
            }
            let seen = seen.unwrap_or(Seen::NotStarted);
            let (result, previous, status, duration, failure) = if let Seen::InProgress = seen {
                // Another round is checking this plugin right now: that round applies
                // its result. This one reports the plugin as it stands, and changes
                // nothing, so concurrent rounds never flap a status.
                let inner = record.health_state().lock();
                let status = inner.reported.status;
                let result = inner.last.clone().unwrap_or_else(|| inner.reported.clone());
                (result, status, status, None, None)
            } else {
                let (hook, failure, duration) = judge_hook(seen, timeout, began);
                let policy = policies.for_plugin(d.name);
                let from_policy = policy
                    .evaluate(record, now)
                    .combine(crate::health::policy::breakers(record));
                let mut inner = record.health_state().lock();
                let result = hook.combine(from_policy);
                let failure = failure
                    .or((result.status == HealthStatus::Unhealthy)
                        .then_some(CheckReason::Unhealthy));
                inner.checked_at = Some(SystemTime::now());
                let (previous, status) = inner.apply(
                    result.clone(),
                    options.failure_threshold,
                    options.recovery_threshold,
                );
                let reported = inner.reported.clone();
                drop(inner);
                if let Some(reason) = failure {
                    record.health_state().count_failure(reason);
                    span.record("error.type", reason.as_str());
                    span.record("otel.status_code", "ERROR");
                }
                record.health_updated(previous, &reported);
                (result, previous, status, duration, failure)
            };
            span.record("health.status", result.status.as_str());
            report.checks.push(PluginCheck {
                plugin: d.name,
                instance: record.instance(),
                kind: d.kind,
                result,
                status,
                previous,
                duration,
                failure,
            });
        }
        report
    }
}

/// A plugin's check in flight, held by its job: however the job ends — run, skipped,
/// or dropped unrun (the pool could not start a thread) — the instance is let go of
/// first, then the plugin can be checked again.
struct InFlight {
    target: Option<Arc<dyn HealthTarget>>,
    record: Arc<PluginRecord>,
    took: Option<Duration>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        drop(self.target.take());
        self.record.health_state().end(self.took);
        if self.took.is_some() {
            self.record.touch();
        }
    }
}

/// The job that runs one hook on a worker.
fn job(
    index: usize,
    timeout: Duration,
    target: Arc<dyn HealthTarget>,
    record: Arc<PluginRecord>,
    span: tracing::Span,
    shared: &Arc<RoundShared>,
) -> Box<dyn FnOnce() + Send> {
    let shared = Arc::clone(shared);
    let mut in_flight = InFlight {
        target: Some(target),
        record,
        took: None,
    };
    Box::new(move || {
        {
            let mut slots = shared.lock();
            match slots.get_mut(index) {
                // The round stopped waiting before this check could start: skip it.
                None => return,
                Some(slot) if slot.given_up => return,
                Some(slot) => {
                    // Stopped while queued: nothing to check (the round sees it stopped).
                    let started = in_flight
                        .target
                        .as_ref()
                        .is_some_and(|t| in_flight.record.health_state().running(t, timeout));
                    if !started {
                        slot.done = Some((HookEnd::Absent, Duration::ZERO));
                        drop(slots);
                        shared.finished.notify_all();
                        return;
                    }
                    slot.started = Some(Instant::now());
                }
            }
        }
        // The round learns when this check began: it releases the check's place in the
        // pool if it runs past `workers::SLOW`.
        shared.finished.notify_all();
        let began = Instant::now();
        let hook = match &in_flight.target {
            // Its allocations are the plugin's (see `crate::telemetry::alloc`).
            Some(target) => span.in_scope(|| {
                crate::core::plugin_cells::within(in_flight.record.running(), || {
                    run_hook(&**target)
                })
            }),
            None => HookEnd::Absent,
        };
        let took = began.elapsed();
        in_flight.took = Some(took);
        drop(in_flight);
        let released = {
            let mut slots = shared.lock();
            match slots.get_mut(index) {
                Some(slot) => {
                    slot.done = Some((hook, took));
                    slot.released
                }
                None => false,
            }
        };
        shared.finished.notify_all();
        if released {
            workers::returned();
        }
    })
}

/// Runs a hook, sync or async, with panics caught.
fn run_hook(target: &dyn HealthTarget) -> HookEnd {
    match catch_unwind(AssertUnwindSafe(|| target.check_health())) {
        Err(payload) => HookEnd::Panicked(HookError::from_panic(&*payload).message().to_owned()),
        Ok(None) => HookEnd::Absent,
        Ok(Some(call)) => match call.block_caught() {
            Ok(health) => HookEnd::Returned(health),
            Err(error) => HookEnd::Panicked(error.message().to_owned()),
        },
    }
}

/// Waits until every submitted hook returned, timed out (`timeout` after it started), or
/// could not start within `queue_bound`; or until `cancel` is set.
fn wait(
    shared: &RoundShared,
    seen: &mut [Option<Seen>],
    began: Instant,
    timeout: Duration,
    queue_bound: Duration,
    cancel: Option<&AtomicBool>,
) {
    let mut slots = shared.lock();
    loop {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        for (i, entry) in seen.iter_mut().enumerate() {
            if entry.is_some() {
                continue;
            }
            let Some(slot) = slots.get_mut(i) else {
                *entry = Some(Seen::NotStarted);
                continue;
            };
            if let Some(done) = slot.done.take() {
                *entry = Some(match done.0 {
                    HookEnd::Absent => Seen::NoHook,
                    hook => Seen::Hook(hook, done.1),
                });
                continue;
            }
            let (deadline, on_expiry) = match slot.started {
                Some(started) => (started + timeout, Seen::TimedOut),
                None => (began + queue_bound, Seen::NotStarted),
            };
            let mut wake = deadline;
            if let Some(started) = slot.started {
                // A slow check gives its place in the pool to the next one at once.
                if !slot.released && now >= started + workers::SLOW {
                    slot.released = true;
                    workers::release();
                } else if !slot.released {
                    wake = wake.min(started + workers::SLOW);
                }
            }
            if now >= deadline || cancel.is_some_and(|c| c.load(Ordering::Acquire)) {
                slot.given_up = true;
                if slot.started.is_some() && !slot.released {
                    slot.released = true;
                    workers::release();
                }
                *entry = Some(on_expiry);
            } else {
                next = Some(next.map_or(wake, |n| n.min(wake)));
            }
        }
        let Some(next) = next else {
            return;
        };
        let mut sleep = next.saturating_duration_since(now);
        if cancel.is_some() {
            sleep = sleep.min(Duration::from_millis(20));
        }
        slots = shared
            .finished
            .wait_timeout(slots, sleep)
            .map(|(g, _)| g)
            .unwrap_or_else(|e| e.into_inner().0);
    }
}

/// The hook's half of a result: its health, the failure reason, how long it took.
fn judge_hook(
    seen: Seen,
    timeout: Duration,
    began: Instant,
) -> (Health, Option<CheckReason>, Option<Duration>) {
    let after = crate::model::fmt::duration(timeout);
    match seen {
        Seen::Hook(HookEnd::Returned(health), took) => (health, None, Some(took)),
        Seen::Hook(HookEnd::Absent, took) => (Health::healthy(), None, Some(took)),
        Seen::Hook(HookEnd::Panicked(message), took) => (
            Health::unhealthy(format!("health check panicked: {message}")),
            Some(CheckReason::Panic),
            Some(took),
        ),
        Seen::NoHook => (Health::healthy(), None, None),
        Seen::TimedOut => (
            Health::unhealthy(format!("timed out after {after}")),
            Some(CheckReason::Timeout),
            None,
        ),
        Seen::NotStarted => (
            Health::unhealthy(format!(
                "timed out after {after}: the check could not start"
            )),
            Some(CheckReason::Timeout),
            None,
        ),
        // Reported as it stands, before judging (see `round`).
        Seen::InProgress => (Health::unknown("checked by another round"), None, None),
        Seen::Busy(since) => (
            Health::unhealthy(format!(
                "timed out after {after}; still running after {}",
                crate::model::fmt::duration(Duration::from_secs(
                    began.saturating_duration_since(since).as_secs()
                ))
            )),
            Some(CheckReason::Timeout),
            None,
        ),
    }
}
