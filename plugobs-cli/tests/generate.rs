//! The generated rules and dashboard: exact alert set, settings applied, every expression
//! naming only metrics plugobs emits (or the rules' own recorded series), and the
//! operating page documenting every alert.

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
fn every_alert_once_with_severity_and_a_description_naming_the_plugin() {
    let all = alerts(&Config::default());
    let names: Vec<&str> = all.iter().map(|a| a.0.as_str()).collect();
    assert_eq!(names, ALERTS);
    for (name, _, _, severity, description) in &all {
        assert!(["critical", "warning"].contains(severity), "{name}");
        if name != "PlugobsNoPluginRunning" {
            assert!(
                description.contains("{{ $labels.plugin }}"),
                "{name}: {description}"
            );
        }
    }
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
    assert_eq!(vars, ["datasource", "plugin"]);
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
}
