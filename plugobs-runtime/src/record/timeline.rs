//! What an instance keeps for people who look at it over time: a ring of points, one per
//! history interval ([`HISTORY_INTERVAL`]), each with its reported health then and, per
//! operation, what the operation did in the interval — calls, errors by kind, p50 and
//! p99. Points are taken by [`Registry::record_history`](crate::Registry::record_history)
//! (the background thread calls it for the process-wide registry), never on the call
//! path; `stats()`, `/plugins/{name}/history` and the status page read them.
//!
//! # Memory
//!
//! At most [`HISTORY_POINTS`] points. Per point, 24 bytes for its time and status and,
//! per operation, 48 bytes plus 24 per error kind seen in that interval; per operation,
//! its totals at the last point (its latency histogram: 12 bytes per bucket it ever
//! touched). An operation with one error kind keeps at most about 6.5 KiB plus that
//! histogram, however long the process runs.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use crate::core::snapshot::{HistogramSnapshot, OperationSnapshot};
use crate::model::health::HealthStatus;
use crate::model::history::{
    HISTORY_INTERVAL, HISTORY_POINTS, HealthPoint, InstanceHistory, OperationHistory,
    OperationPoint,
};

/// An operation's totals when the last point was taken.
#[derive(Debug, Default)]
struct Totals {
    calls: u64,
    errors_by_kind: Vec<(&'static str, u64)>,
    panics: u64,
    latency: HistogramSnapshot,
}

#[derive(Debug)]
struct Point {
    calls: u64,
    errors: u64,
    errors_by_kind: Vec<(&'static str, u64)>,
    p50: Option<u64>,
    p99: Option<u64>,
}

#[derive(Debug)]
struct OperationTimeline {
    name: &'static str,
    last: Totals,
    /// The newest point is the last tick's; an operation first called later than the
    /// first tick has fewer points than there are ticks.
    points: VecDeque<Point>,
}

/// One instance's points.
#[derive(Debug, Default)]
pub(crate) struct Timeline {
    /// When each point was taken and the reported health then, oldest first.
    ticks: VecDeque<HealthPoint>,
    /// By name.
    operations: Vec<OperationTimeline>,
}

impl Timeline {
    /// Takes a point at `at`: `status` is the instance's reported health, `snapshots` its
    /// operations' totals now (each operation it ever called).
    pub(crate) fn record(
        &mut self,
        at: SystemTime,
        status: HealthStatus,
        snapshots: &[OperationSnapshot],
    ) {
        // The first tick marks where the history starts: the totals so far are its
        // baseline, not an interval's calls (they may span the whole uptime).
        let first = self.ticks.is_empty();
        self.ticks.push_back(HealthPoint { at, status });
        if self.ticks.len() > HISTORY_POINTS {
            let _ = self.ticks.pop_front();
        }
        for snapshot in snapshots {
            let i = match self
                .operations
                .binary_search_by(|o| o.name.cmp(snapshot.operation))
            {
                Ok(i) => i,
                Err(i) => {
                    self.operations.insert(
                        i,
                        OperationTimeline {
                            name: snapshot.operation,
                            last: Totals::default(),
                            points: VecDeque::new(),
                        },
                    );
                    i
                }
            };
            let op = &mut self.operations[i];
            if !first {
                let point = Point::between(&op.last, snapshot);
                op.points.push_back(point);
                if op.points.len() > HISTORY_POINTS {
                    let _ = op.points.pop_front();
                }
            }
            op.last = Totals {
                calls: snapshot.calls,
                errors_by_kind: snapshot.errors_by_kind.clone(),
                panics: snapshot.panics,
                latency: snapshot.latency.clone(),
            };
        }
    }

