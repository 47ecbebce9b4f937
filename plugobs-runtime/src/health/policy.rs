//! Health from a plugin's own operations: its error ratio and p99 latency over a window,
//! with a minimum call count so an idle plugin is never flagged.
//!
//! Each round samples the plugin's operation totals (calls, errors and panics, the latency
//! histogram, summed over its operations); the window's figures are the difference
//! between the newest sample and the newest one at least a window old (or zero, when the
//! plugin has no sample that old).

use std::collections::{BTreeMap, VecDeque};
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use crate::error::RegistryError;
use crate::registry::Registry;

use crate::health::{Health, HealthStatus, fmt_duration};
use crate::record::PluginRecord;
use crate::snapshot::HistogramSnapshot;
use crate::stats::human;

/// Samples kept per plugin at most. Rounds closer together than `window / 32` replace
/// the newest sample instead of adding one, so a window holds at most about 33 samples
/// whatever the round rate.
const MAX_SAMPLES: usize = 64;
/// The finest spacing of kept samples, as a fraction of the window.
const GRANULARITY: u32 = 32;

/// When a plugin's own operations make it degraded or unhealthy.
///
/// On by default ([`HealthPolicy::default`]): over the last 60 s, with at least 20
/// finished calls, an error ratio (errors and panics over finished calls) above 0.25
/// makes the plugin degraded and above 0.5 unhealthy; a p99 latency above 1 s makes it
/// degraded. Set it with [`Registry::set_health_policy`](crate::Registry::set_health_policy)
/// (every plugin) or
/// [`Registry::set_plugin_health_policy`](crate::Registry::set_plugin_health_policy) (one).
///
/// ```
/// use std::time::Duration;
/// use plugobs_runtime::HealthPolicy;
///
/// let policy = HealthPolicy::default()
///     .window(Duration::from_secs(300))
///     .min_calls(100)
///     .error_ratio(Some(0.1), Some(0.3))
///     .p99(Some(Duration::from_millis(250)), None);
/// assert_eq!(policy.min_calls, 100);
/// assert!(!HealthPolicy::disabled().enabled);
/// ```
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct HealthPolicy {
    /// Whether the policy runs at all.
    pub enabled: bool,
    /// How far back it looks. Default 60 s.
    #[cfg_attr(feature = "serde", serde(with = "crate::stats::seconds"))]
    pub window: Duration,
    /// Finished calls in the window below which nothing fires. Default 20.
    pub min_calls: u64,
    /// Error ratio above which the plugin is degraded. Default 0.25.
    pub degraded_error_ratio: Option<f64>,
    /// Error ratio above which the plugin is unhealthy. Default 0.5.
    pub unhealthy_error_ratio: Option<f64>,
    /// p99 latency above which the plugin is degraded. Default 1 s.
    #[cfg_attr(feature = "serde", serde(with = "crate::stats::opt_seconds"))]
    pub degraded_p99: Option<Duration>,
    /// p99 latency above which the plugin is unhealthy. Default none.
    #[cfg_attr(feature = "serde", serde(with = "crate::stats::opt_seconds"))]
    pub unhealthy_p99: Option<Duration>,
}

impl Default for HealthPolicy {
    fn default() -> Self {
        HealthPolicy {
            enabled: true,
            window: Duration::from_secs(60),
            min_calls: 20,
            degraded_error_ratio: Some(0.25),
            unhealthy_error_ratio: Some(0.5),
            degraded_p99: Some(Duration::from_secs(1)),
            unhealthy_p99: None,
        }
    }
}

impl HealthPolicy {
    /// A policy that never fires.
    pub fn disabled() -> Self {
        HealthPolicy {
            enabled: false,
            ..HealthPolicy::default()
        }
    }

    /// Sets the window.
    #[must_use]
    pub fn window(mut self, window: Duration) -> Self {
        self.window = window;
        self
    }

    /// Sets the minimum call count.
    #[must_use]
    pub fn min_calls(mut self, min_calls: u64) -> Self {
        self.min_calls = min_calls;
        self
    }

    /// Sets the error-ratio thresholds (degraded, unhealthy); `None` turns one off.
    #[must_use]
    pub fn error_ratio(mut self, degraded: Option<f64>, unhealthy: Option<f64>) -> Self {
        self.degraded_error_ratio = degraded;
        self.unhealthy_error_ratio = unhealthy;
        self
    }

    /// Sets the p99 thresholds (degraded, unhealthy); `None` turns one off.
    #[must_use]
    pub fn p99(mut self, degraded: Option<Duration>, unhealthy: Option<Duration>) -> Self {
        self.degraded_p99 = degraded;
        self.unhealthy_p99 = unhealthy;
        self
    }

