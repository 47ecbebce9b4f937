//! The Grafana dashboard: a datasource variable, a `plugin` variable, and one panel per
//! question an operator asks (which plugins run, are they healthy, how long did they take
//! to load and start, what does each operation cost and how often does it fail, what
//! does the process use).

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
    let sel = r#"{plugin=~"$plugin"}"#;
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
                    "max by (plugin, status) ({}{sel} == 1)",
                    n.metric("plugin_health")?
                ),
                "{{plugin}} {{status}}",
            )],
        },
        Panel {
            title: "Mean load and start time by plugin",
            unit: "s",
            queries: vec![
                (
                    format!("{load}_sum{sel} / {load}_count{sel}"),
                    "{{plugin}} load",
                ),
                (
                    format!("{start}_sum{sel} / {start}_count{sel}"),
                    "{{plugin}} start",
                ),
            ],
        },
        Panel {
            title: "Calls per second by plugin and operation",
            unit: "reqps",
            queries: vec![(
                format!("sum by (plugin, operation) (rate({ops}{sel}[$__rate_interval]))"),
                "{{plugin}}.{{operation}}",
            )],
        },
        Panel {
            title: "Error ratio by plugin and operation",
            unit: "percentunit",
            queries: vec![(
                format!(
                    "{}{sel}",
                    n.record("operation_error_ratio", &format!("rate{w}"))
                ),
                "{{plugin}}.{{operation}}",
            )],
        },
        Panel {
            title: "Latency p50 / p90 / p99 by operation",
            unit: "s",
            queries: vec![
                (format!("{}{sel}", p("p50")), "{{plugin}}.{{operation}} p50"),
                (format!("{}{sel}", p("p90")), "{{plugin}}.{{operation}} p90"),
                (format!("{}{sel}", p("p99")), "{{plugin}}.{{operation}} p99"),
            ],
        },
        Panel {
            title: "Calls in flight",
            unit: "short",
            queries: vec![(
                format!(
                    "sum by (plugin, operation) ({}{sel})",
                    n.metric("plugin_operations_in_flight")?
                ),
                "{{plugin}}.{{operation}}",
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

/// Every panel expression, as the dashboard holds it (`$plugin`, `$__rate_interval`
/// unexpanded): what the end-to-end test checks against live series.
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
    let info = Names::new(&config.namespace).metric("plugin_info")?;
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
        ]},
        "panels": panels,
    }))
}
