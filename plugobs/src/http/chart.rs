//! The status page's pictures, as inline SVG (no script, no external asset): an
//! operation's sparklines over its history, its latency histogram, an instance's health
//! over time. Pure functions from plain data to markup.
//!
//! Colour is never the only signal: each sparkline carries its name and latest value as
//! text, a health cell's height grows with its severity, and every picture has a
//! `<title>` that says what it shows.

use std::fmt::Write as _;
use std::time::Duration;

use crate::HealthStatus;
use crate::history::{HISTORY_INTERVAL, HISTORY_POINTS, HealthPoint, OperationPoint};

/// Width of one sparkline's plot, in pixels: one per history slot.
const SPARK_WIDTH: usize = HISTORY_POINTS;
/// Height of a sparkline's plot.
const SPARK_HEIGHT: f64 = 16.0;

/// One series of an operation's history.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Series {
    /// Calls per second.
    CallRate,
    /// Errors and panics over calls.
    ErrorRatio,
    /// The interval's 99th percentile latency.
    P99,
}

impl Series {
    pub(crate) const ALL: [Series; 3] = [Series::CallRate, Series::ErrorRatio, Series::P99];

    fn name(self) -> &'static str {
        match self {
            Series::CallRate => "call_rate",
            Series::ErrorRatio => "error_ratio",
            Series::P99 => "p99",
        }
    }

    fn caption(self) -> &'static str {
        match self {
            Series::CallRate => "calls/s",
            Series::ErrorRatio => "errors",
            Series::P99 => "p99",
        }
    }

    /// The value of `p`, in the unit [`Series::label`] shows; `None` where the interval
    /// had no call (no error ratio, no latency).
    fn value(self, p: &OperationPoint) -> Option<f64> {
        match self {
            Series::CallRate => Some(p.calls as f64 / HISTORY_INTERVAL.as_secs_f64()),
            Series::ErrorRatio => p.error_ratio().map(|r| r * 100.0),
            Series::P99 => p.p99.map(|d| d.as_secs_f64()),
        }
    }

    fn label(self, v: f64) -> String {
        match self {
            Series::CallRate if v >= 100.0 => format!("{v:.0}/s"),
            Series::CallRate => format!("{v:.1}/s"),
            Series::ErrorRatio => format!("{v:.1}%"),
            Series::P99 => plugobs_runtime::__private::fmt::duration(Duration::from_secs_f64(v)),
        }
    }
}

/// `(x, y)` of each point of `series` that has a value: x in slots from the left edge of
/// a 15-minute axis whose right edge is the newest point, y from 0 (the axis) to
/// [`SPARK_HEIGHT`] (the series' maximum).
pub(crate) fn coordinates(series: Series, points: &[OperationPoint]) -> Vec<(f64, f64)> {
    let max = points
        .iter()
        .filter_map(|p| series.value(p))
        .fold(0.0_f64, f64::max);
    let offset = HISTORY_POINTS.saturating_sub(points.len());
    points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let v = series.value(p)?;
            let x = (offset + i) as f64 + 0.5;
            let y = if max > 0.0 {
                v / max * SPARK_HEIGHT
            } else {
                0.0
            };
            Some((x, y))
        })
        .collect()
}

/// One sparkline: the series over the history as a polyline on a 15-minute axis, its
/// caption and latest value above it, its maximum in the title.
pub(crate) fn sparkline(out: &mut String, series: Series, points: &[OperationPoint]) {
    let coords = coordinates(series, points);
    let latest = points.last().and_then(|p| series.value(p));
    let max = points
        .iter()
        .filter_map(|p| series.value(p))
        .fold(0.0_f64, f64::max);
    let top = 11.0;
    let height = top + SPARK_HEIGHT + 2.0;
    let _ = write!(
        out,
        "<svg class=\"spark {name}\" data-series=\"{name}\" width=\"{SPARK_WIDTH}\" height=\"{height}\" viewBox=\"0 0 {SPARK_WIDTH} {height}\" role=\"img\">",
        name = series.name(),
    );
    let _ = write!(
        out,
        "<title>{} over the last 15 minutes, one point per {} s; highest {}</title>",
        series.caption(),
        HISTORY_INTERVAL.as_secs(),
        series.label(max)
    );
    let _ = write!(
        out,
        "<text x=\"0\" y=\"9\" class=\"caption\">{}</text><text x=\"{SPARK_WIDTH}\" y=\"9\" class=\"value\" text-anchor=\"end\">{}</text>",
        series.caption(),
        latest.map_or_else(|| "-".to_owned(), |v| series.label(v))
    );
    let base = top + SPARK_HEIGHT;
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"0\" y1=\"{base}\" x2=\"{SPARK_WIDTH}\" y2=\"{base}\"/>"
    );
    if !coords.is_empty() {
        out.push_str("<polyline class=\"line\" points=\"");
        for (i, (x, y)) in coords.iter().enumerate() {
            if i > 0 {
                out.push(' ');
            }
            let _ = write!(out, "{x:.1},{:.1}", base - y);
        }
        out.push_str("\"/>");
    }
    out.push_str("</svg>");
}

