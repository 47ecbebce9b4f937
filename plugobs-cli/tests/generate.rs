//! The generated rules, dashboard and scrape config: exact alert set, exact per-instance
//! expressions, settings applied, every expression naming only metrics plugobs emits (or
//! the rules' own recorded series), the `instance` label kept by the scrape config, and
//! the operating page documenting every alert and the label collision.

use plugobs_cli::yaml::Rule;
use plugobs_cli::{Config, OpsError, dashboard, rules};

const ALERTS: &[&str] = &[
    "PlugobsTargetDown",
    "PlugobsNoPluginRunning",
    "PlugobsPluginLoadFailed",
    "PlugobsOperationErrorRatioHigh",
    "PlugobsOperationSlow",
    "PlugobsPluginStartSlow",
    "PlugobsPluginFlapping",
    "PlugobsPluginUnhealthy",
    "PlugobsCircuitBreakerOpen",
    "PlugobsHealthCheckTimeouts",
    "PlugobsHealthCheckStale",
    "PlugobsHealthRoundsOverrun",
    "PlugobsErrorBudgetBurnFast",
    "PlugobsErrorBudgetBurnSlow",
];

/// The alerts about a host rather than one plugin instance.
const HOST_ALERTS: &[&str] = &[
    "PlugobsTargetDown",
    "PlugobsNoPluginRunning",
    "PlugobsHealthRoundsOverrun",
];

struct Alert {
    name: String,
    expr: String,
    for_: String,
    severity: &'static str,
    summary: String,
    description: String,
    runbook_url: String,
}

fn alerts(config: &Config) -> Vec<Alert> {
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
                summary,
                description,
                runbook_url,
            } => Some(Alert {
                name,
                expr,
                for_,
                severity,
                summary,
                description,
                runbook_url,
            }),
            Rule::Record { .. } => None,
        })
        .collect()
}

fn alert(config: &Config, name: &str) -> Alert {
    alerts(config).into_iter().find(|a| a.name == name).unwrap()
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
fn every_alert_once_with_severity_and_a_description_naming_host_plugin_and_instance() {
    let all = alerts(&Config::default());
    let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ALERTS);
    for a in &all {
        assert!(["critical", "warning"].contains(&a.severity), "{}", a.name);
        let host = "job={{ $labels.job }} host={{ $labels.host }}";
        assert!(a.summary.contains(host), "{}: {}", a.name, a.summary);
        assert!(
            a.description.contains(host),
            "{}: {}",
            a.name,
            a.description
        );
        if !HOST_ALERTS.contains(&a.name.as_str()) {
            assert!(
                a.description.to_lowercase().contains(
                    "instance {{ $labels.instance }} of plugin {{ $labels.plugin }} \
                     (job={{ $labels.job }} host={{ $labels.host }})"
                ),
                "{}: {}",
                a.name,
                a.description
            );
        }
    }
}

fn alert_expr(name: &str) -> String {
    alert(&Config::default(), name).expr
}

