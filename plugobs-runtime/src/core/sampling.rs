//! Sampled timing: which share of an operation's calls read the clock.
//!
//! Every call is counted exactly — calls, outcomes, error kinds, in-flight, panics,
//! cancellations —; with sampling one call in N (per thread, at random gaps of mean N,
//! see [`ShardRef::tick`](crate::core::cells::ShardRef::tick)) is timed, and the N − 1
//! others read no clock. The rate of each operation's cells on each instance is, first
//! found first:
//!
//! 1. the host's setting for that instance of the plugin,
//! 2. the host's setting for the plugin,
//! 3. the operation's `#[instrumented(sample = N)]` (on the method, else its impl),
//! 4. the process-wide default (1: every call timed, unless set).
//!
//! The settings are kept here; the call sites apply them to their cells when they change
//! (`site::apply_sampling`) and when cells are made.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::core::running;

/// The process-wide default; 0 while unset (every call timed).
static DEFAULT: AtomicU32 = AtomicU32::new(0);

/// A plugin's sampling settings, set by the host.
#[derive(Debug, Default)]
pub(crate) struct Settings {
    plugin: Option<u32>,
    /// (instance slot, rate).
    instances: Vec<(usize, u32)>,
}

/// One plugin's settings, in its [`PluginCells`](crate::core::plugin_cells::PluginCells).
#[derive(Debug, Default)]
pub(crate) struct PluginSampling(Mutex<Settings>);

impl PluginSampling {
    fn lock(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the plugin's rate (`None`: back to the operations' own).
    pub(crate) fn set_plugin(&self, every: Option<u32>) {
        self.lock().plugin = every;
    }

    /// Sets instance `slot`'s rate (`None`: back to the plugin's).
    pub(crate) fn set_instance(&self, slot: usize, every: Option<u32>) {
        running::outside(|| {
            let mut settings = self.lock();
            settings.instances.retain(|(s, _)| *s != slot);
            if let Some(every) = every {
                settings.instances.push((slot, every));
            }
        });
    }

    /// The rate of an operation declaring `code` (0: nothing declared) on instance `slot`.
    pub(crate) fn effective(&self, slot: usize, code: u32) -> u32 {
        let settings = self.lock();
        settings
            .instances
            .iter()
            .find(|(s, _)| *s == slot)
            .map(|(_, every)| *every)
            .or(settings.plugin)
            .or((code > 0).then_some(code))
            .unwrap_or_else(|| default().unwrap_or(1))
    }
}

/// Sets the process-wide default rate of operations that declare none (`None`: time every
/// call).
pub(crate) fn set_default(every: Option<u32>) {
    DEFAULT.store(every.unwrap_or(0), Relaxed);
}

/// The process-wide default rate, if set.
pub(crate) fn default() -> Option<u32> {
    Some(DEFAULT.load(Relaxed)).filter(|&n| n > 0)
}
