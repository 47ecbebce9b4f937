//! One plugin's health record: the instances that can be checked, the check in flight,
//! the status after the failure and recovery thresholds, counters. Lives in [`PluginRecord`](crate::PluginRecord); written by rounds, read by
//! stats, readiness and the export walk.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use crate::core::cells::BoundedHistogram;
use crate::model::health::CheckReason;
use crate::model::health::{Health, HealthStatus};
use crate::plugin::traits::HealthTarget;

/// The health half of a plugin's record.
pub(crate) struct HealthState {
    inner: Mutex<HealthInner>,
    /// Notified when a check ends, for a stop waiting for the instance.
    idle: Condvar,
    /// Check durations, counted into the exported buckets: a fixed size per plugin.
    durations: BoundedHistogram,
    failures: [AtomicU64; CheckReason::ALL.len()],
}

/// What a round may do with a plugin.
pub(crate) enum Begin {
    /// Check this instance; the plugin's check is now in flight.
    Check(Arc<dyn HealthTarget>),
    /// The plugin has no health hook (or no running instance with one): only the policy.
    NoHook,
    /// The previous check is still running since this instant: do not start another.
    Busy(Instant),
}

pub(crate) struct HealthInner {
    /// Running instances with a health hook, oldest first; the oldest is the one checked.
    targets: Vec<Arc<dyn HealthTarget>>,
    /// When the check in flight began (was handed to a worker), and until when a stop
    /// waits for it.
    in_flight: Option<(Instant, Instant)>,
    /// The status after thresholds: what stats, metrics and the lifecycle state show.
    pub(crate) reported: Health,
    /// The last round's result, before thresholds.
    pub(crate) last: Option<Health>,
    /// Wall-clock time of the last round that looked at this plugin.
    pub(crate) checked_at: Option<SystemTime>,
    /// How long the last completed hook took.
    pub(crate) last_duration: Option<Duration>,
    /// Consecutive unhealthy results, and consecutive results better than the reported
    /// status.
    bad_streak: u32,
    good_streak: u32,
}

impl Default for HealthState {
    fn default() -> Self {
        HealthState {
            inner: Mutex::new(HealthInner {
                targets: Vec::new(),
                in_flight: None,
                reported: Health::unknown(""),
                last: None,
                checked_at: None,
                last_duration: None,
                bad_streak: 0,
                good_streak: 0,
            }),
            idle: Condvar::new(),
            durations: BoundedHistogram::new(crate::model::names::HEALTH_CHECK_BUCKETS),
            failures: Default::default(),
        }
    }
}

impl HealthState {
    pub(crate) fn lock(&self) -> MutexGuard<'_, HealthInner> {
        // Plain values, consistent even if a panic poisoned the lock.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A started instance with a health hook.
    pub(crate) fn register(&self, target: Arc<dyn HealthTarget>) {
        self.lock().targets.push(target);
    }

    /// The instance at `address` ended; returns whether it was registered.
    pub(crate) fn unregister(&self, address: *const ()) -> bool {
        let mut inner = self.lock();
        let before = inner.targets.len();
        inner
            .targets
            .retain(|t| Arc::as_ptr(t).cast::<()>() != address);
        inner.targets.len() != before
    }

    /// Starts a check unless one is in flight; `wait_until` bounds how long a stop waits.
    pub(crate) fn begin(&self, now: Instant, wait_until: Instant) -> Begin {
        let mut inner = self.lock();
        if let Some((since, _)) = inner.in_flight {
            return Begin::Busy(since);
        }
        match inner.targets.first().cloned() {
            Some(target) => {
                inner.in_flight = Some((now, wait_until));
                Begin::Check(target)
            }
            None => Begin::NoHook,
        }
    }

    /// The check in flight is about to run the hook of `target`, with `timeout`: a stop
    /// waits for it until then at most. Returns false, and the check must not run, when
    /// the instance was stopped since the check was queued.
    pub(crate) fn running(&self, target: &Arc<dyn HealthTarget>, timeout: Duration) -> bool {
        let mut inner = self.lock();
        let address = Arc::as_ptr(target).cast::<()>();
        if !inner
            .targets
            .iter()
            .any(|t| Arc::as_ptr(t).cast::<()>() == address)
        {
            return false;
        }
        if let Some((since, _)) = inner.in_flight {
            inner.in_flight = Some((since, Instant::now() + timeout));
        }
        true
    }

