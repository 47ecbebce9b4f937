//! The alert and recording rules.
//!
//! Every per-plugin aggregation keeps the configured instance: rules group `by (plugin,
//! kind, instance, ...)` and join `on (plugin, kind, instance)`, so two instances of one
//! plugin (two Kafka sinks to two clusters) are judged apart, and an alert names the one
//! that fails. A plugin loaded without an instance name has `instance` = its plugin name.
//! The rules need plugobs' own `instance` label, which a default Prometheus scrape renames
//! `exported_instance`: scrape with `honor_labels: true`, as
//! [`prometheus_config`](crate::prometheus_config) does.
//!
//! Alerts (each with a `severity` label, a summary and a description naming the plugin and
//! its instance):
//!
//! | alert | fires when |
//! |---|---|
//! | `PlugobsNoPluginRunning` | no plugin instance is running or degraded (the system is down), or the target exposes no plugobs metrics |
//! | `PlugobsPluginLoadFailed` | an instance's configuration, constructor or start hook failed in the last `lifecycle_window`, or failed at some point and is not up now |
//! | `PlugobsOperationErrorRatioHigh` | an operation's errors and panics over its finished calls, in one instance, exceed `error_ratio` |
//! | `PlugobsOperationSlow` | an operation's p99 latency, in one instance, exceeds `slow_p99_seconds` |
//! | `PlugobsPluginStartSlow` | a start of an instance took longer than `slow_start_seconds` in the last `lifecycle_window` |
//! | `PlugobsPluginFlapping` | an instance changed state more than `flapping_transitions` times in `lifecycle_window` |
//! | `PlugobsPluginUnhealthy` | an instance's health is `unhealthy` |
//! | `PlugobsHealthCheckTimeouts` | an instance's health checks time out |
//! | `PlugobsHealthCheckStale` | a running instance was not checked for `stale_check_seconds` |
//! | `PlugobsHealthRoundsOverrun` | the health monitor's rounds took longer than its interval in the last `lifecycle_window` |
//! | `PlugobsErrorBudgetBurnFast` | an instance's error budget of `objective` burns 14.4× (1h and 5m) or 6× (6h and 30m) too fast: page |
//! | `PlugobsErrorBudgetBurnSlow` | it burns 3× (1d and 2h) or 1× (3d and 6h) too fast: ticket |
//!
//! The burn-rate pairs are the multiwindow, multi-burn-rate alerts of the SRE workbook
//! (chapter 5), per plugin instance, over errors and panics.

use crate::OpsError;
use crate::config::Config;
use crate::names::Names;
use crate::yaml::{Group, Rule};

/// `window` seconds as a Prometheus duration.
fn secs(window: f64) -> String {
    format!("{}s", window.round().max(1.0) as u64)
}

/// The burn-rate windows (long, short, burn factor, severity), in seconds before scaling.
const BURN: &[(f64, f64, f64, &str)] = &[
    (3600.0, 300.0, 14.4, "critical"),
    (21_600.0, 1800.0, 6.0, "critical"),
    (86_400.0, 7200.0, 3.0, "warning"),
    (259_200.0, 21_600.0, 1.0, "warning"),
];

