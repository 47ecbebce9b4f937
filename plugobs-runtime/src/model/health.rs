//! Health values: what a health hook returns ([`Health`]), how healthy a plugin is
//! ([`HealthStatus`]), and why a check failed ([`CheckReason`]).

use std::fmt;

/// How healthy a plugin is, from best to worst: `Healthy`, `Unknown`, `Degraded`,
/// `Unhealthy` (see [`HealthStatus::severity`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum HealthStatus {
    /// Serving normally.
    Healthy,
    /// Serving, with reduced quality (a fallback, a slow dependency, many errors).
    Degraded,
    /// Not serving.
    Unhealthy,
    /// Not checked yet, or not running.
    #[default]
    Unknown,
}

impl HealthStatus {
    /// Every status, in label order.
    pub const ALL: [HealthStatus; 4] = [
        HealthStatus::Healthy,
        HealthStatus::Degraded,
        HealthStatus::Unhealthy,
        HealthStatus::Unknown,
    ];

    /// The label value: `healthy`, `degraded`, `unhealthy` or `unknown`.
    ///
    /// ```
    /// assert_eq!(plugobs_runtime::HealthStatus::Degraded.as_str(), "degraded");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            HealthStatus::Healthy => "healthy",
            HealthStatus::Degraded => "degraded",
            HealthStatus::Unhealthy => "unhealthy",
            HealthStatus::Unknown => "unknown",
        }
    }

    /// How bad the status is: healthy 0, unknown 1, degraded 2, unhealthy 3. The worse of
    /// two statuses is the one with the higher severity.
    ///
    /// ```
    /// use plugobs_runtime::HealthStatus;
    /// assert!(HealthStatus::Degraded.severity() > HealthStatus::Healthy.severity());
    /// assert!(HealthStatus::Unhealthy.severity() > HealthStatus::Unknown.severity());
    /// ```
    pub fn severity(self) -> u8 {
        match self {
            HealthStatus::Healthy => 0,
            HealthStatus::Unknown => 1,
            HealthStatus::Degraded => 2,
            HealthStatus::Unhealthy => 3,
        }
    }

    /// Whether a plugin with this status serves requests: healthy or degraded.
    pub fn is_serving(self) -> bool {
        matches!(self, HealthStatus::Healthy | HealthStatus::Degraded)
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What a health hook returns: a status, a message saying why, and key/value details.
///
/// ```
/// use plugobs_runtime::{Health, HealthStatus};
///
/// let health = Health::degraded("serving from cache").with_detail("pool", "4/10");
/// assert_eq!(health.status, HealthStatus::Degraded);
/// assert_eq!(health.message, "serving from cache");
/// assert_eq!(health.detail("pool"), Some("4/10"));
/// assert_eq!(health.to_string(), "degraded: serving from cache (pool=4/10)");
/// assert_eq!(Health::healthy().to_string(), "healthy");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Health {
    /// The status.
    pub status: HealthStatus,
    /// Why; empty when there is nothing to say.
    pub message: String,
    /// Key/value details, in the order they were added (e.g. `"pool" => "4/10"`);
    /// serialized as a map.
    #[cfg_attr(feature = "serde", serde(serialize_with = "details_map"))]
    pub details: Vec<(String, String)>,
}

/// Serializes details as a map, in their order (a key given twice appears twice).
#[cfg(feature = "serde")]
pub(crate) fn details_map<S: serde::Serializer>(
    details: &[(String, String)],
    s: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut map = s.serialize_map(Some(details.len()))?;
    for (k, v) in details {
        map.serialize_entry(k, v)?;
    }
    map.end()
}

impl Health {
    /// A status with a message and no details.
    pub fn new(status: HealthStatus, message: impl Into<String>) -> Health {
        Health {
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    /// Healthy, with no message.
    pub fn healthy() -> Health {
        Health::new(HealthStatus::Healthy, "")
    }

    /// Degraded, and why.
    pub fn degraded(message: impl Into<String>) -> Health {
        Health::new(HealthStatus::Degraded, message)
    }

    /// Unhealthy, and why.
    pub fn unhealthy(message: impl Into<String>) -> Health {
        Health::new(HealthStatus::Unhealthy, message)
    }

    /// Unknown, and why.
    pub fn unknown(message: impl Into<String>) -> Health {
        Health::new(HealthStatus::Unknown, message)
    }

    /// Adds a detail (a key given twice keeps both, in order).
    #[must_use]
    pub fn with_detail(mut self, key: impl Into<String>, value: impl ToString) -> Health {
        self.details.push((key.into(), value.to_string()));
        self
    }

    /// The first detail with this key.
    pub fn detail(&self, key: &str) -> Option<&str> {
        self.details
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The worse of two healths: the worse status, with its message and details; when
    /// both have the same status, the messages are joined with `"; "` and the details
    /// concatenated.
    ///
    /// ```
    /// use plugobs_runtime::Health;
    /// let hook = Health::degraded("using cache");
    /// let policy = Health::degraded("error ratio 0.42 > 0.25 over 60s (1204 calls)");
    /// assert_eq!(
    ///     hook.combine(policy).message,
    ///     "using cache; error ratio 0.42 > 0.25 over 60s (1204 calls)"
    /// );
    /// ```
    #[must_use]
    pub fn combine(self, other: Health) -> Health {
        match self.status.severity().cmp(&other.status.severity()) {
            std::cmp::Ordering::Greater => self,
            std::cmp::Ordering::Less => other,
            std::cmp::Ordering::Equal => {
                let message = match (self.message.is_empty(), other.message.is_empty()) {
                    (_, true) => self.message,
                    (true, false) => other.message,
                    (false, false) => format!("{}; {}", self.message, other.message),
                };
                let mut details = self.details;
                details.extend(other.details);
                Health {
                    status: self.status,
                    message,
                    details,
                }
            }
        }
    }
}

impl From<HealthStatus> for Health {
    fn from(status: HealthStatus) -> Health {
        Health::new(status, "")
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.status.as_str())?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if !self.details.is_empty() {
            f.write_str(" (")?;
            for (i, (k, v)) in self.details.iter().enumerate() {
                if i > 0 {
                    f.write_str(" ")?;
                }
                write!(f, "{k}={v}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

/// Why a check failed: the `reason` label of
/// `plugobs_plugin_health_check_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum CheckReason {
    /// The result was unhealthy (from the hook or the policy).
    Unhealthy,
    /// The hook did not return within the timeout (or its previous call still runs).
    Timeout,
    /// The hook panicked.
    Panic,
}

impl CheckReason {
    /// Every reason, in label order.
    pub const ALL: [CheckReason; 3] = [
        CheckReason::Unhealthy,
        CheckReason::Timeout,
        CheckReason::Panic,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckReason::Unhealthy => "unhealthy",
            CheckReason::Timeout => "timeout",
            CheckReason::Panic => "panic",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}
