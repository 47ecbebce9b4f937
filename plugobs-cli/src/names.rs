//! The metric names the rules and the dashboard use, checked against plugobs' closed list
//! (`plugobs::names::ALL`): a name that is not in it is an error, so a renamed metric
//! fails generation instead of producing a rule that never matches.

use crate::OpsError;

/// Process metrics (`process_*`, from metrics-process with plugobs' `http` feature): not
/// in plugobs' namespace and not in its closed list.
pub const PROCESS: &[&str] = &["process_cpu_seconds_total", "process_resident_memory_bytes"];

/// The gauge of objectives declared in code (`operation_objective`, labels plugin, kind,
/// instance, operation, objective = `success` | `latency`), read by the burn-rate and
/// latency rules.
pub const OBJECTIVE: &str = plugobs::names::OPERATION_OBJECTIVE.name;

/// Full metric names in one namespace.
#[derive(Clone, Debug)]
pub struct Names {
    namespace: String,
}

impl Names {
    /// Names in `namespace`.
    pub fn new(namespace: &str) -> Self {
        Names {
            namespace: namespace.to_owned(),
        }
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The full name of the closed-list metric `name` (without namespace), e.g.
    /// `plugin_up` → `plugobs_plugin_up`.
    ///
    /// # Errors
    /// [`OpsError::UnknownMetric`] when plugobs emits no such metric.
    pub fn metric(&self, name: &str) -> Result<String, OpsError> {
        match plugobs::names::find(name) {
            Some(def) => Ok(format!("{}_{}", self.namespace, def.name)),
            None => Err(OpsError::UnknownMetric {
                name: name.to_owned(),
            }),
        }
    }

    /// A recording rule's name: `namespace:level:operation`.
    pub fn record(&self, level: &str, what: &str) -> String {
        format!("{}:{level}:{what}", self.namespace)
    }
}
