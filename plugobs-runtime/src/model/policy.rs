//! The health policy's settings: when a plugin's own operations make it degraded or
//! unhealthy. The policy is evaluated in [`health::policy`](crate::health::policy).

use std::collections::BTreeMap;
use std::time::Duration;

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
    #[cfg_attr(feature = "serde", serde(with = "crate::model::fmt::serde::seconds"))]
    pub window: Duration,
    /// Finished calls in the window below which nothing fires. Default 20.
    pub min_calls: u64,
    /// Error ratio above which the plugin is degraded. Default 0.25.
    pub degraded_error_ratio: Option<f64>,
    /// Error ratio above which the plugin is unhealthy. Default 0.5.
    pub unhealthy_error_ratio: Option<f64>,
    /// p99 latency above which the plugin is degraded. Default 1 s.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
    pub degraded_p99: Option<Duration>,
    /// p99 latency above which the plugin is unhealthy. Default none.
    #[cfg_attr(
        feature = "serde",
        serde(with = "crate::model::fmt::serde::opt_seconds")
    )]
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
}

/// The health policy of every plugin, and the ones set for single plugins.
#[derive(Clone, Debug, Default)]
pub(crate) struct HealthPolicies {
    pub(crate) default: HealthPolicy,
    pub(crate) by_plugin: BTreeMap<&'static str, HealthPolicy>,
}

impl HealthPolicies {
    pub(crate) fn for_plugin(&self, name: &str) -> &HealthPolicy {
        self.by_plugin.get(name).unwrap_or(&self.default)
    }
}
