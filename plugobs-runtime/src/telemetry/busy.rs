//! Utilization: `plugobs_plugin_busy_ratio`, the share of wall time a plugin spent inside
//! its operations over the last [`WINDOW`], computed when it is read (by a flush, a render
//! or `stats()`) from the exact latency sums its operations already keep: no cost on the
//! hot path.
//!
//! The ratio is (sum of the latencies of the calls that finished in the window) ÷ (the
//! window's length). Calls overlap when a plugin is called from several threads or runs
//! several futures at once, so the ratio can exceed 1: 2.0 means two calls in progress
//! on average. An async call counts its whole wall time, from first poll to completion,
//! including the time it waited. Before the plugin has been up for a whole window, the
//! window starts when it was loaded.

use std::time::{Duration, Instant, SystemTime};

use crate::record::plugin_record::PluginRecord;

/// How far back the ratio looks.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The plugin's busy ratio over the last [`WINDOW`]; 0 before it was ever loaded. Reads
/// the instance's history (see `record::history`), keeping this reading in it.
pub(crate) fn ratio(record: &PluginRecord) -> f64 {
    let Some(loaded_at) = record.timings().loaded_at else {
        return 0.0;
    };
    let now = Instant::now();
    let current = record.sample(now);
    let busy = current.busy_nanos;
    let mut history = record.samples();
    let (base_at, base_busy) = match history.window(&current, WINDOW, false) {
        Some(base) => (base.at, base.busy_nanos),
        // Up for less than a window (or first read): the window starts at the load.
        None => {
            let up = SystemTime::now()
                .duration_since(loaded_at)
                .unwrap_or_default();
            (now.checked_sub(up).unwrap_or(now), 0)
        }
    };
    let wall = now.saturating_duration_since(base_at).as_nanos() as f64;
    if wall <= 0.0 {
        return 0.0;
    }
    busy.saturating_sub(base_busy) as f64 / wall
}