    /// The check in flight ended (returned, panicked, or was never started); its target
    /// handle must already be dropped.
    pub(crate) fn end(&self, took: Option<Duration>) {
        if let Some(took) = took {
            self.durations
                .record(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
        }
        let mut inner = self.lock();
        inner.in_flight = None;
        if let Some(took) = took {
            inner.last_duration = Some(took);
        }
        drop(inner);
        self.idle.notify_all();
    }

    /// Waits until no check holds an instance, at most until the in-flight check's
    /// deadline (or `at_least` from now, whichever is later); returns whether none does.
    pub(crate) fn wait_idle(&self, at_least: Duration) -> bool {
        let floor = Instant::now() + at_least;
        let mut inner = self.lock();
        loop {
            let Some((_, until)) = inner.in_flight else {
                return true;
            };
            let until = until.max(floor);
            let now = Instant::now();
            if now >= until {
                return false;
            }
            inner = self
                .idle
                .wait_timeout(inner, until - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    pub(crate) fn count_failure(&self, reason: CheckReason) {
        self.failures[reason.index()].fetch_add(1, Relaxed);
    }

    /// Failed checks for `reason`.
    pub(crate) fn failures(&self, reason: CheckReason) -> u64 {
        self.failures[reason.index()].load(Relaxed)
    }

    pub(crate) fn durations(&self) -> &BoundedHistogram {
        &self.durations
    }

    /// Resets the status when no instance runs any more.
    pub(crate) fn reset(&self) {
        let mut inner = self.lock();
        inner.reported = Health::unknown("not running");
        inner.bad_streak = 0;
        inner.good_streak = 0;
    }
}

impl HealthInner {
    /// Applies one round's result with the thresholds; returns the reported status before
    /// and after.
    ///
    /// - Unhealthy is reported after `failures` consecutive unhealthy results
    ///   (`failures - 1` keep the status, with the result's message and how many of
    ///   `failures` it was: "timed out after 200ms (1 of 3 before unhealthy)").
    /// - Leaving unhealthy or degraded for a better status takes `recoveries`
    ///   consecutive results at least that good.
    /// - From healthy or unknown, degraded (and unknown) results are reported at once; from
    ///   unknown, so is healthy (that is a first result, not a recovery).
    pub(crate) fn apply(
        &mut self,
        result: Health,
        failures: u32,
        recoveries: u32,
    ) -> (HealthStatus, HealthStatus) {
        let before = self.reported.status;
        let to = result.status;
        if to == HealthStatus::Unhealthy {
            self.bad_streak = self.bad_streak.saturating_add(1);
            self.good_streak = 0;
        } else {
            self.bad_streak = 0;
        }
        let next = if to == HealthStatus::Unhealthy {
            (self.bad_streak >= failures.max(1)).then_some(result.clone())
        } else if to.severity() < before.severity() && before != HealthStatus::Unknown {
            // A recovery (to a better status than unhealthy or degraded).
            self.good_streak = self.good_streak.saturating_add(1);
            (self.good_streak >= recoveries.max(1)).then_some(result.clone())
        } else {
            self.good_streak = 0;
            Some(result.clone())
        };
        match next {
            Some(h) => {
                if h.status != before {
                    self.good_streak = 0;
                }
                self.reported = h;
            }
            None if to == before => self.reported = result.clone(),
            None if to == HealthStatus::Unhealthy => {
                // Not unhealthy yet: the status stands, and says why from the first
                // failed result on.
                let why = if result.message.is_empty() {
                    "unhealthy"
                } else {
                    &result.message
                };
                let mut pending = result.clone();
                pending.message = format!(
                    "{why} ({} of {} before unhealthy)",
                    self.bad_streak,
                    failures.max(1)
                );
                pending.status = before;
                self.reported = pending;
            }
            None => {}
        }
        self.last = Some(result);
        (before, self.reported.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(results: &[HealthStatus], failures: u32, recoveries: u32) -> Vec<HealthStatus> {
        let state = HealthState::default();
        let mut inner = state.lock();
        results
            .iter()
            .map(|s| inner.apply(Health::from(*s), failures, recoveries).1)
            .collect()
    }

    #[test]
    fn thresholds_count_consecutive_results_only() {
        use HealthStatus::{Degraded as D, Healthy as H, Unhealthy as U, Unknown as K};
        // From unknown, unhealthy also needs N in a row; healthy is taken at once.
        assert_eq!(statuses(&[U, U, U], 3, 2), [K, K, U]);
        assert_eq!(
            statuses(&[H, U, U, H, U, U, U], 3, 2),
            [H, H, H, H, H, H, U]
        );
        // Recovery needs M better results in a row; an unhealthy one restarts the count.
        assert_eq!(statuses(&[U, H, U, H, H], 1, 2), [U, U, U, U, H]);
        // Degraded comes at once, and leaves after M healthy results.
        assert_eq!(statuses(&[H, D, H, H], 3, 2), [H, D, D, H]);
        // Unhealthy to degraded is a recovery too.
        assert_eq!(statuses(&[U, D, D], 1, 2), [U, U, D]);
    }

    #[test]
    fn a_failure_below_the_threshold_says_why() {
        let state = HealthState::default();
        let mut inner = state.lock();
        let timed_out = Health::unhealthy("timed out after 200ms");
        inner.apply(timed_out.clone(), 3, 2);
        assert_eq!(inner.reported.status, HealthStatus::Unknown);
        assert_eq!(
            inner.reported.message,
            "timed out after 200ms (1 of 3 before unhealthy)"
        );
        inner.apply(timed_out.clone(), 3, 2);
        assert_eq!(
            inner.reported.message,
            "timed out after 200ms (2 of 3 before unhealthy)"
        );
        inner.apply(timed_out, 3, 2);
        assert_eq!(inner.reported, Health::unhealthy("timed out after 200ms"));
        // From healthy, the status stands with the reason.
        let state = HealthState::default();
        let mut inner = state.lock();
        inner.apply(Health::healthy(), 3, 2);
        inner.apply(Health::unhealthy(""), 3, 2);
        assert_eq!(inner.reported.status, HealthStatus::Healthy);
        assert_eq!(
            inner.reported.message,
            "unhealthy (1 of 3 before unhealthy)"
        );
        inner.apply(Health::healthy(), 3, 2);
        assert_eq!(inner.reported, Health::healthy());
    }
}
