//! Readiness: whether every started plugin serves (healthy or degraded), as a type a
//! probe endpoint can serialize.

use crate::model::health::HealthStatus;
use crate::registry::Registry;

/// Whether every started plugin is healthy or degraded; `registry().readiness()`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Readiness {
    /// True when no started plugin is unhealthy or unchecked.
    pub ready: bool,
    /// The started plugins that are not ready, ordered by name.
    pub not_ready: Vec<NotReady>,
}

/// A started plugin that is not ready.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct NotReady {
    /// The plugin's name.
    pub plugin: &'static str,
    /// The instance's name (the plugin's name for its default instance).
    pub instance: &'static str,
    /// Its kind.
    pub kind: &'static str,
    /// Its reported status: unhealthy, or unknown (not checked yet).
    pub status: HealthStatus,
    /// Why.
    pub message: String,
}

impl Registry {
    /// Whether every started plugin (one with a running instance) reports healthy or
    /// degraded; the others are listed with their messages. A started plugin that was
    /// never checked is not ready ("not checked yet"): run
    /// [`check_health`](Registry::check_health) or a
    /// [`HealthMonitor`](crate::HealthMonitor). Plugins that are not started (stopped,
    /// failed, never loaded) are not listed.
    ///
    /// ```
    /// let readiness = plugobs_runtime::registry().readiness();
    /// assert_eq!(readiness.ready, readiness.not_ready.is_empty());
    /// ```
    pub fn readiness(&self) -> Readiness {
        let mut not_ready = Vec::new();
        for record in self.instances() {
            if record.running_instances() == 0 {
                continue;
            }
            let inner = record.health_state().lock();
            let health = &inner.reported;
            if !health.status.is_serving() {
                let d = record.descriptor();
                let message = if inner.checked_at.is_none() {
                    "not checked yet".to_owned()
                } else {
                    health.message.clone()
                };
                not_ready.push(NotReady {
                    plugin: d.name,
                    instance: record.instance(),
                    kind: d.kind,
                    status: health.status,
                    message,
                });
            }
        }
        Readiness {
            ready: not_ready.is_empty(),
            not_ready,
        }
    }
}