/// The latency histogram, one bar per decade of [`OperationStats::latency_by_decade`]
/// (below 10 µs, …, 10 s and more), the axis's ends labelled.
///
/// [`OperationStats::latency_by_decade`]: crate::OperationStats::latency_by_decade
pub(crate) fn latency_histogram(out: &mut String, bars: &[u64; 8]) {
    const DECADES: [&str; 8] = [
        "<10µs", "<100µs", "<1ms", "<10ms", "<100ms", "<1s", "<10s", "≥10s",
    ];
    let max = bars.iter().copied().max().unwrap_or(0).max(1);
    let total: u64 = bars.iter().sum();
    let (bar, gap, plot) = (6.0, 1.0, 16.0);
    let width = DECADES.len() as f64 * (bar + gap);
    let height = plot + 10.0;
    let _ = write!(
        out,
        "<svg class=\"hist\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\"><title>latency of all {total} calls, by decade:"
    );
    for (label, n) in DECADES.iter().zip(bars.iter()) {
        let _ = write!(out, " {label} {n};");
    }
    out.push_str("</title>");
    for (i, n) in bars.iter().enumerate() {
        let h = if *n == 0 {
            0.0
        } else {
            (*n as f64 / max as f64 * plot).max(1.0)
        };
        let x = i as f64 * (bar + gap);
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"{:.1}\" width=\"{bar}\" height=\"{h:.1}\" data-count=\"{n}\"/>",
            plot - h
        );
    }
    // The labels of the ends: where the axis starts and ends.
    let _ = write!(
        out,
        "<text x=\"0\" y=\"{height}\" class=\"caption\">µs</text><text x=\"{width}\" y=\"{height}\" class=\"caption\" text-anchor=\"end\">10s</text></svg>"
    );
}

/// An instance's health over the history: one cell per point, its colour and its height
/// both saying the status (unknown a line, healthy low, degraded higher, unhealthy full).
pub(crate) fn health_strip(out: &mut String, points: &[HealthPoint]) {
    if points.is_empty() {
        return;
    }
    let (cell, plot) = (1.0, 12.0);
    let width = HISTORY_POINTS as f64 * cell;
    let offset = HISTORY_POINTS.saturating_sub(points.len());
    let _ = write!(
        out,
        "<svg class=\"strip\" width=\"{width}\" height=\"{plot}\" viewBox=\"0 0 {width} {plot}\" role=\"img\"><title>health over the last 15 minutes, one cell per {} s (taller is worse): {}</title>",
        HISTORY_INTERVAL.as_secs(),
        summary(points)
    );
    for (i, p) in points.iter().enumerate() {
        let h = match p.status {
            HealthStatus::Unknown => 1.0,
            HealthStatus::Healthy => 4.0,
            HealthStatus::Degraded => 8.0,
            HealthStatus::Unhealthy => 12.0,
        };
        let x = (offset + i) as f64 * cell;
        let _ = write!(
            out,
            "<rect class=\"h-{s}\" data-status=\"{s}\" x=\"{x}\" y=\"{:.0}\" width=\"{cell}\" height=\"{h:.0}\"/>",
            plot - h,
            s = p.status.as_str()
        );
    }
    out.push_str("</svg>");
}

/// How many points had each status, worst first: `unhealthy 3, healthy 87`.
fn summary(points: &[HealthPoint]) -> String {
    let parts: Vec<String> = [
        HealthStatus::Unhealthy,
        HealthStatus::Degraded,
        HealthStatus::Healthy,
        HealthStatus::Unknown,
    ]
    .iter()
    .filter_map(|s| {
        let n = points.iter().filter(|p| p.status == *s).count();
        (n > 0).then(|| format!("{} {n}", s.as_str()))
    })
    .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn point(calls: u64, errors: u64) -> OperationPoint {
        OperationPoint {
            at: SystemTime::UNIX_EPOCH,
            calls,
            errors,
            errors_by_kind: Default::default(),
            p50: None,
            p99: None,
        }
    }

    #[test]
    fn the_newest_point_is_at_the_right_edge_and_the_maximum_at_the_top() {
        let points = [point(10, 0), point(10, 5), point(0, 0)];
        let rate = coordinates(Series::CallRate, &points);
        // Three points of 90: slots 87, 88, 89, a pixel each.
        assert_eq!(rate, [(87.5, 16.0), (88.5, 16.0), (89.5, 0.0)]);
        // No error ratio without calls: the last point has none.
        let errors = coordinates(Series::ErrorRatio, &points);
        assert_eq!(errors, [(87.5, 0.0), (88.5, 16.0)]);
    }

    #[test]
    fn labels_have_units() {
        assert_eq!(Series::CallRate.label(12.34), "12.3/s");
        assert_eq!(Series::CallRate.label(1234.0), "1234/s");
        assert_eq!(Series::ErrorRatio.label(2.5), "2.5%");
        assert_eq!(Series::P99.label(0.0032), "3.20ms");
    }
}
