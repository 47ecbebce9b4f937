//! The alert and recording rules.
//!
//! Every aggregation keeps the host labels (`job`, `host` by default: the setting
//! `host_labels`) and the configured instance: rules group `by (job, host, plugin, kind,
//! instance, ...)` and join `on (job, host, plugin, kind, instance)`, so two hosts running
//! an instance of the same name, and two instances of one plugin (two Kafka sinks to two
//! clusters), are judged apart, and an alert names the machine and the instance that
//! fail. Every series read carries the `selector` setting (e.g. `job="pipeline"`), so the
//! rules look at the targets they are for, not at the whole Prometheus. A plugin loaded
//! without an instance name has `instance` = its plugin name. The rules need plugobs' own
//! `instance` label, which a default Prometheus scrape renames `exported_instance`:
//! scrape with `honor_labels: true`, as [`prometheus_config`](crate::prometheus_config)
//! does.
//!
//! Alerts (each with a `severity` label, a summary, a description naming the host, the
//! plugin and its instance, and a `runbook_url` into `docs/operating.md`):
//!
//! | alert | fires when |
//! |---|---|
//! | `PlugobsTargetDown` | a target that exposed plugobs' metrics within `target_lookback` is no longer scraped (`up` is 0) |
//! | `PlugobsNoPluginRunning` | a scraped target runs no plugin instance (none running or degraded) |
//! | `PlugobsPluginLoadFailed` | an instance's configuration, constructor or start hook failed in the last `lifecycle_window`, or failed at some point and is not up now |
//! | `PlugobsOperationErrorRatioHigh` | an operation's errors and panics over its finished calls, in one instance, exceed `error_ratio`, over at least `min_calls` calls |
//! | `PlugobsOperationSlow` | an operation's `latency_quantile` latency exceeds its latency objective (declared in code, else `slow_seconds`), over at least `min_calls` calls |
//! | `PlugobsPluginStartSlow` | a start of an instance took longer than `slow_start_seconds` in the last `lifecycle_window` |
//! | `PlugobsPluginFlapping` | an instance changed state more than `flapping_transitions` times in `lifecycle_window` |
//! | `PlugobsPluginUnhealthy` | an instance's health is `unhealthy` |
//! | `PlugobsCircuitBreakerOpen` | an operation's circuit breaker has not been closed (open, or half-open probing) for `breaker_open_for` |
//! | `PlugobsHealthCheckTimeouts` | an instance's health checks time out |
//! | `PlugobsHealthCheckStale` | a running instance was not checked for `stale_check_seconds` |
//! | `PlugobsHealthRoundsOverrun` | the health monitor's rounds took longer than its interval in the last `lifecycle_window` |
//! | `PlugobsErrorBudgetBurnFast` | an operation's error budget (its success objective declared in code, else `objective`) burns 14.4× (1h and 5m) or 6× (6h and 30m) too fast: page |
//! | `PlugobsErrorBudgetBurnSlow` | it burns 3× (1d and 2h) or 1× (3d and 6h) too fast: ticket |
//!
//! The burn-rate pairs are the multiwindow, multi-burn-rate alerts of the SRE workbook
//! (chapter 5), per operation, over errors and panics, and only where the long window
//! holds at least `min_calls` calls and the operation was already counted a short window
//! earlier (so a brand-new series does not page on its first seconds of data). Objectives in code come from the gauge
//! `plugobs_operation_objective{objective="success"|"latency"}`; the recording rules
//! `…:operation_error_budget:ratio` and `…:operation_latency_objective:seconds` hold each
//! operation's own, or the setting for an operation that declares none.

use crate::OpsError;
use crate::config::Config;
use crate::names::{Names, OBJECTIVE};
use crate::scope::Scope;
use crate::yaml::{Group, Rule};

/// `window` seconds as a Prometheus duration.
pub(crate) fn secs(window: f64) -> String {
    format!("{}s", window.round().max(1.0) as u64)
}

