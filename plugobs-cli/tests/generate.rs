//! The generated rules, dashboard and scrape config: exact alert set, exact per-instance
//! expressions, settings applied, every expression naming only metrics plugobs emits (or
//! the rules' own recorded series), the `instance` label kept by the scrape config, and
//! the operating page documenting every alert and the label collision.

use plugobs_cli::yaml::Rule;
use plugobs_cli::{Config, OpsError, dashboard, rules};

const ALERTS: &[&str] = &[
    "PlugobsNoPluginRunning",
    "PlugobsPluginLoadFailed",
    "PlugobsOperationErrorRatioHigh",
    "PlugobsOperationSlow",
    "PlugobsPluginStartSlow",
    "PlugobsPluginFlapping",
    "PlugobsPluginUnhealthy",
    "PlugobsHealthCheckTimeouts",
    "PlugobsHealthCheckStale",
    "PlugobsHealthRoundsOverrun",
    "PlugobsErrorBudgetBurnFast",
    "PlugobsErrorBudgetBurnSlow",
];

fn alerts(config: &Config) -> Vec<(String, String, String, &'static str, String)> {
    rules::groups(config)
        .unwrap()
        .into_iter()
        .flat_map(|g| g.rules)
        .filter_map(|r| match r {
            Rule::Alert {
                name,
                expr,
                for_,
                severity,
                description,
                ..
            } => Some((name, expr, for_, severity, description)),
            Rule::Record { .. } => None,
        })
        .collect()
}

fn recorded(config: &Config) -> Vec<String> {
    rules::groups(config)
        .unwrap()
        .into_iter()
        .flat_map(|g| g.rules)
        .filter_map(|r| match r {
            Rule::Record { name, .. } => Some(name),
            Rule::Alert { .. } => None,
        })
        .collect()
}

#[test]
fn every_alert_once_with_severity_and_a_description_naming_the_plugin_and_instance() {
    let all = alerts(&Config::default());
    let names: Vec<&str> = all.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(names, ALERTS);
    for (name, _, _, severity, description) in &all {
        assert!(["critical", "warning"].contains(severity), "{name}");
        // Two alerts are about the host, not one plugin.
        if !["PlugobsNoPluginRunning", "PlugobsHealthRoundsOverrun"].contains(&name.as_str()) {
            assert!(
                description
                    .contains("instance {{ $labels.instance }} of plugin {{ $labels.plugin }}")
                    || description
                        .contains("Instance {{ $labels.instance }} of plugin {{ $labels.plugin }}"),
                "{name}: {description}"
            );
        }
    }
}

fn alert_expr(name: &str) -> String {
    alerts(&Config::default())
        .into_iter()
        .find(|a| a.0 == name)
        .unwrap()
        .1
}

fn record_expr(name: &str) -> String {
    rules::groups(&Config::default())
        .unwrap()
        .into_iter()
        .flat_map(|g| g.rules)
        .find_map(|r| match r {
            Rule::Record { name: n, expr } if n == name => Some(expr),
            _ => None,
        })
        .unwrap()
}