    /// The points as plain data, for an instance named `instance` of the plugin `name`.
    pub(crate) fn read(
        &self,
        name: &'static str,
        instance: &'static str,
        kind: &'static str,
    ) -> InstanceHistory {
        let operations = self
            .operations
            .iter()
            .map(|op| {
                // Aligned with the newest ticks.
                let skip = self.ticks.len().saturating_sub(op.points.len());
                let points = self
                    .ticks
                    .iter()
                    .skip(skip)
                    .zip(&op.points)
                    .map(|(tick, p)| OperationPoint {
                        at: tick.at,
                        calls: p.calls,
                        errors: p.errors,
                        errors_by_kind: p.errors_by_kind.iter().copied().collect(),
                        p50: p.p50.map(Duration::from_nanos),
                        p99: p.p99.map(Duration::from_nanos),
                    })
                    .collect();
                OperationHistory {
                    name: op.name,
                    points,
                }
            })
            .collect();
        InstanceHistory {
            name,
            instance,
            kind,
            interval: HISTORY_INTERVAL,
            health: self.ticks.iter().copied().collect(),
            operations,
        }
    }
}

impl Point {
    /// What happened between `before` and `now` (totals only grow; a total that went
    /// down, which cannot happen, reads as nothing).
    fn between(before: &Totals, now: &OperationSnapshot) -> Point {
        let mut errors_by_kind = Vec::new();
        for &(kind, n) in &now.errors_by_kind {
            let old = before
                .errors_by_kind
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or(0, |(_, m)| *m);
            if n > old {
                errors_by_kind.push((kind, n - old));
            }
        }
        let panics = now.panics.saturating_sub(before.panics);
        if panics > 0 {
            let at = errors_by_kind
                .binary_search_by(|(k, _)| k.cmp(&"panic"))
                .unwrap_or_else(|i| i);
            errors_by_kind.insert(at, ("panic", panics));
        }
        let latency = now.latency.since(&before.latency);
        let nanos = |q: f64| latency.quantile_nanos(q).map(|n| n.round() as u64);
        Point {
            calls: now.calls.saturating_sub(before.calls),
            errors: errors_by_kind.iter().map(|(_, n)| n).sum(),
            errors_by_kind,
            p50: nanos(0.5),
            p99: nanos(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(calls: u64, errors: &[(&'static str, u64)]) -> OperationSnapshot {
        OperationSnapshot {
            operation: "write",
            calls,
            started: calls,
            errors: errors.iter().map(|(_, n)| n).sum(),
            errors_by_kind: errors.to_vec(),
            ..OperationSnapshot::default()
        }
    }

    #[test]
    fn each_point_holds_what_happened_in_its_interval_and_the_ring_is_bounded() {
        let mut t = Timeline::default();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let at = |i: u64| t0 + HISTORY_INTERVAL * i as u32;
        t.record(at(0), HealthStatus::Healthy, &[]);
        t.record(at(1), HealthStatus::Healthy, &[snapshot(10, &[])]);
        t.record(
            at(2),
            HealthStatus::Degraded,
            &[snapshot(25, &[("timeout", 3)])],
        );
        // Calls before the first tick are its baseline, not a point.
        let mut late = Timeline::default();
        late.record(at(0), HealthStatus::Healthy, &[snapshot(1_000, &[])]);
        late.record(at(1), HealthStatus::Healthy, &[snapshot(1_004, &[])]);
        let points = &late.read("sink", "sink", "sink").operations[0].points;
        assert_eq!(points.iter().map(|p| p.calls).collect::<Vec<_>>(), [4]);
        let h = t.read("sink", "sink", "sink");
        assert_eq!(h.health.len(), 3);
        assert_eq!(h.health[2].status, HealthStatus::Degraded);
        let points = &h.operations[0].points;
        // First seen at the second tick: two points, aligned with the newest ticks.
        assert_eq!(points.len(), 2);
        assert_eq!(
            (points[0].at, points[0].calls, points[0].errors),
            (at(1), 10, 0)
        );
        assert_eq!(
            (points[1].at, points[1].calls, points[1].errors),
            (at(2), 15, 3)
        );
        assert_eq!(points[1].errors_by_kind.get("timeout"), Some(&3));
        for i in 3..200 {
            t.record(
                at(i),
                HealthStatus::Healthy,
                &[snapshot(25 + i, &[("timeout", 3)])],
            );
        }
        let h = t.read("sink", "sink", "sink");
        assert_eq!(h.health.len(), HISTORY_POINTS);
        assert_eq!(h.operations[0].points.len(), HISTORY_POINTS);
        let last = h.operations[0].points.last().unwrap();
        assert_eq!((last.at, last.calls, last.errors), (at(199), 1, 0));
    }
}