/// The burn-rate windows (long, short, burn factor, severity), in seconds before scaling.
const BURN: &[(f64, f64, f64, &str)] = &[
    (3600.0, 300.0, 14.4, "critical"),
    (21_600.0, 1800.0, 6.0, "critical"),
    (86_400.0, 7200.0, 3.0, "warning"),
    (259_200.0, 21_600.0, 1.0, "warning"),
];

/// The recording rule name of the latency quantile `q`: `p99` for 0.99, `p999` for 0.999.
pub fn quantile_label(q: f64) -> String {
    let pct = (q * 1e6).round() / 1e4;
    format!("p{}", pct.to_string().replace('.', ""))
}

/// The anchor of an alert's section in `docs/operating.md` (its heading is the alert's
/// name in backticks, whose GitHub anchor is the name in lower case).
pub fn runbook_anchor(alert: &str) -> String {
    alert.to_lowercase()
}

/// Every rule group: recording rules first, then alerts.
///
/// # Errors
/// [`OpsError::UnknownMetric`] when a rule names a metric plugobs does not emit;
/// [`OpsError::InvalidValue`] when the configuration does not validate.
pub fn groups(config: &Config) -> Result<Vec<Group>, OpsError> {
    let sc = Scope::new(config)?;
    let n = Names::new(&config.namespace);
    let ops = n.metric("plugin_operations_total")?;
    let latency = n.metric("plugin_operation_duration_seconds")?;
    let plugins = n.metric("plugins")?;
    let failures = n.metric("plugin_load_failures_total")?;
    let start = n.metric("plugin_start_duration_seconds")?;
    let transitions = n.metric("plugin_state_transitions_total")?;
    let health = n.metric("plugin_health")?;
    let check_failures = n.metric("plugin_health_check_failures_total")?;
    let last_check = n.metric("plugin_health_last_check_timestamp_seconds")?;
    let up = n.metric("plugin_up")?;
    let overruns = n.metric("health_round_overruns_total")?;
    let errors = n.metric("plugin_errors_total")?;
    let objective = n.metric(OBJECTIVE)?;
    let breaker = n.metric("plugin_circuit_breaker_state")?;
    // Every per-plugin series is per host and instance: group and join on all of them.
    let host = sc.keys(&[]);
    let pki = sc.keys(&["plugin", "kind", "instance"]);
    let by_op = sc.keys(&["plugin", "kind", "instance", "operation"]);
    let sel = |metric: &str, matchers: &str| sc.series(metric, matchers);
    let w = &config.rate_window;
    let bad = r#"outcome=~"error|panic""#;
    // Calls a breaker rejected never reached the plugin: not calls of its own.
    let reached = r#"outcome!="rejected""#;
    let min_calls = config.min_calls;

    let calls = |window: &str| n.record("operation_calls", &format!("increase{window}"));
    let ratio = |window: &str| n.record("operation_error_ratio", &format!("rate{window}"));
    let record_calls = |window: &str| Rule::Record {
        name: calls(window),
        expr: format!(
            "sum by ({by_op}) (increase({}[{window}]))",
            sel(&ops, reached)
        ),
    };
    let record_ratio = |window: &str| Rule::Record {
        name: ratio(window),
        expr: format!(
            "sum by ({by_op}) (rate({}[{window}])) / sum by ({by_op}) (rate({}[{window}]))",
            sel(&ops, bad),
            sel(&ops, reached)
        ),
    };
    let mut recording = vec![record_calls(w), record_ratio(w)];
    let mut quantiles = vec![0.5, 0.9, 0.99];
    if !quantiles.contains(&config.latency_quantile) {
        quantiles.push(config.latency_quantile);
    }
    for q in quantiles {
        recording.push(Rule::Record {
            name: n.record(
                "operation_latency_seconds",
                &format!("{}_{w}", quantile_label(q)),
            ),
            expr: format!(
                "histogram_quantile({q}, sum by ({by_op}, le) (rate({}[{w}])))",
                sel(&format!("{latency}_bucket"), "")
            ),
        });
    }
    // Each operation's objectives: its own (declared in code), else the setting.
    let budget = n.record("operation_error_budget", "ratio");
    let latency_objective = n.record("operation_latency_objective", "seconds");
    recording.push(Rule::Record {
        name: budget.clone(),
        expr: format!(
            r#"(1 - max by ({by_op}) ({})) or {} * group by ({by_op}) ({})"#,
            sel(&objective, r#"objective="success""#),
            round(1.0 - config.objective),
            sel(&ops, "")
        ),
    });
    recording.push(Rule::Record {
        name: latency_objective.clone(),
        expr: format!(
            r#"max by ({by_op}) ({}) or {} * group by ({by_op}) ({})"#,
            sel(&objective, r#"objective="latency""#),
            config.slow_seconds,
            sel(&ops, "")
        ),
    });
    let mut burn_windows: Vec<String> = BURN
        .iter()
        .flat_map(|&(long, short, _, _)| [long, short])
        .map(|s| secs(s * config.burn_window_scale))
        .collect();
    burn_windows.sort_by_key(|d| d.trim_end_matches('s').parse::<u64>().unwrap_or(0));
    burn_windows.dedup();
    for d in &burn_windows {
        if d != w {
            recording.push(record_ratio(d));
        }
    }
    let mut long_windows: Vec<String> = BURN
        .iter()
        .map(|&(long, ..)| secs(long * config.burn_window_scale))
        .collect();
    long_windows.dedup();
    for d in &long_windows {
        if d != w {
            recording.push(record_calls(d));
        }
    }

    let pq = n.record(
        "operation_latency_seconds",
        &format!("{}_{w}", quantile_label(config.latency_quantile)),
    );
    let lw = &config.lifecycle_window;
    let plugin = "{{ $labels.plugin }}";
    let instance = "{{ $labels.instance }}";
    let where_ = sc.where_template();
    let at = if where_.is_empty() {
        String::new()
    } else {
        format!(" ({where_})")
    };
    // `plugin/instance (host)` in summaries; "instance … of plugin … (host)" in
    // descriptions.
    let who = format!("{plugin}/{instance}{at}");
    let of = format!("instance {instance} of plugin {plugin}{at}");
    let of_cap = format!("Instance {instance} of plugin {plugin}{at}");
    let operation = "{{ $labels.operation }}";
    let op_who = format!("{plugin}/{instance}.{operation}{at}");
    let value = "{{ $value | humanize }}";
    let target = if where_.is_empty() {
        "The target".to_owned()
    } else {
        format!("Target {where_}")
    };
    let enough = |window: &str| format!("{} >= {min_calls}", sel(&calls(window), ""));
    let mut alerts = vec![
        alert(
            config,
            "PlugobsTargetDown",
            format!(
                "max by ({host}) ({}) == 0 and on ({host}) group by ({host}) (last_over_time({}[{}]))",
                sel("up", ""),
                sel(&plugins, ""),
                config.target_lookback
            ),
            &config.down_for,
            "critical",
            format!("{target} is not scraped"),
            format!(
                "{target} exposed plugobs' metrics in the last {} and Prometheus cannot \
                 scrape it now (up is 0): the host is down, restarting or unreachable. \
                 Every other plugobs alert of this host is blind until it is back.",
                config.target_lookback
            ),
        ),
        alert(
            config,
            "PlugobsNoPluginRunning",
            format!(
                r#"sum by ({host}) ({}) == 0 and on ({host}) max by ({host}) ({}) == 1"#,
                sel(&plugins, r#"state=~"running|degraded""#),
                sel("up", "")
            ),
            &config.down_for,
            "critical",
            format!("No plugin is running on {}", lower_first(&target)),
            format!(
                "{target} is scraped but no plugin instance on it is running or degraded: \
                 the host serves nothing. Check the host's log for load and start failures \
                 and its /readyz endpoint."
            ),
        ),
        alert(
            config,
            "PlugobsPluginLoadFailed",
            // The first clause sees failures while Prometheus watches; the second a plugin
            // that failed (possibly before the first scrape) and is not up now.
            format!(
                r#"sum by ({pki}, stage) (increase({}[{lw}])) > 0 or (sum by ({pki}, stage) ({}) > 0 and on ({pki}) ({} == 0))"#,
                sel(&failures, r#"stage=~"load|start""#),
                sel(&failures, r#"stage=~"load|start""#),
                sel(&up, "")
            ),
            "0m",
            "critical",
            format!("Plugin {who} failed to load or start"),
            format!(
                "{of_cap} failed at its {{{{ $labels.stage }}}} step in the last {lw}. \
                 Its last failure (message and error type) is in the host's stats: the \
                 entry of instance {instance} in /plugins."
            ),
        ),
        alert(
            config,
            "PlugobsOperationErrorRatioHigh",
            format!(
                "{} > {} and {}",
                sel(&ratio(w), ""),
                config.error_ratio,
                enough(w)
            ),
            &config.error_ratio_for,
            "warning",
            format!("{op_who} fails too often"),
            format!(
                "{value} of the calls of {operation} in {of} returned an error or panicked \
                 over {w} (threshold {}, at least {min_calls} calls). {errors} by error_kind \
                 says which errors.",
                config.error_ratio
            ),
        ),
        alert(
            config,
            "PlugobsOperationSlow",
            format!(
                "{} > {} and {}",
                sel(&pq, ""),
                sel(&latency_objective, ""),
                enough(w)
            ),
            &config.slow_for,
            "warning",
            format!("{op_who} is slow"),
            format!(
                "The p{} latency of {operation} in {of} is {value}s over {w}, above its \
                 latency objective (declared in code, else {}s).",
                (config.latency_quantile * 1e6).round() / 1e4,
                config.slow_seconds
            ),
        ),
        alert(
            config,
            "PlugobsPluginStartSlow",
            format!(
                r#"sum by ({pki}) (increase({}[{lw}])) - sum by ({pki}) (increase({}[{lw}])) > 0"#,
                sel(&format!("{start}_bucket"), r#"le="+Inf""#),
                sel(
                    &format!("{start}_bucket"),
                    &format!(r#"le="{}""#, config.slow_start_seconds)
                ),
            ),
            "0m",
            "warning",
            format!("Plugin {who} started slowly"),
            format!(
                "A start of {of} took longer than {}s in the last {lw}.",
                config.slow_start_seconds
            ),
        ),
        alert(
            config,
            "PlugobsPluginFlapping",
            format!(
                "sum by ({pki}) (increase({}[{lw}])) > {}",
                sel(&transitions, ""),
                config.flapping_transitions
            ),
            "0m",
            "warning",
            format!("Plugin {who} changes state too often"),
            format!(
                "{of_cap} changed state {value} times in {lw} (threshold {}): it is \
                 restarting or its health flips.",
                config.flapping_transitions
            ),
        ),
        alert(
            config,
            "PlugobsPluginUnhealthy",
            format!("{} == 1", sel(&health, r#"status="unhealthy""#)),
            &config.unhealthy_for,
            "critical",
            format!("Plugin {who} is unhealthy"),
            format!(
                "{of_cap} reports unhealthy (its health hook, a failed or timed-out \
                 check, or the policy over its own operations). The message says which: see \
                 the entry of instance {instance} in /plugins, or the status page."
            ),
        ),
        alert(
            config,
            "PlugobsCircuitBreakerOpen",
            format!("{} == 0", sel(&breaker, r#"state="closed""#)),
            &config.breaker_open_for,
            "warning",
            format!("Circuit breaker of {op_who} is open"),
            format!(
                "The circuit breaker of {operation} in {of} has not been closed for {}: \
                 its calls fail fast without reaching the plugin (outcome=\"rejected\"), \
                 and its probes keep failing. The instance's health says which operation; \
                 the errors that tripped it are in {errors} by error_kind.",
                config.breaker_open_for
            ),
        ),
        alert(
            config,
            "PlugobsHealthCheckTimeouts",
            format!(
                "sum by ({pki}) (increase({}[{lw}])) > 0",
                sel(&check_failures, r#"reason="timeout""#)
            ),
            "0m",
            "warning",
            format!("Health checks of plugin {who} time out"),
            format!(
                "{value} health checks of {of} exceeded their timeout in {lw}: the \
                 check hangs on something (a lock, a remote call without a timeout)."
            ),
        ),
        alert(
            config,
            "PlugobsHealthCheckStale",
            format!(
                "(time() - {} > {}) and on ({pki}) ({} == 1)",
                sel(&last_check, ""),
                config.stale_check_seconds,
                sel(&up, "")
            ),
            "0m",
            "warning",
            format!("Plugin {who} was not health-checked recently"),
            format!(
                "The last health check of {of} is {value}s old (threshold {}s): \
                 the health monitor is not running or its checks never return.",
                config.stale_check_seconds
            ),
        ),
        alert(
            config,
            "PlugobsHealthRoundsOverrun",
            format!(
                "sum by ({host}) (increase({}[{lw}])) > 0",
                sel(&overruns, "")
            ),
            "0m",
            "warning",
            format!(
                "Health rounds overran their interval on {}",
                lower_first(&target)
            ),
            format!(
                "{value} rounds of the health monitor of {} took longer than its interval \
                 in {lw}: every plugin's status is judged late. The monitor's thread pool \
                 grows for hung hooks, so a round overruns when the checks themselves are \
                 slow: see {}_health_round_duration_seconds and the health check timeouts.",
                lower_first(&target),
                n.namespace()
            ),
        ),
    ];
    for (name, severity, summary) in [
        (
            "PlugobsErrorBudgetBurnFast",
            "critical",
            "burns its error budget fast",
        ),
        (
            "PlugobsErrorBudgetBurnSlow",
            "warning",
            "burns its error budget",
        ),
    ] {
        let budget = sel(&budget, "");
        let clauses: Vec<String> = BURN
            .iter()
            .filter(|b| b.3 == severity)
            .map(|&(long, short, factor, _)| {
                let long = secs(long * config.burn_window_scale);
                let short = secs(short * config.burn_window_scale);
                // Enough calls in the long window, and counted a short window ago
                // already: a brand-new series does not page on its first seconds.
                format!(
                    "({} / {budget} > {factor} and {} / {budget} > {factor} and {} and {} offset {short})",
                    sel(&ratio(&long), ""),
                    sel(&ratio(&short), ""),
                    enough(&long),
                    sel(&calls(&long), ""),
                )
            })
            .collect();
        alerts.push(alert(
            config,
            name,
            clauses.join(" or "),
            "0m",
            severity,
            format!("{op_who} {summary}"),
            format!(
                "{operation} in {of} burns its error budget {value}× as fast as its \
                 objective allows (its success objective declared in code, else {}): at \
                 this rate the budget is gone early (multiwindow, multi-burn-rate alert).",
                config.objective
            ),
        ));
    }
    Ok(vec![
        Group {
            name: format!("{}.recording", n.namespace()),
            rules: recording,
        },
        Group {
            name: format!("{}.alerts", n.namespace()),
            rules: alerts,
        },
    ])
}

/// Rounded to 9 decimals, so 1 − 0.999 reads 0.001, not 0.0010000000000000009.
fn round(x: f64) -> f64 {
    (x * 1e9).round() / 1e9
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn alert(
    config: &Config,
    name: &str,
    expr: String,
    for_: &str,
    severity: &'static str,
    summary: String,
    description: String,
) -> Rule {
    Rule::Alert {
        name: name.to_owned(),
        expr,
        for_: for_.to_owned(),
        severity,
        summary,
        description,
        runbook_url: format!("{}#{}", config.runbook_base, runbook_anchor(name)),
    }
}