    /// Samples `record`'s operations at `now` into `samples` and judges the window.
    pub(crate) fn evaluate(
        &self,
        record: &PluginRecord,
        samples: &mut VecDeque<Sample>,
        now: Instant,
    ) -> Health {
        if !self.enabled {
            samples.clear();
            return Health::healthy();
        }
        let current = Sample::of(record, now);
        if samples.len() >= 2
            && samples.back().is_some_and(|last| {
                now.saturating_duration_since(last.at) < self.window / GRANULARITY
            })
        {
            samples.pop_back();
        }
        samples.push_back(current);
        let start = now.checked_sub(self.window);
        while samples.len() > MAX_SAMPLES
            || (samples.len() >= 2 && start.is_some_and(|s| samples[1].at <= s))
        {
            samples.pop_front();
        }
        let (Some(newest), Some(oldest)) = (samples.back(), samples.front()) else {
            return Health::healthy();
        };
        let zero = Sample::zero(now);
        let baseline = if samples.len() >= 2 && start.is_some_and(|s| oldest.at <= s) {
            oldest
        } else {
            &zero
        };
        self.judge(newest, baseline)
    }

    fn judge(&self, newest: &Sample, baseline: &Sample) -> Health {
        let calls = newest.calls.saturating_sub(baseline.calls);
        if calls == 0 || calls < self.min_calls {
            return Health::healthy();
        }
        let window = fmt_duration(self.window);
        let failed = newest.failed.saturating_sub(baseline.failed);
        let ratio = failed as f64 / calls as f64;
        let mut health = Health::healthy();
        let ratio_rule = [
            (self.unhealthy_error_ratio, HealthStatus::Unhealthy),
            (self.degraded_error_ratio, HealthStatus::Degraded),
        ]
        .into_iter()
        .find_map(|(t, status)| t.filter(|t| ratio > *t).map(|t| (t, status)));
        if let Some((threshold, status)) = ratio_rule {
            health = health.combine(
                Health::new(
                    status,
                    format!("error ratio {ratio:.2} > {threshold} over {window} ({calls} calls)"),
                )
                .with_detail("error_ratio", format!("{ratio:.2}"))
                .with_detail("calls", calls),
            );
        }
        let latency = newest.latency.since(&baseline.latency);
        if let Some(p99) = latency.quantile_nanos(0.99) {
            let p99 = Duration::from_nanos(p99.round() as u64);
            let p99_rule = [
                (self.unhealthy_p99, HealthStatus::Unhealthy),
                (self.degraded_p99, HealthStatus::Degraded),
            ]
            .into_iter()
            .find_map(|(t, status)| t.filter(|t| p99 > *t).map(|t| (t, status)));
            if let Some((threshold, status)) = p99_rule {
                health = health.combine(
                    Health::new(
                        status,
                        format!(
                            "p99 {} > {} over {window} ({calls} calls)",
                            human(p99),
                            fmt_duration(threshold)
                        ),
                    )
                    .with_detail("p99", human(p99)),
                );
            }
        }
        health
    }
}

/// A plugin's operation totals at one moment.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    at: Instant,
    calls: u64,
    failed: u64,
    latency: HistogramSnapshot,
}

impl Sample {
    fn zero(at: Instant) -> Sample {
        Sample {
            at,
            calls: 0,
            failed: 0,
            latency: HistogramSnapshot::default(),
        }
    }

    fn of(record: &PluginRecord, at: Instant) -> Sample {
        record.with_operations(|ops| {
            let mut sample = Sample::zero(at);
            for op in ops {
                let s = op.snapshot(record.slot());
                sample.calls += s.calls;
                sample.failed += s.errors + s.panics;
                sample.latency.merge(&s.latency);
            }
            sample
        })
    }
}

/// The health policy of every plugin, and the ones set for single plugins.
#[derive(Clone, Debug, Default)]
pub(crate) struct HealthPolicies {
    default: HealthPolicy,
    by_plugin: BTreeMap<&'static str, HealthPolicy>,
}

impl HealthPolicies {
    pub(crate) fn for_plugin(&self, name: &str) -> &HealthPolicy {
        self.by_plugin.get(name).unwrap_or(&self.default)
    }
}

impl Registry {
    fn policies(&self) -> MutexGuard<'_, HealthPolicies> {
        self.policies.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of every plugin's policy, for one round.
    pub(crate) fn health_policies(&self) -> HealthPolicies {
        self.policies().clone()
    }

    /// Sets the health policy of every plugin that has none of its own (default:
    /// [`HealthPolicy::default`]). Takes effect at the next round.
    ///
    /// ```
    /// use plugobs_runtime::HealthPolicy;
    /// let registry = plugobs_runtime::Registry::from_descriptors([]).unwrap();
    /// registry.set_health_policy(HealthPolicy::default().min_calls(50));
    /// assert_eq!(registry.health_policy("any").min_calls, 50);
    /// ```
    pub fn set_health_policy(&self, policy: HealthPolicy) {
        self.policies().default = policy;
    }

    /// Sets the health policy of one plugin.
    ///
    /// # Errors
    /// As [`Registry::lookup`]: no plugin, or more than one, has this name.
    pub fn set_plugin_health_policy(
        &self,
        name: &str,
        policy: HealthPolicy,
    ) -> Result<(), RegistryError> {
        let name = self.lookup(name)?.descriptor().name;
        self.policies().by_plugin.insert(name, policy);
        Ok(())
    }

    /// The health policy that applies to the plugin `name`.
    pub fn health_policy(&self, name: &str) -> HealthPolicy {
        self.policies().for_plugin(name).clone()
    }
}
