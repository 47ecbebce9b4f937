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

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use crate::record::plugin_record::PluginRecord;

/// How far back the ratio looks.
pub const WINDOW: Duration = Duration::from_secs(60);
/// Readings closer together than this share one sample of the window.
const STEP: Duration = Duration::from_secs(1);

/// Samples of one plugin: (when, busy nanoseconds so far), oldest first.
type Samples = VecDeque<(Instant, u64)>;
/// Per record (by address), its samples.
static SAMPLES: Mutex<Option<HashMap<usize, Samples>>> = Mutex::new(None);

/// Busy nanoseconds of a plugin instance so far: the exact latency sums of its operations.
fn busy_nanos(record: &PluginRecord) -> u64 {
    record.with_operations(|ops| {
        ops.iter()
            .map(|o| o.snapshot(record.slot()).latency.sum_nanos())
            .fold(0u64, u64::saturating_add)
    })
}

/// The plugin's busy ratio over the last [`WINDOW`]; 0 before it was ever loaded.
pub(crate) fn ratio(record: &PluginRecord) -> f64 {
    let Some(loaded_at) = record.timings().loaded_at else {
        return 0.0;
    };
    let now = Instant::now();
    let busy = busy_nanos(record);
    let mut all = SAMPLES.lock().unwrap_or_else(|e| e.into_inner());
    let samples = all
        .get_or_insert_with(HashMap::new)
        .entry(std::ptr::from_ref(record) as usize)
        .or_insert_with(|| {
            let up = SystemTime::now()
                .duration_since(loaded_at)
                .unwrap_or_default();
            VecDeque::from([(now.checked_sub(up).unwrap_or(now), 0)])
        });
    // Keep one sample at or before the window's start as its base.
    while samples.len() > 1 && samples[1].0 + WINDOW <= now {
        samples.pop_front();
    }
    let (base_at, base_busy) = samples[0];
    if samples.back().is_some_and(|&(at, _)| at + STEP <= now) {
        samples.push_back((now, busy));
    }
    let wall = now.saturating_duration_since(base_at).as_nanos() as f64;
    if wall <= 0.0 {
        return 0.0;
    }
    busy.saturating_sub(base_busy) as f64 / wall
}
