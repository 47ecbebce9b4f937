//! The words of the lifecycle: a plugin's states and the steps between them.

use std::fmt;

/// Where a plugin is in its lifecycle.
///
/// `Registered` (linked in, found by `inventory`) → `Loaded` (an instance was constructed)
/// → `Running` (its start hook ran) → `Stopped` (its stop hook ran, or the instance was
/// dropped). `Failed` when a constructor or hook returned an error, panicked or was
/// cancelled. A plugin with several instances takes the state derived from them: see
/// [`PluginRecord`](crate::PluginRecord). A running plugin is `Degraded` or `Unhealthy` while its
/// reported health says so (see [`health`](crate::health)), and `Running` again when it
/// recovers; each of these moves is a counted transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum PluginState {
    /// Linked into the binary and discovered; no instance yet.
    Registered,
    /// An instance was constructed; its start hook has not run yet.
    Loaded,
    /// Started and serving.
    Running,
    /// Running, and reported degraded: by its health hook or by the health policy over
    /// its own operations.
    Degraded,
    /// Running, and reported unhealthy: its health hook failed, panicked or timed out, or
    /// its own operations fail too often.
    Unhealthy,
    /// Its stop hook ran.
    Stopped,
    /// Its constructor or a hook failed.
    Failed,
}

impl PluginState {
    /// Every state, in label order.
    pub const ALL: [PluginState; 7] = [
        PluginState::Registered,
        PluginState::Loaded,
        PluginState::Running,
        PluginState::Degraded,
        PluginState::Unhealthy,
        PluginState::Stopped,
        PluginState::Failed,
    ];

    /// The label value (`state`, `from`, `to`).
    ///
    /// ```
    /// assert_eq!(plugobs_runtime::PluginState::Running.as_str(), "running");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Registered => "registered",
            PluginState::Loaded => "loaded",
            PluginState::Running => "running",
            PluginState::Degraded => "degraded",
            PluginState::Unhealthy => "unhealthy",
            PluginState::Stopped => "stopped",
            PluginState::Failed => "failed",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub(crate) fn from_index(index: usize) -> PluginState {
        PluginState::ALL
            .get(index)
            .copied()
            .unwrap_or(PluginState::Failed)
    }
}

impl fmt::Display for PluginState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A lifecycle step: the `stage` label of `plugobs_plugin_load_failures_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Stage {
    /// Constructing the instance.
    Load,
    /// Running the start hook.
    Start,
    /// Running the stop hook.
    Stop,
}

impl Stage {
    /// Every stage, in label order.
    pub const ALL: [Stage; 3] = [Stage::Load, Stage::Start, Stage::Stop];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Load => "load",
            Stage::Start => "start",
            Stage::Stop => "stop",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}