#[test]
fn every_per_plugin_aggregation_and_join_keeps_the_instance() {
    assert_eq!(
        alert_expr("PlugobsPluginLoadFailed"),
        r#"sum by (plugin, kind, instance, stage) (increase(plugobs_plugin_load_failures_total{stage=~"load|start"}[15m])) > 0 or (sum by (plugin, kind, instance, stage) (plugobs_plugin_load_failures_total{stage=~"load|start"}) > 0 and on (plugin, kind, instance) (plugobs_plugin_up == 0))"#
    );
    assert_eq!(
        alert_expr("PlugobsPluginStartSlow"),
        r#"sum by (plugin, kind, instance) (increase(plugobs_plugin_start_duration_seconds_bucket{le="+Inf"}[15m])) - sum by (plugin, kind, instance) (increase(plugobs_plugin_start_duration_seconds_bucket{le="10"}[15m])) > 0"#
    );
    assert_eq!(
        alert_expr("PlugobsPluginFlapping"),
        "sum by (plugin, kind, instance) (increase(plugobs_plugin_state_transitions_total[15m])) > 6"
    );
    assert_eq!(
        alert_expr("PlugobsPluginUnhealthy"),
        r#"plugobs_plugin_health{status="unhealthy"} == 1"#
    );
    assert_eq!(
        alert_expr("PlugobsHealthCheckTimeouts"),
        r#"sum by (plugin, kind, instance) (increase(plugobs_plugin_health_check_failures_total{reason="timeout"}[15m])) > 0"#
    );
    assert_eq!(
        alert_expr("PlugobsHealthCheckStale"),
        "(time() - plugobs_plugin_health_last_check_timestamp_seconds > 300) and on (plugin, kind, instance) (plugobs_plugin_up == 1)"
    );
    assert_eq!(
        alert_expr("PlugobsHealthRoundsOverrun"),
        "increase(plugobs_health_round_overruns_total[15m]) > 0"
    );
    assert_eq!(
        alert_expr("PlugobsNoPluginRunning"),
        r#"sum(plugobs_plugins{state=~"running|degraded"}) == 0 or absent(plugobs_plugins)"#
    );
    assert_eq!(
        record_expr("plugobs:operation_error_ratio:rate5m"),
        r#"sum by (plugin, kind, instance, operation) (rate(plugobs_plugin_operations_total{outcome=~"error|panic"}[5m])) / sum by (plugin, kind, instance, operation) (rate(plugobs_plugin_operations_total[5m]))"#
    );
    assert_eq!(
        record_expr("plugobs:operation_latency_seconds:p99_5m"),
        "histogram_quantile(0.99, sum by (plugin, kind, instance, operation, le) (rate(plugobs_plugin_operation_duration_seconds_bucket[5m])))"
    );
    assert_eq!(
        record_expr("plugobs:plugin_error_ratio:rate300s"),
        r#"sum by (plugin, kind, instance) (rate(plugobs_plugin_operations_total{outcome=~"error|panic"}[300s])) / sum by (plugin, kind, instance) (rate(plugobs_plugin_operations_total[300s]))"#
    );
    // No aggregation anywhere drops the instance.
    let groups = rules::groups(&Config::default()).unwrap();
    for rule in groups.iter().flat_map(|g| &g.rules) {
        let expr = match rule {
            Rule::Record { expr, .. } | Rule::Alert { expr, .. } => expr,
        };
        for clause in expr
            .split(" by (")
            .skip(1)
            .chain(expr.split(" on (").skip(1))
        {
            assert!(
                clause.starts_with("plugin, kind, instance"),
                "`{clause}` in `{expr}`"
            );
        }
    }
}

