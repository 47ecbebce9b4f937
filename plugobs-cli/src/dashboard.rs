//! The Grafana dashboard: a datasource variable, a `plugin` variable, an `instance`
//! variable (the configured instances of the selected plugins), and one panel per question
//! an operator asks (which plugins run, are they healthy, how long did they take to load
//! and start, what does each operation cost and how often does it fail, what does the
//! process use). Every per-plugin query is filtered by both variables and its legend
//! names `plugin/instance`.

use serde_json::{Value, json};

use crate::OpsError;
use crate::config::Config;
use crate::names::{Names, PROCESS};

/// One panel: title, unit and its queries (expression, legend).
struct Panel {
    title: &'static str,
    unit: &'static str,
    queries: Vec<(String, &'static str)>,
}

fn panels(config: &Config) -> Result<Vec<Panel>, OpsError> {
    let n = Names::new(&config.namespace);
    let sel = r#"{plugin=~"$plugin",instance=~"$instance"}"#;
    let w = &config.rate_window;
    let ops = n.metric("plugin_operations_total")?;
    let load = n.metric("plugin_load_duration_seconds")?;
    let start = n.metric("plugin_start_duration_seconds")?;
    let p = |q: &str| n.record("operation_latency_seconds", &format!("{q}_{w}"));
    Ok(vec![
        Panel {
            title: "Plugins by state",
            unit: "short",
            queries: vec![(
                format!("sum by (state) ({})", n.metric("plugins")?),
                "{{state}}",
            )],
        },
        Panel {
            title: "Health over time (1 = current status)",
            unit: "short",
            queries: vec![(
                format!(
                    "max by (plugin, instance, status) ({}{sel} == 1)",
                    n.metric("plugin_health")?
                ),
                "{{plugin}}/{{instance}} {{status}}",
            )],
        },
        Panel {
            title: "Mean load and start time by instance",
            unit: "s",
            queries: vec![
                (
                    format!("{load}_sum{sel} / {load}_count{sel}"),
                    "{{plugin}}/{{instance}} load",
                ),
                (
                    format!("{start}_sum{sel} / {start}_count{sel}"),
                    "{{plugin}}/{{instance}} start",
                ),
            ],
        },
        Panel {
            title: "Calls per second by instance and operation",
            unit: "reqps",
            queries: vec![(
                format!(
                    "sum by (plugin, instance, operation) (rate({ops}{sel}[$__rate_interval]))"
                ),
                "{{plugin}}/{{instance}}.{{operation}}",
            )],
        },
        Panel {
            title: "Error ratio by instance and operation",
            unit: "percentunit",
            queries: vec![(
                format!(
                    "{}{sel}",
                    n.record("operation_error_ratio", &format!("rate{w}"))
                ),
                "{{plugin}}/{{instance}}.{{operation}}",
            )],
        },
        Panel {
            title: "Latency p50 / p90 / p99 by operation",
            unit: "s",
            queries: vec![
                (
                    format!("{}{sel}", p("p50")),
                    "{{plugin}}/{{instance}}.{{operation}} p50",
                ),
                (
                    format!("{}{sel}", p("p90")),
                    "{{plugin}}/{{instance}}.{{operation}} p90",
                ),
                (
                    format!("{}{sel}", p("p99")),
                    "{{plugin}}/{{instance}}.{{operation}} p99",
                ),
            ],
        },
        Panel {
            title: "Calls in flight",
            unit: "short",
            queries: vec![(
                format!(
                    "sum by (plugin, instance, operation) ({}{sel})",
                    n.metric("plugin_operations_in_flight")?
                ),
                "{{plugin}}/{{instance}}.{{operation}}",
            )],
        },
        Panel {
            title: "Process CPU",
            unit: "percentunit",
            queries: vec![(format!("rate({}[$__rate_interval])", PROCESS[0]), "cpu")],
        },
        Panel {
            title: "Process memory (resident)",
            unit: "bytes",
            queries: vec![(PROCESS[1].to_owned(), "rss")],
        },
    ])
}

/// Every panel expression, as the dashboard holds it (`$plugin`, `$instance`,
/// `$__rate_interval` unexpanded): what the end-to-end test checks against live series.
///
/// # Errors
/// [`OpsError::UnknownMetric`] when a panel names a metric plugobs does not emit.
pub fn expressions(config: &Config) -> Result<Vec<String>, OpsError> {
    Ok(panels(config)?
        .into_iter()
        .flat_map(|p| p.queries.into_iter().map(|(e, _)| e))
        .collect())
}

/// The dashboard as Grafana JSON (schema 39), ready to import.
///
/// # Errors
/// [`OpsError::UnknownMetric`] when a panel names a metric plugobs does not emit.
pub fn json(config: &Config) -> Result<Value, OpsError> {
    let ds = json!({ "type": "prometheus", "uid": "${datasource}" });
    let names = Names::new(&config.namespace);
    // `plugin_info` describes plugin types (no `instance`); `plugin_up` has one series per
    // instance, whatever its state.
    let info = names.metric("plugin_info")?;
    let up = names.metric("plugin_up")?;
    let instances = format!(r#"label_values({up}{{plugin=~"$plugin"}}, instance)"#);
    let panels: Vec<Value> = panels(config)?
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let targets: Vec<Value> = p
                .queries
                .iter()
                .enumerate()
                .map(|(j, (expr, legend))| {
                    json!({
                        "datasource": ds,
                        "expr": expr,
                        "legendFormat": legend,
                        "refId": ((b'A' + j as u8) as char).to_string(),
                    })
                })
                .collect();
            json!({
                "id": i + 1,
                "type": "timeseries",
                "title": p.title,
                "datasource": ds,
                "gridPos": { "h": 8, "w": 12, "x": (i % 2) * 12, "y": (i / 2) * 8 },
                "fieldConfig": { "defaults": { "unit": p.unit }, "overrides": [] },
                "options": { "legend": { "displayMode": "list", "placement": "bottom" } },
                "targets": targets,
            })
        })
        .collect();
    Ok(json!({
        "title": "plugobs",
        "uid": format!("{}-plugins", config.namespace),
        "tags": ["plugobs", "plugins"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": { "from": "now-6h", "to": "now" },
        "templating": { "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
            },
            {
                "name": "plugin",
                "label": "Plugin",
                "type": "query",
                "datasource": ds,
                "query": { "query": format!("label_values({info}, plugin)"), "refId": "plugins" },
                "definition": format!("label_values({info}, plugin)"),
                "refresh": 2,
                "multi": true,
                "includeAll": true,
                "allValue": ".*",
                "current": { "text": "All", "value": "$__all" },
            },
            {
                "name": "instance",
                "label": "Instance",
                "type": "query",
                "datasource": ds,
                "query": { "query": instances, "refId": "instances" },
                "definition": instances,
                "refresh": 2,
                "multi": true,
                "includeAll": true,
                "allValue": ".*",
                "current": { "text": "All", "value": "$__all" },
            },
        ]},
        "panels": panels,
    }))
}