fn record_expr(config: &Config, name: &str) -> String {
    rules::groups(config)
        .unwrap()
        .into_iter()
        .flat_map(|g| g.rules)
        .find_map(|r| match r {
            Rule::Record { name: n, expr } if n == name => Some(expr),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no recording rule {name}"))
}

#[test]
fn every_aggregation_and_join_keeps_the_host_labels_and_the_instance() {
    assert_eq!(
        alert_expr("PlugobsTargetDown"),
        "max by (job, host) (up) == 0 and on (job, host) group by (job, host) (last_over_time(plugobs_plugins[1d]))"
    );
    assert_eq!(
        alert_expr("PlugobsNoPluginRunning"),
        r#"sum by (job, host) (plugobs_plugins{state=~"running|degraded"}) == 0 and on (job, host) max by (job, host) (up) == 1"#
    );
    assert_eq!(
        alert_expr("PlugobsPluginLoadFailed"),
        r#"sum by (job, host, plugin, kind, instance, stage) (increase(plugobs_plugin_load_failures_total{stage=~"load|start"}[15m])) > 0 or (sum by (job, host, plugin, kind, instance, stage) (plugobs_plugin_load_failures_total{stage=~"load|start"}) > 0 and on (job, host, plugin, kind, instance) (plugobs_plugin_up == 0))"#
    );
    assert_eq!(
        alert_expr("PlugobsPluginStartSlow"),
        r#"sum by (job, host, plugin, kind, instance) (increase(plugobs_plugin_start_duration_seconds_bucket{le="+Inf"}[15m])) - sum by (job, host, plugin, kind, instance) (increase(plugobs_plugin_start_duration_seconds_bucket{le="10"}[15m])) > 0"#
    );
    assert_eq!(
        alert_expr("PlugobsPluginFlapping"),
        "sum by (job, host, plugin, kind, instance) (increase(plugobs_plugin_state_transitions_total[15m])) > 6"
    );
    assert_eq!(
        alert_expr("PlugobsPluginUnhealthy"),
        r#"plugobs_plugin_health{status="unhealthy"} == 1"#
    );
    assert_eq!(
        alert_expr("PlugobsCircuitBreakerOpen"),
        r#"plugobs_plugin_circuit_breaker_state{state="closed"} == 0"#
    );
    assert_eq!(
        alert_expr("PlugobsHealthCheckTimeouts"),
        r#"sum by (job, host, plugin, kind, instance) (increase(plugobs_plugin_health_check_failures_total{reason="timeout"}[15m])) > 0"#
    );
    assert_eq!(
        alert_expr("PlugobsHealthCheckStale"),
        "(time() - plugobs_plugin_health_last_check_timestamp_seconds > 300) and on (job, host, plugin, kind, instance) (plugobs_plugin_up == 1)"
    );
    assert_eq!(
        alert_expr("PlugobsHealthRoundsOverrun"),
        "sum by (job, host) (increase(plugobs_health_round_overruns_total[15m])) > 0"
    );
    let c = Config::default();
    assert_eq!(
        record_expr(&c, "plugobs:operation_error_ratio:rate5m"),
        r#"sum by (job, host, plugin, kind, instance, operation) (rate(plugobs_plugin_operations_total{outcome=~"error|panic"}[5m])) / sum by (job, host, plugin, kind, instance, operation) (rate(plugobs_plugin_operations_total{outcome!="rejected"}[5m]))"#
    );
    assert_eq!(
        record_expr(&c, "plugobs:operation_calls:increase5m"),
        r#"sum by (job, host, plugin, kind, instance, operation) (increase(plugobs_plugin_operations_total{outcome!="rejected"}[5m]))"#
    );
    assert_eq!(
        record_expr(&c, "plugobs:operation_latency_seconds:p99_5m"),
        "histogram_quantile(0.99, sum by (job, host, plugin, kind, instance, operation, le) (rate(plugobs_plugin_operation_duration_seconds_bucket[5m])))"
    );
    assert_eq!(
        record_expr(&c, "plugobs:operation_error_ratio:rate3600s"),
        r#"sum by (job, host, plugin, kind, instance, operation) (rate(plugobs_plugin_operations_total{outcome=~"error|panic"}[3600s])) / sum by (job, host, plugin, kind, instance, operation) (rate(plugobs_plugin_operations_total{outcome!="rejected"}[3600s]))"#
    );
    // No aggregation or join anywhere drops the host labels; per-plugin ones keep the
    // instance.
    let groups = rules::groups(&c).unwrap();
    let mut clauses = 0;
    for rule in groups.iter().flat_map(|g| &g.rules) {
        let expr = match rule {
            Rule::Record { expr, .. } | Rule::Alert { expr, .. } => expr,
        };
        for clause in expr
            .split(" by (")
            .skip(1)
            .chain(expr.split(" on (").skip(1))
        {
            let labels = &clause[..clause.find(')').unwrap()];
            assert!(
                labels == "job, host" || labels.starts_with("job, host, plugin, kind, instance"),
                "`{labels}` in `{expr}`"
            );
            clauses += 1;
        }
    }
    assert!(clauses > 40, "{clauses}");
}

#[test]
fn the_selector_reaches_every_series_read_and_host_labels_are_configurable() {
    let mut c = Config::default();
    c.set("selector", r#"job="pipeline""#).unwrap();
    c.set("host_labels", "cluster,job,host").unwrap();
    let a = alert(&c, "PlugobsNoPluginRunning");
    assert_eq!(
        a.expr,
        r#"sum by (cluster, job, host) (plugobs_plugins{state=~"running|degraded",job="pipeline"}) == 0 and on (cluster, job, host) max by (cluster, job, host) (up{job="pipeline"}) == 1"#
    );
    assert_eq!(
        a.summary,
        "No plugin is running on target cluster={{ $labels.cluster }} job={{ $labels.job }} host={{ $labels.host }}"
    );
    assert_eq!(
        alert(&c, "PlugobsOperationErrorRatioHigh").expr,
        r#"plugobs:operation_error_ratio:rate5m{job="pipeline"} > 0.05 and plugobs:operation_calls:increase5m{job="pipeline"} >= 20"#
    );
    // Every metric name in every expression is followed by the selector.
    let exprs: Vec<String> = rules::groups(&c)
        .unwrap()
        .into_iter()
        .flat_map(|g| g.rules)
        .map(|r| match r {
            Rule::Record { expr, .. } | Rule::Alert { expr, .. } => expr,
        })
        .chain(dashboard::expressions(&c).unwrap())
        .collect();
    let mut seen = 0;
    for expr in &exprs {
        for (name, after) in metric_names_with_matchers(expr) {
            assert!(
                after.contains(r#"job="pipeline""#),
                "`{name}{after}` in `{expr}` lacks the selector"
            );
            seen += 1;
        }
    }
    assert!(seen > 80, "{seen}");
    // A selector on a label the recorded series do not keep is refused.
    let mut c = Config::default();
    assert!(matches!(
        c.set("selector", r#"env="prod""#),
        Err(OpsError::InvalidValue { key, .. }) if key == "selector"
    ));
    assert!(c.set("selector", "job=pipeline").is_err());
    assert!(c.set("host_labels", "job,instance").is_err());
}

/// Every series an expression reads (a metric or recorded name, or `up`), with its
/// matchers as written (`{…}`, or empty).
fn metric_names_with_matchers(expr: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let bytes: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_' || bytes[i] == ':')
            {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            let after: String = if bytes.get(i) == Some(&'{') {
                let end = bytes[i..].iter().position(|&c| c == '}').unwrap() + i + 1;
                let m: String = bytes[i..end].iter().collect();
                i = end;
                m
            } else {
                String::new()
            };
            if word.starts_with("plugobs") || word.starts_with("process_") || word == "up" {
                out.push((word, after));
            }
        } else if c == '"' {
            i += 1;
            while i < bytes.len() && bytes[i] != '"' {
                i += 1;
            }
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn every_alert_has_a_runbook_url_whose_anchor_is_a_heading_of_the_operating_page() {
    let page =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/operating.md"))
            .expect("docs/operating.md");
    let anchors = github_anchors(&page);
    for a in alerts(&Config::default()) {
        let (base, anchor) = a.runbook_url.split_once('#').unwrap();
        assert_eq!(
            base,
            "https://github.com/plugobs/plugobs/blob/main/docs/operating.md"
        );
        assert!(
            anchors.iter().any(|h| h == anchor),
            "{}: #{anchor} is no heading of docs/operating.md",
            a.name
        );
    }
    let mut c = Config::default();
    c.set("runbook_base", "https://wiki.example.com/plugobs")
        .unwrap();
    assert_eq!(
        alert(&c, "PlugobsPluginUnhealthy").runbook_url,
        "https://wiki.example.com/plugobs#plugobspluginunhealthy"
    );
}

/// GitHub's anchors of a Markdown page's headings: lower case, every character but
/// letters, digits, `-`, `_` and spaces dropped, spaces made `-`, a repeat suffixed `-1`.
fn github_anchors(page: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut in_code = false;
    for line in page.lines() {
        if line.starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let text = line.trim_start_matches('#').trim();
        let base: String = text
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut anchor = base.clone();
        let mut n = 0;
        while out.contains(&anchor) {
            n += 1;
            anchor = format!("{base}-{n}");
        }
        out.push(anchor);
    }
    out
}

#[test]
fn github_anchors_follow_githubs_rules() {
    let cases: &[(&str, &[&str])] = &[
        ("### `PlugobsTargetDown`", &["plugobstargetdown"]),
        (
            "## Scraping: the `instance` label",
            &["scraping-the-instance-label"],
        ),
        (
            "## Objectives in code\n## Objectives in code",
            &["objectives-in-code", "objectives-in-code-1"],
        ),
        ("```\n# not a heading\n```", &[]),
    ];
    for (page, expected) in cases {
        assert_eq!(&github_anchors(page), expected, "{page}");
    }
}

#[test]
fn alert_annotations_name_host_plugin_and_instance() {
    let a = alert(&Config::default(), "PlugobsPluginLoadFailed");
    assert_eq!(
        a.summary,
        "Plugin {{ $labels.plugin }}/{{ $labels.instance }} (job={{ $labels.job }} host={{ $labels.host }}) failed to load or start"
    );
    assert_eq!(
        a.description,
        "Instance {{ $labels.instance }} of plugin {{ $labels.plugin }} (job={{ $labels.job }} \
         host={{ $labels.host }}) failed at its {{ $labels.stage }} step in the last 15m. Its \
         last failure (message and error type) is in the host's stats: the entry of instance \
         {{ $labels.instance }} in /plugins."
    );
    assert_eq!(a.for_, "0m");
}

#[test]
fn settings_reach_the_expressions() {
    let mut c = Config::default();
    c.set("error_ratio", "0.25").unwrap();
    c.set("error_ratio_for", "30s").unwrap();
    c.set("rate_window", "1m").unwrap();
    c.set("namespace", "myapp").unwrap();
    c.set("min_calls", "50").unwrap();
    c.set("latency_quantile", "0.95").unwrap();
    c.set("slow_seconds", "0.25").unwrap();
    let ratio = alert(&c, "PlugobsOperationErrorRatioHigh");
    assert_eq!(
        ratio.expr,
        "myapp:operation_error_ratio:rate1m > 0.25 and myapp:operation_calls:increase1m >= 50"
    );
    assert_eq!(ratio.for_, "30s");
    assert_eq!(
        alert(&c, "PlugobsOperationSlow").expr,
        "myapp:operation_latency_seconds:p95_1m > myapp:operation_latency_objective:seconds and myapp:operation_calls:increase1m >= 50"
    );
    assert_eq!(
        record_expr(&c, "myapp:operation_latency_seconds:p95_1m"),
        "histogram_quantile(0.95, sum by (job, host, plugin, kind, instance, operation, le) (rate(myapp_plugin_operation_duration_seconds_bucket[1m])))"
    );
    assert_eq!(
        record_expr(&c, "myapp:operation_latency_objective:seconds"),
        r#"max by (job, host, plugin, kind, instance, operation) (myapp_operation_objective{objective="latency"}) or 0.25 * group by (job, host, plugin, kind, instance, operation) (myapp_plugin_operations_total)"#
    );
    assert_eq!(rules::quantile_label(0.999), "p999");
    assert_eq!(rules::quantile_label(0.5), "p50");
}

#[test]
fn burn_rate_alerts_use_each_operations_objective_and_need_traffic_in_the_long_window() {
    let c = Config::default();
    assert_eq!(
        record_expr(&c, "plugobs:operation_error_budget:ratio"),
        r#"(1 - max by (job, host, plugin, kind, instance, operation) (plugobs_operation_objective{objective="success"})) or 0.001 * group by (job, host, plugin, kind, instance, operation) (plugobs_plugin_operations_total)"#
    );
    let b = "plugobs:operation_error_budget:ratio";
    assert_eq!(
        alert(&c, "PlugobsErrorBudgetBurnFast").expr,
        format!(
            "(plugobs:operation_error_ratio:rate3600s / {b} > 14.4 and plugobs:operation_error_ratio:rate300s / {b} > 14.4 and plugobs:operation_calls:increase3600s >= 20 and plugobs:operation_calls:increase3600s offset 300s) or \
             (plugobs:operation_error_ratio:rate21600s / {b} > 6 and plugobs:operation_error_ratio:rate1800s / {b} > 6 and plugobs:operation_calls:increase21600s >= 20 and plugobs:operation_calls:increase21600s offset 1800s)"
        )
    );
    assert_eq!(
        alert(&c, "PlugobsErrorBudgetBurnSlow").expr,
        format!(
            "(plugobs:operation_error_ratio:rate86400s / {b} > 3 and plugobs:operation_error_ratio:rate7200s / {b} > 3 and plugobs:operation_calls:increase86400s >= 20 and plugobs:operation_calls:increase86400s offset 7200s) or \
             (plugobs:operation_error_ratio:rate259200s / {b} > 1 and plugobs:operation_error_ratio:rate21600s / {b} > 1 and plugobs:operation_calls:increase259200s >= 20 and plugobs:operation_calls:increase259200s offset 21600s)"
        )
    );
    let mut scaled = Config::default();
    scaled.set("burn_window_scale", "0.01").unwrap();
    scaled.set("objective", "0.99").unwrap();
    let names = recorded(&scaled);
    assert!(names.contains(&"plugobs:operation_error_ratio:rate36s".to_owned()));
    assert!(names.contains(&"plugobs:operation_calls:increase36s".to_owned()));
    assert!(
        record_expr(&scaled, "plugobs:operation_error_budget:ratio")
            .contains(" or 0.01 * group by")
    );
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
    assert!(c.set("latency_quantile", "1").is_err());
    assert!(c.set("namespace", "9lives").is_err());
    assert!(c.set("runbook_base", "https://x/y#z").is_err());
    // A refused value leaves the configuration as it was.
    assert_eq!(c, Config::default());
    // The library's setters are checked when generating.
    let bad = Config::new().namespace("9lives");
    assert!(matches!(
        plugobs_cli::rules_yaml(&bad),
        Err(OpsError::InvalidValue { key, .. }) if key == "namespace"
    ));
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
            || base.strip_prefix("plugobs_").is_some_and(|n| {
                plugobs::names::find(n).is_some() || n == plugobs_cli::names::OBJECTIVE
            })
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
fn dashboard_has_host_variables_a_stat_row_a_state_timeline_and_a_worst_table() {
    let d = dashboard::json(&Config::default()).unwrap();
    let vars = d["templating"]["list"].as_array().unwrap();
    let names: Vec<&str> = vars.iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["datasource", "job", "host", "plugin", "instance"]);
    let queries: Vec<&str> = vars[1..]
        .iter()
        .map(|v| v["query"]["query"].as_str().unwrap())
        .collect();
    assert_eq!(
        queries,
        [
            "label_values(plugobs_plugins, job)",
            r#"label_values(plugobs_plugins{job=~"$job"}, host)"#,
            r#"label_values(plugobs_plugin_info{job=~"$job",host=~"$host"}, plugin)"#,
            r#"label_values(plugobs_plugin_up{job=~"$job",host=~"$host",plugin=~"$plugin"}, instance)"#,
        ]
    );
    for v in &vars[1..] {
        assert_eq!(v["definition"], v["query"]["query"]);
        assert_eq!(v["multi"], true);
        assert_eq!(v["includeAll"], true);
        assert_eq!(v["allValue"], ".*");
    }
    let panels = d["panels"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = panels
        .iter()
        .map(|p| (p["type"].as_str().unwrap(), p["title"].as_str().unwrap()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("stat", "Instances failed"),
            ("stat", "Instances unhealthy"),
            ("stat", "Operations over their error ratio"),
            ("stat", "Worst error-budget burn"),
            ("state-timeline", "Health by instance"),
            ("table", "Worst operations by error ratio"),
            ("timeseries", "Plugin instances by lifecycle state"),
            ("timeseries", "Mean load and start time by instance"),
            ("timeseries", "Calls per second by instance and operation"),
            ("state-timeline", "Circuit breakers"),
            ("timeseries", "Calls rejected by circuit breakers"),
            ("timeseries", "Error ratio by instance and operation"),
            ("timeseries", "Latency quantiles by operation"),
            ("timeseries", "Calls in flight"),
            ("timeseries", "Process CPU"),
            ("timeseries", "Process memory (resident)"),
        ]
    );
    // The stat row is the top row.
    for p in &panels[..4] {
        assert_eq!(p["gridPos"]["y"], 0, "{}", p["title"]);
        assert_eq!(p["gridPos"]["h"], 4);
    }
    for p in panels {
        let description = p["description"].as_str().unwrap();
        assert!(description.len() > 30, "{}: {description}", p["title"]);
    }
    let timeline = &panels[4]["fieldConfig"]["defaults"]["mappings"][0]["options"];
    assert_eq!(timeline["3"]["text"], "unhealthy");
    assert_eq!(timeline["1"]["text"], "healthy");
    // The latency panel: its last target reads the buckets and asks for their exemplars;
    // no other target of the dashboard does.
    let latency = panels
        .iter()
        .find(|p| p["title"] == "Latency quantiles by operation")
        .unwrap()["targets"]
        .as_array()
        .unwrap();
    assert_eq!(latency.last().unwrap()["exemplar"], true);
    let with_exemplars = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .filter(|t| t.get("exemplar").is_some())
        .count();
    assert_eq!(with_exemplars, 1);
    assert_eq!(panels[5]["targets"][0]["format"], "table");
    assert_eq!(panels[5]["targets"][0]["instant"], true);
    assert_eq!(d["schemaVersion"], 39);
}

#[test]
fn every_panel_is_filtered_by_the_host_variables_and_names_the_host_in_its_legend() {
    let d = dashboard::json(&Config::default()).unwrap();
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
        (
            r#"count((sum by (job, host, plugin, kind, instance) (plugobs_plugin_load_failures_total{stage=~"load|start",P}) > 0) and on (job, host, plugin, kind, instance) (plugobs_plugin_up{P} == 0)) or vector(0)"#,
            "failed",
        ),
        (
            r#"count(plugobs_plugin_health{status="unhealthy",P} == 1) or vector(0)"#,
            "unhealthy",
        ),
        (
            "count(plugobs:operation_error_ratio:rate5m{P} > 0.05 and plugobs:operation_calls:increase5m{P} >= 20) or vector(0)",
            "operations",
        ),
        (
            "max(plugobs:operation_error_ratio:rate3600s{P} / plugobs:operation_error_budget:ratio{P}) or vector(0)",
            "burn",
        ),
        (
            r#"max by (job, host, plugin, instance) ((plugobs_plugin_health{status="unknown",P} == 1) * 0 or (plugobs_plugin_health{status="healthy",P} == 1) * 1 or (plugobs_plugin_health{status="degraded",P} == 1) * 2 or (plugobs_plugin_health{status="unhealthy",P} == 1) * 3)"#,
            "{{job}} {{host}} {{plugin}}/{{instance}}",
        ),
        (
            "topk(10, plugobs:operation_error_ratio:rate5m{P})",
            "{{job}} {{host}} {{plugin}}/{{instance}}.{{operation}}",
        ),
        (
            "sum by (job, host, state) (plugobs_plugins{H})",
            "{{job}} {{host}} {{state}}",
        ),
        (
            "plugobs_plugin_load_duration_seconds_sum{P} / plugobs_plugin_load_duration_seconds_count{P}",
            "{{job}} {{host}} {{plugin}}/{{instance}} load",
        ),
        (
            "plugobs_plugin_start_duration_seconds_sum{P} / plugobs_plugin_start_duration_seconds_count{P}",
            "{{job}} {{host}} {{plugin}}/{{instance}} start",
        ),
        (
            r#"sum by (job, host, plugin, instance, operation) (rate(plugobs_plugin_operations_total{outcome!="rejected",P}[$__rate_interval]))"#,
            "{{job}} {{host}} {{plugin}}/{{instance}}.{{operation}}",
        ),
        (
            r#"max by (job, host, plugin, instance, operation) ((plugobs_plugin_circuit_breaker_state{state="closed",P} == 1) * 0 or (plugobs_plugin_circuit_breaker_state{state="half_open",P} == 1) * 1 or (plugobs_plugin_circuit_breaker_state{state="open",P} == 1) * 2)"#,
            "{{job}} {{host}} {{plugin}}/{{instance}}.{{operation}}",
        ),
        (
            r#"sum by (job, host, plugin, instance, operation) (rate(plugobs_plugin_operations_total{outcome="rejected",P}[$__rate_interval]))"#,
            "{{job}} {{host}} {{plugin}}/{{instance}}.{{operation}}",
        ),
        (
            "plugobs:operation_error_ratio:rate5m{P}",
            "{{job}} {{host}} {{plugin}}/{{instance}}.{{operation}}",
        ),
        (
            "plugobs:operation_latency_seconds:p50_5m{P}",
            "{{job}} {{host}} {{plugin}}/{{instance}}.{{operation}} p50",
        ),
        (
            "plugobs:operation_latency_seconds:p90_5m{P}",
            "{{job}} {{host}} {{plugin}}/{{instance}}.{{operation}} p90",
        ),
        (
            "plugobs:operation_latency_seconds:p99_5m{P}",
            "{{job}} {{host}} {{plugin}}/{{instance}}.{{operation}} p99",
        ),
        (
            "histogram_quantile(0.99, sum by (job, host, plugin, instance, operation, le) (rate(plugobs_plugin_operation_duration_seconds_bucket{P}[$__rate_interval])))",
            "{{job}} {{host}} {{plugin}}/{{instance}}.{{operation}} p99 (exemplars)",
        ),
        (
            "sum by (job, host, plugin, instance, operation) (plugobs_plugin_operations_in_flight{P})",
            "{{job}} {{host}} {{plugin}}/{{instance}}.{{operation}}",
        ),
        (
            "sum by (job, host) (rate(process_cpu_seconds_total{H}[$__rate_interval]))",
            "{{job}} {{host}} cpu",
        ),
        (
            "sum by (job, host) (process_resident_memory_bytes{H})",
            "{{job}} {{host}} rss",
        ),
    ];
    let h = r#"job=~"$job",host=~"$host""#;
    let p = format!(r#"{h},plugin=~"$plugin",instance=~"$instance""#);
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(e, l)| {
            (
                e.replace("{P}", &format!("{{{p}}}"))
                    .replace("{H}", &format!("{{{h}}}"))
                    .replace(",P}", &format!(",{p}}}")),
                (*l).to_owned(),
            )
        })
        .collect();
    assert_eq!(targets, expected);
}

#[test]
fn the_scrape_config_keeps_plugobs_instance_label_and_the_target_in_host() {
    assert_eq!(plugobs_cli::HOST_LABEL, "host");
    assert_eq!(
        plugobs_cli::prometheus_config(
            &["10.0.0.7:9464", "10.0.0.8:9464"],
            "15s",
            "plugobs.rules.yml"
        ),
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
      - targets: ["10.0.0.7:9464", "10.0.0.8:9464"]
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
