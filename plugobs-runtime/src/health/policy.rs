//! Health from a plugin's own operations: its error ratio and p99 latency over a window,
//! with a minimum call count so an idle plugin is never flagged.
//!
//! Each round samples the plugin's operation totals (calls, errors and panics, the latency
//! histogram, summed over its operations); the window's figures are the difference
//! between the newest sample and the newest one at least a window old (or zero, when the
//! plugin has no sample that old).

use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use crate::model::breaker::BreakerState;
use crate::model::error::RegistryError;
use crate::registry::Registry;

use crate::model::health::{Health, HealthStatus};
use crate::model::policy::{HealthPolicies, HealthPolicy};
use crate::record::history::{Baseline, Sample};
use crate::record::plugin_record::PluginRecord;

impl HealthPolicy {
    /// Judges `record`'s operations over the window ending at `now`, keeping `now`'s
    /// sample in the record's history.
    pub(crate) fn evaluate(&self, record: &PluginRecord, now: Instant) -> Health {
        if !self.enabled {
            return Health::healthy();
        }
        let current = record.sample(now);
        let mut history = record.samples();
        // No sample a window old yet: the window is everything so far.
        let baseline = history
            .window(&current, self.window, true)
            .unwrap_or_else(|| Baseline {
                at: now,
                calls: 0,
                failed: 0,
                busy_nanos: 0,
                latency: Some(current.latency.clone()),
            });
        self.judge(&current, &baseline)
    }

    fn judge(&self, newest: &Sample, baseline: &Baseline) -> Health {
        let calls = newest.calls.saturating_sub(baseline.calls);
        if calls == 0 || calls < self.min_calls {
            return Health::healthy();
        }
        let window = crate::model::fmt::duration(self.window);
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
        if let Some(p99) = baseline
            .latency
            .as_ref()
            .and_then(|latency| latency.quantile_nanos(0.99))
        {
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
                            crate::model::fmt::duration(p99),
                            crate::model::fmt::duration(threshold)
                        ),
                    )
                    .with_detail("p99", crate::model::fmt::duration(p99)),
                );
            }
        }
        health
    }
}

/// Degraded while a circuit breaker of one of `record`'s operations is not closed, the
/// message naming each such operation and its state.
pub(crate) fn breakers(record: &PluginRecord) -> Health {
    let slot = record.slot();
    let mut not_closed = Vec::new();
    record.with_operations(|ops| {
        for op in ops {
            if let Some(b) = op.snapshot(slot).breaker
                && b.state != BreakerState::Closed
            {
                not_closed.push((op.name(), b.state));
            }
        }
    });
    if not_closed.is_empty() {
        return Health::healthy();
    }
    let named: Vec<String> = not_closed
        .iter()
        .map(|(op, state)| format!("`{op}` is {}", state.as_str().replace('_', "-")))
        .collect();
    let mut health = Health::new(
        HealthStatus::Degraded,
        format!("circuit breaker of {}", named.join(", ")),
    );
    for (op, state) in not_closed {
        health = health.with_detail(format!("breaker.{op}"), state.as_str());
    }
    health
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
