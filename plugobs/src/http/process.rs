//! The standard `process_*` families (feature `process`), read by `metrics-process` at
//! scrape time and written in the scrape's format.

use std::fmt::Write as _;

use crate::exposition::Format;

/// Appends the process families `metrics-process` can read on this platform.
pub(crate) fn render_into(format: Format, out: &mut String) {
    let m = metrics_process::collector::collect();
    let gauge = |v: Option<u64>| v.map(|v| v.to_string());
    let families: [(&str, bool, &str, Option<String>); 8] = [
        (
            "process_cpu_seconds_total",
            true,
            "Total user and system CPU time spent in seconds.",
            m.cpu_seconds_total.map(|v| v.to_string()),
        ),
        (
            "process_open_fds",
            false,
            "Number of open file descriptors.",
            gauge(m.open_fds),
        ),
        (
            "process_max_fds",
            false,
            "Maximum number of open file descriptors.",
            gauge(m.max_fds),
        ),
        (
            "process_virtual_memory_bytes",
            false,
            "Virtual memory size in bytes.",
            gauge(m.virtual_memory_bytes),
        ),
        (
            "process_virtual_memory_max_bytes",
            false,
            "Maximum amount of virtual memory available in bytes.",
            gauge(m.virtual_memory_max_bytes),
        ),
        (
            "process_resident_memory_bytes",
            false,
            "Resident memory size in bytes.",
            gauge(m.resident_memory_bytes),
        ),
        (
            "process_start_time_seconds",
            false,
            "Start time of the process since unix epoch in seconds.",
            gauge(m.start_time_seconds),
        ),
        (
            "process_threads",
            false,
            "Number of OS threads in the process.",
            gauge(m.threads),
        ),
    ];
    for (name, counter, help, value) in families {
        let Some(value) = value else { continue };
        let family = match (format, counter) {
            (Format::OpenMetrics, true) => name.strip_suffix("_total").unwrap_or(name),
            _ => name,
        };
        let kind = if counter { "counter" } else { "gauge" };
        let _ = writeln!(out, "# HELP {family} {help}");
        let _ = writeln!(out, "# TYPE {family} {kind}");
        let _ = writeln!(out, "{name} {value}");
    }
}
