//! The status page: one self-contained HTML document (inline CSS and SVG, no script, no
//! external asset). One group per plugin (a `<tbody id="plugin-{name}">`), one row per
//! instance in it (a `<tr id="instance-{instance}">`); failures first, among plugins and
//! within each plugin. Each instance shows its health over the last 15 minutes and each
//! operation its call rate, error ratio and p99 over them (see `chart`), from the
//! instance's history.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use super::chart::{self, Series};
use crate::{HealthStatus, OperationStats, PluginState, PluginStats, Registry, RegistryStats};

/// The shortest and longest reload interval `?refresh=N` takes, in seconds.
const REFRESH: (u32, u32) = (5, 3600);

/// The reload interval a query string asks for (`refresh=N`, seconds, held within 5 and
/// 3600); `None` for none or one that is not a number.
pub(crate) fn refresh_seconds(query: &str) -> Option<u32> {
    let n = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("refresh="))?
        .parse::<u32>()
        .ok()?;
    Some(n.clamp(REFRESH.0, REFRESH.1))
}

const STYLE: &str = "\
:root{color-scheme:light dark;--bad:#c62828;--warn:#b26a00;--ok:#2e7d32;--dim:#757575;--line:#8884}
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem}
h1{font-size:1.3rem;margin:0 0 .3rem}
.summary{margin:0 0 1rem;color:var(--dim)}
.ready{font-weight:600}.ready.yes{color:var(--ok)}.ready.no{color:var(--bad)}
table{border-collapse:collapse}
table.plugins{width:100%}
table.plugins>thead>tr>th,table.plugins>tbody>tr>td{border-bottom:1px solid var(--line);padding:.3rem .45rem;text-align:left;vertical-align:top}
th{font-weight:600;white-space:nowrap}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:0 .45rem;border-radius:.6rem;font-size:12px;font-weight:600;color:#fff;background:var(--dim)}
.s-running,.h-healthy{background:var(--ok)}
.s-degraded,.s-loaded,.h-degraded{background:var(--warn)}
.s-failed,.s-unhealthy,.h-unhealthy{background:var(--bad)}
table.plugins>tbody+tbody{border-top:2px solid var(--line)}
tr.attention>td.instance{box-shadow:inset 4px 0 var(--bad)}
td.instance{white-space:nowrap}
.name{font-weight:600}.meta{color:var(--dim);font-size:12px}
.message{min-width:9rem;max-width:18rem;overflow-wrap:break-word}
table.ops{width:100%;table-layout:fixed}
table.ops th,table.ops td{padding:.1rem .5rem;font-size:13px;border:0}
table.ops th:nth-child(1){width:22%}table.ops th:nth-child(2){width:10%}
table.ops th:nth-child(3){width:32%}table.ops th:nth-child(n+4){width:12%}
table.ops th{color:var(--dim);font-weight:500}
.err{color:var(--bad)}.none{color:var(--dim)}
.overran{color:var(--bad);font-weight:600}
abbr{text-decoration:underline dotted;cursor:help}
svg{display:block;overflow:visible}
svg text{font:9px system-ui,sans-serif;fill:var(--dim)}
svg .axis{stroke:var(--line);stroke-width:1}
svg .line{fill:none;stroke:#1565c0;stroke-width:1.5}
svg.error_ratio .line{stroke:var(--bad)}
svg.p99 .line{stroke:#6a1b9a}
.exemplar{font-size:.8em;font-family:monospace}
.objective{font-size:.8em;color:#555}
.objective .spent{color:#b71c1c;font-weight:600}
.breaker{font-size:.8em;color:#555}.breaker .b-open,.breaker .b-half_open{color:var(--bad);font-weight:600}
svg.hist rect{fill:#5c6bc0}
svg.strip rect{fill:var(--dim)}
svg.strip .h-healthy{fill:var(--ok)}svg.strip .h-degraded{fill:var(--warn)}svg.strip .h-unhealthy{fill:var(--bad)}
.sparks{display:flex;gap:.5rem;align-items:flex-end;padding-bottom:.2rem}
.status .strip{margin-top:.3rem}
html{scroll-snap-type:y proximity}
h1{scroll-snap-align:start;scroll-margin-top:1.5rem}
tbody.plugin{scroll-snap-align:start}
";

/// The page for `stats`, with readiness from `registry`.
pub(crate) fn render(stats: &RegistryStats, registry: &Registry, refresh: Option<u32>) -> String {
    let ready = registry.readiness().ready;
    let mut out = String::with_capacity(4096 + 4096 * stats.plugins.len());
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    if let Some(seconds) = refresh {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{seconds}\">");
    }
    let _ = writeln!(out, "<title>plugobs: {} plugins</title>", stats.total);
    let _ = writeln!(out, "<style>\n{STYLE}</style>\n</head>\n<body>");
    out.push_str("<h1>Plugins</h1>\n<p class=\"summary\">");
    let _ = write!(
        out,
        "<span class=\"ready {}\">{}</span>",
        if ready { "yes" } else { "no" },
        if ready { "ready" } else { "not ready" }
    );
    let _ = write!(
        out,
        " · {} plugins · {} instances",
        stats.total,
        stats.plugins.len()
    );
    for (state, n) in stats.by_state.iter().filter(|(_, n)| **n > 0) {
        let _ = write!(out, " · {} {n}", state.as_str());
    }
    let _ = write!(
        out,
        " · {} calls · {} errors",
        stats.total_calls, stats.total_errors
    );
    // The monitor itself, once it ran: a round longer than its interval shows in red.
    let rounds = &stats.health_rounds;
    if rounds.rounds > 0 {
        let _ = write!(
            out,
            " · health rounds {}, {}{} overran{}, longest {}",
            rounds.rounds,
            if rounds.overruns > 0 {
                "<span class=\"overran\">"
            } else {
                ""
            },
            rounds.overruns,
            if rounds.overruns > 0 { "</span>" } else { "" },
            duration(rounds.max),
        );
    }
    // A tab left open says how old it is, and whether it reloads itself.
    let _ = write!(
        out,
        " · generated <time class=\"generated\">{} UTC</time>",
        utc(SystemTime::now())
    );
    match refresh {
        Some(seconds) => {
            let _ = write!(out, ", reloads every {seconds} s");
        }
        None => out.push_str(", <a href=\"?refresh=30\">reload every 30 s</a>"),
    }
    out.push_str("</p>\n");

    out.push_str("<table class=\"plugins\">\n<thead><tr><th>Plugin</th><th>Instance</th>");
    out.push_str("<th title=\"the state, the health when it adds to it, and the health over the last 15 minutes\">Status</th><th>Message</th>");
    out.push_str("<th class=\"num\">Load time</th><th class=\"num\">Start time</th>");
    out.push_str("<th>Loaded at (UTC)</th><th>Operations</th>");
    out.push_str("</tr></thead>\n");
    for group in groups(stats) {
        plugin(&mut out, &group);
    }
    if stats.plugins.is_empty() {
        out.push_str("<tbody><tr><td colspan=\"8\" class=\"none\">No plugin is registered.</td></tr></tbody>\n");
    }
    out.push_str("</table>\n</body>\n</html>\n");
    out
}

/// The instances of `stats` grouped by plugin: the worst group first (then by name), and
/// in each group the worst instance first (then the default instance, then by name).
fn groups(stats: &RegistryStats) -> Vec<Vec<&PluginStats>> {
    let mut groups: Vec<Vec<&PluginStats>> = Vec::new();
    for p in &stats.plugins {
        match groups.iter_mut().find(|g| g[0].name == p.name) {
            Some(group) => group.push(p),
            None => groups.push(vec![p]),
        }
    }
    for group in &mut groups {
        group.sort_by_key(|p| (rank(p), !is_default(p), p.instance));
    }
    groups.sort_by_key(|g| (rank(g[0]), g[0].name));
    groups
}

/// Whether `p` is its plugin's default instance: the one named after the plugin.
fn is_default(p: &PluginStats) -> bool {
    p.instance == p.name
}

/// Failures first: failed, then unhealthy, degraded, starting, running, stopped,
/// registered; a plugin's state and its reported health, whichever is worse.
fn rank(p: &PluginStats) -> u8 {
    let by_state = match p.state {
        PluginState::Failed => 0,
        PluginState::Unhealthy => 1,
        PluginState::Degraded => 2,
        PluginState::Loaded => 3,
        PluginState::Running => 4,
        PluginState::Stopped => 5,
        PluginState::Registered => 6,
    };
    let by_health = match p.health.status {
        HealthStatus::Unhealthy => 1,
        HealthStatus::Degraded => 2,
        HealthStatus::Healthy | HealthStatus::Unknown => 6,
    };
    by_state.min(by_health)
}

/// The health column and its message: the reported status, why, and the details the
/// message does not already say (the policy's message carries its figures).
fn health(p: &PluginStats) -> (&'static str, String) {
    let h = &p.health;
    let mut message = h.message.clone();
    let details: Vec<String> = h
        .details
        .iter()
        .filter(|(_, v)| !says(&h.message, v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if !details.is_empty() {
        if !message.is_empty() {
            message.push(' ');
        }
        message.push('(');
        message.push_str(&details.join(", "));
        message.push(')');
    }
    (h.status.as_str(), message)
}

/// Whether `message` states `value` as a figure of its own: `retries=3` is said by
/// "gave up after 3 tries", not by "timed out after 300ms".
fn says(message: &str, value: &str) -> bool {
    let figure = |c: char| c.is_alphanumeric() || c == '.';
    !value.is_empty()
        && message.match_indices(value).any(|(at, _)| {
            let before = message[..at].chars().next_back();
            let after = message[at + value.len()..].chars().next();
            !before.is_some_and(figure) && !after.is_some_and(figure)
        })
}

/// A plugin's group: its instances' rows, the plugin's name, kind and version spanning
/// them.
fn plugin(out: &mut String, group: &[&PluginStats]) {
    let first = group[0];
    let _ = writeln!(
        out,
        "<tbody id=\"plugin-{name}\" class=\"plugin\" data-plugin=\"{name}\" data-instances=\"{n}\">",
        name = Escape(first.name),
        n = group.len(),
    );
    for (i, p) in group.iter().enumerate() {
        let head = (i == 0).then_some(group.len());
        row(out, p, head);
    }
    out.push_str("</tbody>\n");
}

/// One instance's row; the first of its plugin's group also has the plugin's cell,
/// spanning the group's `head` rows.
fn row(out: &mut String, p: &PluginStats, head: Option<usize>) {
    let state = p.state.as_str();
    let (health, health_message) = health(p);
    let attention = rank(p) <= 1;
    let _ = write!(
        out,
        "<tr id=\"instance-{instance}\" class=\"instance{attention}\" data-plugin=\"{name}\" data-instance=\"{instance}\" data-state=\"{state}\" data-health=\"{health}\">",
        name = Escape(p.name),
        instance = Escape(p.instance),
        attention = if attention { " attention" } else { "" },
    );
    if let Some(rows) = head {
        let span = if rows > 1 {
            format!(" rowspan=\"{rows}\"")
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<td class=\"plugin\"{span}><div class=\"name\">{}</div><div class=\"meta\">{} {}</div></td>",
            Escape(p.name),
            Escape(p.kind),
            Escape(p.version)
        );
    }
    if is_default(p) {
        out.push_str("<td class=\"instance\"><span class=\"none\" title=\"the instance named after its plugin\">default</span></td>");
    } else {
        let _ = write!(
            out,
            "<td class=\"instance\"><div class=\"name\">{}</div></td>",
            Escape(p.instance)
        );
    }
    let checked = p.health.checked_at.map_or_else(
        || "never checked".to_owned(),
        |t| format!("checked {} UTC", utc(t)),
    );
    // One badge when the state says it all: an unhealthy plugin is not "unhealthy
    // unhealthy", a running one checked healthy is "running"; the health's own badge when
    // it adds something (degraded while running, never checked, ...).
    let says_it_all = health == state
        || (p.state == PluginState::Running && p.health.status == HealthStatus::Healthy)
        || (!running(p) && p.health.status == HealthStatus::Unknown);
    let _ = write!(
        out,
        "<td class=\"status\"><span class=\"badge state s-{state}\" title=\"health: {health}, {checked}\">{state}</span>"
    );
    if !says_it_all {
        let _ = write!(
            out,
            " <span class=\"badge health h-{health}\" title=\"{checked}\">{health}</span>"
        );
    }
    chart::health_strip(out, &p.history.health);
    out.push_str("</td>");
    let mut message = health_message;
    if let Some(f) = &p.last_failure {
        if !message.is_empty() {
            message.push_str("; ");
        }
        let _ = write!(
            message,
            "last failure: {} {}: {}",
            f.stage, f.reason, f.message
        );
    }
    let _ = write!(out, "<td class=\"message\">{}</td>", Escape(&message));
    let _ = write!(
        out,
        "<td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>",
        duration(p.load_duration),
        duration(p.start_duration),
        p.loaded_at.map_or_else(|| "-".to_owned(), utc),
    );
    out.push_str("<td>");
    operations(out, p);
    own(out, p);
    out.push_str("</td></tr>\n");
}

/// Under the operations: the busy ratio, CPU and memory when measured, and the plugin's
/// own metrics.
fn own(out: &mut String, p: &PluginStats) {
    let mut parts = Vec::new();
    // A plugin that is not running is busy with nothing: no figure.
    if !p.operations.is_empty() && running(p) {
        parts.push(format!("busy {:.1}%", p.busy_ratio * 100.0));
    }
    let cpu: Duration = p
        .operations
        .iter()
        .filter_map(|o| o.cpu)
        .chain(p.background_cpu)
        .sum();
    if p.operations.iter().any(|o| o.cpu.is_some()) || p.background_cpu.is_some() {
        parts.push(format!("cpu {}", duration(Some(cpu))));
    }
    if let (Some(a), Some(f)) = (p.allocated_bytes, p.freed_bytes) {
        // Freed by its own code: a buffer it hands out is freed by the host, so the
        // difference is not what it holds.
        parts.push(format!("allocated {a} B, freed in its code {f} B"));
    }
    parts.extend(p.custom.iter().map(ToString::to_string));
    if parts.is_empty() {
        return;
    }
    let _ = write!(
        out,
        "<div class=\"own meta\">{}</div>",
        Escape(&parts.join(" · "))
    );
}

/// The slowest recent exemplar of an operation (feature `exemplars`), under its p99: its
/// trace id, linked when a link template is set.
fn exemplar(out: &mut String, o: &crate::OperationStats) {
    let Some(e) = &o.exemplar else { return };
    let title = format!(
        "slowest recent call: {} in trace {}",
        duration(Some(e.latency)),
        e.trace_id
    );
    let short = e.trace_id.get(..8).unwrap_or(&e.trace_id);
    match &e.link {
        Some(link) => {
            let _ = write!(
                out,
                "<br><a class=\"exemplar\" data-trace-id=\"{}\" href=\"{}\" title=\"{}\">trace {}…</a>",
                Escape(&e.trace_id),
                Escape(link),
                Escape(&title),
                Escape(short)
            );
        }
        None => {
            let _ = write!(
                out,
                "<br><span class=\"exemplar\" data-trace-id=\"{}\" title=\"{}\">trace {}…</span>",
                Escape(&e.trace_id),
                Escape(&title),
                Escape(short)
            );
        }
    }
}

fn operations(out: &mut String, p: &PluginStats) {
    if p.operations.is_empty() {
        out.push_str("<span class=\"none\">none called</span>");
        return;
    }
    out.push_str("<table class=\"ops\"><thead><tr><th>operation</th><th class=\"num\">calls</th>");
    out.push_str("<th>errors %</th><th class=\"num\">p50</th>");
    out.push_str("<th class=\"num\">p99</th><th class=\"num\">in flight</th>");
    out.push_str("</tr></thead><tbody>");
    for o in &p.operations {
        let _ = write!(
            out,
            "<tr data-operation=\"{}\"><td>{}",
            Escape(o.name),
            Escape(o.name),
        );
        objective(out, o);
        breaker(out, o);
        let _ = write!(out, "</td><td class=\"num\">{}</td><td>", o.calls);
        let failed = o.errors + o.panics + o.cancelled;
        if failed == 0 {
            out.push_str("<span class=\"none\">0</span>");
        } else {
            let mut kinds: Vec<(&str, u64)> =
                o.errors_by_kind.iter().map(|(k, n)| (*k, *n)).collect();
            if o.panics > 0 {
                kinds.push(("panic", o.panics));
            }
            if o.cancelled > 0 {
                kinds.push(("cancelled", o.cancelled));
            }
            // The breakdown in a tooltip: the table keeps one line per operation.
            let parts: Vec<String> = kinds
                .iter()
                .map(|(k, n)| format!("{} {}", Escape(k), ratio(*n, o.calls)))
                .collect();
            let _ = write!(
                out,
                "<abbr class=\"err\" title=\"{}\">{}</abbr>",
                parts.join(", "),
                ratio(failed, o.calls)
            );
        }
        let _ = write!(
            out,
            "</td><td class=\"num\">{}</td><td class=\"num\">{}",
            duration(o.p50),
            duration(o.p99),
        );
        exemplar(out, o);
        let _ = write!(out, "</td><td class=\"num\">{}</td></tr>", o.in_flight);
        // Its last 15 minutes and its latency so far, on a line of their own.
        let points = p
            .history
            .operations
            .iter()
            .find(|h| h.name == o.name)
            .map_or(&[][..], |h| &h.points[..]);
        let _ = write!(
            out,
            "<tr class=\"trend\" data-trend=\"{}\"><td colspan=\"6\"><div class=\"sparks\">",
            Escape(o.name)
        );
        for series in Series::ALL {
            chart::sparkline(out, series, points);
        }
        chart::latency_histogram(out, &o.latency_by_decade);
        out.push_str("</div></td></tr>");
    }
    out.push_str("</tbody></table>");
}

/// Under an operation's name, the objectives it declares and the error budget left, and
/// its sampling rate when only some calls are timed.
fn objective(out: &mut String, o: &OperationStats) {
    let mut parts = Vec::new();
    if let Some(every) = o.sampled {
        parts.push(format!("1 in {every} timed"));
    }
    if let Some(success) = o.objective {
        parts.push(format!("{} ok", percent(success)));
    }
    if let Some(latency) = o.latency_objective {
        parts.push(format!("p99 ≤ {}", duration(Some(latency))));
    }
    if parts.is_empty() {
        return;
    }
    let budget = match o.error_budget_left {
        Some(left) if left < 0.0 => {
            format!(
                " · <span class=\"spent\">budget overspent by {}</span>",
                percent(-left)
            )
        }
        Some(left) => format!(" · budget {} left", percent(left)),
        None => String::new(),
    };
    let _ = write!(
        out,
        "<div class=\"objective\" title=\"{}\">{}{budget}</div>",
        if o.sampled.is_some() {
            "latencies from the timed calls only; objectives declared in code; the error budget over every call so far"
        } else {
            "objectives declared in code; the error budget over every call so far"
        },
        Escape(&parts.join(" · "))
    );
}

/// Under an operation's name, its circuit breaker: state, trips, calls rejected.
fn breaker(out: &mut String, o: &OperationStats) {
    let Some(b) = o.breaker else { return };
    let state = b.state.as_str();
    let _ = write!(
        out,
        "<div class=\"breaker\" data-breaker=\"{state}\" title=\"circuit breaker: calls it rejected did not reach the plugin and are not in the calls\">breaker <span class=\"b-{state}\">{}</span>",
        state.replace('_', "-")
    );
    if b.trips > 0 {
        let _ = write!(
            out,
            " · {} trip{}",
            b.trips,
            if b.trips == 1 { "" } else { "s" }
        );
    }
    if b.rejected > 0 {
        let _ = write!(out, " · {} rejected", b.rejected);
    }
    out.push_str("</div>");
}

/// `share` (1 = 100 %) as a percentage, with the decimals it needs (99.9 %, 62 %).
fn percent(share: f64) -> String {
    let p = share * 100.0;
    let text = format!("{p:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

/// Whether an instance of `p` runs (degraded and unhealthy ones still do).
fn running(p: &PluginStats) -> bool {
    matches!(
        p.state,
        PluginState::Running | PluginState::Degraded | PluginState::Unhealthy
    )
}

/// `n` of `of` as a percentage with one decimal.
fn ratio(n: u64, of: u64) -> String {
    if of == 0 {
        return "-".to_owned();
    }
    format!("{:.1}%", n as f64 * 100.0 / of as f64)
}

/// Three significant figures and a unit, `-` for none.
fn duration(d: Option<Duration>) -> String {
    d.map_or_else(|| "-".to_owned(), plugobs_runtime::__private::fmt::duration)
}

/// `YYYY-MM-DD hh:mm:ss` in UTC.
fn utc(t: SystemTime) -> String {
    let secs = plugobs_runtime::__private::fmt::unix_seconds(t) as u64;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// HTML-escapes text and attribute values.
struct Escape<'a>(&'a str);

impl std::fmt::Display for Escape<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => std::fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    #[test]
    fn formats_times_in_utc() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_460_584);
        assert_eq!(utc(t), "2026-11-23 19:03:04");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc(leap), "2000-02-29 00:00:00");
    }

    #[test]
    fn a_detail_is_left_out_only_when_the_message_states_it() {
        let cases: &[(&str, &str, bool)] = &[
            ("error ratio 0.07 > 0.05 over 60s (400 calls)", "0.07", true),
            ("error ratio 0.07 > 0.05 over 60s (400 calls)", "400", true),
            ("timed out after 300ms", "3", false),
            ("timed out after 300ms", "300", false),
            ("gave up after 3 tries", "3", true),
            ("upstream unreachable", "3", false),
            ("anything", "", false),
        ];
        for (message, value, said) in cases {
            assert_eq!(says(message, value), *said, "{message:?} {value:?}");
        }
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(
            Escape("<a href=\"x\">&'").to_string(),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }

    #[test]
    fn formats_durations_and_ratios() {
        assert_eq!(duration(None), "-");
        assert_eq!(duration(Some(Duration::from_nanos(512))), "512ns");
        assert_eq!(duration(Some(Duration::from_micros(1500))), "1.50ms");
        assert_eq!(ratio(1, 3), "33.3%");
        assert_eq!(ratio(0, 0), "-");
    }

    #[test]
    fn a_breaker_shows_under_its_operation() {
        use plugobs_runtime::breaker::{BreakerSnapshot, BreakerState};
        let stats = OperationStats {
            name: "page",
            calls: 2,
            ok: 0,
            errors: 2,
            errors_by_kind: Default::default(),
            panics: 0,
            cancelled: 0,
            in_flight: 0,
            mean: None,
            p50: None,
            p90: None,
            p99: None,
            max: None,
            cpu: None,
            sampled: None,
            timed_calls: 2,
            objective: None,
            latency_objective: None,
            error_budget_left: None,
            breaker: Some(BreakerSnapshot {
                state: BreakerState::HalfOpen,
                trips: 2,
                rejected: 7,
            }),
            latency_by_decade: [0; 8],
            exemplar: None,
        };
        let mut out = String::new();
        breaker(&mut out, &stats);
        assert_eq!(
            out,
            "<div class=\"breaker\" data-breaker=\"half_open\" title=\"circuit breaker: calls it rejected did not reach the plugin and are not in the calls\">breaker <span class=\"b-half_open\">half-open</span> · 2 trips · 7 rejected</div>"
        );
        let mut none = String::new();
        breaker(
            &mut none,
            &OperationStats {
                breaker: None,
                ..stats
            },
        );
        assert_eq!(none, "");
    }

    #[test]
    fn an_exemplar_shows_under_p99_linked_when_a_template_is_set() {
        use plugobs_runtime::exemplars::SlowExemplar;
        let mut stats = OperationStats {
            name: "write",
            calls: 1,
            ok: 1,
            errors: 0,
            errors_by_kind: Default::default(),
            panics: 0,
            cancelled: 0,
            in_flight: 0,
            mean: None,
            p50: None,
            p90: None,
            p99: None,
            max: None,
            cpu: None,
            sampled: None,
            timed_calls: 1,
            objective: None,
            latency_objective: None,
            error_budget_left: None,
            breaker: None,
            latency_by_decade: [0; 8],
            exemplar: Some(SlowExemplar {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
                span_id: "00f067aa0ba902b7".to_owned(),
                latency: Duration::from_micros(4300),
                at: std::time::UNIX_EPOCH,
                link: None,
            }),
        };
        let cases = [
            (
                None,
                "<br><span class=\"exemplar\" data-trace-id=\"4bf92f3577b34da6a3ce929d0e0e4736\" \
                 title=\"slowest recent call: 4.30ms in trace 4bf92f3577b34da6a3ce929d0e0e4736\">\
                 trace 4bf92f35…</span>",
            ),
            (
                Some("http://j/trace/4bf92f3577b34da6a3ce929d0e0e4736?a=1&b=2"),
                "<br><a class=\"exemplar\" data-trace-id=\"4bf92f3577b34da6a3ce929d0e0e4736\" \
                 href=\"http://j/trace/4bf92f3577b34da6a3ce929d0e0e4736?a=1&amp;b=2\" \
                 title=\"slowest recent call: 4.30ms in trace 4bf92f3577b34da6a3ce929d0e0e4736\">\
                 trace 4bf92f35…</a>",
            ),
        ];
        for (link, expected) in cases {
            stats.exemplar.as_mut().unwrap().link = link.map(str::to_owned);
            let mut out = String::new();
            exemplar(&mut out, &stats);
            assert_eq!(out, expected);
        }
        let mut none = String::new();
        stats.exemplar = None;
        exemplar(&mut none, &stats);
        assert_eq!(none, "");
    }
}
