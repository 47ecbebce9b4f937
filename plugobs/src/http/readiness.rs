//! Readiness for `/readyz`, until plugin health checks exist: derived from each plugin's
//! lifecycle state.

use serde_json::{Value, json};

use crate::{PluginState, Registry};

/// Whether every started plugin is running, and a JSON body listing the ones that are
/// not: a plugin with an instance still starting (`loaded`) or reported `unhealthy`.
/// Plugins never loaded, stopped or failed are not started and not listed.
pub(crate) fn readiness(registry: &Registry) -> (bool, Value) {
    let mut not_ready = Vec::new();
    for record in registry.plugins() {
        let state = record.state();
        let message = match state {
            PluginState::Loaded => "starting",
            PluginState::Unhealthy => "unhealthy",
            _ => continue,
        };
        let d = record.descriptor();
        not_ready.push(json!({
            "plugin": d.name,
            "kind": d.kind,
            "state": state.as_str(),
            "message": message,
        }));
    }
    let ready = not_ready.is_empty();
    (ready, json!({ "ready": ready, "not_ready": not_ready }))
}