#[test]
fn alert_annotations_name_plugin_and_instance() {
    let groups = rules::groups(&Config::default()).unwrap();
    let load_failed = groups
        .iter()
        .flat_map(|g| &g.rules)
        .find_map(|r| match r {
            Rule::Alert {
                name,
                summary,
                description,
                ..
            } if name == "PlugobsPluginLoadFailed" => Some((summary, description)),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        load_failed.0,
        "Plugin {{ $labels.plugin }}/{{ $labels.instance }} failed to load or start"
    );
    assert_eq!(
        load_failed.1,
        "Instance {{ $labels.instance }} of plugin {{ $labels.plugin }} failed at its \
         {{ $labels.stage }} step in the last 15m. Its last failure (message and error type) \
         is in the host's stats: the entry of instance {{ $labels.instance }} in /plugins."
    );
}

#[test]
fn settings_reach_the_expressions() {
    let mut c = Config::default();
    c.set("error_ratio", "0.25").unwrap();
    c.set("error_ratio_for", "30s").unwrap();
    c.set("rate_window", "1m").unwrap();
    c.set("namespace", "myapp").unwrap();
    let all = alerts(&c);
    let ratio = all
        .iter()
        .find(|a| a.0 == "PlugobsOperationErrorRatioHigh")
        .unwrap();
    assert_eq!(ratio.1, "myapp:operation_error_ratio:rate1m > 0.25");
    assert_eq!(ratio.2, "30s");
    assert!(recorded(&c).contains(&"myapp:operation_latency_seconds:p99_1m".to_owned()));
}

#[test]
fn burn_rate_alerts_follow_the_sre_workbook() {
    let all = alerts(&Config::default());
    let fast = all
        .iter()
        .find(|a| a.0 == "PlugobsErrorBudgetBurnFast")
        .unwrap();
    assert_eq!(
        fast.1,
        "(plugobs:plugin_error_ratio:rate3600s > 0.0144 and plugobs:plugin_error_ratio:rate300s > 0.0144) or \
         (plugobs:plugin_error_ratio:rate21600s > 0.006 and plugobs:plugin_error_ratio:rate1800s > 0.006)"
    );
    let slow = all
        .iter()
        .find(|a| a.0 == "PlugobsErrorBudgetBurnSlow")
        .unwrap();
    assert_eq!(
        slow.1,
        "(plugobs:plugin_error_ratio:rate86400s > 0.003 and plugobs:plugin_error_ratio:rate7200s > 0.003) or \
         (plugobs:plugin_error_ratio:rate259200s > 0.001 and plugobs:plugin_error_ratio:rate21600s > 0.001)"
    );
    let mut scaled = Config::default();
    scaled.set("burn_window_scale", "0.01").unwrap();
    assert!(recorded(&scaled).contains(&"plugobs:plugin_error_ratio:rate36s".to_owned()));
}

#[test]
fn bad_settings_are_typed_errors() {
    let mut c = Config::default();
    assert_eq!(
        c.set("error_ratio", "lots"),
        Err(OpsError::InvalidValue {
            key: "error_ratio".into(),
            value: "lots".into(),
            expected: "a number"
        })
    );
    assert!(matches!(
        c.set("nope", "1"),
        Err(OpsError::UnknownKey { .. })
    ));
    assert!(c.set("objective", "1.5").is_err());
    assert!(c.set("namespace", "9lives").is_err());
}

/// Metric names in an expression: identifiers followed by `{`, `[`, `)` or a space that
/// start with the namespace or `process_`.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if word.starts_with("plugobs") || word.starts_with("process_") {
                out.push(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    out
}

#[test]
fn expressions_name_only_emitted_metrics_or_recorded_series() {
    let config = Config::default();
    let recorded = recorded(&config);
    let known = |name: &str| {
        let base = name
            .strip_suffix("_bucket")
            .or_else(|| name.strip_suffix("_sum"))
            .or_else(|| name.strip_suffix("_count"))
            .unwrap_or(name);
        recorded.iter().any(|r| r == name)
            || plugobs_cli::names::PROCESS.contains(&name)
            || base
                .strip_prefix("plugobs_")
                .is_some_and(|n| plugobs::names::find(n).is_some())
    };
    let exprs = rules::groups(&config)
        .unwrap()
        .into_iter()
        .flat_map(|g| g.rules)
        .map(|r| match r {
            Rule::Record { expr, .. } | Rule::Alert { expr, .. } => expr,
        })
        .chain(dashboard::expressions(&config).unwrap());
    let mut checked = 0;
    for expr in exprs {
        for name in metric_names(&expr) {
            assert!(
                known(&name),
                "`{name}` in `{expr}` is neither emitted nor recorded"
            );
            checked += 1;
        }
    }
    assert!(checked > 30, "{checked}");
}

#[test]
fn dashboard_has_the_variables_and_panels() {
    let d = dashboard::json(&Config::default()).unwrap();
    let vars: Vec<&str> = d["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(vars, ["datasource", "plugin", "instance"]);
    let instance = &d["templating"]["list"][2];
    assert_eq!(
        instance["query"]["query"],
        r#"label_values(plugobs_plugin_up{plugin=~"$plugin"}, instance)"#
    );
    assert_eq!(instance["definition"], instance["query"]["query"]);
    assert_eq!(instance["multi"], true);
    assert_eq!(instance["includeAll"], true);
    assert_eq!(instance["allValue"], ".*");
    let titles: Vec<&str> = d["panels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles.len(), 9);
    assert!(titles.contains(&"Plugins by state"));
    assert!(titles.contains(&"Latency p50 / p90 / p99 by operation"));
    assert_eq!(d["schemaVersion"], 39);
}

#[test]
fn every_per_plugin_panel_is_filtered_and_labelled_by_instance() {
    let d = dashboard::json(&Config::default()).unwrap();
    let sel = r#"{plugin=~"$plugin",instance=~"$instance"}"#;
    let mut targets: Vec<(String, String)> = Vec::new();
    for panel in d["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            targets.push((
                t["expr"].as_str().unwrap().to_owned(),
                t["legendFormat"].as_str().unwrap().to_owned(),
            ));
        }
    }
    let expected: &[(&str, &str)] = &[
        ("sum by (state) (plugobs_plugins)", "{{state}}"),
        (
            "max by (plugin, instance, status) (plugobs_plugin_health{SEL} == 1)",
            "{{plugin}}/{{instance}} {{status}}",
        ),
        (
            "plugobs_plugin_load_duration_seconds_sum{SEL} / plugobs_plugin_load_duration_seconds_count{SEL}",
            "{{plugin}}/{{instance}} load",
        ),
        (
            "plugobs_plugin_start_duration_seconds_sum{SEL} / plugobs_plugin_start_duration_seconds_count{SEL}",
            "{{plugin}}/{{instance}} start",
        ),
        (
            "sum by (plugin, instance, operation) (rate(plugobs_plugin_operations_total{SEL}[$__rate_interval]))",
            "{{plugin}}/{{instance}}.{{operation}}",
        ),
        (
            "plugobs:operation_error_ratio:rate5m{SEL}",
            "{{plugin}}/{{instance}}.{{operation}}",
        ),
        (
            "plugobs:operation_latency_seconds:p50_5m{SEL}",
            "{{plugin}}/{{instance}}.{{operation}} p50",
        ),
        (
            "plugobs:operation_latency_seconds:p90_5m{SEL}",
            "{{plugin}}/{{instance}}.{{operation}} p90",
        ),
        (
            "plugobs:operation_latency_seconds:p99_5m{SEL}",
            "{{plugin}}/{{instance}}.{{operation}} p99",
        ),
        (
            "sum by (plugin, instance, operation) (plugobs_plugin_operations_in_flight{SEL})",
            "{{plugin}}/{{instance}}.{{operation}}",
        ),
        ("rate(process_cpu_seconds_total[$__rate_interval])", "cpu"),
        ("process_resident_memory_bytes", "rss"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(e, l)| (e.replace("{SEL}", sel), (*l).to_owned()))
        .collect();
    assert_eq!(targets, expected);
}

#[test]
fn the_scrape_config_keeps_plugobs_instance_label_and_the_target_in_host() {
    assert_eq!(plugobs_cli::HOST_LABEL, "host");
    assert_eq!(
        plugobs_cli::prometheus_config("10.0.0.7:9464", "15s", "plugobs.rules.yml"),
        r#"global:
  scrape_interval: "15s"
  evaluation_interval: "15s"
rule_files:
  - "plugobs.rules.yml"
scrape_configs:
  - job_name: "plugobs"
    metrics_path: "/metrics"
    # plugobs' own `instance` label wins over the target's (host:port), which
    # is kept in `host` instead: see plugobs-cli's docs and docs/operating.md.
    honor_labels: true
    relabel_configs:
      - source_labels: ["__address__"]
        target_label: "host"
    static_configs:
      - targets: ["10.0.0.7:9464"]
"#
    );
}

#[test]
fn the_operating_page_documents_every_alert() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operating.md"))
            .expect("docs/operating.md");
    for alert in ALERTS {
        assert!(
            page.contains(&format!("`{alert}`")),
            "{alert} is not in docs/operating.md"
        );
    }
    for needed in ["`honor_labels: true`", "`exported_instance`", "`host`"] {
        assert!(
            page.contains(needed),
            "{needed} is not in docs/operating.md"
        );
    }
}