/// Every rule group: recording rules first, then alerts.
///
/// # Errors
/// [`OpsError::UnknownMetric`] when a rule names a metric plugobs does not emit.
pub fn groups(config: &Config) -> Result<Vec<Group>, OpsError> {
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
    // Every per-plugin series is per instance: group and join on all three.
    let pki = "plugin, kind, instance";
    let failed_now = format!(
        r#"(sum by ({pki}, stage) ({failures}{{stage=~"load|start"}}) > 0 and on ({pki}) ({up} == 0))"#
    );
    let w = &config.rate_window;
    let by_op = format!("{pki}, operation");
    let bad = r#"outcome=~"error|panic""#;

    let error_ratio = n.record("operation_error_ratio", &format!("rate{w}"));
    let mut recording = vec![Rule::Record {
        name: error_ratio.clone(),
        expr: format!(
            "sum by ({by_op}) (rate({ops}{{{bad}}}[{w}])) / sum by ({by_op}) (rate({ops}[{w}]))"
        ),
    }];
    for (q, label) in [(0.5, "p50"), (0.9, "p90"), (0.99, "p99")] {
        recording.push(Rule::Record {
            name: n.record("operation_latency_seconds", &format!("{label}_{w}")),
            expr: format!(
                "histogram_quantile({q}, sum by ({by_op}, le) (rate({latency}_bucket[{w}])))"
            ),
        });
    }
    let mut burn_windows: Vec<f64> = BURN
        .iter()
        .flat_map(|&(long, short, _, _)| [long, short])
        .map(|s| s * config.burn_window_scale)
        .collect();
    burn_windows.sort_by(f64::total_cmp);
    burn_windows.dedup_by(|a, b| secs(*a) == secs(*b));
    let plugin_ratio =
        |window: f64| n.record("plugin_error_ratio", &format!("rate{}", secs(window)));
    for &window in &burn_windows {
        let d = secs(window);
        recording.push(Rule::Record {
            name: plugin_ratio(window),
            expr: format!(
                "sum by ({pki}) (rate({ops}{{{bad}}}[{d}])) / sum by ({pki}) (rate({ops}[{d}]))"
            ),
        });
    }

    let p99 = n.record("operation_latency_seconds", &format!("p99_{w}"));
    let lw = &config.lifecycle_window;
    let plugin = "{{ $labels.plugin }}";
    let instance = "{{ $labels.instance }}";
    // `plugin/instance` in summaries; "instance … of plugin …" in descriptions.
    let who = format!("{plugin}/{instance}");
    let of = format!("instance {instance} of plugin {plugin}");
    let of_cap = format!("Instance {instance} of plugin {plugin}");
    let operation = "{{ $labels.operation }}";
    let value = "{{ $value | humanize }}";
    let mut alerts = vec![
        Rule::Alert {
            name: "PlugobsNoPluginRunning".into(),
            expr: format!(
                r#"sum({plugins}{{state=~"running|degraded"}}) == 0 or absent({plugins})"#
            ),
            for_: config.down_for.clone(),
            severity: "critical",
            summary: "No plugin is running".into(),
            description: format!(
                "No plugin instance is running or degraded, or the target exposes no {plugins}: the \
                 host serves nothing. Check the host's log for load and start failures and \
                 its /readyz endpoint."
            ),
        },
        Rule::Alert {
            name: "PlugobsPluginLoadFailed".into(),
            // The first clause sees failures while Prometheus watches; the second a plugin
            // that failed (possibly before the first scrape) and is not up now.
            expr: format!(
                r#"sum by ({pki}, stage) (increase({failures}{{stage=~"load|start"}}[{lw}])) > 0 or {failed_now}"#
            ),
            for_: "0m".into(),
            severity: "critical",
            summary: format!("Plugin {who} failed to load or start"),
            description: format!(
                "{of_cap} failed at its {{{{ $labels.stage }}}} step in the last {lw}. \
                 Its last failure (message and error type) is in the host's stats: the \
                 entry of instance {instance} in /plugins."
            ),
        },
        Rule::Alert {
            name: "PlugobsOperationErrorRatioHigh".into(),
            expr: format!("{error_ratio} > {}", config.error_ratio),
            for_: config.error_ratio_for.clone(),
            severity: "warning",
            summary: format!("{who}.{operation} fails too often"),
            description: format!(
                "{value} of the calls of {operation} in {of} returned an error or panicked \
                 over {w} (threshold {}). {errors} by error_kind says which errors.",
                config.error_ratio
            ),
        },
        Rule::Alert {
            name: "PlugobsOperationSlow".into(),
            expr: format!("{p99} > {}", config.slow_p99_seconds),
            for_: config.slow_for.clone(),
            severity: "warning",
            summary: format!("{who}.{operation} is slow"),
            description: format!(
                "The p99 latency of {operation} in {of} is {value}s over {w} \
                 (threshold {}s).",
                config.slow_p99_seconds
            ),
        },
        Rule::Alert {
            name: "PlugobsPluginStartSlow".into(),
            expr: format!(
                r#"sum by ({pki}) (increase({start}_bucket{{le="+Inf"}}[{lw}])) - sum by ({pki}) (increase({start}_bucket{{le="{}"}}[{lw}])) > 0"#,
                config.slow_start_seconds
            ),
            for_: "0m".into(),
            severity: "warning",
            summary: format!("Plugin {who} started slowly"),
            description: format!(
                "A start of {of} took longer than {}s in the last {lw}.",
                config.slow_start_seconds
            ),
        },
        Rule::Alert {
            name: "PlugobsPluginFlapping".into(),
            expr: format!(
                "sum by ({pki}) (increase({transitions}[{lw}])) > {}",
                config.flapping_transitions
            ),
            for_: "0m".into(),
            severity: "warning",
            summary: format!("Plugin {who} changes state too often"),
            description: format!(
                "{of_cap} changed state {value} times in {lw} (threshold {}): it is \
                 restarting or its health flips.",
                config.flapping_transitions
            ),
        },
        Rule::Alert {
            name: "PlugobsPluginUnhealthy".into(),
            expr: format!(r#"{health}{{status="unhealthy"}} == 1"#),
            for_: config.unhealthy_for.clone(),
            severity: "critical",
            summary: format!("Plugin {who} is unhealthy"),
            description: format!(
                "{of_cap} reports unhealthy (its health hook, a failed or timed-out \
                 check, or the policy over its own operations). The message says which: see \
                 the entry of instance {instance} in /plugins, or the status page."
            ),
        },
        Rule::Alert {
            name: "PlugobsHealthCheckTimeouts".into(),
            expr: format!(
                r#"sum by ({pki}) (increase({check_failures}{{reason="timeout"}}[{lw}])) > 0"#
            ),
            for_: "0m".into(),
            severity: "warning",
            summary: format!("Health checks of plugin {who} time out"),
            description: format!(
                "{value} health checks of {of} exceeded their timeout in {lw}: the \
                 check hangs on something (a lock, a remote call without a timeout)."
            ),
        },
        Rule::Alert {
            name: "PlugobsHealthCheckStale".into(),
            expr: format!(
                "(time() - {last_check} > {secs}) and on ({pki}) ({up} == 1)",
                secs = config.stale_check_seconds
            ),
            for_: "0m".into(),
            severity: "warning",
            summary: format!("Plugin {who} was not health-checked recently"),
            description: format!(
                "The last health check of {of} is {value}s old (threshold {}s): \
                 the health monitor is not running or its checks never return.",
                config.stale_check_seconds
            ),
        },
        Rule::Alert {
            name: "PlugobsHealthRoundsOverrun".into(),
            expr: format!("increase({overruns}[{lw}]) > 0"),
            for_: "0m".into(),
            severity: "warning",
            summary: "Health rounds overran their interval".into(),
            description: format!(
                "{value} rounds of the health monitor took longer than its interval in \
                 {lw}: every plugin's status is judged late. The monitor's thread pool grows \
                 for hung hooks, so a round overruns when the checks themselves are slow: see \
                 plugobs_health_round_duration_seconds and the health check timeouts."
            ),
        },
    ];
    let budget = 1.0 - config.objective;
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
        let clauses: Vec<String> = BURN
            .iter()
            .filter(|b| b.3 == severity)
            .map(|&(long, short, factor, _)| {
                // Rounded, so 14.4 × 0.001 reads 0.0144, not 0.014400000000000013.
                let threshold = (factor * budget * 1e9).round() / 1e9;
                format!(
                    "({} > {threshold} and {} > {threshold})",
                    plugin_ratio(long * config.burn_window_scale),
                    plugin_ratio(short * config.burn_window_scale)
                )
            })
            .collect();
        alerts.push(Rule::Alert {
            name: name.into(),
            expr: clauses.join(" or "),
            for_: "0m".into(),
            severity,
            summary: format!("Plugin {who} {summary}"),
            description: format!(
                "At this error rate {of} exhausts the error budget of its {} \
                 objective early (multiwindow, multi-burn-rate alert).",
                config.objective
            ),
        });
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
